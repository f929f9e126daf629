//! The JSON bodies that cross the wire, one type each, shared by the server
//! (which serializes its answers and deserializes requests) and the client
//! (which does the reverse), so a field renamed on one side is renamed on
//! both. `openapi.json` documents each under `components.schemas` with the
//! same name (except [`AnswerBody`], documented as `Answer`); `tests/wire.rs`
//! holds every type here to its schema, and the webhook body to the README.
//!
//! Plain serde: no axum, no SQL. Times are RFC 3339 strings in UTC with whole
//! seconds (`2026-11-22T10:00:00Z`, see [`crate::clock::rfc3339`]); ids and
//! tokens are 22-character base64url strings (see [`crate::id`]); ciphertexts
//! are binary age files as standard base64 with padding. An optional field is
//! always sent, as `null` when absent.

use serde::{Deserialize, Serialize};

// ---- secrets: `/api/v1/secrets`, `/api/v1/status` ----

/// `POST /api/v1/secrets`: a secret to keep until it is read once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    /// Base64 (standard alphabet) of a binary age file.
    pub ciphertext: String,
    /// Lifetime in seconds; the server's expiry policy bounds it.
    #[serde(deserialize_with = "whole_seconds")]
    pub expires_in: i64,
    /// The creator says the key is locked with a passphrase (`false` if left out).
    #[serde(default)]
    pub passphrase: bool,
    /// What the payload holds (see [`crate::template`]); `text` if left out.
    #[serde(default = "default_template")]
    pub template: String,
}

/// Seconds as JSON's integers: `86400`, and also `86400.0`, which JSON
/// Schema counts as the same integer (and clients that only have floating
/// point send). A fraction or a number out of range is refused.
pub(crate) fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // 2^63 as f64: the first value past i64's range.
        Some(f) if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "expires_in must be a whole number of seconds, not {n}"
        ))),
    }
}

/// [`whole_seconds`] of a field that may be left out or `null`.
fn some_whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Seconds(#[serde(deserialize_with = "whole_seconds")] i64);
    Ok(Option::<Seconds>::deserialize(d)?.map(|s| s.0))
}

fn default_template() -> String {
    "text".to_owned()
}

/// The answer to [`CreateSecret`] (201).
#[derive(Debug, Serialize, Deserialize)]
pub struct Created {
    /// The secret's id.
    pub id: String,
    /// `{public_url}/s/{id}`: the client appends `#` and the key.
    pub url: String,
    /// When the secret expires, RFC 3339.
    pub expires_at: String,
    /// `{public_url}/status/{token}`: the creator's private status page; the
    /// only time the token is handed out.
    pub status_url: String,
}

/// `GET /api/v1/secrets/{id}`: what the reader's page shows before revealing.
#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    /// The secret's id.
    pub id: String,
    /// What the payload holds (see [`crate::template`]).
    pub template: String,
    /// The creator said the key is locked with a passphrase.
    pub passphrase: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /api/v1/secrets/{id}/reveal`: the ciphertext, exactly once.
#[derive(Debug, Serialize, Deserialize)]
pub struct Revealed {
    /// Base64 (standard alphabet) of the age file the creator uploaded.
    pub ciphertext: String,
}

/// What the creator's status endpoints answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// The secret's id.
    pub id: String,
    /// What the payload holds.
    pub template: String,
    /// `waiting`, `read`, `destroyed` or `expired`.
    pub state: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// When it was revealed (RFC 3339), or `null`.
    pub read_at: Option<String>,
    /// When its creator destroyed it (RFC 3339), or `null`.
    pub destroyed_at: Option<String>,
}

/// `GET /healthz`: 200 with `ok`, or 503 with `unavailable` when the
/// database does not answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The backend: `sqlite` or `postgres`.
    pub database: String,
}

/// Every error answer under `/api/`: the status line says the kind, `error`
/// the machine code, `message` one sentence for a person.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The machine code (`not_found`, `rate_limited`, ...): one of the
    /// server's `Code`s, listed in `openapi.json`'s `Error` schema.
    pub error: String,
    /// What happened and what to do, in plain words.
    pub message: String,
}

// ---- requests: the customer's and the PM's side ----

/// `POST /api/v1/requests` (staff, with a session and its CSRF token): a
/// request for a customer's credentials.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The customer's label, shown to staff and the customer.
    pub customer: String,
    /// An integration template's id.
    pub template: String,
    /// Lifetime in seconds; the server's expiry policy bounds it.
    #[serde(deserialize_with = "whole_seconds")]
    pub expires_in: i64,
    /// A note to the customer (not secret); empty if left out.
    #[serde(default)]
    pub note: String,
    /// The X25519 recipient of the PM's copy; its identity stays in the
    /// staff member's browser and the PM's link.
    pub recipient: String,
    /// The id of the request this one replaces, if any.
    #[serde(default)]
    pub reissued_from: Option<String>,
    /// The customer admin's e-mail address (`name@example.com`), if known;
    /// empty or absent: none.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// E-mail the request's link to `contact_email` (needs the server's
    /// SMTP configuration). The link's rotation requests inherit the choice.
    #[serde(default)]
    pub email_link: bool,
}

/// The answer to [`CreateRequest`] (201).
#[derive(Debug, Serialize, Deserialize)]
pub struct CreatedRequest {
    /// The request's id.
    pub id: String,
    /// The customer's link.
    pub url: String,
    /// The PM's link, without its key: the client appends `#` and the identity.
    pub retrieval_url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `GET /api/v1/requests/{id}`: what the customer's page and client need to
/// answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestMeta {
    /// The request's id.
    pub id: String,
    /// The customer's label.
    pub customer: String,
    /// An integration template's id.
    pub template: String,
    /// The SOC's note to the customer (not secret).
    pub note: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `open`, `answered`, `expired`, `cancelled` or `withdrawn`: whether it can be answered.
    pub state: String,
    /// The recipient of the PM's copy.
    pub recipient: String,
    /// The recipients of the sealed copy (the SOC's collector); empty if the
    /// server has none, and then no sealed copy is sent.
    pub soc_recipients: Vec<String>,
}

/// `POST /api/v1/requests/{id}/answer` (documented as `Answer`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// Base64 age file to the request's recipient (the PM's copy).
    pub pm_ciphertext: String,
    /// Base64 age file to the SOC's recipients; required exactly when the
    /// server has SOC recipients.
    #[serde(default)]
    pub sealed_ciphertext: Option<String>,
    /// A files request's answer: the id of the transfer made for this
    /// request (`POST /api/v1/transfers` with `request`), complete. The
    /// encrypted payload names it too, with its key; the server checks
    /// this one and keeps the pieces as long as the answer's readers need
    /// them. Required for a files request, refused for any other.
    #[serde(default)]
    pub transfer: Option<String>,
}

/// The answer to [`AnswerBody`] (201).
#[derive(Debug, Serialize, Deserialize)]
pub struct Answered {
    /// The customer's receipt page: later steps, and withdrawal.
    pub status_url: String,
}

/// The customer's receipt (`/api/v1/request-status/{token}`): each later step.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestStatus {
    /// The customer's label.
    pub customer: String,
    /// An integration template's id.
    pub template: String,
    /// `answered`, `retrieved`, `imported`, `verified`, `failed`, `withdrawn`,
    /// `cancelled` (or `expired`, if the copies lapsed untouched).
    pub state: String,
    /// When the customer answered (RFC 3339); each step's time is `null`
    /// until it happens.
    pub answered_at: Option<String>,
    /// When the PM retrieved their copy.
    pub retrieved_at: Option<String>,
    /// When a collector imported the sealed copy.
    pub imported_at: Option<String>,
    /// When the collector reported its check against Entra ID.
    pub verified_at: Option<String>,
    /// That check's result, once reported.
    pub verify_ok: Option<bool>,
    /// When the customer withdrew the answer.
    pub withdrawn_at: Option<String>,
    /// Whether the answer can still be withdrawn.
    pub can_withdraw: bool,
}

/// `POST /api/v1/retrievals/{id}/reveal`: the PM's copy, exactly once.
#[derive(Debug, Serialize, Deserialize)]
pub struct Retrieved {
    /// Base64 age file to the request's recipient.
    pub ciphertext: String,
    /// The customer's label.
    pub customer: String,
    /// An integration template's id.
    pub template: String,
    /// A files request's answer: the transfer, with the PM's own download
    /// token (`null` for every other request).
    #[serde(default)]
    pub transfer: Option<TransferGrant>,
}

/// A reader's access to a files request's transfer, handed out with its
/// copy ([`Retrieved`] for the PM, [`Leased`] for the collector): the
/// pieces are fetched with `GET /api/v1/transfers/{id}/files/{f}/pieces/{p}`
/// and this token, until `grace_until`, and `POST .../finish` ends it early.
/// Each reader's token is its own; the pieces go once every reader is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferGrant {
    /// The transfer's id (as the decrypted payload's `fields.transfer` names it).
    pub id: String,
    /// Base64 (standard alphabet) of the manifest's age file, which the
    /// payload's `fields.key` decrypts.
    pub manifest: String,
    /// This reader's bearer token for the pieces and the finish.
    pub download_token: String,
    /// Each file's piece count and ciphertext size.
    pub files: Vec<TransferFile>,
    /// Until when (RFC 3339) the token reads pieces.
    pub grace_until: String,
}

// ---- the collector's inbox: `/api/v1/inbox`, by API token ----

/// One sealed copy waiting in the inbox.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The request's id.
    pub id: String,
    /// An integration template's id.
    pub template: String,
    /// The customer's label.
    pub customer: String,
    /// RFC 3339.
    pub answered_at: String,
    /// While another collector holds a lease: until when (RFC 3339).
    pub leased_until: Option<String>,
}

/// `GET /api/v1/inbox`: every sealed copy waiting.
#[derive(Debug, Serialize, Deserialize)]
pub struct Inbox {
    /// Oldest answer first.
    pub items: Vec<InboxEntry>,
}

/// `POST /api/v1/inbox/{id}/lease`: a sealed copy, held for this collector
/// until `lease_expires_at`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Leased {
    /// The request's id.
    pub id: String,
    /// What acknowledging or releasing the lease must send back ([`LeaseRef`]).
    pub lease_id: String,
    /// RFC 3339.
    pub lease_expires_at: String,
    /// An integration template's id: it decides where the credential goes.
    pub template: String,
    /// The customer's label.
    pub customer: String,
    /// The sealed copy: base64 of an age file to the SOC's recipients.
    pub ciphertext: String,
    /// For a rotation request: the credential it replaces, whose app
    /// registration the answer must name (`null` otherwise). Absent from
    /// older servers, hence the default.
    #[serde(default)]
    pub rotates: Option<Rotates>,
    /// A files request's answer: the transfer, with this lease's own
    /// download token (`null` for every other request; absent from older
    /// servers, hence the default).
    #[serde(default)]
    pub transfer: Option<TransferGrant>,
}

/// In [`Leased`]: the credential a rotation request replaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotates {
    /// The request the replaced credential came with.
    pub request_id: String,
    /// Its app registration's client ID, as the credential register holds it
    /// (lower case).
    pub client_id: String,
}

/// The body of `POST /api/v1/inbox/{id}/ack` and `.../release`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRef {
    /// The `lease_id` [`Leased`] gave.
    pub lease_id: String,
    /// For the trail: where the collector wrote it (e.g. `wazuh-office365`),
    /// at most 64 printable ASCII characters.
    #[serde(default)]
    pub target: Option<String>,
    /// For the trail, on a release: why the collector let the copy go (a
    /// platform's refusal in its own words, a check it could not make), one
    /// line of at most 500 characters, with no secret in it.
    #[serde(default)]
    pub reason: Option<String>,
    /// On an acknowledgement: the non-secret facts of the credential the
    /// collector imported, for the server's credential register.
    #[serde(default)]
    pub credential: Option<CredentialFacts>,
    /// On an acknowledgement: the collector's check of the credential failed
    /// (it reports why next), so the server keeps the sealed copy, out of the
    /// inbox, until the copies expire; staff can then ask for a re-check
    /// once the customer has fixed the cause, without anyone answering again.
    #[serde(default)]
    pub keep_copy: bool,
}

/// The non-secret facts of a credential, reported by whoever decrypted it
/// (the collector with its acknowledgement, the PM's browser after a
/// retrieval) for the server's credential register: never the secret, never
/// the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialFacts {
    /// The app registration's client (application) ID: a GUID.
    pub client_id: String,
    /// `YYYY-MM-DD`: the day the client secret expires, as the customer gave
    /// it; absent when they did not.
    #[serde(default)]
    pub secret_expires_on: Option<String>,
}

/// `POST /api/v1/inbox/{id}/result`: a verification outcome, with no secret
/// material, only names and codes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyOutcome {
    /// The credential works as the template needs.
    pub ok: bool,
    /// The failing step (`token`, `roles`, `tenant`, `subscription`, ...).
    #[serde(default)]
    pub step: Option<String>,
    /// An Entra (`AADSTS...`) or Management API (`AF...`) code.
    #[serde(default)]
    pub code: Option<String>,
    /// The plain sentence for the PM: one line, at most 1000 characters.
    #[serde(default)]
    pub message: Option<String>,
    /// The permissions the tokens carried (at most 64 names).
    #[serde(default)]
    pub roles_found: Vec<String>,
    /// The permissions the template needs (at most 64 names).
    #[serde(default)]
    pub roles_required: Vec<String>,
}

/// `GET /api/v1/inbox/credentials`: the credentials collectors imported
/// that are current in the credential register (the newest per customer and
/// template), for `handoff collect --recheck`. Nothing secret: the collector
/// reads each credential back from where its target wrote it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedCredentials {
    pub items: Vec<ImportedCredential>,
}

/// One imported credential in [`ImportedCredentials`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedCredential {
    /// The request the credential came with.
    pub request_id: String,
    /// The customer's label.
    pub customer: String,
    /// The integration template id.
    pub template: String,
    /// The app registration's client ID (a GUID, lower case).
    pub client_id: String,
    /// The target the collector wrote it into (e.g. `wazuh-office365`).
    pub imported_to: String,
    /// When it was last verified or re-checked (RFC 3339), if ever.
    #[serde(default)]
    pub last_checked_at: Option<String>,
    /// The last check failed.
    pub failing: bool,
}

/// `POST /api/v1/inbox/{id}/recheck`: what a re-check of an imported
/// credential found, with no secret material. A transition (working to
/// failing, failing to working) appends `request.credential_failing` or
/// `request.credential_recovered`, which are notified; a repeat only moves
/// the time of the last check.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckOutcome {
    /// A token was issued with what the template needs.
    pub ok: bool,
    /// The Entra (`AADSTS...`) code, when there was one: at most 64
    /// printable ASCII characters.
    #[serde(default)]
    pub code: Option<String>,
    /// Why it fails, in plain words for the PM and the customer: one line of
    /// at most 1000 characters (ignored when `ok`).
    #[serde(default)]
    pub cause: Option<String>,
}

/// The answer to a [`RecheckOutcome`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckRecorded {
    /// `failing` or `recovered` when this report changed the credential's
    /// standing (and was notified), `unchanged` otherwise.
    pub change: String,
}

// ---- webhooks (documented in the README, not in `openapi.json`) ----

/// What the server POSTs to each webhook receiver when a request is
/// answered, retrieved, expires unanswered or fails verification.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `request.answered`, `request.retrieved`, `request.expired` or
    /// `request.verify_failed`.
    pub event: String,
    /// The event's number in the audit trail.
    pub seq: i64,
    /// When it happened, RFC 3339.
    pub at: String,
    /// Which request.
    pub request: WebhookRequest,
    /// The staff dashboard's page of the request, if the event names one.
    pub dashboard_url: Option<String>,
    /// One plain sentence, which Slack and Teams show as is.
    pub text: String,
}

/// The request a [`WebhookEvent`] is about; each field `null` if unknown.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookRequest {
    /// The request's id.
    pub id: Option<String>,
    /// The customer's label.
    pub customer: Option<String>,
    /// An integration template's id.
    pub template: Option<String>,
}

// ---- file transfers: `/api/v1/transfers` ----

/// `POST /api/v1/transfers`: a transfer to upload. The pieces follow, one
/// request each.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    /// Base64 (standard alphabet) of the manifest's binary age file (at most
    /// 256 KiB; see [`crate::transfer::Manifest`]).
    pub manifest: String,
    /// Each file's piece count and ciphertext size, in the manifest's order.
    pub files: Vec<TransferFile>,
    /// Lifetime in seconds; the server's expiry policy bounds it. Required
    /// for a transfer from the public page; left out for a request's (which
    /// lives as long as the request, then as long as its answer).
    #[serde(default, deserialize_with = "some_whole_seconds")]
    pub expires_in: Option<i64>,
    /// The id of the open files request this transfer answers (from the
    /// customer's link `/r/{id}`): knowing it is the authority, as for the
    /// answer itself. Such a transfer is never claimable through
    /// `/claim` nor shown at `/f/{id}`.
    #[serde(default)]
    pub request: Option<String>,
}

/// One file of a transfer, as its sender declares it and a claimer gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferFile {
    /// Pieces (of 4 MiB of plaintext each, the last maybe shorter), at least 1.
    pub pieces: i64,
    /// Ciphertext bytes of all its pieces together.
    pub size: i64,
}

/// The answer to [`CreateTransfer`] (201).
#[derive(Debug, Serialize, Deserialize)]
pub struct TransferCreated {
    /// The transfer's id.
    pub id: String,
    /// `{public_url}/f/{id}`: the sender appends `#` and the key.
    pub url: String,
    /// The sender's bearer token for the pieces, the upload state and the
    /// completion; the only time it is handed out.
    pub upload_token: String,
    /// When the transfer expires, RFC 3339.
    pub expires_at: String,
    /// Plaintext bytes per piece: 4194304.
    pub piece_size: i64,
}

/// `GET /api/v1/transfers/{id}/upload`: what a resuming sender still has to send.
#[derive(Debug, Serialize, Deserialize)]
pub struct UploadState {
    /// The transfer was completed: nothing more to send.
    pub complete: bool,
    /// Each file, in order.
    pub files: Vec<UploadedFile>,
}

/// One file of an [`UploadState`].
#[derive(Debug, Serialize, Deserialize)]
pub struct UploadedFile {
    /// Pieces declared.
    pub pieces: i64,
    /// The pieces the server holds, ascending.
    pub present: Vec<i64>,
}

/// `POST /api/v1/transfers/{id}/complete`: the transfer can be claimed now.
#[derive(Debug, Serialize, Deserialize)]
pub struct TransferCompleted {
    /// The transfer's id.
    pub id: String,
    /// `{public_url}/f/{id}`.
    pub url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `GET /api/v1/transfers/{id}`: what the recipient's page shows before
/// claiming (no names: they are in the encrypted manifest).
#[derive(Debug, Serialize, Deserialize)]
pub struct TransferMeta {
    /// The transfer's id.
    pub id: String,
    /// Number of files.
    pub files: i64,
    /// Ciphertext bytes of all pieces together.
    pub size: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// `POST /api/v1/transfers/{id}/claim`: the manifest and the download
/// token, exactly once.
#[derive(Debug, Serialize, Deserialize)]
pub struct TransferClaimed {
    /// Base64 (standard alphabet) of the manifest's age file.
    pub manifest: String,
    /// The claimer's bearer token for the pieces and the finish.
    pub download_token: String,
    /// Each file's piece count and ciphertext size.
    pub files: Vec<TransferFile>,
    /// Until when (RFC 3339) the pieces can be fetched with the token.
    pub grace_until: String,
}
