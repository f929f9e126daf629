//! The collector's API, by token: the inbox of sealed copies, leases,
//! acknowledgements and verification results. See `openapi.json`.
//!
//! Every call carries `Authorization: Bearer hnd_...` (the scheme's name in
//! any case). A missing, unknown or
//! revoked token gets 401, a token without the `collect` scope 403; each
//! refusal is an audit event (never with the token).

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::AppState;
use super::client_ip::ClientAddr;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Code};
use crate::audit::{Actor, Kind, NewEvent};
use crate::clock::rfc3339;
use crate::id::Id;
use crate::register::Facts;
use crate::register::Reporter;
use crate::store::{Ack, Imported, Lease, NewReader, VerifyResult};
use crate::token;
use crate::wire::{
    ImportedCredential, ImportedCredentials, Inbox, InboxEntry, LeaseRef, Leased, RecheckOutcome,
    RecheckRecorded, Rotates, VerifyOutcome,
};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/inbox", get(list))
        .route("/api/v1/inbox/{id}/lease", post(lease))
        .route("/api/v1/inbox/{id}/release", post(release))
        .route("/api/v1/inbox/{id}/ack", post(ack))
        .route("/api/v1/inbox/{id}/result", post(result))
        .route("/api/v1/inbox/credentials", get(imported_credentials))
        .route("/api/v1/inbox/{id}/recheck", post(recheck))
}

/// A caller holding a valid token with the `collect` scope.
pub(crate) struct Collector {
    pub(crate) name: String,
    pub(crate) addr: Option<String>,
}

impl Collector {
    fn actor(&self) -> Actor {
        Actor::Token(self.name.clone())
    }
}

/// The token in an `Authorization` value of the `Bearer` scheme, whose name
/// is case-insensitive (RFC 9110, section 11.1): `Bearer`, `bearer`, `BEARER`.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
}

impl FromRequestParts<AppState> for Collector {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        token_holder(parts, state, "collect").await
    }
}

/// A caller with an API token of the `metrics` scope (`GET /metrics`).
pub(crate) struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        token_holder(parts, state, "metrics")
            .await
            .map(|_| MetricsReader)
    }
}

/// The holder of the bearer token in `parts`, if it is valid, not revoked
/// and has `scope`; every refusal of a presented token is an audit event
/// (with the reason, never the token).
async fn token_holder(
    parts: &mut Parts,
    state: &AppState,
    scope: &'static str,
) -> Result<Collector, ApiError> {
    let Ok(ClientAddr(addr)) = ClientAddr::from_request_parts(parts, state).await;
    let now = state.clock.now();
    let refuse = |actor: Actor, reason: &'static str| {
        NewEvent::new(Kind::TokenRefused, actor)
            .from_addr(addr.clone())
            .detail(serde_json::json!({ "reason": reason }))
    };
    let presented = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let Some(presented) = presented else {
        return Err(unauthorized(&format!(
            "This endpoint needs an API token: send `Authorization: Bearer hnd_...` \
             (make one with `handoff token create --name NAME --scope {scope}`)."
        )));
    };
    let found = if token::well_formed(presented) {
        let hash = token::hash(presented);
        state
            .store
            .token_by_hash(&hash)
            .await?
            .filter(|(_, stored)| bool::from(stored.as_slice().ct_eq(hash.as_slice())))
            .map(|(t, _)| t)
    } else {
        None
    };
    let Some(t) = found else {
        state
            .store
            .append_event(&refuse(Actor::Anonymous, "unknown"), now)
            .await?;
        return Err(unauthorized("This API token is not valid."));
    };
    if t.revoked_at.is_some() {
        state
            .store
            .append_event(&refuse(Actor::Token(t.name.clone()), "revoked"), now)
            .await?;
        return Err(unauthorized(
            "This API token has been revoked; ask an administrator for a new one.",
        ));
    }
    if !t.has_scope(scope) {
        state
            .store
            .append_event(&refuse(Actor::Token(t.name.clone()), "scope"), now)
            .await?;
        let needed = if scope == "collect" {
            "the `collect` scope needed for the inbox"
        } else {
            "the `metrics` scope needed for /metrics"
        };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            format!("This API token lacks {needed}."),
        ));
    }
    // Its use is recorded at most once a minute: no write (and no wait for
    // the next commit) when the token was seen in the last minute.
    if t.last_used_at.is_none_or(|at| at <= now - 60) {
        state.store.touch_token(t.id, now).await?;
    }
    Ok(Collector { name: t.name, addr })
}

async fn list(State(state): State<AppState>, _c: Collector) -> Result<Json<Inbox>, ApiError> {
    let items = state
        .store
        .inbox(state.clock.now())
        .await?
        .into_iter()
        .map(|i| InboxEntry {
            id: i.id,
            template: i.template,
            customer: i.customer,
            answered_at: rfc3339(i.answered_at),
            leased_until: i.lease_until.map(rfc3339),
        })
        .collect();
    Ok(Json(Inbox { items }))
}

fn no_copy() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::NotFound,
        "No sealed copy waits for this request: it was imported, withdrawn, cancelled or has expired.",
    )
}

fn request_id(id: &str) -> Result<Id, ApiError> {
    Id::parse(id).ok_or_else(no_copy)
}

async fn lease(
    State(state): State<AppState>,
    c: Collector,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Leased>, ApiError> {
    let id = request_id(&id)?;
    let r = state
        .store
        .request(id.as_str())
        .await?
        .ok_or_else(no_copy)?;
    let now = state.clock.now();
    let until = now + state.settings.lease_seconds;
    let lease_id = Id::random();
    let event = NewEvent::new(Kind::RequestLeased, c.actor())
        .request(id.as_str())
        .from_addr(c.addr.clone())
        .detail(serde_json::json!({ "until": until }));
    // A rotation names the credential it replaces, so that the collector
    // can refuse an answer for another app registration.
    let rotates = match &r.rotates {
        Some(old) => state
            .store
            .credential_client_id(old)
            .await?
            .map(|client_id| Rotates {
                request_id: old.clone(),
                client_id,
            }),
        None => None,
    };
    // A files request's transfer: this lease's own token, good at least
    // as long as the lease (a later lease replaces it).
    let token = Id::random();
    let reader = NewReader {
        download_hash: token.digest(),
        grace_until: until.max(now + state.settings.transfer_grace_seconds),
    };
    match state
        .store
        .lease_sealed(id.as_str(), lease_id.as_str(), now, until, &event, &reader)
        .await?
    {
        Lease::Granted {
            ciphertext,
            transfer,
        } => Ok(Json(Leased {
            id: r.id,
            lease_id: lease_id.to_string(),
            lease_expires_at: rfc3339(until),
            template: r.template,
            customer: r.customer,
            ciphertext: STANDARD.encode(ciphertext),
            rotates,
            transfer: transfer.map(|g| super::requests::grant(g, &token)),
        })),
        Lease::Held { until } => Err(ApiError::new(
            StatusCode::CONFLICT,
            Code::Leased,
            format!(
                "Another collector holds this copy until {}; it can be leased again if that lease lapses.",
                rfc3339(until)
            ),
        )),
        Lease::Missing => Err(no_copy()),
    }
}

/// The body's lease id, if it has the shape of one [`lease`] hands out;
/// anything else (control characters included) never reaches the store.
fn parse_lease_id(body: &LeaseRef) -> Result<Id, ApiError> {
    Id::parse(&body.lease_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::InvalidLeaseId,
            "lease_id is not a lease id: send the lease_id that leasing the copy returned.",
        )
    })
}

fn not_your_lease() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        Code::LeaseLapsed,
        "This lease has lapsed or is not the current one; lease the copy again.",
    )
}

fn short_label(text: Option<&str>, what: &str) -> Result<Option<String>, ApiError> {
    match text {
        None => Ok(None),
        Some(t) if t.len() <= 64 && t.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(t.to_owned()))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "{what} must be at most 64 printable ASCII characters."
        ))),
    }
}

/// A collector's sentence for the trail, trimmed: one line of at most
/// `max` characters, or a 400 naming `what`.
fn one_line(text: Option<&str>, max: usize, what: &str) -> Result<String, ApiError> {
    let text = text.unwrap_or("").trim();
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must be one line of at most {max} characters."
        )));
    }
    Ok(text.to_owned())
}

async fn release(
    State(state): State<AppState>,
    c: Collector,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LeaseRef>,
) -> Result<StatusCode, ApiError> {
    let id = request_id(&id)?;
    let lease_id = parse_lease_id(&body)?;
    let mut event = NewEvent::new(Kind::RequestReleased, c.actor())
        .request(id.as_str())
        .from_addr(c.addr.clone());
    if body.credential.is_some() {
        return Err(ApiError::bad_request(
            "credential is only sent with an acknowledgement (ack): a released copy was not imported.",
        ));
    }
    if body.keep_copy {
        return Err(ApiError::bad_request(
            "keep_copy is only sent with an acknowledgement (ack): a released copy stays in the inbox anyway.",
        ));
    }
    let reason = one_line(body.reason.as_deref(), 500, "reason")?;
    if !reason.is_empty() {
        event = event.detail(serde_json::json!({ "reason": reason }));
    }
    if state
        .store
        .release_sealed(id.as_str(), lease_id.as_str(), state.clock.now(), &event)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_your_lease())
    }
}

async fn ack(
    State(state): State<AppState>,
    c: Collector,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LeaseRef>,
) -> Result<StatusCode, ApiError> {
    let id = request_id(&id)?;
    let lease_id = parse_lease_id(&body)?;
    let target = short_label(body.target.as_deref(), "target")?;
    let facts = body
        .credential
        .as_ref()
        .map(|f| Facts::parse(&f.client_id, f.secret_expires_on.as_deref()))
        .transpose()
        .map_err(ApiError::bad_request)?;
    let mut detail = serde_json::json!({ "target": target });
    if body.keep_copy {
        detail["copy_kept"] = true.into();
    }
    if let Some(f) = &facts {
        detail["client_id"] = f.client_id.clone().into();
        detail["secret_expires_on"] = f.expires_text().into();
    }
    let event = NewEvent::new(Kind::RequestImported, c.actor())
        .request(id.as_str())
        .from_addr(c.addr.clone())
        .detail(detail);
    let imported = Imported {
        target: target.as_deref(),
        facts: facts.as_ref(),
        keep_copy: body.keep_copy,
    };
    match state
        .store
        .ack_sealed(
            id.as_str(),
            lease_id.as_str(),
            &imported,
            state.clock.now(),
            &event,
        )
        .await?
    {
        Ack::Done => {
            tracing::info!("sealed copy imported by a collector");
            Ok(StatusCode::NO_CONTENT)
        }
        Ack::NotYourLease => Err(not_your_lease()),
        Ack::Missing => Err(no_copy()),
    }
}

fn not_imported() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        Code::NotImported,
        "A result can only be reported for a request the collector has imported (acknowledged).",
    )
}

async fn result(
    State(state): State<AppState>,
    c: Collector,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<VerifyOutcome>,
) -> Result<StatusCode, ApiError> {
    let id = Id::parse(&id).ok_or_else(not_imported)?;
    let step = short_label(body.step.as_deref(), "step")?;
    let code = short_label(body.code.as_deref(), "code")?;
    let message = one_line(body.message.as_deref(), 1000, "message")?;
    let message = message.as_str();
    let names = |v: &[String]| -> Result<Vec<String>, ApiError> {
        if v.len() > 64 {
            return Err(ApiError::bad_request("At most 64 role names."));
        }
        v.iter()
            .map(|r| {
                short_label(Some(r), "a role name").map(std::option::Option::unwrap_or_default)
            })
            .collect()
    };
    let found = names(&body.roles_found)?;
    let required = names(&body.roles_required)?;
    let missing: Vec<&String> = required.iter().filter(|r| !found.contains(r)).collect();
    let detail = if body.ok {
        if message.is_empty() {
            "Verified against Entra ID: the token was issued with every permission the template needs."
                .to_owned()
        } else {
            message.to_owned()
        }
    } else {
        let mut d = format!(
            "Verification failed at {}{}",
            step.as_deref().unwrap_or("an unknown step"),
            code.as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
        if !message.is_empty() {
            d.push_str(": ");
            d.push_str(message);
        }
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            d.push_str(&format!(" Missing permissions: {}.", list.join(", ")));
        }
        d
    };
    let kind = if body.ok {
        Kind::RequestVerified
    } else {
        Kind::RequestVerifyFailed
    };
    let event = NewEvent::new(kind, c.actor())
        .request(id.as_str())
        .from_addr(c.addr.clone())
        .detail(serde_json::json!({
            "ok": body.ok,
            "step": step,
            "code": code,
            "missing": missing,
        }));
    let recorded = state
        .store
        .record_verification(
            id.as_str(),
            &VerifyResult {
                ok: body.ok,
                detail: &detail,
            },
            state.clock.now(),
            &event,
        )
        .await?;
    if recorded {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_imported())
    }
}

/// The query of `GET /api/v1/inbox/credentials`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsQuery {
    /// Only credentials not checked for this many seconds (or never): what
    /// a collector re-checking every INTERVAL is due to check now, by the
    /// server's clock, whichever collector checked last.
    #[serde(default)]
    unchecked_for: Option<u64>,
}

/// The longest `unchecked_for` taken: ten years, in seconds.
const MAX_UNCHECKED_FOR: u64 = 10 * 366 * 24 * 3600;

/// The credentials collectors imported that are current in the register
/// (each customer's and template's newest), for `handoff collect --recheck`.
async fn imported_credentials(
    State(state): State<AppState>,
    _c: Collector,
    ApiQuery(query): ApiQuery<CredentialsQuery>,
) -> Result<Json<ImportedCredentials>, ApiError> {
    let now = state.clock.now();
    let unchecked_for = match query.unchecked_for {
        Some(s) if s > MAX_UNCHECKED_FOR => {
            return Err(ApiError::bad_request(
                "unchecked_for is a number of seconds of at most ten years.",
            ));
        }
        Some(s) => i64::try_from(s).unwrap_or(i64::MAX),
        None => 0,
    };
    let today = crate::clock::utc_date(now);
    let entries = crate::register::current(
        state.store.credential_entries().await?,
        today,
        state.settings.expiry_warning_days,
    );
    let items = entries
        .into_iter()
        .filter(|(e, _)| e.reporter == Reporter::Collector)
        .filter(|(e, _)| e.verified_at.is_none_or(|at| now - at >= unchecked_for))
        .filter_map(|(e, _)| {
            Some(ImportedCredential {
                imported_to: e.imported_to?,
                request_id: e.request_id,
                customer: e.customer,
                template: e.template,
                client_id: e.facts.client_id,
                last_checked_at: e.verified_at.map(rfc3339),
                failing: e.verify_ok == Some(false),
            })
        })
        .collect();
    Ok(Json(ImportedCredentials { items }))
}

/// A collector's re-check of an imported credential: its standing in the
/// register, and on a change a notified event.
async fn recheck(
    State(state): State<AppState>,
    c: Collector,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RecheckOutcome>,
) -> Result<Json<RecheckRecorded>, ApiError> {
    let id = Id::parse(&id).ok_or_else(not_imported)?;
    let code = short_label(body.code.as_deref(), "code")?;
    let cause = one_line(body.cause.as_deref(), 1000, "cause")?;
    if !body.ok && cause.is_empty() {
        return Err(ApiError::bad_request(
            "A failing re-check needs its cause: one plain sentence for the PM.",
        ));
    }
    let detail = if body.ok {
        "Re-checked: Entra ID issued a token with what the template needs.".to_owned()
    } else {
        format!(
            "Re-check failed{}: {cause}",
            code.as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        )
    };
    let event = |kind| {
        NewEvent::new(kind, c.actor())
            .request(id.as_str())
            .from_addr(c.addr.clone())
    };
    let failing = event(Kind::RequestCredentialFailing)
        .detail(serde_json::json!({ "code": code, "cause": cause }));
    let recovered = event(Kind::RequestCredentialRecovered).detail(serde_json::json!({}));
    let change = state
        .store
        .record_recheck(
            id.as_str(),
            &VerifyResult {
                ok: body.ok,
                detail: &detail,
            },
            state.clock.now(),
            &failing,
            &recovered,
        )
        .await?
        .ok_or_else(not_imported)?;
    Ok(Json(RecheckRecorded {
        change: change.as_str().to_owned(),
    }))
}
