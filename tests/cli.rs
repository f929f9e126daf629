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
    assert!(
        err.contains("error: client_secret: This is the Secret ID"),
        "{err}"
    );
    assert!(
        err.contains("warning: secret_expires_on: This secret is valid for more than 24 months"),
        "the far-future date is pointed out, as a warning: {err}"
    );
    assert!(!err.contains("error: secret_expires_on"), "{err}");
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

/// Today's date `months` later (the 28th when the day does not exist there), as `YYYY-MM-DD`.
fn months_ahead(months: i32) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let total = today.year() * 12 + i32::from(u8::from(today.month())) - 1 + months;
    let month = time::Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap();
    let date =
        time::Date::from_calendar_date(total.div_euclid(12), month, today.day().min(28)).unwrap();
    date.to_string()
}

/// The lines of `send`'s stderr that report a check's finding.
fn findings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning: ") || l.starts_with("error: "))
        .collect()
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";

#[tokio::test]
async fn a_secret_valid_for_more_than_24_months_is_sent_with_a_warning() {
    let app = spawn_app(Backend::Sqlite).await;

    // `az ad app credential reset --years 3`, entered field by field.
    let three_years = months_ahead(36);
    let fields = [
        format!("tenant_id={TENANT}"),
        format!("client_id={CLIENT}"),
        format!("client_secret={SECRET}"),
        format!("secret_expires_on={three_years}"),
    ];
    let mut args = vec!["send", "--server", &app.base];
    for f in &fields {
        args.extend(["--field", f.as_str()]);
    }
    let out = handoff(&args, "", None).await;
    let err = text(&out.stderr);
    assert!(out.status.success(), "a 36-month expiry was refused: {err}");
    assert_eq!(
        findings(&err),
        [
            "warning: secret_expires_on: This secret is valid for more than 24 months. That is accepted \
          (az, PowerShell and Graph allow it; the portal offers at most 24), but Microsoft recommends \
          secrets that expire in under 12 months; check the date in the Expires column."
        ]
    );
    let link = text(&out.stdout).trim().to_owned();
    let got = handoff(&["get", "--json", &link], "", None).await;
    assert!(got.status.success(), "{}", text(&got.stderr));
    let payload: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(payload["fields"]["secret_expires_on"], three_years);

    // The old portal's "never", with the rest from the Azure CLI's JSON.
    let az = format!(r#"{{"appId": "{CLIENT}", "password": "{SECRET}", "tenant": "{TENANT}"}}"#);
    let out = handoff(
        &[
            "send",
            "--server",
            &app.base,
            "--template",
            "entra-app",
            "--field",
            "secret_expires_on=2299-12-31",
        ],
        &az,
        None,
    )
    .await;
    let err = text(&out.stderr);
    assert!(out.status.success(), "2299-12-31 was refused: {err}");
    assert_eq!(
        findings(&err),
        [
            "warning: secret_expires_on: 2299-12-31 means this secret never expires (it is the date \
          Entra ID records for no end date). That is accepted, but Microsoft recommends secrets that \
          expire in under 12 months; consider replacing it with one that does."
        ]
    );
    // Whoever reads it with `handoff get` is told what the date means.
    let link = text(&out.stdout).trim().to_owned();
    let got = handoff(&["get", &link], "", None).await;
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert!(
        text(&got.stdout).contains("secret_expires_on: 2299-12-31\n"),
        "{}",
        text(&got.stdout)
    );
    assert!(
        text(&got.stderr)
            .contains("note: secret_expires_on: 2299-12-31 means this secret never expires"),
        "{}",
        text(&got.stderr)
    );
}

#[tokio::test]
async fn one_line_from_echo_is_sent_without_its_line_break() {
    let app = spawn_app(Backend::Sqlite).await;
    for (stdin, extra, sent) in [
        ("secret\n", &[][..], "secret"),
        ("secret\r\n", &[][..], "secret"),
        ("secret\n", &["--raw"][..], "secret\n"),
        (
            "first line\nsecond line\n",
            &[][..],
            "first line\nsecond line\n",
        ),
    ] {
        let link = send(&app, extra, stdin, None).await;
        let out = handoff(&["get", &link], "", None).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), sent, "stdin {stdin:?} with {extra:?}");
    }

    // A lone line break is nothing to send, rather than an empty secret.
    let before = common::count_secrets(&app.store).await;
    let out = handoff(&["send", "--server", &app.base], "\n", None).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing to send"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(common::count_secrets(&app.store).await, before);
}

#[tokio::test]
async fn wrong_passphrase_in_the_terminal_never_burns() {
    let app = spawn_app(Backend::Sqlite).await;
    let link = send(&app, &["--passphrase"], "locked", Some("right one")).await;
    assert!(link.contains("#p1."), "{link}");
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

/// The collector sends its API token with every request: never in clear
/// text to another machine. Refused before any file is read.
#[tokio::test]
async fn collect_refuses_a_plain_http_server_on_another_machine() {
    let common = [
        "--token-file",
        "/nonexistent/token",
        "--identity",
        "/nonexistent/key",
        "--target",
        "env",
        "--dry-run",
    ];
    for (server, says) in [
        (
            "http://handoff.soc.example",
            "would send the collector's API token unencrypted",
        ),
        ("ftp://handoff.soc.example", "must be https://"),
        ("handoff.soc.example", "is not a URL"),
    ] {
        let mut all = vec!["collect", "--server", server];
        all.extend(common);
        let out = handoff(&all, "", None).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{server}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{server}: {}",
            text(&out.stderr)
        );
    }
    // On this machine plain HTTP is fine: the refusal is then about the files.
    let mut all = vec!["collect", "--server", "http://localhost:1"];
    all.extend(common);
    let out = handoff(&all, "", None).await;
    assert!(
        !text(&out.stderr).contains("unencrypted"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("token"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn keygen_writes_a_private_identity_and_prints_its_recipient() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soc.key");
    let p = path.to_str().unwrap();
    let out = handoff(&["keygen", "--output", p], "", None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recipient = text(&out.stdout).trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // The file is what `age -i` reads, and its key matches the printed recipient.
    let file = std::fs::read_to_string(&path).unwrap();
    let identities = age::IdentityFile::from_buffer(file.as_bytes()).unwrap();
    assert_eq!(identities.into_identities().unwrap().len(), 1);
    assert!(file.contains(&format!("# public key: {recipient}")));
    let key_line = file
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    let identity: age::x25519::Identity = key_line.parse().unwrap();
    assert_eq!(identity.to_public().to_string(), recipient);
    // Never overwritten.
    let again = handoff(&["keygen", "--output", p], "", None).await;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("must not exist"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), file);
}

#[tokio::test]
async fn audit_verify_and_export_read_the_trail() {
    use handoff::audit::{Actor, Kind, NewEvent};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("h.db").display());
    let store = handoff::store::Store::connect(&url).await.unwrap();
    for i in 0..3 {
        let e = NewEvent::new(Kind::RequestOpened, Actor::Anonymous).request(&format!("r{i}"));
        store.append_event(&e, common::T0 + i).await.unwrap();
    }
    let out = handoff(&["audit", "verify", "--database-url", &url], "", None).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("3 events"),
        "{}",
        text(&out.stdout)
    );

    let out = handoff(&["audit", "export", "--database-url", &url], "", None).await;
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["seq"], 2);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    assert_eq!(lines[2]["kind"], "request.opened");

    if let handoff::store::Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) = &store {
        // A connection that may write: the pool's only read.
        let mut c = common::writable(p).await;
        sqlx::query("DROP TRIGGER events_no_update")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE events SET actor = 'staff:mallory' WHERE seq = 2")
            .execute(&mut c)
            .await
            .unwrap();
    }
    store.close().await;
    let out = handoff(&["audit", "verify", "--database-url", &url], "", None).await;
    assert!(!out.status.success(), "a tampered trail fails verification");
    assert!(
        text(&out.stderr).contains("event 2"),
        "{}",
        text(&out.stderr)
    );
}
