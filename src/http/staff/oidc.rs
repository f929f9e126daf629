//! Staff sign-in through the SOC's identity provider ([`crate::oidc`]):
//! `GET /login/oidc` sends the browser to the provider, `GET
//! /login/oidc/callback` takes it back and opens the same session a local
//! login opens.
//!
//! The flow's state travels in the provider's round trip and in a cookie of
//! this browser (`SameSite=Lax`, so that the provider's redirect back, a
//! cross-site navigation, carries it; 10 minutes); the server keeps the
//! flow's nonce and PKCE verifier under the state's SHA-256 and takes them
//! once, so a state replayed, from another browser or after its 10 minutes
//! finds nothing. The session cookie is `SameSite=Strict`: a browser does not
//! send it on a redirect chain that began at the provider, so a signed-in
//! callback answers with a page that moves on by itself (a same-site
//! navigation) instead of a redirect.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::login::DEFAULT_AFTER_LOGIN;
use super::notice::{Notice, notice};
use super::session::{cookie, safe_next, session_cookie, set_cookie};
use crate::audit::{Actor, Kind, NewEvent};
use crate::http::AppState;
use crate::http::client_ip::ClientAddr;
use crate::http::error::PageError;
use crate::http::pages::{Frame, render};
use crate::oidc::{self, FLOW_SECONDS, Provider, Refusal};
use crate::staff::Token;
use crate::store::{NewOidcLogin, OidcSession};

/// The flow cookie's name: `__Host-` behind HTTPS, as the session's.
fn flow_cookie(state: &AppState) -> &'static str {
    if state.settings.https {
        "__Host-handoff_oidc"
    } else {
        "handoff_oidc"
    }
}

/// The flow cookie: as [`set_cookie`], but `SameSite=Lax`, so that the
/// provider's redirect back carries it (`Path=/`, which `__Host-` needs).
fn set_flow_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
        flow_cookie(state)
    );
    if state.settings.https {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What the store keys a flow by: the state's SHA-256, so that a copy of
/// the database cannot finish anyone's sign-in.
fn state_hash(state: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Where the provider sends the browser back: the redirect URI to register.
fn redirect_uri(state: &AppState) -> String {
    format!("{}{}", state.settings.public_url, oidc::CALLBACK_PATH)
}

/// The detail of an OIDC sign-in's event: the provider, and the subject
/// once known. Never a token or code.
fn detail(provider: &Provider, subject: Option<&str>) -> serde_json::Value {
    let mut d = serde_json::json!({ "provider": "oidc", "issuer": provider.issuer() });
    if let Some(s) = subject {
        d["subject"] = s.into();
    }
    d
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct StartQuery {
    #[serde(default)]
    next: String,
}

/// `GET /login/oidc`: starts a sign-in at the provider.
pub(super) async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StartQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(provider) = state.settings.oidc.clone() else {
        return Ok(oidc_off(&state, &headers));
    };
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = safe_next(&next).unwrap_or("");
    let (url, flow) = match provider.begin(&redirect_uri(&state)) {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(error = %e, "cannot start an identity-provider sign-in");
            return Ok(refused(&state, &headers, Why::Failed));
        }
    };
    let now = state.clock.now();
    state
        .store
        .begin_oidc_login(&NewOidcLogin {
            state_hash: &state_hash(&flow.state),
            nonce: &flow.nonce,
            pkce_verifier: &flow.pkce_verifier,
            next,
            created_at: now,
            expires_at: now + FLOW_SECONDS,
        })
        .await?;
    let mut res = Redirect::to(&url).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_flow_cookie(&state, &flow.state, FLOW_SECONDS),
    );
    Ok(res)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CallbackQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    /// Set instead of `code` when the provider did not sign the user in
    /// (e.g. `access_denied`).
    #[serde(default)]
    error: String,
}

/// `GET /login/oidc/callback`: the provider's answer.
pub(super) async fn callback(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(provider) = state.settings.oidc.clone() else {
        return Ok(oidc_off(&state, &headers));
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let now = state.clock.now();
    let fail = |reason: &'static str, actor: Actor, subject: Option<&str>| {
        let mut d = detail(&provider, subject);
        d["reason"] = reason.into();
        NewEvent::new(Kind::LoginFailed, actor)
            .from_addr(addr.clone())
            .detail(d)
    };

    // The state must be this browser's, and still waiting.
    let from_cookie = cookie(&headers, flow_cookie(&state)).unwrap_or("");
    let same = !q.state.is_empty() && bool::from(from_cookie.as_bytes().ct_eq(q.state.as_bytes()));
    let flow = if same {
        state
            .store
            .take_oidc_login(&state_hash(&q.state), now)
            .await?
    } else {
        None
    };
    let Some(flow) = flow else {
        state
            .store
            .append_event(&fail("state_unknown", Actor::Anonymous, None), now)
            .await?;
        return Ok(with_flow_cleared(
            &state,
            refused(&state, &headers, Why::StateUnknown),
        ));
    };
    if !q.error.is_empty() || q.code.is_empty() {
        let shown: String = q.error.chars().take(64).collect();
        tracing::info!(error = %shown, "the identity provider did not sign the user in");
        state
            .store
            .append_event(&fail("provider_refused", Actor::Anonymous, None), now)
            .await?;
        return Ok(with_flow_cleared(
            &state,
            refused(&state, &headers, Why::ProviderRefused),
        ));
    }

    let secrets = oidc::Flow {
        state: q.state,
        nonce: flow.nonce,
        pkce_verifier: flow.pkce_verifier,
    };
    let identity = match provider
        .finish(&redirect_uri(&state), &secrets, &q.code, now)
        .await
    {
        Ok(identity) => identity,
        Err(refusal) => {
            let actor = refusal
                .subject()
                .map_or(Actor::Anonymous, |s| Actor::Staff(provider.account_name(s)));
            let why = match &refusal {
                Refusal::NotInGroup {
                    claim_present: true,
                    ..
                } => Why::NotInGroup,
                Refusal::NotInGroup {
                    claim_present: false,
                    ..
                } => Why::NoGroupsClaim,
                Refusal::GroupsOverage { .. } => Why::Overage,
                Refusal::Exchange(_) | Refusal::NoIdToken | Refusal::TokenInvalid(_) => {
                    tracing::warn!(error = %refusal, "an identity-provider sign-in was refused");
                    Why::Failed
                }
            };
            state
                .store
                .append_event(&fail(refusal.reason(), actor, refusal.subject()), now)
                .await?;
            return Ok(with_flow_cleared(&state, refused(&state, &headers, why)));
        }
    };

    let token = Token::random();
    let csrf = Token::random();
    let limits = state.settings.session_limits();
    let mut d = detail(&provider, Some(&identity.subject));
    if let Some(label) = &identity.label {
        d["username"] = label.as_str().into();
    }
    state
        .store
        .open_oidc_session(
            &OidcSession {
                name: &identity.name,
                token_hash: &token.digest(),
                csrf_token: csrf.as_str(),
                created_at: now,
                expires_at: limits.expires_at(now, now),
            },
            &NewEvent::new(Kind::LoginSucceeded, Actor::Staff(identity.name.clone()))
                .from_addr(addr.clone())
                .detail(d),
        )
        .await?;
    tracing::info!("staff signed in through the identity provider");
    let to = if flow.next.is_empty() {
        DEFAULT_AFTER_LOGIN.to_owned()
    } else {
        flow.next
    };
    let mut res = render(
        StatusCode::OK,
        SignedIn {
            frame: Frame::new(&state, &headers),
            to,
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state.settings,
            session_cookie(&state.settings),
            token.as_str(),
            None,
        ),
    );
    Ok(with_flow_cleared(&state, res))
}

/// The page a successful sign-in answers with: it moves on to `to` by
/// itself (`<meta http-equiv="refresh">`), with a link for browsers that
/// do not.
#[derive(Template)]
#[template(path = "oidc_signed_in.html")]
struct SignedIn {
    frame: Frame,
    /// A local path ([`safe_next`]).
    to: String,
}

fn with_flow_cleared(state: &AppState, mut res: Response) -> Response {
    res.headers_mut()
        .append(header::SET_COOKIE, set_flow_cookie(state, "", 0));
    res
}

/// Why a sign-in through the provider was refused, as the user is told.
#[derive(Clone, Copy, Debug)]
enum Why {
    StateUnknown,
    ProviderRefused,
    NotInGroup,
    NoGroupsClaim,
    Overage,
    Failed,
}

fn refused(state: &AppState, headers: &HeaderMap, why: Why) -> Response {
    let (status, kind, title, message) = match why {
        Why::StateUnknown => (
            StatusCode::BAD_REQUEST,
            "oidc-state",
            "This sign-in has expired",
            "This sign-in was not started in this browser in the last 10 minutes, or it was \
             already used, so it was not accepted. Start again from the sign-in page.",
        ),
        Why::ProviderRefused => (
            StatusCode::FORBIDDEN,
            "oidc-provider",
            "The identity provider did not sign you in",
            "Your identity provider answered without signing you in (you may have cancelled, \
             or the app is not assigned to you). Start again from the sign-in page, or ask \
             an administrator.",
        ),
        Why::NotInGroup => (
            StatusCode::FORBIDDEN,
            "oidc-not-staff",
            "You are not in the staff group",
            "Your identity provider signed you in, but you are not a member of the group \
             this SOC gives staff access to, so handoff did not sign you in. Ask an \
             administrator to add you to the staff group.",
        ),
        Why::NoGroupsClaim => (
            StatusCode::FORBIDDEN,
            "oidc-not-staff",
            "You are not in the staff group",
            "Your identity provider signed you in, but its token lists no groups at all, so \
             handoff cannot see the staff group and did not sign you in. An administrator \
             adds a groups claim to the app's token configuration (Entra ID: Token \
             configuration, Add groups claim).",
        ),
        Why::Overage => (
            StatusCode::FORBIDDEN,
            "oidc-overage",
            "Your groups could not be read",
            oidc::OVERAGE_SENTENCE,
        ),
        Why::Failed => (
            StatusCode::FORBIDDEN,
            "oidc-failed",
            "The sign-in could not be completed",
            "The identity provider's answer could not be used or verified, so you were not \
             signed in. Try again; if it keeps happening, an administrator finds the reason \
             in the server's log.",
        ),
    };
    notice(
        Frame::new(state, headers),
        status,
        Notice {
            kind,
            title,
            message,
            code: "",
            link_href: "/login".to_owned(),
            link_text: "Back to sign-in",
        },
    )
}

/// `/login/oidc*` on a server without `--oidc-issuer`.
fn oidc_off(state: &AppState, headers: &HeaderMap) -> Response {
    notice(
        Frame::new(state, headers),
        StatusCode::NOT_FOUND,
        Notice {
            kind: "oidc-off",
            title: "No identity provider here",
            message: "This server signs staff in with local accounts only.",
            code: "",
            link_href: "/login".to_owned(),
            link_text: "Back to sign-in",
        },
    )
}
