//! The database: SQLite (embedded default) or PostgreSQL (several instances).
//!
//! One [`Store`] type over both pools. The SQL text is shared: both engines
//! accept `$1` parameters and `DELETE ... RETURNING`. Consuming a secret is one
//! `DELETE ... RETURNING` inside a transaction that commits before the
//! ciphertext is handed back, so under any number of concurrent reveals (and
//! server instances on one PostgreSQL) exactly one gets it, and a crash after
//! the response cannot resurrect it.
//!
//! Durability: SQLite runs in WAL mode with `synchronous=FULL`, so every commit
//! is fsynced to the WAL; PostgreSQL connections set `synchronous_commit=on`,
//! so a commit returns only once its WAL record is flushed.
//!
//! Lock order (PostgreSQL takes row locks; SQLite one lock for the whole
//! database): a transaction that changes a request and its copies locks the
//! `requests` row first, then its `request_copies` rows, then the audit head
//! (every event is appended last). Two transactions that took the same rows
//! in opposite orders would deadlock, and PostgreSQL would abort one of
//! them. Should PostgreSQL still abort a transaction to resolve a conflict
//! (deadlock or serialization failure), [`retry_conflicts`] runs it again, a
//! bounded number of times.

pub(crate) mod events;
mod inbox;
mod requests;
mod secrets;
mod tokens;
mod users;
mod webhooks;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use inbox::{Ack, Imported, InboxItem, Lease, VerifyResult};
pub use requests::{
    Answer, NewRequest, Noted, Request, RequestsPurged, Retrieval, Rotation, Withdrawal,
};
pub use secrets::{NewSecret, Purged, RECEIPT_RETENTION_SECONDS, Receipt, SecretMeta};
pub use tokens::{ApiToken, DuplicateToken, IssueRefused, NewToken};
pub use users::{DuplicateName, NewSession, Session, SessionLimits, User, UserSummary};
pub use webhooks::NOTIFIED_KINDS;
pub(crate) use webhooks::{AttemptOutcome, Delivery, NotifiedEvent};

/// Runs the same expression on whichever pool the store holds. Each arm is
/// type-checked on its own, so generic sqlx calls work with both backends.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
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

/// Runs `attempt` (one whole transaction) and, if PostgreSQL aborted it for a
/// conflict ([`StoreError::is_conflict`]), again after a short random pause,
/// up to [`TRANSACTION_ATTEMPTS`] times in all. Other errors, and the last
/// conflict, are returned as they are.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_conflict() && tries < TRANSACTION_ATTEMPTS => {
                tracing::warn!(error = %e, tries, "transaction aborted by a conflict; trying again");
                // Random, and longer each time, so the two sides do not meet again.
                let pause = rand::random_range(1..=10) * u64::from(tries);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

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
            let rows: Vec<StepsRow> = sqlx::query_as(STEPS_QUERY).fetch_all(pool).await?;
            let requests = rows.into_iter().map(steps_of).collect();
            Gauges { secrets, copies, webhook_pending, requests }
        }))
    }

    /// Connects to `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://...`)
    /// and brings its schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
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
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            // An in-memory database exists once per connection: keep exactly one.
            let max = if in_memory { 1 } else { 8 };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
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
                .connect_with(options)
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
            Store::Sqlite(pool)
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
    /// old WAL frames. A no-op on PostgreSQL, whose storage the operator manages.
    pub(crate) async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(pool) = self {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }

    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}
