//! The collector targets' output, read back by real parsers: quick-xml for
//! ossec.conf, serde_yaml_ng for Filebeat's module file, and the env and
//! JSON files line by line. Each test imports through the public API the
//! `collect` command uses: a decrypted payload, a template, a plan, apply.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::flow::entra_credential as credential;
use handoff::collect::{Import, Plan, Target, TargetArgs, TargetError, plan};
use handoff::integration::Integrations;
use handoff::payload::EntraCredential;
use quick_xml::Reader;
use quick_xml::events::Event;

const FIXTURE: &str = include_str!("fixtures/ossec.conf");
const O365_YML: &str = include_str!("fixtures/o365.yml");
const SECRET_A: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";
const SECRET_B: &str = "Xyz1Q~zyxwvutsrqponmlkjihgfedcba98765-.";
const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "4d5c7e2a-1b3f-4a6e-9c8d-0e1f2a3b4c5d";
const CLIENT_A: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const CLIENT_B: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";

fn run(
    kind: Target,
    args: &TargetArgs,
    cred: &EntraCredential,
    customer: &str,
) -> Result<Plan, TargetError> {
    let all = Integrations::builtin();
    let integration = all.get(&cred.template).unwrap();
    plan(
        kind,
        args,
        &Import {
            credential: cred,
            integration,
            customer,
            request_id: "req_test",
        },
    )
}

fn import(kind: Target, args: &TargetArgs, cred: &EntraCredential, customer: &str) -> Plan {
    let p = run(kind, args, cred, customer).unwrap();
    let diff = p.diff();
    assert!(
        !diff.contains(&cred.client_secret),
        "the diff shows the secret:\n{diff}"
    );
    p.apply().unwrap();
    p
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// An element read by quick-xml: its path from the root and its children's texts.
#[derive(Debug, Default)]
struct Found {
    path: String,
    leaves: BTreeMap<String, Vec<String>>,
}

/// Every element named `name` anywhere in the file, with its direct leaf
/// children, read by quick-xml configured as leniently as Wazuh's reader
/// (bare `&` in commands).
fn find_all(xml: &str, name: &str) -> Vec<Found> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().allow_dangling_amp = true;
    let mut stack: Vec<String> = Vec::new();
    let mut found: Vec<(usize, Found)> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => {
                let n = e.name().0.to_owned();
                if n == name {
                    found.push((
                        stack.len() + 1,
                        Found {
                            path: format!("{}/{n}", stack.join("/")),
                            ..Found::default()
                        },
                    ));
                }
                stack.push(n);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::End(_) => {
                let n = stack.pop().unwrap();
                if let Some((depth, f)) = found.last_mut()
                    && stack.len() == *depth
                {
                    f.leaves.entry(n).or_default().push(text.trim().to_owned());
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    found.into_iter().map(|(_, f)| f).collect()
}

fn leaf<'f>(f: &'f Found, name: &str) -> &'f str {
    &f.leaves
        .get(name)
        .unwrap_or_else(|| panic!("no <{name}> in {f:?}"))[0]
}

#[test]
fn wazuh_office365_output_reads_back_with_one_entry_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let args = TargetArgs::under(dir.path());
    fs::write(&args.ossec_conf, FIXTURE).unwrap();
    fs::set_permissions(&args.ossec_conf, fs::Permissions::from_mode(0o660)).unwrap();
    let a = credential(
        "o365-management",
        TENANT_A,
        CLIENT_A,
        SECRET_A,
        "commercial",
    );
    let b = credential("o365-management", TENANT_B, CLIENT_B, SECRET_B, "gcc-high");
    import(Target::WazuhOffice365, &args, &a, "Contoso");
    import(Target::WazuhOffice365, &args, &b, "Fabrikam");
    let after_two = fs::read_to_string(&args.ossec_conf).unwrap();
    // Re-importing either changes nothing.
    for cred in [&a, &b] {
        let again = run(Target::WazuhOffice365, &args, cred, "x").unwrap();
        assert!(again.is_noop(), "{}", again.diff());
        assert!(again.apply().unwrap().is_empty());
    }
    assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), after_two);

    let auths = find_all(&after_two, "api_auth");
    assert_eq!(auths.len(), 2, "{auths:?}");
    for (cred, api_type) in [(&a, "commercial"), (&b, "gcc-high")] {
        let mine: Vec<&Found> = auths
            .iter()
            .filter(|f| leaf(f, "tenant_id") == cred.tenant_id)
            .collect();
        assert_eq!(mine.len(), 1, "tenant {} appears once", cred.tenant_id);
        let f = mine[0];
        assert_eq!(f.path, "ossec_config/office365/api_auth");
        assert_eq!(leaf(f, "client_id"), cred.client_id);
        assert_eq!(leaf(f, "api_type"), api_type);
        assert!(!f.leaves.contains_key("client_secret"));
        let secret_file = args.secrets_dir.join(&cred.tenant_id);
        assert_eq!(leaf(f, "client_secret_path"), secret_file.to_str().unwrap());
        assert_eq!(
            fs::read(&secret_file).unwrap(),
            cred.client_secret.as_bytes()
        );
        assert_eq!(mode(&secret_file), 0o600);
    }
    assert!(!after_two.contains(SECRET_A) && !after_two.contains(SECRET_B));
    let office = find_all(&after_two, "office365");
    assert_eq!(office.len(), 1);
    assert_eq!(office[0].leaves["enabled"], vec!["yes"]);
    assert_eq!(mode(&args.ossec_conf), 0o660);

    // Everything but the new block is the fixture, byte for byte, comments included.
    let start = after_two.rfind("\n  <office365>\n").unwrap();
    let end = after_two.rfind("  </office365>\n").unwrap() + "  </office365>\n".len();
    assert_eq!(
        format!("{}{}", &after_two[..start], &after_two[end..]),
        FIXTURE
    );
    // The first import kept the original as a backup.
    let backups: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("ossec.conf.handoff-"))
        .collect();
    assert_eq!(backups.len(), 2, "one per import that changed the file");
    assert!(
        backups
            .iter()
            .any(|p| fs::read_to_string(p).unwrap() == FIXTURE)
    );
}

#[test]
fn a_malformed_ossec_conf_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let args = TargetArgs::under(dir.path());
    let broken = FIXTURE.replace("</syscheck>", "</sys_check>");
    fs::write(&args.ossec_conf, &broken).unwrap();
    let a = credential(
        "o365-management",
        TENANT_A,
        CLIENT_A,
        SECRET_A,
        "commercial",
    );
    let err = run(Target::WazuhOffice365, &args, &a, "Contoso")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ossec.conf: line "), "{err}");
    assert!(err.contains("left untouched"), "{err}");
    assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), broken);
    assert!(
        !args.secrets_dir.exists(),
        "no secret file for a refused import"
    );
}

#[test]
fn wazuh_ms_graph_output_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let args = TargetArgs::under(dir.path());
    fs::write(&args.ossec_conf, FIXTURE).unwrap();
    fs::set_permissions(&args.ossec_conf, fs::Permissions::from_mode(0o640)).unwrap();
    let a = credential("defender-incidents", TENANT_A, CLIENT_A, SECRET_A, "dod");
    let p = import(Target::WazuhMsGraph, &args, &a, "Contoso");
    assert!(
        p.notes.iter().any(|n| n.contains("only inline")),
        "{:?}",
        p.notes
    );
    assert!(
        run(Target::WazuhMsGraph, &args, &a, "Contoso")
            .unwrap()
            .is_noop()
    );
    let text = fs::read_to_string(&args.ossec_conf).unwrap();
    let blocks = find_all(&text, "ms-graph");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].path, "ossec_config/ms-graph");
    assert_eq!(blocks[0].leaves["version"], vec!["v1.0"]);
    let auth = find_all(&text, "api_auth");
    assert_eq!(auth.len(), 1);
    assert_eq!(leaf(&auth[0], "tenant_id"), TENANT_A);
    assert_eq!(leaf(&auth[0], "client_id"), CLIENT_A);
    assert_eq!(leaf(&auth[0], "secret_value"), SECRET_A);
    assert_eq!(leaf(&auth[0], "api_type"), "dod");
    let resources = find_all(&text, "resource");
    assert_eq!(resources.len(), 1);
    assert_eq!(leaf(&resources[0], "name"), "security");
    assert_eq!(
        resources[0].leaves["relationship"],
        vec!["incidents", "alerts_v2"]
    );
    assert_eq!(mode(&args.ossec_conf), 0o640);
}

#[test]
fn filebeat_output_reads_back_as_yaml_with_the_secret_outside() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = TargetArgs::under(dir.path());
    let env = dir.path().join("filebeat.env");
    args.filebeat_env_file = Some(env.clone());
    fs::write(&args.filebeat_module, O365_YML).unwrap();
    let a = credential("o365-management", TENANT_A, CLIENT_A, SECRET_A, "gcc");
    import(Target::FilebeatO365, &args, &a, "Contoso \"Ltd\"");
    assert!(
        run(Target::FilebeatO365, &args, &a, "Contoso \"Ltd\"")
            .unwrap()
            .is_noop()
    );
    let text = fs::read_to_string(&args.filebeat_module).unwrap();
    assert!(
        text.starts_with(O365_YML),
        "the hand-written part is kept:\n{text}"
    );
    assert!(!text.contains(SECRET_A));

    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let entries = doc.as_sequence().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["audit"]["var.application_id"],
        "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
    );
    let ours = &entries[1];
    assert_eq!(ours["module"], "o365");
    let audit = &ours["audit"];
    assert_eq!(audit["enabled"], true);
    assert_eq!(audit["var.application_id"], CLIENT_A);
    assert_eq!(audit["var.tenants"][0]["id"], TENANT_A);
    assert_eq!(audit["var.tenants"][0]["name"], "Contoso Ltd");
    let key = "O365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47";
    assert_eq!(audit["var.client_secret"], format!("${{{key}}}").as_str());
    let types: Vec<&str> = audit["var.content_type"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Audit.AzureActiveDirectory",
            "Audit.Exchange",
            "Audit.SharePoint",
            "Audit.General",
            "DLP.All"
        ]
    );
    assert_eq!(
        audit["var.api"]["resource"],
        "https://manage-gcc.office.com"
    );
    assert_eq!(
        audit["var.api"]["authentication_endpoint"],
        "https://login.microsoftonline.com/"
    );

    assert_eq!(
        fs::read_to_string(&env).unwrap(),
        format!("{key}={SECRET_A}\n")
    );
    assert_eq!(mode(&env), 0o600);
}

#[test]
fn env_and_json_files_hold_the_credential_for_the_customer() {
    let dir = tempfile::tempdir().unwrap();
    let args = TargetArgs::under(dir.path());
    let a = credential(
        "graph-security-alerts",
        TENANT_A,
        CLIENT_A,
        SECRET_A,
        "gcc-high",
    );
    import(Target::Env, &args, &a, "Contoso Ltd");
    import(Target::Json, &args, &a, "Contoso Ltd");

    let env_path = args.output_dir.join("contoso-ltd.env");
    let env = fs::read_to_string(&env_path).unwrap();
    let vars: BTreeMap<&str, &str> = env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_once('=').unwrap())
        .collect();
    assert_eq!(
        vars,
        BTreeMap::from([
            ("AZURE_TENANT_ID", TENANT_A),
            ("AZURE_CLIENT_ID", CLIENT_A),
            ("AZURE_CLIENT_SECRET", SECRET_A),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us"),
        ])
    );
    assert_eq!(mode(&env_path), 0o600);

    let json_path = args.output_dir.join("contoso-ltd.json");
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(v["client_secret"], SECRET_A);
    assert_eq!(v["cloud"], "gcc-high");
    assert_eq!(v["template"], "graph-security-alerts");
    assert_eq!(v["request_id"], "req_test");
    assert_eq!(mode(&json_path), 0o600);
    assert_eq!(mode(&args.output_dir), 0o700);
}
