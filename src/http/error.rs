//! The API's one error type. Clients see `{"error": code, "message": sentence}`;
//! internal causes are logged here and never shown.

use axum::Json;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// One answer for unknown, expired, read and destroyed: telling them apart
    /// would tell a guesser which ids exist.
    pub fn gone() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "This secret does not exist: it was already read, destroyed, has expired, or the link is wrong.",
        )
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("The ciphertext is larger than this server accepts ({limit} bytes)."),
        )
    }

    pub fn rate_limited(wait_seconds: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many requests from your address; try again in {wait_seconds} second{}.",
                if wait_seconds == 1 { "" } else { "s" }
            ),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(Body {
            error: self.code,
            message: &self.message,
        });
        (self.status, body).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The server cannot reach its database right now; nothing was changed. Try again shortly.",
        )
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s with the contract's codes.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with Content-Type: application/json.",
            ),
            JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "The request body is too large.",
                )
            }
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
