//! Requests through the API, on both backends: answering once, the two
//! copies, the PM's once-only retrieval, withdrawal, expiry, purge, and the
//! audit trail that every step appends to.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::flow::{
    Opened, PAYLOAD, answer, app_with_soc, decrypt, encrypt_to, event_kinds, open_request,
    open_request_for,
};
use common::{Backend, T0, assert_error, writable};
use handoff::audit::{Actor, Break, Kind, NewEvent};
use handoff::request::CopyKind;
use handoff::store::Store;
use serde_json::{Value, json};

async fn sealed_copy(store: &Store, request_id: &str) -> Option<Vec<u8>> {
    const SQL: &str =
        "SELECT ciphertext FROM request_copies WHERE request_id = $1 AND kind = 'sealed'";
    match store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => sqlx::query_scalar(SQL)
            .bind(request_id)
            .fetch_optional(p)
            .await
            .unwrap(),
        Store::Postgres(p) => sqlx::query_scalar(SQL)
            .bind(request_id)
            .fetch_optional(p)
            .await
            .unwrap(),
    }
}

async fn round_trip_with_both_copies(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;

    let meta: Value = app
        .get(&format!("/api/v1/requests/{}", r.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["state"], "open");
    assert_eq!(meta["recipient"], r.identity.to_public().to_string());
    assert_eq!(meta["soc_recipients"], json!([soc.to_public().to_string()]));

    let res = app
        .post_json(&format!("/api/v1/requests/{}/opened", r.id), &json!(null))
        .await;
    assert_eq!(res.status(), 204);
    app.post_json(&format!("/api/v1/requests/{}/opened", r.id), &json!(null))
        .await;

    let res = answer(&app, &r, Some(&soc)).await;
    assert_eq!(res.status(), 201);
    let receipt: Value = res.json().await.unwrap();
    let status_url = receipt["status_url"].as_str().unwrap();
    let token = status_url.rsplit('/').next().unwrap();

    // The sealed copy opens with the SOC's identity and nothing else.
    let sealed = sealed_copy(&app.store, &r.id)
        .await
        .expect("a sealed copy is stored");
    assert_eq!(decrypt(&soc, &sealed), PAYLOAD);
    assert!(
        age::Decryptor::new(&sealed[..])
            .unwrap()
            .decrypt(std::iter::once(&r.identity as &dyn age::Identity))
            .is_err()
    );

    // Scanner-safe: fetching the PM's page consumes nothing.
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/p/{}", r.retrieval_id)).await.status(),
            200
        );
        assert_eq!(
            app.head(&format!("/p/{}", r.retrieval_id)).await.status(),
            200
        );
    }
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
            &json!(null),
        )
        .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["customer"], "Contoso");
    let pm = STANDARD
        .decode(got["ciphertext"].as_str().unwrap())
        .unwrap();
    assert_eq!(decrypt(&r.identity, &pm), PAYLOAD);

    // Once only; the sealed copy is untouched by the retrieval.
    let again = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
            &json!(null),
        )
        .await;
    assert_error(again, 404, "not_found").await;
    assert_eq!(
        app.get(&format!("/p/{}", r.retrieval_id)).await.status(),
        404
    );
    assert_eq!(sealed_copy(&app.store, &r.id).await.unwrap(), sealed);

    let status: Value = app
        .get(&format!("/api/v1/request-status/{token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "retrieved");
    assert_eq!(status["can_withdraw"], false);
    assert!(status["retrieved_at"].is_string());
    let page = app.get(&format!("/rs/{token}")).await.text().await.unwrap();
    assert!(page.contains("Retrieved by the SOC"), "{page}");

    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        [
            "request.created",
            "request.opened",
            "request.answered",
            "request.retrieved"
        ]
    );
    let report = app.store.verify_chain().await.unwrap();
    assert_eq!(report.result, Ok(()));
    assert_eq!(report.checked, 4);
}

async fn answered_once_only(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    // Ten at once: exactly one is taken.
    let mut tasks = Vec::new();
    let app = std::sync::Arc::new(app);
    for _ in 0..10 {
        let app = app.clone();
        let r = Opened {
            id: r.id.clone(),
            retrieval_id: r.retrieval_id.clone(),
            identity: r.identity.clone(),
        };
        let soc = soc.clone();
        tasks.push(tokio::spawn(async move {
            answer(&app, &r, Some(&soc)).await.status().as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let res = answer(&app, &r, Some(&soc)).await;
    let message = assert_error(res, 409, "already_answered").await;
    assert!(message.contains("only once"));
    // The link now says so, as a page.
    let page = app.get(&format!("/r/{}", r.id)).await;
    assert_eq!(page.status(), 409);
    assert!(page.text().await.unwrap().contains("already been answered"));
    let answered = event_kinds(&app.store, &r.id)
        .await
        .iter()
        .filter(|k| *k == "request.answered")
        .count();
    assert_eq!(answered, 1);
}

async fn no_answer_after_expiry_or_cancel(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 3_600).await;
    app.clock.advance(3_600);
    assert_error(answer(&app, &r, Some(&soc)).await, 410, "expired").await;
    assert_eq!(app.get(&format!("/r/{}", r.id)).await.status(), 410);

    let c = open_request(&app.store, app.clock.now(), 3_600).await;
    let event = NewEvent::new(Kind::RequestCancelled, Actor::Staff("pm".into())).request(&c.id);
    assert!(
        app.store
            .cancel_request(&c.id, app.clock.now(), &event)
            .await
            .unwrap()
    );
    assert_error(answer(&app, &c, Some(&soc)).await, 410, "cancelled").await;
    let page = app.get(&format!("/r/{}", c.id)).await;
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("cancelled"));
    assert!(sealed_copy(&app.store, &c.id).await.is_none());
}

async fn withdrawal_until_retrieved(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    let receipt: Value = answer(&app, &r, Some(&soc)).await.json().await.unwrap();
    let token = receipt["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/request-status/{token}/withdraw"),
            &json!(null),
        )
        .await;
    assert_eq!(res.status(), 200);
    let status: Value = res.json().await.unwrap();
    assert_eq!(status["state"], "withdrawn");
    // Both copies are gone.
    assert!(sealed_copy(&app.store, &r.id).await.is_none());
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
            &json!(null),
        )
        .await;
    assert_error(res, 404, "not_found").await;
    assert_eq!(app.get(&format!("/r/{}", r.id)).await.status(), 410);

    // After the PM has retrieved, withdrawing is refused with advice.
    let r2 = open_request(&app.store, T0, 86_400).await;
    let receipt: Value = answer(&app, &r2, Some(&soc)).await.json().await.unwrap();
    let token2 = receipt["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    app.post_json(
        &format!("/api/v1/retrievals/{}/reveal", r2.retrieval_id),
        &json!(null),
    )
    .await;
    let res = app
        .post_json(
            &format!("/api/v1/request-status/{token2}/withdraw"),
            &json!(null),
        )
        .await;
    let message = assert_error(res, 409, "too_late").await;
    assert!(message.contains("rotate"));
    // The form, once confirmed, posts and lands back on the receipt page.
    let res = app
        .http
        .post(app.url(&format!("/rs/{token2}/withdraw")))
        .form(&[("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_error(
        app.get("/api/v1/request-status/AAAAAAAAAAAAAAAAAAAAAA")
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        ["request.created", "request.answered", "request.withdrawn"]
    );
}

async fn bad_answers_get_clear_errors(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    let path = format!("/api/v1/requests/{}/answer", r.id);
    let pm = encrypt_to(&[r.identity.to_public()], b"x");
    let sealed = encrypt_to(&[soc.to_public()], b"x");
    let two = encrypt_to(&[r.identity.to_public(), soc.to_public()], b"x");

    let not_age = STANDARD.encode("not age");
    let cases = [
        (
            "/api/v1/requests/AAAAAAAAAAAAAAAAAAAAAA/answer",
            json!({"pm_ciphertext": pm, "sealed_ciphertext": sealed}),
            404,
            "not_found",
        ),
        (
            "/api/v1/requests/not-an-id/answer",
            json!({"pm_ciphertext": pm}),
            404,
            "not_found",
        ),
        (
            &path,
            json!({"pm_ciphertext": "***", "sealed_ciphertext": sealed}),
            400,
            "invalid_base64",
        ),
        (
            &path,
            json!({"pm_ciphertext": not_age, "sealed_ciphertext": sealed}),
            422,
            "not_age_file",
        ),
        (
            &path,
            json!({"pm_ciphertext": two, "sealed_ciphertext": sealed}),
            422,
            "wrong_recipients",
        ),
        (&path, json!({"pm_ciphertext": pm}), 400, "bad_request"),
        (
            &path,
            json!({"pm_ciphertext": pm, "sealed_ciphertext": two}),
            422,
            "wrong_recipients",
        ),
        (
            &path,
            json!({"pm_ciphertext": pm, "sealed_ciphertext": sealed, "extra": 1}),
            400,
            "bad_request",
        ),
        (&path, json!([1, 2]), 400, "bad_request"),
    ];
    for (target, body, status, code) in cases {
        assert_error(app.post_json(target, &body).await, status, code).await;
    }
    let res = app
        .http
        .post(app.url(&path))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "bad_request").await;
    // None of it was taken: the request is still open, with no copies.
    let meta: Value = app
        .get(&format!("/api/v1/requests/{}", r.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["state"], "open");
    assert!(sealed_copy(&app.store, &r.id).await.is_none());
    assert_error(app.get("/api/v1/requests/nope").await, 404, "not_found").await;
    assert_eq!(app.get("/r/nope").await.status(), 404);
    assert_eq!(app.get("/p/nope").await.status(), 404);
    assert_eq!(app.get("/rs/nope").await.status(), 404);
}

async fn without_soc_recipients_there_is_no_sealed_copy(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    let soc = age::x25519::Identity::generate();
    let path = format!("/api/v1/requests/{}/answer", r.id);
    let body = json!({
        "pm_ciphertext": encrypt_to(&[r.identity.to_public()], b"x"),
        "sealed_ciphertext": encrypt_to(&[soc.to_public()], b"x"),
    });
    assert_error(app.post_json(&path, &body).await, 400, "bad_request").await;
    assert_eq!(answer(&app, &r, None).await.status(), 201);
    assert!(sealed_copy(&app.store, &r.id).await.is_none());
}

async fn purge_marks_expiry_and_deletes_copies(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let unanswered = open_request(&app.store, T0, 3_600).await;
    let answered = open_request(&app.store, T0, 3_600).await;
    let receipt: Value = answer(&app, &answered, Some(&soc))
        .await
        .json()
        .await
        .unwrap();
    let token = receipt["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    app.clock.advance(3_600);
    let p = app.store.purge_requests(app.clock.now()).await.unwrap();
    assert_eq!((p.expired, p.copies), (1, 0));
    // The answered one keeps its copies until their own time runs out.
    app.clock.advance(7 * 86_400);
    let p = app.store.purge_requests(app.clock.now()).await.unwrap();
    assert_eq!((p.expired, p.copies), (0, 2));
    assert_eq!(
        event_kinds(&app.store, &unanswered.id).await,
        ["request.created", "request.expired"]
    );
    assert_eq!(
        event_kinds(&app.store, &answered.id).await,
        ["request.created", "request.answered", "request.purged"]
    );
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", answered.retrieval_id),
            &json!(null),
        )
        .await;
    assert_error(res, 404, "not_found").await;
    // The receipt says the copies lapsed, and offers no withdrawal that would delete nothing.
    let status: Value = app
        .get(&format!("/api/v1/request-status/{token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (status["state"].as_str(), status["can_withdraw"].as_bool()),
        (Some("expired"), Some(false))
    );
    let res = app
        .post_json(
            &format!("/api/v1/request-status/{token}/withdraw"),
            &json!(null),
        )
        .await;
    assert_error(res, 409, "too_late").await;
    let page = app.get(&format!("/rs/{token}")).await.text().await.unwrap();
    assert!(
        page.contains("copies were deleted") && !page.contains("withdraw-button"),
        "{page}"
    );
    // The customer's link still says it was answered, not that it expired unanswered.
    assert!(
        app.get(&format!("/r/{}", answered.id))
            .await
            .text()
            .await
            .unwrap()
            .contains("already been answered")
    );
    // A second pass finds nothing more, and the chain still holds.
    let p = app.store.purge_requests(app.clock.now()).await.unwrap();
    assert_eq!((p.expired, p.copies), (0, 0));
    assert_eq!(app.store.verify_chain().await.unwrap().result, Ok(()));
}

async fn the_trail_is_append_only_and_tampering_is_found(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    for _ in 0..3 {
        let r = open_request(&app.store, T0, 86_400).await;
        answer(&app, &r, Some(&soc)).await;
    }
    let report = app.store.verify_chain().await.unwrap();
    assert_eq!((report.checked, report.result), (6, Ok(())));

    // The database refuses changes to the trail...
    let refused = match &app.store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            // A connection that may write: the pool's only read.
            let mut c = writable(p).await;
            sqlx::query("UPDATE events SET actor = 'x' WHERE seq = 2")
                .execute(&mut c)
                .await
                .is_err()
        }
        Store::Postgres(p) => {
            sqlx::query("UPDATE events SET actor = 'x' WHERE seq = 2")
                .execute(p)
                .await
                .is_err()
                && sqlx::query("TRUNCATE events").execute(p).await.is_err()
        }
    };
    assert!(refused, "events must be append-only");

    // ...and someone who gets past that is caught by the chain.
    match &app.store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            let mut c = writable(p).await;
            sqlx::query("DROP TRIGGER events_no_update")
                .execute(&mut c)
                .await
                .unwrap();
            sqlx::query("UPDATE events SET client_addr = '203.0.113.9' WHERE seq = 4")
                .execute(&mut c)
                .await
                .unwrap();
        }
        Store::Postgres(p) => {
            sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update")
                .execute(p)
                .await
                .unwrap();
            sqlx::query("UPDATE events SET client_addr = '203.0.113.9' WHERE seq = 4")
                .execute(p)
                .await
                .unwrap();
        }
    }
    let report = app.store.verify_chain().await.unwrap();
    assert_eq!(report.result, Err(Break::Content { seq: 4 }));
    assert_eq!(report.checked, 3);
}

async fn pages_render_for_each_state(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    let page = app.get(&format!("/r/{}", r.id)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Contoso"));
    assert!(html.contains(&r.identity.to_public().to_string()));
    assert!(html.contains(&soc.to_public().to_string()));
    // GET and HEAD of the request page record nothing: only the script's POST does.
    app.head(&format!("/r/{}", r.id)).await;
    assert_eq!(event_kinds(&app.store, &r.id).await, ["request.created"]);
    let p = app
        .get(&format!("/p/{}", r.retrieval_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(p.contains("has not answered yet"));

    // An integration's request carries its guide: permissions, steps, the
    // generated az commands with the app-role GUIDs, and the checklist.
    let o365 = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    let html = app
        .get(&format!("/r/{}", o365.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="guide""#));
    assert!(html.contains("Office 365 Management Activity API"));
    assert!(html.contains("ActivityFeed.ReadDlp"));
    assert!(
        html.contains("594c1fb6-4f81-4475-ae41-0c394909246c=Role"),
        "the az commands carry the role GUID"
    );
    assert!(html.contains("data-checklist"));
}

async fn cancelling_an_answered_request_deletes_its_copies(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 86_400).await;
    let receipt: Value = answer(&app, &r, Some(&soc)).await.json().await.unwrap();
    let token = receipt["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(sealed_copy(&app.store, &r.id).await.is_some());
    let event = NewEvent::new(Kind::RequestCancelled, Actor::Staff("pm".into())).request(&r.id);
    assert!(
        app.store
            .cancel_request(&r.id, app.clock.now(), &event)
            .await
            .unwrap()
    );
    assert!(
        sealed_copy(&app.store, &r.id).await.is_none(),
        "the collector gets nothing"
    );
    let res = app
        .post_json(
            &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
            &json!(null),
        )
        .await;
    assert_error(res, 404, "not_found").await;
    let status: Value = app
        .get(&format!("/api/v1/request-status/{token}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "cancelled");
    assert_eq!(status["can_withdraw"], false);
}

/// Every copy kind is written and read back as the same text: `has_copy`
/// finds each one, and the purge parses each kind it deletes.
async fn every_copy_kind_round_trips(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let r = open_request(&app.store, T0, 3_600).await;
    assert_eq!(answer(&app, &r, Some(&soc)).await.status(), 201);
    for &kind in CopyKind::ALL {
        assert!(
            app.store
                .has_copy(&r.id, kind, app.clock.now())
                .await
                .unwrap(),
            "{kind:?}"
        );
    }
    app.clock.advance(8 * 86_400);
    let p = app.store.purge_requests(app.clock.now()).await.unwrap();
    assert_eq!(p.copies, CopyKind::ALL.len() as u64);
    let purged = app.store.request_events(&r.id).await.unwrap();
    let detail: Value = serde_json::from_str(&purged.last().unwrap().detail).unwrap();
    let kinds: Vec<&str> = CopyKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(detail["copies"], json!(kinds));
    for &kind in CopyKind::ALL {
        assert!(
            !app.store
                .has_copy(&r.id, kind, app.clock.now())
                .await
                .unwrap()
        );
    }
}

with_each_backend!(
    every_copy_kind_round_trips,
    cancelling_an_answered_request_deletes_its_copies,
    round_trip_with_both_copies,
    answered_once_only,
    no_answer_after_expiry_or_cancel,
    withdrawal_until_retrieved,
    bad_answers_get_clear_errors,
    without_soc_recipients_there_is_no_sealed_copy,
    purge_marks_expiry_and_deletes_copies,
    the_trail_is_append_only_and_tampering_is_found,
    pages_render_for_each_state,
);
