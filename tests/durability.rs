//! Read-once across crashes and across server instances.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Backend, ServerProcess, TestDb, count_secrets};
use handoff::client::Client;
use handoff::config::Settings;
use handoff::link;
use handoff::store::Store;

async fn create(base: &str, text: &str) -> (String, link::Key) {
    let payload = serde_json::to_vec(&handoff::payload::Payload::text(text)).unwrap();
    let (ciphertext, key) = link::seal(&payload, None).unwrap();
    let created = Client::new(base)
        .unwrap()
        .create(&ciphertext, 3_600, false, "text")
        .await
        .unwrap();
    (created.id, key)
}

#[tokio::test]
async fn sqlite_commits_are_fsynced_in_wal_mode_with_secure_delete() {
    let db = TestDb::new(Backend::Sqlite).await;
    let Store::Sqlite(handoff::store::Sqlite { pool, .. }) =
        Store::connect(db.url()).await.unwrap()
    else {
        unreachable!()
    };
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let secure: i64 = sqlx::query_scalar("PRAGMA secure_delete")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        (mode.as_str(), sync, secure),
        ("wal", 2, 1),
        "WAL, synchronous=FULL, secure_delete=ON"
    );
}

#[tokio::test]
async fn postgres_commits_wait_for_the_wal_flush() {
    let db = TestDb::new(Backend::Postgres).await;
    let Store::Postgres(pool) = Store::connect(db.url()).await.unwrap() else {
        unreachable!()
    };
    let mode: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "on");
}

/// A reveal answered just before the process dies stays consumed after restart.
#[tokio::test]
async fn reveal_stays_consumed_after_a_crash() {
    let db = TestDb::new(Backend::Sqlite).await;
    let logs = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(db.url(), logs.path()).await;
    let (id, key) = create(&server.base, "crash test").await;
    let (keep, _) = create(&server.base, "untouched").await;
    let client = Client::new(&server.base).unwrap();
    let ciphertext = client.reveal(&id).await.unwrap();
    server.kill();
    let plain = link::open(&ciphertext, &key.unlock(None).unwrap()).unwrap();
    assert_eq!(
        plain,
        serde_json::to_vec(&handoff::payload::Payload::text("crash test")).unwrap()
    );

    let restarted = ServerProcess::start(db.url(), logs.path()).await;
    let client = Client::new(&restarted.base).unwrap();
    let err = client.reveal(&id).await.unwrap_err();
    assert!(err.to_string().contains("not_found"), "{err}");
    assert!(
        client.reveal(&keep).await.is_ok(),
        "an unread secret survives the crash"
    );
}

/// Two server processes on one PostgreSQL database: 50 reveals, one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_hand_out_a_link_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let logs = tempfile::tempdir().unwrap();
    let a = ServerProcess::start(db.url(), logs.path()).await;
    let b = ServerProcess::start(db.url(), logs.path()).await;
    for round in 0..3 {
        let (id, _) = create(&a.base, &format!("shared {round}")).await;
        let http = reqwest::Client::new();
        let mut tasks = vec![];
        for i in 0..50 {
            let url = format!(
                "{}/api/v1/secrets/{id}/reveal",
                if i % 2 == 0 { &a.base } else { &b.base }
            );
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                http.post(url).send().await.unwrap().status().as_u16()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                200 => ok += 1,
                404 => {}
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
    }
}

/// After a reveal and a purge pass, the ciphertext is in neither the SQLite
/// file nor its write-ahead log.
#[tokio::test]
async fn revealed_ciphertext_does_not_linger_on_disk_after_a_purge_pass() {
    let app = common::spawn_app(Backend::Sqlite).await;
    let payload = handoff::payload::Payload::text(&"z".repeat(2_000));
    let made = app.create(&payload, 3_600, None).await;
    let revealed: serde_json::Value = app.reveal(&made.id).await.json().await.unwrap();
    let ciphertext = STANDARD
        .decode(revealed["ciphertext"].as_str().unwrap())
        .unwrap();
    // A distinctive 64-byte run from the middle of the (random-looking) ciphertext.
    let needle = &ciphertext[ciphertext.len() / 2..ciphertext.len() / 2 + 64];
    handoff::purge::purge_once(&app.store, &app.clock).await;
    let path = app.db.sqlite_path().unwrap();
    for file in [path.clone(), path.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "ciphertext found in {}",
            file.display()
        );
    }
    assert_eq!(count_secrets(&app.store).await, 1, "the receipt remains");
}

/// Given an interval, the app's purge task purges by itself, on the app's
/// clock: here a receipt past its retention goes without any test's call.
#[tokio::test]
async fn the_purge_task_purges_by_itself_when_given_an_interval() {
    let app = common::spawn_app_with(Backend::Sqlite, |s| Settings {
        purge_interval: Some(Duration::from_millis(20)),
        ..s.without_rate_limits()
    })
    .await;
    app.create_text("soon gone").await;
    assert_eq!(count_secrets(&app.store).await, 1);
    app.clock
        .advance(3_600 + handoff::store::RECEIPT_RETENTION_SECONDS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count_secrets(&app.store).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge task never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
