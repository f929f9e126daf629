//! `handoff collect --recheck`, the real binary, against a server with a
//! manual clock and a local stand-in for Entra ID, on both databases: a
//! credential imported and verified is not checked again within the
//! interval; once due, it is read back from where the target wrote it and
//! gets one token request; a secret that starts answering AADSTS7000222
//! marks it failing with the right sentence and one notified event, a
//! repeat adds nothing, a later success marks it recovered; a secret changed
//! by hand in the target is what gets checked; a check that cannot be made
//! from here blames nobody; and the API refuses bad reports.

mod common;
#[path = "standin/mod.rs"]
mod standin;

use common::collector_host::Host;
use common::flow::{answered_with_credential, app_with_soc, event_kinds, mint_token};
use common::{Backend, TestApp, assert_error};
use serde_json::{Value, json};
use standin::{App, Mode, StandIn};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~recheckedsecretvalue0123456789ABCD";
const MANAGE: &str = "https://manage.office.com";
const HOUR: i64 = 3600;

/// A request for o365-management answered with the app's credential
/// (commercial cloud), with a sealed copy for `soc`.
async fn answered(app: &TestApp, soc: &age::x25519::Identity) -> common::flow::Opened {
    answered_with_credential(
        app,
        soc,
        "o365-management",
        (TENANT, CLIENT, SECRET),
        "commercial",
    )
    .await
}

/// Entra with the app consented for the o365-management template.
async fn entra() -> StandIn {
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET)
            .grant(MANAGE, &["ActivityFeed.Read", "ActivityFeed.ReadDlp"]),
    );
    entra
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `handoff collect --target TARGET` on `host` with `extra`, Entra at
/// the stand-in; returns stdout, asserting success.
async fn collect(
    app: &TestApp,
    host: &Host,
    entra: &StandIn,
    target: &str,
    extra: &[&str],
) -> String {
    let base = entra.base.to_string();
    let out = host
        .command_for(app, target)
        .args(["--login-host", &base, "--manage-host", &base])
        .args(extra)
        .output()
        .await
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", text(&out.stderr));
    assert!(!said.contains(SECRET), "{said}");
    said
}

fn token_requests(entra: &StandIn) -> usize {
    entra
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count()
}

/// The request's register facts: (verify_ok, verify_detail).
async fn standing(app: &TestApp, request_id: &str) -> (Option<bool>, String) {
    let entries = app.store.credential_entries().await.unwrap();
    let e = entries
        .into_iter()
        .find(|e| e.request_id == request_id)
        .expect("the request is in the register");
    (e.verify_ok, e.verify_detail.unwrap_or_default())
}

async fn events_of(app: &TestApp, request_id: &str, kind: &str) -> Vec<Value> {
    app.store
        .request_events(request_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect()
}

/// Leases and acknowledges request `id` through the API, as a collector of
/// `target` that imported it would.
async fn import_by_api(app: &TestApp, token: &str, id: &str, target: &str) {
    let lease: Value = app
        .http
        .post(app.url(&format!("/api/v1/inbox/{id}/lease")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ack = app
        .http
        .post(app.url(&format!("/api/v1/inbox/{id}/ack")))
        .bearer_auth(token)
        .json(&json!({"lease_id": lease["lease_id"], "target": target,
            "credential": {"client_id": CLIENT}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 204);
}

/// `--ossec-conf` and `--secrets-dir` for the wazuh-office365 target on `host`.
fn wazuh_args(host: &Host) -> Vec<String> {
    vec![
        "--ossec-conf".to_owned(),
        host.path("ossec.conf").display().to_string(),
        "--secrets-dir".to_owned(),
        host.path("secrets").display().to_string(),
    ]
}

/// `GET /api/v1/inbox/credentials?unchecked_for=3600`.
async fn due_in_an_hour(app: &TestApp, token: &str) -> Value {
    let res = app
        .http
        .get(app.url("/api/v1/inbox/credentials?unchecked_for=3600"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn failing_then_recovered_once_each(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = entra().await;
    let host = Host::new(&app, &soc).await;
    let out_dir = host.path("credentials").display().to_string();
    let r = answered(&app, &soc).await;
    let env = ["--output-dir", out_dir.as_str()];
    let said = collect(
        &app,
        &host,
        &entra,
        "env",
        &[&env[..], &["--verify"]].concat(),
    )
    .await;
    assert!(said.contains("; verified"), "{said}");
    let after_import = token_requests(&entra);

    // Verified on import: nothing is due within the hour.
    let recheck = [&env[..], &["--recheck", "1h"]].concat();
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains("re-check: 0 working"), "{said}");
    assert_eq!(token_requests(&entra), after_import, "no token request");

    // Due, still working: one token request, no event.
    app.clock.advance(2 * HOUR);
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains(": works"), "{said}");
    assert_eq!(token_requests(&entra), after_import + 1);
    assert_eq!(standing(&app, &r.id).await.0, Some(true));

    // The secret expires at Entra.
    entra.set_mode(CLIENT, Mode::ExpiredSecret);
    app.clock.advance(2 * HOUR);
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains("STOPPED WORKING (reported)"), "{said}");
    assert!(said.contains("The client secret has expired."), "{said}");
    assert_eq!(token_requests(&entra), after_import + 2);
    let (ok, detail) = standing(&app, &r.id).await;
    assert_eq!(ok, Some(false));
    assert!(
        detail.starts_with("Re-check failed (AADSTS7000222): The client secret has expired."),
        "{detail}"
    );
    let failing = events_of(&app, &r.id, "request.credential_failing").await;
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0]["code"], "AADSTS7000222");
    assert!(
        failing[0]["cause"]
            .as_str()
            .unwrap()
            .contains("creates a new secret for the same app registration")
    );

    // Still failing: reported, but no second event.
    app.clock.advance(2 * HOUR);
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains("still failing"), "{said}");
    assert_eq!(
        events_of(&app, &r.id, "request.credential_failing")
            .await
            .len(),
        1
    );

    // The customer fixes it (here: Entra takes the secret again).
    entra.set_mode(CLIENT, Mode::Ok);
    app.clock.advance(2 * HOUR);
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains("works again (reported)"), "{said}");
    assert_eq!(standing(&app, &r.id).await.0, Some(true));
    let kinds = event_kinds(&app.store, &r.id).await;
    let tail: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("request.credential_"))
        .collect();
    assert_eq!(
        tail,
        ["request.credential_failing", "request.credential_recovered"]
    );
    // Nothing secret reached the trail.
    for e in app.store.request_events(&r.id).await.unwrap() {
        assert!(!e.detail.contains(SECRET));
    }
}

/// The credential checked is the one in the target: a secret replaced by
/// hand in the Wazuh secret file is what Entra gets, and refuses; a tenant
/// removed from ossec.conf is not checked and not blamed on anyone.
async fn the_target_is_read_back(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = entra().await;
    let host = Host::new(&app, &soc).await;
    let wazuh = wazuh_args(&host);
    let wazuh: Vec<&str> = wazuh.iter().map(String::as_str).collect();
    let secrets = host.path("secrets");
    let r = answered(&app, &soc).await;
    collect(&app, &host, &entra, "wazuh-office365", &wazuh).await;
    let recheck = [&wazuh[..], &["--recheck", "1h"]].concat();
    // Imported without --verify: due at once. A re-check reads, never writes.
    let conf_before = std::fs::read(host.path("ossec.conf")).unwrap();
    let said = collect(&app, &host, &entra, "wazuh-office365", &recheck).await;
    assert_eq!(std::fs::read(host.path("ossec.conf")).unwrap(), conf_before);
    assert!(said.contains(": works"), "{said}");
    let sent = entra.requests();
    let last = sent.last().unwrap();
    assert_eq!(last.form["client_secret"], SECRET);
    assert_eq!(last.form["client_id"], CLIENT);

    let file = secrets.join(TENANT);
    std::fs::write(&file, "Xyz8Q~someoneelsessecret0123456789abcdefg").unwrap();
    app.clock.advance(2 * HOUR);
    let said = collect(&app, &host, &entra, "wazuh-office365", &recheck).await;
    assert!(said.contains("STOPPED WORKING"), "{said}");
    assert!(
        said.contains("no longer accepted: it was deleted or replaced"),
        "{said}"
    );
    assert_eq!(
        entra.requests().last().unwrap().form["client_secret"],
        "Xyz8Q~someoneelsessecret0123456789abcdefg"
    );

    // The block is gone from ossec.conf: said, not reported.
    std::fs::write(host.path("ossec.conf"), common::collector_host::OSSEC).unwrap();
    app.clock.advance(2 * HOUR);
    let before = token_requests(&entra);
    let said = collect(&app, &host, &entra, "wazuh-office365", &recheck).await;
    assert!(said.contains("NOT RE-CHECKED"), "{said}");
    assert!(said.contains("holds no credential of app"), "{said}");
    assert_eq!(token_requests(&entra), before);
    assert_eq!(
        events_of(&app, &r.id, "request.credential_failing")
            .await
            .len(),
        1
    );
}

/// A SOC's shared ossec.conf: one `<office365>` block with an `<api_auth>`
/// per customer (a secret file, an inline secret, another cloud). The
/// re-check reads only the tenant and app it imported, sends Entra exactly
/// that secret, asks for nobody else's, and leaves the file as it was.
async fn only_its_own_tenant_is_read_from_a_shared_file(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = entra().await;
    let host = Host::new(&app, &soc).await;
    let shared =
        std::fs::read_to_string("tests/fixtures/wazuh/office365-multi-tenant.conf").unwrap();
    // The fixture's Contoso entry is this tenant's, with an older app: the
    // import puts this app's credential beside or in place of it.
    assert!(shared.contains(TENANT));
    std::fs::write(host.path("ossec.conf"), &shared).unwrap();
    let wazuh = wazuh_args(&host);
    let wazuh: Vec<&str> = wazuh.iter().map(String::as_str).collect();
    answered(&app, &soc).await;
    collect(&app, &host, &entra, "wazuh-office365", &wazuh).await;
    let imported = std::fs::read_to_string(host.path("ossec.conf")).unwrap();
    for other in [
        "<client_id>9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a</client_id>",
        "<client_secret>Fb22Q~oldFabrikamSecretValue0123456789a</client_secret>",
        "<client_secret_path>/var/ossec/etc/o365/northwind.secret</client_secret_path>",
    ] {
        assert!(imported.contains(other), "{other}:\n{imported}");
    }

    let before = token_requests(&entra);
    let recheck = [&wazuh[..], &["--recheck", "1h"]].concat();
    let said = collect(&app, &host, &entra, "wazuh-office365", &recheck).await;
    assert!(said.contains(": works"), "{said}");
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        imported,
        "a re-check only reads"
    );
    let asked: Vec<_> = entra
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .skip(before)
        .collect();
    assert_eq!(
        asked.len(),
        1,
        "one token request, for this credential only"
    );
    assert!(asked[0].path.contains(TENANT), "{}", asked[0].path);
    assert_eq!(asked[0].form["client_id"], CLIENT);
    assert_eq!(asked[0].form["client_secret"], SECRET);
}

/// Microsoft unavailable (503): the check says nothing about the
/// credential, so nothing is reported and it stays due.
async fn a_check_that_cannot_be_made_here_blames_nobody(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = entra().await;
    let host = Host::new(&app, &soc).await;
    let out_dir = host.path("credentials").display().to_string();
    let r = answered(&app, &soc).await;
    let env = ["--output-dir", out_dir.as_str()];
    collect(&app, &host, &entra, "env", &env).await;
    entra.set_mode(CLIENT, Mode::Unavailable);
    let recheck = [&env[..], &["--recheck", "1h"]].concat();
    let said = collect(&app, &host, &entra, "env", &recheck).await;
    assert!(said.contains("not re-checked"), "{said}");
    assert!(said.contains("tried again at the next pass"), "{said}");
    assert_eq!(standing(&app, &r.id).await.0, None);
    assert!(
        events_of(&app, &r.id, "request.credential_failing")
            .await
            .is_empty()
    );
}

/// A target that keeps secrets where handoff cannot read them back says so
/// once, and checks nothing.
async fn a_target_that_hides_secrets_says_so(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = entra().await;
    let token = mint_token(&app, "qradar-collector", "collect").await;
    let r = answered(&app, &soc).await;
    // As if a QRadar collector had imported it.
    import_by_api(&app, &token, &r.id, "qradar").await;
    let host = Host::new(&app, &soc).await;
    let said = collect(
        &app,
        &host,
        &entra,
        "qradar",
        &[
            "--api-url",
            "http://127.0.0.1:9/api",
            "--recheck",
            "1h",
            "--api-token-file",
            host.path("token").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        said.matches("not re-checking qradar credentials").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("does not give a stored client secret back"),
        "{said}"
    );
    assert_eq!(token_requests(&entra), 0);
}

/// The API: bad reports are refused with a sentence; several collectors
/// reporting the same failure at once notify it once.
async fn the_recheck_api_refuses_bad_reports_and_notifies_once(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let token = mint_token(&app, "collector", "collect").await;
    let reader = mint_token(&app, "metrics", "metrics").await;
    let r = answered(&app, &soc).await;
    let post = |id: String, body: Value, bearer: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url(&format!("/api/v1/inbox/{id}/recheck")))
                .bearer_auth(bearer)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Not imported yet.
    let res = post(r.id.clone(), json!({"ok": true}), token.clone()).await;
    assert_error(res, 409, "not_imported").await;

    import_by_api(&app, &token, &r.id, "env").await;

    let msg = assert_error(
        post(r.id.clone(), json!({"ok": false}), token.clone()).await,
        400,
        "bad_request",
    )
    .await;
    assert!(msg.contains("needs its cause"), "{msg}");
    let msg = assert_error(
        post(
            r.id.clone(),
            json!({"ok": false, "cause": "two\nlines"}),
            token.clone(),
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert!(msg.contains("one line"), "{msg}");
    assert_error(
        post(r.id.clone(), json!({"ok": true, "extra": 1}), token.clone()).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        post(r.id.clone(), json!({"ok": true}), reader.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let res = app
        .http
        .get(app.url("/api/v1/inbox/credentials?unchecked_for=soon"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let msg = assert_error(res, 400, "bad_request").await;
    assert!(msg.contains("query string"), "{msg}");

    // The list: the imported credential, never checked.
    let list = due_in_an_hour(&app, &token).await;
    assert_eq!(list["items"][0]["request_id"], r.id.as_str());
    assert_eq!(list["items"][0]["client_id"], CLIENT);
    assert_eq!(list["items"][0]["imported_to"], "env");
    assert_eq!(list["items"][0]["failing"], false);

    // Eight collectors report the same failure at once.
    let body =
        json!({"ok": false, "code": "AADSTS7000222", "cause": "The client secret has expired."});
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let req = app
                .http
                .post(app.url(&format!("/api/v1/inbox/{}/recheck", r.id)))
                .bearer_auth(&token)
                .json(&body);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let res = req.send().await.unwrap();
                assert_eq!(res.status(), 200);
                res.json::<Value>().await.unwrap()["change"].clone()
            })
        })
        .collect();
    let mut changes = Vec::new();
    for t in tasks {
        changes.push(t.await.unwrap());
    }
    assert_eq!(changes.iter().filter(|c| *c == "failing").count(), 1);
    assert_eq!(changes.iter().filter(|c| *c == "unchanged").count(), 7);
    assert_eq!(
        events_of(&app, &r.id, "request.credential_failing")
            .await
            .len(),
        1
    );
    // Now listed as failing, and only when due.
    let list = due_in_an_hour(&app, &token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    app.clock.advance(HOUR);
    let list = due_in_an_hour(&app, &token).await;
    assert_eq!(list["items"][0]["failing"], true);
}

with_each_backend!(
    failing_then_recovered_once_each,
    the_target_is_read_back,
    only_its_own_tenant_is_read_from_a_shared_file,
    a_check_that_cannot_be_made_here_blames_nobody,
    a_target_that_hides_secrets_says_so,
    the_recheck_api_refuses_bad_reports_and_notifies_once,
);
