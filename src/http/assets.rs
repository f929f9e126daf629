//! The browser assets, compiled into the binary: a running server needs no
//! files beside its database. `age.js` is the npm `age-encryption` bundle that
//! build.rs makes; the rest is ours, in `static/`.

use axum::Router;
use axum::extract::{Path, State};
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
    (
        "dashboard.js",
        JS,
        include_bytes!("../../static/js/dashboard.js"),
    ),
    ("reveal.js", JS, include_bytes!("../../static/js/reveal.js")),
    ("lock.js", JS, include_bytes!("../../static/js/lock.js")),
    (
        "lock-worker.js",
        JS,
        include_bytes!("../../static/js/lock-worker.js"),
    ),
    ("gone.js", JS, include_bytes!("../../static/js/gone.js")),
    (
        "request-closed.js",
        JS,
        include_bytes!("../../static/js/request-closed.js"),
    ),
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
        "request-new.js",
        JS,
        include_bytes!("../../static/js/request-new.js"),
    ),
    (
        "retrieve.js",
        JS,
        include_bytes!("../../static/js/retrieve.js"),
    ),
    (
        "files-format.js",
        JS,
        include_bytes!("../../static/js/files-format.js"),
    ),
    (
        "files-upload.js",
        JS,
        include_bytes!("../../static/js/files-upload.js"),
    ),
    (
        "files-save.js",
        JS,
        include_bytes!("../../static/js/files-save.js"),
    ),
    (
        "request-answer.js",
        JS,
        include_bytes!("../../static/js/request-answer.js"),
    ),
    (
        "request-files.js",
        JS,
        include_bytes!("../../static/js/request-files.js"),
    ),
    (
        "files-send.js",
        JS,
        include_bytes!("../../static/js/files-send.js"),
    ),
    (
        "files-receive.js",
        JS,
        include_bytes!("../../static/js/files-receive.js"),
    ),
    (
        "files-sw.js",
        JS,
        include_bytes!("../../static/js/files-sw.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/{name}", get(asset))
        .route("/brand/logo", get(brand_logo))
        .route("/brand/theme.css", get(brand_theme))
}

/// The SOC's logo (`--brand-logo`), with the type its first bytes showed;
/// 404 without one.
async fn brand_logo(State(state): State<AppState>) -> Response {
    match state.settings.brand.as_ref().and_then(|b| b.logo.as_ref()) {
        Some(logo) => (
            [(header::CONTENT_TYPE, logo.content_type)],
            logo.bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no logo").into_response(),
    }
}

/// The SOC's accent colour (`--brand-accent`) for the light theme, as a
/// stylesheet after `app.css` (the CSP allows no inline style); empty
/// without one. The dark theme keeps its own, lighter accent.
async fn brand_theme(State(state): State<AppState>) -> Response {
    let css = state
        .settings
        .brand
        .as_ref()
        .and_then(|b| b.accent)
        .map(|a| {
            format!(
                "@media (prefers-color-scheme: light) {{\n  :root {{ --accent: {}; --accent-hover: {}; --accent-text: #ffffff; }}\n}}\n",
                a.css(),
                a.hover_css()
            )
        })
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => {
            ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every `/assets/NAME` that a page or a script refers to is embedded.
    #[test]
    fn every_referenced_asset_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for dir in ["templates", "templates/email", "static/js"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (_, rest) in text
                    .match_indices("/assets/")
                    .map(|(i, _)| text.split_at(i + 8))
                {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                        .collect();
                    // Prose ends a sentence with a full stop: "/assets/age.js."
                    let name = name.trim_end_matches('.').to_owned();
                    if name.is_empty() {
                        continue;
                    }
                    assert!(
                        ASSETS.iter().any(|(n, _, _)| *n == name),
                        "{} refers to /assets/{name}, which is not embedded",
                        path.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10, "only {checked} references found");
    }
}
