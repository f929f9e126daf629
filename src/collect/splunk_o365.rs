//! `splunk-o365`: the tenant and its Management Activity inputs in the
//! Splunk Add-on for Microsoft Office 365 (app `splunk_ta_o365`), through
//! splunkd's REST API on the management port (`--api-url
//! https://splunk.example:8089`).
//!
//! What the add-on offers and how it answers was read from its own files
//! (Splunk-licensed; read, not copied): `default/restmap.conf` (the REST
//! handlers `splunk_ta_o365_tenants` and `splunk_ta_o365_mgmt_activity`
//! under `/servicesNS/nobody/splunk_ta_o365/`),
//! `bin/splunk_ta_o365_rh_tenants.py` (the tenant's fields; the handler
//! asks Microsoft for a token with the credential before it saves a create
//! or an edit, and answers Microsoft's `error_description` when that
//! fails), `bin/splunk_ta_o365_rh_management_activity.py` (the input's
//! fields), `default/splunk_ta_o365_endpoints.conf` (the clouds) and
//! `appserver/static/js/build/globalConfig.json` (names: letters, digits
//! and `_`, a tenant's under 995 characters); and from the add-on
//! framework it is built on (splunk/addonfactory-ucc-library,
//! `splunktaucclib/rest_handler/admin_external.py`): an edit's payload
//! holds only the fields sent, and a list with `--cred--=1` answers the
//! stored secrets in clear to a user allowed to read them.
//!
//! Authentication: `--api-token-file` holds a Splunk authentication token,
//! sent as `Authorization: Bearer <token>`, or `USER:PASSWORD` of a Splunk
//! user, which logs in first (`POST /services/auth/login`, answered
//! `{"sessionKey": ...}`) and sends `Authorization: Splunk <session key>`.
//!
//! Planning reads, under `/servicesNS/nobody/splunk_ta_o365/`, always with
//! `output_mode=json` (splunkd answers `{"entry": [{"name", "content":
//! {...}}]}`, errors as `{"messages": [{"type", "text"}]}`):
//!
//! 1. `GET splunk_ta_o365_tenants?count=0`: the tenants; the one handoff
//!    manages is named `handoff_<tenant id with _ for ->`, from the tenant
//!    alone so that renaming a customer never makes a second one. splunkd
//!    shows its `client_secret` as `********`.
//! 2. If it exists, `GET splunk_ta_o365_tenants/<name>?--cred--=1`: the
//!    same tenant with its secret in clear, to compare with the credential.
//!    A user without the `list_storage_passwords` capability is refused
//!    this read (or shown stars again); then handoff cannot prove the
//!    stored secret is the same and sends it again (see below).
//! 3. `GET splunk_ta_o365_mgmt_activity?count=0`: the Management Activity
//!    inputs (`splunk_ta_o365_management_activity://<name>` in
//!    inputs.conf).
//!
//! Then, the tenant: absent, `POST splunk_ta_o365_tenants` (form-encoded:
//! `name`, `endpoint`, `tenant_id`, `client_id`, `auth_type=secret_based`,
//! `client_secret`). Present with every field and the secret as wanted,
//! nothing. Otherwise `POST splunk_ta_o365_tenants/<name>` with the same
//! fields and `change_client_secret=1` and the secret (a rotation, or a
//! secret handoff could not read back), or `change_client_secret=0` and an
//! empty secret (the secret is the same, another field is not); the edit
//! also says `change_cert_creds=0` and `change_cas_secret=0` with their
//! empty fields, as the add-on's own form does, so that the certificate and
//! the Cloud App Security token are kept. The add-on tries the credential
//! against Microsoft before saving either: a refusal comes back in its
//! words and nothing is saved.
//!
//! An input per content type of the template: one that already reads this
//! tenant's content type, whoever made it, is left as it is; a missing one
//! is created, `POST splunk_ta_o365_mgmt_activity` with `name`
//! (`handoff_<tenant id>_<content type with _ for .>`), `tenant_name`,
//! `content_type`, `index` (`--splunk-index`) and `interval`
//! (`--splunk-interval`). Inputs and tenants of other tenants are never
//! read beyond the list, nor written.
//!
//! Clouds: commercial is the add-on's `Worldwide` endpoint, GCC
//! `USGovGCC`, GCC High `USGovGCCHigh`. The add-on has no endpoint for DoD
//! or China: such a credential is refused before anything is sent.

use reqwest::{Method, Url};
use serde_json::Value;

use super::api::{Api, ApiRequest, Auth, Confirm, FORM, form_body, form_encode};
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cloud::Cloud;

/// What it takes from a template's `[collect]` section: one input each.
pub(super) const READS: Reads = Reads::ContentTypes;

/// The add-on's app name, the namespace of its REST handlers.
const APP: &str = "splunk_ta_o365";
/// The REST handler of the add-on's tenants (`restmap.conf`).
const TENANTS: &str = "splunk_ta_o365_tenants";
/// The REST handler of its Management Activity inputs (`restmap.conf`).
const INPUTS: &str = "splunk_ta_o365_mgmt_activity";
/// What splunkd shows for an encrypted field.
const HIDDEN: &str = "********";

/// The content types the add-on's Management Activity input offers
/// (`README/inputs.conf.spec`).
const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

pub(super) fn check_args(args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    if args.api_url.is_none() {
        return Err("the splunk-o365 target needs --api-url: splunkd's management port, e.g. https://splunk.example:8089".to_owned());
    }
    if args.api_token_file.is_none() {
        return Err("the splunk-o365 target needs --api-token-file: a file (mode 0600) holding a Splunk authentication token, or USER:PASSWORD of a Splunk user".to_owned());
    }
    check_index(&args.splunk_index)?;
    if args.splunk_interval == 0 {
        return Err("--splunk-interval must be a number of seconds above 0".to_owned());
    }
    Ok(())
}

/// An index name as Splunk takes one: lowercase letters, digits, `_` and
/// `-`, not starting with `_` or `-` (Splunk's "Create custom indexes";
/// the add-on's form also hides the internal `_` indexes).
fn check_index(index: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c);
    if index.is_empty() || index.starts_with(['_', '-']) || !index.chars().all(allowed) {
        return Err(format!(
            "--splunk-index {index:?} is not a Splunk index name (lowercase letters, digits, _ and -, not starting with _ or -)"
        ));
    }
    Ok(())
}

/// The add-on's endpoint (cloud) for the tenant's cloud.
fn endpoint_for(cloud: Cloud) -> Result<&'static str, TargetError> {
    match cloud {
        Cloud::Commercial => Ok("Worldwide"),
        Cloud::Gcc => Ok("USGovGCC"),
        Cloud::GccHigh => Ok("USGovGCCHigh"),
        other => Err(TargetError::Refused(format!(
            "the credential is for a {other} tenant, and the Splunk Add-on for Microsoft Office 365 cannot collect from that cloud (its endpoints are Worldwide, USGovGCC and USGovGCCHigh); collect this tenant with another target"
        ))),
    }
}

/// The tenant's name in the add-on: stable across rotations and renames,
/// and within its rule (letters, digits and `_`).
fn tenant_name(tenant_id: &str) -> Result<String, TargetError> {
    let name = format!("handoff_{}", tenant_id.to_ascii_lowercase().replace('-', "_"));
    if name.len() >= 995 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(TargetError::Refused(format!(
            "the tenant ID {tenant_id:?} cannot name a tenant in the Splunk add-on (letters, digits and _ only)"
        )));
    }
    Ok(name)
}

/// The name of the input handoff creates for `content_type`.
fn input_name(tenant: &str, content_type: &str) -> String {
    format!("{tenant}_{}", content_type.replace('.', "_"))
}

/// `path` under the add-on's namespace, with `output_mode=json` and `query`.
fn endpoint(base: &str, path: &str, query: &[(&str, &str)]) -> Result<Url, TargetError> {
    let text = format!("{}/servicesNS/nobody/{APP}/{path}", base.trim_end_matches('/'));
    let mut url =
        Url::parse(&text).map_err(|e| TargetError::Refused(format!("{text} is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("output_mode", "json")
        .extend_pairs(query);
    Ok(url)
}

fn request(method: Method, url: Url, body: String, auth: Auth) -> ApiRequest {
    ApiRequest {
        method,
        url,
        headers: Vec::new(),
        content_type: FORM,
        body,
        auth,
        confirm: Confirm::Status,
        fill: None,
    }
}

/// A GET's `entry` list.
async fn entries(
    api: &Api,
    url: Url,
    auth: Auth,
    secrets: &[String],
) -> Result<Vec<Value>, TargetError> {
    let get = request(Method::GET, url, String::new(), auth);
    let said = api.send(&get, secrets).await.map_err(|e| match e {
        TargetError::Api(m) if m.contains(": 404 ") => TargetError::Api(format!(
            "{m} (is the Splunk Add-on for Microsoft Office 365, app {APP}, installed on this Splunk?)"
        )),
        other => other,
    })?;
    let mut shown = get.url.clone();
    shown.set_query(None);
    serde_json::from_str::<Value>(&said)
        .ok()
        .and_then(|v| v.get("entry")?.as_array().cloned())
        .ok_or_else(|| {
            TargetError::Api(format!(
                "GET {shown} answered no list of entries: is --api-url splunkd's management port (https://<splunk>:8089)?"
            ))
        })
}

/// An entry's `content` field as text.
fn field<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry.pointer(&format!("/content/{name}"))?.as_str()
}

fn named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
}

/// How splunkd is told who is asking: a login first for `USER:PASSWORD`.
async fn authenticate(api: &Api, base: &str, secrets: &[String]) -> Result<Auth, TargetError> {
    if !api.holds_user_password() {
        return Ok(Auth::Bearer);
    }
    let text = format!(
        "{}/services/auth/login?output_mode=json",
        base.trim_end_matches('/')
    );
    let url =
        Url::parse(&text).map_err(|e| TargetError::Refused(format!("{text} is not a URL: {e}")))?;
    let login = request(Method::POST, url, String::new(), Auth::SplunkLogin);
    let said = api.send(&login, secrets).await?;
    let key = serde_json::from_str::<Value>(&said)
        .ok()
        .and_then(|v| v.get("sessionKey")?.as_str().map(str::to_owned))
        .ok_or_else(|| {
            TargetError::Api(format!(
                "POST {} answered without a sessionKey: is --api-url splunkd's management port (https://<splunk>:8089)?",
                base.trim_end_matches('/')
            ))
        })?;
    api.set_session(key);
    Ok(Auth::SplunkSession)
}

pub(super) async fn plan(
    args: &TargetArgs,
    import: &Import<'_>,
    api: &Api,
) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let secrets = [cred.client_secret.clone(), form_encode(&cred.client_secret)];
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the splunk-o365 target needs --api-url".to_owned()))?;
    check_index(&args.splunk_index).map_err(TargetError::Refused)?;
    let cloud_endpoint = endpoint_for(cred.cloud)?;
    let content_types = &import.integration.collect.content_types;
    if let Some(other) = content_types
        .iter()
        .find(|t| !CONTENT_TYPES.contains(&t.as_str()))
    {
        return Err(TargetError::Refused(format!(
            "the Splunk add-on's Management Activity input has no content type {other} (it offers {})",
            CONTENT_TYPES.join(", ")
        )));
    }
    let name = tenant_name(&cred.tenant_id)?;

    let auth = authenticate(api, base, &secrets).await?;
    let tenants = entries(api, endpoint(base, TENANTS, &[("count", "0")])?, auth, &secrets).await?;
    let existing = named(&tenants, &name);
    let stored_secret = match existing {
        None => None,
        Some(_) => stored_secret(api, base, &name, auth, &secrets).await,
    };
    let inputs = entries(api, endpoint(base, INPUTS, &[("count", "0")])?, auth, &secrets).await?;

    let mut requests = Vec::new();
    let mut notes = Vec::new();
    let fields = [
        ("endpoint", cloud_endpoint),
        ("tenant_id", cred.tenant_id.as_str()),
        ("client_id", cred.client_id.as_str()),
        ("auth_type", "secret_based"),
    ];
    match existing {
        None => {
            let mut form = vec![("name", name.as_str())];
            form.extend(fields);
            form.push(("client_secret", cred.client_secret.as_str()));
            requests.push(request(
                Method::POST,
                endpoint(base, TENANTS, &[])?,
                form_body(&form),
                auth,
            ));
            notes.push(format!(
                "the Splunk add-on's tenant {name} ({cloud_endpoint}) is created; it appears under Configuration > Tenant of the Splunk Add-on for Microsoft Office 365"
            ));
        }
        Some(tenant) => {
            if field(tenant, "tenant_id").map(str::to_ascii_lowercase)
                != Some(cred.tenant_id.to_ascii_lowercase())
            {
                return Err(TargetError::Refused(format!(
                    "the Splunk add-on's tenant {name} holds another tenant ID ({}); it was left as it is: rename or delete it in Configuration > Tenant",
                    field(tenant, "tenant_id").unwrap_or("none")
                )));
            }
            let differing: Vec<&str> = fields
                .iter()
                .filter(|(k, v)| field(tenant, k) != Some(*v))
                .map(|(k, _)| *k)
                .collect();
            let same_secret = stored_secret.as_deref() == Some(cred.client_secret.as_str());
            if !differing.is_empty() || !same_secret {
                let change = if same_secret { "0" } else { "1" };
                let mut form: Vec<(&str, &str)> = fields.to_vec();
                form.extend([
                    ("change_client_secret", change),
                    (
                        "client_secret",
                        if same_secret { "" } else { cred.client_secret.as_str() },
                    ),
                    ("change_cert_creds", "0"),
                    ("cert_private_key", ""),
                    ("private_key_password", ""),
                    ("change_cas_secret", "0"),
                    ("cloudappsecuritytoken", ""),
                ]);
                requests.push(request(
                    Method::POST,
                    endpoint(base, &format!("{TENANTS}/{name}"), &[])?,
                    form_body(&form),
                    auth,
                ));
                let mut changed: Vec<&str> = differing;
                match &stored_secret {
                    Some(_) if !same_secret => changed.push("client_secret"),
                    None => {
                        changed.push("client_secret");
                        notes.push(format!(
                            "splunkd did not show the stored secret of tenant {name} (reading it needs the list_storage_passwords capability), so handoff cannot tell it from this one and sends it again; the stored values stay the same if it was"
                        ));
                    }
                    Some(_) => {}
                }
                notes.push(format!(
                    "the Splunk add-on's tenant {name} is updated: {}",
                    changed.join(", ")
                ));
            }
        }
    }

    let interval = args.splunk_interval.to_string();
    for content_type in content_types {
        let present = inputs.iter().any(|i| {
            field(i, "tenant_name") == Some(name.as_str())
                && field(i, "content_type") == Some(content_type.as_str())
        });
        if present {
            continue;
        }
        let input = input_name(&name, content_type);
        requests.push(request(
            Method::POST,
            endpoint(base, INPUTS, &[])?,
            form_body(&[
                ("name", input.as_str()),
                ("tenant_name", name.as_str()),
                ("content_type", content_type.as_str()),
                ("index", args.splunk_index.as_str()),
                ("interval", interval.as_str()),
            ]),
            auth,
        ));
        notes.push(format!(
            "Management Activity input {input} ({content_type}, index {}, every {interval} s) is created; it appears under Inputs of the add-on",
            args.splunk_index
        ));
    }

    let mut plan = Plan::with_requests(requests, notes, cred);
    plan.secrets.push(secrets[1].clone());
    Ok(plan)
}

/// The add-on's tenants for app `client_id`, each with its secret read
/// back in clear (`--cred--=1`), for a re-check: the tenant handoff manages
/// and any other the SOC made for the same app.
///
/// # Errors
/// The API cannot be read; a tenant whose secret splunkd will not show
/// (the user lacks `list_storage_passwords`) or whose endpoint is not one
/// of the add-on's clouds.
pub(super) async fn stored(
    args: &TargetArgs,
    api: &Api,
    client_id: &str,
) -> Result<Vec<super::stored::Stored>, TargetError> {
    let base = args
        .api_url
        .as_deref()
        .ok_or_else(|| TargetError::Refused("the splunk-o365 target needs --api-url".to_owned()))?;
    let auth = authenticate(api, base, &[]).await?;
    let tenants = entries(api, endpoint(base, TENANTS, &[("count", "0")])?, auth, &[]).await?;
    let mut out = Vec::new();
    for tenant in tenants
        .iter()
        .filter(|t| field(t, "client_id").is_some_and(|c| c.eq_ignore_ascii_case(client_id)))
    {
        let (Some(name), Some(tenant_id)) = (
            tenant.get("name").and_then(Value::as_str),
            field(tenant, "tenant_id"),
        ) else {
            continue;
        };
        let cloud = match field(tenant, "endpoint") {
            Some("Worldwide") => Cloud::Commercial,
            Some("USGovGCC") => Cloud::Gcc,
            Some("USGovGCCHigh") => Cloud::GccHigh,
            other => {
                return Err(TargetError::Refused(format!(
                    "the add-on's tenant {name} has the endpoint {}, which is none of Worldwide, USGovGCC and USGovGCCHigh",
                    other.unwrap_or("(none)")
                )));
            }
        };
        let secret = stored_secret(api, base, name, auth, &[]).await.ok_or_else(|| {
            TargetError::Refused(format!(
                "splunkd does not show the stored client secret of the add-on's tenant {name} to this user: give the user of --api-token-file the list_storage_passwords capability to re-check it"
            ))
        })?;
        out.push(super::stored::Stored {
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: secret,
            cloud,
            place: format!("the add-on's tenant {name}"),
        });
    }
    Ok(out)
}

/// The tenant's stored secret in clear (`--cred--=1`), or `None` if
/// splunkd would not show it: the user may not read stored passwords, or
/// the answer holds only stars.
async fn stored_secret(
    api: &Api,
    base: &str,
    name: &str,
    auth: Auth,
    secrets: &[String],
) -> Option<String> {
    let url = endpoint(base, &format!("{TENANTS}/{name}"), &[("--cred--", "1")]).ok()?;
    let found = entries(api, url, auth, secrets).await.ok()?;
    named(&found, name)
        .and_then(|t| field(t, "client_secret"))
        .filter(|s| !s.is_empty() && *s != HIDDEN)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_add_ons_rules() {
        let name = tenant_name("72F988BF-86f1-41af-91ab-2d7cd011db47").unwrap();
        assert_eq!(name, "handoff_72f988bf_86f1_41af_91ab_2d7cd011db47");
        assert_eq!(
            input_name(&name, "Audit.AzureActiveDirectory"),
            "handoff_72f988bf_86f1_41af_91ab_2d7cd011db47_Audit_AzureActiveDirectory"
        );
        assert!(tenant_name("contoso.onmicrosoft.com").is_err());
    }

    #[test]
    fn dod_and_china_have_no_endpoint_in_the_add_on() {
        assert_eq!(endpoint_for(Cloud::Commercial).unwrap(), "Worldwide");
        assert_eq!(endpoint_for(Cloud::Gcc).unwrap(), "USGovGCC");
        assert_eq!(endpoint_for(Cloud::GccHigh).unwrap(), "USGovGCCHigh");
        for cloud in [Cloud::Dod, Cloud::China] {
            let err = endpoint_for(cloud).unwrap_err().to_string();
            assert!(err.contains("cannot collect from that cloud"), "{err}");
        }
    }

    #[test]
    fn options_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        assert!(check_args(&args, true).unwrap_err().contains("needs --api-url"));
        args.api_url = Some("https://splunk.example:8089".to_owned());
        assert!(
            check_args(&args, true)
                .unwrap_err()
                .contains("needs --api-token-file")
        );
        args.api_token_file = Some(dir.path().join("token"));
        assert_eq!(check_args(&args, false), Ok(()));
        for bad in ["_internal", "-x", "Main", "o365 logs", ""] {
            args.splunk_index = bad.to_owned();
            assert!(check_args(&args, false).is_err(), "{bad:?}");
        }
        args.splunk_index = "o365-audit_1".to_owned();
        args.splunk_interval = 0;
        assert!(check_args(&args, false).unwrap_err().contains("above 0"));
    }

    #[test]
    fn urls_ask_for_json_under_the_add_ons_namespace() {
        let url = endpoint(
            "https://splunk.example:8089/",
            "splunk_ta_o365_tenants/handoff_x",
            &[("--cred--", "1")],
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://splunk.example:8089/servicesNS/nobody/splunk_ta_o365/splunk_ta_o365_tenants/handoff_x?output_mode=json&--cred--=1"
        );
    }
}
