//! The plaintext a client encrypts: `{"v":1,"template":..,"fields":{..},"note":..}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Format version; 1 is the only one so far.
    pub v: u32,
    pub template: String,
    pub fields: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl std::fmt::Debug for Payload {
    /// Field names only: the values are the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("v", &self.v)
            .field("template", &self.template)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
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
///
/// az writes a warning to stderr before the JSON ("WARNING: The output
/// includes credentials that you must protect. ..."), and an admin who
/// copies from the terminal copies both, on lines of their own or, pasted
/// into a one-line input, run together: text before the JSON object is
/// taken when it is such a warning, and only then.
pub(crate) fn fields_from_az_output(json: &str) -> Option<BTreeMap<String, String>> {
    let text = json.trim();
    let start = text.find('{')?;
    let before = text[..start].trim();
    if !(before.is_empty() || before.starts_with("WARNING:")) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&text[start..]).ok()?;
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(BTreeMap::from([
        ("client_id".to_owned(), get("appId")?),
        ("client_secret".to_owned(), get("password")?),
        ("tenant_id".to_owned(), get("tenant")?),
    ]))
}

/// An Entra app registration's credentials, as the collector takes them out
/// of a decrypted payload: what targets write and what verification checks.
#[derive(Clone, PartialEq, Eq)]
pub struct EntraCredential {
    /// The integration template id the payload was made for.
    pub template: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// `YYYY-MM-DD`, when the customer gave it.
    pub secret_expires_on: Option<String>,
    /// The tenant's cloud; commercial when the payload names none.
    pub cloud: Cloud,
    /// The template's extra fields, by name.
    pub extra: BTreeMap<String, String>,
}

impl std::fmt::Debug for EntraCredential {
    /// Never the secret: debug output ends up in logs and test failures.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraCredential")
            .field("template", &self.template)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

impl EntraCredential {
    /// The credential in `payload`: the three values must be there and the
    /// cloud known (the browser already ran [`crate::credential`]'s checks;
    /// what is wrong beyond that, verification finds).
    pub fn from_payload(payload: &Payload) -> Result<EntraCredential, String> {
        let field = |name: &str| payload.fields.get(name).map(|v| v.trim().to_owned());
        let required = |name: &str| {
            field(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("the payload has no {name}"))
        };
        let cloud = match field("cloud").filter(|v| !v.is_empty()) {
            None => Cloud::Commercial,
            Some(name) => Cloud::parse(&name).ok_or_else(|| format!("unknown cloud {name:?}"))?,
        };
        Ok(EntraCredential {
            template: payload.template.clone(),
            tenant_id: required("tenant_id")?,
            client_id: required("client_id")?,
            client_secret: required("client_secret")?,
            secret_expires_on: field("secret_expires_on").filter(|v| !v.is_empty()),
            cloud,
            extra: payload
                .fields
                .iter()
                .filter(|(k, _)| !crate::template::is_entra_field(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
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
        // With az's warning copied along, on its own line or run together.
        let warning = "WARNING: The output includes credentials that you must protect. Be sure \
                       that you do not include these credentials in your code or check the \
                       credentials into your source control. For more information, see \
                       https://aka.ms/azadsp-cli";
        assert_eq!(
            fields_from_az_output(&format!("{warning}\n{out}")),
            Some(f.clone())
        );
        assert_eq!(
            fields_from_az_output(&format!("{warning}{}", out.replace('\n', ""))),
            Some(f)
        );
        // Anything else before the JSON is not az's output.
        assert!(fields_from_az_output(&format!("tenant {out}")).is_none());
        assert!(fields_from_az_output(&format!("ERROR: x\n{out}")).is_none());
    }

    #[test]
    fn the_cloud_is_parsed_at_the_edge() {
        let payload = |cloud: Option<&str>| Payload {
            v: 1,
            template: "o365-management".to_owned(),
            fields: [
                ("tenant_id", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
                ("client_id", "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d"),
                ("client_secret", "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_"),
            ]
            .into_iter()
            .chain(cloud.map(|c| ("cloud", c)))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            note: None,
        };
        let cloud = |c| EntraCredential::from_payload(&payload(c)).map(|e| e.cloud);
        assert_eq!(cloud(None), Ok(Cloud::Commercial));
        assert_eq!(cloud(Some(" ")), Ok(Cloud::Commercial));
        assert_eq!(cloud(Some("gcc-high")), Ok(Cloud::GccHigh));
        assert_eq!(
            cloud(Some("mars")),
            Err("unknown cloud \"mars\"".to_owned())
        );
    }

    #[test]
    fn debug_never_shows_field_values() {
        let shown = format!("{:?}", Payload::text("hunter2-the-secret"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("text"));
    }

    #[test]
    fn payload_json_has_the_documented_shape() {
        let json = serde_json::to_string(&Payload::text("hi")).unwrap();
        assert_eq!(json, r#"{"v":1,"template":"text","fields":{"text":"hi"}}"#);
    }
}
