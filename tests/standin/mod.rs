//! A local stand-in for Entra ID's token endpoint and the Office 365
//! Management API's `subscriptions/start`, so that verification is tested
//! against answers shaped like Microsoft's without reaching Microsoft. It
//! serves through the test's `common` module.
//!
//! ```ignore
//! #[path = "standin/mod.rs"]
//! mod standin;
//! let entra = standin::StandIn::start().await;
//! entra.register(standin::App::new(TENANT, CLIENT, SECRET)
//!     .grant("https://manage.office.com", &["ActivityFeed.Read"]));
//! let endpoints = handoff::verify::Endpoints::all_at(&entra.base);
//! ```
//!
//! Tokens are signed-shape JWTs (RS256 header, Entra v1 claims, a random
//! signature part); error answers copy the real bodies' fields and wording.
#![allow(dead_code)]

use crate::common::lock;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use reqwest::Url;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How an app's sign-in goes, beyond the secret check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Right secret: a token. Wrong secret: AADSTS7000215.
    Ok,
    /// Every secret is refused as expired (AADSTS7000222).
    ExpiredSecret,
    /// The app is not in the tenant (AADSTS700016).
    UnknownApp,
    /// The token service is having an outage: 503 with AADSTS90033, as
    /// Entra ID answers when it cannot serve a request for a while.
    Unavailable,
}

/// One app registration in one tenant.
#[derive(Clone)]
pub struct App {
    pub tenant: String,
    pub client_id: String,
    secret: String,
    /// Roles granted with admin consent, by resource (`https://manage.office.com`).
    pub roles: BTreeMap<String, Vec<String>>,
    pub mode: Mode,
    /// The `tid` claim, when it should differ from the tenant (a test of
    /// the tenant check).
    pub tid: Option<String>,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("roles", &self.roles)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl App {
    pub fn new(tenant: &str, client_id: &str, secret: &str) -> App {
        App {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            roles: BTreeMap::new(),
            mode: Mode::Ok,
            tid: None,
        }
    }

    /// Consented roles on `resource` (the scope without `/.default`).
    pub fn grant(mut self, resource: &str, roles: &[&str]) -> App {
        self.roles.insert(
            resource.trim_end_matches('/').to_owned(),
            roles.iter().map(|r| (*r).to_owned()).collect(),
        );
        self
    }

    pub fn mode(mut self, mode: Mode) -> App {
        self.mode = mode;
        self
    }

    pub fn tid(mut self, tid: &str) -> App {
        self.tid = Some(tid.to_owned());
        self
    }
}

/// A request the stand-in received.
#[derive(Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The form fields, secret included (tests compare it); Debug hides it.
    pub form: BTreeMap<String, String>,
    /// The bearer token sent, if any; Debug hides it.
    pub bearer: Option<String>,
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form: BTreeMap<&str, &str> = self
            .form
            .iter()
            .map(|(k, v)| {
                let shown = if k == "client_secret" {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Recorded")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("form", &form)
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A subscription answer to force for one content type.
#[derive(Clone, Debug)]
struct ForcedError {
    status: StatusCode,
    code: String,
    message: String,
}

#[derive(Default)]
struct Inner {
    apps: Vec<App>,
    requests: Vec<Recorded>,
    /// Every access token handed out, with its claims.
    issued: HashMap<String, Value>,
    /// Enabled content types, by tenant.
    subscriptions: HashMap<String, BTreeSet<String>>,
    forced: HashMap<String, ForcedError>,
}

type Shared = crate::common::Shared<Inner>;

/// The running stand-in; stops when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`: the login, Graph and Management host at once.
    pub base: Url,
    inner: Shared,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl StandIn {
    pub async fn start() -> StandIn {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route(
                "/api/v1.0/{tenant}/activity/feed/subscriptions/start",
                post(start_subscription),
            )
            .with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        StandIn {
            base: Url::parse(&format!("http://{addr}")).unwrap(),
            inner,
            stop: Some(stop),
        }
    }

    pub fn register(&self, app: App) {
        lock(&self.inner).apps.push(app);
    }

    /// Changes how the sign-in of every registered app `client_id` goes
    /// from now on (a secret that expires, an outage that ends).
    pub fn set_mode(&self, client_id: &str, mode: Mode) {
        for app in lock(&self.inner)
            .apps
            .iter_mut()
            .filter(|a| a.client_id == client_id)
        {
            app.mode = mode;
        }
    }

    /// Marks a content type's subscription as already on for `tenant`.
    pub fn enable_subscription(&self, tenant: &str, content_type: &str) {
        lock(&self.inner)
            .subscriptions
            .entry(tenant.to_ascii_lowercase())
            .or_default()
            .insert(content_type.to_owned());
    }

    /// Answers every start of `content_type` with this Management API error.
    pub fn fail_subscription(&self, content_type: &str, status: u16, code: &str, message: &str) {
        lock(&self.inner).forced.insert(
            content_type.to_owned(),
            ForcedError {
                status: StatusCode::from_u16(status).unwrap(),
                code: code.to_owned(),
                message: message.to_owned(),
            },
        );
    }

    pub fn subscriptions(&self, tenant: &str) -> BTreeSet<String> {
        lock(&self.inner)
            .subscriptions
            .get(&tenant.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner).requests.clone()
    }

    /// Every access token handed out so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner).issued.keys().cloned().collect()
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    SysRng.try_fill_bytes(&mut bytes).unwrap();
    bytes
}

fn guid() -> String {
    let b = random_bytes(16);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn timestamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// An Entra ID error answer, with every field the real one has.
fn entra_error(status: StatusCode, error: &str, code: u64, sentence: &str) -> Response {
    let trace = guid();
    let correlation = guid();
    let ts = timestamp();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {sentence}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}

fn sign_jwt(claims: &Value) -> String {
    let header =
        json!({"typ": "JWT", "alg": "RS256", "kid": URL_SAFE_NO_PAD.encode(random_bytes(20))});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(random_bytes(256))
    )
}

async fn token(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let form: BTreeMap<String, String> = form.into_iter().collect();
    let mut inner = lock(&shared);
    inner.requests.push(Recorded {
        method: "POST".to_owned(),
        path: format!("/{tenant}/oauth2/v2.0/token"),
        query: BTreeMap::new(),
        form: form.clone(),
        bearer: None,
    });
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = field("client_id");
    let scope = field("scope");
    if !inner
        .apps
        .iter()
        .any(|a| a.tenant.eq_ignore_ascii_case(&tenant))
    {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing in to the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    }
    let Some(app) = inner
        .apps
        .iter()
        .find(|a| a.tenant.eq_ignore_ascii_case(&tenant) && a.client_id == client_id)
        .filter(|a| a.mode != Mode::UnknownApp)
        .cloned()
    else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    if app.mode == Mode::Unavailable {
        return entra_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        );
    }
    if app.mode == Mode::ExpiredSecret {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        );
    }
    if field("client_secret") != app.secret {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        );
    }
    let Some(resource) = scope.strip_suffix("/.default") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    let tid = app.tid.clone().unwrap_or_else(|| app.tenant.clone());
    let iat = now();
    let mut claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": iat,
        "nbf": iat,
        "exp": iat + 3599,
        "appid": client_id,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{tid}/"),
        "oid": guid(),
        "sub": guid(),
        "tid": tid,
        "ver": "1.0",
    });
    // Entra leaves `roles` out entirely when nothing is consented.
    if let Some(roles) = app
        .roles
        .get(resource.trim_end_matches('/'))
        .filter(|r| !r.is_empty())
    {
        claims["roles"] = json!(roles);
    }
    let access_token = sign_jwt(&claims);
    inner.issued.insert(access_token.clone(), claims);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    }))
    .into_response()
}

fn management_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn start_subscription(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let mut inner = lock(&shared);
    inner.requests.push(Recorded {
        method: "POST".to_owned(),
        path: format!("/api/v1.0/{tenant}/activity/feed/subscriptions/start"),
        query: query.clone().into_iter().collect(),
        form: BTreeMap::new(),
        bearer: bearer.clone(),
    });
    let Some(claims) = bearer.as_ref().and_then(|b| inner.issued.get(b)).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        )
            .into_response();
    };
    let token_tid = claims["tid"].as_str().unwrap_or_default();
    if !token_tid.eq_ignore_ascii_case(&tenant) {
        return management_error(
            StatusCode::BAD_REQUEST,
            "AF20010",
            &format!(
                "The tenant ID passed in the URL ({tenant}) does not match the tenant ID passed in the access token ({token_tid})."
            ),
        );
    }
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !roles.contains(&"ActivityFeed.Read") {
        return management_error(
            StatusCode::UNAUTHORIZED,
            "AF10001",
            &format!(
                "The permission set ({}) sent in the request does not include the expected permission.",
                roles.join(",")
            ),
        );
    }
    let content_type = query.get("contentType").cloned().unwrap_or_default();
    if let Some(forced) = inner.forced.get(&content_type).cloned() {
        return management_error(forced.status, &forced.code, &forced.message);
    }
    let enabled = inner
        .subscriptions
        .entry(tenant.to_ascii_lowercase())
        .or_default();
    if !enabled.insert(content_type.clone()) {
        return management_error(
            StatusCode::BAD_REQUEST,
            "AF20024",
            "The subscription is already enabled. No property change.",
        );
    }
    axum::Json(json!({"contentType": content_type, "status": "enabled", "webhook": null}))
        .into_response()
}
