//! `handoff collect --target qradar`, the real binary, against a server and
//! a local stand-in of QRadar's REST API: a new tenant becomes one log
//! source, a second import sends no write, a rotation updates only the
//! secret, refusals (a bad token, a protocol missing a label, a cloud)
//! leave the copy in the inbox with QRadar's words, and a dry run reads but
//! sends nothing, masked. Both protocols: Office 365 REST API for
//! `o365-management`, Microsoft Graph Security API for the Graph alerts
//! templates, one log source each for the same tenant, apart.

mod common;
#[path = "qradar_server/mod.rs"]
mod qradar_server;

use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc};
use common::{Backend, TestApp};
use handoff::collect::masked_secret;
use qradar_server::{GRAPH_PROTOCOL_ID, GRAPH_TYPE_ID, PROTOCOL_ID, Qradar, TYPE_ID};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const ROTATED: &str = "Yq90Q~rotatedContosoSecretValue01234567";
const TOKEN: &str = "9f2c41d8-6a3b-4e5f-8c7d-0a1b2c3d4e5f";

const DISCOVERY: [&str; 3] = [
    "GET /protocol_types?filter=name%3D%22Office+365+REST+API%22",
    "GET /log_source_types?filter=name%3D%22Office+365%22",
    "GET /log_sources?filter=type_id%3D397",
];

const GRAPH_DISCOVERY: [&str; 3] = [
    "GET /protocol_types?filter=name%3D%22Microsoft+Graph+Security+API%22",
    "GET /log_source_types?filter=name%3D%22Microsoft+365+Defender%22",
    "GET /log_sources?filter=type_id%3D433",
];

/// A collector host whose `--api-token-file` holds a QRadar token.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, token: &str) -> Host {
        Host(ApiHost::new(app, soc, "qradar", token).await)
    }

    fn set_token(&self, token: &str) {
        self.0.set_api_secret(token);
    }

    async fn collect(&self, app: &TestApp, qradar: &Qradar, extra: &[&str]) -> Output {
        self.0
            .command(app, &qradar.base)
            .args(extra)
            .output()
            .await
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn answered(app: &TestApp, soc: &age::x25519::Identity, secret: &str, cloud: &str) -> Opened {
    answered_for(app, soc, "o365-management", secret, cloud).await
}

/// A request from `template`, answered with the tenant's credential.
async fn answered_for(
    app: &TestApp,
    soc: &age::x25519::Identity,
    template: &str,
    secret: &str,
    cloud: &str,
) -> Opened {
    answered_with_credential(app, soc, template, (TENANT, CLIENT, secret), cloud).await
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET, ROTATED, TOKEN])
}

/// The log source's parameters as (name, value).
fn params(source: &Value) -> Vec<(String, String)> {
    source["protocol_parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn a_new_tenant_becomes_one_log_source_and_a_second_import_sends_no_write(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected: Vec<String> = DISCOVERY.iter().map(|s| (*s).to_owned()).collect();
    expected.push("POST /log_sources".to_owned());
    assert_eq!(qradar.calls(), expected);
    for r in qradar.received() {
        assert_eq!(r.headers["sec"], TOKEN);
        assert_eq!(r.headers["version"], "20.0");
        assert_eq!(r.headers["accept"], "application/json");
    }
    let sources = qradar.log_sources();
    assert_eq!(sources.len(), 1);
    let s = &sources[0];
    assert_eq!(s["name"], "Contoso Office 365 (handoff)");
    assert_eq!(s["type_id"], TYPE_ID);
    assert_eq!(s["protocol_type_id"], PROTOCOL_ID);
    assert_eq!(s["enabled"], true);
    let identifier = format!("handoff-{TENANT}");
    assert_eq!(
        params(s),
        pairs(&[
            ("identifier", &identifier),
            ("o365_client_id", CLIENT),
            ("o365_client_secret", SECRET),
            ("o365_tenant_id", TENANT),
            (
                "o365_event_filter",
                "Azure Active Directory,Exchange,SharePoint,General,DLP"
            ),
        ])
    );
    assert_eq!(
        s["protocol_parameters"][2]["id"], 1104,
        "this install's ids"
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    // The same credential again: read, nothing written.
    let again = answered(&app, &soc, SECRET, "commercial").await;
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(&qradar.calls()[4..], DISCOVERY);
    assert_eq!(qradar.log_sources(), sources);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_updates_only_the_secret(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    // A console that already collects for other tenants, set up by hand:
    // another Office 365 log source and one of another type.
    let by_hand = [
        json!({"id": 100, "name": "Fabrikam O365 (tuned)", "type_id": TYPE_ID,
               "protocol_type_id": PROTOCOL_ID, "enabled": false, "description": "hand-made",
               "protocol_parameters": [
                   {"id": 1101, "name": "identifier", "value": "fabrikam-o365"},
                   {"id": 1104, "name": "o365_client_secret", "value": "fabrikam-secret-value"},
                   {"id": 1105, "name": "o365_tenant_id", "value": "11111111-2222-3333-4444-555555555555"}]}),
        json!({"id": 101, "name": "Firewall", "type_id": 4, "protocol_type_id": 0,
               "enabled": true, "protocol_parameters": []}),
    ];
    for s in &by_hand {
        qradar.add_log_source(s.clone());
    }
    answered(&app, &soc, SECRET, "gcc-high").await;
    assert_success(&host.collect(&app, &qradar, &[]).await);
    let all = qradar.log_sources();
    assert_eq!(
        &all[..2],
        &by_hand[..],
        "the hand-made log sources are untouched"
    );
    let first = all[2..].to_vec();
    let p = params(&first[0]);
    assert!(p.contains(&pairs(&[("o365_management_url", "https://manage.office365.us")])[0]));
    assert!(p.contains(&pairs(&[("o365_login_url", "https://login.microsoftonline.us")])[0]));

    answered(&app, &soc, ROTATED, "gcc-high").await;
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(qradar.calls().last().unwrap(), "PATCH /log_sources");
    let patch = qradar.received().last().unwrap().body.clone();
    let body: Value = serde_json::from_str(&patch).unwrap();
    // The secret alone, and the description's digest of it (which lets a
    // console that hides the secret recognise it next time).
    let description = first[0]["description"]
        .as_str()
        .unwrap()
        .replace(&digest(SECRET), &digest(ROTATED));
    assert!(description.contains(&format!("[handoff secret sha256:{}]", digest(ROTATED))));
    assert_eq!(
        body,
        json!([{"id": first[0]["id"], "protocol_parameters": [
            {"id": 1104, "name": "o365_client_secret", "value": ROTATED}
        ], "description": description}])
    );
    let after = qradar.log_sources();
    assert_eq!(
        &after[..2],
        &by_hand[..],
        "the hand-made log sources are untouched"
    );
    let after = after[2..].to_vec();
    assert_eq!(after.len(), 1, "updated, never a duplicate");
    assert_eq!(
        serde_json::to_string(&after).unwrap(),
        serde_json::to_string(&first)
            .unwrap()
            .replace(SECRET, ROTATED)
            .replace(&digest(SECRET), &digest(ROTATED))
    );
}

/// The 8 hex digits `masked_secret` shows of `secret`.
fn digest(secret: &str) -> String {
    masked_secret(secret).rsplit('#').next().unwrap().to_owned()
}

async fn a_console_that_hides_the_secret_still_gets_no_second_write(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    qradar.hide_secrets();
    let host = Host::new(&app, &soc, TOKEN).await;
    answered(&app, &soc, SECRET, "commercial").await;
    assert_success(&host.collect(&app, &qradar, &[]).await);
    assert_eq!(qradar.calls().last().unwrap(), "POST /log_sources");
    let created = qradar.log_sources();
    assert!(
        created[0]["description"]
            .as_str()
            .unwrap()
            .ends_with(&format!("[handoff secret sha256:{}]", digest(SECRET))),
        "{created:?}"
    );

    // The same secret again: QRadar shows stars, the digest says it is the
    // same, and nothing is written.
    answered(&app, &soc, SECRET, "commercial").await;
    let writes = |q: &Qradar| q.calls().iter().filter(|c| !c.starts_with("GET ")).count();
    let before = writes(&qradar);
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("already present"), "{said}");
    assert_eq!(writes(&qradar), before, "{:?}", qradar.calls());

    // A rotated secret is a PATCH of the secret and the digest.
    answered(&app, &soc, ROTATED, "commercial").await;
    assert_success(&host.collect(&app, &qradar, &[]).await);
    assert_eq!(writes(&qradar), before + 1);
    let body: Value = serde_json::from_str(&qradar.received().last().unwrap().body).unwrap();
    assert_eq!(body[0]["protocol_parameters"][0]["value"], ROTATED);
    assert!(
        body[0]["description"]
            .as_str()
            .unwrap()
            .ends_with(&format!("[handoff secret sha256:{}]", digest(ROTATED)))
    );
}

/// A refused change: nothing acknowledged, the lease released with
/// QRadar's words in the PM's trail.
async fn refused(app: &TestApp, host: &Host, qradar: &Qradar, r: &Opened, words: &[&str]) {
    let out = host.collect(app, qradar, &[]).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, TOKEN]).await;
}

async fn refusals_leave_the_copy_in_the_inbox_in_qradars_words(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, "an-old-token").await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    refused(
        &app,
        &host,
        &qradar,
        &r,
        &[
            "/protocol_types was refused: 401 Unauthorized",
            "You are unauthorized to access the requested resource.",
        ],
    )
    .await;
    assert_eq!(qradar.calls(), DISCOVERY[..1]);

    host.set_token(TOKEN);
    qradar.drop_label("Client Secret");
    refused(
        &app,
        &host,
        &qradar,
        &r,
        &["QRadar's protocol type \"Office 365 REST API\" (id 73) has no parameter labelled \"Client Secret\""],
    )
    .await;
    assert!(qradar.log_sources().is_empty());
    assert!(qradar.calls().iter().all(|c| c.starts_with("GET ")));

    let dod = answered(&app, &soc, SECRET, "dod").await;
    let out = host.collect(&app, &qradar, &[]).await;
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("dod tenant, and handoff does not know the settings"),
        "{said}"
    );
    let req = app.store.request(&dod.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

async fn a_dry_run_reads_but_sends_nothing_and_masks(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &qradar, &["--dry-run"]).await);
    assert_eq!(qradar.calls(), DISCOVERY);
    let post = format!(
        "POST {}/config/event_sources/log_source_management/log_sources\nSEC: ********\nContent-Type: application/json\nVersion: 20.0\nAccept: application/json\n\n",
        qradar.base
    );
    assert!(said.contains(&post), "{post}\nin\n{said}");
    assert!(said.contains(&masked_secret(SECRET)), "{said}");
    assert!(said.contains("nothing written or sent"), "{said}");
    assert!(qradar.log_sources().is_empty());
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

fn calls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn a_graph_alerts_template_becomes_one_microsoft_365_defender_log_source(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered_for(&app, &soc, "graph-security-alerts", SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert!(
        said.contains("it appears in the Log Sources app under the Microsoft 365 Defender type"),
        "{said}"
    );
    let mut expected = calls(&GRAPH_DISCOVERY);
    expected.push("POST /log_sources".to_owned());
    assert_eq!(qradar.calls(), expected);
    let sources = qradar.log_sources();
    assert_eq!(sources.len(), 1);
    let s = &sources[0];
    assert_eq!(s["name"], "Contoso Microsoft 365 Defender alerts (handoff)");
    assert_eq!(s["type_id"], GRAPH_TYPE_ID);
    assert_eq!(s["protocol_type_id"], GRAPH_PROTOCOL_ID);
    assert_eq!(s["enabled"], true);
    let identifier = format!("handoff-{TENANT}-alerts-v2");
    assert_eq!(
        params(s),
        pairs(&[
            ("identifier", &identifier),
            ("msgraph_tenant_id", TENANT),
            ("msgraph_client_id", CLIENT),
            ("msgraph_client_secret", SECRET),
            ("msgraph_api", "Alerts V2 (/alerts_v2)"),
        ]),
        "the API option as this install lists it; no Event Filter, Service or endpoint"
    );
    assert_eq!(
        s["protocol_parameters"][3]["id"], 1205,
        "this install's ids"
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    // The same credential again: read, nothing written.
    let again = answered_for(&app, &soc, "graph-security-alerts", SECRET, "commercial").await;
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(&qradar.calls()[4..], GRAPH_DISCOVERY);
    assert_eq!(qradar.log_sources(), sources);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn one_tenants_office_365_and_graph_log_sources_coexist_and_rotate_apart(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    answered(&app, &soc, SECRET, "commercial").await;
    assert_success(&host.collect(&app, &qradar, &[]).await);
    let office = qradar.log_sources_of(TYPE_ID);
    assert_eq!(office.len(), 1);

    answered_for(&app, &soc, "graph-security-alerts", SECRET, "commercial").await;
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected = calls(&GRAPH_DISCOVERY);
    expected.push("POST /log_sources".to_owned());
    assert_eq!(
        &qradar.calls()[4..],
        expected,
        "nothing of Office 365's is read or sent"
    );
    assert_eq!(
        qradar.log_sources_of(TYPE_ID),
        office,
        "the Office 365 one is untouched"
    );
    let graph = qradar.log_sources_of(GRAPH_TYPE_ID);
    assert_eq!(
        graph.len(),
        1,
        "a second log source, not the first one changed"
    );

    // The Graph app's secret rotates: its log source alone, its secret alone.
    answered_for(&app, &soc, "graph-security-alerts", ROTATED, "commercial").await;
    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(qradar.calls().last().unwrap(), "PATCH /log_sources");
    let body: Value = serde_json::from_str(&qradar.received().last().unwrap().body).unwrap();
    let rotated_description = |source: &Value| {
        source["description"]
            .as_str()
            .unwrap()
            .replace(&digest(SECRET), &digest(ROTATED))
    };
    assert_eq!(
        body,
        json!([{"id": graph[0]["id"], "protocol_parameters": [
            {"id": 1205, "name": "msgraph_client_secret", "value": ROTATED}
        ], "description": rotated_description(&graph[0])}])
    );
    assert_eq!(
        qradar.log_sources_of(TYPE_ID),
        office,
        "the Office 365 one is untouched"
    );
    let rotated = qradar.log_sources_of(GRAPH_TYPE_ID);
    assert_eq!(
        serde_json::to_string(&rotated).unwrap(),
        serde_json::to_string(&graph)
            .unwrap()
            .replace(SECRET, ROTATED)
            .replace(&digest(SECRET), &digest(ROTATED))
    );

    // And the Office 365 app's: the Graph one stays as it is.
    answered(&app, &soc, ROTATED, "commercial").await;
    assert_success(&host.collect(&app, &qradar, &[]).await);
    let body: Value = serde_json::from_str(&qradar.received().last().unwrap().body).unwrap();
    assert_eq!(
        body,
        json!([{"id": office[0]["id"], "protocol_parameters": [
            {"id": 1104, "name": "o365_client_secret", "value": ROTATED}
        ], "description": rotated_description(&office[0])}])
    );
    assert_eq!(qradar.log_sources_of(GRAPH_TYPE_ID), rotated);
    assert_eq!(qradar.log_sources().len(), 2);
}

async fn defender_incidents_in_dod_collects_the_alerts_through_the_us_government_endpoints(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    answered_for(&app, &soc, "defender-incidents", SECRET, "dod").await;

    let said = assert_success(&host.collect(&app, &qradar, &["--dry-run"]).await);
    assert_eq!(
        qradar.calls(),
        GRAPH_DISCOVERY,
        "a dry run reads, sends nothing"
    );
    assert!(said.contains(&masked_secret(SECRET)), "{said}");
    assert!(qradar.log_sources().is_empty());

    let said = assert_success(&host.collect(&app, &qradar, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert!(
        said.contains("has no API for Graph's security/incidents: the log source collects the incidents' alerts"),
        "the operator is told what is not collected: {said}"
    );
    let sources = qradar.log_sources();
    assert_eq!(sources.len(), 1);
    let p = params(&sources[0]);
    for pair in pairs(&[
        ("msgraph_api", "Alerts V2 (/alerts_v2)"),
        ("msgraph_login_endpoint", "login.microsoftonline.us"),
        ("msgraph_graph_endpoint", "https://dod-graph.microsoft.us"),
    ]) {
        assert!(p.contains(&pair), "{pair:?} in {p:?}");
    }
}

async fn graph_refusals_leave_the_copy_in_the_inbox(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let qradar = Qradar::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    qradar.drop_graph_label("API");
    let r = answered_for(&app, &soc, "graph-security-alerts", SECRET, "commercial").await;
    refused(
        &app,
        &host,
        &qradar,
        &r,
        &["QRadar's protocol type \"Microsoft Graph Security API\" (id 121) has no parameter labelled \"API\""],
    )
    .await;
    assert_eq!(qradar.calls(), GRAPH_DISCOVERY[..1]);

    // Graph has no security alerts in the China cloud: refused before
    // QRadar is asked anything.
    let china = answered_for(&app, &soc, "graph-security-alerts", SECRET, "china").await;
    let before = qradar.calls().len();
    refused(
        &app,
        &host,
        &qradar,
        &china,
        &["the credential is for a china tenant, which the template \"graph-security-alerts\" cannot collect from"],
    )
    .await;
    assert_eq!(
        qradar.calls().len(),
        before + 1,
        "only the other copy's protocol read"
    );
    assert!(qradar.log_sources().is_empty());
}

with_each_backend!(
    a_console_that_hides_the_secret_still_gets_no_second_write,
    a_new_tenant_becomes_one_log_source_and_a_second_import_sends_no_write,
    a_graph_alerts_template_becomes_one_microsoft_365_defender_log_source,
    one_tenants_office_365_and_graph_log_sources_coexist_and_rotate_apart,
    defender_incidents_in_dod_collects_the_alerts_through_the_us_government_endpoints,
    graph_refusals_leave_the_copy_in_the_inbox,
    a_rotation_updates_only_the_secret,
    refusals_leave_the_copy_in_the_inbox_in_qradars_words,
    a_dry_run_reads_but_sends_nothing_and_masks,
);
