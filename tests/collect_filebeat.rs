//! The filebeat-o365 target on the module files SOCs really run: Filebeat's
//! shipped sample and a hand-tuned multi-customer file. Each test imports
//! through the public API (`plan(...).apply()`), then checks the file twice:
//! as bytes (the result is the input with exactly the named lines changed)
//! and as values, parsed with serde_yaml_ng (every entry, tenant and
//! setting the credential is not about is identical).
//!
//! Fixtures in `fixtures/filebeat/`:
//! - `o365.yml.disabled` is Filebeat's shipped sample, byte for byte:
//!   elastic/beats `x-pack/filebeat/modules.d/o365.yml.disabled` at commit
//!   0226ef9c05e98ec2f09ec4cdd9b8155e9e1f27a2 (the 8.4 branch; its docs link
//!   names 8.4). Its body is `x-pack/filebeat/module/o365/_meta/config.yml`,
//!   which the packages' `modules.d/o365.yml.disabled` is generated from,
//!   and is the same in 8.0. It lists one placeholder tenant; its comments
//!   show the two-tenant form, which a test builds from it.
//! - `multi-customer.yml` is hand-made: three customers, a multi-tenant app
//!   shared by three tenants, operator settings, overrides and comments.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::flow::entra_credential_expiring;
use handoff::collect::{Plan, Target, TargetArgs, TargetError, plan};
use handoff::integration::Integrations;
use handoff::payload::EntraCredential;
use serde_yaml_ng::Value;

const SAMPLE: &str = include_str!("fixtures/filebeat/o365.yml.disabled");
const MULTI: &str = include_str!("fixtures/filebeat/multi-customer.yml");

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const KEY: &str = "O365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47";
const APP: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";
const SECRET_2: &str = "Xyz1Q~zyxwvutsrqponmlkjihgfedcba98765-.";

// In multi-customer.yml.
const FABRIKAM: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";
const FABRIKAM_APP: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
const NORTHWIND_APP: &str = "cccccccc-3333-4333-8333-cccccccccccc";
const NORTHWIND_EU: &str = "eeeeeeee-5555-4555-8555-eeeeeeeeeeee";
const NORTHWIND_EU_KEY: &str = "O365_SECRET_EEEEEEEE_5555_4555_8555_EEEEEEEEEEEE";
/// Northwind Europe's list item in the shared entry, with the operator's
/// comment that labels it.
const NORTHWIND_EU_ITEM: &str = "      # Northwind Europe\n      - id: \"eeeeeeee-5555-4555-8555-eeeeeeeeeeee\"\n        name: \"northwind-eu.onmicrosoft.com\"\n";
const NORTHWIND_KEY: &str = "O365_SECRET_NORTHWIND";
const TAILSPIN: &str = "12121212-7777-4777-8777-121212121212";
const TAILSPIN_APP: &str = "ffffffff-6666-4666-8666-ffffffffffff";

/// A Filebeat install in a temporary directory: `modules.d/o365.yml`
/// (written only if given) and an env file beside it.
struct Filebeat {
    _dir: tempfile::TempDir,
    modules: PathBuf,
    args: TargetArgs,
    env: PathBuf,
}

fn filebeat(module: Option<&str>) -> Filebeat {
    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules.d");
    fs::create_dir(&modules).unwrap();
    let mut args = TargetArgs::under(dir.path());
    args.filebeat_module = modules.join("o365.yml");
    let env = dir.path().join("filebeat.env");
    args.filebeat_env_file = Some(env.clone());
    if let Some(text) = module {
        fs::write(&args.filebeat_module, text).unwrap();
    }
    Filebeat {
        _dir: dir,
        modules,
        args,
        env,
    }
}

impl Filebeat {
    fn plan(&self, c: &EntraCredential) -> Result<Plan, TargetError> {
        let all = Integrations::builtin();
        plan(
            Target::FilebeatO365,
            &self.args,
            &handoff::collect::Import {
                credential: c,
                integration: all.get(&c.template).unwrap(),
                customer: "Contoso Ltd",
                request_id: "req_test",
            },
        )
    }

    /// Imports `c` and returns the plan's notes.
    fn import(&self, c: &EntraCredential) -> Vec<String> {
        let p = self.plan(c).unwrap();
        let diff = p.diff();
        assert!(
            !diff.contains(&c.client_secret),
            "the diff shows the secret:\n{diff}"
        );
        p.apply().unwrap();
        p.notes
    }

    /// A second import of the same credential writes nothing.
    fn assert_import_is_a_noop(&self, c: &EntraCredential) {
        let p = self.plan(c).unwrap();
        assert!(p.is_noop(), "{:?}", p.changes);
        assert!(p.apply().unwrap().is_empty());
    }

    fn module(&self) -> String {
        fs::read_to_string(&self.args.filebeat_module).unwrap()
    }

    fn env(&self) -> String {
        fs::read_to_string(&self.env).unwrap()
    }

    fn backups(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.modules)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".bak"))
            .collect()
    }

    /// Refuses `c` and leaves everything as it was; returns the sentence.
    fn refuse(&self, c: &EntraCredential) -> String {
        let before = fs::read(&self.args.filebeat_module).unwrap();
        let err = self.plan(c).unwrap_err().to_string();
        assert_eq!(fs::read(&self.args.filebeat_module).unwrap(), before);
        assert!(!self.env.exists(), "the env file was written");
        assert!(self.backups().is_empty());
        err
    }
}

fn credential(tenant: &str, app: &str, secret: &str, cloud: &str) -> EntraCredential {
    entra_credential_expiring("o365-management", tenant, app, secret, cloud, "2026-06-30")
}

/// Northwind Europe's new secret for the app it shares with Northwind's
/// other tenants.
fn northwind_eu() -> EntraCredential {
    credential(NORTHWIND_EU, NORTHWIND_APP, SECRET, "commercial")
}

#[track_caller]
fn assert_has_note(notes: &[String], want: &str) {
    assert!(notes.iter().any(|n| n == want), "{want}\n{notes:?}");
}

fn entries(text: &str) -> Vec<Value> {
    match serde_yaml_ng::from_str(text).unwrap() {
        Value::Sequence(items) => items,
        other => panic!("not a list: {other:?}"),
    }
}

/// `text` with each `(from, to)` replaced; each `from` must occur once, so
/// that the expected result names exactly the lines that change.
fn replaced(text: &str, edits: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in edits {
        assert_eq!(
            out.matches(from).count(),
            1,
            "{from:?} is not in the text once"
        );
        out = out.replacen(from, to, 1);
    }
    out
}

/// An entry with these `audit` settings taken out, to compare the rest.
fn audit_without(entry: &Value, keys: &[&str]) -> Value {
    let mut e = entry.clone();
    let audit = e["audit"].as_mapping_mut().unwrap();
    for k in keys {
        audit.remove(*k);
    }
    e
}

fn tenants(entry: &Value) -> Vec<(String, String)> {
    entry["audit"]["var.tenants"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    let m = fs::metadata(path).unwrap();
    (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
}

// ---- Filebeat's shipped sample ----

/// `text` with [`replaced`]'s edits given as owned replacements.
fn with_edits(text: &str, edits: &[(&str, String)]) -> String {
    let edits: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (*a, b.as_str())).collect();
    replaced(text, &edits)
}

/// The sample's placeholders, replaced for Contoso's tenant: the only lines
/// that may change.
fn sample_filled() -> [(&'static str, String); 4] {
    [
        ("    enabled: false\n", "    enabled: true\n".to_owned()),
        ("\"<MyApplicationID>\"", format!("\"{APP}\"")),
        (
            "     - id: \"<MyTenantID>\"\n       name: \"mytenant.onmicrosoft.com\"\n",
            format!("     - id: \"{TENANT}\"\n       name: \"Contoso Ltd\"\n"),
        ),
        ("\"<YourClientSecretHere>\"", format!("\"${{{KEY}}}\"")),
    ]
}

#[test]
fn the_shipped_sample_is_filled_in_and_keeps_every_comment() {
    let fb = filebeat(Some(SAMPLE));
    let c = credential(TENANT, APP, SECRET, "commercial");
    let notes = fb.import(&c);
    assert_eq!(fb.module(), with_edits(SAMPLE, &sample_filled()));

    let after = entries(&fb.module());
    let before = entries(SAMPLE);
    assert_eq!(after.len(), 1);
    let audit = after[0]["audit"].as_mapping().unwrap();
    let keys: Vec<&str> = audit.keys().map(|k| k.as_str().unwrap()).collect();
    let old_keys: Vec<&str> = before[0]["audit"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, old_keys, "no setting added or removed");
    assert_eq!(after[0]["audit"]["enabled"], true);
    assert_eq!(after[0]["audit"]["var.application_id"], APP);
    assert_eq!(
        tenants(&after[0]),
        [(TENANT.to_owned(), "Contoso Ltd".to_owned())]
    );
    assert_eq!(
        after[0]["audit"]["var.client_secret"],
        format!("${{{KEY}}}").as_str()
    );
    assert_eq!(fb.env(), format!("{KEY}={SECRET}\n"));
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("filled in Filebeat's sample o365 entry")),
        "{notes:?}"
    );
    let named = format!(
        "tenant {TENANT}'s name in {} is \"Contoso Ltd\", the request's customer label: Filebeat's o365 pipeline makes it, in lower case, the host.name of the tenant's events (Filebeat's documentation suggests the tenant's domain there, which handoff does not know); change it if another name suits you better, and later imports keep it",
        fb.args.filebeat_module.display()
    );
    assert_has_note(&notes, &named);
    fb.assert_import_is_a_noop(&c);
    // A name the SOC gives it instead stays through the next rotation.
    let renamed = fb
        .module()
        .replace("\"Contoso Ltd\"", "\"contoso.onmicrosoft.com\"");
    fs::write(&fb.args.filebeat_module, &renamed).unwrap();
    fb.import(&credential(TENANT, APP, SECRET_2, "commercial"));
    assert_eq!(fb.module(), renamed);
}

#[test]
fn the_shipped_sample_in_gcc_high_gains_var_api_after_its_secret() {
    let fb = filebeat(Some(SAMPLE));
    let c = credential(TENANT, APP, SECRET, "gcc-high");
    fb.import(&c);
    let mut edits = sample_filled();
    edits[3].1 = format!(
        "\"${{{KEY}}}\"\n    var.api:\n      authentication_endpoint: \"https://login.microsoftonline.us/\"\n      resource: \"https://manage.office365.us\""
    );
    assert_eq!(fb.module(), with_edits(SAMPLE, &edits));
    let after = entries(&fb.module());
    assert_eq!(
        after[0]["audit"]["var.api"]["resource"],
        "https://manage.office365.us"
    );
    fb.assert_import_is_a_noop(&c);
}

#[test]
fn the_samples_two_placeholder_tenants_give_way_to_the_one_imported() {
    // The sample's own comment shows two tenants under one application ID.
    let two = replaced(
        SAMPLE,
        &[(
            "     - id: \"<MyTenantID>\"\n       name: \"mytenant.onmicrosoft.com\"\n",
            "     - id: \"tenant_id_1\"\n       name: \"mydomain.onmicrosoft.com\"\n     - id: \"tenant_id_2\"\n       name: \"mycompany.com\"\n",
        )],
    );
    let fb = filebeat(Some(&two));
    let c = credential(TENANT, APP, SECRET, "commercial");
    fb.import(&c);
    let mut edits = sample_filled();
    edits[2].0 = "     - id: \"tenant_id_1\"\n       name: \"mydomain.onmicrosoft.com\"\n     - id: \"tenant_id_2\"\n       name: \"mycompany.com\"\n";
    assert_eq!(fb.module(), with_edits(&two, &edits));
    assert_eq!(
        tenants(&entries(&fb.module())[0]),
        [(TENANT.to_owned(), "Contoso Ltd".to_owned())]
    );
    fb.assert_import_is_a_noop(&c);
}

#[test]
fn a_second_customer_after_the_sample_gets_an_entry_of_its_own() {
    let fb = filebeat(Some(SAMPLE));
    fb.import(&credential(TENANT, APP, SECRET, "commercial"));
    let first = fb.module();
    let other = "4d5c7e2a-1b3f-4a6e-9c8d-0e1f2a3b4c5d";
    let c = credential(
        other,
        "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
        SECRET_2,
        "commercial",
    );
    fb.import(&c);
    let after = fb.module();
    assert!(after.starts_with(&first), "{after}");
    let e = entries(&after);
    assert_eq!(e[0], entries(&first)[0]);
    assert_eq!(tenants(&e[1])[0].0, other);
    fb.assert_import_is_a_noop(&c);
}

// ---- a hand-tuned multi-customer file ----

#[test]
fn a_new_customer_is_appended_and_the_hand_tuned_file_stays_byte_for_byte() {
    let fb = filebeat(Some(MULTI));
    let c = credential(TENANT, APP, SECRET, "commercial");
    let notes = fb.import(&c);
    let after = fb.module();
    assert!(after.starts_with(MULTI), "{after}");
    let (old, new) = (entries(MULTI), entries(&after));
    assert_eq!(new.len(), 4);
    assert_eq!(new[..3], old[..]);
    assert_eq!(new[3]["audit"]["var.application_id"], APP);
    assert_eq!(
        tenants(&new[3]),
        [(TENANT.to_owned(), "Contoso Ltd".to_owned())]
    );
    assert!(
        !notes.iter().any(|n| n.contains("multi-tenant")),
        "{notes:?}"
    );
    fb.assert_import_is_a_noop(&c);
}

#[test]
fn a_new_tenant_of_a_shared_app_gets_its_own_entry_and_the_shared_one_stays() {
    let fb = filebeat(Some(MULTI));
    let c = credential(TENANT, NORTHWIND_APP, SECRET, "commercial");
    let notes = fb.import(&c);
    let after = fb.module();
    assert!(after.starts_with(MULTI), "{after}");
    let (old, new) = (entries(MULTI), entries(&after));
    assert_eq!(new[..3], old[..]);
    assert_eq!(new[3]["audit"]["var.application_id"], NORTHWIND_APP);
    assert_eq!(tenants(&new[3]).len(), 1);
    assert!(
        notes.iter().any(|n| n.contains(&format!(
            "application {NORTHWIND_APP} is also in the o365 entry for dddddddd-4444-4444-8444-dddddddddddd, {NORTHWIND_EU}, abababab-8888-4888-8888-abababababab (a multi-tenant app)"
        ))),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with(&format!(
            "tenant {TENANT}'s new client secret belongs to application {NORTHWIND_APP}, which the o365 entry for dddddddd-4444-4444-8444-dddddddddddd, {NORTHWIND_EU}, abababab-8888-4888-8888-abababababab in {} uses too",
            fb.args.filebeat_module.display()
        ))),
        "{notes:?}"
    );
    fb.assert_import_is_a_noop(&c);
}

#[test]
fn rotating_an_own_entry_changes_its_secret_reference_once_then_only_the_env_file() {
    let fb = filebeat(Some(MULTI));
    let first = credential(FABRIKAM, FABRIKAM_APP, SECRET, "commercial");
    let notes = fb.import(&first);
    let key = "O365_SECRET_BBBBBBBB_2222_4222_8222_BBBBBBBBBBBB";
    let want = format!(
        "tenant {FABRIKAM}'s o365 entry in {} now takes its client secret from ${{{key}}} instead of ${{O365_SECRET_FABRIKAM}}; remove O365_SECRET_FABRIKAM from Filebeat's keystore or environment if nothing else uses it",
        fb.args.filebeat_module.display()
    );
    assert_has_note(&notes, &want);
    let after = fb.module();
    assert_eq!(
        after,
        replaced(
            MULTI,
            &[("\"${O365_SECRET_FABRIKAM}\"", &format!("\"${{{key}}}\""))]
        )
    );
    let (old, new) = (entries(MULTI), entries(&after));
    assert_eq!(
        audit_without(&new[0], &["var.client_secret"]),
        audit_without(&old[0], &["var.client_secret"]),
        "content types, var.api, input overrides stay"
    );
    assert_eq!(new[1..], old[1..]);
    assert_eq!(fb.env(), format!("{key}={SECRET}\n"));

    // The next secret for the same tenant and app: only the env file.
    let rotated = credential(FABRIKAM, FABRIKAM_APP, SECRET_2, "commercial");
    let p = fb.plan(&rotated).unwrap();
    let module_change = p
        .changes
        .iter()
        .find(|c| c.path == fb.args.filebeat_module)
        .unwrap();
    assert!(module_change.is_noop());
    assert!(!p.is_noop());
    p.apply().unwrap();
    assert_eq!(fb.module(), after);
    assert_eq!(fb.env(), format!("{key}={SECRET_2}\n"));
    fb.assert_import_is_a_noop(&rotated);
}

#[test]
fn a_disabled_entry_with_chosen_content_types_changes_only_its_application_id() {
    let fb = filebeat(Some(MULTI));
    let app = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    // The tenant's reference already has handoff's key name.
    let before = replaced(
        MULTI,
        &[(
            "\"${O365_SECRET_TAILSPIN}\"",
            "\"${O365_SECRET_12121212_7777_4777_8777_121212121212}\"",
        )],
    );
    fs::write(&fb.args.filebeat_module, &before).unwrap();
    let c = credential(TAILSPIN, app, SECRET, "commercial");
    let notes = fb.import(&c);
    let after = fb.module();
    assert_eq!(
        after,
        replaced(
            &before,
            &[(&format!("\"{TAILSPIN_APP}\""), &format!("\"{app}\""))]
        )
    );
    let (old, new) = (entries(&before), entries(&after));
    assert_eq!(new[2]["audit"]["enabled"], false);
    assert_eq!(
        audit_without(&new[2], &["var.application_id"]),
        audit_without(&old[2], &["var.application_id"])
    );
    assert_eq!(new[..2], old[..2]);
    let shown = fb.args.filebeat_module.display();
    for want in [
        format!(
            "tenant {TAILSPIN}'s o365 entry in {shown} named application {TAILSPIN_APP}; it now names {app} (a new app registration), its other settings as they were"
        ),
        format!(
            "tenant {TAILSPIN}'s o365 entry in {shown} is disabled (enabled: false), as it was; Filebeat collects nothing for it until that is set to true"
        ),
        format!(
            "tenant {TAILSPIN}'s o365 entry in {shown} sets var.content_type without Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, DLP.All, which the o365-management template collects; handoff leaves that choice alone, so add them by hand if they are wanted"
        ),
    ] {
        assert_has_note(&notes, &want);
    }
    fb.assert_import_is_a_noop(&c);
}

/// The entry Northwind Europe gets when it is taken out of the shared one:
/// after a blank line, as the file spaces its entries, with its item and
/// the comment that labels it.
fn northwind_eu_entry(app: &str) -> String {
    format!(
        "\n- module: o365\n  # Tenant {NORTHWIND_EU} (Contoso Ltd), taken out of the entry for application {NORTHWIND_APP} by handoff collect (o365-management); the settings are that entry's.\n  audit:\n    enabled: true\n    var.application_id: \"{app}\"\n    var.tenants:\n{NORTHWIND_EU_ITEM}    var.client_secret: \"${{{NORTHWIND_EU_KEY}}}\"\n    var.api.poll_interval: 1m\n"
    )
}

/// The shared entry lost exactly one tenant; the rest of the file, its
/// other tenants, their secret reference and its mailtrace stay.
fn assert_shared_entry_lost_only_northwind_eu(after: &str) -> Vec<Value> {
    let (old, new) = (entries(MULTI), entries(after));
    assert_eq!(new.len(), 4);
    assert_eq!(new[0], old[0]);
    assert_eq!(new[2], old[2]);
    assert_eq!(
        audit_without(&new[1], &["var.tenants"]),
        audit_without(&old[1], &["var.tenants"])
    );
    let mut kept = tenants(&old[1]);
    kept.retain(|(id, _)| id != NORTHWIND_EU);
    assert_eq!(tenants(&new[1]), kept);
    assert_eq!(kept.len(), 2);
    // The copy has the shared entry's settings, but not its other tenants,
    // its secret or its other filesets.
    let credential_keys = [
        "var.tenants",
        "var.client_secret",
        "var.application_id",
        "var.api.authentication_endpoint",
        "var.api.resource",
    ];
    assert_eq!(
        audit_without(&new[3], &credential_keys)["audit"],
        audit_without(&old[1], &credential_keys)["audit"]
    );
    assert_eq!(
        new[3].as_mapping().unwrap().len(),
        2,
        "module and audit only"
    );
    assert_eq!(new[3]["audit"]["var.api.poll_interval"], "1m");
    assert_eq!(new[3]["audit"]["enabled"], true);
    assert_eq!(
        tenants(&new[3]),
        [(
            NORTHWIND_EU.to_owned(),
            "northwind-eu.onmicrosoft.com".to_owned()
        )]
    );
    new
}

#[test]
fn rotating_a_tenant_of_a_shared_entry_takes_it_out_and_leaves_the_others_secret() {
    let fb = filebeat(Some(MULTI));
    let c = northwind_eu();
    let notes = fb.import(&c);
    let after = fb.module();
    let mut want = replaced(MULTI, &[(NORTHWIND_EU_ITEM, "")]);
    want.push_str(&northwind_eu_entry(NORTHWIND_APP));
    assert_eq!(after, want);
    let new = assert_shared_entry_lost_only_northwind_eu(&after);
    assert_eq!(
        new[1]["audit"]["var.client_secret"],
        "${O365_SECRET_NORTHWIND}"
    );
    assert_eq!(new[3]["audit"]["var.application_id"], NORTHWIND_APP);
    assert_eq!(fb.env(), format!("{NORTHWIND_EU_KEY}={SECRET}\n"));
    let shown = fb.args.filebeat_module.display();
    let split = format!(
        "tenant {NORTHWIND_EU} shared the o365 entry for application {NORTHWIND_APP} in {shown} with dddddddd-4444-4444-8444-dddddddddddd, abababab-8888-4888-8888-abababababab (and with them its client secret); it was taken out of that entry (its `- id:`/`name:` item, with any comment lines directly above it) into an entry of its own with that entry's settings, application {NORTHWIND_APP} and the secret ${{{NORTHWIND_EU_KEY}}}"
    );
    assert_has_note(&notes, &split);
    // The same application: the other tenants' secret is not "as it was".
    assert!(
        notes.iter().any(|n| n.starts_with(&format!(
            "tenant {NORTHWIND_EU}'s new client secret belongs to application {NORTHWIND_APP}"
        ))),
        "{notes:?}"
    );
    fb.assert_import_is_a_noop(&c);
}

/// The note for Northwind's other tenants when Northwind Europe brings a
/// new secret for their shared application, ending with `fix`.
fn same_app_note(fb: &Filebeat, fix: &str) -> String {
    format!(
        "tenant {NORTHWIND_EU}'s new client secret belongs to application {NORTHWIND_APP}, which the o365 entry for dddddddd-4444-4444-8444-dddddddddddd, abababab-8888-4888-8888-abababababab in {} uses too: a client secret is the app registration's, not a tenant's, so those tenants still sign in with the old secret in {NORTHWIND_KEY} and stop collecting once it is revoked or expires; {fix}",
        fb.args.filebeat_module.display()
    )
}

#[test]
fn a_new_secret_for_a_shared_app_tells_how_its_other_tenants_get_it() {
    let fb = filebeat(Some(MULTI));
    let c = northwind_eu();
    // Northwind's key in the env file handoff writes to.
    fs::write(&fb.env, format!("{NORTHWIND_KEY}=old-secret\n")).unwrap();
    fs::set_permissions(&fb.env, fs::Permissions::from_mode(0o600)).unwrap();
    let notes = fb.import(&c);
    let want = same_app_note(
        &fb,
        &format!(
            "set {NORTHWIND_KEY} in {} to the same value as {NORTHWIND_EU_KEY} (handoff changes only its own key) and restart Filebeat",
            fb.env.display()
        ),
    );
    assert_has_note(&notes, &want);
    assert!(
        !notes.iter().any(|n| n.contains("as they were")),
        "{notes:?}"
    );
    // Only its own key is written; the other tenants' stays for the SOC.
    assert_eq!(
        fb.env(),
        format!("{NORTHWIND_KEY}=old-secret\n{NORTHWIND_EU_KEY}={SECRET}\n")
    );

    // Once the SOC has given Northwind's key the new value, the note goes.
    fs::write(
        &fb.env,
        format!("{NORTHWIND_KEY}={SECRET}\n{NORTHWIND_EU_KEY}={SECRET}\n"),
    )
    .unwrap();
    let p = fb.plan(&c).unwrap();
    assert!(p.is_noop());
    assert!(
        !p.notes
            .iter()
            .any(|n| n.contains("new client secret belongs")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_shared_apps_key_kept_elsewhere_is_named_with_where_to_change_it() {
    let fb = filebeat(Some(MULTI));
    let c = northwind_eu();
    let notes = fb.import(&c);
    let want = same_app_note(
        &fb,
        &format!(
            "give {NORTHWIND_KEY} the same value as {NORTHWIND_EU_KEY} where Filebeat gets it (its keystore, with `filebeat keystore add {NORTHWIND_KEY} --force`, or its environment) and restart Filebeat"
        ),
    );
    assert_has_note(&notes, &want);
}

#[test]
fn a_new_app_registration_for_a_tenant_of_a_shared_entry_takes_it_out_with_the_new_app() {
    let fb = filebeat(Some(MULTI));
    let app = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    let c = credential(NORTHWIND_EU, app, SECRET, "gcc");
    let notes = fb.import(&c);
    let after = fb.module();
    let mut want = replaced(MULTI, &[(NORTHWIND_EU_ITEM, "")]);
    want.push_str(&northwind_eu_entry(app));
    // In the dotted form the entry already uses for var.api.
    want.push_str("    var.api.authentication_endpoint: \"https://login.microsoftonline.com/\"\n    var.api.resource: \"https://manage-gcc.office.com\"\n");
    assert_eq!(after, want);
    let new = assert_shared_entry_lost_only_northwind_eu(&after);
    assert_eq!(new[1]["audit"]["var.application_id"], NORTHWIND_APP);
    assert_eq!(new[3]["audit"]["var.application_id"], app);
    // Another application: the shared entry's secret is not this one's.
    assert!(
        notes
            .iter()
            .any(|n| n
                .ends_with("; that entry keeps its other tenants and their secret as they were")),
        "{notes:?}"
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("new client secret belongs")),
        "{notes:?}"
    );
    fb.assert_import_is_a_noop(&c);
}

#[test]
fn a_tenant_listed_in_two_entries_is_refused_and_nothing_is_written() {
    let twice = replaced(
        MULTI,
        &[(
            "      - id: \"12121212-7777-4777-8777-121212121212\"\n",
            "      - id: \"12121212-7777-4777-8777-121212121212\"\n        name: \"tailspin.onmicrosoft.com\"\n      - id: \"EEEEEEEE-5555-4555-8555-EEEEEEEEEEEE\"\n",
        )],
    );
    let fb = filebeat(Some(&twice));
    let err = fb.refuse(&northwind_eu());
    assert_eq!(
        err,
        format!(
            "{}: tenant {NORTHWIND_EU} is listed 2 times among the o365 entries (lines 36 and 54), so Filebeat collects it more than once and handoff cannot tell which listing is meant; keep one of its `- id:` items and import again",
            fb.args.filebeat_module.display()
        )
    );
}

#[test]
fn a_shared_entry_whose_secret_is_the_tenants_key_is_refused() {
    // Rotating Northwind Europe would write the key all three tenants use.
    let shared = replaced(
        MULTI,
        &[(
            "\"${O365_SECRET_NORTHWIND}\"",
            &format!("\"${{{NORTHWIND_EU_KEY}}}\""),
        )],
    );
    let fb = filebeat(Some(&shared));
    let err = fb.refuse(&northwind_eu());
    assert_eq!(
        err,
        format!(
            "{}: the o365 entry for tenant(s) dddddddd-4444-4444-8444-dddddddddddd, abababab-8888-4888-8888-abababababab also refers to ${{{NORTHWIND_EU_KEY}}}, the key that holds tenant {NORTHWIND_EU}'s client secret, so importing tenant {NORTHWIND_EU}'s secret would change theirs; give that entry a key of its own (in the file and in Filebeat's keystore or environment) and import again",
            fb.args.filebeat_module.display()
        )
    );
}

#[test]
fn a_shared_entry_written_in_flow_style_is_refused_with_the_steps_to_split_it() {
    let flow = replaced(
        MULTI,
        &[(
            "    var.tenants:\n      # Northwind Traders (parent)\n      - id: \"dddddddd-4444-4444-8444-dddddddddddd\"\n        name: \"northwind.onmicrosoft.com\"\n      # Northwind Europe\n      - id: \"eeeeeeee-5555-4555-8555-eeeeeeeeeeee\"\n        name: \"northwind-eu.onmicrosoft.com\"\n      - id: \"abababab-8888-4888-8888-abababababab\"\n        name: \"northwind-asia.onmicrosoft.com\"\n",
            "    var.tenants: [{id: \"dddddddd-4444-4444-8444-dddddddddddd\", name: a}, {id: \"eeeeeeee-5555-4555-8555-eeeeeeeeeeee\", name: b}]\n",
        )],
    );
    let fb = filebeat(Some(&flow));
    let err = fb.refuse(&northwind_eu());
    assert!(
        err.contains("handoff cannot edit the o365 entry tenant eeeeeeee-5555-4555-8555-eeeeeeeeeeee shares with other tenants safely (its var.tenants is written on one line), so nothing was written")
            && err.ends_with(&format!(
                "or take tenant {NORTHWIND_EU} out by hand: copy the entry, keep only tenant {NORTHWIND_EU}'s `- id:`/`name:` item in the copy and delete it from the original, set the copy's var.client_secret to \"${{{NORTHWIND_EU_KEY}}}\", and import again"
            )),
        "{err}"
    );
}

#[test]
fn anchors_aliases_and_merge_keys_are_refused_with_their_line() {
    let anchored = format!(
        "- module: o365\n  audit: &common\n    enabled: true\n    var.application_id: \"{APP}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: \"contoso.com\"\n    var.client_secret: \"${{{KEY}}}\"\n\n- module: o365\n  audit:\n    <<: *common\n    var.tenants:\n      - id: \"{FABRIKAM}\"\n        name: \"fabrikam.com\"\n"
    );
    let fb = filebeat(Some(&anchored));
    let shown = fb.args.filebeat_module.display().to_string();
    let tail = "YAML anchors, aliases and merge keys are not supported here; write the entry out in full and import again (nothing was written)";
    assert_eq!(
        fb.refuse(&credential(TENANT, APP, SECRET, "commercial")),
        format!(
            "{shown}: tenant {TENANT}'s o365 entry uses a YAML anchor (&common) on line 2: {tail}"
        )
    );
    assert_eq!(
        fb.refuse(&credential(FABRIKAM, APP, SECRET, "commercial")),
        format!(
            "{shown}: tenant {FABRIKAM}'s o365 entry uses a YAML merge key (<<) on line 12: {tail}"
        )
    );
}

#[test]
fn entries_written_without_blank_lines_between_them_get_none_added() {
    let tight = "- module: o365\n  audit:\n    var.application_id: \"aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa\"\n    var.tenants:\n      - id: \"bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb\"\n        name: \"a\"\n    var.client_secret: \"${A}\"\n- module: o365\n  audit:\n    var.application_id: \"cccccccc-3333-4333-8333-cccccccccccc\"\n    var.tenants:\n      - id: \"dddddddd-4444-4444-8444-dddddddddddd\"\n        name: \"b\"\n    var.client_secret: \"${B}\"\n";
    let fb = filebeat(Some(tight));
    fb.import(&credential(TENANT, APP, SECRET, "commercial"));
    let after = fb.module();
    assert!(
        after.starts_with(&format!("{tight}- module: o365\n")),
        "{after}"
    );
}

// ---- Filebeat's keystore, which Filebeat reads before its environment ----

/// The note on a keystore at `keystore` that may hold the key.
fn keystore_note(fb: &Filebeat, keystore: &Path, key: &str) -> String {
    format!(
        "Filebeat's keystore {} exists, and Filebeat resolves ${{{key}}} from its keystore before its environment: if the keystore holds {key} (`filebeat keystore list` shows its keys), Filebeat keeps that value and never reads the one in {}, so remove it with `filebeat keystore remove {key}` (run as Filebeat's user) and restart Filebeat",
        keystore.display(),
        fb.env.display()
    )
}

#[test]
fn a_keystore_beside_the_install_is_named_on_every_import_as_it_wins_over_the_env_file() {
    let fb = filebeat(Some(MULTI));
    let first = credential(FABRIKAM, FABRIKAM_APP, SECRET, "commercial");
    let key = "O365_SECRET_BBBBBBBB_2222_4222_8222_BBBBBBBBBBBB";
    // No keystore: the env note says where handoff looked.
    let keystore = fb.modules.parent().unwrap().join("data/filebeat.keystore");
    let notes = fb.import(&first);
    let looked = format!(
        "the client secret is in {} as {key}; Filebeat must have it in its environment (for example EnvironmentFile={} in a systemd drop-in for filebeat.service); handoff found no Filebeat keystore, which Filebeat would read first (it looked for {})",
        fb.env.display(),
        fb.env.display(),
        keystore.display()
    );
    assert_has_note(&notes, &looked);
    assert!(
        !notes.iter().any(|n| n.contains("keystore remove")),
        "{notes:?}"
    );

    // An operator once ran `filebeat keystore add` for that key: a rotation
    // through the env file alone would never reach Filebeat.
    fs::create_dir(keystore.parent().unwrap()).unwrap();
    fs::write(&keystore, "v1c2FsdGl2cGF5bG9hZA==").unwrap();
    fs::set_permissions(&keystore, fs::Permissions::from_mode(0o600)).unwrap();
    let rotated = credential(FABRIKAM, FABRIKAM_APP, SECRET_2, "commercial");
    let notes = fb.import(&rotated);
    let want = keystore_note(&fb, &keystore, key);
    assert_has_note(&notes, &want);
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("found no Filebeat keystore"))
    );
    // Also when nothing changes: the keystore may still hide the value.
    let p = fb.plan(&rotated).unwrap();
    assert!(p.is_noop());
    assert_has_note(&p.notes, &want);
}

#[test]
fn a_keystore_filebeat_yml_points_to_is_the_one_named() {
    let fb = filebeat(Some(MULTI));
    let elsewhere = tempfile::tempdir().unwrap();
    let keystore = elsewhere.path().join("fb.keystore");
    fs::write(&keystore, "v1c2FsdGl2cGF5bG9hZA==").unwrap();
    fs::write(
        fb.modules.parent().unwrap().join("filebeat.yml"),
        format!("keystore.path: {}\n", keystore.display()),
    )
    .unwrap();
    let c = credential(TENANT, APP, SECRET, "commercial");
    let notes = fb.import(&c);
    let want = keystore_note(&fb, &keystore, KEY);
    assert_has_note(&notes, &want);
}

#[test]
fn a_plan_without_an_env_file_never_recommends_the_keystore() {
    let mut fb = filebeat(Some(MULTI));
    fb.args.filebeat_env_file = None;
    let p = fb
        .plan(&credential(TENANT, APP, SECRET, "commercial"))
        .unwrap();
    let want = format!(
        "without --filebeat-env-file the client secret is written nowhere, so `handoff collect` runs this target only with it (or as a dry run): it writes {KEY}=<the secret> to that file, for Filebeat's environment. Do not add {KEY} to Filebeat's keystore instead: Filebeat resolves ${{{KEY}}} from its keystore before its environment, so a keystore copy would hide every later secret written to the env file"
    );
    assert_has_note(&p.notes, &want);
    assert!(
        !p.notes.iter().any(|n| n.contains("keystore add")),
        "{:?}",
        p.notes
    );
    assert!(p.changes.iter().all(|c| c.path != fb.env));
}

// ---- ownership ----

#[test]
fn a_new_module_file_is_owned_like_the_module_files_beside_it() {
    let fb = filebeat(None);
    // The module's own sample wins over the other modules' files.
    let sample = fb.modules.join("o365.yml.disabled");
    let aws = fb.modules.join("aws.yml.disabled");
    fs::write(&sample, SAMPLE).unwrap();
    fs::write(&aws, "- module: aws\n").unwrap();
    std::os::unix::fs::chown(&sample, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&sample, fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(&aws, fs::Permissions::from_mode(0o644)).unwrap();
    let notes = fb.import(&credential(TENANT, APP, SECRET, "commercial"));
    assert_eq!(
        owner_and_mode(&fb.args.filebeat_module),
        (1000, 1000, 0o640)
    );
    assert!(
        notes.contains(&format!(
            "{} is created with owner 1000:1000 and mode 0640, like {} (Filebeat refuses a module file not owned by root or its own user, or writable by others)",
            fb.args.filebeat_module.display(),
            sample.display()
        )),
        "{notes:?}"
    );
    // The sample beside it is not touched; the env file holds a secret.
    assert_eq!(fs::read_to_string(&sample).unwrap(), SAMPLE);
    assert_eq!(owner_and_mode(&fb.env).2, 0o600);
}

#[test]
fn a_new_module_file_never_copies_write_access_for_others() {
    let fb = filebeat(None);
    let system = fb.modules.join("system.yml");
    fs::write(&system, "- module: system\n").unwrap();
    std::os::unix::fs::chown(&system, Some(1000), Some(1001)).unwrap();
    fs::set_permissions(&system, fs::Permissions::from_mode(0o666)).unwrap();
    fb.import(&credential(TENANT, APP, SECRET, "commercial"));
    assert_eq!(
        owner_and_mode(&fb.args.filebeat_module),
        (1000, 1001, 0o644)
    );
}

#[test]
fn a_new_module_file_alone_in_its_directory_is_0644_and_handoffs_own() {
    let fb = filebeat(None);
    let notes = fb.import(&credential(TENANT, APP, SECRET, "commercial"));
    let me = fs::metadata(&fb.modules).unwrap();
    assert_eq!(
        owner_and_mode(&fb.args.filebeat_module),
        (me.uid(), me.gid(), 0o644)
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("there is no other module file beside it")),
        "{notes:?}"
    );
}
