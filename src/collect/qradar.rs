//! `qradar`: one IBM QRadar log source per tenant, of the "Office 365 REST
//! API" protocol, created or updated through QRadar's REST API
//! (`--api-url https://qradar.example/api`).
//!
//! Every request carries the authorized service token of `--api-token-file`
//! as `SEC: <token>`, `Version: 20.0` and `Accept: application/json`.
//! Version 20.0 is the API of QRadar 7.5.0 UP8, and later releases still
//! serve it: pinning it keeps the answers' shape fixed whatever the console
//! runs, and every endpoint used here (`log_source_management`) exists in it.
//!
//! Planning reads before it sends, under
//! `config/event_sources/log_source_management/`:
//!
//! 1. `GET protocol_types?filter=name="Office 365 REST API"`: the protocol's
//!    id and its parameters (`{id, name, label}`). Ids and parameter names
//!    are assigned per install, so the parameters are matched by their
//!    documented labels: Log Source Identifier, Client ID, Client Secret,
//!    Tenant ID, Event Filter, and for GCC and GCC High the Management
//!    Activity API URL (and the Azure AD sign-in URL for GCC High). A
//!    missing label is refused with a sentence naming it.
//! 2. `GET log_source_types?filter=name="Office 365"`: the log source type.
//! 3. `GET log_sources?filter=type_id=<id>`: the existing log source whose
//!    Log Source Identifier is `handoff-<tenant id>` — the tenant, not the
//!    customer's label, so that renaming a customer never makes a duplicate.
//!
//! Absent, the plan is `POST log_sources {name, description, type_id,
//! protocol_type_id, enabled, protocol_parameters: [{id, name, value}]}`
//! (QRadar answers 409 for a repeated identifier). Present with every
//! parameter as wanted, nothing is sent. Present with other values (a
//! rotated secret), the plan is the bulk `PATCH log_sources [{id,
//! protocol_parameters}]` with only the parameters that differ — a rotation
//! sends the secret alone. QRadar answers it 202 with a bulk task; the
//! answer is the confirmation (the task is not polled). A parameter QRadar
//! does not return (a password it hides) counts as differing.
//!
//! Clouds: commercial uses the protocol's defaults; GCC and GCC High set
//! the URL parameters; DoD and China are refused (the protocol's settings
//! for them are not known to handoff).

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::api::{Api, ApiRequest, Auth, Confirm};
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cloud::Cloud;

/// What it takes from a template's `[collect]` section: the Event Filter.
pub(super) const READS: Reads = Reads::ContentTypes;

/// The API version every request asks for (see the module's documentation).
const VERSION: &str = "20.0";
const PROTOCOL: &str = "Office 365 REST API";
const LOG_SOURCE_TYPE: &str = "Office 365";
const UNDER: &str = "config/event_sources/log_source_management";

const IDENTIFIER: &str = "Log Source Identifier";
const CLIENT_ID: &str = "Client ID";
const CLIENT_SECRET: &str = "Client Secret";
const TENANT_ID: &str = "Tenant ID";
const EVENT_FILTER: &str = "Event Filter";
const MANAGEMENT_URL: &str = "Management Activity API URL";
const SIGN_IN_URL: &str = "Azure AD sign-in URL";

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the qradar target needs --api-url: QRadar's REST API, e.g. https://qradar.example/api".to_owned());
    }
    if args.api_token_file.is_none() {
        return Err("the qradar target needs --api-token-file: a file (mode 0600) holding a QRadar authorized service token".to_owned());
    }
    Ok(())
}

/// The log source's identifier: stable across rotations and renames.
fn identifier(tenant_id: &str) -> String {
    format!("handoff-{tenant_id}")
}

/// `path` under the API's base URL, with `query` pairs encoded.
fn endpoint(base: &str, path: &str, query: &[(&str, &str)]) -> Result<Url, TargetError> {
    let text = format!("{}/{UNDER}/{path}", base.trim_end_matches('/'));
    let mut url =
        Url::parse(&text).map_err(|e| TargetError::Refused(format!("{text} is not a URL: {e}")))?;
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
            ("Version", VERSION.to_owned()),
            ("Accept", "application/json".to_owned()),
        ],
        content_type: "application/json",
        body,
        auth: Auth::Sec,
        confirm: Confirm::Status,
        fill: None,
    }
}

/// A GET's JSON answer, which must be an array.
async fn read_list(api: &Api, url: Url, secrets: &[String]) -> Result<Vec<Value>, TargetError> {
    let get = request(Method::GET, url, String::new());
    let said = api.send(&get, secrets).await?;
    let mut shown = get.url.clone();
    shown.set_query(None);
    match serde_json::from_str::<Value>(&said) {
        Ok(Value::Array(items)) => Ok(items),
        _ => Err(TargetError::Api(format!(
            "GET {shown} answered something other than a JSON array: is --api-url QRadar's REST API (https://<console>/api)?"
        ))),
    }
}

/// The first item whose `name` is `name`.
fn named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
}

/// One protocol parameter as QRadar describes it.
struct Param {
    id: i64,
    name: String,
}

/// The protocol's parameter labelled `label`.
fn by_label(protocol: &Value, label: &str) -> Option<Param> {
    protocol
        .get("parameters")?
        .as_array()?
        .iter()
        .find(|p| p.get("label").and_then(Value::as_str) == Some(label))
        .and_then(|p| {
            Some(Param {
                id: p.get("id")?.as_i64()?,
                name: p.get("name")?.as_str()?.to_owned(),
            })
        })
}

/// The Event Filter's values for the template's content types.
fn event_filter(content_types: &[String]) -> Result<String, TargetError> {
    let mut out = Vec::new();
    for t in content_types {
        let v = match t.as_str() {
            "Audit.AzureActiveDirectory" => "Azure Active Directory",
            "Audit.Exchange" => "Exchange",
            "Audit.SharePoint" => "SharePoint",
            "Audit.General" => "General",
            "DLP.All" => "DLP",
            other => {
                return Err(TargetError::Refused(format!(
                    "QRadar's {PROTOCOL} protocol has no Event Filter value for the content type {other}"
                )));
            }
        };
        out.push(v);
    }
    Ok(out.join(","))
}

/// The URL parameters for the tenant's cloud: (label, value).
fn cloud_urls(cloud: Cloud) -> Result<Vec<(&'static str, &'static str)>, TargetError> {
    // The protocol's defaults are the commercial cloud's; other clouds set
    // the URLs from the one host table (`crate::cloud`).
    match (cloud, cloud.management_url()) {
        (Cloud::Commercial, _) => Ok(Vec::new()),
        (Cloud::Gcc, Some(management)) => Ok(vec![(MANAGEMENT_URL, management)]),
        (Cloud::GccHigh, Some(management)) => Ok(vec![
            (MANAGEMENT_URL, management),
            (SIGN_IN_URL, cloud.authority_host()),
        ]),
        (other, _) => Err(TargetError::Refused(format!(
            "the credential is for a {other} tenant, and handoff does not know the settings of QRadar's {PROTOCOL} protocol for that cloud; create the log source by hand in QRadar's Log Sources app"
        ))),
    }
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone()];
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the qradar target needs --api-url".to_owned()))?;
    let urls = cloud_urls(cred.cloud)?;
    let filter = event_filter(&import.integration.collect.content_types)?;

    let filter_name = format!("name=\"{PROTOCOL}\"");
    let protocols = read_list(
        api,
        endpoint(base, "protocol_types", &[("filter", &filter_name)])?,
        &secrets,
    )
    .await?;
    let protocol = named(&protocols, PROTOCOL).ok_or_else(|| {
        TargetError::Refused(format!(
            "QRadar has no protocol type named {PROTOCOL:?}: install the Office 365 REST API protocol (from IBM Fix Central or Auto Update) and import again"
        ))
    })?;
    let protocol_id = protocol
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| TargetError::Api(format!("QRadar's protocol type {PROTOCOL:?} has no id")))?;

    let mut wanted: Vec<(Param, String)> = Vec::new();
    let mut labels: Vec<(&str, String)> = vec![
        (IDENTIFIER, identifier(&cred.tenant_id)),
        (CLIENT_ID, cred.client_id.clone()),
        (CLIENT_SECRET, cred.client_secret.clone()),
        (TENANT_ID, cred.tenant_id.clone()),
        (EVENT_FILTER, filter),
    ];
    labels.extend(urls.iter().map(|(l, v)| (*l, (*v).to_owned())));
    for (label, value) in labels {
        let param = by_label(protocol, label).ok_or_else(|| {
            TargetError::Refused(format!(
                "QRadar's protocol type {PROTOCOL:?} (id {protocol_id}) has no parameter labelled {label:?}: update the protocol to a version that has it, or create the log source by hand; nothing was created"
            ))
        })?;
        wanted.push((param, value));
    }

    let type_name = format!("name=\"{LOG_SOURCE_TYPE}\"");
    let types = read_list(
        api,
        endpoint(base, "log_source_types", &[("filter", &type_name)])?,
        &secrets,
    )
    .await?;
    let type_id = named(&types, LOG_SOURCE_TYPE)
        .and_then(|t| t.get("id")?.as_i64())
        .ok_or_else(|| {
            TargetError::Refused(format!(
                "QRadar has no log source type named {LOG_SOURCE_TYPE:?}: install the Microsoft Office 365 DSM and import again"
            ))
        })?;

    let by_type = format!("type_id={type_id}");
    let existing = read_list(
        api,
        endpoint(base, "log_sources", &[("filter", &by_type)])?,
        &secrets,
    )
    .await?;
    let ident = identifier(&cred.tenant_id);
    let ident_name = wanted[0].0.name.clone();
    let value_of = |source: &Value, name: &str| -> Option<String> {
        source
            .get("protocol_parameters")?
            .as_array()?
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("value")?.as_str().map(str::to_owned))
    };
    let found = existing
        .iter()
        .find(|s| value_of(s, &ident_name).as_deref() == Some(ident.as_str()));
    let params = |list: &[&(Param, String)]| -> Vec<Value> {
        list.iter()
            .map(|(p, v)| json!({"id": p.id, "name": p.name, "value": v}))
            .collect()
    };

    let Some(source) = found else {
        let name = format!("{} Office 365 (handoff)", import.customer);
        let body = json!({
            "name": name,
            "description": format!("Created by handoff for tenant {}, request {}", cred.tenant_id, import.request_id),
            "type_id": type_id,
            "protocol_type_id": protocol_id,
            "enabled": true,
            "protocol_parameters": params(&wanted.iter().collect::<Vec<_>>()),
        });
        let post = request(
            Method::POST,
            endpoint(base, "log_sources", &[])?,
            body.to_string(),
        );
        let notes = vec![format!(
            "QRadar log source {name:?} (identifier {ident}) is created and enabled; it appears in the Log Sources app under the Office 365 type"
        )];
        return Ok(Plan::with_requests(vec![post], notes, cred));
    };

    let differing: Vec<&(Param, String)> = wanted
        .iter()
        .filter(|(p, v)| value_of(source, &p.name).as_deref() != Some(v.as_str()))
        .collect();
    if differing.is_empty() {
        return Ok(Plan::with_requests(Vec::new(), Vec::new(), cred));
    }
    let id = source.get("id").and_then(Value::as_i64).ok_or_else(|| {
        TargetError::Api(format!("QRadar's log source {ident} was answered without an id"))
    })?;
    let body = json!([{"id": id, "protocol_parameters": params(&differing)}]);
    let patch = request(
        Method::PATCH,
        endpoint(base, "log_sources", &[])?,
        body.to_string(),
    );
    let changed: Vec<&str> = differing.iter().map(|(p, _)| p.name.as_str()).collect();
    let notes = vec![format!(
        "QRadar log source {id} (identifier {ident}) is updated: {}; QRadar applies it as a bulk task",
        changed.join(", ")
    )];
    Ok(Plan::with_requests(vec![patch], notes, cred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_the_event_filter() {
        let types: Vec<String> = ["Audit.Exchange", "DLP.All"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(event_filter(&types).unwrap(), "Exchange,DLP");
        let err = event_filter(&["Audit.Other".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("Audit.Other"), "{err}");
    }

    #[test]
    fn dod_and_china_are_refused() {
        assert!(cloud_urls(Cloud::Commercial).unwrap().is_empty());
        assert_eq!(
            cloud_urls(Cloud::GccHigh).unwrap(),
            [
                (MANAGEMENT_URL, "https://manage.office365.us"),
                (SIGN_IN_URL, "https://login.microsoftonline.us"),
            ]
        );
        assert_eq!(
            cloud_urls(Cloud::Gcc).unwrap(),
            [(MANAGEMENT_URL, "https://manage-gcc.office.com")]
        );
        let err = cloud_urls(Cloud::Dod).unwrap_err().to_string();
        assert!(err.contains("does not know the settings"), "{err}");
    }

    #[test]
    fn urls_encode_the_filter() {
        let url = endpoint(
            "https://qradar.example/api/",
            "protocol_types",
            &[("filter", "name=\"Office 365 REST API\"")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://qradar.example/api/config/event_sources/log_source_management/protocol_types?filter=name%3D%22Office+365+REST+API%22"
        );
    }
}
