//! A local stand-in for a SOC platform's own API (served through the test's
//! `common` module), the kind `handoff collect --target http` delivers to:
//! it keeps one Office 365 integration per tenant, takes `POST
//! /api/v1/integrations` (create or update by tenant, with `Idempotency-Key`
//! replays answered from memory) and `PUT /api/v1/tenants/{tenant}`
//! (replace), authenticated by a bearer token or an `X-Handoff-Signature`
//! HMAC, and answers as such platforms do: 201 or 200 with JSON, 401 and 422
//! with JSON error bodies. It records every request it receives, as
//! received.
//!
//! ```ignore
//! #[path = "platform/mod.rs"]
//! mod platform;
//! let soc = platform::Platform::start(platform::Auth::Bearer("tok".into())).await;
//! ```
#![allow(dead_code)]

use crate::common::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How the platform checks who calls it.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `X-Handoff-Signature` with this key, within five minutes.
    Hmac(String),
}

pub use crate::common::Received;

#[derive(Default)]
struct Inner {
    auth: Option<Auth>,
    received: Vec<Received>,
    /// The stored integration per tenant: the body last accepted.
    tenants: BTreeMap<String, Value>,
    /// Changes made to `tenants` (a replayed or identical request makes none).
    changes: u32,
    /// Answers already given, by `Idempotency-Key`.
    replies: HashMap<String, (StatusCode, Value)>,
    /// Client secrets the platform's own check refuses (422).
    refused_secrets: Vec<String>,
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Platform {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

impl Platform {
    pub async fn start(auth: Auth) -> Platform {
        let inner: Shared = Arc::default();
        lock(&inner).auth = Some(auth);
        let app = Router::new()
            .route("/api/v1/integrations", post(receive))
            .route("/api/v1/tenants/{tenant}", put(receive))
            .with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Platform {
            base: format!("http://{addr}"),
            inner,
            _stop: stop,
        }
    }

    /// Makes the platform's own check of the credential refuse `secret`.
    pub fn refuse_secret(&self, secret: &str) {
        lock(&self.inner).refused_secrets.push(secret.to_owned());
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The stored integration per tenant.
    pub fn tenants(&self) -> BTreeMap<String, Value> {
        lock(&self.inner).tenants.clone()
    }

    /// How many times the stored integrations changed.
    pub fn changes(&self) -> u32 {
        lock(&self.inner).changes
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Records the request; checks its authentication and its body.
fn admit(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Box<Response>> {
    let text = String::from_utf8_lossy(body).into_owned();
    let mut g = lock(inner);
    g.received.push(Received::new(method, uri, headers, body));
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authed = match g.auth.as_ref().unwrap() {
        Auth::Bearer(token) => header("authorization") == Some(&format!("Bearer {token}")),
        Auth::Hmac(key) => header("x-handoff-signature").is_some_and(|sig| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            handoff::webhook::verify_signature(key.as_bytes(), sig, &text, now, 300)
        }),
    };
    if !authed {
        return Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unauthorized", "message": "Invalid or expired API token"}),
        )));
    }
    if header("content-type") != Some("application/json") {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"message": "Content-Type must be application/json"}),
        )));
    }
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            json!({"message": "The body is not JSON"}),
        )));
    };
    let secret = value["clientSecret"].as_str().unwrap_or("");
    let mut errors = Vec::new();
    for field in ["tenantId", "clientId", "clientSecret"] {
        if value[field].as_str().is_none_or(str::is_empty) {
            errors.push(json!({"field": field, "message": "is required"}));
        }
    }
    if g.refused_secrets.iter().any(|s| s == secret) {
        // Platforms do echo what they refuse; the collector must mask it.
        errors.push(json!({"field": "clientSecret", "message": format!("Entra ID refused the client secret {secret} (AADSTS7000215: Invalid client secret provided)")}));
    }
    if !errors.is_empty() {
        return Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Validation failed", "errors": errors}),
        )));
    }
    Ok(value)
}

/// Stores `value` for `tenant`: 201 new, 200 updated or unchanged.
fn store(g: &mut Inner, tenant: &str, value: Value) -> (StatusCode, Value) {
    match g.tenants.get(tenant) {
        Some(old) if *old == value => {
            (StatusCode::OK, json!({"id": tenant, "status": "unchanged"}))
        }
        old => {
            let status = if old.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            g.tenants.insert(tenant.to_owned(), value);
            g.changes += 1;
            let said = if status == StatusCode::OK {
                "updated"
            } else {
                "created"
            };
            (status, json!({"id": tenant, "status": said}))
        }
    }
}

/// `POST /api/v1/integrations` creates or updates by tenant, answering a
/// repeated `Idempotency-Key` from memory; `PUT /api/v1/tenants/{tenant}`
/// replaces that tenant's integration.
async fn receive(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let value = match admit(&inner, &method, &uri, &headers, &body) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut g = lock(&inner);
    let tenant = value["tenantId"].as_str().unwrap().to_owned();
    let reply = if method == Method::PUT {
        if uri.path().rsplit('/').next() != Some(tenant.as_str()) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"errors": [{"field": "tenantId", "message": "does not match the URL"}]}),
            );
        }
        store(&mut g, &tenant, value)
    } else {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(reply) = key.as_ref().and_then(|k| g.replies.get(k)) {
            return (reply.0, axum::Json(reply.1.clone())).into_response();
        }
        let reply = store(&mut g, &tenant, value);
        if let Some(k) = key {
            g.replies.insert(k, reply.clone());
        }
        reply
    };
    (reply.0, axum::Json(reply.1)).into_response()
}
