//! Link secrets: create, look up, consume once, report, destroy, purge.

use sqlx::FromRow;

use super::{Store, StoreError, on_pool};
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
    /// [`Id::digest`] of the creator's status token.
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

/// Rows removed by one purge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub ciphertexts: u64,
    pub receipts: u64,
}

impl Store {
    pub async fn insert_secret(&self, s: &NewSecret<'_>) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(s.id.as_str())
            .bind(s.template)
            .bind(s.passphrase)
            .bind(s.created_at)
            .bind(s.expires_at)
            .bind(&s.status_hash)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO secret_ciphertexts (secret_id, expires_at, ciphertext) VALUES ($1, $2, $3)")
                .bind(s.id.as_str())
                .bind(s.expires_at)
                .bind(s.ciphertext)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Metadata of a secret that can still be revealed; `None` for unknown,
    /// expired, read and destroyed alike. Never consumes.
    pub(crate) async fn secret_meta(
        &self,
        id: &Id,
        now: i64,
    ) -> Result<Option<SecretMeta>, StoreError> {
        const SQL: &str = "SELECT s.id, s.template, s.passphrase, s.created_at, s.expires_at \
             FROM secrets s JOIN secret_ciphertexts c ON c.secret_id = s.id \
             WHERE s.id = $1 AND c.expires_at > $2";
        let meta = on_pool!(self, pool =>
            sqlx::query_as::<_, SecretMeta>(SQL).bind(id.as_str()).bind(now).fetch_optional(pool).await?
        );
        Ok(meta)
    }

    /// Hands out the ciphertext exactly once. The row is deleted and the read
    /// time recorded in one transaction, committed (durably) before returning.
    pub(crate) async fn reveal(&self, id: &Id, now: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let ciphertext = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let taken: Option<(Vec<u8>,)> = sqlx::query_as(
                "DELETE FROM secret_ciphertexts WHERE secret_id = $1 AND expires_at > $2 RETURNING ciphertext",
            )
            .bind(id.as_str())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                sqlx::query("UPDATE secrets SET read_at = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            taken.map(|(c,)| c)
        });
        Ok(ciphertext)
    }

    pub(crate) async fn receipt(&self, status: &Id) -> Result<Option<Receipt>, StoreError> {
        const SQL: &str = "SELECT id, template, created_at, expires_at, read_at, destroyed_at \
             FROM secrets WHERE status_hash = $1";
        let receipt = on_pool!(self, pool =>
            sqlx::query_as::<_, Receipt>(SQL).bind(status.digest()).fetch_optional(pool).await?
        );
        Ok(receipt)
    }

    /// Destroys an unread secret for its creator. True if there was a copy to destroy.
    pub(crate) async fn destroy(&self, status: &Id, now: i64) -> Result<bool, StoreError> {
        let destroyed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let id: Option<(String,)> = sqlx::query_as(
                "DELETE FROM secret_ciphertexts WHERE secret_id = \
                 (SELECT id FROM secrets WHERE status_hash = $1) AND expires_at > $2 RETURNING secret_id",
            )
            .bind(status.digest())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = &id {
                sqlx::query("UPDATE secrets SET destroyed_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            id.is_some()
        });
        Ok(destroyed)
    }

    /// Deletes expired ciphertext at once, and metadata once its retention is over.
    pub async fn purge_secrets(&self, now: i64) -> Result<Purged, StoreError> {
        let purged = on_pool!(self, pool => {
            let ciphertexts = sqlx::query("DELETE FROM secret_ciphertexts WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected();
            let receipts = sqlx::query("DELETE FROM secrets WHERE expires_at <= $1")
                .bind(now - RECEIPT_RETENTION_SECONDS)
                .execute(pool)
                .await?
                .rows_affected();
            Purged { ciphertexts, receipts }
        });
        Ok(purged)
    }
}
