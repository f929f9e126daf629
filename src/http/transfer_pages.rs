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
use super::error::{PageError, PagePath};
use super::pages::{Frame, link_id, render};
use crate::clock::rfc3339;
use crate::id::Id;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/files", get(send))
        .route("/f/{id}", get(receive))
}

#[derive(Template)]
#[template(path = "files_send.html")]
struct SendPage {
    frame: Frame,
    choices: Vec<(i64, String)>,
    default_choice: i64,
    /// `--max-transfer-bytes`, for the page's sentence when the server refuses more.
    max_transfer_bytes: u64,
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
            max_transfer_bytes: state.settings.max_transfer_bytes,
        },
    )
}

#[derive(Template)]
#[template(path = "files_receive.html")]
struct ReceivePage {
    frame: Frame,
    /// The transfer's id; empty when the path held none.
    id: String,
    /// False when the transfer is unknown, expired, incomplete or claimed:
    /// the page says "gone" (404), but still lets the tab that claimed it
    /// finish its downloads within the grace, from what it kept.
    found: bool,
    /// How many files.
    files: i64,
    /// Their ciphertext bytes in all (a little over the plaintext's).
    size: i64,
    size_text: String,
    expires_at: String,
}

/// The recipient's interstitial: how many files, how large, until when;
/// never their names (they are encrypted). Consumes nothing, so that mail
/// scanners and link previews may fetch it as often as they like.
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let Some(id) = Id::parse(link_id(&id)) else {
        return Ok(render(StatusCode::NOT_FOUND, ReceivePage::gone(frame, "")));
    };
    let Some(meta) = state.store.transfer_meta(&id, state.clock.now()).await? else {
        return Ok(render(
            StatusCode::NOT_FOUND,
            ReceivePage::gone(frame, id.as_str()),
        ));
    };
    Ok(render(
        StatusCode::OK,
        ReceivePage {
            frame,
            id: meta.id,
            found: true,
            files: meta.files,
            size: meta.size,
            size_text: about_bytes(meta.size),
            expires_at: rfc3339(meta.expires_at),
        },
    ))
}

impl ReceivePage {
    fn gone(frame: Frame, id: &str) -> ReceivePage {
        ReceivePage {
            frame,
            id: id.to_owned(),
            found: false,
            files: 0,
            size: 0,
            size_text: String::new(),
            expires_at: String::new(),
        }
    }
}

/// A size as people read it, in powers of 1000 as file managers show them:
/// "about 4.2 MB". "About", since it is the encrypted size, a little larger
/// than the files'.
fn about_bytes(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = usize::from(value < 10.0);
    format!("about {value:.digits$} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::about_bytes;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(about_bytes(0), "0 bytes");
        assert_eq!(about_bytes(999), "999 bytes");
        assert_eq!(about_bytes(1000), "about 1.0 kB");
        assert_eq!(about_bytes(4_200_000), "about 4.2 MB");
        assert_eq!(about_bytes(200_003_664), "about 200 MB");
        assert_eq!(about_bytes(1_073_741_824), "about 1.1 GB");
    }
}
