//! A local stand-in for Kibana's Fleet API, as much of it as `handoff
//! collect --target elastic-agent` uses, built from Kibana's Fleet API
//! reference (elastic.co/docs/api/doc/kibana, "Fleet package policies",
//! "Elastic Package Manager (EPM)", "Fleet agent policies") and Fleet's
//! secret handling (`VarSecretReference` in Kibana's fleet plugin,
//! `common/types/models/secret.ts`):
//!
//! - every request wants `Authorization: ApiKey <key>`, else Kibana's error
//!   shape, `401 {"statusCode": 401, "error": "Unauthorized", "message":
//!   "..."}`; a write without `kbn-xsrf` is a 400;
//! - `GET /api/fleet/epm/packages/{name}`: the package as installed (or
//!   `"status": "not_installed"`), with its policy templates' inputs and
//!   data streams' streams and their variables, as the packages' manifests
//!   in elastic/integrations declare them (trimmed to what matters here);
//! - `GET /api/fleet/agent_policies/{id}` (404 "Agent policy X not found");
//! - `GET /api/fleet/package_policies?kuery=ingest-package-policies.name:"X"&format=simplified`,
//!   `POST /api/fleet/package_policies` (simplified format; 409 for a name
//!   already taken; 400 for a required variable left empty on an enabled
//!   input or stream), `PUT /api/fleet/package_policies/{id}`.
//!
//! Policies are kept in the simplified format. A secret variable's value is
//! moved to a secret store and the policy keeps `{"isSecretRef": true,
//! "id"}` in its place, which is also what a GET answers; a PUT that sends
//! the reference back keeps the secret, one that sends a value replaces it
//! with a new secret and a new id.
//!
//! It records every request it receives.
#![allow(dead_code)]

use crate::common::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

pub use crate::common::Received;

pub const AGENT_POLICY: &str = "2b820230-4b54-11ed-b107-4bfe66d759e4";
pub const O365_VERSION: &str = "3.8.0";
pub const DEFENDER_VERSION: &str = "2.14.2";

struct Inner {
    api_key: String,
    received: Vec<Received>,
    /// Package name → `item` of `GET /api/fleet/epm/packages/{name}`.
    packages: BTreeMap<String, Value>,
    agent_policies: Vec<String>,
    /// In the simplified format, secrets as references.
    policies: Vec<Value>,
    /// Secret id → value: Fleet's secret store.
    secrets: BTreeMap<String, String>,
    next_id: u32,
}

type Shared = crate::common::Shared<Inner>;

/// A running stand-in; stops when dropped.
pub struct Fleet {
    /// `http://127.0.0.1:<port>`, Kibana's base URL, what `--api-url` takes.
    pub base: String,
    inner: Shared,
    _stop: oneshot::Sender<()>,
}

fn var(name: &str, required: bool, default: Value) -> Value {
    let mut v = json!({"name": name, "type": "text", "required": required, "show_user": true});
    if !default.is_null() {
        v["default"] = default;
    }
    v
}

fn secret_var(name: &str) -> Value {
    json!({"name": name, "type": "password", "required": true, "show_user": true, "secret": true})
}

/// `packages/o365`: `manifest.yml` and `data_stream/audit/manifest.yml`.
fn o365() -> Value {
    json!({
        "name": "o365", "title": "Microsoft Office 365", "version": O365_VERSION,
        "status": "installed",
        "policy_templates": [{"name": "o365", "title": "Office 365 logs", "inputs": [
            {"type": "cel", "title": "Collect audit logs"},
            {"type": "o365audit", "title": "DEPRECATED - Collect audit logs"},
        ]}],
        "data_streams": [{"dataset": "o365.audit", "type": "logs", "streams": [
            {"input": "cel", "enabled": true, "vars": [
                var("url", false, json!("https://manage.office.com")),
                var("interval", true, json!("3m")),
                var("azure_tenant_id", true, Value::Null),
                var("client_id", true, Value::Null),
                secret_var("client_secret"),
                var("token_url", false, json!("https://login.microsoftonline.com")),
                var("token_scopes", true, json!(["https://manage.office.com/.default"])),
                var("content_types", true, json!("Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All")),
                var("initial_interval", true, json!("167h55m")),
                var("batch_interval", true, json!("1h")),
                var("preserve_original_event", true, json!(false)),
            ]},
            {"input": "o365audit", "enabled": false, "vars": [
                var("application_id", true, Value::Null),
                var("tenants", true, json!(["tenant-id"])),
            ]},
        ]}],
    })
}

/// `packages/m365_defender`: `manifest.yml` (the input's variables) and
/// `data_stream/incident/manifest.yml`.
fn m365_defender() -> Value {
    json!({
        "name": "m365_defender", "title": "Microsoft M365 Defender", "version": DEFENDER_VERSION,
        "status": "installed",
        "policy_templates": [{"name": "m365_defender", "title": "M365 Defender Logs", "inputs": [
            {"type": "httpjson", "title": "Collect logs from M365 Defender API", "vars": [
                var("login_url", true, json!("https://login.microsoftonline.com")),
                var("token_endpoint", true, json!("oauth2/v2.0/token")),
                var("client_id", true, Value::Null),
                secret_var("client_secret"),
                var("tenant_id", true, Value::Null),
                var("proxy_url", false, Value::Null),
            ]},
            {"type": "azure-eventhub", "title": "Collect logs from Azure Event Hub", "vars": [
                var("eventhub", true, Value::Null),
                secret_var("connection_string"),
            ]},
        ]}],
        "data_streams": [
            {"dataset": "m365_defender.alert", "type": "logs", "streams": [
                {"input": "httpjson", "vars": [var("request_url", true, json!("https://graph.microsoft.com"))]},
            ]},
            {"dataset": "m365_defender.event", "type": "logs", "streams": [
                {"input": "azure-eventhub", "vars": []},
            ]},
            {"dataset": "m365_defender.incident", "type": "logs", "streams": [
                {"input": "httpjson", "vars": [
                    var("request_url", true, json!("https://graph.microsoft.com")),
                    var("initial_interval", true, json!("24h")),
                    var("interval", true, json!("1m")),
                    var("batch_size", true, json!(50)),
                ]},
            ]},
        ],
    })
}

impl Fleet {
    /// A Kibana accepting the API key `api_key` (its encoded form), with
    /// both packages installed and one agent policy, [`AGENT_POLICY`].
    pub async fn start(api_key: &str) -> Fleet {
        let packages = [o365(), m365_defender()]
            .into_iter()
            .map(|p| (p["name"].as_str().unwrap().to_owned(), p))
            .collect();
        let inner: Shared = Arc::new(Mutex::new(Inner {
            api_key: api_key.to_owned(),
            received: Vec::new(),
            packages,
            agent_policies: vec![AGENT_POLICY.to_owned()],
            policies: Vec::new(),
            secrets: BTreeMap::new(),
            next_id: 1,
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let (addr, stop) = crate::common::serve_on_loopback(app).await;
        Fleet {
            base: format!("http://{addr}"),
            inner,
            _stop: stop,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.inner).received.clone()
    }

    /// The requests received, as `METHOD path?query`, `/api/fleet` cut.
    pub fn calls(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.uri.replacen("/api/fleet", "", 1)))
            .collect()
    }

    /// The stored package policies, as a GET answers them.
    pub fn policies(&self) -> Vec<Value> {
        lock(&self.inner).policies.clone()
    }

    /// The value behind a secret reference.
    pub fn secret(&self, reference: &Value) -> Option<String> {
        let id = reference["id"].as_str()?;
        lock(&self.inner).secrets.get(id).cloned()
    }

    /// How many secrets Fleet's store holds.
    pub fn secret_count(&self) -> usize {
        lock(&self.inner).secrets.len()
    }

    /// Changes a stored policy the way an operator would in Kibana.
    pub fn edit_policy(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut g = lock(&self.inner);
        let p = g
            .policies
            .iter_mut()
            .find(|p| p["name"] == name)
            .expect("policy");
        edit(p);
    }

    /// A policy someone made by hand before handoff came.
    pub fn add_policy(&self, policy: Value) {
        lock(&self.inner).policies.push(policy);
    }

    /// Makes `name` a package that is not installed.
    pub fn uninstall(&self, name: &str) {
        let mut g = lock(&self.inner);
        let p = g.packages.get_mut(name).expect("package");
        p["status"] = json!("not_installed");
    }

    /// Removes variable `var` from every stream of the installed `package`.
    pub fn drop_stream_var(&self, package: &str, var: &str) {
        let mut g = lock(&self.inner);
        let p = g.packages.get_mut(package).expect("package");
        for ds in p["data_streams"].as_array_mut().unwrap() {
            for s in ds["streams"].as_array_mut().unwrap() {
                if let Some(vars) = s["vars"].as_array_mut() {
                    vars.retain(|v| v["name"] != var);
                }
            }
        }
    }
}

fn kibana_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "statusCode": status.as_u16(),
            "error": status.canonical_reason(),
            "message": message,
        })),
    )
        .into_response()
}

/// [`kibana_error`], boxed for a `Result`'s error.
fn boxed_error(status: StatusCode, message: &str) -> Box<Response> {
    Box::new(kibana_error(status, message))
}

const UNAUTHENTICATED: &str = "[security_exception\n\tRoot causes:\n\t\tsecurity_exception: unable to authenticate with provided credentials and anonymous access is not allowed for REST request [/_security/_authenticate]]: unable to authenticate with provided credentials and anonymous access is not allowed for REST request [/_security/_authenticate]";

async fn handle(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut g = lock(&inner);
    g.received
        .push(Received::new(&method, &uri, &headers, &body));
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("ApiKey {}", g.api_key) {
        return kibana_error(StatusCode::UNAUTHORIZED, UNAUTHENTICATED);
    }
    if method != Method::GET && !headers.contains_key("kbn-xsrf") {
        return kibana_error(
            StatusCode::BAD_REQUEST,
            "Request must contain a kbn-xsrf header.",
        );
    }
    let path = uri.path().to_owned();
    let segments: Vec<&str> = path
        .strip_prefix("/api/fleet/")
        .unwrap_or_default()
        .split('/')
        .collect();
    let query: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://kibana{uri}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["epm", "packages", name]) => match g.packages.get(*name) {
            Some(item) => axum::Json(json!({"item": item})).into_response(),
            None => kibana_error(
                StatusCode::NOT_FOUND,
                &format!("[{name}] package not found in registry"),
            ),
        },
        ("GET", ["agent_policies", id]) => {
            let id = percent_decode(id);
            if g.agent_policies.contains(&id) {
                axum::Json(
                    json!({"item": {"id": id, "name": "SOC collectors", "namespace": "default"}}),
                )
                .into_response()
            } else {
                kibana_error(
                    StatusCode::NOT_FOUND,
                    &format!("Agent policy {id} not found"),
                )
            }
        }
        ("GET", ["package_policies"]) => list(&g, &query),
        ("POST", ["package_policies"]) => create(&mut g, &body),
        ("PUT", ["package_policies", id]) => update(&mut g, id, &body),
        _ => kibana_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn percent_decode(s: &str) -> String {
    reqwest::Url::parse(&format!("http://kibana/?x={s}"))
        .ok()
        .and_then(|u| u.query_pairs().next().map(|(_, v)| v.into_owned()))
        .unwrap_or_default()
}

fn list(g: &Inner, query: &BTreeMap<String, String>) -> Response {
    let kuery = query.get("kuery").cloned().unwrap_or_default();
    let wanted = if kuery.is_empty() {
        None
    } else {
        let Some(name) = kuery
            .strip_prefix("ingest-package-policies.name:\"")
            .and_then(|k| k.strip_suffix('"'))
        else {
            return kibana_error(
                StatusCode::BAD_REQUEST,
                &format!("KQLSyntaxError: cannot parse kuery {kuery}"),
            );
        };
        Some(name.to_owned())
    };
    let items: Vec<Value> = g
        .policies
        .iter()
        .filter(|p| wanted.as_deref().is_none_or(|n| p["name"] == n))
        .cloned()
        .collect();
    axum::Json(json!({"items": items, "total": items.len(), "page": 1, "perPage": 100}))
        .into_response()
}

/// Checks a simplified policy against its package, fills the defaults of
/// enabled inputs and streams, and moves secret values to the store.
fn store_vars(
    g: &mut Inner,
    package: &Value,
    policy: &mut Value,
    old_refs: &[String],
) -> Result<(), Box<Response>> {
    let template = package["policy_templates"][0]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(inputs) = policy["inputs"].as_object_mut() else {
        return Err(boxed_error(
            StatusCode::BAD_REQUEST,
            "[request body.inputs]: expected an object",
        ));
    };
    for (key, input) in inputs.iter_mut() {
        let Some(input_type) = key.strip_prefix(&format!("{template}-")).map(str::to_owned) else {
            return Err(boxed_error(
                StatusCode::BAD_REQUEST,
                &format!("Input not found: {key}"),
            ));
        };
        let enabled = input["enabled"] != false;
        let mut places: Vec<(Option<String>, Vec<Value>)> = Vec::new();
        let input_vars = package["policy_templates"][0]["inputs"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["type"] == input_type.as_str()))
            .map(|i| i["vars"].as_array().cloned().unwrap_or_default());
        let Some(input_vars) = input_vars else {
            return Err(boxed_error(
                StatusCode::BAD_REQUEST,
                &format!("Input not found: {key}"),
            ));
        };
        places.push((None, input_vars));
        for ds in package["data_streams"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if let Some(s) = ds["streams"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["input"] == input_type.as_str()))
            {
                places.push((
                    ds["dataset"].as_str().map(str::to_owned),
                    s["vars"].as_array().cloned().unwrap_or_default(),
                ));
            }
        }
        for (dataset, declared) in places {
            let holder = match &dataset {
                None => &mut *input,
                Some(ds) => {
                    if input["streams"].get(ds).is_none() {
                        input["streams"][ds] = json!({"enabled": enabled});
                    }
                    &mut input["streams"][ds]
                }
            };
            let on = enabled && holder["enabled"] != false;
            if holder.get("vars").is_none() {
                holder["vars"] = json!({});
            }
            if let Some(given) = holder["vars"].as_object() {
                for name in given.keys() {
                    if !declared.iter().any(|v| v["name"] == name.as_str()) {
                        return Err(boxed_error(
                            StatusCode::BAD_REQUEST,
                            &format!("Variable {key}:{name} not found"),
                        ));
                    }
                }
            }
            for decl in &declared {
                let name = decl["name"].as_str().unwrap_or_default();
                let vars = &mut holder["vars"];
                if vars.get(name).is_none() && decl.get("default").is_some() {
                    vars[name] = decl["default"].clone();
                }
                let value = vars.get(name).cloned().unwrap_or(Value::Null);
                let empty = value.is_null() || value == "";
                if on && empty && decl["required"] == true {
                    let at = dataset
                        .as_deref()
                        .map(|d| format!("streams.{d}."))
                        .unwrap_or_default();
                    return Err(boxed_error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "Package policy is invalid: inputs.{key}.{at}vars.{name}: {name} is required"
                        ),
                    ));
                }
                if decl["secret"] == true && !empty {
                    if let Some(text) = value.as_str() {
                        let id = format!("secret-{}", g.next_id);
                        g.next_id += 1;
                        g.secrets.insert(id.clone(), text.to_owned());
                        vars[name] = json!({"isSecretRef": true, "id": id});
                    } else if value["isSecretRef"] == true {
                        let id = value["id"].as_str().unwrap_or_default();
                        if !old_refs.iter().any(|r| r == id) {
                            return Err(boxed_error(
                                StatusCode::BAD_REQUEST,
                                &format!("secret reference {id} not found"),
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The secret ids a stored policy refers to.
fn refs(policy: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("isSecretRef") == Some(&Value::Bool(true))
                    && let Some(Value::String(id)) = m.get("id")
                {
                    out.push(id.clone());
                }
                for x in m.values() {
                    walk(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&policy["inputs"], &mut out);
    out
}

/// The fields of a create or update body that are kept.
const KEPT: [&str; 8] = [
    "name",
    "description",
    "namespace",
    "policy_ids",
    "output_id",
    "vars",
    "additional_datastreams_permissions",
    "global_data_tags",
];

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
        return Err(boxed_error(
            StatusCode::BAD_REQUEST,
            "[request body]: expected a plain object value",
        ));
    };
    for key in b.keys() {
        if !KEPT.contains(&key.as_str()) && key != "package" && key != "inputs" {
            return Err(boxed_error(
                StatusCode::BAD_REQUEST,
                &format!("[request body.{key}]: definition for this key is missing"),
            ));
        }
    }
    Ok(b)
}

fn create(g: &mut Inner, body: &Bytes) -> Response {
    let b = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
    if g.policies.iter().any(|p| p["name"] == name) {
        return kibana_error(
            StatusCode::CONFLICT,
            &format!(
                "An integration policy with the name {name} already exists. Please rename it or choose a different name."
            ),
        );
    }
    let ids: Vec<String> = b
        .get("policy_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for id in &ids {
        if !g.agent_policies.contains(id) {
            return kibana_error(
                StatusCode::NOT_FOUND,
                &format!("Agent policy {id} not found"),
            );
        }
    }
    let pkg_name = b["package"]["name"].as_str().unwrap_or_default();
    let Some(package) = g.packages.get(pkg_name).cloned() else {
        return kibana_error(
            StatusCode::BAD_REQUEST,
            &format!("Package {pkg_name} not found"),
        );
    };
    if package["status"] != "installed" || b["package"]["version"] != package["version"] {
        return kibana_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Package {pkg_name}-{} is not installed",
                b["package"]["version"].as_str().unwrap_or_default()
            ),
        );
    }
    let mut policy = json!({
        "id": format!("pp-{}", g.next_id),
        "name": name,
        "description": b.get("description").cloned().unwrap_or(json!("")),
        "namespace": b.get("namespace").cloned().unwrap_or(json!("default")),
        "policy_ids": ids,
        "package": {"name": pkg_name, "title": package["title"], "version": package["version"]},
        "inputs": b.get("inputs").cloned().unwrap_or(json!({})),
        "revision": 1,
    });
    g.next_id += 1;
    if let Err(r) = store_vars(g, &package, &mut policy, &[]) {
        return *r;
    }
    g.policies.push(policy.clone());
    axum::Json(json!({"item": policy})).into_response()
}

fn update(g: &mut Inner, id: &str, body: &Bytes) -> Response {
    let b = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(at) = g.policies.iter().position(|p| p["id"] == id) else {
        return kibana_error(
            StatusCode::NOT_FOUND,
            &format!("Package policy {id} not found"),
        );
    };
    let old = g.policies[at].clone();
    let name = b.get("name").and_then(Value::as_str).unwrap_or_default();
    if g.policies
        .iter()
        .any(|p| p["name"] == name && p["id"] != id)
    {
        return kibana_error(
            StatusCode::CONFLICT,
            &format!(
                "An integration policy with the name {name} already exists. Please rename it or choose a different name."
            ),
        );
    }
    let pkg_name = old["package"]["name"].as_str().unwrap_or_default();
    let Some(package) = g.packages.get(pkg_name).cloned() else {
        return kibana_error(StatusCode::BAD_REQUEST, "package not found");
    };
    let mut policy = old.clone();
    for key in KEPT {
        if let Some(v) = b.get(key) {
            policy[key] = v.clone();
        }
    }
    if let Some(inputs) = b.get("inputs") {
        policy["inputs"] = inputs.clone();
    }
    if let Some(v) = b.get("package").and_then(|p| p.get("version")) {
        policy["package"]["version"] = v.clone();
    }
    policy["revision"] = json!(old["revision"].as_i64().unwrap_or(1) + 1);
    let old_refs = refs(&old);
    if let Err(r) = store_vars(g, &package, &mut policy, &old_refs) {
        return *r;
    }
    let kept = refs(&policy);
    for r in old_refs.iter().filter(|r| !kept.contains(r)) {
        g.secrets.remove(r);
    }
    g.policies[at] = policy.clone();
    axum::Json(json!({"item": policy})).into_response()
}
