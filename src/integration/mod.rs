//! Integration templates: what a SOC asks a customer to set up, as data.
//!
//! Each template is one TOML file: the app registration's application
//! permissions (with their app-role ids), the token scope each API needs per
//! cloud, the portal steps, a checklist, notes, and the collector targets it
//! suits. The built-in ones live in `integrations/` and are compiled into the
//! binary; a SOC adds or replaces templates with a directory of its own
//! (`--templates-dir`). The `az` commands are generated from the permission
//! data, so they cannot drift from what the guide says.
//!
//! Payload templates ([`crate::template`]) say what a payload holds; an
//! integration says which payload kind it collects (`entra-app`) and why.
//!
//! This file holds the types and the loader; beside it, [`check`] parses
//! and checks a template file, [`clouds`] decides which clouds a template
//! works in, [`az`] writes the Azure CLI script, and [`guide`](mod@guide)
//! the text of `handoff templates show`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::cloud::Cloud;
use crate::collect::Target;
use crate::template::Kind;
pub use az::Shell;

mod az;
mod check;
mod clouds;
mod guide;

pub(crate) use guide::guide;

/// The built-in templates, compiled in so the binary needs no files beside
/// its database.
const BUILTIN: &[(&str, &str)] = &[
    (
        "o365-management.toml",
        include_str!("../../integrations/o365-management.toml"),
    ),
    (
        "graph-security-alerts.toml",
        include_str!("../../integrations/graph-security-alerts.toml"),
    ),
    (
        "defender-incidents.toml",
        include_str!("../../integrations/defender-incidents.toml"),
    ),
    (
        "identity-protection.toml",
        include_str!("../../integrations/identity-protection.toml"),
    ),
    (
        "m365-posture.toml",
        include_str!("../../integrations/m365-posture.toml"),
    ),
    ("files.toml", include_str!("../../integrations/files.toml")),
];

/// A value the customer fills in beyond the core Entra fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Field {
    /// The key in the payload: `[a-z][a-z0-9_]*`, at most 40 characters.
    pub(crate) name: String,
    pub(crate) label: String,
    /// Shown under the input: where to find the value.
    #[serde(default)]
    pub(crate) help: String,
    #[serde(default)]
    pub(crate) required: bool,
    /// A JavaScript regular expression the whole value must match; the
    /// browser checks it, so it is written for `RegExp`, not Rust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pattern: Option<String>,
    /// What to tell the customer when the pattern does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pattern_message: Option<String>,
}

/// One application permission (app role) the app registration needs. All are
/// of type Application and need admin consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The API's display name in the portal ("Microsoft Graph").
    pub(crate) api: String,
    /// The API's application id: `--api` for `az ad app permission add`.
    pub(crate) api_app_id: String,
    /// The permission's name ("SecurityAlert.Read.All").
    pub name: String,
    /// The app role's id: `<id>=Role` for `az ad app permission add`.
    pub(crate) id: String,
    /// Why the SOC needs it, in a sentence the customer can check.
    pub(crate) reason: String,
    /// False when the app-role id could not be confirmed against Microsoft's
    /// published reference; the guide and the `az` commands say so.
    #[serde(default = "yes")]
    pub(crate) verified: bool,
    /// The SOC collects without it (what it reads is left out): `--verify`
    /// reports it missing as a warning, not a failure, and only an optional
    /// permission may be called optional anywhere in the guide.
    #[serde(default)]
    pub(crate) optional: bool,
}

fn yes() -> bool {
    true
}

/// Microsoft Graph's application id.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The Office 365 Management APIs' application id.
pub(crate) const MANAGEMENT_APP_ID: &str = "c5393580-f805-4401-95e8-94b7a6ef2fc2";

/// The `.default` scope Microsoft documents for a well-known API in `cloud`
/// (Graph national cloud deployments; the Management API's endpoints per
/// plan); `None` for another API, or where the address is not known (the
/// Management API in China). A template's scope for these must match.
pub(crate) fn microsoft_scope(api_app_id: &str, cloud: Cloud) -> Option<&'static str> {
    if api_app_id.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return Some(cloud.graph_scope());
    }
    if api_app_id.eq_ignore_ascii_case(MANAGEMENT_APP_ID) {
        return cloud.management_scope();
    }
    None
}

/// The `.default` scope of one API per cloud, for a client-credentials token
/// request when the credential is verified. A cloud left out is one the API
/// is not known to exist in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenScope {
    pub(crate) api_app_id: String,
    /// Each cloud's scope, keyed as the file writes it (`gcc-high = "..."`).
    /// A key that names no cloud is refused when the file is read: it does
    /// not parse as a [`Cloud`]. (serde's `deny_unknown_fields` does not
    /// work beside `flatten`, and is not needed.)
    #[serde(flatten)]
    pub scopes: BTreeMap<Cloud, String>,
}

impl TokenScope {
    /// The scope for `cloud`, if the API is known to exist there.
    pub(crate) fn scope(&self, cloud: Cloud) -> Option<&str> {
        self.scopes.get(&cloud).map(String::as_str)
    }
}
/// A Microsoft Graph resource and the relationships to read under it, as
/// Wazuh's `<ms-graph>` `<resource>` block names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphResource {
    pub name: String,
    pub relationships: Vec<String>,
}

/// What the collector targets need to be told to collect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collect {
    /// Management Activity API content types (`wazuh-office365`, `filebeat-o365`).
    #[serde(default)]
    pub content_types: Vec<String>,
    /// Graph resources for `wazuh-ms-graph`.
    #[serde(default)]
    pub graph_resources: Vec<GraphResource>,
    /// Other Graph paths the SOC's own collector reads (`env`, `json`).
    #[serde(default)]
    pub(crate) graph_endpoints: Vec<String>,
}

/// Where a template came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Origin {
    Builtin,
    Custom {
        path: PathBuf,
        /// It took the place of the built-in template with the same id.
        replaces_builtin: bool,
    },
}

/// One integration template, checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Integration {
    pub id: String,
    pub(crate) title: String,
    pub(crate) summary: String,
    /// The payload it collects; written as in the file (`entra-app`).
    #[serde(serialize_with = "kind_name")]
    pub(crate) kind: Kind,
    pub(crate) fields: Vec<Field>,
    pub permissions: Vec<Permission>,
    pub tokens: Vec<TokenScope>,
    /// The clouds the template works in, in [`Cloud::ALL`]'s order: every
    /// API it uses has a token scope there and everything it reads exists
    /// there. The customer's form offers only these, `--verify` refuses the
    /// others, and collectors should ask [`Integration::cloud_refusal`].
    pub(crate) clouds: Vec<Cloud>,
    /// Ordered plain sentences for the portal.
    pub(crate) steps: Vec<String>,
    /// What the customer ticks before submitting.
    pub(crate) checklist: Vec<String>,
    /// Licences, delays, caveats.
    pub(crate) notes: Vec<String>,
    pub(crate) targets: Vec<Target>,
    pub collect: Collect,
    pub(crate) origin: Origin,
}

impl Integration {
    /// Why the template does not accept `cloud`, as a clause for a sentence
    /// to the PM; `None` when it does. What a collector or target should ask
    /// before it writes a credential for this template.
    pub(crate) fn cloud_refusal(&self, cloud: Cloud) -> Option<String> {
        if self.clouds.contains(&cloud) {
            return None;
        }
        Some(
            clouds::unworkable_in(cloud, &self.permissions, &self.tokens, &self.collect)
                .unwrap_or_else(|| format!("the template does not list {cloud} among its clouds")),
        )
    }

    /// The clouds, by name, joined for a sentence ("commercial, gcc, dod").
    pub(crate) fn cloud_names(&self) -> String {
        let names: Vec<&str> = self.clouds.iter().map(|c| c.as_str()).collect();
        names.join(", ")
    }

    /// A bash script for customers who prefer `az` to the portal, for a
    /// tenant in `cloud`; `None` for a cloud the template does not accept.
    /// It selects the cloud and signs in, creates the app and its service
    /// principal (retrying while the new app replicates), adds each API's
    /// app roles, has admin consent granted, and makes a secret. See
    /// [`Cloud::is_az_commercial`] for what differs outside the commercial
    /// cloud.
    pub fn az_script(&self, cloud: Cloud) -> Option<String> {
        self.az_script_in(cloud, Shell::Bash)
    }

    /// [`Integration::az_script`] in `shell`: the same `az` commands with
    /// the same arguments, in that shell's syntax.
    pub fn az_script_in(&self, cloud: Cloud, shell: Shell) -> Option<String> {
        self.clouds
            .contains(&cloud)
            .then(|| az::script(self, cloud, shell))
    }

    /// The commands for a rotation request: a new secret for the app
    /// registration `client_id` that already exists, in `cloud`, in `shell`.
    pub(crate) fn az_rotation_script(
        &self,
        client_id: &str,
        cloud: Cloud,
        shell: Shell,
    ) -> Option<String> {
        self.clouds
            .contains(&cloud)
            .then(|| az::rotation_script(client_id, cloud, shell))
    }

    /// The permissions grouped by API, in the order the APIs first appear.
    pub(crate) fn permissions_by_api(&self) -> Vec<(&str, &str, Vec<&Permission>)> {
        let mut groups: Vec<(&str, &str, Vec<&Permission>)> = Vec::new();
        for p in &self.permissions {
            match groups.iter_mut().find(|(_, app, _)| *app == p.api_app_id) {
                Some((_, _, list)) => list.push(p),
                None => groups.push((&p.api, &p.api_app_id, vec![p])),
            }
        }
        groups
    }
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with passes a reference"
)]
fn kind_name<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match kind {
        Kind::EntraApp => "entra-app",
        Kind::Text => "text",
        Kind::Files => "files",
    })
}

/// Every template the server knows: the built-ins, plus a directory's.
#[derive(Clone, Debug, Serialize)]
pub struct Integrations {
    #[serde(rename = "integrations")]
    list: Vec<Integration>,
    /// Things worth telling the operator at start-up, such as a custom file
    /// replacing a built-in template.
    #[serde(skip)]
    notices: Vec<String>,
}

impl Integrations {
    /// The compiled-in templates.
    pub fn builtin() -> Integrations {
        let list = BUILTIN
            .iter()
            .map(
                |(name, text)| match check::parse(name, text, Origin::Builtin) {
                    Ok(i) => i,
                    // The built-ins are checked by a unit test on every build.
                    Err(e) => panic!("built-in integration template is invalid: {e}"),
                },
            )
            .collect();
        Integrations {
            list,
            notices: Vec::new(),
        }
    }

    /// The built-ins plus every `*.toml` in `dir`. A custom file with a
    /// built-in's id replaces it (and a notice says so); a file that does not
    /// parse or check stops the load with an error naming the file.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Integrations, String> {
        let mut all = Integrations::builtin();
        let Some(dir) = dir else { return Ok(all) };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read the templates directory {}: {e}", dir.display()))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                format!("cannot read the templates directory {}: {e}", dir.display())
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut custom_ids: Vec<(String, PathBuf)> = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
            let shown = path.display().to_string();
            let mut integration = check::parse(
                &shown,
                &text,
                Origin::Custom {
                    path: path.clone(),
                    replaces_builtin: false,
                },
            )?;
            if let Some((_, first)) = custom_ids.iter().find(|(id, _)| *id == integration.id) {
                return Err(format!(
                    "{shown}: id {:?} is already used by {}",
                    integration.id,
                    first.display()
                ));
            }
            custom_ids.push((integration.id.clone(), path.clone()));
            match all.list.iter().position(|i| i.id == integration.id) {
                Some(at) => {
                    integration.origin = Origin::Custom {
                        path,
                        replaces_builtin: true,
                    };
                    all.notices.push(format!(
                        "{shown} replaces the built-in template {:?}",
                        integration.id
                    ));
                    all.list[at] = integration;
                }
                None => all.list.push(integration),
            }
        }
        Ok(all)
    }

    pub fn get(&self, id: &str) -> Option<&Integration> {
        self.list.iter().find(|i| i.id == id)
    }

    pub(crate) fn all(&self) -> &[Integration] {
        &self.list
    }

    /// What the load wants the operator to know (e.g. replaced built-ins).
    pub(crate) fn notices(&self) -> &[String] {
        &self.notices
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::check::CONTENT_TYPES;
    use super::check::sample::minimal;
    use super::*;

    /// A new file in `integrations/` is built in only through `BUILTIN`:
    /// one left out of the list fails here.
    #[test]
    fn every_file_in_the_integrations_folder_is_built_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations");
        let files: BTreeSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        let listed: BTreeSet<String> = BUILTIN.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(files, listed);
    }

    /// A built-in guide creates the client secret last, right before the
    /// step that copies its Value: everything that can take a while
    /// (consent, turning auditing on) comes first, so the secret's value is
    /// not left on screen, and its clock not running, while the admin does
    /// the rest.
    #[test]
    fn every_built_in_guide_creates_the_secret_last() {
        for i in Integrations::builtin()
            .all()
            .iter()
            .filter(|i| i.kind == Kind::EntraApp)
        {
            let n = i.steps.len();
            let creates = i
                .steps
                .iter()
                .position(|s| s.contains("New client secret"))
                .unwrap_or_else(|| panic!("{}: no step creates the secret", i.id));
            assert_eq!(creates, n - 2, "{}: {:?}", i.id, i.steps);
            assert!(i.steps[n - 1].contains("Value"), "{}: {:?}", i.id, i.steps);
        }
    }

    /// What a customer reads of a built-in template (summary, steps,
    /// checklist, notes, the fields' help, the permissions' reasons) is in
    /// their terms, not the SOC's: no collector, module or pipeline names.
    #[test]
    fn customer_text_has_no_collector_jargon() {
        const JARGON: &[&str] = &[
            "collector",
            "wazuh",
            "filebeat",
            "ossec",
            "content type",
            "sealed",
            "inbox",
            "env or json",
        ];
        for i in Integrations::builtin().all() {
            let mut texts = vec![i.summary.clone()];
            texts.extend(i.steps.iter().cloned());
            texts.extend(i.checklist.iter().cloned());
            texts.extend(i.notes.iter().cloned());
            texts.extend(i.fields.iter().map(|f| f.help.clone()));
            texts.extend(i.permissions.iter().map(|p| p.reason.clone()));
            for text in &texts {
                let lower = text.to_lowercase();
                for word in JARGON {
                    assert!(!lower.contains(word), "{}: {word:?} in {text:?}", i.id);
                }
            }
        }
    }

    const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
    const O365: &str = "c5393580-f805-4401-95e8-94b7a6ef2fc2";

    /// Every app-role id the built-ins use, pinned, with where it was checked.
    ///
    /// Microsoft Graph ids: Microsoft's auto-generated permissions table,
    /// microsoftgraph/microsoft-graph-docs-contrib
    /// `concepts/includes/permissions-ids.md` (the "All permissions and IDs"
    /// section of https://learn.microsoft.com/en-us/graph/permissions-reference),
    /// rows of type Application.
    ///
    /// Office 365 Management APIs ids: Microsoft publishes no table for this
    /// API; checked against a generated dump of its first-party service
    /// principal's appRoles (service principal names manage.office.com,
    /// manage-gcc.office.com, manage.office365.us, manage.protection.apps.mil,
    /// c5393580-...), which agrees with CISA ScubaGear's test data
    /// (MockApplicationPermissions.json, ActivityFeed.ReadDlp) and the
    /// azuread provider's documented example (ActivityFeed.Read, type Role).
    ///
    /// CustomDetection.Read.All: Microsoft's docs name it as the application
    /// permission of `GET /security/rules/detectionRules`, but the stored copy
    /// of Microsoft's ids table predates it; 673a007a-... comes from community
    /// sources only (several agree), so the template marks it `verified = false`.
    const PINNED: &[(&str, &str, &str, bool)] = &[
        // permissions-ids.md: "SecurityEvents.Read.All | Application | bf394140-..."
        (
            GRAPH,
            "SecurityEvents.Read.All",
            "bf394140-e372-4bf9-a898-299cfc7564e5",
            true,
        ),
        // permissions-ids.md: "SecurityAlert.Read.All | Application | 472e4a4d-..."
        (
            GRAPH,
            "SecurityAlert.Read.All",
            "472e4a4d-bb4a-4026-98d1-0b0d74cb74a5",
            true,
        ),
        // permissions-ids.md: "SecurityIncident.Read.All | Application | 45cc0394-..."
        (
            GRAPH,
            "SecurityIncident.Read.All",
            "45cc0394-e837-488b-a098-1918f48d186c",
            true,
        ),
        // permissions-ids.md: "IdentityRiskyUser.Read.All | Application | dc5007c0-..."
        (
            GRAPH,
            "IdentityRiskyUser.Read.All",
            "dc5007c0-2d7d-4c42-879c-2dab87571379",
            true,
        ),
        // permissions-ids.md: "IdentityRiskEvent.Read.All | Application | 6e472fd1-..."
        (
            GRAPH,
            "IdentityRiskEvent.Read.All",
            "6e472fd1-ad78-48da-a0f0-97ab2c6b769e",
            true,
        ),
        // permissions-ids.md: "Policy.Read.All | Application | 246dd0d5-..."
        (
            GRAPH,
            "Policy.Read.All",
            "246dd0d5-5bd0-4def-940b-0421030a5b68",
            true,
        ),
        // Community sources only (see above): not confirmed.
        (
            GRAPH,
            "CustomDetection.Read.All",
            "673a007a-9e0f-4c97-b066-3c0164486909",
            false,
        ),
        // Office 365 Management APIs service principal appRoles dump.
        (
            O365,
            "ActivityFeed.Read",
            "594c1fb6-4f81-4475-ae41-0c394909246c",
            true,
        ),
        // Same dump; also CISA ScubaGear MockApplicationPermissions.json.
        (
            O365,
            "ActivityFeed.ReadDlp",
            "4807a72c-ad38-4250-94c9-4eabfe26cd55",
            true,
        ),
    ];

    #[test]
    fn every_builtin_loads_and_checks() {
        let all = Integrations::builtin();
        let ids: Vec<&str> = all.all().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "o365-management",
                "graph-security-alerts",
                "defender-incidents",
                "identity-protection",
                "m365-posture",
                "files"
            ]
        );
        let files = all.get("files").unwrap();
        assert_eq!(files.kind, Kind::Files);
        assert_eq!(files.targets, [Target::Dir]);
        assert!(files.permissions.is_empty() && files.fields.is_empty());
        assert!(files.clouds.is_empty(), "no az script, no cloud to choose");
        for i in all.all().iter().filter(|i| i.id != "files") {
            assert_eq!(i.kind, Kind::EntraApp, "{}", i.id);
            assert_eq!(i.origin, Origin::Builtin);
            assert!(!i.permissions.is_empty() && !i.checklist.is_empty() && !i.notes.is_empty());
            assert!(i.steps.len() >= 5, "{}", i.id);
        }
        assert!(all.get("m365-posture").is_some());
        assert!(all.get("nope").is_none());
        assert!(all.notices().is_empty());
    }

    #[test]
    fn builtin_permissions_match_the_pinned_table() {
        let all = Integrations::builtin();
        let mut used = BTreeSet::new();
        for i in all.all() {
            for p in &i.permissions {
                let pinned = PINNED
                    .iter()
                    .find(|(api, name, _, _)| *api == p.api_app_id && *name == p.name)
                    .unwrap_or_else(|| panic!("{}: {} is not pinned", i.id, p.name));
                assert_eq!(p.id, pinned.2, "{}: {}", i.id, p.name);
                assert_eq!(p.verified, pinned.3, "{}: {} verified", i.id, p.name);
                let api_name = if p.api_app_id == GRAPH {
                    "Microsoft Graph"
                } else {
                    "Office 365 Management APIs"
                };
                assert_eq!(p.api, api_name);
                used.insert(p.name.as_str());
            }
        }
        assert_eq!(used.len(), PINNED.len(), "every pinned id is used");
    }

    #[test]
    fn the_seed_socs_permissions_are_all_there() {
        let all = Integrations::builtin();
        let names = |id: &str| -> Vec<String> {
            all.get(id)
                .unwrap()
                .permissions
                .iter()
                .map(|p| p.name.clone())
                .collect()
        };
        assert_eq!(
            names("o365-management"),
            ["ActivityFeed.Read", "ActivityFeed.ReadDlp"]
        );
        // alerts_v2 only: the SecurityEvents.* permissions one seed SOC asks
        // for served the legacy alerts API, retired on 2026-10-15.
        assert_eq!(names("graph-security-alerts"), ["SecurityAlert.Read.All"]);
        assert_eq!(
            names("defender-incidents"),
            [
                "SecurityIncident.Read.All",
                "SecurityAlert.Read.All",
                "CustomDetection.Read.All"
            ]
        );
        assert_eq!(
            names("identity-protection"),
            ["IdentityRiskyUser.Read.All", "IdentityRiskEvent.Read.All"]
        );
        assert_eq!(
            names("m365-posture"),
            [
                "SecurityEvents.Read.All",
                "SecurityAlert.Read.All",
                "IdentityRiskyUser.Read.All",
                "Policy.Read.All"
            ]
        );
        let o365 = all.get("o365-management").unwrap();
        assert_eq!(o365.collect.content_types, CONTENT_TYPES);
        assert_eq!(
            o365.tokens[0].scope(Cloud::Commercial),
            Some("https://manage.office.com/.default")
        );
        assert_eq!(o365.tokens[0].scope(Cloud::China), None);
        let posture = all.get("m365-posture").unwrap();
        assert_eq!(
            posture.tokens[0].scope(Cloud::GccHigh),
            Some("https://graph.microsoft.us/.default")
        );
    }

    #[test]
    fn security_events_permissions_are_asked_for_only_where_secure_score_is_read() {
        for i in Integrations::builtin().all() {
            let asks = i
                .permissions
                .iter()
                .any(|p| p.name.starts_with("SecurityEvents."));
            let reads_secure_score = i.collect.graph_resources.iter().any(|r| {
                r.name == "security" && r.relationships.iter().any(|x| x == "secureScores")
            });
            assert_eq!(asks, reads_secure_score, "{}", i.id);
        }
    }

    #[test]
    fn a_custom_directory_adds_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sign-ins.toml"), minimal("sign-ins")).unwrap();
        std::fs::write(dir.path().join("mine.toml"), minimal("m365-posture")).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a template").unwrap();
        let all = Integrations::load(Some(dir.path())).unwrap();
        assert_eq!(all.all().len(), 7);
        let added = all.get("sign-ins").unwrap();
        assert_eq!(
            added.origin,
            Origin::Custom {
                path: dir.path().join("sign-ins.toml"),
                replaces_builtin: false
            }
        );
        let replaced = all.get("m365-posture").unwrap();
        assert_eq!(replaced.title, "Custom");
        assert!(matches!(
            replaced.origin,
            Origin::Custom {
                replaces_builtin: true,
                ..
            }
        ));
        assert_eq!(all.notices().len(), 1);
        assert!(
            all.notices()[0].contains("mine.toml replaces the built-in template \"m365-posture\"")
        );
        // The built-in order is kept; the override stays in its place.
        assert_eq!(all.all()[4].id, "m365-posture");
        assert_eq!(Integrations::load(None).unwrap().all().len(), 6);
    }

    #[test]
    fn two_custom_files_with_one_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), minimal("same")).unwrap();
        std::fs::write(dir.path().join("b.toml"), minimal("same")).unwrap();
        let err = Integrations::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("b.toml") && err.contains("a.toml"), "{err}");
    }

    #[test]
    fn a_malformed_file_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = minimal("broken").replace("summary = \"A custom template.\"", "summary = oops");
        std::fs::write(dir.path().join("broken.toml"), text).unwrap();
        let err = Integrations::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("broken.toml"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let err =
            Integrations::load(Some(Path::new("/nonexistent/handoff-templates"))).unwrap_err();
        assert!(err.contains("/nonexistent/handoff-templates"), "{err}");
    }

    #[test]
    fn the_registry_serializes_for_json() {
        let json = serde_json::to_value(Integrations::builtin()).unwrap();
        let first = &json["integrations"][0];
        assert_eq!(first["id"], "o365-management");
        assert_eq!(first["kind"], "entra-app");
        assert_eq!(first["targets"][0], "wazuh-office365");
        assert_eq!(first["origin"]["type"], "builtin");
        assert_eq!(
            first["tokens"][0]["gcc-high"],
            "https://manage.office365.us/.default"
        );
        assert_eq!(
            first["clouds"],
            serde_json::json!(["commercial", "gcc", "gcc-high", "dod"])
        );
        assert_eq!(first["permissions"][0]["optional"], false);
    }
}
