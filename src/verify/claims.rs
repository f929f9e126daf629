//! Reading the `tid` and `roles` claims of an access token.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The claims verification reads from an access token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    /// The tenant that issued the token.
    pub(crate) tid: Option<String>,
    /// The application permissions granted with admin consent.
    pub(crate) roles: Vec<String>,
}

/// Why an access token could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ClaimsError {
    #[error("it is not three dot-separated parts")]
    NotThreeParts,
    #[error("its payload is not base64url")]
    NotBase64,
    #[error("its payload is not a JSON object")]
    NotJson,
    #[error("its roles claim is not a list of strings")]
    BadRoles,
}

/// The `tid` and `roles` claims of a JWT access token.
///
/// The signature is deliberately not checked: the token comes straight from
/// the token endpoint over TLS in answer to our own request, and we only
/// read what its issuer says about our app; nothing is granted on its
/// strength.
pub(crate) fn read_claims(token: &str) -> Result<Claims, ClaimsError> {
    const JWT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err(ClaimsError::NotThreeParts);
    };
    let bytes = JWT.decode(payload).map_err(|_| ClaimsError::NotBase64)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| ClaimsError::NotJson)?;
    let object = value.as_object().ok_or(ClaimsError::NotJson)?;
    let roles = match object.get("roles") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|r| r.as_str().map(str::to_owned).ok_or(ClaimsError::BadRoles))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ClaimsError::BadRoles),
    };
    Ok(Claims {
        tid: object
            .get("tid")
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let c = read_claims(&jwt(
            r#"{"tid":"t-1","roles":["A.Read","B.Read"],"aud":"x"}"#,
        ))
        .unwrap();
        assert_eq!(c.tid.as_deref(), Some("t-1"));
        assert_eq!(c.roles, ["A.Read", "B.Read"]);
        let none = read_claims(&jwt(r#"{"tid":"t-1"}"#)).unwrap();
        assert!(none.roles.is_empty());
        // Padding is tolerated, though Entra does not send it.
        let padded = format!(
            "a.{}.c",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"tid":"p"}"#)
        );
        assert_eq!(read_claims(&padded).unwrap().tid.as_deref(), Some("p"));
    }

    #[test]
    fn malformed_tokens_are_refused_clearly() {
        assert_eq!(read_claims("opaque-token"), Err(ClaimsError::NotThreeParts));
        assert_eq!(read_claims("a.b.c.d"), Err(ClaimsError::NotThreeParts));
        assert_eq!(read_claims("a.!!!.c"), Err(ClaimsError::NotBase64));
        assert_eq!(
            read_claims(&format!("a.{}.c", URL_SAFE_NO_PAD.encode("not json"))),
            Err(ClaimsError::NotJson)
        );
        assert_eq!(read_claims(&jwt("[1,2]")), Err(ClaimsError::NotJson));
        assert_eq!(
            read_claims(&jwt(r#"{"roles":"A.Read"}"#)),
            Err(ClaimsError::BadRoles)
        );
        assert_eq!(
            read_claims(&jwt(r#"{"roles":[1]}"#)),
            Err(ClaimsError::BadRoles)
        );
        assert_eq!(
            ClaimsError::NotBase64.to_string(),
            "its payload is not base64url"
        );
    }
}
