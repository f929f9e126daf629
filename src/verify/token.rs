//! Asking Entra ID for an app-only token (the client-credentials grant),
//! and turning its refusal into a [`Failure`] a PM can act on.

use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::endpoints::join;
use super::explain::describe;
use super::{Failure, REQUEST_TIMEOUT, Step, excerpt, unreachable_failure};
use crate::payload::EntraCredential;

/// The parts of a token response we read. The token itself never leaves
/// [`super::verify`].
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
}

/// An Entra ID error body (`error`, `error_description`, `error_codes`, ...).
#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// An app-only token for `scope`, or why Entra ID gave none.
pub(super) async fn request_token(
    client: &reqwest::Client,
    login: &Url,
    cred: &EntraCredential,
    scope: &str,
) -> Result<String, Failure> {
    let url = join(login, &[&cred.tenant_id, "oauth2", "v2.0", "token"]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", cred.client_id.as_str()),
        ("client_secret", cred.client_secret.as_str()),
        ("scope", scope),
    ];
    let response = client
        .post(url)
        .form(&form)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable_failure(Step::Token, "the Entra ID sign-in service", login, &e))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| unreachable_failure(Step::Token, "the Entra ID sign-in service", login, &e))?;
    if status.is_success() {
        let answer: TokenAnswer =
            serde_json::from_str(&body).unwrap_or(TokenAnswer { access_token: None });
        return answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| Failure {
            status: Some(status.as_u16()),
            ..Failure::new(
                Step::Token,
                None,
                "The sign-in service answered without an access token; check that the login host is Microsoft's.",
            )
        });
    }
    let mut failure = entra_failure(status, &body, &cred.client_secret);
    // Microsoft's outage or throttling, not the customer's credential.
    failure.transient = super::is_unavailable(status);
    Err(failure)
}

/// A failure from an Entra ID error answer.
fn entra_failure(status: StatusCode, body: &str, secret: &str) -> Failure {
    let parsed: Option<EntraError> = serde_json::from_str(body).ok();
    let Some(err) = parsed.filter(|e| e.error.is_some() || e.error_description.is_some()) else {
        return Failure {
            detail: excerpt(body, secret),
            status: Some(status.as_u16()),
            ..Failure::new(
                Step::Token,
                None,
                format!(
                    "The sign-in service answered HTTP {} without an Entra ID error; check the collector host's network path (proxy) and the login host.",
                    status.as_u16()
                ),
            )
        };
    };
    let code = entra_code(&err.error_codes, err.error_description.as_deref());
    let message = match &code {
        Some(code) => describe(code),
        None => format!(
            "Entra ID refused the sign-in ({}) without an error code; the detail below is its own explanation.",
            err.error.as_deref().unwrap_or("no error name")
        ),
    };
    Failure {
        code,
        detail: err
            .error_description
            .as_deref()
            .and_then(|d| excerpt(d, secret))
            .or_else(|| err.error.as_deref().and_then(|e| excerpt(e, secret))),
        status: Some(status.as_u16()),
        ..Failure::new(Step::Token, None, message)
    }
}

/// `AADSTSnnnn` from the `error_codes` array, or else from the
/// `AADSTSnnnn:` that starts the description.
fn entra_code(codes: &[u64], description: Option<&str>) -> Option<String> {
    if let Some(n) = codes.first() {
        return Some(format!("AADSTS{n}"));
    }
    let rest = description?.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty() && rest[digits.len()..].starts_with(':')).then(|| format!("AADSTS{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_error_codes_or_the_description() {
        assert_eq!(
            entra_code(&[7000215], None).as_deref(),
            Some("AADSTS7000215")
        );
        assert_eq!(
            entra_code(
                &[],
                Some("AADSTS7000222: The provided client secret keys are expired.")
            )
            .as_deref(),
            Some("AADSTS7000222")
        );
        assert_eq!(entra_code(&[], Some("AADSTS: nothing")), None);
        assert_eq!(entra_code(&[], Some("Something else")), None);
        assert_eq!(entra_code(&[], None), None);
    }
}
