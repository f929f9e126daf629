//! `wazuh-office365`: the tenant's `<api_auth>` in the `<office365>` block of
//! ossec.conf, with the secret in a file of its own.
//!
//! Wazuh's office365 module takes one `<api_auth>` per tenant and either an
//! inline `<client_secret>` or a `<client_secret_path>`; the path keeps the
//! secret out of ossec.conf. The module reads the file's raw bytes, so it is
//! written without a trailing newline, and it must exist before Wazuh loads
//! the configuration, so it is written first.

use super::ossec_conf::{self, Edit, Element};
use super::{FileChange, Import, Plan, TargetArgs, TargetError, read_optional, read_text};

/// Wazuh's `api_type` for a cloud; DoD and China have no value there.
fn api_type(cloud: &str) -> Result<&'static str, TargetError> {
    match cloud {
        "commercial" => Ok("commercial"),
        "gcc" => Ok("gcc"),
        "gcc-high" => Ok("gcc-high"),
        "dod" | "china" => Err(TargetError::Refused(format!(
            "Wazuh's office365 module cannot reach a {cloud} tenant: its api_type setting only knows commercial, gcc and gcc-high. Collect this tenant with the env or json target and a collector that supports the {cloud} cloud."
        ))),
        other => Err(TargetError::Refused(format!("unknown cloud {other:?}"))),
    }
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let api_type = api_type(&cred.cloud)?;
    if !crate::credential::is_guid(&cred.tenant_id) {
        return Err(TargetError::Refused(format!(
            "the tenant ID {:?} is not a GUID; the Office 365 Management API needs the tenant's GUID, not its domain name",
            cred.tenant_id
        )));
    }
    let tenant = cred.tenant_id.to_ascii_lowercase();
    let client = ossec_conf::plain_value("client ID", &cred.client_id)?;
    if cred.client_secret.chars().any(char::is_whitespace) {
        return Err(TargetError::Refused(
            "the client secret holds white space; Wazuh would read it into the secret".to_owned(),
        ));
    }
    if !args.secrets_dir.is_absolute() {
        return Err(TargetError::Refused(format!(
            "--secrets-dir {} must be an absolute path: Wazuh would look for it from its own directory",
            args.secrets_dir.display()
        )));
    }
    let secret_path = args.secrets_dir.join(&tenant);
    let secret_path_text = secret_path.to_string_lossy().into_owned();
    ossec_conf::plain_value("secrets directory", &secret_path_text)?;

    let path = &args.ossec_conf;
    let src = read_text(path)?.ok_or_else(|| {
        TargetError::Refused(format!(
            "{} does not exist; is Wazuh installed here? Point --ossec-conf at its ossec.conf",
            path.display()
        ))
    })?;
    let roots = ossec_conf::parse(path, &src)?;
    let configs = ossec_conf::configs(path, &src, &roots)?;
    let blocks: Vec<&Element> = configs
        .iter()
        .flat_map(|c| c.children_named("office365"))
        .collect();

    let desired = [
        ("tenant_id", tenant.as_str()),
        ("client_id", client),
        ("client_secret_path", secret_path_text.as_str()),
        ("api_type", api_type),
    ];
    let mut notes = Vec::new();
    let mut edits = Vec::new();
    match blocks.as_slice() {
        [] => {
            let last = configs
                .last()
                .ok_or_else(|| TargetError::malformed(path, "it has no <ossec_config> element"))?;
            let indent = ossec_conf::child_indent(&src, last);
            let step = ossec_conf::indent_step(&src, last);
            let subscriptions = &import.integration.collect.content_types;
            if subscriptions.is_empty() {
                return Err(TargetError::Refused(format!(
                    "the template {:?} names no content types, and a new <office365> block needs at least one subscription",
                    import.integration.id
                )));
            }
            let inner = format!("{indent}{step}");
            let mut block = format!(
                "\n{indent}<office365>\n{inner}<enabled>yes</enabled>\n{inner}<only_future_events>no</only_future_events>\n{inner}<interval>1m</interval>\n"
            );
            block.push_str(&api_auth(&inner, &step, &desired));
            block.push_str(&format!("{inner}<subscriptions>\n"));
            for s in subscriptions {
                let s = ossec_conf::plain_value("content type", s)?;
                block.push_str(&format!("{inner}{step}<subscription>{s}</subscription>\n"));
            }
            block.push_str(&format!("{inner}</subscriptions>\n{indent}</office365>\n"));
            edits.push(ossec_conf::append_child(&src, last, &block));
            notes.push(format!(
                "added an <office365> block to {} subscribing to {}",
                path.display(),
                subscriptions.join(", ")
            ));
        }
        [block] => {
            if block.self_closing {
                return Err(TargetError::malformed(
                    path,
                    format!(
                        "line {}: an empty <office365/>; give it its settings or remove it",
                        ossec_conf::line_of(&src, block.start)
                    ),
                ));
            }
            edit_block(&src, block, &desired, &mut edits, &mut notes);
            if block.child_text(&src, "enabled") == Some("no") {
                notes.push(format!(
                    "the <office365> block in {} is disabled (<enabled>no</enabled>); nothing is collected until it says yes",
                    path.display()
                ));
            }
            let have: Vec<&str> = block
                .children_named("subscriptions")
                .flat_map(|s| s.children_named("subscription"))
                .map(|s| s.text(&src))
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
                    "the <office365> block does not subscribe to {} (the template collects them); its subscriptions apply to every tenant, so handoff leaves them to you",
                    missing.join(", ")
                ));
            }
        }
        several => {
            return Err(TargetError::malformed(
                path,
                format!(
                    "it has {} <office365> blocks (lines {}); merge them into one so handoff knows which to edit",
                    several.len(),
                    several
                        .iter()
                        .map(|b| ossec_conf::line_of(&src, b.start).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }

    let after = ossec_conf::splice(&src, edits);
    // The result must read back as well as the original did.
    ossec_conf::parse(path, &after).map_err(|e| {
        TargetError::Refused(format!(
            "handoff's change to ossec.conf would not parse: {e}"
        ))
    })?;
    let conf_change = FileChange {
        path: path.clone(),
        before: Some(src.into_bytes()),
        after: after.into_bytes(),
        mode_if_new: 0o660,
        owner_if_new: None,
        secret: false,
    };
    let secret_change = FileChange {
        path: secret_path.clone(),
        before: read_optional(&secret_path)?,
        after: cred.client_secret.as_bytes().to_vec(),
        mode_if_new: 0o600,
        owner_if_new: None,
        secret: true,
    };
    if !(conf_change.is_noop() && secret_change.is_noop()) {
        notes.push(
            "restart the Wazuh manager (systemctl restart wazuh-manager) to load the change"
                .to_owned(),
        );
    }
    Ok(Plan::new(vec![secret_change, conf_change], notes, cred))
}

/// Replaces the tenant's `<api_auth>` (removing duplicates) or adds one.
fn edit_block(
    src: &str,
    block: &Element,
    desired: &[(&str, &str)],
    edits: &mut Vec<Edit>,
    notes: &mut Vec<String>,
) {
    let tenant = desired[0].1;
    let auths: Vec<&Element> = block.children_named("api_auth").collect();
    let same_tenant: Vec<&Element> = auths
        .iter()
        .copied()
        .filter(|a| {
            a.child_text(src, "tenant_id")
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
        })
        .collect();
    let indent = ossec_conf::child_indent(src, block);
    let step = ossec_conf::indent_step(src, block);
    let mut wanted: Vec<(String, &str)> =
        desired.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    wanted.sort();
    match same_tenant.split_first() {
        Some((first, duplicates)) => {
            if first.leaves(src) != wanted {
                let own = ossec_conf::indent_at(src, first.start).unwrap_or(&indent);
                let text = api_auth(own, &step, desired);
                // api_auth() ends with a newline the line already has.
                let text = text.trim_start_matches(own).trim_end_matches('\n');
                if let Some(old) = first.child_text(src, "client_id")
                    && !old.eq_ignore_ascii_case(desired[1].1)
                {
                    notes.push(format!(
                        "tenant {tenant}'s <api_auth> named client ID {old}; it now names {}",
                        desired[1].1
                    ));
                }
                edits.push(Edit {
                    range: first.start..first.end,
                    text: text.to_owned(),
                });
            }
            for d in duplicates {
                edits.push(ossec_conf::remove(src, d));
                notes.push(format!(
                    "removed a second <api_auth> for tenant {tenant} (line {})",
                    ossec_conf::line_of(src, d.start)
                ));
            }
        }
        None => match auths.last() {
            Some(last) => {
                let own = ossec_conf::indent_at(src, last.start).unwrap_or(&indent);
                let text = api_auth(own, &step, desired);
                edits.push(Edit {
                    range: last.end..last.end,
                    text: format!("\n{}", text.trim_end_matches('\n')),
                });
            }
            None => edits.push(ossec_conf::append_child(
                src,
                block,
                &api_auth(&indent, &step, desired),
            )),
        },
    }
}

/// `<api_auth>` as whole lines at `indent`.
fn api_auth(indent: &str, step: &str, fields: &[(&str, &str)]) -> String {
    let mut s = format!("{indent}<api_auth>\n");
    for (name, value) in fields {
        s.push_str(&format!("{indent}{step}<{name}>{value}</{name}>\n"));
    }
    s.push_str(&format!("{indent}</api_auth>\n"));
    s
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{TargetKind, plan as plan_target};
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
        plan_target(TargetKind::WazuhOffice365, args, &import(&cred, &integ))
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
        assert_eq!(
            count(&after, TENANT),
            2,
            "tenant id and secret path: {after}"
        );
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
        assert!(block.starts_with("\n  <office365>\n    <enabled>yes</enabled>\n    <only_future_events>no</only_future_events>\n    <interval>1m</interval>\n    <api_auth>\n"), "{block}");
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
        for cloud in ["dod", "china"] {
            let err = run(&args, cloud).unwrap_err().to_string();
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
        let err = plan_target(TargetKind::WazuhOffice365, &args, &import(&cred, &integ))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a GUID"), "{err}");
    }
}
