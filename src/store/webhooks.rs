//! Webhook deliveries: the audit trail is the outbox.
//!
//! Every state change already appends its event in the transaction that makes
//! the change, so nothing is notified that did not happen and nothing that
//! happened is missed. The worker turns events after `webhook_cursor` into
//! rows of `webhook_deliveries` and moves the cursor in one change whose
//! first step, before the inserts, is a compare-and-set: with several server instances on one
//! PostgreSQL, an instance that lost the race rolls back, so each event gets
//! one delivery per receiver. Deliveries are then claimed one at a time with a
//! conditional UPDATE that pushes their due time past a lease, so two
//! instances never send the same attempt.

use sqlx::FromRow;

use super::{LIGHT, Store, StoreError, UNBOUNDED, change_tx, on_pool, write_tx};
use crate::audit::Kind;
use crate::id::Id;

/// The events that are notified: answered, retrieved, expired unanswered
/// (`request.expired` is only appended for requests nobody answered), a
/// failed verification, a rotation request made before a secret expires,
/// and a collector's re-check finding a credential failing or recovered. The query binds them into its `IN ($4, ...)` list.
pub const NOTIFIED_KINDS: &[Kind] = &[
    Kind::RequestAnswered,
    Kind::RequestRetrieved,
    Kind::RequestExpired,
    Kind::RequestVerifyFailed,
    Kind::RequestRotationCreated,
    Kind::RequestCredentialFailing,
    Kind::RequestCredentialRecovered,
];

// The enqueue query has one placeholder per notified kind.
const _: () = assert!(NOTIFIED_KINDS.len() == 7);

/// An event to notify, with the request's label and template if the request
/// still exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifiedEvent {
    pub seq: i64,
    pub(crate) at: i64,
    pub kind: Kind,
    pub(crate) request_id: Option<String>,
    pub(crate) customer: Option<String>,
    pub(crate) template: Option<String>,
    /// The event's detail JSON, whose `customer` and `template` stand in when
    /// the request row is gone.
    pub(crate) detail: String,
}

/// A [`NotifiedEvent`] as read, before its kind is parsed.
#[derive(FromRow)]
struct NotifiedRow {
    seq: i64,
    at: i64,
    kind: String,
    request_id: Option<String>,
    customer: Option<String>,
    template: Option<String>,
    detail: String,
}

impl NotifiedRow {
    fn parse(self) -> Result<NotifiedEvent, StoreError> {
        let kind = Kind::parse(&self.kind).ok_or_else(|| StoreError::UnknownValue {
            column: "events.kind",
            value: self.kind.clone(),
        })?;
        Ok(NotifiedEvent {
            seq: self.seq,
            at: self.at,
            kind,
            request_id: self.request_id,
            customer: self.customer,
            template: self.template,
            detail: self.detail,
        })
    }
}

/// What one enqueue step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Events turned into deliveries.
    pub(crate) events: u64,
    /// Events passed over because they were older than `min_at`.
    pub(crate) skipped: u64,
    pub deliveries: u64,
    /// The page was full: call again for the rest.
    pub more: bool,
    /// Another instance moved the cursor first; this step changed nothing.
    pub(crate) lost_race: bool,
}

/// A claimed attempt: the body to send, and the attempt's number (1 for the
/// first) that recording its outcome must name.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) event_seq: i64,
    pub(crate) url_hash: String,
    pub(crate) event: String,
    pub(crate) body: String,
    pub(crate) attempts: i64,
}

/// A delivery row as stored, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct DeliveryRecord {
    pub(crate) id: String,
    pub event_seq: i64,
    pub url_hash: String,
    pub(crate) event: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub(crate) created_at: i64,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttemptOutcome<'a> {
    Delivered {
        status: u16,
    },
    /// Try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: &'a str,
        next_attempt_at: i64,
    },
    /// The last allowed attempt failed.
    GiveUp {
        status: Option<u16>,
        error: &'a str,
    },
}

impl Store {
    /// Turns up to `page` notified events after the cursor into one delivery
    /// per receiver in `url_hashes`, with bodies from `make_body`, and moves
    /// the cursor past them. Events with `at < min_at` are passed over, so
    /// that turning webhooks on (or back on) does not replay old history.
    pub async fn enqueue_webhooks(
        &self,
        url_hashes: &[String],
        now: i64,
        min_at: i64,
        page: i64,
        make_body: impl Fn(&NotifiedEvent) -> String,
    ) -> Result<Enqueued, StoreError> {
        // Cheap check first, outside a transaction: an idle trail costs no write.
        let (cursor, head): (i64, i64) = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT c.seq, h.seq FROM webhook_cursor c, audit_head h WHERE c.id = 1 AND h.id = 1",
            )
            .fetch_one(pool)
            .await?
        );
        if cursor >= head {
            return Ok(Enqueued::default());
        }
        // The events are read outside the write: every event up to `head`
        // has committed (appends hold the head until they commit), and the
        // compare-and-set below keeps what another instance did meanwhile.
        let rows: Vec<NotifiedRow> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT e.seq, e.at, e.kind, e.request_id, r.customer, r.template, e.detail \
                 FROM events e LEFT JOIN requests r ON r.id = e.request_id \
                 WHERE e.seq > $1 AND e.seq <= $2 \
                 AND e.kind IN ($4, $5, $6, $7, $8, $9, $10) ORDER BY e.seq LIMIT $3",
            )
            .bind(cursor)
            .bind(head)
            .bind(page)
            .bind(NOTIFIED_KINDS[0].as_str())
            .bind(NOTIFIED_KINDS[1].as_str())
            .bind(NOTIFIED_KINDS[2].as_str())
            .bind(NOTIFIED_KINDS[3].as_str())
            .bind(NOTIFIED_KINDS[4].as_str())
            .bind(NOTIFIED_KINDS[5].as_str())
            .bind(NOTIFIED_KINDS[6].as_str())
            .fetch_all(pool)
            .await?
        );
        let events = rows
            .into_iter()
            .map(NotifiedRow::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let full = events.len() as i64 >= page;
        let new = match events.last() {
            Some(last) if full => last.seq,
            _ => head,
        };
        let mut done = Enqueued {
            more: full,
            ..Enqueued::default()
        };
        // (event seq, kind, body): one delivery per receiver each.
        let mut bodies: Vec<(i64, &'static str, String)> = Vec::new();
        for event in &events {
            if event.at < min_at {
                done.skipped += 1;
                continue;
            }
            done.events += 1;
            bodies.push((event.seq, event.kind.as_str(), make_body(event)));
        }
        let url_hashes = url_hashes.to_vec();
        // Each body once per receiver: a page of events can be a few MB.
        let bodies_bytes: u64 = bodies.iter().map(|(_, _, body)| body.len() as u64).sum();
        let weight = LIGHT + bodies_bytes * url_hashes.len() as u64;
        let deliveries = change_tx!(self, weight = weight, conn => {
            // Compare-and-set before any insert: a worker that lost the
            // race stops here, and no event gets two deliveries.
            let moved = sqlx::query("UPDATE webhook_cursor SET seq = $1 WHERE id = 1 AND seq = $2")
                .bind(new)
                .bind(cursor)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if moved == 0 {
                return Ok((None, false));
            }
            let mut deliveries = 0;
            for (seq, kind, body) in &bodies {
                for url_hash in &url_hashes {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries \
                         (id, event_seq, url_hash, event, body, attempts, next_attempt_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
                    )
                    .bind(Id::random().as_str())
                    .bind(seq)
                    .bind(url_hash)
                    .bind(kind)
                    .bind(body)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    deliveries += 1;
                }
            }
            Ok((Some(deliveries), true))
        })?;
        Ok(match deliveries {
            Some(deliveries) => Enqueued { deliveries, ..done },
            None => Enqueued {
                lost_race: true,
                ..Enqueued::default()
            },
        })
    }

    /// The cursor: the last event seq already turned into deliveries.
    pub async fn webhook_cursor(&self) -> Result<i64, StoreError> {
        let seq = on_pool!(self, pool =>
            sqlx::query_scalar("SELECT seq FROM webhook_cursor WHERE id = 1")
                .fetch_one(pool)
                .await?
        );
        Ok(seq)
    }

    /// Claims the delivery that has been due longest, if any: counts the
    /// attempt and moves its due time to `lease_until`, so that no other
    /// worker takes it while this one sends. If the sender dies, the
    /// delivery is due again once the lease ends.
    pub(crate) async fn claim_webhook_delivery(
        &self,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        // A few candidates, since another worker may take the first ones
        // between this read and the claim.
        const DUE: &str = "SELECT id FROM webhook_deliveries \
             WHERE next_attempt_at <= $1 AND delivered_at IS NULL AND failed_at IS NULL \
             ORDER BY next_attempt_at, event_seq, id LIMIT 8";
        const CLAIM: &str = "UPDATE webhook_deliveries \
             SET next_attempt_at = $1, attempts = attempts + 1 \
             WHERE id = $2 AND next_attempt_at <= $3 AND delivered_at IS NULL AND failed_at IS NULL \
             RETURNING id, event_seq, url_hash, event, body, attempts";
        // The due ones are read first on a pooled connection, so an idle
        // queue costs no write.
        let due: Vec<String> =
            on_pool!(self, pool => sqlx::query_scalar(DUE).bind(now).fetch_all(pool).await?);
        if due.is_empty() {
            return Ok(None);
        }
        write_tx!(self, conn => {
            let mut claimed = None;
            for id in &due {
                claimed = sqlx::query_as::<_, Delivery>(CLAIM)
                    .bind(lease_until)
                    .bind(id)
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await?;
                if claimed.is_some() {
                    break;
                }
            }
            Ok(claimed)
        })
    }

    /// Records how attempt number `delivery.attempts` ended. Does nothing if
    /// that attempt is no longer the delivery's latest (its lease ran out and
    /// another worker took it over).
    pub(crate) async fn record_webhook_attempt(
        &self,
        delivery: &Delivery,
        now: i64,
        outcome: &AttemptOutcome<'_>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE webhook_deliveries \
             SET delivered_at = $1, failed_at = $2, next_attempt_at = $3, last_status = $4, last_error = $5 \
             WHERE id = $6 AND attempts = $7 AND delivered_at IS NULL AND failed_at IS NULL";
        let (delivered_at, failed_at, next, status, error) = match *outcome {
            AttemptOutcome::Delivered { status } => (Some(now), None, now, Some(status), None),
            AttemptOutcome::Retry {
                status,
                error,
                next_attempt_at,
            } => (None, None, next_attempt_at, status, Some(error)),
            AttemptOutcome::GiveUp { status, error } => (None, Some(now), now, status, Some(error)),
        };
        let error = error.map(str::to_owned);
        let (id, attempts) = (delivery.id.clone(), delivery.attempts);
        write_tx!(self, conn => {
            sqlx::query(SQL)
                .bind(delivered_at)
                .bind(failed_at)
                .bind(next)
                .bind(status.map(i64::from))
                .bind(&error)
                .bind(&id)
                .bind(attempts)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Deletes delivered and given-up deliveries finished before `before`;
    /// pending ones stay whatever their age.
    pub async fn purge_webhook_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM webhook_deliveries \
             WHERE delivered_at < $1 OR failed_at < $1";
        // However many finished since the last pass: of unknown size.
        write_tx!(self, weight = UNBOUNDED, conn => {
            Ok(sqlx::query(SQL).bind(before).execute(&mut *conn).await?.rows_affected())
        })
    }

    /// Deliveries, newest event first: for inspection and tests.
    pub async fn webhook_deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        const SQL: &str = "SELECT id, event_seq, url_hash, event, body, attempts, next_attempt_at, \
             delivered_at, failed_at, last_status, last_error, created_at \
             FROM webhook_deliveries ORDER BY event_seq DESC, url_hash LIMIT $1";
        let rows = on_pool!(self, pool =>
            sqlx::query_as::<_, DeliveryRecord>(SQL).bind(limit).fetch_all(pool).await?
        );
        Ok(rows)
    }
}
