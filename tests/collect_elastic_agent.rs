//! `handoff collect --target elastic-agent`, the real binary, against a
//! server and a local stand-in of Kibana's Fleet API: a new tenant becomes
//! one integration policy, a second import of the same secret sends no write
//! (Fleet never shows a stored secret, so the secret's digest kept in the
//! policy's description decides, and the stored secret is proven unchanged),
//! a rotation changes only the secret, Defender incidents become an
//! m365_defender policy with the package's other streams off, refusals (a
//! bad API key, a package not installed or too old, an unknown agent
//! policy) leave the copy in the inbox with Kibana's words, and a dry run
//! reads but sends nothing, masked.

mod common;
#[path = "fleet_server/mod.rs"]
mod fleet_server;

use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc};
use common::{Backend, TestApp};
use fleet_server::{AGENT_POLICY, DEFENDER_VERSION, Fleet, O365_VERSION};
use handoff::collect::masked_secret;
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const ROTATED: &str = "Yq90Q~rotatedContosoSecretValue01234567";
/// An API key's encoded form, as Kibana's "Create API key" shows it.
const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

const O365_POLICY: &str = "handoff-o365-72f988bf-86f1-41af-91ab-2d7cd011db47";
const DEFENDER_POLICY: &str = "handoff-m365_defender-72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The two reads every import makes before it decides.
fn reads(package: &str, policy: &str) -> [String; 2] {
    [
        format!("GET /epm/packages/{package}"),
        format!(
            "GET /package_policies?kuery=ingest-package-policies.name%3A%22{policy}%22&format=simplified&perPage=100"
        ),
    ]
}

/// A collector host whose `--api-token-file` holds a Kibana API key.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, key: &str) -> Host {
        Host(ApiHost::new(app, soc, "elastic-agent", key).await)
    }

    async fn collect(&self, app: &TestApp, fleet: &Fleet, extra: &[&str]) -> Output {
        self.collect_on(app, fleet, AGENT_POLICY, extra).await
    }

    async fn collect_on(
        &self,
        app: &TestApp,
        fleet: &Fleet,
        agent_policy: &str,
        extra: &[&str],
    ) -> Output {
        self.0
            .command(app, &fleet.base)
            .args(["--fleet-agent-policy", agent_policy])
            .args(extra)
            .output()
            .await
            .unwrap()
    }
}

async fn answered(
    app: &TestApp,
    soc: &age::x25519::Identity,
    template: &str,
    secret: &str,
    cloud: &str,
) -> Opened {
    answered_with_credential(app, soc, template, (TENANT, CLIENT, secret), cloud).await
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET, ROTATED, API_KEY])
}

fn digest_token(secret: &str) -> String {
    let masked = masked_secret(secret);
    let hex = masked.rsplit('#').next().unwrap();
    format!("[handoff secret sha256:{hex}]")
}

async fn a_new_tenant_becomes_one_integration_policy_and_a_second_import_sends_no_write(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let fleet = Fleet::start(API_KEY).await;
    let host = Host::new(&app, &soc, API_KEY).await;
    let r = answered(&app, &soc, "o365-management", SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &fleet, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected = reads("o365", O365_POLICY).to_vec();
    expected.push(format!("GET /agent_policies/{AGENT_POLICY}"));
    expected.push("POST /package_policies".to_owned());
    assert_eq!(fleet.calls(), expected);
    for r in fleet.received() {
        assert_eq!(r.headers["authorization"], format!("ApiKey {API_KEY}"));
        assert_eq!(r.headers["kbn-xsrf"], "true");
        assert_eq!(r.headers["elastic-api-version"], "2023-10-31");
    }
    let post: Value = serde_json::from_str(&fleet.received()[3].body).unwrap();
    assert_eq!(post["policy_ids"], json!([AGENT_POLICY]));
    assert_eq!(
        post["package"],
        json!({"name": "o365", "version": O365_VERSION})
    );
    assert_eq!(
        post["inputs"]["o365-o365audit"],
        json!({"enabled": false}),
        "the deprecated input is off"
    );

    let policies = fleet.policies();
    assert_eq!(policies.len(), 1);
    let p = &policies[0];
    assert_eq!(p["name"], O365_POLICY);
    assert!(
        p["description"]
            .as_str()
            .unwrap()
            .ends_with(&digest_token(SECRET)),
        "{}",
        p["description"]
    );
    assert_eq!(p["inputs"]["o365-cel"]["enabled"], true);
    let stream = &p["inputs"]["o365-cel"]["streams"]["o365.audit"];
    assert_eq!(stream["enabled"], true);
    let vars = &stream["vars"];
    assert_eq!(vars["azure_tenant_id"], TENANT);
    assert_eq!(vars["client_id"], CLIENT);
    assert_eq!(vars["url"], "https://manage.office.com");
    assert_eq!(vars["token_url"], "https://login.microsoftonline.com");
    assert_eq!(
        vars["token_scopes"],
        json!(["https://manage.office.com/.default"])
    );
    assert_eq!(
        vars["content_types"],
        "Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All"
    );
    assert_eq!(vars["interval"], "3m", "the package's default");
    assert_eq!(vars["client_secret"]["isSecretRef"], true);
    assert_eq!(
        fleet.secret(&vars["client_secret"]).as_deref(),
        Some(SECRET)
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    // The same credential again: read, nothing written, the stored secret
    // the same one.
    let again = answered(&app, &soc, "o365-management", SECRET, "commercial").await;
    let said = assert_success(&host.collect(&app, &fleet, &[]).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(&fleet.calls()[4..], reads("o365", O365_POLICY));
    assert_eq!(fleet.policies(), policies);
    assert_eq!(fleet.secret_count(), 1);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_changes_only_the_secret(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let fleet = Fleet::start(API_KEY).await;
    let host = Host::new(&app, &soc, API_KEY).await;
    // Another tenant's policy, made by hand in Kibana.
    let by_hand = json!({"id": "pp-fabrikam", "name": "Fabrikam O365", "description": "tuned",
        "namespace": "fabrikam", "policy_ids": [AGENT_POLICY],
        "package": {"name": "o365", "title": "Microsoft Office 365", "version": O365_VERSION},
        "inputs": {"o365-cel": {"enabled": true, "streams": {"o365.audit": {"enabled": true,
            "vars": {"azure_tenant_id": "11111111-2222-3333-4444-555555555555",
                     "client_secret": "fabrikam-secret-value"}}}}},
        "revision": 3});
    fleet.add_policy(by_hand.clone());
    answered(&app, &soc, "o365-management", SECRET, "gcc-high").await;
    assert_success(&host.collect(&app, &fleet, &[]).await);
    let vars = |p: &Value| p["inputs"]["o365-cel"]["streams"]["o365.audit"]["vars"].clone();
    let first = fleet.policies()[1].clone();
    assert_eq!(vars(&first)["url"], "https://manage.office365.us");
    assert_eq!(
        vars(&first)["token_url"],
        "https://login.microsoftonline.us"
    );
    assert_eq!(
        vars(&first)["token_scopes"],
        json!(["https://manage.office365.us/.default"])
    );
    // The operator tunes it in Kibana: a slower interval, their own words
    // in the description, the content types in another order.
    fleet.edit_policy(O365_POLICY, |p| {
        let v = &mut p["inputs"]["o365-cel"]["streams"]["o365.audit"]["vars"];
        v["interval"] = json!("10m");
        v["content_types"] = json!(
            "DLP.All,Audit.General,Audit.SharePoint,Audit.Exchange,Audit.AzureActiveDirectory"
        );
        let d = p["description"].as_str().unwrap().to_owned();
        p["description"] = json!(format!("Contoso, tuned by Jo. {d}"));
    });
    let tuned = fleet.policies()[1].clone();

    answered(&app, &soc, "o365-management", ROTATED, "gcc-high").await;
    let said = assert_success(&host.collect(&app, &fleet, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert!(said.contains("is updated: client_secret;"), "{said}");
    let put = fleet.received().last().unwrap().clone();
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.uri,
        format!(
            "/api/fleet/package_policies/{}",
            first["id"].as_str().unwrap()
        )
    );
    let body: Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(vars(&body)["client_secret"], ROTATED);
    assert_eq!(vars(&body)["interval"], "10m");

    let after = fleet.policies();
    assert_eq!(after[0], by_hand, "the other tenant's policy is untouched");
    assert_eq!(after.len(), 2, "updated, never a duplicate");
    let now = &after[1];
    let secret = vars(now)["client_secret"].clone();
    assert_eq!(fleet.secret(&secret).as_deref(), Some(ROTATED));
    assert_eq!(fleet.secret_count(), 1, "the old secret is gone");
    // Everything else is as the operator left it, but the digest.
    let mut expected = tuned.clone();
    expected["inputs"]["o365-cel"]["streams"]["o365.audit"]["vars"]["client_secret"] = secret;
    expected["revision"] = json!(2);
    expected["description"] = json!(
        tuned["description"]
            .as_str()
            .unwrap()
            .replace(&digest_token(SECRET), &digest_token(ROTATED))
    );
    assert_eq!(now, &expected);
    assert!(
        now["description"]
            .as_str()
            .unwrap()
            .starts_with("Contoso, tuned by Jo. ")
    );
}

async fn defender_incidents_become_an_m365_defender_policy_with_the_other_streams_off(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let fleet = Fleet::start(API_KEY).await;
    let host = Host::new(&app, &soc, API_KEY).await;
    answered(&app, &soc, "defender-incidents", SECRET, "dod").await;

    assert_success(&host.collect(&app, &fleet, &[]).await);
    let calls = fleet.calls();
    assert_eq!(&calls[..2], reads("m365_defender", DEFENDER_POLICY));
    assert_eq!(calls.last().unwrap(), "POST /package_policies");
    let p = &fleet.policies()[0];
    assert_eq!(p["name"], DEFENDER_POLICY);
    assert_eq!(p["package"]["version"], DEFENDER_VERSION);
    let input = &p["inputs"]["m365_defender-httpjson"];
    assert_eq!(input["enabled"], true);
    assert_eq!(
        input["vars"]["login_url"],
        "https://login.microsoftonline.us"
    );
    assert_eq!(input["vars"]["token_endpoint"], "oauth2/v2.0/token");
    assert_eq!(input["vars"]["client_id"], CLIENT);
    assert_eq!(input["vars"]["tenant_id"], TENANT);
    assert_eq!(
        fleet.secret(&input["vars"]["client_secret"]).as_deref(),
        Some(SECRET)
    );
    let incident = &input["streams"]["m365_defender.incident"];
    assert_eq!(incident["enabled"], true);
    assert_eq!(
        incident["vars"]["request_url"],
        "https://dod-graph.microsoft.us"
    );
    assert_eq!(input["streams"]["m365_defender.alert"]["enabled"], false);
    assert_eq!(
        p["inputs"]["m365_defender-azure-eventhub"]["enabled"],
        false
    );

    // Again: nothing written.
    answered(&app, &soc, "defender-incidents", SECRET, "dod").await;
    let before = fleet.policies();
    let said = assert_success(&host.collect(&app, &fleet, &[]).await);
    assert!(said.contains("1 unchanged"), "{said}");
    assert!(
        fleet.calls()[calls.len()..]
            .iter()
            .all(|c| c.starts_with("GET "))
    );
    assert_eq!(fleet.policies(), before);
}

/// A refused change: nothing acknowledged, the lease released with
/// Kibana's words in the PM's trail.
async fn refused(
    app: &TestApp,
    host: &Host,
    fleet: &Fleet,
    agent_policy: &str,
    r: &Opened,
    words: &[&str],
) {
    let out = host.collect_on(app, fleet, agent_policy, &[]).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, API_KEY]).await;
}

async fn refusals_leave_the_copy_in_the_inbox_in_kibanas_words(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let fleet = Fleet::start(API_KEY).await;
    let host = Host::new(&app, &soc, "b2xkOmtleQ==").await;
    let r = answered(&app, &soc, "o365-management", SECRET, "commercial").await;

    refused(
        &app,
        &host,
        &fleet,
        AGENT_POLICY,
        &r,
        &[
            "/api/fleet/epm/packages/o365 was refused: 401 Unauthorized",
            "unable to authenticate with provided credentials",
        ],
    )
    .await;

    host.0.set_api_secret(API_KEY);
    refused(
        &app,
        &host,
        &fleet,
        "no-such-policy",
        &r,
        &[
            "GET",
            "/agent_policies/no-such-policy was refused: 404 Not Found",
            "Agent policy no-such-policy not found",
        ],
    )
    .await;

    fleet.drop_stream_var("o365", "token_scopes");
    refused(
        &app,
        &host,
        &fleet,
        AGENT_POLICY,
        &r,
        &["the installed o365 package 3.8.0 has no variable \"token_scopes\""],
    )
    .await;

    fleet.uninstall("o365");
    refused(
        &app,
        &host,
        &fleet,
        AGENT_POLICY,
        &r,
        &["the Microsoft Office 365 integration (package o365) is not installed in this Kibana"],
    )
    .await;
    assert!(fleet.policies().is_empty());
    assert!(fleet.calls().iter().all(|c| c.starts_with("GET ")));
}

async fn a_dry_run_reads_but_sends_nothing_and_masks(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let fleet = Fleet::start(API_KEY).await;
    let host = Host::new(&app, &soc, API_KEY).await;
    let r = answered(&app, &soc, "o365-management", SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &fleet, &["--dry-run"]).await);
    let mut expected = reads("o365", O365_POLICY).to_vec();
    expected.push(format!("GET /agent_policies/{AGENT_POLICY}"));
    assert_eq!(fleet.calls(), expected);
    let post = format!(
        "POST {}/api/fleet/package_policies\nAuthorization: ApiKey ********\nContent-Type: application/json\nkbn-xsrf: true\nElastic-Api-Version: 2023-10-31\nAccept: application/json\n\n",
        fleet.base
    );
    assert!(said.contains(&post), "{post}\nin\n{said}");
    assert!(said.contains(&masked_secret(SECRET)), "{said}");
    assert!(said.contains("nothing written or sent"), "{said}");
    assert!(fleet.policies().is_empty());
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

with_each_backend!(
    a_new_tenant_becomes_one_integration_policy_and_a_second_import_sends_no_write,
    a_rotation_changes_only_the_secret,
    defender_incidents_become_an_m365_defender_policy_with_the_other_streams_off,
    refusals_leave_the_copy_in_the_inbox_in_kibanas_words,
    a_dry_run_reads_but_sends_nothing_and_masks,
);
