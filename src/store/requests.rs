//! Requests: a SOC asks a customer for credentials; the customer answers once
//! with two ciphertexts (the PM's copy and the sealed copy); the PM retrieves
//! theirs once; the customer may withdraw until then. Every change appends its
//! audit event in the same transaction, so the trail and the state agree.
//!
//! A rotation request ([`Store::create_rotation`]) is a request the server
//! makes for a credential whose secret expires soon; it is encrypted to the
//! same PM recipient, and the PM retrieves its answer through the retrieval
//! link of the request it rotates ([`Store::retrieve`] says in which order).
//!
//! Each change starts with a write (an UPDATE or DELETE that decides
//! whether the change applies), never with a read: on PostgreSQL that
//! takes the row's lock first, in the lock order (see [`super`]).

use sqlx::FromRow;

use super::events::append_event;
use super::transfers::grant_reader;
use super::{
    LIGHT, NewReader, ReaderGrant, Store, StoreError, UNBOUNDED, change_tx, on_pool, write_tx,
};
use crate::audit::{Actor, Kind, NewEvent};
use crate::id::Id;
use crate::register::{Entry, Facts, Reporter};
use crate::request::{AnswerRefused, CopyKind, RequestState, Steps};

/// Everything the store needs to open a request.
pub struct NewRequest<'a> {
    pub id: &'a Id,
    pub retrieval_id: &'a Id,
    pub customer: &'a str,
    pub template: &'a str,
    pub note: &'a str,
    pub recipient: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub reissued_from: Option<&'a str>,
    /// The customer admin's e-mail address, checked by
    /// [`crate::email::parse_contact`]; `None`: not given.
    pub contact_email: Option<&'a str>,
    /// The PM chose to have the request's link e-mailed to `contact_email`.
    pub email_link: bool,
}

/// A request as staff see it: metadata and the time of every step.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Request {
    pub(crate) id: String,
    pub customer: String,
    pub(crate) template: String,
    pub(crate) note: String,
    pub recipient: String,
    pub created_by: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub reissued_from: Option<String>,
    /// The request whose credential this one replaces, when the server made
    /// it as a rotation before that credential's secret expires.
    pub rotates: Option<String>,
    /// The customer admin's e-mail address, if staff gave one.
    pub contact_email: Option<String>,
    /// Whether the PM chose to have the request's link e-mailed to
    /// `contact_email` (NULL, for requests older than the choice, is no).
    pub email_link: Option<bool>,
    pub(crate) opened_at: Option<i64>,
    pub(crate) answered_at: Option<i64>,
    pub(crate) copies_expire_at: Option<i64>,
    pub(crate) retrieved_at: Option<i64>,
    pub(crate) withdrawn_at: Option<i64>,
    pub(crate) cancelled_at: Option<i64>,
    pub(crate) expired_at: Option<i64>,
    pub imported_at: Option<i64>,
    pub(crate) verified_at: Option<i64>,
    pub verify_ok: Option<bool>,
    pub verify_detail: Option<String>,
}

/// `WITH RECURSIVE reached (id, depth) AS (...)`: the request whose
/// retrieval id's digest is `$1` (depth 0) and every rotation in its chain
/// (its rotation 1, and so on): what that link can hand out.
/// `requests.rotates` is unique and always names an older row, so the chain
/// is a line and ends.
macro_rules! reached_by_link {
    () => {
        "WITH RECURSIVE reached (id, depth) AS (SELECT r.id, 0 FROM requests r WHERE r.retrieval_hash = $1 \
         UNION ALL SELECT n.id, reached.depth + 1 FROM requests n JOIN reached ON n.rotates = reached.id)"
    };
}

/// `SELECT <every Request column> FROM requests` followed by `$tail`.
macro_rules! select_requests {
    ($tail:literal) => {
        concat!(
            "SELECT id, customer, template, note, recipient, created_by, created_at, expires_at, \
             reissued_from, rotates, contact_email, email_link, opened_at, answered_at, copies_expire_at, retrieved_at, withdrawn_at, \
             cancelled_at, expired_at, imported_at, verified_at, verify_ok, verify_detail FROM requests",
            $tail
        )
    };
}

impl Request {
    /// Its id, in the customer's link `/r/{id}`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The integration template's id.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The SOC's note to the customer.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Until then the request can be answered (Unix seconds).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The step times the request's rules ([`crate::request`]) decide on.
    pub fn steps(&self) -> Steps {
        Steps {
            created_at: self.created_at,
            expires_at: self.expires_at,
            opened_at: self.opened_at,
            answered_at: self.answered_at,
            copies_expire_at: self.copies_expire_at,
            retrieved_at: self.retrieved_at,
            imported_at: self.imported_at,
            verified_at: self.verified_at,
            verify_ok: self.verify_ok,
            withdrawn_at: self.withdrawn_at,
            cancelled_at: self.cancelled_at,
            expired_at: self.expired_at,
        }
    }

    /// Where it stands at `now`; see [`Steps::state`].
    pub fn state(&self, now: i64) -> RequestState {
        self.steps().state(now)
    }
}

/// The answer's two copies and the customer's receipt token.
pub struct Answer<'a> {
    pub pm_copy: &'a [u8],
    pub sealed_copy: Option<&'a [u8]>,
    /// [`Id::digest`] of the customer's status token.
    pub status_hash: Vec<u8>,
    pub copies_expire_at: i64,
    /// A files request's answer: the transfer it names, which must be a
    /// complete, unexpired transfer made for this request; it then lives
    /// as long as the copies (and their readers) need it.
    pub transfer_id: Option<&'a str>,
}

/// The PM's copy as retrieval hands it out, with what the page shows.
#[derive(Debug)]
pub struct Retrieval {
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) customer: String,
    pub(crate) template: String,
    /// A files request's transfer, with the PM's download token's grace.
    pub transfer: Option<ReaderGrant>,
}

/// What withdrawing found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    Done,
    Unknown,
    /// The PM has retrieved it (or it was already withdrawn or cancelled).
    TooLate,
}

/// What the PM's report of a retrieved credential's facts found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noted {
    /// Recorded.
    Done,
    /// The register already holds this request's facts (the collector's or
    /// an earlier report): nothing changed.
    AlreadyKnown,
    /// No such retrieval link, or its answer has not been retrieved.
    NotRetrieved,
}

/// One row of the register's query, as stored.
#[derive(FromRow)]
struct EntryRow {
    id: String,
    customer: String,
    template: String,
    client_id: String,
    secret_expires_on: Option<String>,
    credential_from: String,
    imported_to: Option<String>,
    answered_at: i64,
    verified_at: Option<i64>,
    verify_ok: Option<bool>,
    verify_detail: Option<String>,
}

/// A rotation request the server made ([`Store::create_rotation`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The new request's id (its customer link is `/r/{id}`).
    pub id: String,
    /// The request whose credential it replaces.
    pub rotates: String,
}

/// Rows removed or marked by one purge pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestsPurged {
    pub expired: u64,
    pub copies: u64,
}

impl Store {
    pub async fn create_request(
        &self,
        r: &NewRequest<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        // Owned: on SQLite the change runs in the writer task.
        let (id, retrieval_hash) = (r.id.as_str().to_owned(), r.retrieval_id.digest());
        let (customer, template, note) = (
            r.customer.to_owned(),
            r.template.to_owned(),
            r.note.to_owned(),
        );
        let (recipient, created_by) = (r.recipient.to_owned(), r.created_by.to_owned());
        let (created_at, expires_at, email_link) = (r.created_at, r.expires_at, r.email_link);
        let reissued_from = r.reissued_from.map(str::to_owned);
        let contact_email = r.contact_email.map(str::to_owned);
        let event = event.clone();
        write_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO requests (id, retrieval_hash, customer, template, note, recipient, created_by, \
                 created_at, expires_at, reissued_from, contact_email, email_link) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&id)
            .bind(&retrieval_hash)
            .bind(&customer)
            .bind(&template)
            .bind(&note)
            .bind(&recipient)
            .bind(&created_by)
            .bind(created_at)
            .bind(expires_at)
            .bind(&reissued_from)
            .bind(&contact_email)
            .bind(email_link)
            .execute(&mut *conn)
            .await?;
            append_event!(conn, &event, created_at).await?;
            Ok(())
        })
    }

    /// Makes the rotation request for the credential that came with request
    /// `rotates`: same customer, template, note and PM recipient (the PM
    /// already holds that key in the earlier retrieval link), created by
    /// `system`, open until `expires_at`, to the same contact e-mail
    /// address with the same choice of e-mailing its link, with a `request.rotation_created`
    /// event, all in one transaction. `None` when that credential already
    /// has its rotation (the unique `requests.rotates` decides, so two
    /// server instances cannot both make one) or the request is unknown.
    pub async fn create_rotation(
        &self,
        rotates: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Option<Rotation>, StoreError> {
        let rotates = rotates.to_owned();
        change_tx!(self, conn => {
            let id = Id::random();
            // A retrieval id nobody is told: the PM retrieves a rotation's
            // answer through the link of the request it rotates.
            let retrieval_id = Id::random();
            let row: Option<(String, String)> = sqlx::query_as(
                "INSERT INTO requests (id, retrieval_hash, customer, template, note, recipient, \
                 created_by, created_at, expires_at, rotates, contact_email, email_link) \
                 SELECT $1, $2, customer, template, note, recipient, 'system', $3, $4, id, \
                 contact_email, email_link \
                 FROM requests WHERE id = $5 \
                 ON CONFLICT (rotates) DO NOTHING RETURNING customer, template",
            )
            .bind(id.as_str())
            .bind(retrieval_id.digest())
            .bind(now)
            .bind(expires_at)
            .bind(&rotates)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((customer, template)) = row else {
                return Ok((None, false));
            };
            let event = NewEvent::new(Kind::RequestRotationCreated, Actor::System)
                .request(id.as_str())
                .detail(serde_json::json!({
                    "customer": customer,
                    "template": template,
                    "expires_at": expires_at,
                    "rotates": rotates,
                }));
            append_event!(conn, &event, now).await?;
            Ok((Some(Rotation { id: id.to_string(), rotates: rotates.clone() }), true))
        })
    }

    /// The client ID the credential register holds for request `id`.
    pub async fn credential_client_id(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT client_id FROM requests WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        );
        Ok(row.and_then(|(c,)| c))
    }

    /// The ids of the requests whose credential has its rotation request.
    pub async fn rotated_request_ids(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows: Vec<(String,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT rotates FROM requests WHERE rotates IS NOT NULL")
                .fetch_all(pool)
                .await?
        );
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The rotation request made for the credential of request `id`, if any.
    pub async fn rotation_of(&self, id: &str) -> Result<Option<Request>, StoreError> {
        const SQL: &str = select_requests!(" WHERE rotates = $1");
        let r = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(id).fetch_optional(pool).await?
        );
        Ok(r)
    }

    pub async fn request(&self, id: &str) -> Result<Option<Request>, StoreError> {
        const SQL: &str = select_requests!(" WHERE id = $1");
        let r = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(id).fetch_optional(pool).await?
        );
        Ok(r)
    }

    pub(crate) async fn request_by_retrieval(
        &self,
        retrieval_id: &Id,
    ) -> Result<Option<Request>, StoreError> {
        const SQL: &str = select_requests!(" WHERE retrieval_hash = $1");
        let r = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(retrieval_id.digest()).fetch_optional(pool).await?
        );
        Ok(r)
    }

    /// The request the retrieval link `retrieval_id` stands for at `now`,
    /// and whether its PM copy is held: the link's own while its copy is
    /// there; else the newest answered rotation in its chain whose copy is
    /// there (what a press hands out, see [`Store::retrieve`]); else the
    /// newest rotation still waiting for its answer; else the link's own.
    pub(crate) async fn retrieval_target(
        &self,
        retrieval_id: &Id,
        now: i64,
    ) -> Result<Option<(Request, bool)>, StoreError> {
        const SQL: &str = concat!(
            reached_by_link!(),
            " ",
            select_requests!(
                " WHERE id IN (SELECT id FROM reached) AND retrieval_hash <> $1 \
                 ORDER BY answered_at DESC, created_at DESC, id DESC"
            )
        );
        let Some(own) = self.request_by_retrieval(retrieval_id).await? else {
            return Ok(None);
        };
        if self.has_copy(&own.id, CopyKind::Pm, now).await? {
            return Ok(Some((own, true)));
        }
        let chain: Vec<Request> = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(retrieval_id.digest()).fetch_all(pool).await?
        );
        for r in &chain {
            if r.answered_at.is_some()
                && r.retrieved_at.is_none()
                && self.has_copy(&r.id, CopyKind::Pm, now).await?
            {
                return Ok(Some((r.clone(), true)));
            }
        }
        let waiting = chain
            .into_iter()
            .filter(|r| r.state(now) == RequestState::Open)
            .max_by_key(|r| r.created_at);
        Ok(Some((waiting.unwrap_or(own), false)))
    }

    pub(crate) async fn request_by_status(
        &self,
        status: &Id,
    ) -> Result<Option<Request>, StoreError> {
        const SQL: &str = select_requests!(" WHERE status_hash = $1");
        let r = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(status.digest()).fetch_optional(pool).await?
        );
        Ok(r)
    }

    /// The newest `limit` requests, newest first.
    pub async fn list_requests(&self, limit: i64) -> Result<Vec<Request>, StoreError> {
        const SQL: &str = select_requests!(" ORDER BY created_at DESC, id LIMIT $1");
        let r = on_pool!(self, pool =>
            sqlx::query_as::<_, Request>(SQL).bind(limit).fetch_all(pool).await?
        );
        Ok(r)
    }

    /// Whether a copy of `kind` is still held.
    pub async fn has_copy(
        &self,
        request_id: &str,
        kind: CopyKind,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM request_copies WHERE request_id = $1 AND kind = $2 AND expires_at > $3";
        let (n,): (i64,) = on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(request_id).bind(kind.as_str()).bind(now).fetch_one(pool).await?
        );
        Ok(n > 0)
    }

    /// Records the first time the customer's browser opened the request
    /// (once; later opens change nothing). True if this was the first.
    pub async fn mark_opened(
        &self,
        id: &str,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (id, event) = (id.to_owned(), event.clone());
        change_tx!(self, conn => {
            let n = sqlx::query(
                "UPDATE requests SET opened_at = $2 WHERE id = $1 AND opened_at IS NULL \
                 AND answered_at IS NULL AND cancelled_at IS NULL AND expires_at > $2",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n == 1 {
                append_event!(conn, &event, now).await?;
            }
            Ok((n == 1, n == 1))
        })
    }

    /// Takes the customer's answer, once, while the request is open (the
    /// UPDATE's condition is [`RequestState::Open`] in SQL). A files
    /// request's answer binds its transfer in the same transaction:
    /// [`AnswerRefused::TransferNotReady`], and nothing kept, when it is not
    /// a complete, unexpired transfer made for this request.
    pub async fn answer_request(
        &self,
        id: &str,
        now: i64,
        answer: &Answer<'_>,
        event: &NewEvent,
    ) -> Result<Result<(), AnswerRefused>, StoreError> {
        let (owned_id, event) = (id.to_owned(), event.clone());
        let (status_hash, copies_expire_at) = (answer.status_hash.clone(), answer.copies_expire_at);
        let transfer_id = answer.transfer_id.map(str::to_owned);
        let copies: Vec<(CopyKind, Vec<u8>)> = [
            (CopyKind::Pm, Some(answer.pm_copy)),
            (CopyKind::Sealed, answer.sealed_copy),
        ]
        .into_iter()
        .filter_map(|(kind, copy)| Some((kind, copy?.to_vec())))
        .collect();
        // Some(outcome) when the answer was decided here; None: not taken,
        // and the request says why.
        let weight = LIGHT + copies.iter().map(|(_, c)| c.len() as u64).sum::<u64>();
        let decided: Option<Result<(), AnswerRefused>> = change_tx!(self, weight = weight, conn => {
            let n = sqlx::query(
                "UPDATE requests SET answered_at = $2, status_hash = $3, copies_expire_at = $4, \
                 transfer_id = $5 WHERE id = $1 AND answered_at IS NULL AND cancelled_at IS NULL \
                 AND expired_at IS NULL AND expires_at > $2",
            )
            .bind(&owned_id)
            .bind(now)
            .bind(&status_hash)
            .bind(copies_expire_at)
            .bind(&transfer_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok((None, false));
            }
            for (kind, copy) in &copies {
                sqlx::query(
                    "INSERT INTO request_copies (request_id, kind, expires_at, ciphertext) VALUES ($1, $2, $3, $4)",
                )
                .bind(&owned_id)
                .bind(kind.as_str())
                .bind(copies_expire_at)
                .bind(copy)
                .execute(&mut *conn)
                .await?;
            }
            if let Some(transfer_id) = &transfer_id {
                let bound = sqlx::query(
                    "UPDATE transfers SET expires_at = $3 WHERE id = $1 AND request_id = $2 \
                     AND completed_at IS NOT NULL AND expires_at > $4",
                )
                .bind(transfer_id)
                .bind(&owned_id)
                .bind(copies_expire_at)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if bound != 1 {
                    return Ok((Some(Err(AnswerRefused::TransferNotReady)), false));
                }
            }
            append_event!(conn, &event, now).await?;
            Ok((Some(Ok(())), true))
        })?;
        if let Some(outcome) = decided {
            return Ok(outcome);
        }
        // Not taken: say why, from a fresh read.
        let refusal = match self.request(id).await? {
            None => AnswerRefused::Unknown,
            Some(r) => r.steps().answer_refused(),
        };
        Ok(Err(refusal))
    }

    /// Hands a PM's copy out exactly once, like a link's reveal: the step
    /// time and one `DELETE ... RETURNING`, committed before returning. The
    /// request row is locked before its copy, as everywhere. The sealed copy
    /// is not touched.
    ///
    /// Which copy: the link's own request's, while it is there. Once that
    /// is gone (retrieved, withdrawn, cancelled or expired), the PM copy of
    /// the newest answered rotation in the request's chain (its rotation,
    /// that one's rotation, and so on) whose copy is still there: the PM
    /// never saw a rotation's own retrieval id, and a rotation is encrypted
    /// to the same recipient, whose key is in this link. Each copy goes
    /// once, through whichever press takes it; the `request.retrieved`
    /// event is the handed-out request's.
    ///
    /// A files request's copy comes with the PM's download token for the
    /// transfer its answer names: `reader` is kept, in the same
    /// transaction, as the PM's reader of it.
    pub async fn retrieve(
        &self,
        retrieval_id: &Id,
        now: i64,
        event: NewEvent,
        reader: &NewReader,
    ) -> Result<Option<Retrieval>, StoreError> {
        let digest = retrieval_id.digest();
        let reader = reader.clone();
        change_tx!(self, conn => {
            // What the PM's page shows comes from the same transaction:
            // once the copy is gone, nothing may fail before it is handed out.
            let found: Option<(String, String, String)> = sqlx::query_as(
                "UPDATE requests SET retrieved_at = $2 WHERE retrieval_hash = $1 \
                 AND retrieved_at IS NULL AND withdrawn_at IS NULL AND cancelled_at IS NULL \
                 AND EXISTS (SELECT 1 FROM request_copies c WHERE c.request_id = requests.id \
                 AND c.kind = 'pm' AND c.expires_at > $2) RETURNING id, customer, template",
            )
            .bind(&digest)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            // The link's own copy is gone: the newest answered rotation
            // in its chain whose PM copy is still there.
            let found = match found {
                Some(found) => Some(found),
                None => sqlx::query_as(concat!(
                    "UPDATE requests SET retrieved_at = $2 WHERE retrieved_at IS NULL AND id = (",
                    reached_by_link!(),
                    " SELECT q.id FROM requests q JOIN reached ON reached.id = q.id \
                     WHERE q.answered_at IS NOT NULL AND q.retrieved_at IS NULL \
                     AND q.withdrawn_at IS NULL AND q.cancelled_at IS NULL \
                     AND EXISTS (SELECT 1 FROM request_copies c WHERE c.request_id = q.id \
                     AND c.kind = 'pm' AND c.expires_at > $2) \
                     ORDER BY q.answered_at DESC, q.id DESC LIMIT 1) \
                     RETURNING id, customer, template",
                ))
                .bind(&digest)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?,
            };
            let Some((id, customer, template)) = found else {
                return Ok((None, false));
            };
            // Gone since this statement's snapshot (PostgreSQL): someone
            // else won, and the step time above is undone.
            let copy: Option<(Vec<u8>,)> = sqlx::query_as(
                "DELETE FROM request_copies WHERE request_id = $1 AND kind = 'pm' \
                 AND expires_at > $2 RETURNING ciphertext",
            )
            .bind(&id)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((ciphertext,)) = copy else {
                return Ok((None, false));
            };
            let transfer = grant_reader!(conn, &id, "pm", &reader).await?;
            let event = event.clone().request(&id);
            append_event!(conn, &event, now).await?;
            Ok((Some(Retrieval { ciphertext, customer, template, transfer }), true))
        })
    }

    /// The PM's browser reports the facts of the credential it decrypted
    /// from the copy `retrieval_id` handed out. Only once, and only after
    /// the retrieval; the collector's report (with its acknowledgement)
    /// comes first when both exist, since it names where the credential went.
    pub async fn note_retrieved_credential(
        &self,
        retrieval_id: &Id,
        facts: &Facts,
        now: i64,
        event: NewEvent,
    ) -> Result<Noted, StoreError> {
        let digest = retrieval_id.digest();
        let (client_id, expires) = (facts.client_id.clone(), facts.expires_text());
        let digest_read = digest.clone();
        let noted = change_tx!(self, conn => {
            // The copy this link handed out last: its own request's or
            // a rotation's (see `retrieve`); within one second, the
            // newer one in the chain.
            let id: Option<(String,)> = sqlx::query_as(concat!(
                "UPDATE requests SET client_id = $2, secret_expires_on = $3, credential_from = $4 \
                 WHERE credential_from IS NULL AND id = (",
                reached_by_link!(),
                " SELECT q.id FROM requests q JOIN reached ON reached.id = q.id \
                 WHERE q.retrieved_at IS NOT NULL \
                 ORDER BY q.retrieved_at DESC, reached.depth DESC LIMIT 1) RETURNING id",
            ))
            .bind(&digest)
            .bind(&client_id)
            .bind(expires.as_deref())
            .bind(Reporter::Pm.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((id,)) = &id {
                let event = event.clone().request(id);
                append_event!(conn, &event, now).await?;
            }
            Ok((id.is_some(), id.is_some()))
        })?;
        if noted {
            return Ok(Noted::Done);
        }
        let (retrieved,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(concat!(
                reached_by_link!(),
                " SELECT COUNT(*) FROM requests q JOIN reached ON reached.id = q.id \
                 WHERE q.retrieved_at IS NOT NULL",
            ))
            .bind(&digest_read)
            .fetch_one(pool)
            .await?
        });
        Ok(if retrieved > 0 {
            Noted::AlreadyKnown
        } else {
            Noted::NotRetrieved
        })
    }

    /// Every request whose credential's facts are known, newest answer
    /// first: the register's raw material ([`crate::register::current`]
    /// keeps each customer's current one).
    ///
    /// # Errors
    /// A database error, or a stored value this build cannot read.
    pub async fn credential_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let rows: Vec<EntryRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, customer, template, client_id, secret_expires_on, credential_from, \
                 imported_to, answered_at, verified_at, verify_ok, verify_detail FROM requests \
                 WHERE credential_from IS NOT NULL AND client_id IS NOT NULL \
                 AND answered_at IS NOT NULL ORDER BY answered_at DESC",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                let unknown = |column: &'static str, value: &str| StoreError::UnknownValue {
                    column,
                    value: value.to_owned(),
                };
                let facts = Facts::parse(&r.client_id, r.secret_expires_on.as_deref())
                    .map_err(|_| unknown("requests.client_id", &r.client_id))?;
                let reporter = Reporter::parse(&r.credential_from)
                    .ok_or_else(|| unknown("requests.credential_from", &r.credential_from))?;
                Ok(Entry {
                    request_id: r.id,
                    customer: r.customer,
                    template: r.template,
                    facts,
                    reporter,
                    imported_to: r.imported_to,
                    answered_at: r.answered_at,
                    verified_at: r.verified_at,
                    verify_ok: r.verify_ok,
                    verify_detail: r.verify_detail,
                })
            })
            .collect()
    }

    /// The customer takes their answer back: both copies are deleted. Only
    /// until the PM has retrieved it and the collector has imported it (the
    /// UPDATE's condition is [`Steps::withdrawable`] in SQL).
    pub async fn withdraw(
        &self,
        status: &Id,
        now: i64,
        event: NewEvent,
    ) -> Result<Withdrawal, StoreError> {
        let status_hash = status.digest();
        let done = change_tx!(self, conn => {
            let id: Option<(String,)> = sqlx::query_as(
                "UPDATE requests SET withdrawn_at = $2 WHERE status_hash = $1 AND retrieved_at IS NULL \
                 AND imported_at IS NULL AND withdrawn_at IS NULL AND cancelled_at IS NULL \
                 AND copies_expire_at > $2 RETURNING id",
            )
            .bind(&status_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((id,)) = &id {
                sqlx::query("DELETE FROM request_copies WHERE request_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                let event = event.clone().request(id);
                append_event!(conn, &event, now).await?;
            }
            Ok((id.is_some(), id.is_some()))
        })?;
        if done {
            return Ok(Withdrawal::Done);
        }
        Ok(match self.request_by_status(status).await? {
            None => Withdrawal::Unknown,
            Some(_) => Withdrawal::TooLate,
        })
    }

    /// Staff call a request off: it can no longer be answered, and any copies
    /// not yet taken are deleted. False if it was already cancelled or withdrawn
    /// (the UPDATE's condition is [`Steps::cancellable`] in SQL).
    pub async fn cancel_request(
        &self,
        id: &str,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (id, event) = (id.to_owned(), event.clone());
        change_tx!(self, conn => {
            let n = sqlx::query(
                "UPDATE requests SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL AND withdrawn_at IS NULL",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM request_copies WHERE request_id = $1")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                append_event!(conn, &event, now).await?;
            }
            Ok((n == 1, n == 1))
        })
    }

    /// Marks requests that expired unanswered (one `request.expired` event
    /// each) and deletes copies past their time (one `request.purged` event per
    /// request whose copies went).
    pub async fn purge_requests(&self, now: i64) -> Result<RequestsPurged, StoreError> {
        // However many copies expired since the last pass: of unknown size.
        write_tx!(self, weight = UNBOUNDED, conn => {
            let expired: Vec<(String, String, String)> = sqlx::query_as(
                "UPDATE requests SET expired_at = $1 WHERE expires_at <= $1 AND answered_at IS NULL \
                 AND cancelled_at IS NULL AND expired_at IS NULL RETURNING id, customer, template",
            )
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
            for (id, customer, template) in &expired {
                let event = NewEvent::new(Kind::RequestExpired, Actor::System)
                    .request(id)
                    .detail(serde_json::json!({ "customer": customer, "template": template }));
                append_event!(conn, &event, now).await?;
            }
            let copies: Vec<(String, String)> = sqlx::query_as(
                "DELETE FROM request_copies WHERE expires_at <= $1 RETURNING request_id, kind",
            )
            .bind(now)
            .fetch_all(&mut *conn)
            .await?;
            let removed = copies.len() as u64;
            let mut copies = copies
                .into_iter()
                .map(|(id, kind)| Ok((id, parse_copy_kind(&kind)?)))
                .collect::<Result<Vec<(String, CopyKind)>, StoreError>>()?;
            copies.sort();
            let mut ids: Vec<&str> = copies.iter().map(|(id, _)| id.as_str()).collect();
            ids.dedup();
            for id in ids {
                let kinds: Vec<&str> = copies.iter().filter(|(i, _)| i == id).map(|(_, k)| k.as_str()).collect();
                let event = NewEvent::new(Kind::RequestPurged, Actor::System)
                    .request(id)
                    .detail(serde_json::json!({ "copies": kinds }));
                append_event!(conn, &event, now).await?;
            }
            Ok(RequestsPurged { expired: expired.len() as u64, copies: removed })
        })
    }
}

/// A copy's kind as stored, read back.
fn parse_copy_kind(text: &str) -> Result<CopyKind, StoreError> {
    CopyKind::parse(text).ok_or_else(|| StoreError::UnknownValue {
        column: "request_copies.kind",
        value: text.to_owned(),
    })
}
