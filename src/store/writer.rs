//! One writer per SQLite database, with group commit.
//!
//! SQLite lets one connection write at a time. With every pooled connection
//! writing, they queue in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms
//! between tries while the lock often sits free, and each commit pays its
//! own fsync. Instead, one task owns the write connection: callers queue a
//! state change ([`Writer::write`]), and the task takes what is queued (up to
//! [`BATCH`] changes), runs them in one `BEGIN IMMEDIATE` transaction, each
//! inside a savepoint of its own, commits (with `synchronous=FULL`, one fsync
//! of the WAL for the whole batch), and only then answers each caller. A
//! change that fails is rolled back to its savepoint and fails its own
//! caller only; the others commit. If the commit itself fails, every caller
//! in the batch gets an error and nothing of the batch is kept.
//!
//! Checkpoints: the write connection never copies the WAL into the
//! database file itself (`wal_autocheckpoint=0` on it: SQLite would do so
//! inside a commit once the WAL passes 1,000 pages, with every queued
//! caller waiting behind that copy and its fsync). A checkpointer task does
//! it instead on a pooled connection (`PRAGMA wal_checkpoint(PASSIVE)`, which
//! runs beside the writer and never waits for it), after commits, at most
//! every [`CHECKPOINT_EVERY`].
//!
//! Reads keep their pooled connections (WAL: readers never wait for the
//! writer). Every state change of the store comes here; a second writer on
//! the same file (another process, or a second `Store::connect`) is kept
//! apart by SQLite's lock: the writer's `BEGIN IMMEDIATE` waits in the busy
//! handler while the other holds the lock, and the other waits the same
//! way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use sqlx::{Connection, Executor, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// The most changes committed in one transaction. A bound keeps a batch's
/// transaction short, so the callers at its front wait little for those at
/// its back; 64 measured as well as larger bounds (issue 15).
pub(crate) const BATCH: usize = 64;

/// The checkpointer's pause between two checkpoints: often enough that the
/// WAL stays a few MB under any load, rarely enough to cost little.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How many changes may wait for the writer before callers wait to queue.
const QUEUE: usize = 4 * BATCH;

/// A boxed future borrowing the write connection for `'c`.
pub(crate) type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// The write side of one SQLite database: a handle to its writer task.
/// Clones share the task; it stops at [`Writer::close`] or when every
/// handle is dropped.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Msg>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    transactions: AtomicU64,
    changes: AtomicU64,
}

/// What a SQLite database's writer has committed since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed (each one fsync of the WAL).
    pub transactions: u64,
    /// Changes kept in them (not failed, not undone by their own choice).
    pub changes: u64,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish()
    }
}

enum Msg {
    Job(Box<dyn Job>),
    /// Finish what is queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// A queued change with its caller's answer channel, type-erased.
trait Job: Send {
    /// True when the caller stopped waiting (its request was cancelled):
    /// the change is then not made at all.
    fn abandoned(&self) -> bool;
    /// Runs the change on `conn`; false if it failed or asked to be
    /// undone (its savepoint is then rolled back).
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller: its own result when the batch committed (or when
    /// its own change failed), `failed` otherwise.
    fn answer(self: Box<Self>, failed: Option<&StoreError>);
}

struct Typed<T, F> {
    change: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(T, bool), StoreError>>
        + Send
        + 'static,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(change) = self.change.take() else {
                return false;
            };
            let (result, keep) = match change(conn).await {
                Ok((value, keep)) => (Ok(value), keep),
                Err(e) => (Err(e), false),
            };
            self.result = Some(result);
            keep
        })
    }

    fn answer(self: Box<Self>, failed: Option<&StoreError>) {
        let answer = match (self.result, failed) {
            // Its own failure says more than the batch's.
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(batch)) => Err(StoreError::Batch(batch.to_string())),
            (None, None) => Err(StoreError::Batch("the change was not run".to_owned())),
        };
        // A caller that stopped waiting has nobody to tell.
        let _ = self.reply.send(answer);
    }
}

impl Writer {
    /// Starts the writer task on `conn`, a connection of its own to the
    /// database opened with `wal_autocheckpoint=0`, and its checkpointer on
    /// `pool` (the database's read connections).
    pub(crate) fn start(conn: SqliteConnection, pool: SqlitePool) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        let (committed, commits) = mpsc::channel(1);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(conn, rx, counts.clone(), committed));
        tokio::spawn(checkpoint(pool, commits));
        Writer { queue, counts }
    }

    /// Transactions and changes committed so far.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            transactions: self.counts.transactions.load(Ordering::Relaxed),
            changes: self.counts.changes.load(Ordering::Relaxed),
        }
    }

    /// Runs `change` in the writer's next transaction, inside a savepoint of
    /// its own, and yields its result once that transaction is committed
    /// (durably). `change` must only write through the connection it is
    /// given and must not commit or roll back itself.
    ///
    /// # Errors
    /// `change`'s own error (its savepoint rolled back, nothing of it kept);
    /// [`StoreError::Batch`] when the transaction it ran in could not begin or
    /// commit (nothing of it kept); [`StoreError::WriterStopped`] after
    /// [`Writer::close`].
    pub(crate) async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.change(move |conn| Box::pin(async move { Ok((change(conn).await?, true)) }))
            .await
    }

    /// Like [`Writer::write`], for a change that decides itself whether it
    /// is kept: it yields `(value, keep)`, and with `keep` false its
    /// savepoint is rolled back (what it wrote is undone) while the caller
    /// still gets `value`.
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub(crate) async fn change<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(T, bool), StoreError>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Typed {
            change: Some(change),
            result: None,
            reply,
        };
        self.queue
            .send(Msg::Job(Box::new(job)))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Commits what is queued, closes the write connection and stops the
    /// task. Later writes fail with [`StoreError::WriterStopped`].
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Copies the WAL into the database file after commits (each message on
/// `commits`: one or more commits since the last), until the writer stops.
async fn checkpoint(pool: SqlitePool, mut commits: mpsc::Receiver<()>) {
    while commits.recv().await.is_some() {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log");
        }
        tokio::time::sleep(CHECKPOINT_EVERY).await;
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Msg>,
    counts: Arc<Counts>,
    committed: mpsc::Sender<()>,
) {
    let mut msgs = Vec::with_capacity(BATCH);
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut msgs, BATCH).await > 0 {
        let mut close = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Job(job) if close.is_none() => batch.push(job),
                // Queued after a close: the caller hears WriterStopped.
                Msg::Job(_) => {}
                Msg::Close(done) => close = Some(done),
            }
        }
        batch.retain(|job| !job.abandoned());
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, &counts).await;
            // Full: a checkpoint is already due.
            let _ = committed.try_send(());
        }
        if let Some(done) = close {
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing the SQLite write connection");
            }
            let _ = done.send(());
            return;
        }
    }
}

/// Runs `batch` in one transaction and answers every caller.
async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Box<dyn Job>>, counts: &Counts) {
    let mut failed: Option<StoreError> = conn
        .execute("BEGIN IMMEDIATE")
        .await
        .err()
        .map(StoreError::from);
    let began = failed.is_none();
    let mut succeeded = 0;
    for job in batch.iter_mut() {
        if failed.is_some() {
            break;
        }
        if let Err(e) = conn.execute("SAVEPOINT change").await {
            failed = Some(e.into());
            break;
        }
        let ok = job.run(conn).await;
        succeeded += u64::from(ok);
        let end = if ok {
            conn.execute("RELEASE change").await
        } else {
            match conn.execute("ROLLBACK TO change").await {
                Ok(_) => conn.execute("RELEASE change").await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = end {
            // SQLite rolled the whole transaction back (a full disk, an I/O
            // error): nothing of the batch is kept.
            failed = Some(e.into());
        }
    }
    if failed.is_none()
        && let Err(e) = conn.execute("COMMIT").await
    {
        failed = Some(e.into());
    }
    if began && failed.is_some() {
        // Fails harmlessly when SQLite already rolled back.
        let _ = conn.execute("ROLLBACK").await;
    }
    if failed.is_none() {
        counts.transactions.fetch_add(1, Ordering::Relaxed);
        counts.changes.fetch_add(succeeded, Ordering::Relaxed);
    }
    if let Some(e) = &failed {
        tracing::error!(error = %e, changes = batch.len(), "a batch of SQLite writes failed");
    }
    for job in batch.drain(..) {
        job.answer(failed.as_ref());
    }
}
