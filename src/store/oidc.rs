//! Sign-ins through the SOC's identity provider: the flows under way (each
//! taken once, by the callback that presents its state) and the staff
//! account and session a successful one opens.

use sqlx::FromRow;

use super::events::append_event;
use super::{Store, StoreError, write_tx};
use crate::audit::{Actor, Kind, NewEvent};

/// Stands in an OIDC account's `password_hash`: not a PHC string, so no
/// password ever matches it ([`crate::staff::verify_password`]).
const NO_PASSWORD: &str = "!oidc";

/// A sign-in that has left for the provider.
pub struct NewOidcLogin<'a> {
    /// SHA-256 of the state.
    pub(crate) state_hash: &'a [u8],
    pub(crate) nonce: &'a str,
    pub(crate) pkce_verifier: &'a str,
    /// A local path to go to afterwards, or empty.
    pub(crate) next: &'a str,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

/// A sign-in come back from the provider, taken from the store.
#[derive(FromRow)]
pub struct OidcLogin {
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) next: String,
}

/// The session a successful sign-in opens.
pub struct OidcSession<'a> {
    /// The account's name, `oidc:<issuer host>:<sub>`.
    pub(crate) name: &'a str,
    /// SHA-256 of the cookie's token.
    pub(crate) token_hash: &'a [u8],
    pub(crate) csrf_token: &'a str,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

impl Store {
    /// Keeps a sign-in's flow until its callback.
    pub(crate) async fn begin_oidc_login(
        &self,
        login: &NewOidcLogin<'_>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let (state_hash, nonce) = (login.state_hash.to_vec(), login.nonce.to_owned());
        let (pkce_verifier, next) = (login.pkce_verifier.to_owned(), login.next.to_owned());
        let (created_at, expires_at) = (login.created_at, login.expires_at);
        write_tx!(self, conn => {
            sqlx::query(SQL)
                .bind(&state_hash)
                .bind(&nonce)
                .bind(&pkce_verifier)
                .bind(&next)
                .bind(created_at)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Takes the flow of `state_hash` if it has not ended by `now`: one
    /// statement, so of two callbacks with the same state one at most gets it.
    pub(crate) async fn take_oidc_login(
        &self,
        state_hash: &[u8],
        now: i64,
    ) -> Result<Option<OidcLogin>, StoreError> {
        const SQL: &str = "DELETE FROM oidc_logins WHERE state_hash = $1 AND expires_at > $2 \
             RETURNING nonce, pkce_verifier, next";
        let state_hash = state_hash.to_vec();
        write_tx!(self, conn => {
            Ok(sqlx::query_as::<_, OidcLogin>(SQL)
                .bind(&state_hash)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?)
        })
    }

    /// Deletes the flows that ended by `now` unused; returns how many.
    pub async fn purge_oidc_logins(&self, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM oidc_logins WHERE expires_at <= $1";
        write_tx!(self, conn => {
            Ok(sqlx::query(SQL).bind(now).execute(&mut *conn).await?.rows_affected())
        })
    }

    /// Opens a session for an identity the provider vouched for, in one
    /// transaction: its account is made on its first sign-in (with a
    /// `user.added` event), then the session and `event` (its
    /// `login.succeeded`).
    pub(crate) async fn open_oidc_session(
        &self,
        session: &OidcSession<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        const ADD: &str = "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id";
        const FIND: &str = "SELECT id FROM users WHERE name = $1";
        const OPEN: &str = "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)";
        let added = NewEvent::new(Kind::UserAdded, Actor::System)
            .detail(serde_json::json!({ "name": session.name, "provider": "oidc" }));
        let now = session.created_at;
        let (name, token_hash) = (session.name.to_owned(), session.token_hash.to_vec());
        let (csrf_token, expires_at) = (session.csrf_token.to_owned(), session.expires_at);
        let event = event.clone();
        write_tx!(self, conn => {
            let new_id: Option<i64> = sqlx::query_scalar(ADD)
                .bind(&name)
                .bind(NO_PASSWORD)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
            let user_id = match new_id {
                Some(id) => {
                    append_event!(conn, &added, now).await?;
                    id
                }
                None => sqlx::query_scalar::<_, i64>(FIND)
                    .bind(&name)
                    .fetch_one(&mut *conn)
                    .await?,
            };
            sqlx::query(OPEN)
                .bind(&token_hash)
                .bind(user_id)
                .bind(&csrf_token)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
            append_event!(conn, &event, now).await?;
            Ok(())
        })
    }
}
