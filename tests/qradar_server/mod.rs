//! A local stand-in for IBM QRadar's REST API, as much of it as `handoff
//! collect --target qradar` uses, under
//! `/api/config/event_sources/log_source_management/`:
//!
//! - every request wants `SEC: <token>`, else QRadar's error shape, `401
//!   {"http_response": {"code": 401, "message": "..."}, "code": 22,
//!   "description": "...", "details": {}, "message": "..."}`;
//! - `GET protocol_types?filter=name="..."` and `GET
//!   log_source_types?filter=name="..."`, with this install's own ids and
//!   parameter names (the labels are the documented ones): the "Office 365
//!   REST API" protocol with the "Office 365" type, and the "Microsoft
//!   Graph Security API" protocol with the "Microsoft 365 Defender" type,
//!   whose API parameter lists its options in `allowed_values` (IBM's DSM
//!   guide: Alerts V1, Alerts V2, Service Announcement);
//! - `GET log_sources?filter=type_id=N`, `POST log_sources` (201; 409 on a
//!   repeated Log Source Identifier of the same type; 422 for a protocol
//!   the type does not take, a parameter the protocol does not have, or a
//!   value outside a parameter's `allowed_values`), bulk `PATCH
//!   log_sources` (202 and a task; the same 422s).
//!
//! It records every request it receives.
#![allow(dead_code)]

use crate::common::lock;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use crate::common::Received;

pub const PROTOCOL_ID: i64 = 73;
pub const TYPE_ID: i64 = 397;
pub const GRAPH_PROTOCOL_ID: i64 = 121;
pub const GRAPH_TYPE_ID: i64 = 433;
const UNDER: &str = "/api/config/event_sources/log_source_management";

/// One parameter of a protocol, as `protocol_types` describes it.
#[derive(Clone)]
struct Parameter {
    id: i64,
    name: String,
    label: String,
    allowed: Vec<String>,
}

/// A protocol type and the log source type that takes it.
struct Protocol {
    id: i64,
    name: &'static str,
    type_id: i64,
    type_name: &'static str,
    parameters: Vec<Parameter>,
}

struct Inner {
    token: String,
    received: Vec<Received>,
    protocols: Vec<Protocol>,
    log_sources: Vec<Value>,
    /// Answer a password parameter (Client Secret) as stars, as a console
    /// may.
    hide_secrets: bool,
}

fn parameters(list: &[(i64, &str, &str)]) -> Vec<Parameter> {
    list.iter()
        .map(|(id, name, label)| Parameter {
            id: *id,
            name: (*name).to_owned(),
            label: (*label).to_owned(),
            allowed: Vec::new(),
        })
        .collect()
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Qradar {
    /// `http://127.0.0.1:<port>/api`, what `--api-url` takes.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

impl Qradar {
    /// A console accepting the authorized service token `token`.
    pub async fn start(token: &str) -> Qradar {
        let office = parameters(&[
            (1101, "identifier", "Log Source Identifier"),
            (1102, "o365_client_id", "Client ID"),
            (1103, "o365_auth_method", "Authentication Method"),
            (1104, "o365_client_secret", "Client Secret"),
            (1105, "o365_tenant_id", "Tenant ID"),
            (1106, "o365_event_filter", "Event Filter"),
            (1107, "o365_management_url", "Management Activity API URL"),
            (1108, "o365_login_url", "Azure AD sign-in URL"),
        ]);
        let mut graph = parameters(&[
            (1201, "identifier", "Log Source Identifier"),
            (1202, "msgraph_tenant_id", "Tenant ID"),
            (1203, "msgraph_client_id", "Client ID"),
            (1204, "msgraph_auth_method", "Authentication Method"),
            (1205, "msgraph_client_secret", "Client Secret"),
            (1206, "msgraph_api", "API"),
            (1207, "msgraph_service", "Service"),
            (1208, "msgraph_event_filter", "Event Filter"),
            (1209, "msgraph_login_endpoint", "Login Endpoint"),
            (1210, "msgraph_graph_endpoint", "Graph API Endpoint"),
            (1211, "msgraph_recurrence", "Recurrence"),
        ]);
        graph[5].allowed = vec![
            "Alerts V1 (/alerts)".to_owned(),
            "Alerts V2 (/alerts_v2)".to_owned(),
            "Service Announcement (/serviceAnnouncement)".to_owned(),
        ];
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            received: Vec::new(),
            protocols: vec![
                Protocol {
                    id: PROTOCOL_ID,
                    name: "Office 365 REST API",
                    type_id: TYPE_ID,
                    type_name: "Office 365",
                    parameters: office,
                },
                Protocol {
                    id: GRAPH_PROTOCOL_ID,
                    name: "Microsoft Graph Security API",
                    type_id: GRAPH_TYPE_ID,
                    type_name: "Microsoft 365 Defender",
                    parameters: graph,
                },
            ],
            log_sources: Vec::new(),
            hide_secrets: false,
        }));
        let app = Router::new()
            .route(&format!("{UNDER}/protocol_types"), get(protocol_types))
            .route(&format!("{UNDER}/log_source_types"), get(log_source_types))
            .route(
                &format!("{UNDER}/log_sources"),
                get(list_sources).post(create_source).patch(update_sources),
            )
            .with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Qradar {
            base: format!("http://{addr}/api"),
            inner,
            _stop: stop,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The requests received, as `METHOD path?query`, the common prefix cut.
    pub fn calls(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri.replacen(UNDER, "", 1)))
            .collect()
    }

    pub fn log_sources(&self) -> Vec<Value> {
        lock(&self.inner).log_sources.clone()
    }

    /// From now on, GETs answer every Client Secret as `********`.
    pub fn hide_secrets(&self) {
        lock(&self.inner).hide_secrets = true;
    }

    /// A log source someone made by hand before handoff came.
    pub fn add_log_source(&self, source: Value) {
        lock(&self.inner).log_sources.push(source);
    }

    /// Removes the parameter labelled `label` from the Office 365 protocol.
    pub fn drop_label(&self, label: &str) {
        self.drop_label_of(PROTOCOL_ID, label);
    }

    /// Removes the parameter labelled `label` from the Graph protocol.
    pub fn drop_graph_label(&self, label: &str) {
        self.drop_label_of(GRAPH_PROTOCOL_ID, label);
    }

    fn drop_label_of(&self, protocol: i64, label: &str) {
        let mut g = lock(&self.inner);
        for p in g.protocols.iter_mut().filter(|p| p.id == protocol) {
            p.parameters.retain(|q| q.label != label);
        }
    }

    /// The log sources of the type `type_id`.
    pub fn log_sources_of(&self, type_id: i64) -> Vec<Value> {
        self.log_sources()
            .into_iter()
            .filter(|s| s["type_id"] == type_id)
            .collect()
    }
}

fn qradar_error(status: StatusCode, code: i64, message: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "http_response": {"code": status.as_u16(), "message": status.canonical_reason()},
            "code": code,
            "description": description,
            "details": {},
            "message": message,
        })),
    )
        .into_response()
}

/// Records the request and checks its `SEC` token.
fn admit(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<Response>> {
    let mut g = lock(inner);
    g.received.push(Received::new(method, uri, headers, body));
    let sec = headers.get("sec").and_then(|v| v.to_str().ok());
    if sec != Some(g.token.as_str()) {
        return Err(Box::new(qradar_error(
            StatusCode::UNAUTHORIZED,
            22,
            "You are unauthorized to access the requested resource.",
            "",
        )));
    }
    Ok(())
}

/// `name="X"` → X.
fn filter_name(q: &std::collections::HashMap<String, String>) -> Option<String> {
    let f = q.get("filter")?;
    Some(f.strip_prefix("name=\"")?.strip_suffix('"')?.to_owned())
}

type Q = Query<std::collections::HashMap<String, String>>;

async fn protocol_types(
    State(inner): State<Shared>,
    Query(q): Q,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let g = lock(&inner);
    let all: Vec<Value> = g
        .protocols
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "parameters": p.parameters.iter().map(|q| json!({
                    "id": q.id, "name": q.name, "label": q.label, "type": "STRING",
                    "required": true, "allowed_values": q.allowed,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let name = filter_name(&q);
    let found: Vec<Value> = all
        .into_iter()
        .filter(|p| name.as_deref().is_none_or(|n| p["name"] == n))
        .collect();
    axum::Json(Value::Array(found)).into_response()
}

async fn log_source_types(
    State(inner): State<Shared>,
    Query(q): Q,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let all: Vec<Value> = lock(&inner)
        .protocols
        .iter()
        .map(|p| {
            json!({"id": p.type_id, "name": p.type_name, "internal": false,
                   "protocol_types": [{"protocol_id": p.id, "documented": true}]})
        })
        .collect();
    let name = filter_name(&q);
    let found: Vec<Value> = all
        .into_iter()
        .filter(|t| name.as_deref().is_none_or(|n| t["name"] == n))
        .collect();
    axum::Json(Value::Array(found)).into_response()
}

/// QRadar's 422 for a parameter `protocol` does not have, or a value
/// outside a parameter's `allowed_values`.
fn check_parameters(protocol: &Protocol, params: &Value) -> Result<(), Box<Response>> {
    for p in params.as_array().cloned().unwrap_or_default() {
        let Some(known) = protocol.parameters.iter().find(|q| p["name"] == q.name) else {
            return Err(Box::new(qradar_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                1005,
                &format!(
                    "The protocol parameter {} does not exist for the protocol type.",
                    p["name"]
                ),
                "",
            )));
        };
        let value = p["value"].as_str().unwrap_or_default();
        if !known.allowed.is_empty() && !known.allowed.iter().any(|a| a == value) {
            return Err(Box::new(qradar_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                1005,
                &format!(
                    "The value {value:?} is not allowed for the protocol parameter {}.",
                    known.name
                ),
                "",
            )));
        }
    }
    Ok(())
}

fn identifier(source: &Value) -> Option<String> {
    source["protocol_parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == "identifier")
        .and_then(|p| p["value"].as_str().map(str::to_owned))
}

async fn list_sources(
    State(inner): State<Shared>,
    Query(q): Q,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &Bytes::new()) {
        return *r;
    }
    let type_id = q
        .get("filter")
        .and_then(|f| f.strip_prefix("type_id="))
        .and_then(|t| t.parse::<i64>().ok());
    let g = lock(&inner);
    let secret_names: Vec<&str> = g
        .protocols
        .iter()
        .flat_map(|p| &p.parameters)
        .filter(|p| p.label == "Client Secret")
        .map(|p| p.name.as_str())
        .collect();
    let found: Vec<Value> = g
        .log_sources
        .iter()
        .filter(|s| type_id.is_none_or(|t| s["type_id"] == t))
        .cloned()
        .map(|mut s| {
            if g.hide_secrets {
                for p in s["protocol_parameters"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    if p["name"]
                        .as_str()
                        .is_some_and(|n| secret_names.contains(&n))
                    {
                        p["value"] = json!("********");
                    }
                }
            }
            s
        })
        .collect();
    axum::Json(Value::Array(found)).into_response()
}

async fn create_source(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &body) {
        return *r;
    }
    let Ok(mut source) = serde_json::from_slice::<Value>(&body) else {
        return qradar_error(StatusCode::UNPROCESSABLE_ENTITY, 1005, "Invalid JSON", "");
    };
    let mut g = lock(&inner);
    let Some(protocol) = g
        .protocols
        .iter()
        .find(|p| source["type_id"] == p.type_id && source["protocol_type_id"] == p.id)
    else {
        return qradar_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            1005,
            "The protocol type is not supported by the log source type.",
            "The log source could not be created.",
        );
    };
    if let Err(r) = check_parameters(protocol, &source["protocol_parameters"]) {
        return *r;
    }
    let ident = identifier(&source);
    if ident.is_none()
        || g.log_sources
            .iter()
            .any(|s| identifier(s) == ident && s["type_id"] == source["type_id"])
    {
        return qradar_error(
            StatusCode::CONFLICT,
            1008,
            "A log source with the same identifier and type already exists.",
            "The log source could not be created.",
        );
    }
    source["id"] = json!(200 + g.log_sources.len());
    g.log_sources.push(source.clone());
    (StatusCode::CREATED, axum::Json(source)).into_response()
}

async fn update_sources(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&inner, &method, &uri, &headers, &body) {
        return *r;
    }
    let Ok(Value::Array(updates)) = serde_json::from_slice::<Value>(&body) else {
        return qradar_error(StatusCode::UNPROCESSABLE_ENTITY, 1005, "Invalid JSON", "");
    };
    let mut guard = lock(&inner);
    let g = &mut *guard;
    for u in updates {
        let Some(source) = g.log_sources.iter_mut().find(|s| s["id"] == u["id"]) else {
            return qradar_error(StatusCode::NOT_FOUND, 1002, "Log source not found", "");
        };
        let protocol = g
            .protocols
            .iter()
            .find(|p| source["protocol_type_id"] == p.id);
        if let Some(Err(r)) = protocol.map(|p| check_parameters(p, &u["protocol_parameters"])) {
            return *r;
        }
        if let Some(description) = u.get("description") {
            source["description"] = description.clone();
        }
        for p in u["protocol_parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let params = source["protocol_parameters"]
                .as_array_mut()
                .expect("params");
            match params.iter_mut().find(|q| q["name"] == p["name"]) {
                Some(q) => q["value"] = p["value"].clone(),
                None => params.push(p),
            }
        }
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": 9001, "status": "QUEUED", "name": "log source bulk update"})),
    )
        .into_response()
}
