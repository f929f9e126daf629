//! `wazuh-office365`: the tenant's `<api_auth>` in the `<office365>` block of
//! a Wazuh 4.x manager's or an agent's ossec.conf, or of a group's agent.conf.
//!
//! Wazuh's office365 module takes one `<api_auth>` per tenant, in one block,
//! and either an inline `<client_secret>` or a `<client_secret_path>`
//! (wazuh/wazuh `src/config/src/wmodules-office365.c`). In ossec.conf the
//! path keeps the secret out of the file: the module reads the file's raw
//! bytes, so it is written without a trailing newline, and the parser checks
//! that it exists when it loads the configuration, so it is written first.
//! In a group's agent.conf a path would have to exist on every agent of the
//! group, so the secret is written inline there.
//!
//! Only the tenant's own `<api_auth>` is touched: the children that changed
//! are spliced in, everything else in the block (settings, subscriptions,
//! other tenants, comments) stays byte for byte.

use super::ossec_conf::{self, Edit, Element, Place, Role, Want, WazuhConf};
use super::{FileChange, Import, Plan, TargetArgs, TargetError, read_optional};
use crate::cloud::Cloud;

/// What a new `<office365>` block gets as `<curl_max_size>`. Wazuh's default
/// is 1 MiB (`WM_OFFICE365_DEFAULT_CURL_MAX_SIZE`), and a content blob larger
/// than that ends the scan of the window without an error, so a busy
/// tenant's events are skipped; the parser takes a size with a K, M or G
/// suffix of at least 1 KiB (wazuh/wazuh `src/config/src/wmodules-office365.c`,
/// `w_parse_size` in `src/shared/src/string_op.c`).
const CURL_MAX_SIZE: &str = "10M";

/// Wazuh's `api_type` for a cloud; DoD and China have no value there.
fn api_type(cloud: Cloud) -> Result<&'static str, TargetError> {
    match cloud {
        Cloud::Commercial => Ok("commercial"),
        Cloud::Gcc => Ok("gcc"),
        Cloud::GccHigh => Ok("gcc-high"),
        Cloud::Dod | Cloud::China => Err(TargetError::Refused(format!(
            "Wazuh's office365 module cannot reach a {cloud} tenant: its api_type setting only knows commercial, gcc and gcc-high. Collect this tenant with the env or json target and a collector that supports the {cloud} cloud."
        ))),
    }
}

/// What it takes from a template's `[collect]` section.
pub(super) const READS: super::Reads = super::Reads::ContentTypes;

/// Wazuh reads `<client_secret_path>` from its own directory, so the
/// secrets directory must be absolute.
pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if !args.secrets_dir.is_absolute() {
        return Err(format!(
            "--secrets-dir {} must be an absolute path: Wazuh reads <client_secret_path> from its own directory",
            args.secrets_dir.display()
        ));
    }
    Ok(())
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let conf = WazuhConf::read(&args.ossec_conf)?;
    let path = &conf.path;
    let inline = conf.role == Role::Group;
    let secret_path = args
        .secrets_dir
        .join(cred.tenant_id.to_ascii_lowercase());
    let secret_path_text = secret_path.to_string_lossy().into_owned();
    let secret_at = if inline {
        SecretAt::Inline
    } else {
        if !args.secrets_dir.is_absolute() {
            return Err(TargetError::Refused(format!(
                "--secrets-dir {} must be an absolute path: Wazuh would look for it from its own directory",
                args.secrets_dir.display()
            )));
        }
        SecretAt::File(&secret_path_text)
    };
    let Merged {
        edits,
        mut notes,
        inline_left,
    } = merge(&conf, import, secret_at)?;
    let secret = ossec_conf::wazuh_secret(&cred.client_secret)?;

    let conf_change = conf.change(edits)?;
    let mut changes = Vec::new();
    if inline {
        notes.push(format!(
            "the client secret is inline in {} (a <client_secret_path> would have to exist on every agent), and the manager copies the file to every agent of the group",
            path.display()
        ));
        notes.extend(conf.world_readable_note());
    } else {
        if inline_left {
            notes.push(conf.backup_note());
        }
        changes.push(FileChange {
            path: secret_path.clone(),
            before: read_optional(&secret_path)?,
            after: secret.as_bytes().to_vec(),
            mode_if_new: 0o600,
            owner_if_new: None,
            secret: true,
        });
    }
    if !conf_change.is_noop() {
        notes.push(conf.load_note());
    } else if changes.iter().any(|c| !c.is_noop()) {
        // Only the secret file: wm_office365_get_access_token opens it for
        // every token request, once per tenant at each interval (wazuh/wazuh
        // src/wazuh_modules/wm_office365.c, 4.14.7 and 5.x), so no restart.
        notes.push(format!(
            "the new secret is in {}, which Wazuh's office365 module reads at every token request, so it is used from the module's next interval, with no restart ({} is unchanged)",
            secret_path.display(),
            path.display()
        ));
    }
    changes.push(conf_change);
    Ok(Plan::new(changes, notes, cred))
}

/// Where [`merge`] puts the tenant's client secret.
#[derive(Clone, Copy)]
pub(super) enum SecretAt<'p> {
    /// Inline, `<client_secret>`: in a group's agent.conf, and wherever
    /// handoff cannot write a file beside the configuration (`wazuh-api`).
    Inline,
    /// `<client_secret_path>` naming this file, which the caller writes.
    File(&'p str),
}

/// The tenant merged into a configuration: the edits to make and what the
/// operator should know.
pub(super) struct Merged {
    pub(super) edits: Vec<Edit>,
    pub(super) notes: Vec<String>,
    /// An inline secret leaves the file for a secret file, so it now lives
    /// on only in the backup.
    pub(super) inline_left: bool,
}

/// The one merge of a tenant into a Wazuh configuration, for the local
/// target and `wazuh-api` alike: the tenant's `<api_auth>` fitted in place
/// (duplicates removed) or added to the one `<office365>` block, or a new
/// block where [`WazuhConf::place`] says. The edits are not made yet.
pub(super) fn merge(
    conf: &WazuhConf,
    import: &Import,
    secret_at: SecretAt,
) -> Result<Merged, TargetError> {
    let cred = import.credential;
    let api_type = api_type(cred.cloud)?;
    if !crate::credential::is_guid(&cred.tenant_id) {
        return Err(TargetError::Refused(format!(
            "the tenant ID {:?} is not a GUID; the Office 365 Management API needs the tenant's GUID, not its domain name",
            cred.tenant_id
        )));
    }
    let tenant = cred.tenant_id.to_ascii_lowercase();
    let client = ossec_conf::plain_value("client ID", &cred.client_id)?;
    let secret = ossec_conf::wazuh_secret(&cred.client_secret)?;
    let src = conf.src.as_str();
    let path = &conf.path;
    let secret_want = match secret_at {
        SecretAt::Inline => Want {
            replaces: &["client_secret_path"],
            ..Want::exact("client_secret", secret)
        },
        SecretAt::File(file) => {
            ossec_conf::plain_value("secrets directory", file)?;
            Want {
                replaces: &["client_secret"],
                ..Want::exact("client_secret_path", file)
            }
        }
    };
    let wants = [
        Want::guid("tenant_id", &tenant),
        Want::guid("client_id", client),
        secret_want,
        Want {
            default: Some("commercial"),
            ..Want::exact("api_type", api_type)
        },
    ];

    let mut notes = Vec::new();
    let mut edits = Vec::new();
    let mut inline_left = false;
    let subscriptions = &import.integration.collect.content_types;
    match conf.place("office365", "ms-graph", &tenant)? {
        Place::NewIn {
            section,
            marker,
            why,
        } => {
            let (indent, step) = ossec_conf::block_indent(src, section, marker.as_ref());
            let block = block_text(import, &indent, &step, &wants)?;
            edits.push(ossec_conf::insert_block(
                src,
                section,
                marker.as_ref(),
                &block,
            ));
            notes.push(format!(
                "added an <office365> block to {} subscribing to {}",
                path.display(),
                subscriptions.join(", ")
            ));
            notes.extend(conf.new_block_notes("office365", section, &tenant, why));
        }
        Place::Blocks(blocks) => {
            for block in blocks {
                if block.children.is_empty() {
                    // An empty block (Wazuh refuses one) that an operator
                    // placed to say where the tenant goes: filled like a
                    // new one, around any comment.
                    let inner = ossec_conf::child_indent(src, block);
                    let step = ossec_conf::indent_step(src, block);
                    let body = block_body(import, &inner, &step, &wants)?;
                    edits.push(ossec_conf::fill_empty(src, block, &body));
                    notes.push(format!(
                        "filled the empty <office365> block at line {} of {} subscribing to {}",
                        ossec_conf::line_of(src, block.start),
                        path.display(),
                        subscriptions.join(", ")
                    ));
                    continue;
                }
                inline_left |= edit_block(conf, block, &tenant, &wants, &mut edits, &mut notes);
                block_notes(conf, block, import, &mut notes);
            }
        }
    }
    Ok(Merged {
        edits,
        notes,
        inline_left,
    })
}

/// Fits the tenant's `<api_auth>` in place (removing later duplicates) or
/// adds one after the others. True if an inline `<client_secret>` leaves
/// the file (it becomes a path, or goes with a duplicate).
fn edit_block(
    conf: &WazuhConf,
    block: &Element,
    tenant: &str,
    wants: &[Want],
    edits: &mut Vec<Edit>,
    notes: &mut Vec<String>,
) -> bool {
    let src = conf.src.as_str();
    let to_path = wants[2].name == "client_secret_path";
    let mut inline_left = false;
    let mine = ossec_conf::tenant_auths(src, block, tenant);
    let step = ossec_conf::indent_step(src, block);
    match mine.split_first() {
        Some((first, duplicates)) => {
            if let Some(old) = first.child_text(src, "client_id")
                && !old.eq_ignore_ascii_case(wants[1].value)
            {
                notes.push(format!(
                    "tenant {tenant}'s <api_auth> named client ID {old}; it now names {}",
                    wants[1].value
                ));
            }
            notes.extend(conf.fit_api_auth(first, tenant, wants, edits));
            if let Some(old) = first.child_text(src, "client_secret_path")
                && wants[2].name == "client_secret"
            {
                notes.push(if conf.role == Role::Group {
                    format!(
                        "tenant {tenant}'s <client_secret_path>{old}</client_secret_path> is now an inline <client_secret>: a path in a group's agent.conf must exist on every agent, and the new secret is only in this file; {old} on the agents is no longer read"
                    )
                } else {
                    format!(
                        "tenant {tenant}'s <client_secret_path>{old}</client_secret_path> is now an inline <client_secret>: the Wazuh API cannot write a secret file on the manager; {old} is no longer read (delete it once the old secret is revoked)"
                    )
                });
            }
            if to_path && first.children_named("client_secret").next().is_some() {
                inline_left = true;
            }
            if let Some(old) = first.child_text(src, "client_secret_path")
                && to_path
                && old != wants[2].value
            {
                notes.push(format!(
                    "tenant {tenant}'s <client_secret_path> named {old}; it now names {}, where handoff keeps the secret, and {old} is left as it was (delete it once the old secret is revoked)",
                    wants[2].value
                ));
            }
            for d in duplicates {
                edits.push(ossec_conf::remove(src, d));
                let mut note = format!(
                    "removed a second <api_auth> for tenant {tenant} (line {}), which would have made Wazuh collect the tenant twice",
                    ossec_conf::line_of(src, d.start)
                );
                match d.child_text(src, "client_secret_path") {
                    Some(old) if to_path && old != wants[2].value => note.push_str(&format!(
                        "; the file its <client_secret_path> named, {old}, is left as it was (delete it once the old secret is revoked)"
                    )),
                    Some(old) if !to_path => note.push_str(&format!(
                        "; {old}, the file its <client_secret_path> named, is no longer read on the agents (delete it there once the old secret is revoked)"
                    )),
                    _ => {}
                }
                notes.push(note);
                if to_path && d.children_named("client_secret").next().is_some() {
                    inline_left = true;
                }
            }
        }
        None => {
            edits.push(
                ossec_conf::api_auth_after_others(src, block, &step, wants).unwrap_or_else(|| {
                    let indent = ossec_conf::child_indent(src, block);
                    let text = ossec_conf::api_auth_text(&indent, &step, wants);
                    ossec_conf::append_child(src, block, &text)
                }),
            );
            if conf.role == Role::Group {
                notes.push(format!(
                    "added tenant {tenant} to the <office365> block of {} (line {})",
                    conf.section_of(block),
                    ossec_conf::line_of(src, block.start)
                ));
            }
        }
    }
    inline_left
}

/// What the operator should know about an existing block: handoff leaves
/// its settings and subscriptions alone, since they apply to every tenant.
fn block_notes(conf: &WazuhConf, block: &Element, import: &Import, notes: &mut Vec<String>) {
    let src = conf.src.as_str();
    let where_ = format!(
        "the <office365> block at line {} of {}",
        ossec_conf::line_of(src, block.start),
        conf.path.display()
    );
    if block.child_text(src, "enabled") == Some("no") {
        notes.push(format!(
            "{where_} is disabled (<enabled>no</enabled>); nothing is collected until it says yes"
        ));
    }
    if block.child_text(src, "curl_max_size").is_none() {
        notes.push(format!(
            "{where_} has no <curl_max_size>, so Wazuh's 1M default applies and a larger content blob ends the scan without an error, skipping the rest of that window; consider <curl_max_size>{CURL_MAX_SIZE}</curl_max_size> (handoff leaves the block's settings to you)"
        ));
    }
    let have: Vec<&str> = block
        .children_named("subscriptions")
        .flat_map(|s| s.children_named("subscription"))
        .map(|s| s.text(src))
        .collect();
    let missing: Vec<&str> = import
        .integration
        .collect
        .content_types
        .iter()
        .map(String::as_str)
        .filter(|c| !have.contains(c))
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "{where_} does not subscribe to {} (the template collects them); its subscriptions apply to every tenant, so handoff leaves them to you",
            missing.join(", ")
        ));
    }
}

/// A whole `<office365>` block as lines at `indent`.
fn block_text(
    import: &Import,
    indent: &str,
    step: &str,
    wants: &[Want],
) -> Result<String, TargetError> {
    let body = block_body(import, &format!("{indent}{step}"), step, wants)?;
    Ok(format!("{indent}<office365>\n{body}{indent}</office365>\n"))
}

/// What a new `<office365>` block holds, as lines at `inner`: enabled, every
/// event from now on (`only_future_events` no), a one-minute interval, a
/// `<curl_max_size>` a busy tenant needs, the tenant, and the template's
/// content types as subscriptions.
fn block_body(
    import: &Import,
    inner: &str,
    step: &str,
    wants: &[Want],
) -> Result<String, TargetError> {
    let subscriptions = &import.integration.collect.content_types;
    if subscriptions.is_empty() {
        return Err(TargetError::Refused(format!(
            "the template {:?} names no content types, and a new <office365> block needs at least one subscription",
            import.integration.id
        )));
    }
    let mut body = String::new();
    for (name, value) in [
        ("enabled", "yes"),
        ("only_future_events", "no"),
        ("interval", "1m"),
        ("curl_max_size", CURL_MAX_SIZE),
    ] {
        body.push_str(&format!("{inner}<{name}>{value}</{name}>\n"));
    }
    body.push_str(&ossec_conf::api_auth_text(inner, step, wants));
    body.push_str(&format!("{inner}<subscriptions>\n"));
    for s in subscriptions {
        let s = ossec_conf::plain_value("content type", s)?;
        body.push_str(&format!("{inner}{step}<subscription>{s}</subscription>\n"));
    }
    body.push_str(&format!("{inner}</subscriptions>\n"));
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;

    const CONF: &str = "<!-- Wazuh - Manager -->\n<ossec_config>\n  <global>\n    <jsonout_output>yes</jsonout_output>\n  </global>\n</ossec_config>\n\n<ossec_config>\n  <!-- Office 365 -->\n  <office365>\n    <enabled>yes</enabled>\n    <interval>1m</interval>\n    <api_auth>\n      <tenant_id>11111111-2222-3333-4444-555555555555</tenant_id>\n      <client_id>aaaaaaaa-2222-3333-4444-555555555555</client_id>\n      <client_secret_path>/var/ossec/other</client_secret_path>\n      <api_type>commercial</api_type>\n    </api_auth>\n    <subscriptions>\n      <subscription>Audit.General</subscription>\n    </subscriptions>\n  </office365>\n</ossec_config>\n";

    fn setup(conf: &str) -> (tempfile::TempDir, TargetArgs) {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.ossec_conf, conf).unwrap();
        (dir, args)
    }

    fn run(args: &TargetArgs, cloud: &str) -> Result<Plan, TargetError> {
        let cred = credential("o365-management", cloud);
        let integ = integration("o365-management");
        plan_target(Target::WazuhOffice365, args, &import(&cred, &integ))
    }

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn adds_the_tenant_next_to_the_others_and_a_second_import_changes_nothing() {
        let (_dir, args) = setup(CONF);
        let plan = run(&args, "gcc").unwrap();
        assert!(!plan.is_noop());
        plan.apply().unwrap();
        let conf = fs::read_to_string(&args.ossec_conf).unwrap();
        let expected_auth = format!(
            "    </api_auth>\n    <api_auth>\n      <tenant_id>{TENANT}</tenant_id>\n      <client_id>{CLIENT}</client_id>\n      <client_secret_path>{}</client_secret_path>\n      <api_type>gcc</api_type>\n    </api_auth>\n    <subscriptions>",
            args.secrets_dir.join(TENANT).display()
        );
        assert!(conf.contains(&expected_auth), "{conf}");
        // Everything else is byte-for-byte the same.
        let start = conf.find(&expected_auth).unwrap() + "    </api_auth>\n".len();
        let end =
            start + expected_auth.len() - "    </api_auth>\n".len() - "    <subscriptions>".len();
        assert_eq!(format!("{}{}", &conf[..start], &conf[end..]), CONF);
        let secret = args.secrets_dir.join(TENANT);
        assert_eq!(fs::read(&secret).unwrap(), SECRET.as_bytes());
        assert_eq!(mode(&secret), 0o600);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("Audit.AzureActiveDirectory")),
            "{:?}",
            plan.notes
        );

        let again = run(&args, "gcc").unwrap();
        assert!(again.is_noop(), "{}", again.diff());
        assert!(again.apply().unwrap().is_empty());
        assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), conf);
        assert_eq!(backups(args.ossec_conf.parent().unwrap()).len(), 1);
    }

    #[test]
    fn replaces_the_tenants_entry_in_place_and_drops_duplicates() {
        let old_auth = format!(
            "    <api_auth>\n      <tenant_id>{}</tenant_id>\n      <client_id>old</client_id>\n      <client_secret>inline-old-secret</client_secret>\n      <api_type>commercial</api_type>\n    </api_auth>\n",
            TENANT.to_uppercase()
        );
        let conf = CONF.replace(
            "    <subscriptions>",
            &format!("{old_auth}{old_auth}    <subscriptions>"),
        );
        let (_dir, args) = setup(&conf);
        let plan = run(&args, "commercial").unwrap();
        let diff = plan.diff();
        assert!(!diff.contains("inline-old-secret"), "{diff}");
        assert!(!diff.contains(SECRET), "{diff}");
        plan.apply().unwrap();
        let after = fs::read_to_string(&args.ossec_conf).unwrap();
        assert_eq!(count(&after, "<api_auth>"), 2, "{after}");
        // Only the children that changed: the tenant ID, equal but for its
        // case, stays as the operator wrote it; the inline secret becomes a
        // path where it stood.
        let fitted = format!(
            "    <api_auth>\n      <tenant_id>{}</tenant_id>\n      <client_id>{CLIENT}</client_id>\n      <client_secret_path>{}</client_secret_path>\n      <api_type>commercial</api_type>\n    </api_auth>\n    <subscriptions>",
            TENANT.to_uppercase(),
            args.secrets_dir.join(TENANT).display()
        );
        assert!(after.contains(&fitted), "{after}");
        assert!(!after.contains("inline-old-secret"));
        // The other tenant's entry is where it was, untouched.
        assert!(after.contains("<client_secret_path>/var/ossec/other</client_secret_path>\n      <api_type>commercial</api_type>\n    </api_auth>\n    <api_auth>\n"));
        assert!(
            plan.notes.iter().any(|n| n.contains("removed a second")),
            "{:?}",
            plan.notes
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("named client ID old")),
            "{:?}",
            plan.notes
        );
        assert!(run(&args, "commercial").unwrap().is_noop());
    }

    #[test]
    fn creates_the_block_in_the_last_ossec_config() {
        let conf = "<ossec_config>\n  <global/>\n</ossec_config>\n\n<ossec_config>\n  <!-- keep me -->\n  <localfile>\n    <log_format>syslog</log_format>\n  </localfile>\n</ossec_config>\n";
        let (_dir, args) = setup(conf);
        run(&args, "gcc-high").unwrap().apply().unwrap();
        let after = fs::read_to_string(&args.ossec_conf).unwrap();
        let block = after
            .strip_prefix(&conf[..conf.rfind("</ossec_config>").unwrap()])
            .unwrap();
        assert!(block.starts_with("\n  <office365>\n    <enabled>yes</enabled>\n    <only_future_events>no</only_future_events>\n    <interval>1m</interval>\n    <curl_max_size>10M</curl_max_size>\n    <api_auth>\n"), "{block}");
        assert!(
            block.contains("      <api_type>gcc-high</api_type>\n"),
            "{block}"
        );
        assert!(block.contains("    <subscriptions>\n      <subscription>Audit.AzureActiveDirectory</subscription>\n"), "{block}");
        assert!(
            block.ends_with("    </subscriptions>\n  </office365>\n</ossec_config>\n"),
            "{block}"
        );
        assert!(run(&args, "gcc-high").unwrap().is_noop());
    }

    #[test]
    fn dod_and_china_are_refused_not_guessed() {
        let (_dir, args) = setup(CONF);
        // A custom template may claim both; Wazuh still cannot reach them.
        let mut integ = integration("o365-management");
        integ.clouds.push(crate::integration::Cloud::China);
        for cloud in ["dod", "china"] {
            let cred = credential("o365-management", cloud);
            let err = plan_target(Target::WazuhOffice365, &args, &import(&cred, &integ))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("cannot reach a {cloud} tenant")),
                "{err}"
            );
        }
        assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), CONF);
    }

    #[test]
    fn a_malformed_ossec_conf_is_refused_and_left_alone() {
        let broken = CONF.replace("</global>", "</globl>");
        let (_dir, args) = setup(&broken);
        let err = run(&args, "commercial").unwrap_err().to_string();
        assert!(err.contains("ossec.conf: line 5"), "{err}");
        assert!(err.contains("left untouched"), "{err}");
        assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), broken);
        assert!(!args.secrets_dir.exists());
    }

    #[test]
    fn a_tenant_domain_is_refused() {
        let (_dir, args) = setup(CONF);
        let mut cred = credential("o365-management", "commercial");
        cred.tenant_id = "contoso.onmicrosoft.com".to_owned();
        let integ = integration("o365-management");
        let err = plan_target(Target::WazuhOffice365, &args, &import(&cred, &integ))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a GUID"), "{err}");
    }
}
