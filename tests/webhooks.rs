//! Webhooks: events from the trail reach a local receiver, signed, once, and
//! are retried with backoff; on SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use age::secrecy::SecretString;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{ServerProcess, TestApp};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::id::Id;
use handoff::store::{NewRequest, Store};
use handoff::webhook::{self, DeliveryStats, WebhookConfig};
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec-test-0123456789abcdef";
/// The part of a receiver's URL that stands for a Slack-style token.
const URL_TOKEN: &str = "T0-B0-hook-token";
const RECIPIENT: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    headers: HeaderMap,
    body: String,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Recorded {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Statuses to answer, in order; 200 once it is empty.
    script: Arc<Mutex<VecDeque<u16>>>,
}

/// A local webhook receiver on 127.0.0.1:0.
struct Receiver {
    url: Url,
    recorded: Recorded,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        async fn hook(State(r): State<Recorded>, headers: HeaderMap, body: String) -> StatusCode {
            r.hits.lock().unwrap().push(Hit { headers, body });
            let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
            StatusCode::from_u16(status).unwrap()
        }
        let recorded = Recorded::default();
        recorded.script.lock().unwrap().extend(script);
        let app = axum::Router::new()
            .route("/hook/{token}", axum::routing::post(hook))
            .with_state(recorded.clone());
        let (addr, tx) = common::serve_on_loopback(app).await;
        let url = Url::parse(&format!("http://{addr}/hook/{URL_TOKEN}")).unwrap();
        Receiver {
            url,
            recorded,
            _stop: tx,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.recorded.hits.lock().unwrap().clone()
    }
}

fn config(app: &TestApp, urls: &[&Url]) -> WebhookConfig {
    WebhookConfig::new(
        urls.iter().map(|u| (*u).clone()).collect(),
        SecretString::from(SECRET.to_owned()),
        &app.base,
    )
    .unwrap()
}

async fn pass(app: &TestApp, config: &WebhookConfig) -> DeliveryStats {
    pass_on(&app.store, app, config).await
}

async fn pass_on(store: &Store, app: &TestApp, config: &WebhookConfig) -> DeliveryStats {
    let client = webhook::http_client(config).unwrap();
    webhook::deliver_once(store, &app.clock, config, &client)
        .await
        .unwrap()
}

/// A request row (as the request flow makes it), with its `request.created`
/// event. Returns its id and retrieval id.
async fn request(app: &TestApp, customer: &str, template: &str) -> (String, String) {
    let id = Id::random();
    let retrieval = Id::random();
    let now = app.clock.now();
    app.store
        .create_request(
            &NewRequest {
                id: &id,
                retrieval_id: &retrieval,
                customer,
                template,
                note: "call Dana before noon",
                recipient: RECIPIENT,
                created_by: "staff:pm",
                created_at: now,
                expires_at: now + 86_400,
                reissued_from: None,
                contact_email: None,
                email_link: false,
            },
            &NewEvent::new(Kind::RequestCreated, Actor::Staff("pm".into())).request(id.as_str()),
        )
        .await
        .unwrap();
    (id.as_str().to_owned(), retrieval.as_str().to_owned())
}

async fn event(app: &TestApp, kind: Kind, request_id: &str) -> i64 {
    app.store
        .append_event(
            &NewEvent::new(kind, Actor::System).request(request_id),
            app.clock.now(),
        )
        .await
        .unwrap()
        .seq
}

fn kinds(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.header("x-handoff-event").to_owned())
        .collect()
}

/// The signature a receiver expects, computed here with `hmac` directly.
fn expected_signature(secret: &str, t: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    handoff::audit::hex(&mac.finalize().into_bytes())
}

async fn notifies_answered_retrieved_expired_verify_failed_and_rechecks_only(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    for kind in [
        Kind::RequestOpened,
        Kind::RequestAnswered,
        Kind::RequestWithdrawn,
        Kind::RequestRetrieved,
        Kind::RequestImported,
        Kind::RequestExpired,
        Kind::RequestPurged,
        Kind::RequestVerified,
        Kind::RequestVerifyFailed,
        Kind::LoginFailed,
    ] {
        event(&app, kind, &id).await;
    }
    // A collector's re-check: the cause ends the chat sentence.
    app.store
        .append_event(
            &NewEvent::new(
                Kind::RequestCredentialFailing,
                Actor::Token("collector".into()),
            )
            .request(&id)
            .detail(json!({"code": "AADSTS7000222", "cause": "The client secret has expired."})),
            app.clock.now(),
        )
        .await
        .unwrap();
    event(&app, Kind::RequestCredentialRecovered, &id).await;
    let stats = pass(&app, &config).await;
    assert_eq!(
        stats,
        DeliveryStats {
            enqueued: 6,
            delivered: 6,
            retrying: 0,
            failed: 0
        }
    );
    let hits = receiver.hits();
    assert_eq!(
        kinds(&hits),
        [
            "request.answered",
            "request.retrieved",
            "request.expired",
            "request.verify_failed",
            "request.credential_failing",
            "request.credential_recovered"
        ]
    );
    assert_eq!(
        hits[4].json()["text"],
        "The credential Contoso sent for the Microsoft 365 / Entra app credentials request stopped working: The client secret has expired."
    );
    assert_eq!(
        hits[5].json()["text"],
        "The credential Contoso sent for the Microsoft 365 / Entra app credentials request works again."
    );
    // Nothing new: nothing sent, and the cursor is at the head.
    assert_eq!(pass(&app, &config).await, DeliveryStats::default());
    assert_eq!(receiver.hits().len(), 6);
    let (head, _) = app.store.audit_head().await.unwrap();
    assert_eq!(app.store.webhook_cursor().await.unwrap(), head);
}

async fn every_receiver_gets_each_event(app: TestApp) {
    let a = Receiver::start(&[]).await;
    let b = Receiver::start(&[]).await;
    let config = config(&app, &[&a.url, &b.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    assert_eq!(pass(&app, &config).await.delivered, 2);
    assert_eq!(a.hits().len(), 1);
    assert_eq!(b.hits().len(), 1);
    assert_eq!(a.hits()[0].body, b.hits()[0].body);
    assert_ne!(
        a.hits()[0].header("x-handoff-delivery"),
        b.hits()[0].header("x-handoff-delivery")
    );
}

async fn signature_verifies_with_the_secret_and_not_another(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    pass(&app, &config).await;
    let hit = &receiver.hits()[0];
    let header = hit.header("x-handoff-signature");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("signature header shape: {header}"));
    assert_eq!(t, app.clock.now().to_string());
    assert_eq!(v1, expected_signature(SECRET, t, &hit.body));
    assert_ne!(
        v1,
        expected_signature("another-secret-0123456789", t, &hit.body)
    );
    let now = app.clock.now();
    assert!(webhook::verify_signature(
        SECRET.as_bytes(),
        header,
        &hit.body,
        now,
        300
    ));
    assert!(!webhook::verify_signature(
        b"another-secret-0123456789",
        header,
        &hit.body,
        now,
        300
    ));
    // A replay ten minutes later is refused by a receiver allowing five.
    assert!(!webhook::verify_signature(
        SECRET.as_bytes(),
        header,
        &hit.body,
        now + 600,
        300
    ));
    assert_eq!(hit.header("content-type"), "application/json");
    assert_eq!(
        hit.header("x-handoff-delivery").len(),
        handoff::id::RANDOM_LEN
    );
}

async fn body_names_the_request_and_holds_no_secret_material(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, retrieval) = request(&app, "Contoso", "entra-app").await;
    let seq = event(&app, Kind::RequestAnswered, &id).await;
    pass(&app, &config).await;
    let hit = &receiver.hits()[0];
    assert_eq!(
        hit.json(),
        json!({
            "event": "request.answered",
            "seq": seq,
            "at": "2026-11-22T00:00:00Z",
            "request": { "id": id, "customer": "Contoso", "template": "entra-app" },
            "dashboard_url": format!("{}/staff/requests/{id}", app.base),
            "text": "Contoso answered the Microsoft 365 / Entra app credentials request.",
        })
    );
    for secret in [
        SECRET,
        &retrieval,
        RECIPIENT,
        "call Dana",
        URL_TOKEN,
        "/p/",
        "/s/",
    ] {
        assert!(!hit.body.contains(secret), "{secret} in {}", hit.body);
    }
    // Neither the receiver's URL (its token) nor the secret is stored.
    let rows = app.store.webhook_deliveries(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let stored = format!("{rows:?}");
    assert!(
        !stored.contains(URL_TOKEN) && !stored.contains(SECRET),
        "{stored}"
    );
    assert_eq!(rows[0].url_hash, webhook::url_hash(&receiver.url));
}

async fn a_deleted_request_is_still_notified(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let config = config(&app, &[&receiver.url]);
    app.store
        .append_event(
            &NewEvent::new(Kind::RequestExpired, Actor::System)
                .request("gone-request")
                .detail(json!({ "customer": "Fabrikam", "template": "text" })),
            app.clock.now(),
        )
        .await
        .unwrap();
    app.store
        .append_event(
            &NewEvent::new(Kind::RequestVerifyFailed, Actor::System).request("gone-too"),
            app.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(pass(&app, &config).await.delivered, 2);
    let hits = receiver.hits();
    assert_eq!(hits[0].json()["request"]["customer"], "Fabrikam");
    assert_eq!(
        hits[0].json()["text"],
        "The Text request to Fabrikam expired unanswered."
    );
    assert_eq!(hits[1].json()["request"]["customer"], Value::Null);
    assert_eq!(
        hits[1].json()["text"],
        "Verifying the credentials from a customer failed."
    );
}

async fn a_failed_attempt_is_retried_only_after_its_backoff(app: TestApp) {
    let receiver = Receiver::start(&[500]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestRetrieved, &id).await;
    let first = pass(&app, &config).await;
    assert_eq!((first.enqueued, first.retrying), (1, 1));
    assert_eq!(receiver.hits().len(), 1);

    // Not due yet: no attempt before 30 s have passed.
    assert_eq!(pass(&app, &config).await, DeliveryStats::default());
    app.clock.advance(29);
    assert_eq!(pass(&app, &config).await, DeliveryStats::default());
    assert_eq!(receiver.hits().len(), 1);

    app.clock.advance(1);
    assert_eq!(pass(&app, &config).await.delivered, 1);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].body, hits[1].body);
    assert_eq!(
        hits[0].header("x-handoff-delivery"),
        hits[1].header("x-handoff-delivery"),
        "one delivery id across attempts, for deduplication"
    );

    // Delivered exactly once: later passes send nothing.
    app.clock.advance(7_200);
    assert_eq!(pass(&app, &config).await, DeliveryStats::default());
    assert_eq!(receiver.hits().len(), 2);
    let row = &app.store.webhook_deliveries(10).await.unwrap()[0];
    assert_eq!(row.attempts, 2);
    assert_eq!(row.delivered_at, Some(app.clock.now() - 7_200));
    assert_eq!(row.last_status, Some(200));
    assert_eq!(row.failed_at, None);
}

async fn redirects_are_not_followed(app: TestApp) {
    let receiver = Receiver::start(&[307]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    assert_eq!(pass(&app, &config).await.retrying, 1);
    let row = &app.store.webhook_deliveries(10).await.unwrap()[0];
    assert_eq!(row.last_status, Some(307));
    assert_eq!(row.delivered_at, None);
}

async fn an_unreachable_receiver_is_given_up_after_max_attempts(app: TestApp) {
    // A port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/hook/{URL_TOKEN}")).unwrap();
    let mut config = config(&app, &[&url]);
    config.max_attempts = 3;
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;

    let stats = pass(&app, &config).await;
    assert_eq!((stats.enqueued, stats.retrying), (1, 1));
    let row = &app.store.webhook_deliveries(10).await.unwrap()[0];
    assert_eq!(row.attempts, 1);
    assert_eq!(row.next_attempt_at, app.clock.now() + 30);
    let error = row.last_error.clone().unwrap();
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(!error.contains(URL_TOKEN), "{error}");

    app.clock.advance(30);
    assert_eq!(pass(&app, &config).await.retrying, 1);
    let row = &app.store.webhook_deliveries(10).await.unwrap()[0];
    assert_eq!(row.attempts, 2);
    assert_eq!(row.next_attempt_at, app.clock.now() + 60);

    app.clock.advance(60);
    assert_eq!(pass(&app, &config).await.failed, 1);
    let row = &app.store.webhook_deliveries(10).await.unwrap()[0];
    assert_eq!(row.attempts, 3);
    assert_eq!(row.failed_at, Some(app.clock.now()));
    assert_eq!(row.delivered_at, None);

    app.clock.advance(86_400);
    assert_eq!(pass(&app, &config).await, DeliveryStats::default());
    assert_eq!(
        app.store.webhook_deliveries(10).await.unwrap()[0].attempts,
        3
    );
}

async fn a_receiver_removed_from_the_configuration_gets_nothing_more(app: TestApp) {
    let kept = Receiver::start(&[]).await;
    let removed = Receiver::start(&[503]).await;
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    assert_eq!(
        pass(&app, &config(&app, &[&kept.url, &removed.url]))
            .await
            .retrying,
        1
    );
    app.clock.advance(30);
    let stats = pass(&app, &config(&app, &[&kept.url])).await;
    assert_eq!((stats.delivered, stats.failed), (0, 1));
    assert_eq!(removed.hits().len(), 1);
    assert_eq!(kept.hits().len(), 1);
}

async fn events_older_than_a_day_are_not_replayed(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let config = config(&app, &[&receiver.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    app.clock.advance(86_401);
    let fresh = event(&app, Kind::RequestRetrieved, &id).await;
    assert_eq!(pass(&app, &config).await.delivered, 1);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].json()["seq"], fresh);
}

async fn finished_deliveries_are_deleted_after_their_retention(app: TestApp) {
    let ok = Receiver::start(&[]).await;
    let down = Receiver::start(&[500]).await;
    let config = config(&app, &[&ok.url, &down.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    pass(&app, &config).await;
    let delivered_at = app.clock.now();
    app.clock.advance(webhook::DELIVERY_RETENTION_SECONDS);
    // Not yet older than the retention.
    let before = app.clock.now() - webhook::DELIVERY_RETENTION_SECONDS;
    assert_eq!(app.store.purge_webhook_deliveries(before).await.unwrap(), 0);
    app.clock.advance(1);
    let before = app.clock.now() - webhook::DELIVERY_RETENTION_SECONDS;
    assert!(delivered_at < before);
    assert_eq!(app.store.purge_webhook_deliveries(before).await.unwrap(), 1);
    // The pending retry stays, however old.
    let left = app.store.webhook_deliveries(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].url_hash, webhook::url_hash(&down.url));
    assert_eq!(left[0].delivered_at, None);
}

async fn the_purge_task_deletes_old_deliveries_even_with_webhooks_off(app: TestApp) {
    let ok = Receiver::start(&[]).await;
    let config = config(&app, &[&ok.url]);
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    event(&app, Kind::RequestAnswered, &id).await;
    pass(&app, &config).await;
    assert_eq!(app.store.webhook_deliveries(10).await.unwrap().len(), 1);
    // No webhook worker runs from here on; the purge task alone cleans up.
    app.clock.advance(webhook::DELIVERY_RETENTION_SECONDS + 1);
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert!(app.store.webhook_deliveries(10).await.unwrap().is_empty());
}

async fn concurrent_passes_never_send_one_delivery_twice(app: TestApp) {
    let receiver = Receiver::start(&[500, 500, 500]).await;
    let config = config(&app, &[&receiver.url]);
    // A second "instance": its own pool on the same database.
    let other = Store::connect(app.db.url()).await.unwrap();
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    let mut seqs = BTreeSet::new();
    for _ in 0..12 {
        seqs.insert(event(&app, Kind::RequestAnswered, &id).await);
    }
    for round in 0..4 {
        let (a, b) = tokio::join!(
            pass_on(&app.store, &app, &config),
            pass_on(&other, &app, &config)
        );
        let expected = if round == 0 { seqs.len() as u64 } else { 0 };
        assert_eq!(a.enqueued + b.enqueued, expected);
        app.clock.advance(30);
    }
    let hits = receiver.hits();
    // 12 deliveries, 3 of them after one failed attempt each.
    assert_eq!(hits.len(), 15, "{:?}", kinds(&hits));
    let delivered: Vec<_> = app
        .store
        .webhook_deliveries(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.delivered_at.is_some())
        .collect();
    assert_eq!(delivered.len(), 12);
    let ok_ids: Vec<&str> = hits
        .iter()
        .map(|h| h.header("x-handoff-delivery"))
        .collect();
    let distinct: BTreeSet<&str> = ok_ids.iter().copied().collect();
    assert_eq!(distinct.len(), 12, "each delivery id at most twice");
    other.close().await;
}

async fn two_instances_enqueue_each_event_once(app: TestApp) {
    let other = Store::connect(app.db.url()).await.unwrap();
    let hashes = vec!["a".repeat(64), "b".repeat(64)];
    let (id, _) = request(&app, "Contoso", "entra-app").await;
    let now = app.clock.now();
    let enqueue = |store: Store, hashes: Vec<String>| async move {
        let mut deliveries = 0;
        for _ in 0..60 {
            let step = store
                .enqueue_webhooks(&hashes, now, now - 60, 3, |e| e.seq.to_string())
                .await
                .unwrap();
            deliveries += step.deliveries;
            tokio::task::yield_now().await;
        }
        deliveries
    };
    let writer = {
        let store = app.store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                store
                    .append_event(
                        &NewEvent::new(Kind::RequestAnswered, Actor::Anonymous).request(&id),
                        now,
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let a = tokio::spawn(enqueue(app.store.clone(), hashes.clone()));
    let b = tokio::spawn(enqueue(other.clone(), hashes.clone()));
    writer.await.unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    // Whatever is left after the race.
    let mut rest = 0;
    loop {
        let step = app
            .store
            .enqueue_webhooks(&hashes, now, now - 60, 3, |e| e.seq.to_string())
            .await
            .unwrap();
        rest += step.deliveries;
        if !step.more {
            break;
        }
    }
    assert_eq!(
        a + b + rest,
        80,
        "40 events, 2 receivers: a={a} b={b} rest={rest}"
    );
    let rows = app.store.webhook_deliveries(1_000).await.unwrap();
    assert_eq!(rows.len(), 80);
    let pairs: BTreeSet<(i64, &str)> = rows
        .iter()
        .map(|r| (r.event_seq, r.url_hash.as_str()))
        .collect();
    assert_eq!(pairs.len(), 80);
    assert!(rows.iter().all(|r| r.body == r.event_seq.to_string()));
    let (head, _) = app.store.audit_head().await.unwrap();
    assert_eq!(app.store.webhook_cursor().await.unwrap(), head);
    other.close().await;
}

async fn serve_sends_signed_webhooks(app: TestApp) {
    let receiver = Receiver::start(&[]).await;
    let logs = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        app.db.url(),
        logs.path(),
        &[
            "--webhook-url",
            receiver.url.as_str(),
            "--webhook-interval",
            "100ms",
        ],
        &[("HANDOFF_WEBHOOK_SECRET", SECRET)],
    )
    .await;
    // The trail is shared: an event appended by anyone is seen by the server.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    app.store
        .append_event(
            &NewEvent::new(Kind::RequestAnswered, Actor::Anonymous).request("r1"),
            now,
        )
        .await
        .unwrap();
    for _ in 0..100 {
        if !receiver.hits().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "the server sent no webhook");
    assert!(webhook::verify_signature(
        SECRET.as_bytes(),
        hits[0].header("x-handoff-signature"),
        &hits[0].body,
        time::OffsetDateTime::now_utc().unix_timestamp(),
        300
    ));
    assert_eq!(
        hits[0].json()["dashboard_url"],
        format!("{}/staff/requests/r1", server.base)
    );
    let log_path = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(log_path).unwrap();
    assert!(log.contains("webhooks on"), "{log}");
    assert!(!log.contains(SECRET), "the secret is in the log");
    assert!(!log.contains(URL_TOKEN), "the receiver's URL is in the log");
}

/// Every event kind is stored as its text and parsed back to itself; only
/// the notified ones are turned into deliveries.
async fn every_event_kind_round_trips(app: TestApp) {
    for &kind in Kind::ALL {
        app.store
            .append_event(&NewEvent::new(kind, Actor::System), app.clock.now())
            .await
            .unwrap();
    }
    let stored: Vec<Option<Kind>> = app
        .store
        .events_after(0, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|e| Kind::parse(&e.kind))
        .collect();
    let all: Vec<Option<Kind>> = Kind::ALL.iter().copied().map(Some).collect();
    assert_eq!(stored, all);
    let notified = std::cell::RefCell::new(Vec::new());
    app.store
        .enqueue_webhooks(&["h".to_owned()], app.clock.now(), 0, 1_000, |e| {
            notified.borrow_mut().push(e.kind);
            String::new()
        })
        .await
        .unwrap();
    assert_eq!(notified.into_inner(), handoff::store::NOTIFIED_KINDS);
}

on_both_backends!(
    every_event_kind_round_trips,
    notifies_answered_retrieved_expired_verify_failed_and_rechecks_only,
    every_receiver_gets_each_event,
    signature_verifies_with_the_secret_and_not_another,
    body_names_the_request_and_holds_no_secret_material,
    a_deleted_request_is_still_notified,
    a_failed_attempt_is_retried_only_after_its_backoff,
    redirects_are_not_followed,
    an_unreachable_receiver_is_given_up_after_max_attempts,
    a_receiver_removed_from_the_configuration_gets_nothing_more,
    events_older_than_a_day_are_not_replayed,
    finished_deliveries_are_deleted_after_their_retention,
    the_purge_task_deletes_old_deliveries_even_with_webhooks_off,
    concurrent_passes_never_send_one_delivery_twice,
    two_instances_enqueue_each_event_once,
    serve_sends_signed_webhooks,
);
