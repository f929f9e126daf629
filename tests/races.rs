//! Races between everyone who can take or destroy one answer: the customer
//! withdrawing, staff cancelling, the PM retrieving, collectors leasing and
//! acknowledging, also from two server processes sharing one database. On
//! both backends: every call gets a definite answer (never a 5xx), and each
//! answer has exactly one winner.

mod common;

use std::sync::Arc;

use common::flow::{Opened, answer, app_with_soc, event_kinds, open_request};
use common::{Backend, ServerProcess, T0, TestApp, TestDb};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::store::Store;
use serde_json::Value;
use tokio::sync::Barrier;

/// Rounds per race, and contenders on each side of a round.
const ROUNDS: usize = 12;
const EACH: usize = 5;

/// Who made a call, and what it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Withdraw,
    Cancel,
    Retrieve,
    Lease,
    Ack,
    /// An acknowledgement with a lease id that was never granted.
    StaleAck,
}

/// What every round of every race tallies.
#[derive(Debug, Default)]
struct Tally {
    calls: usize,
    /// Calls answered 500 or above (a deadlock shows as 503 `unavailable`).
    server_errors: usize,
    /// Rounds without exactly one winner, with what each side got.
    bad_rounds: Vec<String>,
}

impl Tally {
    fn assert_clean(&self, race: &str) {
        assert_eq!(
            (self.server_errors, self.bad_rounds.as_slice()),
            (0, &[] as &[String]),
            "{race}: {} of {} calls answered 5xx; rounds without exactly one winner: {:?}",
            self.server_errors,
            self.calls,
            self.bad_rounds
        );
    }
}

/// The receipt token from an answer's `status_url`.
async fn status_token(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 201, "the answer is taken");
    let body: Value = res.json().await.unwrap();
    let url = body["status_url"].as_str().unwrap();
    url.rsplit('/').next().unwrap().to_owned()
}

/// Sends `calls` at once (each waits at one barrier) and returns each
/// side's status code, and the bodies of its 200s.
async fn all_at_once(
    calls: Vec<(Side, reqwest::RequestBuilder)>,
) -> (Vec<(Side, u16)>, Vec<Value>) {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(side, req)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                let body = res.json::<Value>().await.ok().filter(|_| status == 200);
                ((side, status), body)
            })
        })
        .collect();
    let mut out = Vec::new();
    let mut bodies = Vec::new();
    for t in tasks {
        let (result, body) = t.await.unwrap();
        out.push(result);
        bodies.extend(body);
    }
    (out, bodies)
}

fn count(results: &[(Side, u16)], side: Side, status: u16) -> usize {
    results
        .iter()
        .filter(|(s, c)| *s == side && *c == status)
        .count()
}

/// `(side, status) x n` for a readable failure.
fn summary(results: &[(Side, u16)]) -> String {
    let mut seen: Vec<((Side, u16), usize)> = Vec::new();
    for r in results {
        match seen.iter_mut().find(|(k, _)| k == r) {
            Some((_, n)) => *n += 1,
            None => seen.push((*r, 1)),
        }
    }
    format!("{seen:?}")
}

fn record(tally: &mut Tally, results: &[(Side, u16)], ok: bool) {
    tally.calls += results.len();
    tally.server_errors += results.iter().filter(|(_, c)| *c >= 500).count();
    if !ok {
        tally.bad_rounds.push(summary(results));
    }
}

fn retrieve_call(app: &TestApp, r: &Opened) -> reqwest::RequestBuilder {
    app.http
        .post(app.url(&format!("/api/v1/retrievals/{}/reveal", r.retrieval_id)))
}

/// Five customers' browsers withdraw while five PM tabs retrieve: either the
/// PM has the copy and every withdrawal is too late, or the answer is
/// withdrawn and every retrieval finds nothing.
async fn withdraw_against_retrieve(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let mut tally = Tally::default();
    for _ in 0..ROUNDS {
        let r = open_request(&app.store, T0, 86_400).await;
        let token = status_token(answer(&app, &r, Some(&soc)).await).await;
        let withdraw = app.url(&format!("/api/v1/request-status/{token}/withdraw"));
        let mut calls = Vec::new();
        for _ in 0..EACH {
            calls.push((Side::Withdraw, app.http.post(&withdraw)));
            calls.push((Side::Retrieve, retrieve_call(&app, &r)));
        }
        let (results, _) = all_at_once(calls).await;
        let kinds = event_kinds(&app.store, &r.id).await;
        let ok = match (
            count(&results, Side::Withdraw, 200),
            count(&results, Side::Retrieve, 200),
        ) {
            (1, 0) => {
                count(&results, Side::Withdraw, 409) == EACH - 1
                    && count(&results, Side::Retrieve, 404) == EACH
                    && kinds.last().map(String::as_str) == Some("request.withdrawn")
            }
            (0, 1) => {
                count(&results, Side::Withdraw, 409) == EACH
                    && count(&results, Side::Retrieve, 404) == EACH - 1
                    && kinds.last().map(String::as_str) == Some("request.retrieved")
            }
            _ => false,
        };
        record(&mut tally, &results, ok);
    }
    tally.assert_clean("withdraw against retrieve");
}

/// Five staff tabs cancel while five PM tabs retrieve: at most one retrieval
/// gets the copy, and only if it came before the cancellation.
async fn cancel_against_retrieve(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let staff = app.staff("pm").await;
    let mut tally = Tally::default();
    for _ in 0..ROUNDS {
        let r = open_request(&app.store, T0, 86_400).await;
        status_token(answer(&app, &r, Some(&soc)).await).await;
        let cancel = app.url(&format!("/staff/requests/{}/cancel", r.id));
        let mut calls = Vec::new();
        for _ in 0..EACH {
            calls.push((
                Side::Cancel,
                app.http
                    .post(&cancel)
                    .header("cookie", &staff.cookie)
                    .form(&[("csrf", staff.csrf.as_str()), ("confirm", "yes")]),
            ));
            calls.push((Side::Retrieve, retrieve_call(&app, &r)));
        }
        let (results, _) = all_at_once(calls).await;
        let kinds = event_kinds(&app.store, &r.id).await;
        let cancelled = kinds.iter().filter(|k| *k == "request.cancelled").count();
        let retrieved_first = kinds
            .iter()
            .position(|k| k == "request.retrieved")
            .zip(kinds.iter().position(|k| k == "request.cancelled"))
            .is_some_and(|(ret, can)| ret < can);
        let retrieved = count(&results, Side::Retrieve, 200);
        let ok = count(&results, Side::Cancel, 303) == EACH
            && cancelled == 1
            && count(&results, Side::Retrieve, 404) == EACH - retrieved
            && match retrieved {
                0 => !kinds.iter().any(|k| k == "request.retrieved"),
                1 => retrieved_first,
                _ => false,
            };
        record(&mut tally, &results, ok);
    }
    tally.assert_clean("cancel against retrieve");
}

/// Two `handoff serve` processes on one database, each with a SOC recipient.
struct TwoInstances {
    // Fields drop in this order: the servers stop before their database goes.
    servers: [ServerProcess; 2],
    store: Store,
    _db: TestDb,
    http: reqwest::Client,
    token: String,
    _logs: tempfile::TempDir,
}

impl TwoInstances {
    async fn start(backend: Backend) -> (TwoInstances, age::x25519::Identity) {
        let db = TestDb::new(backend).await;
        let store = Store::connect(db.url()).await.unwrap();
        let soc = age::x25519::Identity::generate();
        let recipient = soc.to_public().to_string();
        let logs = tempfile::tempdir().unwrap();
        let args = ["--soc-recipients", recipient.as_str(), "--inbox-limit", "0"];
        let a = ServerProcess::start_with(db.url(), logs.path(), &args, &[]).await;
        let b = ServerProcess::start_with(db.url(), logs.path(), &args, &[]).await;
        let minted = handoff::token::mint();
        store
            .create_token(
                &handoff::store::NewToken {
                    name: "collector",
                    prefix: &minted.prefix,
                    hash: &minted.hash,
                    scopes: "collect",
                    created_by: "system",
                    created_at: now(),
                },
                &NewEvent::new(Kind::TokenCreated, Actor::System),
            )
            .await
            .unwrap()
            .unwrap();
        let instances = TwoInstances {
            _db: db,
            store,
            servers: [a, b],
            http: reqwest::Client::new(),
            token: minted.token,
            _logs: logs,
        };
        (instances, soc)
    }

    fn url(&self, instance: usize, path: &str) -> String {
        format!("{}{path}", self.servers[instance % 2].base)
    }

    /// A request opened through the store and answered through instance 0,
    /// with its receipt token.
    async fn answered(&self, soc: &age::x25519::Identity) -> (Opened, String) {
        let r = open_request(&self.store, now(), 86_400).await;
        let body = serde_json::json!({
            "pm_ciphertext": common::flow::encrypt_to(&[r.identity.to_public()], b"{}"),
            "sealed_ciphertext": common::flow::encrypt_to(&[soc.to_public()], b"{}"),
        });
        let res = self
            .http
            .post(self.url(0, &format!("/api/v1/requests/{}/answer", r.id)))
            .json(&body)
            .send()
            .await
            .unwrap();
        let token = status_token(res).await;
        (r, token)
    }

    fn collector(&self, instance: usize, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(instance, path))
            .bearer_auth(&self.token)
    }

    fn logs(&self) -> String {
        self.servers
            .iter()
            .map(|s| std::fs::read_to_string(&s.log).unwrap_or_default())
            .collect()
    }
}

/// The real clock: the server processes read it.
fn now() -> i64 {
    handoff::clock::Clock::system().now()
}

/// Collectors on two instances lease and acknowledge the same copies: each
/// copy is leased once and imported once, and every losing call is told why.
async fn two_instances_lease_and_ack(backend: Backend) {
    let (two, soc) = TwoInstances::start(backend).await;
    let mut tally = Tally::default();
    for _ in 0..ROUNDS {
        let (r, _) = two.answered(&soc).await;
        let lease = format!("/api/v1/inbox/{}/lease", r.id);
        let calls = (0..2 * EACH)
            .map(|i| (Side::Lease, two.collector(i, &lease)))
            .collect();
        let (mut results, granted) = all_at_once(calls).await;
        let Some(lease_id) = granted.first().and_then(|g| g["lease_id"].as_str()) else {
            record(&mut tally, &results, false);
            continue;
        };
        // The lease acknowledged from both instances at once, beside
        // acknowledgements with a lease id that was never granted.
        let ack = format!("/api/v1/inbox/{}/ack", r.id);
        let stale = handoff::id::Id::random().to_string();
        let mut calls = Vec::new();
        for i in 0..EACH {
            calls.push((
                Side::Ack,
                two.collector(i, &ack)
                    .json(&serde_json::json!({ "lease_id": lease_id })),
            ));
            calls.push((
                Side::StaleAck,
                two.collector(i + 1, &ack)
                    .json(&serde_json::json!({ "lease_id": stale })),
            ));
        }
        let (acks, _) = all_at_once(calls).await;
        let kinds = event_kinds(&two.store, &r.id).await;
        let times = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
        let stale_refused =
            count(&acks, Side::StaleAck, 409) + count(&acks, Side::StaleAck, 404) == EACH;
        let ok = granted.len() == 1
            && count(&results, Side::Lease, 409) == 2 * EACH - 1
            && count(&acks, Side::Ack, 204) == 1
            && count(&acks, Side::Ack, 404) == EACH - 1
            && stale_refused
            && times("request.leased") == 1
            && times("request.imported") == 1;
        results.extend(acks);
        record(&mut tally, &results, ok);
    }
    tally.assert_clean("two instances: lease and ack");
    let logs = two.logs();
    assert!(!logs.contains("deadlock"), "{logs}");
}

/// Across two instances, a collector acknowledges its lease while the
/// customer withdraws: either the copy is imported and withdrawing is too
/// late, or it is withdrawn and the acknowledgement finds no copy.
async fn two_instances_withdraw_against_ack(backend: Backend) {
    let (two, soc) = TwoInstances::start(backend).await;
    let mut tally = Tally::default();
    for _ in 0..ROUNDS {
        let (r, token) = two.answered(&soc).await;
        let leased: Value = two
            .collector(1, &format!("/api/v1/inbox/{}/lease", r.id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lease_id = leased["lease_id"].as_str().unwrap().to_owned();
        let ack = format!("/api/v1/inbox/{}/ack", r.id);
        let withdraw = format!("/api/v1/request-status/{token}/withdraw");
        let mut calls = Vec::new();
        for i in 0..EACH {
            calls.push((
                Side::Ack,
                two.collector(i, &ack)
                    .json(&serde_json::json!({ "lease_id": lease_id })),
            ));
            calls.push((Side::Withdraw, two.http.post(two.url(i + 1, &withdraw))));
        }
        let (results, _) = all_at_once(calls).await;
        let ok = match (
            count(&results, Side::Ack, 204),
            count(&results, Side::Withdraw, 200),
        ) {
            (1, 0) => {
                count(&results, Side::Ack, 404) == EACH - 1
                    && count(&results, Side::Withdraw, 409) == EACH
            }
            (0, 1) => {
                count(&results, Side::Ack, 404) == EACH
                    && count(&results, Side::Withdraw, 409) == EACH - 1
            }
            _ => false,
        };
        record(&mut tally, &results, ok);
    }
    tally.assert_clean("two instances: withdraw against ack");
}

/// PostgreSQL resolves a deadlock by aborting one side. When that side is
/// the server's transaction (here a withdrawal, made to deadlock with a
/// transaction of this test's own), the server runs it again instead of
/// answering 503. SQLite takes one lock for the whole database and cannot
/// deadlock this way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_transaction_aborted_by_a_deadlock_is_run_again() {
    use sqlx::Connection;
    let db = TestDb::new(Backend::Postgres).await;
    let TestDb::Postgres { name, url } = &db else {
        unreachable!()
    };
    let url = url.clone();
    // The server's sessions look for deadlocks after 2 s of waiting, this
    // test's after a minute: the server's transaction is the one aborted.
    let mut admin = sqlx::PgConnection::connect(&common::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} SET deadlock_timeout = '2s'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let soc = age::x25519::Identity::generate();
    let recipient = soc.to_public().to_string();
    let app = common::spawn_app_on(db, move |mut s| {
        s.soc_recipients = vec![recipient];
        s.without_rate_limits()
    })
    .await;
    let r = open_request(&app.store, T0, 86_400).await;
    let token = status_token(answer(&app, &r, Some(&soc)).await).await;

    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("SET deadlock_timeout = '60s'")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = other.begin().await.unwrap();
    // Appending an event takes the audit head last; hold it first.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    let withdraw = app
        .http
        .post(app.url(&format!("/api/v1/request-status/{token}/withdraw")))
        .send();
    let withdraw = tokio::spawn(withdraw);
    // Until the withdrawal holds the request and waits for the head.
    let mut waiting = 0;
    for _ in 0..500 {
        waiting = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(waiting, 1, "the withdrawal waits for the audit head");
    // Now wait for the request the withdrawal holds: a deadlock, which
    // PostgreSQL resolves by aborting the withdrawal's transaction.
    sqlx::query("UPDATE requests SET note = note WHERE id = $1")
        .bind(&r.id)
        .execute(&mut *tx)
        .await
        .expect("this side of the deadlock survives");
    tx.rollback().await.unwrap();

    let res = withdraw.await.unwrap().unwrap();
    assert_eq!(
        res.status(),
        200,
        "withdrawn after all: {:?}",
        res.text().await
    );
    let kinds = event_kinds(&app.store, &r.id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("request.withdrawn"));
    assert_eq!(
        kinds.iter().filter(|k| *k == "request.withdrawn").count(),
        1
    );
}

with_each_backend!(
    withdraw_against_retrieve,
    cancel_against_retrieve,
    two_instances_lease_and_ack,
    two_instances_withdraw_against_ack,
);
