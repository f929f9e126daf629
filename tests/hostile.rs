//! What a hostile or careless client sends, and what it gets: strings with
//! control characters in every identifier and label (a 4xx that says why,
//! never a store error), deceptive characters in customer labels, writes
//! from sibling sites, the `bearer` scheme in any case, and IPv6 clients
//! counted by their /64. Connection limits are in `tests/connections.rs`.

mod common;

use common::flow::{answer, app_with_soc, mint_token, open_request};
use common::{Backend, Session, T0, TestApp, assert_error};
use serde_json::{Value, json};

/// Characters no identifier or label may hold: NUL (which PostgreSQL cannot
/// store in text), other C0 controls, DEL and a C1 control.
const CONTROLS: &[&str] = &["\u{0}", "\u{1}", "\n", "\u{7f}", "\u{85}"];

/// An answered request waiting for the collector, a staff session, and a
/// collector's token.
struct Scene {
    app: TestApp,
    staff: Session,
    token: String,
    request_id: String,
    lease_id: String,
}

async fn scene(backend: Backend) -> Scene {
    let (app, soc) = app_with_soc(backend).await;
    let staff = app.staff("pm").await;
    let token = mint_token(&app, "collector", "collect").await;
    let r = open_request(&app.store, T0, 86_400).await;
    assert_eq!(answer(&app, &r, Some(&soc)).await.status(), 201);
    let leased: Value = app
        .http
        .post(app.url(&format!("/api/v1/inbox/{}/lease", r.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Scene {
        lease_id: leased["lease_id"].as_str().unwrap().to_owned(),
        app,
        staff,
        token,
        request_id: r.id,
    }
}

impl Scene {
    async fn collector(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .http
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn create_request(&self, body: Value) -> reqwest::Response {
        self.app
            .http
            .post(self.app.url("/api/v1/requests"))
            .header("cookie", &self.staff.cookie)
            .header("x-csrf-token", &self.staff.csrf)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn staff_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &self.staff.csrf));
        self.app
            .post_form_as(&self.staff.cookie, path, &fields)
            .await
    }
}

fn request_body() -> Value {
    json!({
        "customer": "Contoso",
        "template": "o365-management",
        "expires_in": 86_400,
        "note": "",
        "recipient": age::x25519::Identity::generate().to_public().to_string(),
    })
}

/// Asserts a page (not JSON) with this status whose text holds `words`.
async fn assert_page(res: reqwest::Response, status: u16, words: &str, case: &str) {
    assert_eq!(res.status(), status, "{case}");
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{case}: a page, not {kind}");
    let page = res.text().await.unwrap();
    assert!(page.contains(words), "{case}: {page}");
}

/// Every identifier and label a client sends, holding each control character
/// in turn, gets the documented 4xx: it is refused at the edge and never
/// reaches the store (on PostgreSQL a NUL there would answer 503).
async fn control_characters_are_refused_at_the_edge(backend: Backend) {
    let s = scene(backend).await;
    let id = s.request_id.clone();
    for c in CONTROLS {
        let bad = format!("ab{c}cd");
        let case = |what: &str| format!("{what} holding {c:?}");

        // The collector's lease id, and what it reports.
        let lease = json!({ "lease_id": bad });
        for action in ["release", "ack"] {
            let res = s
                .collector(&format!("/api/v1/inbox/{id}/{action}"), lease.clone())
                .await;
            let message = assert_error(res, 400, "invalid_lease_id").await;
            assert!(message.contains("lease_id"), "{}", case(action));
        }
        let target = json!({ "lease_id": s.lease_id, "target": bad });
        let res = s
            .collector(&format!("/api/v1/inbox/{id}/ack"), target)
            .await;
        assert_error(res, 400, "bad_request").await;
        for field in ["step", "code", "message"] {
            let mut body = json!({ "ok": false });
            body[field] = json!(bad);
            let res = s
                .collector(&format!("/api/v1/inbox/{id}/result"), body)
                .await;
            assert_error(res, 400, "bad_request").await;
        }

        // Staff creating a request.
        for (field, code) in [
            ("customer", "invalid_field"),
            ("note", "invalid_field"),
            ("template", "unknown_template"),
            ("recipient", "invalid_recipient"),
            ("reissued_from", "unknown_request"),
        ] {
            let mut body = request_body();
            body[field] = json!(bad);
            assert_error(s.create_request(body).await, 400, code).await;
        }

        // Anyone creating a secret.
        let secret = json!({ "ciphertext": bad, "expires_in": 3600 });
        let res = s.app.post_json("/api/v1/secrets", &secret).await;
        assert_error(res, 400, "invalid_base64").await;
        let secret = json!({
            "ciphertext": common::some_ciphertext(8),
            "expires_in": 3600,
            "template": bad,
        });
        let res = s.app.post_json("/api/v1/secrets", &secret).await;
        assert_error(res, 400, "unknown_template").await;

        // Ids and tokens in paths.
        let escaped: String = c.bytes().map(|b| format!("%{b:02X}")).collect();
        let path_bad = format!("ab{escaped}cd");
        for path in [
            format!("/api/v1/secrets/{path_bad}"),
            format!("/api/v1/status/{path_bad}"),
            format!("/api/v1/requests/{path_bad}"),
            format!("/api/v1/request-status/{path_bad}"),
        ] {
            assert_error(s.app.get(&path).await, 404, "not_found").await;
        }
        for path in [
            format!("/api/v1/secrets/{path_bad}/reveal"),
            format!("/api/v1/retrievals/{path_bad}/reveal"),
            format!("/api/v1/request-status/{path_bad}/withdraw"),
            format!("/api/v1/inbox/{path_bad}/lease"),
        ] {
            let res = s
                .app
                .http
                .post(s.app.url(&path))
                .bearer_auth(&s.token)
                .send()
                .await
                .unwrap();
            assert_error(res, 404, "not_found").await;
        }

        // Staff forms answer with pages.
        let res = s
            .staff_form("/staff/tokens/revoke", &[("name", &bad)])
            .await;
        assert_page(
            res,
            400,
            "Nothing was revoked",
            &case("a token name to revoke"),
        )
        .await;
        let res = s
            .staff_form("/staff/tokens", &[("name", &bad), ("scope", "collect")])
            .await;
        assert_page(res, 400, "token name", &case("a new token's name")).await;
    }

    // Nothing above changed anything: the one lease still holds, the
    // collector's token was not revoked, no request or secret was made.
    let ack = json!({ "lease_id": s.lease_id });
    let res = s.collector(&format!("/api/v1/inbox/{id}/ack"), ack).await;
    assert_eq!(res.status(), 204);
    assert_eq!(s.app.store.list_requests(10).await.unwrap().len(), 1);
    assert_eq!(common::count_secrets(&s.app.store).await, 0);
    let tokens = s.app.store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].revoked_at, None);
}

/// A lease id of the wrong shape is a 400 that says what to send; a lease id
/// of the right shape that is not the current lease is still a 409.
async fn lease_ids_are_checked_before_leases(backend: Backend) {
    let s = scene(backend).await;
    let path = format!("/api/v1/inbox/{}/ack", s.request_id);
    // A secret's id is 28 characters; a lease id is 22.
    let secret_shaped = handoff::id::Id::timestamped(common::T0).to_string();
    for bad in [
        "",
        "short",
        &"A".repeat(23),
        "AAAAAAAAAAAAAAAAAAAAA=",
        &secret_shaped,
    ] {
        let res = s.collector(&path, json!({ "lease_id": bad })).await;
        assert_error(res, 400, "invalid_lease_id").await;
    }
    let other = handoff::id::Id::random().to_string();
    let res = s.collector(&path, json!({ "lease_id": other })).await;
    assert_error(res, 409, "lease_lapsed").await;
}

/// RFC 9110 makes an authentication scheme's name case-insensitive:
/// `bearer` and `BEARER` work as `Bearer` does; other schemes do not.
async fn bearer_scheme_in_any_case(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = mint_token(&app, "collector", "collect").await;
    let inbox = |value: String| {
        app.http
            .get(app.url("/api/v1/inbox"))
            .header("authorization", value)
            .send()
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let res = inbox(format!("{scheme} {token}")).await.unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
        let res = inbox(format!("{scheme}   {token} ")).await.unwrap();
        assert_eq!(res.status(), 200, "{scheme} with more spaces");
    }
    for value in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        token.clone(),
        "bearer ".to_owned(),
    ] {
        let res = inbox(value.clone()).await.unwrap();
        assert_error(res, 401, "unauthorized").await;
    }
}

/// A page on a sibling host of the same site (`Sec-Fetch-Site: same-site`)
/// cannot write unless the operator named its origin; another site never can.
#[tokio::test]
async fn sibling_site_writes_need_their_origin_allowed() {
    let secret = json!({ "ciphertext": common::some_ciphertext(8), "expires_in": 3600 });
    let post = |app: &TestApp, site: &'static str, origin: &'static str| {
        app.http
            .post(app.url("/api/v1/secrets"))
            .header("sec-fetch-site", site)
            .header("origin", origin)
            .json(&secret)
            .send()
    };
    let strict = common::spawn_app(Backend::Sqlite).await;
    let res = post(&strict, "same-site", "https://portal.example.com")
        .await
        .unwrap();
    assert_error(res, 403, "cross_site").await;
    let res = post(&strict, "same-origin", "http://127.0.0.1")
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "same origin");

    let open = common::spawn_app_with(Backend::Sqlite, |mut s| {
        s.same_site_origins = vec!["https://portal.example.com".to_owned()];
        s.without_rate_limits()
    })
    .await;
    let res = post(&open, "same-site", "https://portal.example.com")
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "the allowed sibling");
    for (site, origin) in [
        ("same-site", "https://other.example.com"),
        ("same-site", "https://portal.example.com:8443"),
        ("cross-site", "https://portal.example.com"),
    ] {
        let res = post(&open, site, origin).await.unwrap();
        assert_error(res, 403, "cross_site").await;
    }
    assert_eq!(common::count_secrets(&open.store).await, 1);
    assert_eq!(common::count_secrets(&strict.store).await, 1);
}

/// Customer labels and notes may not hold bidirectional controls or
/// invisible characters; the answer names the character.
#[tokio::test]
async fn deceptive_characters_in_labels_are_refused_by_name() {
    let s = scene(Backend::Sqlite).await;
    for (field, text, named) in [
        (
            "customer",
            "Contoso\u{202E}gnp.exe",
            "U+202E RIGHT-TO-LEFT OVERRIDE",
        ),
        ("customer", "Con\u{200B}toso", "U+200B ZERO WIDTH SPACE"),
        (
            "customer",
            "\u{2067}Contoso",
            "U+2067 RIGHT-TO-LEFT ISOLATE",
        ),
        (
            "note",
            "Use the\u{FEFF} 12-month expiry",
            "U+FEFF ZERO WIDTH NO-BREAK SPACE",
        ),
    ] {
        let mut body = request_body();
        body[field] = json!(text);
        let message = assert_error(s.create_request(body).await, 400, "invalid_field").await;
        assert!(message.contains(named), "{field} {text:?}: {message}");
    }
    let mut body = request_body();
    body["customer"] = json!("Müller & Söhne 株式会社");
    assert_eq!(s.create_request(body).await.status(), 201);
    assert_eq!(s.app.store.list_requests(10).await.unwrap().len(), 2);
}

/// Rate limits count an IPv6 client by its /64: the addresses of one
/// subscriber share a budget, another /64 has its own.
#[tokio::test]
async fn rate_limits_count_ipv6_clients_by_their_64() {
    let app = common::spawn_app_with(Backend::Sqlite, |mut s| {
        s.trusted_proxies =
            handoff::http::client_ip::TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        s.reveal_limit = 2;
        s
    })
    .await;
    let reveal = |client: &'static str| {
        app.http
            .post(app.url("/api/v1/secrets/AAAAAAAAAAAAAAAAAAAAAA/reveal"))
            .header("x-forwarded-for", client)
            .send()
    };
    for client in ["2001:db8:1:2::1", "2001:db8:1:2::2"] {
        assert_error(reveal(client).await.unwrap(), 404, "not_found").await;
    }
    let res = reveal("2001:db8:1:2:ffff:ffff:ffff:3").await.unwrap();
    assert_error(res, 429, "rate_limited").await;
    for client in ["2001:db8:1:3::1", "203.0.113.9"] {
        assert_error(reveal(client).await.unwrap(), 404, "not_found").await;
    }
}

/// The SQLite database holds ciphertexts and the trail: its file, and the
/// `-wal` and `-shm` files SQLite makes beside it, are the owner's alone,
/// whatever the umask lets files be.
#[tokio::test]
async fn sqlite_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = common::TestDb::new(Backend::Sqlite).await;
    let store = handoff::store::Store::connect(db.url()).await.unwrap();
    store
        .append_event(
            &handoff::audit::NewEvent::new(
                handoff::audit::Kind::UserAdded,
                handoff::audit::Actor::System,
            ),
            T0,
        )
        .await
        .unwrap();
    let file = db.sqlite_path().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} is {mode:o}");
    }
}

with_each_backend!(
    bearer_scheme_in_any_case,
    control_characters_are_refused_at_the_edge,
    lease_ids_are_checked_before_leases,
);
