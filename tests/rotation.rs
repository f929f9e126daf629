//! Rotation before expiry, on both backends: a credential whose secret
//! expires within the lead time gets one rotation request (same customer,
//! template, note and PM recipient, made by `system`), once, however many
//! passes and server instances run; receivers are told once.

mod common;

use common::flow::{Opened, answer_with, app_with_soc, decrypt, mint_token};
use common::{Backend, TestApp, TestDb, spawn_app_on};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::id::Id;
use handoff::rotation::{self, Policy};
use handoff::store::NewRequest;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use age::secrecy::SecretString;
use handoff::config::Settings;
use handoff::server::Server;
use handoff::webhook::{self, WebhookConfig};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~rotationsecretvalue0123456789ABCDE";
/// T0 is 2026-11-22: this is 40 days later.
const IN_40_DAYS: &str = "2027-01-01";
const DAY: i64 = 86_400;
const NOTE: &str = "Our yearly Office 365 audit log feed.";
const POLICY: Policy = Policy {
    lead_days: 30,
    answer_seconds: 7 * DAY,
};

fn payload(expires: &str) -> String {
    json!({"v": 1, "template": "o365-management", "fields": {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
        "secret_expires_on": expires}})
    .to_string()
}

/// A request staff opened for Contoso, with a note.
async fn open(app: &TestApp) -> Opened {
    let id = Id::random();
    let retrieval = Id::random();
    let identity = age::x25519::Identity::generate();
    let event = NewEvent::new(Kind::RequestCreated, Actor::Staff("pm".into())).request(id.as_str());
    app.store
        .create_request(
            &NewRequest {
                id: &id,
                retrieval_id: &retrieval,
                customer: "Contoso",
                template: "o365-management",
                note: NOTE,
                recipient: &identity.to_public().to_string(),
                created_by: "pm",
                created_at: app.clock.now(),
                expires_at: app.clock.now() + 7 * DAY,
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

/// A request answered with a secret that expires on `expires`, imported by
/// the collector, which reported the facts with its acknowledgement.
async fn imported(app: &TestApp, soc: &age::x25519::Identity, expires: &str) -> Opened {
    let token = mint_token(app, &format!("collector-{}", Id::random()), "collect").await;
    let r = open(app).await;
    let res = answer_with(app, &r, Some(soc), &payload(expires)).await;
    assert_eq!(res.status(), 201);
    let post = |path: String, body: Value| {
        app.http
            .post(app.url(&path))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let res = post(format!("/api/v1/inbox/{}/lease", r.id), json!({}))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lease_id = res.json::<Value>().await.unwrap()["lease_id"].clone();
    let ack = json!({"lease_id": lease_id, "target": "wazuh-office365",
        "credential": {"client_id": CLIENT, "secret_expires_on": expires}});
    let res = post(format!("/api/v1/inbox/{}/ack", r.id), ack)
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    r
}

async fn a_rotation_copies_the_request_and_is_made_once(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    let now = app.clock.now();

    let made = app
        .store
        .create_rotation(&old.id, now, now + 3 * DAY)
        .await
        .unwrap()
        .expect("the first rotation is made");
    assert_eq!(made.rotates, old.id);
    assert_ne!(made.id, old.id);
    let rotation = app.store.request(&made.id).await.unwrap().unwrap();
    let before = app.store.request(&old.id).await.unwrap().unwrap();
    assert_eq!(rotation.rotates.as_deref(), Some(old.id.as_str()));
    assert_eq!(rotation.customer, "Contoso");
    assert_eq!(rotation.template(), "o365-management");
    assert_eq!(rotation.note(), NOTE);
    assert_eq!(
        rotation.recipient, before.recipient,
        "the PM's key from the earlier link opens it"
    );
    assert_eq!(rotation.created_by, "system");
    assert_eq!(rotation.expires_at(), now + 3 * DAY);
    assert_eq!(rotation.reissued_from, None);
    assert_eq!(
        rotation.state(now).as_str(),
        "open",
        "the customer can answer it"
    );
    // Its retrieval id is fresh: the old link's is not the rotation's.
    assert_eq!(before.rotates, None);

    let events = app.store.request_events(&made.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "request.rotation_created");
    assert_eq!(events[0].actor, "system");
    let detail: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(
        detail,
        json!({"customer": "Contoso", "template": "o365-management",
            "expires_at": now + 3 * DAY, "rotates": old.id})
    );

    // Once per credential: a second call makes nothing and appends nothing.
    let again = app
        .store
        .create_rotation(&old.id, now, now + 3 * DAY)
        .await
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(
        app.store.rotation_of(&old.id).await.unwrap().unwrap().id(),
        made.id
    );
    let unknown = app
        .store
        .create_rotation("no-such-request", now, now + DAY)
        .await
        .unwrap();
    assert_eq!(unknown, None);
    let rotations = app
        .store
        .list_requests(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.rotates.is_some())
        .count();
    assert_eq!(rotations, 1);
}

/// A local webhook receiver that records each body it gets.
async fn receiver(app: &TestApp) -> (WebhookConfig, Arc<Mutex<Vec<String>>>, StopOnDrop) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let hook = move |body: String| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body);
            axum::http::StatusCode::NO_CONTENT
        }
    };
    let router = axum::Router::new().route("/hook", axum::routing::post(hook));
    let (addr, stop) = common::serve_on_loopback(router).await;
    let config = WebhookConfig::new(
        vec![format!("http://{addr}/hook").parse().unwrap()],
        SecretString::from("whsec-rotation-0123456789abcdef".to_owned()),
        &app.base,
    )
    .unwrap();
    (config, events, StopOnDrop(Some(stop)))
}

struct StopOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

async fn deliver(app: &TestApp, config: &WebhookConfig) {
    let client = webhook::http_client(config).unwrap();
    webhook::deliver_once(&app.store, &app.clock, config, &client)
        .await
        .unwrap();
}

async fn rotations_of(app: &TestApp, old: &str) -> Vec<String> {
    app.store
        .list_requests(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.rotates.as_deref() == Some(old))
        .map(|r| r.id().to_owned())
        .collect()
}

async fn the_timer_rotates_a_credential_once_when_thirty_days_are_left(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let (hooks, delivered, _receiver) = receiver(&app).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    deliver(&app, &hooks).await;
    let events = |bodies: &[String]| -> Vec<String> {
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str::<Value>(b).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(events(&delivered.lock().unwrap()), ["request.answered"]);

    // T0: 40 days left, nothing to do.
    let made = rotation::rotate_due(&app.store, app.clock.now(), POLICY)
        .await
        .unwrap();
    assert!(made.is_empty());
    app.clock.advance(9 * DAY);
    rotation::rotate_due(&app.store, app.clock.now(), POLICY)
        .await
        .unwrap();
    assert!(rotations_of(&app, &old.id).await.is_empty(), "31 days left");

    // 30 days left: the credential stands "expiring" and gets its rotation.
    app.clock.advance(DAY);
    let made = rotation::rotate_due(&app.store, app.clock.now(), POLICY)
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].rotates, old.id);
    assert_eq!(rotations_of(&app, &old.id).await, [made[0].id.clone()]);
    let rotation = app.store.request(&made[0].id).await.unwrap().unwrap();
    assert_eq!(
        rotation.expires_at(),
        app.clock.now() + POLICY.answer_seconds
    );

    // A second pass, and a second server on the same database at the same
    // time as a third pass here, make no second one.
    let other = Server::open(
        app.db.url(),
        Settings::new(&app.base).unwrap(),
        app.clock.clone(),
    )
    .await
    .unwrap();
    let now = app.clock.now();
    let (here, there) = tokio::join!(
        rotation::rotate_due(&app.store, now, POLICY),
        rotation::rotate_due(other.store(), now, POLICY),
    );
    assert!(here.unwrap().is_empty());
    assert!(there.unwrap().is_empty());
    handoff::purge::rotate_once(other.store(), &app.clock, POLICY).await;

    // Receivers are told once.
    deliver(&app, &hooks).await;
    deliver(&app, &hooks).await;
    let bodies = delivered.lock().unwrap().clone();
    assert_eq!(
        events(&bodies),
        ["request.answered", "request.rotation_created"]
    );
    // The rotation is open: its id (its customer link) stays out of chat;
    // the body names the request it rotates.
    let body: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert_eq!(body["request"]["id"], json!(old.id));
    assert_eq!(
        body["dashboard_url"],
        json!(format!("{}/staff/requests/{}", app.base, old.id))
    );
    assert!(!bodies[1].contains(&made[0].id), "{}", bodies[1]);

    // Expired, still unanswered: still the one rotation.
    app.clock.advance(35 * DAY);
    handoff::purge::rotate_once(&app.store, &app.clock, POLICY).await;
    assert_eq!(rotations_of(&app, &old.id).await.len(), 1);
}

/// The rotation is made between two instances racing on one database, not
/// twice: both run the pass at once, many times.
async fn two_servers_racing_make_one_rotation(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    app.clock.advance(10 * DAY);
    let other = Server::open(
        app.db.url(),
        Settings::new(&app.base).unwrap(),
        app.clock.clone(),
    )
    .await
    .unwrap();
    let now = app.clock.now();
    let (here, there) = tokio::join!(
        rotation::rotate_due(&app.store, now, POLICY),
        rotation::rotate_due(other.store(), now, POLICY),
    );
    assert_eq!(here.unwrap().len() + there.unwrap().len(), 1);
    assert_eq!(rotations_of(&app, &old.id).await.len(), 1);
}

/// The task `Server` starts makes the rotation on its own.
async fn the_servers_purge_task_makes_the_rotation(backend: Backend) {
    let soc = age::x25519::Identity::generate();
    let recipient = soc.to_public().to_string();
    let app = spawn_app_on(TestDb::new(backend).await, move |mut s| {
        s.soc_recipients = vec![recipient];
        s.purge_interval = Some(std::time::Duration::from_millis(50));
        s.without_rate_limits()
    })
    .await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(rotations_of(&app, &old.id).await.is_empty(), "40 days left");
    app.clock.advance(10 * DAY);
    for _ in 0..100 {
        if !rotations_of(&app, &old.id).await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rotations_of(&app, &old.id).await.len(), 1);
}

/// The rotation of `old`, made now, answered by the customer with
/// `client_id` and `secret` (encrypted, as the customer's page does, to the
/// rotation's recipient, which is the old request's).
async fn answered_rotation_with(
    app: &TestApp,
    soc: &age::x25519::Identity,
    old: &Opened,
    (client_id, secret): (&str, &str),
) -> Opened {
    let now = app.clock.now();
    let made = app
        .store
        .create_rotation(&old.id, now, now + 7 * DAY)
        .await
        .unwrap()
        .unwrap();
    let r = Opened {
        id: made.id,
        // Nobody is told a rotation's own retrieval id.
        retrieval_id: String::new(),
        identity: old.identity.clone(),
    };
    let body = json!({"v": 1, "template": "o365-management", "fields": {
        "tenant_id": TENANT, "client_id": client_id, "client_secret": secret,
        "secret_expires_on": "2029-01-01"}})
    .to_string();
    assert_eq!(answer_with(app, &r, Some(soc), &body).await.status(), 201);
    r
}

/// The rotation of `old`, answered for the same app with `secret`.
async fn answered_rotation(
    app: &TestApp,
    soc: &age::x25519::Identity,
    old: &Opened,
    secret: &str,
) -> Opened {
    answered_rotation_with(app, soc, old, (CLIENT, secret)).await
}

async fn reveal(app: &TestApp, link: &Opened) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/retrievals/{}/reveal", link.retrieval_id),
        &json!({}),
    )
    .await
}

/// The secret in the copy a press of `link` hands out, or `None` for 404.
async fn revealed_secret(app: &TestApp, link: &Opened) -> Option<String> {
    let res = reveal(app, link).await;
    if res.status() == 404 {
        return None;
    }
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let ciphertext = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        body["ciphertext"].as_str().unwrap(),
    )
    .unwrap();
    let plain: Value = serde_json::from_str(&decrypt(&link.identity, &ciphertext)).unwrap();
    Some(
        plain["fields"]["client_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The `data-state` of the PM's page for `link`, and whether it names a
/// rotation.
async fn page_state(app: &TestApp, link: &Opened) -> (u16, String, bool) {
    let res = app.get(&format!("/p/{}", link.retrieval_id)).await;
    let status = res.status().as_u16();
    let html = res.text().await.unwrap();
    let state = html
        .split("data-state=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .unwrap_or_default();
    (status, state, html.contains("id=\"rotation-note\""))
}

async fn the_old_link_hands_out_each_copy_once_its_own_first(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    assert_eq!(page_state(&app, &old).await, (200, "ready".into(), false));

    // Its own copy first, though a rotation is answered too; then the rotation.
    let first =
        answered_rotation(&app, &soc, &old, "abc8Q~firstrotation0123456789ABCDEFGHIJ").await;
    assert_eq!(revealed_secret(&app, &old).await.as_deref(), Some(SECRET));
    assert_eq!(page_state(&app, &old).await, (200, "ready".into(), true));
    assert_eq!(
        revealed_secret(&app, &old).await.as_deref(),
        Some("abc8Q~firstrotation0123456789ABCDEFGHIJ")
    );
    assert_eq!(revealed_secret(&app, &old).await, None, "each copy once");
    assert_eq!(page_state(&app, &old).await.1, "gone");
    let kinds = common::flow::event_kinds(&app.store, &first.id).await;
    assert!(kinds.iter().any(|k| k == "request.retrieved"), "{kinds:?}");

    // The PM's report after that retrieval is the rotation's facts.
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/credential", old.retrieval_id),
            &json!({"client_id": CLIENT, "secret_expires_on": "2029-01-01"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let entries = app.store.credential_entries().await.unwrap();
    let facts: Vec<(&str, Option<String>)> = entries
        .iter()
        .map(|e| (e.request_id.as_str(), e.facts.expires_text()))
        .collect();
    assert!(
        facts.contains(&(first.id.as_str(), Some("2029-01-01".to_owned()))),
        "{facts:?}"
    );
    assert!(facts.contains(&(old.id.as_str(), Some(IN_40_DAYS.to_owned()))));

    // The rotation's rotation, and the one before it unretrieved: newest first.
    app.clock.advance(DAY);
    let second = answered_rotation(
        &app,
        &soc,
        &first,
        "abc8Q~secondrotation123456789ABCDEFGHIJ",
    )
    .await;
    assert_eq!(page_state(&app, &old).await, (200, "ready".into(), true));
    assert_eq!(
        revealed_secret(&app, &old).await.as_deref(),
        Some("abc8Q~secondrotation123456789ABCDEFGHIJ")
    );
    assert_eq!(revealed_secret(&app, &old).await, None);
    let kinds = common::flow::event_kinds(&app.store, &second.id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "request.retrieved").count(),
        1
    );
}

async fn a_waiting_rotation_shows_on_the_old_link_and_races_hand_out_one(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    assert_eq!(revealed_secret(&app, &old).await.as_deref(), Some(SECRET));
    let now = app.clock.now();
    let made = app
        .store
        .create_rotation(&old.id, now, now + 7 * DAY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page_state(&app, &old).await, (200, "waiting".into(), true));
    assert_eq!(revealed_secret(&app, &old).await, None);

    let rotation = Opened {
        id: made.id,
        retrieval_id: String::new(),
        identity: old.identity.clone(),
    };
    let body = payload("2029-01-01");
    assert_eq!(
        answer_with(&app, &rotation, Some(&soc), &body)
            .await
            .status(),
        201
    );
    // Eight presses at once: one gets the rotation's copy.
    let url = app.url(&format!("/api/v1/retrievals/{}/reveal", old.retrieval_id));
    let presses: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (app.http.clone(), url.clone());
            tokio::spawn(async move { http.post(url).json(&json!({})).send().await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    for press in presses {
        statuses.push(press.await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        7,
        "{statuses:?}"
    );
}

const OTHER_CLIENT: &str = "9d3c1e2f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";
const NEW_SECRET: &str = "abc8Q~rotatednewsecretvalue0123456789ABC";

/// A collector host for the `env` target: the SOC identity, a token, and
/// the directory the env files go to.
struct Collector {
    dir: tempfile::TempDir,
}

impl Collector {
    async fn new(app: &TestApp, soc: &age::x25519::Identity) -> Collector {
        use age::secrecy::ExposeSecret;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("soc.key");
        std::fs::write(&key, format!("{}\n", soc.to_string().expose_secret())).unwrap();
        let token = mint_token(app, "collector", "collect").await;
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, token).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Collector { dir }
    }

    /// One `handoff collect --target env` pass: its exit status and stdout.
    async fn run(&self, app: &TestApp) -> (bool, String) {
        let p = |n: &str| self.dir.path().join(n).display().to_string();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args([
                "collect",
                "--server",
                &app.base,
                "--token-file",
                &p("token"),
            ])
            .args(["--identity", &p("soc.key"), "--target", "env"])
            .args(["--output-dir", &p("out")])
            .env_remove("HANDOFF_SERVER")
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The one env file written so far.
    fn env_file(&self) -> std::path::PathBuf {
        let files: Vec<_> = std::fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "env"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }
}

async fn the_collector_imports_a_rotation_as_a_secret_only_change(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Collector::new(&app, &soc).await;
    let old = open(&app).await;
    assert_eq!(
        answer_with(&app, &old, Some(&soc), &payload(IN_40_DAYS))
            .await
            .status(),
        201
    );
    let (ok, said) = host.run(&app).await;
    assert!(ok, "{said}");
    // An operator's own line in the file stays through the rotation.
    let path = host.env_file();
    let mut before = std::fs::read_to_string(&path).unwrap();
    before.push_str("HTTPS_PROXY=http://proxy.soc.example:3128\n");
    std::fs::write(&path, &before).unwrap();

    let rotation = answered_rotation_with(&app, &soc, &old, (CLIENT, NEW_SECRET)).await;
    let (ok, said) = host.run(&app).await;
    assert!(ok, "{said}");
    let after = std::fs::read_to_string(&path).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(b, a)| b != a)
        .collect();
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    assert_eq!(
        changed,
        [
            (
                format!(
                    "# handoff collect: Contoso (o365-management, request {})",
                    old.id
                )
                .as_str(),
                format!(
                    "# handoff collect: Contoso (o365-management, request {})",
                    rotation.id
                )
                .as_str(),
            ),
            (
                "# the client secret expires on 2027-01-01",
                "# the client secret expires on 2029-01-01",
            ),
            (
                format!("AZURE_CLIENT_SECRET={SECRET}").as_str(),
                format!("AZURE_CLIENT_SECRET={NEW_SECRET}").as_str(),
            ),
        ],
        "only handoff's comments about the credential and the secret change:\n{after}"
    );
    let imported = app.store.request(&rotation.id).await.unwrap().unwrap();
    assert!(imported.imported_at.is_some());
}

async fn the_collector_refuses_a_rotation_for_another_app(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Collector::new(&app, &soc).await;
    let old = open(&app).await;
    assert_eq!(
        answer_with(&app, &old, Some(&soc), &payload(IN_40_DAYS))
            .await
            .status(),
        201
    );
    let (ok, said) = host.run(&app).await;
    assert!(ok, "{said}");
    let before = std::fs::read_to_string(host.env_file()).unwrap();

    let rotation = answered_rotation_with(&app, &soc, &old, (OTHER_CLIENT, NEW_SECRET)).await;
    let (ok, said) = host.run(&app).await;
    assert!(!ok, "a refused import fails the pass: {said}");
    assert!(!said.contains(NEW_SECRET), "{said}");
    assert_eq!(std::fs::read_to_string(host.env_file()).unwrap(), before);
    let events = app.store.request_events(&rotation.id).await.unwrap();
    let released = events
        .iter()
        .find(|e| e.kind == "request.released")
        .expect("released");
    let reason = serde_json::from_str::<Value>(&released.detail).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reason,
        format!(
            "not imported: this rotation answer is for app {OTHER_CLIENT}, but the credential it \
             replaces (request {}) is app {CLIENT}. A rotation needs a new secret for the same app: \
             cancel this request and re-issue it, or re-issue an ordinary request if the customer \
             moved to another app",
            old.id
        )
    );
    let r = app.store.request(&rotation.id).await.unwrap().unwrap();
    assert!(r.imported_at.is_none());
    assert!(
        app.store
            .has_copy(
                &rotation.id,
                handoff::request::CopyKind::Sealed,
                app.clock.now()
            )
            .await
            .unwrap(),
        "the copy stays for the PM to decide"
    );
}

async fn page(app: &TestApp, cookie: Option<&str>, path: &str) -> String {
    let res = match cookie {
        Some(c) => app.get_as(c, path).await,
        None => app.get(path).await,
    };
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

async fn a_rotations_pages_say_what_it_is_and_link_the_old_request(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let old = imported(&app, &soc, IN_40_DAYS).await;
    app.clock.advance(10 * DAY);
    let ordinary = open(&app).await;
    let made = rotation::rotate_due(&app.store, app.clock.now(), POLICY)
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    let rot = made[0].id.clone();

    // The customer's page: a new secret for the same app, named and filled in.
    let html = page(&app, None, &format!("/r/{rot}")).await;
    assert!(
        html.contains("Only a new client secret is needed"),
        "{html}"
    );
    assert!(html.contains(&format!("<code id=\"rotation-client-id\">{CLIENT}</code>")));
    assert!(html.contains(&format!(" value=\"{CLIENT}\"")), "pre-filled");
    assert!(html.contains("<em>Certificates &amp; secrets</em>"));
    assert!(html.contains("<em>New client secret</em>"));
    assert!(html.contains("az login --allow-no-subscriptions"));
    assert!(html.contains("--append --display-name handoff-rotation --years 2"));
    assert!(html.contains(CLIENT));
    assert!(
        !html.contains("<section id=\"guide\">"),
        "not the full set-up"
    );
    // An ordinary request's page is as before.
    let html = page(&app, None, &format!("/r/{}", ordinary.id)).await;
    assert!(html.contains("<section id=\"guide\">"));
    assert!(!html.contains("rotation-client-id"));
    assert!(!html.contains(&format!(" value=\"{CLIENT}\"")));

    // Staff: the dashboard, both request pages and the Credentials page.
    app.staff("pm").await;
    let pm = app.login("pm", common::STAFF_PASSWORD).await;
    let html = page(&app, Some(&pm.cookie), "/staff").await;
    assert!(
        html.contains(&format!(
            "<a class=\"badge rotation\" href=\"/staff/requests/{}\"",
            old.id
        )),
        "{html}"
    );
    assert_eq!(html.matches("badge rotation").count(), 1);
    let html = page(&app, Some(&pm.cookie), &format!("/staff/requests/{rot}")).await;
    assert!(html.contains("<p id=\"rotates\""), "{html}");
    assert!(html.contains(&format!("href=\"/staff/requests/{}\"", old.id)));
    let html = page(
        &app,
        Some(&pm.cookie),
        &format!("/staff/requests/{}", old.id),
    )
    .await;
    assert!(
        html.contains(&format!(
            "<p id=\"rotated-by\">This credential's <a href=\"/staff/requests/{rot}\">"
        )),
        "{html}"
    );
    let html = page(&app, Some(&pm.cookie), "/staff/credentials").await;
    assert!(
        html.contains(&format!(
            "<a class=\"rotation\" href=\"/staff/requests/{rot}\">waiting for the customer</a>"
        )),
        "{html}"
    );
}

with_each_backend!(
    a_rotations_pages_say_what_it_is_and_link_the_old_request,
    the_collector_imports_a_rotation_as_a_secret_only_change,
    the_collector_refuses_a_rotation_for_another_app,
    the_old_link_hands_out_each_copy_once_its_own_first,
    a_waiting_rotation_shows_on_the_old_link_and_races_hand_out_one,
    a_rotation_copies_the_request_and_is_made_once,
    the_timer_rotates_a_credential_once_when_thirty_days_are_left,
    two_servers_racing_make_one_rotation,
    the_servers_purge_task_makes_the_rotation,
);
