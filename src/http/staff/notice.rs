//! The notice pages staff sign-in answers with: staff features off, the
//! public page off, too many sign-in attempts, a form that could not be read.

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::http::AppState;
use crate::http::error::{ApiError, Code};
use crate::http::pages::{Frame, render};

/// What a notice page says.
pub(super) struct Notice {
    /// A stable word for tests and styles (`data-notice`).
    pub(super) kind: &'static str,
    pub(super) title: &'static str,
    pub(super) message: &'static str,
    /// A command to show after the message; empty: none.
    pub(super) code: &'static str,
    pub(super) link_href: String,
    pub(super) link_text: &'static str,
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

pub(super) fn notice(frame: Frame, status: StatusCode, n: Notice) -> Response {
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
pub(super) fn staff_off(state: &AppState, headers: &HeaderMap) -> Response {
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
pub(crate) fn public_page_off(state: &AppState, headers: &HeaderMap) -> Response {
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
pub(crate) async fn public_api_off() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, Code::NotFound, PUBLIC_OFF)
}

/// The 429 of `POST /login`, as a page: people, not scripts, sign in.
pub(crate) fn too_many_logins(wait_seconds: u64) -> Response {
    let mut res = notice(
        Frame::plain(),
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

pub(super) fn bad_form(state: &AppState, headers: &HeaderMap) -> Response {
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
