//! The file transfer API (issue 14): create a transfer, upload its pieces
//! (raw `application/octet-stream`, one age file each), see what is
//! uploaded, complete it; read its metadata, claim it once, fetch the
//! pieces during the claim's grace, finish. See `openapi.json` and the
//! rules in [`crate::transfer`].
//!
//! A wrong or missing token gets the same 404 as an unknown id, so that ids
//! cannot be probed.

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;

use super::AppState;
use super::api::decode_upload;
use super::error::{ApiError, ApiJson, ApiPath, Code};
use super::inbox::bearer_token;
use crate::clock::rfc3339;
use crate::id::Id;
use crate::store::{Completion, Finished, NewTransfer, PiecePut};
use crate::transfer::{
    DeclaredFile, MANIFEST_MAX, MAX_FILES, PIECE_CIPHERTEXT_MAX, PIECE_SIZE, check_piece,
};
use crate::upload::AgeFile;
use crate::wire::{
    CreateTransfer, TransferClaimed, TransferCompleted, TransferCreated, TransferFile,
    TransferMeta, UploadState, UploadedFile,
};

/// The routes without rate limits; creating and claiming are added,
/// limited, in `http::router` ([`create`], [`claim`]).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/transfers/{id}", get(meta))
        .route("/api/v1/transfers/{id}/upload", get(upload_state))
        .route(
            "/api/v1/transfers/{id}/files/{file}/pieces/{piece}",
            get(download_piece).put(put_piece_or_close),
        )
        .route("/api/v1/transfers/{id}/complete", post(complete))
        .route("/api/v1/transfers/{id}/finish", post(finish))
}

/// The largest JSON body of a creation: the manifest in base64 and a
/// thousand file declarations.
pub(crate) const CREATE_BODY_MAX: usize = MANIFEST_MAX.div_ceil(3) * 4 + MAX_FILES * 64 + 4096;

/// One answer for unknown, expired, incomplete, claimed and wrong tokens.
fn gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "This file transfer does not exist: it was already downloaded, has expired, \
         is not complete yet, or the link or token is wrong.",
    )
}

/// `POST /api/v1/transfers` without a request while the public page is off.
fn transfers_off() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        Code::Forbidden,
        "This server does not accept file transfers from its public page.",
    )
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidField, message)
}

fn link(state: &AppState, id: &str) -> String {
    format!("{}/f/{id}", state.settings.public_url)
}

/// The transfer id of a path, or the 404 every wrong id gets.
fn transfer_id(text: &str) -> Result<Id, ApiError> {
    Id::parse(text).ok_or_else(gone)
}

/// The bearer token's digest, or 404 (not 401: a missing token must not
/// tell that the id exists).
fn token_hash(headers: &HeaderMap) -> Result<Vec<u8>, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .and_then(Id::parse)
        .map(|t| t.digest())
        .ok_or_else(gone)
}

/// Until when a new transfer may be uploaded, and the request it is made
/// for: a request's transfer needs an open files request (its id is the
/// authority, as for the answer) and lives as long as the request; any
/// other needs the public page and its `expires_in`, bounded by the policy.
async fn lifetime(
    state: &AppState,
    req: &CreateTransfer,
    now: i64,
) -> Result<(i64, Option<String>), ApiError> {
    let Some(request) = &req.request else {
        if !state.settings.public_page {
            return Err(transfers_off());
        }
        let Some(expires_in) = req.expires_in else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidExpiry,
                "expires_in is missing: say for how many seconds the link may be opened.",
            ));
        };
        let lifetime = state.settings.expiry.check(expires_in).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidExpiry, e.to_string())
        })?;
        return Ok((now + lifetime, None));
    };
    if req.expires_in.is_some() {
        return Err(invalid(
            "A request's transfer lives as long as the request: send no expires_in with request."
                .to_owned(),
        ));
    }
    let found = match Id::parse(request) {
        Some(id) => state.store.request(id.as_str()).await?,
        None => None,
    };
    let Some(r) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "There is no such request. Check that the whole link was copied.",
        ));
    };
    if !super::requests::asks_for_files(state, r.template()) {
        return Err(invalid(
            "This request asks for credentials, not files: answer it with its form.".to_owned(),
        ));
    }
    if let Some(refused) = super::requests::closed(&r, now) {
        return Err(refused);
    }
    Ok((r.expires_at(), Some(r.id().to_owned())))
}

/// `POST /api/v1/transfers`: a transfer from the public page, or (with
/// `request`) for a files request.
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateTransfer>,
) -> Result<Response, ApiError> {
    let settings = &state.settings;
    let now = state.clock.now();
    let (expires_at, request_id) = lifetime(&state, &req, now).await?;
    if req.files.is_empty() || req.files.len() > MAX_FILES {
        return Err(invalid(format!(
            "A transfer holds 1 to {MAX_FILES} files, not {}.",
            req.files.len()
        )));
    }
    let mut files = Vec::with_capacity(req.files.len());
    let mut total: u64 = 0;
    for (index, f) in req.files.iter().enumerate() {
        let declared =
            DeclaredFile::check(index, f.pieces, f.size).map_err(|e| invalid(e + "."))?;
        total = total.saturating_add(declared.size);
        files.push((f.pieces, f.size));
    }
    if total > settings.max_transfer_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            format!(
                "The files add up to {total} bytes of ciphertext; this server accepts at most {} per transfer.",
                settings.max_transfer_bytes
            ),
        ));
    }
    let manifest = decode_upload(&req.manifest, MANIFEST_MAX)?;
    let id = Id::random();
    let upload_token = Id::random();
    let count = files.len();
    let for_request = request_id.is_some();
    state
        .store
        .insert_transfer(NewTransfer {
            id: id.clone(),
            upload_hash: upload_token.digest(),
            manifest: manifest.into_bytes(),
            files,
            created_at: now,
            expires_at,
            request_id,
        })
        .await?;
    tracing::info!(
        files = count,
        bytes = total,
        for_request,
        "file transfer created"
    );
    let created = TransferCreated {
        url: link(&state, id.as_str()),
        upload_token: upload_token.to_string(),
        expires_at: rfc3339(expires_at),
        piece_size: PIECE_SIZE as i64,
        id: id.to_string(),
    };
    let location = format!("/api/v1/transfers/{id}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    )
        .into_response())
}

/// A file or piece index from the path: a decimal number below 2^53.
fn index(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn out_of_range(file: &str, piece: &str) -> ApiError {
    ApiError::bad_request(format!(
        "This transfer has no file {file:?} with a piece {piece:?}: files and pieces are counted from 0, below what was declared."
    ))
}

fn piece_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::TooLarge,
        format!("A piece is at most {PIECE_CIPHERTEXT_MAX} bytes of age ciphertext."),
    )
}

/// Reads a piece's body, at most [`PIECE_CIPHERTEXT_MAX`] bytes.
async fn read_piece(body: &mut Body) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, PIECE_CIPHERTEXT_MAX);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(piece_too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "The piece could not be read to its end: {e}"
        ))),
    }
}

/// A piece's `Content-Type`: none, or `application/octet-stream`.
fn check_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_TYPE)
        .map(axum::http::HeaderValue::as_bytes)
    {
        None => Ok(()),
        Some(t)
            if t.split(|b| *b == b';').next().is_some_and(|m| {
                m.trim_ascii()
                    .eq_ignore_ascii_case(b"application/octet-stream")
            }) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "Send a piece as its raw age file, with Content-Type: application/octet-stream.",
        )),
    }
}

/// [`put_piece`], reading what is left of a refused piece before answering.
///
/// Most refusals come before the body is read (an unknown transfer, a piece
/// out of range, a complete transfer, the wrong media type). Answering then
/// and closing with the body unread makes the kernel reset the connection,
/// and a client still sending its piece, as HTTP/1.1 clients do, gets the
/// reset on its next write and never reads the answer (reqwest and browsers
/// report a broken pipe instead of the 409). So the rest of the body is read
/// and dropped first, at most another [`PIECE_CIPHERTEXT_MAX`] bytes (what an
/// accepted piece costs; the request timeout bounds the time). A body
/// declared larger than that is not waited for: it is answered at once, on
/// its head, and the connection closed.
async fn put_piece_or_close(
    state: State<AppState>,
    path: ApiPath<(String, String, String)>,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    match put_piece(state, path, headers, &mut body).await {
        Ok(status) => status.into_response(),
        Err(e) => {
            let read_to_end = drain(&mut body).await;
            let mut res = e.into_response();
            if !read_to_end {
                res.headers_mut().insert(
                    header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            res
        }
    }
}

/// Reads and drops the rest of `body`, at most [`PIECE_CIPHERTEXT_MAX`]
/// bytes; true when it was read to its end. A body that declares more than
/// that (its `Content-Length`) is not read at all.
async fn drain(body: &mut Body) -> bool {
    use axum::body::HttpBody;
    let mut left = PIECE_CIPHERTEXT_MAX as u64;
    if body.size_hint().lower() > left {
        return false;
    }
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Some(data) = frame.data_ref() {
            let Some(rest) = left.checked_sub(data.len() as u64) else {
                return false;
            };
            left = rest;
        }
    }
    true
}

async fn put_piece(
    State(state): State<AppState>,
    ApiPath((id, file, piece)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: &mut Body,
) -> Result<StatusCode, ApiError> {
    // Refused before a byte of the body is read, when its length is known.
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > PIECE_CIPHERTEXT_MAX as u64) {
        return Err(piece_too_large());
    }
    let id = transfer_id(&id)?;
    let hash = token_hash(&headers)?;
    let now = state.clock.now();
    let view = state
        .store
        .upload_view(&id, &hash, now)
        .await?
        .ok_or_else(gone)?;
    let (Some(f), Some(p)) = (index(&file), index(&piece)) else {
        return Err(out_of_range(&file, &piece));
    };
    let Some(&(pieces, _)) = usize::try_from(f).ok().and_then(|f| view.files.get(f)) else {
        return Err(out_of_range(&file, &piece));
    };
    if p >= pieces {
        return Err(out_of_range(&file, &piece));
    }
    if view.completed {
        return Err(complete_already());
    }
    check_octet_stream(&headers)?;
    let bytes = read_piece(body).await?;
    let age = AgeFile::parse(bytes.to_vec()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::NotAgeFile,
            format!("The piece is not an age file this server accepts: {e}."),
        )
    })?;
    let (p_u, pieces_u) = (p.unsigned_abs(), pieces.unsigned_abs());
    check_piece(&age, p_u, pieces_u).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::InvalidPiece,
            format!("The piece does not fit the transfer: {e}."),
        )
    })?;
    let put = state
        .store
        .put_piece(&id, hash, f, p, age.into_bytes(), now)
        .await?;
    match put {
        PiecePut::Stored | PiecePut::Same => Ok(StatusCode::NO_CONTENT),
        PiecePut::Different => Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::PieceExists,
            "The server already holds other bytes for this piece; pieces cannot be replaced. \
             Start a new transfer if the file changed.",
        )),
        PiecePut::Complete => Err(complete_already()),
        PiecePut::Unknown => Err(gone()),
        PiecePut::OutOfRange => Err(out_of_range(&file, &piece)),
        PiecePut::OverSize { declared, would_be } => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooLarge,
            format!(
                "With this piece, file {f}'s pieces would add up to {would_be} bytes; {declared} were declared."
            ),
        )),
    }
}

fn complete_already() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        Code::Complete,
        "This transfer is complete; it takes no more pieces.",
    )
}

async fn upload_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<UploadState>, ApiError> {
    let id = transfer_id(&id)?;
    let hash = token_hash(&headers)?;
    let view = state
        .store
        .upload_view(&id, &hash, state.clock.now())
        .await?
        .ok_or_else(gone)?;
    let mut files: Vec<UploadedFile> = view
        .files
        .iter()
        .map(|(pieces, _)| UploadedFile {
            pieces: *pieces,
            present: Vec::new(),
        })
        .collect();
    for (f, p) in state.store.present_pieces(&id).await? {
        if let Some(file) = usize::try_from(f).ok().and_then(|f| files.get_mut(f)) {
            file.present.push(p);
        }
    }
    Ok(Json(UploadState {
        complete: view.completed,
        files,
    }))
}

async fn complete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<TransferCompleted>, ApiError> {
    let id = transfer_id(&id)?;
    let hash = token_hash(&headers)?;
    match state
        .store
        .complete_transfer(&id, hash, state.clock.now())
        .await?
    {
        Completion::Done { expires_at } => {
            tracing::info!("file transfer completed");
            Ok(Json(TransferCompleted {
                url: link(&state, id.as_str()),
                expires_at: rfc3339(expires_at),
                id: id.to_string(),
            }))
        }
        Completion::Missing { pieces } => Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::Incomplete,
            format!(
                "{pieces} piece{} still missing; send {} (GET …/upload lists what the server holds), then complete again.",
                if pieces == 1 { " is" } else { "s are" },
                if pieces == 1 { "it" } else { "them" }
            ),
        )),
        Completion::Unknown => Err(gone()),
    }
}

async fn meta(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TransferMeta>, ApiError> {
    let id = transfer_id(&id)?;
    let m = state
        .store
        .transfer_meta(&id, state.clock.now())
        .await?
        .ok_or_else(gone)?;
    Ok(Json(TransferMeta {
        id: m.id,
        files: m.files,
        size: m.size,
        created_at: rfc3339(m.created_at),
        expires_at: rfc3339(m.expires_at),
    }))
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TransferClaimed>, ApiError> {
    let id = transfer_id(&id)?;
    let token = Id::random();
    let now = state.clock.now();
    let grace_until = now + state.settings.transfer_grace_seconds;
    let claimed = state
        .store
        .claim_transfer(&id, token.digest(), now, grace_until)
        .await?
        .ok_or_else(gone)?;
    tracing::info!("file transfer claimed");
    Ok(Json(TransferClaimed {
        manifest: STANDARD.encode(&claimed.manifest),
        download_token: token.to_string(),
        files: claimed
            .files
            .iter()
            .map(|&(pieces, size)| TransferFile { pieces, size })
            .collect(),
        grace_until: rfc3339(claimed.grace_until),
    }))
}

async fn download_piece(
    State(state): State<AppState>,
    ApiPath((id, file, piece)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = transfer_id(&id)?;
    let hash = token_hash(&headers)?;
    let (Some(f), Some(p)) = (index(&file), index(&piece)) else {
        return Err(gone());
    };
    let bytes = state
        .store
        .download_piece(&id, &hash, f, p, state.clock.now())
        .await?
        .ok_or_else(gone)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

async fn finish(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let id = transfer_id(&id)?;
    let hash = token_hash(&headers)?;
    match state
        .store
        .finish_transfer(&id, hash, state.clock.now())
        .await?
    {
        Finished::Unknown => return Err(gone()),
        Finished::OthersRead => {
            tracing::info!("a reader finished a request's file transfer");
            return Ok(StatusCode::NO_CONTENT);
        }
        Finished::Over => {}
    }
    // No piece is served from here on; deleting a gigabyte of them takes
    // longer than a request may, so it goes on after the answer (and the
    // purge finishes it should the server stop first).
    let store = state.store.clone();
    tokio::spawn(async move {
        match store.delete_transfer(id.as_str()).await {
            Ok(pieces) => tracing::info!(pieces, "finished file transfer deleted"),
            Err(e) => {
                tracing::warn!(error = %e, "deleting a finished file transfer failed; the purge will");
            }
        }
    });
    tracing::info!("file transfer finished");
    Ok(StatusCode::NO_CONTENT)
}
