//! `handoff collect --verify` against a local stand-in for Entra ID and the
//! Office 365 Management API.

mod common;
#[path = "standin/mod.rs"]
mod standin;

use std::collections::BTreeMap;

use handoff::integration::{Integration, Integrations};
use handoff::payload::EntraCredential;
use handoff::verify::{self, Endpoints, Report, Step};
use standin::{App, Mode, StandIn};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";
/// What a customer pastes when they copy the Secret ID column instead.
const SECRET_ID: &str = "3f1c2b4a-9d8e-4f7a-b6c5-d4e3f2a1b0c9";
const MANAGE: &str = "https://manage.office.com";
const GRAPH: &str = "https://graph.microsoft.com";

fn cred(secret: &str, cloud: &str) -> EntraCredential {
    EntraCredential {
        template: "o365-management".to_owned(),
        tenant_id: TENANT.to_owned(),
        client_id: CLIENT.to_owned(),
        client_secret: secret.to_owned(),
        secret_expires_on: None,
        cloud: handoff::cloud::Cloud::parse(cloud).unwrap(),
        extra: BTreeMap::new(),
    }
}

fn template(id: &str) -> Integration {
    Integrations::builtin().get(id).cloned().unwrap()
}

async fn run(
    entra: &StandIn,
    cred: &EntraCredential,
    integration: &Integration,
    start: bool,
) -> Report {
    let client = reqwest::Client::new();
    verify::verify(
        &client,
        &Endpoints::all_at(&entra.base),
        cred,
        integration,
        start,
    )
    .await
}

/// A stand-in where the app has both Management API roles, with consent.
async fn consented_o365() -> StandIn {
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(MANAGE, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"]),
    );
    entra
}

/// Verifies the o365-management template with `secret` on `cloud`.
async fn run_o365(entra: &StandIn, secret: &str, cloud: &str, start: bool) -> Report {
    run(
        entra,
        &cred(secret, cloud),
        &template("o365-management"),
        start,
    )
    .await
}

fn json(report: &Report) -> String {
    serde_json::to_string(report).unwrap()
}

#[tokio::test]
async fn all_roles_consented_is_ok() {
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(MANAGE, &["ActivityFeed.ReadDlp", "ActivityFeed.Read"]),
    );
    let report = run_o365(&entra, SECRET, "commercial", false).await;

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.failure, None);
    assert_eq!(report.subscriptions, None);
    let [api] = report.apis.as_slice() else {
        panic!("{report:#?}")
    };
    assert_eq!(api.api, "Office 365 Management APIs");
    assert_eq!(
        api.scope.as_deref(),
        Some("https://manage.office.com/.default")
    );
    assert_eq!(
        api.roles_required,
        ["ActivityFeed.Read", "ActivityFeed.ReadDlp"]
    );
    assert_eq!(
        api.roles_found.as_deref(),
        Some(
            &[
                "ActivityFeed.ReadDlp".to_owned(),
                "ActivityFeed.Read".to_owned()
            ][..]
        )
    );
    assert!(api.missing.is_empty());

    // One client-credentials request on the tenant's path, with the secret as sent.
    let requests = entra.requests();
    let [req] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    assert_eq!(req.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(req.form["grant_type"], "client_credentials");
    assert_eq!(req.form["client_id"], CLIENT);
    assert_eq!(req.form["client_secret"], SECRET);
    assert_eq!(req.form["scope"], "https://manage.office.com/.default");
    assert!(
        !format!("{req:?}").contains(SECRET),
        "the recorder's Debug hides the secret"
    );
}

/// Verifies `id` on the commercial cloud against an app granted `graph` roles.
async fn run_graph(id: &str, graph: &[&str]) -> (StandIn, Report) {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(GRAPH, graph));
    let report = run(&entra, &cred(SECRET, "commercial"), &template(id), false).await;
    (entra, report)
}

#[tokio::test]
async fn a_missing_role_fails_at_roles_naming_it() {
    // m365-posture: IdentityRiskyUser.Read.All is optional, the rest required.
    let (_entra, report) = run_graph(
        "m365-posture",
        &["SecurityAlert.Read.All", "IdentityRiskyUser.Read.All"],
    )
    .await;

    assert!(!report.ok);
    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Roles);
    assert_eq!(f.api.as_deref(), Some("Microsoft Graph"));
    assert_eq!(f.code, None);
    assert_eq!(
        f.message,
        "The app lacks SecurityEvents.Read.All, Policy.Read.All on Microsoft Graph: ask the customer to add it as an Application permission (not Delegated) and to grant admin consent."
    );
    let api = &report.apis[0];
    assert_eq!(
        api.roles_required,
        [
            "SecurityEvents.Read.All",
            "SecurityAlert.Read.All",
            "Policy.Read.All"
        ]
    );
    assert_eq!(api.roles_optional, ["IdentityRiskyUser.Read.All"]);
    assert_eq!(api.missing, ["SecurityEvents.Read.All", "Policy.Read.All"]);
    assert!(api.missing_optional.is_empty());
    assert!(report.warnings.is_empty());
    assert_eq!(
        api.roles_found.as_deref(),
        Some(
            &[
                "SecurityAlert.Read.All".to_owned(),
                "IdentityRiskyUser.Read.All".to_owned()
            ][..]
        )
    );
}

#[tokio::test]
async fn a_token_lacking_only_an_optional_role_verifies_with_a_warning() {
    let (_entra, report) = run_graph(
        "m365-posture",
        &[
            "SecurityEvents.Read.All",
            "SecurityAlert.Read.All",
            "Policy.Read.All",
        ],
    )
    .await;

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.failure, None);
    assert!(report.apis[0].missing.is_empty());
    assert_eq!(
        report.apis[0].missing_optional,
        ["IdentityRiskyUser.Read.All"]
    );
    assert_eq!(
        report.warnings,
        [
            "The app lacks IdentityRiskyUser.Read.All on Microsoft Graph, which this template marks optional: the rest works, and the SOC goes without what it is for until the customer adds it as an Application permission and grants admin consent. It is for this: Reads risky users (/identityProtection/riskyUsers); needs Entra ID P2. Optional: without it, the SOC reports on the rest."
        ]
    );

    // The same for the other template with an optional permission.
    let (_entra, report) = run_graph(
        "defender-incidents",
        &["SecurityIncident.Read.All", "SecurityAlert.Read.All"],
    )
    .await;
    assert!(report.ok, "{report:#?}");
    assert_eq!(
        report.apis[0].missing_optional,
        ["CustomDetection.Read.All"]
    );
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].starts_with("The app lacks CustomDetection.Read.All on Microsoft Graph, which this template marks optional"));
}

#[tokio::test]
async fn a_token_lacking_a_required_role_fails_though_every_optional_one_is_there() {
    let (_entra, report) = run_graph(
        "defender-incidents",
        &["SecurityIncident.Read.All", "CustomDetection.Read.All"],
    )
    .await;

    assert!(!report.ok);
    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Roles);
    assert!(
        f.message
            .starts_with("The app lacks SecurityAlert.Read.All on Microsoft Graph"),
        "{}",
        f.message
    );
    assert_eq!(report.apis[0].missing, ["SecurityAlert.Read.All"]);
    assert!(report.apis[0].missing_optional.is_empty());
    assert!(report.warnings.is_empty());
}

#[tokio::test]
async fn no_consent_at_all_says_so() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET));
    let report = run_o365(&entra, SECRET, "commercial", true).await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Roles);
    assert!(
        f.message.contains("no consented application permission"),
        "{}",
        f.message
    );
    assert_eq!(
        report.apis[0].missing,
        ["ActivityFeed.Read", "ActivityFeed.ReadDlp"]
    );
    // No subscription is attempted with a token that cannot start one.
    assert_eq!(report.subscriptions, None);
    assert_eq!(entra.requests().len(), 1);
}

#[tokio::test]
async fn an_expired_secret_is_aadsts7000222() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).mode(Mode::ExpiredSecret));
    let report = run_o365(&entra, SECRET, "commercial", false).await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Token);
    assert_eq!(f.code.as_deref(), Some("AADSTS7000222"));
    assert_eq!(f.message, verify::explain("AADSTS7000222").unwrap());
    assert!(f.message.contains("expired"));
    assert_eq!(f.status, Some(401));
    let detail = f.detail.as_deref().unwrap();
    assert!(
        detail.starts_with("AADSTS7000222: The provided client secret keys for app"),
        "{detail}"
    );
    assert!(!detail.contains("Trace ID"), "{detail}");
    assert_eq!(report.apis[0].roles_found, None);
}

#[tokio::test]
async fn the_secret_id_instead_of_its_value_is_aadsts7000215() {
    let entra = consented_o365().await;
    let report = run_o365(&entra, SECRET_ID, "commercial", true).await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Token);
    assert_eq!(f.api.as_deref(), Some("Office 365 Management APIs"));
    assert_eq!(f.code.as_deref(), Some("AADSTS7000215"));
    assert!(
        f.message.contains("Secret ID") && f.message.contains("Value"),
        "{}",
        f.message
    );
    assert!(
        f.detail
            .as_deref()
            .unwrap()
            .contains("not the client secret ID")
    );
    assert!(!json(&report).contains(SECRET_ID));
    assert_eq!(entra.subscriptions(TENANT).len(), 0);
}

#[tokio::test]
async fn an_app_not_in_the_tenant_is_aadsts700016() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).mode(Mode::UnknownApp));
    let report = run_o365(&entra, SECRET, "commercial", false).await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.code.as_deref(), f.status),
        (Step::Token, Some("AADSTS700016"), Some(400))
    );
    assert!(f.message.contains("client ID"), "{}", f.message);
}

#[tokio::test]
async fn an_unknown_tenant_is_aadsts90002() {
    let entra = StandIn::start().await;
    let report = run_o365(&entra, SECRET, "commercial", false).await;
    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.code.as_deref(), Some("AADSTS90002"));
    assert_eq!(f.message, verify::explain("AADSTS90002").unwrap());
}

#[tokio::test]
async fn a_token_from_another_tenant_fails_at_tenant() {
    let other = "11111111-2222-3333-4444-555555555555";
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(MANAGE, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"])
            .tid(other),
    );
    let report = run_o365(&entra, SECRET, "commercial", true).await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Tenant);
    assert!(
        f.message.contains(other) && f.message.contains(TENANT),
        "{}",
        f.message
    );
    assert_eq!(report.subscriptions, None);
}

#[tokio::test]
async fn subscriptions_are_started_and_already_enabled_counts_as_success() {
    let entra = consented_o365().await;
    entra.enable_subscription(TENANT, "Audit.Exchange");
    let report = run_o365(&entra, SECRET, "commercial", true).await;

    assert!(report.ok, "{report:#?}");
    let subs = report.subscriptions.as_ref().unwrap();
    assert_eq!(
        subs.started,
        [
            "Audit.AzureActiveDirectory",
            "Audit.SharePoint",
            "Audit.General",
            "DLP.All"
        ]
    );
    assert_eq!(subs.already_enabled, ["Audit.Exchange"]);
    assert_eq!(entra.subscriptions(TENANT).len(), 5);

    let starts: Vec<_> = entra
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("subscriptions/start"))
        .collect();
    assert_eq!(starts.len(), 5);
    assert_eq!(
        starts[0].path,
        format!("/api/v1.0/{TENANT}/activity/feed/subscriptions/start")
    );
    assert_eq!(starts[0].query["contentType"], "Audit.AzureActiveDirectory");

    // A second run finds them all on, and that is still a success.
    let again = run_o365(&entra, SECRET, "commercial", true).await;
    assert!(again.ok, "{again:#?}");
    assert!(again.subscriptions.as_ref().unwrap().started.is_empty());
    assert_eq!(
        again.subscriptions.as_ref().unwrap().already_enabled.len(),
        5
    );
}

#[tokio::test]
async fn a_subscription_error_is_explained() {
    let entra = consented_o365().await;
    entra.fail_subscription(
        "Audit.SharePoint",
        400,
        "AF20023",
        "The subscription was disabled by a tenant admin.",
    );
    let report = run_o365(&entra, SECRET, "commercial", true).await;

    assert!(!report.ok);
    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.code.as_deref()),
        (Step::Subscription, Some("AF20023"))
    );
    assert!(f.message.starts_with("Audit.SharePoint: "), "{}", f.message);
    assert!(f.message.contains(verify::explain("AF20023").unwrap()));
    assert_eq!(
        f.detail.as_deref(),
        Some("The subscription was disabled by a tenant admin.")
    );
    let subs = report.subscriptions.as_ref().unwrap();
    assert_eq!(
        subs.started,
        ["Audit.AzureActiveDirectory", "Audit.Exchange"]
    );
}

#[tokio::test]
async fn neither_the_secret_nor_the_token_reaches_the_report() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(MANAGE, &["ActivityFeed.Read"]));
    let failing = run_o365(&entra, SECRET, "commercial", true).await;
    let passing = {
        let mut t = template("o365-management");
        t.permissions.retain(|p| p.name == "ActivityFeed.Read");
        t.collect.content_types.retain(|c| c != "DLP.All");
        run(&entra, &cred(SECRET, "commercial"), &t, true).await
    };
    assert!(!failing.ok && passing.ok, "{failing:#?} {passing:#?}");
    let tokens = entra.issued_tokens();
    assert_eq!(tokens.len(), 2);
    for report in [&failing, &passing] {
        let text = json(report);
        assert!(!text.contains(SECRET), "{text}");
        for t in &tokens {
            // Even a token's signature part would be a leak.
            assert!(!text.contains(t.rsplit('.').next().unwrap()), "{text}");
        }
        assert!(!format!("{report:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn a_cloud_the_template_does_not_accept_is_refused_before_any_request() {
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(
                GRAPH,
                &["SecurityIncident.Read.All", "SecurityAlert.Read.All"],
            )
            .grant(MANAGE, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"]),
    );
    // Graph security incidents and alerts do not exist in the China cloud:
    // the token request would succeed there, so only refusing keeps it from
    // verifying green.
    let mut china = cred(SECRET, "china");
    china.template = "defender-incidents".to_owned();
    let report = run(&entra, &china, &template("defender-incidents"), false).await;
    assert!(!report.ok);
    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.api.as_deref(), f.code.as_deref()),
        (Step::Cloud, None, None)
    );
    assert_eq!(
        f.message,
        "The defender-incidents template does not work in the china cloud: Microsoft Graph security alerts and incidents do not exist in the China cloud, and SecurityIncident.Read.All is for them. It works in commercial, gcc, gcc-high, dod; confirm the customer's cloud, and if china is right, collect this tenant with a template made for it."
    );
    assert_eq!(serde_json::to_value(f.step).unwrap(), "cloud");

    let report = run_o365(&entra, SECRET, "china", true).await;
    let f = report.failure.as_ref().unwrap();
    assert_eq!(f.step, Step::Cloud);
    assert!(
        f.message.contains(
            "the Office 365 Management API's address in the China cloud is not known to handoff"
        ),
        "{}",
        f.message
    );
    assert_eq!(report.apis[0].scope, None);
    assert!(entra.requests().is_empty(), "nothing was asked of Entra ID");

    // The same template verifies in a cloud it accepts.
    let report = run(
        &entra,
        &cred(SECRET, "gcc"),
        &template("defender-incidents"),
        false,
    )
    .await;
    assert!(report.ok, "{report:#?}");
}

#[tokio::test]
async fn an_accepted_cloud_without_a_scope_is_refused_before_any_request() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(GRAPH, &["IdentityRiskyUser.Read.All"]));
    // A template changed after its load check: it claims china, with no scope.
    let mut t = template("identity-protection");
    t.tokens[0].scopes.remove(&handoff::cloud::Cloud::China);
    let report = run(&entra, &cred(SECRET, "china"), &t, false).await;
    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.api.as_deref()),
        (Step::Cloud, Some("Microsoft Graph"))
    );
    assert!(
        f.message.contains("not known to exist in the china cloud"),
        "{}",
        f.message
    );
    assert!(entra.requests().is_empty());
}

#[tokio::test]
async fn an_unreachable_login_host_is_a_network_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = verify::parse_base_url(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = reqwest::Client::new();
    let report = verify::verify(
        &client,
        &Endpoints::all_at(&base),
        &cred(SECRET, "commercial"),
        &template("o365-management"),
        false,
    )
    .await;

    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.step, f.code.as_deref(), f.status),
        (Step::Token, None, None)
    );
    assert!(
        f.message.contains("Could not reach")
            && f.message.contains("127.0.0.1")
            && f.message.contains("not the customer's credential"),
        "{}",
        f.message
    );
    assert!(!json(&report).contains(SECRET));
}

#[tokio::test]
async fn each_api_of_a_template_gets_its_own_token() {
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(MANAGE, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"])
            .grant(GRAPH, &["SecurityAlert.Read.All"]),
    );
    let mut both = template("o365-management");
    let graph = template("graph-security-alerts");
    both.permissions.extend(
        graph
            .permissions
            .iter()
            .filter(|p| p.name == "SecurityAlert.Read.All")
            .cloned(),
    );
    both.tokens.extend(graph.tokens.iter().cloned());
    let report = run(&entra, &cred(SECRET, "commercial"), &both, false).await;

    assert!(report.ok, "{report:#?}");
    assert_eq!(report.apis.len(), 2);
    assert_eq!(
        report.apis[1].scope.as_deref(),
        Some("https://graph.microsoft.com/.default")
    );
    let scopes: Vec<String> = entra
        .requests()
        .iter()
        .map(|r| r.form["scope"].clone())
        .collect();
    assert_eq!(
        scopes,
        [
            "https://manage.office.com/.default",
            "https://graph.microsoft.com/.default"
        ]
    );
}

#[tokio::test]
async fn the_report_has_the_documented_shape() {
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).mode(Mode::ExpiredSecret));
    let report = run_o365(&entra, SECRET, "gcc", false).await;
    let v: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["cloud"], "gcc");
    assert_eq!(
        v["apis"][0]["scope"],
        "https://manage-gcc.office.com/.default"
    );
    assert_eq!(v["failure"]["step"], "token");
    assert_eq!(v["failure"]["code"], "AADSTS7000222");
    assert!(v["failure"]["message"].is_string());
    assert!(v["subscriptions"].is_null());
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(v["apis"][0]["roles_optional"], serde_json::json!([]));
    assert_eq!(v["apis"][0]["missing_optional"], serde_json::json!([]));
}
