//! The browser assets, compiled into the binary: a running server needs no
//! files beside its database. `age.js` is the npm `age-encryption` bundle that
//! build.rs makes; the rest is ours, in `static/`.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

const JS: &str = "text/javascript; charset=utf-8";

/// `(name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "age.js",
        JS,
        include_bytes!(concat!(env!("OUT_DIR"), "/age.js")),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    ("common.js", JS, include_bytes!("../../static/js/common.js")),
    (
        "credential.js",
        JS,
        include_bytes!("../../static/js/credential.js"),
    ),
    ("create.js", JS, include_bytes!("../../static/js/create.js")),
    ("reveal.js", JS, include_bytes!("../../static/js/reveal.js")),
    (
        "findings.js",
        JS,
        include_bytes!("../../static/js/findings.js"),
    ),
    (
        "payload-view.js",
        JS,
        include_bytes!("../../static/js/payload-view.js"),
    ),
    ("answer.js", JS, include_bytes!("../../static/js/answer.js")),
    (
        "retrieve.js",
        JS,
        include_bytes!("../../static/js/retrieve.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
