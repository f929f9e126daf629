//! The collector's inbox over HTTP, on both backends: tokens (bad, revoked,
//! under-scoped), listing, leasing one holder at a time, a lapsed lease
//! leased again, acknowledgement, release, and verification results.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::flow::{PAYLOAD, answer, app_with_soc, decrypt, event_kinds, open_request};
use common::{Backend, T0, TestApp, assert_error};
use handoff::audit::{Actor, Kind, NewEvent};
use serde_json::{Value, json};

async fn token(app: &TestApp, name: &str, scopes: &str) -> String {
    common::flow::mint_token(app, name, scopes).await
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = match method {
        "GET" => app.http.get(app.url(path)),
        _ => app.http.post(app.url(path)),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn refused_kinds(app: &TestApp) -> Vec<Value> {
    app.store
        .events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "token.refused")
        .map(|e| json!({"actor": e.actor, "detail": serde_json::from_str::<Value>(&e.detail).unwrap()}))
        .collect()
}

async fn tokens_are_checked_and_refusals_audited(backend: Backend) {
    let (app, _soc) = app_with_soc(backend).await;
    let good = token(&app, "collector", "collect").await;
    let other = token(&app, "reporting", "report").await;

    assert_error(
        call(&app, None, "GET", "/api/v1/inbox", None).await,
        401,
        "unauthorized",
    )
    .await;
    let forged = format!("hnd_{}", "A".repeat(43));
    assert_error(
        call(&app, Some(&forged), "GET", "/api/v1/inbox", None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        call(&app, Some("garbage"), "GET", "/api/v1/inbox", None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(
        call(&app, Some(&other), "GET", "/api/v1/inbox", None).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        call(&app, Some(&good), "GET", "/api/v1/inbox", None)
            .await
            .status(),
        200
    );

    // Revocation takes effect at once.
    let event = NewEvent::new(Kind::TokenRevoked, Actor::System);
    assert!(
        app.store
            .revoke_token("collector", app.clock.now(), &event)
            .await
            .unwrap()
    );
    let message = assert_error(
        call(&app, Some(&good), "GET", "/api/v1/inbox", None).await,
        401,
        "unauthorized",
    )
    .await;
    assert!(message.contains("revoked"));

    let refused = refused_kinds(&app).await;
    assert_eq!(
        refused,
        [
            json!({"actor": "anonymous", "detail": {"reason": "unknown"}}),
            json!({"actor": "anonymous", "detail": {"reason": "unknown"}}),
            json!({"actor": "token:reporting", "detail": {"reason": "scope"}}),
            json!({"actor": "token:collector", "detail": {"reason": "revoked"}}),
        ]
    );
    // Neither the token nor its hash is in the trail.
    let trail: String = app
        .store
        .events_after(0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.detail.clone())
        .collect();
    assert!(!trail.contains(&good[4..]));
    let listed = app.store.list_tokens().await.unwrap();
    let used = listed.iter().find(|t| t.name == "collector").unwrap();
    assert!(used.last_used_at.is_some() && used.revoked_at.is_some());
    assert_eq!(used.prefix, &good[..12]);
}

async fn lease_ack_and_a_lapsed_lease(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let t = token(&app, "collector", "collect").await;
    let waiting = open_request(&app.store, T0, 86_400).await;
    let r = open_request(&app.store, T0, 86_400).await;
    assert_eq!(answer(&app, &r, Some(&soc)).await.status(), 201);

    let inbox: Value = call(&app, Some(&t), "GET", "/api/v1/inbox", None)
        .await
        .json()
        .await
        .unwrap();
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only answered requests wait: {inbox}");
    assert_eq!(items[0]["id"], r.id.as_str());
    assert_eq!(items[0]["customer"], "Contoso");
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["answered_at", "customer", "id", "leased_until", "template"]
    );
    assert!(!inbox.to_string().contains(&waiting.id));

    let path = |what: &str| format!("/api/v1/inbox/{}/{what}", r.id);
    let first: Value = call(&app, Some(&t), "POST", &path("lease"), None)
        .await
        .json()
        .await
        .unwrap();
    let sealed = STANDARD
        .decode(first["ciphertext"].as_str().unwrap())
        .unwrap();
    assert_eq!(decrypt(&soc, &sealed), PAYLOAD);
    assert_error(
        call(&app, Some(&t), "POST", &path("lease"), None).await,
        409,
        "leased",
    )
    .await;

    // The collector dies: after the lease time the copy is leased again.
    app.clock.advance(299);
    assert_error(
        call(&app, Some(&t), "POST", &path("lease"), None).await,
        409,
        "leased",
    )
    .await;
    app.clock.advance(1);
    let second: Value = call(&app, Some(&t), "POST", &path("lease"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(first["lease_id"], second["lease_id"]);
    assert_eq!(
        second["ciphertext"], first["ciphertext"],
        "nothing was lost"
    );

    // The lapsed lease cannot acknowledge; the current one can, once.
    let stale = json!({"lease_id": first["lease_id"]});
    assert_error(
        call(&app, Some(&t), "POST", &path("ack"), Some(stale)).await,
        409,
        "lease_lapsed",
    )
    .await;
    let ack = json!({"lease_id": second["lease_id"], "target": "wazuh-office365"});
    assert_eq!(
        call(&app, Some(&t), "POST", &path("ack"), Some(ack.clone()))
            .await
            .status(),
        204
    );
    assert_error(
        call(&app, Some(&t), "POST", &path("ack"), Some(ack)).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        call(&app, Some(&t), "POST", &path("lease"), None).await,
        404,
        "not_found",
    )
    .await;
    let inbox: Value = call(&app, Some(&t), "GET", "/api/v1/inbox", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["items"], json!([]));

    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
    // The customer's receipt shows the import, and withdrawing is now too late.
    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        [
            "request.created",
            "request.answered",
            "request.leased",
            "request.leased",
            "request.imported"
        ]
    );
    assert_eq!(app.store.verify_chain().await.unwrap().result, Ok(()));
}

async fn one_lease_under_concurrency_and_release(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let t = token(&app, "collector", "collect").await;
    let r = open_request(&app.store, T0, 86_400).await;
    answer(&app, &r, Some(&soc)).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (app, t, id) = (app.clone(), t.clone(), r.id.clone());
        tasks.push(tokio::spawn(async move {
            call(
                &app,
                Some(&t),
                "POST",
                &format!("/api/v1/inbox/{id}/lease"),
                None,
            )
            .await
        }));
    }
    let mut granted = Vec::new();
    let mut codes = Vec::new();
    for task in tasks {
        let res = task.await.unwrap();
        codes.push(res.status().as_u16());
        if res.status() == 200 {
            granted.push(res.json::<Value>().await.unwrap());
        }
    }
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    // Released (a dry run): leased again at once.
    let release = json!({"lease_id": granted[0]["lease_id"]});
    let path = format!("/api/v1/inbox/{}/release", r.id);
    assert_eq!(
        call(&app, Some(&t), "POST", &path, Some(release.clone()))
            .await
            .status(),
        204
    );
    assert_error(
        call(&app, Some(&t), "POST", &path, Some(release)).await,
        409,
        "lease_lapsed",
    )
    .await;
    let again = call(
        &app,
        Some(&t),
        "POST",
        &format!("/api/v1/inbox/{}/lease", r.id),
        None,
    )
    .await;
    assert_eq!(again.status(), 200);
}

async fn verification_results_are_recorded(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let t = token(&app, "collector", "collect").await;
    let r = open_request(&app.store, T0, 86_400).await;
    answer(&app, &r, Some(&soc)).await;
    let result = format!("/api/v1/inbox/{}/result", r.id);
    let failed = json!({
        "ok": false, "step": "roles", "code": null,
        "message": "The token lacks permissions the template needs.",
        "roles_found": ["ActivityFeed.Read"],
        "roles_required": ["ActivityFeed.Read", "ActivityFeed.ReadDlp"],
    });
    assert_error(
        call(&app, Some(&t), "POST", &result, Some(failed.clone())).await,
        409,
        "not_imported",
    )
    .await;

    let lease: Value = call(
        &app,
        Some(&t),
        "POST",
        &format!("/api/v1/inbox/{}/lease", r.id),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let ack = json!({"lease_id": lease["lease_id"]});
    call(
        &app,
        Some(&t),
        "POST",
        &format!("/api/v1/inbox/{}/ack", r.id),
        Some(ack),
    )
    .await;

    let mut bad = failed.clone();
    bad["surprise"] = json!(1);
    assert_error(
        call(&app, Some(&t), "POST", &result, Some(bad)).await,
        400,
        "bad_request",
    )
    .await;
    let mut bad = failed.clone();
    bad["message"] = json!("line\nbreak");
    assert_error(
        call(&app, Some(&t), "POST", &result, Some(bad)).await,
        400,
        "bad_request",
    )
    .await;

    assert_eq!(
        call(&app, Some(&t), "POST", &result, Some(failed))
            .await
            .status(),
        204
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.verify_ok, Some(false));
    let detail = req.verify_detail.unwrap();
    assert!(
        detail.contains("Missing permissions: ActivityFeed.ReadDlp"),
        "{detail}"
    );
    let events = app.store.request_events(&r.id).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor.as_str()),
        ("request.verify_failed", "token:collector")
    );
    // The customer's receipt says the check failed.
    let status = app
        .store
        .request(&r.id)
        .await
        .unwrap()
        .unwrap()
        .state(app.clock.now());
    assert_eq!(status.as_str(), "failed");

    let ok = json!({"ok": true, "roles_found": ["ActivityFeed.Read"], "roles_required": ["ActivityFeed.Read"]});
    assert_eq!(
        call(&app, Some(&t), "POST", &result, Some(ok))
            .await
            .status(),
        204
    );
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(req.state(app.clock.now()).as_str(), "verified");
}

async fn inbox_calls_are_rate_limited_so_refusals_cannot_flood_the_trail(backend: Backend) {
    let app = common::spawn_app_with(backend, |s| {
        let mut s = s.without_rate_limits();
        s.inbox_limit = 3;
        s
    })
    .await;
    let forged = format!("hnd_{}", "B".repeat(43));
    for _ in 0..3 {
        assert_error(
            call(&app, Some(&forged), "GET", "/api/v1/inbox", None).await,
            401,
            "unauthorized",
        )
        .await;
    }
    let res = call(&app, Some(&forged), "GET", "/api/v1/inbox", None).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, 429, "rate_limited").await;
    assert_eq!(
        refused_kinds(&app).await.len(),
        3,
        "the refused calls over the limit left no event"
    );
}

with_each_backend!(
    inbox_calls_are_rate_limited_so_refusals_cannot_flood_the_trail,
    tokens_are_checked_and_refusals_audited,
    lease_ack_and_a_lapsed_lease,
    one_lease_under_concurrency_and_release,
    verification_results_are_recorded,
);
