//! Staff sign-in: the login page, sign-in through the SOC's identity
//! provider (`oidc`), the session cookie, logout, and the
//! [`Staff`] extractor that guards every staff page and staff API route.
//!
//! # For handlers
//!
//! - Take `staff: Staff` as an argument. Without a live session, a page
//!   answers 303 to `/login?next=<the page>` and a path under `/api/` answers
//!   401 JSON; the handler never runs. `Option<Staff>` is `None` instead.
//! - Every state-changing staff form carries the session's CSRF token,
//!   `<input type="hidden" name="csrf" value="{{ csrf }}">` from
//!   [`Staff::csrf`], and its handler calls [`Staff::check_csrf`] before doing
//!   anything: `staff.check_csrf(&form.csrf)?` in a handler that returns
//!   `Result<_, Response>` (or `.map_err(IntoResponse::into_response)`). A
//!   mismatch is a 403 page saying the form expired (JSON under `/api/`).
//!   Browser scripts that post JSON send the token in the `X-CSRF-Token`
//!   header and the handler checks that value the same way.
//! - [`ClientAddr`](super::client_ip::ClientAddr) is the client's address
//!   for audit events (the peer, or what a trusted proxy reports).
//!
//! # How it works
//!
//! The session cookie (`handoff_session`, or `__Host-handoff_session` behind
//! HTTPS) is `HttpOnly; SameSite=Strict; Path=/` (plus `Secure`), holding a
//! 256-bit token whose SHA-256 is the session's key in the store. The login
//! form is protected before any session exists by a double-submit token: `GET
//! /login` sets it in a short-lived cookie and in the form, and `POST /login`
//! accepts only when both agree. Sessions end after `--session-idle` unused
//! and `--session-lifetime` in all. With no staff account at all, `/login` is
//! a 404 that says how to turn the staff features on.

mod login;
mod notice;
mod oidc;
mod session;

use axum::Router;
use axum::routing::{get, post};

use super::AppState;

pub(crate) use notice::{public_api_off, public_page_off, too_many_logins};
pub use session::{CsrfRejected, Staff, StaffRejection, login_cookie, safe_next, session_cookie};

/// The routes of this module. `POST /login` is rate limited per client in
/// [`super::router`].
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::login_page))
        .route("/logout", post(login::logout))
        .route("/staff/account", get(login::account))
}

/// The login form's route alone, so the caller can put a rate limit on it.
pub(crate) fn login_router() -> Router<AppState> {
    Router::new().route("/login", post(login::login))
}

/// The identity provider's sign-in routes (both `GET`), so the caller can
/// put the login rate limit on them: each start writes a flow, each
/// callback may write an event and calls the provider.
pub(crate) fn oidc_router() -> Router<AppState> {
    Router::new()
        .route("/login/oidc", get(oidc::start))
        // The literal is `crate::oidc::CALLBACK_PATH` (the redirect URI
        // registered with the provider), written out so the contract test
        // can read the route; the unit test below holds them equal.
        .route("/login/oidc/callback", get(oidc::callback))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_callback_route_is_the_registered_redirect_path() {
        let source = include_str!("mod.rs");
        let literal = format!(
            ".route(\"{}\", get(oidc::callback))",
            crate::oidc::CALLBACK_PATH
        );
        assert!(source.contains(&literal));
    }
}
