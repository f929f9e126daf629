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
    /// `Authorization: ApiKey <key>`: an Elasticsearch API key, as Kibana
    /// takes it (`elastic-agent`). The file holds the key's base64
    /// "encoded" form, or its `id:api_key` pair, which is encoded here.
    ApiKey,
    /// A splunkd login (`POST /services/auth/login`): the body becomes the
    /// form `username=<user>&password=<password>` of the file's
    /// `USER:PASSWORD`, whatever the request's own body (`splunk-o365`).
    SplunkLogin,
    /// `Authorization: Splunk <session key>` with the session key the
    /// target got by logging in ([`Api::set_session`]) (`splunk-o365`).
    SplunkSession,
    /// No authentication header: the body is `{"username", "password"}`
    /// from the file's `user:password`, which [`Api::send`] writes in place
    /// of the planned body (the target never sees the password). How a
    /// target logs in to Cribl's `POST /auth/login` for a bearer token
    /// (`cribl`).
    JsonLogin,
}

/// A value a request takes from the answer to the request sent just before
/// it, known only once that one is answered: Cribl's deploy names the
/// commit its commit request made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fill {
    /// The text in the planned body that the value replaces (inside a JSON
    /// string); `--dry-run` shows it as it is.
    pub(crate) placeholder: &'static str,
    /// Where the value is in the previous answer, a JSON pointer
    /// (`/items/0/commit`); it must be a string there.
    pub(crate) pointer: &'static str,
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
    /// A value the body takes from the previous request's answer, if any.
    pub(crate) fill: Option<Fill>,
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
            Auth::Bearer | Auth::Session => Some("Authorization: Bearer ********"),
            Auth::Hmac => Some("X-Handoff-Signature: t=<unix time of sending>,v1=********"),
            Auth::Basic => Some("Authorization: Basic ********"),
            Auth::Sec => Some("SEC: ********"),
            Auth::ApiKey => Some("Authorization: ApiKey ********"),
            Auth::SplunkLogin => Some("(username and password of --api-token-file, form-encoded)"),
            Auth::SplunkSession => Some("Authorization: Splunk ********"),
            Auth::JsonLogin => None,
        };
        // Writing to a String cannot fail.
        if let Some(auth) = auth {
            let _ = writeln!(out, "{auth}");
        }
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
        } else if self.content_type == FORM {
            // A secret travels percent-encoded in a form; it is shown as
            // the same mask as the plain value, so both read alike.
            let body = secrets
                .iter()
                .filter(|s| s.len() >= 4)
                .fold(self.body.clone(), |b, s| {
                    b.replace(&form_encode(s), &masked_secret(s))
                });
            let _ = writeln!(out, "\n{}", mask(&body, secrets));
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
/// `text` with each of `secrets` masked, as written and as a form body
/// encodes it (`~` as `%7E` or `%7e`: every Entra secret has one), since a
/// platform may echo the form it was sent in its error.
fn mask(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |t, s| {
            let encoded = form_encode(s);
            [s.clone(), encoded.to_lowercase(), encoded]
                .iter()
                .fold(t, |t, form| t.replace(form.as_str(), &masked_secret(s)))
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

    /// Whether `--api-token-file` holds `USER:PASSWORD` (to log in with)
    /// rather than a token: it has a `:`, which no bearer token (a JWT, or
    /// an opaque token of URL-safe characters) has.
    pub(crate) fn holds_user_password(&self) -> bool {
        self.token.expose_secret().contains(':')
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
        self.send_after(request, secrets, None).await
    }

    /// [`Api::send`], the request's [`Fill`] (if any) taken from
    /// `previous`, the answer to the request sent before it.
    ///
    /// # Errors
    /// Those of [`Api::send`], and [`TargetError::Api`] if the request has a
    /// [`Fill`] and `previous` has no string at its pointer.
    pub(crate) async fn send_after(
        &self,
        request: &ApiRequest,
        secrets: &[String],
        previous: Option<&str>,
    ) -> Result<String, TargetError> {
        let mut body = request.body.clone();
        if let Some(fill) = request.fill {
            let value = previous
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                .and_then(|v| v.pointer(fill.pointer)?.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    TargetError::Api(format!(
                        "{} {} was not sent: the answer before it had no {} to put in it",
                        request.method, request.url, fill.pointer
                    ))
                })?;
            // As the inside of a JSON string: quoted, then unquoted.
            let quoted = serde_json::Value::String(value).to_string();
            let inner = quoted.get(1..quoted.len() - 1).unwrap_or_default();
            body = body.replace(fill.placeholder, inner);
        }
        let mut builder = self
            .client
            .request(request.method.clone(), request.url.clone());
        let token = self.token.expose_secret();
        // A login's body is made here from the token file: a target never
        // plans, and a dry run never shows, the password.
        match request.auth {
            Auth::SplunkLogin => {
                let (user, password) = user_password(token)?;
                body = form_body(&[("username", user), ("password", password)]);
            }
            Auth::JsonLogin => {
                let (user, password) = user_password(token)?;
                body = serde_json::json!({"username": user, "password": password}).to_string();
            }
            _ => {}
        }
        if !body.is_empty() {
            let content_type = match request.auth {
                Auth::SplunkLogin => FORM,
                _ => request.content_type,
            };
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let session = self.session();
        builder = match request.auth {
            Auth::Bearer => builder.bearer_auth(token),
            Auth::Sec => builder.header("SEC", token),
            Auth::ApiKey => builder.header(reqwest::header::AUTHORIZATION, api_key_header(token)),
            Auth::Basic => {
                let (user, password) = user_password(token)?;
                builder.basic_auth(user, Some(password))
            }
            // A login's body carries the user and password (above).
            Auth::SplunkLogin | Auth::JsonLogin => builder,
            Auth::SplunkSession => match &session {
                Some(s) => builder.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Splunk {}", s.expose_secret()),
                ),
                None => {
                    return Err(TargetError::Api(
                        "no session: the target did not log in before this request".to_owned(),
                    ));
                }
            },
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
            .body(body)
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

/// `Authorization`'s value for an Elasticsearch API key: `ApiKey` and its
/// encoded form. Kibana's "Create API key" shows that form (base64 of
/// `id:api_key`) ready to use; a file holding the `id:api_key` pair itself
/// (the Elasticsearch create API key answer's two fields) is encoded here,
/// since the encoded form never contains a `:`.
fn api_key_header(token: &str) -> String {
    use base64::Engine as _;
    if token.contains(':') {
        format!(
            "ApiKey {}",
            base64::engine::general_purpose::STANDARD.encode(token)
        )
    } else {
        format!("ApiKey {token}")
    }
}

/// The media type of a form-encoded body.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// `USER:PASSWORD` split at its first colon.
fn user_password(token: &str) -> Result<(&str, &str), TargetError> {
    token.split_once(':').ok_or_else(|| {
        TargetError::Refused(
            "--api-token-file must hold the API user and its password as USER:PASSWORD".to_owned(),
        )
    })
}

/// `pairs` as an `application/x-www-form-urlencoded` body (the WHATWG URL
/// standard's encoding: letters, digits and `*-._` as they are, a space as
/// `+`, every other byte as `%XX`).
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One name or value of a form body (see [`form_body`]).
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
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
/// (`error`, `error_description`, `title`, `message`, `detail`, `errors`,
/// and splunkd's `messages[].text`),
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
            // `messages` and `text`: splunkd's `{"messages": [{"type":
            // "ERROR", "text": "..."}]}`.
            for key in [
                "error",
                "error_description",
                "title",
                "message",
                "messages",
                "text",
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
        assert_eq!(
            error_text(
                br#"{"messages": [{"type": "WARN", "text": "call not properly authenticated"}]}"#,
                &[]
            ),
            "call not properly authenticated"
        );
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
    fn an_error_that_echoes_the_form_it_was_sent_is_masked() {
        let secret = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_".to_owned();
        let echoed = format!(
            r#"{{"messages":[{{"type":"ERROR","text":"bad body client_secret={} and {}"}}]}}"#,
            form_encode(&secret),
            form_encode(&secret).to_lowercase()
        );
        let said = error_text(echoed.as_bytes(), std::slice::from_ref(&secret));
        assert!(!said.contains("dEfGhIjKlMnOpQrStUvWxYz"), "{said}");
        assert_eq!(said.matches(&masked_secret(&secret)).count(), 2, "{said}");
    }

    #[test]
    fn forms_are_encoded_as_browsers_do_and_shown_masked() {
        assert_eq!(
            form_body(&[("name", "a b"), ("client_secret", "Q~x/y+z=1&2.-_*")]),
            "name=a+b&client_secret=Q%7Ex%2Fy%2Bz%3D1%262.-_*"
        );
        let secret = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_".to_owned();
        let request = ApiRequest {
            method: reqwest::Method::POST,
            url: Url::parse("https://splunk.example:8089/x").unwrap(),
            headers: Vec::new(),
            content_type: FORM,
            body: form_body(&[("client_secret", &secret), ("change_client_secret", "1")]),
            auth: Auth::SplunkSession,
            confirm: Confirm::Status,
            fill: None,
        };
        let shown = request.shown(std::slice::from_ref(&secret));
        assert_eq!(
            shown,
            format!(
                "POST https://splunk.example:8089/x\nAuthorization: Splunk ********\nContent-Type: {FORM}\n\nclient_secret={}&change_client_secret=1\n",
                masked_secret(&secret)
            )
        );
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
    fn an_elasticsearch_api_key_goes_out_encoded() {
        // The "Encoded" form Kibana shows is sent as it is.
        assert_eq!(
            api_key_header("VnVhQ2ZHY0I6dWkybHA="),
            "ApiKey VnVhQ2ZHY0I6dWkybHA="
        );
        // An `id:api_key` pair is encoded into that form.
        assert_eq!(
            api_key_header("VuaCfGcB:ui2lp"),
            "ApiKey VnVhQ2ZHY0I6dWkybHA="
        );
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
    fn a_login_shows_no_header_and_a_filled_value_shows_its_placeholder() {
        let login = ApiRequest {
            method: reqwest::Method::POST,
            url: Url::parse("https://cribl.example:9000/api/v1/auth/login").unwrap(),
            headers: Vec::new(),
            content_type: "application/json",
            body: String::new(),
            auth: Auth::JsonLogin,
            confirm: Confirm::Status,
            fill: None,
        };
        assert_eq!(
            login.shown(&[]),
            "POST https://cribl.example:9000/api/v1/auth/login\n\n"
        );
        let deploy = ApiRequest {
            method: reqwest::Method::PATCH,
            body: r#"{"version":"<commit>"}"#.to_owned(),
            auth: Auth::Session,
            fill: Some(Fill {
                placeholder: "<commit>",
                pointer: "/items/0/commit",
            }),
            ..login
        };
        assert!(
            deploy
                .shown(&[])
                .ends_with("Authorization: Bearer ********\nContent-Type: application/json\n\n{\"version\":\"<commit>\"}\n"),
            "{}",
            deploy.shown(&[])
        );
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
            fill: None,
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
