//! The pages people see. All of them work without inline script or style;
//! the encryption itself happens in `static/js/*.js`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::error::{Code, PageError, PageForm, PagePath};
use crate::clock::rfc3339;
use crate::id::Id;
use crate::secret::ReceiptState;
use crate::template::{self, Template as CredentialTemplate};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/s/{id}", get(secret))
        .route("/status/{token}", get(status))
        .route("/status/{token}/destroy", post(destroy))
}

/// Facts every page's frame needs.
pub(crate) struct Frame {
    /// Plain HTTP on a host other than this machine: browsers refuse WebCrypto
    /// there, so the page says so up front (the script checks again).
    pub(crate) insecure: bool,
    /// Who runs the instance (`--brand-*`), shown in the header and footer.
    pub(crate) brand: Option<std::sync::Arc<crate::brand::Brand>>,
}

impl Frame {
    /// A frame where the state is out of reach (an error answered by a
    /// layer): no insecure banner, handoff's own header and footer.
    pub(crate) fn plain() -> Frame {
        Frame {
            insecure: false,
            brand: None,
        }
    }

    pub(crate) fn new(state: &AppState, headers: &HeaderMap) -> Frame {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        Frame {
            insecure: !state.settings.https && !crate::address::is_loopback_host(host),
            brand: state.settings.brand.clone(),
        }
    }
}

/// The id in a link page's path parameter. A mail gateway that rewrote the
/// link's `#` to `%23` (Microsoft Safe Links does) sends the key in the path,
/// and axum decodes the parameter to `{id}#{key}`: the page is served for the
/// id alone, and the key goes no further than this (the page's script moves it
/// back into the fragment). Never echo, log or redirect with the parameter
/// itself.
pub(crate) fn link_id(param: &str) -> &str {
    param.split_once('#').map_or(param, |(id, _)| id)
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    frame: Frame,
    templates: &'static [CredentialTemplate],
    choices: Vec<(i64, String)>,
    default_choice: i64,
    max_secret_bytes: usize,
    /// The form's client ID starts empty here (see `entra_fields.html`).
    prefill_client_id: Option<String>,
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    frame: Frame,
    id: String,
    template_id: String,
    template_title: String,
    passphrase: bool,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "gone.html")]
struct GonePage {
    frame: Frame,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    frame: Frame,
    token: String,
    template_title: String,
    state: ReceiptState,
    created_at: String,
    expires_at: String,
    read_at: String,
    destroyed_at: String,
}

/// The second step of an action that cannot be undone (cancel, withdraw,
/// destroy): its form posts again with `confirm=yes`. A plain page rather
/// than a script's dialog, so the step is the same without JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage {
    pub(crate) frame: Frame,
    /// The signed-in staff member's name and CSRF token; empty on the
    /// customer's and the sender's pages.
    pub(crate) staff: String,
    pub(crate) csrf: String,
    pub(crate) title: &'static str,
    pub(crate) question: String,
    pub(crate) consequence: &'static str,
    pub(crate) action: String,
    pub(crate) yes: &'static str,
    pub(crate) no: &'static str,
    /// Where "no" leads: the page the action was offered on.
    pub(crate) back: String,
}

/// A form that may carry the confirmation of [`ConfirmPage`].
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Confirmation {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    confirm: String,
}

impl Confirmation {
    pub(crate) fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
pub(crate) struct NotFoundPage {
    pub(crate) frame: Frame,
}

pub(crate) fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "notice.html")]
struct ErrorNotice {
    frame: Frame,
    kind: &'static str,
    title: &'static str,
    message: String,
    code: &'static str,
    link_href: String,
    link_text: &'static str,
}

/// A page for a refused request: the status, a title for it, and the
/// sentence an API client would get; `data-notice` holds the error's code.
pub(crate) fn error_page(status: StatusCode, code: Code, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::REQUEST_TIMEOUT => "The request took too long",
        StatusCode::PAYLOAD_TOO_LARGE => "Too much was sent",
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
            "That request could not be read"
        }
        StatusCode::SERVICE_UNAVAILABLE => "The server cannot answer right now",
        s if s.is_server_error() => "Something went wrong",
        _ => "That request was refused",
    };
    render(
        status,
        ErrorNotice {
            frame: Frame::plain(),
            kind: code.as_str(),
            title,
            message: message.to_owned(),
            code: "",
            link_href: "/".to_owned(),
            link_text: "Back to the start page",
        },
    )
}

/// The 404 page, with the frame's HTTPS warning where it applies.
pub(crate) fn not_found_page(state: &AppState, headers: &HeaderMap) -> Response {
    render(
        StatusCode::NOT_FOUND,
        NotFoundPage {
            frame: Frame::new(state, headers),
        },
    )
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.settings.public_page {
        return super::staff::public_page_off(&state, &headers);
    }
    let policy = state.settings.expiry;
    render(
        StatusCode::OK,
        IndexPage {
            frame: Frame::new(&state, &headers),
            templates: template::BUILTIN,
            choices: policy.choices(),
            default_choice: policy.default_choice(),
            max_secret_bytes: state.settings.max_secret_bytes,
            prefill_client_id: None,
        },
    )
}

/// The interstitial: shows what is waiting and consumes nothing. Mail
/// scanners and link previews may fetch it as often as they like.
async fn secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let meta = match Id::parse_secret(link_id(&id)) {
        Some(id) => state.store.secret_meta(&id, state.clock.now()).await?,
        None => None,
    };
    let Some(meta) = meta else {
        return Ok(render(StatusCode::NOT_FOUND, GonePage { frame }));
    };
    let title = secret_title(&meta.template);
    Ok(render(
        StatusCode::OK,
        SecretPage {
            frame,
            template_title: title.to_owned(),
            template_id: meta.template,
            id: meta.id,
            passphrase: meta.passphrase,
            expires_at: rfc3339(meta.expires_at),
        },
    ))
}

/// How the secret and status pages name a secret's template: the built-in
/// template's title, else plainly "Secret".
fn secret_title(template: &str) -> &'static str {
    template::find(template).map_or("Secret", |t| t.title)
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let receipt = match Id::parse_secret(&token) {
        Some(t) => state.store.receipt(&t).await?,
        None => None,
    };
    let Some(r) = receipt else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let when = |t: Option<i64>| t.map(rfc3339).unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        StatusPage {
            frame,
            token,
            template_title: secret_title(&r.template).to_owned(),
            state: r.state(state.clock.now()),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            read_at: when(r.read_at),
            destroyed_at: when(r.destroyed_at),
        },
    ))
}

async fn destroy(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<Confirmation>,
) -> Result<Response, PageError> {
    let Some(t) = Id::parse_secret(&token) else {
        return Ok(not_found_page(&state, &headers));
    };
    if !form.confirmed() {
        return Ok(render(
            StatusCode::OK,
            ConfirmPage {
                frame: Frame::new(&state, &headers),
                staff: String::new(),
                csrf: String::new(),
                title: "Destroy the secret?",
                question: "Destroy the secret now, before anyone opens it?".to_owned(),
                consequence: "It is deleted from the server at once; the link you sent stops working and \
                              cannot be restored.",
                action: format!("/status/{t}/destroy"),
                yes: "Yes, destroy it",
                no: "Keep it",
                back: format!("/status/{t}"),
            },
        ));
    }
    super::api::destroy_for_creator(&state, &t).await?;
    Ok(Redirect::to(&format!("/status/{t}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_id_drops_a_key_that_came_in_the_path() {
        assert_eq!(
            link_id("q8bV0m3yJ1s9dJcXk2Zl4A#AGE-SECRET-KEY-1QQ"),
            "q8bV0m3yJ1s9dJcXk2Zl4A"
        );
        assert_eq!(link_id("q8bV0m3yJ1s9dJcXk2Zl4A"), "q8bV0m3yJ1s9dJcXk2Zl4A");
        assert_eq!(link_id("#scrypt.abc"), "");
    }
}
