//! `qradar`: IBM QRadar log sources, one per tenant and protocol, created
//! or updated through QRadar's REST API (`--api-url
//! https://qradar.example/api`).
//!
//! Every request carries the authorized service token of `--api-token-file`
//! as `SEC: <token>`, `Version: 20.0` and `Accept: application/json`.
//! Version 20.0 is the API of QRadar 7.5.0 UP8, and later releases still
//! serve it: pinning it keeps the answers' shape fixed whatever the console
//! runs, and every endpoint used here (`log_source_management`) exists in it.
//!
//! # Protocols
//!
//! A protocol is data ([`Protocol`], listed in [`PROTOCOLS`]): its name,
//! the log source type it pairs with, the labels it sets and where each
//! value comes from, and what it does per cloud. The template picks them:
//!
//! - **Office 365 REST API** with the **Office 365** log source type, for a
//!   template that lists Management Activity API content types
//!   (`o365-management`). Labels: Log Source Identifier, Client ID, Client
//!   Secret, Tenant ID, Event Filter (the content types' workloads: Azure
//!   Active Directory, Exchange, SharePoint, General, DLP), and for GCC and
//!   GCC High the Management Activity API URL (and the Azure AD sign-in URL
//!   for GCC High). IBM's DSM Configuration Guide, "Office 365 REST API
//!   protocol configuration options". The Log Source Identifier is
//!   `handoff-<tenant id>`.
//! - **Microsoft Graph Security API** with the **Microsoft 365 Defender**
//!   log source type, for a template that lists Graph's `security`
//!   `alerts_v2` (`graph-security-alerts`, `defender-incidents`). Labels:
//!   Log Source Identifier, Tenant ID, Client ID, Client Secret, and API,
//!   set to the Alerts V2 option. IBM's DSM Configuration Guide, "Microsoft
//!   Graph Security API protocol configuration options" (the API option
//!   "dictates the types and formats of events": Alerts V1 for the
//!   Microsoft Azure Security Center DSM, Alerts V2 for the Microsoft 365
//!   Defender DSM) and "Microsoft Graph Security API log source parameters
//!   for Microsoft 365 Defender" (log source type Microsoft 365 Defender; API
//!   Alerts V2 (/alerts_v2) or Service Announcement (/serviceAnnouncement)).
//!   The protocol's Event Filter is an OData `$filter` expression (IBM's
//!   example: `severity eq 'high'`), not a choice of feeds, and its Service
//!   narrows the alerts to one product: handoff sets neither, so every
//!   alert flows. The Log Source Identifier is `handoff-<tenant
//!   id>-alerts-v2`, so that it never meets the Office 365 one of the same
//!   tenant.
//!
//! The Graph protocol offers no incidents API, so of `defender-incidents`
//! it collects the alerts (each `alerts_v2` alert names its incident in
//! `incidentId`) and the plan says in a note that the incident records
//! themselves are not collected. Secure Score, Conditional Access and risky
//! users (`m365-posture`, `identity-protection`) are no API of the protocol
//! either; those templates do not list `qradar`.
//!
//! # Planning
//!
//! Per protocol, planning reads before it sends, under
//! `config/event_sources/log_source_management/`:
//!
//! 1. `GET protocol_types?filter=name="<protocol>"`: the protocol's id and
//!    its parameters (`{id, name, label, allowed_values}`). Ids and
//!    parameter names are assigned per install, so the parameters are
//!    matched by their documented labels; a missing label is refused with a
//!    sentence naming it. Where the install lists the API parameter's
//!    `allowed_values`, the Alerts V2 option is the one naming `alerts_v2`
//!    or "Alerts V2"; none is refused.
//! 2. `GET log_source_types?filter=name="<type>"`: the log source type.
//! 3. `GET log_sources?filter=type_id=<id>`: the existing log source whose
//!    Log Source Identifier is this protocol's for the tenant — the tenant,
//!    not the customer's label, so that renaming a customer never makes a
//!    duplicate.
//!
//! Absent, the plan is `POST log_sources {name, description, type_id,
//! protocol_type_id, enabled, protocol_parameters: [{id, name, value}]}`
//! (QRadar answers 409 for a repeated identifier). Present with every
//! parameter as wanted, nothing is sent. Present with other values (a
//! rotated secret), the plan is the bulk `PATCH log_sources [{id,
//! protocol_parameters}]` with only the parameters that differ — a rotation
//! sends the secret alone. QRadar answers it 202 with a bulk task; the
//! answer is the confirmation (the task is not polled). A parameter QRadar
//! does not return (a password it hides) is compared by the digest kept in
//! the log source's description (`[handoff secret sha256:1a2b3c4d]`, the
//! digest `--dry-run` shows), which a secret's PATCH updates. Log sources
//! of other types, other identifiers and other tenants are never sent.
//!
//! # Clouds
//!
//! Office 365 REST API: commercial uses the protocol's defaults; GCC and
//! GCC High set the URL parameters; DoD and China are refused (the
//! protocol's settings for them are not known to handoff). Microsoft Graph
//! Security API: commercial and GCC (which signs in to the commercial Entra
//! ID and reads the commercial Graph) use the protocol's defaults; GCC High
//! and DoD set the Login Endpoint to the cloud's sign-in host
//! (`login.microsoftonline.us`) and the Graph API Endpoint to its Graph URL
//! (`https://graph.microsoft.us`, `https://dod-graph.microsoft.us`), the
//! forms a SOC's QRadar guide shows for the commercial values
//! (`login.microsoftonline.com`, `https://graph.microsoft.com`;
//! HRouhani/Cyber-Defense-Tools `Cloud/Azure-MS365/qradar.md`: IBM's page
//! names the two parameters without their values); China is refused, as
//! Graph has no security alerts there.

use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::api::{Api, ApiRequest, Auth, Confirm};
use super::mask::{digest_in, secret_digest, with_digest};
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cloud::Cloud;
use crate::integration::Collect;

/// What it takes from a template's `[collect]` section: content types for
/// the Office 365 REST API protocol, or Graph's security alerts for the
/// Microsoft Graph Security API protocol.
pub(super) const READS: Reads = Reads::ContentTypesOrGraph(GRAPH_SERVES);

/// The API version every request asks for (see the module's documentation).
const VERSION: &str = "20.0";
const UNDER: &str = "config/event_sources/log_source_management";

const IDENTIFIER: &str = "Log Source Identifier";
const CLIENT_ID: &str = "Client ID";
const CLIENT_SECRET: &str = "Client Secret";
const TENANT_ID: &str = "Tenant ID";
const EVENT_FILTER: &str = "Event Filter";
const MANAGEMENT_URL: &str = "Management Activity API URL";
const SIGN_IN_URL: &str = "Azure AD sign-in URL";
const GRAPH_API: &str = "API";
const LOGIN_ENDPOINT: &str = "Login Endpoint";
const GRAPH_ENDPOINT: &str = "Graph API Endpoint";

const O365: &str = "Office 365 REST API";
const GRAPH: &str = "Microsoft Graph Security API";

/// The API option of the Graph protocol handoff sets, as IBM's guide names
/// it; the value written where the install lists no `allowed_values`.
const ALERTS_V2: &str = "Alerts V2";

/// The Graph `(resource, relationship)` pairs the Graph protocol collects:
/// its Alerts V2 API reads `/security/alerts_v2`.
const GRAPH_SERVES: &[(&str, &str)] = &[("security", "alerts_v2")];

/// Where a label's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueOf {
    /// The Log Source Identifier: `handoff-<tenant id>` and the protocol's
    /// suffix.
    Identifier,
    ClientId,
    ClientSecret,
    TenantId,
    /// What the template collects, in the protocol's terms ([`Protocol::feed`]).
    Feed,
}

/// The value of the label that says what to collect, and what the
/// operator should know about what it leaves out.
#[derive(Debug)]
struct Feed {
    value: String,
    notes: Vec<String>,
}

/// The labels a cloud sets on a log source, as (label, value).
type CloudLabels = Vec<(&'static str, &'static str)>;

/// One QRadar protocol handoff configures, as data: everything that differs
/// between protocols; the discovery, create and update are one path
/// ([`plan_protocol`]).
struct Protocol {
    /// The protocol type's `name` in `protocol_types`.
    name: &'static str,
    /// The log source type's `name` in `log_source_types` (the DSM).
    log_source_type: &'static str,
    /// What to install when the type is missing, for the refusal.
    dsm: &'static str,
    /// Said after the customer's label in the log source's name.
    source_name: &'static str,
    /// Appended to `handoff-<tenant id>` in the Log Source Identifier; the
    /// Office 365 protocol's is empty, as it was before there were two.
    identifier_suffix: &'static str,
    /// The labels set on every log source, in the order sent.
    labels: &'static [(&'static str, ValueOf)],
    /// Whether the template asks for this protocol.
    wanted_by: fn(&Collect) -> bool,
    /// The value of the [`ValueOf::Feed`] label, from the template and the
    /// values the install allows for that label (empty: any).
    feed: fn(&Collect, &[String]) -> Result<Feed, TargetError>,
    /// The labels a cloud sets, as (label, value), or why the cloud is
    /// refused.
    cloud: fn(Cloud) -> Result<CloudLabels, String>,
}

/// Every protocol, in the order planned.
static PROTOCOLS: [Protocol; 2] = [
    Protocol {
        name: O365,
        log_source_type: "Office 365",
        dsm: "the Microsoft Office 365 DSM",
        source_name: "Office 365",
        identifier_suffix: "",
        labels: &[
            (IDENTIFIER, ValueOf::Identifier),
            (CLIENT_ID, ValueOf::ClientId),
            (CLIENT_SECRET, ValueOf::ClientSecret),
            (TENANT_ID, ValueOf::TenantId),
            (EVENT_FILTER, ValueOf::Feed),
        ],
        wanted_by: lists_content_types,
        feed: o365_event_filter,
        cloud: o365_cloud,
    },
    Protocol {
        name: GRAPH,
        log_source_type: "Microsoft 365 Defender",
        dsm: "the Microsoft 365 Defender DSM (its RPM is still named Microsoft Windows Defender ATP)",
        source_name: "Microsoft 365 Defender alerts",
        identifier_suffix: "-alerts-v2",
        labels: &[
            (IDENTIFIER, ValueOf::Identifier),
            (TENANT_ID, ValueOf::TenantId),
            (CLIENT_ID, ValueOf::ClientId),
            (CLIENT_SECRET, ValueOf::ClientSecret),
            (GRAPH_API, ValueOf::Feed),
        ],
        wanted_by: lists_graph_alerts,
        feed: graph_api,
        cloud: graph_cloud,
    },
];

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the qradar target needs --api-url: QRadar's REST API, e.g. https://qradar.example/api".to_owned());
    }
    if args.api_token_file.is_none() {
        return Err("the qradar target needs --api-token-file: a file (mode 0600) holding a QRadar authorized service token".to_owned());
    }
    Ok(())
}

/// The log source's identifier: stable across rotations and renames, one
/// per tenant and protocol.
fn identifier(protocol: &Protocol, tenant_id: &str) -> String {
    format!("handoff-{tenant_id}{}", protocol.identifier_suffix)
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
    /// The values the install allows (`allowed_values`), as text: a string
    /// item itself, an object's `value` (else its `name` or `label`).
    /// Empty: any value.
    allowed: Vec<String>,
}

/// The protocol's parameter labelled `label`.
fn by_label(protocol: &Value, label: &str) -> Option<Param> {
    let p = protocol
        .get("parameters")?
        .as_array()?
        .iter()
        .find(|p| p.get("label").and_then(Value::as_str) == Some(label))?;
    let allowed = p
        .get("allowed_values")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => ["value", "name", "label"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))
                        .map(str::to_owned),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Param {
        id: p.get("id")?.as_i64()?,
        name: p.get("name")?.as_str()?.to_owned(),
        allowed,
    })
}

fn lists_content_types(collect: &Collect) -> bool {
    !collect.content_types.is_empty()
}

fn lists_graph_alerts(collect: &Collect) -> bool {
    !served_and_skipped(collect).0.is_empty()
}

/// The Office 365 protocol's Event Filter. It is a comma-separated list of
/// workloads, so it is not matched against the install's allowed values.
fn o365_event_filter(collect: &Collect, _allowed: &[String]) -> Result<Feed, TargetError> {
    Ok(Feed {
        value: event_filter(&collect.content_types)?,
        notes: Vec::new(),
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
                    "QRadar's {O365} protocol has no Event Filter value for the content type {other}"
                )));
            }
        };
        out.push(v);
    }
    Ok(out.join(","))
}

/// The template's Graph relationships as `resource/relationship`: those
/// the Graph protocol collects, and the others.
fn served_and_skipped(collect: &Collect) -> (Vec<String>, Vec<String>) {
    let mut served = Vec::new();
    let mut skipped = Vec::new();
    for r in &collect.graph_resources {
        for rel in &r.relationships {
            let path = format!("{}/{rel}", r.name);
            if GRAPH_SERVES.contains(&(r.name.as_str(), rel.as_str())) {
                served.push(path);
            } else {
                skipped.push(path);
            }
        }
    }
    (served, skipped)
}

/// The Graph protocol's API option for the template: Alerts V2, as the
/// install spells it in `allowed` (or [`ALERTS_V2`] where it lists none);
/// a note for each relationship of the template the protocol cannot read.
fn graph_api(collect: &Collect, allowed: &[String]) -> Result<Feed, TargetError> {
    let (_, skipped) = served_and_skipped(collect);
    let notes = skipped
        .iter()
        .map(|path| {
            let why = if path == "security/incidents" {
                "the log source collects the incidents' alerts (each names its incident in incidentId), not the incident records"
            } else {
                "collect it with another target"
            };
            format!("QRadar's {GRAPH} protocol has no API for Graph's {path}: {why}")
        })
        .collect();
    let value = if allowed.is_empty() {
        ALERTS_V2.to_owned()
    } else {
        allowed
            .iter()
            .find(|v| {
                let v = v.to_ascii_lowercase();
                v.contains("alerts_v2") || v.starts_with("alerts v2")
            })
            .cloned()
            .ok_or_else(|| {
                TargetError::Refused(format!(
                    "QRadar's {GRAPH} protocol offers no Alerts V2 API (its API parameter allows: {}): update the protocol (Auto Update or IBM Fix Central) and import again",
                    allowed.join(", ")
                ))
            })?
    };
    Ok(Feed { value, notes })
}

/// The Office 365 protocol's URL parameters for the tenant's cloud.
fn o365_cloud(cloud: Cloud) -> Result<CloudLabels, String> {
    // The protocol's defaults are the commercial cloud's; other clouds set
    // the URLs from the one host table (`crate::cloud`).
    match (cloud, cloud.management_url()) {
        (Cloud::Commercial, _) => Ok(Vec::new()),
        (Cloud::Gcc, Some(management)) => Ok(vec![(MANAGEMENT_URL, management)]),
        (Cloud::GccHigh, Some(management)) => Ok(vec![
            (MANAGEMENT_URL, management),
            (SIGN_IN_URL, cloud.authority_host()),
        ]),
        (other, _) => Err(format!(
            "the credential is for a {other} tenant, and handoff does not know the settings of QRadar's {O365} protocol for that cloud; create the log source by hand in QRadar's Log Sources app"
        )),
    }
}

/// The Graph protocol's endpoint parameters for the tenant's cloud.
fn graph_cloud(cloud: Cloud) -> Result<CloudLabels, String> {
    match cloud {
        // GCC signs in to the commercial Entra ID and reads the commercial
        // Graph (`crate::cloud`), the protocol's defaults.
        Cloud::Commercial | Cloud::Gcc => Ok(Vec::new()),
        Cloud::GccHigh | Cloud::Dod => Ok(vec![
            (LOGIN_ENDPOINT, cloud.login_host()),
            (GRAPH_ENDPOINT, cloud.graph_url()),
        ]),
        Cloud::China => Err(format!(
            "the credential is for a {cloud} tenant, and QRadar's {GRAPH} protocol cannot collect from it: Microsoft Graph has no security alerts in that cloud"
        )),
    }
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the qradar target needs --api-url".to_owned()))?;
    let collect = &import.integration.collect;
    let protocols: Vec<&Protocol> = PROTOCOLS.iter().filter(|p| (p.wanted_by)(collect)).collect();
    if protocols.is_empty() {
        return Err(TargetError::Refused(format!(
            "the template {:?} lists nothing QRadar's protocols collect: Management Activity API content types ({O365}) or Graph's security alerts_v2 ({GRAPH})",
            import.integration.id
        )));
    }
    // Every cloud is checked before anything is read.
    let mut clouds = Vec::new();
    for p in &protocols {
        clouds.push((p.cloud)(import.credential.cloud).map_err(TargetError::Refused)?);
    }
    let mut requests = Vec::new();
    let mut notes = Vec::new();
    for (p, urls) in protocols.into_iter().zip(clouds) {
        let (mut r, mut n) = plan_protocol(p, &urls, base, import, api).await?;
        requests.append(&mut r);
        notes.append(&mut n);
    }
    Ok(Plan::with_requests(requests, notes, import.credential))
}

/// One protocol's log source for the credential: the POST that creates it,
/// the PATCH that updates what differs, or nothing; and the notes.
async fn plan_protocol(
    p: &Protocol,
    urls: &[(&'static str, &'static str)],
    base: &str,
    import: &Import<'_>,
    api: &Api,
) -> Result<(Vec<ApiRequest>, Vec<String>), TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone()];

    let filter_name = format!("name=\"{}\"", p.name);
    let protocols = read_list(
        api,
        endpoint(base, "protocol_types", &[("filter", &filter_name)])?,
        &secrets,
    )
    .await?;
    let protocol = named(&protocols, p.name).ok_or_else(|| {
        TargetError::Refused(format!(
            "QRadar has no protocol type named {:?}: install the {} protocol (from IBM Fix Central or Auto Update) and import again",
            p.name, p.name
        ))
    })?;
    let protocol_id = protocol.get("id").and_then(Value::as_i64).ok_or_else(|| {
        TargetError::Api(format!("QRadar's protocol type {:?} has no id", p.name))
    })?;
    let missing = |label: &str| {
        TargetError::Refused(format!(
            "QRadar's protocol type {:?} (id {protocol_id}) has no parameter labelled {label:?}: update the protocol to a version that has it, or create the log source by hand; nothing was created",
            p.name
        ))
    };

    let ident = identifier(p, &cred.tenant_id);
    let mut notes = Vec::new();
    let mut wanted: Vec<(Param, String)> = Vec::new();
    let mut ident_name = None;
    let mut secret_name = None;
    for &(label, from) in p.labels {
        let param = by_label(protocol, label).ok_or_else(|| missing(label))?;
        let value = match from {
            ValueOf::Identifier => {
                ident_name = Some(param.name.clone());
                ident.clone()
            }
            ValueOf::ClientId => cred.client_id.clone(),
            ValueOf::ClientSecret => {
                secret_name = Some(param.name.clone());
                cred.client_secret.clone()
            }
            ValueOf::TenantId => cred.tenant_id.clone(),
            ValueOf::Feed => {
                let feed = (p.feed)(&import.integration.collect, &param.allowed)?;
                notes.extend(feed.notes);
                feed.value
            }
        };
        wanted.push((param, value));
    }
    for &(label, value) in urls {
        let param = by_label(protocol, label).ok_or_else(|| missing(label))?;
        wanted.push((param, value.to_owned()));
    }
    let ident_name = ident_name.ok_or_else(|| missing(IDENTIFIER))?;

    let type_name = format!("name=\"{}\"", p.log_source_type);
    let types = read_list(
        api,
        endpoint(base, "log_source_types", &[("filter", &type_name)])?,
        &secrets,
    )
    .await?;
    let type_id = named(&types, p.log_source_type)
        .and_then(|t| t.get("id")?.as_i64())
        .ok_or_else(|| {
            TargetError::Refused(format!(
                "QRadar has no log source type named {:?}: install {} and import again",
                p.log_source_type, p.dsm
            ))
        })?;

    let by_type = format!("type_id={type_id}");
    let existing = read_list(
        api,
        endpoint(base, "log_sources", &[("filter", &by_type)])?,
        &secrets,
    )
    .await?;
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
        let name = format!("{} {} (handoff)", import.customer, p.source_name);
        let body = json!({
            "name": name,
            "description": with_digest(
                &format!("Created by handoff for tenant {}, request {}", cred.tenant_id, import.request_id),
                &secret_digest(&cred.client_secret),
            ),
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
        notes.insert(0, format!(
            "QRadar log source {name:?} (identifier {ident}) is created and enabled; it appears in the Log Sources app under the {} type",
            p.log_source_type
        ));
        return Ok((vec![post], notes));
    };

    // A Client Secret QRadar does not show (absent, or stars in its place)
    // is compared by the digest handoff keeps in the log source's
    // description, as `elastic-agent` does: the same digest is the same
    // secret, and a second import sends nothing.
    let description = source
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let shown = |name: &str| {
        value_of(source, name).filter(|v| v.is_empty() || !v.chars().all(|c| c == '*'))
    };
    let same = |p: &Param, v: &str| match shown(&p.name) {
        Some(shown) => shown == v,
        None => {
            secret_name.as_deref() == Some(p.name.as_str())
                && digest_in(description) == Some(secret_digest(v).as_str())
        }
    };
    let differing: Vec<&(Param, String)> = wanted.iter().filter(|(p, v)| !same(p, v)).collect();
    if differing.is_empty() {
        return Ok((Vec::new(), notes));
    }
    let id = source.get("id").and_then(Value::as_i64).ok_or_else(|| {
        TargetError::Api(format!(
            "QRadar's log source {ident} was answered without an id"
        ))
    })?;
    let mut update = json!({"id": id, "protocol_parameters": params(&differing)});
    if differing
        .iter()
        .any(|(p, _)| secret_name.as_deref() == Some(p.name.as_str()))
    {
        update["description"] =
            Value::from(with_digest(description, &secret_digest(&cred.client_secret)));
    }
    let body = Value::Array(vec![update]);
    let patch = request(
        Method::PATCH,
        endpoint(base, "log_sources", &[])?,
        body.to_string(),
    );
    let changed: Vec<&str> = differing.iter().map(|(p, _)| p.name.as_str()).collect();
    notes.insert(0, format!(
        "QRadar log source {id} (identifier {ident}) is updated: {}; QRadar applies it as a bulk task",
        changed.join(", ")
    ));
    Ok((vec![patch], notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::GraphResource;

    fn graph(pairs: &[(&str, &[&str])]) -> Collect {
        Collect {
            graph_resources: pairs
                .iter()
                .map(|(name, rels)| GraphResource {
                    name: (*name).to_owned(),
                    relationships: rels.iter().map(|r| (*r).to_owned()).collect(),
                })
                .collect(),
            ..Collect::default()
        }
    }

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
    fn office_365_refuses_dod_and_china() {
        assert!(o365_cloud(Cloud::Commercial).unwrap().is_empty());
        assert_eq!(
            o365_cloud(Cloud::GccHigh).unwrap(),
            [
                (MANAGEMENT_URL, "https://manage.office365.us"),
                (SIGN_IN_URL, "https://login.microsoftonline.us"),
            ]
        );
        assert_eq!(
            o365_cloud(Cloud::Gcc).unwrap(),
            [(MANAGEMENT_URL, "https://manage-gcc.office.com")]
        );
        let err = o365_cloud(Cloud::Dod).unwrap_err();
        assert!(err.contains("does not know the settings"), "{err}");
        assert!(o365_cloud(Cloud::China).is_err());
    }

    #[test]
    fn graph_sets_the_us_government_endpoints_and_refuses_china() {
        assert!(graph_cloud(Cloud::Commercial).unwrap().is_empty());
        assert!(graph_cloud(Cloud::Gcc).unwrap().is_empty());
        assert_eq!(
            graph_cloud(Cloud::GccHigh).unwrap(),
            [
                (LOGIN_ENDPOINT, "login.microsoftonline.us"),
                (GRAPH_ENDPOINT, "https://graph.microsoft.us"),
            ]
        );
        assert_eq!(
            graph_cloud(Cloud::Dod).unwrap(),
            [
                (LOGIN_ENDPOINT, "login.microsoftonline.us"),
                (GRAPH_ENDPOINT, "https://dod-graph.microsoft.us"),
            ]
        );
        let err = graph_cloud(Cloud::China).unwrap_err();
        assert!(err.contains("no security alerts"), "{err}");
    }

    #[test]
    fn the_template_picks_the_protocols() {
        let o365 = Collect {
            content_types: vec!["Audit.General".to_owned()],
            ..Collect::default()
        };
        let picked = |c: &Collect| -> Vec<&str> {
            PROTOCOLS
                .iter()
                .filter(|p| (p.wanted_by)(c))
                .map(|p| p.name)
                .collect()
        };
        assert_eq!(picked(&o365), [O365]);
        assert_eq!(picked(&graph(&[("security", &["alerts_v2"])])), [GRAPH]);
        assert_eq!(
            picked(&graph(&[("security", &["incidents", "alerts_v2"])])),
            [GRAPH]
        );
        assert!(picked(&graph(&[("security", &["incidents"])])).is_empty());
        assert!(picked(&graph(&[("identityProtection", &["riskDetections"])])).is_empty());
    }

    #[test]
    fn the_graph_api_is_alerts_v2_as_the_install_spells_it() {
        let alerts = graph(&[("security", &["alerts_v2"])]);
        let feed = graph_api(&alerts, &[]).unwrap();
        assert_eq!(feed.value, "Alerts V2");
        assert!(feed.notes.is_empty());
        let offered = [
            "Alerts V1 (/alerts)".to_owned(),
            "Alerts V2 (/alerts_v2)".to_owned(),
            "Service Announcement (/serviceAnnouncement)".to_owned(),
        ];
        assert_eq!(
            graph_api(&alerts, &offered).unwrap().value,
            "Alerts V2 (/alerts_v2)"
        );
        let err = graph_api(&alerts, &offered[..1]).unwrap_err().to_string();
        assert!(err.contains("offers no Alerts V2 API"), "{err}");
        assert!(err.contains("Alerts V1 (/alerts)"), "{err}");

        let incidents = graph(&[("security", &["incidents", "alerts_v2"])]);
        let notes = graph_api(&incidents, &[]).unwrap().notes;
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("security/incidents"), "{notes:?}");
        assert!(notes[0].contains("not the incident records"), "{notes:?}");
    }

    #[test]
    fn each_protocol_has_its_own_identifier() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(
            identifier(&PROTOCOLS[0], tenant),
            format!("handoff-{tenant}"),
            "the Office 365 log sources handoff made before keep theirs"
        );
        assert_eq!(
            identifier(&PROTOCOLS[1], tenant),
            format!("handoff-{tenant}-alerts-v2")
        );
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
