//! E-mail deliveries: the audit trail is the outbox, as for webhooks (see
//! the webhook part of the store, whose design this follows step for step).
//!
//! The worker turns events after `email_cursor` into rows of
//! `email_deliveries`, one per recipient address, and moves the cursor in one
//! change whose first step, before the inserts, is a compare-and-set: with
//! several server instances on one PostgreSQL, an instance that lost the race
//! rolls back, so each event gets one message per address. Messages are then
//! claimed one at a time with a conditional UPDATE that pushes their due time
//! past a lease, so two instances never send the same attempt.

use sqlx::FromRow;

use super::webhooks::AttemptOutcome;
use super::{LIGHT, Store, StoreError, UNBOUNDED, change_tx, on_pool, write_tx};
use crate::audit::Kind;
use crate::id::Id;

/// The events that may become e-mails: every kind webhooks notify (to the
/// staff addresses, and some to the request's contact address), and
/// `request.created`, whose request link goes to the contact address when the
/// PM chose so. The query binds them into its `IN ($4, ...)` list.
pub const EMAILED_KINDS: &[Kind] = &[
    Kind::RequestCreated,
    Kind::RequestAnswered,
    Kind::RequestRetrieved,
    Kind::RequestExpired,
    Kind::RequestVerifyFailed,
    Kind::RequestRotationCreated,
    Kind::RequestCredentialFailing,
    Kind::RequestCredentialRecovered,
];

// The enqueue query has one placeholder per kind.
const _: () = assert!(EMAILED_KINDS.len() == 8);

/// An event that may become e-mails, with what the messages say of its
/// request (all `None` when the request row is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailEvent {
    pub seq: i64,
    /// When it happened (Unix seconds).
    pub at: i64,
    pub kind: Kind,
    pub request_id: Option<String>,
    pub customer: Option<String>,
    pub template: Option<String>,
    /// The request's contact address, if staff gave one.
    pub contact_email: Option<String>,
    /// The PM chose to have the request's link e-mailed to the contact.
    pub email_link: bool,
    /// Until then the request can be answered (Unix seconds).
    pub expires_at: Option<i64>,
    /// For a rotation: the day (YYYY-MM-DD) the replaced credential's secret
    /// expires, as the register holds it.
    pub replaced_expires_on: Option<String>,
    /// The event's detail JSON (a failing credential's `cause`, ...).
    pub detail: String,
}

/// A [`MailEvent`] as read, before its kind is parsed.
#[derive(FromRow)]
struct MailRow {
    seq: i64,
    at: i64,
    kind: String,
    request_id: Option<String>,
    customer: Option<String>,
    template: Option<String>,
    contact_email: Option<String>,
    email_link: Option<bool>,
    expires_at: Option<i64>,
    replaced_expires_on: Option<String>,
    detail: String,
}

impl MailRow {
    fn parse(self) -> Result<MailEvent, StoreError> {
        let kind = Kind::parse(&self.kind).ok_or_else(|| StoreError::UnknownValue {
            column: "events.kind",
            value: self.kind.clone(),
        })?;
        Ok(MailEvent {
            seq: self.seq,
            at: self.at,
            kind,
            request_id: self.request_id,
            customer: self.customer,
            template: self.template,
            contact_email: self.contact_email,
            email_link: self.email_link.unwrap_or(false),
            expires_at: self.expires_at,
            replaced_expires_on: self.replaced_expires_on,
            detail: self.detail,
        })
    }
}

/// One message to store for sending: its address and its rendered parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    /// The recipient's address (`local@domain`).
    pub to: String,
    pub subject: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
}

/// What one enqueue step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailEnqueued {
    /// Events passed over because they were older than `min_at`.
    pub skipped: u64,
    /// Messages stored for sending.
    pub messages: u64,
    /// The page was full: call again for the rest.
    pub more: bool,
    /// Another instance moved the cursor first; this step changed nothing.
    pub lost_race: bool,
}

/// A claimed attempt: the message to send, and the attempt's number (1 for
/// the first) that recording its outcome must name.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MailDelivery {
    pub id: String,
    pub event_seq: i64,
    pub recipient: String,
    pub event: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: i64,
}

/// A message row as stored, for inspection.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MailRecord {
    pub id: String,
    pub event_seq: i64,
    pub recipient: String,
    pub event: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Turns up to `page` events of [`EMAILED_KINDS`] after the cursor into
    /// the messages `make` renders for each (none, for an event nobody is to
    /// be told of), and moves the cursor past them. Events with
    /// `at < min_at` are passed over, so that turning e-mail on (or back on)
    /// does not mail old history.
    pub async fn enqueue_emails(
        &self,
        now: i64,
        min_at: i64,
        page: i64,
        make: impl Fn(&MailEvent) -> Vec<NewMail>,
    ) -> Result<MailEnqueued, StoreError> {
        // Cheap check first, outside a transaction: an idle trail costs no write.
        let (cursor, head): (i64, i64) = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT c.seq, h.seq FROM email_cursor c, audit_head h WHERE c.id = 1 AND h.id = 1",
            )
            .fetch_one(pool)
            .await?
        );
        if cursor >= head {
            return Ok(MailEnqueued::default());
        }
        // The events are read outside the write: every event up to `head`
        // has committed (appends hold the head until they commit), and the
        // compare-and-set below keeps what another instance did meanwhile.
        let events = on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, MailRow>(
                "SELECT e.seq, e.at, e.kind, e.request_id, r.customer, r.template, r.contact_email, \
                 r.email_link, r.expires_at, o.secret_expires_on AS replaced_expires_on, e.detail \
                 FROM events e LEFT JOIN requests r ON r.id = e.request_id \
                 LEFT JOIN requests o ON o.id = r.rotates \
                 WHERE e.seq > $1 AND e.seq <= $2 \
                 AND e.kind IN ($4, $5, $6, $7, $8, $9, $10, $11) ORDER BY e.seq LIMIT $3",
            )
            .bind(cursor)
            .bind(head)
            .bind(page);
            for kind in EMAILED_KINDS {
                query = query.bind(kind.as_str());
            }
            query.fetch_all(pool).await?
        })
        .into_iter()
        .map(MailRow::parse)
        .collect::<Result<Vec<_>, _>>()?;
        let full = events.len() as i64 >= page;
        let new = match events.last() {
            Some(last) if full => last.seq,
            _ => head,
        };
        let mut done = MailEnqueued {
            more: full,
            ..MailEnqueued::default()
        };
        // (event seq, kind, message) for each message to store.
        let mut mails: Vec<(i64, &'static str, NewMail)> = Vec::new();
        for event in &events {
            if event.at < min_at {
                done.skipped += 1;
                continue;
            }
            let mut seen = std::collections::HashSet::new();
            for mail in make(event) {
                // One message per address and event, whatever the
                // configuration lists twice.
                if seen.insert(mail.to.to_ascii_lowercase()) {
                    mails.push((event.seq, event.kind.as_str(), mail));
                }
            }
        }
        let mails_bytes: u64 = mails
            .iter()
            .map(|(_, _, m)| (m.subject.len() + m.text.len() + m.html.len()) as u64)
            .sum();
        let stored = change_tx!(self, weight = LIGHT + mails_bytes, conn => {
            // Compare-and-set before any insert: a worker that lost the
            // race stops here, and no event is mailed twice.
            let moved = sqlx::query("UPDATE email_cursor SET seq = $1 WHERE id = 1 AND seq = $2")
                .bind(new)
                .bind(cursor)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if moved == 0 {
                return Ok((None, false));
            }
            for (seq, kind, mail) in &mails {
                sqlx::query(
                    "INSERT INTO email_deliveries \
                     (id, event_seq, recipient, event, subject, text_body, html_body, \
                     attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
                )
                .bind(Id::random().as_str())
                .bind(seq)
                .bind(&mail.to)
                .bind(kind)
                .bind(&mail.subject)
                .bind(&mail.text)
                .bind(&mail.html)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok((Some(mails.len() as u64), true))
        })?;
        Ok(match stored {
            Some(messages) => MailEnqueued { messages, ..done },
            None => MailEnqueued {
                lost_race: true,
                ..MailEnqueued::default()
            },
        })
    }

    /// The cursor: the last event seq already turned into e-mails.
    pub async fn email_cursor(&self) -> Result<i64, StoreError> {
        let seq = on_pool!(self, pool =>
            sqlx::query_scalar("SELECT seq FROM email_cursor WHERE id = 1")
                .fetch_one(pool)
                .await?
        );
        Ok(seq)
    }

    /// Claims the message that has been due longest, if any: counts the
    /// attempt and moves its due time to `lease_until`, so that no other
    /// worker takes it while this one sends. If the sender dies, the
    /// message is due again once the lease ends.
    pub async fn claim_email_delivery(
        &self,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<MailDelivery>, StoreError> {
        // A few candidates, since another worker may take the first ones
        // between this read and the claim.
        const DUE: &str = "SELECT id FROM email_deliveries \
             WHERE next_attempt_at <= $1 AND delivered_at IS NULL AND failed_at IS NULL \
             ORDER BY next_attempt_at, event_seq, id LIMIT 8";
        const CLAIM: &str = "UPDATE email_deliveries \
             SET next_attempt_at = $1, attempts = attempts + 1 \
             WHERE id = $2 AND next_attempt_at <= $3 AND delivered_at IS NULL AND failed_at IS NULL \
             RETURNING id, event_seq, recipient, event, subject, text_body, html_body, attempts";
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
                claimed = sqlx::query_as::<_, MailDelivery>(CLAIM)
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

    /// Records how attempt number `delivery.attempts` ended (the outcome's
    /// status, an HTTP notion, is not kept). Does nothing if that attempt is
    /// no longer the message's latest (its lease ran out and another worker
    /// took it over).
    pub(crate) async fn record_email_attempt(
        &self,
        delivery: &MailDelivery,
        now: i64,
        outcome: &AttemptOutcome<'_>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE email_deliveries \
             SET delivered_at = $1, failed_at = $2, next_attempt_at = $3, last_error = $4 \
             WHERE id = $5 AND attempts = $6 AND delivered_at IS NULL AND failed_at IS NULL";
        let (delivered_at, failed_at, next, error) = match *outcome {
            AttemptOutcome::Delivered { .. } => (Some(now), None, now, None),
            AttemptOutcome::Retry {
                error,
                next_attempt_at,
                ..
            } => (None, None, next_attempt_at, Some(error)),
            AttemptOutcome::GiveUp { error, .. } => (None, Some(now), now, Some(error)),
        };
        let error = error.map(str::to_owned);
        let (id, attempts) = (delivery.id.clone(), delivery.attempts);
        write_tx!(self, conn => {
            sqlx::query(SQL)
                .bind(delivered_at)
                .bind(failed_at)
                .bind(next)
                .bind(&error)
                .bind(&id)
                .bind(attempts)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Deletes delivered and given-up messages finished before `before`;
    /// pending ones stay whatever their age.
    pub async fn purge_email_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM email_deliveries WHERE delivered_at < $1 OR failed_at < $1";
        // However many finished since the last pass: of unknown size.
        write_tx!(self, weight = UNBOUNDED, conn => {
            Ok(sqlx::query(SQL).bind(before).execute(&mut *conn).await?.rows_affected())
        })
    }

    /// Messages, newest event first: for inspection and tests.
    pub async fn email_deliveries(&self, limit: i64) -> Result<Vec<MailRecord>, StoreError> {
        const SQL: &str = "SELECT id, event_seq, recipient, event, subject, text_body, html_body, \
             attempts, next_attempt_at, delivered_at, failed_at, last_error, created_at \
             FROM email_deliveries ORDER BY event_seq DESC, recipient LIMIT $1";
        let rows = on_pool!(self, pool =>
            sqlx::query_as::<_, MailRecord>(SQL).bind(limit).fetch_all(pool).await?
        );
        Ok(rows)
    }
}
