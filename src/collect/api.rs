//! What every API target shares: the requests a [`Plan`](super::Plan) holds
//! besides its file changes, and the one way they are sent.
//!
//! An API target (`http` today) plans [`ApiRequest`]s instead of (or as well
//! as) [`FileChange`](super::FileChange)s. `--dry-run` prints them through
//! [`ApiRequest::shown`], the credential's secret and the platform's token
//! masked; a real import sends them in order through one [`Api`], built at
//! start from `--api-url`, `--api-token-file` and `--api-ca-file`:
//!
//! - TLS is verified (against the system's web roots, plus the private CA of
//!   `--api-ca-file`), plain `http://` goes to this machine only, and
//!   redirects are never followed (a redirect would repeat the secret and
//!   the token to another URL);
//! - the token is read from a file, never from a flag value, and goes out
//!   the way the request's [`Auth`] says;
//! - only a 2xx answer counts as done; anything else becomes a
//!   [`TargetError::Api`] with the platform's own error text (one line,
//!   truncated, secrets masked), which the collector prints before it
//!   releases the lease;
//! - the body is never logged.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use reqwest::Url;

use super::{TargetArgs, TargetError, masked_secret};

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a platform's error text a failure shows, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// How a request proves who sends it, with the secret of `--api-token-file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `X-Handoff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key,
    /// "<t>.<body>")>`, the header handoff's own webhooks carry (see
    /// [`crate::webhook::signature`]); the file holds the shared key.
    Hmac,
    /// HTTP basic authentication with the file's `user:password`: how a
    /// target logs in for a session token (`wazuh-api`).
    Basic,
    /// `Authorization: Bearer <token>` with the session token the target
    /// got by logging in ([`Api::set_session`]).
    Session,
    /// `SEC: <token>`: an IBM QRadar authorized service token (`qradar`).
    Sec,
}

/// What makes an answer a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// A 2xx status.
    Status,
    /// A 2xx status and, in the JSON body, `"error": 0`: the Wazuh API
    /// answers 200 with `"error": 1` (and the reason in `failed_items`)
    /// when it could not make the change on the node.
    WazuhEnvelope,
}

/// One request to a collector's API, as planned: everything but the
/// authentication, which [`Api::send`] adds (it holds the token).
#[derive(Clone)]
pub(crate) struct ApiRequest {
    pub(crate) method: reqwest::Method,
    pub(crate) url: Url,
    /// Headers besides `Content-Type` and the authentication, in the
    /// order shown.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// The body's media type: `application/json` for most platforms.
    pub(crate) content_type: &'static str,
    /// The body, exactly as sent.
    pub(crate) body: String,
    pub(crate) auth: Auth,
    pub(crate) confirm: Confirm,
}

impl std::fmt::Debug for ApiRequest {
    /// No body: it holds the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("body_len", &self.body.len())
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ApiRequest {
    /// The request as `--dry-run` prints it: the method and URL, every header
    /// (the token or signature masked), a blank line and the body, each of
    /// `secrets` in it masked with [`masked_secret`].
    pub(crate) fn shown(&self, secrets: &[String]) -> String {
        let mut out = format!("{} {}\n", self.method, self.url);
        let auth = match self.auth {
            Auth::Bearer | Auth::Session => "Authorization: Bearer ********",
            Auth::Hmac => "X-Handoff-Signature: t=<unix time of sending>,v1=********",
            Auth::Basic => "Authorization: Basic ********",
            Auth::Sec => "SEC: ********",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{auth}");
        if !self.body.is_empty() {
            let _ = writeln!(out, "Content-Type: {}", self.content_type);
        }
        for (name, value) in &self.headers {
            let _ = writeln!(out, "{name}: {value}");
        }
        if self.body.is_empty() {
            out.push('\n');
        } else if self.content_type == "application/json" {
            let _ = writeln!(out, "\n{}", mask(&self.body, secrets));
        } else {
            // A configuration file: other tenants' secrets are in it too.
            out.push('\n');
            for line in self.body.lines() {
                out.push_str(&super::mask_line(line, secrets));
                out.push('\n');
            }
        }
        out
    }
}

/// `text` with each of `secrets` (4 characters or longer) masked.
fn mask(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |t, s| {
            t.replace(s.as_str(), &masked_secret(s))
        })
}

/// `--api-url`: a URL an API target may send a secret to (see
/// [`crate::address::require_tls_unless_loopback`]). It may carry
/// `{placeholder}`s, which the target fills per credential; they are checked
/// by the target at start.
pub(crate) fn parse_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| {
        format!(
            "--api-url {text:?} is not a URL ({e}); write it like https://soc.example/api/tenants"
        )
    })?;
    crate::address::require_tls_unless_loopback(&url, "the client secret and the API token")
        .map_err(|e| format!("--api-url: {e}"))?;
    Ok(text.to_owned())
}

/// A connection to a collector's API: the HTTP client its rules need and the
/// token of `--api-token-file`.
pub(crate) struct Api {
    client: reqwest::Client,
    token: SecretString,
    /// The session token of the last login ([`Auth::Session`]), kept for
    /// the requests planned right after it.
    session: std::sync::Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

impl Api {
    /// The connection `args` describe, or `None` without `--api-url` (a file
    /// target). Reads the token and the CA file now, so that a mistake in
    /// them is found before anything is leased.
    ///
    /// # Errors
    /// A sentence: no `--api-token-file`, an unreadable or empty token file,
    /// or a CA file that holds no PEM certificate.
    pub(crate) fn from_args(args: &TargetArgs) -> Result<Option<Api>, String> {
        if args.api_url.is_none() {
            return Ok(None);
        }
        let Some(token_file) = &args.api_token_file else {
            return Err("--api-url needs --api-token-file: a file (mode 0600) holding the platform's API token or signing key".to_owned());
        };
        let token = read_token_file(token_file)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &args.api_ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("cannot read --api-ca-file {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    format!(
                        "--api-ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                        ca.display()
                    )
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot set up the API client: {e}"))?;
        Ok(Some(Api {
            client,
            token,
            session: std::sync::Mutex::new(None),
        }))
    }

    /// Keeps `token` for the [`Auth::Session`] requests that follow.
    pub(crate) fn set_session(&self, token: String) {
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *session = Some(SecretString::from(token));
    }

    fn session(&self) -> Option<SecretString> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends `request` and waits for its answer, which it returns (a GET's
    /// is what a target reads while planning). `secrets` are masked in the
    /// error text, the token and the session token always.
    ///
    /// # Errors
    /// [`TargetError::Api`]: the platform could not be reached, or did not
    /// confirm (see [`Confirm`]; a redirect never does); the sentence names
    /// the method, the URL without its query, the status and the platform's
    /// own words.
    pub(crate) async fn send(
        &self,
        request: &ApiRequest,
        secrets: &[String],
    ) -> Result<String, TargetError> {
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone());
        if !request.body.is_empty() {
            builder = builder.header(reqwest::header::CONTENT_TYPE, request.content_type);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let token = self.token.expose_secret();
        let session = self.session();
        builder = match request.auth {
            Auth::Bearer => builder.bearer_auth(token),
            Auth::Sec => builder.header("SEC", token),
            Auth::Basic => {
                let (user, password) = token.split_once(':').ok_or_else(|| {
                    TargetError::Refused(
                        "--api-token-file must hold the API user and its password as USER:PASSWORD"
                            .to_owned(),
                    )
                })?;
                builder.basic_auth(user, Some(password))
            }
            Auth::Session => match &session {
                Some(s) => builder.bearer_auth(s.expose_secret()),
                None => {
                    return Err(TargetError::Api(
                        "no session: the target did not log in before this request".to_owned(),
                    ));
                }
            },
            Auth::Hmac => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                builder.header(
                    "X-Handoff-Signature",
                    crate::webhook::signature(token.as_bytes(), now, &request.body),
                )
            }
        };
        let mut url = request.url.clone();
        url.set_query(None);
        let what = format!("{} {url}", request.method);
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| {
                let why = crate::webhook::describe(e);
                // rustls names a certificate it cannot verify "invalid peer
                // certificate: UnknownIssuer" (or BadSignature, Expired ...).
                let hint = if why.contains("certificate") {
                    "; if the API's certificate comes from a private CA, give that CA's PEM certificate with --api-ca-file"
                } else {
                    ""
                };
                TargetError::Api(format!("{what}: {why}{hint}"))
            })?;
        let status = response.status();
        let mut hidden = secrets.to_vec();
        hidden.push(token.to_owned());
        hidden.extend(token.split_once(':').map(|(_, p)| p.to_owned()));
        hidden.extend(session.map(|s| s.expose_secret().to_owned()));
        let said = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            let body = String::from_utf8_lossy(&said).into_owned();
            return match request.confirm {
                Confirm::Status => Ok(body),
                Confirm::WazuhEnvelope => match wazuh_refusal(&said) {
                    None => Ok(body),
                    Some(why) => Err(TargetError::Api(format!(
                        "{what} was not done: {status}, but Wazuh said: {}",
                        error_text(why.as_bytes(), &hidden)
                    ))),
                },
            };
        }
        let text = error_text(&said, &hidden);
        let redirect = if status.is_redirection() {
            " (redirects are not followed: give --api-url the final URL)"
        } else {
            ""
        };
        Err(TargetError::Api(if text.is_empty() {
            format!("{what} was refused: {status}{redirect}")
        } else {
            format!("{what} was refused: {status}{redirect}: the platform said: {text}")
        }))
    }
}

/// Why a Wazuh API answer with a 2xx status is no confirmation: its
/// envelope's `error` is not 0 (`{"data": {"failed_items": [{"error":
/// {"code", "message"}, "id"}]}, "message", "error": 1}`, wazuh/wazuh
/// `api/api/spec/spec.yaml`, `ApiResponse`); its message and each failed
/// item's, with their codes. `None` for `"error": 0`, or a body that is not
/// such an envelope (a raw file read with `raw=true`).
fn wazuh_refusal(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?.as_i64()?;
    if error == 0 {
        return None;
    }
    let mut said: Vec<String> = value
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .into_iter()
        .collect();
    let failed = value
        .pointer("/data/failed_items")
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    for item in failed {
        let message = item.pointer("/error/message").and_then(|m| m.as_str());
        let code = item
            .pointer("/error/code")
            .and_then(serde_json::Value::as_i64);
        match (message, code) {
            (Some(m), Some(c)) => said.push(format!("{m} (error {c})")),
            (Some(m), None) => said.push(m.to_owned()),
            _ => {}
        }
    }
    if said.is_empty() {
        said.push(format!("error {error}"));
    }
    Some(said.join("; "))
}

/// The secret of an API token file: its text, trimmed. A file other users
/// can read is used with a warning, as the collector's own token file is.
fn read_token_file(path: &Path) -> Result<SecretString, String> {
    use std::os::unix::fs::PermissionsExt;
    let cannot =
        |e: std::io::Error| format!("cannot read --api-token-file {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: {} can be read by other users; chmod 600 it",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(cannot)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "--api-token-file {} is empty: put the platform's API token (or signing key) in it",
            path.display()
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// A platform's error answer as one line: the usual JSON error fields
/// (`error`, `error_description`, `title`, `message`, `detail`, `errors`),
/// else the body's text; `secrets` masked, then cut to [`MAX_ERROR_CHARS`]
/// characters (in that order, so that no part of a secret survives the cut).
fn error_text(body: &[u8], secrets: &[String]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let mut found = Vec::new();
            collect_messages(&value, &mut found);
            if found.is_empty() {
                value.to_string()
            } else {
                found.join("; ")
            }
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let one_line = mask(&text, secrets)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if one_line.chars().count() > MAX_ERROR_CHARS {
        let cut: String = one_line.chars().take(MAX_ERROR_CHARS).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

fn collect_messages(value: &serde_json::Value, found: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::String(s) => found.push(s.clone()),
        Value::Array(items) => {
            for item in items {
                collect_messages(item, found);
            }
        }
        Value::Object(map) => {
            let before = found.len();
            for key in [
                "error",
                "error_description",
                "title",
                "message",
                "detail",
                "errors",
            ] {
                if let Some(v) = map.get(key) {
                    collect_messages(v, found);
                }
            }
            if let Some(Value::String(field)) = map.get("field")
                && found.len() > before
                && let Some(last) = found.last_mut()
            {
                *last = format!("{field}: {last}");
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platforms_error_is_one_short_line_of_its_own_words() {
        assert_eq!(
            error_text(
                br#"{"error": "invalid_token", "message": "The access token expired"}"#,
                &[]
            ),
            "invalid_token; The access token expired"
        );
        assert_eq!(
            error_text(
                br#"{"errors": [{"field": "clientSecret", "message": "is not a valid secret"}, {"message": "tenant\nunknown"}]}"#,
                &[]
            ),
            "clientSecret: is not a valid secret; tenant unknown"
        );
        assert_eq!(error_text(b"Bad Gateway\n", &[]), "Bad Gateway");
        assert_eq!(error_text(br#"{"ok": false}"#, &[]), r#"{"ok":false}"#);
        let long = "x".repeat(1000);
        assert_eq!(
            error_text(long.as_bytes(), &[]).chars().count(),
            MAX_ERROR_CHARS + 3
        );
        // A secret the cut would have halved is masked whole first.
        let secret = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_".to_owned();
        let echoed = format!("{}{secret}", "y".repeat(MAX_ERROR_CHARS - 10));
        let shown = error_text(echoed.as_bytes(), std::slice::from_ref(&secret));
        assert!(!shown.contains(&secret[..10]), "{shown}");
    }

    #[test]
    fn a_wazuh_answer_confirms_only_with_error_zero() {
        assert_eq!(
            wazuh_refusal(br#"{"data": {"affected_items": ["manager"]}, "message": "Configuration was successfully updated", "error": 0}"#),
            None
        );
        assert_eq!(
            wazuh_refusal(
                br#"{"data": {"failed_items": [{"error": {"code": 1113, "message": "XML syntax error"}, "id": ["manager"]}], "total_failed_items": 1}, "message": "Could not update configuration", "error": 1}"#
            ),
            Some("Could not update configuration; XML syntax error (error 1113)".to_owned())
        );
        assert_eq!(
            wazuh_refusal(br#"{"error": 2}"#),
            Some("error 2".to_owned())
        );
        // A raw file is no envelope.
        assert_eq!(wazuh_refusal(b"<ossec_config></ossec_config>"), None);
    }

    #[test]
    fn api_urls_are_https_or_this_machine() {
        assert_eq!(
            parse_url(" https://soc.example/api/tenants/{tenant_id} ").unwrap(),
            "https://soc.example/api/tenants/{tenant_id}"
        );
        assert!(parse_url("http://127.0.0.1:9000/x").is_ok());
        let err = parse_url("http://soc.example/api").unwrap_err();
        assert!(err.contains("unencrypted"), "{err}");
        assert!(parse_url("soc.example/api").is_err());
    }

    #[test]
    fn the_token_and_the_ca_file_are_read_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        assert!(Api::from_args(&args).unwrap().is_none(), "a file target");
        args.api_url = Some("https://soc.example/api".to_owned());
        let err = Api::from_args(&args).unwrap_err();
        assert!(err.contains("--api-url needs --api-token-file"), "{err}");
        let token = dir.path().join("token");
        std::fs::write(&token, " \n").unwrap();
        args.api_token_file = Some(token.clone());
        let err = Api::from_args(&args).unwrap_err();
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&token, "tok\n").unwrap();
        assert!(Api::from_args(&args).unwrap().is_some());
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        args.api_ca_file = Some(ca);
        let err = Api::from_args(&args).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn the_dry_run_shows_no_secret_and_no_token() {
        let secret = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_".to_owned();
        let request = ApiRequest {
            method: reqwest::Method::PUT,
            url: Url::parse("https://soc.example/t/1").unwrap(),
            headers: vec![("Idempotency-Key", "k".to_owned())],
            content_type: "application/json",
            body: format!(r#"{{"secret":"{secret}"}}"#),
            auth: Auth::Bearer,
            confirm: Confirm::Status,
        };
        let shown = request.shown(std::slice::from_ref(&secret));
        assert_eq!(
            shown,
            format!(
                "PUT https://soc.example/t/1\nAuthorization: Bearer ********\nContent-Type: application/json\nIdempotency-Key: k\n\n{{\"secret\":\"{}\"}}\n",
                masked_secret(&secret)
            )
        );
        assert!(!format!("{request:?}").contains(&secret));
    }
}
