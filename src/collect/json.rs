//! `json`: `<output-dir>/<customer>.json`, the decrypted credential with the
//! customer, template and request it came from, mode 0600, for anything
//! handoff has no target for.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Import, Plan, TargetArgs, TargetError};

#[derive(Serialize)]
struct Output<'a> {
    customer: &'a str,
    template: &'a str,
    request_id: &'a str,
    tenant_id: &'a str,
    client_id: &'a str,
    client_secret: &'a str,
    secret_expires_on: Option<&'a str>,
    cloud: &'a str,
    /// The template's own fields.
    extra: &'a BTreeMap<String, String>,
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let out = Output {
        customer: import.customer,
        template: &import.integration.id,
        request_id: import.request_id,
        tenant_id: &cred.tenant_id,
        client_id: &cred.client_id,
        client_secret: &cred.client_secret,
        secret_expires_on: cred.secret_expires_on.as_deref(),
        cloud: &cred.cloud,
        extra: &cred.extra,
    };
    let mut text = serde_json::to_string_pretty(&out)
        .map_err(|e| TargetError::Refused(format!("cannot write the credential as JSON: {e}")))?;
    text.push('\n');
    super::customer_file(args, import, "json", text)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{TargetKind, plan as plan_target};
    use super::*;

    #[test]
    fn writes_the_fields_0600_and_masks_the_diff() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let mut cred = credential("identity-protection", "commercial");
        cred.extra.insert("workspace".to_owned(), "w1".to_owned());
        let integ = integration("identity-protection");
        let plan = plan_target(TargetKind::Json, &args, &import(&cred, &integ)).unwrap();
        assert!(!plan.diff().contains(SECRET), "{}", plan.diff());
        plan.apply().unwrap();
        let path = dir.path().join("credentials/contoso-ltd.json");
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["client_secret"], SECRET);
        assert_eq!(v["tenant_id"], TENANT);
        assert_eq!(v["customer"], "Contoso Ltd");
        assert_eq!(v["request_id"], "req_0123");
        assert_eq!(v["template"], "identity-protection");
        assert_eq!(v["extra"]["workspace"], "w1");
        assert_eq!(mode(&path), 0o600);
        let again = plan_target(TargetKind::Json, &args, &import(&cred, &integ)).unwrap();
        assert!(again.is_noop());
    }
}
