//! Staff sign-in: the login page, the session cookie, logout, and the
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
//! - [`ClientAddr`] is the client's address for audit events (the peer, or
//!   what a trusted proxy reports).
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

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::{ApiError, Code, PageError};
use super::pages::{Frame, render};
use crate::audit::{Actor, Kind, NewEvent};
use crate::clock::rfc3339;
use crate::config::Settings;
use crate::staff::{self, Token, UserName};
use crate::store::NewSession;

/// How long a login form stays usable (its CSRF cookie's `Max-Age`, seconds).
const LOGIN_FORM_SECONDS: u32 = 30 * 60;
/// Where a successful login goes when the form names no page.
pub const DEFAULT_AFTER_LOGIN: &str = "/staff";

/// The routes of this module. `POST /login` is rate limited per client in
/// [`super::router`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page))
        .route("/logout", post(logout))
        .route("/staff/account", get(account))
}

/// The login form's route alone, so the caller can put a rate limit on it.
pub fn login_router() -> Router<AppState> {
    Router::new().route("/login", post(login))
}

/// A signed-in staff member, from the request's session cookie.
#[derive(Clone, Debug)]
pub struct Staff {
    pub user_id: i64,
    pub name: String,
    /// The session's CSRF token: echo it in every form, check it on submit.
    pub csrf: String,
    /// When the session began.
    pub signed_in_at: i64,
    /// When the session ends if it is not used again.
    pub expires_at: i64,
    /// When it ends at the latest, however busy.
    pub ends_at: i64,
    token_hash: Vec<u8>,
    api: bool,
}

impl Staff {
    /// Compares a submitted CSRF token with the session's, in constant time.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), CsrfRejected> {
        if bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(CsrfRejected { api: self.api })
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::Staff(self.name.clone())
    }
}

/// A form or call whose CSRF token did not match its session's: a 403, as a
/// page that says to reload (or JSON under `/api/`).
#[derive(Debug)]
pub struct CsrfRejected {
    api: bool,
}

impl IntoResponse for CsrfRejected {
    fn into_response(self) -> Response {
        if self.api {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                Code::Csrf,
                "The request's CSRF token does not match your session; reload the page and try again.",
            )
            .into_response();
        }
        notice(
            Frame { insecure: false },
            StatusCode::FORBIDDEN,
            Notice {
                kind: "csrf",
                title: "This form has expired",
                message: "The form was not sent from a page of your current session, so nothing \
                          was changed. Reload the page and try again.",
                code: "",
                link_href: String::new(),
                link_text: "",
            },
        )
    }
}

/// Why a request got no [`Staff`].
#[derive(Debug)]
pub enum StaffRejection {
    /// A page without a live session: sign in, then come back to `next`.
    SignIn { next: Option<String> },
    /// An API call without a live session.
    Unauthorized,
    /// The store failed: a JSON 503 under `/api/`, a page elsewhere.
    Store { error: ApiError, api: bool },
}

impl IntoResponse for StaffRejection {
    fn into_response(self) -> Response {
        match self {
            StaffRejection::SignIn { next: Some(next) } => {
                Redirect::to(&format!("/login?next={}", percent_encode(&next))).into_response()
            }
            StaffRejection::SignIn { next: None } => Redirect::to("/login").into_response(),
            StaffRejection::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                Code::Unauthorized,
                "Sign in as staff first: this endpoint needs a staff session.",
            )
            .into_response(),
            StaffRejection::Store { error, api: true } => error.into_response(),
            StaffRejection::Store { error, api: false } => PageError(error).into_response(),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Staff>, ApiError> {
        let api = parts.uri.path().starts_with("/api/");
        let Some(token) =
            cookie(&parts.headers, session_cookie(&state.settings)).and_then(Token::parse)
        else {
            return Ok(None);
        };
        let limits = state.settings.session_limits();
        let hash = token.digest();
        let session = state
            .store
            .session(&hash, state.clock.now(), limits)
            .await?;
        Ok(session.map(|s| Staff {
            user_id: s.user_id,
            name: s.name,
            csrf: s.csrf_token,
            signed_in_at: s.created_at,
            expires_at: s.expires_at,
            ends_at: s.created_at.saturating_add(limits.lifetime),
            token_hash: hash,
            api,
        }))
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = StaffRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Staff, StaffRejection> {
        match <Staff as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await
        {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) if parts.uri.path().starts_with("/api/") => Err(StaffRejection::Unauthorized),
            Ok(None) => {
                // Only a page can be come back to; a refused POST goes to the default.
                let next = matches!(parts.method, Method::GET | Method::HEAD)
                    .then(|| {
                        parts
                            .uri
                            .path_and_query()
                            .map_or("/", |p| p.as_str())
                            .to_owned()
                    })
                    .filter(|n| safe_next(n).is_some());
                Err(StaffRejection::SignIn { next })
            }
            Err(error) => Err(StaffRejection::Store {
                error,
                api: parts.uri.path().starts_with("/api/"),
            }),
        }
    }
}

pub use super::client_ip::ClientAddr;

/// The session cookie's name: with the `__Host-` prefix behind HTTPS, so
/// the browser only accepts it `Secure`, host-only and for `Path=/`.
pub fn session_cookie(settings: &Settings) -> &'static str {
    if settings.https {
        "__Host-handoff_session"
    } else {
        "handoff_session"
    }
}

/// The login form's CSRF cookie's name.
pub fn login_cookie(settings: &Settings) -> &'static str {
    if settings.https {
        "__Host-handoff_login"
    } else {
        "handoff_login"
    }
}

/// A `Set-Cookie` value with the attributes every cookie here has.
fn set_cookie(settings: &Settings, name: &str, value: &str, max_age: Option<u32>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if settings.https {
        c.push_str("; Secure");
    }
    // Names are fixed and values are base64url tokens: always a valid header.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

/// Where a login may send the browser: a path on this site only. `//host`
/// and `/\host` are other sites to a browser, so they are refused, as is
/// anything with control characters or that is absurdly long.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && next.chars().all(|c| !c.is_control() && c != '\\');
    ok.then_some(next)
}

/// Percent-encodes everything but unreserved characters and `/`, for a
/// path in a query string.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a notice page says.
struct Notice {
    /// A stable word for tests and styles (`data-notice`).
    kind: &'static str,
    title: &'static str,
    message: &'static str,
    /// A command to show after the message; empty: none.
    code: &'static str,
    link_href: String,
    link_text: &'static str,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage {
    frame: Frame,
    kind: &'static str,
    title: &'static str,
    message: &'static str,
    /// A command to show after the message; empty: none.
    code: &'static str,
    link_href: String,
    link_text: &'static str,
}

fn notice(frame: Frame, status: StatusCode, n: Notice) -> Response {
    render(
        status,
        NoticePage {
            frame,
            kind: n.kind,
            title: n.title,
            message: n.message,
            code: n.code,
            link_href: n.link_href,
            link_text: n.link_text,
        },
    )
}

/// The 404 of `/login` while there is no staff account.
fn staff_off(state: &AppState, headers: &HeaderMap) -> Response {
    notice(
        Frame::new(state, headers),
        StatusCode::NOT_FOUND,
        Notice {
            kind: "staff-off",
            title: "Staff features are off",
            message: "This server has no staff accounts yet, so there is nothing to sign in to. \
                      An operator turns the staff features on by adding the first account on \
                      the server:",
            code: "handoff user add NAME",
            link_href: String::new(),
            link_text: "",
        },
    )
}

const PUBLIC_OFF: &str = "This server only takes credentials through requests from its SOC. \
     Ask your SOC contact for a request link.";

/// `GET /` when `--public-page false`.
pub fn public_page_off(state: &AppState, headers: &HeaderMap) -> Response {
    notice(
        Frame::new(state, headers),
        StatusCode::NOT_FOUND,
        Notice {
            kind: "public-off",
            title: "No public page here",
            message: PUBLIC_OFF,
            code: "",
            link_href: String::new(),
            link_text: "",
        },
    )
}

/// `POST /api/v1/secrets` when `--public-page false`.
pub async fn public_api_off() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, Code::NotFound, PUBLIC_OFF)
}

/// The 429 of `POST /login`, as a page: people, not scripts, sign in.
pub fn too_many_logins(wait_seconds: u64) -> Response {
    let mut res = notice(
        Frame { insecure: false },
        StatusCode::TOO_MANY_REQUESTS,
        Notice {
            kind: "rate-limited",
            title: "Too many sign-in attempts",
            message: "There were too many sign-in attempts from your address in the last \
                      minute. Wait a minute, then try again.",
            code: "",
            link_href: "/login".to_owned(),
            link_text: "Back to sign-in",
        },
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, wait_seconds.max(1).into());
    res
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    csrf: String,
    next: String,
    name: String,
    error: &'static str,
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if !state.store.has_users().await? {
        return Ok(staff_off(&state, &headers));
    }
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = safe_next(&next).unwrap_or("").to_owned();
    // Reuse a form token the browser still holds, so two tabs both work.
    let token = cookie(&headers, login_cookie(&state.settings))
        .and_then(Token::parse)
        .unwrap_or_else(Token::random);
    let mut res = render(
        StatusCode::OK,
        LoginPage {
            frame: Frame::new(&state, &headers),
            csrf: token.as_str().to_owned(),
            next,
            name: String::new(),
            error: "",
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state.settings,
            login_cookie(&state.settings),
            token.as_str(),
            Some(LOGIN_FORM_SECONDS),
        ),
    );
    Ok(res)
}

// No Debug: it holds the password.
#[derive(Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

fn bad_form(state: &AppState, headers: &HeaderMap) -> Response {
    notice(
        Frame::new(state, headers),
        StatusCode::BAD_REQUEST,
        Notice {
            kind: "bad-form",
            title: "That form could not be read",
            message: "The browser sent something this page does not understand. Reload the page and try again.",
            code: "",
            link_href: String::new(),
            link_text: "",
        },
    )
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(bad_form(&state, &headers));
    };
    if !state.store.has_users().await? {
        return Ok(staff_off(&state, &headers));
    }
    let next = safe_next(&form.next).unwrap_or("").to_owned();
    let cookie_token = cookie(&headers, login_cookie(&state.settings)).unwrap_or("");
    let form_ok =
        !cookie_token.is_empty() && bool::from(cookie_token.as_bytes().ct_eq(form.csrf.as_bytes()));
    if !form_ok {
        return Ok(notice(
            Frame::new(&state, &headers),
            StatusCode::FORBIDDEN,
            Notice {
                kind: "csrf",
                title: "This sign-in form has expired",
                message: "The sign-in form was not sent from a page this browser loaded from \
                          here recently, so it was not accepted. Open the sign-in page again \
                          and retry.",
                code: "",
                link_href: if next.is_empty() {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", percent_encode(&next))
                },
                link_text: "Open the sign-in page",
            },
        ));
    }

    let user = match UserName::parse(&form.name) {
        Ok(name) => state.store.user_by_name(name.as_str()).await?,
        Err(_) => None,
    };
    // An unknown name is checked against a dummy hash, so both failures take
    // as long as each other.
    let phc = user
        .as_ref()
        .map_or(staff::DUMMY_HASH.to_owned(), |u| u.password_hash.clone());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || staff::verify_password(&password, &phc))
        .await
        .unwrap_or(false);
    let now = state.clock.now();
    let user = match user {
        Some(u) if matches => u,
        other => {
            // A wrong password names the account tried; an unknown name is
            // not recorded, since people type passwords into name fields.
            let actor = other.map_or(Actor::Anonymous, |u| Actor::Staff(u.name));
            state
                .store
                .append_event(
                    &NewEvent::new(Kind::LoginFailed, actor).from_addr(addr),
                    now,
                )
                .await?;
            let res = render(
                StatusCode::UNAUTHORIZED,
                LoginPage {
                    frame: Frame::new(&state, &headers),
                    csrf: form.csrf,
                    next,
                    name: form.name,
                    error: "That name and password do not match an account. Check both and try again.",
                },
            );
            return Ok(res);
        }
    };

    let token = Token::random();
    let csrf = Token::random();
    let limits = state.settings.session_limits();
    state
        .store
        .create_session(
            &NewSession {
                token_hash: &token.digest(),
                user_id: user.id,
                csrf_token: csrf.as_str(),
                created_at: now,
                expires_at: limits.expires_at(now, now),
            },
            &NewEvent::new(Kind::LoginSucceeded, Actor::Staff(user.name.clone())).from_addr(addr),
        )
        .await?;
    tracing::info!("staff signed in");
    let to = if next.is_empty() {
        DEFAULT_AFTER_LOGIN
    } else {
        &next
    };
    let mut res = Redirect::to(to).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(
            &state.settings,
            session_cookie(&state.settings),
            token.as_str(),
            None,
        ),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&state.settings, login_cookie(&state.settings), "", Some(0)),
    );
    Ok(res)
}

/// A form that carries nothing but its CSRF token (logout, cancel, ...).
#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    pub(super) csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    staff: Staff,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, Response> {
    let submitted = form.map(|Form(f)| f.csrf).unwrap_or_default();
    staff
        .check_csrf(&submitted)
        .map_err(|e| e.into_response())?;
    let now = state.clock.now();
    state
        .store
        .delete_session(
            &staff.token_hash,
            &NewEvent::new(Kind::Logout, staff.actor()).from_addr(addr),
            now,
        )
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state.settings,
            session_cookie(&state.settings),
            "",
            Some(0),
        ),
    );
    Ok(res)
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    name: String,
    csrf: String,
    created_at: String,
    expires_at: String,
    ends_at: String,
}

async fn account(State(state): State<AppState>, headers: HeaderMap, staff: Staff) -> Response {
    render(
        StatusCode::OK,
        AccountPage {
            frame: Frame::new(&state, &headers),
            created_at: rfc3339(staff.signed_in_at),
            expires_at: rfc3339(staff.expires_at),
            ends_at: rfc3339(staff.ends_at),
            name: staff.name,
            csrf: staff.csrf,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/staff", "/staff/account?x=1", "/"] {
            assert_eq!(safe_next(ok), Some(ok));
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\\b",
            "/a\nb",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; handoff_session_x=2"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("handoff_session=3"),
        );
        assert_eq!(cookie(&h, "handoff_session"), Some("3"));
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(percent_encode("/staff/a?b=c&d"), "/staff/a%3Fb%3Dc%26d");
    }
}
