//! A collector host for tests that run the real `handoff collect`: a
//! directory with the SOC's identity, a `collect` token and a Wazuh
//! manager's ossec.conf.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use super::TestApp;

/// A Wazuh manager's ossec.conf as shipped, trimmed: no Microsoft module yet.
pub const OSSEC: &str = r#"<!--
  Wazuh - Manager - Default configuration
-->
<ossec_config>
  <global>
    <jsonout_output>yes</jsonout_output>
    <alerts_log>yes</alerts_log>
  </global>

  <!-- Keep this comment exactly as it is. -->
  <wodle name="syscollector">
    <disabled>no</disabled>
    <interval>1h</interval>
  </wodle>
</ossec_config>

<ossec_config>
  <localfile>
    <log_format>syslog</log_format>
    <location>/var/ossec/logs/active-responses.log</location>
  </localfile>
</ossec_config>
"#;

/// A collector host: its identity file, token file and configuration.
pub struct Host {
    pub dir: tempfile::TempDir,
    /// Its API token (`collect` scope), also in the file `token`.
    pub token: String,
}

impl Host {
    pub async fn new(app: &TestApp, soc: &age::x25519::Identity) -> Host {
        use age::secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("soc.key"),
            format!("{}\n", soc.to_string().expose_secret()),
        )
        .unwrap();
        let token = super::flow::mint_token(app, "collector", "collect").await;
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, &token).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(dir.path().join("ossec.conf"), OSSEC).unwrap();
        Host { dir, token }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn collect(&self, app: &TestApp, extra: &[&str]) -> Output {
        self.command(app, extra).output().await.unwrap()
    }

    /// `handoff collect` for this host into its ossec.conf, plus `extra`.
    pub fn command(&self, app: &TestApp, extra: &[&str]) -> tokio::process::Command {
        let p = |n: &str| self.path(n).display().to_string();
        let mut cmd = self.command_for(app, "wazuh-office365");
        cmd.args([
            "--ossec-conf",
            &p("ossec.conf"),
            "--secrets-dir",
            &p("secrets"),
        ])
        .args(extra);
        cmd
    }

    /// `handoff collect --target TARGET` for this host, its output options
    /// left to the caller.
    pub fn command_for(&self, app: &TestApp, target: &str) -> tokio::process::Command {
        let p = |n: &str| self.path(n).display().to_string();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
        cmd.args([
            "collect",
            "--server",
            &app.base,
            "--token-file",
            &p("token"),
            "--identity",
            &p("soc.key"),
            "--target",
            target,
        ])
        .env_remove("HANDOFF_SERVER");
        cmd
    }
}
