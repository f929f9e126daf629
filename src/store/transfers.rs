//! File transfers: create, receive pieces, complete, claim once, serve the
//! claimer's pieces during the grace, finish, purge.
//!
//! A transfer's state is its times: uploading (`completed_at` unset, until
//! `expires_at`), waiting (completed, unclaimed, until `expires_at`),
//! claimed (`grace_until` set: only the download token's holder may fetch
//! pieces, until then). Claiming is one `UPDATE … RETURNING` whose `WHERE`
//! holds the whole rule, so exactly one caller wins. Tokens are kept as
//! SHA-256 digests ([`Id::digest`]).
//!
//! A transfer made for a request (`request_id` set: a files request) is
//! never claimed: the answer that names it binds it (`requests.transfer_id`),
//! and each of the request's readers gets a download token of its own
//! (`transfer_readers`: the PM's when its copy is retrieved, the
//! collector's with each lease). Its pieces stay until every reader is
//! done: no copy of the request left unexpired, and no reader's grace
//! running (see `DOOMED`).

use sha2::{Digest, Sha256};

use super::{BATCH_BYTES, LIGHT, Store, StoreError, on_pool, write_tx};
use crate::id::Id;

/// The most pieces the purge and a finish look at for one deletion; those
/// of them that fit in [`BATCH_BYTES`] (at least one) are deleted in one
/// transaction.
const PIECES_LOOKED_AT: i64 = 256;

/// Everything the store needs to keep a new transfer.
pub struct NewTransfer {
    pub id: Id,
    /// [`Id::digest`] of the upload token.
    pub upload_hash: Vec<u8>,
    /// The manifest's age file.
    pub manifest: Vec<u8>,
    /// Each file's declared (pieces, ciphertext bytes), in order.
    pub files: Vec<(i64, i64)>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The request it is made for (a files request), or `None` for a
    /// transfer from the public page.
    pub request_id: Option<String>,
}

/// What a sender holding the upload token may see of its transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadView {
    pub completed: bool,
    pub expires_at: i64,
    /// Each file's declared (pieces, ciphertext bytes).
    pub files: Vec<(i64, i64)>,
}

/// What became of one piece sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiecePut {
    /// Stored now.
    Stored,
    /// The same bytes were stored before: nothing to do.
    Same,
    /// Other bytes are stored under this piece.
    Different,
    /// The transfer is complete: no more pieces.
    Complete,
    /// No such transfer (or token), or it has expired.
    Unknown,
    /// No such file or piece in this transfer.
    OutOfRange,
    /// The file's pieces would add up to more than its declared size.
    OverSize { declared: i64, would_be: i64 },
}

/// The answer to a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Complete (now or before); downloadable until `expires_at`.
    Done { expires_at: i64 },
    /// Pieces are missing.
    Missing { pieces: i64 },
    /// No such transfer (or token), or it has expired.
    Unknown,
}

/// What anyone holding the link may learn before claiming.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TransferMeta {
    pub id: String,
    pub files: i64,
    pub size: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What the one winning claim gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub manifest: Vec<u8>,
    /// Each file's (pieces, ciphertext bytes).
    pub files: Vec<(i64, i64)>,
    pub grace_until: i64,
}

/// What a reader of a request's transfer gets with its copy: the manifest
/// and the pieces' shape; its download token's digest went into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderGrant {
    /// The transfer's id.
    pub transfer_id: String,
    pub manifest: Vec<u8>,
    /// Each file's (pieces, ciphertext bytes).
    pub files: Vec<(i64, i64)>,
    /// Until when the reader's token reads pieces (Unix seconds).
    pub grace_until: i64,
}

/// A new reader's token for a request's transfer: what [`Store::retrieve`]
/// and [`Store::lease_sealed`] keep when the request's answer names one.
#[derive(Clone, Debug)]
pub struct NewReader {
    /// [`Id::digest`] of the reader's download token.
    pub download_hash: Vec<u8>,
    /// Until when it reads pieces (Unix seconds).
    pub grace_until: i64,
}

/// What a finish found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// No reader is left: the pieces can go now.
    Over,
    /// This reader is done; another reader of the request's transfer is
    /// not yet, so the pieces stay (the purge deletes them after).
    OthersRead,
    /// No such transfer or token, or its grace is over.
    Unknown,
}

/// What one purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransfersPurged {
    pub transfers: u64,
    pub pieces: u64,
}

/// A stored piece's digest.
const STORED: &str =
    "SELECT digest FROM transfer_pieces WHERE transfer_id = $1 AND file = $2 AND piece = $3";

/// Whether transfer `t` is over at `$1`, as SQL. One from the public page:
/// never claimed and expired, or claimed and its grace is over (or
/// finished). One made for a request and not named by its answer: expired,
/// or its request cancelled or answered (with another). One its request's
/// answer names: no copy of the request is left unexpired (retrieved,
/// imported, withdrawn, cancelled, lapsed) and no reader's grace runs.
macro_rules! transfer_over {
    () => {
        "((t.request_id IS NULL AND ((t.grace_until IS NULL AND t.expires_at <= $1) OR t.grace_until <= $1)) \
         OR (t.request_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = t.request_id AND r.transfer_id = t.id) \
         AND (t.expires_at <= $1 OR EXISTS (SELECT 1 FROM requests r WHERE r.id = t.request_id \
         AND (r.cancelled_at IS NOT NULL OR r.answered_at IS NOT NULL)))) \
         OR (EXISTS (SELECT 1 FROM requests r WHERE r.id = t.request_id AND r.transfer_id = t.id) \
         AND NOT EXISTS (SELECT 1 FROM request_copies c WHERE c.request_id = t.request_id AND c.expires_at > $1) \
         AND NOT EXISTS (SELECT 1 FROM transfer_readers x WHERE x.transfer_id = t.id AND x.grace_until > $1)))"
    };
}

/// Transfers that are gone for good (purge): see [`transfer_over!`].
const DOOMED: &str = concat!(
    "SELECT t.id FROM transfers t WHERE ",
    transfer_over!(),
    " LIMIT 100"
);

/// Whether transfer `$2` is over at `$1`.
const OVER: &str = concat!(
    "SELECT COUNT(*) FROM transfers t WHERE t.id = $2 AND ",
    transfer_over!()
);

/// Gives reader `$reader` (`"pm"` or `"sealed"`) of the transfer that
/// request `$request_id`'s answer names a download token ([`NewReader`]),
/// replacing the reader's earlier one, through `$conn` in the caller's
/// transaction; yields the manifest and the pieces' shape, or `None` when
/// the answer names no transfer (or it is gone). The transfer's rows are
/// locked after the request's and its copies', as everywhere.
macro_rules! grant_reader {
    ($conn:expr, $request_id:expr, $reader:expr, $new:expr) => {
        async {
            let new: &$crate::store::NewReader = $new;
            let found: Option<(String, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT t.id, t.manifest FROM transfers t JOIN requests r ON r.transfer_id = t.id \
                 WHERE r.id = $1",
            )
            .bind($request_id)
            .fetch_optional(&mut *$conn)
            .await?;
            let Some((transfer_id, Some(manifest))) = found else {
                return Ok::<Option<$crate::store::ReaderGrant>, $crate::store::StoreError>(None);
            };
            sqlx::query(
                "INSERT INTO transfer_readers (transfer_id, reader, download_hash, grace_until) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (transfer_id, reader) \
                 DO UPDATE SET download_hash = excluded.download_hash, grace_until = excluded.grace_until",
            )
            .bind(&transfer_id)
            .bind($reader)
            .bind(&new.download_hash)
            .bind(new.grace_until)
            .execute(&mut *$conn)
            .await?;
            let files: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT pieces, size FROM transfer_files WHERE transfer_id = $1 ORDER BY file",
            )
            .bind(&transfer_id)
            .fetch_all(&mut *$conn)
            .await?;
            Ok(Some($crate::store::ReaderGrant {
                transfer_id,
                manifest,
                files,
                grace_until: new.grace_until,
            }))
        }
    };
}
pub(crate) use grant_reader;

impl Store {
    /// Keeps a new transfer and its files' declarations, committed durably
    /// before it returns. No piece yet.
    ///
    /// # Errors
    /// A database error; nothing is kept then.
    pub async fn insert_transfer(&self, t: NewTransfer) -> Result<(), StoreError> {
        let size: i64 = t.files.iter().map(|(_, s)| *s).sum();
        let weight = LIGHT + t.manifest.len() as u64;
        write_tx!(self, weight = weight, conn => {
            sqlx::query(
                "INSERT INTO transfers (id, upload_hash, manifest, files, size, created_at, expires_at, request_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(t.id.as_str())
            .bind(&t.upload_hash)
            .bind(&t.manifest)
            .bind(i64::try_from(t.files.len()).unwrap_or(i64::MAX))
            .bind(size)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(&t.request_id)
            .execute(&mut *conn)
            .await?;
            for (index, (pieces, size)) in t.files.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO transfer_files (transfer_id, file, pieces, size) VALUES ($1, $2, $3, $4)",
                )
                .bind(t.id.as_str())
                .bind(i64::try_from(index).unwrap_or(i64::MAX))
                .bind(pieces)
                .bind(size)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
    }

    /// The transfer as its sender sees it, if `upload_hash` is its upload
    /// token's and it has not expired.
    ///
    /// # Errors
    /// A database error.
    pub async fn upload_view(
        &self,
        id: &Id,
        upload_hash: &[u8],
        now: i64,
    ) -> Result<Option<UploadView>, StoreError> {
        let view = on_pool!(self, pool => {
            let row: Option<(Option<i64>, i64)> = sqlx::query_as(
                "SELECT completed_at, expires_at FROM transfers \
                 WHERE id = $1 AND upload_hash = $2 AND expires_at > $3",
            )
            .bind(id.as_str())
            .bind(upload_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some((completed_at, expires_at)) => {
                    let files: Vec<(i64, i64)> = sqlx::query_as(
                        "SELECT pieces, size FROM transfer_files WHERE transfer_id = $1 ORDER BY file",
                    )
                    .bind(id.as_str())
                    .fetch_all(pool)
                    .await?;
                    Some(UploadView { completed: completed_at.is_some(), expires_at, files })
                }
            }
        });
        Ok(view)
    }

    /// The request an unexpired transfer was made for, and whether it is
    /// complete; `None` for an unknown or expired transfer, or one from the
    /// public page.
    ///
    /// # Errors
    /// A database error.
    pub async fn transfer_binding(
        &self,
        id: &Id,
        now: i64,
    ) -> Result<Option<(String, bool)>, StoreError> {
        const SQL: &str = "SELECT request_id, completed_at FROM transfers \
             WHERE id = $1 AND expires_at > $2 AND request_id IS NOT NULL";
        let row: Option<(String, Option<i64>)> = on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(id.as_str()).bind(now).fetch_optional(pool).await?
        );
        Ok(row.map(|(request, completed)| (request, completed.is_some())))
    }

    /// The pieces stored of each file of transfer `id`, as (file, piece) in order.
    ///
    /// # Errors
    /// A database error.
    pub async fn present_pieces(&self, id: &Id) -> Result<Vec<(i64, i64)>, StoreError> {
        const SQL: &str =
            "SELECT file, piece FROM transfer_pieces WHERE transfer_id = $1 ORDER BY file, piece";
        Ok(on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(id.as_str()).fetch_all(pool).await?
        ))
    }

    /// Stores piece `piece` of file `file` for the holder of the upload
    /// token, unless the transfer is complete or gone, the piece is out of
    /// range, already there, or would make its file larger than declared.
    /// Committed durably before it returns [`PiecePut::Stored`].
    ///
    /// # Errors
    /// A database error; nothing is kept then.
    pub async fn put_piece(
        &self,
        id: &Id,
        upload_hash: Vec<u8>,
        file: i64,
        piece: i64,
        ciphertext: Vec<u8>,
        now: i64,
    ) -> Result<PiecePut, StoreError> {
        let id = id.as_str().to_owned();
        let digest = Sha256::digest(&ciphertext).to_vec();
        let bytes = i64::try_from(ciphertext.len()).unwrap_or(i64::MAX);
        // A piece is the heaviest change there is (up to ~4 MiB): the
        // writer gives it a transaction shared with small changes only.
        let weight = LIGHT + ciphertext.len() as u64;
        write_tx!(self, weight = weight, conn => {
            let state: Option<(Option<i64>,)> = sqlx::query_as(
                "SELECT completed_at FROM transfers WHERE id = $1 AND upload_hash = $2 AND expires_at > $3",
            )
            .bind(&id)
            .bind(&upload_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            match state {
                None => return Ok(PiecePut::Unknown),
                Some((Some(_),)) => return Ok(PiecePut::Complete),
                Some((None,)) => {}
            }
            // An UPDATE that changes nothing, for its row lock on PostgreSQL:
            // pieces of one file are counted against its size one at a time.
            let declared: Option<(i64, i64)> = sqlx::query_as(
                "UPDATE transfer_files SET size = size WHERE transfer_id = $1 AND file = $2 RETURNING pieces, size",
            )
            .bind(&id)
            .bind(file)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((pieces, declared)) = declared else {
                return Ok(PiecePut::OutOfRange);
            };
            if !(0..pieces).contains(&piece) {
                return Ok(PiecePut::OutOfRange);
            }
            let same = |stored: Option<(Vec<u8>,)>| match stored {
                Some((d,)) if d == digest => PiecePut::Same,
                _ => PiecePut::Different,
            };
            let stored: Option<(Vec<u8>,)> = sqlx::query_as(STORED)
                .bind(&id)
                .bind(file)
                .bind(piece)
                .fetch_optional(&mut *conn)
                .await?;
            if stored.is_some() {
                return Ok(same(stored));
            }
            let (sum,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM transfer_pieces WHERE transfer_id = $1 AND file = $2",
            )
            .bind(&id)
            .bind(file)
            .fetch_one(&mut *conn)
            .await?;
            if sum + bytes > declared {
                return Ok(PiecePut::OverSize { declared, would_be: sum + bytes });
            }
            let inserted = sqlx::query(
                "INSERT INTO transfer_pieces (transfer_id, file, piece, bytes, digest, ciphertext) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(file)
            .bind(piece)
            .bind(bytes)
            .bind(&digest)
            .bind(&ciphertext)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(PiecePut::Stored);
            }
            let stored: Option<(Vec<u8>,)> = sqlx::query_as(STORED)
                .bind(&id)
                .bind(file)
                .bind(piece)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(same(stored))
        })
    }

    /// Marks the transfer complete once every declared piece is stored
    /// (their sizes were held to the declared ones as they arrived), and
    /// records each file's size as what its pieces hold; idempotent.
    ///
    /// # Errors
    /// A database error; nothing is changed then.
    pub async fn complete_transfer(
        &self,
        id: &Id,
        upload_hash: Vec<u8>,
        now: i64,
    ) -> Result<Completion, StoreError> {
        let id = id.as_str().to_owned();
        write_tx!(self, conn => {
            let state: Option<(Option<i64>, i64)> = sqlx::query_as(
                "SELECT completed_at, expires_at FROM transfers WHERE id = $1 AND upload_hash = $2 AND expires_at > $3",
            )
            .bind(&id)
            .bind(&upload_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let expires_at = match state {
                None => return Ok(Completion::Unknown),
                Some((Some(_), expires_at)) => return Ok(Completion::Done { expires_at }),
                Some((None, expires_at)) => expires_at,
            };
            let files: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT f.file, f.pieces, f.size, COUNT(p.piece), CAST(COALESCE(SUM(p.bytes), 0) AS BIGINT) \
                 FROM transfer_files f LEFT JOIN transfer_pieces p \
                 ON p.transfer_id = f.transfer_id AND p.file = f.file \
                 WHERE f.transfer_id = $1 GROUP BY f.file, f.pieces, f.size ORDER BY f.file",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?;
            let missing: i64 = files.iter().map(|(_, pieces, _, present, _)| pieces - present).sum();
            if missing > 0 {
                return Ok(Completion::Missing { pieces: missing });
            }
            // A declared size may be an upper bound (see `DeclaredFile`):
            // from now on each file's size is what its pieces hold.
            for (file, _, _, _, stored) in &files {
                sqlx::query("UPDATE transfer_files SET size = $3 WHERE transfer_id = $1 AND file = $2")
                    .bind(&id)
                    .bind(file)
                    .bind(stored)
                    .execute(&mut *conn)
                    .await?;
            }
            let total: i64 = files.iter().map(|f| f.4).sum();
            sqlx::query("UPDATE transfers SET completed_at = $2, size = $3 WHERE id = $1")
                .bind(&id)
                .bind(now)
                .bind(total)
                .execute(&mut *conn)
                .await?;
            Ok(Completion::Done { expires_at })
        })
    }

    /// A complete, unclaimed, unexpired transfer's metadata; `None` for
    /// every other (unknown, uploading, claimed, expired, and made for a
    /// request, alike). Never consumes.
    ///
    /// # Errors
    /// A database error.
    pub async fn transfer_meta(
        &self,
        id: &Id,
        now: i64,
    ) -> Result<Option<TransferMeta>, StoreError> {
        const SQL: &str = "SELECT id, files, size, created_at, expires_at FROM transfers \
             WHERE id = $1 AND completed_at IS NOT NULL AND claimed_at IS NULL AND expires_at > $2 \
             AND request_id IS NULL";
        Ok(on_pool!(self, pool =>
            sqlx::query_as::<_, TransferMeta>(SQL).bind(id.as_str()).bind(now).fetch_optional(pool).await?
        ))
    }

    /// Claims a complete transfer, exactly once: one `UPDATE … RETURNING`
    /// sets the claim time, the grace's end and the download token's digest
    /// where no claim was made before, committed durably before it returns.
    /// `None` for unknown, uploading, claimed and expired alike, and for a
    /// transfer made for a request (its readers have tokens of their own).
    ///
    /// # Errors
    /// A database error; nothing is claimed then.
    pub async fn claim_transfer(
        &self,
        id: &Id,
        download_hash: Vec<u8>,
        now: i64,
        grace_until: i64,
    ) -> Result<Option<Claimed>, StoreError> {
        let id = id.as_str().to_owned();
        write_tx!(self, conn => {
            let won: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
                "UPDATE transfers SET claimed_at = $2, grace_until = $3, download_hash = $4 \
                 WHERE id = $1 AND completed_at IS NOT NULL AND claimed_at IS NULL AND expires_at > $2 \
                 AND request_id IS NULL RETURNING manifest",
            )
            .bind(&id)
            .bind(now)
            .bind(grace_until)
            .bind(&download_hash)
            .fetch_optional(&mut *conn)
            .await?;
            let Some((Some(manifest),)) = won else {
                return Ok(None);
            };
            let files: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT pieces, size FROM transfer_files WHERE transfer_id = $1 ORDER BY file",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?;
            Ok(Some(Claimed { manifest, files, grace_until }))
        })
    }

    /// A piece for the holder of the download token (the claimer's, or a
    /// reader's of a request's transfer), before its grace ends.
    ///
    /// # Errors
    /// A database error.
    pub async fn download_piece(
        &self,
        id: &Id,
        download_hash: &[u8],
        file: i64,
        piece: i64,
        now: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const SQL: &str = "SELECT p.ciphertext FROM transfer_pieces p JOIN transfers t ON t.id = p.transfer_id \
             WHERE t.id = $1 AND p.file = $4 AND p.piece = $5 \
             AND ((t.download_hash = $2 AND t.grace_until > $3) OR EXISTS (SELECT 1 FROM transfer_readers x \
             WHERE x.transfer_id = t.id AND x.download_hash = $2 AND x.grace_until > $3))";
        Ok(on_pool!(self, pool =>
            sqlx::query_scalar(SQL)
                .bind(id.as_str())
                .bind(download_hash)
                .bind(now)
                .bind(file)
                .bind(piece)
                .fetch_optional(pool)
                .await?
        ))
    }

    /// Ends a download token's grace now: the claimer's (no piece is served
    /// from this commit on, and the manifest is gone), or one reader's of a
    /// request's transfer (the others keep theirs). [`Finished::Over`] when
    /// no reader is left: the pieces are deleted next by
    /// [`Store::delete_transfer`] (the caller starts it) or by the purge,
    /// whichever comes first.
    ///
    /// # Errors
    /// A database error; nothing is changed then.
    pub async fn finish_transfer(
        &self,
        id: &Id,
        download_hash: Vec<u8>,
        now: i64,
    ) -> Result<Finished, StoreError> {
        let id = id.as_str().to_owned();
        write_tx!(self, conn => {
            let claimer = sqlx::query(
                "UPDATE transfers SET grace_until = $3, manifest = NULL \
                 WHERE id = $1 AND download_hash = $2 AND grace_until > $3",
            )
            .bind(&id)
            .bind(&download_hash)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if claimer == 1 {
                return Ok(Finished::Over);
            }
            let reader = sqlx::query(
                "UPDATE transfer_readers SET grace_until = $3 \
                 WHERE transfer_id = $1 AND download_hash = $2 AND grace_until > $3",
            )
            .bind(&id)
            .bind(&download_hash)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if reader != 1 {
                return Ok(Finished::Unknown);
            }
            let (over,): (i64,) = sqlx::query_as(OVER)
                .bind(now)
                .bind(&id)
                .fetch_one(&mut *conn)
                .await?;
            Ok(if over > 0 { Finished::Over } else { Finished::OthersRead })
        })
    }

    /// Deletes transfers that are over: unclaimed ones past their expiry
    /// (uploading or complete), claimed ones past their grace, and those
    /// made for a request once every reader is done (see
    /// [`transfer_over!`]). Pieces go as many per transaction as fit in
    /// [`BATCH_BYTES`] (one piece of 4 MiB alone), so no caller queued
    /// beside the purge waits for more than one piece's deletion.
    ///
    /// # Errors
    /// A database error; what was deleted before it stays deleted.
    pub async fn purge_transfers(&self, now: i64) -> Result<TransfersPurged, StoreError> {
        let mut purged = TransfersPurged::default();
        loop {
            let ids: Vec<String> = on_pool!(self, pool =>
                sqlx::query_scalar(DOOMED).bind(now).fetch_all(pool).await?
            );
            if ids.is_empty() {
                return Ok(purged);
            }
            for id in ids {
                purged.pieces += self.delete_transfer(&id).await?;
                purged.transfers += 1;
            }
        }
    }

    /// Deletes transfer `id`'s pieces, in order, as many per transaction
    /// as fit in [`BATCH_BYTES`] (at least one), then the transfer; yields
    /// the pieces deleted. On SQLite `secure_delete` overwrites every byte
    /// deleted, so each deletion declares its pieces' bytes to the writer.
    /// For a transfer that is over (finished, or past its expiry or grace):
    /// no piece is added to it any more. A gigabyte takes longer than a
    /// request may, so a finish runs it in the background.
    ///
    /// # Errors
    /// A database error; what was deleted before it stays deleted, and the
    /// purge deletes the rest.
    pub async fn delete_transfer(&self, id: &str) -> Result<u64, StoreError> {
        const FRONT: &str = "SELECT bytes FROM transfer_pieces WHERE transfer_id = $1 \
             ORDER BY file, piece LIMIT $2";
        let mut total = 0;
        loop {
            let sizes: Vec<i64> = on_pool!(self, pool =>
                sqlx::query_scalar(FRONT).bind(id).bind(PIECES_LOOKED_AT).fetch_all(pool).await?
            );
            if sizes.is_empty() {
                break;
            }
            let (pieces, bytes) = front_within(&sizes, BATCH_BYTES);
            let owned = id.to_owned();
            let n = write_tx!(self, weight = LIGHT + bytes, conn => {
                Ok(sqlx::query(
                    "DELETE FROM transfer_pieces WHERE transfer_id = $1 AND (file, piece) IN \
                     (SELECT file, piece FROM transfer_pieces WHERE transfer_id = $1 \
                     ORDER BY file, piece LIMIT $2)",
                )
                .bind(&owned)
                .bind(pieces)
                .execute(&mut *conn)
                .await?
                .rows_affected())
            })?;
            total += n;
            if n == 0 {
                // Gone meanwhile (another instance's purge).
                break;
            }
            self.catch_up_wal().await?;
        }
        let owned = id.to_owned();
        write_tx!(self, conn => {
            sqlx::query("DELETE FROM transfers WHERE id = $1")
                .bind(&owned)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })?;
        Ok(total)
    }
}

/// How many of the first pieces of `sizes` (bytes each, in order) add up to
/// at most `bound`, at least one, and their bytes.
fn front_within(sizes: &[i64], bound: u64) -> (i64, u64) {
    let mut pieces = 0;
    let mut bytes: u64 = 0;
    for &size in sizes {
        let size = u64::try_from(size).unwrap_or(0);
        if pieces > 0 && bytes.saturating_add(size) > bound {
            break;
        }
        pieces += 1;
        bytes = bytes.saturating_add(size);
    }
    (pieces, bytes)
}

#[cfg(test)]
mod tests {
    use super::front_within;

    #[test]
    fn a_deletion_takes_the_pieces_that_fit_in_the_bound() {
        let mib = 1 << 20;
        assert_eq!(front_within(&[4 * mib, 4 * mib], 1 << 20), (1, 4 << 20));
        assert_eq!(front_within(&[mib / 2, mib / 2, 1], 1 << 20), (2, 1 << 20));
        assert_eq!(front_within(&[10; 300], 1 << 20), (300, 3000));
        assert_eq!(front_within(&[1, 4 * mib], 1 << 20), (1, 1));
    }
}
