//! The new request page preselects an answer time a customer's admin can
//! meet: 7 days by default (`--request-answer-time`), offered among the
//! choices even when it is not one of the usual ones. The page has no store
//! behaviour of its own, so this runs on SQLite only.

mod common;

use common::{Backend, TestApp, spawn_app, spawn_app_with};

/// The `(value, label)` of the preselected answer time on the new request
/// page, and every value offered.
async fn answer_times(app: &TestApp) -> (String, Vec<String>) {
    let pm = app.staff("pm").await;
    let html = app
        .get_as(&pm.cookie, "/staff/requests/new")
        .await
        .text()
        .await
        .unwrap();
    let select = html
        .split(r#"<select id="expires_in" name="expires_in">"#)
        .nth(1)
        .and_then(|rest| rest.split("</select>").next())
        .expect("the answer time's select");
    let mut selected = String::new();
    let mut values = Vec::new();
    for option in select.split("<option value=\"").skip(1) {
        let (value, rest) = option.split_once('"').unwrap();
        values.push(value.to_owned());
        if rest.starts_with(" selected") {
            selected = value.to_owned();
        }
    }
    (selected, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_gets_days_to_answer_by_default() {
    let app = spawn_app(Backend::Sqlite).await;
    let (selected, values) = answer_times(&app).await;
    assert_eq!(selected, (7 * 86_400).to_string(), "{values:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_answer_time_is_preselected_and_offered() {
    let app = spawn_app_with(Backend::Sqlite, |mut s| {
        s.request_answer_seconds = 5 * 86_400;
        s
    })
    .await;
    let (selected, values) = answer_times(&app).await;
    assert_eq!(selected, (5 * 86_400).to_string());
    let at = |v: i64| values.iter().position(|x| *x == v.to_string()).unwrap();
    assert!(
        at(3 * 86_400) < at(5 * 86_400) && at(5 * 86_400) < at(7 * 86_400),
        "{values:?}"
    );
}
