//! Staff sessions end exactly when configured: `--session-idle` after their
//! last use (to the second, the unit the store keeps), however often they are
//! used, while a burst of uses in one second costs one database write.

mod common;

use std::time::Duration;

use common::{Backend, T0, TestApp, spawn_app_with};
use handoff::config::Settings;
use handoff::store::Store;

/// An app whose sessions end after a minute unused (an hour in all).
async fn app_with_idle_minute(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| Settings {
        session_lifetime: Duration::from_secs(3600),
        session_idle: Duration::from_secs(60),
        ..s.without_rate_limits()
    })
    .await
}

/// True when the session cookie still opens a staff page.
async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    let res = app.get_as(cookie, "/staff/account").await;
    match res.status().as_u16() {
        200 => true,
        303 => false,
        other => panic!("unexpected {other}"),
    }
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    match store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
        }
        Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn run(store: &Store, sql: &'static str) {
    match store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            // The pool's connections only read.
            let mut c = common::writable(p).await;
            sqlx::query(sql).execute(&mut c).await.map(drop).unwrap();
        }
        Store::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop).unwrap(),
    }
}

/// Counts every write to `sessions` in `session_writes.n`, by trigger.
async fn count_session_writes(store: &Store) {
    run(store, "CREATE TABLE session_writes (n BIGINT NOT NULL)").await;
    run(store, "INSERT INTO session_writes (n) VALUES (0)").await;
    match store {
        Store::Sqlite(handoff::store::Sqlite { .. }) => {
            run(
                store,
                "CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions \
                 BEGIN UPDATE session_writes SET n = n + 1; END",
            )
            .await;
        }
        Store::Postgres(_) => {
            run(
                store,
                "CREATE FUNCTION count_session_writes() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN UPDATE session_writes SET n = n + 1; RETURN NULL; END $$",
            )
            .await;
            run(
                store,
                "CREATE TRIGGER count_session_writes AFTER UPDATE ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION count_session_writes()",
            )
            .await;
        }
    }
}

/// Used every 20 seconds with a one-minute idle limit, a session lives on;
/// it ends exactly a minute after its last use, not a second earlier.
async fn idle_end_is_exact_for_a_session_used_often(backend: Backend) {
    let app = app_with_idle_minute(backend).await;
    let s = app.staff("alice").await;
    for n in 1..=9 {
        app.clock.advance(20);
        assert!(
            signed_in(&app, &s.cookie).await,
            "used every 20 s: still signed in {} s after sign-in",
            20 * n
        );
    }
    app.clock.advance(59);
    assert!(signed_in(&app, &s.cookie).await, "59 s after the last use");
    app.clock.advance(60);
    assert!(!signed_in(&app, &s.cookie).await, "60 s after the last use");
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(app.store.purge_sessions(app.clock.now()).await.unwrap(), 1);
}

/// Uses within the second a session was last used write nothing; the first
/// use in a later second writes once, and moves the idle end with it.
async fn uses_within_one_second_cost_one_write(backend: Backend) {
    let app = app_with_idle_minute(backend).await;
    let s = app.staff("alice").await;
    count_session_writes(&app.store).await;
    let writes = || scalar(&app.store, "SELECT n FROM session_writes");
    for _ in 0..5 {
        assert!(signed_in(&app, &s.cookie).await);
    }
    assert_eq!(writes().await, 0, "used in the second it was opened");
    app.clock.advance(1);
    for _ in 0..5 {
        assert!(signed_in(&app, &s.cookie).await);
    }
    assert_eq!(writes().await, 1, "five uses in one later second");
    app.clock.advance(30);
    assert!(signed_in(&app, &s.cookie).await);
    assert_eq!(writes().await, 2);
    assert_eq!(
        scalar(&app.store, "SELECT last_seen_at FROM sessions").await,
        T0 + 31
    );
    assert_eq!(
        scalar(&app.store, "SELECT expires_at FROM sessions").await,
        T0 + 31 + 60,
        "the idle end moved with the last use"
    );
}

with_each_backend!(
    idle_end_is_exact_for_a_session_used_often,
    uses_within_one_second_cost_one_write,
);
