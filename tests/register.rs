//! The credential register on both backends: the collector's
//! acknowledgement and the PM's retrieval report a credential's client ID
//! and expiry (never its secret); the staff's Credentials page shows each
//! customer's current credential and where it stands as the days pass
//! (ok, expiring, expired) and when a verification fails (failing); bad
//! facts are refused with a sentence; a PM's report comes once, and only
//! after the retrieval.

mod common;

use common::flow::{Opened, answer_with, app_with_soc, event_kinds, open_request_for};
use common::{Backend, TestApp, assert_error};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~registersecretvalue0123456789ABCDE";
/// T0 is 2026-11-22: this is 40 days later.
const IN_40_DAYS: &str = "2027-01-01";
const DAY: i64 = 86_400;

fn payload(client_id: &str, secret: &str, expires: Option<&str>) -> String {
    let mut fields = json!({"tenant_id": TENANT, "client_id": client_id, "client_secret": secret});
    if let Some(e) = expires {
        fields["secret_expires_on"] = e.into();
    }
    json!({"v": 1, "template": "o365-management", "fields": fields}).to_string()
}

async fn answered(
    app: &TestApp,
    soc: &age::x25519::Identity,
    client_id: &str,
    expires: Option<&str>,
) -> Opened {
    let r = open_request_for(&app.store, app.clock.now(), 7 * DAY, "o365-management").await;
    let res = answer_with(app, &r, Some(soc), &payload(client_id, SECRET, expires)).await;
    assert_eq!(res.status(), 201);
    r
}

async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Leases `r`'s sealed copy and returns the lease id.
async fn lease(app: &TestApp, token: &str, r: &Opened) -> Value {
    let res = post(
        app,
        token,
        &format!("/api/v1/inbox/{}/lease", r.id),
        &json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["lease_id"].clone()
}

/// The Credentials page's rows as the PM ("pm", added by the test) sees
/// them: (customer, standing, the expiry cell, the "imported into" cell), in
/// the page's order. A fresh sign-in each time: the manual clock's days end
/// sessions.
async fn register_rows(app: &TestApp) -> Vec<(String, String, String, String)> {
    let pm = app.login("pm", common::STAFF_PASSWORD).await;
    let page = app.get_as(&pm.cookie, "/staff/credentials").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains(SECRET));
    html.split("<tr data-request=")
        .skip(1)
        .map(|row| {
            let cells: Vec<String> = row
                .split("<td>")
                .skip(1)
                .map(|c| {
                    let c = c.split("</td>").next().unwrap();
                    strip_tags(c)
                })
                .collect();
            (
                cells[0].clone(),
                cells[2].clone(),
                cells[3].clone(),
                cells[6].clone(),
            )
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn an_acknowledgement_fills_the_register_and_the_days_move_it(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    app.staff("pm").await;
    assert!(register_rows(&app).await.is_empty());

    let r = answered(&app, &soc, CLIENT, Some(IN_40_DAYS)).await;
    let lease_id = lease(&app, &token, &r).await;
    let ack = json!({
        "lease_id": lease_id,
        "target": "wazuh-office365",
        "credential": {"client_id": CLIENT.to_uppercase(), "secret_expires_on": IN_40_DAYS},
    });
    let res = post(&app, &token, &format!("/api/v1/inbox/{}/ack", r.id), &ack).await;
    assert_eq!(res.status(), 204);

    let entries = app.store.credential_entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].facts.client_id, CLIENT, "kept in lower case");
    assert_eq!(entries[0].imported_to.as_deref(), Some("wazuh-office365"));
    let events = app.store.request_events(&r.id).await.unwrap();
    let imported = events
        .iter()
        .find(|e| e.kind == "request.imported")
        .unwrap();
    let detail: Value = serde_json::from_str(&imported.detail).unwrap();
    assert_eq!(
        detail,
        json!({"target": "wazuh-office365", "client_id": CLIENT, "secret_expires_on": IN_40_DAYS})
    );

    let row = |standing: &str, when: &str| {
        vec![(
            "Contoso".to_owned(),
            standing.to_owned(),
            format!("{IN_40_DAYS} ({when})"),
            "wazuh-office365".to_owned(),
        )]
    };
    assert_eq!(register_rows(&app).await, row("ok", "in 40 days"));
    app.clock.advance(9 * DAY);
    assert_eq!(register_rows(&app).await, row("ok", "in 31 days"));
    app.clock.advance(DAY);
    assert_eq!(register_rows(&app).await, row("expiring", "in 30 days"));
    app.clock.advance(30 * DAY);
    assert_eq!(register_rows(&app).await, row("expiring", "today"));
    app.clock.advance(DAY);
    assert_eq!(register_rows(&app).await, row("expired", "1 day ago"));

    // A failed verification outranks the date.
    let failed = json!({"ok": false, "step": "token", "code": "AADSTS7000222",
        "message": "The client secret has expired."});
    let res = post(
        &app,
        &token,
        &format!("/api/v1/inbox/{}/result", r.id),
        &failed,
    )
    .await;
    assert_eq!(res.status(), 204);
    let rows = register_rows(&app).await;
    assert_eq!(rows[0].1, "failing");
}

async fn the_newest_credential_per_customer_is_current_most_urgent_first(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    app.staff("pm").await;
    let ack = |lease_id: Value, expires: Option<&str>| {
        let mut credential = json!({"client_id": CLIENT});
        if let Some(e) = expires {
            credential["secret_expires_on"] = e.into();
        }
        json!({"lease_id": lease_id, "target": "qradar", "credential": credential})
    };

    // Contoso's first credential expires in 5 days; a rotation answered a
    // day later replaces it with one good for 40 more.
    let first = answered(&app, &soc, CLIENT, Some("2026-11-27")).await;
    let lease_id = lease(&app, &token, &first).await;
    let path = format!("/api/v1/inbox/{}/ack", first.id);
    assert_eq!(
        post(&app, &token, &path, &ack(lease_id, Some("2026-11-27")))
            .await
            .status(),
        204
    );
    let rows = register_rows(&app).await;
    assert_eq!(rows[0].1, "expiring");

    app.clock.advance(DAY);
    let second = answered(&app, &soc, CLIENT, Some("2027-01-02")).await;
    let lease_id = lease(&app, &token, &second).await;
    let path = format!("/api/v1/inbox/{}/ack", second.id);
    assert_eq!(
        post(&app, &token, &path, &ack(lease_id, Some("2027-01-02")))
            .await
            .status(),
        204
    );

    // A collector that does not report facts leaves the register alone.
    app.clock.advance(DAY);
    let silent = answered(&app, &soc, CLIENT, None).await;
    let lease_id = lease(&app, &token, &silent).await;
    let path = format!("/api/v1/inbox/{}/ack", silent.id);
    let res = post(&app, &token, &path, &json!({"lease_id": lease_id})).await;
    assert_eq!(res.status(), 204);

    let rows = register_rows(&app).await;
    assert_eq!(
        rows,
        [(
            "Contoso".to_owned(),
            "ok".to_owned(),
            "2027-01-02 (in 39 days)".to_owned(),
            "qradar".to_owned()
        )]
    );
}

async fn the_pms_retrieval_reports_once_and_only_after_retrieving(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    app.staff("pm").await;
    let r = answered(&app, &soc, CLIENT, Some(IN_40_DAYS)).await;
    let path = format!("/api/v1/retrievals/{}/credential", r.retrieval_id);
    let facts = json!({"client_id": CLIENT, "secret_expires_on": IN_40_DAYS});

    // Before the retrieval: nothing to report on.
    assert_error(app.post_json(&path, &facts).await, 404, "not_found").await;
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Bad facts are refused with a sentence, and change nothing.
    for (bad, words) in [
        (json!({"client_id": SECRET}), "GUID"),
        (
            json!({"client_id": CLIENT, "secret_expires_on": "01/01/2027"}),
            "YYYY-MM-DD",
        ),
        (
            json!({"client_id": CLIENT, "secret_expires_on": "2027-02-30"}),
            "YYYY-MM-DD",
        ),
        (
            json!({"client_id": CLIENT, "client_secret": SECRET}),
            "unknown field",
        ),
        (json!({"secret_expires_on": IN_40_DAYS}), "client_id"),
    ] {
        let message = assert_error(app.post_json(&path, &bad).await, 400, "bad_request").await;
        assert!(message.contains(words), "{words:?} in {message}");
    }
    assert!(app.store.credential_entries().await.unwrap().is_empty());

    assert_eq!(app.post_json(&path, &facts).await.status(), 204);
    // Once: a second report, even a different one, changes nothing.
    let other = json!({"client_id": "11111111-2222-3333-4444-555555555555"});
    assert_eq!(app.post_json(&path, &other).await.status(), 204);
    let entries = app.store.credential_entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].facts.client_id, CLIENT);
    let kinds = event_kinds(&app.store, &r.id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "request.credential_noted")
            .count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        register_rows(&app).await,
        [(
            "Contoso".to_owned(),
            "ok".to_owned(),
            format!("{IN_40_DAYS} (in 40 days)"),
            "retrieved by the PM".to_owned()
        )]
    );

    // An unknown link, or one that is not an id at all.
    let unknown = format!(
        "/api/v1/retrievals/{}/credential",
        handoff::id::Id::random()
    );
    assert_error(app.post_json(&unknown, &facts).await, 404, "not_found").await;
    assert_error(
        app.post_json("/api/v1/retrievals/not-an-id/credential", &facts)
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn the_collectors_report_wins_and_a_release_carries_none(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    let r = answered(&app, &soc, CLIENT, Some(IN_40_DAYS)).await;
    app.post_json(
        &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
        &json!({}),
    )
    .await;
    let path = format!("/api/v1/retrievals/{}/credential", r.retrieval_id);
    let facts = json!({"client_id": CLIENT});
    assert_eq!(app.post_json(&path, &facts).await.status(), 204);

    let lease_id = lease(&app, &token, &r).await;
    let release = json!({"lease_id": lease_id, "credential": {"client_id": CLIENT}});
    let message = assert_error(
        post(
            &app,
            &token,
            &format!("/api/v1/inbox/{}/release", r.id),
            &release,
        )
        .await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        message.contains("only sent with an acknowledgement"),
        "{message}"
    );
    let kinds = event_kinds(&app.store, &r.id).await;
    assert!(!kinds.iter().any(|k| k == "request.released"), "{kinds:?}");

    let ack = json!({"lease_id": lease_id, "target": "filebeat-o365",
        "credential": {"client_id": CLIENT, "secret_expires_on": IN_40_DAYS}});
    let res = post(&app, &token, &format!("/api/v1/inbox/{}/ack", r.id), &ack).await;
    assert_eq!(res.status(), 204);
    let entries = app.store.credential_entries().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].reporter, handoff::register::Reporter::Collector);
    assert_eq!(entries[0].imported_to.as_deref(), Some("filebeat-o365"));
    assert_eq!(
        entries[0].facts.expires_text().as_deref(),
        Some(IN_40_DAYS),
        "the collector's facts replace the PM's"
    );

    // An acknowledgement with bad facts is refused whole: the copy stays.
    let again = answered(&app, &soc, CLIENT, None).await;
    let lease_id = lease(&app, &token, &again).await;
    let bad = json!({"lease_id": lease_id, "credential": {"client_id": "contoso-app"}});
    let path = format!("/api/v1/inbox/{}/ack", again.id);
    assert_error(post(&app, &token, &path, &bad).await, 400, "bad_request").await;
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

with_each_backend!(
    an_acknowledgement_fills_the_register_and_the_days_move_it,
    the_newest_credential_per_customer_is_current_most_urgent_first,
    the_pms_retrieval_reports_once_and_only_after_retrieving,
    the_collectors_report_wins_and_a_release_carries_none,
);
