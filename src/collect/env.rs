//! `env`: `<output-dir>/<customer>.env` with the Azure SDKs' variables
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, and
//! `AZURE_AUTHORITY_HOST` outside the commercial cloud), mode 0600.
//!
//! A new file is written whole. In an existing one, handoff sets only its
//! own lines (those variables and its two comment lines) and keeps every
//! other line an operator added (a proxy, a log level, comments) as it is.
//! Values need no quoting in practice (GUIDs, secrets from a small
//! alphabet); one that does is put in single quotes, which a shell and
//! systemd's `EnvironmentFile` read alike.

use super::{Import, Plan, TargetArgs, TargetError, env_value, set_env_lines};
use crate::cloud::Cloud;

/// The comment lines handoff writes, by the prefix that recognises them.
const HEADER: &str = "# handoff collect: ";
const EXPIRY: &str = "# the client secret expires on ";

/// What it takes from a template's `[collect]` section.
pub(super) const READS: super::Reads = super::Reads::GraphEndpoints;

/// It needs no option beyond the ones every target has.
#[allow(
    clippy::unnecessary_wraps,
    reason = "the registry calls every target's check_args alike"
)]
pub(super) fn check_args(_args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    Ok(())
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let comment: String = import
        .customer
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let header = format!(
        "{HEADER}{} ({}, request {})",
        comment.trim(),
        import.integration.id,
        import.request_id
    );
    let expiry = cred
        .secret_expires_on
        .as_ref()
        .map(|on| format!("{EXPIRY}{on}"));
    let host = match cred.cloud {
        Cloud::Commercial => None,
        Cloud::Gcc | Cloud::GccHigh | Cloud::Dod | Cloud::China => {
            Some(cred.cloud.authority_host())
        }
    };
    let vars = [
        ("AZURE_TENANT_ID", Some(cred.tenant_id.as_str())),
        ("AZURE_CLIENT_ID", Some(cred.client_id.as_str())),
        ("AZURE_CLIENT_SECRET", Some(cred.client_secret.as_str())),
        ("AZURE_AUTHORITY_HOST", host),
    ];
    let mut values = Vec::new();
    for (name, value) in vars {
        values.push((name, value.map(|v| env_value(name, v)).transpose()?));
    }
    super::customer_file(args, import, "env", |_, current| {
        let Some(current) = current else {
            let mut text = format!("{header}\n");
            if let Some(e) = &expiry {
                text.push_str(&format!("{e}\n"));
            }
            for (name, value) in &values {
                if let Some(v) = value {
                    text.push_str(&format!("{name}={v}\n"));
                }
            }
            return Ok(text);
        };
        // handoff's comment lines are about the credential: replaced in
        // place, added at the top when missing.
        let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
        for (prefix, wanted, at) in [(HEADER, Some(&header), 0), (EXPIRY, expiry.as_ref(), 1)] {
            match (lines.iter().position(|l| l.starts_with(prefix)), wanted) {
                (Some(i), Some(w)) => lines[i] = w.clone(),
                (Some(i), None) => {
                    lines.remove(i);
                }
                (None, Some(w)) => lines.insert(at.min(lines.len()), w.clone()),
                (None, None) => {}
            }
        }
        Ok(set_env_lines(&lines.join("\n"), &values))
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;
    use crate::payload::EntraCredential;
    use std::os::unix::fs::PermissionsExt;

    /// Targets under a temporary directory, fed identity-protection.
    struct Collector {
        _dir: tempfile::TempDir,
        args: TargetArgs,
        integ: crate::integration::Integration,
        /// Where the env target writes Contoso Ltd's file.
        path: std::path::PathBuf,
    }

    fn collector() -> Collector {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let path = dir.path().join("credentials/contoso-ltd.env");
        Collector {
            _dir: dir,
            args,
            integ: integration("identity-protection"),
            path,
        }
    }

    impl Collector {
        fn plan(&self, kind: Target, cred: &EntraCredential) -> Result<Plan, TargetError> {
            plan_target(kind, &self.args, &import(cred, &self.integ))
        }

        fn env(&self, cred: &EntraCredential) -> Plan {
            self.plan(Target::Env, cred).unwrap()
        }
    }

    #[test]
    fn writes_the_azure_variables_0600_and_once() {
        let c = collector();
        let cred = credential("identity-protection", "gcc-high");
        let run = || c.env(&cred);
        let plan = run();
        assert!(!plan.diff().contains(SECRET), "{}", plan.diff());
        plan.apply().unwrap();
        let path = &c.path;
        let text = fs::read_to_string(path).unwrap();
        assert_eq!(
            text,
            format!(
                "# handoff collect: Contoso Ltd (identity-protection, request req_0123)\n# the client secret expires on 2026-06-30\nAZURE_TENANT_ID={TENANT}\nAZURE_CLIENT_ID={CLIENT}\nAZURE_CLIENT_SECRET={SECRET}\nAZURE_AUTHORITY_HOST=https://login.microsoftonline.us\n"
            )
        );
        assert_eq!(mode(path), 0o600);
        assert!(run().is_noop());
    }

    #[test]
    fn a_rotation_sets_only_handoffs_lines_and_keeps_the_operators() {
        let c = collector();
        let cred = credential("identity-protection", "gcc-high");
        c.env(&cred).apply().unwrap();
        let path = &c.path;
        // The operator exports the secret, adds a proxy and a comment.
        let tuned = fs::read_to_string(path)
            .unwrap()
            .replace("AZURE_CLIENT_SECRET=", "export AZURE_CLIENT_SECRET=")
            + "# via the SOC's egress proxy\nHTTPS_PROXY=http://proxy.soc.example:3128\n";
        fs::write(path, &tuned).unwrap();
        assert!(c.env(&cred).is_noop());

        let mut rotated = cred.clone();
        rotated.client_secret = "New8Q~rotatedrotatedrotatedrotated12345".to_owned();
        rotated.secret_expires_on = Some("2028-01-31".to_owned());
        rotated.cloud = Cloud::Commercial;
        c.env(&rotated).apply().unwrap();
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            format!(
                "# handoff collect: Contoso Ltd (identity-protection, request req_0123)\n# the client secret expires on 2028-01-31\nAZURE_TENANT_ID={TENANT}\nAZURE_CLIENT_ID={CLIENT}\nexport AZURE_CLIENT_SECRET={}\n# via the SOC's egress proxy\nHTTPS_PROXY=http://proxy.soc.example:3128\n",
                rotated.client_secret
            ),
            "the commercial cloud needs no AZURE_AUTHORITY_HOST; the rest is the operator's"
        );
    }

    #[test]
    fn values_that_did_not_change_keep_their_quotes_and_comments() {
        let c = collector();
        let cred = credential("identity-protection", "commercial");
        let path = &c.path;
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let by_hand = format!(
            "# handoff collect: Contoso Ltd (identity-protection, request req_0123)\n# the client secret expires on 2026-06-30\nexport AZURE_TENANT_ID=\"{TENANT}\"\nAZURE_CLIENT_ID='{CLIENT}'\nAZURE_CLIENT_SECRET=\"{SECRET}\"   # rotated 2025-01\n"
        );
        fs::write(path, &by_hand).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
        let same = c.env(&cred);
        assert!(same.is_noop(), "{}", same.diff());

        let mut rotated = cred.clone();
        rotated.client_secret = "New8Q~rotatedrotatedrotatedrotated12345".to_owned();
        c.env(&rotated).apply().unwrap();
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            by_hand.replace(
                &format!("\"{SECRET}\"   # rotated"),
                &format!("{}   # rotated", rotated.client_secret)
            )
        );
    }

    #[test]
    fn a_file_other_users_can_read_is_refused_and_left_alone() {
        let c = collector();
        let cred = credential("identity-protection", "commercial");
        let path = &c.path;
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let old = format!("AZURE_TENANT_ID={TENANT}\nAZURE_CLIENT_SECRET=old\n");
        fs::write(path, &old).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
        for kind in [Target::Env, Target::Json] {
            let path = path.with_extension(kind.as_str());
            if kind == Target::Json {
                fs::write(&path, format!("{{\"tenant_id\": \"{TENANT}\"}}")).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
            }
            let before = fs::read(&path).unwrap();
            let err = c.plan(kind, &cred).unwrap_err().to_string();
            assert!(err.contains("other users can read or write it"), "{err}");
            assert!(
                err.contains(&format!("run chmod 600 {}", path.display())),
                "{err}"
            );
            assert_eq!(fs::read(&path).unwrap(), before);
        }
    }

    #[test]
    fn unusual_values_are_quoted_or_refused() {
        assert_eq!(env_value("X", "a b").unwrap(), "'a b'");
        assert_eq!(env_value("X", "a$b").unwrap(), "'a$b'");
        assert!(env_value("X", "it's").is_err());
        assert!(env_value("X", "a\nb").is_err());
    }
}
