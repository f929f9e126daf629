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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::cloud::Cloud;
use crate::collect::Reads;
pub use crate::collect::Target;
use crate::credential::is_guid;
use crate::template::Kind;

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
];

/// Office 365 Management Activity API content types (Wazuh `<subscription>`s,
/// Filebeat `var.content_type`).
pub const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// What Wazuh's `<ms-graph>` module accepts: each resource and its relationships.
/// Its parser rejects anything else, so a template must not promise more.
/// `identityProtection` is read from Wazuh 4.12 on (`wm_ms_graph.h` and
/// `wm_ms_graph.c` in v4.12.0; absent from v4.11).
pub const GRAPH_RESOURCES: [(&str, &[&str]); 4] = [
    (
        "security",
        &["alerts", "alerts_v2", "incidents", "secureScores"],
    ),
    ("auditLogs", &["signIns"]),
    (
        "deviceManagement",
        &["auditEvents", "managedDevices", "detectedApps"],
    ),
    (
        "identityProtection",
        &["riskDetections", "servicePrincipalRiskDetections"],
    ),
];

/// A value the customer fills in beyond the core Entra fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The key in the payload: `[a-z][a-z0-9_]*`, at most 40 characters.
    pub name: String,
    pub label: String,
    /// Shown under the input: where to find the value.
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub required: bool,
    /// A JavaScript regular expression the whole value must match; the
    /// browser checks it, so it is written for `RegExp`, not Rust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What to tell the customer when the pattern does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_message: Option<String>,
}

/// One application permission (app role) the app registration needs. All are
/// of type Application and need admin consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// The API's display name in the portal ("Microsoft Graph").
    pub api: String,
    /// The API's application id: `--api` for `az ad app permission add`.
    pub api_app_id: String,
    /// The permission's name ("SecurityAlert.Read.All").
    pub name: String,
    /// The app role's id: `<id>=Role` for `az ad app permission add`.
    pub id: String,
    /// Why the SOC needs it, in a sentence the customer can check.
    pub reason: String,
    /// False when the app-role id could not be confirmed against Microsoft's
    /// published reference; the guide and the `az` commands say so.
    #[serde(default = "yes")]
    pub verified: bool,
    /// The SOC collects without it (what it reads is left out): `--verify`
    /// reports it missing as a warning, not a failure, and only an optional
    /// permission may be called optional anywhere in the guide.
    #[serde(default)]
    pub optional: bool,
}

fn yes() -> bool {
    true
}

/// Microsoft Graph's application id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The Office 365 Management APIs' application id.
pub const MANAGEMENT_APP_ID: &str = "c5393580-f805-4401-95e8-94b7a6ef2fc2";

/// The `.default` scope Microsoft documents for a well-known API in `cloud`
/// (Graph national cloud deployments; the Management API's endpoints per
/// plan); `None` for another API, or where the address is not known (the
/// Management API in China). A template's scope for these must match.
pub fn microsoft_scope(api_app_id: &str, cloud: Cloud) -> Option<&'static str> {
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
#[serde(deny_unknown_fields)]
pub struct TokenScope {
    pub api_app_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commercial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcc: Option<String>,
    #[serde(default, rename = "gcc-high", skip_serializing_if = "Option::is_none")]
    pub gcc_high: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub china: Option<String>,
}

impl TokenScope {
    /// The scope for `cloud`, if the API is known to exist there.
    pub fn scope(&self, cloud: Cloud) -> Option<&str> {
        match cloud {
            Cloud::Commercial => self.commercial.as_deref(),
            Cloud::Gcc => self.gcc.as_deref(),
            Cloud::GccHigh => self.gcc_high.as_deref(),
            Cloud::Dod => self.dod.as_deref(),
            Cloud::China => self.china.as_deref(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        [
            &self.commercial,
            &self.gcc,
            &self.gcc_high,
            &self.dod,
            &self.china,
        ]
        .into_iter()
        .filter_map(|s| s.as_deref())
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
    pub graph_endpoints: Vec<String>,
}

/// Where a template came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
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
    pub title: String,
    pub summary: String,
    /// The payload it collects; written as in the file (`entra-app`).
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    pub fields: Vec<Field>,
    pub permissions: Vec<Permission>,
    pub tokens: Vec<TokenScope>,
    /// The clouds the template works in, in [`Cloud::ALL`]'s order: every
    /// API it uses has a token scope there and everything it reads exists
    /// there. The customer's form offers only these, `--verify` refuses the
    /// others, and collectors should ask [`Integration::accepts_cloud`].
    pub clouds: Vec<Cloud>,
    /// Ordered plain sentences for the portal.
    pub steps: Vec<String>,
    /// What the customer ticks before submitting.
    pub checklist: Vec<String>,
    /// Licences, delays, caveats.
    pub notes: Vec<String>,
    pub targets: Vec<Target>,
    pub collect: Collect,
    pub origin: Origin,
}

impl Integration {
    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Custom { .. })
    }

    /// Whether the template works for a tenant in `cloud`. What a collector
    /// or target should ask before it writes a credential for this template.
    pub fn accepts_cloud(&self, cloud: Cloud) -> bool {
        self.clouds.contains(&cloud)
    }

    /// Why the template does not accept `cloud`, as a clause for a sentence
    /// to the PM; `None` when it does.
    pub fn cloud_refusal(&self, cloud: Cloud) -> Option<String> {
        if self.clouds.contains(&cloud) {
            return None;
        }
        Some(
            unworkable_in(cloud, &self.permissions, &self.tokens, &self.collect)
                .unwrap_or_else(|| format!("the template does not list {cloud} among its clouds")),
        )
    }

    /// The clouds, by name, joined for a sentence ("commercial, gcc, dod").
    pub fn cloud_names(&self) -> String {
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
        self.clouds.contains(&cloud).then(|| az_script(self, cloud))
    }

    /// The permissions grouped by API, in the order the APIs first appear.
    pub fn permissions_by_api(&self) -> Vec<(&str, &str, Vec<&Permission>)> {
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

fn kind_name<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match kind {
        Kind::EntraApp => "entra-app",
        Kind::Text => "text",
    })
}

/// The file as written; [`check`] turns it into an [`Integration`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    title: String,
    summary: String,
    kind: String,
    #[serde(default)]
    fields: Vec<Field>,
    #[serde(default)]
    permissions: Vec<Permission>,
    #[serde(default)]
    tokens: Vec<TokenScope>,
    /// Absent: every cloud all of the template's APIs have a scope for.
    #[serde(default)]
    clouds: Option<Vec<Cloud>>,
    steps: Vec<String>,
    #[serde(default)]
    checklist: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    targets: Vec<Target>,
    #[serde(default)]
    collect: Collect,
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
            .map(|(name, text)| match parse(name, text, Origin::Builtin) {
                Ok(i) => i,
                // The built-ins are checked by a unit test on every build.
                Err(e) => panic!("built-in integration template is invalid: {e}"),
            })
            .collect();
        Integrations {
            list,
            notices: Vec::new(),
        }
    }

    /// The built-ins plus every `*.toml` in `dir`. A custom file with a
    /// built-in's id replaces it (and a notice says so); a file that does not
    /// parse or check stops the load with an error naming the file.
    pub fn load(dir: Option<&Path>) -> Result<Integrations, String> {
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
            let mut integration = parse(
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

    pub fn all(&self) -> &[Integration] {
        &self.list
    }

    /// What the load wants the operator to know (e.g. replaced built-ins).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }
}

/// `'...'` for a POSIX shell: custom titles must not run anything.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How often, and how far apart in seconds, the script retries a step that
/// needs the new app to have replicated across the directory.
const AZ_TRIES: u32 = 6;
const AZ_PAUSE_SECONDS: u32 = 10;

fn az_script(i: &Integration, cloud: Cloud) -> String {
    let mut out = String::new();
    let name = format!("{} (SOC log collection)", i.title);
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# {}: run in bash as an administrator of your tenant who can grant admin consent.",
        i.title
    );
    let _ = writeln!(out, "az cloud set --name {}", cloud.az_cloud_name());
    let _ = writeln!(out, "az login --allow-no-subscriptions");
    let _ = writeln!(
        out,
        "# A new app takes a moment to reach every directory replica: retry() tries a command up to {AZ_TRIES} times, {AZ_PAUSE_SECONDS} seconds apart."
    );
    let _ = writeln!(
        out,
        "retry() {{ for attempt in $(seq {AZ_TRIES}); do \"$@\" && return 0; [ \"$attempt\" -lt {AZ_TRIES} ] && sleep {AZ_PAUSE_SECONDS}; done; echo \"Gave up after {AZ_TRIES} tries: $*\" >&2; return 1; }}"
    );
    let _ = writeln!(
        out,
        "APP_ID=$(az ad app create --display-name {} --query appId --output tsv)",
        shell_quote(&name)
    );
    let _ = writeln!(out, "retry az ad sp create --id \"$APP_ID\" --output none");
    let mut role_var = 0;
    for (api, api_app_id, perms) in i.permissions_by_api() {
        let names: Vec<String> = perms
            .iter()
            .map(|p| {
                if p.optional {
                    format!("{} (optional)", p.name)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "# {api}: {}", names.join(", "));
        if cloud.is_az_commercial() {
            for p in perms.iter().filter(|p| !p.verified) {
                let _ = writeln!(
                    out,
                    "# {}: this app-role id is not confirmed against Microsoft's reference; check it in the portal.",
                    p.name
                );
            }
            let roles: Vec<String> = perms.iter().map(|p| format!("{}=Role", p.id)).collect();
            let _ = writeln!(
                out,
                "az ad app permission add --id \"$APP_ID\" --api {api_app_id} --api-permissions {}",
                roles.join(" ")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "# App-role ids differ between clouds, so each is looked up by name in this cloud's own {api} service principal."
        );
        for p in perms {
            role_var += 1;
            let var = format!("ROLE_{role_var}");
            let _ = writeln!(
                out,
                "{var}=$(az ad sp show --id {api_app_id} --query \"appRoles[?value=='{}'].id\" --output tsv)",
                p.name
            );
            let missing = if p.optional {
                format!(
                    "{} is not offered in this cloud; it is optional, so carry on and tell the SOC.",
                    p.name
                )
            } else {
                format!("{} is not offered in this cloud; tell the SOC.", p.name)
            };
            let _ = writeln!(
                out,
                "if [ -n \"${var}\" ]; then az ad app permission add --id \"$APP_ID\" --api {api_app_id} --api-permissions \"${var}=Role\"; else echo {} >&2; fi",
                shell_quote(&missing)
            );
        }
    }
    if cloud.is_az_commercial() {
        let _ = writeln!(
            out,
            "retry az ad app permission admin-consent --id \"$APP_ID\""
        );
    } else {
        let _ = writeln!(
            out,
            "TENANT_ID=$(az account show --query tenantId --output tsv)"
        );
        let _ = writeln!(
            out,
            "# az grants admin consent only in the commercial cloud: open this address as an administrator who may consent for the whole organisation, and accept."
        );
        let _ = writeln!(
            out,
            "echo \"https://{}/$TENANT_ID/adminconsent?client_id=$APP_ID\"",
            cloud.login_host()
        );
        let _ = writeln!(
            out,
            "# Then check under App registrations, API permissions, that every permission shows a green tick; where one does not, choose \"Grant admin consent\" there."
        );
    }
    let _ = writeln!(
        out,
        "# Prints the appId, password and tenant as JSON: paste that JSON into the form."
    );
    let _ = writeln!(out, "az ad app credential reset --id \"$APP_ID\" --years 1");
    out
}

fn parse(name: &str, text: &str, origin: Origin) -> Result<Integration, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    check(file, origin).map_err(|e| format!("{name}: {e}"))
}

fn is_id(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_permission_name(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `path` is `base` or below it (`/security/alerts/1`,
/// `/security/alerts?$top=5`), but not a sibling (`/security/alerts_v2`).
fn is_path_under(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// Why the legacy alerts API cannot be collected, after its name.
const LEGACY_ALERTS: &str = "is the legacy alerts API, which Microsoft retired on 2026-10-15 (it returns no data since); read security/alerts_v2 with SecurityAlert.Read.All instead";

/// Graph security alerts and incidents exist only in the global and US
/// Government clouds: Microsoft's pages for `GET /security/alerts_v2` and
/// `GET /security/incidents` include `global-us.md` ("available in the
/// following national cloud deployments": global, US Government L4 and L5),
/// not China operated by 21Vianet.
const NOT_IN_CHINA_RELATIONSHIPS: [&str; 3] = ["alerts", "alerts_v2", "incidents"];
const NOT_IN_CHINA_PATHS: [&str; 3] = [
    "/security/alerts",
    "/security/alerts_v2",
    "/security/incidents",
];
const NOT_IN_CHINA_PERMISSIONS: [&str; 2] = ["SecurityAlert.", "SecurityIncident."];

/// Why a template with these permissions, scopes and reads cannot work for
/// a tenant in `cloud`, as a clause; `None` when it can.
fn unworkable_in(
    cloud: Cloud,
    permissions: &[Permission],
    tokens: &[TokenScope],
    collect: &Collect,
) -> Option<String> {
    // What does not exist in a cloud is the real reason, ahead of a scope
    // left out because of it.
    if cloud == Cloud::China {
        const ABSENT: &str =
            "Microsoft Graph security alerts and incidents do not exist in the China cloud";
        if let Some(p) = permissions.iter().find(|p| {
            NOT_IN_CHINA_PERMISSIONS
                .iter()
                .any(|x| p.name.starts_with(x))
        }) {
            return Some(format!("{ABSENT}, and {} is for them", p.name));
        }
        for r in collect
            .graph_resources
            .iter()
            .filter(|r| r.name == "security")
        {
            if let Some(x) = r
                .relationships
                .iter()
                .find(|x| NOT_IN_CHINA_RELATIONSHIPS.contains(&x.as_str()))
            {
                return Some(format!("{ABSENT} (collect reads security/{x})"));
            }
        }
        if let Some(e) = collect
            .graph_endpoints
            .iter()
            .find(|e| NOT_IN_CHINA_PATHS.iter().any(|base| is_path_under(e, base)))
        {
            return Some(format!("{ABSENT} (collect reads {e})"));
        }
        if !collect.content_types.is_empty() {
            return Some(
                "the Office 365 Management API's address in the China cloud is not known to handoff"
                    .to_owned(),
            );
        }
    }
    for p in permissions {
        let scope = tokens
            .iter()
            .find(|t| t.api_app_id.eq_ignore_ascii_case(&p.api_app_id))
            .and_then(|t| t.scope(cloud));
        if scope.is_none() {
            return Some(format!(
                "[[tokens]] give the {} API no {} scope (it is not known to exist there)",
                p.api,
                cloud.as_str()
            ));
        }
    }
    None
}

/// Words that tell a customer they may go without a permission.
const OPTIONAL_WORDING: [&str; 9] = [
    "optional",
    "leave it out",
    "leave out",
    "skip it",
    "omit",
    "not needed",
    "not required",
    "need not",
    "no need",
];

/// A guide never calls a required permission optional: not its reason, nor
/// any sentence of the summary, steps, checklist or notes that names it.
/// Only `optional = true` permissions may be described so.
fn check_optional_wording(f: &File) -> Result<(), String> {
    let says_optional = |text: &str| {
        let lower = text.to_lowercase();
        OPTIONAL_WORDING
            .iter()
            .find(|w| lower.contains(*w))
            .copied()
    };
    for p in f.permissions.iter().filter(|p| !p.optional) {
        if let Some(word) = says_optional(&p.reason) {
            return Err(format!(
                "permission {:?} is required, but its reason says {word:?}; mark it optional = true or reword the reason",
                p.name
            ));
        }
        let guide = std::iter::once(&f.summary)
            .chain(&f.steps)
            .chain(&f.checklist)
            .chain(&f.notes);
        for text in guide {
            for sentence in sentences(text).filter(|s| s.contains(&p.name)) {
                if let Some(word) = says_optional(sentence) {
                    return Err(format!(
                        "permission {:?} is required, but the guide says {word:?} about it ({sentence:?}); mark it optional = true or reword",
                        p.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `text` cut after each '.', ';', '!' or '?' that a space or the end
/// follows (so permission names, dotted words, stay whole).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let rest_trimmed = rest.trim_start();
        if rest_trimmed.is_empty() {
            return None;
        }
        let bytes = rest_trimmed.as_bytes();
        let end = (0..bytes.len())
            .find(|&i| {
                matches!(bytes[i], b'.' | b';' | b'!' | b'?')
                    && bytes.get(i + 1).is_none_or(u8::is_ascii_whitespace)
            })
            .map_or(bytes.len(), |i| i + 1);
        let (sentence, after) = rest_trimmed.split_at(end);
        rest = after;
        Some(sentence)
    })
}

fn is_field_name(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check(f: File, origin: Origin) -> Result<Integration, String> {
    if !is_id(&f.id) {
        return Err(format!(
            "id {:?} must be 1 to 40 characters from a-z, 0-9 and '-'",
            f.id
        ));
    }
    for (what, value) in [("title", &f.title), ("summary", &f.summary)] {
        if value.trim().is_empty() {
            return Err(format!("{what} must not be empty"));
        }
    }
    let kind = match f.kind.as_str() {
        "entra-app" => Kind::EntraApp,
        // The request page, its checks and the collector all expect an app
        // registration; free text goes through the public page instead.
        "text" => {
            return Err(
                "kind \"text\" is not supported for integration templates: a request collects \
                 an Entra app registration (send free text as a one-off link instead)"
                    .to_owned(),
            );
        }
        other => return Err(format!("kind {other:?} is unknown (known: entra-app)")),
    };
    if f.targets.is_empty() {
        return Err("targets must name at least one collector target".to_owned());
    }
    if f.steps.is_empty() {
        return Err("steps must not be empty".to_owned());
    }

    let mut names = BTreeSet::new();
    for field in &f.fields {
        if !is_field_name(&field.name) {
            return Err(format!(
                "field name {:?} must start with a-z and use only a-z, 0-9 and '_' (at most 40)",
                field.name
            ));
        }
        // A template's own fields must not reuse the names every `entra-app`
        // payload already has.
        if kind == Kind::EntraApp && crate::template::is_entra_field(&field.name) {
            let core: Vec<&str> = crate::template::ENTRA_FIELDS
                .iter()
                .map(|f| f.name)
                .collect();
            return Err(format!(
                "field {:?} clashes with a core Entra field ({})",
                field.name,
                core.join(", ")
            ));
        }
        if !names.insert(field.name.as_str()) {
            return Err(format!("field {:?} is listed twice", field.name));
        }
        if field.label.trim().is_empty() {
            return Err(format!("field {:?} needs a label", field.name));
        }
        match (&field.pattern, &field.pattern_message) {
            (Some(p), Some(m)) if !p.is_empty() && !m.trim().is_empty() => {}
            (None, None) => {}
            _ => {
                return Err(format!(
                    "field {:?}: a pattern needs a pattern_message, and the other way round",
                    field.name
                ));
            }
        }
    }

    if kind == Kind::EntraApp && f.permissions.is_empty() {
        return Err("an entra-app template needs at least one permission".to_owned());
    }
    let mut seen = BTreeSet::new();
    for p in &f.permissions {
        if !is_guid(&p.api_app_id) {
            return Err(format!(
                "permission {:?}: api_app_id {:?} is not a GUID",
                p.name, p.api_app_id
            ));
        }
        if !is_guid(&p.id) {
            return Err(format!(
                "permission {:?}: id {:?} is not a GUID",
                p.name, p.id
            ));
        }
        for (what, value) in [("api", &p.api), ("name", &p.name), ("reason", &p.reason)] {
            if value.trim().is_empty() {
                return Err(format!("permission {:?}: {what} must not be empty", p.name));
            }
        }
        // The name goes into the generated az script (a JMESPath query in
        // double quotes), so it must stay the plain dotted word it always is.
        if !is_permission_name(&p.name) {
            return Err(format!(
                "permission {:?}: a name is letters, digits, '.', '_' and '-', starting with a letter (like SecurityAlert.Read.All)",
                p.name
            ));
        }
        if !seen.insert((p.api_app_id.to_ascii_lowercase(), p.id.to_ascii_lowercase())) {
            return Err(format!("permission {:?} is listed twice", p.name));
        }
        if !f.tokens.iter().any(|t| t.api_app_id == p.api_app_id) {
            return Err(format!(
                "permission {:?}: no [[tokens]] entry gives the scope for API {}",
                p.name, p.api_app_id
            ));
        }
    }
    for t in &f.tokens {
        if !is_guid(&t.api_app_id) {
            return Err(format!(
                "tokens: api_app_id {:?} is not a GUID",
                t.api_app_id
            ));
        }
        if t.all().next().is_none() {
            return Err(format!("tokens for {} name no cloud", t.api_app_id));
        }
        if let Some(bad) = t
            .all()
            .find(|s| !(s.starts_with("https://") && s.ends_with("/.default")))
        {
            return Err(format!(
                "tokens: scope {bad:?} should look like https://host/.default"
            ));
        }
        for cloud in Cloud::ALL {
            if let (Some(given), Some(known)) =
                (t.scope(cloud), microsoft_scope(&t.api_app_id, cloud))
                && given.trim_end_matches("/.default").trim_end_matches('/')
                    != known.trim_end_matches("/.default")
            {
                return Err(format!(
                    "tokens: the {} scope of {} is {known}, not {given}",
                    cloud.as_str(),
                    t.api_app_id
                ));
            }
        }
    }

    for ct in &f.collect.content_types {
        if !CONTENT_TYPES.contains(&ct.as_str()) {
            return Err(format!(
                "collect.content_types: {ct:?} is unknown (known: {})",
                CONTENT_TYPES.join(", ")
            ));
        }
    }
    if f.collect.content_types.iter().any(|c| c == "DLP.All")
        && !f
            .permissions
            .iter()
            .any(|p| p.name == "ActivityFeed.ReadDlp")
    {
        return Err(
            "collect.content_types has DLP.All, which needs ActivityFeed.ReadDlp".to_owned(),
        );
    }
    for r in &f.collect.graph_resources {
        let Some((_, known)) = GRAPH_RESOURCES.iter().find(|(n, _)| *n == r.name) else {
            return Err(format!(
                "collect.graph_resources: resource {:?} is not one Wazuh's ms-graph module reads",
                r.name
            ));
        };
        if r.relationships.is_empty() {
            return Err(format!(
                "collect.graph_resources: {:?} needs at least one relationship",
                r.name
            ));
        }
        if let Some(bad) = r
            .relationships
            .iter()
            .find(|x| !known.contains(&x.as_str()))
        {
            return Err(format!(
                "collect.graph_resources: {}/{bad} is unknown (known: {})",
                r.name,
                known.join(", ")
            ));
        }
        if r.name == "security" && r.relationships.iter().any(|x| x == "alerts") {
            return Err(format!(
                "collect.graph_resources: security/alerts {LEGACY_ALERTS}"
            ));
        }
    }
    if let Some(bad) = f
        .collect
        .graph_endpoints
        .iter()
        .find(|e| !e.starts_with('/'))
    {
        return Err(format!(
            "collect.graph_endpoints: {bad:?} should be a path starting with '/'"
        ));
    }
    if let Some(bad) = f
        .collect
        .graph_endpoints
        .iter()
        .find(|e| is_path_under(e, "/security/alerts"))
    {
        return Err(format!("collect.graph_endpoints: {bad} {LEGACY_ALERTS}"));
    }
    check_optional_wording(&f)?;
    let clouds = match &f.clouds {
        Some(claimed) => {
            if claimed.is_empty() {
                return Err("clouds must name at least one cloud".to_owned());
            }
            for (n, cloud) in claimed.iter().enumerate() {
                if claimed[..n].contains(cloud) {
                    return Err(format!("clouds lists {} twice", cloud.as_str()));
                }
                if let Some(why) = unworkable_in(*cloud, &f.permissions, &f.tokens, &f.collect) {
                    return Err(format!(
                        "clouds lists {}, but {why}; leave it out of clouds",
                        cloud.as_str()
                    ));
                }
            }
            let mut clouds = claimed.clone();
            clouds.sort();
            clouds
        }
        None => {
            let clouds: Vec<Cloud> = Cloud::ALL
                .into_iter()
                .filter(|c| unworkable_in(*c, &f.permissions, &f.tokens, &f.collect).is_none())
                .collect();
            if clouds.is_empty() {
                return Err(
                    "no cloud has a token scope for every API the permissions use, so the template works nowhere".to_owned(),
                );
            }
            clouds
        }
    };
    for (what, empty) in [
        (Reads::ContentTypes, f.collect.content_types.is_empty()),
        (Reads::GraphResources, f.collect.graph_resources.is_empty()),
    ] {
        if empty && f.targets.iter().any(|t| t.reads() == what) {
            let readers: Vec<&str> = Target::ALL
                .iter()
                .filter(|t| t.reads() == what)
                .map(|t| t.as_str())
                .collect();
            return Err(match readers.as_slice() {
                [one] => format!("target {one} needs collect.{}", what.key()),
                _ => format!(
                    "targets {} need collect.{}",
                    readers.join(" and "),
                    what.key()
                ),
            });
        }
    }

    let mut targets = f.targets;
    targets.dedup();
    Ok(Integration {
        id: f.id,
        title: f.title,
        summary: f.summary,
        kind,
        fields: f.fields,
        permissions: f.permissions,
        tokens: f.tokens,
        clouds,
        steps: f.steps,
        checklist: f.checklist,
        notes: f.notes,
        targets,
        collect: f.collect,
        origin,
    })
}

/// `--templates-dir`, for commands (and `serve`) to flatten.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TemplatesArgs {
    /// A directory of extra integration templates (*.toml); a file with a
    /// built-in template's id replaces it.
    #[arg(
        long = "templates-dir",
        env = "HANDOFF_TEMPLATES_DIR",
        value_name = "DIR",
        global = true
    )]
    pub templates_dir: Option<PathBuf>,
}

impl TemplatesArgs {
    pub fn load(&self) -> Result<Integrations, String> {
        Integrations::load(self.templates_dir.as_deref())
    }
}

/// The full guide for `handoff templates show`.
pub fn guide(i: &Integration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", i.title, i.id);
    if let Origin::Custom {
        path,
        replaces_builtin,
    } = &i.origin
    {
        let how = if *replaces_builtin {
            "custom, replacing the built-in"
        } else {
            "custom"
        };
        let _ = writeln!(out, "Source: {} ({how})", path.display());
    }
    let _ = writeln!(out, "\n{}\n", i.summary);

    let _ = writeln!(
        out,
        "Application permissions (type Application, admin consent required):"
    );
    let w_api = i.permissions.iter().map(|p| p.api.len()).max().unwrap_or(0);
    let w_name = i
        .permissions
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    for p in &i.permissions {
        let flag = match (p.verified, p.optional) {
            (true, false) => "",
            (false, false) => "  [id unverified]",
            (true, true) => "  [optional]",
            (false, true) => "  [optional, id unverified]",
        };
        let _ = writeln!(
            out,
            "  {:w_api$}  {:w_name$}  {}{flag}\n  {:w_api$}  {:w_name$}  {}",
            p.api, p.name, p.id, "", "", p.reason
        );
    }

    if !i.fields.is_empty() {
        let _ = writeln!(out, "\nAlso asked for:");
        for f in &i.fields {
            let req = if f.required { "required" } else { "optional" };
            let _ = writeln!(out, "  {} ({}, {req}): {}", f.label, f.name, f.help);
        }
    }

    let _ = writeln!(out, "\nIn the portal:");
    for (n, step) in i.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {step}", n + 1);
    }

    if !i.checklist.is_empty() {
        let _ = writeln!(out, "\nBefore you submit:");
        for c in &i.checklist {
            let _ = writeln!(out, "  [ ] {c}");
        }
    }

    if !i.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in &i.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }

    let _ = writeln!(out, "\nCollector targets:");
    for t in &i.targets {
        let need = match t.reads() {
            Reads::ContentTypes => {
                format!("content types {}", i.collect.content_types.join(", "))
            }
            Reads::GraphResources => i
                .collect
                .graph_resources
                .iter()
                .map(|r| format!("{} ({})", r.name, r.relationships.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
            Reads::GraphEndpoints => i.collect.graph_endpoints.join(", "),
        };
        if need.is_empty() {
            let _ = writeln!(out, "  {}", t.as_str());
        } else {
            let _ = writeln!(out, "  {}: {need}", t.as_str());
        }
    }

    let _ = writeln!(out, "\nToken scopes (client credentials):");
    for t in &i.tokens {
        let _ = writeln!(out, "  {}", t.api_app_id);
        for cloud in Cloud::ALL {
            if let Some(scope) = t.scope(cloud) {
                let _ = writeln!(out, "    {cloud}: {scope}");
            }
        }
    }

    let _ = writeln!(out, "\nClouds: {}", i.cloud_names());
    for cloud in Cloud::ALL {
        if let Some(why) = i.cloud_refusal(cloud) {
            let _ = writeln!(out, "  not {}: {why}", cloud.as_str());
        }
    }

    // Clouds whose scripts are the same (commercial and GCC; GCC High and
    // DoD) share one listing.
    let mut scripts: Vec<(Vec<&str>, String)> = Vec::new();
    for &cloud in &i.clouds {
        let Some(script) = i.az_script(cloud) else {
            continue;
        };
        match scripts.iter_mut().find(|(_, s)| *s == script) {
            Some((clouds, _)) => clouds.push(cloud.as_str()),
            None => scripts.push((vec![cloud.as_str()], script)),
        }
    }
    for (clouds, script) in scripts {
        let _ = writeln!(out, "\nOr with the Azure CLI ({}):\n", clouds.join(", "));
        out.push_str(&script);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn minimal(id: &str) -> String {
        format!(
            r#"
id = "{id}"
title = "Custom"
summary = "A custom template."
kind = "entra-app"
targets = ["json"]
steps = ["Do the thing."]

[[permissions]]
api = "Microsoft Graph"
api_app_id = "{GRAPH}"
name = "AuditLog.Read.All"
id = "b0afded3-3588-46d8-8b3d-9842eff778da"
reason = "Sign-in logs."

[[tokens]]
api_app_id = "{GRAPH}"
commercial = "https://graph.microsoft.com/.default"
"#
        )
    }

    fn check_text(text: &str) -> Result<Integration, String> {
        parse("test.toml", text, Origin::Builtin)
    }

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
                "m365-posture"
            ]
        );
        for i in all.all() {
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
    fn az_commands_are_generated_from_the_permissions() {
        let all = Integrations::builtin();
        for i in all.all() {
            let az = i.az_script(Cloud::Commercial).unwrap();
            assert!(
                az.contains("APP_ID=$(az ad app create --display-name '"),
                "{az}"
            );
            assert!(az.contains("retry az ad sp create --id \"$APP_ID\" --output none\n"));
            assert!(az.contains("retry az ad app permission admin-consent --id \"$APP_ID\"\n"));
            assert!(az.ends_with("az ad app credential reset --id \"$APP_ID\" --years 1\n"));
            for p in &i.permissions {
                let line = az
                    .lines()
                    .find(|l| l.contains(&format!("{}=Role", p.id)))
                    .unwrap_or_else(|| panic!("{}: no line for {}:\n{az}", i.id, p.name));
                assert!(
                    line.starts_with(&format!(
                        "az ad app permission add --id \"$APP_ID\" --api {} --api-permissions ",
                        p.api_app_id
                    )),
                    "{line}"
                );
            }
            let adds = az.matches("az ad app permission add").count();
            assert_eq!(adds, i.permissions_by_api().len(), "one add per API");
        }
        let defender = all.get("defender-incidents").unwrap();
        let az = defender.az_script(Cloud::Commercial).unwrap();
        assert!(az.contains("# CustomDetection.Read.All: this app-role id is not confirmed"));
        assert!(az.contains(
            "# Microsoft Graph: SecurityIncident.Read.All, SecurityAlert.Read.All, CustomDetection.Read.All (optional)\n"
        ));
        let o365 = all.get("o365-management").unwrap();
        assert!(o365.az_script(Cloud::Commercial).unwrap().contains(
            "--api c5393580-f805-4401-95e8-94b7a6ef2fc2 --api-permissions 594c1fb6-4f81-4475-ae41-0c394909246c=Role 4807a72c-ad38-4250-94c9-4eabfe26cd55=Role\n"
        ));
    }

    /// `bash -n`: the script parses as bash.
    fn bash_parses(script: &str) -> Result<(), String> {
        use std::io::Write;
        let mut child = std::process::Command::new("bash")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The lines bash runs, comments left out.
    fn commands(script: &str) -> Vec<&str> {
        script.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn az_scripts_fit_each_cloud_the_template_accepts() {
        let all = Integrations::builtin();
        let mut sovereign_scripts = 0;
        for i in all.all() {
            for cloud in Cloud::ALL {
                let Some(az) = i.az_script(cloud) else {
                    assert!(!i.clouds.contains(&cloud), "{} {cloud:?}", i.id);
                    continue;
                };
                let context = format!("{} in {}:\n{az}", i.id, cloud.as_str());
                bash_parses(&az).unwrap_or_else(|e| panic!("{context}\n{e}"));
                let run = commands(&az);
                // The cloud is set, and the admin signed in to it, before anything else.
                assert_eq!(
                    run[..2],
                    [
                        format!("az cloud set --name {}", cloud.az_cloud_name()).as_str(),
                        "az login --allow-no-subscriptions"
                    ],
                    "{context}"
                );
                let expected_cloud = match cloud {
                    Cloud::Commercial | Cloud::Gcc => "AzureCloud",
                    Cloud::GccHigh | Cloud::Dod => "AzureUSGovernment",
                    Cloud::China => "AzureChinaCloud",
                };
                assert_eq!(cloud.az_cloud_name(), expected_cloud);
                let consent_runs = run.iter().any(|l| l.contains("admin-consent"));
                if cloud.is_az_commercial() {
                    assert!(consent_runs, "{context}");
                    continue;
                }
                sovereign_scripts += 1;
                assert!(!consent_runs, "az refuses admin-consent here: {context}");
                let host = match cloud {
                    Cloud::China => "login.chinacloudapi.cn",
                    _ => "login.microsoftonline.us",
                };
                assert!(
                    run.contains(
                        &format!(
                            "echo \"https://{host}/$TENANT_ID/adminconsent?client_id=$APP_ID\""
                        )
                        .as_str()
                    ),
                    "{context}"
                );
                assert!(
                    run.contains(&"TENANT_ID=$(az account show --query tenantId --output tsv)")
                );
                for (n, p) in i.permissions.iter().enumerate() {
                    // Resolved by name in this cloud: the pinned commercial id never appears.
                    assert!(!az.contains(&p.id), "{}: {context}", p.name);
                    let var = format!("ROLE_{}", n + 1);
                    assert!(
                        run.contains(
                            &format!(
                                "{var}=$(az ad sp show --id {} --query \"appRoles[?value=='{}'].id\" --output tsv)",
                                p.api_app_id, p.name
                            )
                            .as_str()
                        ),
                        "{}: {context}",
                        p.name
                    );
                    assert!(
                        az.contains(&format!(
                            "if [ -n \"${var}\" ]; then az ad app permission add --id \"$APP_ID\" --api {} --api-permissions \"${var}=Role\"; else echo '{} is not offered in this cloud;",
                            p.api_app_id, p.name
                        )),
                        "{}: {context}",
                        p.name
                    );
                }
            }
        }
        // GCC High and DoD for every template; China for identity-protection.
        assert_eq!(sovereign_scripts, 5 * 2 + 1);
    }

    #[test]
    fn the_retry_in_the_script_is_bounded_and_stops_at_the_first_success() {
        let az = Integrations::builtin()
            .get("o365-management")
            .unwrap()
            .az_script(Cloud::Commercial)
            .unwrap();
        let retry = az
            .lines()
            .find(|l| l.starts_with("retry() {"))
            .unwrap()
            .to_owned();
        // `sleep` is stubbed out and counted; `flaky N` fails until its Nth call.
        let run = |calls_to_success: u32| -> (bool, String) {
            let script = format!(
                "sleep() {{ echo \"slept $1\"; }}\ncalls=0\nflaky() {{ calls=$((calls+1)); echo \"call $calls\"; [ \"$calls\" -ge {calls_to_success} ]; }}\n{retry}\nretry flaky\n"
            );
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let (ok, out) = run(3);
        assert!(ok);
        assert_eq!(out, "call 1\nslept 10\ncall 2\nslept 10\ncall 3\n");
        let (ok, out) = run(100);
        assert!(!ok, "gives up");
        assert_eq!(out.matches("call ").count(), 6, "{out}");
        assert_eq!(
            out.matches("slept 10").count(),
            5,
            "no pause after the last try: {out}"
        );
    }

    #[test]
    fn only_the_templates_that_read_graph_alerts_or_incidents_refuse_china() {
        let all = Integrations::builtin();
        let refuse: Vec<&str> = all
            .all()
            .iter()
            .filter(|i| !i.accepts_cloud(Cloud::China))
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(
            refuse,
            [
                "o365-management",
                "graph-security-alerts",
                "defender-incidents",
                "m365-posture"
            ]
        );
        for i in all.all() {
            for cloud in [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod] {
                assert!(i.accepts_cloud(cloud), "{} {cloud}", i.id);
                assert_eq!(i.cloud_refusal(cloud), None);
            }
        }
        let why = all
            .get("defender-incidents")
            .unwrap()
            .cloud_refusal(Cloud::China)
            .unwrap();
        assert_eq!(
            why,
            "Microsoft Graph security alerts and incidents do not exist in the China cloud, and SecurityIncident.Read.All is for them"
        );
        let why = all
            .get("o365-management")
            .unwrap()
            .cloud_refusal(Cloud::China)
            .unwrap();
        assert_eq!(
            why,
            "the Office 365 Management API's address in the China cloud is not known to handoff"
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
    fn az_display_name_is_shell_quoted() {
        let text = minimal("quoted").replace("title = \"Custom\"", "title = \"It's $(rm -rf /)\"");
        let i = check_text(&text).unwrap();
        let az = i.az_script(Cloud::Commercial).unwrap();
        assert!(
            az.contains("--display-name 'It'\\''s $(rm -rf /) (SOC log collection)' --query"),
            "{az}"
        );
    }

    #[test]
    fn a_custom_directory_adds_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sign-ins.toml"), minimal("sign-ins")).unwrap();
        std::fs::write(dir.path().join("mine.toml"), minimal("m365-posture")).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a template").unwrap();
        let all = Integrations::load(Some(dir.path())).unwrap();
        assert_eq!(all.all().len(), 6);
        let added = all.get("sign-ins").unwrap();
        assert!(added.is_custom());
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
        assert_eq!(Integrations::load(None).unwrap().all().len(), 5);
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
    fn bad_ids_guids_targets_and_kinds_are_refused() {
        let cases: &[(&str, &str, &str)] = &[
            ("id = \"x\"", "id = \"Bad_Id\"", "id \"Bad_Id\""),
            (
                "id = \"x\"",
                &format!("id = \"{}\"", "a".repeat(41)),
                "1 to 40",
            ),
            (
                "id = \"b0afded3-3588-46d8-8b3d-9842eff778da\"",
                "id = \"b0afded3-3588-46d8-8b3d-9842eff778d\"",
                "is not a GUID",
            ),
            (
                "api_app_id = \"00000003-0000-0000-c000-000000000000\"\nname",
                "api_app_id = \"Microsoft Graph\"\nname",
                "is not a GUID",
            ),
            (
                "targets = [\"json\"]",
                "targets = [\"splunk\"]",
                "unknown variant `splunk`",
            ),
            (
                "targets = [\"json\"]",
                "targets = []",
                "at least one collector target",
            ),
            (
                "kind = \"entra-app\"",
                "kind = \"aws\"",
                "kind \"aws\" is unknown",
            ),
            (
                "targets = [\"json\"]",
                "targets = [\"wazuh-ms-graph\"]",
                "target wazuh-ms-graph needs collect.graph_resources",
            ),
            (
                "targets = [\"json\"]",
                "targets = [\"filebeat-o365\"]",
                "targets wazuh-office365 and filebeat-o365 need collect.content_types",
            ),
            (
                "steps = [\"Do the thing.\"]",
                "steps = []",
                "steps must not be empty",
            ),
            (
                "title = \"Custom\"",
                "title = \"Custom\"\ncolour = \"red\"",
                "unknown field `colour`",
            ),
        ];
        for (from, to, expected) in cases {
            let text = minimal("x").replacen(from, to, 1);
            assert_ne!(text, minimal("x"), "{from} is in the sample");
            let err = check_text(&text).unwrap_err();
            assert!(err.starts_with("test.toml: "), "{err}");
            assert!(err.contains(expected), "{to}: {err}");
        }
    }

    #[test]
    fn entra_templates_need_permissions_with_token_scopes() {
        let no_perms = "id = \"x\"\ntitle = \"T\"\nsummary = \"S\"\nkind = \"entra-app\"\ntargets = [\"json\"]\nsteps = [\"s\"]\n";
        assert!(
            check_text(no_perms)
                .unwrap_err()
                .contains("at least one permission")
        );
        let text_kind = no_perms.replace("entra-app", "text");
        assert!(
            check_text(&text_kind)
                .unwrap_err()
                .contains("not supported")
        );
        let no_tokens = minimal("x").split("[[tokens]]").next().unwrap().to_owned();
        assert!(
            check_text(&no_tokens)
                .unwrap_err()
                .contains("no [[tokens]] entry")
        );
        let bad_scope = minimal("x").replace("/.default", "");
        assert!(
            check_text(&bad_scope)
                .unwrap_err()
                .contains("https://host/.default")
        );
    }

    #[test]
    fn a_well_known_apis_scope_must_be_its_clouds_own() {
        let text = graph_template("", "", "AuditLog.Read.All").replace(
            "gcc-high = \"https://graph.microsoft.us/.default\"",
            "gcc-high = \"https://graph.microsoft.com/.default\"",
        );
        assert_eq!(
            check_text(&text).unwrap_err(),
            "test.toml: tokens: the gcc-high scope of 00000003-0000-0000-c000-000000000000 is https://graph.microsoft.us/.default, not https://graph.microsoft.com/.default"
        );
        // An API handoff does not know keeps whatever scope the template gives.
        let other = minimal("x").replace(GRAPH, "11111111-2222-3333-4444-555555555555");
        assert!(check_text(&other).is_ok());
        for i in Integrations::builtin().all() {
            for t in &i.tokens {
                for c in Cloud::ALL {
                    if let Some(scope) = t.scope(c) {
                        assert_eq!(
                            Some(scope),
                            microsoft_scope(&t.api_app_id, c),
                            "{} {c:?}",
                            i.id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fields_must_be_unique_and_not_core() {
        let with = |fields: &str| format!("{}\n{fields}", minimal("x"));
        let good = with(
            "[[fields]]\nname = \"workspace_id\"\nlabel = \"Workspace ID\"\nhelp = \"In the portal.\"\nrequired = true\npattern = \"^[0-9a-f-]{36}$\"\npattern_message = \"A GUID.\"\n",
        );
        let i = check_text(&good).unwrap();
        assert_eq!(i.fields[0].name, "workspace_id");
        assert!(i.fields[0].required);

        let core = with("[[fields]]\nname = \"client_secret\"\nlabel = \"Secret\"\n");
        assert!(
            check_text(&core)
                .unwrap_err()
                .contains("clashes with a core Entra field")
        );
        let twice = with(
            "[[fields]]\nname = \"a\"\nlabel = \"A\"\n[[fields]]\nname = \"a\"\nlabel = \"A again\"\n",
        );
        assert!(check_text(&twice).unwrap_err().contains("listed twice"));
        let shape = with("[[fields]]\nname = \"Has Space\"\nlabel = \"A\"\n");
        assert!(
            check_text(&shape)
                .unwrap_err()
                .contains("must start with a-z")
        );
        let half = with("[[fields]]\nname = \"a\"\nlabel = \"A\"\npattern = \"^a$\"\n");
        assert!(
            check_text(&half)
                .unwrap_err()
                .contains("needs a pattern_message")
        );
    }

    #[test]
    fn collect_data_is_checked() {
        let with = |collect: &str| format!("{}\n[collect]\n{collect}\n", minimal("x"));
        assert!(
            check_text(&with("content_types = [\"Audit.Teams\"]"))
                .unwrap_err()
                .contains("\"Audit.Teams\" is unknown")
        );
        assert!(
            check_text(&with("content_types = [\"DLP.All\"]"))
                .unwrap_err()
                .contains("needs ActivityFeed.ReadDlp")
        );
        assert!(
            check_text(&with(
                "graph_resources = [{ name = \"security\", relationships = [\"riskyUsers\"] }]"
            ))
            .unwrap_err()
            .contains("security/riskyUsers is unknown")
        );
        assert!(
            check_text(&with(
                "graph_resources = [{ name = \"identityProtection\", relationships = [\"riskyUsers\"] }]"
            ))
            .unwrap_err()
            .contains("identityProtection/riskyUsers is unknown")
        );
        assert!(
            check_text(&with(
                "graph_resources = [{ name = \"directoryAudits\", relationships = [\"x\"] }]"
            ))
            .unwrap_err()
            .contains("not one Wazuh's ms-graph module reads")
        );
        assert!(
            check_text(&with(
                "graph_resources = [{ name = \"auditLogs\", relationships = [\"signIns\"] }]"
            ))
            .is_ok()
        );
    }

    /// `minimal` with every cloud's Graph scope, `clouds` and `collect` set.
    fn graph_template(clouds: &str, collect: &str, permission: &str) -> String {
        minimal("x")
            .replace("name = \"AuditLog.Read.All\"", &format!("name = \"{permission}\""))
            .replace(
                "commercial = \"https://graph.microsoft.com/.default\"\n",
                "commercial = \"https://graph.microsoft.com/.default\"\ngcc = \"https://graph.microsoft.com/.default\"\ngcc-high = \"https://graph.microsoft.us/.default\"\ndod = \"https://dod-graph.microsoft.us/.default\"\nchina = \"https://microsoftgraph.chinacloudapi.cn/.default\"\n",
            )
            .replace("targets = [\"json\"]", &format!("targets = [\"json\"]\n{clouds}"))
            + &format!("\n[collect]\n{collect}\n")
    }

    #[test]
    fn a_claimed_cloud_must_have_a_token_scope_for_every_api() {
        // minimal() has only a commercial scope.
        let text = minimal("x").replace(
            "targets = [\"json\"]",
            "targets = [\"json\"]\nclouds = [\"commercial\", \"gcc-high\"]",
        );
        assert_eq!(
            check_text(&text).unwrap_err(),
            "test.toml: clouds lists gcc-high, but [[tokens]] give the Microsoft Graph API no gcc-high scope (it is not known to exist there); leave it out of clouds"
        );
        let only_commercial = text.replace(", \"gcc-high\"", "");
        assert_eq!(
            check_text(&only_commercial).unwrap().clouds,
            [Cloud::Commercial]
        );
        // Without a list, the clouds are those every API has a scope for.
        assert_eq!(
            check_text(&minimal("x")).unwrap().clouds,
            [Cloud::Commercial]
        );
        let all = check_text(&graph_template("", "", "AuditLog.Read.All")).unwrap();
        assert_eq!(all.clouds, Cloud::ALL);
        for (clouds, expected) in [
            ("clouds = []", "clouds must name at least one cloud"),
            ("clouds = [\"gcc\", \"gcc\"]", "clouds lists gcc twice"),
            ("clouds = [\"mars\"]", "unknown variant `mars`"),
        ] {
            let err = check_text(&graph_template(clouds, "", "AuditLog.Read.All")).unwrap_err();
            assert!(err.contains(expected), "{clouds}: {err}");
        }
        // Listed in any order, kept in the forms' order.
        let t = check_text(&graph_template(
            "clouds = [\"dod\", \"commercial\"]",
            "",
            "AuditLog.Read.All",
        ))
        .unwrap();
        assert_eq!(t.clouds, [Cloud::Commercial, Cloud::Dod]);
    }

    #[test]
    fn china_is_refused_where_graph_security_alerts_or_incidents_are_read() {
        let every = "clouds = [\"commercial\", \"gcc\", \"gcc-high\", \"dod\", \"china\"]";
        let cases = [
            (
                "graph_resources = [{ name = \"security\", relationships = [\"incidents\"] }]",
                "AuditLog.Read.All",
                "(collect reads security/incidents)",
            ),
            (
                "graph_resources = [{ name = \"security\", relationships = [\"alerts_v2\"] }]",
                "AuditLog.Read.All",
                "(collect reads security/alerts_v2)",
            ),
            (
                "graph_endpoints = [\"/security/incidents?$top=50\"]",
                "AuditLog.Read.All",
                "(collect reads /security/incidents?$top=50)",
            ),
            (
                "",
                "SecurityAlert.Read.All",
                "and SecurityAlert.Read.All is for them",
            ),
            (
                "",
                "SecurityIncident.Read.All",
                "and SecurityIncident.Read.All is for them",
            ),
        ];
        for (collect, permission, why) in cases {
            let err = check_text(&graph_template(every, collect, permission)).unwrap_err();
            assert!(
                err.starts_with("test.toml: clouds lists china, but Microsoft Graph security alerts and incidents do not exist in the China cloud")
                    && err.contains(why),
                "{collect} {permission}: {err}"
            );
            // Unlisted, china is simply not one of the template's clouds.
            let derived = check_text(&graph_template("", collect, permission)).unwrap();
            assert_eq!(
                derived.clouds,
                [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod]
            );
            assert!(!derived.accepts_cloud(Cloud::China));
        }
        // Secure Score and sign-ins are not ruled out in China.
        let score = graph_template(
            every,
            "graph_resources = [{ name = \"security\", relationships = [\"secureScores\"] }]",
            "SecurityEvents.Read.All",
        );
        assert!(check_text(&score).unwrap().accepts_cloud(Cloud::China));
    }

    #[test]
    fn the_retired_legacy_alerts_api_is_refused() {
        for collect in [
            "graph_resources = [{ name = \"security\", relationships = [\"alerts_v2\", \"alerts\"] }]",
            "graph_endpoints = [\"/security/alerts\"]",
            "graph_endpoints = [\"/security/alerts?$top=10\"]",
        ] {
            let err =
                check_text(&graph_template("", collect, "SecurityEvents.Read.All")).unwrap_err();
            assert!(
                err.contains("is the legacy alerts API, which Microsoft retired on 2026-10-15")
                    && err.contains("read security/alerts_v2 with SecurityAlert.Read.All instead"),
                "{collect}: {err}"
            );
        }
        let current = graph_template(
            "",
            "graph_endpoints = [\"/security/alerts_v2\"]",
            "SecurityAlert.Read.All",
        );
        assert!(check_text(&current).is_ok());
    }

    #[test]
    fn only_a_permission_marked_optional_may_be_called_optional() {
        let with_reason = |reason: &str, optional: bool| {
            let flag = if optional { "\noptional = true" } else { "" };
            minimal("x").replace(
                "reason = \"Sign-in logs.\"",
                &format!("reason = \"{reason}\"{flag}"),
            )
        };
        let err = check_text(&with_reason("Sign-in logs; optional.", false)).unwrap_err();
        assert_eq!(
            err,
            "test.toml: permission \"AuditLog.Read.All\" is required, but its reason says \"optional\"; mark it optional = true or reword the reason"
        );
        let err = check_text(&with_reason("Leave it out if you like.", false)).unwrap_err();
        assert!(err.contains("says \"leave it out\""), "{err}");
        let marked = check_text(&with_reason("Sign-in logs; optional.", true)).unwrap();
        assert!(marked.permissions[0].optional);

        let with_note = |note: &str, optional: bool| {
            with_reason("Sign-in logs.", optional).replace(
                "steps = [\"Do the thing.\"]",
                &format!("steps = [\"Do the thing.\"]\nnotes = [\"{note}\"]"),
            )
        };
        let note = "Add AuditLog.Read.All. If you do not want that, skip it and tell the SOC.";
        // The second sentence does not name the permission.
        assert!(check_text(&with_note(note, false)).is_ok());
        let note = "Sign-ins need P1. AuditLog.Read.All is not needed without it; tell the SOC.";
        let err = check_text(&with_note(note, false)).unwrap_err();
        assert_eq!(
            err,
            "test.toml: permission \"AuditLog.Read.All\" is required, but the guide says \"not needed\" about it (\"AuditLog.Read.All is not needed without it;\"); mark it optional = true or reword"
        );
        assert!(check_text(&with_note(note, true)).is_ok());
        // Steps, the checklist and the summary count as much as notes.
        let step = with_reason("Sign-in logs.", false)
            .replace("Do the thing.", "Tick AuditLog.Read.All (optional).");
        assert!(
            check_text(&step)
                .unwrap_err()
                .contains("the guide says \"optional\"")
        );
    }

    #[test]
    fn the_builtin_guides_call_only_optional_permissions_optional() {
        let all = Integrations::builtin();
        let optional: Vec<(&str, &str)> = all
            .all()
            .iter()
            .flat_map(|i| {
                i.permissions
                    .iter()
                    .filter(|p| p.optional)
                    .map(|p| (i.id.as_str(), p.name.as_str()))
            })
            .collect();
        assert_eq!(
            optional,
            [
                ("defender-incidents", "CustomDetection.Read.All"),
                ("m365-posture", "IdentityRiskyUser.Read.All")
            ]
        );
        // The guides do call these two optional; the data agrees.
        for (id, name) in optional {
            let i = all.get(id).unwrap();
            assert!(
                i.steps
                    .iter()
                    .chain(&i.notes)
                    .any(|t| t.contains(name) && t.contains("optional")),
                "{id}: {name}"
            );
        }
    }

    #[test]
    fn permission_names_cannot_carry_shell_or_query_syntax() {
        for bad in ["Audit Log", "A'b", "A\\\"b", "$(id)", ".Read", "A;b"] {
            let text = minimal("x").replace("AuditLog.Read.All", bad);
            let err = check_text(&text).unwrap_err();
            assert!(err.contains("a name is letters, digits"), "{bad}: {err}");
        }
        for good in [
            "AuditLog.Read.All",
            "Files.Read_All",
            "User-LifeCycleInfo.Read.All",
        ] {
            let text = minimal("x").replace("AuditLog.Read.All", good);
            assert!(check_text(&text).is_ok(), "{good}");
        }
    }

    #[test]
    fn sentences_end_at_punctuation_before_a_space_not_inside_names() {
        let got: Vec<&str> =
            sentences("Tick SecurityAlert.Read.All. Then; consent! Done? yes").collect();
        assert_eq!(
            got,
            [
                "Tick SecurityAlert.Read.All.",
                "Then;",
                "consent!",
                "Done?",
                "yes"
            ]
        );
        assert_eq!(sentences("  ").count(), 0);
        assert_eq!(sentences("One.").collect::<Vec<_>>(), ["One."]);
    }

    #[test]
    fn the_readme_template_example_loads() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\nid = \"entra-sign-ins\"").unwrap() + "```toml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let i = check_text(&readme[start..end]).unwrap();
        assert_eq!(i.id, "entra-sign-ins");
        assert_eq!(i.clouds, Cloud::ALL);
        assert!(!i.permissions[0].optional && i.permissions[0].verified);
    }

    #[test]
    fn guid_and_id_shapes() {
        assert!(is_guid("00000003-0000-0000-c000-000000000000"));
        assert!(is_guid("C5393580-F805-4401-95E8-94B7A6EF2FC2"));
        assert!(!is_guid("00000003-0000-0000-c000-00000000000g"));
        assert!(!is_guid("000000030000-0000-c000-000000000000"));
        assert!(is_id("o365-management"));
        assert!(!is_id(""));
        assert!(!is_id("O365"));
    }

    #[test]
    fn the_guide_shows_everything() {
        let all = Integrations::builtin();
        let i = all.get("o365-management").unwrap();
        let text = guide(i);
        for part in [
            "Office 365 Management Activity API (audit log) (o365-management)",
            "ActivityFeed.ReadDlp",
            "4807a72c-ad38-4250-94c9-4eabfe26cd55",
            "  1. Sign in",
            "  [ ] The permissions are of type Application",
            "Notes:",
            "wazuh-office365: content types Audit.AzureActiveDirectory",
            "gcc-high: https://manage.office365.us/.default",
            "az ad app credential reset",
        ] {
            assert!(text.contains(part), "missing {part:?} in:\n{text}");
        }
        let defender = guide(all.get("defender-incidents").unwrap());
        assert!(defender.contains("[optional, id unverified]"));
        assert!(defender.contains("\nClouds: commercial, gcc, gcc-high, dod\n  not china: Microsoft Graph security alerts and incidents do not exist in the China cloud"));
        // Commercial and GCC share a script, as do GCC High and DoD.
        assert!(defender.contains("\nOr with the Azure CLI (commercial, gcc):\n\n"));
        assert!(defender.contains("\nOr with the Azure CLI (gcc-high, dod):\n\n"));
        assert_eq!(defender.matches("az cloud set --name").count(), 2);
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
