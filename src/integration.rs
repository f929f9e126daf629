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

use crate::template::Kind;

/// The built-in templates, compiled in so the binary needs no files beside
/// its database.
const BUILTIN: &[(&str, &str)] = &[
    (
        "o365-management.toml",
        include_str!("../integrations/o365-management.toml"),
    ),
    (
        "graph-security-alerts.toml",
        include_str!("../integrations/graph-security-alerts.toml"),
    ),
    (
        "defender-incidents.toml",
        include_str!("../integrations/defender-incidents.toml"),
    ),
    (
        "identity-protection.toml",
        include_str!("../integrations/identity-protection.toml"),
    ),
    (
        "m365-posture.toml",
        include_str!("../integrations/m365-posture.toml"),
    ),
];

/// The fields every `entra-app` payload already has; a template's own fields
/// must not reuse these names.
pub const CORE_ENTRA_FIELDS: [&str; 5] = [
    "tenant_id",
    "client_id",
    "client_secret",
    "secret_expires_on",
    "cloud",
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
pub const GRAPH_RESOURCES: [(&str, &[&str]); 3] = [
    (
        "security",
        &["alerts", "alerts_v2", "incidents", "secureScores"],
    ),
    ("auditLogs", &["signIns"]),
    (
        "deviceManagement",
        &["auditEvents", "managedDevices", "detectedApps"],
    ),
];

/// Where the collected credentials go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Wazuh's `<office365>` module (Management Activity API).
    #[serde(rename = "wazuh-office365")]
    WazuhOffice365,
    /// Wazuh's `<ms-graph>` module (4.6+).
    WazuhMsGraph,
    /// Filebeat's `o365` module.
    #[serde(rename = "filebeat-o365")]
    FilebeatO365,
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
    Env,
    /// The fields as JSON, for anything else.
    Json,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::WazuhOffice365 => "wazuh-office365",
            Target::WazuhMsGraph => "wazuh-ms-graph",
            Target::FilebeatO365 => "filebeat-o365",
            Target::Env => "env",
            Target::Json => "json",
        }
    }
}

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
}

fn yes() -> bool {
    true
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
    /// The scope for a cloud named as in [`crate::credential::CLOUDS`].
    pub fn for_cloud(&self, cloud: &str) -> Option<&str> {
        match cloud {
            "commercial" => self.commercial.as_deref(),
            "gcc" => self.gcc.as_deref(),
            "gcc-high" => self.gcc_high.as_deref(),
            "dod" => self.dod.as_deref(),
            "china" => self.china.as_deref(),
            _ => None,
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

    /// A shell script for customers who prefer `az` to the portal, generated
    /// from the permission data: create the app and its service principal,
    /// add each API's app roles, grant admin consent, and make a secret.
    pub fn az_commands(&self, integration: &Integration) -> String {
        az_commands(integration)
    }
}

/// `'...'` for a POSIX shell: custom titles must not run anything.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn az_commands(i: &Integration) -> String {
    let mut out = String::new();
    let name = format!("{} (SOC log collection)", i.title);
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# {}: run in a shell signed in with `az login` as an administrator of your tenant.",
        i.title
    );
    let _ = writeln!(
        out,
        "APP_ID=$(az ad app create --display-name {} --query appId --output tsv)",
        shell_quote(&name)
    );
    let _ = writeln!(out, "az ad sp create --id \"$APP_ID\"");
    for (api, api_app_id, perms) in i.permissions_by_api() {
        let names: Vec<&str> = perms.iter().map(|p| p.name.as_str()).collect();
        let _ = writeln!(out, "# {api}: {}", names.join(", "));
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
    }
    let _ = writeln!(out, "az ad app permission admin-consent --id \"$APP_ID\"");
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

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_id(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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
        if kind == Kind::EntraApp && CORE_ENTRA_FIELDS.contains(&field.name.as_str()) {
            return Err(format!(
                "field {:?} clashes with a core Entra field ({})",
                field.name,
                CORE_ENTRA_FIELDS.join(", ")
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
    let needs = |t: Target| f.targets.contains(&t);
    if (needs(Target::WazuhOffice365) || needs(Target::FilebeatO365))
        && f.collect.content_types.is_empty()
    {
        return Err(
            "targets wazuh-office365 and filebeat-o365 need collect.content_types".to_owned(),
        );
    }
    if needs(Target::WazuhMsGraph) && f.collect.graph_resources.is_empty() {
        return Err("target wazuh-ms-graph needs collect.graph_resources".to_owned());
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
pub fn guide(all: &Integrations, i: &Integration) -> String {
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
        let flag = if p.verified { "" } else { "  [id unverified]" };
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
        let need = match t {
            Target::WazuhOffice365 | Target::FilebeatO365 => {
                format!("content types {}", i.collect.content_types.join(", "))
            }
            Target::WazuhMsGraph => i
                .collect
                .graph_resources
                .iter()
                .map(|r| format!("{} ({})", r.name, r.relationships.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
            Target::Env | Target::Json => i.collect.graph_endpoints.join(", "),
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
        for cloud in crate::credential::CLOUDS {
            if let Some(scope) = t.for_cloud(cloud) {
                let _ = writeln!(out, "    {cloud}: {scope}");
            }
        }
    }

    let _ = writeln!(out, "\nOr with the Azure CLI:\n");
    out.push_str(&all.az_commands(i));
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
        // permissions-ids.md: "SecurityEvents.ReadWrite.All | Application | d903a879-..."
        (
            GRAPH,
            "SecurityEvents.ReadWrite.All",
            "d903a879-88e0-4c09-b0c9-82f6a1333f84",
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
        for p in [
            "SecurityEvents.Read.All",
            "SecurityEvents.ReadWrite.All",
            "SecurityAlert.Read.All",
        ] {
            assert!(names("graph-security-alerts").contains(&p.to_owned()));
        }
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
            o365.tokens[0].for_cloud("commercial"),
            Some("https://manage.office.com/.default")
        );
        assert_eq!(o365.tokens[0].for_cloud("china"), None);
        let posture = all.get("m365-posture").unwrap();
        assert_eq!(
            posture.tokens[0].for_cloud("gcc-high"),
            Some("https://graph.microsoft.us/.default")
        );
    }

    #[test]
    fn az_commands_are_generated_from_the_permissions() {
        let all = Integrations::builtin();
        for i in all.all() {
            let az = all.az_commands(i);
            assert!(
                az.contains("APP_ID=$(az ad app create --display-name '"),
                "{az}"
            );
            assert!(az.contains("az ad sp create --id \"$APP_ID\"\n"));
            assert!(az.contains("az ad app permission admin-consent --id \"$APP_ID\"\n"));
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
        assert!(
            all.az_commands(defender)
                .contains("# CustomDetection.Read.All: this app-role id is not confirmed")
        );
        let o365 = all.az_commands(all.get("o365-management").unwrap());
        assert!(o365.contains(
            "--api c5393580-f805-4401-95e8-94b7a6ef2fc2 --api-permissions 594c1fb6-4f81-4475-ae41-0c394909246c=Role 4807a72c-ad38-4250-94c9-4eabfe26cd55=Role\n"
        ));
    }

    #[test]
    fn az_display_name_is_shell_quoted() {
        let text = minimal("quoted").replace("title = \"Custom\"", "title = \"It's $(rm -rf /)\"");
        let i = check_text(&text).unwrap();
        let az = az_commands(&i);
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
                "needs collect.graph_resources",
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
            .contains("not one Wazuh's ms-graph module reads")
        );
        assert!(
            check_text(&with(
                "graph_resources = [{ name = \"auditLogs\", relationships = [\"signIns\"] }]"
            ))
            .is_ok()
        );
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
        let text = guide(&all, i);
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
        let defender = guide(&all, all.get("defender-incidents").unwrap());
        assert!(defender.contains("[id unverified]"));
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
    }
}
