//! E-mail notifications, on SQLite and PostgreSQL, against a real SMTP
//! server: Python's aiosmtpd (`tests/smtp_sink/sink.py`, installed by
//! `.ci/run`), which writes every message it receives, parsed, to a
//! directory the test reads. Staff addresses get every notified event once;
//! the contact address gets the request link only when the PM chose it, and
//! a rotation's, a failing and a recovered credential's messages; no message
//! carries a secret, a retrieval or receipt link, or a token; a relay that is
//! down is retried; two server instances send each message once.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::flow::{Opened, answer_with, app_with_soc, mint_token};
use common::{Backend, ServerProcess, Session, TestApp, assert_error, spawn_app_with};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::email::{self, EmailConfig, MailStats};
use handoff::rotation::{self, Policy};
use handoff::store::Store;
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~emailsecretvalue0123456789ABCDEFGH";
/// T0 is 2026-11-22: this is 40 days later.
const IN_40_DAYS: &str = "2027-01-01";
const DAY: i64 = 86_400;
const NOTE: &str = "Call Dana before noon";
const CONTACT: &str = "admin@contoso.example";
const STAFF: [&str; 2] = ["pm@soc.example", "lead@soc.example"];
const BRAND: &str = "Fabrikam SOC";
const POLICY: Policy = Policy {
    lead_days: 30,
    answer_seconds: 7 * DAY,
};

// ---------------------------------------------------------------------------
// The SMTP sink

/// One message the sink received, as `sink.py` parsed it.
#[derive(Clone, Debug)]
struct Mail {
    json: Value,
}

impl Mail {
    fn field(&self, name: &str) -> &str {
        self.json[name].as_str().unwrap_or_default()
    }
    fn to(&self) -> Vec<String> {
        self.json["rcpt_tos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
    fn text(&self) -> &str {
        self.field("text")
    }
    fn html(&self) -> &str {
        self.field("html")
    }
    fn subject(&self) -> &str {
        self.field("subject")
    }
    /// What a reader sees: the subject and the decoded parts (the raw
    /// message may wrap a long line or encode it).
    fn shown(&self) -> String {
        format!("{}\n{}\n{}", self.subject(), self.text(), self.html())
    }
    /// Everything the message holds: raw, and its parts decoded.
    fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.field("raw"),
            self.subject(),
            self.text(),
            self.html()
        )
    }
}

/// `python3 tests/smtp_sink/sink.py PORT DIR`, killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sink {
    async fn start() -> Sink {
        Sink::start_on(free_port()).await
    }

    async fn start_on(port: u16) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink/sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the SMTP sink");
        let mut sink = Sink { child, port, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return sink;
            }
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!(
                    "the SMTP sink stopped ({status}): is aiosmtpd installed? \
                     (python3 -m pip install aiosmtpd==1.4.6, as .ci/run does)"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SMTP sink did not start on port {port}");
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| Mail {
                json: serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap(),
            })
            .collect()
    }

    /// Waits until `n` messages arrived (or 20 s passed), then a little
    /// longer for any extra one, and returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Mail> {
        for _ in 0..200 {
            if self.mails().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        self.mails()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The app and its e-mail configuration

fn config_for(url: &str, base: &str) -> EmailConfig {
    EmailConfig::new(
        url,
        "handoff <handoff@soc.example>",
        &STAFF.map(str::to_owned),
        base,
    )
    .unwrap()
    .with_soc_name(Some(BRAND.to_owned()))
    .with_integrations(&handoff::integration::Integrations::builtin())
}

/// An app that seals to a SOC recipient and has SMTP configured with
/// `sink`'s URL. Its own e-mail worker first ticks an hour after start: the
/// tests send with [`pass`], on the manual clock, when they choose.
async fn app_with_email(backend: Backend, sink: &Sink) -> (TestApp, age::x25519::Identity) {
    let soc = age::x25519::Identity::generate();
    let recipient = soc.to_public().to_string();
    let url = sink.url();
    let app = spawn_app_with(backend, move |mut s| {
        s.soc_recipients = vec![recipient];
        let config = config_for(&url, &s.public_url);
        s.email = Some(std::sync::Arc::new(config));
        s.email_interval = Duration::from_secs(3600);
        s.without_rate_limits()
    })
    .await;
    (app, soc)
}

async fn pass_on(store: &Store, app: &TestApp, config: &EmailConfig) -> MailStats {
    let transport = config.transport().unwrap();
    email::deliver_once(store, &app.clock, config, &transport)
        .await
        .unwrap()
}

async fn pass(app: &TestApp, sink: &Sink) -> MailStats {
    pass_on(&app.store, app, &config_for(&sink.url(), &app.base)).await
}

/// A request created by staff through the API, as the new request page
/// sends it, with `extra` fields (the contact address, the choice).
async fn create(app: &TestApp, pm: &Session, extra: Value) -> (Opened, Value) {
    let identity = age::x25519::Identity::generate();
    let mut body = json!({
        "customer": "Contoso",
        "template": "o365-management",
        "expires_in": 7 * DAY,
        "note": NOTE,
        "recipient": identity.to_public().to_string(),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = post_create(app, pm, &body).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let retrieval_url = created["retrieval_url"].as_str().unwrap();
    let opened = Opened {
        id: created["id"].as_str().unwrap().to_owned(),
        retrieval_id: retrieval_url.rsplit('/').next().unwrap().to_owned(),
        identity,
    };
    (opened, created)
}

async fn post_create(app: &TestApp, pm: &Session, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/requests"))
        .header("cookie", &pm.cookie)
        .header("x-csrf-token", &pm.csrf)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn payload(expires: &str) -> String {
    json!({"v": 1, "template": "o365-management", "fields": {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
        "secret_expires_on": expires}})
    .to_string()
}

/// Answers `r` with a secret expiring on `expires`, and has a collector
/// lease, import and acknowledge it with the credential's facts. Returns
/// the customer's receipt URL and the collector's token.
async fn answer_and_import(
    app: &TestApp,
    soc: &age::x25519::Identity,
    r: &Opened,
    expires: &str,
) -> (String, String) {
    let token = mint_token(app, &format!("collector-{}", r.id), "collect").await;
    let res = answer_with(app, r, Some(soc), &payload(expires)).await;
    assert_eq!(res.status(), 201);
    let status_url = res.json::<Value>().await.unwrap()["status_url"]
        .as_str()
        .unwrap()
        .to_owned();
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
    (status_url, token)
}

async fn append(app: &TestApp, kind: Kind, request_id: &str, detail: Value) {
    app.store
        .append_event(
            &NewEvent::new(kind, Actor::System)
                .request(request_id)
                .detail(detail),
            app.clock.now(),
        )
        .await
        .unwrap();
}

/// How many messages each address got.
fn per_address(mails: &[Mail]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in mails {
        for to in m.to() {
            *counts.entry(to).or_default() += 1;
        }
    }
    counts
}

fn to(mails: &[Mail], address: &str) -> Vec<Mail> {
    mails
        .iter()
        .filter(|m| m.to() == [address])
        .cloned()
        .collect()
}

/// The ids of the `/r/{id}` request links in a text, each once.
fn request_links(text: &str) -> Vec<String> {
    let ids: std::collections::BTreeSet<String> = text
        .split("/r/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect();
    ids.into_iter().collect()
}

// ---------------------------------------------------------------------------
// The tests

async fn a_notified_event_mails_each_staff_address_once(backend: Backend) {
    let sink = Sink::start().await;
    let (app, _) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let (r, _) = create(&app, &pm, json!({})).await;
    append(&app, Kind::RequestOpened, &r.id, json!({})).await;
    append(&app, Kind::RequestAnswered, &r.id, json!({})).await;
    let stats = pass(&app, &sink).await;
    assert_eq!((stats.enqueued, stats.delivered), (2, 2), "{stats:?}");
    // Nothing new: nothing more.
    assert_eq!(pass(&app, &sink).await, MailStats::default());
    let mails = sink.wait_for(2).await;
    assert_eq!(
        per_address(&mails),
        BTreeMap::from([(STAFF[1].to_owned(), 1), (STAFF[0].to_owned(), 1)])
    );
    let sentence = "Contoso answered the Office 365 Management Activity API (audit log) request.";
    for m in &mails {
        assert_eq!(m.subject(), sentence);
        assert_eq!(m.field("from"), format!("{BRAND} <handoff@soc.example>"));
        assert_eq!(m.field("content_type"), "multipart/alternative");
        let dashboard = format!("{}/staff/requests/{}", app.base, r.id);
        assert!(
            m.text().contains(sentence) && m.text().contains(&dashboard),
            "{}",
            m.text()
        );
        assert!(
            m.html().contains(&format!("href=\"{dashboard}\"")),
            "{}",
            m.html()
        );
        assert!(m.field("message_id").ends_with("@soc.example>"));
    }
    assert_eq!(
        app.store.email_cursor().await.unwrap(),
        app.store.audit_head().await.unwrap().0
    );
}

async fn the_request_link_is_mailed_only_when_chosen(backend: Backend) {
    let sink = Sink::start().await;
    let (app, _) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let (chosen, created) = create(
        &app,
        &pm,
        json!({"contact_email": CONTACT, "email_link": true}),
    )
    .await;
    let (not_chosen, _) = create(&app, &pm, json!({"contact_email": CONTACT})).await;
    let stored = app.store.request(&chosen.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.contact_email.as_deref(), stored.email_link),
        (Some(CONTACT), Some(true))
    );
    let stats = pass(&app, &sink).await;
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.to(), [CONTACT]);
    assert_eq!(m.field("from"), format!("{BRAND} <handoff@soc.example>"));
    assert_eq!(request_links(m.text()), [chosen.id.as_str()]);
    assert!(m.text().contains(created["url"].as_str().unwrap()));
    assert!(
        m.html()
            .contains(&format!("href=\"{}\"", created["url"].as_str().unwrap()))
    );
    assert!(m.subject().contains(BRAND), "{}", m.subject());
    assert!(!m.everything().contains(&not_chosen.id));

    // The request page shows the address and the choice.
    let page = app
        .get_as(&pm.cookie, &format!("/staff/requests/{}", chosen.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(CONTACT) && page.contains("the request link is e-mailed"));
    let page = app
        .get_as(&pm.cookie, &format!("/staff/requests/{}", not_chosen.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(CONTACT) && !page.contains("the request link is e-mailed"));
}

async fn a_rotation_at_thirty_days_mails_the_contact_once(backend: Backend) {
    let sink = Sink::start().await;
    let (app, soc) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let (with_link, _) = create(
        &app,
        &pm,
        json!({"contact_email": CONTACT, "email_link": true}),
    )
    .await;
    let other_contact = "it@northwind.example";
    // Another customer: the register holds one current credential per
    // customer and integration.
    let (without_link, _) = create(
        &app,
        &pm,
        json!({"customer": "Northwind", "contact_email": other_contact}),
    )
    .await;
    answer_and_import(&app, &soc, &with_link, IN_40_DAYS).await;
    answer_and_import(&app, &soc, &without_link, IN_40_DAYS).await;
    pass(&app, &sink).await;
    let before = sink.wait_for(5).await.len();
    // 1 request link, 2 answered x 2 staff.
    assert_eq!(before, 5);

    app.clock.advance(9 * DAY);
    let made = rotation::rotate_due(&app.store, app.clock.now(), POLICY)
        .await
        .unwrap();
    assert!(made.is_empty(), "31 days left");
    assert_eq!(pass(&app, &sink).await.enqueued, 0);
    app.clock.advance(DAY);
    handoff::purge::rotate_once(&app.store, &app.clock, POLICY).await;
    handoff::purge::rotate_once(&app.store, &app.clock, POLICY).await;
    let rotation_of = |old: &str| {
        let store = app.store.clone();
        let old = old.to_owned();
        async move { store.rotation_of(&old).await.unwrap().unwrap() }
    };
    let r1 = rotation_of(&with_link.id).await;
    let r2 = rotation_of(&without_link.id).await;
    // The rotation inherits the contact and the choice.
    assert_eq!(
        (r1.contact_email.as_deref(), r1.email_link),
        (Some(CONTACT), Some(true))
    );
    assert_eq!(
        (r2.contact_email.as_deref(), r2.email_link),
        (Some(other_contact), Some(false))
    );
    pass(&app, &sink).await;
    pass(&app, &sink).await;
    let mails = sink.wait_for(before + 6).await;
    let new = &mails[before..];
    // Per rotation: the contact once, each staff address once.
    assert_eq!(new.len(), 6, "{new:#?}");
    let to_contact = to(new, CONTACT);
    assert_eq!(to_contact.len(), 1);
    let m = &to_contact[0];
    assert!(m.text().contains(IN_40_DAYS), "{}", m.text());
    assert!(
        m.text()
            .contains("Only a new client secret for the same app registration")
    );
    assert_eq!(request_links(m.text()), [r1.id().to_owned()]);
    assert_eq!(request_links(m.html()), [r1.id().to_owned()]);
    let to_other = to(new, other_contact);
    assert_eq!(to_other.len(), 1);
    let m = &to_other[0];
    assert!(m.text().contains(IN_40_DAYS), "{}", m.text());
    assert!(
        m.text().contains(&format!("{BRAND} will send you a link")),
        "{}",
        m.text()
    );
    assert!(request_links(&m.shown()).is_empty(), "{}", m.text());
    // Staff are told, and their link is the old request's staff page, never
    // the open rotation's id.
    for staff in STAFF {
        let mine = to(new, staff);
        assert_eq!(mine.len(), 2);
        for m in mine {
            assert!(!m.everything().contains(r1.id()) && !m.everything().contains(r2.id()));
            assert!(m.subject().contains("needs renewing"), "{}", m.subject());
        }
    }
}

async fn a_failing_and_a_recovered_credential_mail_the_contact_without_a_link(backend: Backend) {
    let sink = Sink::start().await;
    let (app, _) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let (r, _) = create(
        &app,
        &pm,
        json!({"contact_email": CONTACT, "email_link": true}),
    )
    .await;
    pass(&app, &sink).await;
    assert_eq!(sink.wait_for(1).await.len(), 1);
    let cause = "The client secret has expired (AADSTS7000222).";
    append(
        &app,
        Kind::RequestCredentialFailing,
        &r.id,
        json!({"customer": "Contoso", "template": "o365-management", "cause": cause}),
    )
    .await;
    append(&app, Kind::RequestCredentialRecovered, &r.id, json!({})).await;
    let stats = pass(&app, &sink).await;
    assert_eq!(stats.delivered, 6, "{stats:?}");
    let mails = sink.wait_for(7).await;
    let to_contact = to(&mails[1..], CONTACT);
    assert_eq!(to_contact.len(), 2);
    let (failing, recovered) = (&to_contact[0], &to_contact[1]);
    assert!(
        failing.subject().contains("stopped working"),
        "{}",
        failing.subject()
    );
    assert!(failing.text().contains(cause), "{}", failing.text());
    assert!(failing.text().contains("Certificates & secrets"));
    // Escaped in the HTML part.
    assert!(
        ["&amp;", "&#38;"].iter().any(|amp| failing
            .html()
            .contains(&format!("Certificates {amp} secrets"))),
        "{}",
        failing.html()
    );
    assert!(recovered.subject().contains("work again"));
    for m in [failing, recovered] {
        assert!(request_links(&m.shown()).is_empty(), "{}", m.text());
        assert!(
            !m.everything().contains("http"),
            "no link at all: {}",
            m.text()
        );
    }
    for staff in STAFF {
        let mine = to(&mails, staff);
        assert_eq!(mine.len(), 2);
        assert!(mine[0].subject().contains(cause), "{}", mine[0].subject());
    }
}

/// Every kind of message, for a whole request's life, scanned for what must
/// never be in one.
async fn no_email_carries_a_secret_a_retrieval_link_or_a_token(backend: Backend) {
    let sink = Sink::start().await;
    let (app, soc) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let (r, created) = create(
        &app,
        &pm,
        json!({"contact_email": CONTACT, "email_link": true}),
    )
    .await;
    let (status_url, token) = answer_and_import(&app, &soc, &r, IN_40_DAYS).await;
    append(&app, Kind::RequestRetrieved, &r.id, json!({})).await;
    append(&app, Kind::RequestVerifyFailed, &r.id, json!({})).await;
    append(
        &app,
        Kind::RequestCredentialFailing,
        &r.id,
        json!({"cause": "The app's client secret was deleted."}),
    )
    .await;
    append(&app, Kind::RequestCredentialRecovered, &r.id, json!({})).await;
    pass(&app, &sink).await;
    app.clock.advance(10 * DAY);
    handoff::purge::rotate_once(&app.store, &app.clock, POLICY).await;
    let rotation = app.store.rotation_of(&r.id).await.unwrap().unwrap();
    pass(&app, &sink).await;
    // Contact: link, failing, recovered, rotation; staff: answered,
    // retrieved, verify failed, failing, recovered, rotation.
    let mails = sink.wait_for(4 + 2 * 6).await;
    assert_eq!(mails.len(), 16, "{:#?}", per_address(&mails));
    let retrieval = created["retrieval_url"].as_str().unwrap();
    let identity = age::secrecy::ExposeSecret::expose_secret(&r.identity.to_string()).to_owned();
    let soc_identity = age::secrecy::ExposeSecret::expose_secret(&soc.to_string()).to_owned();
    for m in &mails {
        let all = m.everything();
        for never in [
            SECRET,
            "Q~",
            TENANT,
            &r.retrieval_id,
            retrieval,
            "/p/",
            "/s/",
            "/rs/",
            &status_url,
            status_url.rsplit('/').next().unwrap(),
            &token,
            "hnd_",
            &identity,
            &soc_identity,
            "AGE-SECRET-KEY",
            &r.identity.to_public().to_string(),
            NOTE,
        ] {
            assert!(
                !all.contains(never),
                "{never:?} in a message to {:?}:\n{all}",
                m.to()
            );
        }
        // The only capability link: a request link, to the contact, chosen.
        let links = request_links(&m.shown());
        if m.to() == [CONTACT] {
            assert!(
                links.iter().all(|l| *l == r.id || l == rotation.id()),
                "{links:?}"
            );
        } else {
            assert!(links.is_empty(), "a request link to staff: {all}");
        }
    }
    // The stored messages hold nothing more than what was sent.
    let stored = format!("{:?}", app.store.email_deliveries(100).await.unwrap());
    assert!(!stored.contains(SECRET) && !stored.contains(&r.retrieval_id));
}

async fn a_relay_that_is_down_is_retried_later_then_delivered(backend: Backend) {
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let (app, _) = app_with_soc(backend).await;
    let config = config_for(&url, &app.base);
    let pm = app.staff("pm").await;
    let (r, _) = create(&app, &pm, json!({})).await;
    append(&app, Kind::RequestAnswered, &r.id, json!({})).await;
    // Nothing listens on the port.
    let stats = pass_on(&app.store, &app, &config).await;
    assert_eq!((stats.enqueued, stats.retrying, stats.delivered), (2, 2, 0));
    let rows = app.store.email_deliveries(10).await.unwrap();
    assert!(rows.iter().all(|r| r.attempts == 1
        && r.last_error.is_some()
        && r.next_attempt_at == app.clock.now() + 30));

    let sink = Sink::start_on(port).await;
    // Not due yet: the back-off holds.
    assert_eq!(
        pass_on(&app.store, &app, &config).await,
        MailStats::default()
    );
    app.clock.advance(30);
    let stats = pass_on(&app.store, &app, &config).await;
    assert_eq!((stats.delivered, stats.retrying), (2, 0), "{stats:?}");
    let mails = sink.wait_for(2).await;
    assert_eq!(per_address(&mails).len(), 2);
    assert!(per_address(&mails).values().all(|n| *n == 1));
    let rows = app.store.email_deliveries(10).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.attempts == 2 && r.delivered_at.is_some())
    );
    app.clock.advance(3600);
    assert_eq!(
        pass_on(&app.store, &app, &config).await,
        MailStats::default()
    );
    assert_eq!(sink.wait_for(3).await.len(), 2);
}

async fn a_relay_that_stays_down_is_given_up_after_max_attempts(backend: Backend) {
    let url = format!("smtp://127.0.0.1:{}", free_port());
    let (app, _) = app_with_soc(backend).await;
    let mut config = config_for(&url, &app.base);
    config.max_attempts = 3;
    let pm = app.staff("pm").await;
    let (r, _) = create(&app, &pm, json!({})).await;
    append(&app, Kind::RequestAnswered, &r.id, json!({})).await;
    let mut failed = 0;
    for _ in 0..5 {
        failed += pass_on(&app.store, &app, &config).await.failed;
        app.clock.advance(3600);
    }
    assert_eq!(failed, 2);
    let rows = app.store.email_deliveries(10).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.attempts == 3 && r.failed_at.is_some())
    );
}

/// Two instances (two pools on one database) pass at once, many times:
/// each (event, address) is mailed once.
async fn two_instances_passing_at_once_mail_each_event_once(backend: Backend) {
    let sink = Sink::start().await;
    let (app, _) = app_with_email(backend, &sink).await;
    let other = Store::connect(app.db.url()).await.unwrap();
    let config = config_for(&sink.url(), &app.base);
    let pm = app.staff("pm").await;
    let (r, _) = create(&app, &pm, json!({})).await;
    for _ in 0..10 {
        append(&app, Kind::RequestAnswered, &r.id, json!({})).await;
    }
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            pass_on(&app.store, &app, &config),
            pass_on(&other, &app, &config)
        );
        assert_eq!(a.failed + b.failed + a.retrying + b.retrying, 0);
    }
    let mails = sink.wait_for(20).await;
    assert_eq!(mails.len(), 20);
    let ids: std::collections::BTreeSet<&str> =
        mails.iter().map(|m| m.field("message_id")).collect();
    assert_eq!(ids.len(), 20, "each message once");
    assert_eq!(
        per_address(&mails).values().copied().collect::<Vec<_>>(),
        [10, 10]
    );
    other.close().await;
}

/// Two `handoff serve` processes on one PostgreSQL database, both with SMTP
/// configured and polling every 100 ms: each notified event reaches each
/// address once.
async fn two_servers_on_postgres_mail_each_event_once(backend: Backend) {
    let sink = Sink::start().await;
    let db = common::TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let logs = tempfile::tempdir().unwrap();
    let args = [
        "--smtp-url",
        &sink.url(),
        "--smtp-from",
        "handoff@soc.example",
        "--smtp-notify",
        &STAFF.join(","),
        "--smtp-interval",
        "100ms",
    ];
    let a = ServerProcess::start_with(db.url(), logs.path(), &args, &[]).await;
    let b = ServerProcess::start_with(db.url(), logs.path(), &args, &[]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for n in 0..5 {
        store
            .append_event(
                &NewEvent::new(Kind::RequestAnswered, Actor::Anonymous)
                    .request(&format!("r{n}"))
                    .detail(json!({"customer": format!("Customer {n}"), "template": "text"})),
                now,
            )
            .await
            .unwrap();
    }
    let mails = sink.wait_for(10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mails = if sink.mails().len() > mails.len() {
        sink.mails()
    } else {
        mails
    };
    assert_eq!(mails.len(), 10, "{:#?}", per_address(&mails));
    assert_eq!(
        per_address(&mails).values().copied().collect::<Vec<_>>(),
        [5, 5]
    );
    let subjects: std::collections::BTreeSet<&str> = mails.iter().map(Mail::subject).collect();
    assert_eq!(subjects.len(), 5);
    let (log_a, log_b) = (a.log.clone(), b.log.clone());
    drop((a, b));
    for log in [log_a, log_b] {
        let log = std::fs::read_to_string(log).unwrap();
        assert!(log.contains("e-mail on"), "{log}");
    }
    store.close().await;
}

async fn a_bad_contact_address_gets_a_400_with_a_sentence(backend: Backend) {
    let sink = Sink::start().await;
    let (app, _) = app_with_email(backend, &sink).await;
    let pm = app.staff("pm").await;
    let body = |extra: Value| {
        let mut b = json!({
            "customer": "Contoso",
            "template": "o365-management",
            "expires_in": DAY,
            "recipient": age::x25519::Identity::generate().to_public().to_string(),
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for bad in [
        "admin at contoso",
        "admin@",
        "Admin <admin@contoso.example>",
        " admin@contoso.example",
    ] {
        let res = post_create(&app, &pm, &body(json!({"contact_email": bad}))).await;
        let message = assert_error(res, 400, "invalid_field").await;
        assert!(message.contains("not an e-mail address"), "{message}");
    }
    let res = post_create(&app, &pm, &body(json!({"email_link": true}))).await;
    let message = assert_error(res, 400, "invalid_field").await;
    assert!(message.contains("contact e-mail address"), "{message}");
    assert!(app.store.list_requests(10).await.unwrap().is_empty());
    // Empty is none.
    let res = post_create(&app, &pm, &body(json!({"contact_email": ""}))).await;
    assert_eq!(res.status(), 201);
    // The new request page offers the field and the choice.
    let page = app
        .get_as(&pm.cookie, "/staff/requests/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="contact_email""#) && page.contains(r#"id="email_link""#));
}

async fn without_smtp_the_link_cannot_be_chosen(backend: Backend) {
    let (app, _) = app_with_soc(backend).await;
    let pm = app.staff("pm").await;
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let body = json!({"customer": "Contoso", "template": "o365-management", "expires_in": DAY,
        "recipient": recipient, "contact_email": CONTACT, "email_link": true});
    let message = assert_error(post_create(&app, &pm, &body).await, 400, "invalid_field").await;
    assert!(message.contains("--smtp-url"), "{message}");
    let page = app
        .get_as(&pm.cookie, "/staff/requests/new")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"id="contact_email""#) && !page.contains(r#"id="email_link""#));
    // The address alone is kept.
    let (r, _) = create(&app, &pm, json!({"contact_email": CONTACT})).await;
    let stored = app.store.request(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.contact_email.as_deref(), Some(CONTACT));
}

with_each_backend!(
    a_notified_event_mails_each_staff_address_once,
    the_request_link_is_mailed_only_when_chosen,
    a_rotation_at_thirty_days_mails_the_contact_once,
    a_failing_and_a_recovered_credential_mail_the_contact_without_a_link,
    no_email_carries_a_secret_a_retrieval_link_or_a_token,
    a_relay_that_is_down_is_retried_later_then_delivered,
    a_relay_that_stays_down_is_given_up_after_max_attempts,
    two_instances_passing_at_once_mail_each_event_once,
    a_bad_contact_address_gets_a_400_with_a_sentence,
    without_smtp_the_link_cannot_be_chosen,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_mail_each_event_once_postgres() {
    two_servers_on_postgres_mail_each_event_once(Backend::Postgres).await;
}
