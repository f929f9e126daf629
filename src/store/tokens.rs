//! API tokens: only their SHA-256 is stored, with a short visible prefix.

use sqlx::FromRow;

use super::events::append_event;
use super::{Store, StoreError, change_tx, on_pool, write_tx};
use crate::audit::{Actor, Kind, NewEvent};
use crate::token::{self, Minted};

/// A token as listed: never the token itself.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct ApiToken {
    pub(crate) id: i64,
    pub name: String,
    pub prefix: String,
    /// Space-separated.
    pub(crate) scopes: String,
    pub(crate) created_by: String,
    pub(crate) created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.split(' ').any(|s| s == scope)
    }
}

/// A token's name is taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("there is already a token named {0:?}; revoke it or choose another name")]
pub struct DuplicateToken(pub String);

pub struct NewToken<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    pub scopes: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
}

/// Why a token was not issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueRefused {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Duplicate(#[from] DuplicateToken),
}

impl Store {
    /// Checks `name` and `scopes`, makes a token, stores its hash and appends
    /// `token.created` by `actor`: what the CLI and the dashboard both do.
    /// The token itself is in the returned [`Minted`], and nowhere else.
    pub(crate) async fn issue_token(
        &self,
        name: &str,
        scopes: &[String],
        actor: Actor,
        addr: Option<String>,
        now: i64,
    ) -> Result<Result<Minted, IssueRefused>, StoreError> {
        let checked = token::check_name(name).and_then(|()| token::check_scopes(scopes));
        let scopes = match checked {
            Ok(s) => s,
            Err(e) => return Ok(Err(IssueRefused::Invalid(e))),
        };
        let minted = token::mint();
        let created_by = match &actor {
            Actor::Staff(n) | Actor::Token(n) => n.clone(),
            Actor::Anonymous | Actor::System => actor.label(),
        };
        let event = NewEvent::new(Kind::TokenCreated, actor)
            .from_addr(addr)
            .detail(serde_json::json!({ "name": name, "prefix": minted.prefix, "scopes": scopes }));
        let created = self
            .create_token(
                &NewToken {
                    name,
                    prefix: &minted.prefix,
                    hash: &minted.hash,
                    scopes: &scopes,
                    created_by: &created_by,
                    created_at: now,
                },
                &event,
            )
            .await?;
        Ok(created.map(|()| minted).map_err(IssueRefused::from))
    }

    pub async fn create_token(
        &self,
        t: &NewToken<'_>,
        event: &NewEvent,
    ) -> Result<Result<(), DuplicateToken>, StoreError> {
        let (name, prefix, hash) = (t.name.to_owned(), t.prefix.to_owned(), t.hash.to_vec());
        let (scopes, created_by, created_at) =
            (t.scopes.to_owned(), t.created_by.to_owned(), t.created_at);
        let event = event.clone();
        let created = change_tx!(self, conn => {
            let inserted = sqlx::query(
                "INSERT INTO api_tokens (name, prefix, token_hash, scopes, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&name)
            .bind(&prefix)
            .bind(&hash)
            .bind(&scopes)
            .bind(&created_by)
            .bind(created_at)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                append_event!(conn, &event, created_at).await?;
            }
            Ok((inserted == 1, inserted == 1))
        })?;
        Ok(if created {
            Ok(())
        } else {
            Err(DuplicateToken(t.name.to_owned()))
        })
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        const SQL: &str = "SELECT id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at \
             FROM api_tokens ORDER BY created_at, id";
        let tokens =
            on_pool!(self, pool => sqlx::query_as::<_, ApiToken>(SQL).fetch_all(pool).await?);
        Ok(tokens)
    }

    /// The token whose SHA-256 is `hash`, revoked or not. The caller compares
    /// the stored hash with its own in constant time.
    pub(crate) async fn token_by_hash(
        &self,
        hash: &[u8],
    ) -> Result<Option<(ApiToken, Vec<u8>)>, StoreError> {
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            token: ApiToken,
            token_hash: Vec<u8>,
        }
        const SQL: &str = "SELECT id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at, token_hash \
             FROM api_tokens WHERE token_hash = $1";
        let row = on_pool!(self, pool =>
            sqlx::query_as::<_, Row>(SQL).bind(hash).fetch_optional(pool).await?
        );
        Ok(row.map(|r| (r.token, r.token_hash)))
    }

    /// Records use, at most once a minute per token.
    pub(crate) async fn touch_token(&self, id: i64, now: i64) -> Result<(), StoreError> {
        write_tx!(self, conn => {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(id)
            .bind(now)
            .bind(now - 60)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Revokes the token named `name`, at once. False if there is no such
    /// token or it was already revoked.
    pub async fn revoke_token(
        &self,
        name: &str,
        now: i64,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        let (name, event) = (name.to_owned(), event.clone());
        change_tx!(self, conn => {
            let n = sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .bind(&name)
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
}
