//! `filebeat-o365`: an entry of Filebeat's `modules.d/o365.yml`.
//!
//! The module file is a YAML list of `- module: o365` entries. One entry
//! holds one application ID, so each customer's app registration gets its
//! own entry (Filebeat runs every entry of the list): an entry for the same
//! application ID or the same tenant is replaced, Filebeat's shipped sample
//! entry (`"<MyApplicationID>"`) is replaced, and otherwise a new entry is
//! appended. Everything outside that entry stays byte-for-byte, comments
//! included: the YAML parser only checks the file and finds the entries;
//! the text is spliced by hand.
//!
//! The secret never goes into the module file: it says `${KEY}`, which
//! Filebeat resolves from its keystore or its environment.

use std::ops::Range;

use serde_yaml_ng::Value;

use super::{FileChange, Import, Plan, TargetArgs, TargetError, env_value, read_text};

/// `var.api` for clouds other than commercial: the login endpoint and the
/// Management API resource, as the module's own sample writes them.
fn api_endpoints(cloud: &str) -> Result<Option<(&'static str, &'static str)>, TargetError> {
    match cloud {
        "commercial" => Ok(None),
        "gcc" => Ok(Some((
            "https://login.microsoftonline.com/",
            "https://manage-gcc.office.com",
        ))),
        "gcc-high" => Ok(Some((
            "https://login.microsoftonline.us/",
            "https://manage.office365.us",
        ))),
        "dod" => Ok(Some((
            "https://login.microsoftonline.us/",
            "https://manage.protection.apps.mil",
        ))),
        "china" => Err(TargetError::Refused(
            "handoff does not know the Office 365 Management API's address in the China cloud, so it will not guess a var.api for Filebeat; collect this tenant with the env or json target".to_owned(),
        )),
        other => Err(TargetError::Refused(format!("unknown cloud {other:?}"))),
    }
}

/// The name of the `${KEY}` holding a tenant's secret.
pub fn secret_key(tenant_id: &str) -> String {
    let t: String = tenant_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("O365_SECRET_{t}")
}

/// A double-quoted YAML scalar.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let api = api_endpoints(&cred.cloud)?;
    if !crate::credential::is_guid(&cred.tenant_id) {
        return Err(TargetError::Refused(format!(
            "the tenant ID {:?} is not a GUID; the Office 365 Management API needs the tenant's GUID, not its domain name",
            cred.tenant_id
        )));
    }
    let tenant = cred.tenant_id.to_ascii_lowercase();
    let key = secret_key(&tenant);
    // Filebeat's pipeline puts the name between double quotes unescaped.
    let label: String = import
        .customer
        .chars()
        .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
        .collect();

    let mut entry = String::from("- module: o365\n");
    entry.push_str(&format!(
        "  # Written by handoff collect for {} ({}).\n",
        label.trim(),
        import.integration.id
    ));
    entry.push_str("  audit:\n    enabled: true\n");
    entry.push_str(&format!(
        "    var.application_id: {}\n",
        quoted(&cred.client_id)
    ));
    entry.push_str(&format!(
        "    var.tenants:\n      - id: {}\n        name: {}\n",
        quoted(&tenant),
        quoted(label.trim())
    ));
    entry.push_str(&format!("    var.client_secret: \"${{{key}}}\"\n"));
    let types = &import.integration.collect.content_types;
    if !types.is_empty() {
        entry.push_str("    var.content_type:\n");
        for t in types {
            entry.push_str(&format!("      - {}\n", quoted(t)));
        }
    }
    if let Some((login, resource)) = api {
        entry.push_str(&format!(
            "    var.api:\n      authentication_endpoint: {}\n      resource: {}\n",
            quoted(login),
            quoted(resource)
        ));
    }

    let path = &args.filebeat_module;
    let existing = read_text(path)?;
    let src = existing.clone().unwrap_or_default();
    let items = parse_list(path, &src)?;
    let spans = item_spans(&src);
    if spans.len() != items.len() {
        return Err(TargetError::malformed(
            path,
            format!(
                "it has {} entries but {} of them start with \"- \" at the beginning of a line; handoff edits only block lists written that way",
                items.len(),
                spans.len()
            ),
        ));
    }

    let mut notes = Vec::new();
    let matching: Vec<usize> = (0..items.len())
        .filter(|&i| {
            is_o365(&items[i])
                && (app_id(&items[i]).is_some_and(|a| a.eq_ignore_ascii_case(&cred.client_id))
                    || tenant_ids(&items[i])
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&tenant)))
        })
        .collect();
    let sample = (0..items.len())
        .find(|&i| is_o365(&items[i]) && app_id(&items[i]).is_some_and(|a| a.starts_with('<')));
    let replace = match (matching.as_slice(), sample) {
        ([i], _) => Some(*i),
        ([], sample) => sample,
        (several, _) => {
            return Err(TargetError::malformed(
                path,
                format!(
                    "{} o365 entries name application {} or tenant {tenant}; keep one so handoff knows which to replace",
                    several.len(),
                    cred.client_id
                ),
            ));
        }
    };
    let after = match replace {
        None => {
            let mut s = src.clone();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&entry);
            notes.push(format!(
                "added an o365 entry for tenant {tenant} to {}",
                path.display()
            ));
            s
        }
        Some(i) => {
            let span = spans[i].clone();
            if src[span.clone()] != entry {
                notes.push(if matching.is_empty() {
                    format!(
                        "replaced Filebeat's sample o365 entry in {}",
                        path.display()
                    )
                } else {
                    format!(
                        "replaced the o365 entry for tenant {tenant} in {}",
                        path.display()
                    )
                });
            }
            let mut s = src.clone();
            s.replace_range(span, &entry);
            s
        }
    };

    // The result must read back with the values it was meant to hold.
    let back = parse_list(path, &after).map_err(|e| {
        TargetError::Refused(format!(
            "handoff's change to the module file would not parse: {e}"
        ))
    })?;
    let ours = back
        .iter()
        .filter(|v| app_id(v).is_some_and(|a| a == cred.client_id))
        .count();
    if ours != 1 {
        return Err(TargetError::Refused(format!(
            "handoff's change to {} did not leave exactly one entry for application {}",
            path.display(),
            cred.client_id
        )));
    }

    let mut changes = Vec::new();
    match &args.filebeat_env_file {
        Some(env_path) => {
            let line = format!("{key}={}", env_value(&key, &cred.client_secret)?);
            let current = read_text(env_path)?;
            let mut lines: Vec<String> = current
                .as_deref()
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
            let is_key = |l: &str| {
                let l = l.trim_start();
                let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
                l.strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            };
            match lines.iter().position(|l| is_key(l)) {
                Some(at) => {
                    lines[at] = line;
                    let mut n = at + 1;
                    while n < lines.len() {
                        if is_key(&lines[n]) {
                            lines.remove(n);
                        } else {
                            n += 1;
                        }
                    }
                }
                None => lines.push(line),
            }
            let mut text = lines.join("\n");
            text.push('\n');
            changes.push(FileChange {
                path: env_path.clone(),
                before: current.map(String::into_bytes),
                after: text.into_bytes(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: false,
            });
            notes.push(format!(
                "the client secret is in {} as {key}; Filebeat must have it in its environment (for example EnvironmentFile={} in a systemd drop-in for filebeat.service)",
                env_path.display(),
                env_path.display()
            ));
        }
        None => notes.push(format!(
            "the module file refers to ${{{key}}}: store the client secret in Filebeat's keystore with `filebeat keystore add {key}` (handoff never prints the value; use --filebeat-env-file to have it written to a 0600 file instead)"
        )),
    }
    let module_change = FileChange {
        path: path.clone(),
        before: existing.map(String::into_bytes),
        after: after.into_bytes(),
        mode_if_new: 0o600,
        owner_if_new: None,
        secret: false,
    };
    if !(module_change.is_noop() && changes.iter().all(FileChange::is_noop)) {
        notes.push("restart Filebeat (systemctl restart filebeat) to load the change".to_owned());
    }
    changes.push(module_change);
    Ok(Plan::new(changes, notes, cred))
}

/// The file's entries; an empty file (or only comments) has none.
fn parse_list(path: &std::path::Path, src: &str) -> Result<Vec<Value>, TargetError> {
    match serde_yaml_ng::from_str::<Value>(src) {
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(Value::Sequence(items)) => Ok(items),
        Ok(_) => Err(TargetError::malformed(
            path,
            "it is not a list of modules (\"- module: o365\")",
        )),
        Err(e) => Err(TargetError::malformed(path, format!("not valid YAML: {e}"))),
    }
}

/// Each top-level entry's bytes: from its `-` line to its last indented
/// line, so comments and blank lines between entries stay outside.
fn item_spans(src: &str) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut at = 0;
    for line in src.split_inclusive('\n') {
        lines.push((at, line));
        at += line.len();
    }
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let l = lines[i].1.trim_end_matches(['\n', '\r']);
            l == "-" || l.starts_with("- ") || l.starts_with("-\t")
        })
        .collect();
    let mut spans = Vec::new();
    for (k, &first) in starts.iter().enumerate() {
        let stop = starts.get(k + 1).copied().unwrap_or(lines.len());
        let mut last = first;
        for (i, (_, l)) in lines.iter().enumerate().take(stop).skip(first + 1) {
            if l.starts_with([' ', '\t']) && !l.trim().is_empty() {
                last = i;
            }
        }
        let (start, _) = lines[first];
        let (last_at, last_line) = lines[last];
        spans.push(start..last_at + last_line.len());
    }
    spans
}

fn is_o365(v: &Value) -> bool {
    v.get("module").and_then(Value::as_str) == Some("o365")
}

/// A value under dotted keys, however the file splits them
/// (`audit: {var.application_id: ..}` or `audit: {var: {application_id: ..}}`).
fn lookup<'v>(v: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    if keys.is_empty() {
        return Some(v);
    }
    (1..=keys.len()).find_map(|n| {
        v.get(keys[..n].join("."))
            .and_then(|inner| lookup(inner, &keys[n..]))
    })
}

fn app_id(v: &Value) -> Option<&str> {
    lookup(v, &["audit", "var", "application_id"]).and_then(Value::as_str)
}

fn tenant_ids(v: &Value) -> Vec<&str> {
    lookup(v, &["audit", "var", "tenants"])
        .and_then(Value::as_sequence)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{TargetKind, plan as plan_target};
    use super::*;

    const OTHER: &str = "# Filebeat o365 module, managed by the SOC.\n- module: o365\n  audit:\n    enabled: true\n    # the other customer\n    var.application_id: \"aaaaaaaa-2222-3333-4444-555555555555\"\n    var.tenants:\n      - id: \"11111111-2222-3333-4444-555555555555\"\n        name: \"fabrikam.onmicrosoft.com\"\n    var.client_secret: \"${O365_SECRET_FABRIKAM}\"\n\n# end of the list\n";

    fn run(args: &TargetArgs, cloud: &str) -> Result<Plan, TargetError> {
        let cred = credential("o365-management", cloud);
        let integ = integration("o365-management");
        plan_target(TargetKind::FilebeatO365, args, &import(&cred, &integ))
    }

    #[test]
    fn appends_an_entry_and_keeps_the_rest_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.filebeat_module, OTHER).unwrap();
        let plan = run(&args, "gcc-high").unwrap();
        assert!(
            plan.notes.iter().any(|n| n.contains(
                "filebeat keystore add O365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47"
            )),
            "{:?}",
            plan.notes
        );
        plan.apply().unwrap();
        let after = fs::read_to_string(&args.filebeat_module).unwrap();
        assert!(after.starts_with(OTHER), "{after}");
        let added = &after[OTHER.len()..];
        assert!(added.starts_with("- module: o365\n"), "{added}");
        assert!(added.contains(
            "    var.client_secret: \"${O365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47}\"\n"
        ));
        assert!(added.contains("      authentication_endpoint: \"https://login.microsoftonline.us/\"\n      resource: \"https://manage.office365.us\"\n"));
        assert!(!after.contains(SECRET));
        assert!(run(&args, "gcc-high").unwrap().is_noop());
    }

    #[test]
    fn replaces_the_same_tenant_and_the_sample_entry() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let sample = "- module: o365\n  audit:\n    enabled: false\n\n    # Set the application_id (also known as client ID):\n    var.application_id: \"<MyApplicationID>\"\n    var.tenants:\n     - id: \"<MyTenantID>\"\n       name: \"mytenant.onmicrosoft.com\"\n    var.client_secret: \"<YourClientSecretHere>\"\n\n    # Advanced settings, use with care:\n    # var.api:\n    #   poll_interval: 3m\n";
        fs::write(&args.filebeat_module, sample).unwrap();
        run(&args, "commercial").unwrap().apply().unwrap();
        let first = fs::read_to_string(&args.filebeat_module).unwrap();
        assert_eq!(first.matches("- module: o365").count(), 1, "{first}");
        assert!(!first.contains("<MyApplicationID>"));
        assert!(
            !first.contains("var.api"),
            "commercial needs no var.api: {first}"
        );
        // The same tenant under a new app registration replaces the entry.
        let mut cred = credential("o365-management", "gcc");
        cred.client_id = "bbbbbbbb-2222-3333-4444-555555555555".to_owned();
        let integ = integration("o365-management");
        plan_target(TargetKind::FilebeatO365, &args, &import(&cred, &integ))
            .unwrap()
            .apply()
            .unwrap();
        let second = fs::read_to_string(&args.filebeat_module).unwrap();
        assert_eq!(second.matches("- module: o365").count(), 1, "{second}");
        assert!(second.contains("bbbbbbbb-2222"));
        assert!(second.contains("https://manage-gcc.office.com"));
    }

    #[test]
    fn the_env_file_gets_the_key_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        let env = dir.path().join("filebeat.env");
        args.filebeat_env_file = Some(env.clone());
        fs::write(
            &env,
            "A=1\nO365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47=old\nB=2\n",
        )
        .unwrap();
        let plan = run(&args, "commercial").unwrap();
        let diff = plan.diff();
        assert!(!diff.contains(SECRET) && !diff.contains("=old"), "{diff}");
        plan.apply().unwrap();
        assert_eq!(
            fs::read_to_string(&env).unwrap(),
            format!("A=1\nO365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47={SECRET}\nB=2\n")
        );
        let fresh = dir.path().join("new.env");
        args.filebeat_env_file = Some(fresh.clone());
        run(&args, "commercial").unwrap().apply().unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(mode(&args.filebeat_module), 0o600);
    }

    #[test]
    fn malformed_yaml_and_china_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        for broken in [
            "- module: o365\n  audit: [\n",
            "module: o365\n",
            "  - module: o365\n  - module: aws\n",
        ] {
            fs::write(&args.filebeat_module, broken).unwrap();
            let err = run(&args, "commercial").unwrap_err().to_string();
            assert!(
                err.contains("o365.yml: ") && err.contains("left untouched"),
                "{broken:?}: {err}"
            );
            assert_eq!(fs::read_to_string(&args.filebeat_module).unwrap(), broken);
        }
        let err = run(&args, "china").unwrap_err().to_string();
        assert!(err.contains("China cloud"), "{err}");
    }

    #[test]
    fn spans_leave_comments_between_entries_outside() {
        let src = "# head\n- a: 1\n  b: 2\n\n# about c\n- c: 3\n";
        let spans = item_spans(src);
        assert_eq!(&src[spans[0].clone()], "- a: 1\n  b: 2\n");
        assert_eq!(&src[spans[1].clone()], "- c: 3\n");
    }
}
