//! `http`: the credential sent to a SOC platform's own API, as a JSON body
//! the SOC shapes with a small template file (`--http-body-template`),
//! POSTed or PUT (`--http-method`) to `--api-url`.
//!
//! The template is JSON whose string values may hold placeholders:
//! `{tenant_id}`, `{client_id}`, `{client_secret}`, `{customer}`,
//! `{request_id}`, `{template}`, `{cloud}` and `{secret_expires_on}` (a
//! string that is only `{secret_expires_on}` becomes `null` when the
//! secret's expiry is unknown). The URL may hold the same ones but
//! `{client_secret}` (a URL ends up in logs), each filled percent-encoded.
//! An unknown placeholder, a template that is not JSON, or a URL with the
//! secret in it is refused at start, before anything is leased.
//!
//! Every request carries `Idempotency-Key: <request id>-<first 32 hex digits
//! of SHA-256(tenant id, client id, client secret)>`: a retry of the same
//! import carries the same key, a rotation a new one, and the key says
//! nothing of the secret. A PUT to a per-tenant URL is idempotent by HTTP
//! itself; a platform taking POST must treat a repeated key (or an
//! unchanged tenant and client) as the same change.

use sha2::{Digest, Sha256};

use super::api::{ApiRequest, Auth, Confirm};
use super::{Import, Plan, Reads, TargetArgs, TargetError};

/// What it takes from a template's `[collect]` section.
pub(super) const READS: Reads = Reads::GraphEndpoints;

/// The placeholders a body template or `--api-url` may use.
const PLACEHOLDERS: &[&str] = &[
    "tenant_id",
    "client_id",
    "client_secret",
    "customer",
    "request_id",
    "template",
    "cloud",
    "secret_expires_on",
];

/// `--http-method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpMethod {
    Post,
    Put,
}

/// `--http-auth`: what the secret of `--api-token-file` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpAuth {
    /// A bearer token: `Authorization: Bearer <token>`.
    Bearer,
    /// An HMAC-SHA256 key: `X-Handoff-Signature: t=<unix seconds>,v1=<hex>`.
    Hmac,
}

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    let Some(url) = &args.api_url else {
        return Err("the http target needs --api-url: the platform's HTTPS endpoint that takes the credential".to_owned());
    };
    if args.api_token_file.is_none() {
        return Err("the http target needs --api-token-file: a file (mode 0600) holding the platform's bearer token or HMAC key".to_owned());
    }
    if args.http_auth == HttpAuth::Hmac
        && let Some(path) = &args.api_token_file
        && std::fs::read_to_string(path)
            .is_ok_and(|t| t.trim().len() < crate::webhook::MIN_SECRET_BYTES)
    {
        return Err(format!(
            "--http-auth hmac: the key in {} must be at least {} bytes long (e.g. the output of `openssl rand -hex 32`)",
            path.display(),
            crate::webhook::MIN_SECRET_BYTES
        ));
    }
    let template = load_template(args).map_err(|e| e.to_string())?;
    let values = |name: &str| PLACEHOLDERS.contains(&name).then(|| Some("x".to_owned()));
    fill_body(&template, &values).map_err(|e| format!("--http-body-template: {e}"))?;
    if url.contains("{client_secret}") {
        return Err("--api-url must not hold {client_secret}: URLs end up in logs; put the secret in the body template".to_owned());
    }
    fill_url(url, &values).map(|_| ())
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let url = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the http target needs --api-url".to_owned()))?;
    let template = load_template(args)?;
    let cred = import.credential;
    let values = |name: &str| -> Option<Option<String>> {
        Some(match name {
            "tenant_id" => Some(cred.tenant_id.clone()),
            "client_id" => Some(cred.client_id.clone()),
            "client_secret" => Some(cred.client_secret.clone()),
            "customer" => Some(import.customer.to_owned()),
            "request_id" => Some(import.request_id.to_owned()),
            "template" => Some(import.integration.id.clone()),
            "cloud" => Some(cred.cloud.as_str().to_owned()),
            "secret_expires_on" => cred.secret_expires_on.clone(),
            _ => return None,
        })
    };
    let body = fill_body(&template, &values).map_err(TargetError::Refused)?;
    let url = fill_url(url, &values).map_err(TargetError::Refused)?;
    let url = reqwest::Url::parse(&url)
        .map_err(|e| TargetError::Refused(format!("--api-url filled in is not a URL: {e}")))?;
    let request = ApiRequest {
        method: match args.http_method {
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
        },
        url,
        headers: vec![
            ("Accept", "application/json".to_owned()),
            ("Idempotency-Key", idempotency_key(import)),
        ],
        content_type: "application/json",
        body: serde_json::to_string(&body)
            .map_err(|e| TargetError::Refused(format!("cannot write the body as JSON: {e}")))?,
        auth: match args.http_auth {
            HttpAuth::Bearer => Auth::Bearer,
            HttpAuth::Hmac => Auth::Hmac,
        },
        confirm: Confirm::Status,
        fill: None,
    };
    Ok(Plan::with_requests(vec![request], Vec::new(), cred))
}

/// `<request id>-<32 hex digits>`: the same for a retry of one import, new
/// for a rotation, and no help to anyone guessing the secret (a digest of a
/// random secret, cut short).
fn idempotency_key(import: &Import) -> String {
    let cred = import.credential;
    let mut digest = Sha256::new();
    for part in [&cred.tenant_id, &cred.client_id, &cred.client_secret] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex = crate::audit::hex(&digest.finalize());
    format!("{}-{}", import.request_id, &hex[..32])
}

/// The body template: `--http-body-template`'s JSON.
fn load_template(args: &TargetArgs) -> Result<serde_json::Value, TargetError> {
    let Some(path) = args.http_body_template.as_deref() else {
        return Err(TargetError::Refused(
            "the http target needs --http-body-template: a JSON file naming the fields the platform takes, e.g. {\"tenantId\": \"{tenant_id}\", \"clientId\": \"{client_id}\", \"clientSecret\": \"{client_secret}\"}".to_owned(),
        ));
    };
    let text = std::fs::read_to_string(path).map_err(|source| TargetError::Read {
        path: path.to_owned(),
        source,
    })?;
    let value = serde_json::from_str(&text).map_err(|e| {
        TargetError::Refused(format!(
            "--http-body-template {}: it is not JSON ({e})",
            path.display()
        ))
    })?;
    Ok(value)
}

/// A placeholder's value: `None` for an unknown name, `Some(None)` for a
/// value this credential does not have.
type Values<'a> = dyn Fn(&str) -> Option<Option<String>> + 'a;

/// The template with every string value's placeholders filled in.
fn fill_body(template: &serde_json::Value, values: &Values) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match template {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}'))
                && values(name) == Some(None)
            {
                Value::Null
            } else {
                Value::String(fill(s, values, str::to_owned)?)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_body(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_body(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `--api-url` filled in, each value percent-encoded as a path segment.
fn fill_url(url: &str, values: &Values) -> Result<String, String> {
    fill(url, values, percent_encode).map_err(|e| format!("--api-url: {e}"))
}

/// `text` with each `{name}` (lowercase letters and `_`) replaced by
/// `encode(value)`; other braces are kept as they are.
fn fill(text: &str, values: &Values, encode: impl Fn(&str) -> String) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            let name = &after[..name_len];
            let Some(value) = values(name) else {
                return Err(format!(
                    "unknown placeholder {{{name}}} (known: {})",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            out.push_str(&encode(value.as_deref().unwrap_or_default()));
            rest = &after[name_len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Every byte but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;

    const TEMPLATE: &str = r#"{"tenantId": "{tenant_id}", "clientId": "{client_id}", "clientSecret": "{client_secret}", "customer": "{customer}", "expires": "{secret_expires_on}", "source": "office365", "tags": ["handoff {request_id}", 3]}"#;

    fn args(dir: &Path, template: &str) -> TargetArgs {
        let path = dir.join("body.json");
        std::fs::write(&path, template).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "platform-token-0123456789").unwrap();
        let mut args = TargetArgs::under(dir);
        args.api_url = Some("https://soc.example/api/tenants/{tenant_id}?c={customer}".to_owned());
        args.api_token_file = Some(token);
        args.http_body_template = Some(path);
        args.http_method = HttpMethod::Put;
        args
    }

    #[test]
    fn the_body_is_the_template_filled_in() {
        let dir = tempfile::tempdir().unwrap();
        let args = args(dir.path(), TEMPLATE);
        assert_eq!(Target::Http.check_args(&args, false), Ok(()));
        let mut cred = credential("identity-protection", "commercial");
        let integ = integration("identity-protection");
        let plan = plan_target(Target::Http, &args, &import(&cred, &integ)).unwrap();
        assert!(plan.changes.is_empty() && !plan.is_noop());
        let request = &plan.requests[0];
        assert_eq!(request.method, reqwest::Method::PUT);
        assert_eq!(
            request.url.as_str(),
            format!("https://soc.example/api/tenants/{TENANT}?c=Contoso%20Ltd")
        );
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"tenantId": TENANT, "clientId": CLIENT, "clientSecret": SECRET, "customer": "Contoso Ltd", "expires": "2026-06-30", "source": "office365", "tags": ["handoff req_0123", 3]})
        );
        let shown = plan.diff();
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(
            shown.starts_with("PUT https://soc.example/api/tenants/"),
            "{shown}"
        );

        cred.secret_expires_on = None;
        let plan = plan_target(Target::Http, &args, &import(&cred, &integ)).unwrap();
        let body: serde_json::Value = serde_json::from_str(&plan.requests[0].body).unwrap();
        assert_eq!(body["expires"], serde_json::Value::Null);
    }

    #[test]
    fn the_idempotency_key_follows_the_credential_not_its_secret() {
        let cred = credential("identity-protection", "commercial");
        let integ = integration("identity-protection");
        let key = idempotency_key(&import(&cred, &integ));
        assert_eq!(key, idempotency_key(&import(&cred, &integ)));
        assert!(key.starts_with("req_0123-") && key.len() == "req_0123-".len() + 32);
        assert!(!key.contains(SECRET) && !key.contains(TENANT));
        let mut rotated = cred.clone();
        rotated.client_secret = "New8Q~rotatedrotatedrotatedrotated12345".to_owned();
        assert_ne!(key, idempotency_key(&import(&rotated, &integ)));
    }

    #[test]
    fn bad_templates_and_urls_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let check = |template: &str, url: &str| {
            let mut a = args(dir.path(), template);
            a.api_url = Some(url.to_owned());
            Target::Http.check_args(&a, true).unwrap_err()
        };
        let url = "https://soc.example/api";
        let err = check(r#"{"secret": "{client_secrt}"}"#, url);
        assert!(err.contains("unknown placeholder {client_secrt}"), "{err}");
        let err = check(r#"{"tenantId": "{tenant_id}""#, url);
        assert!(err.contains("it is not JSON"), "{err}");
        let err = check(TEMPLATE, "https://soc.example/{client_secret}");
        assert!(err.contains("must not hold {client_secret}"), "{err}");
        let err = check(TEMPLATE, "https://soc.example/{tenant}");
        assert!(
            err.contains("--api-url: unknown placeholder {tenant}"),
            "{err}"
        );
        // Braces that are no placeholder are JSON's or the platform's own.
        assert_eq!(
            fill("a {B} {} {x-y}", &|_: &str| None, str::to_owned),
            Ok("a {B} {} {x-y}".to_owned())
        );

        let mut a = args(dir.path(), TEMPLATE);
        a.http_body_template = None;
        assert!(
            Target::Http
                .check_args(&a, true)
                .unwrap_err()
                .contains("--http-body-template")
        );
        a.api_url = None;
        assert!(
            Target::Http
                .check_args(&a, true)
                .unwrap_err()
                .contains("--api-url")
        );
        let mut a = args(dir.path(), TEMPLATE);
        a.http_auth = HttpAuth::Hmac;
        std::fs::write(a.api_token_file.as_ref().unwrap(), "short\n").unwrap();
        let err = Target::Http.check_args(&a, true).unwrap_err();
        assert!(err.contains("at least 16 bytes"), "{err}");
        a.api_token_file = Some(PathBuf::from("/nonexistent"));
        assert_eq!(
            Target::Http.check_args(&a, true),
            Ok(()),
            "read when the client is built"
        );
    }
}
