//! `handoff collect --target cribl`, the real binary, against a server and a
//! local stand-in of a Cribl Stream Leader's REST API: a new tenant becomes
//! one stored secret and one Office 365 Activity Source, committed and
//! deployed; a second import sends no write, no commit and no deploy; a
//! rotation rewrites only the stored secret; refusals (a bad token, a
//! missing group, uncommitted changes, a refused deploy) leave the copy in
//! the inbox with Cribl's words; a dry run reads but sends nothing, masked;
//! a single instance commits without a deploy.

mod common;
#[path = "cribl_server/mod.rs"]
mod cribl_server;

use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc};
use common::{Backend, TestApp};
use cribl_server::Cribl;
use handoff::collect::masked_secret;
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const ROTATED: &str = "Yq90Q~rotatedContosoSecretValue01234567";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoYW5kb2ZmIn0.c2lnbmF0dXJl";
const USER: &str = "handoff";
const PASSWORD: &str = "cribl-Pa55:word";

const SOURCE: &str = "handoff_o365_72f988bf-86f1-41af-91ab-2d7cd011db47";
const STORED: &str = "handoff_o365_72f988bf-86f1-41af-91ab-2d7cd011db47_secret";

const READS: [&str; 3] = [
    "GET /products/stream/groups/default?fields=git.commit%2Cgit.localChanges",
    "GET /m/default/system/secrets",
    "GET /m/default/system/inputs",
];

const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// A collector host whose `--api-token-file` holds a Cribl token or
/// `USER:PASSWORD`.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, secret: &str) -> Host {
        Host(ApiHost::new(app, soc, "cribl", secret).await)
    }

    fn set_secret(&self, secret: &str) {
        self.0.set_api_secret(secret);
    }

    async fn collect(&self, app: &TestApp, cribl: &Cribl, extra: &[&str]) -> Output {
        self.0
            .command(app, &cribl.base)
            .args(extra)
            .output()
            .await
            .unwrap()
    }
}

async fn answered(app: &TestApp, soc: &age::x25519::Identity, secret: &str, cloud: &str) -> Opened {
    let credential = (TENANT, CLIENT, secret);
    answered_with_credential(app, soc, "o365-management", credential, cloud).await
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET, ROTATED, TOKEN, PASSWORD])
}

fn body(cribl: &Cribl, n: usize) -> Value {
    serde_json::from_str(&cribl.received()[n].body).unwrap()
}

async fn a_new_tenant_becomes_one_source_and_a_second_import_sends_no_write(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let cribl = Cribl::start(TOKEN, USER, PASSWORD, &["default"]).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &cribl, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected: Vec<String> = READS.iter().map(|s| (*s).to_owned()).collect();
    expected.extend(
        [
            "POST /m/default/system/secrets",
            "POST /m/default/system/inputs",
            "POST /m/default/version/commit",
            "PATCH /products/stream/groups/default/deploy",
        ]
        .map(str::to_owned),
    );
    assert_eq!(cribl.calls(), expected);
    for r in cribl.received() {
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
    }

    let group = cribl.scope("default");
    assert_eq!(group.secrets.len(), 1);
    let secret = &group.secrets[0];
    assert_eq!(secret["id"], STORED);
    assert_eq!(secret["secretType"], "text");
    assert_eq!(secret["value"], SECRET);
    assert_eq!(secret["tags"], "handoff");
    let description = secret["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!(
            "Client secret of Entra app {CLIENT} for tenant {TENANT}, expires 2027-06-30; written by handoff (fingerprint "
        )),
        "{description}"
    );
    assert_eq!(group.inputs.len(), 1);
    let source = &group.inputs[0];
    let config: Vec<Value> = CONTENT_TYPES
        .iter()
        .map(|t| json!({"contentType": t, "interval": 15, "logLevel": "info", "enabled": true}))
        .collect();
    let mut sent = source.clone();
    assert!(
        sent["description"]
            .as_str()
            .unwrap()
            .contains(&format!("(tenant {TENANT}); created by handoff"))
    );
    sent.as_object_mut().unwrap().remove("description");
    assert_eq!(
        sent,
        json!({
            "id": SOURCE, "type": "office365_mgmt", "disabled": false, "sendToRoutes": true,
            "tenantId": TENANT, "appId": CLIENT, "planType": "enterprise_gcc",
            "authType": "secret", "textSecret": STORED, "contentConfig": config,
        })
    );
    assert!(
        source.get("clientSecret").is_none(),
        "the secret is stored, not inline"
    );
    let (commit, message) = group.commits.last().unwrap().clone();
    assert_eq!(
        message,
        format!("handoff: Office 365 Activity Source for tenant {TENANT}")
    );
    assert_eq!(body(&cribl, 6), json!({"version": commit}));
    assert_eq!(group.config_version, commit, "the commit is deployed");
    assert_eq!(group.local_changes, 0);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    // The same credential again: read, nothing written, committed or deployed.
    let again = answered(&app, &soc, SECRET, "commercial").await;
    let said = assert_success(&host.collect(&app, &cribl, &[]).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(&cribl.calls()[7..], READS);
    let after = cribl.scope("default");
    assert_eq!(after.secrets, group.secrets);
    assert_eq!(after.inputs, group.inputs);
    assert_eq!(after.commits, group.commits);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_rewrites_only_the_stored_secret(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let cribl = Cribl::start(TOKEN, USER, PASSWORD, &["default", "o365"]).await;
    // A user and password to log in with, not a token.
    let host = Host::new(&app, &soc, &format!("{USER}:{PASSWORD}")).await;
    // A group that already collects another tenant, set up by hand.
    let by_hand_input = json!({"id": "fabrikam_o365", "type": "office365_mgmt",
        "tenantId": "11111111-2222-3333-4444-555555555555", "appId": "app", "planType": "gcc",
        "authType": "manual", "clientSecret": "fabrikam-inline-secret", "pipeline": "o365_tuned"});
    let by_hand_secret =
        json!({"id": "fabrikam", "secretType": "text", "value": "fabrikam-secret", "tags": "ops"});
    cribl.edit("o365", |g| {
        g.inputs.push(by_hand_input.clone());
        g.secrets.push(by_hand_secret.clone());
    });
    let group = ["--cribl-group", "o365"];

    answered(&app, &soc, SECRET, "gcc-high").await;
    assert_success(&host.collect(&app, &cribl, &group).await);
    let calls = cribl.calls();
    assert_eq!(calls[0], "POST /auth/login");
    let login = &cribl.received()[0];
    assert!(!login.headers.contains_key("authorization"));
    assert_eq!(
        serde_json::from_str::<Value>(&login.body).unwrap(),
        json!({"username": USER, "password": PASSWORD})
    );
    assert!(
        cribl.received()[1..]
            .iter()
            .all(|r| r.headers["authorization"] == "Bearer session-1")
    );
    let first = cribl.scope("o365");
    assert_eq!(first.inputs[0], by_hand_input);
    assert_eq!(first.secrets[0], by_hand_secret);
    assert_eq!(first.inputs[1]["planType"], "gcc_high");
    assert_eq!(first.inputs.len(), 2);
    assert!(
        cribl.scope("default").inputs.is_empty(),
        "only the named group"
    );

    // The operator tunes the Source in Cribl and commits.
    cribl.edit("o365", |g| {
        g.inputs[1]["pipeline"] = json!("o365_enrich");
        g.inputs[1]["contentConfig"][4]["enabled"] = json!(false);
    });
    let tuned = cribl.scope("o365").inputs;

    answered(&app, &soc, ROTATED, "gcc-high").await;
    let before = cribl.calls().len();
    let said = assert_success(&host.collect(&app, &cribl, &group).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(
        cribl.calls()[before..],
        [
            "POST /auth/login",
            "GET /products/stream/groups/o365?fields=git.commit%2Cgit.localChanges",
            "GET /m/o365/system/secrets",
            "GET /m/o365/system/inputs",
            &format!("PATCH /m/o365/system/secrets/{STORED}"),
            "POST /m/o365/version/commit",
            "PATCH /products/stream/groups/o365/deploy",
        ]
    );
    let after = cribl.scope("o365");
    assert_eq!(
        after.inputs, tuned,
        "the Source and the operator's tuning stay"
    );
    assert_eq!(after.secrets[0], by_hand_secret);
    assert_eq!(after.secrets.len(), 2);
    assert_eq!(after.secrets[1]["value"], ROTATED);
    assert_eq!(after.secrets[1]["tags"], "handoff");
    assert_ne!(
        after.secrets[1]["description"], first.secrets[1]["description"],
        "the fingerprint names the new secret"
    );
    assert_eq!(after.config_version, after.commits.last().unwrap().0);
}

/// A refused change: nothing acknowledged, the lease released with
/// Cribl's words in the PM's trail.
async fn refused(
    app: &TestApp,
    host: &Host,
    cribl: &Cribl,
    extra: &[&str],
    r: &Opened,
    words: &[&str],
) {
    let out = host.collect(app, cribl, extra).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, TOKEN]).await;
}

async fn refusals_leave_the_copy_in_the_inbox_in_cribls_words(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let cribl = Cribl::start(TOKEN, USER, PASSWORD, &["default"]).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let host = Host::new(&app, &soc, "an-expired-token").await;
    refused(
        &app,
        &host,
        &cribl,
        &[],
        &r,
        &["was refused: 401 Unauthorized: the platform said: Unauthorized"],
    )
    .await;
    assert_eq!(cribl.calls(), READS[..1]);

    host.set_secret(TOKEN);
    refused(
        &app,
        &host,
        &cribl,
        &["--cribl-group", "o365"],
        &r,
        &["404 Not Found", "Group o365 not found"],
    )
    .await;

    cribl.edit("default", |g| g.local_changes = 2);
    refused(
        &app,
        &host,
        &cribl,
        &[],
        &r,
        &["Cribl Worker Group \"default\" has 2 uncommitted change(s)"],
    )
    .await;
    assert!(cribl.calls().iter().all(|c| c.starts_with("GET ")));
    assert!(cribl.scope("default").inputs.is_empty());

    // Written and committed, but the deploy is refused: not acknowledged;
    // the retry deploys the commit without writing again.
    cribl.edit("default", |g| g.local_changes = 0);
    cribl.refuse_deploys(Some("Deploy is in progress for group default"));
    refused(
        &app,
        &host,
        &cribl,
        &[],
        &r,
        &[
            "/products/stream/groups/default/deploy was refused: 500 Internal Server Error",
            "Deploy is in progress for group default",
        ],
    )
    .await;
    let group = cribl.scope("default");
    assert_eq!(group.inputs.len(), 1);
    assert_ne!(group.config_version, group.commits.last().unwrap().0);
    cribl.refuse_deploys(None);
    let before = cribl.calls().len();
    let said = assert_success(&host.collect(&app, &cribl, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected: Vec<String> = READS.iter().map(|s| (*s).to_owned()).collect();
    expected.push("PATCH /products/stream/groups/default/deploy".to_owned());
    assert_eq!(cribl.calls()[before..], expected);
    let group = cribl.scope("default");
    assert_eq!(group.config_version, group.commits.last().unwrap().0);
    assert_eq!(group.commits.len(), 2, "one commit, no other");
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    let china = answered(&app, &soc, SECRET, "china").await;
    let out = host.collect(&app, &cribl, &[]).await;
    assert!(!out.status.success());
    let req = app.store.request(&china.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

async fn a_dry_run_reads_but_sends_nothing_and_masks(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let cribl = Cribl::start(TOKEN, USER, PASSWORD, &["default"]).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "dod").await;

    let said = assert_success(&host.collect(&app, &cribl, &["--dry-run"]).await);
    assert_eq!(cribl.calls(), READS);
    let post = format!(
        "POST {}/m/default/system/secrets\nAuthorization: Bearer ********\nContent-Type: application/json\nAccept: application/json\n\n",
        cribl.base
    );
    assert!(said.contains(&post), "{post}\nin\n{said}");
    assert!(said.contains(&masked_secret(SECRET)), "{said}");
    assert!(said.contains("\"planType\":\"dod\""), "{said}");
    assert!(
        said.contains(&format!(
            "PATCH {}/products/stream/groups/default/deploy",
            cribl.base
        )),
        "{said}"
    );
    assert!(
        said.contains("<the commit id Cribl answers to the commit above>"),
        "{said}"
    );
    assert!(said.contains("nothing written or sent"), "{said}");
    let group = cribl.scope("default");
    assert!(group.inputs.is_empty() && group.secrets.is_empty());
    assert_eq!(group.commits.len(), 1);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

async fn a_single_instance_commits_without_a_deploy(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let cribl = Cribl::start(TOKEN, USER, PASSWORD, &[]).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    answered(&app, &soc, SECRET, "gcc").await;

    let single = ["--cribl-single-instance"];
    assert_success(&host.collect(&app, &cribl, &single).await);
    let reads = [
        "GET /version/status",
        "GET /system/secrets",
        "GET /system/inputs",
    ];
    let mut expected: Vec<String> = reads.iter().map(|s| (*s).to_owned()).collect();
    expected.extend(
        [
            "POST /system/secrets",
            "POST /system/inputs",
            "POST /version/commit",
        ]
        .map(str::to_owned),
    );
    assert_eq!(cribl.calls(), expected);
    let instance = cribl.scope("");
    assert_eq!(instance.inputs[0]["planType"], "gcc");
    assert_eq!(instance.secrets[0]["value"], SECRET);

    answered(&app, &soc, SECRET, "gcc").await;
    let said = assert_success(&host.collect(&app, &cribl, &single).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(cribl.calls()[6..], reads);
}

with_each_backend!(
    a_new_tenant_becomes_one_source_and_a_second_import_sends_no_write,
    a_rotation_rewrites_only_the_stored_secret,
    refusals_leave_the_copy_in_the_inbox_in_cribls_words,
    a_dry_run_reads_but_sends_nothing_and_masks,
    a_single_instance_commits_without_a_deploy,
);
