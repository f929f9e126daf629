//! The web layer's error types. API clients see `{"error": code, "message":
//! sentence}`; people see a page with the same sentence. Internal causes are
//! logged here and never shown.
//!
//! Every rejection an extractor can produce becomes one of these: the
//! extractors handlers take ([`ApiJson`], [`ApiPath`], [`ApiQuery`], [`PagePath`],
//! [`PageForm`], [`PageQuery`]) reject with them, and [`answer_in_kind`]
//! turns whatever else answers an error without a JSON or HTML body into the
//! one its route speaks.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;
use crate::wire::ErrorBody;

/// Declares [`Code`] with its wire names, and `Code::ALL`: the list the
/// OpenAPI file's `Error.error` enum is tested against.
macro_rules! codes {
    ($($variant:ident = $name:literal,)*) => {
        /// Every machine code an error answer can carry.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Code {
            $($variant,)*
        }

        impl Code {
            #[cfg(test)]
            pub(crate) const ALL: &[Code] = &[$(Code::$variant,)*];

            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }
        }
    };
}

codes! {
    AlreadyAnswered = "already_answered",
    BadRequest = "bad_request",
    Cancelled = "cancelled",
    Complete = "complete",
    CrossSite = "cross_site",
    Csrf = "csrf",
    Expired = "expired",
    Forbidden = "forbidden",
    Incomplete = "incomplete",
    Internal = "internal",
    InvalidBase64 = "invalid_base64",
    InvalidExpiry = "invalid_expiry",
    InvalidField = "invalid_field",
    InvalidLeaseId = "invalid_lease_id",
    InvalidPiece = "invalid_piece",
    InvalidRecipient = "invalid_recipient",
    LeaseLapsed = "lease_lapsed",
    Leased = "leased",
    MethodNotAllowed = "method_not_allowed",
    NotAgeFile = "not_age_file",
    NotFound = "not_found",
    NotImported = "not_imported",
    NothingToRecheck = "nothing_to_recheck",
    PieceExists = "piece_exists",
    RateLimited = "rate_limited",
    RequestTimeout = "request_timeout",
    Timeout = "timeout",
    TooLarge = "too_large",
    TooLate = "too_late",
    Unauthorized = "unauthorized",
    Unavailable = "unavailable",
    UnknownRequest = "unknown_request",
    UnknownTemplate = "unknown_template",
    UnsupportedMediaType = "unsupported_media_type",
    WrongRecipients = "wrong_recipients",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, Code::BadRequest, message)
    }

    /// One answer for unknown, expired, read and destroyed: telling them apart
    /// would tell a guesser which ids exist.
    pub(crate) fn gone() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "This secret does not exist: it was already read, destroyed, has expired, or the link is wrong.",
        )
    }

    pub(crate) fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            format!("The ciphertext is larger than this server accepts ({limit} bytes)."),
        )
    }

    pub(crate) fn rate_limited(wait_seconds: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            Code::RateLimited,
            format!(
                "Too many requests from your address; try again in {wait_seconds} second{}.",
                if wait_seconds == 1 { "" } else { "s" }
            ),
        )
    }

    /// This error as its route speaks: JSON under `/api/`, a page elsewhere.
    pub(crate) fn for_route(self, path: &str) -> Response {
        if path.starts_with("/api/") {
            self.into_response()
        } else {
            PageError(self).into_response()
        }
    }

    /// The body did not arrive within the request's time limit.
    pub(crate) fn request_timeout() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            Code::RequestTimeout,
            "The request's body did not arrive in time, so nothing was done. Send it again.",
        )
    }

    /// The answer for an error `status` that came with no sentence of ours
    /// (see [`answer_in_kind`]).
    pub(crate) fn for_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => (Code::NotFound, "There is nothing at this address."),
            StatusCode::METHOD_NOT_ALLOWED => (
                Code::MethodNotAllowed,
                "This endpoint does not accept that method.",
            ),
            StatusCode::REQUEST_TIMEOUT => {
                return ApiError::request_timeout();
            }
            StatusCode::PAYLOAD_TOO_LARGE => (Code::TooLarge, "The request body is too large."),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                Code::UnsupportedMediaType,
                "The request body has a content type this address does not accept.",
            ),
            StatusCode::TOO_MANY_REQUESTS => (
                Code::RateLimited,
                "Too many requests from your address; wait a minute and try again.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                Code::Unavailable,
                "The server cannot answer right now; nothing was changed. Try again shortly.",
            ),
            s if s.is_server_error() => (Code::Internal, "Something went wrong on the server."),
            _ => (
                Code::BadRequest,
                "The request could not be read: check its address, headers and body.",
            ),
        };
        // Only the status above decides; anything else is a 400.
        let status = if code == Code::BadRequest {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code.as_str().to_owned(),
            message: self.message,
        });
        (self.status, body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            "The server cannot reach its database right now; nothing was changed. Try again shortly.",
        )
    }
}

/// An error answered to a person: a page with the status, a title and the
/// same sentence an API client would get (`data-notice` holds the code).
#[derive(Debug)]
pub(crate) struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        super::pages::error_page(self.0.status, self.0.code, &self.0.message)
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s with the contract's codes.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// `Path<T>` for API routes: a path that cannot be decoded names nothing, a
/// JSON 404 like any unknown id.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// `Query<T>` for the API: an unreadable query string is a JSON 400 that
/// says what was wrong.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// `Path<T>` for pages: the same refusal, as a page.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PageError))]
pub(crate) struct PagePath<T>(pub T);

/// `Form<T>` for pages: a body of another type (415), too large (413) or
/// unreadable (400) is answered with a page.
#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(PageError))]
pub(crate) struct PageForm<T>(pub T);

/// `Query<T>` for pages.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(PageError))]
pub(crate) struct PageQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "Send the body as JSON with Content-Type: application/json.",
            ),
            JsonRejection::BytesRejection(r) => body_unread(r.status(), &r.body_text()),
            JsonRejection::JsonDataError(e) => ApiError::bad_request(format!(
                "The JSON body has a wrong or missing field: {}",
                e.body_text()
            )),
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::bad_request("The body is not valid JSON.")
            }
            other => ApiError::bad_request(format!(
                "The request body could not be read: {}",
                other.body_text()
            )),
        }
    }
}

/// A body that could not be read to its end: too large, or cut off.
fn body_unread(status: StatusCode, why: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            "The request body is too large.",
        )
    } else {
        ApiError::bad_request(format!("The request body could not be read: {why}"))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        match rejection {
            // With `String` parameters the one way to fail is a percent-escape
            // that is not UTF-8 (`%FF`): no id or token has one.
            PathRejection::FailedToDeserializePathParams(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                Code::NotFound,
                "There is nothing at this address: it holds a percent-escape that is not UTF-8, \
                 which no link of this server has. Check that the whole link was copied.",
            ),
            other => {
                tracing::error!(rejection = %other.body_text(), "a route without its path parameters");
                ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl From<PathRejection> for PageError {
    fn from(rejection: PathRejection) -> PageError {
        PageError(rejection.into())
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> ApiError {
        match rejection {
            FormRejection::InvalidFormContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "This form must be sent as application/x-www-form-urlencoded, as the page's own \
                 form does. Nothing was changed; reload the page and use its form.",
            ),
            FormRejection::BytesRejection(r) => body_unread(r.status(), &r.body_text()),
            other => ApiError::bad_request(format!(
                "The form has a wrong or missing field, so nothing was changed: {}",
                other.body_text()
            )),
        }
    }
}

impl From<FormRejection> for PageError {
    fn from(rejection: FormRejection) -> PageError {
        PageError(rejection.into())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(format!(
            "The address's query string could not be read: {}",
            rejection.body_text()
        ))
    }
}

impl From<QueryRejection> for PageError {
    fn from(rejection: QueryRejection) -> PageError {
        PageError(rejection.into())
    }
}

/// The fallback for every error answer that is neither JSON nor a page
/// (a rejection from an extractor used directly, a layer's refusal): under
/// `/api/` it becomes the contract's JSON error for its status, elsewhere a
/// page. Headers such as `Allow` and `Retry-After` are kept.
pub(crate) async fn answer_in_kind(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || speaks_our_kind(&res) {
        return res;
    }
    let error = ApiError::for_status(status);
    let mut fresh = if api {
        error.into_response()
    } else {
        PageError(error).into_response()
    };
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !fresh.headers().contains_key(name)
        {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

fn speaks_our_kind(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI file's `Error.error` enum is exactly the codes an answer
    /// can carry: a code added here and not there (or left there after it
    /// went) fails this test.
    #[test]
    fn openapi_lists_every_error_code() {
        let spec: serde_json::Value =
            serde_json::from_str(crate::http::api::OPENAPI).expect("openapi.json is JSON");
        let listed: std::collections::BTreeSet<&str> =
            spec["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
                .as_array()
                .expect("Error.error has an enum")
                .iter()
                .map(|v| v.as_str().expect("codes are strings"))
                .collect();
        let emitted: std::collections::BTreeSet<&str> =
            Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, emitted, "openapi.json's Error.error enum");
        assert_eq!(emitted.len(), Code::ALL.len(), "codes are distinct");
    }

    #[test]
    fn statuses_without_a_sentence_get_the_contracts_code() {
        for (status, code) in [
            (StatusCode::NOT_FOUND, Code::NotFound),
            (StatusCode::METHOD_NOT_ALLOWED, Code::MethodNotAllowed),
            (StatusCode::REQUEST_TIMEOUT, Code::RequestTimeout),
            (StatusCode::PAYLOAD_TOO_LARGE, Code::TooLarge),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
            ),
            (StatusCode::TOO_MANY_REQUESTS, Code::RateLimited),
            (StatusCode::SERVICE_UNAVAILABLE, Code::Unavailable),
            (StatusCode::INTERNAL_SERVER_ERROR, Code::Internal),
            (StatusCode::IM_A_TEAPOT, Code::BadRequest),
        ] {
            let e = ApiError::for_status(status);
            assert_eq!(e.code, code, "{status}");
        }
        assert_eq!(
            ApiError::for_status(StatusCode::IM_A_TEAPOT).status,
            StatusCode::BAD_REQUEST
        );
    }

    /// A plain-text refusal from below the handlers becomes JSON under
    /// `/api/` and a page elsewhere, keeping its status and headers.
    #[tokio::test]
    async fn plain_refusals_answer_in_their_routes_kind() {
        use axum::Router;
        use axum::routing::get;
        use tower::ServiceExt;

        let app = Router::new()
            .route(
                "/api/v1/x",
                get(|| async { (StatusCode::BAD_REQUEST, [("x-kept", "1")], "plain") }),
            )
            .route(
                "/page",
                get(|| async { (StatusCode::UNSUPPORTED_MEDIA_TYPE, "plain") }),
            )
            .layer(axum::middleware::from_fn(answer_in_kind));
        let get = |uri: &str| {
            Request::builder()
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let res = app.clone().oneshot(get("/api/v1/x")).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["x-kept"], "1");
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "bad_request");

        let res = app.oneshot(get("/page")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = axum::body::to_bytes(res.into_body(), 65536).await.unwrap();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            page.contains("data-notice=\"unsupported_media_type\""),
            "{page}"
        );
    }
}
