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
