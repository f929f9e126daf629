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
//! A change's cost bounds the batch too, not only the count. Each change
//! declares the bytes it writes (a file piece up to ~4 MiB of ciphertext;
//! a deletion of pieces their bytes, which `secure_delete` overwrites; most
//! changes a few pages). A change over [`BATCH_BYTES`] (1 MiB) is *large*:
//! a transaction holds at most one, first, and the small changes after it
//! add up to at most the bound. While both kinds wait, batches alternate:
//! one led by the oldest large change, then one of the small changes queued
//! meanwhile, which pass the large changes queued before them. So a small
//! change (a create) waits for the transaction in progress and its own,
//! which holds at most one large change: never for several pieces written
//! and fsynced together, nor for every piece queued ahead of it; and a
//! large change waits for at most one batch of small ones per large one
//! ahead of it. Passing is safe: a caller is answered only after its own
//! commit, so two changes queued at once come from callers neither of
//! whom has heard back, and neither can have relied on the other; one
//! caller's changes are queued one after the other, and run in that order.
//! A close still waits for everything queued before it. Counting changes
//! only, a batch of 64 could hold many 4 MiB pieces, and creates queued
//! behind them waited for all: during two uploads of 1 GiB, creates fell
//! from 3,334/s (p50 2.3 ms, max 10 ms) to 63/s (p50 123 ms, max 268 ms)
//! (issue 15). Measured with `scripts/bench.sh --uploads` (2 cores, load
//! about 4, SQLite, 32 connections, two 1 GiB uploads at ~100 MB/s),
//! creates during the uploads, before: 448/s, p50 66 ms, p99 155 ms, max
//! 183 ms; with the byte bound alone (in order): 676/s, p50 43 ms, max
//! 157 ms; with small changes passing large ones: 776/s, p50 36 ms, p99
//! 100 ms, max 121 ms, uploads as fast; a second run at load 2, before
//! 473/s, p50 61 ms, p99 172 ms; after 1,043/s, p50 28 ms, p99 103 ms
//! (the longest waits, 346 and 478 ms, vary with the disk). What is left
//! is the piece being written when a create arrives: one writer writes
//! one thing at a time.
//!
//! Checkpoints: the write connection never copies the WAL into the
//! database file inside a commit (`wal_autocheckpoint=0` on it: SQLite would
//! do so once the WAL passes 1,000 pages, with every queued caller waiting
//! behind that copy and its fsync). A checkpointer task copies it instead,
//! after commits and at most every [`CHECKPOINT_EVERY`], in two parts:
//! the bulk on a pooled connection (`PRAGMA wal_checkpoint(PASSIVE)`, beside
//! the writer, which keeps committing meanwhile), then what the writer
//! appended during that copy, on the writer's own connection between two
//! batches ([`Msg::Checkpoint`]: a few frames, so a short pause). Only a
//! checkpoint that nobody writes beside can reach the WAL's end, and only a
//! WAL copied to its end is started over from its beginning by the next
//! transaction: with the bulk alone, under steady writes the WAL grew
//! without end (every commit appending to a longer file, every read
//! searching a larger WAL index), which made creates slower than with the
//! copy inside commits (issue 15). [`Writer::truncate_wal`] ends a round
//! with `TRUNCATE` instead, for the purge: old frames (deleted ciphertext)
//! then leave the WAL file. A caller that writes much in many transactions
//! (a purge) waits for a round between them ([`Writer::catch_up_wal`]), so
//! its writes never outrun the copies.
//!
//! Reads keep their pooled connections (WAL: readers never wait for the
//! writer). Every state change of the store comes here; a second writer on
//! the same file (another process, or a second `Store::connect`) is kept
//! apart by SQLite's lock: the writer's `BEGIN IMMEDIATE` waits in the busy
//! handler while the other holds the lock, and the other waits the same
//! way.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Connection, Either, Executor, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// The most changes committed in one transaction. A bound keeps a batch's
/// transaction short, so the callers at its front wait little for those at
/// its back; 64 measured as well as larger bounds (issue 15).
pub(crate) const BATCH: usize = 64;

/// The checkpointer's pause between two checkpoints: often enough that the
/// WAL stays a few MB under any load, rarely enough to cost little.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Bulk copies on a pooled connection before the writer copies the rest:
/// each copies what the writer appended during the one before, so the
/// rest left to the writer shrinks with each.
const BULK_ROUNDS: usize = 4;

/// A bulk copy of at most this many WAL frames (4 KiB pages) is short
/// enough that what the writer appends meanwhile is little for it to copy.
/// A WAL of fewer frames than this is not worth the writer's pause (its
/// copy and two fsyncs, 5–15 ms measured under load): it is left to grow
/// until a later round, and stays about this small.
const SHORT_COPY: i64 = 256;

/// The most frames the last bulk copy may have taken for the writer to copy
/// the rest (about as many, appended meanwhile): 4 MB, 10–20 ms.
const LONG_REST: i64 = 4 * SHORT_COPY;

/// How long the writer's `TRUNCATE` checkpoint waits for readers still on
/// an older snapshot before it gives up until the next purge pass: readers
/// here are single short statements, and every queued change waits while it
/// does.
const TRUNCATE_WAIT_MS: u64 = 20;

/// The most bytes of changes a transaction takes besides its first one,
/// and the size above which a change is large. Each change declares what
/// it writes ([`Writer::change`]): a file piece its ciphertext, a deletion
/// of pieces their bytes (`secure_delete` overwrites them), most changes
/// [`LIGHT`]. A large change is always the first of its transaction and
/// never shares it with another large one, so no caller waits for several
/// pieces written and fsynced together (issue 15: with batches of several
/// 4 MiB pieces, creates waited 123 ms at the median during two uploads of
/// 1 GiB). 1 MiB is a few ms of writing: 64 small changes stay well under
/// it, and a piece is over it.
pub const BATCH_BYTES: u64 = 1 << 20;

/// What a change that declares nothing writes: its rows and their index
/// entries, a few pages. [`BATCH`] of them stay well within
/// [`BATCH_BYTES`], so for them the count is the bound.
pub(crate) const LIGHT: u64 = 4096;

/// The weight of a change whose size is not known before it runs (a
/// `DELETE` of whatever has expired): taken as over [`BATCH_BYTES`], so it
/// goes first in its transaction and shares it with no other large change.
pub(crate) const UNBOUNDED: u64 = BATCH_BYTES + 1;

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
    /// Asks the checkpointer for a round now, and how it is to end.
    rounds: mpsc::Sender<(Finish, oneshot::Sender<Result<bool, StoreError>>)>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    transactions: AtomicU64,
    changes: AtomicU64,
    large: AtomicU64,
    most_large: AtomicU64,
    most_bytes: AtomicU64,
}

/// What a SQLite database's writer has committed since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed (each one fsync of the WAL).
    pub transactions: u64,
    /// Changes kept in them (not failed, not undone by their own choice).
    pub changes: u64,
    /// Changes run in them that declared more than [`BATCH_BYTES`] (file
    /// pieces, their deletion), kept or not.
    pub large: u64,
    /// The most such changes in one transaction: the byte bound keeps it
    /// at one.
    pub most_large: u64,
    /// The most bytes the changes of one transaction declared.
    pub most_bytes: u64,
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
    /// Copy the rest of the WAL into the database file on the writer's
    /// connection, after the batch queued before it; answers whether the
    /// checkpoint reached the WAL's end (false: a reader kept it from it).
    Checkpoint(Finish, oneshot::Sender<Result<bool, StoreError>>),
    /// Finish what is queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// A queued change with its caller's answer channel, type-erased.
trait Job: Send {
    /// True when the caller stopped waiting (its request was cancelled):
    /// the change is then not made at all.
    fn abandoned(&self) -> bool;
    /// The bytes the change declared it writes (see [`BATCH_BYTES`]).
    fn weight(&self) -> u64;
    /// Runs `before` (the end of the change before it, the start of its
    /// own savepoint), then the change, on `conn`: `Ok(false)` if the
    /// change failed or asked to be undone (its savepoint is then rolled
    /// back), `Err` if `before` failed (the transaction is then lost).
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
        before: Before,
    ) -> BoxFuture<'c, Result<bool, StoreError>>;
    /// Answers the caller: its own result when the batch committed (or when
    /// its own change failed), `failed` otherwise.
    fn answer(self: Box<Self>, failed: Option<&StoreError>);
}

/// A queued change's caller: the weight it declared, what the change
/// yielded, and where the answer goes. Both kinds of change hold one.
struct Caller<T> {
    weight: u64,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T> Caller<T> {
    /// A caller of a change declaring `weight` bytes, and where its answer
    /// arrives.
    fn new(weight: u64) -> (Caller<T>, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let caller = Caller {
            weight,
            result: None,
            reply,
        };
        (caller, answer)
    }

    /// Keeps the change's outcome for the caller; true if the change is
    /// kept (it succeeded and asked to be).
    fn settle(&mut self, outcome: Result<(T, bool), StoreError>) -> bool {
        let (value, keep) = match outcome {
            Ok((value, keep)) => (Ok(value), keep),
            Err(e) => (Err(e), false),
        };
        self.result = Some(value);
        keep
    }

    /// Answers: the change's own result when the batch committed (or when
    /// the change itself failed), `failed` otherwise.
    fn answer(self, failed: Option<&StoreError>) {
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

/// A change written as a closure over the write connection
/// ([`Writer::change`]).
struct Typed<T, F> {
    change: Option<F>,
    caller: Caller<T>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(T, bool), StoreError>>
        + Send
        + 'static,
{
    fn abandoned(&self) -> bool {
        self.caller.reply.is_closed()
    }

    fn weight(&self) -> u64 {
        self.caller.weight
    }

    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
        before: Before,
    ) -> BoxFuture<'c, Result<bool, StoreError>> {
        Box::pin(async move {
            conn.execute(before.sql).await?;
            let Some(change) = self.change.take() else {
                return Ok(false);
            };
            Ok(self.caller.settle(change(conn).await))
        })
    }

    fn answer(self: Box<Self>, failed: Option<&StoreError>) {
        self.caller.answer(failed);
    }
}

/// Makes a [`OneQuery`] change's value from the rows its statements
/// returned, and says whether the change is kept.
pub(crate) type Decode<T> = fn(Vec<SqliteRow>) -> Result<(T, bool), StoreError>;

/// A change that is one query (of one or more statements): the writer
/// sends it in the same query as the SQL before it ([`Before`]), so the
/// change costs one hand-off to the connection's thread in sqlx and back
/// instead of two ([`Writer::query`]).
struct OneQuery<T> {
    sql: &'static str,
    args: Option<SqliteArguments>,
    /// The change's value from the rows its statements returned, and
    /// whether it is kept.
    decode: Decode<T>,
    caller: Caller<T>,
}

impl<T: Send + 'static> Job for OneQuery<T> {
    fn abandoned(&self) -> bool {
        self.caller.reply.is_closed()
    }

    fn weight(&self) -> u64 {
        self.caller.weight
    }

    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
        before: Before,
    ) -> BoxFuture<'c, Result<bool, StoreError>> {
        Box::pin(async move {
            let sql = format!("{}; {}", before.sql, self.sql);
            let args = self.args.take().unwrap_or_default();
            // Each statement that completes yields its result, so the
            // count tells whether a failure was `before`'s or the change's.
            let mut completed = 0;
            let mut rows = Vec::new();
            let mut results =
                (&mut *conn).fetch_many(sqlx::query_with(sqlx::AssertSqlSafe(sql), args));
            let outcome = loop {
                match results.try_next().await {
                    Ok(Some(Either::Left(_))) => completed += 1,
                    Ok(Some(Either::Right(row))) => rows.push(row),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            drop(results);
            let outcome = match outcome {
                Err(e) if completed < before.statements => return Err(e.into()),
                Err(e) => Err(e.into()),
                Ok(()) => (self.decode)(rows),
            };
            Ok(self.caller.settle(outcome))
        })
    }

    fn answer(self: Box<Self>, failed: Option<&StoreError>) {
        self.caller.answer(failed);
    }
}

/// What the writer runs before a change (the end of the change before it
/// in the transaction, and a savepoint for this one), and its count of
/// statements.
#[derive(Clone, Copy, Debug)]
struct Before {
    sql: &'static str,
    statements: usize,
}

impl Before {
    /// Before the first change of a transaction.
    const FIRST: Before = Before {
        sql: "BEGIN IMMEDIATE; SAVEPOINT change",
        statements: 2,
    };
    /// After a change that is kept.
    const AFTER_KEPT: Before = Before {
        sql: "RELEASE change; SAVEPOINT change",
        statements: 2,
    };
    /// After a change that failed or asked to be undone.
    const AFTER_UNDONE: Before = Before {
        sql: "ROLLBACK TO change; RELEASE change; SAVEPOINT change",
        statements: 3,
    };
}

impl Writer {
    /// Starts the writer task on `conn`, a connection of its own to the
    /// database opened with `wal_autocheckpoint=0` and a busy timeout of
    /// `busy_timeout`, and its checkpointer on `pool` (the database's read
    /// connections).
    pub(crate) fn start(
        conn: SqliteConnection,
        pool: SqlitePool,
        busy_timeout: Duration,
    ) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        let (committed, commits) = mpsc::channel(1);
        let (rounds, asked_rounds) = mpsc::channel(1);
        let counts = Arc::new(Counts::default());
        let checkpoints = Checkpoints {
            pool,
            writer: queue.downgrade(),
            commits,
            asked: asked_rounds,
        };
        tokio::spawn(run(conn, rx, counts.clone(), committed, busy_timeout));
        tokio::spawn(checkpoints.run());
        Writer {
            queue,
            rounds,
            counts,
        }
    }

    /// Copies the whole WAL into the database file and truncates the WAL
    /// to nothing (the bulk beside the writer, the rest between two of its
    /// batches), so that no old frame of it (ciphertext deleted since, which
    /// `secure_delete` zeroed in the file) stays on disk. Yields false when
    /// a reader on an older snapshot kept the checkpoint from the WAL's end
    /// for longer than the writer may wait; a later call then does it.
    ///
    /// # Errors
    /// A database error, or [`StoreError::WriterStopped`].
    pub(crate) async fn truncate_wal(&self) -> Result<bool, StoreError> {
        self.round_now(Finish::Truncate).await
    }

    /// Copies the WAL into the database file up to its end now (the bulk
    /// beside the writer, the rest between two of its batches), so that the
    /// next transaction writes it again from its beginning. For a caller
    /// that writes much in many transactions (a purge, a release of free
    /// pages): calling this between them keeps its writes from outrunning
    /// the checkpoints. Without it, every round found the WAL grown by
    /// more than a short rest (a purge of a million expired secrets appends
    /// megabytes per transaction), and either left it growing or made the
    /// writer copy the long rest while every request waited: 30–480 ms
    /// pauses of the writer, 195 ms waits for creates (issue 15). Yields
    /// false when a reader kept the copy from the WAL's end.
    ///
    /// # Errors
    /// As [`Writer::truncate_wal`].
    pub(crate) async fn catch_up_wal(&self) -> Result<bool, StoreError> {
        self.round_now(Finish::Passive).await
    }

    async fn round_now(&self, finish: Finish) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.rounds
            .send((finish, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Transactions and changes committed so far.
    pub(crate) fn stats(&self) -> WriteStats {
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        WriteStats {
            transactions: count(&self.counts.transactions),
            changes: count(&self.counts.changes),
            large: count(&self.counts.large),
            most_large: count(&self.counts.most_large),
            most_bytes: count(&self.counts.most_bytes),
        }
    }

    /// Runs `change` in the writer's next transaction that has room for
    /// its `weight` (the bytes it writes, see [`BATCH_BYTES`]), inside a
    /// savepoint of its own, and yields its result once that transaction is
    /// committed (durably). Changes run in the order queued, except that
    /// small ones may pass large ones (see the module's documentation).
    /// `change` must only write through the connection it is given and must
    /// not commit or roll back itself.
    ///
    /// # Errors
    /// `change`'s own error (its savepoint rolled back, nothing of it kept);
    /// [`StoreError::Batch`] when the transaction it ran in could not begin or
    /// commit (nothing of it kept); [`StoreError::WriterStopped`] after
    /// [`Writer::close`].
    pub(crate) async fn write<T, F>(&self, weight: u64, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.change(weight, move |conn| {
            Box::pin(async move { Ok((change(conn).await?, true)) })
        })
        .await
    }

    /// Like [`Writer::write`], for a change that decides itself whether it
    /// is kept: it yields `(value, keep)`, and with `keep` false its
    /// savepoint is rolled back (what it wrote is undone) while the caller
    /// still gets `value`.
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub(crate) async fn change<T, F>(&self, weight: u64, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<(T, bool), StoreError>>
            + Send
            + 'static,
    {
        let (caller, answer) = Caller::new(weight);
        let job = Typed {
            change: Some(change),
            caller,
        };
        self.submit(Box::new(job), answer).await
    }

    /// Like [`Writer::change`], for a change that is one query: `sql`
    /// (one or more statements; a statement's `$N` is the Nth of `args`)
    /// runs in the same query as what the writer runs before a change, so
    /// it costs one hand-off to SQLite's thread instead of two. `decode`
    /// makes the caller's value from the rows the statements returned, and
    /// says whether the change is kept.
    ///
    /// # Errors
    /// As [`Writer::write`], and what `decode` returns.
    pub(crate) async fn query<T: Send + 'static>(
        &self,
        weight: u64,
        sql: &'static str,
        args: SqliteArguments,
        decode: Decode<T>,
    ) -> Result<T, StoreError> {
        let (caller, answer) = Caller::new(weight);
        let job = OneQuery {
            sql,
            args: Some(args),
            decode,
            caller,
        };
        self.submit(Box::new(job), answer).await
    }

    /// Queues `job` and waits for its caller's `answer`.
    async fn submit<T>(
        &self,
        job: Box<dyn Job>,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.queue
            .send(Msg::Job(job))
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

/// How the writer ends a checkpoint round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    /// Copies the rest (`PASSIVE`): the WAL is then wholly in the file, and
    /// the writer's next transaction writes it again from its beginning.
    Passive,
    /// Copies the rest and cuts the WAL file to nothing (`TRUNCATE`).
    Truncate,
}

/// The checkpointer task's side of the channels.
struct Checkpoints {
    /// The bulk copies run on one of these connections.
    pool: SqlitePool,
    /// The writer's queue, for the end of each round; weak, so that the
    /// writer still stops when every [`Writer`] handle is gone.
    writer: mpsc::WeakSender<Msg>,
    /// One message for one or more commits since the last round.
    commits: mpsc::Receiver<()>,
    /// Rounds asked for by [`Writer::truncate_wal`] and
    /// [`Writer::catch_up_wal`].
    asked: mpsc::Receiver<(Finish, oneshot::Sender<Result<bool, StoreError>>)>,
}

impl Checkpoints {
    /// A round of its own after commits (at most every
    /// [`CHECKPOINT_EVERY`]), or one asked for ([`Writer::truncate_wal`],
    /// [`Writer::catch_up_wal`]) at once, until the writer stops.
    async fn run(mut self) {
        // Rounds of its own wait for this; asked rounds never do (a purge
        // waits for one between each two of its transactions).
        let mut next_own = tokio::time::Instant::now();
        loop {
            let asked = tokio::select! {
                biased;
                Some(asked) = self.asked.recv() => Some(asked),
                committed = async {
                    tokio::time::sleep_until(next_own).await;
                    self.commits.recv().await
                } => match committed {
                    Some(()) => None,
                    None => return,
                },
            };
            let finish = asked
                .as_ref()
                .map_or(Finish::Passive, |(finish, _)| *finish);
            let result = self.round(finish, asked.is_some()).await;
            match asked.map(|(_, reply)| reply) {
                Some(reply) => {
                    let _ = reply.send(result);
                }
                None => {
                    if let Err(e) = result {
                        if self.pool.is_closed() || matches!(e, StoreError::WriterStopped) {
                            return;
                        }
                        tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log");
                    }
                    next_own = tokio::time::Instant::now() + CHECKPOINT_EVERY;
                }
            }
        }
    }

    /// Copies the WAL into the database file: bulk copies beside the
    /// writer until one copies little, then the rest on the writer's
    /// connection. True when the copy reached the WAL's end. A round that
    /// was `asked` for always ends on the writer (its caller waits for it,
    /// and writes nothing meanwhile, so the rest is what others wrote
    /// during the last bulk copy); one of its own only when that rest is
    /// short.
    async fn round(&self, finish: Finish, asked: bool) -> Result<bool, StoreError> {
        let mut backfilled: Option<i64> = None;
        let mut frames = 0;
        let mut copied = 0;
        for _ in 0..BULK_ROUNDS {
            let (busy, in_wal, done): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&self.pool)
                    .await?;
            if busy != 0 {
                // Another checkpoint (another process's) is copying.
                return Ok(false);
            }
            frames = in_wal;
            tracing::debug!(in_wal, done, "bulk checkpoint");
            // Frames this copy took (what it found backfilled before it
            // is not known the first time; after a restart of the WAL the
            // count starts again from nothing).
            copied = done - backfilled.unwrap_or(0);
            backfilled = Some(done);
            if copied <= SHORT_COPY {
                break;
            }
        }
        // A small WAL is not worth the writer's pause; and while the writer
        // appends faster than the bulk copies catch up (a purge's deletes),
        // the rest would be long: the WAL then goes on to a later round.
        if !asked && (frames < SHORT_COPY || copied > LONG_REST) {
            return Ok(false);
        }
        let queue = self.writer.upgrade().ok_or(StoreError::WriterStopped)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Msg::Checkpoint(finish, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        drop(queue);
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// The end of a checkpoint round, on the writer's connection between two
/// batches (no transaction open): copies what the bulk copies left.
async fn finish_checkpoint(
    conn: &mut SqliteConnection,
    finish: Finish,
    busy_timeout: Duration,
) -> Result<bool, StoreError> {
    let (busy, _, _): (i64, i64, i64) = match finish {
        // Waits for nobody.
        Finish::Passive => {
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *conn)
                .await?
        }
        // Waits for readers on older snapshots, briefly.
        Finish::Truncate => {
            conn.execute(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}"
            )))
            .await?;
            let done = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {}",
                busy_timeout.as_millis()
            )))
            .await?;
            done?
        }
    };
    Ok(busy == 0)
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Msg>,
    counts: Arc<Counts>,
    committed: mpsc::Sender<()>,
    busy_timeout: Duration,
) {
    let mut received = Vec::with_capacity(BATCH);
    // Taken from the channel and not yet run, in the order queued: what a
    // batch full by count or bytes left, and large changes waiting for a
    // batch they lead.
    let mut queued: VecDeque<Msg> = VecDeque::with_capacity(BATCH);
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH);
    let mut checkpoint = None;
    // Whether the last batch held a large change (see `take_batch`).
    let mut after_large = false;
    loop {
        if queued.is_empty() {
            if rx.recv_many(&mut received, BATCH).await == 0 {
                return;
            }
            queued.extend(received.drain(..));
        }
        // Up to a batch of small changes in sight, behind the large ones
        // waiting for a batch of their own (as many as the channel held).
        let mut small = queued
            .iter()
            .filter(|msg| !matches!(msg, Msg::Job(job) if large(job.as_ref())))
            .count();
        while small < BATCH {
            match rx.try_recv() {
                Ok(msg) => {
                    small += usize::from(!matches!(&msg, Msg::Job(job) if large(job.as_ref())));
                    queued.push_back(msg);
                }
                Err(_) => break,
            }
        }
        let close = take_batch(&mut queued, &mut batch, &mut checkpoint, after_large);
        after_large = batch.iter().any(|job| large(job.as_ref()));
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, &counts).await;
            // Full: a checkpoint is already due.
            let _ = committed.try_send(());
        }
        if let Some((finish, reply)) = checkpoint.take() {
            let began_at = std::time::Instant::now();
            let done = finish_checkpoint(&mut conn, finish, busy_timeout).await;
            tracing::debug!(
                ?finish,
                micros = began_at.elapsed().as_micros() as u64,
                "checkpoint finished on the writer"
            );
            let _ = reply.send(done);
        }
        if let Some(done) = close {
            // What was queued after the close is dropped: its callers hear
            // WriterStopped.
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing the SQLite write connection");
            }
            let _ = done.send(());
            return;
        }
    }
}

/// True for a change over [`BATCH_BYTES`]: one per transaction at most.
fn large(job: &dyn Job) -> bool {
    job.weight() > BATCH_BYTES
}

/// Moves the next batch out of `queued` into `batch`: up to [`BATCH`]
/// changes, at most one of them large (over [`BATCH_BYTES`]) and first,
/// the others adding up to at most [`BATCH_BYTES`]. The oldest large change
/// leads the batch unless the last batch (`after_large`) held one and small
/// changes are waiting: those then go first, in a batch of their own, so
/// that large and small batches alternate while both kinds are queued.
/// Small changes are taken in the order queued and may pass large ones
/// queued before them (never a close). A checkpoint met on the way goes
/// into `checkpoint` (it runs after the batch); a close reached with
/// nothing queued before it is returned.
fn take_batch(
    queued: &mut VecDeque<Msg>,
    batch: &mut Vec<Box<dyn Job>>,
    checkpoint: &mut Option<(Finish, oneshot::Sender<Result<bool, StoreError>>)>,
    after_large: bool,
) -> Option<oneshot::Sender<()>> {
    // Nobody waits for these: dropped unrun.
    queued.retain(|msg| !matches!(msg, Msg::Job(job) if job.abandoned()));
    // Changes queued after a close are never run: the search stops there.
    let before_close = queued
        .iter()
        .position(|msg| matches!(msg, Msg::Close(_)))
        .unwrap_or(queued.len());
    let first_large = queued
        .iter()
        .take(before_close)
        .position(|msg| matches!(msg, Msg::Job(job) if large(job.as_ref())));
    let small_waits = queued
        .iter()
        .take(before_close)
        .any(|msg| matches!(msg, Msg::Job(job) if !large(job.as_ref())));
    if let Some(i) = first_large
        && (!after_large || !small_waits)
        && let Some(Msg::Job(job)) = queued.remove(i)
    {
        batch.push(job);
    }
    // The bytes declared by the changes after the batch's first.
    let mut rest: u64 = 0;
    let mut i = 0;
    while i < queued.len() {
        match &queued[i] {
            Msg::Job(job) if large(job.as_ref()) => {
                // Waits for a batch it leads.
                i += 1;
            }
            Msg::Job(job) => {
                let weight = job.weight();
                if !batch.is_empty() {
                    if batch.len() >= BATCH || rest.saturating_add(weight) > BATCH_BYTES {
                        return None;
                    }
                    rest = rest.saturating_add(weight);
                }
                if let Some(Msg::Job(job)) = queued.remove(i) {
                    batch.push(job);
                }
            }
            Msg::Checkpoint(..) => {
                // The checkpointer sends one at a time.
                if let Some(Msg::Checkpoint(finish, reply)) = queued.remove(i) {
                    *checkpoint = Some((finish, reply));
                }
            }
            Msg::Close(_) => {
                // A close waits for every change queued before it.
                if i == 0
                    && let Some(Msg::Close(done)) = queued.pop_front()
                {
                    return Some(done);
                }
                return None;
            }
        }
    }
    None
}

/// Runs `batch` in one transaction and answers every caller.
async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Box<dyn Job>>, counts: &Counts) {
    let began_at = std::time::Instant::now();
    let bytes = batch
        .iter()
        .fold(0u64, |sum, job| sum.saturating_add(job.weight()));
    let large = batch.iter().filter(|job| large(job.as_ref())).count() as u64;
    let mut failed: Option<StoreError> = None;
    let mut succeeded = 0;
    // What SQLite runs before the next change: each query is a hand-off to
    // the connection's thread and back, so the end of one change's
    // savepoint and the start of the next go together, and with the next
    // change itself when it is one query (1 hand-off for a create or a
    // reveal, 1 + k for a change of k statements; issue 15: thread
    // hand-offs were a fifth of the CPU). Whether the last change run is
    // kept (its savepoint released) or undone (rolled back to); none yet.
    let mut last_kept: Option<bool> = None;
    for job in batch.iter_mut() {
        let before = match last_kept {
            None => Before::FIRST,
            Some(true) => Before::AFTER_KEPT,
            Some(false) => Before::AFTER_UNDONE,
        };
        match job.run(conn, before).await {
            Ok(ok) => {
                succeeded += u64::from(ok);
                last_kept = Some(ok);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if failed.is_none() {
        let end = match last_kept {
            Some(false) => "ROLLBACK TO change; RELEASE change; COMMIT",
            _ => "RELEASE change; COMMIT",
        };
        if let Err(e) = conn.execute(end).await {
            // SQLite rolled the whole transaction back (a full disk, an I/O
            // error), or the commit failed: nothing of the batch is kept.
            failed = Some(e.into());
        }
    }
    if failed.is_some() {
        // Fails harmlessly when SQLite already rolled back, or never began.
        let _ = conn.execute("ROLLBACK").await;
    }
    tracing::debug!(
        changes = batch.len(),
        bytes,
        large,
        micros = began_at.elapsed().as_micros() as u64,
        "write transaction"
    );
    if failed.is_none() {
        counts.transactions.fetch_add(1, Ordering::Relaxed);
        counts.changes.fetch_add(succeeded, Ordering::Relaxed);
        counts.large.fetch_add(large, Ordering::Relaxed);
        counts.most_large.fetch_max(large, Ordering::Relaxed);
        counts.most_bytes.fetch_max(bytes, Ordering::Relaxed);
    }
    if let Some(e) = &failed {
        tracing::error!(error = %e, changes = batch.len(), "a batch of SQLite writes failed");
    }
    for job in batch.drain(..) {
        job.answer(failed.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queued change that only has a weight (which names it here).
    struct Weighed(u64);

    impl Job for Weighed {
        fn abandoned(&self) -> bool {
            false
        }
        fn weight(&self) -> u64 {
            self.0
        }
        fn run<'c>(
            &'c mut self,
            _: &'c mut SqliteConnection,
            _: Before,
        ) -> BoxFuture<'c, Result<bool, StoreError>> {
            Box::pin(async { Ok(true) })
        }
        fn answer(self: Box<Self>, _: Option<&StoreError>) {}
    }

    const PIECE: u64 = 4 << 20;

    fn queue(weights: &[u64]) -> VecDeque<Msg> {
        weights
            .iter()
            .map(|&weight| Msg::Job(Box::new(Weighed(weight))))
            .collect()
    }

    /// The weights of the next batch taken from `queued`.
    fn next(queued: &mut VecDeque<Msg>, after_large: bool) -> Vec<u64> {
        let mut batch = vec![];
        let mut checkpoint = None;
        take_batch(queued, &mut batch, &mut checkpoint, after_large);
        batch.iter().map(|job| job.weight()).collect()
    }

    #[test]
    fn large_changes_lead_batches_that_alternate_with_small_ones() {
        // Pieces p and q, creates 1 to 4.
        let (p, q) = (PIECE, PIECE + 1);
        let mut queued = queue(&[p, 1, q, 2]);
        assert_eq!(next(&mut queued, false), [p, 1, 2], "q waits");
        queued.extend(queue(&[3, 4]));
        assert_eq!(next(&mut queued, true), [3, 4], "the small ones pass q");
        assert_eq!(next(&mut queued, false), [q]);
        assert!(queued.is_empty());
    }

    #[test]
    fn small_changes_after_the_first_stay_within_the_byte_bound() {
        let half = BATCH_BYTES / 2;
        let mut queued = queue(&[half, half, half, 1]);
        assert_eq!(next(&mut queued, false), [half, half, half]);
        assert_eq!(next(&mut queued, false), [1]);
    }

    #[test]
    fn a_close_waits_for_every_change_queued_before_it() {
        let (done, _closed) = oneshot::channel();
        let mut queued = queue(&[PIECE, PIECE + 1]);
        queued.push_back(Msg::Close(done));
        queued.extend(queue(&[9]));
        let mut batch = vec![];
        let mut checkpoint = None;
        assert!(take_batch(&mut queued, &mut batch, &mut checkpoint, false).is_none());
        assert_eq!(
            batch[0].weight(),
            PIECE,
            "the second piece waits, and the close behind it"
        );
        batch.clear();
        assert!(take_batch(&mut queued, &mut batch, &mut checkpoint, true).is_some());
        assert_eq!(
            batch[0].weight(),
            PIECE + 1,
            "then the second piece and the close"
        );
        assert_eq!(
            queued.len(),
            1,
            "the change queued after the close never runs"
        );
    }

    /// A change that writes row `n`, then fails (its statement names a
    /// table that does not exist) when `fails`.
    struct Writes {
        n: i64,
        fails: bool,
    }

    impl Job for Writes {
        fn abandoned(&self) -> bool {
            false
        }
        fn weight(&self) -> u64 {
            LIGHT
        }
        fn run<'c>(
            &'c mut self,
            conn: &'c mut SqliteConnection,
            before: Before,
        ) -> BoxFuture<'c, Result<bool, StoreError>> {
            Box::pin(async move {
                conn.execute(before.sql).await?;
                let wrote = sqlx::query("INSERT INTO t (n) VALUES ($1)")
                    .bind(self.n)
                    .execute(&mut *conn)
                    .await
                    .is_ok();
                let failed = self.fails
                    && sqlx::query("INSERT INTO missing VALUES (1)")
                        .execute(&mut *conn)
                        .await
                        .is_err();
                Ok(wrote && !failed)
            })
        }
        fn answer(self: Box<Self>, _: Option<&StoreError>) {}
    }

    /// [`Writes`] as one query ([`OneQuery`]), sent with the SQL before it.
    fn writes_in_one_query(n: i64, fails: bool) -> Box<dyn Job> {
        let mut args = SqliteArguments::default();
        sqlx::Arguments::add(&mut args, n).unwrap();
        let (caller, _) = Caller::new(LIGHT);
        Box::new(OneQuery {
            sql: if fails {
                "INSERT INTO t (n) VALUES ($1); INSERT INTO missing VALUES (1)"
            } else {
                "INSERT INTO t (n) VALUES ($1)"
            },
            args: Some(args),
            decode: |_| Ok(((), true)),
            caller,
        })
    }

    /// The statements between changes go to SQLite together: a change
    /// that fails, in the middle of a batch, at its end or at its start,
    /// is rolled back to its own savepoint (what it wrote before failing
    /// is gone), and the others are committed.
    #[tokio::test]
    async fn a_failing_change_is_undone_wherever_it_stands_in_its_batch() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        conn.execute("CREATE TABLE t (n INTEGER)").await.unwrap();
        let counts = Counts::default();
        // (n, fails, one query): changes of both kinds, side by side.
        for changes in [
            vec![
                (1, false, false),
                (2, true, false),
                (3, false, false),
                (4, true, false),
            ],
            vec![(5, true, false), (6, false, false)],
            vec![
                (7, false, true),
                (8, true, true),
                (9, false, false),
                (10, true, true),
            ],
            vec![
                (11, true, true),
                (12, false, true),
                (13, true, false),
                (14, false, true),
            ],
        ] {
            let mut batch: Vec<Box<dyn Job>> = changes
                .into_iter()
                .map(|(n, fails, one_query)| {
                    if one_query {
                        writes_in_one_query(n, fails)
                    } else {
                        Box::new(Writes { n, fails }) as Box<dyn Job>
                    }
                })
                .collect();
            commit(&mut conn, &mut batch, &counts).await;
        }
        let kept: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(kept, [1, 3, 6, 7, 9, 12, 14]);
        assert_eq!(counts.transactions.load(Ordering::Relaxed), 4);
        assert_eq!(counts.changes.load(Ordering::Relaxed), 7);
        assert!(
            conn.execute("BEGIN").await.is_ok(),
            "no transaction left open"
        );
    }

    /// A change of one query, sent with the writer's SQL before it, tells
    /// its own failure (the change is undone, its caller gets the error,
    /// the batch goes on) from a failure of the SQL before it (the
    /// transaction is lost): by how many statements completed.
    #[tokio::test]
    async fn a_one_query_change_tells_its_own_failure_from_the_transactions() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let insert = |k: i64| {
            let mut args = SqliteArguments::default();
            sqlx::Arguments::add(&mut args, k).unwrap();
            let (caller, answer) = Caller::new(LIGHT);
            let job = OneQuery {
                sql: "INSERT INTO t (k) VALUES ($1) RETURNING k",
                args: Some(args),
                decode: |rows| Ok((rows.len(), true)),
                caller,
            };
            (job, answer)
        };
        let (mut first, kept) = insert(1);
        assert!(first.run(&mut conn, Before::FIRST).await.unwrap());
        Box::new(first).answer(None);
        assert_eq!(kept.await.unwrap().unwrap(), 1, "one row returned");

        // The same key again: its own failure, after its savepoint began.
        let (mut second, refused) = insert(1);
        assert!(!second.run(&mut conn, Before::AFTER_KEPT).await.unwrap());
        Box::new(second).answer(None);
        let own = refused.await.unwrap().unwrap_err();
        assert!(matches!(own, StoreError::Sqlx(_)), "{own}");

        // A BEGIN inside the open transaction fails before the change runs.
        let (mut third, _) = insert(2);
        let lost = third.run(&mut conn, Before::FIRST).await;
        assert!(lost.is_err(), "the SQL before the change failed");

        conn.execute("ROLLBACK TO change; RELEASE change; COMMIT")
            .await
            .unwrap();
        let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows, 1, "the second was undone and the third never ran");
    }
}
