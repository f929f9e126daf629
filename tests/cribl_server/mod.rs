//! A local stand-in for a Cribl Stream Leader's REST API (`/api/v1`), as
//! much of it as `handoff collect --target cribl` uses, built from Cribl's
//! published API description (criblio/cribl-control-plane-sdk-go,
//! `.speakeasy/out.openapi.yaml`) and, for stored secrets, which it leaves
//! out, Cribl's Terraform provider (criblio/terraform-provider-criblio,
//! `internal/provider/secret_client.go`, `masked_secret.go`):
//!
//! - `POST /auth/login {"username", "password"}`: `200 {"token",
//!   "forcePasswordChange": false}`, or `401 {"status": "error", "message"}`;
//! - everything else wants `Authorization: Bearer <token>` (the API token it
//!   was started with, or one it issued), else `401 {"status": "error",
//!   "message": "Unauthorized"}`;
//! - every answer is `{count, items}`, every error `{"status": "error",
//!   "message"}`;
//! - `GET /products/stream/groups/{id}?fields=...`: the group with
//!   `configVersion` and `git: {commit, localChanges}`; 404 for another id;
//! - under `/m/{group}` (or at the base for a single instance):
//!   `GET`/`POST /system/secrets`, `PATCH /system/secrets/{id}` (the whole
//!   secret; a GET answers its `value` as asterisks, never in clear),
//!   `GET`/`POST /system/inputs`, `PATCH /system/inputs/{id}` (the whole
//!   Source; a GET adds the runtime `status` and `notifications`, which a
//!   write must not carry, nor `criblSourceProvenance`), `POST
//!   /version/commit {"message"}` (`items[0].commit`, a new hash; 500 when
//!   there is nothing to commit) and, single instance, `GET /version/status`;
//! - `PATCH /products/stream/groups/{id}/deploy {"version"}`: a known commit
//!   becomes the group's `configVersion`.
//!
//! Every write to a group counts as an uncommitted change until a commit.
//! It records every request it receives.
#![allow(dead_code)]

use crate::common::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

pub use crate::common::Received;

/// The `planType` values of `SubscriptionPlanOptions`.
const PLANS: [&str; 4] = ["enterprise_gcc", "gcc", "gcc_high", "dod"];

/// One group's configuration (or the single instance's, under `""`).
#[derive(Default, Clone)]
pub struct Scope {
    pub secrets: Vec<Value>,
    pub inputs: Vec<Value>,
    pub local_changes: u64,
    /// (commit id, message), oldest first.
    pub commits: Vec<(String, String)>,
    /// The deployed commit.
    pub config_version: String,
}

struct Inner {
    token: String,
    user: String,
    password: String,
    issued: Vec<String>,
    received: Vec<Received>,
    scopes: BTreeMap<String, Scope>,
    /// Deploys fail with this message.
    refuse_deploy: Option<String>,
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Cribl {
    /// `http://127.0.0.1:<port>/api/v1`, what `--api-url` takes.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

impl Cribl {
    /// A Leader with the worker groups `groups` (and a single instance's
    /// scope), accepting the bearer token `token` and the user
    /// `user:password`.
    pub async fn start(token: &str, user: &str, password: &str, groups: &[&str]) -> Cribl {
        let mut scopes: BTreeMap<String, Scope> = groups
            .iter()
            .map(|g| {
                (
                    (*g).to_owned(),
                    Scope {
                        commits: vec![("0000init".to_owned(), "initial".to_owned())],
                        config_version: "0000init".to_owned(),
                        ..Scope::default()
                    },
                )
            })
            .collect();
        scopes.insert(String::new(), Scope::default());
        let inner: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            issued: Vec::new(),
            received: Vec::new(),
            scopes,
            refuse_deploy: None,
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Cribl {
            base: format!("http://{addr}/api/v1"),
            inner,
            _stop: stop,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The requests received, as `METHOD path?query`, `/api/v1` cut.
    pub fn calls(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri.replacen("/api/v1", "", 1)))
            .collect()
    }

    /// A group's state (`""`: the single instance).
    pub fn scope(&self, group: &str) -> Scope {
        lock(&self.inner)
            .scopes
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes the group's state as an operator would in the UI.
    pub fn edit(&self, group: &str, f: impl FnOnce(&mut Scope)) {
        let mut g = lock(&self.inner);
        f(g.scopes.entry(group.to_owned()).or_default());
    }

    pub fn refuse_deploys(&self, message: Option<&str>) {
        lock(&self.inner).refuse_deploy = message.map(str::to_owned);
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"status": "error", "message": message})),
    )
        .into_response()
}

fn counted(items: Vec<Value>) -> Response {
    axum::Json(json!({"count": items.len(), "items": items})).into_response()
}

/// A secret as a GET answers it: the value never in clear.
fn masked(secret: &Value) -> Value {
    let mut s = secret.clone();
    if s.get("value").is_some() {
        s["value"] = json!("********");
    }
    s
}

/// A Source as a GET answers it: with its runtime status.
fn with_status(input: &Value) -> Value {
    let mut i = input.clone();
    i["status"] = json!({"health": "Green", "timestamp": 1_764_500_000_000_i64});
    i["notifications"] = json!([]);
    i
}

async fn handle(
    axum::extract::State(inner): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = lock(&inner);
    g.received
        .push(Received::new(&method, &uri, &headers, &body));
    let Some(path) = uri.path().strip_prefix("/api/v1/") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let path = path.to_owned();
    let json_body = serde_json::from_slice::<Value>(&body).ok();

    if method == Method::POST && path == "auth/login" {
        let user = json_body.as_ref().and_then(|b| b["username"].as_str());
        let pass = json_body.as_ref().and_then(|b| b["password"].as_str());
        if user != Some(g.user.as_str()) || pass != Some(g.password.as_str()) {
            return error(StatusCode::UNAUTHORIZED, "Invalid username or password");
        }
        let token = format!("session-{}", g.issued.len() + 1);
        g.issued.push(token.clone());
        return axum::Json(json!({"token": token, "forcePasswordChange": false})).into_response();
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = bearer.is_some_and(|b| b == g.token || g.issued.iter().any(|t| t == b));
    if !allowed {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }

    let parts: Vec<&str> = path.split('/').collect();
    // Leader context: the group and its deploy.
    if let ["products", "stream", "groups", id, rest @ ..] = parts.as_slice() {
        let id = (*id).to_owned();
        let Some(scope) = g.scopes.get(&id).filter(|_| !id.is_empty()).cloned() else {
            return error(StatusCode::NOT_FOUND, &format!("Group {id} not found"));
        };
        return match (method.as_str(), rest) {
            ("GET", []) => {
                let head = scope
                    .commits
                    .last()
                    .map(|c| c.0.clone())
                    .unwrap_or_default();
                counted(vec![json!({
                    "id": id, "configVersion": scope.config_version,
                    "git": {"commit": head, "localChanges": scope.local_changes},
                })])
            }
            ("PATCH", ["deploy"]) => {
                if let Some(why) = g.refuse_deploy.clone() {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, &why);
                }
                let version = json_body
                    .as_ref()
                    .and_then(|b| b["version"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                if !scope.commits.iter().any(|c| c.0 == version) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("Unknown version {version}"),
                    );
                }
                let s = g.scopes.get_mut(&id).expect("scope");
                s.config_version = version;
                counted(vec![json!({"id": id, "configVersion": s.config_version})])
            }
            _ => error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let (scope_id, rest): (String, &[&str]) = match parts.as_slice() {
        ["m", group, rest @ ..] => ((*group).to_owned(), rest),
        rest => (String::new(), rest),
    };
    let Some(scope) = g.scopes.get_mut(&scope_id).filter(|_| {
        // A group's context exists only for a group.
        scope_id.is_empty() != parts.starts_with(&["m"])
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Group {scope_id} not found"),
        );
    };
    match (method.as_str(), rest) {
        ("GET", ["system", "secrets"]) => counted(scope.secrets.iter().map(masked).collect()),
        ("POST", ["system", "secrets"]) => {
            let Some(secret) = json_body else {
                return error(StatusCode::BAD_REQUEST, "Invalid JSON");
            };
            let id = secret["id"].as_str().unwrap_or_default().to_owned();
            if scope.secrets.iter().any(|s| s["id"] == id.as_str()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Secret with id {id} already exists"),
                );
            }
            if secret["secretType"] != "text" || !secret["value"].is_string() {
                return error(StatusCode::BAD_REQUEST, "A text secret needs a value");
            }
            scope.secrets.push(secret.clone());
            scope.local_changes += 1;
            counted(vec![masked(&secret)])
        }
        ("PATCH", ["system", "secrets", id]) => {
            let Some(secret) = json_body else {
                return error(StatusCode::BAD_REQUEST, "Invalid JSON");
            };
            let Some(at) = scope.secrets.iter().position(|s| s["id"] == *id) else {
                return error(StatusCode::NOT_FOUND, &format!("Secret {id} not found"));
            };
            if secret["value"] == "********" {
                return error(StatusCode::BAD_REQUEST, "Refusing to store a masked value");
            }
            scope.secrets[at] = secret.clone();
            scope.local_changes += 1;
            counted(vec![masked(&secret)])
        }
        ("GET", ["system", "inputs"]) => counted(scope.inputs.iter().map(with_status).collect()),
        ("POST", ["system", "inputs"]) | ("PATCH", ["system", "inputs", _]) => {
            let Some(input) = json_body else {
                return error(StatusCode::BAD_REQUEST, "Invalid JSON");
            };
            if let Some(why) = invalid_input(&input) {
                return error(StatusCode::BAD_REQUEST, &why);
            }
            let id = input["id"].as_str().unwrap_or_default().to_owned();
            let at = scope.inputs.iter().position(|i| i["id"] == id.as_str());
            match (method.as_str(), at, rest) {
                ("POST", Some(_), _) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("Input with id {id} already exists"),
                    );
                }
                ("POST", None, _) => scope.inputs.push(input.clone()),
                (_, Some(at), [_, _, path_id]) if *path_id == id => {
                    scope.inputs[at] = input.clone();
                }
                _ => return error(StatusCode::NOT_FOUND, &format!("Input {id} not found")),
            }
            scope.local_changes += 1;
            counted(vec![input])
        }
        ("POST", ["version", "commit"]) => {
            let message = json_body
                .as_ref()
                .and_then(|b| b["message"].as_str())
                .map(str::to_owned);
            let Some(message) = message else {
                return error(StatusCode::BAD_REQUEST, "message is required");
            };
            if scope.local_changes == 0 {
                return error(StatusCode::INTERNAL_SERVER_ERROR, "Nothing to commit");
            }
            let commit = format!("{:040x}", 0xc0ffee_u64 + scope.commits.len() as u64);
            let changes = scope.local_changes;
            scope.commits.push((commit.clone(), message));
            scope.local_changes = 0;
            if scope_id.is_empty() {
                // A single instance applies its commit itself.
                scope.config_version = commit.clone();
            }
            counted(vec![json!({
                "branch": "master", "commit": commit,
                "summary": {"changes": changes, "insertions": changes, "deletions": 0},
            })])
        }
        ("GET", ["version", "status"]) if scope_id.is_empty() => {
            let files: Vec<Value> = (0..scope.local_changes)
                .map(|n| json!({"path": format!("local/cribl/file{n}.yml"), "index": " ", "working_dir": "M"}))
                .collect();
            counted(vec![json!({"current": "master", "files": files})])
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Why a Source body is not one Cribl takes, if it is not.
fn invalid_input(input: &Value) -> Option<String> {
    let Some(map): Option<&Map<String, Value>> = input.as_object() else {
        return Some("Input must be an object".to_owned());
    };
    for field in ["status", "notifications", "criblSourceProvenance"] {
        if map.contains_key(field) {
            return Some(format!("{field} is system-managed and must be omitted"));
        }
    }
    if map.get("type").and_then(Value::as_str) == Some("office365_mgmt") {
        for field in ["tenantId", "appId", "planType"] {
            if !map.get(field).is_some_and(Value::is_string) {
                return Some(format!("must have required property '{field}'"));
            }
        }
        let plan = map["planType"].as_str().unwrap_or_default();
        if !PLANS.contains(&plan) {
            return Some(format!(
                "planType must be equal to one of the allowed values ({plan})"
            ));
        }
    }
    None
}
