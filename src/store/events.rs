//! The audit trail's storage: appends inside the caller's transaction, so a
//! state change and its event commit together or not at all.

use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

use super::{Store, StoreError, on_pool, write_tx};
use crate::audit::{Break, Event, NewEvent, Verifier};

/// An `events` row as an [`Event`], on either engine (the domain type
/// knows nothing of SQL).
impl<'r, R> FromRow<'r, R> for Event
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Event, sqlx::Error> {
        Ok(Event {
            seq: row.try_get("seq")?,
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            request_id: row.try_get("request_id")?,
            actor: row.try_get("actor")?,
            client_addr: row.try_get("client_addr")?,
            detail: row.try_get("detail")?,
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }
}

/// Appends `$event` (an [`audit::NewEvent`](crate::audit::NewEvent)) at time
/// `$at` through `$conn` (a transaction's connection) and yields the stored
/// [`Event`]. The head row is updated first: that takes the write lock on
/// SQLite and a row lock on PostgreSQL, so appends are serialised and the
/// chain has no forks. On SQLite the transaction must not have read before
/// this (or another) write, or a concurrent writer makes it fail.
macro_rules! append_event {
    ($conn:expr, $event:expr, $at:expr) => {
        async {
            let ev: &$crate::audit::NewEvent = $event;
            let (seq, prev_hash): (i64, String) = sqlx::query_as(
                "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash",
            )
            .fetch_one(&mut *$conn)
            .await?;
            let mut stored = $crate::audit::Event {
                seq,
                at: $at,
                kind: ev.kind.as_str().to_owned(),
                request_id: ev.request_id.clone(),
                actor: ev.actor.label(),
                client_addr: ev.client_addr.clone(),
                detail: ev.detail.to_string(),
                prev_hash,
                hash: String::new(),
            };
            stored.hash = stored.compute_hash();
            sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
                .bind(&stored.hash)
                .execute(&mut *$conn)
                .await?;
            sqlx::query(
                "INSERT INTO events (seq, at, kind, request_id, actor, client_addr, detail, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(stored.seq)
            .bind(stored.at)
            .bind(&stored.kind)
            .bind(&stored.request_id)
            .bind(&stored.actor)
            .bind(&stored.client_addr)
            .bind(&stored.detail)
            .bind(&stored.prev_hash)
            .bind(&stored.hash)
            .execute(&mut *$conn)
            .await?;
            Ok::<$crate::audit::Event, $crate::store::StoreError>(stored)
        }
    };
}
pub(crate) use append_event;

/// How a verification ended.
#[derive(Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub checked: u64,
    pub result: Result<(), Break>,
}

impl Store {
    /// Appends one event in a transaction of its own.
    pub async fn append_event(&self, event: &NewEvent, at: i64) -> Result<Event, StoreError> {
        let event = event.clone();
        write_tx!(self, conn => append_event!(conn, &event, at).await)
    }

    /// A request's events, oldest first.
    pub async fn request_events(&self, request_id: &str) -> Result<Vec<Event>, StoreError> {
        const SQL: &str = "SELECT seq, at, kind, request_id, actor, client_addr, detail, prev_hash, hash \
             FROM events WHERE request_id = $1 ORDER BY seq";
        let events = on_pool!(self, pool =>
            sqlx::query_as::<_, Event>(SQL).bind(request_id).fetch_all(pool).await?
        );
        Ok(events)
    }

    /// Up to `limit` events with `seq > after`, oldest first: for export,
    /// verification and whoever tails the trail (webhooks).
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>, StoreError> {
        const SQL: &str = "SELECT seq, at, kind, request_id, actor, client_addr, detail, prev_hash, hash \
             FROM events WHERE seq > $1 ORDER BY seq LIMIT $2";
        let events = on_pool!(self, pool =>
            sqlx::query_as::<_, Event>(SQL).bind(after).bind(limit).fetch_all(pool).await?
        );
        Ok(events)
    }

    /// The head's sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        let head = on_pool!(self, pool =>
            sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(pool)
                .await?
        );
        Ok(head)
    }

    /// Walks the whole trail in pages and reports the first broken link.
    pub async fn verify_chain(&self) -> Result<ChainReport, StoreError> {
        // Read the head first: events appended during the walk are beyond it.
        let (head_seq, head_hash) = self.audit_head().await?;
        let mut verifier = Verifier::default();
        let mut after = 0;
        loop {
            let page = self.events_after(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in page.iter().filter(|e| e.seq <= head_seq) {
                if let Err(b) = verifier.check(event) {
                    return Ok(ChainReport {
                        checked: verifier.checked,
                        result: Err(b),
                    });
                }
            }
            if after >= head_seq {
                break;
            }
        }
        Ok(ChainReport {
            checked: verifier.checked,
            result: verifier.finish(head_seq, &head_hash),
        })
    }
}
