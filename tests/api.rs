//! The HTTP API v1 contract and the link guarantees, on SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Made, T0, TestApp, assert_error, some_ciphertext};
use handoff::link;
use serde_json::{Value, json};

on_both_backends!(
    create_answers_with_link_expiry_and_status_url,
    revealed_ciphertext_decrypts_with_the_link_key,
    second_reveal_is_gone,
    metadata_get_and_head_never_consume,
    page_get_and_head_never_consume,
    fifty_concurrent_reveals_exactly_one_succeeds,
    expired_secret_is_never_served,
    purge_deletes_expired_ciphertext_and_later_its_receipt,
    status_reports_when_the_secret_was_read,
    creator_can_destroy_an_unread_secret,
    malformed_uploads_get_clear_4xx,
    unknown_ids_routes_and_methods_get_404_or_405,
    cross_site_posts_are_refused_and_consume_nothing,
    security_headers_on_every_response,
    healthz_reports_the_database,
);

async fn create_answers_with_link_expiry_and_status_url(app: TestApp) {
    let res = app
        .post_json(
            "/api/v1/secrets",
            &json!({"ciphertext": some_ciphertext(10), "expires_in": 3600, "template": "text"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), handoff::id::TIMESTAMPED_LEN);
    assert_eq!(location, format!("/api/v1/secrets/{id}"));
    assert_eq!(body["url"], format!("{}/s/{id}", app.base));
    assert_eq!(body["expires_at"], "2026-11-22T01:00:00Z");
    let status_url = body["status_url"].as_str().unwrap();
    assert!(status_url.starts_with(&format!("{}/status/", app.base)));
    assert!(!status_url.contains(id), "the status token is not the id");

    let meta: Value = app
        .get(&format!("/api/v1/secrets/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta,
        json!({"id": id, "template": "text", "passphrase": false, "created_at": "2026-11-22T00:00:00Z", "expires_at": "2026-11-22T01:00:00Z"})
    );
}

async fn revealed_ciphertext_decrypts_with_the_link_key(app: TestApp) {
    let made = app.create_text("tenant secret 42").await;
    let res = app.reveal(&made.id).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let ciphertext = STANDARD
        .decode(body["ciphertext"].as_str().unwrap())
        .unwrap();
    let identity = made.key.unlock(None).unwrap();
    assert_eq!(link::open(&ciphertext, &identity).unwrap(), made.plaintext);
}

async fn second_reveal_is_gone(app: TestApp) {
    let made = app.create_text("once").await;
    assert_eq!(app.reveal(&made.id).await.status(), 200);
    app.clock.advance(60);
    assert_error(app.reveal(&made.id).await, 404, "not_found").await;
    // The read time is the first reveal's; the second changed nothing.
    let status = app.status(&made).await;
    assert_eq!(status["state"], "read");
    assert_eq!(status["read_at"], "2026-11-22T00:00:00Z");
    assert_error(
        app.get(&format!("/api/v1/secrets/{}", made.id)).await,
        404,
        "not_found",
    )
    .await;
    let page = app.get(&format!("/s/{}", made.id)).await;
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("id=\"gone\""));
}

async fn metadata_get_and_head_never_consume(app: TestApp) {
    let made = app.create_text("scan me").await;
    for _ in 0..5 {
        assert_eq!(
            app.get(&format!("/api/v1/secrets/{}", made.id))
                .await
                .status(),
            200
        );
        assert_eq!(
            app.head(&format!("/api/v1/secrets/{}", made.id))
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.reveal(&made.id).await.status(), 200);
}

async fn page_get_and_head_never_consume(app: TestApp) {
    let made = app.create_text("preview me").await;
    let path = format!("/s/{}", made.id);
    for _ in 0..5 {
        let page = app.get(&path).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("id=\"reveal-button\""),
            "the interstitial offers a button, not the secret"
        );
        assert_eq!(app.head(&path).await.status(), 200);
    }
    assert_eq!(app.reveal(&made.id).await.status(), 200);
}

async fn fifty_concurrent_reveals_exactly_one_succeeds(app: TestApp) {
    let made = app.create_text("race").await;
    let mut tasks = vec![];
    for _ in 0..50 {
        let (http, url) = (
            app.http.clone(),
            app.url(&format!("/api/v1/secrets/{}/reveal", made.id)),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        49,
        "{statuses:?}"
    );
}

async fn expired_secret_is_never_served(app: TestApp) {
    let made = app.create_text("short-lived").await;
    app.clock.advance(3_599);
    assert_eq!(
        app.get(&format!("/api/v1/secrets/{}", made.id))
            .await
            .status(),
        200
    );
    app.clock.advance(1);
    assert_error(
        app.get(&format!("/api/v1/secrets/{}", made.id)).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.get(&format!("/s/{}", made.id)).await.status(), 404);
    assert_error(app.reveal(&made.id).await, 404, "not_found").await;
    let status: Value = app.status(&made).await;
    assert_eq!(status["state"], "expired");
}

async fn purge_deletes_expired_ciphertext_and_later_its_receipt(app: TestApp) {
    let made = app.create_text("purge me").await;
    let keep = app
        .create(&handoff::payload::Payload::text("keep"), 7_200, None)
        .await;
    app.clock.advance(3_600);
    let purged = app.store.purge_secrets(app.clock.now()).await.unwrap();
    assert_eq!((purged.ciphertexts, purged.receipts), (1, 0));
    assert_eq!(
        app.reveal(&keep.id).await.status(),
        200,
        "an unexpired secret survives the purge"
    );
    // The receipt stays for its retention period, then goes too.
    let status_path = format!("/api/v1{}", app.status_path(&made));
    assert_eq!(app.get(&status_path).await.status(), 200);
    app.clock.advance(handoff::store::RECEIPT_RETENTION_SECONDS);
    let purged = app.store.purge_secrets(app.clock.now()).await.unwrap();
    assert_eq!(purged.receipts, 1);
    assert_error(app.get(&status_path).await, 404, "not_found").await;
}

async fn status_reports_when_the_secret_was_read(app: TestApp) {
    let made = app.create_text("watch me").await;
    let path = format!("/api/v1{}", app.status_path(&made));
    let before: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(before["state"], "waiting");
    assert_eq!(before["read_at"], Value::Null);
    app.clock.advance(600);
    assert_eq!(app.reveal(&made.id).await.status(), 200);
    let after: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(after["state"], "read");
    assert_eq!(after["read_at"], "2026-11-22T00:10:00Z");
    let page = app.get(&app.status_path(&made)).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Opened at"));
}

async fn creator_can_destroy_an_unread_secret(app: TestApp) {
    let made = app.create_text("regret").await;
    // The status page's form, once confirmed, posts here and is sent back
    // to the status page.
    let res = app
        .http
        .post(app.url(&format!("{}/destroy", app.status_path(&made))))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_error(app.reveal(&made.id).await, 404, "not_found").await;
    let status: Value = app.status(&made).await;
    assert_eq!(status["state"], "destroyed");
    assert_eq!(status["destroyed_at"], "2026-11-22T00:00:00Z");
    // A reveal that finds no ciphertext marks nothing read.
    assert_eq!(status["read_at"], Value::Null);

    let expired = app.create_text("too late").await;
    app.clock.advance(3_600);
    assert_error(app.reveal(&expired.id).await, 404, "not_found").await;
    let status: Value = app.status(&expired).await;
    assert_eq!(status["state"], "expired");
    assert_eq!(status["read_at"], Value::Null);
    let res = app
        .post_json(
            &format!("/api/v1{}/destroy", app.status_path(&expired)),
            &json!({}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["state"],
        "expired",
        "an expired secret is not reported destroyed"
    );

    let other = app.create_text("api destroy").await;
    let res = app
        .post_json(
            &format!("/api/v1{}/destroy", app.status_path(&other)),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "destroyed");
}

async fn malformed_uploads_get_clear_4xx(app: TestApp) {
    let ok = some_ciphertext(10);
    let post = |body: Value| {
        let req = app.http.post(app.url("/api/v1/secrets")).json(&body);
        async move { req.send().await.unwrap() }
    };
    let raw = |body: &'static str, ct: &'static str| {
        app.http
            .post(app.url("/api/v1/secrets"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_error(
        raw("{not json", "application/json").await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(
        raw("", "application/json").await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{}", "text/plain").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(post(json!({"expires_in": 3600})).await, 400, "bad_request").await;
    assert_error(
        post(json!({"ciphertext": ok, "expires_in": "soon"})).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        post(json!({"ciphertext": ok, "expires_in": 3600, "extra": 1})).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        post(json!({"ciphertext": ok, "expires_in": 3600, "template": "nope"})).await,
        400,
        "unknown_template",
    )
    .await;
    for bad in [0, 59, -1, 7 * 86_400 + 1, i64::MAX] {
        assert_error(
            post(json!({"ciphertext": ok, "expires_in": bad})).await,
            400,
            "invalid_expiry",
        )
        .await;
    }
    assert_error(
        post(json!({"ciphertext": "***", "expires_in": 3600})).await,
        400,
        "invalid_base64",
    )
    .await;
    let not_age = STANDARD.encode(b"just some text, not encrypted at all");
    assert_error(
        post(json!({"ciphertext": not_age, "expires_in": 3600})).await,
        422,
        "not_age_file",
    )
    .await;
    let mut pass = age::scrypt::Recipient::new(age::secrecy::SecretString::from("pw".to_owned()));
    pass.set_work_factor(2);
    let scrypt = STANDARD.encode(age::encrypt(&pass, b"x").unwrap());
    let msg = assert_error(
        post(json!({"ciphertext": scrypt, "expires_in": 3600})).await,
        422,
        "not_age_file",
    )
    .await;
    assert!(msg.contains("X25519"), "{msg}");
    // Just over the 64 KiB default once decoded, and far over it as a body.
    assert_error(
        post(json!({"ciphertext": some_ciphertext(64 * 1024), "expires_in": 3600})).await,
        413,
        "too_large",
    )
    .await;
    // Over the body limit (~87 KiB here) but small enough to be written whole
    // before the server answers, so the client sees the 413 and not a reset.
    let huge = "A".repeat(150 * 1024);
    assert_error(
        post(json!({"ciphertext": huge, "expires_in": 3600})).await,
        413,
        "too_large",
    )
    .await;
    // Nothing of the above was stored.
    assert_eq!(common::count_secrets(&app.store).await, 0);
}

async fn unknown_ids_routes_and_methods_get_404_or_405(app: TestApp) {
    for id in ["AAAAAAAAAAAAAAAAAAAAAA", "short", "%00", "..%2f..%2fetc"] {
        assert_error(
            app.get(&format!("/api/v1/secrets/{id}")).await,
            404,
            "not_found",
        )
        .await;
        assert_error(app.reveal(id).await, 404, "not_found").await;
        assert_error(
            app.get(&format!("/api/v1/status/{id}")).await,
            404,
            "not_found",
        )
        .await;
        assert_eq!(app.get(&format!("/s/{id}")).await.status(), 404);
        assert_eq!(app.get(&format!("/status/{id}")).await.status(), 404);
    }
    assert_error(app.get("/api/v1/nothing").await, 404, "not_found").await;
    let page = app.get("/no/such/page").await;
    assert_eq!(page.status(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_error(app.get("/api/v1/secrets").await, 405, "method_not_allowed").await;
    let made = app.create_text("x").await;
    let del = app
        .http
        .delete(app.url(&format!("/api/v1/secrets/{}", made.id)))
        .send()
        .await
        .unwrap();
    assert_error(del, 405, "method_not_allowed").await;
    assert_eq!(app.get("/assets/nope.js").await.status(), 404);
}

async fn cross_site_posts_are_refused_and_consume_nothing(app: TestApp) {
    let made = app.create_text("csrf").await;
    let res = app
        .http
        .post(app.url(&format!("/api/v1/secrets/{}/reveal", made.id)))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "cross_site").await;
    let res = app
        .http
        .post(app.url(&format!("{}/destroy", app.status_path(&made))))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let same = app
        .http
        .post(app.url(&format!("/api/v1/secrets/{}/reveal", made.id)))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
}

async fn security_headers_on_every_response(app: TestApp) {
    let made: Made = app.create_text("headers").await;
    let paths = [
        "/",
        "/assets/create.js",
        "/api/openapi.json",
        "/healthz",
        "/nope",
        "/api/v1/nope",
    ];
    let mut responses = vec![];
    for p in paths {
        responses.push((p.to_owned(), app.get(p).await));
    }
    responses.push(("/s/{id}".into(), app.get(&format!("/s/{}", made.id)).await));
    responses.push((
        "meta".into(),
        app.get(&format!("/api/v1/secrets/{}", made.id)).await,
    ));
    responses.push(("status".into(), app.get(&app.status_path(&made)).await));
    responses.push(("reveal".into(), app.reveal(&made.id).await));
    let refused = app
        .http
        .post(app.url("/api/v1/secrets"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    responses.push(("cross-site refusal".into(), refused));
    responses.push(("405".into(), app.get("/api/v1/secrets").await));
    for (what, res) in responses {
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{what}"
        );
        assert!(!csp.contains("unsafe-inline"), "{what}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP: {what}"
        );
        let cache = h["cache-control"].to_str().unwrap();
        if what.starts_with("/assets/") {
            assert_eq!(cache, "no-cache");
        } else {
            assert_eq!(cache, "no-store", "{what}");
        }
    }
}

async fn healthz_reports_the_database(app: TestApp) {
    let body: Value = app.get("/healthz").await.json().await.unwrap();
    let want = if app.backend == common::Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(body, json!({"status": "ok", "database": want}));
    app.store.close().await;
    assert_eq!(app.get("/healthz").await.status(), 503);
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |_| {
        handoff::config::Settings::new("https://handoff.example.com")
            .unwrap()
            .without_rate_limits()
    })
    .await;
    let res = app.get("/").await;
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let made = app.create_text("x").await;
    assert!(made.url.starts_with("https://handoff.example.com/s/"));
}

#[tokio::test]
async fn creating_is_rate_limited_per_client() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |mut s| {
        s.create_limit = 2;
        s
    })
    .await;
    let body = json!({"ciphertext": some_ciphertext(1), "expires_in": 3600});
    for _ in 0..2 {
        assert_eq!(app.post_json("/api/v1/secrets", &body).await.status(), 201);
    }
    let limited = app.post_json("/api/v1/secrets", &body).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let msg = assert_error(limited, 429, "rate_limited").await;
    assert!(msg.contains("try again"), "{msg}");
    // A made-up X-Forwarded-For does not open a new bucket: no proxy is trusted.
    let spoofed = app
        .http
        .post(app.url("/api/v1/secrets"))
        .header("x-forwarded-for", "198.51.100.9")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);
    // Reading metadata is not limited.
    assert_eq!(
        app.get("/api/v1/secrets/AAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn revealing_is_rate_limited_and_trusted_proxies_key_on_the_forwarded_client() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |mut s| {
        s.reveal_limit = 1;
        s.trusted_proxies =
            handoff::http::client_ip::TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        s
    })
    .await;
    let reveal = |xff: &'static str| {
        app.http
            .post(app.url("/api/v1/secrets/AAAAAAAAAAAAAAAAAAAAAA/reveal"))
            .header("x-forwarded-for", xff)
            .send()
    };
    assert_eq!(reveal("198.51.100.1").await.unwrap().status(), 404);
    assert_error(reveal("198.51.100.1").await.unwrap(), 429, "rate_limited").await;
    assert_eq!(
        reveal("198.51.100.2").await.unwrap().status(),
        404,
        "another client behind the proxy has its own limit"
    );
}

#[tokio::test]
async fn configured_size_limit_applies_beyond_the_default_body_limit() {
    let app = common::spawn_app_with(common::Backend::Sqlite, |s| {
        let mut s = s.without_rate_limits();
        s.max_secret_bytes = 3 * 1024 * 1024;
        s
    })
    .await;
    let big = json!({"ciphertext": some_ciphertext(2_500_000), "expires_in": 3600});
    assert_eq!(app.post_json("/api/v1/secrets", &big).await.status(), 201);
    let bigger = json!({"ciphertext": some_ciphertext(3 * 1024 * 1024), "expires_in": 3600});
    assert_error(
        app.post_json("/api/v1/secrets", &bigger).await,
        413,
        "too_large",
    )
    .await;
}

#[tokio::test]
async fn openapi_documents_every_api_route() {
    let app = common::spawn_app(common::Backend::Sqlite).await;
    let spec: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths: HashSet<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for route in [
        "/api/v1/secrets",
        "/api/v1/secrets/{id}",
        "/api/v1/secrets/{id}/reveal",
        "/api/v1/status/{token}",
        "/api/v1/status/{token}/destroy",
        "/api/v1/requests/{id}",
        "/api/v1/requests/{id}/opened",
        "/api/v1/requests/{id}/answer",
        "/api/v1/request-status/{token}",
        "/api/v1/request-status/{token}/withdraw",
        "/api/v1/retrievals/{id}/reveal",
        "/api/v1/requests",
        "/api/v1/inbox",
        "/api/v1/inbox/{id}/lease",
        "/api/v1/inbox/{id}/release",
        "/api/v1/inbox/{id}/ack",
        "/api/v1/inbox/{id}/result",
        "/healthz",
        "/api/openapi.json",
    ] {
        assert!(paths.contains(route), "openapi.json lacks {route}");
    }
}

#[tokio::test]
async fn passphrase_flag_is_reported_in_metadata_only() {
    let app = common::spawn_app(common::Backend::Sqlite).await;
    let made = app
        .create(
            &handoff::payload::Payload::text("p"),
            3_600,
            Some("two channels"),
        )
        .await;
    let meta: Value = app
        .get(&format!("/api/v1/secrets/{}", made.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["passphrase"], true);
    assert!(made.key.to_fragment().starts_with("p1."));
    assert_eq!(
        made.plaintext,
        serde_json::to_vec(&handoff::payload::Payload::text("p")).unwrap()
    );
    let _ = T0;
}

#[tokio::test]
async fn pages_warn_about_plain_http_on_a_remote_host_even_when_not_found() {
    let app = common::spawn_app(common::Backend::Sqlite).await;
    let page = |path: &'static str, host: &'static str| {
        let app = &app;
        async move {
            let res = app
                .http
                .get(app.url(path))
                .header("host", host)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let shown = r#"<div id="insecure-banner" class="banner danger">"#;
    for path in ["/", "/no-such-page", "/s/AAAAAAAAAAAAAAAAAAAAAA"] {
        let (_, remote) = page(path, "handoff.example.com").await;
        assert!(
            remote.contains(shown),
            "{path} over plain HTTP on a remote host must warn"
        );
        let (_, local) = page(path, "127.0.0.1").await;
        assert!(
            !local.contains(shown),
            "{path} on loopback needs no warning"
        );
    }
    assert_eq!(page("/no-such-page", "handoff.example.com").await.0, 404);
}
