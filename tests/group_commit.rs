//! Group commit (issue 15): on SQLite one writer task commits queued state
//! changes together, each in a savepoint of its own, and answers each caller
//! after the commit. On both backends: concurrent creates all land, a change
//! that fails fails its own caller only, reveals stay read-once, and a closed
//! store refuses writes instead of making them.

mod common;

use std::sync::Arc;

use common::{Backend, T0, TestDb, count_secrets};
use handoff::id::Id;
use handoff::store::{NewSecret, PURGE_BATCH, Store, StoreError};
use tokio::sync::Barrier;

async fn insert(store: &Store, id: &Id) -> Result<(), StoreError> {
    let ciphertext = format!("ciphertext of {}", id.as_str()).into_bytes();
    store
        .insert_secret(&NewSecret {
            id,
            template: "text",
            passphrase: false,
            created_at: T0,
            expires_at: T0 + 3600,
            status_hash: Id::random().digest(),
            ciphertext: &ciphertext,
        })
        .await
}

/// 60 creates and 20 creates of an id that exists, all at once: the 60 are
/// kept, the 20 fail alone (on SQLite in the same transactions as the 60,
/// which group commit shares out: fewer transactions than changes).
async fn a_failing_change_fails_only_its_caller(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let taken = Id::random();
    insert(&store, &taken).await.unwrap();
    let before = store.write_stats();

    let barrier = Arc::new(Barrier::new(80));
    let tasks: Vec<_> = (0..80)
        .map(|i| {
            let (store, barrier, taken) = (store.clone(), barrier.clone(), taken.clone());
            tokio::spawn(async move {
                // Every fourth one collides, spread through the queue.
                let id = if i % 4 == 3 { taken } else { Id::random() };
                barrier.wait().await;
                insert(&store, &id).await.map(|()| id)
            })
        })
        .collect();
    let mut kept = vec![];
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => kept.push(id),
            Err(e) => {
                assert!(matches!(e, StoreError::Sqlx(_)), "its own error: {e}");
                refused += 1;
            }
        }
    }
    assert_eq!((kept.len(), refused), (60, 20));
    assert_eq!(count_secrets(&store).await, 61);

    match (backend, before, store.write_stats()) {
        (Backend::Sqlite, Some(before), Some(after)) => {
            let changes = after.changes - before.changes;
            let transactions = after.transactions - before.transactions;
            assert_eq!(changes, 60, "the failed changes are not counted");
            assert!(
                transactions * 2 <= changes,
                "{changes} changes in {transactions} transactions: commits are shared"
            );
        }
        (Backend::Postgres, None, None) => {}
        other => panic!("write stats: {other:?}"),
    }
    store.close().await;
}

/// Reveals of many secrets at once, two callers per secret: each secret is
/// handed out exactly once, and every create before was answered only once
/// committed (the reveals find them all).
async fn concurrent_reveals_are_read_once(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let app = Arc::new(app);
    let mut ids = vec![];
    let creates: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { app.create_text(&format!("secret {i}")).await.id })
        })
        .collect();
    for c in creates {
        ids.push(c.await.unwrap());
    }
    let barrier = Arc::new(Barrier::new(ids.len() * 2));
    let reveals: Vec<_> = ids
        .iter()
        .chain(ids.iter())
        .map(|id| {
            let (app, barrier, id) = (app.clone(), barrier.clone(), id.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                (id.clone(), app.reveal(&id).await.status().as_u16())
            })
        })
        .collect();
    let mut won = std::collections::BTreeMap::<String, u32>::new();
    for r in reveals {
        let (id, status) = r.await.unwrap();
        match status {
            200 => *won.entry(id).or_default() += 1,
            404 => {}
            other => panic!("reveal answered {other}"),
        }
    }
    assert_eq!(won.len(), ids.len(), "every secret was revealed once");
    assert!(won.values().all(|&n| n == 1), "{won:?}");
}

/// After `close`, a write is refused with an error, not made.
async fn a_closed_store_refuses_writes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    insert(&store, &Id::random()).await.unwrap();
    store.close().await;
    assert!(insert(&store, &Id::random()).await.is_err());
    let reopened = Store::connect(db.url()).await.unwrap();
    assert_eq!(count_secrets(&reopened).await, 1);
    reopened.close().await;
}

/// The rows of `sql` (one integer) on SQLite.
async fn sqlite_number(store: &Store, sql: &'static str) -> i64 {
    let Store::Sqlite(handoff::store::Sqlite { pool, .. }) = store else {
        unreachable!("SQLite only")
    };
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// 1,100 expired secrets of 4 KiB: the purge takes them all, in batches of
/// [`PURGE_BATCH`] committed one by one, and on SQLite the file's freed
/// pages go back to the file system.
async fn a_purge_goes_in_bounded_batches_and_frees_pages(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let tasks: Vec<_> = (0..1_100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = Id::random();
                let ciphertext = vec![(i % 251) as u8; 4096];
                store
                    .insert_secret(&NewSecret {
                        id: &id,
                        template: "text",
                        passphrase: false,
                        created_at: T0,
                        expires_at: T0 + 60,
                        status_hash: Id::random().digest(),
                        ciphertext: &ciphertext,
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let kept = Id::random();
    insert(&store, &kept).await.unwrap();
    if backend == Backend::Sqlite {
        assert_eq!(
            sqlite_number(&store, "PRAGMA auto_vacuum").await,
            2,
            "a new file is made with auto_vacuum=INCREMENTAL"
        );
    }
    let pages_before = match backend {
        Backend::Sqlite => sqlite_number(&store, "PRAGMA page_count").await,
        Backend::Postgres => 0,
    };
    let stats_before = store.write_stats();
    assert!(
        (100..=1_000).contains(&PURGE_BATCH),
        "a batch holds the write lock for milliseconds, and 1,100 rows take several"
    );

    // Past the ciphertexts' expiry and the receipts' retention.
    let purged = store
        .purge_secrets(T0 + 61 + handoff::store::RECEIPT_RETENTION_SECONDS)
        .await
        .unwrap();
    let stats_after = store.write_stats();
    // The later one's ciphertext has expired too, its receipt is kept.
    assert_eq!((purged.ciphertexts, purged.receipts), (1_101, 1_100));
    assert_eq!(count_secrets(&store).await, 1, "the later receipt stays");
    assert!(insert(&store, &kept).await.is_err(), "it is still there");

    if let (Some(before), Some(after)) = (stats_before, stats_after) {
        // Of 500: 3 batches of ciphertexts (500, 500, 100) and 3 of receipts.
        let batches = 2 * 1_100_u64.div_ceil(PURGE_BATCH as u64);
        assert!(
            after.transactions - before.transactions >= batches,
            "one statement per batch: {before:?} -> {after:?}"
        );
    }
    if backend == Backend::Sqlite {
        let released = store.release_free_pages().await.unwrap();
        let pages_after = sqlite_number(&store, "PRAGMA page_count").await;
        assert!(released > 1_000, "{released} pages released");
        assert_eq!(sqlite_number(&store, "PRAGMA freelist_count").await, 0);
        assert!(
            pages_after * 4 < pages_before,
            "the file shrank: {pages_before} -> {pages_after} pages"
        );
    } else {
        assert_eq!(store.release_free_pages().await.unwrap(), 0);
    }
    store.close().await;
}

/// Taking a pooled connection sends nothing to the server (no ping before
/// each query: one round trip less per statement on PostgreSQL, one thread
/// hand-off less on SQLite).
async fn pools_do_not_ping_before_each_query(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let pings = match &store {
        Store::Sqlite(handoff::store::Sqlite { pool, .. }) => {
            pool.options().get_test_before_acquire()
        }
        Store::Postgres(pool) => pool.options().get_test_before_acquire(),
    };
    assert!(!pings);
    store.close().await;
}

with_each_backend!(
    pools_do_not_ping_before_each_query,
    a_purge_goes_in_bounded_batches_and_frees_pages,
    a_failing_change_fails_only_its_caller,
    concurrent_reveals_are_read_once,
    a_closed_store_refuses_writes,
);
