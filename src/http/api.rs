//! The JSON API (v1): create a secret, read its metadata, reveal it once, and
//! the creator's status endpoints. See `openapi.json` for the contract.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::AppState;
use super::error::{ApiError, ApiJson, ApiPath, Code};
use crate::clock::rfc3339;
use crate::id::Id;
use crate::store::{NewSecret, Receipt, SecretMeta};
use crate::template;
use crate::upload::AgeFile;
use crate::wire::{CreateSecret, Created, Health, Meta, Revealed, Status};

pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Routes without rate limits; create and reveal are added, limited, in `http::router`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/secrets/{id}", get(secret_meta))
        .route("/api/v1/status/{token}", get(status))
        .route("/api/v1/status/{token}/destroy", post(destroy))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
}

pub(crate) async fn create_secret(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateSecret>,
) -> Result<impl IntoResponse, ApiError> {
    let settings = &state.settings;
    if template::find(&req.template).is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::UnknownTemplate,
            format!("There is no template {:?}.", req.template),
        ));
    }
    let lifetime = settings
        .expiry
        .check(req.expires_in)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidExpiry, e.to_string()))?;
    let file = decode_upload(&req.ciphertext, settings.max_secret_bytes)?;

    let now = state.clock.now();
    let id = Id::timestamped(now);
    let status_token = Id::timestamped(now);
    let expires_at = now + lifetime;
    state
        .store
        .insert_secret(&NewSecret {
            id: &id,
            template: &req.template,
            passphrase: req.passphrase,
            created_at: now,
            expires_at,
            status_hash: status_token.digest(),
            ciphertext: file.as_bytes(),
        })
        .await?;
    tracing::info!(template = %req.template, bytes = file.as_bytes().len(), "secret created");
    let created = Created {
        url: format!("{}/s/{id}", settings.public_url),
        status_url: format!("{}/status/{status_token}", settings.public_url),
        expires_at: rfc3339(expires_at),
        id: id.to_string(),
    };
    let location = format!("/api/v1/secrets/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// Standard base64 with padding, where the unused bits of the last
/// character need not be zero (RFC 4648 lets decoders ignore them; a client
/// that sets them has still sent these bytes).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Decodes a base64 age file from a JSON body and checks it: size first
/// (before decoding what cannot fit), then base64, then the age header.
pub(crate) fn decode_upload(b64: &str, max_bytes: usize) -> Result<AgeFile, ApiError> {
    // Base64 is 4 characters per 3 bytes.
    if b64.len() > max_bytes.div_ceil(3) * 4 {
        return Err(ApiError::too_large(max_bytes));
    }
    let bytes = LENIENT_BASE64.decode(b64.as_bytes()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidBase64,
            "The ciphertext is not valid base64 (standard alphabet, with padding).",
        )
    })?;
    if bytes.len() > max_bytes {
        return Err(ApiError::too_large(max_bytes));
    }
    AgeFile::parse(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::NotAgeFile,
            format!("The ciphertext is not an age file this server accepts: {e}."),
        )
    })
}

impl From<SecretMeta> for Meta {
    fn from(m: SecretMeta) -> Meta {
        Meta {
            id: m.id,
            template: m.template,
            passphrase: m.passphrase,
            created_at: rfc3339(m.created_at),
            expires_at: rfc3339(m.expires_at),
        }
    }
}

async fn secret_meta(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Meta>, ApiError> {
    let id = Id::parse_secret(&id).ok_or_else(ApiError::gone)?;
    let meta = state
        .store
        .secret_meta(&id, state.clock.now())
        .await?
        .ok_or_else(ApiError::gone)?;
    Ok(Json(meta.into()))
}

pub(crate) async fn reveal_secret(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Revealed>, ApiError> {
    let id = Id::parse_secret(&id).ok_or_else(ApiError::gone)?;
    let bytes = state
        .store
        .reveal(&id, state.clock.now())
        .await?
        .ok_or_else(ApiError::gone)?;
    tracing::info!("secret revealed");
    Ok(Json(Revealed {
        ciphertext: STANDARD.encode(bytes),
    }))
}

/// The creator's view of a secret at `now` (Unix seconds).
fn receipt_status(r: Receipt, now: i64) -> Status {
    Status {
        state: r.state(now).as_str().to_owned(),
        id: r.id,
        template: r.template,
        created_at: rfc3339(r.created_at),
        expires_at: rfc3339(r.expires_at),
        read_at: r.read_at.map(rfc3339),
        destroyed_at: r.destroyed_at.map(rfc3339),
    }
}

fn unknown_status() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "There is no such status link, or its record has been purged.",
    )
}

async fn status(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<Status>, ApiError> {
    let token = Id::parse_secret(&token).ok_or_else(unknown_status)?;
    let receipt = state
        .store
        .receipt(&token)
        .await?
        .ok_or_else(unknown_status)?;
    Ok(Json(receipt_status(receipt, state.clock.now())))
}

async fn destroy(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<Status>, ApiError> {
    let token = Id::parse_secret(&token).ok_or_else(unknown_status)?;
    let now = state.clock.now();
    destroy_for_creator(&state, &token).await?;
    let receipt = state
        .store
        .receipt(&token)
        .await?
        .ok_or_else(unknown_status)?;
    Ok(Json(receipt_status(receipt, now)))
}

/// Destroys an unread secret for the holder of its status token (the API
/// and the status page's form both come here).
pub(crate) async fn destroy_for_creator(state: &AppState, token: &Id) -> Result<(), ApiError> {
    if state.store.destroy(token, state.clock.now()).await? {
        tracing::info!("secret destroyed by its creator");
    }
    Ok(())
}

async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        served_openapi(&state.settings),
    )
}

/// The OpenAPI file with what this server's configuration decides written
/// in: the longest `expires_in`, the largest ciphertext, the integration
/// templates requests can use, and whether an answer carries a sealed copy.
pub(crate) fn served_openapi(settings: &crate::config::Settings) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(OPENAPI) else {
        return OPENAPI.to_owned();
    };
    let schemas = &mut doc["components"]["schemas"];
    let max_expiry = settings.expiry.max_seconds();
    for body in ["CreateSecret", "CreateRequest"] {
        schemas[body]["properties"]["expires_in"]["maximum"] = max_expiry.into();
    }
    schemas["Base64AgeFile"]["maxLength"] = (settings.max_secret_bytes.div_ceil(3) * 4).into();
    let templates: Vec<serde_json::Value> = settings
        .integrations
        .all()
        .iter()
        .map(|i| i.id.clone().into())
        .collect();
    schemas["CreateRequest"]["properties"]["template"]["enum"] = templates.into();
    let answer = &mut schemas["Answer"];
    if settings.soc_recipients.is_empty() {
        if let Some(p) = answer["properties"].as_object_mut() {
            p.remove("sealed_ciphertext");
        }
    } else if let Some(r) = answer["required"].as_array_mut() {
        r.push("sealed_ciphertext".into());
    }
    doc.to_string()
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let (code, status) = if state.store.ping().await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let health = Health {
        status: status.to_owned(),
        database: state.store.backend().to_owned(),
    };
    (code, Json(health))
}
