//! Group commit (issue 15): on SQLite one writer task commits queued state
//! changes together, each in a savepoint of its own, and answers each caller
//! after the commit. On both backends: concurrent creates all land, a change
//! that fails fails its own caller only, reveals stay read-once, and a closed
//! store refuses writes instead of making them.

mod common;

use std::sync::Arc;

use common::{Backend, T0, TestDb, count_secrets};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::id::Id;
use handoff::register::Facts;
use handoff::staff::UserName;
use handoff::store::{
    Ack, Answer, BATCH_BYTES, Imported, Lease, NewSecret, NewToken, NewTransfer, PURGE_BATCH,
    PiecePut, Store, StoreError, VerifyResult,
};
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
        // Of 250: 5 batches of ciphertexts (4 of 250, then 101) and 5 of receipts.
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

/// Opens request `id` (retrieval link `retrieval`) through the store.
async fn new_request(store: &Store, id: &Id, retrieval: &Id) -> Result<(), StoreError> {
    let event = NewEvent::new(Kind::RequestCreated, Actor::System).request(id.as_str());
    store
        .create_request(
            &handoff::store::NewRequest {
                id,
                retrieval_id: retrieval,
                customer: "Contoso",
                template: "entra-app",
                note: "",
                recipient: "age1x",
                created_by: "pm",
                created_at: T0,
                expires_at: T0 + 86_400,
                reissued_from: None,
                contact_email: None,
                email_link: false,
            },
            &event,
        )
        .await
}

/// Changes the writer has kept so far (0 where there is no writer).
fn kept(store: &Store) -> u64 {
    store.write_stats().map_or(0, |s| s.changes)
}

/// On a SQLite file the pooled connections cannot write at all (they are
/// `query_only`): every change of a request's whole life, a token's and a
/// staff account's goes through the writer, one kept change per call that
/// changed something, none for a call that changed nothing. PostgreSQL
/// runs the same calls on its pool.
async fn every_change_goes_through_the_writer(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    if let Store::Sqlite(handoff::store::Sqlite { pool, .. }) = &store {
        let e = sqlx::query("DELETE FROM audit_head")
            .execute(pool)
            .await
            .expect_err("a pooled connection does not write");
        assert!(e.to_string().contains("readonly"), "{e}");
    }
    let writer = store.write_stats().is_some();
    assert_eq!(writer, backend == Backend::Sqlite);
    // Each step: what it should change (1 or 0) and whether it did.
    let mut expected = kept(&store);
    let mut step = |store: &Store, changed: u64, what: &str| {
        expected += changed;
        if writer {
            assert_eq!(kept(store), expected, "{what}");
        }
    };
    let ev = |kind, id: &str| NewEvent::new(kind, Actor::Anonymous).request(id);

    let (id, retrieval) = (Id::random(), Id::random());
    new_request(&store, &id, &retrieval).await.unwrap();
    step(&store, 1, "create_request");
    let r = id.as_str();
    assert!(
        store
            .mark_opened(r, T0, &ev(Kind::RequestOpened, r))
            .await
            .unwrap()
    );
    step(&store, 1, "mark_opened");
    assert!(
        !store
            .mark_opened(r, T0, &ev(Kind::RequestOpened, r))
            .await
            .unwrap()
    );
    step(&store, 0, "a second mark_opened changes nothing");
    let answer = Answer {
        pm_copy: b"pm",
        sealed_copy: Some(b"sealed"),
        status_hash: Id::random().digest(),
        copies_expire_at: T0 + 86_400,
        transfer_id: None,
    };
    assert_eq!(
        store
            .answer_request(r, T0, &answer, &ev(Kind::RequestAnswered, r))
            .await
            .unwrap(),
        Ok(())
    );
    step(&store, 1, "answer_request");
    assert!(matches!(
        store
            .lease_sealed(
                r,
                "lease-1",
                T0,
                T0 + 60,
                &ev(Kind::RequestLeased, r),
                &no_files(),
            )
            .await
            .unwrap(),
        Lease::Granted { .. }
    ));
    step(&store, 1, "lease_sealed");
    let facts = Facts::parse("0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11", None).unwrap();
    let imported = Imported {
        target: Some("wazuh-office365"),
        facts: Some(&facts),
        keep_copy: false,
    };
    assert_eq!(
        store
            .ack_sealed(r, "lease-2", &imported, T0, &ev(Kind::RequestImported, r))
            .await
            .unwrap(),
        Ack::NotYourLease
    );
    step(&store, 0, "an ack with another lease changes nothing");
    assert_eq!(
        store
            .ack_sealed(r, "lease-1", &imported, T0, &ev(Kind::RequestImported, r))
            .await
            .unwrap(),
        Ack::Done
    );
    step(&store, 1, "ack_sealed");
    let result = VerifyResult {
        ok: false,
        detail: "AADSTS7000215",
    };
    assert!(
        store
            .record_verification(r, &result, T0, &ev(Kind::RequestVerifyFailed, r))
            .await
            .unwrap()
    );
    step(&store, 1, "record_verification");
    let ok = VerifyResult {
        ok: true,
        detail: "works",
    };
    let failing = ev(Kind::RequestCredentialFailing, r);
    let recovered = ev(Kind::RequestCredentialRecovered, r);
    let rechecked = store
        .record_recheck(r, &ok, T0 + 1, &failing, &recovered)
        .await
        .unwrap();
    assert!(rechecked.is_some());
    step(&store, 1, "record_recheck");
    assert!(
        store
            .retrieve(
                &retrieval,
                T0 + 2,
                NewEvent::new(Kind::RequestRetrieved, Actor::Anonymous),
                &no_files(),
            )
            .await
            .unwrap()
            .is_some()
    );
    step(&store, 1, "retrieve");
    assert!(
        store
            .retrieve(
                &retrieval,
                T0 + 2,
                NewEvent::new(Kind::RequestRetrieved, Actor::Anonymous),
                &no_files(),
            )
            .await
            .unwrap()
            .is_none()
    );
    step(
        &store,
        0,
        "a second retrieve changes nothing (and is undone)",
    );
    assert!(
        store
            .cancel_request(r, T0 + 3, &ev(Kind::RequestCancelled, r))
            .await
            .unwrap()
    );
    step(&store, 1, "cancel_request");
    store.purge_requests(T0 + 10 * 86_400).await.unwrap();
    step(&store, 1, "purge_requests");

    let token = NewToken {
        name: "collector",
        prefix: "hot_abc",
        hash: &[7; 32],
        scopes: "collect",
        created_by: "system",
        created_at: T0,
    };
    let created = NewEvent::new(Kind::TokenCreated, Actor::System);
    assert_eq!(store.create_token(&token, &created).await.unwrap(), Ok(()));
    step(&store, 1, "create_token");
    assert!(store.create_token(&token, &created).await.unwrap().is_err());
    step(&store, 0, "a duplicate token changes nothing");
    let revoked = NewEvent::new(Kind::TokenRevoked, Actor::System);
    assert!(store.revoke_token("collector", T0, &revoked).await.unwrap());
    step(&store, 1, "revoke_token");
    let name = UserName::parse("alice").unwrap();
    assert!(
        store
            .add_user(&name, "$argon2id$x", T0)
            .await
            .unwrap()
            .is_ok()
    );
    step(&store, 1, "add_user");
    assert!(
        store
            .add_user(&name, "$argon2id$x", T0)
            .await
            .unwrap()
            .is_err()
    );
    step(&store, 0, "a duplicate user changes nothing");
    assert!(store.remove_user("alice", T0).await.unwrap());
    step(&store, 1, "remove_user");
    let mailed = store.enqueue_emails(T0, 0, 100, |_| vec![]).await.unwrap();
    assert!(!mailed.lost_race);
    step(&store, 1, "enqueue_emails");

    let report = store.verify_chain().await.unwrap();
    assert_eq!(report.result, Ok(()));
    store.close().await;
}

/// Many requests opened at once, a quarter of them with one id that exists
/// already, and trail appends among them: the duplicates fail alone (on
/// SQLite in the same transactions as the others), and the trail has every
/// event of the kept changes and none of the failed, without gaps or forks.
async fn a_failed_request_leaves_no_trace_in_the_trail(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let taken = Id::random();
    new_request(&store, &taken, &Id::random()).await.unwrap();
    let (head_before, _) = store.audit_head().await.unwrap();
    let barrier = Arc::new(Barrier::new(60));
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let (store, barrier, taken) = (store.clone(), barrier.clone(), taken.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                if i % 3 == 2 {
                    let event = NewEvent::new(Kind::RequestOpened, Actor::Anonymous);
                    return store.append_event(&event, T0).await.map(|_| ());
                }
                let id = if i % 4 == 3 { taken } else { Id::random() };
                new_request(&store, &id, &Id::random()).await
            })
        })
        .collect();
    let mut ok = 0;
    let mut failed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(matches!(e, StoreError::Sqlx(_)), "its own error: {e}");
                failed += 1;
            }
        }
    }
    // i % 3 == 2: 20 appends; of the other 40, those with i % 4 == 3 collide.
    let collide = (0..60).filter(|i| i % 3 != 2 && i % 4 == 3).count();
    assert_eq!((ok, failed), (60 - collide, collide));
    let (head, _) = store.audit_head().await.unwrap();
    assert_eq!(
        head - head_before,
        ok as i64,
        "one event per kept change, none for the failed"
    );
    let report = store.verify_chain().await.unwrap();
    assert_eq!((report.checked, report.result), (head as u64, Ok(())));
    store.close().await;
}

/// A transfer that is uploading, declared with `pieces` pieces of `bytes`
/// each in one file, expiring at `T0 + 3600`; yields its id and the digest
/// of its upload token.
async fn new_transfer(store: &Store, pieces: i64, bytes: i64) -> (Id, Vec<u8>) {
    let (id, upload_hash) = (Id::random(), Id::random().digest());
    store
        .insert_transfer(NewTransfer {
            id: id.clone(),
            upload_hash: upload_hash.clone(),
            manifest: b"an age file".to_vec(),
            files: vec![(pieces, pieces * bytes)],
            created_at: T0,
            expires_at: T0 + 3600,
            request_id: None,
        })
        .await
        .unwrap();
    (id, upload_hash)
}

/// A file piece of `bytes` (its number in every byte).
fn piece(n: i64, bytes: i64) -> Vec<u8> {
    vec![n as u8; bytes as usize]
}

/// 8 pieces of 4 MiB queued, then 56 creates, all before the writer
/// takes any (see `queued_at_once`): all land, and on SQLite no
/// transaction held two pieces, and the creates passed the pieces queued
/// before them: each was answered before the last piece was written, not
/// held until after all of them (issue 15: with batches bound by count
/// only, one transaction held the 8 pieces and every create, and during
/// uploads creates waited 123 ms at the median).
async fn a_transaction_holds_at_most_one_piece(backend: Backend) {
    const PIECES: i64 = 8;
    const PIECE_BYTES: i64 = 4 << 20;
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let (id, upload_hash) = new_transfer(&store, PIECES, PIECE_BYTES).await;
    let before = store.write_stats();

    let pieces: Vec<_> = (0..PIECES)
        .map(|n| {
            let (sender, id, upload_hash) = (store.clone(), id.clone(), upload_hash.clone());
            tokio::spawn(async move {
                let bytes = piece(n, PIECE_BYTES);
                sender
                    .put_piece(&id, upload_hash, 0, n, bytes, T0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let creates: Vec<_> = (0..56)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                insert(&store, &Id::random()).await.unwrap();
                // Large changes committed by the time this create was
                // answered (or a little later): at most that many were
                // written before it.
                store.write_stats().map(|s| s.large)
            })
        })
        .collect();
    for p in pieces {
        assert_eq!(p.await.unwrap(), PiecePut::Stored);
    }
    let mut seen = vec![];
    for c in creates {
        seen.push(c.await.unwrap());
    }
    assert_eq!(count_secrets(&store).await, 56);
    assert_eq!(
        store.present_pieces(&id).await.unwrap().len(),
        PIECES as usize
    );

    match (backend, before, store.write_stats()) {
        (Backend::Sqlite, Some(before), Some(after)) => {
            assert_eq!(after.large - before.large, PIECES as u64, "{after:?}");
            assert_eq!(after.most_large, 1, "no transaction held two pieces");
            assert!(
                after.most_bytes <= PIECE_BYTES as u64 + 4096 + BATCH_BYTES,
                "a piece and at most the bound besides: {after:?}"
            );
            let latest = seen.iter().map(|large| large.unwrap()).max();
            assert!(
                latest < Some(PIECES as u64),
                "every create was answered before the last piece was written: {seen:?}"
            );
        }
        (Backend::Postgres, None, None) => {}
        other => panic!("write stats: {other:?}"),
    }
    store.close().await;
}

/// An expired transfer of 3 pieces of 2 MiB and one of 40 pieces of 1 KiB:
/// the purge deletes every piece, on SQLite the large ones one per
/// transaction (each over the writer's byte bound) and the 40 small ones
/// together, then each transfer's row.
async fn piece_deletions_are_bounded_by_bytes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let large = new_transfer(&store, 3, 2 << 20).await;
    let small = new_transfer(&store, 40, 1024).await;
    for (transfer, pieces, bytes) in [(&large, 3, 2 << 20), (&small, 40, 1024)] {
        for n in 0..pieces {
            let put = store
                .put_piece(&transfer.0, transfer.1.clone(), 0, n, piece(n, bytes), T0)
                .await
                .unwrap();
            assert_eq!(put, PiecePut::Stored);
        }
    }
    let before = store.write_stats();

    let purged = store.purge_transfers(T0 + 3600).await.unwrap();
    assert_eq!((purged.transfers, purged.pieces), (2, 43));
    for transfer in [&large, &small] {
        assert!(store.present_pieces(&transfer.0).await.unwrap().is_empty());
    }
    if let (Some(before), Some(after)) = (before, store.write_stats()) {
        // 3 deletions of one large piece, 1 of 40 small ones, 2 rows.
        assert_eq!(after.transactions - before.transactions, 6, "{after:?}");
        assert_eq!(after.large - before.large, 3, "{after:?}");
        assert_eq!(after.most_large, 1);
    }
    store.close().await;
}

/// On a current-thread runtime, spawned tasks run in the order spawned,
/// each up to its first wait (its change queued), before the writer task
/// runs again: the writer finds every change queued, in a known order.
mod queued_at_once {
    use crate::common::Backend;

    #[tokio::test]
    async fn sqlite() {
        super::a_transaction_holds_at_most_one_piece(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        super::a_transaction_holds_at_most_one_piece(Backend::Postgres).await;
    }
}

with_each_backend!(
    piece_deletions_are_bounded_by_bytes,
    every_change_goes_through_the_writer,
    a_failed_request_leaves_no_trace_in_the_trail,
    pools_do_not_ping_before_each_query,
    a_purge_goes_in_bounded_batches_and_frees_pages,
    a_failing_change_fails_only_its_caller,
    concurrent_reveals_are_read_once,
    a_closed_store_refuses_writes,
);

/// The WAL is copied into the database file beside the writer, soon after
/// commits, not inside a commit once it has grown to 1,000 pages (which made
/// every queued caller wait behind the copy and its fsync): shortly after a
/// few hundred changes, well under 1,000 pages, the database file itself
/// has grown by at least their ciphertexts (before a checkpoint, new pages
/// live only in the WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_beside_the_writer() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(db.url()).await.unwrap();
    let path = db.url().trim_start_matches("sqlite://").to_owned();
    let size = || std::fs::metadata(&path).unwrap().len();
    let before = size();
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { insert(&store, &Id::random()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut after = before;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = size();
        if after >= before + 300 * 476 {
            break;
        }
    }
    assert!(
        after >= before + 300 * 476,
        "300 secrets reached the database file: {before} -> {after} bytes"
    );
    store.close().await;
}

/// The reader token a files request would get; this request asks for
/// credentials, so it is never kept.
fn no_files() -> handoff::store::NewReader {
    handoff::store::NewReader {
        download_hash: Id::random().digest(),
        grace_until: 0,
    }
}

/// Under steady writes the WAL is started over from its beginning again and
/// again, not made ever longer: the writer copies the last frames of each
/// checkpoint itself, between two batches, so the copy reaches the WAL's
/// end and its next transaction writes from the start. (Copied only beside
/// the writer, the WAL never caught up and grew by every byte written:
/// every commit appended to a longer file, and creates slowed down.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_under_steady_writes() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(db.url()).await.unwrap();
    let wal = db.sqlite_path().unwrap().with_extension("db-wal");
    let restarts = move || wal_frames(&wal).0;
    insert(&store, &Id::random()).await.unwrap();
    let before = restarts();
    // Bounded by what is written, not by time (a slow disk commits fewer
    // batches a second, and CI's did too few for three rounds in a fixed
    // 3 s): the writes go on until the WAL has started over three times,
    // or until 40,000 secrets (about 80 MB of WAL appended: more than
    // 60 rounds' worth of the 256-frame threshold, a WAL that never starts
    // over would hold them all).
    let most: u64 = 40_000;
    let written = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..16)
        .map(|_| {
            let (store, written, enough) = (store.clone(), written.clone(), enough.clone());
            tokio::spawn(async move {
                while !enough.load(Ordering::Relaxed)
                    && written.fetch_add(1, Ordering::Relaxed) < most
                {
                    insert(&store, &Id::random()).await.unwrap();
                }
            })
        })
        .collect();
    let watch = {
        let (written, enough, restarts) = (written.clone(), enough.clone(), restarts.clone());
        tokio::spawn(async move {
            while written.load(Ordering::Relaxed) < most {
                if restarts() >= before + 3 {
                    enough.store(true, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    enough.store(true, Ordering::Relaxed);
    watch.await.unwrap();
    let after = restarts();
    let count = written.load(Ordering::Relaxed).min(most);
    assert!(
        after >= before + 3,
        "the WAL started over {} times (3 or more expected) in {count} creates",
        after - before
    );
    store.close().await;
}

/// A SQLite file's readers are few and their page caches small (the
/// resident set under load, issue 15): four pooled connections of 512 KiB
/// of cache each, beside the writer's default.
#[tokio::test]
async fn sqlite_readers_are_few_and_small() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(db.url()).await.unwrap();
    let Store::Sqlite(handoff::store::Sqlite { pool, .. }) = &store else {
        unreachable!("SQLite")
    };
    assert_eq!(pool.options().get_max_connections(), 4);
    assert_eq!(sqlite_number(&store, "PRAGMA cache_size").await, -512);
    store.close().await;
}

/// The WAL's checkpoint sequence number (bytes 12..16 of its header, which
/// SQLite counts up each time it starts the WAL over) and the page numbers
/// of the current generation's frames, in order (frames whose salts, bytes
/// 8..16 of each 24-byte frame header, are the header's, bytes 16..24; the
/// page number is the frame header's bytes 0..4). Format:
/// <https://www.sqlite.org/fileformat2.html#the_write_ahead_log>.
fn wal_frames(wal: &std::path::Path) -> (u32, Vec<u32>) {
    let bytes = std::fs::read(wal).unwrap_or_default();
    if bytes.len() < 32 {
        return (0, Vec::new());
    }
    let page = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let sequence = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
    let salts = &bytes[16..24];
    let pages = bytes[32..]
        .chunks_exact(24 + page)
        .take_while(|frame| &frame[8..16] == salts)
        .map(|frame| u32::from_be_bytes(frame[0..4].try_into().unwrap()))
        .collect();
    (sequence, pages)
}

/// What the WAL and the writer hold now: see [`wal_frames`] and
/// [`Store::write_stats`] (transactions).
fn wal_mark(store: &Store, wal: &std::path::Path) -> (u32, Vec<u32>, u64) {
    let (sequence, pages) = wal_frames(wal);
    (sequence, pages, store.write_stats().unwrap().transactions)
}

/// The pages written between two marks (one per frame) and the
/// transactions that wrote them; `None` when the WAL was started over
/// meanwhile (its frames then cannot be told apart).
fn written(before: (u32, Vec<u32>, u64), after: (u32, Vec<u32>, u64)) -> Option<(Vec<u32>, u64)> {
    (after.0 == before.0 && after.1.len() >= before.1.len())
        .then(|| (after.1[before.1.len()..].to_vec(), after.2 - before.2))
}

/// Frames written to each B-tree (by its name in SQLite's `dbstat` table)
/// among `pages`.
async fn frames_by_btree(
    db: &mut sqlx::SqliteConnection,
    pages: &[u32],
) -> std::collections::BTreeMap<String, u64> {
    let names: std::collections::HashMap<i64, String> =
        sqlx::query_as::<_, (i64, String)>("SELECT pageno, name FROM dbstat")
            .fetch_all(&mut *db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let mut frames = std::collections::BTreeMap::new();
    for page in pages {
        let name = names
            .get(&i64::from(*page))
            .cloned()
            .unwrap_or_else(|| "(not in a B-tree)".to_owned());
        *frames.entry(name).or_default() += 1;
    }
    frames
}

/// `n` secrets made at once through the API; their ids.
async fn create_at_once(app: &Arc<common::TestApp>, n: usize) -> Vec<String> {
    let creates: Vec<_> = (0..n)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { app.create_text(&format!("secret {i}")).await.id })
        })
        .collect();
    let mut ids = Vec::new();
    for c in creates {
        ids.push(c.await.unwrap());
    }
    ids
}

/// Reveals every one of `ids` at once through the API.
async fn reveal_at_once(app: &Arc<common::TestApp>, ids: &[String]) {
    let reveals: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let app = app.clone();
            tokio::spawn(async move { app.reveal(&id).await.status().as_u16() })
        })
        .collect();
    for r in reveals {
        assert_eq!(r.await.unwrap(), 200);
    }
}

/// A new secret takes no page of its own in any B-tree (issue 15). Each
/// change to a B-tree keyed by a random value lands on a page of its own, a
/// 4 KiB WAL frame per secret, where a B-tree keyed in creation order takes
/// a batch's rows on a few shared pages. Secrets are keyed by their place in
/// creation order, their ids and status tokens start with the second they
/// were made (src/id.rs), and a status token is found by (created_at, hash):
/// so on a file already holding 60,000 secrets made over the day before
/// (40,000 with timestamped ids, 20,000 with random ones as before migration
/// 0012; the random-key B-trees have hundreds of leaves), 128 creates at
/// once (in transactions of 8 or more) write at most a frame per 2 secrets
/// to every B-tree, plus 2 per transaction, and so do the 128 reveals of
/// them. (Keys made in the same second are random among themselves: a
/// transaction writes every leaf the second's keys span so far, a few, and
/// splits them as they fill. Measured: 19–31 frames to the status index
/// and 23–51 to the id index in 8–13 transactions; with the API's ids and
/// status tokens random, 131–164 to each.)
/// That the count sees a random key: 128 secrets shaped as before 0012,
/// written by SQL, take a frame per secret in the random-status index.
/// (Before 0011 the ciphertexts were keyed by the random id, before 0012 the
/// status hash by itself: creates wrote a frame per secret to each.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_takes_no_page_of_its_own() {
    use sqlx::Connection;
    let app = Arc::new(common::spawn_app(Backend::Sqlite).await);
    let path = app.db.sqlite_path().unwrap();
    let wal = path.with_extension("db-wal");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    // 60,000 secrets made over the day before T0, ids shaped like the
    // server's, in one transaction on a connection of the test's own.
    let made: Vec<(String, i64)> = (0..60_000_i64)
        .map(|i| {
            let created_at = T0 - 86_400 + i * 86_400 / 60_000;
            let id = if i % 3 == 0 {
                Id::random()
            } else {
                Id::timestamped(created_at)
            };
            (id.as_str().to_owned(), created_at)
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    insert_secrets(&mut tx, &made).await;
    tx.commit().await.unwrap();

    // Counted again (with new secrets) when the checkpointer started the
    // WAL over during a round.
    let n: usize = 128;
    let mut counted = None;
    for _ in 0..20 {
        // Each round in a second of its own, as the rounds of a server
        // making 128 secrets a second: the keys of one second are random
        // among themselves, and a round's would land among the last's.
        app.clock.advance(1);
        let mark = wal_mark(&app.store, &wal);
        let made = create_at_once(&app, n).await;
        let creates = written(mark, wal_mark(&app.store, &wal));
        let mark = wal_mark(&app.store, &wal);
        reveal_at_once(&app, &made).await;
        let reveals = written(mark, wal_mark(&app.store, &wal));
        if let (Some(creates), Some(reveals)) = (creates, reveals)
            && creates.1 <= (n / 8) as u64
        {
            counted = Some((creates, reveals));
            break;
        }
    }
    let ((creates, create_transactions), (reveals, reveal_transactions)) = counted.expect(
        "in each of 20 rounds the WAL started over, or the creates went in transactions of fewer than 8 \
         (a machine too busy to tell a shared page from a page per secret)",
    );
    let creates = frames_by_btree(&mut db, &creates).await;
    let reveals = frames_by_btree(&mut db, &reveals).await;
    eprintln!(
        "{n} creates in {create_transactions} transactions: {creates:?}\n\
         {n} reveals in {reveal_transactions} transactions: {reveals:?}"
    );
    // A B-tree whose new keys go to one place writes, per transaction, the
    // few leaves there and their parent, and new leaves as they split.
    let shared = |transactions: u64| (n / 2) as u64 + 2 * transactions;
    for (name, frames) in &creates {
        assert!(
            *frames <= shared(create_transactions),
            "{n} creates in {create_transactions} transactions wrote {frames} frames to {name}: {creates:?}"
        );
    }
    for (name, frames) in &reveals {
        assert!(
            *frames <= shared(reveal_transactions),
            "{n} reveals in {reveal_transactions} transactions wrote {frames} frames to {name}: {reveals:?}"
        );
    }

    // The count sees a random key: secrets as they were made before 0012.
    let mut counted = None;
    for _ in 0..20 {
        let before = wal_mark(&app.store, &wal);
        let old: Vec<(String, i64)> = (0..n)
            .map(|_| (Id::random().as_str().to_owned(), T0))
            .collect();
        let mut tx = db.begin().await.unwrap();
        insert_secrets(&mut tx, &old).await;
        tx.commit().await.unwrap();
        if let Some((pages, _)) = written(before, wal_mark(&app.store, &wal)) {
            counted = Some(pages);
            break;
        }
    }
    let old = frames_by_btree(
        &mut db,
        &counted.expect("the WAL started over during each of 20 rounds"),
    )
    .await;
    assert!(
        old.get("secrets_random_status").copied().unwrap_or(0) >= n as u64 * 3 / 4,
        "{n} random status hashes took fewer pages than the test expects: {old:?}"
    );
    db.close().await.unwrap();
}

/// Inserts secrets `(id, created_at)` the way the server does, each living a
/// day, with a random status hash and a ciphertext of 476 bytes.
async fn insert_secrets(conn: &mut sqlx::SqliteConnection, made: &[(String, i64)]) {
    let result = sqlx::query(
        "INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash) \
         SELECT value ->> 0, 'text', 0, value ->> 1, (value ->> 1) + 86400, randomblob(32) FROM json_each($1) \
         RETURNING seq",
    )
    .bind(serde_json::to_string(made).unwrap())
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let first: i64 = sqlx::Row::get(&result[0], 0);
    sqlx::query(
        "INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext) \
         SELECT seq, expires_at, randomblob(476) FROM secrets WHERE seq >= $1",
    )
    .bind(first)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// A create declares its ciphertext's bytes to the writer: 64 creates of
/// 60 KiB each, queued at once, go in transactions of at most the byte
/// bound besides their first (about 4 MiB in all: at least 4
/// transactions), not in one or two as 64 changes of a few rows would.
#[tokio::test]
async fn large_secrets_are_weighed_by_their_ciphertext() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(db.url()).await.unwrap();
    let before = store.write_stats().unwrap();
    let creates: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = Id::random();
                let ciphertext = vec![(i % 251) as u8; 60 << 10];
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
    for c in creates {
        c.await.unwrap().unwrap();
    }
    let after = store.write_stats().unwrap();
    assert_eq!(after.changes - before.changes, 64);
    assert!(
        after.transactions - before.transactions >= 4,
        "64 creates of 60 KiB in {} transactions",
        after.transactions - before.transactions
    );
    assert!(after.most_bytes <= BATCH_BYTES + (64 << 10), "{after:?}");
    store.close().await;
}

/// Empties the WAL `wal` of the SQLite file at `url` from a connection of
/// the test's own (the server writes nothing meanwhile, but its
/// checkpointer may be copying: then again): its length is then what the
/// next step makes it.
async fn truncate_wal(url: &str, wal: &std::path::Path) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    for _ in 0..100 {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if busy == 0 && wal_length(wal) == 0 {
            conn.close().await.unwrap();
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the WAL could not be emptied");
}

/// The WAL file's length: it is never shortened while the server writes
/// (only a purge pass's last step truncates it, not run here), so this is
/// the most it held since it was last emptied.
fn wal_length(wal: &std::path::Path) -> u64 {
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// Long runs of write transactions let the checkpoints catch up between
/// two of their transactions: a purge of many expired secrets, the release
/// of the pages it freed, and the deletion of a transfer's pieces. The WAL
/// is copied to its end and started over after each transaction, so it
/// stays about one transaction long. (Run back to back, such transactions
/// outran the checkpointer: each round found more than a short rest
/// appended, so it either left the WAL growing or, ending on the writer,
/// made every request wait while the writer copied a long rest; issue 15
/// measured 30–480 ms pauses of the writer and 195 ms waits for creates
/// during a purge of a million secrets. Here, without the catch-up, the WAL
/// grew past 73 MB during the purge.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_runs_of_writes_keep_the_wal_short() {
    use sqlx::Connection;
    let db = TestDb::new(Backend::Sqlite).await;
    let store = Store::connect(db.url()).await.unwrap();
    let wal = db.sqlite_path().unwrap().with_extension("db-wal");
    // 20,000 secrets past their receipts' retention, written beside the
    // server as `scripts/bench.sh` fills its files: random ids, so each
    // batch of receipts touches pages all over the id indexes.
    let mut fill = sqlx::SqliteConnection::connect(db.url()).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
         INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash) \
         SELECT substr(hex(randomblob(11)), 1, 22), 'text', 0, $1, $2, randomblob(32) FROM n",
    )
    .bind(T0)
    .bind(T0 + 60)
    .execute(&mut fill)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext) \
         SELECT seq, expires_at, randomblob(476) FROM secrets",
    )
    .execute(&mut fill)
    .await
    .unwrap();
    fill.close().await.unwrap();
    // 24 pieces of 1 MiB: each deletion takes one (the writer's byte
    // bound), and `secure_delete` overwrites it.
    let transfer = new_transfer(&store, 24, 1 << 20).await;
    for n in 0..24 {
        let put = store
            .put_piece(&transfer.0, transfer.1.clone(), 0, n, piece(n, 1 << 20), T0)
            .await
            .unwrap();
        assert_eq!(put, PiecePut::Stored);
    }
    // About one transaction's frames (1.1–1.3 MB measured); without the
    // catch-up 73–79 MB, 8.7 MB and 26 MB.
    let short: u64 = 4 << 20;

    truncate_wal(db.url(), &wal).await;
    let before = wal_frames(&wal).0;
    let purged = store
        .purge_secrets(T0 + 61 + handoff::store::RECEIPT_RETENTION_SECONDS)
        .await
        .unwrap();
    assert_eq!((purged.ciphertexts, purged.receipts), (20_000, 20_000));
    let batches = 2 * 20_000_u64.div_ceil(PURGE_BATCH as u64);
    let restarts = u64::from(wal_frames(&wal).0 - before);
    let longest = wal_length(&wal);
    assert!(
        longest <= short,
        "the WAL reached {longest} bytes during a purge of 20,000 secrets"
    );
    assert!(
        restarts * 2 >= batches,
        "the WAL started over {restarts} times in {batches} batches"
    );

    truncate_wal(db.url(), &wal).await;
    let released = store.release_free_pages().await.unwrap();
    let longest = wal_length(&wal);
    assert!(released > 3_000, "{released} pages released");
    assert!(
        longest <= short,
        "the WAL reached {longest} bytes while {released} free pages were released"
    );

    truncate_wal(db.url(), &wal).await;
    let purged = store.purge_transfers(T0 + 3600).await.unwrap();
    let longest = wal_length(&wal);
    assert_eq!((purged.transfers, purged.pieces), (1, 24));
    assert!(
        longest <= short,
        "the WAL reached {longest} bytes while 24 pieces of 1 MiB were deleted"
    );
    store.close().await;
}
