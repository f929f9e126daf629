//! The full guide `handoff templates show` prints: everything a template
//! asks of the customer, and the `az` script for each cloud it works in.

use std::fmt::Write as _;

use super::{Cloud, Integration, Origin};
use crate::collect::Reads;

/// The full guide for `handoff templates show`.
pub(crate) fn guide(i: &Integration) -> String {
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
    // A files template asks for no app registration: its steps, notes and
    // target are the whole guide.
    let files = i.kind == crate::template::Kind::Files;

    if !files {
        let _ = writeln!(
            out,
            "Application permissions (type Application, admin consent required):"
        );
    }
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

    // The summary's blank line already stands before a files guide's steps.
    let _ = writeln!(
        out,
        "{}",
        if files {
            "On the request page:"
        } else {
            "\nIn the portal:"
        }
    );
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
            Reads::ContentTypes | Reads::ContentTypesIfListed => {
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
            Reads::Nothing => String::new(),
            Reads::ContentTypesOrGraph(pairs) => {
                let mut parts = Vec::new();
                if !i.collect.content_types.is_empty() {
                    parts.push(format!(
                        "content types {}",
                        i.collect.content_types.join(", ")
                    ));
                }
                for r in &i.collect.graph_resources {
                    let served: Vec<&str> = r
                        .relationships
                        .iter()
                        .filter(|rel| pairs.contains(&(r.name.as_str(), rel.as_str())))
                        .map(String::as_str)
                        .collect();
                    if !served.is_empty() {
                        parts.push(format!("{} ({})", r.name, served.join(", ")));
                    }
                }
                parts.join("; ")
            }
        };
        if need.is_empty() {
            let _ = writeln!(out, "  {}", t.as_str());
        } else {
            let _ = writeln!(out, "  {}: {need}", t.as_str());
        }
    }

    if files {
        return out;
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
    use crate::integration::Integrations;

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
        assert!(
            defender.contains("\n  qradar: security (alerts_v2)\n"),
            "qradar names only what its Graph protocol reads:\n{defender}"
        );
        assert!(defender.contains("\nClouds: commercial, gcc, gcc-high, dod\n  not china: Microsoft Graph security alerts and incidents do not exist in the China cloud"));
        // Commercial and GCC share a script, as do GCC High and DoD.
        assert!(defender.contains("\nOr with the Azure CLI (commercial, gcc):\n\n"));
        assert!(defender.contains("\nOr with the Azure CLI (gcc-high, dod):\n\n"));
        assert_eq!(defender.matches("az cloud set --name").count(), 2);
    }
}
