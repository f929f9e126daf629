//! `GET /metrics` on both backends: only for a token with the `metrics`
//! scope (none: 401, a `collect` token: 403, both audited); the answers
//! counted by route pattern, method and status, and timed; the database's
//! counts of secrets, waiting copies and webhook deliveries; requests by
//! state at scrape time; no id, token or customer label in any figure.

mod common;

use common::flow::{answer, app_with_soc, mint_token, open_request};
use common::{Backend, T0, TestApp, assert_error, some_ciphertext};
use serde_json::json;

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The value of the sample line that starts with `name` (labels included).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn only_a_metrics_token_reads_the_figures(backend: Backend) {
    let (app, _soc) = app_with_soc(backend).await;
    assert_error(scrape(&app, None).await, 401, "unauthorized").await;
    let collector = mint_token(&app, "collector", "collect").await;
    let message = assert_error(scrape(&app, Some(&collector)).await, 403, "forbidden").await;
    assert!(message.contains("`metrics` scope"), "{message}");
    let prometheus = mint_token(&app, "prometheus", "metrics").await;
    let res = scrape(&app, Some(&prometheus)).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let refused: Vec<String> = app
        .store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "token.refused")
        .map(|e| e.actor)
        .collect();
    assert_eq!(refused, ["token:collector"], "a refused token is audited");
}

async fn the_figures_follow_what_happens(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let prometheus = mint_token(&app, "prometheus", "metrics").await;
    let text = scrape(&app, Some(&prometheus)).await.text().await.unwrap();
    assert_eq!(sample(&text, "handoff_secrets"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "handoff_webhook_deliveries_pending"),
        Some(0.0)
    );
    assert!(sample(&text, "handoff_database_query_seconds").is_some());

    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    let created = app
        .post_json(
            "/api/v1/secrets",
            &json!({"ciphertext": some_ciphertext(40), "expires_in": 3600}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let secret_id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get("/api/v1/secrets/AAAAAAAAAAAAAAAAAAAAAA")
            .await
            .status(),
        404
    );
    let r = open_request(&app.store, T0, 86_400).await;
    assert_eq!(answer(&app, &r, Some(&soc)).await.status(), 201);

    let text = scrape(&app, Some(&prometheus)).await.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"handoff_http_requests_total{route="/healthz",method="GET",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"handoff_http_requests_total{route="/api/v1/secrets",method="POST",status="201"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"handoff_http_requests_total{route="/api/v1/secrets/{id}",method="GET",status="404"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"handoff_http_request_duration_seconds_count{route="/healthz"}"#
        ),
        Some(3.0)
    );
    assert_eq!(sample(&text, "handoff_secrets"), Some(1.0));
    assert_eq!(
        sample(&text, r#"handoff_request_copies{kind="pm"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"handoff_request_copies{kind="sealed"}"#),
        Some(1.0)
    );
    // Route patterns only: no id, token or label reaches a figure.
    for private in [
        secret_id.as_str(),
        r.id.as_str(),
        r.retrieval_id.as_str(),
        "Contoso",
        &prometheus,
    ] {
        assert!(!text.contains(private), "{private} in the figures");
    }
}

/// `handoff_requests{state}` for every state the dashboard names, in order.
fn requests_by_state(text: &str) -> Vec<(String, f64)> {
    [
        "open",
        "answered",
        "retrieved",
        "imported",
        "verified",
        "failed",
        "expired",
        "withdrawn",
        "cancelled",
    ]
    .iter()
    .map(|s| {
        let value = sample(text, &format!(r#"handoff_requests{{state="{s}"}}"#))
            .unwrap_or_else(|| panic!("no handoff_requests for {s}: {text}"));
        ((*s).to_owned(), value)
    })
    .collect()
}

/// Requests by state, decided at each scrape by the same rule as the
/// dashboard's: an open request turns expired when the clock passes its
/// time, with nothing written to the database.
async fn requests_are_counted_by_state_at_scrape_time(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let prometheus = mint_token(&app, "prometheus", "metrics").await;
    let zero = scrape(&app, Some(&prometheus)).await.text().await.unwrap();
    assert!(
        requests_by_state(&zero).iter().all(|(_, n)| *n == 0.0),
        "{zero}"
    );

    // Two open for an hour, one answered, one failed by its check.
    open_request(&app.store, T0, 3_600).await;
    open_request(&app.store, T0, 3_600).await;
    let answered = open_request(&app.store, T0, 86_400).await;
    assert_eq!(answer(&app, &answered, Some(&soc)).await.status(), 201);
    common::flow::failed_request(&app.store, T0, "invalid client secret").await;

    let text = scrape(&app, Some(&prometheus)).await.text().await.unwrap();
    let counts = |text: &str| -> Vec<(String, f64)> {
        requests_by_state(text)
            .into_iter()
            .filter(|(_, n)| *n > 0.0)
            .collect()
    };
    assert_eq!(
        counts(&text),
        [
            ("open".to_owned(), 2.0),
            ("answered".to_owned(), 1.0),
            ("failed".to_owned(), 1.0)
        ],
        "{text}"
    );

    app.clock.advance(3_601);
    let later = scrape(&app, Some(&prometheus)).await.text().await.unwrap();
    assert_eq!(
        counts(&later),
        [
            ("answered".to_owned(), 1.0),
            ("failed".to_owned(), 1.0),
            ("expired".to_owned(), 2.0)
        ],
        "{later}"
    );
}

/// `handoff_transfers{state}` for uploading, ready and claimed, and
/// `handoff_transfer_bytes`.
fn transfer_figures(text: &str) -> (Vec<f64>, f64) {
    let states = ["uploading", "ready", "claimed"]
        .iter()
        .map(|s| {
            sample(text, &format!(r#"handoff_transfers{{state="{s}"}}"#))
                .unwrap_or_else(|| panic!("no handoff_transfers for {s}: {text}"))
        })
        .collect();
    let bytes = sample(text, "handoff_transfer_bytes")
        .unwrap_or_else(|| panic!("no handoff_transfer_bytes: {text}"));
    (states, bytes)
}

/// File transfers by step, and the bytes their pieces hold, follow an
/// upload, its completion, the claim and the finish.
async fn transfers_are_counted_by_step(backend: Backend) {
    let (app, _soc) = app_with_soc(backend).await;
    let prometheus = mint_token(&app, "prometheus", "metrics").await;
    let figures = async |app: &TestApp| {
        transfer_figures(&scrape(app, Some(&prometheus)).await.text().await.unwrap())
    };
    assert_eq!(figures(&app).await, (vec![0.0, 0.0, 0.0], 0.0));

    let to = age::x25519::Identity::generate().to_public();
    let piece = age::encrypt(&to, b"one small file").unwrap();
    let manifest = age::encrypt(&to, br#"{"v":2,"files":[{"name":"a","size":14}]}"#).unwrap();
    let created = app.declare_one_piece(&manifest, piece.len()).await;
    let id = created["id"].as_str().unwrap();
    let upload = created["upload_token"].as_str().unwrap();
    assert_eq!(figures(&app).await, (vec![1.0, 0.0, 0.0], 0.0));
    let res = app
        .http
        .put(app.url(&format!("/api/v1/transfers/{id}/files/0/pieces/0")))
        .bearer_auth(upload)
        .header("content-type", "application/octet-stream")
        .body(piece.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let bytes = piece.len() as f64;
    assert_eq!(figures(&app).await, (vec![1.0, 0.0, 0.0], bytes));
    let post = |path: String, token: Option<String>| {
        let mut req = app.http.post(app.url(&path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = post(
        format!("/api/v1/transfers/{id}/complete"),
        Some(upload.to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(figures(&app).await, (vec![0.0, 1.0, 0.0], bytes));
    let claimed: serde_json::Value = post(format!("/api/v1/transfers/{id}/claim"), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(figures(&app).await, (vec![0.0, 0.0, 1.0], bytes));
    let download = claimed["download_token"].as_str().unwrap().to_owned();
    let res = post(format!("/api/v1/transfers/{id}/finish"), Some(download))
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The pieces go right after the answer, in the background.
    let mut left = figures(&app).await;
    for _ in 0..100 {
        if left.1 == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = figures(&app).await;
    }
    assert_eq!(left.1, 0.0, "the pieces' bytes are gone after the finish");
}

with_each_backend!(
    only_a_metrics_token_reads_the_figures,
    the_figures_follow_what_happens,
    requests_are_counted_by_state_at_scrape_time,
    transfers_are_counted_by_step,
);
