//! Staff sign-in through the SOC's identity provider (OpenID Connect),
//! against a local provider each test starts (tests/oidc_provider): members
//! of the staff group get the same session a local login gives; everyone and
//! everything else is refused with a page and an entry in the trail.

mod common;
mod oidc_provider;

use std::sync::Arc;

use common::{Backend, STAFF_PASSWORD, T0, TestApp, set_cookie_header, spawn_app_with};
use handoff::config::Settings;
use handoff::oidc::{OidcConfig, Provider};
use oidc_provider::{Idp, Person, Tamper};
use serde_json::Value;
use sha2::Digest;

const CLIENT_ID: &str = "handoff-test-client";
const CLIENT_SECRET: &str = "a-client-secret-value-0123456789";
/// The staff group's object ID, as Entra ID would put it in `groups`.
const STAFF_GROUP: &str = "5f1c2b9e-7a44-4d4e-9a0b-3c2d1e0f9a11";
const OTHER_GROUP: &str = "0b6a9c11-2e3f-4a5b-8c7d-6e5f4a3b2c1d";

/// A provider on 127.0.0.1 issuing tokens at the app's time, and an app
/// that signs staff in through it.
async fn app_with_idp(backend: Backend) -> (TestApp, Idp) {
    let idp = Idp::start("127.0.0.1", CLIENT_ID, CLIENT_SECRET, T0).await;
    let config = OidcConfig::new(
        &idp.issuer,
        CLIENT_ID,
        CLIENT_SECRET,
        STAFF_GROUP,
        None,
        Some("Test IdP"),
    )
    .unwrap();
    let provider = Arc::new(Provider::discover(config).await.unwrap());
    let app = spawn_app_with(backend, move |s| Settings {
        oidc: Some(provider),
        ..s.without_rate_limits()
    })
    .await;
    (app, idp)
}

/// One trip through the provider, as a browser makes it.
struct Trip {
    /// The callback's answer.
    status: u16,
    body: String,
    /// `name=value` of the session cookie it set, if any.
    session: Option<String>,
    /// The callback URL and the flow cookie, to send again.
    callback: String,
    flow_cookie: String,
}

/// `GET /login/oidc`, the provider's authorize endpoint, then the callback
/// with the flow cookie; redirects followed by hand.
async fn sign_in(app: &TestApp, idp: &Idp, person: Person) -> Trip {
    idp.sign_in_as(person);
    let start = app.get("/login/oidc").await;
    assert_eq!(start.status(), 303, "the sign-in starts with a redirect");
    let flow = set_cookie_header(&start, "handoff_oidc").expect("a flow cookie");
    assert!(
        flow.contains("HttpOnly") && flow.contains("SameSite=Lax"),
        "{flow}"
    );
    let flow_cookie = flow.split(';').next().unwrap().to_owned();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", idp.issuer)),
        "{authorize}"
    );
    let at_idp = app.http.get(&authorize).send().await.unwrap();
    assert_eq!(at_idp.status(), 303, "{}", at_idp.text().await.unwrap());
    let callback = at_idp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&app.url("/login/oidc/callback?")),
        "{callback}"
    );
    callback_with(app, &callback, &flow_cookie).await
}

async fn callback_with(app: &TestApp, callback: &str, flow_cookie: &str) -> Trip {
    let res = app
        .http
        .get(callback)
        .header("cookie", flow_cookie)
        .send()
        .await
        .unwrap();
    let session = set_cookie_header(&res, "handoff_session")
        .map(|c| c.split(';').next().unwrap().to_owned())
        .filter(|c| !c.ends_with('='));
    Trip {
        status: res.status().as_u16(),
        body: res.text().await.unwrap(),
        session,
        callback: callback.to_owned(),
        flow_cookie: flow_cookie.to_owned(),
    }
}

/// The trail's events of `kind`, as (actor, detail).
async fn events(app: &TestApp, kind: &str) -> Vec<(String, Value)> {
    app.store
        .events_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.actor, serde_json::from_str(&e.detail).unwrap()))
        .collect()
}

fn notice_kind(body: &str) -> &str {
    let at = body.find("data-notice=\"").expect("a notice page") + 13;
    &body[at..at + body[at..].find('"').unwrap()]
}

/// A member of the staff group signs in, lands on the dashboard, and the
/// trail says who, through which provider; a second sign-in reuses the
/// account.
async fn a_staff_group_member_signs_in_and_reaches_the_dashboard(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    let trip = sign_in(
        &app,
        &idp,
        Person::new("alice-sub", &[OTHER_GROUP, STAFF_GROUP]),
    )
    .await;
    assert_eq!(trip.status, 200, "{}", trip.body);
    assert_eq!(notice_kind(&trip.body), "oidc-signed-in");
    assert!(
        trip.body
            .contains(r#"<meta http-equiv="refresh" content="0;url=/staff">"#),
        "the page moves on to the dashboard by itself: {}",
        trip.body
    );
    let session = trip.session.expect("a session cookie");
    let dashboard = app.get_as(&session, "/staff").await;
    assert_eq!(dashboard.status(), 200);
    let account = app
        .get_as(&session, "/staff/account")
        .await
        .text()
        .await
        .unwrap();
    let name = "oidc:127.0.0.1:alice-sub";
    assert!(
        account.contains(&format!("Signed in as {name}")),
        "{account}"
    );

    // The token endpoint got the PKCE verifier and the redirect URI.
    let sent = &idp.token_requests()[0];
    assert_eq!(sent["grant_type"], "authorization_code");
    assert!(sent["code_verifier"].len() >= 43, "{sent:?}");
    assert_eq!(sent["redirect_uri"], app.url("/login/oidc/callback"));

    let ok = events(&app, "login.succeeded").await;
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, format!("staff:{name}"));
    assert_eq!(ok[0].1["provider"], "oidc");
    assert_eq!(ok[0].1["issuer"], idp.issuer);
    assert_eq!(ok[0].1["subject"], "alice-sub");
    assert_eq!(ok[0].1["username"], "alice-sub@soc.example");
    assert_eq!(events(&app, "user.added").await.len(), 1);

    let again = sign_in(&app, &idp, Person::new("alice-sub", &[STAFF_GROUP])).await;
    assert_eq!(again.status, 200);
    assert_ne!(again.session.unwrap(), session, "a new session each time");
    assert_eq!(events(&app, "login.succeeded").await.len(), 2);
    assert_eq!(
        events(&app, "user.added").await.len(),
        1,
        "one account per subject"
    );
    // No token or code ever reaches the trail.
    for e in app.store.events_after(0, 10_000).await.unwrap() {
        assert!(
            !e.detail.contains("code") && !e.detail.contains("token"),
            "{}",
            e.detail
        );
    }
}

/// `next` survives the trip: the page a signed-out staff member asked for.
async fn the_page_asked_for_opens_after_sign_in(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    idp.sign_in_as(Person::new("bob", &[STAFF_GROUP]));
    let start = app.get("/login/oidc?next=/staff/account").await;
    let flow = set_cookie_header(&start, "handoff_oidc").unwrap();
    let flow = flow.split(';').next().unwrap().to_owned();
    let at_idp = app
        .http
        .get(start.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    let trip = callback_with(&app, at_idp.headers()["location"].to_str().unwrap(), &flow).await;
    assert!(
        trip.body.contains(r#"content="0;url=/staff/account""#),
        "{}",
        trip.body
    );
    // Another site is never a place to go back to.
    let start = app.get("/login/oidc?next=//evil.example/").await;
    assert_eq!(start.status(), 303);
}

/// A valid identity outside the staff group gets a page that says so, no
/// session, and a `login.failed` naming the subject.
async fn a_non_member_is_refused(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    let trip = sign_in(&app, &idp, Person::new("mallory", &[OTHER_GROUP])).await;
    assert_eq!(trip.status, 403);
    assert_eq!(notice_kind(&trip.body), "oidc-not-staff");
    assert!(
        trip.body.contains("not a member of the group"),
        "{}",
        trip.body
    );
    assert!(trip.session.is_none());
    let failed = events(&app, "login.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, "staff:oidc:127.0.0.1:mallory");
    assert_eq!(failed[0].1["reason"], "not_in_staff_group");
    assert_eq!(failed[0].1["subject"], "mallory");
    assert_eq!(failed[0].1["provider"], "oidc");
    assert!(events(&app, "login.succeeded").await.is_empty());
    assert!(
        events(&app, "user.added").await.is_empty(),
        "no account for a refused identity"
    );

    // A token with no groups at all says what the admin must add.
    let mut none = Person::new("nogroups", &[]);
    none.groups = None;
    let trip = sign_in(&app, &idp, none).await;
    assert_eq!(trip.status, 403);
    assert!(trip.body.contains("Add groups claim"), "{}", trip.body);
}

/// An ID token with a wrong nonce, for another audience, expired, or signed
/// with a key the provider does not publish is refused: no session, a page,
/// and a `login.failed`.
async fn bad_id_tokens_are_refused(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    for how in [
        Tamper::WrongNonce,
        Tamper::WrongAudience,
        Tamper::Expired,
        Tamper::BadSignature,
    ] {
        let trip = sign_in(&app, &idp, Person::new("eve", &[STAFF_GROUP]).tampered(how)).await;
        assert_eq!(trip.status, 403, "{how:?}: {}", trip.body);
        assert_eq!(notice_kind(&trip.body), "oidc-failed", "{how:?}");
        assert!(trip.session.is_none(), "{how:?}");
    }
    let failed = events(&app, "login.failed").await;
    assert_eq!(failed.len(), 4);
    for (actor, detail) in &failed {
        assert_eq!(actor, "anonymous");
        assert_eq!(detail["reason"], "id_token_invalid");
        assert_eq!(detail["provider"], "oidc");
    }
    assert!(events(&app, "login.succeeded").await.is_empty());
    // The same person with an honest token gets in: the refusals were the tampering.
    let trip = sign_in(&app, &idp, Person::new("eve", &[STAFF_GROUP])).await;
    assert_eq!(trip.status, 200);
}

/// A callback is used once: sending it again (same state, same cookie)
/// finds nothing; a state without this browser's cookie is refused too.
async fn a_replayed_state_is_refused(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    let first = sign_in(&app, &idp, Person::new("carol", &[STAFF_GROUP])).await;
    assert_eq!(first.status, 200);
    let replay = callback_with(&app, &first.callback, &first.flow_cookie).await;
    assert_eq!(replay.status, 400);
    assert_eq!(notice_kind(&replay.body), "oidc-state");
    assert!(replay.session.is_none());

    // A fresh flow whose callback comes without the flow cookie (another
    // browser, or a link someone was sent) is refused, and stays unusable.
    idp.sign_in_as(Person::new("carol", &[STAFF_GROUP]));
    let start = app.get("/login/oidc").await;
    let at_idp = app
        .http
        .get(start.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = at_idp.headers()["location"].to_str().unwrap().to_owned();
    let stranger = callback_with(&app, &callback, "handoff_oidc=someone-elses").await;
    assert_eq!(stranger.status, 400);
    assert!(stranger.session.is_none());

    // A flow is good for 10 minutes.
    let late = sign_in_late(&app, &idp).await;
    assert_eq!(late.status, 400);

    let failed = events(&app, "login.failed").await;
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|(_, d)| d["reason"] == "state_unknown"));
    assert_eq!(events(&app, "login.succeeded").await.len(), 1);
}

/// Starts a flow, lets 10 minutes pass, then comes back.
async fn sign_in_late(app: &TestApp, idp: &Idp) -> Trip {
    idp.sign_in_as(Person::new("carol", &[STAFF_GROUP]));
    let start = app.get("/login/oidc").await;
    let flow = set_cookie_header(&start, "handoff_oidc").unwrap();
    let flow = flow.split(';').next().unwrap().to_owned();
    let at_idp = app
        .http
        .get(start.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    app.clock.advance(600);
    idp.set_now(app.clock.now());
    callback_with(app, at_idp.headers()["location"].to_str().unwrap(), &flow).await
}

/// An Entra "groups overage" token (too many groups to list) is refused
/// with the sentence that tells the admin what to change.
async fn an_overage_token_is_refused_with_the_sentence(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    let trip = sign_in(&app, &idp, Person::new("dave", &[]).with_overage()).await;
    assert_eq!(trip.status, 403);
    assert_eq!(notice_kind(&trip.body), "oidc-overage");
    // The page shows the sentence, HTML-escaped.
    let sentence = handoff::oidc::OVERAGE_SENTENCE
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    assert!(trip.body.contains(&sentence), "{}", trip.body);
    assert!(trip.body.contains("Groups assigned to the application"));
    assert!(trip.session.is_none());
    let failed = events(&app, "login.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].1["reason"], "groups_overage");
    assert_eq!(failed[0].1["subject"], "dave");
}

/// The login page offers the provider, and local accounts still sign in.
async fn the_login_page_offers_the_provider_beside_local_accounts(backend: Backend) {
    let (app, idp) = app_with_idp(backend).await;
    // No local account yet: the page is there all the same.
    let page = app.get("/login?next=/staff/account").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<a id="oidc-button" class="button primary" href="/login/oidc?next=/staff/account">Sign in with Test IdP</a>"#),
        "{html}"
    );
    app.add_user("local.pm", STAFF_PASSWORD).await;
    let local = app.login("local.pm", STAFF_PASSWORD).await;
    assert_eq!(app.get_as(&local.cookie, "/staff").await.status(), 200);
    // An OIDC account has no password: its name cannot sign in locally.
    let trip = sign_in(&app, &idp, Person::new("frank", &[STAFF_GROUP])).await;
    assert_eq!(trip.status, 200);
    let (cookie, csrf) = app.login_form().await;
    for password in ["", "!oidc"] {
        let res = app
            .post_login(
                Some(&cookie),
                &[
                    ("name", "oidc:127.0.0.1:frank"),
                    ("password", password),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status(), 401);
    }
}

const STATES: &str = "SELECT state_hash FROM oidc_logins";

async fn count_flows(app: &TestApp) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM oidc_logins";
    match &app.store {
        handoff::store::Store::Sqlite(p) => {
            sqlx::query_scalar(SQL).fetch_one(&p.pool).await.unwrap()
        }
        handoff::store::Store::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
    }
}

/// Sign-ins that never came back are purged once their 10 minutes are
/// over, not before; the store keeps the state's hash, never the state.
async fn unfinished_sign_ins_are_purged(backend: Backend) {
    let (app, _idp) = app_with_idp(backend).await;
    let start = app.get("/login/oidc").await;
    let flow = set_cookie_header(&start, "handoff_oidc").unwrap();
    let state = flow
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(
        start.headers()["location"]
            .to_str()
            .unwrap()
            .contains(&format!("state={state}"))
    );
    let stored: Vec<Vec<u8>> = match &app.store {
        handoff::store::Store::Sqlite(p) => {
            sqlx::query_scalar(STATES).fetch_all(&p.pool).await.unwrap()
        }
        handoff::store::Store::Postgres(p) => {
            sqlx::query_scalar(STATES).fetch_all(p).await.unwrap()
        }
    };
    assert_eq!(
        stored,
        vec![sha2::Sha256::digest(state.as_bytes()).to_vec()]
    );
    app.clock.advance(599);
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(count_flows(&app).await, 1);
    app.clock.advance(1);
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(count_flows(&app).await, 0);
}

with_each_backend!(
    unfinished_sign_ins_are_purged,
    a_staff_group_member_signs_in_and_reaches_the_dashboard,
    the_page_asked_for_opens_after_sign_in,
    a_non_member_is_refused,
    bad_id_tokens_are_refused,
    a_replayed_state_is_refused,
    an_overage_token_is_refused_with_the_sentence,
    the_login_page_offers_the_provider_beside_local_accounts,
);

/// Without `--oidc-issuer` the routes say there is no provider, and the
/// login page has no button.
#[tokio::test]
async fn without_a_provider_there_is_no_button_and_no_route() {
    let app = common::spawn_app(Backend::Sqlite).await;
    app.add_user("pm", STAFF_PASSWORD).await;
    assert!(
        !app.get("/login")
            .await
            .text()
            .await
            .unwrap()
            .contains("oidc-button")
    );
    let res = app.get("/login/oidc").await;
    assert_eq!(res.status(), 404);
    assert_eq!(notice_kind(&res.text().await.unwrap()), "oidc-off");
    assert_eq!(
        app.get("/login/oidc/callback?state=x&code=y")
            .await
            .status(),
        404
    );
}

/// Discovery refuses an issuer it cannot reach, and one whose document
/// names another issuer.
#[tokio::test]
async fn discovery_refuses_an_unreachable_or_wrong_issuer() {
    let config = |issuer: &str| {
        OidcConfig::new(issuer, CLIENT_ID, CLIENT_SECRET, STAFF_GROUP, None, None).unwrap()
    };
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = Provider::discover(config(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert!(err.contains("discovery failed"), "{err}");
    // The provider is at 127.0.0.1 and says so; "localhost" is another issuer.
    let idp = Idp::start("127.0.0.1", CLIENT_ID, CLIENT_SECRET, T0).await;
    let err = Provider::discover(config(&format!("http://localhost:{}", idp.addr.port())))
        .await
        .unwrap_err();
    assert!(err.contains("discovery failed"), "{err}");
    assert!(Provider::discover(config(&idp.issuer)).await.is_ok());
}

/// `handoff serve` refuses to start, with a sentence, when the provider is
/// misconfigured or cannot be discovered; the client secret is never in it.
#[tokio::test]
async fn serve_refuses_a_provider_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("handoff.db").display());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let full = |issuer: &str| {
        vec![
            "--oidc-issuer".to_owned(),
            issuer.to_owned(),
            "--oidc-client-id".to_owned(),
            CLIENT_ID.to_owned(),
            "--oidc-staff-group".to_owned(),
            STAFF_GROUP.to_owned(),
        ]
    };
    for (args, says) in [
        (full(&unreachable), "OpenID Connect discovery failed"),
        (full("http://idp.example.com"), "must be https://"),
        (
            vec!["--oidc-issuer".to_owned(), unreachable.clone()],
            "--oidc-issuer needs --oidc-client-id",
        ),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &db])
            .args(&args)
            .env("HANDOFF_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env_remove("DATABASE_URL")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains(CLIENT_SECRET), "{stderr}");
    }
}
