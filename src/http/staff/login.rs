//! The sign-in pages and their handlers: the login form, logging in and
//! out, and the account page.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::notice::{Notice, bad_form, notice, staff_off};
use super::session::{
    CsrfOnly, Staff, cookie, login_cookie, percent_encode, safe_next, session_cookie, set_cookie,
};
use crate::audit::{Actor, Kind, NewEvent};
use crate::clock::rfc3339;
use crate::http::AppState;
use crate::http::client_ip::ClientAddr;
use crate::http::error::PageError;
use crate::http::pages::{Frame, render};
use crate::staff::{self, Token, UserName};
use crate::store::NewSession;

/// How long a login form stays usable (its CSRF cookie's `Max-Age`, seconds).
const LOGIN_FORM_SECONDS: u32 = 30 * 60;
/// Where a successful login goes when the form names no page.
pub(crate) const DEFAULT_AFTER_LOGIN: &str = "/staff";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    csrf: String,
    next: String,
    name: String,
    error: &'static str,
    /// The identity provider's name for the "Sign in with" button; empty:
    /// no provider configured.
    oidc: String,
    /// Where the button goes: `/login/oidc`, with the page to come back to.
    oidc_href: String,
}

/// The button's link: `/login/oidc`, and `?next=` when there is a page to
/// come back to.
fn oidc_href(next: &str) -> String {
    if next.is_empty() {
        "/login/oidc".to_owned()
    } else {
        format!("/login/oidc?next={}", percent_encode(next))
    }
}

/// The sign-in button's name for the identity provider, if there is one.
fn oidc_name(state: &AppState) -> String {
    state
        .settings
        .oidc
        .as_ref()
        .map(|p| p.display_name().to_owned())
        .unwrap_or_default()
}

/// Staff can sign in here at all: through the identity provider, or with a
/// local account once one exists.
async fn staff_on(state: &AppState) -> Result<bool, crate::store::StoreError> {
    Ok(state.settings.oidc.is_some() || state.store.has_users().await?)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    next: String,
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    if !staff_on(&state).await? {
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
            name: String::new(),
            error: "",
            oidc: oidc_name(&state),
            oidc_href: oidc_href(&next),
            next,
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
pub(super) struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Ok(Form(form)) = form else {
        return Ok(bad_form(&state, &headers));
    };
    if !staff_on(&state).await? {
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
                    name: form.name,
                    error: "That name and password do not match an account. Check both and try again.",
                    oidc: oidc_name(&state),
                    oidc_href: oidc_href(&next),
                    next,
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

pub(super) async fn logout(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    staff: Staff,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, Response> {
    let submitted = form.map(|Form(f)| f.csrf).unwrap_or_default();
    staff
        .check_csrf(&submitted)
        .map_err(axum::response::IntoResponse::into_response)?;
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

pub(super) async fn account(
    State(state): State<AppState>,
    headers: HeaderMap,
    staff: Staff,
) -> Response {
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
