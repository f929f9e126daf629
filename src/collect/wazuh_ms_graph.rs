//! `wazuh-ms-graph`: the `<ms-graph>` block of ossec.conf (Wazuh 4.6+).
//!
//! Unlike office365, this module takes the secret only inline
//! (`<secret_value>`; it has no path option), so ossec.conf itself holds the
//! secret: the file keeps its mode, and a world-readable one is warned about.
//!
//! One block, one tenant. Wazuh documents that ms-graph is not multi-tenant
//! ("only one block of api_auth can be used in the entire configuration"),
//! and its reader attaches a second `<ms-graph>` block to the same module,
//! replacing the first block's settings. So a block for the same tenant is
//! replaced, and a block for another tenant makes this target refuse.

use super::ossec_conf::{self, Element};
use super::{FileChange, Import, Plan, TargetArgs, TargetError, read_text};
use std::os::unix::fs::PermissionsExt;

/// Wazuh's `api_type` for a cloud: `global` is commercial and GCC alike.
fn api_type(cloud: &str) -> Result<&'static str, TargetError> {
    match cloud {
        "commercial" | "gcc" => Ok("global"),
        "gcc-high" => Ok("gcc-high"),
        "dod" => Ok("dod"),
        "china" => Err(TargetError::Refused(
            "Wazuh's ms-graph module cannot reach a china tenant: its api_type setting only knows global, gcc-high and dod. Collect this tenant with the env or json target and a collector that supports the China cloud.".to_owned(),
        )),
        other => Err(TargetError::Refused(format!("unknown cloud {other:?}"))),
    }
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let api_type = api_type(&cred.cloud)?;
    let tenant = ossec_conf::plain_value("tenant ID", &cred.tenant_id)?;
    let client = ossec_conf::plain_value("client ID", &cred.client_id)?;
    let secret = ossec_conf::plain_value("client secret", &cred.client_secret)?;
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

    let path = &args.ossec_conf;
    let src = read_text(path)?.ok_or_else(|| {
        TargetError::Refused(format!(
            "{} does not exist; is Wazuh installed here? Point --ossec-conf at its ossec.conf",
            path.display()
        ))
    })?;
    let roots = ossec_conf::parse(path, &src)?;
    let configs = ossec_conf::configs(path, &src, &roots)?;
    let blocks: Vec<&Element> = configs
        .iter()
        .flat_map(|c| c.children_named("ms-graph"))
        .collect();

    let auth = [
        ("client_id", client),
        ("tenant_id", tenant),
        ("secret_value", secret),
        ("api_type", api_type),
    ];
    let mut notes = vec![
        "Wazuh's ms-graph module takes the client secret only inline (<secret_value>; it has no path option), so ossec.conf holds it: keep the file readable by root and the wazuh group only".to_owned(),
    ];
    let edit = match blocks.as_slice() {
        [] => {
            let last = configs
                .last()
                .ok_or_else(|| TargetError::malformed(path, "it has no <ossec_config> element"))?;
            let indent = ossec_conf::child_indent(&src, last);
            let step = ossec_conf::indent_step(&src, last);
            Some(ossec_conf::append_child(
                &src,
                last,
                &format!("\n{}", block_text(&indent, &step, &auth, import)),
            ))
        }
        [block] => {
            let auths: Vec<&Element> = block.children_named("api_auth").collect();
            if let Some(other) = auths.iter().find_map(|a| {
                a.child_text(&src, "tenant_id")
                    .filter(|t| !t.eq_ignore_ascii_case(tenant))
            }) {
                return Err(TargetError::Refused(format!(
                    "{} already has an <ms-graph> block for tenant {other}, and Wazuh's ms-graph module reads one tenant per manager (a second block replaces the first); collect tenant {tenant} on another Wazuh manager or agent, or with the env or json target",
                    path.display()
                )));
            }
            let mut wanted: Vec<(String, &str)> =
                auth.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
            wanted.sort();
            let same_auth = auths.len() == 1 && auths[0].leaves(&src) == wanted;
            let same_resources = resources_of(&src, block) == wanted_resources(import);
            if same_auth && same_resources {
                None
            } else {
                let indent = ossec_conf::indent_at(&src, block.start)
                    .map(str::to_owned)
                    .unwrap_or_else(|| ossec_conf::child_indent(&src, block));
                let step = ossec_conf::indent_step(&src, block);
                let text = block_text(&indent, &step, &auth, import);
                notes.push(format!(
                    "replaced the <ms-graph> block at line {} of {}",
                    ossec_conf::line_of(&src, block.start),
                    path.display()
                ));
                Some(ossec_conf::Edit {
                    range: block.start..block.end,
                    text: text
                        .trim_start_matches(indent.as_str())
                        .trim_end_matches('\n')
                        .to_owned(),
                })
            }
        }
        several => {
            return Err(TargetError::malformed(
                path,
                format!(
                    "it has {} <ms-graph> blocks; Wazuh keeps only the last one's settings, so merge them before handoff edits the file",
                    several.len()
                ),
            ));
        }
    };

    let after = ossec_conf::splice(&src, edit.into_iter().collect());
    ossec_conf::parse(path, &after).map_err(|e| {
        TargetError::Refused(format!(
            "handoff's change to ossec.conf would not parse: {e}"
        ))
    })?;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            notes.push(format!(
                "warning: {} is readable by every local user (mode {mode:o}) and holds the client secret; run chmod o-r on it",
                path.display()
            ));
        }
    }
    let change = FileChange {
        path: path.clone(),
        before: Some(src.into_bytes()),
        after: after.into_bytes(),
        mode_if_new: 0o660,
        owner_if_new: None,
        secret: false,
    };
    if !change.is_noop() {
        notes.push(
            "restart the Wazuh manager (systemctl restart wazuh-manager) to load the change"
                .to_owned(),
        );
    }
    Ok(Plan::new(vec![change], notes, cred))
}

/// (resource, sorted relationships), sorted.
type Resources = Vec<(String, Vec<String>)>;

fn resources_of(src: &str, block: &Element) -> Resources {
    let mut v: Resources = block
        .children_named("resource")
        .map(|r| {
            let mut rels: Vec<String> = r
                .children_named("relationship")
                .map(|x| x.text(src).to_owned())
                .collect();
            rels.sort();
            (r.child_text(src, "name").unwrap_or("").to_owned(), rels)
        })
        .collect();
    v.sort();
    v
}

fn wanted_resources(import: &Import) -> Resources {
    let mut v: Resources = import
        .integration
        .collect
        .graph_resources
        .iter()
        .map(|r| {
            let mut rels = r.relationships.clone();
            rels.sort();
            (r.name.clone(), rels)
        })
        .collect();
    v.sort();
    v
}

/// The whole `<ms-graph>` block as lines at `indent`, with a blank line first.
fn block_text(indent: &str, step: &str, auth: &[(&str, &str)], import: &Import) -> String {
    let i1 = format!("{indent}{step}");
    let i2 = format!("{i1}{step}");
    let mut s = format!("{indent}<ms-graph>\n");
    for (name, value) in [
        ("enabled", "yes"),
        ("only_future_events", "no"),
        ("curl_max_size", "10M"),
        ("run_on_start", "yes"),
        ("interval", "5m"),
        ("version", "v1.0"),
    ] {
        s.push_str(&format!("{i1}<{name}>{value}</{name}>\n"));
    }
    s.push_str(&format!("{i1}<api_auth>\n"));
    for (name, value) in auth {
        s.push_str(&format!("{i2}<{name}>{value}</{name}>\n"));
    }
    s.push_str(&format!("{i1}</api_auth>\n"));
    for r in &import.integration.collect.graph_resources {
        s.push_str(&format!("{i1}<resource>\n{i2}<name>{}</name>\n", r.name));
        for rel in &r.relationships {
            s.push_str(&format!("{i2}<relationship>{rel}</relationship>\n"));
        }
        s.push_str(&format!("{i1}</resource>\n"));
    }
    s.push_str(&format!("{indent}</ms-graph>\n"));
    s
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{TargetKind, plan as plan_target};
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
        plan_target(TargetKind::WazuhMsGraph, args, &import(cred, &integ))
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
            diff.contains("<secret_value>********</secret_value>"),
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
    fn the_same_tenant_is_replaced_in_place_and_settings_survive_when_equal() {
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
        assert_eq!(mode(&args.ossec_conf), 0o640);
    }

    #[test]
    fn another_tenant_is_refused_because_wazuh_reads_one() {
        let (_dir, args) = setup(CONF, 0o660);
        run(&args, "commercial").unwrap().apply().unwrap();
        let before = fs::read_to_string(&args.ossec_conf).unwrap();
        let mut other = credential("defender-incidents", "commercial");
        other.tenant_id = "99999999-8888-7777-6666-555555555555".to_owned();
        let err = run_with(&args, &other).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "already has an <ms-graph> block for tenant {TENANT}"
            )),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&args.ossec_conf).unwrap(), before);
    }

    #[test]
    fn china_is_refused_and_a_world_readable_file_is_warned_about() {
        let (_dir, args) = setup(CONF, 0o644);
        let err = run(&args, "china").unwrap_err().to_string();
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
