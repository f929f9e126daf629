//! `json`: `<output-dir>/<customer>.json`, the decrypted credential with the
//! customer, template and request it came from, mode 0600, for anything
//! handoff has no target for.
//!
//! A new file holds exactly those keys. In an existing file (a JSON object)
//! handoff sets only them and keeps every other key an operator or a script
//! added; a file whose content already says the same is left as it is, byte
//! for byte, whatever its key order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

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

fn json_error(e: serde_json::Error) -> TargetError {
    TargetError::Refused(format!("cannot write the credential as JSON: {e}"))
}

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
    let out = Output {
        customer: import.customer,
        template: &import.integration.id,
        request_id: import.request_id,
        tenant_id: &cred.tenant_id,
        client_id: &cred.client_id,
        client_secret: &cred.client_secret,
        secret_expires_on: cred.secret_expires_on.as_deref(),
        cloud: cred.cloud.as_str(),
        extra: &cred.extra,
    };
    let fresh = serde_json::to_value(&out).map_err(json_error)?;
    super::customer_file(args, import, "json", |path, current| {
        let merged = match current {
            None => fresh,
            Some(text) => {
                let Ok(Value::Object(mut kept)) = serde_json::from_str::<Value>(text) else {
                    return Err(TargetError::malformed(
                        path,
                        "it is not a JSON object, so handoff cannot set the credential's keys in it; move it away and import again",
                    ));
                };
                if let Value::Object(ours) = fresh {
                    kept.extend(ours);
                }
                let merged = Value::Object(kept);
                if serde_json::from_str::<Value>(text).ok().as_ref() == Some(&merged) {
                    return Ok(text.to_owned());
                }
                merged
            }
        };
        let mut text = serde_json::to_string_pretty(&merged).map_err(json_error)?;
        text.push('\n');
        Ok(text)
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;

    #[test]
    fn writes_the_fields_0600_and_masks_the_diff() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let mut cred = credential("identity-protection", "commercial");
        cred.extra.insert("workspace".to_owned(), "w1".to_owned());
        let integ = integration("identity-protection");
        let plan = plan_target(Target::Json, &args, &import(&cred, &integ)).unwrap();
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
        let again = plan_target(Target::Json, &args, &import(&cred, &integ)).unwrap();
        assert!(again.is_noop());
    }

    #[test]
    fn keys_an_operator_added_survive_a_rotation_and_key_order_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let integ = integration("identity-protection");
        let cred = credential("identity-protection", "commercial");
        let path = dir.path().join("credentials/contoso-ltd.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Written by hand in another order, with the SOC's own keys.
        let by_hand = format!(
            "{{\"cloud\": \"commercial\", \"tenant_id\": \"{TENANT}\", \"client_id\": \"{CLIENT}\", \"client_secret\": \"{SECRET}\", \"secret_expires_on\": \"2026-06-30\", \"customer\": \"Contoso Ltd\", \"template\": \"identity-protection\", \"request_id\": \"req_0123\", \"extra\": {{}}, \"siem_index\": \"contoso-o365\", \"poll\": {{\"minutes\": 5}}}}"
        );
        fs::write(&path, &by_hand).unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let noop = plan_target(Target::Json, &args, &import(&cred, &integ)).unwrap();
        assert!(noop.is_noop(), "{}", noop.diff());

        let mut rotated = cred.clone();
        rotated.client_secret = "New8Q~rotatedrotatedrotatedrotated12345".to_owned();
        plan_target(Target::Json, &args, &import(&rotated, &integ))
            .unwrap()
            .apply()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["client_secret"], rotated.client_secret.as_str());
        assert_eq!(v["siem_index"], "contoso-o365");
        assert_eq!(v["poll"]["minutes"], 5);

        fs::write(&path, format!("[\"{TENANT}\"]")).unwrap();
        let err = plan_target(Target::Json, &args, &import(&cred, &integ))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a JSON object"), "{err}");
    }
}
