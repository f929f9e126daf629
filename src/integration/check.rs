//! Reading a template file and checking it: what a file may say, and the
//! sentence that tells its author what to fix when it says something else.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::{
    Cloud, Collect, Field, Integration, Origin, Permission, TokenScope, clouds, microsoft_scope,
};
use crate::collect::{Reads, Target};
use crate::credential::is_guid;
use crate::template::Kind;

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

/// The template file `name` (as error messages name it) read from `text`
/// and checked.
pub(super) fn parse(name: &str, text: &str, origin: Origin) -> Result<Integration, String> {
    let file: File = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
    check(file, origin).map_err(|e| format!("{name}: {e}"))
}

/// Office 365 Management Activity API content types (Wazuh `<subscription>`s,
/// Filebeat `var.content_type`).
pub(crate) const CONTENT_TYPES: [&str; 5] = [
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
pub(crate) const GRAPH_RESOURCES: [(&str, &[&str]); 4] = [
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
pub(super) fn is_path_under(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
}

/// Why the legacy alerts API cannot be collected, after its name.
const LEGACY_ALERTS: &str = "is the legacy alerts API, which Microsoft retired on 2026-10-15 (it returns no data since); read security/alerts_v2 with SecurityAlert.Read.All instead";

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

/// `f` checked, as the [`Integration`] it describes; otherwise the first
/// thing wrong with it, as a sentence for the template's author.
fn check(f: File, origin: Origin) -> Result<Integration, String> {
    let kind = check_header(&f)?;
    check_kind_shape(&f, kind)?;
    check_fields(&f.fields, kind)?;
    check_permissions(&f, kind)?;
    check_tokens(&f.tokens)?;
    check_collect(&f)?;
    check_optional_wording(&f)?;
    // Files come from no cloud: no `az` script, no cloud to choose.
    let clouds = match kind {
        Kind::Files => Vec::new(),
        Kind::EntraApp | Kind::Text => {
            clouds::of(f.clouds.as_deref(), &f.permissions, &f.tokens, &f.collect)?
        }
    };
    check_targets_have_reads(&f.targets, &f.collect)?;

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

/// The id, title, summary, kind, targets and steps; the payload kind the
/// template collects.
fn check_header(f: &File) -> Result<Kind, String> {
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
        "files" => Kind::Files,
        other => {
            return Err(format!(
                "kind {other:?} is unknown (known: entra-app, files)"
            ));
        }
    };
    if f.targets.is_empty() {
        return Err("targets must name at least one collector target".to_owned());
    }
    if f.steps.is_empty() {
        return Err("steps must not be empty".to_owned());
    }
    Ok(kind)
}

/// What only one kind may say: a `files` template asks for files, so it
/// has no fields, permissions, token scopes, clouds or `[collect]`, and
/// only the `dir` target writes files; an `entra-app` template's targets
/// write credentials, which `dir` does not.
fn check_kind_shape(f: &File, kind: Kind) -> Result<(), String> {
    match kind {
        Kind::Files => {
            let collects = !(f.collect.content_types.is_empty()
                && f.collect.graph_resources.is_empty()
                && f.collect.graph_endpoints.is_empty());
            for (what, present) in [
                ("fields", !f.fields.is_empty()),
                ("permissions", !f.permissions.is_empty()),
                ("tokens", !f.tokens.is_empty()),
                ("clouds", f.clouds.is_some()),
                ("collect", collects),
            ] {
                if present {
                    return Err(format!(
                        "a files template asks for files, so it has no {what}"
                    ));
                }
            }
            if let Some(t) = f.targets.iter().find(|t| **t != Target::Dir) {
                return Err(format!(
                    "target {} writes credentials; a files template's only target is dir",
                    t.as_str()
                ));
            }
        }
        Kind::EntraApp | Kind::Text => {
            if f.targets.contains(&Target::Dir) {
                return Err(
                    "target dir writes the files of a files template, not credentials".to_owned(),
                );
            }
        }
    }
    Ok(())
}

/// The template's own fields: well-named, unique, not a core field, and a
/// pattern only with the message that explains it.
fn check_fields(fields: &[Field], kind: Kind) -> Result<(), String> {
    let mut names = BTreeSet::new();
    for field in fields {
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
    Ok(())
}

/// Each permission: its GUIDs, its texts, a name safe in the `az` script,
/// listed once, and a token scope for its API.
fn check_permissions(f: &File, kind: Kind) -> Result<(), String> {
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
    Ok(())
}

/// Each API's scopes: at least one cloud, each shaped like a `.default`
/// scope, and Microsoft's own where handoff knows the API.
fn check_tokens(tokens: &[TokenScope]) -> Result<(), String> {
    for t in tokens {
        if !is_guid(&t.api_app_id) {
            return Err(format!(
                "tokens: api_app_id {:?} is not a GUID",
                t.api_app_id
            ));
        }
        if t.scopes.is_empty() {
            return Err(format!("tokens for {} name no cloud", t.api_app_id));
        }
        if let Some(bad) = t
            .scopes
            .values()
            .find(|s| !(s.starts_with("https://") && s.ends_with("/.default")))
        {
            return Err(format!(
                "tokens: scope {bad:?} should look like https://host/.default"
            ));
        }
        for (&cloud, given) in &t.scopes {
            if let Some(known) = microsoft_scope(&t.api_app_id, cloud)
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
    Ok(())
}

/// What the collectors are told to read: content types and Graph
/// resources they know, Graph paths, and never the retired alerts API.
fn check_collect(f: &File) -> Result<(), String> {
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
    Ok(())
}

/// Every target the template names finds what it reads in `collect`.
fn check_targets_have_reads(targets: &[Target], collect: &Collect) -> Result<(), String> {
    for (what, empty) in [
        (Reads::ContentTypes, collect.content_types.is_empty()),
        (Reads::GraphResources, collect.graph_resources.is_empty()),
    ] {
        if empty && targets.iter().any(|t| t.reads() == what) {
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
    for t in targets {
        let Reads::ContentTypesOrGraph(pairs) = t.reads() else {
            continue;
        };
        let lists_a_pair = collect.graph_resources.iter().any(|r| {
            r.relationships
                .iter()
                .any(|rel| pairs.contains(&(r.name.as_str(), rel.as_str())))
        });
        if collect.content_types.is_empty() && !lists_a_pair {
            let graph: Vec<String> = pairs
                .iter()
                .map(|(name, rel)| format!("{name} {rel}"))
                .collect();
            return Err(format!(
                "target {} needs collect.content_types, or collect.graph_resources with {}",
                t.as_str(),
                graph.join(" or ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod sample {
    //! Template files for the unit tests.

    use super::*;

    pub(crate) use crate::integration::GRAPH_APP_ID as GRAPH;

    /// A template with one Graph permission and only a commercial scope.
    pub(crate) fn minimal(id: &str) -> String {
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

    /// `text` read and checked as the file `test.toml`.
    pub(crate) fn check_text(text: &str) -> Result<Integration, String> {
        parse("test.toml", text, Origin::Builtin)
    }

    /// `minimal` with every cloud's Graph scope, `clouds` and `collect` set.
    pub(crate) fn graph_template(clouds: &str, collect: &str, permission: &str) -> String {
        minimal("x")
            .replace("name = \"AuditLog.Read.All\"", &format!("name = \"{permission}\""))
            .replace(
                "commercial = \"https://graph.microsoft.com/.default\"\n",
                "commercial = \"https://graph.microsoft.com/.default\"\ngcc = \"https://graph.microsoft.com/.default\"\ngcc-high = \"https://graph.microsoft.us/.default\"\ndod = \"https://dod-graph.microsoft.us/.default\"\nchina = \"https://microsoftgraph.chinacloudapi.cn/.default\"\n",
            )
            .replace("targets = [\"json\"]", &format!("targets = [\"json\"]\n{clouds}"))
            + &format!("\n[collect]\n{collect}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::sample::*;
    use super::*;
    use crate::integration::Integrations;

    #[test]
    fn qradar_takes_graph_templates_only_for_what_its_graph_protocol_reads() {
        let alerts = graph_template(
            "clouds = [\"commercial\"]",
            "graph_resources = [{ name = \"security\", relationships = [\"incidents\", \"alerts_v2\"] }]",
            "SecurityAlert.Read.All",
        )
        .replace("targets = [\"json\"]", "targets = [\"qradar\"]");
        check_text(&alerts).unwrap();
        let err = check_text(&alerts.replace("\"incidents\", \"alerts_v2\"", "\"incidents\""))
            .unwrap_err();
        assert!(
            err.contains("target qradar needs collect.content_types, or collect.graph_resources with security alerts_v2"),
            "{err}"
        );
    }

    #[test]
    fn files_templates_ask_for_files_only() {
        let files = "id = \"x\"\ntitle = \"T\"\nsummary = \"S\"\nkind = \"files\"\ntargets = [\"dir\"]\nsteps = [\"s\"]\n";
        assert_eq!(check_text(files).unwrap().kind, Kind::Files);
        let json = files.replace("[\"dir\"]", "[\"dir\", \"json\"]");
        assert!(
            check_text(&json)
                .unwrap_err()
                .contains("target json writes credentials")
        );
        let clouds = format!("{files}clouds = [\"commercial\"]\n");
        assert!(check_text(&clouds).unwrap_err().contains("has no clouds"));
        let entra_dir = minimal("x").replace("targets = [\"json\"]", "targets = [\"dir\"]");
        assert!(
            check_text(&entra_dir)
                .unwrap_err()
                .contains("target dir writes the files")
        );
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
                "targets wazuh-office365 and filebeat-o365 and wazuh-api and splunk-o365 and cribl need collect.content_types",
            ),
            (
                "targets = [\"json\"]",
                "targets = [\"qradar\"]",
                "target qradar needs collect.content_types, or collect.graph_resources with security alerts_v2",
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
    fn a_token_scope_for_an_unknown_cloud_is_refused() {
        for key in ["mars", "gcc_high", "Commercial"] {
            let text = minimal("x").replace(
                "commercial = \"https://graph.microsoft.com/.default\"",
                &format!("commercial = \"https://graph.microsoft.com/.default\"\n{key} = \"https://graph.microsoft.com/.default\""),
            );
            let err = check_text(&text).unwrap_err();
            assert!(err.starts_with("test.toml: "), "{err}");
            assert!(
                err.contains(&format!(
                    "unknown variant `{key}`, expected one of `commercial`, `gcc`, `gcc-high`, `dod`, `china`"
                )),
                "{key}: {err}"
            );
        }
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
}
