//! The staff side of requests: the dashboard, creating a request (the
//! browser makes its age identity; only the recipient reaches us), a
//! request's page with its trail, cancelling (after a confirmation page) and
//! re-issuing (which carries a failed check's reason into the new note).
//!
//! Every route here needs a signed-in [`Staff`] session; every change checks
//! the session's CSRF token (a form field, or the `X-CSRF-Token` header for
//! the JSON create call).

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::client_ip::ClientAddr;
use super::error::{ApiError, ApiJson, Code, PageError, PageForm, PagePath, PageQuery};
use super::pages::{ConfirmPage, Confirmation, Frame, NotFoundPage, render};
use super::requests::template_title;
use super::staff::Staff;
use crate::audit::{Kind, NewEvent};
use crate::clock::{readable_utc, rfc3339};
use crate::id::Id;
use crate::request::{CopyKind, RequestState};
use crate::store::NewRequest;
use crate::wire::{CreateRequest, CreatedRequest};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/staff", get(dashboard))
        .route("/staff/requests/new", get(new_request_page))
        .route("/staff/requests/{id}", get(request_page))
        .route("/staff/requests/{id}/cancel", post(cancel))
        .route("/staff/requests/{id}/recheck", post(recheck))
        .route("/api/v1/requests", post(create_request))
        .route("/staff/tokens", get(tokens_page).post(create_token))
        .route("/staff/tokens/revoke", post(revoke_token))
}

/// Longest customer label and note we keep.
const MAX_CUSTOMER: usize = 100;
const MAX_NOTE: usize = 500;

fn invalid(code: Code, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A label fit to show on pages and in notifications (see [`crate::label`]).
fn clean_text(text: &str, max: usize, what: &str, required: bool) -> Result<String, ApiError> {
    crate::label::check(text, max, what, required).map_err(|e| invalid(Code::InvalidField, e))
}

async fn create_request(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<impl IntoResponse, Response> {
    let submitted = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    staff
        .check_csrf(submitted)
        .map_err(IntoResponse::into_response)?;
    create(&state, &staff, addr, req)
        .await
        .map_err(IntoResponse::into_response)
}

async fn create(
    state: &AppState,
    staff: &Staff,
    addr: Option<String>,
    req: CreateRequest,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let settings = &state.settings;
    let customer = clean_text(&req.customer, MAX_CUSTOMER, "customer label", true)?;
    let note = clean_text(&req.note, MAX_NOTE, "note", false)?;
    if state.settings.integrations.get(&req.template).is_none() {
        return Err(invalid(
            Code::UnknownTemplate,
            format!("There is no integration template {:?}.", req.template),
        ));
    }
    let lifetime = settings
        .expiry
        .check(req.expires_in)
        .map_err(|e| invalid(Code::InvalidExpiry, e.to_string()))?;
    let recipient = req.recipient.trim();
    if recipient.parse::<age::x25519::Recipient>().is_err() {
        return Err(invalid(
            Code::InvalidRecipient,
            "The recipient is not an X25519 age recipient (age1...).",
        ));
    }
    let reissued_from = match req.reissued_from.as_deref() {
        None | Some("") => None,
        Some(id) => {
            let known = match Id::parse(id) {
                Some(id) => state.store.request(id.as_str()).await?.is_some(),
                None => false,
            };
            if !known {
                return Err(invalid(
                    Code::UnknownRequest,
                    "The request to re-issue does not exist.",
                ));
            }
            Some(id.to_owned())
        }
    };

    let contact = crate::email::parse_contact(req.contact_email.as_deref().unwrap_or(""))
        .map_err(|e| invalid(Code::InvalidField, e))?
        .map(|a| a.to_string());
    if req.email_link && contact.is_none() {
        return Err(invalid(
            Code::InvalidField,
            "To e-mail the request link, give the customer's contact e-mail address.",
        ));
    }
    if req.email_link && settings.email.is_none() {
        return Err(invalid(
            Code::InvalidField,
            "This server sends no e-mail (it has no --smtp-url): send the request link yourself.",
        ));
    }

    let id = Id::random();
    let retrieval_id = Id::random();
    let now = state.clock.now();
    let expires_at = now + lifetime;
    let event = NewEvent::new(Kind::RequestCreated, staff.actor())
        .request(id.as_str())
        .from_addr(addr)
        .detail(serde_json::json!({
            "customer": customer,
            "template": req.template,
            "expires_at": expires_at,
            "reissued_from": reissued_from,
            "email_link": req.email_link,
        }));
    state
        .store
        .create_request(
            &NewRequest {
                id: &id,
                retrieval_id: &retrieval_id,
                customer: &customer,
                template: &req.template,
                note: &note,
                recipient,
                created_by: &staff.name,
                created_at: now,
                expires_at,
                reissued_from: reissued_from.as_deref(),
                contact_email: contact.as_deref(),
                email_link: req.email_link,
            },
            &event,
        )
        .await?;
    tracing::info!(template = %req.template, "request created");
    let body = CreatedRequest {
        url: format!("{}/r/{id}", settings.public_url),
        retrieval_url: format!("{}/p/{retrieval_id}", settings.public_url),
        expires_at: rfc3339(expires_at),
        id: id.to_string(),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/staff/requests/{id}"))],
        Json(body),
    ))
}

/// One row of the dashboard.
struct Row {
    id: String,
    customer: String,
    template_title: String,
    state: RequestState,
    /// RFC 3339 for `<time datetime>`, and the same time readable without
    /// JavaScript (the script makes it relative).
    created_at: String,
    created_text: String,
    created_by: String,
    /// The latest step's time.
    updated_at: String,
    /// The request whose credential this one rotates, if it is a rotation.
    rotates: Option<String>,
    updated_text: String,
    /// Answered, and neither the PM nor the collector has taken it yet: the
    /// one state where the SOC, not the customer, has to act.
    waiting: bool,
    /// The customer's link while it can still be answered; afterwards there
    /// is nothing to send. (The PM's retrieval link is never known here.)
    customer_url: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    staff: String,
    csrf: String,
    rows: Vec<Row>,
    /// `(state, how many rows)` for every state some row is in, in the
    /// order of a request's life.
    counts: Vec<(RequestState, usize)>,
    /// How many rows are waiting for retrieval or import.
    waiting: usize,
    sealed: bool,
}

async fn dashboard(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let public_url = &state.settings.public_url;
    let rows: Vec<Row> = state
        .store
        .list_requests(500)
        .await?
        .into_iter()
        .map(|r| {
            let request_state = r.state(now);
            let latest = r.steps().latest();
            Row {
                rotates: r.rotates.clone(),
                state: request_state,
                waiting: request_state == RequestState::Answered,
                customer_url: (request_state == RequestState::Open)
                    .then(|| format!("{public_url}/r/{}", r.id)),
                template_title: template_title(&state, &r.template),
                created_at: rfc3339(r.created_at),
                created_text: readable_utc(r.created_at),
                updated_at: rfc3339(latest),
                updated_text: readable_utc(latest),
                id: r.id,
                customer: r.customer,
                created_by: r.created_by,
            }
        })
        .collect();
    let counts = RequestState::IN_ORDER
        .iter()
        .map(|&s| (s, rows.iter().filter(|r| r.state == s).count()))
        .filter(|&(_, n)| n > 0)
        .collect();
    Ok(render(
        StatusCode::OK,
        DashboardPage {
            frame: Frame::new(&state, &headers),
            staff: staff.name,
            csrf: staff.csrf,
            waiting: rows.iter().filter(|r| r.waiting).count(),
            counts,
            rows,
            sealed: !state.settings.soc_recipients.is_empty(),
        },
    ))
}

#[derive(Debug, Deserialize)]
struct NewQuery {
    reissue: Option<String>,
}

#[derive(Template)]
#[template(path = "request_new.html")]
struct NewRequestPage {
    frame: Frame,
    staff: String,
    csrf: String,
    /// `(id, title)` of every integration template.
    templates: Vec<(String, String)>,
    choices: Vec<(i64, String)>,
    default_choice: i64,
    customer: String,
    template: String,
    reissued_from: String,
    /// Why the re-issued request failed its check, if it did; the note is
    /// filled with it, for the PM to keep or edit.
    failure: String,
    note: String,
    /// The re-issued request's contact address, preset.
    contact_email: String,
    /// The server sends e-mail: the PM may have the link e-mailed.
    can_email: bool,
}

/// What a re-issue tells the customer about the failed check, fit to be a
/// note: one line, no longer than a note may be.
fn failure_note(detail: &str) -> String {
    let line = detail
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>();
    let note = format!("The previous answer failed the SOC's check: {line}");
    note.chars().take(MAX_NOTE).collect()
}

/// The check's reason, when `r` failed it.
fn failure_of(r: &crate::store::Request) -> Option<&str> {
    (r.verify_ok == Some(false)).then(|| r.verify_detail.as_deref().unwrap_or("no reason recorded"))
}

async fn new_request_page(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    PageQuery(q): PageQuery<NewQuery>,
) -> Result<Response, PageError> {
    let from = match q.reissue.as_deref().and_then(Id::parse) {
        Some(id) => state.store.request(id.as_str()).await?,
        None => None,
    };
    let policy = state.settings.expiry;
    Ok(render(
        StatusCode::OK,
        NewRequestPage {
            frame: Frame::new(&state, &headers),
            staff: staff.name,
            csrf: staff.csrf,
            templates: state
                .settings
                .integrations
                .all()
                .iter()
                .map(|i| (i.id.clone(), i.title.clone()))
                .collect(),
            choices: policy.choices_with(state.settings.request_answer_seconds),
            default_choice: state.settings.request_answer_seconds,
            customer: from
                .as_ref()
                .map(|r| r.customer.clone())
                .unwrap_or_default(),
            template: from
                .as_ref()
                .map(|r| r.template.clone())
                .unwrap_or_default(),
            failure: from
                .as_ref()
                .and_then(failure_of)
                .unwrap_or_default()
                .to_owned(),
            note: from
                .as_ref()
                .and_then(failure_of)
                .map(failure_note)
                .unwrap_or_default(),
            contact_email: from
                .as_ref()
                .and_then(|r| r.contact_email.clone())
                .unwrap_or_default(),
            can_email: state.settings.email.is_some(),
            reissued_from: from.map(|r| r.id).unwrap_or_default(),
        },
    ))
}

/// An event as the request's page lists it.
struct EventRow {
    at: String,
    kind: String,
    actor: String,
    client_addr: String,
    /// A collector's reason for a release (a platform's refusal, a check
    /// it could not make), from the event's detail.
    reason: String,
}

#[derive(Template)]
#[template(path = "request_detail.html")]
struct RequestDetailPage {
    frame: Frame,
    staff: String,
    csrf: String,
    id: String,
    customer: String,
    template_id: String,
    template_title: String,
    note: String,
    state: RequestState,
    customer_url: String,
    /// `(label, RFC 3339 time, what follows it)`.
    facts: Vec<(&'static str, String, String)>,
    events: Vec<EventRow>,
    can_cancel: bool,
    /// The check failed and the sealed copy was kept: a re-check is possible.
    can_recheck: bool,
    /// The sealed copy waits in the collector's inbox (not imported yet).
    copy_waits: bool,
    verify_detail: String,
    /// The request whose credential this one rotates, if it is a rotation.
    rotates: Option<String>,
    /// The rotation request made for this one's credential, if any.
    rotated_by: Option<String>,
    /// The request this one re-issues and why its check failed, when it
    /// did; both empty otherwise.
    reissue_from: String,
    reissue_reason: String,
    /// The customer admin's address, if staff gave one.
    contact_email: Option<String>,
    /// The PM chose to have the request's link e-mailed to it.
    email_link: bool,
}

async fn request_page(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let frame = Frame::new(&state, &headers);
    let found = match Id::parse(&id) {
        Some(id) => state.store.request(id.as_str()).await?,
        None => None,
    };
    let Some(r) = found else {
        return Ok(render(StatusCode::NOT_FOUND, NotFoundPage { frame }));
    };
    let now = state.clock.now();
    let mut facts = vec![(
        "Created",
        rfc3339(r.created_at),
        format!("by {}", r.created_by),
    )];
    let mut fact = |label: &'static str, at: Option<i64>| {
        if let Some(at) = at {
            facts.push((label, rfc3339(at), String::new()));
        }
    };
    fact("Expires", Some(r.expires_at));
    fact("Opened by the customer", r.opened_at);
    fact("Answered", r.answered_at);
    fact("Copies expire", r.copies_expire_at);
    fact("Retrieved by the PM", r.retrieved_at);
    fact("Imported by the collector", r.imported_at);
    // A check that failed is never called verified.
    let verified_label = if r.verify_ok == Some(true) {
        "Verified"
    } else {
        "Verification failed"
    };
    fact(verified_label, r.verified_at);
    fact("Withdrawn by the customer", r.withdrawn_at);
    fact("Cancelled", r.cancelled_at);
    fact("Expired unanswered", r.expired_at);
    let events = state
        .store
        .request_events(&r.id)
        .await?
        .into_iter()
        .map(|e| EventRow {
            reason: serde_json::from_str::<serde_json::Value>(&e.detail)
                .ok()
                .and_then(|d| d["reason"].as_str().map(str::to_owned))
                .unwrap_or_default(),
            at: rfc3339(e.at),
            kind: e.kind,
            actor: e.actor,
            client_addr: e.client_addr.unwrap_or_default(),
        })
        .collect();
    let failed_original = match r.reissued_from.as_deref() {
        Some(from) => state
            .store
            .request(from)
            .await?
            .and_then(|f| failure_of(&f).map(|why| (f.id.clone(), why.to_owned()))),
        None => None,
    };
    let (reissue_from, reissue_reason) = failed_original.unwrap_or_default();
    let steps = r.steps();
    let rotated_by = state.store.rotation_of(&r.id).await?.map(|q| q.id);
    let sealed = state.store.has_copy(&r.id, CopyKind::Sealed, now).await?;
    let request_state = steps.state(now);
    Ok(render(
        StatusCode::OK,
        RequestDetailPage {
            rotates: r.rotates.clone(),
            rotated_by,
            frame,
            staff: staff.name,
            csrf: staff.csrf,
            template_title: template_title(&state, &r.template),
            customer_url: format!("{}/r/{}", state.settings.public_url, r.id),
            state: request_state,
            can_cancel: steps.cancellable(),
            can_recheck: sealed && request_state == RequestState::Failed,
            copy_waits: sealed && r.imported_at.is_none(),
            verify_detail: r.verify_detail.unwrap_or_default(),
            reissue_from,
            reissue_reason,
            email_link: r.email_link.unwrap_or(false),
            contact_email: r.contact_email.clone(),
            facts,
            events,
            id: r.id,
            customer: r.customer,
            template_id: r.template,
            note: r.note,
        },
    ))
}

async fn cancel(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<Confirmation>,
) -> Result<Response, Response> {
    staff
        .check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    let Some(id) = Id::parse(&id) else {
        return Ok(super::pages::not_found_page(&state, &headers));
    };
    if !form.confirmed() {
        let customer = state
            .store
            .request(id.as_str())
            .await
            .map_err(|e| PageError::from(e).into_response())?
            .map(|r| r.customer);
        let Some(customer) = customer else {
            return Ok(super::pages::not_found_page(&state, &headers));
        };
        return Ok(render(
            StatusCode::OK,
            ConfirmPage {
                frame: Frame::new(&state, &headers),
                staff: staff.name,
                csrf: staff.csrf,
                title: "Cancel the request?",
                question: format!("Cancel the request to {customer}?"),
                consequence: "Its link stops working for the customer, and any copies of an answer the \
                              server still holds are deleted. This cannot be undone; a re-issue makes a \
                              new request.",
                action: format!("/staff/requests/{id}/cancel"),
                yes: "Yes, cancel it",
                no: "Keep it",
                back: format!("/staff/requests/{id}"),
            },
        ));
    }
    let event = NewEvent::new(Kind::RequestCancelled, staff.actor())
        .request(id.as_str())
        .from_addr(addr);
    state
        .store
        .cancel_request(id.as_str(), state.clock.now(), &event)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    Ok(Redirect::to(&format!("/staff/requests/{id}")).into_response())
}

/// Staff's re-check of a failed request: its kept sealed copy goes back to
/// the collector's inbox ([`crate::store::Store::request_recheck`]); not
/// destructive, so no confirmation step.
async fn recheck(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<Confirmation>,
) -> Result<Response, Response> {
    staff
        .check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    let Some(id) = Id::parse(&id) else {
        return Ok(super::pages::not_found_page(&state, &headers));
    };
    let event = NewEvent::new(Kind::RequestRecheckRequested, staff.actor())
        .request(id.as_str())
        .from_addr(addr);
    let done = state
        .store
        .request_recheck(id.as_str(), state.clock.now(), &event)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    if !done {
        return Ok(super::pages::error_page(
            StatusCode::CONFLICT,
            Code::NothingToRecheck,
            "There is nothing to re-check: only a request whose check failed can be re-checked, and only \
             while the collector's sealed copy is kept (until the answer's copies expire). Re-issue the \
             request to ask the customer again.",
        ));
    }
    Ok(Redirect::to(&format!("/staff/requests/{id}")).into_response())
}

struct TokenRow {
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    created_by: String,
    last_used: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    frame: Frame,
    staff: String,
    csrf: String,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    error: String,
}

async fn render_tokens(
    state: &AppState,
    staff: Staff,
    headers: &HeaderMap,
    status: StatusCode,
    new_token: Option<String>,
    error: String,
) -> Result<Response, PageError> {
    let when = |t: Option<i64>| t.map(rfc3339).unwrap_or_default();
    let tokens = state
        .store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            created: rfc3339(t.created_at),
            created_by: t.created_by,
            last_used: when(t.last_used_at),
            revoked: when(t.revoked_at),
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
        })
        .collect();
    Ok(render(
        status,
        TokensPage {
            frame: Frame::new(state, headers),
            staff: staff.name,
            csrf: staff.csrf,
            tokens,
            new_token,
            error,
        },
    ))
}

async fn tokens_page(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    render_tokens(&state, staff, &headers, StatusCode::OK, None, String::new()).await
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

async fn create_token(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, Response> {
    staff
        .check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    let issued = state
        .store
        .issue_token(
            form.name.trim(),
            std::slice::from_ref(&form.scope),
            staff.actor(),
            addr,
            state.clock.now(),
        )
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let (status, token, error) = match issued {
        Ok(minted) => (StatusCode::OK, Some(minted.token), String::new()),
        Err(e @ crate::store::IssueRefused::Invalid(_)) => {
            (StatusCode::BAD_REQUEST, None, e.to_string())
        }
        Err(e) => (StatusCode::CONFLICT, None, e.to_string()),
    };
    render_tokens(&state, staff, &headers, status, token, error)
        .await
        .map_err(IntoResponse::into_response)
}

async fn revoke_token(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, Response> {
    staff
        .check_csrf(&form.csrf)
        .map_err(IntoResponse::into_response)?;
    // No name a token can have: never a query.
    if let Err(e) = crate::token::check_name(&form.name) {
        let error = format!("Nothing was revoked: {e}.");
        return render_tokens(
            &state,
            staff,
            &headers,
            StatusCode::BAD_REQUEST,
            None,
            error,
        )
        .await
        .map_err(IntoResponse::into_response);
    }
    let event = NewEvent::new(Kind::TokenRevoked, staff.actor())
        .from_addr(addr)
        .detail(serde_json::json!({ "name": form.name }));
    let revoked = state
        .store
        .revoke_token(&form.name, state.clock.now(), &event)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    if !revoked {
        let error = format!(
            "Nothing was revoked: there is no active token named {:?} (it does not exist or was \
             already revoked).",
            form.name
        );
        return render_tokens(&state, staff, &headers, StatusCode::NOT_FOUND, None, error)
            .await
            .map_err(IntoResponse::into_response);
    }
    Ok(Redirect::to("/staff/tokens").into_response())
}
