//! Link secrets: create, look up, consume once, report, destroy, purge.

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, FromRow, Row};

use super::{LIGHT, Store, StoreError, UNBOUNDED, change_tx, on_pool, write_tx};
use crate::id::Id;
use crate::secret::ReceiptState;

/// How long a secret's metadata is kept after it expires, so that its status
/// page can still say what happened to it. No ciphertext is kept that long.
pub const RECEIPT_RETENTION_SECONDS: i64 = 7 * 86_400;

/// Everything the store needs to keep a new secret.
pub struct NewSecret<'a> {
    pub id: &'a Id,
    pub template: &'a str,
    pub passphrase: bool,
    pub created_at: i64,
    pub expires_at: i64,
    /// [`Id::digest`] of the creator's status token. The API makes the id
    /// and the token both timestamped with `created_at`
    /// ([`Id::timestamped`]); a secret with a random (22-character) id is
    /// found by its random status token's hash alone, as those made before
    /// migration 0012 are.
    pub status_hash: Vec<u8>,
    pub ciphertext: &'a [u8],
}

/// What anyone holding the link may learn before revealing it.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct SecretMeta {
    pub(crate) id: String,
    pub(crate) template: String,
    pub(crate) passphrase: bool,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

/// What the creator's status page shows.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Receipt {
    pub(crate) id: String,
    pub(crate) template: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) read_at: Option<i64>,
    pub(crate) destroyed_at: Option<i64>,
}

impl Receipt {
    /// Where the secret stands at `now`; see [`ReceiptState::of`].
    pub(crate) fn state(&self, now: i64) -> ReceiptState {
        ReceiptState::of(self.read_at, self.destroyed_at, self.expires_at, now)
    }
}

/// The most rows one purge statement deletes. Each batch is a change of its
/// own, committed with the other callers' changes queued beside it, which
/// wait for it: with `secure_delete`, 250 expired secrets take a few
/// milliseconds and a WAL write of about 1 MB at the commit; with 500 and
/// 2,000 vacuumed pages per step, creates during a purge of 200,000
/// waited up to 261 ms (issue 15).
pub const PURGE_BATCH: i64 = 250;

/// How a status token finds its secret's row. A timestamped token (see
/// [`crate::id`]) by the second it starts with and its hash, through the
/// index `secrets_status` (created_at, status_hash), whose new entries go to
/// its end; a random token (secrets made before migration 0012) by its hash
/// alone, through the partial unique index `secrets_random_status`, which
/// holds those secrets only (their ids are 22 characters long).
struct StatusLookup {
    /// The token's second, for a timestamped token.
    created_at: Option<i64>,
    /// [`Id::digest`] of the token.
    hash: Vec<u8>,
}

impl StatusLookup {
    fn of(status: &Id) -> StatusLookup {
        StatusLookup {
            created_at: status.timestamp(),
            hash: status.digest(),
        }
    }

    /// The receipt's query: parameters the second (if any), then the hash.
    fn receipt_sql(&self) -> &'static str {
        match self.created_at {
            Some(_) => {
                "SELECT id, template, created_at, expires_at, read_at, destroyed_at FROM secrets \
                 WHERE created_at = $1 AND status_hash = $2"
            }
            None => {
                "SELECT id, template, created_at, expires_at, read_at, destroyed_at FROM secrets \
                 WHERE status_hash = $1 AND length(id) = 22"
            }
        }
    }

    /// The deletion of the unread, unexpired ciphertext: parameters the
    /// second (if any), the hash, then the time now.
    fn destroy_sql(&self) -> &'static str {
        match self.created_at {
            Some(_) => {
                "DELETE FROM secret_ciphertexts WHERE secret_seq = \
                 (SELECT seq FROM secrets WHERE created_at = $1 AND status_hash = $2) \
                 AND expires_at > $3 RETURNING secret_seq"
            }
            None => {
                "DELETE FROM secret_ciphertexts WHERE secret_seq = \
                 (SELECT seq FROM secrets WHERE status_hash = $1 AND length(id) = 22) \
                 AND expires_at > $2 RETURNING secret_seq"
            }
        }
    }
}

/// Rows removed by one purge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub ciphertexts: u64,
    pub receipts: u64,
}

/// A create on SQLite, in one query of two statements ($1 id, $2 template,
/// $3 passphrase, $4 created_at, $5 expires_at, $6 status_hash, $7
/// ciphertext; [`REVEAL`] says why one query): the secret's row, then its
/// ciphertext's row keyed by the secret's rowid (`seq`). A failing first
/// statement (a duplicate id) stops the query before the second.
const CREATE: &str = "INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash) \
     VALUES ($1, $2, $3, $4, $5, $6); \
     INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext) \
     VALUES (last_insert_rowid(), $5, $7)";

/// A reveal on SQLite, in one query of two statements ($1 id, $2 now): the
/// ciphertext's row is deleted and returned, and the secret marked read only
/// if that deletion took a row (`changes()` is the count of the last
/// completed INSERT, UPDATE or DELETE, which while the UPDATE runs is the
/// DELETE; <https://sqlite.org/lang_corefunc.html#changes>). A reveal that
/// takes nothing is rolled back to its savepoint anyway: the condition
/// spares that UPDATE's page write, the rollback keeps it correct.
///
/// Each query the writer sends is a hand-off from its task to the
/// connection's thread in sqlx and back. A create or a reveal was three
/// (the savepoint between two changes, then two statements); as one query,
/// sent together with that savepoint ([`super::Sqlite::one_query_change`]), it is
/// one. A profile of creates and reveals at 128 connections (issue 15) had
/// sqlx's SQLite threads at 32 % of the server's CPU samples: 13 points
/// waiting for the next statement, 5 sending results back, 10 in SQLite's
/// `sqlite3_step`.
///
/// sqlx calls several statements in one query with arguments a behaviour
/// of its SQLite driver alone, and deprecated
/// (<https://github.com/launchbadge/sqlx/issues/3108>); a later sqlx that
/// drops it fails every test that makes or reveals a secret, and these go
/// back to a statement per query.
const REVEAL: &str = "DELETE FROM secret_ciphertexts \
     WHERE secret_seq = (SELECT seq FROM secrets WHERE id = $1) AND expires_at > $2 \
     RETURNING ciphertext; \
     UPDATE secrets SET read_at = $2 WHERE id = $1 AND changes() = 1";

impl Store {
    /// Stores a new secret and its ciphertext, committed durably before it
    /// returns.
    ///
    /// # Errors
    /// A database error (a duplicate id among them); nothing is kept then.
    pub async fn insert_secret(&self, s: &NewSecret<'_>) -> Result<(), StoreError> {
        let db = match self {
            Store::Sqlite(db) => db,
            Store::Postgres(pool) => {
                // One statement, committed on its own: one round trip instead
                // of four (BEGIN, two INSERTs, COMMIT). The foreign key is
                // checked at the statement's end, when the secret's row exists.
                sqlx::query(
                "WITH s AS (INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq) \
                 INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext) SELECT seq, $5, $7 FROM s",
            )
            .bind(s.id.as_str())
            .bind(s.template)
            .bind(s.passphrase)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(&s.status_hash)
            .bind(s.ciphertext)
            .execute(pool)
            .await?;
                return Ok(());
            }
        };
        let mut args = SqliteArguments::default();
        add(&mut args, s.id.as_str())?;
        add(&mut args, s.template)?;
        add(&mut args, s.passphrase)?;
        add(&mut args, s.created_at)?;
        add(&mut args, s.expires_at)?;
        add(&mut args, s.status_hash.as_slice())?;
        add(&mut args, s.ciphertext)?;
        // Up to 64 KiB: the writer bounds the bytes of a transaction.
        let weight = LIGHT + s.ciphertext.len() as u64;
        db.one_query_change(weight, CREATE, args, |_| Ok(((), true)))
            .await
    }

    /// Metadata of a secret that can still be revealed; `None` for unknown,
    /// expired, read and destroyed alike. Never consumes.
    pub(crate) async fn secret_meta(
        &self,
        id: &Id,
        now: i64,
    ) -> Result<Option<SecretMeta>, StoreError> {
        const SQL: &str = "SELECT s.id, s.template, s.passphrase, s.created_at, s.expires_at \
             FROM secrets s JOIN secret_ciphertexts c ON c.secret_seq = s.seq \
             WHERE s.id = $1 AND c.expires_at > $2";
        let meta = on_pool!(self, pool =>
            sqlx::query_as::<_, SecretMeta>(SQL).bind(id.as_str()).bind(now).fetch_optional(pool).await?
        );
        Ok(meta)
    }

    /// Hands out the ciphertext exactly once. The row is deleted and the read
    /// time recorded in one transaction, committed (durably) before returning.
    pub(crate) async fn reveal(&self, id: &Id, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let db = match self {
            Store::Sqlite(db) => db,
            Store::Postgres(pool) => {
                // One statement, committed on its own: one round trip instead
                // of four. Of two at once, the second waits for the first's
                // row lock and then finds no row.
                let taken: Option<(Vec<u8>,)> = sqlx::query_as(
                "WITH taken AS (DELETE FROM secret_ciphertexts \
                 WHERE secret_seq = (SELECT seq FROM secrets WHERE id = $1) AND expires_at > $2 \
                 RETURNING secret_seq, ciphertext), \
                 marked AS (UPDATE secrets SET read_at = $2 WHERE seq IN (SELECT secret_seq FROM taken)) \
                 SELECT ciphertext FROM taken",
            )
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
                return Ok(taken.map(|(c,)| c));
            }
        };
        let mut args = SqliteArguments::default();
        add(&mut args, id.as_str())?;
        add(&mut args, now)?;
        db.one_query_change(LIGHT, REVEAL, args, |rows| {
            let taken = rows
                .first()
                .map(|row| row.try_get::<Vec<u8>, _>(0))
                .transpose()?;
            let kept = taken.is_some();
            Ok((taken, kept))
        })
        .await
    }

    /// What the creator's status page shows, found by the status token as
    /// [`StatusLookup`] says.
    pub(crate) async fn receipt(&self, status: &Id) -> Result<Option<Receipt>, StoreError> {
        let lookup = StatusLookup::of(status);
        let receipt = on_pool!(self, pool => {
            let query = sqlx::query_as::<_, Receipt>(lookup.receipt_sql());
            let query = match lookup.created_at {
                Some(created_at) => query.bind(created_at),
                None => query,
            };
            query.bind(&lookup.hash).fetch_optional(pool).await?
        });
        Ok(receipt)
    }

    /// Destroys an unread secret for its creator (found as in
    /// [`Store::receipt`]). True if there was a copy to destroy.
    pub(crate) async fn destroy(&self, status: &Id, now: i64) -> Result<bool, StoreError> {
        let lookup = StatusLookup::of(status);
        change_tx!(self, conn => {
            let query = sqlx::query_as(lookup.destroy_sql());
            let query = match lookup.created_at {
                Some(created_at) => query.bind(created_at),
                None => query,
            };
            let seq: Option<(i64,)> = query.bind(&lookup.hash).bind(now).fetch_optional(&mut *conn).await?;
            if let Some((seq,)) = &seq {
                sqlx::query("UPDATE secrets SET destroyed_at = $2 WHERE seq = $1")
                    .bind(seq)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok((seq.is_some(), seq.is_some()))
        })
    }

    /// Deletes expired ciphertext at once, and metadata once its retention
    /// is over, in statements of at most [`PURGE_BATCH`] rows, each committed
    /// on its own: on SQLite the writer runs other callers' changes between
    /// them, so a purge of a million rows never holds the write lock for
    /// long; and between two statements the purge waits for the WAL to be
    /// copied to its end ([`Store::catch_up_wal`]), so it never outruns the
    /// checkpoints.
    ///
    /// # Errors
    /// A database error; the batches before it stay purged.
    pub async fn purge_secrets(&self, now: i64) -> Result<Purged, StoreError> {
        const CIPHERTEXTS: &str = "DELETE FROM secret_ciphertexts WHERE secret_seq IN \
             (SELECT secret_seq FROM secret_ciphertexts WHERE expires_at <= $1 LIMIT $2)";
        const RECEIPTS: &str = "DELETE FROM secrets WHERE seq IN (SELECT seq FROM secrets WHERE expires_at <= $1 LIMIT $2)";
        let ciphertexts = self.delete_in_batches(CIPHERTEXTS, now).await?;
        let receipts = self
            .delete_in_batches(RECEIPTS, now - RECEIPT_RETENTION_SECONDS)
            .await?;
        Ok(Purged {
            ciphertexts,
            receipts,
        })
    }

    /// Runs `sql` (a DELETE of at most `$2` rows older than `$1`) until it
    /// deletes fewer than [`PURGE_BATCH`]; yields the rows deleted in all.
    pub(crate) async fn delete_in_batches(
        &self,
        sql: &'static str,
        before: i64,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            // 250 rows of up to 64 KiB each, zeroed by `secure_delete`: a
            // large change, which shares its transaction with small ones only.
            let n: u64 = write_tx!(self, weight = UNBOUNDED, conn => {
                Ok(sqlx::query(sql)
                    .bind(before)
                    .bind(PURGE_BATCH)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected())
            })?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
            self.catch_up_wal().await?;
        }
    }
}

/// Adds `value` to a SQLite query's arguments.
fn add<'t, T>(args: &mut SqliteArguments, value: T) -> Result<(), StoreError>
where
    T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    args.add(value)
        .map_err(|e| StoreError::Sqlx(sqlx::Error::Encode(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both kinds of status token find their secret through an index, never
    /// by reading the table: each query's condition names the columns of
    /// `secrets_status`, or the predicate of the partial index
    /// `secrets_random_status` (without `length(id) = 22` in the query,
    /// SQLite cannot use that index and reads every secret). Checked on
    /// SQLite's plans; tests/schema.rs holds PostgreSQL's indexes to the
    /// same definitions.
    #[tokio::test]
    async fn status_tokens_find_their_secret_through_an_index() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let Store::Sqlite(db) = &store else {
            panic!("an in-memory SQLite store");
        };
        let tokens = [
            (Id::timestamped(1_796_000_000), "secrets_status"),
            (Id::random(), "secrets_random_status"),
        ];
        for (token, index) in tokens {
            let lookup = StatusLookup::of(&token);
            for sql in [lookup.receipt_sql(), lookup.destroy_sql()] {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let query =
                    sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain));
                let query = match lookup.created_at {
                    Some(created_at) => query.bind(created_at),
                    None => query,
                };
                let plan: Vec<String> = query
                    .bind(&lookup.hash)
                    .bind(0_i64)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(_, _, _, detail)| detail)
                    .collect();
                assert!(
                    plan.iter().any(|d| d.starts_with("SEARCH secrets USING")
                        && d.contains(&format!("INDEX {index} (")))
                        && !plan.iter().any(|d| d.starts_with("SCAN")),
                    "{sql}: {plan:?}"
                );
            }
        }
        store.close().await;
    }

    /// A database in memory has no writer task: a create and a reveal, each
    /// one query, run in a transaction of their own there, with the same
    /// outcomes (the server takes `sqlite::memory:` as a database URL).
    #[tokio::test]
    async fn creates_and_reveals_in_memory_keep_their_guarantees() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let (id, status) = (Id::timestamped(1_000), Id::timestamped(1_000));
        let secret = NewSecret {
            id: &id,
            template: "text",
            passphrase: false,
            created_at: 1_000,
            expires_at: 2_000,
            status_hash: status.digest(),
            ciphertext: b"age ciphertext",
        };
        store.insert_secret(&secret).await.unwrap();
        assert!(
            store.insert_secret(&secret).await.is_err(),
            "a duplicate id is refused"
        );
        let Store::Sqlite(db) = &store else {
            panic!("an in-memory SQLite store");
        };
        let copies: i64 = sqlx::query_scalar("SELECT count(*) FROM secret_ciphertexts")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(copies, 1, "the refused create kept nothing");

        assert_eq!(
            store.reveal(&id, 1_500).await.unwrap().as_deref(),
            Some(&b"age ciphertext"[..])
        );
        assert_eq!(store.reveal(&id, 1_600).await.unwrap(), None);
        let receipt = store.receipt(&status).await.unwrap().unwrap();
        assert_eq!(receipt.read_at, Some(1_500), "the first reveal's time");
        store.close().await;
    }
}
