//! Headers on every response, and the refusal of cross-site writes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use reqwest::Url;

use super::AppState;
use super::error::{ApiError, Code};

/// Only our own scripts and styles, no inline code, no framing, no third parties.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(crate) async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(
        h,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    );
    // Pages and API answers can carry secret material or status: never store them.
    // Assets are public code; revalidating them is enough.
    set(
        h,
        header::CACHE_CONTROL,
        if is_asset { "no-cache" } else { "no-store" },
    );
    if state.settings.https {
        set(
            h,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    res
}

/// A page on another site must not be able to burn a link or destroy a secret
/// by posting to us from a visitor's browser. Browsers say where a request
/// comes from in `Sec-Fetch-Site`; non-browser clients do not send it. A
/// write is accepted without it, from this origin (`same-origin`) or from
/// the user's own action (`none`); from a sibling host of the same site
/// (`same-site`) only when its `Origin` is one the operator allowed
/// (`--same-site-origins`); never from another site.
pub(crate) async fn refuse_cross_site_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let is_write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if is_write && !write_allowed(req.headers(), &state.settings.same_site_origins) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            Code::CrossSite,
            "Requests from other sites are refused (from other hosts of this site too, \
             unless this server was told to accept them).",
        )
        .for_route(req.uri().path());
    }
    next.run(req).await
}

/// Whether a write with these headers may proceed; `siblings` are the
/// allowed same-site origins, as [`parse_origin`] writes them.
fn write_allowed(headers: &HeaderMap, siblings: &[String]) -> bool {
    let Some(site) = headers.get("sec-fetch-site") else {
        return true;
    };
    let site = site.as_bytes();
    if site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none") {
        return true;
    }
    // `cross-site`, and values no browser sends, are refused.
    site.eq_ignore_ascii_case(b"same-site")
        && headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| siblings.iter().any(|s| s == o.trim()))
}

/// An origin as browsers send it in `Origin`: `https://host` or
/// `http://host:port`, lower case, the default port left out. Refuses
/// anything with a path, query, fragment or user name, which no origin has.
pub(crate) fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not an origin: {e}"))?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(format!(
            "{text:?} is not an origin: give only the scheme, host and port, e.g. https://portal.example.com"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn writes_from_sibling_hosts_need_their_origin_allowed() {
        let allowed = vec!["https://portal.example.com".to_owned()];
        let sibling =
            |origin: &'static str| headers(&[("sec-fetch-site", "same-site"), ("origin", origin)]);
        assert!(write_allowed(&HeaderMap::new(), &[]));
        assert!(write_allowed(
            &headers(&[("sec-fetch-site", "same-origin")]),
            &[]
        ));
        assert!(write_allowed(&headers(&[("sec-fetch-site", "none")]), &[]));
        assert!(!write_allowed(&sibling("https://portal.example.com"), &[]));
        assert!(write_allowed(
            &sibling("https://portal.example.com"),
            &allowed
        ));
        assert!(!write_allowed(
            &sibling("https://other.example.com"),
            &allowed
        ));
        assert!(!write_allowed(
            &headers(&[("sec-fetch-site", "same-site")]),
            &allowed
        ));
        let cross = headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://portal.example.com"),
        ]);
        assert!(!write_allowed(&cross, &allowed));
        assert!(!write_allowed(
            &headers(&[("sec-fetch-site", "nonsense")]),
            &allowed
        ));
    }

    #[test]
    fn origins_are_checked_and_written_as_browsers_send_them() {
        assert_eq!(
            parse_origin(" https://Portal.Example.com/ ").unwrap(),
            "https://portal.example.com"
        );
        assert_eq!(
            parse_origin("https://p.example:443").unwrap(),
            "https://p.example"
        );
        assert_eq!(
            parse_origin("http://p.example:8080").unwrap(),
            "http://p.example:8080"
        );
        for bad in [
            "portal.example.com",
            "ftp://p.example",
            "https://p.example/app",
            "https://u@p.example",
            "https://p.example/?x",
            "https://p.example/#f",
            "null",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
