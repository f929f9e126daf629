//! The pages of file transfers: "Send files" on the public page (`/files`)
//! and the recipient's page (`/f/{id}`). Like the secret pages, they only
//! show what the server knows (how many files, how large, until when); the
//! encryption, the upload, the decryption and the saving happen in
//! `static/js/files-*.js`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::AppState;
use super::pages::{Frame, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/files", get(send))
}

#[derive(Template)]
#[template(path = "files_send.html")]
struct SendPage {
    frame: Frame,
    choices: Vec<(i64, String)>,
    default_choice: i64,
}

/// The public page's "Send files" tab; off with the public page.
async fn send(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.settings.public_page {
        return super::staff::public_page_off(&state, &headers);
    }
    let policy = state.settings.expiry;
    render(
        StatusCode::OK,
        SendPage {
            frame: Frame::new(&state, &headers),
            choices: policy.choices(),
            default_choice: policy.default_choice(),
        },
    )
}
