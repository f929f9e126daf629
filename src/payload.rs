//! The plaintext a client encrypts: `{"v":1,"template":..,"fields":{..},"note":..}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Format version; 1 is the only one so far.
    pub v: u32,
    pub template: String,
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Payload {
    pub fn text(text: &str) -> Payload {
        Payload {
            v: 1,
            template: "text".to_owned(),
            fields: BTreeMap::from([("text".to_owned(), text.to_owned())]),
            note: None,
        }
    }
}

/// The three values `az ad app credential reset` prints, as payload fields.
/// `None` if `json` is not that output.
pub fn fields_from_az_output(json: &str) -> Option<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(BTreeMap::from([
        ("client_id".to_owned(), get("appId")?),
        ("client_secret".to_owned(), get("password")?),
        ("tenant_id".to_owned(), get("tenant")?),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_credential_reset_output_fills_three_fields() {
        let out = r#"{
  "appId": "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d",
  "password": "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_",
  "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"
}"#;
        let f = fields_from_az_output(out).unwrap();
        assert_eq!(f["client_id"], "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d");
        assert_eq!(f["tenant_id"], "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert!(fields_from_az_output("{\"appId\": \"x\"}").is_none());
        assert!(fields_from_az_output("not json").is_none());
    }

    #[test]
    fn payload_json_has_the_documented_shape() {
        let json = serde_json::to_string(&Payload::text("hi")).unwrap();
        assert_eq!(json, r#"{"v":1,"template":"text","fields":{"text":"hi"}}"#);
    }
}
