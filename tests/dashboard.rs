//! The staff side of requests over HTTP, on both backends: creating a
//! request needs a session and its CSRF token; the dashboard and a request's
//! page show states and the trail; cancelling and re-issuing.

mod common;

use common::flow::{answer, failed_request, open_request};
use common::{Session, TestApp, assert_error};
use serde_json::{Value, json};

async fn create_as(
    app: &TestApp,
    session: Option<&Session>,
    csrf: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = app.http.post(app.url("/api/v1/requests")).json(body);
    if let Some(s) = session {
        req = req.header("cookie", &s.cookie);
    }
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    req.send().await.unwrap()
}

fn request_body(customer: &str) -> Value {
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    json!({
        "customer": customer,
        "template": "o365-management",
        "expires_in": 86_400,
        "note": "Please use the 12-month expiry.",
        "recipient": recipient,
    })
}

async fn creating_needs_a_session_and_its_csrf_token(app: TestApp) {
    let pm = app.staff("pm").await;
    let body = request_body("Contoso");
    assert_error(
        create_as(&app, None, None, &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert_error(create_as(&app, Some(&pm), None, &body).await, 403, "csrf").await;
    assert_error(
        create_as(&app, Some(&pm), Some("forged"), &body).await,
        403,
        "csrf",
    )
    .await;
    assert!(
        app.store.list_requests(10).await.unwrap().is_empty(),
        "nothing was created"
    );

    let res = create_as(&app, Some(&pm), Some(&pm.csrf), &body).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["url"], app.url(&format!("/r/{id}")));
    let retrieval = created["retrieval_url"].as_str().unwrap();
    assert!(retrieval.starts_with(&app.url("/p/")) && !retrieval.contains('#'));
    assert!(
        !retrieval.contains(id),
        "the PM's link is not derived from the customer's"
    );

    let r = app.store.request(id).await.unwrap().unwrap();
    assert_eq!(
        (r.customer.as_str(), r.created_by.as_str()),
        ("Contoso", "pm")
    );
    assert_eq!(r.recipient, body["recipient"]);
    let events = app.store.request_events(id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "request.created");
    assert_eq!(events[0].actor, "staff:pm");
    assert_eq!(events[0].client_addr.as_deref(), Some("127.0.0.1"));
}

async fn bad_requests_are_refused_with_a_reason(app: TestApp) {
    let pm = app.staff("pm").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"customer": "  "}), "invalid_field"),
        (json!({"customer": "Contoso\nLtd"}), "invalid_field"),
        (json!({"customer": "x".repeat(101)}), "invalid_field"),
        (json!({"note": "n".repeat(501)}), "invalid_field"),
        (json!({"template": "nope"}), "unknown_template"),
        (
            json!({"recipient": "AGE-SECRET-KEY-1QQQ"}),
            "invalid_recipient",
        ),
        (json!({"expires_in": 10}), "invalid_expiry"),
        (json!({"expires_in": 90 * 86_400}), "invalid_expiry"),
        (
            json!({"reissued_from": "AAAAAAAAAAAAAAAAAAAAAA"}),
            "unknown_request",
        ),
        (json!({"surprise": true}), "bad_request"),
    ];
    for (patch, code) in cases {
        let mut body = request_body("Contoso");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let message = assert_error(
            create_as(&app, Some(&pm), Some(&pm.csrf), &body).await,
            400,
            code,
        )
        .await;
        assert!(!message.is_empty());
    }
    assert!(app.store.list_requests(10).await.unwrap().is_empty());
}

async fn dashboard_and_request_page_show_state_and_trail(app: TestApp) {
    let pm = app.staff("pm").await;
    let created: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Fabrikam"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();

    // Anonymous visitors are sent to sign in.
    let res = app.get("/staff").await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    let html = app.get_as(&pm.cookie, "/staff").await.text().await.unwrap();
    assert!(html.contains("Fabrikam"));
    assert!(
        html.contains(&format!(r#"data-id="{id}" data-state="open""#)),
        "{html}"
    );
    assert!(
        html.contains("No SOC recipients are configured"),
        "the missing collector key is flagged"
    );

    let page = app
        .get_as(&pm.cookie, &format!("/staff/requests/{id}"))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("request.created") && html.contains("staff:pm"));
    assert!(
        html.contains(&format!("/r/{id}")),
        "the customer link can be copied again"
    );
    assert!(!html.contains("/p/"), "the PM's link is never shown again");

    // Cancelling is a CSRF-checked form.
    let path = format!("/staff/requests/{id}/cancel");
    let res = app
        .post_form_as(&pm.cookie, &path, &[("csrf", "wrong")])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.get(&format!("/api/v1/requests/{id}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["state"],
        "open"
    );
    let res = app
        .post_form_as(&pm.cookie, &path, &[("csrf", &pm.csrf), ("confirm", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    let meta: Value = app
        .get(&format!("/api/v1/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["state"], "cancelled");
    let html = app
        .get_as(&pm.cookie, &format!("/staff/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("request.cancelled"));
    assert!(
        !html.contains("cancel-button"),
        "a cancelled request offers no cancel"
    );

    // Re-issue: a new request for the same customer and template.
    let html = app
        .get_as(&pm.cookie, &format!("/staff/requests/new?reissue={id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"value="Fabrikam""#));
    assert!(html.contains(r#"<option value="o365-management" selected>"#));
    let mut body = request_body("Fabrikam");
    body["reissued_from"] = json!(id);
    let res = create_as(&app, Some(&pm), Some(&pm.csrf), &body).await;
    assert_eq!(res.status(), 201);
    let again: Value = res.json().await.unwrap();
    let r = app
        .store
        .request(again["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.reissued_from.as_deref(), Some(id));
    assert_eq!(app.store.verify_chain().await.unwrap().result, Ok(()));
}

async fn an_expired_session_cannot_create_or_cancel(app: TestApp) {
    let pm = app.staff("pm").await;
    let created: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Contoso"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    app.clock.advance(2 * 3600);
    assert_error(
        create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Late")).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app
        .post_form_as(
            &pm.cookie,
            &format!("/staff/requests/{id}/cancel"),
            &[("csrf", &pm.csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    let meta: Value = app
        .get(&format!("/api/v1/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["state"], "open", "an expired session changed nothing");
}

async fn tokens_are_managed_from_the_dashboard(app: TestApp) {
    let pm = app.staff("pm").await;
    let res = app
        .post_form_as(
            &pm.cookie,
            "/staff/tokens",
            &[("csrf", "wrong"), ("name", "c1"), ("scope", "collect")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(app.store.list_tokens().await.unwrap().is_empty());

    let res = app
        .post_form_as(
            &pm.cookie,
            "/staff/tokens",
            &[("csrf", &pm.csrf), ("name", "c1"), ("scope", "collect")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let token = common::hidden_input(
        &html.replace("readonly spellcheck=\"false\" value", "name=\"new\" value"),
        "new",
    )
    .expect("the new token is shown once");
    assert!(handoff::token::well_formed(&token), "{token}");
    let listed = app
        .get_as(&pm.cookie, "/staff/tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&token), "the token is never shown again");
    assert!(listed.contains(&token[..12]), "its prefix is listed");
    let dup = app
        .post_form_as(
            &pm.cookie,
            "/staff/tokens",
            &[("csrf", &pm.csrf), ("name", "c1"), ("scope", "collect")],
        )
        .await;
    assert_eq!(dup.status(), 409);

    let inbox = |t: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url("/api/v1/inbox"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(inbox(token.clone()).await, 200);
    let res = app
        .post_form_as(
            &pm.cookie,
            "/staff/tokens/revoke",
            &[("csrf", &pm.csrf), ("name", "c1")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(inbox(token).await, 401);
    let kinds: Vec<String> = app
        .store
        .events_after(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.kind, e.actor))
        .collect();
    assert!(
        kinds.contains(&"token.created staff:pm".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"token.revoked staff:pm".to_owned()),
        "{kinds:?}"
    );
}

/// The no-script form of a time on the dashboard: minutes, in UTC, said so.
fn readable_utc(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&format)
        .unwrap()
}

async fn dashboard_times_are_readable_without_a_script(app: TestApp) {
    let pm = app.staff("pm").await;
    let created: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Fabrikam"))
        .await
        .json()
        .await
        .unwrap();
    let html = app.get_as(&pm.cookie, "/staff").await.text().await.unwrap();
    let now = app.clock.now();
    let rfc = time::OffsetDateTime::from_unix_timestamp(now)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(
        html.contains(&format!(
            r#"<time datetime="{rfc}" data-relative>{}</time>"#,
            readable_utc(now)
        )),
        "{html}"
    );
    assert!(html.contains(created["id"].as_str().unwrap()));
}

async fn dashboard_counts_states_and_marks_answers_waiting_for_the_soc(app: TestApp) {
    let pm = app.staff("pm").await;
    let now = app.clock.now();
    let waiting = open_request(&app.store, now, 86_400).await;
    assert_eq!(answer(&app, &waiting, None).await.status(), 201);
    let open: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Fabrikam"))
        .await
        .json()
        .await
        .unwrap();
    let open_id = open["id"].as_str().unwrap();
    let gone: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Northwind"))
        .await
        .json()
        .await
        .unwrap();
    let gone_id = gone["id"].as_str().unwrap();
    let res = app
        .post_form_as(
            &pm.cookie,
            &format!("/staff/requests/{gone_id}/cancel"),
            &[("csrf", &pm.csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);

    let html = app.get_as(&pm.cookie, "/staff").await.text().await.unwrap();
    for (state, n) in [("open", 1), ("answered", 1), ("cancelled", 1)] {
        assert!(
            html.contains(&format!(
                r#"<li data-state="{state}"><span class="badge {state}">{state}</span> {n}</li>"#
            )),
            "no count of {state}: {html}"
        );
    }
    assert!(!html.contains(r#"<li data-state="verified">"#), "{html}");
    // The filter is the script's: hidden in the page, every row rendered.
    assert!(html.contains(
        r#"<form id="filter" class="filter" role="search" aria-label="Filter requests" hidden>"#
    ));
    assert_eq!(html.matches("<tr data-id=").count(), 3);

    // The answer waiting for the SOC says so in words, not only in colour.
    assert!(html.contains("1 answered request is waiting for"), "{html}");
    assert!(
        html.contains(&format!(
            r#"<tr data-id="{}" data-state="answered" data-customer="Contoso" data-waiting class="waiting">"#,
            waiting.id
        )),
        "{html}"
    );
    assert_eq!(
        html.matches("waiting for retrieval or import</strong>")
            .count(),
        1
    );

    // A copy button for the customer's link of the open request only; never a
    // retrieval link.
    assert!(
        html.contains(&format!(
            r#"data-copy-text="{}" aria-label="Copy link for Fabrikam" hidden>Copy link</button>"#,
            app.url(&format!("/r/{open_id}"))
        )),
        "{html}"
    );
    assert_eq!(html.matches("data-copy-text=").count(), 1, "{html}");
    assert!(!html.contains("/p/"));
}

async fn cancel_withdraw_and_destroy_ask_first(app: TestApp) {
    let pm = app.staff("pm").await;
    let created: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &request_body("Fabrikam"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let state = |path: String| {
        let app = &app;
        async move { app.get(&path).await.json::<Value>().await.unwrap()["state"].clone() }
    };

    // Cancel: the first post asks; only the confirmed one cancels.
    let path = format!("/staff/requests/{id}/cancel");
    let res = app
        .post_form_as(&pm.cookie, &path, &[("csrf", &pm.csrf)])
        .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Cancel the request to Fabrikam?"), "{page}");
    assert!(page.contains(r#"<input type="hidden" name="confirm" value="yes">"#));
    assert!(page.contains(&format!(r#"action="{path}""#)));
    assert!(page.contains(&format!(r#"href="/staff/requests/{id}""#)));
    assert_eq!(state(format!("/api/v1/requests/{id}")).await, "open");
    let res = app
        .post_form_as(&pm.cookie, &path, &[("csrf", &pm.csrf), ("confirm", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(state(format!("/api/v1/requests/{id}")).await, "cancelled");

    // Withdraw, on the customer's receipt page.
    let r = open_request(&app.store, app.clock.now(), 86_400).await;
    let body: Value = answer(&app, &r, None).await.json().await.unwrap();
    let token = body["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("/rs/{token}/withdraw");
    let res = app.post_form(&path, &[("x", "")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Withdraw your answer?") && page.contains(&format!(r#"action="{path}""#))
    );
    let receipt = format!("/api/v1/request-status/{token}");
    assert_eq!(state(receipt.clone()).await, "answered");
    let res = app.post_form(&path, &[("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(state(receipt).await, "withdrawn");

    // Destroy, on the sender's status page.
    let made = app.create_text("for the collector").await;
    let path = format!("{}/destroy", app.status_path(&made));
    let res = app.post_form(&path, &[("x", "")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Destroy the secret?") && page.contains(&format!(r#"action="{path}""#)));
    assert_eq!(app.status(&made).await["state"], "waiting");
    let res = app.post_form(&path, &[("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.status(&made).await["state"], "destroyed");
}

on_both_backends!(
    dashboard_times_are_readable_without_a_script,
    dashboard_counts_states_and_marks_answers_waiting_for_the_soc,
    cancel_withdraw_and_destroy_ask_first,
    a_failed_request_is_never_verified_and_its_reissue_says_why,
    tokens_are_managed_from_the_dashboard,
    creating_needs_a_session_and_its_csrf_token,
    bad_requests_are_refused_with_a_reason,
    dashboard_and_request_page_show_state_and_trail,
    an_expired_session_cannot_create_or_cancel,
);

async fn a_failed_request_is_never_verified_and_its_reissue_says_why(app: TestApp) {
    let pm = app.staff("pm").await;
    let why = "AADSTS7000215: Invalid client secret provided.";
    let id = failed_request(&app.store, app.clock.now(), why).await.id;

    let html = app
        .get_as(&pm.cookie, &format!("/staff/requests/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"data-state="failed""#), "{html}");
    assert!(html.contains("<dt>Verification failed</dt>"), "{html}");
    assert!(!html.contains("<dt>Verified</dt>"), "{html}");

    let form = app
        .get_as(&pm.cookie, &format!("/staff/requests/new?reissue={id}"))
        .await
        .text()
        .await
        .unwrap();
    let note = form
        .split(r#"<input id="note""#)
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_default();
    assert!(
        note.contains(r#"value="The previous answer failed the SOC"#)
            && note.contains(&format!(r#"check: {why}""#)),
        "the note does not carry the reason: {note}"
    );
    assert!(form.contains(r#"id="reissue-reason""#), "{form}");

    let mut body = request_body("Contoso");
    body["reissued_from"] = json!(id);
    body["note"] = json!(format!("The previous answer failed the SOC's check: {why}"));
    let again: Value = create_as(&app, Some(&pm), Some(&pm.csrf), &body)
        .await
        .json()
        .await
        .unwrap();
    let html = app
        .get_as(
            &pm.cookie,
            &format!("/staff/requests/{}", again["id"].as_str().unwrap()),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="reissue-reason""#), "{html}");
    assert!(html.contains(&format!("failed the check: {why}")), "{html}");
    let customer = app
        .get(&format!("/r/{}", again["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        customer.contains(why),
        "the customer reads the reason in the note"
    );
}
