//! `handoff send` and `handoff get` from a terminal, against a live server.

mod common;

use std::process::Output;

use common::{Backend, TestApp, spawn_app};
use tokio::io::AsyncWriteExt;

async fn handoff(args: &[&str], stdin: &str, passphrase: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .env_remove("HANDOFF_PASSPHRASE");
    if let Some(p) = passphrase {
        cmd.env("HANDOFF_PASSPHRASE", p);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn send(app: &TestApp, extra: &[&str], stdin: &str, passphrase: Option<&str>) -> String {
    let mut args = vec!["send", "--server", &app.base];
    args.extend_from_slice(extra);
    let out = handoff(&args, stdin, passphrase).await;
    assert!(out.status.success(), "send failed: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("/status/"),
        "the status link is shown"
    );
    text(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn text_sent_from_the_terminal_is_read_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let link = send(&app, &[], "multi\nline secret", None).await;
    assert!(
        link.starts_with(&format!("{}/s/", app.base)) && link.contains("#AGE-SECRET-KEY-1"),
        "{link}"
    );
    let out = handoff(&["get", &link], "", None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "multi\nline secret");
    let again = handoff(&["get", &link], "", None).await;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("gone"),
        "{}",
        text(&again.stderr)
    );
}

#[tokio::test]
async fn entra_fields_are_checked_before_anything_is_sent() {
    let app = spawn_app(Backend::Sqlite).await;
    let out = handoff(
        &[
            "send",
            "--server",
            &app.base,
            "--field",
            "tenant_id=72f988bf-86f1-41af-91ab-2d7cd011db47",
            "--field",
            "client_id=0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d",
            "--field",
            "client_secret=5f2b8c9a-1d3e-4f6a-8b7c-9d0e1f2a3b4c",
            "--field",
            "secret_expires_on=2099-01-01",
        ],
        "",
        None,
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("Secret ID"), "{err}");
    assert!(
        err.contains("24 months"),
        "the far-future date is caught too: {err}"
    );
    assert_eq!(
        common::count_secrets(&app.store).await,
        0,
        "nothing was uploaded"
    );
}

#[tokio::test]
async fn az_credential_reset_output_is_sent_as_entra_fields() {
    let app = spawn_app(Backend::Sqlite).await;
    let expires = (time::OffsetDateTime::now_utc().date() + time::Duration::days(180)).to_string();
    let az = r#"{"appId": "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d", "password": "Xy7Q~AbCdEfGhIjKlMnOpQrStUvWxYz012345_-.", "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"}"#;
    let field = format!("secret_expires_on={expires}");
    let link = send(
        &app,
        &[
            "--template",
            "entra-app",
            "--field",
            &field,
            "--note",
            "for the SOC",
        ],
        az,
        None,
    )
    .await;
    let out = handoff(&["get", "--json", &link], "", None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(payload["template"], "entra-app");
    assert_eq!(
        payload["fields"]["client_secret"],
        "Xy7Q~AbCdEfGhIjKlMnOpQrStUvWxYz012345_-."
    );
    assert_eq!(payload["fields"]["cloud"], "commercial");
    assert_eq!(payload["fields"]["secret_expires_on"], expires);
    assert_eq!(payload["note"], "for the SOC");
}

#[tokio::test]
async fn wrong_passphrase_in_the_terminal_never_burns() {
    let app = spawn_app(Backend::Sqlite).await;
    let link = send(&app, &["--passphrase"], "locked", Some("right one")).await;
    assert!(link.contains("#scrypt."), "{link}");
    let wrong = handoff(&["get", &link], "", Some("wrong one")).await;
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("wrong passphrase"),
        "{}",
        text(&wrong.stderr)
    );
    let right = handoff(&["get", &link], "", Some("right one")).await;
    assert!(right.status.success(), "{}", text(&right.stderr));
    assert_eq!(text(&right.stdout), "locked");
}

#[tokio::test]
async fn a_damaged_link_is_explained() {
    let out = handoff(
        &["get", "http://127.0.0.1:9/s/AAAAAAAAAAAAAAAAAAAAAA"],
        "",
        None,
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no key after '#'"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn serve_refuses_a_wrong_configuration_with_a_sentence() {
    for (args, says) in [
        (vec!["--max-expiry", "60d"], "30 days"),
        (
            vec!["--public-url", "https://x.example/sub"],
            "root of a host",
        ),
        (
            vec!["--database-url", "mysql://x"],
            "sqlite: or postgres://",
        ),
    ] {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend(args);
        let out = handoff(&all, "", None).await;
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    }
}
