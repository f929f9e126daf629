//! `elastic-agent`: one Elastic Agent integration policy (a Fleet *package
//! policy*) per tenant, created or updated through Kibana's Fleet API
//! (`--api-url https://kibana.example:5601`, or `.../s/<space>` for a
//! Kibana space), so that the agents of one agent policy
//! (`--fleet-agent-policy ID`) collect the tenant's logs.
//!
//! Every request carries the API key of `--api-token-file` as
//! `Authorization: ApiKey <key>`, `kbn-xsrf: true` (Kibana refuses a write
//! without it), `Elastic-Api-Version: 2023-10-31` (the one version of
//! Kibana's public Fleet API; pinning it keeps the answers' shape) and
//! `Accept: application/json`. Kibana's errors are
//! `{"statusCode", "error", "message"}`, shown in its own words.
//!
//! Which package, input and variables, from the packages' manifests in
//! elastic/integrations:
//!
//! - `o365-management` → package `o365` (`manifest.yml`: policy template
//!   `o365`, input type `cel`, so the input is `o365-cel`), data stream
//!   `o365.audit` (`data_stream/audit/manifest.yml`), whose stream variables
//!   are `azure_tenant_id` (one tenant per policy), `client_id`,
//!   `client_secret` (a password, stored as a Fleet secret since 2.3.0,
//!   `changelog.yml`), `url` (the Management API's base), `token_url` (the
//!   sign-in host; `agent/stream/cel.yml.hbs` appends
//!   `/<tenant>/oauth2/v2.0/token`), `token_scopes` (a list) and
//!   `content_types` (one comma-separated string; the CEL program splits
//!   and trims it, and starts each subscription itself).
//! - `defender-incidents` → package `m365_defender` (policy template
//!   `m365_defender`, input `m365_defender-httpjson`), whose input variables
//!   are `login_url`, `token_endpoint` (`oauth2/v2.0/token`), `client_id`,
//!   `client_secret` (`secret: true`) and `tenant_id`, and the stream
//!   `m365_defender.incident`'s `request_url` (Graph's base;
//!   `agent/stream/httpjson.yml.hbs` asks `{request_url}/v1.0/security/incidents`
//!   with the scope `{request_url}/.default`). The input's other streams
//!   are created disabled, and so are the package's other inputs.
//!
//! Planning reads before it sends:
//!
//! 1. `GET /api/fleet/epm/packages/<package>`: the package as installed
//!    (`item.status` must be `installed`; `item.version` is then the
//!    installed version). Every variable handoff sets must be declared by
//!    the installed version (`item.policy_templates[].inputs[].vars`,
//!    `item.data_streams[].streams[].vars`), else the import is refused
//!    with a sentence naming it and nothing is created.
//! 2. `GET /api/fleet/package_policies?kuery=ingest-package-policies.name:"handoff-<package>-<tenant id>"&format=simplified`:
//!    the integration policy named after the package and the tenant — not
//!    the customer's label, so that a rename never makes a duplicate.
//!
//! Absent, `GET /api/fleet/agent_policies/<id>` checks the agent policy
//! (Kibana's 404 is the refusal), then the plan is `POST
//! /api/fleet/package_policies` in Fleet's simplified format (`{name,
//! description, policy_ids, package: {name, version}, inputs: {<input>:
//! {enabled, vars, streams: {<data stream>: {enabled, vars}}}}}`; the
//! namespace is left to the agent policy's). Present, handoff compares each
//! variable it sets with the policy's; all equal, nothing is sent;
//! otherwise `PUT /api/fleet/package_policies/<id>` with the policy as read
//! and only the differing variables changed, so an operator's own settings
//! (interval, processors, agent policies, namespace, enabled streams) stay.
//!
//! Fleet never shows a stored secret again: a GET answers a secret variable
//! as a reference, `{"isSecretRef": true, "id": "..."}`. To recognise the
//! same secret on a second import, handoff keeps the first 8 hex digits of
//! the secret's SHA-256 (the digest `--dry-run` shows, see
//! [`masked_secret`](super::masked_secret)) in the policy's description, as
//! `[handoff secret sha256:1a2b3c4d]`, and compares that. A reference with
//! another digest, or none, counts as a different secret (a rotation, or a
//! secret someone typed in Kibana) and is replaced; a PUT sends the other
//! secret references back as they were read, which Fleet keeps.

use std::collections::BTreeSet;

use reqwest::{Method, Url};
use serde_json::{Map, Value, json};

use super::api::{Api, ApiRequest, Auth, Confirm};
use super::mask::{digest_in, secret_digest, with_digest};
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cloud::Cloud;

/// What it takes from a template's `[collect]` section: `o365-management`'s
/// content types; `defender-incidents` needs none.
pub(super) const READS: Reads = Reads::ContentTypesIfListed;

/// Kibana's public API version (`Elastic-Api-Version`).
const API_VERSION: &str = "2023-10-31";

/// The saved-object type a `kuery` on package policies names its fields by.
const POLICY_TYPE: &str = "ingest-package-policies";

/// What a missing field reads as.
static NULL: Value = Value::Null;

/// Where a variable lives in a package policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// The input's own variables (`inputs.<input>.vars`).
    Input,
    /// The handoff stream's variables (`inputs.<input>.streams.<data stream>.vars`).
    Stream,
}

/// A Fleet package handoff writes, as its manifests name its parts.
#[derive(Debug, PartialEq, Eq)]
struct Package {
    /// The package's name in Fleet (`o365`).
    name: &'static str,
    /// Its title in Kibana's Integrations app.
    title: &'static str,
    /// The policy template holding the input.
    policy_template: &'static str,
    /// The input's type (`cel`).
    input_type: &'static str,
    /// The data stream collected (`o365.audit`).
    data_stream: &'static str,
}

const O365: Package = Package {
    name: "o365",
    title: "Microsoft Office 365",
    policy_template: "o365",
    input_type: "cel",
    data_stream: "o365.audit",
};

const M365_DEFENDER: Package = Package {
    name: "m365_defender",
    title: "Microsoft M365 Defender",
    policy_template: "m365_defender",
    input_type: "httpjson",
    data_stream: "m365_defender.incident",
};

impl Package {
    /// The input's key in the simplified format: `<policy template>-<type>`.
    fn input_id(&self) -> String {
        format!("{}-{}", self.policy_template, self.input_type)
    }

    /// The integration policy's name: one per package and tenant.
    fn policy_name(&self, tenant_id: &str) -> String {
        format!("handoff-{}-{tenant_id}", self.name)
    }
}

/// The package a template's credential is written to.
fn package_for(template: &str) -> Result<&'static Package, TargetError> {
    match template {
        "o365-management" => Ok(&O365),
        "defender-incidents" => Ok(&M365_DEFENDER),
        other => Err(TargetError::Refused(format!(
            "the elastic-agent target writes the templates o365-management (package o365) and defender-incidents (package m365_defender), not {other:?}"
        ))),
    }
}

/// One variable handoff sets, with its wanted value.
#[derive(Debug)]
struct Var {
    level: Level,
    name: &'static str,
    value: Value,
    /// The client secret: compared by its digest, never shown.
    secret: bool,
}

impl Var {
    fn new(level: Level, name: &'static str, value: Value) -> Var {
        Var {
            level,
            name,
            value,
            secret: false,
        }
    }
}

/// Every variable handoff sets for `cred` in `package`, its URLs from the
/// host table for the tenant's cloud (`crate::cloud`).
fn wanted_vars(
    package: &Package,
    cred: &crate::payload::EntraCredential,
    content_types: &[String],
) -> Result<Vec<Var>, TargetError> {
    let cloud = cred.cloud;
    let secret = Var {
        secret: true,
        ..Var::new(
            if *package == O365 {
                Level::Stream
            } else {
                Level::Input
            },
            "client_secret",
            Value::from(cred.client_secret.as_str()),
        )
    };
    if *package == O365 {
        let (Some(management), Some(scope)) = (cloud.management_url(), cloud.management_scope())
        else {
            return Err(TargetError::Refused(format!(
                "the credential is for a {cloud} tenant, and the Office 365 Management API's address in that cloud is not known to handoff, so the o365 package's url cannot be set; configure the integration by hand in Kibana"
            )));
        };
        if content_types.is_empty() {
            return Err(TargetError::Refused(
                "the template lists no content types (collect.content_types), which the o365 package needs".to_owned(),
            ));
        }
        return Ok(vec![
            Var::new(
                Level::Stream,
                "azure_tenant_id",
                Value::from(cred.tenant_id.as_str()),
            ),
            Var::new(
                Level::Stream,
                "client_id",
                Value::from(cred.client_id.as_str()),
            ),
            secret,
            Var::new(Level::Stream, "url", Value::from(management)),
            Var::new(
                Level::Stream,
                "token_url",
                Value::from(cloud.authority_host()),
            ),
            Var::new(Level::Stream, "token_scopes", json!([scope])),
            Var::new(
                Level::Stream,
                "content_types",
                Value::from(content_types.join(", ")),
            ),
        ]);
    }
    match cloud {
        Cloud::Commercial | Cloud::Gcc | Cloud::GccHigh | Cloud::Dod => {}
        Cloud::China => {
            return Err(TargetError::Refused(format!(
                "the credential is for a {cloud} tenant, and Microsoft Graph has no security incidents there, so the m365_defender package cannot collect them"
            )));
        }
    }
    Ok(vec![
        Var::new(
            Level::Input,
            "login_url",
            Value::from(cloud.authority_host()),
        ),
        Var::new(
            Level::Input,
            "token_endpoint",
            Value::from("oauth2/v2.0/token"),
        ),
        Var::new(
            Level::Input,
            "client_id",
            Value::from(cred.client_id.as_str()),
        ),
        secret,
        Var::new(
            Level::Input,
            "tenant_id",
            Value::from(cred.tenant_id.as_str()),
        ),
        Var::new(Level::Stream, "request_url", Value::from(cloud.graph_url())),
    ])
}

/// Whether a policy's current value is the wanted one: `content_types` as
/// a set of trimmed names (the package splits and trims it, so an
/// operator's spacing or order is no change), anything else as JSON.
fn same_value(name: &str, current: &Value, wanted: &Value) -> bool {
    if name == "content_types"
        && let (Some(c), Some(w)) = (current.as_str(), wanted.as_str())
    {
        let set = |s: &str| -> BTreeSet<String> {
            s.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        return set(c) == set(w);
    }
    current == wanted
}

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the elastic-agent target needs --api-url: Kibana's address, e.g. https://kibana.example:5601 (with /s/<space> for a Kibana space)".to_owned());
    }
    if args.api_token_file.is_none() {
        return Err("the elastic-agent target needs --api-token-file: a file (mode 0600) holding an Elasticsearch API key with Fleet and Integrations privileges".to_owned());
    }
    match args.fleet_agent_policy.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => Ok(()),
        _ => Err("the elastic-agent target needs --fleet-agent-policy ID: the Fleet agent policy whose agents collect the tenant's logs (Fleet > Agent policies)".to_owned()),
    }
}

/// `/api/fleet/<segments>` under Kibana's base URL (a space's path kept),
/// each segment encoded, with `query` pairs.
fn endpoint(base: &str, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, TargetError> {
    let mut url = Url::parse(base)
        .map_err(|e| TargetError::Refused(format!("--api-url {base} is not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| TargetError::Refused(format!("--api-url {base} cannot hold a path")))?
        .pop_if_empty()
        .extend(["api", "fleet"])
        .extend(segments);
    url.set_query(None);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

fn request(method: Method, url: Url, body: String) -> ApiRequest {
    ApiRequest {
        method,
        url,
        headers: vec![
            ("kbn-xsrf", "true".to_owned()),
            ("Elastic-Api-Version", API_VERSION.to_owned()),
            ("Accept", "application/json".to_owned()),
        ],
        content_type: "application/json",
        body,
        auth: Auth::ApiKey,
        confirm: Confirm::Status,
        fill: None,
    }
}

/// A GET's JSON answer.
async fn read_json(api: &Api, url: Url, secrets: &[String]) -> Result<Value, TargetError> {
    let get = request(Method::GET, url, String::new());
    let said = api.send(&get, secrets).await?;
    let mut shown = get.url.clone();
    shown.set_query(None);
    serde_json::from_str::<Value>(&said).map_err(|_| {
        TargetError::Api(format!(
            "GET {shown} answered something other than JSON: is --api-url Kibana's address (https://kibana.example:5601, with /s/<space> for a space)?"
        ))
    })
}

/// The `vars[].name`s of the first of `items` that `pick` matches.
fn var_names(items: Option<&Value>, pick: impl Fn(&Value) -> bool) -> Vec<(String, bool)> {
    items
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|i| pick(i)))
        .and_then(|i| i.get("vars"))
        .and_then(Value::as_array)
        .map(|vars| {
            vars.iter()
                .filter_map(|v| {
                    let name = v.get("name")?.as_str()?.to_owned();
                    Some((name, v.get("secret").and_then(Value::as_bool) == Some(true)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the installed package declares, from `GET
/// /api/fleet/epm/packages/<name>`'s `item`.
struct Declared {
    /// The input's variables: (name, marked `secret: true`).
    input_vars: Vec<(String, bool)>,
    /// The handoff stream's variables.
    stream_vars: Vec<(String, bool)>,
    /// The policy template's other inputs' keys (`<template>-<type>`).
    other_inputs: Vec<String>,
    /// The input's other data streams (`m365_defender.alert`).
    other_streams: Vec<String>,
}

fn declared(item: &Value, package: &Package) -> Declared {
    let template = item
        .get("policy_templates")
        .and_then(Value::as_array)
        .and_then(|t| {
            t.iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(package.policy_template))
        });
    let inputs = template.and_then(|t| t.get("inputs"));
    let is_ours = |i: &Value| i.get("type").and_then(Value::as_str) == Some(package.input_type);
    let input_vars = var_names(inputs, is_ours);
    let other_inputs = inputs
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter(|i| !is_ours(i))
                .filter_map(|i| i.get("type")?.as_str())
                .map(|t| format!("{}-{t}", package.policy_template))
                .collect()
        })
        .unwrap_or_default();
    let streams_of = |ds: &Value| ds.get("streams").cloned();
    let data_streams = item
        .get("data_streams")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_our_input = |ds: &Value| {
        streams_of(ds)
            .and_then(|s| s.as_array().cloned())
            .is_some_and(|s| {
                s.iter()
                    .any(|s| s.get("input").and_then(Value::as_str) == Some(package.input_type))
            })
    };
    let dataset = |ds: &Value| {
        ds.get("dataset")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let stream_vars = data_streams
        .iter()
        .find(|ds| dataset(ds) == package.data_stream)
        .map(|ds| {
            var_names(streams_of(ds).as_ref(), |s| {
                s.get("input").and_then(Value::as_str) == Some(package.input_type)
            })
        })
        .unwrap_or_default();
    let other_streams = data_streams
        .iter()
        .filter(|ds| dataset(ds) != package.data_stream && has_our_input(ds))
        .map(dataset)
        .collect();
    Declared {
        input_vars,
        stream_vars,
        other_inputs,
        other_streams,
    }
}

/// The path of `var` in a simplified package policy's `inputs`.
fn var_path(package: &Package, var: &Var) -> Vec<String> {
    let mut path = vec![package.input_id()];
    if var.level == Level::Stream {
        path.push("streams".to_owned());
        path.push(package.data_stream.to_owned());
    }
    path.push("vars".to_owned());
    path.push(var.name.to_owned());
    path
}

/// The value at `path` under `root`, if any.
fn at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, key| v.get(key))
}

/// Sets the value at `path` under `root`, making the objects on the way.
fn set_at(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut here = root;
    for key in parents {
        if !here.is_object() {
            *here = Value::Object(Map::new());
        }
        let Value::Object(map) = here else {
            return;
        };
        here = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !here.is_object() {
        *here = Value::Object(Map::new());
    }
    if let Value::Object(map) = here {
        map.insert(last.clone(), value);
    }
}

/// Whether a policy's value for a secret variable is the wanted secret: a
/// plain value (a package version that keeps it in the policy) is compared
/// as it is, a secret reference by the digest in the description.
fn same_secret(current: Option<&Value>, wanted: &str, description: &str) -> bool {
    match current {
        Some(Value::String(s)) => s == wanted,
        Some(v) if v.get("isSecretRef").and_then(Value::as_bool) == Some(true) => {
            digest_in(description) == Some(secret_digest(wanted).as_str())
        }
        _ => false,
    }
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone()];
    let base = args.api_url.as_deref().ok_or_else(|| {
        TargetError::Refused("the elastic-agent target needs --api-url".to_owned())
    })?;
    let agent_policy = args
        .fleet_agent_policy
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            TargetError::Refused(
                "the elastic-agent target needs --fleet-agent-policy ID".to_owned(),
            )
        })?;
    let package = package_for(&import.integration.id)?;
    let wanted = wanted_vars(package, cred, &import.integration.collect.content_types)?;

    let info = read_json(
        api,
        endpoint(base, &["epm", "packages", package.name], &[])?,
        &secrets,
    )
    .await?;
    let item = info.get("item").unwrap_or(&NULL);
    let title = package.title;
    let name = package.name;
    if item.get("status").and_then(Value::as_str) != Some("installed") {
        return Err(TargetError::Refused(format!(
            "the {title} integration (package {name}) is not installed in this Kibana: install it (Integrations > {title} > Settings > Install) and import again; nothing was created"
        )));
    }
    let version = item
        .get("version")
        .and_then(Value::as_str)
        .ok_or_else(|| TargetError::Api(format!("Kibana answered the package {name} without a version")))?
        .to_owned();
    let decl = declared(item, package);
    let mut secret_kept_plain = false;
    for var in &wanted {
        let (list, place) = match var.level {
            Level::Input => (&decl.input_vars, format!("input {}", package.input_id())),
            Level::Stream => (
                &decl.stream_vars,
                format!("data stream {} of input {}", package.data_stream, package.input_id()),
            ),
        };
        let Some((_, secret)) = list.iter().find(|(n, _)| n == var.name) else {
            return Err(TargetError::Refused(format!(
                "the installed {name} package {version} has no variable {:?} in its {place}: upgrade the {title} integration in Kibana (Integrations > {title} > Settings) and import again; nothing was created",
                var.name
            )));
        };
        if var.secret && !secret {
            secret_kept_plain = true;
        }
    }
    let mut notes = Vec::new();
    if secret_kept_plain {
        notes.push(format!(
            "the installed {name} package {version} does not store client_secret as a Fleet secret, so the policy holds it as it is; upgrade the integration to have Fleet keep it in its secret store"
        ));
    }

    let policy_name = package.policy_name(&cred.tenant_id);
    let kuery = format!("{POLICY_TYPE}.name:\"{policy_name}\"");
    let list = read_json(
        api,
        endpoint(
            base,
            &["package_policies"],
            &[("kuery", &kuery), ("format", "simplified"), ("perPage", "100")],
        )?,
        &secrets,
    )
    .await?;
    let found: Vec<&Value> = list
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("name").and_then(Value::as_str) == Some(policy_name.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let digest = secret_digest(&cred.client_secret);

    let existing = match found.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => {
            return Err(TargetError::Refused(format!(
                "Kibana has {} integration policies named {policy_name:?}; keep one (Fleet > Agent policies) and import again",
                found.len()
            )));
        }
    };

    let Some(existing) = existing else {
        read_json(
            api,
            endpoint(base, &["agent_policies", agent_policy], &[])?,
            &secrets,
        )
        .await?;
        let mut inputs = Value::Object(Map::new());
        for other in &decl.other_inputs {
            set_at(&mut inputs, &[other.clone(), "enabled".to_owned()], json!(false));
        }
        let input = package.input_id();
        set_at(&mut inputs, &[input.clone(), "enabled".to_owned()], json!(true));
        let ours = [
            input.clone(),
            "streams".to_owned(),
            package.data_stream.to_owned(),
            "enabled".to_owned(),
        ];
        set_at(&mut inputs, &ours, json!(true));
        for other in &decl.other_streams {
            let path = [input.clone(), "streams".to_owned(), other.clone(), "enabled".to_owned()];
            set_at(&mut inputs, &path, json!(false));
        }
        for var in &wanted {
            set_at(&mut inputs, &var_path(package, var), var.value.clone());
        }
        let description = with_digest(
            &format!(
                "Collects {title} logs of tenant {} for {}; created by handoff (request {}).",
                cred.tenant_id, import.customer, import.request_id
            ),
            &digest,
        );
        let body = json!({
            "name": policy_name,
            "description": description,
            "policy_ids": [agent_policy],
            "package": {"name": name, "version": version},
            "inputs": inputs,
        });
        let post = request(
            Method::POST,
            endpoint(base, &["package_policies"], &[])?,
            body.to_string(),
        );
        notes.push(format!(
            "Fleet integration policy {policy_name:?} ({title} {version}) is added to agent policy {agent_policy}; it appears under Fleet > Agent policies > that policy > Integrations, and its agents start collecting at their next check-in"
        ));
        return Ok(Plan::with_requests(vec![post], notes, cred));
    };

    if existing
        .pointer("/package/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n != name)
    {
        return Err(TargetError::Refused(format!(
            "Kibana's integration policy {policy_name:?} is not of the {name} package; rename or remove it and import again"
        )));
    }
    let inputs = existing.get("inputs").cloned().unwrap_or(json!({}));
    let description = existing
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let differing: Vec<&Var> = wanted
        .iter()
        .filter(|var| {
            let current = at(&inputs, &var_path(package, var));
            if var.secret {
                !same_secret(current, &cred.client_secret, description)
            } else {
                !current.is_some_and(|c| same_value(var.name, c, &var.value))
            }
        })
        .collect();
    if differing.is_empty() {
        return Ok(Plan::with_requests(Vec::new(), notes, cred));
    }
    let id = existing
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            TargetError::Api(format!(
                "Kibana answered the integration policy {policy_name:?} without an id"
            ))
        })?;
    let mut merged = inputs;
    for var in &differing {
        set_at(&mut merged, &var_path(package, var), var.value.clone());
    }
    let mut body = Map::new();
    body.insert("name".to_owned(), Value::from(policy_name.as_str()));
    body.insert(
        "description".to_owned(),
        Value::from(with_digest(description, &digest)),
    );
    // What an operator may have set on the policy goes back as it was read.
    for key in [
        "namespace",
        "policy_ids",
        "output_id",
        "vars",
        "additional_datastreams_permissions",
        "global_data_tags",
    ] {
        if let Some(v) = existing.get(key).filter(|v| !v.is_null()) {
            body.insert(key.to_owned(), v.clone());
        }
    }
    let kept_version = existing
        .pointer("/package/version")
        .and_then(Value::as_str)
        .unwrap_or(version.as_str());
    body.insert(
        "package".to_owned(),
        json!({"name": name, "version": kept_version}),
    );
    body.insert("inputs".to_owned(), merged);
    let put = request(
        Method::PUT,
        endpoint(base, &["package_policies", id], &[])?,
        Value::Object(body).to_string(),
    );
    let changed: Vec<&str> = differing.iter().map(|v| v.name).collect();
    notes.push(format!(
        "Fleet integration policy {policy_name:?} ({id}) is updated: {}; the agents of its agent policies get the change at their next check-in",
        changed.join(", ")
    ));
    let on: Vec<&str> = existing
        .get("policy_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !on.is_empty() && !on.contains(&agent_policy) {
        notes.push(format!(
            "the integration policy is on agent policies {}, not on {agent_policy}; handoff left that as it is",
            on.join(", ")
        ));
    }
    Ok(Plan::with_requests(vec![put], notes, cred))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn the_digest_token_is_replaced_in_place_or_appended() {
        assert_eq!(with_digest("", "1a2b3c4d"), "[handoff secret sha256:1a2b3c4d]");
        assert_eq!(
            with_digest("Contoso audit", "1a2b3c4d"),
            "Contoso audit [handoff secret sha256:1a2b3c4d]"
        );
        assert_eq!(
            with_digest("a [handoff secret sha256:00000000] b", "1a2b3c4d"),
            "a [handoff secret sha256:1a2b3c4d] b"
        );
        assert_eq!(
            digest_in("a [handoff secret sha256:1a2b3c4d] b"),
            Some("1a2b3c4d")
        );
        assert_eq!(digest_in("no token"), None);
    }

    #[test]
    fn content_types_compare_as_a_set() {
        let wanted = Value::from("Audit.Exchange, DLP.All");
        assert!(same_value("content_types", &Value::from("DLP.All,Audit.Exchange"), &wanted));
        assert!(!same_value("content_types", &Value::from("DLP.All"), &wanted));
        assert!(!same_value("url", &Value::from("x"), &Value::from("y")));
    }

    #[test]
    fn a_secret_reference_is_the_same_secret_only_with_its_digest() {
        let reference = json!({"isSecretRef": true, "id": "abc"});
        let kept = with_digest("", &secret_digest(SECRET));
        assert!(same_secret(Some(&reference), SECRET, &kept));
        assert!(!same_secret(Some(&reference), SECRET, "no digest"));
        assert!(!same_secret(Some(&reference), "another-secret-value", &kept));
        assert!(same_secret(Some(&Value::from(SECRET)), SECRET, ""));
        assert!(!same_secret(None, SECRET, &kept));
    }

    #[test]
    fn clouds_set_the_packages_urls() {
        let types = vec!["Audit.Exchange".to_owned(), "DLP.All".to_owned()];
        let value = |vars: &[Var], name: &str| {
            vars.iter()
                .find(|v| v.name == name)
                .map(|v| v.value.clone())
                .unwrap()
        };
        let vars = wanted_vars(&O365, &credential("o365-management", "gcc-high"), &types).unwrap();
        assert_eq!(value(&vars, "url"), "https://manage.office365.us");
        assert_eq!(value(&vars, "token_url"), "https://login.microsoftonline.us");
        assert_eq!(
            value(&vars, "token_scopes"),
            json!(["https://manage.office365.us/.default"])
        );
        assert_eq!(value(&vars, "content_types"), "Audit.Exchange, DLP.All");
        let vars = wanted_vars(&O365, &credential("o365-management", "dod"), &types).unwrap();
        assert_eq!(value(&vars, "url"), "https://manage.protection.apps.mil");
        let err = wanted_vars(&O365, &credential("o365-management", "china"), &types)
            .unwrap_err()
            .to_string();
        assert!(err.contains("china tenant"), "{err}");

        let vars =
            wanted_vars(&M365_DEFENDER, &credential("defender-incidents", "dod"), &[]).unwrap();
        assert_eq!(value(&vars, "request_url"), "https://dod-graph.microsoft.us");
        assert_eq!(value(&vars, "login_url"), "https://login.microsoftonline.us");
        let err = wanted_vars(&M365_DEFENDER, &credential("defender-incidents", "china"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no security incidents"), "{err}");
    }

    #[test]
    fn urls_keep_a_kibana_space_and_encode_segments() {
        let url = endpoint(
            "https://kibana.example:5601/s/soc/",
            &["agent_policies", "a b/c"],
            &[("kuery", "ingest-package-policies.name:\"x\"")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://kibana.example:5601/s/soc/api/fleet/agent_policies/a%20b%2Fc?kuery=ingest-package-policies.name%3A%22x%22"
        );
    }

    #[test]
    fn only_the_two_templates_have_a_package() {
        assert_eq!(package_for("o365-management").unwrap().name, "o365");
        assert_eq!(package_for("defender-incidents").unwrap().input_id(), "m365_defender-httpjson");
        assert!(package_for("identity-protection").is_err());
    }
}
