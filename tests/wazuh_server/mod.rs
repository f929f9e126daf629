//! A local stand-in for the Wazuh server API (4.x), built from wazuh/wazuh
//! `api/api/spec/spec.yaml` and the framework behind it, as much of it as
//! `handoff collect --target wazuh-api` uses:
//!
//! - `POST /security/user/authenticate` with basic auth: `200 {"data":
//!   {"token": JWT}, "error": 0}`, or `401 {"title": "Unauthorized",
//!   "detail": "Invalid credentials"}`;
//! - every other endpoint wants `Authorization: Bearer JWT` (else `401
//!   {"title": "Unauthorized", "detail": "No authorization token provided"}`);
//! - `GET /manager/configuration?raw=true`: the manager's ossec.conf as it is;
//! - `PUT /manager/configuration` (`application/octet-stream`, else `406
//!   {"title": "Wazuh Error", ..., "error": 6002}`): the file is checked as
//!   `validate_wazuh_xml` does, and a refusal is Wazuh's own shape, a 200
//!   whose envelope says `"error": 1` with the reason in
//!   `data.failed_items` (code 1113 "XML syntax error", or 1125 "Invalid
//!   ossec configuration" when the test makes the manager's own check fail);
//! - `PUT /manager/restart`;
//! - `GET /groups/{group}/files/agent.conf?raw=true` and `PUT
//!   /groups/{group}/configuration` (`application/xml`; malformed XML is a
//!   `400 {"title": "Bad Request", "detail": "XML syntax error", "error": 1113}`).
//!
//! It records every request it receives.
#![allow(dead_code)]

use crate::common::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use crate::common::Received;

struct Inner {
    user: String,
    password: String,
    /// JWTs issued.
    tokens: Vec<String>,
    received: Vec<Received>,
    ossec_conf: String,
    groups: BTreeMap<String, String>,
    restarts: u32,
    /// The manager's own check of a new ossec.conf fails with this.
    refuse_configuration: Option<String>,
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Wazuh {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

impl Wazuh {
    /// A manager whose API user is `user:password`, holding `ossec_conf`
    /// and the groups' agent.conf files.
    pub async fn start(
        user: &str,
        password: &str,
        ossec_conf: &str,
        groups: &[(&str, &str)],
    ) -> Wazuh {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            user: user.to_owned(),
            password: password.to_owned(),
            tokens: Vec::new(),
            received: Vec::new(),
            ossec_conf: ossec_conf.to_owned(),
            groups: groups
                .iter()
                .map(|(g, f)| ((*g).to_owned(), (*f).to_owned()))
                .collect(),
            restarts: 0,
            refuse_configuration: None,
        }));
        let app = Router::new()
            .route("/security/user/authenticate", post(authenticate))
            .route(
                "/manager/configuration",
                get(get_manager_conf).put(put_manager_conf),
            )
            .route("/manager/restart", put(restart))
            .route("/groups/{group}/files/{file}", get(get_group_file))
            .route("/groups/{group}/configuration", put(put_group_conf))
            .with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Wazuh {
            base: format!("http://{addr}"),
            inner,
            _stop: stop,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The requests received, as `METHOD path?query`.
    pub fn calls(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri))
            .collect()
    }

    pub fn ossec_conf(&self) -> String {
        lock(&self.inner).ossec_conf.clone()
    }

    pub fn group_conf(&self, group: &str) -> String {
        lock(&self.inner).groups[group].clone()
    }

    pub fn restarts(&self) -> u32 {
        lock(&self.inner).restarts
    }

    /// Makes the manager's own check of the next ossec.conf fail.
    pub fn refuse_configuration(&self, why: &str) {
        lock(&self.inner).refuse_configuration = Some(why.to_owned());
    }

    /// The API user's password from now on.
    pub fn set_password(&self, password: &str) {
        lock(&self.inner).password = password.to_owned();
    }
}

fn record(inner: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) {
    lock(inner)
        .received
        .push(Received::new(method, uri, headers, body));
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn unauthorized(detail: &str) -> Response {
    json_reply(
        StatusCode::UNAUTHORIZED,
        json!({"title": "Unauthorized", "detail": detail}),
    )
}

/// Records the request and checks its bearer token.
fn admit(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<Response>> {
    record(inner, method, uri, headers, body);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        None => Err(Box::new(unauthorized("No authorization token provided"))),
        Some(t) if lock(inner).tokens.iter().any(|k| k == t) => Ok(()),
        Some(_) => Err(Box::new(unauthorized("Invalid token"))),
    }
}

/// [`admit`], then the body as text if it comes as `content_type`.
fn admit_body(
    inner: &Shared,
    request: (&Method, &Uri, &HeaderMap, &Bytes),
    content_type: &str,
) -> Result<String, Box<Response>> {
    let (method, uri, headers, body) = request;
    admit(inner, method, uri, headers, body)?;
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some(content_type) {
        return Err(Box::new(json_reply(
            StatusCode::NOT_ACCEPTABLE,
            json!({"title": "Wazuh Error", "detail": "The body type is not the one specified in the content-type", "error": 6002}),
        )));
    }
    Ok(String::from_utf8_lossy(body).into_owned())
}

/// Whether `xml` is well-formed, as Wazuh's `validate_wazuh_xml` checks
/// (several roots allowed).
fn well_formed(xml: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_dangling_amp = true;
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Err(_) => return false,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => return depth == 0,
            Ok(_) => {}
        }
    }
}

fn raw(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "raw=true"))
}

async fn authenticate(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&inner, &method, &uri, &headers, &body);
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let mut g = lock(&inner);
    if given != Some(format!("{}:{}", g.user, g.password)) {
        return unauthorized("Invalid credentials");
    }
    let n = g.tokens.len();
    let token = format!(
        "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ3YXp1aCIsIm4iOj{n}fQ.c2lnbmF0dXJl{n:04}"
    );
    g.tokens.push(token.clone());
    json_reply(
        StatusCode::OK,
        json!({"data": {"token": token}, "error": 0}),
    )
}

async fn get_manager_conf(
    State(inner): State<Shared>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    if !raw(query.as_deref()) {
        return json_reply(
            StatusCode::OK,
            json!({"data": {"affected_items": [{}], "total_affected_items": 1, "failed_items": [], "total_failed_items": 0}, "message": "Configuration was successfully read", "error": 0}),
        );
    }
    let text = lock(&inner).ossec_conf.clone();
    ([("content-type", "text/plain; charset=utf-8")], text).into_response()
}

/// Wazuh's answer when the node could not make a change: 200, `"error": 1`.
fn failed(message: &str, code: u32, why: &str) -> Response {
    json_reply(
        StatusCode::OK,
        json!({
            "data": {
                "affected_items": [],
                "total_affected_items": 0,
                "total_failed_items": 1,
                "failed_items": [{"error": {"code": code, "message": why, "remediation": "Please, provide a valid configuration"}, "id": ["manager"]}],
            },
            "message": message,
            "error": 1,
        }),
    )
}

async fn put_manager_conf(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = (&method, &uri, &headers, &body);
    let text = match admit_body(&inner, request, "application/octet-stream") {
        Ok(text) => text,
        Err(r) => return *r,
    };
    if !well_formed(&text) {
        return failed("Could not update configuration", 1113, "XML syntax error");
    }
    let mut g = lock(&inner);
    if let Some(why) = g.refuse_configuration.clone() {
        return failed(
            "Could not update configuration",
            1125,
            &format!("Invalid ossec configuration: {why}"),
        );
    }
    g.ossec_conf = text;
    json_reply(
        StatusCode::OK,
        json!({"data": {"affected_items": ["manager"], "total_affected_items": 1, "failed_items": [], "total_failed_items": 0}, "message": "Configuration was successfully updated", "error": 0}),
    )
}

async fn restart(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    lock(&inner).restarts += 1;
    json_reply(
        StatusCode::OK,
        json!({"data": {"affected_items": ["manager"], "total_affected_items": 1, "failed_items": [], "total_failed_items": 0}, "message": "Restart request sent to all specified nodes", "error": 0}),
    )
}

fn no_group(group: &str) -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        json!({"title": "Resource Not Found", "detail": format!("The group does not exist: {group}"), "error": 1710}),
    )
}

async fn get_group_file(
    State(inner): State<Shared>,
    Path((group, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let Some(text) = lock(&inner).groups.get(&group).cloned() else {
        return no_group(&group);
    };
    if file != "agent.conf" || !raw(query.as_deref()) {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"title": "Bad Request", "detail": "only agent.conf with raw=true in this stand-in"}),
        );
    }
    ([("content-type", "application/xml")], text).into_response()
}

async fn put_group_conf(
    State(inner): State<Shared>,
    Path(group): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = (&method, &uri, &headers, &body);
    let text = match admit_body(&inner, request, "application/xml") {
        Ok(text) => text,
        Err(r) => return *r,
    };
    let mut g = lock(&inner);
    if !g.groups.contains_key(&group) {
        return no_group(&group);
    }
    if !well_formed(&text) {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"title": "Bad Request", "detail": "XML syntax error", "remediation": "Please, ensure file content has correct XML", "error": 1113}),
        );
    }
    g.groups.insert(group, text);
    json_reply(
        StatusCode::OK,
        json!({"message": "Agent configuration was successfully updated", "error": 0}),
    )
}
