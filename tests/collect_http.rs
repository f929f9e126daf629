//! `handoff collect --target http`, the real binary, against a server and a
//! local stand-in of a SOC platform's API: the templated body delivered with
//! the platform's token or signature, a second import that changes nothing,
//! a rotation, refusals in the platform's own words that leave the copy in
//! the inbox, a dry run that sends nothing, and options refused at start.

mod common;
#[path = "platform/mod.rs"]
mod platform;

use std::path::PathBuf;
use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc, event_kinds};
use common::{Backend, TestApp};
use handoff::collect::masked_secret;
use platform::{Auth, Platform};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~collectorsecretvalue0123456789ABCD";
const ROTATED: &str = "new8Q~rotatedsecretvalue0123456789ABCDEF";
const PLATFORM_TOKEN: &str = "soc-platform-token-5f1d0c9e8b7a";
const HMAC_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// What the SOC writes in `--http-body-template`.
const BODY: &str = r#"{
  "tenantId": "{tenant_id}",
  "clientId": "{client_id}",
  "clientSecret": "{client_secret}",
  "customer": "{customer}",
  "cloud": "{cloud}",
  "secretExpiresOn": "{secret_expires_on}",
  "source": "office365"
}"#;

/// A collector host whose `--api-token-file` holds the platform's secret,
/// with the body template beside it.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, platform_secret: &str) -> Host {
        let host = ApiHost::new(app, soc, "http", platform_secret).await;
        host.write("body.json", BODY);
        Host(host)
    }

    /// What `--api-token-file` holds from now on.
    fn set_platform_secret(&self, secret: &str) {
        self.0.set_api_secret(secret);
    }

    /// `handoff collect --target http` to `url`, plus `extra`.
    async fn collect(&self, app: &TestApp, url: &str, extra: &[&str]) -> Output {
        self.0
            .command(app, url)
            .args(["--http-body-template", &self.0.path("body.json")])
            .args(extra)
            .output()
            .await
            .unwrap()
    }

    /// The inbox as the collector's token sees it.
    async fn inbox(&self, app: &TestApp) -> Value {
        app.http
            .get(app.url("/api/v1/inbox"))
            .bearer_auth(&self.0.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Answers a new o365-management request with `secret`.
async fn answered(app: &TestApp, soc: &age::x25519::Identity, secret: &str) -> Opened {
    let credential = (TENANT, CLIENT, secret);
    answered_with_credential(app, soc, "o365-management", credential, "commercial").await
}

/// The body the platform must receive for `secret`.
fn expected_body(secret: &str) -> Value {
    json!({
        "tenantId": TENANT,
        "clientId": CLIENT,
        "clientSecret": secret,
        "customer": "Contoso",
        "cloud": "commercial",
        "secretExpiresOn": "2027-06-30",
        "source": "office365",
    })
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET])
}

async fn an_import_puts_the_templated_body_and_a_second_changes_nothing(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let platform = Platform::start(Auth::Bearer(PLATFORM_TOKEN.to_owned())).await;
    let host = Host::new(&app, &soc, PLATFORM_TOKEN).await;
    let url = format!("{}/api/v1/tenants/{{tenant_id}}", platform.base);
    let r = answered(&app, &soc, SECRET).await;

    let out = host.collect(&app, &url, &["--http-method", "put"]).await;
    let said = assert_success(&out);
    assert!(said.contains("imported Contoso"), "{said}");
    assert!(said.contains("summary: 1 imported"), "{said}");
    let received = platform.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let got = &received[0];
    assert_eq!(got.method, "PUT");
    assert_eq!(got.uri, format!("/api/v1/tenants/{TENANT}"));
    assert_eq!(
        got.headers["authorization"],
        format!("Bearer {PLATFORM_TOKEN}")
    );
    assert_eq!(got.headers["content-type"], "application/json");
    let key = &got.headers["idempotency-key"];
    assert!(key.starts_with(&format!("{}-", r.id)), "{key}");
    assert!(!key.contains(SECRET), "{key}");
    assert_eq!(
        serde_json::from_str::<Value>(&got.body).unwrap(),
        expected_body(SECRET),
        "exactly the template, filled in"
    );
    assert_eq!(platform.tenants()[TENANT], expected_body(SECRET));
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some(), "acknowledged after the 2xx");

    // The same credential again (a re-issued request): the same PUT, and
    // the platform's state is as it was.
    let again = answered(&app, &soc, SECRET).await;
    let out = host.collect(&app, &url, &["--http-method", "put"]).await;
    assert_success(&out);
    let received = platform.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].body, received[0].body, "byte for byte");
    assert_eq!(received[1].uri, received[0].uri);
    assert_eq!(platform.changes(), 1, "the second import changed nothing");
    assert_eq!(platform.tenants().len(), 1);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_posts_the_new_secret_signed(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let platform = Platform::start(Auth::Hmac(HMAC_KEY.to_owned())).await;
    let host = Host::new(&app, &soc, HMAC_KEY).await;
    let url = format!("{}/api/v1/integrations", platform.base);
    let hmac = ["--http-auth", "hmac"];

    answered(&app, &soc, SECRET).await;
    assert_success(&host.collect(&app, &url, &hmac).await);
    let rotated = answered(&app, &soc, ROTATED).await;
    let out = host.collect(&app, &url, &hmac).await;
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(ROTATED));

    let received = platform.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for got in &received {
        assert_eq!(got.method, "POST");
        assert!(
            got.headers["x-handoff-signature"].starts_with("t="),
            "{:?}",
            got.headers
        );
        assert!(!got.headers.contains_key("authorization"));
    }
    assert_eq!(
        serde_json::from_str::<Value>(&received[1].body).unwrap(),
        expected_body(ROTATED)
    );
    assert!(received[1].headers["idempotency-key"].starts_with(&rotated.id));
    assert_ne!(
        received[0].headers["idempotency-key"]
            .rsplit_once('-')
            .unwrap()
            .1,
        received[1].headers["idempotency-key"]
            .rsplit_once('-')
            .unwrap()
            .1,
        "a new secret, a new key"
    );
    assert_eq!(platform.tenants()[TENANT], expected_body(ROTATED));
    assert_eq!(platform.tenants().len(), 1, "updated, not duplicated");
    assert_eq!(platform.changes(), 2);
}

/// A refused change: nothing acknowledged, the lease released, the
/// platform's words printed with the secret masked.
async fn refused(app: &TestApp, host: &Host, r: &Opened, url: &str, words: &[&str]) {
    let out = host.collect(app, url, &[]).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, PLATFORM_TOKEN]).await;
    // ... and the request's page shows them to the PM.
    let events = app.store.request_events(&r.id).await.unwrap();
    let pm = app.staff(&format!("pm{}", events.len())).await;
    let page = app
        .get_as(&pm.cookie, &format!("/staff/requests/{}", r.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(words[0]), "{page}");
    let inbox = host.inbox(app).await;
    assert_eq!(inbox["items"][0]["id"], r.id.as_str(), "{inbox}");
    assert_eq!(inbox["items"][0]["leased_until"], Value::Null, "{inbox}");
}

async fn refusals_are_shown_in_the_platforms_words_and_the_copy_stays(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let platform = Platform::start(Auth::Bearer(PLATFORM_TOKEN.to_owned())).await;
    let url = format!("{}/api/v1/integrations", platform.base);
    let r = answered(&app, &soc, SECRET).await;

    let host = Host::new(&app, &soc, "an-old-revoked-platform-token").await;
    refused(
        &app,
        &host,
        &r,
        &url,
        &[
            "401 Unauthorized",
            "the platform said: unauthorized; Invalid or expired API token",
        ],
    )
    .await;

    platform.refuse_secret(SECRET);
    host.set_platform_secret(PLATFORM_TOKEN);
    refused(
        &app,
        &host,
        &r,
        &url,
        &[
            "422 Unprocessable Entity",
            "clientSecret: Entra ID refused the client secret",
            "AADSTS7000215",
            masked_secret(SECRET).as_str(),
        ],
    )
    .await;
    assert_eq!(platform.received().len(), 2);
    assert!(platform.tenants().is_empty());
}

async fn a_dry_run_prints_the_request_masked_and_sends_nothing(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let platform = Platform::start(Auth::Bearer(PLATFORM_TOKEN.to_owned())).await;
    let host = Host::new(&app, &soc, PLATFORM_TOKEN).await;
    let url = format!("{}/api/v1/integrations", platform.base);
    let r = answered(&app, &soc, SECRET).await;

    let out = host.collect(&app, &url, &["--dry-run"]).await;
    let said = assert_success(&out);
    assert!(!said.contains(PLATFORM_TOKEN), "{said}");
    let mut body = expected_body(SECRET);
    body["clientSecret"] = Value::from(masked_secret(SECRET));
    let shown = format!(
        "POST {url}\nAuthorization: Bearer ********\nContent-Type: application/json\nAccept: application/json\nIdempotency-Key: {}-",
        r.id
    );
    assert!(said.contains(&shown), "{shown}\nin\n{said}");
    assert!(
        said.contains(&format!("\n\n{body}\n")),
        "{body}\nin\n{said}"
    );
    assert!(said.contains("nothing written or sent"), "{said}");
    assert!(platform.received().is_empty(), "nothing was sent");
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

async fn plain_http_and_bad_templates_are_refused_at_start(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let host = Host::new(&app, &soc, PLATFORM_TOKEN).await;
    let r = answered(&app, &soc, SECRET).await;
    let https = "https://soc.example/api/v1/integrations";
    let cases: [(&str, Option<&str>, &str); 4] = [
        (
            "http://soc.example/api/v1/integrations",
            None,
            "http://soc.example would send the client secret and the API token unencrypted",
        ),
        (
            https,
            Some(r#"{"tenantId": "{tenant}"}"#),
            "unknown placeholder {tenant}",
        ),
        (
            https,
            Some(r#"{"tenantId": "{tenant_id}""#),
            "it is not JSON",
        ),
        (
            "https://soc.example/api/{client_secret}",
            None,
            "--api-url must not hold {client_secret}",
        ),
    ];
    for (url, template, words) in cases {
        if let Some(t) = template {
            std::fs::write(PathBuf::from(host.0.path("body.json")), t).unwrap();
        }
        let out = host.collect(&app, url, &[]).await;
        assert!(!out.status.success(), "{url}");
        let said = text(&out.stderr);
        assert!(said.contains(words), "{words:?} in {said}");
        std::fs::write(PathBuf::from(host.0.path("body.json")), BODY).unwrap();
    }
    assert_eq!(
        event_kinds(&app.store, &r.id).await,
        ["request.created", "request.answered"],
        "nothing was leased"
    );
}

with_each_backend!(
    an_import_puts_the_templated_body_and_a_second_changes_nothing,
    a_rotation_posts_the_new_secret_signed,
    refusals_are_shown_in_the_platforms_words_and_the_copy_stays,
    a_dry_run_prints_the_request_masked_and_sends_nothing,
    plain_http_and_bad_templates_are_refused_at_start,
);
