//! `handoff collect`, the real binary, against a server with a manual clock
//! and a local stand-in for Entra ID: import into ossec.conf (the tenant once,
//! the secret in its own 0600 file), idempotent re-import, a collector that
//! dies between lease and ack, a revoked token, a malformed ossec.conf left
//! untouched, and verification failures explained.

mod common;
#[path = "standin/mod.rs"]
mod standin;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::collector_host::{Host, OSSEC};
use common::flow::{Opened, answer_with, app_with_soc, event_kinds, open_request_for};
use common::{Backend, T0, TestApp};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::request::{CopyKind, RequestState};
use serde_json::{Value, json};
use standin::{App, Mode, StandIn};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~collectorsecretvalue0123456789ABCD";
const SECRET_ID: &str = "3f2b8c1d-6e4a-4b7c-9d1e-2a3b4c5d6e7f";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Answers `r` as a customer's browser would, for `template`.
async fn answer_for(
    app: &TestApp,
    r: &Opened,
    soc: &age::x25519::Identity,
    template: &str,
    secret: &str,
) {
    let payload = json!({"v": 1, "template": template, "fields": {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": secret,
        "secret_expires_on": "2027-06-30", "cloud": "commercial",
    }})
    .to_string();
    let res = answer_with(app, r, Some(soc), &payload).await;
    assert_eq!(res.status(), 201);
}

async fn answer_o365(app: &TestApp, r: &Opened, soc: &age::x25519::Identity, secret: &str) {
    answer_for(app, r, soc, "o365-management", secret).await;
}

/// The `<api_auth>` blocks of an ossec.conf, parsed with a real XML reader
/// (the file has several roots, so each is wrapped first).
fn api_auths(xml: &str) -> Vec<(String, String, String, String)> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let wrapped = format!("<root>{}</root>", xml.trim_start_matches(|c| c != '<'));
    let mut reader = Reader::from_str(&wrapped);
    reader.config_mut().allow_dangling_amp = true;
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => path.push(e.name().0.to_owned()),
            Event::End(_) => {
                if path.last().map(String::as_str) == Some("api_auth")
                    && path.iter().any(|p| p == "office365")
                {
                    let get = |k: &str| {
                        current
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    out.push((
                        get("tenant_id"),
                        get("client_id"),
                        get("client_secret_path"),
                        get("api_type"),
                    ));
                    current.clear();
                }
                path.pop();
            }
            Event::Text(t) if path.len() >= 2 && path[path.len() - 2] == "api_auth" => {
                current.push((path[path.len() - 1].clone(), t.xml10_content().into_owned()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn assert_one_tenant(host: &Host) {
    let conf = std::fs::read_to_string(host.path("ossec.conf")).unwrap();
    let auths = api_auths(&conf);
    assert_eq!(auths.len(), 1, "one <api_auth> for the tenant: {conf}");
    let (tenant, client, secret_path, api_type) = &auths[0];
    assert_eq!(
        (tenant.as_str(), client.as_str(), api_type.as_str()),
        (TENANT, CLIENT, "commercial")
    );
    let secret_file = Path::new(secret_path);
    assert_eq!(
        std::fs::read(secret_file).unwrap(),
        SECRET.as_bytes(),
        "the secret, without a newline"
    );
    assert_eq!(
        std::fs::metadata(secret_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !conf.contains(SECRET),
        "the secret is not inline in ossec.conf"
    );
    assert!(conf.contains("<!-- Keep this comment exactly as it is. -->"));
    assert!(conf.contains("<location>/var/ossec/logs/active-responses.log</location>"));
}

async fn imports_once_and_again_idempotently(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;

    // A dry run shows the change, masks the secret, writes and acks nothing.
    let out = host.collect(&app, &["--dry-run"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("+") && shown.contains(TENANT), "{shown}");
    assert!(!shown.contains(SECRET), "a dry run never prints the secret");
    assert!(
        shown.contains("  note: ") && shown.contains("systemctl restart wazuh-manager"),
        "a dry run says what the import would ask the operator to do: {shown}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        OSSEC
    );

    let out = host.collect(&app, &[]).await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lines = text(&out.stdout);
    assert!(lines.contains("imported Contoso"), "{lines}");
    assert!(lines.contains("summary: 1 imported"), "{lines}");
    assert!(!lines.contains(SECRET) && !text(&out.stderr).contains(SECRET));
    assert_one_tenant(&host);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
    // The acknowledgement reported the credential's facts for the register:
    // the client ID, the expiry and the target, nothing else.
    let register = app.store.credential_entries().await.unwrap();
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].request_id, r.id);
    assert_eq!(register[0].facts.client_id, CLIENT);
    assert_eq!(
        register[0].facts.expires_text().as_deref(),
        Some("2027-06-30")
    );
    assert_eq!(register[0].imported_to.as_deref(), Some("wazuh-office365"));

    // The same tenant again (a re-issued request): still one entry.
    let again = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &again, &soc, SECRET).await;
    let before = std::fs::read(host.path("ossec.conf")).unwrap();
    let out = host.collect(&app, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("already present"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read(host.path("ossec.conf")).unwrap(),
        before,
        "byte for byte"
    );
    assert_one_tenant(&host);
    // Nothing is left to do.
    let out = host.collect(&app, &[]).await;
    assert!(
        text(&out.stdout).contains("summary: 0 imported, 0 unchanged"),
        "{}",
        text(&out.stdout)
    );
}

async fn a_collector_killed_between_lease_and_ack_loses_nothing(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    // A collector leases and dies.
    let res = app
        .http
        .post(app.url(&format!("/api/v1/inbox/{}/lease", r.id)))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let out = host.collect(&app, &[]).await;
    assert!(
        text(&out.stdout).contains("skipped"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        OSSEC
    );
    // Its lease lapses; the next pass imports the copy.
    app.clock.advance(300);
    let out = host.collect(&app, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert_one_tenant(&host);
}

async fn a_revoked_token_is_refused(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let event = NewEvent::new(Kind::TokenRevoked, Actor::System);
    app.store
        .revoke_token("collector", app.clock.now(), &event)
        .await
        .unwrap();
    let out = host.collect(&app, &[]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("revoked"),
        "{}",
        text(&out.stderr)
    );
}

async fn a_malformed_ossec_conf_is_left_untouched(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let broken = OSSEC.replace("</wodle>", "</wodel>");
    std::fs::write(host.path("ossec.conf"), &broken).unwrap();
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let out = host.collect(&app, &[]).await;
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("FAILED") && said.contains("ossec.conf"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        broken,
        "untouched"
    );
    assert!(!host.path("secrets").join(TENANT).exists());
    // The copy was released, not lost: it waits for the next pass.
    let inbox: Value = app
        .http
        .get(app.url("/api/v1/inbox"))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"][0]["leased_until"], Value::Null, "{inbox}");
}

async fn verification_failures_are_explained_and_reported(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = StandIn::start().await;
    let base = entra.base.to_string();
    let hosts = ["--verify", "--login-host", &base, "--manage-host", &base];

    // Consented, but without ActivityFeed.ReadDlp.
    entra.register(
        App::new(TENANT, CLIENT, SECRET).grant("https://manage.office.com", &["ActivityFeed.Read"]),
    );
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let out = host.collect(&app, &hosts).await;
    assert!(
        !out.status.success(),
        "a failed verification makes the exit non-zero"
    );
    let said = text(&out.stdout);
    assert!(
        said.contains("verification FAILED") && said.contains("ActivityFeed.ReadDlp"),
        "{said}"
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.verify_ok, Some(false));
    assert!(req.verify_detail.unwrap().contains("ActivityFeed.ReadDlp"));

    // The Secret ID sent instead of the secret: AADSTS7000215.
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET_ID).await;
    let out = host.collect(&app, &hosts).await;
    let said = text(&out.stdout);
    assert!(said.contains("Secret ID"), "{said}");
    let detail = app
        .store
        .request(&r.id)
        .await
        .unwrap()
        .unwrap()
        .verify_detail
        .unwrap();
    assert!(detail.contains("AADSTS7000215"), "{detail}");
    assert!(
        !detail.contains("Missing permissions"),
        "a refused secret says nothing about permissions: {detail}"
    );

    // An expired secret: AADSTS7000222.
    let entra2 = StandIn::start().await;
    entra2.register(App::new(TENANT, CLIENT, SECRET).mode(Mode::ExpiredSecret));
    let base2 = entra2.base.to_string();
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let out = host
        .collect(
            &app,
            &["--verify", "--login-host", &base2, "--manage-host", &base2],
        )
        .await;
    assert!(
        text(&out.stdout).contains("expired"),
        "{}",
        text(&out.stdout)
    );
    let detail = app
        .store
        .request(&r.id)
        .await
        .unwrap()
        .unwrap()
        .verify_detail
        .unwrap();
    assert!(detail.contains("AADSTS7000222"), "{detail}");
    // The failures reached the trail (and so the webhooks).
    let failed = app
        .store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "request.verify_failed")
        .count();
    assert_eq!(failed, 3);
    let trail: String = app
        .store
        .events_after(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.detail.clone())
        .collect();
    assert!(!trail.contains(SECRET));
}

/// Fair blame: a check the collector host cannot make (nothing listens at
/// the sign-in host; then Entra ID answers 503, AADSTS90033) is the
/// collector's problem. The credential is written but not acknowledged,
/// nothing is reported (the request does not turn failed and the customer's
/// receipt says nothing), the copy stays in the inbox, and a later pass
/// verifies it.
async fn a_check_that_cannot_be_made_here_is_not_blamed_on_the_customer(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;

    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = StandIn::start().await;
    down.register(App::new(TENANT, CLIENT, SECRET).mode(Mode::Unavailable));
    let down_base = down.base.to_string();
    for (login, why) in [
        (nowhere.as_str(), "collector host's network"),
        (down_base.as_str(), "AADSTS90033"),
    ] {
        let out = host
            .collect(
                &app,
                &["--verify", "--login-host", login, "--manage-host", login],
            )
            .await;
        let said = text(&out.stdout);
        assert!(
            !out.status.success(),
            "an unverified import is not done: {said}"
        );
        assert!(
            said.contains("NOT VERIFIED") && said.contains(why),
            "{said}"
        );
        assert!(said.contains("1 not verified"), "{said}");
        let conf = std::fs::read_to_string(host.path("ossec.conf")).unwrap();
        assert!(
            conf.contains(TENANT),
            "the credential is written all the same"
        );
        let req = app.store.request(&r.id).await.unwrap().unwrap();
        assert_eq!(req.verify_ok, None, "{login}: nothing reported");
        assert_eq!(req.imported_at, None, "{login}: nothing acknowledged");
        assert_eq!(req.state(T0), RequestState::Answered);
        let inbox = app.store.inbox(T0).await.unwrap();
        let item = inbox
            .iter()
            .find(|i| i.id == r.id)
            .expect("still in the inbox");
        assert_eq!(item.lease_until, None, "{login}: the lease was released");
    }
    let kinds = common::flow::event_kinds(&app.store, &r.id).await;
    assert!(
        !kinds
            .iter()
            .any(|k| k == "request.verify_failed" || k == "request.imported"),
        "{kinds:?}"
    );

    // Once Entra ID answers, the next pass verifies and acknowledges it.
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(
        "https://manage.office.com",
        &["ActivityFeed.Read", "ActivityFeed.ReadDlp"],
    ));
    let base = entra.base.to_string();
    let out = host
        .collect(
            &app,
            &["--verify", "--login-host", &base, "--manage-host", &base],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.verify_ok, Some(true));
    assert!(req.imported_at.is_some());
}

/// A failed check keeps the sealed copy (out of the inbox); once the
/// customer granted the missing role, the PM's Re-check puts the copy back
/// and the collector's next pass imports and verifies it, with no new
/// answer. Nothing is re-checked without a failed check and a kept copy.
async fn the_pm_can_ask_for_a_recheck_after_a_failed_check(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let pm = app.staff("pm").await;
    let entra = StandIn::start().await;
    entra.register(
        App::new(TENANT, CLIENT, SECRET).grant("https://manage.office.com", &["ActivityFeed.Read"]),
    );
    let base = entra.base.to_string();
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let recheck = format!("/staff/requests/{}/recheck", r.id);
    let page = format!("/staff/requests/{}", r.id);

    // Before any check, there is nothing to re-check: the copy waits.
    let res = app
        .post_form_as(&pm.cookie, &recheck, &[("csrf", &pm.csrf)])
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("nothing to re-check"));
    let html = app.get_as(&pm.cookie, &page).await.text().await.unwrap();
    assert!(html.contains("id=\"copy-waits\""), "{html}");
    assert!(!html.contains("recheck-button"), "{html}");

    let hosts = ["--verify", "--login-host", &base, "--manage-host", &base];
    let out = host.collect(&app, &hosts).await;
    assert!(
        text(&out.stdout).contains("verification FAILED"),
        "{}",
        text(&out.stdout)
    );
    let now = app.clock.now();
    assert_eq!(
        app.store.request(&r.id).await.unwrap().unwrap().state(now),
        RequestState::Failed
    );
    assert!(
        app.store
            .has_copy(&r.id, CopyKind::Sealed, now)
            .await
            .unwrap(),
        "a failed check keeps the sealed copy"
    );
    assert!(
        app.store.inbox(now).await.unwrap().is_empty(),
        "a kept copy is not in the inbox"
    );
    assert!(
        text(&host.collect(&app, &hosts).await.stdout)
            .contains("summary: 0 imported, 0 unchanged, 0 verified, 0 failed verification"),
        "a pass without a re-check leaves it alone"
    );

    // A wrong CSRF token changes nothing.
    let res = app
        .post_form_as(&pm.cookie, &recheck, &[("csrf", "wrong")])
        .await;
    assert_eq!(res.status(), 403);
    let html = app.get_as(&pm.cookie, &page).await.text().await.unwrap();
    assert!(html.contains("recheck-button"), "{html}");

    let res = app
        .post_form_as(&pm.cookie, &recheck, &[("csrf", &pm.csrf)])
        .await;
    assert_eq!(res.status(), 303);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.state(now), RequestState::Answered);
    assert_eq!(app.store.inbox(now).await.unwrap().len(), 1);
    let kinds = common::flow::event_kinds(&app.store, &r.id).await;
    assert!(
        kinds.iter().any(|k| k == "request.recheck_requested"),
        "{kinds:?}"
    );

    // The customer granted ActivityFeed.ReadDlp meanwhile.
    let fixed = StandIn::start().await;
    fixed.register(App::new(TENANT, CLIENT, SECRET).grant(
        "https://manage.office.com",
        &["ActivityFeed.Read", "ActivityFeed.ReadDlp"],
    ));
    let base = fixed.base.to_string();
    let out = host
        .collect(
            &app,
            &["--verify", "--login-host", &base, "--manage-host", &base],
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    let now = app.clock.now();
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.state(now), RequestState::Verified);
    assert!(
        !app.store
            .has_copy(&r.id, CopyKind::Sealed, now)
            .await
            .unwrap(),
        "a passed check deletes the copy"
    );
    let res = app
        .post_form_as(&pm.cookie, &recheck, &[("csrf", &pm.csrf)])
        .await;
    assert_eq!(
        res.status(),
        409,
        "a verified request has nothing to re-check"
    );
}

async fn all_roles_verify(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(
        "https://manage.office.com",
        &["ActivityFeed.Read", "ActivityFeed.ReadDlp"],
    ));
    let base = entra.base.to_string();
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let out = host
        .collect(
            &app,
            &[
                "--verify",
                "--start-subscriptions",
                "--login-host",
                &base,
                "--manage-host",
                &base,
            ],
        )
        .await;
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("verified"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        entra.subscriptions(TENANT).len(),
        5,
        "every content type's subscription was started"
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.state(app.clock.now()).as_str(), "verified");
}

async fn watch_keeps_collecting_until_stopped(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let mut child = host
        .command(&app, &["--watch", "200ms"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Passes run on an empty inbox; then an answer arrives and is picked up.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        OSSEC
    );
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let mut imported = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if app
            .store
            .request(&r.id)
            .await
            .unwrap()
            .unwrap()
            .imported_at
            .is_some()
        {
            imported = true;
            break;
        }
    }
    assert!(imported, "the watching collector imported the new answer");
    assert!(child.try_wait().unwrap().is_none(), "it keeps running");
    child.kill().await.unwrap();
    assert_one_tenant(&host);
}

async fn watch_waits_out_errors(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let event = NewEvent::new(Kind::TokenRevoked, Actor::System);
    app.store
        .revoke_token("collector", app.clock.now(), &event)
        .await
        .unwrap();
    let mut child = host
        .command(&app, &["--watch", "100ms"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "a watching collector keeps going through errors"
    );
    child.kill().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let said = text(&out.stderr);
    assert!(
        said.matches("trying again at the next pass").count() >= 2,
        "{said}"
    );
}

/// A Graph template answered while this collector writes office365 blocks:
/// answered, sealed, and not this collector's to take.
async fn a_request_for_another_target_is_left_unleased_and_explained_once(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "defender-incidents").await;
    answer_for(&app, &r, &soc, "defender-incidents", SECRET).await;

    let out = host.collect(&app, &[]).await;
    let said = text(&out.stdout);
    assert!(
        out.status.success(),
        "nothing it could import failed: {said}"
    );
    assert!(
        said.contains("the wazuh-office365 target cannot import it; run a collector with --target wazuh-ms-graph"),
        "{said}"
    );
    assert!(said.contains("1 for other targets"), "{said}");

    // Watching: several passes, one explanation, and never a lease.
    let mut child = host
        .command(&app, &["--watch", "100ms"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    child.kill().await.unwrap();
    let watched = text(&child.wait_with_output().await.unwrap().stdout);
    assert!(watched.matches("summary:").count() >= 3, "{watched}");
    assert_eq!(watched.matches("cannot import it").count(), 1, "{watched}");
    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        ["request.created", "request.answered"]
    );
    assert_eq!(
        std::fs::read_to_string(host.path("ossec.conf")).unwrap(),
        OSSEC
    );
}

/// CustomDetection.Read.All is optional in the incidents template: without
/// it the credential still verifies, with a warning that names it.
async fn a_missing_optional_role_is_a_warning(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let entra = StandIn::start().await;
    entra.register(App::new(TENANT, CLIENT, SECRET).grant(
        "https://graph.microsoft.com",
        &["SecurityIncident.Read.All", "SecurityAlert.Read.All"],
    ));
    let base = entra.base.to_string();
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "defender-incidents").await;
    answer_for(&app, &r, &soc, "defender-incidents", SECRET).await;
    let out_dir = host.path("credentials").display().to_string();
    let out = host
        .command_for(&app, "env")
        .args(["--output-dir", &out_dir, "--verify", "--login-host", &base])
        .output()
        .await
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", text(&out.stderr));
    assert!(said.contains("; verified"), "{said}");
    assert!(
        said.contains("  warning: The app lacks CustomDetection.Read.All on Microsoft Graph, which this template marks optional"),
        "{said}"
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.state(app.clock.now()).as_str(), "verified");
}

/// A relative secrets directory is a mistake in the command, found before
/// anything is leased.
async fn a_relative_secrets_dir_is_refused_at_start(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc).await;
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    answer_o365(&app, &r, &soc, SECRET).await;
    let conf = host.path("ossec.conf").display().to_string();
    let out = host
        .command_for(&app, "wazuh-office365")
        .args(["--ossec-conf", &conf, "--secrets-dir", "handoff-secrets"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("--secrets-dir handoff-secrets must be an absolute path"),
        "{said}"
    );
    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        ["request.created", "request.answered"],
        "nothing was leased"
    );
}

with_each_backend!(
    a_relative_secrets_dir_is_refused_at_start,
    a_missing_optional_role_is_a_warning,
    a_request_for_another_target_is_left_unleased_and_explained_once,
    watch_waits_out_errors,
    watch_keeps_collecting_until_stopped,
    imports_once_and_again_idempotently,
    a_collector_killed_between_lease_and_ack_loses_nothing,
    a_revoked_token_is_refused,
    a_malformed_ossec_conf_is_left_untouched,
    verification_failures_are_explained_and_reported,
    a_check_that_cannot_be_made_here_is_not_blamed_on_the_customer,
    all_roles_verify,
    the_pm_can_ask_for_a_recheck_after_a_failed_check,
);
