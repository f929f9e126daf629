//! `handoff templates` from a terminal: the list, one template's guide, a
//! SOC's own directory, and a broken file; and what a template puts on the
//! customer's form (the clouds it offers, the `az` commands for each).

mod common;

use std::process::{Command, Output};

use common::flow::open_request_for;
use common::{Backend, T0, spawn_app};
use handoff::integration::{Cloud, Integrations};

fn handoff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .env_remove("HANDOFF_TEMPLATES_DIR")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const CUSTOM: &str = r#"
id = "entra-sign-ins"
title = "Entra ID sign-in logs"
summary = "Sign-in logs through Microsoft Graph."
kind = "entra-app"
targets = ["wazuh-ms-graph", "json"]
steps = ["Register an app.", "Add AuditLog.Read.All as an Application permission and grant consent."]
checklist = ["Admin consent is granted."]
notes = ["Sign-in logs need Entra ID P1."]

[[fields]]
name = "workspace_id"
label = "Log Analytics workspace ID"
help = "Only if the SOC asked for it."
pattern = "^[0-9a-f-]{36}$"
pattern_message = "A workspace ID is a GUID."

[[permissions]]
api = "Microsoft Graph"
api_app_id = "00000003-0000-0000-c000-000000000000"
name = "AuditLog.Read.All"
id = "b0afded3-3588-46d8-8b3d-9842eff778da"
reason = "Reads sign-in logs."

[[tokens]]
api_app_id = "00000003-0000-0000-c000-000000000000"
commercial = "https://graph.microsoft.com/.default"

[collect]
graph_resources = [{ name = "auditLogs", relationships = ["signIns"] }]
"#;

#[test]
fn templates_lists_the_builtins() {
    let out = handoff(&["templates"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for id in [
        "o365-management",
        "graph-security-alerts",
        "defender-incidents",
        "identity-protection",
        "m365-posture",
    ] {
        assert!(stdout.lines().any(|l| l == id), "{id} is listed:\n{stdout}");
    }
    assert!(stdout.contains("  permissions: ActivityFeed.Read, ActivityFeed.ReadDlp\n"));
    assert!(stdout.contains(
        "  targets: wazuh-office365, filebeat-o365, env, json, http, wazuh-api, qradar, elastic-agent, splunk-o365, cribl\n"
    ));
    assert!(!stdout.contains("[custom"));
}

#[test]
fn show_prints_the_full_guide_and_az_commands() {
    let out = handoff(&["templates", "show", "o365-management"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for part in [
        "Application permissions (type Application, admin consent required):",
        "Office 365 Management APIs  ActivityFeed.Read     594c1fb6-4f81-4475-ae41-0c394909246c",
        "In the portal:\n  1. ",
        "Before you submit:\n  [ ] ",
        "Notes:\n  - ",
        "wazuh-office365: content types Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All",
        "commercial: https://manage.office.com/.default",
        "az ad app permission add --id \"$APP_ID\" --api c5393580-f805-4401-95e8-94b7a6ef2fc2 --api-permissions 594c1fb6-4f81-4475-ae41-0c394909246c=Role 4807a72c-ad38-4250-94c9-4eabfe26cd55=Role\n",
        "az cloud set --name AzureCloud\n",
        "retry az ad app permission admin-consent --id \"$APP_ID\"\n",
        "Clouds: commercial, gcc, gcc-high, dod\n  not china: the Office 365 Management API's address in the China cloud is not known to handoff\n",
        "Or with the Azure CLI (gcc-high, dod):\n",
        "az cloud set --name AzureUSGovernment\n",
        "ROLE_2=$(az ad sp show --id c5393580-f805-4401-95e8-94b7a6ef2fc2 --query \"appRoles[?value=='ActivityFeed.ReadDlp'].id\" --output tsv)\n",
        "echo \"https://login.microsoftonline.us/$TENANT_ID/adminconsent?client_id=$APP_ID\"\n",
        "az ad app credential reset --id \"$APP_ID\" --years 1\n",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in:\n{stdout}");
    }
}

#[test]
fn show_an_unknown_id_fails_and_lists_the_known_ones() {
    let out = handoff(&["templates", "show", "splunk"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no template \"splunk\""), "{stderr}");
    assert!(stderr.contains("m365-posture"), "{stderr}");
}

#[test]
fn json_prints_the_registry() {
    let out = handoff(&["templates", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = json["integrations"].as_array().unwrap();
    assert_eq!(list.len(), 6);
    assert_eq!(list[5]["id"], "files");
    assert_eq!(list[5]["kind"], "files");
    assert_eq!(list[5]["targets"], serde_json::json!(["dir"]));
    assert_eq!(list[0]["permissions"][1]["name"], "ActivityFeed.ReadDlp");
    assert_eq!(
        list[0]["permissions"][1]["id"],
        "4807a72c-ad38-4250-94c9-4eabfe26cd55"
    );

    let one = handoff(&["templates", "show", "defender-incidents", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(json["id"], "defender-incidents");
    assert_eq!(json["permissions"][2]["verified"], false);
    assert_eq!(json["permissions"][2]["optional"], true);
    assert_eq!(json["permissions"][0]["optional"], false);
    assert_eq!(
        json["clouds"],
        serde_json::json!(["commercial", "gcc", "gcc-high", "dod"])
    );
}

#[test]
fn a_custom_template_claiming_a_cloud_it_cannot_work_in_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("incidents.toml"),
        CUSTOM
            .replace(
                "targets = [\"wazuh-ms-graph\", \"json\"]",
                "targets = [\"wazuh-ms-graph\", \"json\"]\nclouds = [\"commercial\", \"china\"]",
            )
            .replace(
                "commercial = \"https://graph.microsoft.com/.default\"",
                "commercial = \"https://graph.microsoft.com/.default\"\nchina = \"https://microsoftgraph.chinacloudapi.cn/.default\"",
            )
            .replace(
                "{ name = \"auditLogs\", relationships = [\"signIns\"] }",
                "{ name = \"security\", relationships = [\"incidents\"] }",
            ),
    )
    .unwrap();
    let out = handoff(&["templates", "--templates-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("incidents.toml: clouds lists china, but Microsoft Graph security alerts and incidents do not exist in the China cloud (collect reads security/incidents); leave it out of clouds"),
        "{stderr}"
    );
}

/// Undoes the HTML escaping of a served page (named and decimal entities).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').unwrap();
        let entity = &tail[1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            _ => char::from_u32(entity.strip_prefix('#').unwrap().parse().unwrap()).unwrap(),
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The values of the page's cloud `<select>`, in order.
fn cloud_options(html: &str) -> Vec<String> {
    let start = html.find(r#"<select id="cloud" name="cloud">"#).unwrap();
    let end = start + html[start..].find("</select>").unwrap();
    html[start..end]
        .split(r#"<option value=""#)
        .skip(1)
        .map(|o| o.split('"').next().unwrap().to_owned())
        .collect()
}

/// The `az` block the request page has for `cloud`: whether it is hidden at
/// first, and the script it shows.
fn az_block(html: &str, cloud: &str) -> Option<(bool, String)> {
    let marker = format!(r#"data-az-cloud="{cloud}""#);
    let start = html.find(&marker)?;
    let block = &html[start..start + html[start..].find("</div>")?];
    let hidden = block[..block.find('>')?].contains("hidden");
    let pre = block.find(r#"<pre class="az""#)?;
    let pre = pre + block[pre..].find('>')? + 1;
    let script = &block[pre..block.find("</pre>")?];
    Some((hidden, unescape(script)))
}

#[tokio::test]
async fn the_customers_form_offers_only_the_templates_clouds_and_their_az_commands() {
    let app = spawn_app(Backend::Sqlite).await;
    let builtin = Integrations::builtin();
    let page = |template: &'static str| {
        let app = &app;
        async move {
            let r = open_request_for(&app.store, T0, 86_400, template).await;
            let res = app.get(&format!("/r/{}", r.id)).await;
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };

    let html = page("defender-incidents").await;
    assert_eq!(
        cloud_options(&html),
        ["commercial", "gcc", "gcc-high", "dod"]
    );
    assert!(
        html.contains(r#"<option value="commercial" selected>Commercial (worldwide)</option>"#)
    );
    assert!(html.contains("This integration works for tenants in these clouds only: Commercial (worldwide), US Government GCC, US Government GCC High, US Government DoD."));
    assert!(html.contains(
        "<code>CustomDetection.Read.All</code> <span class=\"optional\">(optional)</span>"
    ));
    let defender = builtin.get("defender-incidents").unwrap();
    for cloud in [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod] {
        let (hidden, script) =
            az_block(&html, cloud.as_str()).unwrap_or_else(|| panic!("no az block for {cloud:?}"));
        // Only the first cloud's commands show until the customer picks another.
        assert_eq!(hidden, cloud != Cloud::Commercial, "{cloud:?}");
        assert_eq!(script, defender.az_script(cloud).unwrap(), "{cloud:?}");
    }
    assert_eq!(az_block(&html, "china"), None);
    let (_, gcc_high) = az_block(&html, "gcc-high").unwrap();
    assert!(gcc_high.starts_with("# Microsoft Defender XDR incidents: run in bash"));
    assert!(gcc_high.contains("\naz cloud set --name AzureUSGovernment\n"));
    assert!(!gcc_high.contains("permission admin-consent"));

    // A template that works everywhere offers every cloud; so does the
    // public page, which knows no template.
    let all = ["commercial", "gcc", "gcc-high", "dod", "china"];
    let html = page("identity-protection").await;
    assert_eq!(cloud_options(&html), all);
    assert!(!html.contains("works for tenants in these clouds only"));
    let (hidden, china) = az_block(&html, "china").unwrap();
    assert!(hidden);
    assert!(china.contains("\naz cloud set --name AzureChinaCloud\n"));
    assert!(china.contains(
        "echo \"https://login.chinacloudapi.cn/$TENANT_ID/adminconsent?client_id=$APP_ID\"\n"
    ));
    let index = app.get("/").await.text().await.unwrap();
    assert_eq!(cloud_options(&index), all);
}

#[test]
fn a_templates_dir_adds_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sign-ins.toml"), CUSTOM).unwrap();
    std::fs::write(
        dir.path().join("posture.toml"),
        CUSTOM.replace("id = \"entra-sign-ins\"", "id = \"m365-posture\""),
    )
    .unwrap();
    let path = dir.path().to_str().unwrap();

    let out = handoff(&["templates", "--templates-dir", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("entra-sign-ins [custom]\n"), "{stdout}");
    assert!(
        stdout.contains("m365-posture [custom, replaces built-in]\n  Entra ID sign-in logs\n"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("posture.toml replaces the built-in template \"m365-posture\""),
        "{}",
        text(&out.stderr)
    );

    // The directory also comes from the environment, and `show` sees it.
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["templates", "show", "entra-sign-ins"])
        .env("HANDOFF_TEMPLATES_DIR", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("(custom)"), "{stdout}");
    assert!(stdout.contains("Log Analytics workspace ID (workspace_id, optional)"));
    assert!(stdout.contains("wazuh-ms-graph: auditLogs (signIns)"));
    assert!(stdout.contains("--api-permissions b0afded3-3588-46d8-8b3d-9842eff778da=Role\n"));
}

#[test]
fn a_broken_file_stops_with_a_readable_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        CUSTOM.replace("title = \"Entra ID sign-in logs\"", "title = Entra ID"),
    )
    .unwrap();
    let out = handoff(&["templates", "--templates-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("broken.toml"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");

    std::fs::write(
        dir.path().join("broken.toml"),
        CUSTOM.replace(
            "targets = [\"wazuh-ms-graph\", \"json\"]",
            "targets = [\"qradar\"]",
        ),
    )
    .unwrap();
    let out = handoff(&["templates", "--templates-dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("qradar"),
        "{stderr}"
    );
}
