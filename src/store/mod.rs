//! The database: SQLite (embedded default) or PostgreSQL (several instances).
//!
//! One [`Store`] type over both pools. The SQL text is mostly shared: both
//! engines accept `$1` parameters and `DELETE ... RETURNING`. Consuming a
//! secret is one `DELETE ... RETURNING` (with the read time, in the same
//! transaction; on PostgreSQL one statement) that commits before the
//! ciphertext is handed back, so under any number of concurrent reveals (and
//! server instances on one PostgreSQL) exactly one gets it, and a crash after
//! the response cannot resurrect it.
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`, so every commit
//! is fsynced to the WAL; PostgreSQL connections set `synchronous_commit=on`,
//! so a commit returns only once its WAL record is flushed.
//!
//! Group commit: on a SQLite file every state change goes through
//! [`write_tx!`] or [`change_tx!`] to the database's one [`writer`] task,
//! which commits many callers' changes in one transaction (one fsync),
//! each in a savepoint of its own, and answers each only after the commit.
//! The pooled connections only read (`query_only`; WAL: they never wait
//! for the writer).
//! PostgreSQL keeps its pool: the server groups WAL flushes of concurrent
//! commits itself.
//!
//! Lock order (PostgreSQL takes row locks; SQLite one lock for the whole
//! database): a transaction that changes a request and its copies locks the
//! `requests` row first, then its `request_copies` rows, then (a files
//! request) its transfer's `transfers` and `transfer_readers` rows, then the
//! audit head (every event is appended last). Two transactions that took the same rows
//! in opposite orders would deadlock, and PostgreSQL would abort one of
//! them. Should PostgreSQL still abort a transaction to resolve a conflict
//! (deadlock or serialization failure), [`change_tx!`] runs it again, a
//! bounded number of times.

mod emails;
pub(crate) mod events;
mod inbox;
mod oidc;
mod requests;
mod secrets;
mod tokens;
mod transfers;
mod users;
mod webhooks;
mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

pub use emails::{EMAILED_KINDS, MailDelivery, MailEnqueued, MailEvent, MailRecord, NewMail};
pub use inbox::{Ack, Imported, InboxItem, Lease, RecheckChange, VerifyResult};
pub use oidc::{NewOidcLogin, OidcLogin, OidcSession};
pub use requests::{
    Answer, NewRequest, Noted, Request, RequestsPurged, Retrieval, Rotation, Withdrawal,
};
pub use secrets::{NewSecret, PURGE_BATCH, Purged, RECEIPT_RETENTION_SECONDS, Receipt, SecretMeta};
pub use tokens::{ApiToken, DuplicateToken, IssueRefused, NewToken};
pub use transfers::{
    Claimed, Completion, Finished, NewReader, NewTransfer, PiecePut, ReaderGrant, TransferMeta,
    TransfersPurged, UploadView,
};
pub use users::{DuplicateName, NewSession, Session, SessionLimits, User, UserSummary};
pub use webhooks::NOTIFIED_KINDS;
pub(crate) use webhooks::{AttemptOutcome, Delivery, NotifiedEvent};
pub use writer::{BATCH_BYTES, WriteStats};
pub(crate) use writer::{LIGHT, UNBOUNDED};

/// Runs the same expression on whichever pool the store holds. Each arm is
/// type-checked on its own, so generic sqlx calls work with both backends.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(db) => {
                let $pool = &db.pool;
                $body
            }
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` (an expression yielding `Result<T, StoreError>`, writing
/// through `$conn: &mut Connection`) as one state change, committed durably
/// before it yields. On a SQLite file it goes through the database's
/// [`writer`](writer::Writer) (group commit: `$body` moves there, so what
/// it uses must be owned); on PostgreSQL, and on an in-memory SQLite
/// database, in a transaction of its own on the pool. An error rolls the
/// change back. See [`change_tx!`] for the details.
///
/// `write_tx!(store, weight = BYTES, conn => body)` declares what the change
/// writes, for one that may write much more than a few rows (a file piece,
/// a deletion of many rows): on the SQLite writer it then shares a
/// transaction with at most [`BATCH_BYTES`] of other changes.
macro_rules! write_tx {
    ($store:expr, weight = $weight:expr, $conn:ident => $body:expr) => {
        $crate::store::change_tx!($store, weight = $weight, $conn => {
            // Its own block, so that a `return` in `$body` yields its value.
            let value = $crate::store::typed(async { $body }.await)?;
            Ok((value, true))
        })
    };
    ($store:expr, $conn:ident => $body:expr) => {
        $crate::store::change_tx!($store, $conn => {
            // Its own block, so that a `return` in `$body` yields its value.
            let value = $crate::store::typed(async { $body }.await)?;
            Ok((value, true))
        })
    };
}
pub(crate) use write_tx;

/// Like [`write_tx!`], for a change that decides itself whether it is
/// kept: `$body` yields `Result<(T, bool), StoreError>`, and with the bool
/// false everything it wrote is undone (its savepoint on the SQLite writer,
/// its transaction elsewhere) while the macro still yields `Ok(T)`. Yields
/// `Result<T, StoreError>` and never returns from the caller itself.
///
/// On a SQLite file `$body` runs in the writer task, between other callers'
/// changes of the same transaction: it may read first (nobody else writes
/// meanwhile), and must not commit or roll back itself. On PostgreSQL a
/// transaction aborted by a conflict ([`StoreError::is_conflict`]) is run
/// again after a short random pause, up to [`TRANSACTION_ATTEMPTS`] times
/// in all, so `$body` must not move what it uses (it may run more than
/// once). `weight = BYTES` as for [`write_tx!`].
macro_rules! change_tx {
    ($store:expr, $conn:ident => $body:expr) => {
        $crate::store::change_tx!($store, weight = $crate::store::LIGHT, $conn => $body)
    };
    ($store:expr, weight = $weight:expr, $conn:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($crate::store::Sqlite {
                writer: Some(writer),
                ..
            }) => {
                writer
                    .change($weight, move |$conn| ::std::boxed::Box::pin(async move { $body }))
                    .await
            }
            $crate::store::Store::Sqlite($crate::store::Sqlite {
                pool, writer: None, ..
            }) => {
                async {
                    let mut tx = pool.begin().await?;
                    let $conn = &mut *tx;
                    let result: Result<(_, bool), $crate::store::StoreError> =
                        async { $body }.await;
                    let (value, keep) = result?;
                    if keep {
                        tx.commit().await?;
                    } else {
                        tx.rollback().await?;
                    }
                    Ok::<_, $crate::store::StoreError>(value)
                }
                .await
            }
            $crate::store::Store::Postgres(pool) => {
                let mut tries = 1;
                loop {
                    let attempt = async {
                        let mut tx = pool.begin().await?;
                        let $conn = &mut *tx;
                        let result: Result<(_, bool), $crate::store::StoreError> =
                            async { $body }.await;
                        let (value, keep) = result?;
                        if keep {
                            tx.commit().await?;
                        } else {
                            tx.rollback().await?;
                        }
                        Ok::<_, $crate::store::StoreError>(value)
                    }
                    .await;
                    match attempt {
                        Err(e)
                            if e.is_conflict() && tries < $crate::store::TRANSACTION_ATTEMPTS =>
                        {
                            $crate::store::conflict_pause(&e, tries).await;
                            tries += 1;
                        }
                        other => break other,
                    }
                }
            }
        }
    };
}
pub(crate) use change_tx;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// A SQLite database: pooled connections for reads, and the one writer
/// task of a database file, through which every change goes.
#[derive(Clone, Debug)]
pub struct Sqlite {
    /// Reads run here, concurrently with the writer (WAL).
    pub pool: SqlitePool,
    /// `None` for an in-memory database, which exists once per connection:
    /// its one pooled connection writes too.
    writer: Option<writer::Writer>,
}

impl Sqlite {
    /// A change that is one query: `sql` (one or more statements, `$N` the
    /// Nth of `args`) with `args`, kept or undone as `decode` says from the
    /// rows it returned. On a database file it goes through the writer,
    /// sent together with the writer's own SQL before a change
    /// ([`writer::Writer::query`]: one hand-off to SQLite's thread instead
    /// of two); on an in-memory database, in a transaction of its own.
    ///
    /// # Errors
    /// A database error, or what `decode` returns.
    pub(crate) async fn one_query_change<T: Send + 'static>(
        &self,
        weight: u64,
        sql: &'static str,
        args: sqlx::sqlite::SqliteArguments,
        decode: writer::Decode<T>,
    ) -> Result<T, StoreError> {
        if let Some(writer) = &self.writer {
            return writer.query(weight, sql, args, decode).await;
        }
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query_with(sql, args).fetch_all(&mut *tx).await?;
        let (value, keep) = decode(rows)?;
        if keep {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(value)
    }
}

impl std::ops::Deref for Sqlite {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        &self.pool
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite: or postgres:// (got the scheme {0:?})")]
    UnknownScheme(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Text in the database that no variant of its type names: written by
    /// another version, or by hand.
    #[error("the database holds {value:?} in {column}, which this version does not know")]
    UnknownValue { column: &'static str, value: String },
    /// The writer's transaction, which held this change, could not begin
    /// or commit (the reason is the text): nothing of the change was kept.
    #[error("the database did not commit the change: {0}")]
    Batch(String),
    /// The SQLite writer task has stopped (the store was closed).
    #[error("the database is closed")]
    WriterStopped,
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

/// Creates the SQLite file at `path`, if it is missing, readable and
/// writable by its owner only (0600; a umask can only narrow that): it holds
/// ciphertexts and the trail. SQLite gives the `-wal` and `-shm` files it
/// makes beside it the same permissions. An existing file is left as it is,
/// with a warning if others may read it.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", meta.permissions().mode() & 0o777),
                        "the database file is open to other users; make it private with chmod 600"
                    );
                }
            }
            Err(source) => {
                return Err(StoreError::Create {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl StoreError {
    /// True when PostgreSQL aborted the transaction to resolve a conflict with
    /// another one (SQLSTATE 40001 serialization failure, 40P01 deadlock):
    /// nothing it did was kept, and running it again is safe.
    pub(crate) fn is_conflict(&self) -> bool {
        match self {
            StoreError::Sqlx(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40001" | "40P01"))
            }
            _ => false,
        }
    }
}

/// How many times a transaction is tried in all when PostgreSQL keeps
/// aborting it for conflicts.
pub(crate) const TRANSACTION_ATTEMPTS: u32 = 5;

/// `result` as it is: names the error type of a change's body, which
/// [`write_tx!`] cannot spell out.
pub(crate) fn typed<T>(result: Result<T, StoreError>) -> Result<T, StoreError> {
    result
}

/// Logs the conflict `e` that aborted try number `tries` and waits a short
/// random pause, longer each time, so the two sides do not meet again.
pub(crate) async fn conflict_pause(e: &StoreError, tries: u32) {
    tracing::warn!(error = %e, tries, "transaction aborted by a conflict; trying again");
    let pause = rand::random_range(1..=10) * u64::from(tries);
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// Pooled (read) connections of a SQLite file. Reads are single short
/// statements on a machine of a few cores: four served as many metadata
/// GETs at 128 connections as eight did, and each connection costs its
/// page cache and a thread (issue 15: 5 MB less resident set under load).
const READERS: u32 = 4;

/// The page cache of each pooled (read) SQLite connection, in SQLite's
/// `cache_size` terms (negative: KiB). SQLite's default is 2,000 KiB per
/// connection; eight readers held 16 MB of mostly the same pages under load
/// (a third of the server's resident set, issue 15: 10 MB less with 512 KiB
/// each, measured at 128 connections, at the same throughput), while a page they miss
/// is one `pread` from the operating system's cache. The writer keeps the
/// default: its inserts walk the same index pages again and again.
const READ_CACHE_SIZE: &str = "-512";

/// How long a SQLite connection waits for a lock another holds (another
/// process's writer, a reader a checkpoint must wait for) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The most free pages (4 KiB each by default) one transaction of
/// [`Store::release_free_pages`] gives back. Each page given back moves a
/// page from the file's end and rewrites the pointers to it (about three
/// WAL frames a page), and the callers queued beside the step wait for
/// it: 256 keep a step's commit to about 3 MB.
pub const VACUUM_PAGES: i64 = 256;

/// What one step of [`Store::release_free_pages`] writes: about three WAL
/// frames of 4 KiB per page given back.
const VACUUM_STEP_BYTES: u64 = VACUUM_PAGES as u64 * 3 * 4096;

/// What `GET /metrics` reads from the database at each scrape: counts, no
/// row's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Rows in `secrets` (unread, not yet purged).
    pub secrets: i64,
    /// Waiting request copies by kind (`pm`, `sealed`).
    pub copies: Vec<(String, i64)>,
    /// Webhook deliveries neither delivered nor given up.
    pub webhook_pending: i64,
    /// File transfers held, by step: `uploading` (not complete), `ready`
    /// (complete, not claimed) and `claimed` (pieces kept for the claimer
    /// until the grace ends or the download finishes), every step, zeros
    /// included, until the purge removes them.
    pub transfers: Vec<(&'static str, i64)>,
    /// Ciphertext bytes of every stored file piece.
    pub transfer_bytes: i64,
    /// Every request's step times, and nothing else: its state is a rule in
    /// Rust ([`Steps::state`](crate::request::Steps::state)), so the scrape
    /// counts states by running that rule, not by a second copy of it in SQL.
    pub requests: Vec<crate::request::Steps>,
}

/// The columns of [`crate::request::Steps`], in its order.
type StepsRow = (
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

const STEPS_QUERY: &str = "SELECT created_at, expires_at, opened_at, answered_at, copies_expire_at, \
     retrieved_at, imported_at, verified_at, verify_ok, withdrawn_at, cancelled_at, expired_at FROM requests";

fn steps_of(row: StepsRow) -> crate::request::Steps {
    let (
        created_at,
        expires_at,
        opened_at,
        answered_at,
        copies_expire_at,
        retrieved_at,
        imported_at,
        verified_at,
        verify_ok,
        withdrawn_at,
        cancelled_at,
        expired_at,
    ) = row;
    crate::request::Steps {
        created_at,
        expires_at,
        opened_at,
        answered_at,
        copies_expire_at,
        retrieved_at,
        imported_at,
        verified_at,
        verify_ok,
        withdrawn_at,
        cancelled_at,
        expired_at,
    }
}

impl Store {
    /// The counts behind `GET /metrics`, read in one go.
    ///
    /// # Errors
    /// A database error.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        Ok(on_pool!(self, pool => {
            let secrets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets")
                .fetch_one(pool)
                .await?;
            let copies: Vec<(String, i64)> = sqlx::query_as(
                "SELECT kind, COUNT(*) FROM request_copies GROUP BY kind ORDER BY kind",
            )
            .fetch_all(pool)
            .await?;
            let webhook_pending: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_at IS NULL AND failed_at IS NULL",
            )
            .fetch_one(pool)
            .await?;
            let (uploading, ready, claimed): (i64, i64, i64) = sqlx::query_as(
                "SELECT \
                   COUNT(CASE WHEN completed_at IS NULL THEN 1 END), \
                   COUNT(CASE WHEN completed_at IS NOT NULL AND claimed_at IS NULL THEN 1 END), \
                   COUNT(CASE WHEN claimed_at IS NOT NULL THEN 1 END) \
                 FROM transfers",
            )
            .fetch_one(pool)
            .await?;
            let transfers = vec![("uploading", uploading), ("ready", ready), ("claimed", claimed)];
            let transfer_bytes: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM transfer_pieces",
            )
            .fetch_one(pool)
            .await?;
            let rows: Vec<StepsRow> = sqlx::query_as(STEPS_QUERY).fetch_all(pool).await?;
            let requests = rows.into_iter().map(steps_of).collect();
            Gauges { secrets, copies, webhook_pending, transfers, transfer_bytes, requests }
        }))
    }

    /// Connects to `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://...`)
    /// and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                // No ping before each query: one round trip less per
                // statement. A connection that died while idle fails the one
                // query that uses it, and sqlx's ping when it is released
                // drops it from the pool.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Store::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if !in_memory {
                create_private(options.get_filename())?;
            }
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .pragma("secure_delete", "ON")
                // Takes effect on a new file only (before its first table):
                // see Store::release_free_pages.
                .auto_vacuum(SqliteAutoVacuum::Incremental)
                .foreign_keys(true)
                .busy_timeout(BUSY_TIMEOUT);
            // A file's writer connection comes first and brings the schema
            // up to date; then the pooled connections open read-only
            // (`query_only`), so a change that bypassed the writer would
            // fail at once instead of waiting for its lock.
            let writer = if in_memory {
                None
            } else {
                // Checkpoints run beside it, not in its commits (see writer).
                let mut conn = options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    .connect()
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&mut conn).await?;
                Some(conn)
            };
            // An in-memory database exists once per connection: keep exactly one.
            let max = if in_memory { 1 } else { READERS };
            let pool_options = if in_memory {
                options
            } else {
                options
                    .pragma("query_only", "ON")
                    .pragma("cache_size", READ_CACHE_SIZE)
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                // No ping (a hand-off to the connection's thread and back)
                // before each read.
                .test_before_acquire(false)
                .min_connections(u32::from(max == 1))
                .idle_timeout(if max == 1 {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if max == 1 {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(pool_options)
                .await?;
            let writer = match writer {
                Some(conn) => Some(writer::Writer::start(conn, pool.clone(), BUSY_TIMEOUT)),
                None => {
                    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                    None
                }
            };
            Store::Sqlite(Sqlite { pool, writer })
        } else {
            // The scheme only: the rest of a URL can hold a password.
            let scheme = url
                .split(':')
                .next()
                .unwrap_or("")
                .chars()
                .take(20)
                .collect();
            return Err(StoreError::UnknownScheme(scheme));
        };
        Ok(store)
    }

    /// True when a trivial query succeeds: what `/healthz` reports.
    pub(crate) async fn ping(&self) -> bool {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok())
    }

    /// Copies the SQLite WAL into the database file and truncates the WAL, so
    /// that deleted ciphertext (zeroed by `secure_delete`) does not linger in
    /// old WAL frames. The bulk is copied beside the writer and only the
    /// rest between two of its batches, so requests wait for no long copy.
    /// Yields false when a reader kept the WAL from being truncated (a later
    /// call does it). A no-op (true) on PostgreSQL, whose storage the
    /// operator manages, and in memory.
    ///
    /// # Errors
    /// A database error.
    pub(crate) async fn checkpoint(&self) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(Sqlite {
                writer: Some(writer),
                ..
            }) => writer.truncate_wal().await,
            _ => Ok(true),
        }
    }

    /// Between two transactions of a long run of them (a purge): lets the
    /// checkpoints catch up with what they wrote, so the WAL stays short
    /// and no request waits for a long copy (see
    /// [`writer::Writer::catch_up_wal`]). A no-op on PostgreSQL and in
    /// memory.
    ///
    /// # Errors
    /// A database error.
    pub(crate) async fn catch_up_wal(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(Sqlite {
            writer: Some(writer),
            ..
        }) = self
        {
            writer.catch_up_wal().await?;
        }
        Ok(())
    }

    /// Gives the SQLite file's free pages back to the file system, at most
    /// [`VACUUM_PAGES`] per transaction (through the writer, between other
    /// changes), until none are left. Yields the pages released.
    ///
    /// A database created by this version has `auto_vacuum=INCREMENTAL`. A
    /// file created before keeps `auto_vacuum=NONE` (SQLite can change that
    /// only by rewriting the whole file with `VACUUM`, which would hold the
    /// write lock for as long as the rewrite takes): its free pages are
    /// reused for new rows but not released, and this is a no-op for it. To
    /// convert such a file, stop the server and run
    /// `sqlite3 handoff.db 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM;'`.
    /// A no-op on PostgreSQL (autovacuum) and in memory.
    ///
    /// # Errors
    /// A database error; what was released before it stays released.
    pub async fn release_free_pages(&self) -> Result<u64, StoreError> {
        let Store::Sqlite(Sqlite {
            pool,
            writer: Some(writer),
        }) = self
        else {
            return Ok(0);
        };
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(pool)
            .await?;
        if mode != 2 {
            return Ok(0);
        }
        let mut released = 0;
        loop {
            let (before, after) = writer
                .write(VACUUM_STEP_BYTES, |conn| {
                    Box::pin(async move {
                        let before: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                            .fetch_one(&mut *conn)
                            .await?;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "PRAGMA incremental_vacuum({VACUUM_PAGES})"
                        )))
                        .execute(&mut *conn)
                        .await?;
                        let after: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                            .fetch_one(&mut *conn)
                            .await?;
                        Ok((before, after))
                    })
                })
                .await?;
            released += u64::try_from(before - after).unwrap_or(0);
            if after == 0 || after >= before {
                return Ok(released);
            }
            writer.catch_up_wal().await?;
        }
    }

    /// Closes the database: on SQLite, the writer commits what is queued
    /// and closes its connection first. Later calls fail.
    pub async fn close(&self) {
        if let Store::Sqlite(Sqlite {
            writer: Some(writer),
            ..
        }) = self
        {
            writer.close().await;
        }
        on_pool!(self, pool => pool.close().await);
    }

    /// What the SQLite writer has committed (group commit: fewer
    /// transactions than changes under concurrency); `None` on PostgreSQL
    /// and on an in-memory SQLite database, which have no writer task.
    pub fn write_stats(&self) -> Option<WriteStats> {
        match self {
            Store::Sqlite(Sqlite {
                writer: Some(writer),
                ..
            }) => Some(writer.stats()),
            _ => None,
        }
    }

    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}
