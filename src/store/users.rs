//! Staff accounts and their login sessions.
//!
//! A session row holds the SHA-256 of the cookie's token, never the token.
//! `expires_at` is when the session ends if it is not used again: the earlier
//! of its absolute end (`created_at` + lifetime) and its idle end (last use +
//! idle timeout). Using a session moves the idle end forward, so one
//! `expires_at > now` decides both limits and [`Store::purge_sessions`] needs
//! no settings. The idle end is exact to the second, the unit times are kept
//! in: a use is written unless the session was already used in the same
//! second, so a burst of requests (a page and its calls) costs one write and
//! a session costs at most one write a second.

use sqlx::FromRow;

use super::events::append_event;
use super::{Store, StoreError, change_tx, on_pool, write_tx};
use crate::audit::{Actor, Kind, NewEvent};
use crate::staff::UserName;

/// A staff account as stored.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct User {
    pub(crate) id: i64,
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
}

/// What `handoff user list` shows.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct UserSummary {
    pub name: String,
    pub(crate) created_at: i64,
}

/// The name is taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a staff user named {0:?} already exists")]
pub struct DuplicateName(pub String);

/// A session about to be opened.
pub struct NewSession<'a> {
    /// SHA-256 of the cookie's token.
    pub(crate) token_hash: &'a [u8],
    pub(crate) user_id: i64,
    pub(crate) csrf_token: &'a str,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

/// A live session and whose it is.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Session {
    pub(crate) user_id: i64,
    pub(crate) name: String,
    pub(crate) csrf_token: String,
    pub(crate) created_at: i64,
    pub(crate) last_seen_at: i64,
    pub(crate) expires_at: i64,
}

/// How long sessions live, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// From sign-in, however busy the session is.
    pub(crate) lifetime: i64,
    /// Since the session was last used.
    pub(crate) idle: i64,
}

impl SessionLimits {
    /// When a session that began at `created_at` and was last used at `seen` ends.
    pub(crate) fn expires_at(&self, created_at: i64, seen: i64) -> i64 {
        (created_at.saturating_add(self.lifetime)).min(seen.saturating_add(self.idle))
    }
}

impl Store {
    /// Adds a staff account and its `user.added` event, together.
    pub async fn add_user(
        &self,
        name: &UserName,
        password_hash: &str,
        now: i64,
    ) -> Result<Result<User, DuplicateName>, StoreError> {
        const SQL: &str = "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id, name, password_hash, created_at";
        let event = NewEvent::new(Kind::UserAdded, Actor::System)
            .detail(serde_json::json!({ "name": name.as_str() }));
        let (owned, password_hash) = (name.as_str().to_owned(), password_hash.to_owned());
        change_tx!(self, conn => {
            let user: Option<User> = sqlx::query_as(SQL)
                .bind(&owned)
                .bind(&password_hash)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
            if user.is_some() {
                append_event!(conn, &event, now).await?;
            }
            let kept = user.is_some();
            Ok((user.ok_or_else(|| DuplicateName(owned.clone())), kept))
        })
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        const SQL: &str = "SELECT id, name, password_hash, created_at FROM users WHERE name = $1";
        let user = on_pool!(self, pool =>
            sqlx::query_as::<_, User>(SQL).bind(name).fetch_optional(pool).await?
        );
        Ok(user)
    }

    /// Every staff account, by name.
    pub async fn list_users(&self) -> Result<Vec<UserSummary>, StoreError> {
        const SQL: &str = "SELECT name, created_at FROM users ORDER BY name";
        let users = on_pool!(self, pool =>
            sqlx::query_as::<_, UserSummary>(SQL).fetch_all(pool).await?
        );
        Ok(users)
    }

    /// Deletes a staff account and its sessions; false if there was none.
    /// Deletes the account and its sessions, and appends `user.removed`
    /// (actor `system`: the CLI on the server runs it).
    pub async fn remove_user(&self, name: &str, now: i64) -> Result<bool, StoreError> {
        const SESSIONS: &str =
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)";
        const USER: &str = "DELETE FROM users WHERE name = $1";
        let name = name.to_owned();
        change_tx!(self, conn => {
            sqlx::query(SESSIONS).bind(&name).execute(&mut *conn).await?;
            let n = sqlx::query(USER).bind(&name).execute(&mut *conn).await?.rows_affected();
            if n > 0 {
                let event = NewEvent::new(Kind::UserRemoved, Actor::System)
                    .detail(serde_json::json!({ "name": name }));
                append_event!(conn, &event, now).await?;
            }
            Ok((n > 0, n > 0))
        })
    }

    /// True once any staff account exists: the staff features are on.
    pub async fn has_users(&self) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM users)";
        let any = on_pool!(self, pool =>
            sqlx::query_scalar::<_, bool>(SQL).fetch_one(pool).await?
        );
        Ok(any)
    }

    /// Opens a session and appends its `login.succeeded` event, together.
    pub(crate) async fn create_session(
        &self,
        session: &NewSession<'_>,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)";
        let token_hash = session.token_hash.to_vec();
        let csrf_token = session.csrf_token.to_owned();
        let (user_id, created_at, expires_at) =
            (session.user_id, session.created_at, session.expires_at);
        let event = event.clone();
        write_tx!(self, conn => {
            sqlx::query(SQL)
                .bind(&token_hash)
                .bind(user_id)
                .bind(&csrf_token)
                .bind(created_at)
                .bind(expires_at)
                .execute(&mut *conn)
                .await?;
            append_event!(conn, &event, created_at).await?;
            Ok(())
        })
    }

    /// The live session whose token hashes to `token_hash`, marking it used
    /// at `now` (unless it already was, in the same second). `None` when
    /// there is none or it has ended.
    pub(crate) async fn session(
        &self,
        token_hash: &[u8],
        now: i64,
        limits: SessionLimits,
    ) -> Result<Option<Session>, StoreError> {
        const SELECT: &str = "SELECT s.user_id, u.name, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2";
        const TOUCH: &str = "UPDATE sessions SET last_seen_at = $2, expires_at = $3 \
             WHERE token_hash = $1 AND expires_at > $2";
        let found = on_pool!(self, pool =>
            sqlx::query_as::<_, Session>(SELECT)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        );
        let Some(mut session) = found else {
            return Ok(None);
        };
        // A session may not outlive the lifetime configured now, even if it
        // was opened under a longer one.
        let expires_at = limits.expires_at(session.created_at, now);
        if expires_at <= now {
            return Ok(None);
        }
        if now > session.last_seen_at || expires_at < session.expires_at {
            let token_hash = token_hash.to_vec();
            let touched: u64 = write_tx!(self, conn => {
                Ok(sqlx::query(TOUCH)
                    .bind(&token_hash)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected())
            })?;
            if touched == 0 {
                // Ended (logout, purge) between the two statements.
                return Ok(None);
            }
            session.last_seen_at = now;
            session.expires_at = expires_at;
        }
        Ok(Some(session))
    }

    /// Ends a session and appends `event` (its `logout`), together. False
    /// when there was no such session; then no event is written.
    pub(crate) async fn delete_session(
        &self,
        token_hash: &[u8],
        event: &NewEvent,
        now: i64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "DELETE FROM sessions WHERE token_hash = $1";
        let token_hash = token_hash.to_vec();
        let event = event.clone();
        change_tx!(self, conn => {
            let n = sqlx::query(SQL).bind(&token_hash).execute(&mut *conn).await?.rows_affected();
            // Nothing changed when n is 0: no event, nothing to roll back.
            if n > 0 {
                append_event!(conn, &event, now).await?;
            }
            Ok((n > 0, n > 0))
        })
    }

    /// Deletes every session that has ended by `now`; returns how many.
    pub async fn purge_sessions(&self, now: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1";
        write_tx!(self, conn => {
            Ok(sqlx::query(SQL).bind(now).execute(&mut *conn).await?.rows_affected())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_at_the_earlier_limit() {
        let l = SessionLimits {
            lifetime: 12 * 3600,
            idle: 3600,
        };
        assert_eq!(l.expires_at(0, 0), 3600);
        assert_eq!(l.expires_at(0, 11 * 3600 + 1800), 12 * 3600);
        assert_eq!(l.expires_at(0, 2 * 3600), 3 * 3600);
    }
}
