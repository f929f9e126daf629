//! Requests, from the customer's and the PM's side: the customer's request
//! page and its API (metadata, "opened", the answer), the customer's receipt
//! (status and withdrawal), and the PM's once-only retrieval.
//!
//! Capabilities, as in the core: the request id lets its holder answer once;
//! the receipt token (stored as a hash) lets the customer follow and withdraw;
//! the retrieval id hands out the PM's copy once, and the key to open it
//! stays in the PM's link fragment.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::AppState;
use super::api::decode_upload;
use super::client_ip::ClientAddr;
use super::error::{ApiError, ApiJson, ApiPath, Code, PageError, PageForm, PagePath};
use super::pages::{ConfirmPage, Confirmation, Frame, NotFoundPage, link_id, render};
use crate::audit::{Actor, Kind, NewEvent};
use crate::clock::rfc3339;
use crate::id::Id;
use crate::integration::{Cloud, Integration, Shell};
use crate::request::{AnswerRefused, CustomerState, RequestState, RetrievalState};
use crate::store::{Answer, NewReader, Noted, ReaderGrant, Request, StoreError, Withdrawal};
use crate::wire::{
    AnswerBody, Answered, CredentialFacts, RequestMeta, RequestStatus, Retrieved, TransferFile,
    TransferGrant,
};

/// Routes without rate limits; `answer` and `retrieve` are added, limited, in
/// `http::router`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests/{id}", get(request_meta))
        .route("/api/v1/request-status/{token}", get(status))
        .route("/api/v1/request-status/{token}/withdraw", post(withdraw))
        .route("/r/{id}", get(request_page))
        .route("/rs/{token}", get(status_page))
        .route("/rs/{token}/withdraw", post(withdraw_form))
        .route("/p/{id}", get(retrieval_page))
}

/// The limited POSTs: answering, "opened", and retrieving.
pub(crate) fn limited_router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/requests/{id}/answer", post(answer))
        .route("/api/v1/requests/{id}/opened", post(opened))
        .route("/api/v1/retrievals/{id}/reveal", post(retrieve))
        .route("/api/v1/retrievals/{id}/credential", post(note_credential))
}

/// A readable name for a request's template.
pub(crate) fn template_title(state: &AppState, id: &str) -> String {
    let integration = state.settings.integrations.get(id);
    crate::template::title(id, integration.map(|i| i.title.as_str())).to_owned()
}

fn unknown_request() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "There is no such request. Check that the whole link was copied.",
    )
}

async fn request_meta(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestMeta>, ApiError> {
    let r = find_request(&state, &id)
        .await?
        .ok_or_else(unknown_request)?;
    let now = state.clock.now();
    Ok(Json(RequestMeta {
        state: r.steps().customer_state(now).as_str().to_owned(),
        id: r.id,
        customer: r.customer,
        template: r.template,
        note: r.note,
        expires_at: rfc3339(r.expires_at),
        recipient: r.recipient,
        soc_recipients: state.settings.soc_recipients.clone(),
    }))
}

async fn find_request(state: &AppState, id: &str) -> Result<Option<Request>, ApiError> {
    match Id::parse(id) {
        Some(id) => Ok(state.store.request(id.as_str()).await?),
        None => Ok(None),
    }
}

/// The customer's browser says it has the page open (sent by script, so link
/// scanners that only fetch do not count). Recorded once.
async fn opened(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let r = find_request(&state, &id)
        .await?
        .ok_or_else(unknown_request)?;
    let event = NewEvent::new(Kind::RequestOpened, Actor::Anonymous)
        .request(&r.id)
        .from_addr(addr);
    state
        .store
        .mark_opened(&r.id, state.clock.now(), &event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn answer(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<impl IntoResponse, ApiError> {
    let settings = &state.settings;
    let r = find_request(&state, &id)
        .await?
        .ok_or_else(unknown_request)?;
    let transfer = answered_transfer(&state, &r, body.transfer.as_deref()).await?;
    let pm = decode_upload(&body.pm_ciphertext, settings.max_secret_bytes)?;
    if pm.recipients() != 1 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::WrongRecipients,
            "The PM's copy must be encrypted to the request's one recipient only.",
        ));
    }
    let sealed = match (&body.sealed_ciphertext, settings.soc_recipients.len()) {
        (None, 0) => None,
        (Some(_), 0) => {
            return Err(ApiError::bad_request(
                "This server has no SOC recipients, so send no sealed_ciphertext.",
            ));
        }
        (None, _) => {
            return Err(ApiError::bad_request(
                "sealed_ciphertext is missing: this server expects a copy sealed to its SOC recipients.",
            ));
        }
        (Some(b64), expected) => {
            let file = decode_upload(b64, settings.max_secret_bytes)?;
            if file.recipients() != expected {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Code::WrongRecipients,
                    format!(
                        "The sealed copy must be encrypted to the server's {expected} SOC recipient(s); \
                         reload the page to get the current list."
                    ),
                ));
            }
            Some(file)
        }
    };
    let now = state.clock.now();
    let status_token = Id::random();
    let event = NewEvent::new(Kind::RequestAnswered, Actor::Anonymous)
        .request(&r.id)
        .from_addr(addr)
        .detail(serde_json::json!({
            "customer": r.customer,
            "template": r.template,
            "sealed_copy": sealed.is_some(),
            "transfer": transfer.as_ref().map(Id::as_str),
        }));
    let outcome = state
        .store
        .answer_request(
            &r.id,
            now,
            &Answer {
                pm_copy: pm.as_bytes(),
                sealed_copy: sealed.as_ref().map(super::super::upload::AgeFile::as_bytes),
                status_hash: status_token.digest(),
                copies_expire_at: now + settings.expiry.max_seconds(),
                transfer_id: transfer.as_ref().map(Id::as_str),
            },
            &event,
        )
        .await?;
    match outcome {
        Ok(()) => {
            tracing::info!(template = %r.template, sealed = sealed.is_some(), "request answered");
            Ok((
                StatusCode::CREATED,
                Json(Answered {
                    status_url: format!("{}/rs/{status_token}", settings.public_url),
                }),
            ))
        }
        Err(refused) => Err(refusal(refused)),
    }
}

/// Why an answer (or a files request's transfer) was not taken, for the API.
fn refusal(refused: AnswerRefused) -> ApiError {
    match refused {
        AnswerRefused::Unknown => unknown_request(),
        AnswerRefused::AlreadyAnswered => ApiError::new(
            StatusCode::CONFLICT,
            Code::AlreadyAnswered,
            "This request has already been answered; it can be answered only once. \
             If that was not you, tell the SOC at once.",
        ),
        AnswerRefused::Cancelled => ApiError::new(
            StatusCode::GONE,
            Code::Cancelled,
            "The SOC has cancelled this request; ask them for a new one.",
        ),
        AnswerRefused::Expired => ApiError::new(
            StatusCode::GONE,
            Code::Expired,
            "This request has expired; ask the SOC for a new one.",
        ),
        AnswerRefused::TransferNotReady => transfer_not_ready(),
    }
}

fn transfer_not_ready() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        Code::Incomplete,
        "The files named by transfer are not all uploaded: upload every piece and complete \
         the transfer (POST /api/v1/transfers/{id}/complete), then answer again.",
    )
}

/// Whether requests made from `template` ask for files (the integration's
/// kind is `files`), not credentials.
pub(crate) fn asks_for_files(state: &AppState, template: &str) -> bool {
    state
        .settings
        .integrations
        .get(template)
        .is_some_and(|i| i.kind == crate::template::Kind::Files)
}

/// Why request `r` cannot be answered at `now`, or `None` while it is open.
pub(crate) fn closed(r: &Request, now: i64) -> Option<ApiError> {
    match r.steps().customer_state(now) {
        CustomerState::Open => None,
        _ => Some(refusal(r.steps().answer_refused())),
    }
}

/// The transfer a files request's answer names, checked before anything
/// is kept: given exactly for a files request, made for this request, and
/// complete. The store checks the last two again in the answer's
/// transaction.
async fn answered_transfer(
    state: &AppState,
    r: &Request,
    named: Option<&str>,
) -> Result<Option<Id>, ApiError> {
    let files = asks_for_files(state, r.template());
    let named = match (files, named) {
        (false, None) => return Ok(None),
        (false, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidField,
                "This request asks for credentials, not files: send no transfer.",
            ));
        }
        (true, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::InvalidField,
                "transfer is missing: a files request's answer names the transfer its files \
                 were uploaded in.",
            ));
        }
        (true, Some(named)) => named,
    };
    let not_ours = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidField,
            "transfer names no file transfer made for this request: create it with \
             POST /api/v1/transfers and this request's id, upload it, then answer.",
        )
    };
    let id = Id::parse(named).ok_or_else(not_ours)?;
    match state.store.transfer_binding(&id, state.clock.now()).await? {
        Some((request, _)) if request != r.id() => Err(not_ours()),
        Some((_, true)) => Ok(Some(id)),
        Some((_, false)) => Err(transfer_not_ready()),
        None => Err(not_ours()),
    }
}

/// The customer's receipt at `now` (Unix seconds).
fn receipt(r: Request, now: i64) -> RequestStatus {
    let can_withdraw = r.steps().withdrawable(now);
    RequestStatus {
        state: r.state(now).as_str().to_owned(),
        customer: r.customer,
        template: r.template,
        answered_at: r.answered_at.map(rfc3339),
        retrieved_at: r.retrieved_at.map(rfc3339),
        imported_at: r.imported_at.map(rfc3339),
        verified_at: r.verified_at.map(rfc3339),
        verify_ok: r.verify_ok,
        withdrawn_at: r.withdrawn_at.map(rfc3339),
        can_withdraw,
    }
}

fn unknown_receipt() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "There is no such receipt link. Check that the whole link was copied.",
    )
}

async fn find_by_status(state: &AppState, token: &str) -> Result<Option<(Id, Request)>, ApiError> {
    let Some(token) = Id::parse(token) else {
        return Ok(None);
    };
    Ok(state
        .store
        .request_by_status(&token)
        .await?
        .map(|r| (token, r)))
}

async fn status(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<RequestStatus>, ApiError> {
    let (_, r) = find_by_status(&state, &token)
        .await?
        .ok_or_else(unknown_receipt)?;
    Ok(Json(receipt(r, state.clock.now())))
}

/// Withdraws for the API and the form alike; `Ok(false)` if it is too late.
/// The customer withdraws the answer: what the store found, for the API
/// and the page to answer each in its own way. A token that does not parse
/// is unknown.
async fn do_withdraw(
    state: &AppState,
    token: &str,
    addr: Option<String>,
) -> Result<Withdrawal, StoreError> {
    let Some(token) = Id::parse(token) else {
        return Ok(Withdrawal::Unknown);
    };
    let event = NewEvent::new(Kind::RequestWithdrawn, Actor::Anonymous).from_addr(addr);
    let found = state
        .store
        .withdraw(&token, state.clock.now(), event)
        .await?;
    if found == Withdrawal::Done {
        tracing::info!("request answer withdrawn by the customer");
    }
    Ok(found)
}

async fn withdraw(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiPath(token): ApiPath<String>,
) -> Result<Json<RequestStatus>, ApiError> {
    match do_withdraw(&state, &token, addr).await? {
        Withdrawal::Done => status(State(state), ApiPath(token)).await,
        Withdrawal::Unknown => Err(unknown_receipt()),
        Withdrawal::TooLate => Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::TooLate,
            "This answer can no longer be withdrawn: the SOC has retrieved or imported it, or it \
             was already withdrawn, cancelled or has expired. If the credentials must not be used, \
             rotate the secret in Entra ID and tell the SOC.",
        )),
    }
}

async fn withdraw_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<Confirmation>,
) -> Result<Response, PageError> {
    if !form.confirmed() {
        let Some(t) = Id::parse(&token) else {
            return Ok(super::pages::not_found_page(&state, &headers));
        };
        return Ok(render(
            StatusCode::OK,
            ConfirmPage {
                frame: Frame::new(&state, &headers),
                staff: String::new(),
                csrf: String::new(),
                title: "Withdraw your answer?",
                question: "Withdraw the answer you sent?".to_owned(),
                consequence: "Both encrypted copies are deleted from the server and the SOC cannot \
                              use them. To send corrected values you will need a new request from \
                              the SOC.",
                action: format!("/rs/{t}/withdraw"),
                yes: "Yes, withdraw it",
                no: "Keep it",
                back: format!("/rs/{t}"),
            },
        ));
    }
    match do_withdraw(&state, &token, addr).await? {
        // Too late or done: the receipt page says which.
        Withdrawal::Done | Withdrawal::TooLate => {
            Ok(Redirect::to(&format!("/rs/{token}")).into_response())
        }
        Withdrawal::Unknown => Ok(render(
            StatusCode::NOT_FOUND,
            NotFoundPage {
                frame: Frame::new(&state, &headers),
            },
        )),
    }
}

fn retrieval_gone() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "Nothing to retrieve: the answer was already retrieved, withdrawn, cancelled or has \
         expired, the request is not answered yet, or the link is wrong.",
    )
}

/// The PM's copy, exactly once.
async fn retrieve(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Retrieved>, ApiError> {
    let id = Id::parse(&id).ok_or_else(retrieval_gone)?;
    let event = NewEvent::new(Kind::RequestRetrieved, Actor::Anonymous).from_addr(addr);
    let now = state.clock.now();
    let token = Id::random();
    let reader = NewReader {
        download_hash: token.digest(),
        grace_until: now + state.settings.transfer_grace_seconds,
    };
    let r = state
        .store
        .retrieve(&id, now, event, &reader)
        .await?
        .ok_or_else(retrieval_gone)?;
    tracing::info!(template = %r.template, files = r.transfer.is_some(), "request answer retrieved");
    Ok(Json(Retrieved {
        ciphertext: STANDARD.encode(r.ciphertext),
        customer: r.customer,
        template: r.template,
        transfer: r.transfer.map(|g| grant(g, &token)),
    }))
}

/// A reader's grant as the API hands it out, with its token.
pub(crate) fn grant(g: ReaderGrant, token: &Id) -> TransferGrant {
    TransferGrant {
        id: g.transfer_id,
        manifest: STANDARD.encode(&g.manifest),
        download_token: token.to_string(),
        files: g
            .files
            .iter()
            .map(|&(pieces, size)| TransferFile { pieces, size })
            .collect(),
        grace_until: rfc3339(g.grace_until),
    }
}

/// The PM's browser reports the facts of the credential it just decrypted
/// (client ID, expiry), for the credential register. Once per request; a
/// repeat, or a request whose collector already reported, changes nothing.
async fn note_credential(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CredentialFacts>,
) -> Result<StatusCode, ApiError> {
    let not_retrieved = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "No retrieved answer for this link: the facts of a credential are reported after it is retrieved.",
        )
    };
    let id = Id::parse(&id).ok_or_else(not_retrieved)?;
    let facts = crate::register::Facts::parse(&body.client_id, body.secret_expires_on.as_deref())
        .map_err(ApiError::bad_request)?;
    let event = NewEvent::new(Kind::RequestCredentialNoted, Actor::Anonymous)
        .from_addr(addr)
        .detail(serde_json::json!({
            "client_id": facts.client_id,
            "secret_expires_on": facts.expires_text(),
        }));
    match state
        .store
        .note_retrieved_credential(&id, &facts, state.clock.now(), event)
        .await?
    {
        Noted::Done | Noted::AlreadyKnown => Ok(StatusCode::NO_CONTENT),
        Noted::NotRetrieved => Err(not_retrieved()),
    }
}

// ---- pages ----

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    frame: Frame,
    id: String,
    customer: String,
    template_id: String,
    template_title: String,
    note: String,
    expires_at: String,
    recipient: String,
    soc_recipients: String,
    max_secret_bytes: usize,
    /// The integration's guide, checklist and extra fields (none for a
    /// template that is no longer configured).
    guide: Option<Integration>,
    /// The clouds the form offers: the template's own, or every one.
    clouds: Vec<Cloud>,
    /// The `az` script for each of those clouds, in Bash and in PowerShell;
    /// the page shows the one for the cloud chosen in the form.
    az: Vec<(Cloud, String, String)>,
    /// For a rotation request: only a new secret for the same app is needed.
    rotation: Option<RotationGuide>,
    /// The client ID the form starts with (a rotation's, from the register).
    prefill_client_id: Option<String>,
}

/// The customer's page of a files request: the file drop, a message and
/// Send, instead of the credential form (request-files.js).
#[derive(Template)]
#[template(path = "request_files.html")]
struct RequestFilesPage {
    frame: Frame,
    id: String,
    customer: String,
    template_id: String,
    template_title: String,
    note: String,
    expires_at: String,
    /// The request's recipient (the PM's copy of the answer).
    recipient: String,
    /// The SOC's recipients, comma-separated (the sealed copy).
    soc_recipients: String,
    /// The most an encrypted copy of the answer may be, in bytes.
    max_secret_bytes: usize,
    /// The most the files may come to, encrypted, in bytes.
    max_transfer_bytes: u64,
}

/// What a rotation request's page says instead of the full set-up guide.
struct RotationGuide {
    /// The app registration's client ID, from the credential register.
    client_id: Option<String>,
    /// The commands that add a new secret to it, per cloud (like `az`).
    az: Vec<(Cloud, String, String)>,
}

#[derive(Template)]
#[template(path = "request_closed.html")]
struct RequestClosedPage {
    frame: Frame,
    customer: String,
    template_title: String,
    /// Never [`CustomerState::Open`]: an open request gets the form.
    state: CustomerState,
    /// The request asked for files, not credentials.
    files: bool,
    /// The request's id: the closed page of a files request clears the
    /// upload this browser kept for it.
    id: String,
}

#[derive(Template)]
#[template(path = "request_status.html")]
struct RequestStatusPage {
    frame: Frame,
    token: String,
    customer: String,
    template_title: String,
    state: RequestState,
    steps: Vec<(&'static str, String)>,
    can_withdraw: bool,
    verify_ok: Option<bool>,
}

#[derive(Template)]
#[template(path = "retrieval.html")]
struct RetrievalPage {
    frame: Frame,
    id: String,
    customer: String,
    template_title: String,
    state: RetrievalState,
    /// The copy this link stands for now is a rotation's answer (a new
    /// client secret), not the one it was made for.
    rotation: bool,
    /// The request asks for files: the page lists and saves them after
    /// the reveal.
    files: bool,
}

async fn request_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let Some(r) = find_request(&state, &id).await? else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let now = state.clock.now();
    let title = template_title(&state, &r.template);
    let closed = r.steps().customer_state(now);
    let status = match closed {
        CustomerState::Open => None,
        CustomerState::Answered => Some(StatusCode::CONFLICT),
        CustomerState::Expired | CustomerState::Withdrawn | CustomerState::Cancelled => {
            Some(StatusCode::GONE)
        }
    };
    if let Some(status) = status {
        return Ok(render(
            status,
            RequestClosedPage {
                frame,
                files: asks_for_files(&state, &r.template),
                id: r.id.clone(),
                customer: r.customer,
                template_title: title,
                state: closed,
            },
        ));
    }
    if asks_for_files(&state, &r.template) {
        return Ok(render(
            StatusCode::OK,
            RequestFilesPage {
                frame,
                id: r.id,
                customer: r.customer,
                template_id: r.template,
                template_title: title,
                note: r.note,
                expires_at: rfc3339(r.expires_at),
                recipient: r.recipient,
                soc_recipients: state.settings.soc_recipients.join(","),
                max_secret_bytes: state.settings.max_secret_bytes,
                max_transfer_bytes: state.settings.max_transfer_bytes,
            },
        ));
    }
    let guide = state.settings.integrations.get(&r.template).cloned();
    let clouds = guide
        .as_ref()
        .map_or_else(|| Cloud::ALL.to_vec(), |g| g.clouds.clone());
    let az = guide
        .as_ref()
        .map(|g| {
            g.clouds
                .iter()
                .filter_map(|&c| {
                    Some((
                        c,
                        g.az_script_in(c, Shell::Bash)?,
                        g.az_script_in(c, Shell::PowerShell)?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let rotation = match &r.rotates {
        None => None,
        Some(old) => {
            let client_id = state.store.credential_client_id(old).await?;
            let az = match (&guide, &client_id) {
                (Some(g), Some(client_id)) => g
                    .clouds
                    .iter()
                    .filter_map(|&c| {
                        Some((
                            c,
                            g.az_rotation_script(client_id, c, Shell::Bash)?,
                            g.az_rotation_script(client_id, c, Shell::PowerShell)?,
                        ))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Some(RotationGuide { client_id, az })
        }
    };
    let prefill_client_id = rotation.as_ref().and_then(|r| r.client_id.clone());
    Ok(render(
        StatusCode::OK,
        RequestPage {
            frame,
            guide,
            clouds,
            az,
            id: r.id,
            customer: r.customer,
            template_id: r.template,
            template_title: title,
            note: r.note,
            expires_at: rfc3339(r.expires_at),
            recipient: r.recipient,
            soc_recipients: state.settings.soc_recipients.join(","),
            max_secret_bytes: state.settings.max_secret_bytes,
            rotation,
            prefill_client_id,
        },
    ))
}

async fn status_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let Some((token, r)) = find_by_status(&state, &token).await? else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let now = state.clock.now();
    let mut steps = Vec::new();
    let mut step = |label: &'static str, at: Option<i64>| {
        if let Some(at) = at {
            steps.push((label, rfc3339(at)));
        }
    };
    step("Answered (encrypted in your browser)", r.answered_at);
    step("Retrieved by the SOC's project manager", r.retrieved_at);
    step("Imported into the SOC's log collector", r.imported_at);
    step("Checked against Entra ID", r.verified_at);
    step("Withdrawn by you", r.withdrawn_at);
    step("Cancelled by the SOC", r.cancelled_at);
    Ok(render(
        StatusCode::OK,
        RequestStatusPage {
            frame,
            token: token.to_string(),
            template_title: template_title(&state, &r.template),
            state: r.state(now),
            can_withdraw: r.steps().withdrawable(now),
            verify_ok: r.verify_ok,
            customer: r.customer,
            steps,
        },
    ))
}

/// The PM's interstitial: consumes nothing (scanner-safe); the script posts
/// the reveal once the key in the fragment has been checked.
async fn retrieval_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let Some(id) = Id::parse(link_id(&id)) else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let now = state.clock.now();
    // The link's own request, or the rotation of its credential whose copy
    // the reveal would hand out (see `Store::retrieve`).
    let found = state.store.retrieval_target(&id, now).await?;
    let Some((r, held)) = found else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let page_state = r.steps().retrieval(now, held);
    Ok(render(
        match page_state {
            RetrievalState::Gone => StatusCode::NOT_FOUND,
            RetrievalState::Waiting | RetrievalState::Ready => StatusCode::OK,
        },
        RetrievalPage {
            frame,
            id: id.to_string(),
            template_title: template_title(&state, &r.template),
            customer: r.customer,
            state: page_state,
            rotation: r.rotates.is_some(),
            files: asks_for_files(&state, &r.template),
        },
    ))
}
