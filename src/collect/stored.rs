//! Reading back what a target wrote, for `handoff collect --recheck`: the
//! credential is taken from where the collector reads it (the customer's
//! env or JSON file, the `<api_auth>` of a Wazuh module and the secret file
//! it names, the configuration the Wazuh server API serves, the Splunk
//! add-on's tenant read with `--cred--=1`), so a re-check
//! proves what the collector itself uses, and no copy is kept anywhere else.
//!
//! Targets that do not give a stored secret back (QRadar hides it, Fleet
//! and Cribl keep it encrypted, a SOC platform's API is write-only,
//! Filebeat keeps it in its keystore) are refused with a sentence saying so.

use std::path::Path;

use super::ossec_conf::{Element, WazuhConf};
use super::{Api, Target, TargetArgs, TargetError, env_lookup, read_text};
use crate::cloud::Cloud;

/// A credential as a target holds it.
pub(crate) struct Stored {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) cloud: Cloud,
    /// Where it was read, for messages: a file, or a file and its block.
    pub(crate) place: String,
}

impl std::fmt::Debug for Stored {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("cloud", &self.cloud)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// Why a target cannot be re-checked, or what went wrong reading it back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreadable {
    /// The target never gives a stored secret back: said once, not an error
    /// of the credential.
    #[error("{0}")]
    NotSupported(String),
    /// Reading it failed (a file, the API), or the credential is not there.
    #[error(transparent)]
    Target(#[from] TargetError),
}

/// The credentials for app `client_id` that `target` holds for `customer`:
/// usually one; several where a multi-tenant app serves several tenants in
/// one Wazuh block list.
///
/// # Errors
/// [`Unreadable::NotSupported`] for a target that does not give secrets
/// back; [`Unreadable::Target`] when its files or API cannot be read or
/// hold no such credential.
pub(crate) async fn stored(
    target: Target,
    args: &TargetArgs,
    api: Option<&Api>,
    customer: &str,
    client_id: &str,
) -> Result<Vec<Stored>, Unreadable> {
    let found = match target {
        Target::Env => vec![env_file(args, customer)?],
        Target::Json => vec![json_file(args, customer)?],
        Target::WazuhOffice365 => {
            let conf = WazuhConf::read(&args.ossec_conf)?;
            wazuh_auths(&conf, "office365", office365_cloud, true, client_id)?
        }
        Target::WazuhMsGraph => {
            let conf = WazuhConf::read(&args.ossec_conf)?;
            wazuh_auths(&conf, "ms-graph", ms_graph_cloud, true, client_id)?
        }
        Target::WazuhApi => {
            let api = api.ok_or_else(|| {
                TargetError::Refused("the wazuh-api target needs --api-url".to_owned())
            })?;
            let conf = super::wazuh_api::read_conf(args, api, &[]).await?;
            // A secret file named in the served configuration is on the
            // manager's disk, not here.
            wazuh_auths(&conf, "office365", office365_cloud, false, client_id)?
        }
        Target::SplunkO365 => {
            let api = api.ok_or_else(|| {
                TargetError::Refused("the splunk-o365 target needs --api-url".to_owned())
            })?;
            super::splunk_o365::stored(args, api, client_id).await?
        }
        Target::FilebeatO365 => {
            return Err(Unreadable::NotSupported(
                "the filebeat-o365 target keeps the client secret in Filebeat's keystore or an environment file that Filebeat alone resolves, so handoff does not read it back; check these credentials with the Filebeat module's own errors".to_owned(),
            ));
        }
        Target::Dir => {
            return Err(Unreadable::NotSupported(
                "the dir target writes the files of files requests, which hold no credential to re-check".to_owned(),
            ));
        }
        Target::Http | Target::Qradar | Target::ElasticAgent | Target::Cribl => {
            return Err(Unreadable::NotSupported(format!(
                "the {} target's platform does not give a stored client secret back through its API (it hides or encrypts it), so handoff cannot re-check it from here; the platform reports a failing input itself",
                target.as_str()
            )));
        }
    };
    let matching: Vec<Stored> = found
        .into_iter()
        .filter(|s| s.client_id.eq_ignore_ascii_case(client_id))
        .collect();
    if matching.is_empty() {
        return Err(Unreadable::Target(TargetError::Refused(format!(
            "the {} target holds no credential of app {client_id} for {customer} any more (was it removed or replaced by hand?)",
            target.as_str()
        ))));
    }
    Ok(matching)
}

/// `<output-dir>/<customer>.env`, as the `env` target writes it.
fn env_file(args: &TargetArgs, customer: &str) -> Result<Stored, TargetError> {
    let path = args
        .output_dir
        .join(format!("{}.env", super::files::customer_slug(customer)));
    let text = existing(&path)?;
    let get = |key: &str| {
        env_lookup(&text, key)
            .map(str::to_owned)
            .ok_or_else(|| TargetError::malformed(&path, format!("it sets no {key}")))
    };
    let authority = env_lookup(&text, "AZURE_AUTHORITY_HOST");
    let cloud = match authority {
        None => Cloud::Commercial,
        Some(host) => Cloud::ALL
            .into_iter()
            .find(|c| c.authority_host().trim_end_matches('/') == host.trim_end_matches('/'))
            .ok_or_else(|| {
                TargetError::malformed(
                    &path,
                    format!("AZURE_AUTHORITY_HOST {host} is not a Microsoft Entra authority"),
                )
            })?,
    };
    Ok(Stored {
        tenant_id: get("AZURE_TENANT_ID")?,
        client_id: get("AZURE_CLIENT_ID")?,
        client_secret: get("AZURE_CLIENT_SECRET")?,
        cloud,
        place: path.display().to_string(),
    })
}

/// `<output-dir>/<customer>.json`, as the `json` target writes it.
fn json_file(args: &TargetArgs, customer: &str) -> Result<Stored, TargetError> {
    let path = args
        .output_dir
        .join(format!("{}.json", super::files::customer_slug(customer)));
    let text = existing(&path)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| TargetError::malformed(&path, format!("not JSON ({e})")))?;
    let get = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TargetError::malformed(&path, format!("it has no {key} string")))
    };
    let cloud_name = get("cloud")?;
    let cloud = Cloud::parse(&cloud_name).ok_or_else(|| {
        TargetError::malformed(&path, format!("its cloud {cloud_name:?} is unknown"))
    })?;
    Ok(Stored {
        tenant_id: get("tenant_id")?,
        client_id: get("client_id")?,
        client_secret: get("client_secret")?,
        cloud,
        place: path.display().to_string(),
    })
}

fn existing(path: &Path) -> Result<String, TargetError> {
    read_text(path)?.ok_or_else(|| {
        TargetError::Refused(format!(
            "{} does not exist any more (was it moved or deleted?)",
            path.display()
        ))
    })
}

/// The cloud of the `office365` module's `<api_type>` (Wazuh's default is
/// `commercial`).
fn office365_cloud(api_type: Option<&str>) -> Option<Cloud> {
    match api_type.unwrap_or("commercial") {
        "commercial" => Some(Cloud::Commercial),
        "gcc" => Some(Cloud::Gcc),
        "gcc-high" => Some(Cloud::GccHigh),
        _ => None,
    }
}

/// The cloud of the `ms-graph` module's `<api_type>` (`global` is
/// commercial and GCC alike: their login and Graph hosts are the same).
fn ms_graph_cloud(api_type: Option<&str>) -> Option<Cloud> {
    match api_type.unwrap_or("global") {
        "global" => Some(Cloud::Commercial),
        "gcc-high" => Some(Cloud::GccHigh),
        "dod" => Some(Cloud::Dod),
        _ => None,
    }
}

/// Every `<api_auth>` of app `client_id` in every `module` block in `conf`,
/// with its secret: inline `<client_secret>`, or the file
/// `<client_secret_path>` names when `read_paths` (the file is on this
/// host). Other apps' entries (a shared file holds every customer's) are
/// neither read nor judged: another tenant's missing secret file or odd
/// `api_type` is not this credential's problem.
fn wazuh_auths(
    conf: &WazuhConf,
    module: &str,
    cloud_of: fn(Option<&str>) -> Option<Cloud>,
    read_paths: bool,
    client_id: &str,
) -> Result<Vec<Stored>, TargetError> {
    let src = &conf.src;
    let mut out = Vec::new();
    let blocks = conf.sections.iter().flat_map(|s| s.children_named(module));
    for block in blocks {
        for auth in block.children_named("api_auth") {
            let (Some(tenant), Some(client)) = (
                auth.child_text(src, "tenant_id"),
                auth.child_text(src, "client_id"),
            ) else {
                continue;
            };
            if !client.eq_ignore_ascii_case(client_id) {
                continue;
            }
            let place = format!(
                "{}, the <{module}> block at line {}",
                conf.path.display(),
                super::ossec_conf::line_of(src, auth.start)
            );
            let cloud = cloud_of(auth.child_text(src, "api_type")).ok_or_else(|| {
                TargetError::malformed(
                    &conf.path,
                    format!("the api_type of tenant {tenant} in {place} is not one handoff knows"),
                )
            })?;
            let secret = wazuh_secret(auth, src, read_paths, &place)?;
            out.push(Stored {
                tenant_id: tenant.to_owned(),
                client_id: client.to_owned(),
                client_secret: secret,
                cloud,
                place,
            });
        }
    }
    Ok(out)
}

fn wazuh_secret(
    auth: &Element,
    src: &str,
    read_paths: bool,
    place: &str,
) -> Result<String, TargetError> {
    if let Some(secret) = auth.child_text(src, "client_secret") {
        return Ok(secret.to_owned());
    }
    let Some(path) = auth.child_text(src, "client_secret_path") else {
        return Err(TargetError::Refused(format!(
            "{place} has neither <client_secret> nor <client_secret_path>"
        )));
    };
    if !read_paths {
        return Err(TargetError::Refused(format!(
            "{place} names its secret by <client_secret_path> {path}, a file on the Wazuh manager, which the API does not serve; re-check it with the wazuh-office365 target on the manager"
        )));
    }
    let path = Path::new(path);
    let text = read_text(path)?.ok_or_else(|| {
        TargetError::Refused(format!(
            "{place} names the secret file {}, which does not exist",
            path.display()
        ))
    })?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared file: Contoso's and Northwind's secrets are files that do
    /// not exist here (and that the Wazuh API would not serve), Fabrikam's
    /// is inline. Reading Fabrikam's credential judges only Fabrikam's entry.
    #[test]
    fn other_tenants_entries_are_neither_read_nor_judged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ossec.conf");
        std::fs::copy("tests/fixtures/wazuh/office365-multi-tenant.conf", &path).unwrap();
        let conf = WazuhConf::read(&path).unwrap();
        let fabrikam = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
        for read_paths in [true, false] {
            let found =
                wazuh_auths(&conf, "office365", office365_cloud, read_paths, fabrikam).unwrap();
            assert_eq!(found.len(), 1, "read_paths {read_paths}");
            assert_eq!(found[0].tenant_id, "4d5c7e2a-1b3f-4a6e-9c8d-0e1f2a3b4c5d");
            assert_eq!(
                found[0].client_secret,
                "Fb22Q~oldFabrikamSecretValue0123456789a"
            );
            assert_eq!(found[0].cloud, Cloud::Gcc);
        }
        // Contoso's own entry still says what is wrong with it.
        let err = wazuh_auths(
            &conf,
            "office365",
            office365_cloud,
            true,
            "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("contoso.secret, which does not exist"),
            "{err}"
        );
    }
}
