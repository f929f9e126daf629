//! Who is signed in: the [`Staff`] extractor and its CSRF check, the
//! cookies that carry a session and a login form's token, and where a login
//! may send the browser afterwards.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::notice::{Notice, notice};
use crate::audit::Actor;
use crate::config::Settings;
use crate::http::AppState;
use crate::http::error::{ApiError, Code, PageError};
use crate::http::pages::Frame;
use crate::staff::Token;

/// A signed-in staff member, from the request's session cookie.
#[derive(Clone, Debug)]
pub struct Staff {
    pub name: String,
    /// The session's CSRF token: echo it in every form, check it on submit.
    pub(crate) csrf: String,
    /// When the session began.
    pub(crate) signed_in_at: i64,
    /// When the session ends if it is not used again.
    pub(crate) expires_at: i64,
    /// When it ends at the latest, however busy.
    pub(crate) ends_at: i64,
    /// The session's key in the store, for logging out.
    pub(super) token_hash: Vec<u8>,
    api: bool,
}

impl Staff {
    /// Compares a submitted CSRF token with the session's, in constant time.
    pub(crate) fn check_csrf(&self, submitted: &str) -> Result<(), CsrfRejected> {
        if bool::from(submitted.as_bytes().ct_eq(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(CsrfRejected { api: self.api })
        }
    }

    pub(crate) fn actor(&self) -> Actor {
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
            Frame::plain(),
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
pub(super) fn set_cookie(
    settings: &Settings,
    name: &str,
    value: &str,
    max_age: Option<u32>,
) -> HeaderValue {
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
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub(super) fn percent_encode(text: &str) -> String {
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

/// A form that carries nothing but its CSRF token (logout, cancel, ...).
#[derive(Debug, Default, Deserialize)]
pub(in crate::http) struct CsrfOnly {
    #[serde(default)]
    pub(in crate::http) csrf: String,
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
