//! The staff side of requests over HTTP, on both backends: creating a
//! request needs a session and its CSRF token; the dashboard and a request's
//! page show states and the trail; cancelling and re-issuing.

mod common;

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
        .post_form_as(&pm.cookie, &path, &[("csrf", &pm.csrf)])
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
            &[("csrf", &pm.csrf)],
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

on_both_backends!(
    tokens_are_managed_from_the_dashboard,
    creating_needs_a_session_and_its_csrf_token,
    bad_requests_are_refused_with_a_reason,
    dashboard_and_request_page_show_state_and_trail,
    an_expired_session_cannot_create_or_cancel,
);
