//! `wazuh-ms-graph`: the tenant's `<api_auth>` in the `<ms-graph>` block
//! (Wazuh 4.6+) of a Wazuh 4.x manager's or an agent's ossec.conf, or of a
//! group's agent.conf.
//!
//! Since Wazuh 4.8 one `<ms-graph>` block reads several tenants, one
//! `<api_auth>` each (CHANGELOG v4.8.0, "The MS Graph integration module now
//! supports multiple tenants", wazuh/wazuh#19064; the parser,
//! `src/config/src/wmodules-ms-graph.c`, grows its `auth_config` list with
//! each `<api_auth>`). A second block replaces the first one whole, so the
//! tenants share one block: a known tenant's `<api_auth>` is edited in place,
//! a new tenant gets its own next to the others, and other tenants are left
//! alone. (Wazuh 4.6 and 4.7 read only the last `<api_auth>`: a second tenant
//! needs 4.8 or later.)
//!
//! Only the children that changed are spliced in; the block's settings
//! (`interval`, `page_size`, `curl_max_size`, ...) and resources stay byte
//! for byte. Resources and relationships the template needs and the block
//! lacks are added; nothing an operator put there is removed or reset.
//!
//! The module takes the secret only inline (`<secret_value>`; it has no path
//! option), so the file itself holds it: it keeps its mode, and a
//! world-readable one is named in a note.

use super::ossec_conf::{self, Edit, Element, Place, Role, Want, WazuhConf};
use super::{Import, Plan, TargetArgs, TargetError};
use crate::cloud::Cloud;

/// Wazuh's `api_type` for a cloud: `global` is commercial and GCC alike.
fn api_type(cloud: Cloud) -> Result<&'static str, TargetError> {
    match cloud {
        Cloud::Commercial | Cloud::Gcc => Ok("global"),
        Cloud::GccHigh => Ok("gcc-high"),
        Cloud::Dod => Ok("dod"),
        Cloud::China => Err(TargetError::Refused(
            "Wazuh's ms-graph module cannot reach a china tenant: its api_type setting only knows global, gcc-high and dod. Collect this tenant with the env or json target and a collector that supports the China cloud.".to_owned(),
        )),
    }
}

/// What it takes from a template's `[collect]` section.
pub(super) const READS: super::Reads = super::Reads::GraphResources;

/// It needs no option beyond the ones every target has.
#[allow(
    clippy::unnecessary_wraps,
    reason = "the registry calls every target's check_args alike"
)]
pub(super) fn check_args(_args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    Ok(())
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let api_type = api_type(cred.cloud)?;
    let tenant = ossec_conf::plain_value("tenant ID", &cred.tenant_id)?;
    let client = ossec_conf::plain_value("client ID", &cred.client_id)?;
    let secret = ossec_conf::wazuh_secret(&cred.client_secret)?;
    let resources = &import.integration.collect.graph_resources;
    if resources.is_empty() {
        return Err(TargetError::Refused(format!(
            "the template {:?} names no Graph resources for the ms-graph module to read",
            import.integration.id
        )));
    }
    for r in resources {
        ossec_conf::plain_value("Graph resource name", &r.name)?;
        for rel in &r.relationships {
            ossec_conf::plain_value("Graph relationship", rel)?;
        }
    }

    let conf = WazuhConf::read(&args.ossec_conf)?;
    let src = conf.src.as_str();
    let path = &conf.path;
    let wants = [
        Want::guid("client_id", client),
        Want::guid("tenant_id", tenant),
        Want::exact("secret_value", secret),
        Want::exact("api_type", api_type),
    ];
    let mut notes = vec![format!(
        "Wazuh's ms-graph module takes the client secret only inline (<secret_value>; it has no path option), so {} holds it: keep it readable by root and the wazuh group only{}",
        path.display(),
        if conf.role == Role::Group {
            ", and know that the manager copies it to every agent of the group"
        } else {
            ""
        }
    )];
    let mut edits = Vec::new();
    match conf.place("ms-graph", "office365", tenant)? {
        Place::NewIn {
            section,
            marker,
            why,
        } => {
            let (indent, step) = ossec_conf::block_indent(src, section, marker.as_ref());
            edits.push(ossec_conf::insert_block(
                src,
                section,
                marker.as_ref(),
                &block_text(&indent, &step, &wants, import),
            ));
            notes.extend(conf.new_block_notes("ms-graph", section, tenant, why));
        }
        Place::Blocks(blocks) => {
            for block in blocks {
                if block.children.is_empty() {
                    // An empty block (Wazuh refuses one) that an operator
                    // placed to say where the tenant goes: filled like a
                    // new one, around any comment.
                    let inner = ossec_conf::child_indent(src, block);
                    let step = ossec_conf::indent_step(src, block);
                    let body = block_body(&inner, &step, &wants, import);
                    edits.push(ossec_conf::fill_empty(src, block, &body));
                    notes.push(format!(
                        "filled the empty <ms-graph> block at line {} of {}",
                        ossec_conf::line_of(src, block.start),
                        path.display()
                    ));
                    continue;
                }
                edit_block(&conf, block, tenant, &wants, import, &mut edits, &mut notes);
            }
        }
    }

    let change = conf.change(edits)?;
    notes.extend(conf.world_readable_note());
    if !change.is_noop() {
        notes.push(conf.load_note());
    }
    Ok(Plan::new(vec![change], notes, cred))
}

/// The tenant's `<api_auth>` fitted in place (later duplicates removed) or
/// added after the others, and the template's missing resources and
/// relationships added; the rest of the block is not touched.
fn edit_block(
    conf: &WazuhConf,
    block: &Element,
    tenant: &str,
    wants: &[Want],
    import: &Import,
    edits: &mut Vec<Edit>,
    notes: &mut Vec<String>,
) {
    let src = conf.src.as_str();
    let at = format!(
        "the <ms-graph> block at line {} of {}",
        ossec_conf::line_of(src, block.start),
        conf.path.display()
    );
    let indent = ossec_conf::child_indent(src, block);
    let step = ossec_conf::indent_step(src, block);
    // What goes at the very end of the block, in one edit.
    let mut tail = String::new();
    let auths: Vec<&Element> = block.children_named("api_auth").collect();
    let others = auths
        .iter()
        .filter(|a| {
            a.child_text(src, "tenant_id")
                .is_none_or(|t| !t.eq_ignore_ascii_case(tenant))
        })
        .count();
    match ossec_conf::tenant_auths(src, block, tenant).split_first() {
        Some((first, duplicates)) => {
            notes.extend(conf.fit_api_auth(first, tenant, wants, edits));
            for d in duplicates {
                edits.push(ossec_conf::remove(src, d));
                notes.push(format!(
                    "removed a second <api_auth> for tenant {tenant} (line {}) from {at}, which would have made Wazuh collect the tenant twice",
                    ossec_conf::line_of(src, d.start)
                ));
            }
        }
        None => {
            match ossec_conf::api_auth_after_others(src, block, &step, wants) {
                Some(edit) => edits.push(edit),
                None => tail.push_str(&ossec_conf::api_auth_text(&indent, &step, wants)),
            }
            if others > 0 {
                notes.push(format!(
                    "added tenant {tenant} to {at}, next to {others} other tenant(s); Wazuh reads several tenants in one block from 4.8 on"
                ));
            }
        }
    }

    let existing: Vec<&Element> = block.children_named("resource").collect();
    // New resources go after the last one, indented like it.
    let res_indent = existing
        .last()
        .and_then(|r| ossec_conf::indent_at(src, r.start))
        .unwrap_or(&indent);
    let mut new_resources = String::new();
    let mut added = Vec::new();
    for wanted in &import.integration.collect.graph_resources {
        let same: Vec<&Element> = existing
            .iter()
            .copied()
            .filter(|r| r.child_text(src, "name") == Some(wanted.name.as_str()))
            .collect();
        let have: Vec<&str> = same
            .iter()
            .flat_map(|r| r.children_named("relationship"))
            .map(|r| r.text(src))
            .collect();
        let missing: Vec<&str> = wanted
            .relationships
            .iter()
            .map(String::as_str)
            .filter(|rel| !have.contains(rel))
            .collect();
        if missing.is_empty() {
            continue;
        }
        added.extend(missing.iter().map(|rel| format!("{}/{rel}", wanted.name)));
        match same.last() {
            Some(resource) if !resource.self_closing => {
                let inner = ossec_conf::child_indent(src, resource);
                let lines: String = missing
                    .iter()
                    .map(|rel| format!("{inner}<relationship>{rel}</relationship>\n"))
                    .collect();
                edits.push(match resource.children.last() {
                    Some(last) => ossec_conf::insert_after(last, &lines),
                    None => ossec_conf::append_child(src, resource, &lines),
                });
            }
            _ => new_resources.push_str(&resource_text(res_indent, &step, &wanted.name, &missing)),
        }
    }
    if !new_resources.is_empty() {
        match existing.last() {
            Some(last) => edits.push(ossec_conf::insert_after(last, &new_resources)),
            None => tail.push_str(&new_resources),
        }
    }
    if !tail.is_empty() {
        edits.push(ossec_conf::append_child(src, block, &tail));
    }
    if !added.is_empty() {
        notes.push(format!(
            "added {} to {at}, which the template reads{}",
            added.join(", "),
            if others > 0 {
                "; the block's resources apply to every tenant in it, so the other tenants' apps need the permissions too, or Wazuh logs an error for them"
            } else {
                ""
            }
        ));
    }
    if block.child_text(src, "enabled") == Some("no") {
        notes.push(format!(
            "{at} is disabled (<enabled>no</enabled>); nothing is collected until it says yes"
        ));
    }
    // Microsoft retired the legacy /security/alerts API on 2026-10-15; it
    // answers with no data since. The operator's resources are theirs to
    // change, so the relationship stays.
    let security_reads = |rel: &str| {
        existing.iter().any(|r| {
            r.child_text(src, "name") == Some("security")
                && r.children_named("relationship").any(|x| x.text(src) == rel)
        })
    };
    if security_reads("alerts") {
        let instead = if security_reads("alerts_v2")
            || added.iter().any(|a| a == "security/alerts_v2")
        {
            "it also reads security/alerts_v2, which replaces it, so the alerts relationship can go"
        } else {
            "read security/alerts_v2 instead (application permission SecurityAlert.Read.All)"
        };
        notes.push(format!(
            "{at} reads security/alerts, the legacy Graph security alerts API, which Microsoft retired on 2026-10-15 and which returns no data since; {instead} (handoff leaves the block's resources to you)"
        ));
    }
}

/// A `<resource>` block as lines at `indent`.
fn resource_text(indent: &str, step: &str, name: &str, relationships: &[&str]) -> String {
    let inner = format!("{indent}{step}");
    let mut s = format!("{indent}<resource>\n{inner}<name>{name}</name>\n");
    for rel in relationships {
        s.push_str(&format!("{inner}<relationship>{rel}</relationship>\n"));
    }
    s.push_str(&format!("{indent}</resource>\n"));
    s
}

/// The whole `<ms-graph>` block as lines at `indent`.
fn block_text(indent: &str, step: &str, wants: &[Want], import: &Import) -> String {
    let body = block_body(&format!("{indent}{step}"), step, wants, import);
    format!("{indent}<ms-graph>\n{body}{indent}</ms-graph>\n")
}

/// What a new `<ms-graph>` block holds, as lines at `inner`: enabled, every
/// event from now on (`only_future_events` no), a `curl_max_size` above the
/// 1 MiB default, a run at start, a five-minute interval, Graph v1.0, the
/// tenant, and the template's resources.
fn block_body(inner: &str, step: &str, wants: &[Want], import: &Import) -> String {
    let mut s = String::new();
    for (name, value) in [
        ("enabled", "yes"),
        ("only_future_events", "no"),
        ("curl_max_size", "10M"),
        ("run_on_start", "yes"),
        ("interval", "5m"),
        ("version", "v1.0"),
    ] {
        s.push_str(&format!("{inner}<{name}>{value}</{name}>\n"));
    }
    s.push_str(&ossec_conf::api_auth_text(inner, step, wants));
    for r in &import.integration.collect.graph_resources {
        let rels: Vec<&str> = r.relationships.iter().map(String::as_str).collect();
        s.push_str(&resource_text(inner, step, &r.name, &rels));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;

    const CONF: &str = "<ossec_config>\n  <global>\n    <logall>no</logall>\n  </global>\n\n  <!-- cloud modules -->\n</ossec_config>\n";

    fn setup(conf: &str, mode: u32) -> (tempfile::TempDir, TargetArgs) {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.ossec_conf, conf).unwrap();
        fs::set_permissions(&args.ossec_conf, fs::Permissions::from_mode(mode)).unwrap();
        (dir, args)
    }

    fn run_with(
        args: &TargetArgs,
        cred: &crate::payload::EntraCredential,
    ) -> Result<Plan, TargetError> {
        let integ = integration("defender-incidents");
        plan_target(Target::WazuhMsGraph, args, &import(cred, &integ))
    }

    fn run(args: &TargetArgs, cloud: &str) -> Result<Plan, TargetError> {
        run_with(args, &credential("defender-incidents", cloud))
    }

    #[test]
    fn writes_one_block_keeps_the_mode_and_is_idempotent() {
        let (_dir, args) = setup(CONF, 0o660);
        let plan = run(&args, "gcc").unwrap();
        let diff = plan.diff();
        assert!(!diff.contains(SECRET), "{diff}");
        assert!(
            diff.contains(&format!(
                "<secret_value>{}</secret_value>",
                super::super::masked_secret(SECRET)
            )),
            "{diff}"
        );
        assert!(plan.notes.iter().any(|n| n.contains("no path option")));
        assert!(!plan.notes.iter().any(|n| n.contains("warning")));
        plan.apply().unwrap();
        let after = fs::read_to_string(&args.ossec_conf).unwrap();
        assert_eq!(mode(&args.ossec_conf), 0o660);
        let expected = format!(
            "  <!-- cloud modules -->\n\n  <ms-graph>\n    <enabled>yes</enabled>\n    <only_future_events>no</only_future_events>\n    <curl_max_size>10M</curl_max_size>\n    <run_on_start>yes</run_on_start>\n    <interval>5m</interval>\n    <version>v1.0</version>\n    <api_auth>\n      <client_id>{CLIENT}</client_id>\n      <tenant_id>{TENANT}</tenant_id>\n      <secret_value>{SECRET}</secret_value>\n      <api_type>global</api_type>\n    </api_auth>\n    <resource>\n      <name>security</name>\n      <relationship>incidents</relationship>\n      <relationship>alerts_v2</relationship>\n    </resource>\n  </ms-graph>\n</ossec_config>\n"
        );
        assert!(after.ends_with(&expected), "{after}");
        assert!(after.starts_with(&CONF[..CONF.find("  <!--").unwrap()]));
        assert!(run(&args, "gcc").unwrap().is_noop());
    }

    #[test]
    fn a_rotation_changes_only_the_tenants_values_and_keeps_the_operators_settings() {
        let (_dir, args) = setup(CONF, 0o640);
        run(&args, "commercial").unwrap().apply().unwrap();
        // The operator tunes the interval: a re-import leaves it.
        let tuned = fs::read_to_string(&args.ossec_conf)
            .unwrap()
            .replace("<interval>5m</interval>", "<interval>1h</interval>");
        fs::write(&args.ossec_conf, &tuned).unwrap();
        assert!(run(&args, "commercial").unwrap().is_noop());
        // A new secret replaces the block, once.
        let mut cred = credential("defender-incidents", "dod");
        cred.client_secret = "Xyz8Q~newnewnewnewnewnewnewnewnewnew_".to_owned();
        run_with(&args, &cred).unwrap().apply().unwrap();
        let after = fs::read_to_string(&args.ossec_conf).unwrap();
        assert_eq!(after.matches("<ms-graph>").count(), 1, "{after}");
        assert!(after.contains("<api_type>dod</api_type>"));
        assert!(after.contains(&cred.client_secret));
        assert!(!after.contains(SECRET));
        assert_eq!(
            after,
            tuned
                .replace(SECRET, &cred.client_secret)
                .replace("<api_type>global</api_type>", "<api_type>dod</api_type>"),
            "the tuned interval and every other byte stay"
        );
        assert_eq!(mode(&args.ossec_conf), 0o640);
    }

    #[test]
    fn another_tenant_joins_the_block_next_to_the_first() {
        let (_dir, args) = setup(CONF, 0o660);
        run(&args, "commercial").unwrap().apply().unwrap();
        let before = fs::read_to_string(&args.ossec_conf).unwrap();
        let mut other = credential("defender-incidents", "gcc-high");
        other.tenant_id = "99999999-8888-4777-8666-555555555555".to_owned();
        let plan = run_with(&args, &other).unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("next to 1 other tenant(s)")),
            "{:?}",
            plan.notes
        );
        plan.apply().unwrap();
        let after = fs::read_to_string(&args.ossec_conf).unwrap();
        let first_end = before.find("    </api_auth>\n").unwrap() + "    </api_auth>\n".len();
        let added = format!(
            "    <api_auth>\n      <client_id>{CLIENT}</client_id>\n      <tenant_id>{}</tenant_id>\n      <secret_value>{SECRET}</secret_value>\n      <api_type>gcc-high</api_type>\n    </api_auth>\n",
            other.tenant_id
        );
        assert_eq!(
            after,
            format!("{}{added}{}", &before[..first_end], &before[first_end..])
        );
        assert!(run_with(&args, &other).unwrap().is_noop());
        assert!(run(&args, "commercial").unwrap().is_noop());
    }

    #[test]
    fn a_second_entry_for_the_tenant_is_removed_and_a_disabled_block_is_named() {
        let (_dir, args) = setup(CONF, 0o660);
        run(&args, "commercial").unwrap().apply().unwrap();
        let once = fs::read_to_string(&args.ossec_conf).unwrap();
        let auth_start = once.find("    <api_auth>").unwrap();
        let auth_end = once.find("    </api_auth>\n").unwrap() + "    </api_auth>\n".len();
        let auth = &once[auth_start..auth_end];
        let twice = format!("{}{auth}{}", &once[..auth_end], &once[auth_end..])
            .replace("<enabled>yes</enabled>", "<enabled>no</enabled>");
        fs::write(&args.ossec_conf, &twice).unwrap();
        let plan = run(&args, "commercial").unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("removed a second <api_auth> for tenant")),
            "{:?}",
            plan.notes
        );
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("is disabled (<enabled>no</enabled>)")),
            "{:?}",
            plan.notes
        );
        plan.apply().unwrap();
        assert_eq!(
            fs::read_to_string(&args.ossec_conf).unwrap(),
            once.replace("<enabled>yes</enabled>", "<enabled>no</enabled>")
        );
    }

    #[test]
    fn china_is_refused_and_a_world_readable_file_is_warned_about() {
        let (_dir, args) = setup(CONF, 0o644);
        // A custom template may claim china; Wazuh still cannot reach it.
        let mut integ = integration("defender-incidents");
        integ.clouds.push(crate::integration::Cloud::China);
        let cred = credential("defender-incidents", "china");
        let err = plan_target(Target::WazuhMsGraph, &args, &import(&cred, &integ))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot reach a china tenant"), "{err}");
        let plan = run(&args, "gcc-high").unwrap();
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("readable by every local user (mode 644)")),
            "{:?}",
            plan.notes
        );
    }
}
