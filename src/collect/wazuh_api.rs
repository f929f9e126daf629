//! `wazuh-api`: the tenant's `<api_auth>` in the one `<office365>` block of a
//! Wazuh manager's ossec.conf, or of a group's agent.conf, through the Wazuh
//! server API, for managers handoff cannot write locally (containers,
//! clusters).
//!
//! Planning reads before it sends (wazuh/wazuh `api/api/spec/spec.yaml`):
//! `POST /security/user/authenticate` with basic auth (the API user and
//! password of `--api-token-file`, `USER:PASSWORD`) answers a JWT in
//! `data.token`, used as a bearer token from then on; then the current file,
//! `GET /manager/configuration?raw=true` (4.x; `manager:read`) or `GET
//! /groups/{group}/files/agent.conf?raw=true` (`group:read`; `GET
//! /groups/{group}/configuration` answers the file parsed into JSON, with
//! its comments lost, so the file itself is read). The tenant is merged in
//! by the local target's own merge ([`super::wazuh_office365::merge`]),
//! every other byte kept, the secret inline: handoff cannot write a secret
//! file on the manager through the API, and a group's file reaches agents
//! that would each need it.
//!
//! An unchanged file sends nothing. Otherwise the plan is `PUT
//! /manager/configuration` (`application/octet-stream`; the manager
//! validates the file and keeps the old one if it fails;
//! `manager:update_config`) then `PUT /manager/restart` (`manager:restart`),
//! or `PUT /groups/{group}/configuration` (`application/xml`;
//! `group:update_config`). Each counts as done only on a 2xx answer whose
//! envelope says `"error": 0`: Wazuh answers 200 with `"error": 1` and the
//! reason in `data.failed_items` when the node refused the change.
//!
//! The manager is restarted by default, as the SOC's own provisioning does:
//! a credential handed over is expected to be collected, and the manager
//! has just validated the file it will load. `--wazuh-no-restart` leaves the
//! restart to the operator (a change window, a cluster restarted by hand)
//! and says so in a note.

use std::path::Path;

use reqwest::{Method, Url};

use super::api::{Api, ApiRequest, Auth, Confirm};
use super::ossec_conf::{Role, WazuhConf};
use super::wazuh_office365::{Merged, SecretAt, merge};
use super::{Import, Plan, Reads, TargetArgs, TargetError};

/// What it takes from a template's `[collect]` section.
pub(super) const READS: Reads = Reads::ContentTypes;

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the wazuh-api target needs --api-url: the Wazuh server API, e.g. https://wazuh-manager.example:55000".to_owned());
    }
    let Some(file) = &args.api_token_file else {
        return Err("the wazuh-api target needs --api-token-file: a file (mode 0600) holding the Wazuh API user and password as USER:PASSWORD".to_owned());
    };
    // An unreadable file is reported when the client is built.
    if std::fs::read_to_string(file).is_ok_and(|t| !t.trim().contains(':')) {
        return Err(format!(
            "--api-token-file {} must hold the Wazuh API user and its password as USER:PASSWORD on one line",
            file.display()
        ));
    }
    if let Some(group) = &args.wazuh_group {
        check_group(group)?;
    }
    Ok(())
}

/// A group name as Wazuh takes one: letters, digits, `_`, `-` and `.`, at
/// most 128 characters, not `.` or `..` (wazuh/wazuh `api/api/spec/spec.yaml`,
/// the `group_id` parameter's pattern).
fn check_group(group: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
    if group.is_empty()
        || group.len() > 128
        || group == "."
        || group == ".."
        || !group.chars().all(allowed)
    {
        return Err(format!(
            "--wazuh-group {group:?} is not a Wazuh group name (letters, digits, _, - and ., at most 128)"
        ));
    }
    Ok(())
}

/// `path` (and query) under the API's base URL.
fn endpoint(base: &str, path: &str) -> Result<Url, TargetError> {
    let text = format!("{}/{path}", base.trim_end_matches('/'));
    Url::parse(&text).map_err(|e| TargetError::Refused(format!("{text} is not a URL: {e}")))
}

fn request(method: Method, url: Url, auth: Auth) -> ApiRequest {
    ApiRequest {
        method,
        url,
        headers: Vec::new(),
        content_type: "application/json",
        body: String::new(),
        auth,
        confirm: Confirm::WazuhEnvelope,
        fill: None,
    }
}

/// The configuration the Wazuh server API serves (the manager's ossec.conf,
/// or `--wazuh-group`'s agent.conf), read after a login, and where a change
/// to it goes.
struct Served<'a> {
    conf: WazuhConf,
    /// The file as served.
    current: String,
    write_url: Url,
    content_type: &'static str,
    /// How messages name the file.
    label: String,
    /// `--api-url`.
    base: &'a str,
}

/// Logs in and reads the configuration the import goes into; `secrets` are
/// masked in whatever the API answers.
async fn serve<'a>(
    args: &'a TargetArgs,
    api: &Api,
    secrets: &[String],
) -> Result<Served<'a>, TargetError> {
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the wazuh-api target needs --api-url".to_owned()))?;
    let login = request(
        Method::POST,
        endpoint(base, "security/user/authenticate")?,
        Auth::Basic,
    );
    let said = api.send(&login, secrets).await?;
    let token = serde_json::from_str::<serde_json::Value>(&said)
        .ok()
        .and_then(|v| v.pointer("/data/token")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            TargetError::Api(format!(
                "POST {} answered without a token (data.token): is --api-url the Wazuh server API (port 55000)?",
                login.url
            ))
        })?;
    api.set_session(token);

    let group = args.wazuh_group.as_deref();
    if let Some(g) = group {
        check_group(g).map_err(TargetError::Refused)?;
    }
    let (read, write, content_type, role) = match group {
        None => (
            "manager/configuration?raw=true".to_owned(),
            "manager/configuration".to_owned(),
            "application/octet-stream",
            Role::Manager,
        ),
        Some(g) => (
            format!("groups/{g}/files/agent.conf?raw=true"),
            format!("groups/{g}/configuration"),
            "application/xml",
            Role::Group,
        ),
    };
    let mut get = request(Method::GET, endpoint(base, &read)?, Auth::Session);
    // A file read with raw=true is the file itself, no envelope.
    get.confirm = Confirm::Status;
    let current = api.send(&get, secrets).await?;
    let write_url = endpoint(base, &write)?;
    // What is said about the file names it by its URL; a group's file sits
    // in a directory named after the group, as on the manager's disk.
    let label = match group {
        None => write_url.to_string(),
        Some(g) => format!("{base}/groups/{g}/agent.conf"),
    };
    let conf = WazuhConf::from_text(Path::new(&label), current.clone())?;
    if conf.role != role {
        return Err(TargetError::Refused(match group {
            None => format!(
                "GET {} answered a configuration that is not a Wazuh 4.x manager's ossec.conf; a 5.x manager no longer runs the office365 module, so import into an agent group's agent.conf with --wazuh-group",
                get.url
            ),
            Some(g) => format!(
                "GET {} answered no <agent_config> file for group {g}",
                get.url
            ),
        }));
    }
    Ok(Served {
        conf,
        current,
        write_url,
        content_type,
        label,
        base,
    })
}

/// The configuration as the Wazuh server API serves it, for a re-check.
pub(super) async fn read_conf(
    args: &TargetArgs,
    api: &Api,
    secrets: &[String],
) -> Result<WazuhConf, TargetError> {
    Ok(serve(args, api, secrets).await?.conf)
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone()];
    let Served {
        conf,
        current,
        write_url,
        content_type,
        label,
        base,
    } = serve(args, api, &secrets).await?;
    let group = args.wazuh_group.as_deref();
    let Merged {
        edits, mut notes, ..
    } = merge(&conf, import, SecretAt::Inline)?;
    let after = conf.splice(edits);
    conf.check_after(&after)?;
    let body = String::from_utf8_lossy(&conf.bytes(&after)).into_owned();
    if body == current {
        return Ok(Plan::with_requests(Vec::new(), notes, cred));
    }

    let mut put = request(Method::PUT, write_url, Auth::Session);
    put.content_type = content_type;
    put.body = body;
    let mut requests = vec![put];
    match group {
        None => {
            notes.push(format!(
                "the client secret is inline in the manager's ossec.conf ({label}): through the API handoff cannot write a <client_secret_path> file on the manager"
            ));
            if args.wazuh_no_restart {
                notes.push(
                    "the manager was not restarted (--wazuh-no-restart): restart it to load the change (PUT /manager/restart, Restart manager in the dashboard's Server management, or systemctl restart wazuh-manager on its host)"
                        .to_owned(),
                );
            } else {
                requests.push(request(
                    Method::PUT,
                    endpoint(base, "manager/restart")?,
                    Auth::Session,
                ));
                notes.push(
                    "the manager restarts to load the change (PUT /manager/restart)".to_owned(),
                );
            }
        }
        Some(g) => notes.push(format!(
            "the client secret is inline in group {g}'s agent.conf (a <client_secret_path> would have to exist on every agent); the manager sends the file to the group's agents, which restart themselves to load it"
        )),
    }
    Ok(Plan::with_requests(requests, notes, cred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_wazuhs() {
        for ok in ["default", "o365-collectors", "eu_west.2"] {
            assert_eq!(check_group(ok), Ok(()), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "../etc", &"g".repeat(129)] {
            assert!(check_group(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_api_user_and_password_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        let err = check_args(&args, true).unwrap_err();
        assert!(err.contains("needs --api-url"), "{err}");
        args.api_url = Some("https://wazuh.example:55000".to_owned());
        let err = check_args(&args, true).unwrap_err();
        assert!(err.contains("needs --api-token-file"), "{err}");
        let file = dir.path().join("wazuh-api");
        std::fs::write(&file, "just-a-token\n").unwrap();
        args.api_token_file = Some(file.clone());
        let err = check_args(&args, false).unwrap_err();
        assert!(err.contains("as USER:PASSWORD"), "{err}");
        std::fs::write(&file, "handoff:pass:word\n").unwrap();
        assert_eq!(check_args(&args, false), Ok(()));
        args.wazuh_group = Some("../etc".to_owned());
        let err = check_args(&args, false).unwrap_err();
        assert!(err.contains("is not a Wazuh group name"), "{err}");
    }

    #[test]
    fn urls_are_under_the_api_base() {
        assert_eq!(
            endpoint("https://wazuh.example:55000/", "manager/configuration?raw=true")
                .unwrap()
                .as_str(),
            "https://wazuh.example:55000/manager/configuration?raw=true"
        );
    }
}
