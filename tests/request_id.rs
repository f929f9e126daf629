//! Every answer carries an `X-Request-Id` that the server made (a client's
//! own is dropped, so nothing a client sends reaches the log this way), and
//! `--log-format json` writes one JSON object per line with that id in the
//! request's span: an operator can find a user's request in the log. Not a
//! store behaviour: SQLite only.

mod common;

use common::{Backend, ServerProcess, some_ciphertext, spawn_app};
use serde_json::{Value, json};

fn request_id(res: &reqwest::Response) -> String {
    res.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_its_own_request_id_and_a_clients_is_dropped() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/",
        "/healthz",
        "/api/v1/secrets/AAAAAAAAAAAAAAAAAAAAAA",
        "/no/such/page",
        "/assets/app.css",
    ] {
        let res = app
            .http
            .get(app.url(path))
            .header("x-request-id", "forged\\nlevel=ERROR")
            .send()
            .await
            .unwrap();
        let id = request_id(&res);
        assert_eq!(id.len(), 22, "{path}: {id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert!(seen.insert(id), "{path}: a fresh id per request");
    }
    let refused = app
        .post_json(
            "/api/v1/secrets",
            &json!({"ciphertext": "not base64!", "expires_in": 3600}),
        )
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(request_id(&refused).len(), 22, "refusals carry one too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("handoff.db").display());
    let server = ServerProcess::start_with(
        &db,
        dir.path(),
        &["--log-format", "json"],
        &[("RUST_LOG", "info")],
    )
    .await;
    let http = reqwest::Client::new();
    let ciphertext = some_ciphertext(40);
    let res = http
        .post(format!("{}/api/v1/secrets", server.base))
        .json(&json!({"ciphertext": ciphertext, "expires_in": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = request_id(&res);

    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(!lines.is_empty());
    let created = lines
        .iter()
        .find(|l| l["message"] == "secret created")
        .unwrap_or_else(|| panic!("no 'secret created' line in {log}"));
    assert_eq!(created["span"]["request_id"], id.as_str(), "{created}");
    assert_eq!(created["span"]["route"], "/api/v1/secrets", "{created}");
    assert_eq!(created["level"], "INFO");
    assert!(!log.contains(&ciphertext), "the ciphertext is never logged");
}
