//! Requests made and answered the way staff and customers' browsers do it,
//! for tests that need one: a request opened through the store, an answer
//! encrypted with the `age` crate to the PM's and the SOC's recipients.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::id::Id;
use handoff::store::{Answer, Imported, NewRequest, Store, VerifyResult};
use serde_json::json;
use std::io::Read;

use super::{Backend, TestApp, spawn_app_with};

/// A request opened by staff (through the store), with the identity that
/// only the PM's link holds.
pub struct Opened {
    pub id: String,
    pub retrieval_id: String,
    pub identity: age::x25519::Identity,
}

pub async fn open_request(store: &Store, now: i64, expires_in: i64) -> Opened {
    open_request_for(store, now, expires_in, "entra-app").await
}

pub async fn open_request_for(store: &Store, now: i64, expires_in: i64, template: &str) -> Opened {
    let id = Id::random();
    let retrieval = Id::random();
    let identity = age::x25519::Identity::generate();
    let event = NewEvent::new(Kind::RequestCreated, Actor::Staff("pm".into()))
        .request(id.as_str())
        .from_addr(Some("127.0.0.1".into()));
    store
        .create_request(
            &NewRequest {
                id: &id,
                retrieval_id: &retrieval,
                customer: "Contoso",
                template,
                note: "",
                recipient: &identity.to_public().to_string(),
                created_by: "pm",
                created_at: now,
                expires_at: now + expires_in,
                reissued_from: None,
                contact_email: None,
                email_link: false,
            },
            &event,
        )
        .await
        .unwrap();
    Opened {
        id: id.to_string(),
        retrieval_id: retrieval.to_string(),
        identity,
    }
}

pub const PAYLOAD: &str = r#"{"v":1,"template":"entra-app","fields":{"tenant_id":"72f988bf-86f1-41af-91ab-2d7cd011db47","client_id":"0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11","client_secret":"abc8Q~requestsecretvalue0123456789ABCDEF"}}"#;

pub fn encrypt_to(recipients: &[age::x25519::Recipient], plain: &[u8]) -> String {
    let boxed: Vec<&dyn age::Recipient> = recipients
        .iter()
        .map(|r| r as &dyn age::Recipient)
        .collect();
    let encryptor = age::Encryptor::with_recipients(boxed.into_iter()).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, plain).unwrap();
    w.finish().unwrap();
    STANDARD.encode(out)
}

pub fn decrypt(identity: &age::x25519::Identity, ciphertext: &[u8]) -> String {
    let d = age::Decryptor::new(ciphertext).unwrap();
    let mut r = d
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .unwrap();
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}

/// An app whose server seals answers to one SOC recipient; returns the SOC identity.
pub async fn app_with_soc(backend: Backend) -> (TestApp, age::x25519::Identity) {
    let soc = age::x25519::Identity::generate();
    let recipient = soc.to_public().to_string();
    let app = spawn_app_with(backend, move |mut s| {
        s.soc_recipients = vec![recipient];
        s.without_rate_limits()
    })
    .await;
    (app, soc)
}

pub async fn answer(
    app: &TestApp,
    r: &Opened,
    soc: Option<&age::x25519::Identity>,
) -> reqwest::Response {
    answer_with(app, r, soc, PAYLOAD).await
}

/// Answers `r` with `payload` as a customer's browser would: a copy for the
/// PM and, with `soc`, a sealed copy for the collector.
pub async fn answer_with(
    app: &TestApp,
    r: &Opened,
    soc: Option<&age::x25519::Identity>,
    payload: &str,
) -> reqwest::Response {
    let mut body =
        json!({ "pm_ciphertext": encrypt_to(&[r.identity.to_public()], payload.as_bytes()) });
    if let Some(soc) = soc {
        body["sealed_ciphertext"] = json!(encrypt_to(&[soc.to_public()], payload.as_bytes()));
    }
    app.post_json(&format!("/api/v1/requests/{}/answer", r.id), &body)
        .await
}

/// The kinds of a request's trail events, oldest first.
pub async fn event_kinds(store: &Store, request_id: &str) -> Vec<String> {
    store
        .request_events(request_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// An Entra credential as `handoff collect` gets it from a decrypted
/// payload (the secret expires on 2027-06-30).
pub fn entra_credential(
    template: &str,
    tenant: &str,
    client: &str,
    secret: &str,
    cloud: &str,
) -> handoff::payload::EntraCredential {
    entra_credential_expiring(template, tenant, client, secret, cloud, "2027-06-30")
}

/// [`entra_credential`] whose secret expires on `expires_on` (YYYY-MM-DD).
pub fn entra_credential_expiring(
    template: &str,
    tenant: &str,
    client: &str,
    secret: &str,
    cloud: &str,
    expires_on: &str,
) -> handoff::payload::EntraCredential {
    let payload = handoff::payload::Payload {
        v: 1,
        template: template.to_owned(),
        fields: std::collections::BTreeMap::from([
            ("tenant_id".to_owned(), tenant.to_owned()),
            ("client_id".to_owned(), client.to_owned()),
            ("client_secret".to_owned(), secret.to_owned()),
            ("secret_expires_on".to_owned(), expires_on.to_owned()),
            ("cloud".to_owned(), cloud.to_owned()),
        ]),
        note: None,
    };
    handoff::payload::EntraCredential::from_payload(&payload).unwrap()
}

/// An API token with `scopes`, made through the store; returns the token.
pub async fn mint_token(app: &TestApp, name: &str, scopes: &str) -> String {
    let minted = handoff::token::mint();
    app.store
        .create_token(
            &handoff::store::NewToken {
                name,
                prefix: &minted.prefix,
                hash: &minted.hash,
                scopes,
                created_by: "system",
                created_at: app.clock.now(),
            },
            &NewEvent::new(Kind::TokenCreated, Actor::System),
        )
        .await
        .unwrap()
        .unwrap();
    minted.token
}

/// A request for `template`, answered as a customer's browser would with
/// `tenant`'s credential (its secret expiring 2027-06-30, in `cloud`), with
/// a sealed copy for `soc`.
pub async fn answered_with_credential(
    app: &TestApp,
    soc: &age::x25519::Identity,
    template: &str,
    (tenant, client, secret): (&str, &str, &str),
    cloud: &str,
) -> Opened {
    let r = open_request_for(&app.store, super::T0, 86_400, template).await;
    let payload = json!({"v": 1, "template": template, "fields": {
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": "2027-06-30", "cloud": cloud,
    }})
    .to_string();
    assert_eq!(
        answer_with(app, &r, Some(soc), &payload).await.status(),
        201
    );
    r
}

/// A request answered, imported by a collector and failed by its check with
/// `why`, all through the store (the ciphertexts are placeholders: nobody
/// decrypts them).
pub async fn failed_request(store: &Store, now: i64, why: &str) -> Opened {
    failed_request_with(store, now, why, None).await
}

/// [`failed_request`] whose collector reported the credential's `facts` for
/// the register.
pub async fn failed_request_with(
    store: &Store,
    now: i64,
    why: &str,
    facts: Option<&handoff::register::Facts>,
) -> Opened {
    let r = open_request(store, now, 86_400).await;
    let event = |kind| NewEvent::new(kind, Actor::Anonymous).request(&r.id);
    store
        .answer_request(
            &r.id,
            now,
            &Answer {
                pm_copy: b"pm",
                sealed_copy: Some(b"sealed"),
                status_hash: Id::random().digest(),
                copies_expire_at: now + 86_400,
                transfer_id: None,
            },
            &event(Kind::RequestAnswered),
        )
        .await
        .unwrap()
        .unwrap();
    let lease = Id::random();
    store
        .lease_sealed(
            &r.id,
            lease.as_str(),
            now,
            now + 60,
            &event(Kind::RequestLeased),
            &handoff::store::NewReader {
                download_hash: Id::random().digest(),
                grace_until: 0,
            },
        )
        .await
        .unwrap();
    store
        .ack_sealed(
            &r.id,
            lease.as_str(),
            &Imported {
                target: None,
                facts,
                keep_copy: false,
            },
            now,
            &event(Kind::RequestImported),
        )
        .await
        .unwrap();
    let recorded = store
        .record_verification(
            &r.id,
            &VerifyResult {
                ok: false,
                detail: why,
            },
            now,
            &event(Kind::RequestVerified),
        )
        .await
        .unwrap();
    assert!(recorded, "the check was recorded");
    r
}
