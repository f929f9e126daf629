//! `env`: `<output-dir>/<customer>.env` with the Azure SDKs' variables
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, and
//! `AZURE_AUTHORITY_HOST` outside the commercial cloud), mode 0600.
//!
//! The file is handoff's own: it is written whole. Values need no quoting
//! in practice (GUIDs, secrets from a small alphabet); one that does is put
//! in single quotes, which a shell and systemd's `EnvironmentFile` read alike.

use super::{Import, Plan, TargetArgs, TargetError, authority_host, env_value};

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let comment: String = import
        .customer
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut text = format!(
        "# handoff collect: {} ({}, request {})\n",
        comment.trim(),
        import.integration.id,
        import.request_id
    );
    if let Some(on) = &cred.secret_expires_on {
        text.push_str(&format!("# the client secret expires on {on}\n"));
    }
    let mut vars = vec![
        ("AZURE_TENANT_ID", cred.tenant_id.as_str()),
        ("AZURE_CLIENT_ID", cred.client_id.as_str()),
        ("AZURE_CLIENT_SECRET", cred.client_secret.as_str()),
    ];
    if cred.cloud != "commercial" {
        let host = authority_host(&cred.cloud)
            .ok_or_else(|| TargetError::Refused(format!("unknown cloud {:?}", cred.cloud)))?;
        vars.push(("AZURE_AUTHORITY_HOST", host));
    }
    for (name, value) in vars {
        text.push_str(&format!("{name}={}\n", env_value(name, value)?));
    }
    super::customer_file(args, import, "env", text)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{TargetKind, plan as plan_target};
    use super::*;

    #[test]
    fn writes_the_azure_variables_0600_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let cred = credential("identity-protection", "gcc-high");
        let integ = integration("identity-protection");
        let run = || plan_target(TargetKind::Env, &args, &import(&cred, &integ)).unwrap();
        let plan = run();
        assert!(!plan.diff().contains(SECRET), "{}", plan.diff());
        plan.apply().unwrap();
        let path = dir.path().join("credentials/contoso-ltd.env");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "# handoff collect: Contoso Ltd (identity-protection, request req_0123)\n# the client secret expires on 2026-06-30\nAZURE_TENANT_ID={TENANT}\nAZURE_CLIENT_ID={CLIENT}\nAZURE_CLIENT_SECRET={SECRET}\nAZURE_AUTHORITY_HOST=https://login.microsoftonline.us\n"
            )
        );
        assert_eq!(mode(&path), 0o600);
        assert!(run().is_noop());
    }

    #[test]
    fn unusual_values_are_quoted_or_refused() {
        assert_eq!(env_value("X", "a b").unwrap(), "'a b'");
        assert_eq!(env_value("X", "a$b").unwrap(), "'a$b'");
        assert!(env_value("X", "it's").is_err());
        assert!(env_value("X", "a\nb").is_err());
    }
}
