//! `cribl`: one Office 365 Activity Source (`type: office365_mgmt`) per
//! tenant in a Cribl Stream Worker Group, its client secret a stored text
//! secret of the group, created or updated through the Leader's REST API
//! (`--api-url https://cribl-leader:9000/api/v1`), then committed and
//! deployed to the group's Workers.
//!
//! The facts come from Cribl's published API description (the OpenAPI file
//! shipped with criblio/cribl-control-plane-sdk-go,
//! `.speakeasy/out.openapi.yaml`, API 4.18: `InputOffice365Mgmt`,
//! `SubscriptionPlanOptions`, `GitCommitBody`, `DeployRequest`, `LoginInfo`,
//! `AuthToken`), the SDK's `examples/example-stream.go` (a group's
//! resources live under `/m/{group}`, the commit is made there and its id
//! deployed), and, for stored secrets, which that description leaves out,
//! Cribl's Terraform provider (criblio/terraform-provider-criblio,
//! `internal/provider/secret_client.go`, `docs/resources/secret.md`) and the
//! `secrets.yml` reference on docs.cribl.io.
//!
//! **Logging in.** `--api-token-file` holds either a bearer token (an API
//! token, or one Cribl.Cloud issued) sent as `Authorization: Bearer`, or
//! `USER:PASSWORD` of a local Cribl user, told apart by the `:`: then
//! `POST /auth/login {"username", "password"}` answers `{"token"}`, used as
//! the bearer token from then on.
//!
//! **Planning reads before it writes** (everything under `/m/{group}`
//! unless said otherwise; every list answer is `{count, items}`):
//!
//! 1. `GET /products/stream/groups/{group}?fields=git.commit,git.localChanges`
//!    (Leader context): the group exists, and has no uncommitted change. A
//!    group with changes someone has not committed is refused: handoff's
//!    commit would take them along and deploy them. Its last commit
//!    (`git.commit`) differing from the deployed one (`configVersion`), when
//!    there is nothing to write, is deployed: an earlier import whose deploy
//!    failed leaves that, and its retry must finish it.
//! 2. `GET /system/secrets`: the stored secret `handoff_o365_<tenant>_secret`.
//!    Cribl never answers a stored secret's value in clear, so handoff
//!    recognises its own by the secret's description, which names the app,
//!    the expiry and a fingerprint: the first 16 hex digits of SHA-256 over
//!    a fixed label, the tenant, the client ID and the secret (64 bits of a
//!    value derived from a secret of well over 128 bits: it tells the same
//!    secret again, and nothing about it). The same description means the
//!    same secret; nothing is written. Another description (a rotation, or
//!    an operator's edit) rewrites the secret: `PATCH /system/secrets/{id}`
//!    with its whole representation (Cribl's PATCH replaces), tags kept.
//!    Absent, it is created: `POST /system/secrets {id, secretType: "text",
//!    value, description, tags: "handoff"}`.
//! 3. `GET /system/inputs`: the Source `handoff_o365_<tenant>` (the tenant,
//!    not the customer's label, so a renamed customer never makes a
//!    duplicate). Absent, it is created: `POST /system/inputs` with `id`,
//!    `type: office365_mgmt`, `tenantId`, `appId`, `planType`, `authType:
//!    secret`, `textSecret` (the stored secret's id), `contentConfig` (one
//!    `{contentType, interval: 15, logLevel: info, enabled: true}` per
//!    content type of the template), `sendToRoutes: true` and a
//!    description. Present, the fields handoff owns are set on the Source as
//!    Cribl answered it (its runtime `status`, `notifications` and
//!    `criblSourceProvenance` left out, as the API asks) and, if that
//!    changed anything, it is sent whole with `PATCH /system/inputs/{id}`;
//!    content types the operator tuned or disabled stay as they are, missing
//!    ones are added. A rotation leaves the Source as it is.
//!
//! If anything was written: `POST /version/commit {"message"}` (the message
//! names the tenant, never a secret), then `PATCH
//! /products/stream/groups/{group}/deploy {"version"}` (Leader context) with
//! the commit id Cribl answered (`items[0].commit`). Each counts only on a
//! 2xx answer; Cribl's errors are `{"status": "error", "message"}`. An
//! unchanged tenant sends no write, no commit and no deploy.
//!
//! **Single instance.** A Cribl Stream without a Leader has no groups:
//! `--cribl-single-instance` uses the same paths without `/m/{group}`,
//! checks `GET /version/status` for uncommitted files instead of the
//! group, and only commits (a single instance applies its commit itself;
//! there is nothing to deploy).
//!
//! **Clouds** map to the Source's subscription plan: commercial to
//! `enterprise_gcc` (Cribl's "Microsoft 365 Enterprise"), GCC to `gcc`, GCC
//! High to `gcc_high`, DoD to `dod`; China has no plan and is refused.

use reqwest::{Method, Url};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api::{Api, ApiRequest, Auth, Confirm, Fill};
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cloud::Cloud;

/// What it takes from a template's `[collect]` section.
pub(super) const READS: Reads = Reads::ContentTypes;

/// The Source type of Cribl's Office 365 Activity Source.
const SOURCE_TYPE: &str = "office365_mgmt";

/// Minutes between two polls of a content type, for a new content type; 15
/// divides 60, as Cribl requires (the cron schedule is `*/15`).
const INTERVAL_MINUTES: u64 = 15;

/// The deploy body's stand-in for the commit id, until the commit answers.
const COMMIT_PLACEHOLDER: &str = "<the commit id Cribl answers to the commit above>";

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the cribl target needs --api-url: the Cribl Leader's REST API, e.g. https://cribl-leader.example:9000/api/v1".to_owned());
    }
    if args.api_token_file.is_none() {
        return Err("the cribl target needs --api-token-file: a file (mode 0600) holding a Cribl bearer token, or USER:PASSWORD of a Cribl user to log in with".to_owned());
    }
    check_group(&args.cribl_group)
}

/// A Worker Group id as Cribl writes them: letters, digits, `_` and `-`
/// (the id pattern of the API description's named resources).
fn check_group(group: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if group.is_empty() || group.len() > 128 || !group.chars().all(allowed) {
        return Err(format!(
            "--cribl-group {group:?} is not a Cribl Worker Group id (letters, digits, _ and -)"
        ));
    }
    Ok(())
}

/// The Source's id: stable across rotations and renames.
fn source_id(tenant_id: &str) -> String {
    format!("handoff_o365_{tenant_id}")
}

/// The stored secret's id.
fn secret_id(tenant_id: &str) -> String {
    format!("handoff_o365_{tenant_id}_secret")
}

/// 16 hex digits that tell the same secret of the same app again (see the
/// module's documentation).
fn fingerprint(tenant_id: &str, client_id: &str, secret: &str) -> String {
    let mut hash = Sha256::new();
    for part in ["handoff cribl secret", tenant_id, client_id, secret] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Source's subscription plan (`planType`) for the tenant's cloud.
fn plan_type(cloud: Cloud) -> Result<&'static str, TargetError> {
    match cloud {
        Cloud::Commercial => Ok("enterprise_gcc"),
        Cloud::Gcc => Ok("gcc"),
        Cloud::GccHigh => Ok("gcc_high"),
        Cloud::Dod => Ok("dod"),
        Cloud::China => Err(TargetError::Refused(
            "the credential is for a china tenant, and Cribl's Office 365 Activity Source has no subscription plan for Microsoft's cloud in China (only Enterprise, GCC, GCC High and DoD); collect it another way".to_owned(),
        )),
    }
}

/// Where the requests go: the Leader's API, and the group's part of it.
struct Paths {
    /// `--api-url`, without a trailing `/`.
    base: String,
    /// The worker group, `None` for a single instance.
    group: Option<String>,
}

impl Paths {
    /// `path` in the group's context (`{base}/m/{group}/{path}`), or at the
    /// base for a single instance.
    fn scoped(&self, path: &str) -> Result<Url, TargetError> {
        match &self.group {
            Some(g) => self.leader(&format!("m/{g}/{path}")),
            None => self.leader(path),
        }
    }

    /// `path` in the Leader's own context.
    fn leader(&self, path: &str) -> Result<Url, TargetError> {
        let text = format!("{}/{path}", self.base);
        Url::parse(&text).map_err(|e| TargetError::Refused(format!("{text} is not a URL: {e}")))
    }
}

fn request(method: Method, url: Url, body: String, auth: Auth) -> ApiRequest {
    ApiRequest {
        method,
        url,
        headers: vec![("Accept", "application/json".to_owned())],
        content_type: "application/json",
        body,
        auth,
        confirm: Confirm::Status,
        fill: None,
    }
}

/// A GET's `items`, which Cribl answers as `{count, items: [...]}`.
async fn read_items(
    api: &Api,
    url: Url,
    auth: Auth,
    secrets: &[String],
) -> Result<Vec<Value>, TargetError> {
    let get = request(Method::GET, url, String::new(), auth);
    let said = api.send(&get, secrets).await?;
    serde_json::from_str::<Value>(&said)
        .ok()
        .and_then(|v| v.get("items")?.as_array().cloned())
        .ok_or_else(|| {
            let mut shown = get.url.clone();
            shown.set_query(None);
            TargetError::Api(format!(
                "GET {shown} answered no {{count, items}} list: is --api-url the Cribl Leader's API (https://<leader>:9000/api/v1)?"
            ))
        })
}

/// The item whose `id` is `id`.
fn by_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|i| i.get("id").and_then(Value::as_str) == Some(id))
}

/// Logs in if `--api-token-file` holds `USER:PASSWORD`; the [`Auth`] every
/// request then carries.
async fn log_in(api: &Api, paths: &Paths, secrets: &[String]) -> Result<Auth, TargetError> {
    if !api.holds_user_password() {
        return Ok(Auth::Bearer);
    }
    let login = request(
        Method::POST,
        paths.leader("auth/login")?,
        String::new(),
        Auth::JsonLogin,
    );
    let said = api.send(&login, secrets).await?;
    let token = serde_json::from_str::<Value>(&said)
        .ok()
        .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            TargetError::Api(format!(
                "POST {} answered without a token: is --api-url the Cribl Leader's API (https://<leader>:9000/api/v1)?",
                login.url
            ))
        })?;
    api.set_session(token);
    Ok(Auth::Session)
}

/// Refuses a group that does not exist, or that holds changes nobody has
/// committed (handoff's commit would take them along). For a group, the
/// commit it has but has not deployed, if any (`git.commit` differs from
/// `configVersion`): an earlier import whose deploy failed leaves one.
async fn check_clean(
    api: &Api,
    paths: &Paths,
    auth: Auth,
    secrets: &[String],
) -> Result<Option<String>, TargetError> {
    let Some(g) = &paths.group else {
        let items = read_items(api, paths.leader("version/status")?, auth, secrets).await?;
        let files = items
            .first()
            .and_then(|s| s.get("files"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if files > 0 {
            return Err(TargetError::Refused(format!(
                "this Cribl Stream has {files} uncommitted file(s): commit or undo them in Cribl first (handoff's commit would apply them too); nothing was written"
            )));
        }
        return Ok(None);
    };
    let mut url = paths.leader(&format!("products/stream/groups/{g}"))?;
    url.query_pairs_mut()
        .append_pair("fields", "git.commit,git.localChanges");
    let items = read_items(api, url, auth, secrets).await?;
    let Some(group) = by_id(&items, g) else {
        return Err(TargetError::Refused(format!(
            "the Cribl Leader has no Stream Worker Group {g:?}: name an existing one with --cribl-group"
        )));
    };
    let pending = group
        .pointer("/git/localChanges")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if pending > 0 {
        return Err(TargetError::Refused(format!(
            "Cribl Worker Group {g:?} has {pending} uncommitted change(s): commit or undo them in Cribl first (handoff's commit would deploy them too); nothing was written"
        )));
    }
    let committed = group.pointer("/git/commit").and_then(Value::as_str);
    let deployed = group.get("configVersion").and_then(Value::as_str);
    Ok(match (committed, deployed) {
        (Some(c), Some(d)) if c != d => Some(c.to_owned()),
        _ => None,
    })
}

/// The stored secret's write, if it is not the one wanted.
fn secret_write(
    paths: &Paths,
    found: Option<&Value>,
    id: &str,
    value: &str,
    description: &str,
    auth: Auth,
) -> Result<Option<ApiRequest>, TargetError> {
    let Some(current) = found else {
        let body = json!({
            "id": id,
            "secretType": "text",
            "value": value,
            "description": description,
            "tags": "handoff",
        });
        return Ok(Some(request(
            Method::POST,
            paths.scoped("system/secrets")?,
            body.to_string(),
            auth,
        )));
    };
    if current.get("secretType").and_then(Value::as_str) != Some("text") {
        return Err(TargetError::Refused(format!(
            "Cribl already has a stored secret {id:?} that is not a text secret: rename or delete it, then import again; nothing was written"
        )));
    }
    if current.get("readOnly").and_then(Value::as_bool) == Some(true) {
        return Err(TargetError::Refused(format!(
            "Cribl's stored secret {id:?} is read-only (a global secret): handoff cannot update it; nothing was written"
        )));
    }
    if current.get("description").and_then(Value::as_str) == Some(description) {
        return Ok(None);
    }
    let mut body = Map::new();
    body.insert("id".to_owned(), json!(id));
    body.insert("secretType".to_owned(), json!("text"));
    body.insert("value".to_owned(), json!(value));
    body.insert("description".to_owned(), json!(description));
    if let Some(tags) = current.get("tags") {
        body.insert("tags".to_owned(), tags.clone());
    }
    Ok(Some(request(
        Method::PATCH,
        paths.scoped(&format!("system/secrets/{id}"))?,
        Value::Object(body).to_string(),
        auth,
    )))
}

/// The fields handoff owns on the Source, set on `source`; content types
/// already there are left as the operator has them.
fn set_owned(source: &mut Map<String, Value>, wanted: &Map<String, Value>) {
    for (k, v) in wanted {
        if k == "contentConfig" {
            continue;
        }
        source.insert(k.clone(), v.clone());
    }
    // The stored secret replaces a secret typed into the Source.
    source.remove("clientSecret");
    let mut config = source
        .get("contentConfig")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for entry in wanted
        .get("contentConfig")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let has = config
            .iter()
            .any(|c| c.get("contentType") == entry.get("contentType"));
        if !has {
            config.push(entry.clone());
        }
    }
    source.insert("contentConfig".to_owned(), Value::Array(config));
}

/// The Source's write, if it is not as wanted.
fn source_write(
    paths: &Paths,
    found: Option<&Value>,
    id: &str,
    wanted: Map<String, Value>,
    description: String,
    auth: Auth,
) -> Result<Option<ApiRequest>, TargetError> {
    let Some(current) = found else {
        let mut body = Map::new();
        body.insert("id".to_owned(), json!(id));
        body.insert("type".to_owned(), json!(SOURCE_TYPE));
        body.insert("disabled".to_owned(), json!(false));
        body.insert("sendToRoutes".to_owned(), json!(true));
        body.insert("description".to_owned(), json!(description));
        body.extend(wanted);
        return Ok(Some(request(
            Method::POST,
            paths.scoped("system/inputs")?,
            Value::Object(body).to_string(),
            auth,
        )));
    };
    let kind = current.get("type").and_then(Value::as_str).unwrap_or("?");
    if kind != SOURCE_TYPE {
        return Err(TargetError::Refused(format!(
            "Cribl already has a Source {id:?} of type {kind}, not an Office 365 Activity Source: rename or delete it, then import again; nothing was written"
        )));
    }
    let Some(current) = current.as_object() else {
        return Err(TargetError::Api(format!(
            "Cribl answered the Source {id:?} as something other than an object"
        )));
    };
    let mut before = current.clone();
    // Runtime fields of the answer, which a PATCH must not carry.
    for field in ["status", "notifications", "criblSourceProvenance"] {
        before.remove(field);
    }
    let mut after = before.clone();
    set_owned(&mut after, &wanted);
    if after == before {
        return Ok(None);
    }
    Ok(Some(request(
        Method::PATCH,
        paths.scoped(&format!("system/inputs/{id}"))?,
        Value::Object(after).to_string(),
        auth,
    )))
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone()];
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the cribl target needs --api-url".to_owned()))?;
    check_group(&args.cribl_group).map_err(TargetError::Refused)?;
    let tenant = cred.tenant_id.as_str();
    if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(TargetError::Refused(format!(
            "the tenant ID {tenant:?} cannot name a Cribl Source (letters, digits and - only)"
        )));
    }
    let plan_type = plan_type(cred.cloud)?;
    let content_types = &import.integration.collect.content_types;
    if content_types.is_empty() {
        return Err(TargetError::Refused(format!(
            "the template {:?} lists no content types for the Office 365 Activity Source",
            import.integration.id
        )));
    }
    let paths = Paths {
        base: base.trim_end_matches('/').to_owned(),
        group: (!args.cribl_single_instance).then(|| args.cribl_group.clone()),
    };

    let auth = log_in(api, &paths, &secrets).await?;
    let undeployed = check_clean(api, &paths, auth, &secrets).await?;
    let stored = read_items(api, paths.scoped("system/secrets")?, auth, &secrets).await?;
    let inputs = read_items(api, paths.scoped("system/inputs")?, auth, &secrets).await?;

    let secret = secret_id(tenant);
    let source = source_id(tenant);
    let expiry = cred.secret_expires_on.as_deref().unwrap_or("on an unknown date");
    let secret_description = format!(
        "Client secret of Entra app {} for tenant {tenant}, expires {expiry}; written by handoff (fingerprint {})",
        cred.client_id,
        fingerprint(tenant, &cred.client_id, &cred.client_secret)
    );
    let mut wanted = Map::new();
    wanted.insert("tenantId".to_owned(), json!(tenant));
    wanted.insert("appId".to_owned(), json!(cred.client_id));
    wanted.insert("planType".to_owned(), json!(plan_type));
    wanted.insert("authType".to_owned(), json!("secret"));
    wanted.insert("textSecret".to_owned(), json!(secret));
    let config: Vec<Value> = content_types
        .iter()
        .map(|t| {
            json!({"contentType": t, "interval": INTERVAL_MINUTES, "logLevel": "info", "enabled": true})
        })
        .collect();
    wanted.insert("contentConfig".to_owned(), Value::Array(config));
    let source_description = format!(
        "Office 365 audit log of {} (tenant {tenant}); created by handoff, request {}",
        import.customer, import.request_id
    );

    let mut requests = Vec::new();
    let mut notes = Vec::new();
    let where_ = match &paths.group {
        Some(g) => format!("Worker Group {g}"),
        None => "this single instance".to_owned(),
    };
    if let Some(write) = secret_write(
        &paths,
        by_id(&stored, &secret),
        &secret,
        &cred.client_secret,
        &secret_description,
        auth,
    )? {
        notes.push(format!(
            "the client secret is the stored text secret {secret} of {where_} ({})",
            if write.method == Method::POST {
                "created"
            } else {
                "its value replaced"
            }
        ));
        requests.push(write);
    }
    if let Some(write) = source_write(
        &paths,
        by_id(&inputs, &source),
        &source,
        wanted,
        source_description,
        auth,
    )? {
        notes.push(format!(
            "the Office 365 Activity Source {source} of {where_} is {}; it appears under Data > Sources > Office 365 Activity",
            if write.method == Method::POST {
                "created and enabled"
            } else {
                "updated"
            }
        ));
        requests.push(write);
    }
    if requests.is_empty() {
        // Nothing to write, but a commit an earlier deploy did not reach:
        // deploy it, so that the import is whole before it is acknowledged.
        return match (&paths.group, undeployed) {
            (Some(g), Some(version)) => {
                let deploy = request(
                    Method::PATCH,
                    paths.leader(&format!("products/stream/groups/{g}/deploy"))?,
                    json!({ "version": version }).to_string(),
                    auth,
                );
                let note = format!(
                    "the Source and the secret are as wanted, but Worker Group {g} has commit {version} not deployed (an earlier deploy may have failed): it is deployed"
                );
                Ok(Plan::with_requests(vec![deploy], vec![note], cred))
            }
            _ => Ok(Plan::with_requests(Vec::new(), Vec::new(), cred)),
        };
    }

    let message = format!("handoff: Office 365 Activity Source for tenant {tenant}");
    requests.push(request(
        Method::POST,
        paths.scoped("version/commit")?,
        json!({ "message": message }).to_string(),
        auth,
    ));
    match &paths.group {
        Some(g) => {
            let mut deploy = request(
                Method::PATCH,
                paths.leader(&format!("products/stream/groups/{g}/deploy"))?,
                json!({ "version": COMMIT_PLACEHOLDER }).to_string(),
                auth,
            );
            deploy.fill = Some(Fill {
                placeholder: COMMIT_PLACEHOLDER,
                pointer: "/items/0/commit",
            });
            requests.push(deploy);
            notes.push(format!(
                "the change is committed ({message:?}) and deployed to Worker Group {g}; its Workers start polling once they have the new version"
            ));
        }
        None => notes.push(format!(
            "the change is committed ({message:?}); a single instance applies its commit itself"
        )),
    }
    notes.push(
        "Cribl does not start the Management Activity API subscriptions: start them for the tenant once (POST /subscriptions/start for each content type) if nothing else has"
            .to_owned(),
    );
    Ok(Plan::with_requests(requests, notes, cred))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_map_to_subscription_plans_and_china_is_refused() {
        assert_eq!(plan_type(Cloud::Commercial).unwrap(), "enterprise_gcc");
        assert_eq!(plan_type(Cloud::Gcc).unwrap(), "gcc");
        assert_eq!(plan_type(Cloud::GccHigh).unwrap(), "gcc_high");
        assert_eq!(plan_type(Cloud::Dod).unwrap(), "dod");
        let err = plan_type(Cloud::China).unwrap_err().to_string();
        assert!(err.contains("no subscription plan"), "{err}");
    }

    #[test]
    fn group_ids_are_cribls() {
        for ok in ["default", "o365-collectors", "eu_west2"] {
            assert_eq!(check_group(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a/b", "a b", "../x", "g.1"] {
            assert!(check_group(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_fingerprint_tells_the_same_secret_and_nothing_of_it() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let a = fingerprint(t, "app", "secret-one");
        assert_eq!(a.len(), 16);
        assert_eq!(a, fingerprint(t, "app", "secret-one"));
        assert_ne!(a, fingerprint(t, "app", "secret-two"));
        assert_ne!(a, fingerprint(t, "other-app", "secret-one"));
        assert!(!a.contains("secret"));
    }

    #[test]
    fn an_operators_content_types_stay_and_missing_ones_are_added() {
        let mut source = json!({
            "id": "s", "type": "office365_mgmt", "pipeline": "o365_tuned",
            "clientSecret": "old", "authType": "manual",
            "contentConfig": [
                {"contentType": "Audit.Exchange", "interval": 60, "logLevel": "warn", "enabled": false}
            ]
        })
        .as_object()
        .cloned()
        .unwrap();
        let wanted = json!({
            "authType": "secret", "textSecret": "x",
            "contentConfig": [
                {"contentType": "Audit.Exchange", "interval": 15, "logLevel": "info", "enabled": true},
                {"contentType": "DLP.All", "interval": 15, "logLevel": "info", "enabled": true}
            ]
        })
        .as_object()
        .cloned()
        .unwrap();
        set_owned(&mut source, &wanted);
        assert_eq!(
            Value::Object(source),
            json!({
                "id": "s", "type": "office365_mgmt", "pipeline": "o365_tuned",
                "authType": "secret", "textSecret": "x",
                "contentConfig": [
                    {"contentType": "Audit.Exchange", "interval": 60, "logLevel": "warn", "enabled": false},
                    {"contentType": "DLP.All", "interval": 15, "logLevel": "info", "enabled": true}
                ]
            })
        );
    }
}
