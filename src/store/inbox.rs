//! The collector's inbox: answered requests whose sealed copy awaits import.
//! A copy is leased (one holder at a time, for a limited time), then
//! acknowledged (deleted, and the request marked imported) or left to lapse,
//! after which it can be leased again: nothing is lost if a collector dies.
//!
//! A collector whose check of the credential failed acknowledges with
//! `keep_copy`: the request is marked imported, and its sealed copy stays,
//! out of the inbox (which lists only copies of requests not imported), until
//! the copies expire. Staff's re-check ([`Store::request_recheck`]) clears
//! the import and the failed check, which puts the copy back in the inbox.

use sqlx::FromRow;

use super::events::append_event;
use super::transfers::grant_reader;
use super::{NewReader, ReaderGrant, Store, StoreError, change_tx, on_pool};
use crate::audit::NewEvent;
use crate::register::Facts;
use crate::request::CopyKind;

/// What an acknowledgement records besides the import itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct Imported<'a> {
    /// The collector target it was written to (e.g. `wazuh-office365`).
    pub target: Option<&'a str>,
    /// The credential's facts for the register; `None` from a collector
    /// that does not report them (the register keeps what it had).
    pub facts: Option<&'a Facts>,
    /// Keep the sealed copy (the collector's check failed), for a re-check.
    pub keep_copy: bool,
}

/// One waiting sealed copy: no secret material.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct InboxItem {
    pub id: String,
    pub template: String,
    pub customer: String,
    pub answered_at: i64,
    /// Set while someone holds a lease.
    pub lease_until: Option<i64>,
}

/// What a lease attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lease {
    Granted {
        ciphertext: Vec<u8>,
        /// A files request's transfer, with this lease's download token's grace.
        transfer: Option<ReaderGrant>,
    },
    /// Someone else holds it until then.
    Held { until: i64 },
    /// No sealed copy waits for this request.
    Missing,
}

/// What an acknowledgement found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    Done,
    /// The copy is there, but this lease lapsed or is not the current one.
    NotYourLease,
    Missing,
}

/// A verification outcome as stored; `detail` is a one-line summary.
pub struct VerifyResult<'a> {
    pub ok: bool,
    pub detail: &'a str,
}

/// How a re-check changed an imported credential's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecheckChange {
    /// It worked (or was never checked) and now fails.
    Failing,
    /// It failed and now works.
    Recovered,
    /// The same as before: only the time of the last check moved.
    Unchanged,
}

impl RecheckChange {
    /// As `POST /api/v1/inbox/{id}/recheck` answers it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecheckChange::Failing => "failing",
            RecheckChange::Recovered => "recovered",
            RecheckChange::Unchanged => "unchanged",
        }
    }
}

impl Store {
    pub async fn inbox(&self, now: i64) -> Result<Vec<InboxItem>, StoreError> {
        const SQL: &str = "SELECT r.id, r.template, r.customer, r.answered_at, \
             CASE WHEN c.lease_until > $1 THEN c.lease_until ELSE NULL END AS lease_until \
             FROM request_copies c JOIN requests r ON r.id = c.request_id \
             WHERE c.kind = 'sealed' AND c.expires_at > $1 AND r.answered_at IS NOT NULL \
             AND r.imported_at IS NULL \
             ORDER BY r.answered_at, r.id";
        let items = on_pool!(self, pool =>
            sqlx::query_as::<_, InboxItem>(SQL).bind(now).fetch_all(pool).await?
        );
        Ok(items)
    }

    /// Leases the sealed copy of `request_id` to `lease_id` until `until`,
    /// unless someone else holds a lease that has not lapsed. Only the copy's
    /// row is locked (then a files request's transfer's, then the audit
    /// head), which keeps to the lock order. For a files request `reader`
    /// becomes the collector's download token for the transfer, replacing
    /// an earlier lease's.
    pub async fn lease_sealed(
        &self,
        request_id: &str,
        lease_id: &str,
        now: i64,
        until: i64,
        event: &NewEvent,
        reader: &NewReader,
    ) -> Result<Lease, StoreError> {
        let (id, lease, event) = (request_id.to_owned(), lease_id.to_owned(), event.clone());
        let reader = reader.clone();
        let granted = change_tx!(self, conn => {
            let got: Option<(Vec<u8>,)> = sqlx::query_as(
                "UPDATE request_copies SET lease_id = $2, lease_until = $4 \
                 WHERE request_id = $1 AND kind = 'sealed' AND expires_at > $3 \
                 AND (lease_until IS NULL OR lease_until <= $3) \
                 AND request_id IN (SELECT id FROM requests WHERE id = $1 AND imported_at IS NULL) \
                 RETURNING ciphertext",
            )
            .bind(&id)
            .bind(&lease)
            .bind(now)
            .bind(until)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((ciphertext,)) = got else {
                return Ok((None, false));
            };
            let transfer = grant_reader!(conn, &id, "sealed", &reader).await?;
            append_event!(conn, &event, now).await?;
            Ok((Some((ciphertext, transfer)), true))
        })?;
        if let Some((ciphertext, transfer)) = granted {
            return Ok(Lease::Granted {
                ciphertext,
                transfer,
            });
        }
        let held: Option<(Option<i64>,)> = on_pool!(self, pool =>
            sqlx::query_as(
                "SELECT lease_until FROM request_copies WHERE request_id = $1 AND kind = 'sealed' AND expires_at > $2",
            )
            .bind(request_id)
            .bind(now)
            .fetch_optional(pool)
            .await?
        );
        Ok(match held {
            Some((Some(until),)) if until > now => Lease::Held { until },
            // Lapsed between the two statements: the caller may simply retry.
            Some(_) => Lease::Held { until: now },
            None => Lease::Missing,
        })
    }

    /// Ends a lease early (a dry run, or a failed import), so the copy can be
    /// leased again at once. True if `lease_id` held it.
    pub(crate) async fn release_sealed(
        &self,
        request_id: &str,
        lease_id: &str,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (id, lease, event) = (request_id.to_owned(), lease_id.to_owned(), event.clone());
        let done = change_tx!(self, conn => {
            let n = sqlx::query(
                "UPDATE request_copies SET lease_id = NULL, lease_until = NULL \
                 WHERE request_id = $1 AND kind = 'sealed' AND lease_id = $2 AND lease_until > $3",
            )
            .bind(&id)
            .bind(&lease)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n == 1 {
                append_event!(conn, &event, now).await?;
            }
            Ok((n == 1, n == 1))
        })?;
        Ok(done)
    }

    /// The import succeeded: the sealed copy is deleted and the request
    /// marked imported, in one transaction, if `lease_id` still holds it.
    /// The request row is locked before its copy, as everywhere.
    pub async fn ack_sealed(
        &self,
        request_id: &str,
        lease_id: &str,
        imported: &Imported<'_>,
        now: i64,
        event: &NewEvent,
    ) -> Result<Ack, StoreError> {
        let client_id = imported.facts.map(|f| f.client_id.clone());
        let expires = imported.facts.and_then(Facts::expires_text);
        let (target, keep_copy) = (imported.target.map(str::to_owned), imported.keep_copy);
        let (id, lease, event) = (request_id.to_owned(), lease_id.to_owned(), event.clone());
        let done = change_tx!(self, conn => {
            // The register's facts ride on the same statement: the
            // import and what it reported are one change.
            let marked = sqlx::query(
                "UPDATE requests SET imported_at = $3, imported_to = $4, \
                 client_id = COALESCE($5, client_id), \
                 secret_expires_on = CASE WHEN $5 IS NULL THEN secret_expires_on ELSE $6 END, \
                 credential_from = CASE WHEN $5 IS NULL THEN credential_from ELSE 'collector' END \
                 WHERE id = $1 AND withdrawn_at IS NULL \
                 AND cancelled_at IS NULL AND EXISTS (SELECT 1 FROM request_copies c \
                 WHERE c.request_id = requests.id AND c.kind = 'sealed' AND c.lease_id = $2 \
                 AND c.lease_until > $3)",
            )
            .bind(&id)
            .bind(&lease)
            .bind(now)
            .bind(&target)
            .bind(&client_id)
            .bind(expires.as_deref())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if marked != 1 {
                return Ok((false, false));
            }
            // The copy may have gone since that statement's snapshot
            // (PostgreSQL): then the mark above is undone.
            let deleted = sqlx::query(if keep_copy {
                "UPDATE request_copies SET lease_id = NULL, lease_until = NULL \
                 WHERE request_id = $1 AND kind = 'sealed' AND lease_id = $2 AND lease_until > $3"
            } else {
                "DELETE FROM request_copies WHERE request_id = $1 AND kind = 'sealed' \
                 AND lease_id = $2 AND lease_until > $3"
            })
            .bind(&id)
            .bind(&lease)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if deleted != 1 {
                return Ok((false, false));
            }
            // A files request's collector is done with its transfer: its
            // token reads no more, and the pieces go once the PM is done too.
            if !keep_copy {
                sqlx::query(
                    "UPDATE transfer_readers SET grace_until = $2 WHERE reader = 'sealed' \
                     AND grace_until > $2 AND transfer_id = (SELECT transfer_id FROM requests WHERE id = $1)",
                )
                .bind(&id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            append_event!(conn, &event, now).await?;
            Ok((true, true))
        })?;
        if done {
            return Ok(Ack::Done);
        }
        Ok(if self.has_copy(request_id, CopyKind::Sealed, now).await? {
            Ack::NotYourLease
        } else {
            Ack::Missing
        })
    }

    /// Staff's re-check of a request whose check failed and whose sealed copy
    /// was kept (unexpired): the import and the check are cleared, in one
    /// transaction with `event`, so the copy is back in the collector's
    /// inbox and the next pass imports and checks it again. False when there
    /// is nothing to re-check (no failed check, the copy gone, cancelled,
    /// withdrawn). The server needs no secret for it: the copy stays sealed.
    pub async fn request_recheck(
        &self,
        request_id: &str,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (id, event) = (request_id.to_owned(), event.clone());
        change_tx!(self, conn => {
            let n = sqlx::query(
                "UPDATE requests SET imported_at = NULL, verified_at = NULL, verify_ok = NULL, \
                 verify_detail = NULL \
                 WHERE id = $1 AND verify_ok = $3 AND cancelled_at IS NULL AND withdrawn_at IS NULL \
                 AND EXISTS (SELECT 1 FROM request_copies c WHERE c.request_id = requests.id \
                 AND c.kind = 'sealed' AND c.expires_at > $2)",
            )
            .bind(&id)
            .bind(now)
            .bind(false)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n == 1 {
                append_event!(conn, &event, now).await?;
            }
            Ok((n == 1, n == 1))
        })
    }

    /// Records a verification outcome for an imported request. False if
    /// the request is unknown or not imported.
    pub async fn record_verification(
        &self,
        request_id: &str,
        result: &VerifyResult<'_>,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (id, event) = (request_id.to_owned(), event.clone());
        let (ok, detail) = (result.ok, result.detail.to_owned());
        change_tx!(self, conn => {
            let n = sqlx::query(
                "UPDATE requests SET verified_at = $2, verify_ok = $3, verify_detail = $4 \
                 WHERE id = $1 AND imported_at IS NOT NULL",
            )
            .bind(&id)
            .bind(now)
            .bind(ok)
            .bind(&detail)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n == 1 {
                append_event!(conn, &event, now).await?;
            }
            Ok((n == 1, n == 1))
        })
    }

    /// Records a collector's re-check of an imported request's credential.
    /// A change of standing (working or unchecked to failing, failing to
    /// working) appends `failing` or `recovered` in the same transaction,
    /// decided by a conditional UPDATE, so that two collectors reporting at
    /// once notify it once; a repeat moves only the time and sentence of
    /// the last check. `None` if the request is unknown or not imported.
    pub async fn record_recheck(
        &self,
        request_id: &str,
        result: &VerifyResult<'_>,
        now: i64,
        failing: &NewEvent,
        recovered: &NewEvent,
    ) -> Result<Option<RecheckChange>, StoreError> {
        let id = request_id.to_owned();
        let (ok, detail) = (result.ok, result.detail.to_owned());
        let (event, turned_to) = if ok {
            (recovered.clone(), RecheckChange::Recovered)
        } else {
            (failing.clone(), RecheckChange::Failing)
        };
        change_tx!(self, conn => {
            // The standing it changes from: failing for a success, and
            // working or never checked for a failure.
            let turned = if ok {
                "UPDATE requests SET verified_at = $2, verify_ok = $3, verify_detail = $4 \
                 WHERE id = $1 AND imported_at IS NOT NULL AND verify_ok = $5"
            } else {
                "UPDATE requests SET verified_at = $2, verify_ok = $3, verify_detail = $4 \
                 WHERE id = $1 AND imported_at IS NOT NULL \
                 AND (verify_ok IS NULL OR verify_ok = $5)"
            };
            let n = sqlx::query(turned)
                .bind(&id)
                .bind(now)
                .bind(ok)
                .bind(&detail)
                .bind(!ok)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if n == 1 {
                append_event!(conn, &event, now).await?;
                Ok((Some(turned_to), true))
            } else {
                let n = sqlx::query(
                    "UPDATE requests SET verified_at = $2, verify_ok = $3, verify_detail = $4 \
                     WHERE id = $1 AND imported_at IS NOT NULL",
                )
                .bind(&id)
                .bind(now)
                .bind(ok)
                .bind(&detail)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                Ok(((n == 1).then_some(RecheckChange::Unchanged), n == 1))
            }
        })
    }
}
