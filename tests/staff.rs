//! Staff accounts, sign-in, sessions and CSRF, on SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Backend, STAFF_PASSWORD, Session, T0, TestApp, TestDb, assert_error, hidden_input,
    set_cookie_header, spawn_app_with,
};
use handoff::config::Settings;
use handoff::staff::{self, UserName};
use handoff::store::{DuplicateName, Store};
use serde_json::Value;
use sha2::{Digest, Sha256};

on_both_backends!(
    user_add_stores_an_argon2id_hash_and_an_event,
    duplicate_user_name_is_refused,
    removing_a_user_ends_their_sessions,
    login_sets_a_strict_http_only_session_cookie,
    wrong_password_and_unknown_user_get_the_same_answer,
    session_ends_after_the_idle_timeout,
    logout_without_the_right_csrf_token_is_refused,
    logout_with_the_right_csrf_token_ends_the_session,
    login_without_the_form_cookie_is_refused,
    next_never_leads_off_site,
    login_is_404_without_any_staff_user,
    staff_extractor_redirects_pages_and_refuses_api_calls,
);

/// Like `on_both_backends!`, for tests that spawn their app with their own settings.
macro_rules! with_settings_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_settings {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres_settings {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::common::Backend::Postgres).await }
            )*
        }
    };
}

with_settings_on_both_backends!(
    login_behind_https_uses_host_prefixed_secure_cookies,
    login_attempts_are_rate_limited,
    session_ends_after_its_lifetime_however_busy,
    public_page_off_refuses_anonymous_secrets_but_links_still_open,
);

async fn count(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
        }
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn sessions(app: &TestApp) -> i64 {
    count(&app.store, "SELECT COUNT(*) FROM sessions").await
}

/// The whole trail as one JSON text per event: (kind, actor, client_addr, detail).
async fn events(store: &Store) -> Vec<(String, String, Option<String>, String)> {
    store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.actor, e.client_addr, e.detail))
        .collect()
}

fn session_token(s: &Session) -> &str {
    s.cookie.split_once('=').unwrap().1
}

/// `/staff/account` as this cookie sees it: Ok(page text) or Err(Location).
async fn account(app: &TestApp, cookie: &str) -> Result<String, String> {
    let res = app.get_as(cookie, "/staff/account").await;
    match res.status().as_u16() {
        200 => Ok(res.text().await.unwrap()),
        303 => Err(res.headers()["location"].to_str().unwrap().to_owned()),
        other => panic!("unexpected {other}"),
    }
}

async fn user_add_stores_an_argon2id_hash_and_an_event(app: TestApp) {
    assert!(!app.store.has_users().await.unwrap());
    let user = app.add_user("alice@soc.example", STAFF_PASSWORD).await;
    assert!(app.store.has_users().await.unwrap());
    assert_eq!(user.name, "alice@soc.example");
    assert_eq!(user.created_at, T0);
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        user.password_hash
    );
    assert!(!user.password_hash.contains(STAFF_PASSWORD));
    assert!(staff::verify_password(STAFF_PASSWORD, &user.password_hash));
    assert!(!staff::verify_password(
        "correct horse battery stapl",
        &user.password_hash
    ));

    let listed = app.store.list_users().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "alice@soc.example");
    assert_eq!(
        events(&app.store).await,
        vec![(
            "user.added".to_owned(),
            "system".to_owned(),
            None,
            r#"{"name":"alice@soc.example"}"#.to_owned()
        )]
    );
    assert!(app.store.verify_chain().await.unwrap().result.is_ok());
}

async fn duplicate_user_name_is_refused(app: TestApp) {
    app.add_user("bob", STAFF_PASSWORD).await;
    let name = UserName::parse("bob").unwrap();
    let hash = staff::hash_password("another long password").unwrap();
    let again = app.store.add_user(&name, &hash, T0 + 5).await.unwrap();
    assert_eq!(again, Err(DuplicateName("bob".to_owned())));
    assert!(again.unwrap_err().to_string().contains("already exists"));
    // The first account and its password are untouched; no second event.
    let bob = app.store.user_by_name("bob").await.unwrap().unwrap();
    assert!(staff::verify_password(STAFF_PASSWORD, &bob.password_hash));
    assert_eq!(events(&app.store).await.len(), 1);
}

async fn removing_a_user_ends_their_sessions(app: TestApp) {
    let s = app.staff("carol").await;
    app.add_user("dave", STAFF_PASSWORD).await;
    let d = app.login("dave", STAFF_PASSWORD).await;
    assert_eq!(sessions(&app).await, 2);
    assert!(
        app.store
            .remove_user("carol", app.clock.now())
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .remove_user("carol", app.clock.now())
            .await
            .unwrap()
    );
    let removals: Vec<String> = app
        .store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "user.removed")
        .map(|e| e.detail)
        .collect();
    assert_eq!(
        removals,
        [r#"{"name":"carol"}"#],
        "one event, for the removal that happened"
    );
    assert_eq!(sessions(&app).await, 1);
    assert!(account(&app, &s.cookie).await.is_err());
    assert!(account(&app, &d.cookie).await.is_ok());
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);
}

async fn login_sets_a_strict_http_only_session_cookie(app: TestApp) {
    app.add_user("alice", STAFF_PASSWORD).await;
    let (form_cookie, csrf) = app.login_form().await;
    let form_set = app.get("/login").await;
    let form_flags = set_cookie_header(&form_set, "handoff_login").unwrap();
    assert!(form_flags.contains("HttpOnly") && form_flags.contains("SameSite=Strict"));
    assert!(
        form_flags.contains("Max-Age="),
        "the form cookie is short-lived"
    );

    let res = app
        .post_login(
            Some(&form_cookie),
            &[
                ("name", "alice"),
                ("password", STAFF_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/staff",
        "the default after login"
    );
    let set = set_cookie_header(&res, "handoff_session").unwrap();
    assert!(set.starts_with("handoff_session="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
    let login_cleared = set_cookie_header(&res, "handoff_login").unwrap();
    assert!(login_cleared.contains("Max-Age=0"), "{login_cleared}");

    // Only the token's SHA-256 is stored, with a CSRF token of its own.
    let cookie = set.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1;
    assert_eq!(token.len(), 43, "256 bits in base64url");
    let stored: Vec<u8> = match &app.store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            sqlx::query_scalar("SELECT token_hash FROM sessions")
                .fetch_one(p)
                .await
                .unwrap()
        }
        Store::Postgres(p) => sqlx::query_scalar("SELECT token_hash FROM sessions")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());

    let page = account(&app, &cookie).await.unwrap();
    assert!(page.contains("Signed in as alice"), "{page}");
    assert!(page.contains("2026-11-22T01:00:00Z"), "idle end shown");
    assert!(page.contains("2026-11-22T12:00:00Z"), "absolute end shown");
    let session_csrf = hidden_input(&page, "csrf").unwrap();
    assert_ne!(session_csrf, csrf, "the session has its own CSRF token");
    assert_ne!(session_csrf, token);

    let trail = events(&app.store).await;
    assert_eq!(
        trail.last().unwrap(),
        &(
            "login.succeeded".to_owned(),
            "staff:alice".to_owned(),
            Some("127.0.0.1".to_owned()),
            "{}".to_owned()
        )
    );
}

async fn login_behind_https_uses_host_prefixed_secure_cookies(backend: Backend) {
    let app = spawn_app_with(backend, |_| {
        Settings::new("https://handoff.example.com")
            .unwrap()
            .without_rate_limits()
    })
    .await;
    app.add_user("alice", STAFF_PASSWORD).await;
    let res = app.get("/login").await;
    let form = set_cookie_header(&res, "handoff_login").unwrap();
    assert!(form.starts_with("__Host-handoff_login="), "{form}");
    assert!(form.contains("; Secure"), "{form}");
    let session = app.login("alice", STAFF_PASSWORD).await;
    assert!(session.cookie.starts_with("__Host-handoff_session="));

    let (form_cookie, csrf) = app.login_form().await;
    let res = app
        .post_login(
            Some(&form_cookie),
            &[
                ("name", "alice"),
                ("password", STAFF_PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    let set = set_cookie_header(&res, "handoff_session").unwrap();
    assert!(set.starts_with("__Host-handoff_session="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }
    assert!(!set.contains("Domain="), "__Host- cookies have no Domain");
    // The plain-HTTP name is not accepted in its place.
    let plain = format!("handoff_session={}", session_token(&session));
    assert!(account(&app, &plain).await.is_err());
}

/// Posts a login attempt with a valid form cookie and token.
async fn attempt(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    let (cookie, csrf) = app.login_form().await;
    app.post_login(
        Some(&cookie),
        &[("name", name), ("password", password), ("csrf", &csrf)],
    )
    .await
}

async fn wrong_password_and_unknown_user_get_the_same_answer(app: TestApp) {
    app.add_user("alice", STAFF_PASSWORD).await;
    let (cookie, csrf) = app.login_form().await;
    let post = |name: &'static str, password: &'static str| {
        let (app, cookie, csrf) = (&app, cookie.clone(), csrf.clone());
        async move {
            let started = Instant::now();
            let res = app
                .post_login(
                    Some(&cookie),
                    &[("name", name), ("password", password), ("csrf", &csrf)],
                )
                .await;
            let status = res.status().as_u16();
            let has_cookie = set_cookie_header(&res, "handoff_session").is_some();
            let body = res.text().await.unwrap();
            (status, has_cookie, body, started.elapsed())
        }
    };
    let wrong = post("alice", "not the password at all").await;
    let unknown = post("mallory", "not the password at all").await;
    assert_eq!(wrong.0, 401);
    assert_eq!(unknown.0, 401);
    assert!(!wrong.1 && !unknown.1, "no session either way");
    assert!(
        wrong
            .2
            .contains("That name and password do not match an account")
    );
    assert_eq!(
        wrong.2.replace("alice", "NAME"),
        unknown.2.replace("mallory", "NAME"),
        "the same page for both"
    );
    assert_eq!(sessions(&app).await, 0);

    // An unknown name costs a full password check too (best of three each,
    // so that a busy machine does not decide).
    let mut wrong_time = Duration::MAX;
    let mut unknown_time = Duration::MAX;
    for _ in 0..3 {
        wrong_time = wrong_time.min(post("alice", "not the password at all").await.3);
        unknown_time = unknown_time.min(post("nobody", "not the password at all").await.3);
    }
    assert!(
        unknown_time * 2 > wrong_time,
        "unknown name answered in {unknown_time:?}, wrong password in {wrong_time:?}"
    );

    let trail = events(&app.store).await;
    let failed: Vec<_> = trail.iter().filter(|e| e.0 == "login.failed").collect();
    assert_eq!(failed.len(), 8);
    assert_eq!(failed[0].1, "staff:alice");
    assert_eq!(failed[1].1, "anonymous");
    assert_eq!(failed[1].2.as_deref(), Some("127.0.0.1"));
    let all = format!("{trail:?}");
    assert!(
        !all.contains("not the password"),
        "no password in the trail"
    );
    assert!(!all.contains("mallory"), "an unknown name is not recorded");
}

async fn login_attempts_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| Settings {
        login_limit: 3,
        ..s.without_rate_limits()
    })
    .await;
    app.add_user("alice", STAFF_PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(
            attempt(&app, "alice", "wrong wrong wrong").await.status(),
            401
        );
    }
    let res = attempt(&app, "alice", STAFF_PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("Too many sign-in attempts"), "{body}");
    assert_eq!(
        sessions(&app).await,
        0,
        "the limited attempt did not sign in"
    );
    // The form itself is still served.
    assert_eq!(app.get("/login").await.status(), 200);
}

async fn session_ends_after_the_idle_timeout(app: TestApp) {
    let s = app.staff("alice").await;
    app.clock.advance(59 * 60);
    assert!(account(&app, &s.cookie).await.is_ok());
    // Use moved the idle end: another 59 minutes is fine.
    app.clock.advance(59 * 60);
    assert!(account(&app, &s.cookie).await.is_ok());
    assert_eq!(app.store.purge_sessions(app.clock.now()).await.unwrap(), 0);
    app.clock.advance(61 * 60);
    assert_eq!(
        account(&app, &s.cookie).await,
        Err("/login?next=/staff/account".to_owned())
    );
    assert_eq!(app.store.purge_sessions(app.clock.now()).await.unwrap(), 1);
    assert_eq!(sessions(&app).await, 0);
}

async fn session_ends_after_its_lifetime_however_busy(backend: Backend) {
    let app = spawn_app_with(backend, |s| Settings {
        session_lifetime: Duration::from_secs(2 * 3600),
        session_idle: Duration::from_secs(3600),
        ..s.without_rate_limits()
    })
    .await;
    let s = app.staff("alice").await;
    for _ in 0..2 {
        app.clock.advance(50 * 60);
        assert!(account(&app, &s.cookie).await.is_ok());
    }
    app.clock.advance(19 * 60);
    assert!(account(&app, &s.cookie).await.is_ok(), "1h59 in");
    app.clock.advance(60);
    assert!(
        account(&app, &s.cookie).await.is_err(),
        "2h in, though busy"
    );
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(sessions(&app).await, 0, "the purge task deletes it");
}

async fn logout_without_the_right_csrf_token_is_refused(app: TestApp) {
    let s = app.staff("alice").await;
    let none = app.post_form_as(&s.cookie, "/logout", &[]).await;
    assert_eq!(none.status(), 403);
    let page = none.text().await.unwrap();
    assert!(page.contains("This form has expired"), "{page}");
    assert!(page.contains("Reload the page"));

    let other = app.staff("bob").await;
    for wrong in ["", "x", other.csrf.as_str(), &s.csrf[..42]] {
        let res = app
            .post_form_as(&s.cookie, "/logout", &[("csrf", wrong)])
            .await;
        assert_eq!(res.status(), 403, "csrf {wrong:?}");
    }
    assert!(account(&app, &s.cookie).await.is_ok(), "still signed in");
    assert!(!events(&app.store).await.iter().any(|e| e.0 == "logout"));

    // Without a session at all: to the login page, nothing ends.
    let res = app
        .http
        .post(app.url("/logout"))
        .form(&[("csrf", s.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(sessions(&app).await, 2);
}

async fn logout_with_the_right_csrf_token_ends_the_session(app: TestApp) {
    let s = app.staff("alice").await;
    let res = app
        .post_form_as(&s.cookie, "/logout", &[("csrf", &s.csrf)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    let cleared = set_cookie_header(&res, "handoff_session").unwrap();
    assert!(cleared.starts_with("handoff_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"));
    assert_eq!(sessions(&app).await, 0);
    assert!(account(&app, &s.cookie).await.is_err());
    let trail = events(&app.store).await;
    assert_eq!(trail.last().unwrap().0, "logout");
    assert_eq!(trail.last().unwrap().1, "staff:alice");
    assert!(app.store.verify_chain().await.unwrap().result.is_ok());
}

async fn login_without_the_form_cookie_is_refused(app: TestApp) {
    app.add_user("alice", STAFF_PASSWORD).await;
    let (cookie, csrf) = app.login_form().await;
    let fields = [
        ("name", "alice"),
        ("password", STAFF_PASSWORD),
        ("csrf", csrf.as_str()),
    ];
    let res = app.post_login(None, &fields).await;
    assert_eq!(res.status(), 403);
    let body = res.text().await.unwrap();
    assert!(body.contains("sign-in form has expired"), "{body}");

    let (other_cookie, _) = {
        // A second browser's form cookie with the first one's token.
        let fresh = app.http.get(app.url("/login")).send().await.unwrap();
        let c = set_cookie_header(&fresh, "handoff_login").unwrap();
        (c.split(';').next().unwrap().to_owned(), ())
    };
    assert_ne!(other_cookie, cookie);
    assert_eq!(
        app.post_login(Some(&other_cookie), &fields).await.status(),
        403
    );
    let wrong = [
        ("name", "alice"),
        ("password", STAFF_PASSWORD),
        ("csrf", "forged"),
    ];
    assert_eq!(app.post_login(Some(&cookie), &wrong).await.status(), 403);
    assert_eq!(sessions(&app).await, 0);
    // The real pair works.
    assert_eq!(app.post_login(Some(&cookie), &fields).await.status(), 303);
}

async fn next_never_leads_off_site(app: TestApp) {
    app.add_user("alice", STAFF_PASSWORD).await;
    for (next, to) in [
        ("//evil.example", "/staff"),
        ("//evil.example/staff", "/staff"),
        ("/\\evil.example", "/staff"),
        ("https://evil.example/", "/staff"),
        ("evil.example", "/staff"),
        ("/staff/account?tab=1", "/staff/account?tab=1"),
    ] {
        let (cookie, csrf) = app.login_form().await;
        let res = app
            .post_login(
                Some(&cookie),
                &[
                    ("name", "alice"),
                    ("password", STAFF_PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], to, "next={next:?}");
    }
    let page = app
        .get("/login?next=%2F%2Fevil.example")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(hidden_input(&page, "next").as_deref(), Some(""));
    let page = app
        .get("/login?next=%2Fstaff%2Faccount")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        hidden_input(&page, "next").as_deref(),
        Some("/staff/account")
    );
}

async fn login_is_404_without_any_staff_user(app: TestApp) {
    let res = app.get("/login").await;
    assert_eq!(res.status(), 404);
    assert!(set_cookie_header(&res, "handoff_login").is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("Staff features are off"), "{body}");
    assert!(body.contains("handoff user add"));
    let res = app
        .post_login(None, &[("name", "a"), ("password", "b"), ("csrf", "c")])
        .await;
    assert_eq!(res.status(), 404);
    // The public page is unaffected.
    assert_eq!(app.get("/").await.status(), 200);
    app.add_user("alice", STAFF_PASSWORD).await;
    assert_eq!(app.get("/login").await.status(), 200);
}

async fn public_page_off_refuses_anonymous_secrets_but_links_still_open(backend: Backend) {
    let off = spawn_app_with(backend, |s| Settings {
        public_page: false,
        ..s.without_rate_limits()
    })
    .await;
    let res = off.get("/").await;
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("only takes credentials through requests from its SOC"),
        "{body}"
    );
    let message = assert_error(
        off.post_json(
            "/api/v1/secrets",
            &serde_json::json!({"ciphertext": common::some_ciphertext(10), "expires_in": 3600}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert!(message.contains("requests from its SOC"), "{message}");
    assert_eq!(common::count_secrets(&off.store).await, 0);

    // A link made before (here: stored directly) still opens and reveals.
    let id = handoff::id::Id::random();
    let ciphertext = age::encrypt(&age::x25519::Identity::generate().to_public(), b"x").unwrap();
    off.store
        .insert_secret(&handoff::store::NewSecret {
            id: &id,
            template: "text",
            passphrase: false,
            created_at: T0,
            expires_at: T0 + 3600,
            status_hash: handoff::id::Id::random().digest(),
            ciphertext: &ciphertext,
        })
        .await
        .unwrap();
    assert_eq!(off.get(&format!("/s/{id}")).await.status(), 200);
    let revealed = off.reveal(id.as_str()).await;
    assert_eq!(revealed.status(), 200);
    let body: Value = revealed.json().await.unwrap();
    assert!(body["ciphertext"].is_string());
}

async fn staff_extractor_redirects_pages_and_refuses_api_calls(app: TestApp) {
    use axum::body::Body;
    use axum::http::Request;
    use handoff::http::staff::Staff;
    use tower::ServiceExt;

    let s = app.staff("alice").await;
    // A page: to the login page, coming back afterwards.
    let res = app.get("/staff/account?tab=2").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/login?next=/staff/account%3Ftab%3D2"
    );
    // A forged or unknown cookie is the same as none.
    let forged = format!("handoff_session={}", "A".repeat(43));
    assert!(account(&app, &forged).await.is_err());

    // An API route guarded by the extractor.
    let state = handoff::http::AppState {
        store: app.store.clone(),
        clock: app.clock.clone(),
        settings: Arc::new(Settings::new(&app.base).unwrap()),
        metrics: Arc::default(),
    };
    let router = axum::Router::new()
        .route(
            "/api/v1/whoami",
            axum::routing::get(|staff: Staff| async move { staff.name }),
        )
        .route(
            "/maybe",
            axum::routing::get(|staff: Option<Staff>| async move {
                staff.map_or("nobody".to_owned(), |s| s.name)
            }),
        )
        .with_state(state);
    let call = |path: &'static str, cookie: Option<String>| {
        let router = router.clone();
        async move {
            let mut req = Request::get(path);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let res = router
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status().as_u16();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }
    };
    let (status, body) = call("/api/v1/whoami", None).await;
    assert_eq!(status, 401);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "unauthorized");
    assert_eq!(call("/api/v1/whoami", Some(forged)).await.0, 401);
    assert_eq!(
        call("/api/v1/whoami", Some(s.cookie.clone())).await,
        (200, "alice".to_owned())
    );
    assert_eq!(call("/maybe", None).await, (200, "nobody".to_owned()));
    assert_eq!(
        call("/maybe", Some(s.cookie.clone())).await,
        (200, "alice".to_owned())
    );
}

/// `handoff user add/list/remove` through the real binary.
async fn handoff_user(args: &[&str], db: &str, password: Option<&str>) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.arg("user")
        .args(args)
        .args(["--database-url", db])
        .stdin(std::process::Stdio::null())
        .env_remove("HANDOFF_PASSWORD")
        .env_remove("DATABASE_URL");
    if let Some(p) = password {
        cmd.env("HANDOFF_PASSWORD", p);
    }
    cmd.output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands_add_list_and_remove_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();

        let out = handoff_user(&["add", "alice"], db.url(), Some(STAFF_PASSWORD)).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "a given password is not echoed");

        let out = handoff_user(&["add", "bob", "--generate"], db.url(), Some("ignored")).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let generated = text(&out.stdout).trim().to_owned();
        assert!(generated.len() >= 20, "{generated:?}");

        // No terminal and no HANDOFF_PASSWORD: a password is generated too.
        let out = handoff_user(&["add", "carol"], db.url(), None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let carol_password = text(&out.stdout).trim().to_owned();
        assert!(carol_password.len() >= 20);

        let out = handoff_user(&["add", "alice"], db.url(), Some(STAFF_PASSWORD)).await;
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("already exists"),
            "{}",
            text(&out.stderr)
        );
        let out = handoff_user(&["add", "dave"], db.url(), Some("short")).await;
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("at least 12 characters"),
            "{}",
            text(&out.stderr)
        );
        let out = handoff_user(&["add", "no spaces"], db.url(), Some(STAFF_PASSWORD)).await;
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("staff name"),
            "{}",
            text(&out.stderr)
        );

        let store = Store::connect(db.url()).await.unwrap();
        let alice = store.user_by_name("alice").await.unwrap().unwrap();
        assert!(alice.password_hash.starts_with("$argon2id$"));
        assert!(staff::verify_password(STAFF_PASSWORD, &alice.password_hash));
        let bob = store.user_by_name("bob").await.unwrap().unwrap();
        assert!(staff::verify_password(&generated, &bob.password_hash));
        let carol = store.user_by_name("carol").await.unwrap().unwrap();
        assert!(staff::verify_password(
            &carol_password,
            &carol.password_hash
        ));
        assert!(store.user_by_name("dave").await.unwrap().is_none());
        let added = events(&store)
            .await
            .into_iter()
            .filter(|e| e.0 == "user.added" && e.1 == "system")
            .count();
        assert_eq!(added, 3);

        let out = handoff_user(&["list"], db.url(), None).await;
        assert!(out.status.success());
        let listed = text(&out.stdout);
        let names: Vec<&str> = listed
            .lines()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"]);

        let out = handoff_user(&["remove", "bob"], db.url(), None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = handoff_user(&["remove", "bob"], db.url(), None).await;
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("no staff user named"));
        assert!(store.user_by_name("bob").await.unwrap().is_none());
        store.close().await;
    }
}
