//! A local stand-in for splunkd's REST API with the Splunk Add-on for
//! Microsoft Office 365 installed, as much of it as `handoff collect
//! --target splunk-o365` uses. Built from the add-on's `restmap.conf`, its
//! tenant and Management Activity REST handlers, its `globalConfig.json`,
//! and the add-on framework's `admin_external.py`
//! (splunk/addonfactory-ucc-library):
//!
//! - `POST /services/auth/login` (form `username`, `password`) answers
//!   `{"sessionKey": ...}`, or 401 `Login failed`;
//! - every other request wants `Authorization: Bearer <token>` or
//!   `Authorization: Splunk <session key>`, else 401 `call not properly
//!   authenticated`;
//! - under `/servicesNS/nobody/splunk_ta_o365/`: `GET
//!   splunk_ta_o365_tenants` (the secret shown as `********`), `GET
//!   splunk_ta_o365_tenants/<name>` (with `--cred--=1` the secret in clear,
//!   unless the user lacks `list_storage_passwords`), `POST
//!   splunk_ta_o365_tenants` (create), `POST
//!   splunk_ta_o365_tenants/<name>` (edit, with the add-on's
//!   `change_client_secret`, `change_cert_creds` and `change_cas_secret`
//!   rules: a flag of `0` without its field fails as the add-on's handler
//!   does), `GET` and `POST splunk_ta_o365_mgmt_activity`. A create or edit
//!   of a tenant "asks Microsoft" first: a secret marked as refused gets
//!   the add-on's 400 with Microsoft's words. An argument the handler does
//!   not know gets splunkd's 400. Errors are splunkd's `{"messages":
//!   [{"type", "text"}]}`;
//! - with the add-on "uninstalled", its paths answer 404.
//!
//! It records every request it receives.
#![allow(dead_code)]

use crate::common::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use crate::common::Received;

pub const UNDER: &str = "/servicesNS/nobody/splunk_ta_o365";
const SESSION_KEY: &str = "a1b2c3d4e5f6SessionKey0987654321zyxw";

/// One stanza: its name and its fields (a tenant's secret in clear).
pub type Stanza = (String, BTreeMap<String, String>);

struct Inner {
    token: String,
    user_password: Option<(String, String)>,
    received: Vec<Received>,
    tenants: Vec<Stanza>,
    inputs: Vec<Stanza>,
    /// Secrets Microsoft refuses when the add-on tries them.
    refused_secrets: Vec<String>,
    /// The user may read stored passwords (`--cred--=1`).
    may_read_secrets: bool,
    installed: bool,
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Splunk {
    /// `http://127.0.0.1:<port>`, what `--api-url` takes.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

impl Splunk {
    /// A splunkd accepting the authentication token `token`.
    pub async fn start(token: &str) -> Splunk {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            user_password: None,
            received: Vec::new(),
            tenants: Vec::new(),
            inputs: Vec::new(),
            refused_secrets: Vec::new(),
            may_read_secrets: true,
            installed: true,
        }));
        let app = Router::new()
            .route("/services/auth/login", post(login))
            .route(
                &format!("{UNDER}/splunk_ta_o365_tenants"),
                get(list_tenants).post(create_tenant),
            )
            .route(
                &format!("{UNDER}/splunk_ta_o365_tenants/{{name}}"),
                get(get_tenant).post(edit_tenant),
            )
            .route(
                &format!("{UNDER}/splunk_ta_o365_mgmt_activity"),
                get(list_inputs).post(create_input),
            )
            .with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Splunk {
            base: format!("http://{addr}"),
            inner,
            _stop: stop,
        }
    }

    /// Also accepts a login as `user` with `password`.
    pub fn add_user(&self, user: &str, password: &str) {
        lock(&self.inner).user_password = Some((user.to_owned(), password.to_owned()));
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The requests received, as `METHOD path?query`, the add-on's
    /// namespace cut.
    pub fn calls(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri.replacen(UNDER, "", 1)))
            .collect()
    }

    /// The tenants as stored, secrets in clear.
    pub fn tenants(&self) -> Vec<Stanza> {
        lock(&self.inner).tenants.clone()
    }

    pub fn inputs(&self) -> Vec<Stanza> {
        lock(&self.inner).inputs.clone()
    }

    /// A tenant someone made by hand.
    pub fn add_tenant(&self, name: &str, fields: &[(&str, &str)]) {
        lock(&self.inner).tenants.push(stanza(name, fields));
    }

    /// An input someone made by hand.
    pub fn add_input(&self, name: &str, fields: &[(&str, &str)]) {
        lock(&self.inner).inputs.push(stanza(name, fields));
    }

    /// Microsoft refuses `secret` from now on.
    pub fn refuse_secret(&self, secret: &str) {
        lock(&self.inner).refused_secrets.push(secret.to_owned());
    }

    /// The user loses `list_storage_passwords`.
    pub fn deny_secret_reads(&self) {
        lock(&self.inner).may_read_secrets = false;
    }

    /// The add-on is not installed.
    pub fn uninstall(&self) {
        lock(&self.inner).installed = false;
    }
}

fn stanza(name: &str, fields: &[(&str, &str)]) -> Stanza {
    (
        name.to_owned(),
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// splunkd's error answer.
fn splunk_error(status: StatusCode, kind: &str, text: &str) -> Response {
    (
        status,
        axum::Json(json!({"messages": [{"type": kind, "text": text}]})),
    )
        .into_response()
}

/// How splunkd words an exception of the add-on's Python handler.
fn handler_error(status: StatusCode, rest_status: u16, reason: &str, detail: &str) -> Response {
    splunk_error(
        status,
        "ERROR",
        &format!(
            "Unexpected error \"<class 'splunktaucclib.rest_handler.error.RestError'>\" from python handler: \"REST Error [{rest_status}]: {reason} -- {detail}\". See splunkd.log/python.log for more details."
        ),
    )
}

/// A form body's pairs, decoded.
pub fn form(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Records the request and checks who sends it.
fn admit(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<Response>> {
    let mut g = lock(inner);
    g.received.push(Received::new(method, uri, headers, body));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = auth == format!("Bearer {}", g.token)
        || (g.user_password.is_some() && auth == format!("Splunk {SESSION_KEY}"));
    if !ok {
        return Err(Box::new(splunk_error(
            StatusCode::UNAUTHORIZED,
            "WARN",
            "call not properly authenticated",
        )));
    }
    if !g.installed {
        return Err(Box::new(splunk_error(
            StatusCode::NOT_FOUND,
            "ERROR",
            "Not Found",
        )));
    }
    if !uri.query().unwrap_or_default().contains("output_mode=json") {
        return Err(Box::new(
            (StatusCode::OK, "<?xml version=\"1.0\"?><feed/>").into_response(),
        ));
    }
    Ok(())
}

async fn login(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = lock(&inner);
    g.received
        .push(Received::new(&method, &uri, &headers, &body));
    let pairs = form(&String::from_utf8_lossy(&body));
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let given = (get("username"), get("password"));
    match &g.user_password {
        Some((u, p)) if given == (Some(u.clone()), Some(p.clone())) => {
            axum::Json(json!({"sessionKey": SESSION_KEY})).into_response()
        }
        _ => splunk_error(StatusCode::UNAUTHORIZED, "WARN", "Login failed"),
    }
}

/// A stanza as splunkd lists it; `shown_secret` replaces the secret.
fn entry(kind: &str, (name, fields): &Stanza, clear: bool) -> Value {
    let mut content: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| {
            let hidden = [
                "client_secret",
                "cert_private_key",
                "private_key_password",
                "cloudappsecuritytoken",
            ]
            .contains(&k.as_str())
                && !v.is_empty()
                && !clear;
            (
                k.clone(),
                json!(if hidden { "********" } else { v.as_str() }),
            )
        })
        .collect();
    content.insert("disabled".to_owned(), json!(false));
    content.insert("eai:appName".to_owned(), json!("splunk_ta_o365"));
    json!({
        "name": name,
        "id": format!("https://127.0.0.1:8089{UNDER}/{kind}/{name}"),
        "author": "nobody",
        "content": content,
    })
}

fn feed(entries: Vec<Value>) -> Response {
    let total = entries.len();
    axum::Json(json!({
        "links": {},
        "generator": {"build": "0", "version": "9.4.0"},
        "entry": entries,
        "paging": {"total": total, "perPage": 0, "offset": 0},
        "messages": [],
    }))
    .into_response()
}

async fn list_tenants(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let g = lock(&inner);
    feed(
        g.tenants
            .iter()
            .map(|t| entry("splunk_ta_o365_tenants", t, false))
            .collect(),
    )
}

async fn get_tenant(
    State(inner): State<Shared>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let g = lock(&inner);
    let clear = uri.query().unwrap_or_default().contains("--cred--=1");
    if clear && !g.may_read_secrets {
        return handler_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            403,
            "Forbidden",
            "You (user=handoff) do not have permission to perform this operation (requires capability: list_storage_passwords OR admin_all_objects).",
        );
    }
    match g.tenants.iter().find(|(n, _)| *n == name) {
        Some(t) => feed(vec![entry("splunk_ta_o365_tenants", t, clear)]),
        None => handler_error(
            StatusCode::NOT_FOUND,
            404,
            "Not Found",
            &format!("splunk_ta_o365_tenants does not exist: {name}"),
        ),
    }
}

/// The tenant handler's fields (`bin/splunk_ta_o365_rh_tenants.py`).
const TENANT_FIELDS: [&str; 13] = [
    "endpoint",
    "tenant_id",
    "client_id",
    "change_cert_creds",
    "auth_type",
    "cert_private_key",
    "cert_thumbprint",
    "private_key_password",
    "change_client_secret",
    "client_secret",
    "change_cas_secret",
    "cloudappsecuritytoken",
    "cas_portal_url",
];

fn unsupported(pairs: &[(String, String)], known: &[&str]) -> Option<Response> {
    let bad = pairs.iter().find(|(k, _)| {
        k != "name" && !known.contains(&k.as_str()) && k != "cas_portal_data_center"
    })?;
    Some(splunk_error(
        StatusCode::BAD_REQUEST,
        "ERROR",
        &format!("Argument \"{}\" is not supported by this handler.", bad.0),
    ))
}

/// What the add-on does before saving a tenant: ask Microsoft for a token.
fn try_with_microsoft(g: &Inner, endpoint: &str, secret: &str) -> Option<Response> {
    if !["Worldwide", "USGovGCC", "USGovGCCHigh"].contains(&endpoint) {
        return Some(handler_error(
            StatusCode::BAD_REQUEST,
            400,
            "Bad Request",
            "Graph/Management/MessageTrace APIs for the selected 'Endpoint' not found.",
        ));
    }
    if g.refused_secrets.iter().any(|s| s == secret) {
        return Some(handler_error(
            StatusCode::BAD_REQUEST,
            400,
            "Bad Request",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d'.",
        ));
    }
    None
}

async fn create_tenant(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &body) {
        return *r;
    }
    let pairs = form(&String::from_utf8_lossy(&body));
    if let Some(r) = unsupported(&pairs, &TENANT_FIELDS) {
        return r;
    }
    let mut fields: BTreeMap<String, String> = pairs.into_iter().collect();
    let Some(name) = fields.remove("name") else {
        return splunk_error(StatusCode::BAD_REQUEST, "ERROR", "Missing argument: name");
    };
    for required in ["endpoint", "tenant_id", "client_id", "auth_type"] {
        if !fields.contains_key(required) {
            return splunk_error(
                StatusCode::BAD_REQUEST,
                "ERROR",
                &format!("The following required arguments are missing: {required}."),
            );
        }
    }
    let mut g = lock(&inner);
    if g.tenants.iter().any(|(n, _)| *n == name) {
        return splunk_error(
            StatusCode::CONFLICT,
            "ERROR",
            &format!("Name {name} is already in use"),
        );
    }
    let secret = fields.get("client_secret").cloned().unwrap_or_default();
    if let Some(r) = try_with_microsoft(&g, &fields["endpoint"], &secret) {
        return r;
    }
    fields.insert("is_conf_migrated".to_owned(), "1".to_owned());
    let t = (name, fields);
    let shown = entry("splunk_ta_o365_tenants", &t, false);
    g.tenants.push(t);
    (StatusCode::CREATED, feed(vec![shown])).into_response()
}

async fn edit_tenant(
    State(inner): State<Shared>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &body) {
        return *r;
    }
    let pairs = form(&String::from_utf8_lossy(&body));
    if let Some(r) = unsupported(&pairs, &TENANT_FIELDS) {
        return r;
    }
    let mut payload: BTreeMap<String, String> = pairs.into_iter().collect();
    let mut g = lock(&inner);
    let Some(at) = g.tenants.iter().position(|(n, _)| *n == name) else {
        return handler_error(
            StatusCode::NOT_FOUND,
            404,
            "Not Found",
            &format!("splunk_ta_o365_tenants does not exist: {name}"),
        );
    };
    // The add-on's handler reads these keys without a default.
    for (flag, kept) in [
        ("change_client_secret", &["client_secret"][..]),
        (
            "change_cert_creds",
            &["cert_private_key", "private_key_password"][..],
        ),
        ("change_cas_secret", &["cloudappsecuritytoken"][..]),
    ] {
        let missing = match payload.get(flag).map(String::as_str) {
            None => Some(flag),
            Some("0") => kept.iter().copied().find(|k| !payload.contains_key(*k)),
            Some(_) => None,
        };
        if let Some(key) = missing {
            return splunk_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERROR",
                &format!(
                    "Unexpected error \"<class 'KeyError'>\" from python handler: \"'{key}'\". See splunkd.log/python.log for more details."
                ),
            );
        }
    }
    let stored = g.tenants[at].1.clone();
    let secret = if payload["change_client_secret"] == "0" {
        stored.get("client_secret").cloned().unwrap_or_default()
    } else {
        payload.get("client_secret").cloned().unwrap_or_default()
    };
    let endpoint = payload.get("endpoint").cloned().unwrap_or_default();
    if let Some(r) = try_with_microsoft(&g, &endpoint, &secret) {
        return r;
    }
    for (flag, kept) in [
        ("change_client_secret", &["client_secret"][..]),
        (
            "change_cert_creds",
            &["cert_private_key", "private_key_password"][..],
        ),
        ("change_cas_secret", &["cloudappsecuritytoken"][..]),
    ] {
        if payload.remove(flag).as_deref() == Some("0") {
            for k in kept {
                payload.remove(*k);
            }
        }
    }
    if payload.get("auth_type").map(String::as_str) == Some("secret_based") {
        for k in [
            "cert_private_key",
            "cert_thumbprint",
            "private_key_password",
        ] {
            payload.insert(k.to_owned(), String::new());
        }
    }
    payload.insert("is_conf_migrated".to_owned(), "1".to_owned());
    let tenant = &mut g.tenants[at].1;
    for (k, v) in payload {
        tenant.insert(k, v);
    }
    let shown = entry("splunk_ta_o365_tenants", &g.tenants[at], false);
    feed(vec![shown])
}

async fn list_inputs(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let g = lock(&inner);
    feed(
        g.inputs
            .iter()
            .map(|i| entry("splunk_ta_o365_mgmt_activity", i, false))
            .collect(),
    )
}

async fn create_input(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &body) {
        return *r;
    }
    let pairs = form(&String::from_utf8_lossy(&body));
    // The Management Activity handler's fields
    // (`bin/splunk_ta_o365_rh_management_activity.py`).
    let known = [
        "tenant_name",
        "content_type",
        "start_date_time",
        "index",
        "interval",
        "disabled",
    ];
    if let Some(r) = unsupported(&pairs, &known) {
        return r;
    }
    let mut fields: BTreeMap<String, String> = pairs.into_iter().collect();
    let Some(name) = fields.remove("name") else {
        return splunk_error(StatusCode::BAD_REQUEST, "ERROR", "Missing argument: name");
    };
    for required in ["tenant_name", "content_type", "index", "interval"] {
        if !fields.contains_key(required) {
            return splunk_error(
                StatusCode::BAD_REQUEST,
                "ERROR",
                &format!("The following required arguments are missing: {required}."),
            );
        }
    }
    let mut g = lock(&inner);
    if g.inputs.iter().any(|(n, _)| *n == name) {
        return splunk_error(
            StatusCode::CONFLICT,
            "ERROR",
            &format!("Name {name} is already in use"),
        );
    }
    let i = (name, fields);
    let shown = entry("splunk_ta_o365_mgmt_activity", &i, false);
    g.inputs.push(i);
    (StatusCode::CREATED, feed(vec![shown])).into_response()
}
