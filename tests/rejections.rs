//! Every kind of request the extractors refuse gets an answer its reader can
//! read: the contract's JSON error on `/api/` routes, a page everywhere else.
//! A path that cannot be decoded, a form of another content type, a body
//! that cannot be parsed or is too large, a body that arrives too slowly, a
//! store that fails under a staff form, and a token name that names nothing.

mod common;

use std::time::Duration;

use common::{Backend, Session, TestApp, assert_error, spawn_app, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts a page (not JSON) with this status whose text holds `words`.
async fn assert_page(res: reqwest::Response, status: u16, words: &str, case: &str) -> String {
    assert_eq!(res.status(), status, "{case}");
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{case}: a page, not {kind}");
    let page = res.text().await.unwrap();
    assert!(page.contains(words), "{case}: {page}");
    page
}

/// A percent-escape that is not UTF-8 (`%FF`) in any `{id}` or `{token}`:
/// JSON 404 on the API (as for any id that names nothing), a 404 page on
/// pages. axum's own answer was a plain-text 400.
#[tokio::test]
async fn non_utf8_escapes_in_path_ids_answer_in_kind() {
    let app = spawn_app(Backend::Sqlite).await;
    let staff = app.staff("pm").await;
    let bad = "ab%FFcd";
    for (method, path) in [
        ("GET", format!("/api/v1/secrets/{bad}")),
        ("POST", format!("/api/v1/secrets/{bad}/reveal")),
        ("GET", format!("/api/v1/status/{bad}")),
        ("POST", format!("/api/v1/status/{bad}/destroy")),
        ("GET", format!("/api/v1/requests/{bad}")),
        ("POST", format!("/api/v1/requests/{bad}/opened")),
        ("GET", format!("/api/v1/request-status/{bad}")),
        ("POST", format!("/api/v1/request-status/{bad}/withdraw")),
        ("POST", format!("/api/v1/retrievals/{bad}/reveal")),
    ] {
        let res = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        let message = assert_error(res, 404, "not_found").await;
        assert!(message.contains("UTF-8"), "{method} {path}: {message}");
    }
    for (method, path) in [
        ("GET", format!("/s/{bad}")),
        ("GET", format!("/status/{bad}")),
        ("POST", format!("/status/{bad}/destroy")),
        ("GET", format!("/r/{bad}")),
        ("GET", format!("/rs/{bad}")),
        ("POST", format!("/rs/{bad}/withdraw")),
        ("GET", format!("/p/{bad}")),
        ("GET", format!("/staff/requests/{bad}")),
        ("POST", format!("/staff/requests/{bad}/cancel")),
    ] {
        let res = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .header("cookie", &staff.cookie)
            .form(&[("csrf", staff.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_page(res, 404, "UTF-8", &format!("{method} {path}")).await;
    }
    // The same for the collector's routes, whose token is checked first.
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    let res = app
        .http
        .post(app.url(&format!("/api/v1/inbox/{bad}/lease")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
}

/// Staff forms posted as JSON (415), with an unreadable field (400) or too
/// large (413) are answered with a page, never axum's plain text.
#[tokio::test]
async fn staff_forms_refused_by_their_extractor_get_a_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let staff = app.staff("pm").await;
    for path in [
        "/staff/tokens",
        "/staff/tokens/revoke",
        "/staff/requests/q8bV0m3yJ1s9dJcXk2Zl4A/cancel",
    ] {
        let json = app
            .http
            .post(app.url(path))
            .header("cookie", &staff.cookie)
            .header("content-type", "application/json")
            .body(format!(r#"{{"csrf":"{}"}}"#, staff.csrf))
            .send()
            .await
            .unwrap();
        let page = assert_page(json, 415, "application/x-www-form-urlencoded", path).await;
        assert!(page.contains(r#"data-notice="unsupported_media_type""#));

        let unreadable = app
            .http
            .post(app.url(path))
            .header("cookie", &staff.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={0}&csrf={0}", staff.csrf))
            .send()
            .await
            .unwrap();
        assert_page(unreadable, 400, "nothing was changed", path).await;

        let huge = "x".repeat(3 * 1024 * 1024);
        let large = app
            .http
            .post(app.url(path))
            .header("cookie", &staff.cookie)
            .form(&[("csrf", staff.csrf.as_str()), ("name", &huge)])
            .send()
            .await
            .unwrap();
        assert_page(large, 413, "too large", path).await;
    }
}

/// Sends a request head announcing `length` bytes of body, then only half
/// of them, and returns the status line and body of the answer.
async fn send_half_a_body(app: &TestApp, head: &str, length: usize) -> (String, String) {
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n{}",
        app.addr,
        "x".repeat(length / 2)
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_string(&mut answer))
        .await
        .expect("an answer within the request time limit")
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_owned(), body.to_owned())
}

/// A client that does not finish sending its body within the request time
/// limit gets 408 (JSON on the API, a page on a form), not 503 "the server
/// took too long".
#[tokio::test]
async fn a_slow_body_is_the_clients_408() {
    let app = spawn_app_with(Backend::Sqlite, |mut s| {
        s.request_timeout = Duration::from_secs(1);
        s.without_rate_limits()
    })
    .await;
    let staff = app.staff("pm").await;

    let (head, body) = send_half_a_body(
        &app,
        "POST /api/v1/secrets HTTP/1.1\r\nContent-Type: application/json",
        200,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("application/json"), "{head}");
    assert!(body.contains(r#""error":"request_timeout""#), "{body}");

    // A file piece: a transfer declared with half its body, and a piece
    // the server refuses (no such transfer) and reads to its end before
    // answering, which never comes: both the client's 408.
    for head in [
        "POST /api/v1/transfers HTTP/1.1\r\nContent-Type: application/json".to_owned(),
        format!(
            "PUT /api/v1/transfers/{}/files/0/pieces/0 HTTP/1.1\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/octet-stream",
            handoff::id::Id::random(),
            handoff::id::Id::random()
        ),
    ] {
        let (head, body) = send_half_a_body(&app, &head, 4096).await;
        assert!(head.starts_with("HTTP/1.1 408"), "{head}");
        assert!(body.contains(r#""error":"request_timeout""#), "{body}");
    }

    let (head, body) = send_half_a_body(
        &app,
        &format!(
            "POST /staff/tokens HTTP/1.1\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded",
            staff.cookie
        ),
        200,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(head.contains("text/html"), "{head}");
    assert!(body.contains("did not arrive in time"), "{body}");
}

/// A store that fails under a staff form answers a 503 page, not JSON.
async fn a_store_failure_on_a_staff_form_is_a_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let staff: Session = app.staff("pm").await;
    app.store.close().await;
    for path in ["/staff/tokens", "/staff/tokens/revoke", "/logout"] {
        let res = app
            .post_form_as(
                &staff.cookie,
                path,
                &[("csrf", &staff.csrf), ("name", "ci"), ("scope", "collect")],
            )
            .await;
        assert_page(res, 503, "database", path).await;
    }
    let res = app.get_as(&staff.cookie, "/staff").await;
    assert_page(res, 503, "database", "/staff").await;
}

/// Revoking a token name that no active token has says so, with a 404, and
/// revokes nothing; a real name still redirects back to the list.
async fn revoking_an_unknown_token_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    let staff = app.staff("pm").await;
    common::flow::mint_token(&app, "collector", "collect").await;
    let form = |name: &'static str| {
        let staff = staff.clone();
        let app = &app;
        async move {
            app.post_form_as(
                &staff.cookie,
                "/staff/tokens/revoke",
                &[("csrf", &staff.csrf), ("name", name)],
            )
            .await
        }
    };
    let res = form("no-such-token").await;
    assert_page(res, 404, "there is no active token named", "unknown name").await;
    let res = form("collector").await;
    assert_eq!(res.status(), 303);
    let res = form("collector").await;
    assert_page(res, 404, "already", "revoked twice").await;
}

with_each_backend!(
    a_store_failure_on_a_staff_form_is_a_page,
    revoking_an_unknown_token_says_so,
);
