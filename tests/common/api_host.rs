//! A collector host for an API target (`http`, `wazuh-api`, `qradar`): a
//! folder holding the SOC's identity, the collector's own token and the
//! collector API's secret (`--api-token-file`), each mode 0600, and the
//! `handoff collect` command line that uses them.

use std::os::unix::fs::PermissionsExt;

use super::TestApp;

pub struct ApiHost {
    dir: tempfile::TempDir,
    /// The collector's API token for handoff's inbox.
    pub token: String,
    target: &'static str,
}

impl ApiHost {
    /// A host for `target` whose `--api-token-file` holds `api_secret`.
    pub async fn new(
        app: &TestApp,
        soc: &age::x25519::Identity,
        target: &'static str,
        api_secret: &str,
    ) -> ApiHost {
        use age::secrecy::ExposeSecret;
        let host = ApiHost {
            dir: tempfile::tempdir().unwrap(),
            token: super::flow::mint_token(app, "collector", "collect").await,
            target,
        };
        host.write("soc.key", &format!("{}\n", soc.to_string().expose_secret()));
        host.write("token", &host.token.clone());
        host.set_api_secret(api_secret);
        host
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Writes `name` in the host's folder, mode 0600.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// What `--api-token-file` holds from now on (a line of its own).
    pub fn set_api_secret(&self, secret: &str) {
        self.write("api-secret", &format!("{secret}\n"));
    }

    /// `handoff collect --target TARGET --api-url api_url` with this host's
    /// files; the caller adds the target's own options.
    pub fn command(&self, app: &TestApp, api_url: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.args([
            "collect",
            "--server",
            &app.base,
            "--token-file",
            &self.path("token"),
            "--identity",
            &self.path("soc.key"),
            "--target",
            self.target,
            "--api-url",
            api_url,
            "--api-token-file",
            &self.path("api-secret"),
        ])
        .env_remove("HANDOFF_SERVER");
        cmd
    }
}

/// What a refused import leaves, for every API target: a non-zero exit,
/// `FAILED Contoso` and each of `words` in the collector's output, nothing
/// acknowledged, the lease released with the same words as its reason in
/// the PM's trail, and none of `hidden` (the client secret, the API's token
/// or password) in either.
pub async fn assert_refused(
    app: &TestApp,
    out: &std::process::Output,
    request_id: &str,
    words: &[&str],
    hidden: &[&str],
) {
    assert!(!out.status.success(), "a refusal makes the exit non-zero");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("FAILED Contoso"), "{said}");
    for w in words {
        assert!(said.contains(w), "{w:?} in {said}");
    }
    for h in hidden {
        assert!(!said.contains(h), "{said}");
    }
    let req = app.store.request(request_id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
    let kinds = super::flow::event_kinds(&app.store, request_id).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("request.released"),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "request.imported"), "{kinds:?}");
    let events = app.store.request_events(request_id).await.unwrap();
    let detail: serde_json::Value = serde_json::from_str(&events.last().unwrap().detail).unwrap();
    let reason = detail["reason"].as_str().unwrap_or_default();
    for w in words {
        assert!(reason.contains(w), "{w:?} in the trail's {reason:?}");
    }
    for h in hidden {
        assert!(!reason.contains(h), "{reason}");
    }
}

/// A successful `handoff collect` run's output, after checking that none of
/// `hidden` (secrets, tokens, passwords) is in it.
pub fn assert_success(out: &std::process::Output, hidden: &[&str]) -> String {
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}\n{err}");
    for h in hidden {
        assert!(!said.contains(h) && !err.contains(h), "{said}");
    }
    said
}
