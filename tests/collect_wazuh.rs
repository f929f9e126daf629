//! The Wazuh targets on the files SOCs really run: Wazuh's shipped agent
//! defaults, a 5.x manager's file, a group's agent.conf with several
//! sections, and hand-tuned and multi-tenant blocks (see
//! `tests/fixtures/wazuh/README.md` for where each file comes from).
//!
//! Every import goes through the public API (`handoff::collect::plan(...)`,
//! then `apply()`), and every file is re-parsed with quick-xml before and
//! after into a tree that keeps each byte, and the two trees are compared
//! node by node ([`differences`]): each test names every difference it
//! expects, so a target that touched anything else (a setting, another
//! tenant, a comment, a blank line) fails.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::flow::entra_credential as credential;
use handoff::collect::{Import, Plan, Target, TargetArgs, TargetError, plan};
use handoff::integration::{GraphResource, Integration, Integrations};
use handoff::payload::EntraCredential;
use quick_xml::Reader;
use quick_xml::events::Event;

const AGENT_4: &str = include_str!("fixtures/wazuh/agent-4.14-ossec.conf");
const AGENT_5: &str = include_str!("fixtures/wazuh/agent-5.x-ossec.conf");
const MANAGER_5: &str = include_str!("fixtures/wazuh/wazuh-manager-5.x.conf");
const GROUP_DEFAULT: &str = include_str!("fixtures/wazuh/group-default-agent.conf");
const GROUP: &str = include_str!("fixtures/wazuh/group-agent.conf");
const GRAPH_TUNED: &str = include_str!("fixtures/wazuh/ms-graph-tuned.conf");
const GRAPH_MULTI: &str = include_str!("fixtures/wazuh/ms-graph-multi-tenant.conf");
const O365_MULTI: &str = include_str!("fixtures/wazuh/office365-multi-tenant.conf");
const O365_CRLF_TABS: &str = include_str!("fixtures/wazuh/office365-crlf-tabs.conf");
/// Wazuh's shipped 4.x manager ossec.conf.
const MANAGER_4: &str = include_str!("fixtures/ossec.conf");

/// The tenants in the fixtures: Contoso, Fabrikam, Northwind; and one that
/// is in none of them.
const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TENANT_B: &str = "4d5c7e2a-1b3f-4a6e-9c8d-0e1f2a3b4c5d";
const TENANT_C: &str = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";
const TENANT_NEW: &str = "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5";
const CLIENT_A: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const CLIENT_B: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const CLIENT_NEW: &str = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4";
/// The secrets the fixtures hold.
const OLD_A: &str = "Kx71Q~oldContosoSecretValue0123456789ab";
const OLD_B: &str = "Fb22Q~oldFabrikamSecretValue0123456789a";
/// New secrets, as the portal makes them.
const NEW_A: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const NEW_B: &str = "Yq90Q~newFabrikamSecretValue0123456789_";
const NEW_D: &str = "Wd13Q~brandNewTenantSecretValue01234567";

// ---- the tree and its comparison: the idea other targets can copy ----

/// One node of an XML file as quick-xml reads it, with its raw text, so that
/// the file is exactly its nodes' text end to end ([`raw`]).
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Element {
        name: String,
        /// The start tag as written, attributes included.
        open: String,
        children: Vec<Node>,
        /// The end tag as written; empty for `<x/>`.
        close: String,
    },
    /// Text, blanks, a comment, a declaration: anything between tags.
    Other(String),
}

/// The file as a tree; panics on anything quick-xml cannot read (configured
/// as leniently as Wazuh's reader: a bare `&` in a command).
fn tree(xml: &str) -> Vec<Node> {
    fn push(stack: &mut [Node], node: Node) {
        if let Some(Node::Element { children, .. }) = stack.last_mut() {
            children.push(node);
        }
    }
    let mut reader = Reader::from_str(xml);
    reader.config_mut().allow_dangling_amp = true;
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = vec![Node::Element {
        name: String::new(),
        open: String::new(),
        children: Vec::new(),
        close: String::new(),
    }];
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML at byte {before}: {e}\n{xml}"));
        let text = xml[before..reader.buffer_position() as usize].to_owned();
        match event {
            Event::Start(e) => stack.push(Node::Element {
                name: e.name().0.to_owned(),
                open: text,
                children: Vec::new(),
                close: String::new(),
            }),
            Event::Empty(e) => push(
                &mut stack,
                Node::Element {
                    name: e.name().0.to_owned(),
                    open: text,
                    children: Vec::new(),
                    close: String::new(),
                },
            ),
            Event::End(_) => {
                let mut el = stack.pop().unwrap();
                if let Node::Element { close, .. } = &mut el {
                    *close = text;
                }
                push(&mut stack, el);
            }
            Event::Eof => break,
            _ => push(&mut stack, Node::Other(text)),
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let Some(Node::Element { children, .. }) = stack.pop() else {
        unreachable!()
    };
    assert_eq!(raw(&children), xml, "the tree holds every byte");
    children
}

fn raw(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| match n {
            Node::Element {
                open,
                children,
                close,
                ..
            } => format!("{open}{}{close}", raw(children)),
            Node::Other(t) => t.clone(),
        })
        .collect()
}

fn elements(nodes: &[Node]) -> impl Iterator<Item = &Node> {
    nodes.iter().filter(|n| matches!(n, Node::Element { .. }))
}

/// A leaf's trimmed text; `None` for an element with element children.
fn leaf_text(node: &Node) -> Option<String> {
    match node {
        Node::Element { children, .. } if elements(children).next().is_none() => {
            Some(raw(children).trim().to_owned())
        }
        _ => None,
    }
}

fn child_text(node: &Node, name: &str) -> Option<String> {
    match node {
        Node::Element { children, .. } => elements(children)
            .find(|c| matches!(c, Node::Element { name: n, .. } if n == name))
            .and_then(leaf_text),
        Node::Other(_) => None,
    }
}

/// How an element is named in a difference: its name, and what tells it
/// from its siblings: a `<tenant_id>`, a `<name>`, or its attributes
/// (`agent_config[name="x"]`).
fn label(node: &Node) -> String {
    let Node::Element { name, open, .. } = node else {
        return String::new();
    };
    if let Some(t) = child_text(node, "tenant_id") {
        format!("{name}[{t}]")
    } else if let Some(n) = child_text(node, "name") {
        format!("{name}[{n}]")
    } else {
        let attrs = open
            .trim_start_matches('<')
            .trim_start_matches(name.as_str())
            .trim_end_matches('>')
            .trim_end_matches('/')
            .trim();
        if attrs.is_empty() {
            name.clone()
        } else {
            format!("{name}[{attrs}]")
        }
    }
}

/// An added or removed element in one line: a leaf as `name=text`, an
/// element with children as its label and its leaves.
fn summary(node: &Node) -> String {
    match (node, leaf_text(node)) {
        (Node::Element { name, .. }, Some(text)) => format!("{name}={text}"),
        (Node::Element { children, .. }, None) => {
            let leaves: Vec<String> = elements(children)
                .map(|c| match (c, leaf_text(c)) {
                    (Node::Element { name, .. }, Some(t)) => format!("{name}={t}"),
                    _ => label(c),
                })
                .collect();
            format!("{} {{{}}}", label(node), leaves.join(", "))
        }
        (Node::Other(t), _) => format!("{t:?}"),
    }
}

/// Every difference between two files, one line each, in file order:
///
/// - `~path: old -> new`: a leaf's text changed (`~path: tag ...` for a start
///   tag, `~path: layout ...` for blanks that moved with nothing added or
///   removed beside them);
/// - `+path/summary` and `-path/summary`: an element (or a comment, or
///   text) added or removed.
///
/// Nodes are first matched where they are identical (a longest common
/// subsequence), then the rest pair up by [`label`] and are compared inside.
/// Blanks around an added or removed element belong to it and are not
/// reported; every other byte is.
fn differences(before: &str, after: &str) -> Vec<String> {
    let mut out = Vec::new();
    compare_lists("", &tree(before), &tree(after), &mut out);
    out
}

fn compare_lists(path: &str, before: &[Node], after: &[Node], out: &mut Vec<String>) {
    // Longest common subsequence of identical nodes.
    let (n, m) = (before.len(), after.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if before[i] == after[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let (mut gap_b, mut gap_a) = (Vec::new(), Vec::new());
    while i < n || j < m {
        if i < n && j < m && before[i] == after[j] {
            compare_gap(path, &gap_b, &gap_a, out);
            gap_b.clear();
            gap_a.clear();
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            gap_a.push(&after[j]);
            j += 1;
        } else {
            gap_b.push(&before[i]);
            i += 1;
        }
    }
    compare_gap(path, &gap_b, &gap_a, out);
}

fn is_element(n: &Node) -> bool {
    matches!(n, Node::Element { .. })
}

/// The text of a node that holds only blanks.
fn blank(n: &Node) -> Option<&str> {
    match n {
        Node::Other(t) if t.trim().is_empty() => Some(t),
        _ => None,
    }
}

/// The nodes between two identical ones: paired by label, else added or removed.
fn compare_gap(path: &str, before: &[&Node], after: &[&Node], out: &mut Vec<String>) {
    let mut paired = vec![false; after.len()];
    let mut unpaired = false;
    for b in before.iter().filter(|n| is_element(n)) {
        match (0..after.len())
            .find(|&k| !paired[k] && is_element(after[k]) && label(after[k]) == label(b))
        {
            Some(k) => {
                paired[k] = true;
                compare_element(path, b, after[k], out);
            }
            None => {
                unpaired = true;
                out.push(format!("-{path}/{}", summary(b)));
            }
        }
    }
    for (k, a) in after.iter().enumerate() {
        if is_element(a) && !paired[k] {
            unpaired = true;
            out.push(format!("+{path}/{}", summary(a)));
        }
    }
    for b in before
        .iter()
        .filter(|n| !is_element(n) && blank(n).is_none())
    {
        unpaired = true;
        out.push(format!("-{path}/{}", summary(b)));
    }
    for a in after
        .iter()
        .filter(|n| !is_element(n) && blank(n).is_none())
    {
        unpaired = true;
        out.push(format!("+{path}/{}", summary(a)));
    }
    let blanks_b: Vec<&str> = before.iter().filter_map(|n| blank(n)).collect();
    let blanks_a: Vec<&str> = after.iter().filter_map(|n| blank(n)).collect();
    if !unpaired && blanks_b != blanks_a {
        out.push(format!("~{path}: layout {blanks_b:?} -> {blanks_a:?}"));
    }
}

fn compare_element(path: &str, before: &Node, after: &Node, out: &mut Vec<String>) {
    if before == after {
        return;
    }
    let (
        Node::Element {
            open: open_b,
            children: children_b,
            ..
        },
        Node::Element {
            open: open_a,
            children: children_a,
            ..
        },
    ) = (before, after)
    else {
        return;
    };
    let here = format!("{path}/{}", label(before));
    if open_b != open_a {
        out.push(format!("~{here}: tag {open_b} -> {open_a}"));
    }
    match (leaf_text(before), leaf_text(after)) {
        (Some(b), Some(a)) if b != a => out.push(format!("~{here}: {b} -> {a}")),
        (Some(_), Some(_)) => {
            if raw(children_b) != raw(children_a) {
                out.push(format!("~{here}: layout"));
            }
        }
        _ => compare_lists(&here, children_b, children_a, out),
    }
}

#[test]
fn the_comparison_sees_every_kind_of_change() {
    let before = "<a>\n  <!-- c -->\n  <b><tenant_id>T</tenant_id><s>1</s></b>\n  <k>x</k>\n</a>\n";
    assert!(differences(before, before).is_empty());
    let after = "<a>\n  <!-- c -->\n  <b><tenant_id>T</tenant_id><s>2</s></b>\n  <k>x</k>\n  <n>y</n>\n</a>\n";
    assert_eq!(
        differences(before, after),
        ["~/a/b[T]/s: 1 -> 2", "+/a/n=y"]
    );
    let no_comment = before.replace("<!-- c -->\n  ", "");
    assert_eq!(differences(before, &no_comment), ["-/a/\"<!-- c -->\""]);
    let reindented = before.replace("  <k>", "    <k>");
    assert_eq!(
        differences(before, &reindented),
        ["~/a: layout [\"\\n  \"] -> [\"\\n    \"]"]
    );
    let removed = before.replace("  <k>x</k>\n", "");
    assert_eq!(differences(before, &removed), ["-/a/k=x"]);
}

// ---- importing ----

fn graph_cred(tenant: &str, client: &str, secret: &str, cloud: &str) -> EntraCredential {
    credential("defender-incidents", tenant, client, secret, cloud)
}

fn o365_cred(tenant: &str, client: &str, secret: &str, cloud: &str) -> EntraCredential {
    credential("o365-management", tenant, client, secret, cloud)
}

fn builtin(id: &str) -> Integration {
    Integrations::builtin().get(id).unwrap().clone()
}

/// `defender-incidents` reading other Graph resources: for tests that must
/// not depend on a built-in template's exact resources.
fn graph_template(resources: &[(&str, &[&str])]) -> Integration {
    let mut t = builtin("defender-incidents");
    t.collect.graph_resources = resources
        .iter()
        .map(|(name, rels)| GraphResource {
            name: (*name).to_owned(),
            relationships: rels.iter().map(|r| (*r).to_owned()).collect(),
        })
        .collect();
    t
}

/// A collector host whose Wazuh file is `content`, at `relative` under a
/// temporary directory (a group file goes to `etc/shared/<group>/agent.conf`).
struct Host {
    dir: tempfile::TempDir,
    args: TargetArgs,
}

impl Host {
    fn new(relative: &str, content: &str, mode: u32) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        args.ossec_conf = dir.path().join(relative);
        fs::create_dir_all(args.ossec_conf.parent().unwrap()).unwrap();
        fs::write(&args.ossec_conf, content).unwrap();
        fs::set_permissions(&args.ossec_conf, fs::Permissions::from_mode(mode)).unwrap();
        Host { dir, args }
    }

    fn conf(&self) -> String {
        fs::read_to_string(&self.args.ossec_conf).unwrap()
    }

    fn plan(
        &self,
        kind: Target,
        cred: &EntraCredential,
        integration: &Integration,
    ) -> Result<Plan, TargetError> {
        plan(
            kind,
            &self.args,
            &Import {
                credential: cred,
                integration,
                customer: "Customer",
                request_id: "req_wazuh",
            },
        )
    }

    /// Imports, checks that the diff masks the secret and that a second
    /// import changes nothing, and returns the plan and what changed in
    /// the Wazuh file.
    fn import(
        &self,
        kind: Target,
        cred: &EntraCredential,
        integration: &Integration,
    ) -> (Plan, Vec<String>) {
        let before = self.conf();
        let p = self.plan(kind, cred, integration).unwrap();
        let diff = p.diff();
        assert!(
            !diff.contains(&cred.client_secret),
            "the diff shows the secret:\n{diff}"
        );
        p.apply().unwrap();
        let after = self.conf();
        let again = self.plan(kind, cred, integration).unwrap();
        assert!(
            again.is_noop(),
            "a second import changes:\n{}",
            again.diff()
        );
        assert!(again.apply().unwrap().is_empty());
        assert_eq!(self.conf(), after);
        (p, differences(&before, &after))
    }

    /// [`Host::import`], expecting exactly `expected` as the differences.
    #[track_caller]
    fn assert_import_changes<S: AsRef<str>>(
        &self,
        kind: Target,
        cred: &EntraCredential,
        integration: &Integration,
        expected: &[S],
    ) -> Plan {
        let (plan, diff) = self.import(kind, cred, integration);
        let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
        assert_eq!(diff, expected);
        plan
    }

    #[track_caller]
    fn assert_conf_has(&self, part: &str) {
        let conf = self.conf();
        assert!(conf.contains(part), "{conf}");
    }

    /// Expects a refusal that leaves every file as it was.
    fn refused(&self, kind: Target, cred: &EntraCredential, integration: &Integration) -> String {
        let before = self.listing();
        let conf = self.conf();
        let err = self.plan(kind, cred, integration).unwrap_err().to_string();
        assert_eq!(self.conf(), conf, "the file is untouched");
        assert_eq!(self.listing(), before, "no file was added: {err}");
        err
    }

    fn listing(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                }
                out.push(p);
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out.sort();
        out
    }

    fn mode(&self) -> u32 {
        fs::metadata(&self.args.ossec_conf)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }
}

fn has_note(plan: &Plan, part: &str) -> bool {
    plan.notes.iter().any(|n| n.contains(part))
}

/// A refusal's sentence holds `part`.
#[track_caller]
fn assert_says(err: &str, part: &str) {
    assert!(err.contains(part), "{err}");
}

#[track_caller]
fn assert_not_says(err: &str, part: &str) {
    assert!(!err.contains(part), "{err}");
}

#[track_caller]
fn assert_note(plan: &Plan, part: &str) {
    assert!(has_note(plan, part), "{:?}", plan.notes);
}

#[track_caller]
fn assert_no_note(plan: &Plan, part: &str) {
    assert!(!has_note(plan, part), "{:?}", plan.notes);
}

/// How [`differences`] names a new `<ms-graph>` block in `section` (a path).
fn new_ms_graph_block(section: &str, tenant: &str) -> String {
    format!(
        "+{section}/ms-graph {{enabled=yes, only_future_events=no, curl_max_size=10M, run_on_start=yes, interval=5m, version=v1.0, api_auth[{tenant}], resource[security]}}"
    )
}

/// How [`differences`] names a new `<office365>` block in `section` (a path).
fn new_office365_block(section: &str, tenant: &str) -> String {
    format!(
        "+{section}/office365 {{enabled=yes, only_future_events=no, interval=1m, curl_max_size=10M, api_auth[{tenant}], subscriptions}}"
    )
}

const MS_GRAPH: Target = Target::WazuhMsGraph;
const OFFICE365: Target = Target::WazuhOffice365;

// ---- ms-graph ----

#[test]
fn ms_graph_rotation_in_a_tuned_block_changes_only_the_secret() {
    let host = Host::new("ossec.conf", GRAPH_TUNED, 0o660);
    let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &cred,
        &graph_template(&[("security", &["alerts_v2"])]),
        &[format!(
            "~/ossec_config/ms-graph/api_auth[{TENANT_A}]/secret_value: {OLD_A} -> {NEW_A}"
        )],
    );
    assert_note(&plan, "systemctl restart wazuh-manager");
    assert_note(
        &plan,
        "updated secret_value in tenant 72f988bf-86f1-41af-91ab-2d7cd011db47's <api_auth> at line 24 of",
    );
    assert_eq!(host.mode(), 0o660);
}

#[test]
fn ms_graph_a_new_cloud_and_client_change_only_those_children() {
    let host = Host::new("ossec.conf", GRAPH_TUNED, 0o640);
    let cred = graph_cred(&TENANT_A.to_uppercase(), CLIENT_NEW, OLD_A, "dod");
    host.assert_import_changes(
        MS_GRAPH,
        &cred,
        &builtin("defender-incidents"),
        &[
            format!(
                "~/ossec_config/ms-graph/api_auth[{TENANT_A}]/client_id: {CLIENT_A} -> {CLIENT_NEW}"
            ),
            format!("~/ossec_config/ms-graph/api_auth[{TENANT_A}]/api_type: global -> dod"),
        ],
    );
}

#[test]
fn ms_graph_adds_what_the_template_lacks_and_removes_nothing() {
    let host = Host::new("ossec.conf", GRAPH_TUNED, 0o640);
    let cred = graph_cred(TENANT_A, CLIENT_A, OLD_A, "commercial");
    let template = graph_template(&[
        ("security", &["alerts_v2", "secureScores"]),
        ("auditLogs", &["signIns"]),
    ]);
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &cred,
        &template,
        &[
            "+/ossec_config/ms-graph/resource[security]/relationship=secureScores",
            "+/ossec_config/ms-graph/resource[auditLogs] {name=auditLogs, relationship=signIns}",
        ],
    );
    assert!(
        host.conf().contains(
            "      <relationship>incidents</relationship>\n      <relationship>secureScores</relationship>\n    </resource>"
        ),
        "indented like its siblings:\n{}",
        host.conf()
    );
    host.assert_conf_has("    </resource>\n    <resource>\n      <name>auditLogs</name>\n      <relationship>signIns</relationship>\n    </resource>\n  </ms-graph>");
    assert_note(&plan, "added security/secureScores, auditLogs/signIns");
}

#[test]
fn ms_graph_new_tenant_joins_a_multi_tenant_block_and_rotation_edits_one() {
    let host = Host::new("ossec.conf", GRAPH_MULTI, 0o640);
    let template = builtin("defender-incidents");
    let new = graph_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "gcc");
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &new,
        &template,
        &[
            format!(
                "+/ossec_config/ms-graph/api_auth[{TENANT_NEW}] {{client_id={CLIENT_NEW}, tenant_id={TENANT_NEW}, secret_value={NEW_D}, api_type=global}}"
            ),
        ],
    );
    assert_note(&plan, "next to 3 other tenant(s)");
    // Tabs like the rest of the block, after the last tenant.
    host.assert_conf_has(&format!(
        "\t\t</api_auth>\n\t\t<api_auth>\n\t\t\t<client_id>{CLIENT_NEW}</client_id>\n\t\t\t<tenant_id>{TENANT_NEW}</tenant_id>\n"
    ));

    let before = host.conf();
    let fabrikam = graph_cred(TENANT_B, CLIENT_B, NEW_B, "gcc-high");
    host.assert_import_changes(
        MS_GRAPH,
        &fabrikam,
        &template,
        &[format!(
            "~/ossec_config/ms-graph/api_auth[{TENANT_B}]/secret_value: {OLD_B} -> {NEW_B}"
        )],
    );
    assert_eq!(host.conf(), before.replace(OLD_B, NEW_B));
}

#[test]
fn ms_graph_goes_into_an_agents_ossec_conf_of_4x_and_5x() {
    for (fixture, section) in [(AGENT_4, "<client>"), (AGENT_5, "<agent>")] {
        assert!(fixture.contains(section));
        let host = Host::new("ossec.conf", fixture, 0o640);
        let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
        let plan = host.assert_import_changes(
            MS_GRAPH,
            &cred,
            &builtin("defender-incidents"),
            &[new_ms_graph_block("/ossec_config", TENANT_A)],
        );
        assert_note(&plan, "systemctl restart wazuh-agent");
        assert_no_note(&plan, "wazuh-manager");
    }
}

#[test]
fn ms_graph_in_a_group_goes_beside_the_office365_block_of_the_collecting_agent() {
    let host = Host::new("etc/shared/o365/agent.conf", GROUP, 0o660);
    let cred = graph_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &cred,
        &builtin("defender-incidents"),
        &[new_ms_graph_block(
            "/agent_config[name=\"soc-collector-01\"]",
            TENANT_NEW,
        )],
    );
    let verify = host.dir.path().join("bin/verify-agent-conf");
    assert_note(
        &plan,
        &format!("{} -f {}", verify.display(), host.args.ossec_conf.display()),
    );
    assert_note(&plan, "agents of group o365");
    assert_note(&plan, "the agents that already collect from Microsoft");
    assert_eq!(host.mode(), 0o660);
}

// ---- office365 ----

#[test]
fn office365_new_tenant_joins_a_block_with_operator_settings() {
    let host = Host::new("ossec.conf", O365_MULTI, 0o660);
    let cred = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "gcc-high");
    let (plan, diff) = host.import(OFFICE365, &cred, &builtin("o365-management"));
    let secret_file = host.args.secrets_dir.join(TENANT_NEW);
    assert_eq!(
        diff,
        [format!(
            "+/ossec_config/office365/api_auth[{TENANT_NEW}] {{tenant_id={TENANT_NEW}, client_id={CLIENT_NEW}, client_secret_path={}, api_type=gcc-high}}",
            secret_file.display()
        )]
    );
    assert_eq!(fs::read(&secret_file).unwrap(), NEW_D.as_bytes());
    // The block sets its own curl_max_size: no advice about it.
    assert_no_note(&plan, "curl_max_size");
    assert_note(&plan, "does not subscribe to DLP.All");
}

#[test]
fn office365_rotation_changes_the_tenants_own_children_only() {
    let host = Host::new("ossec.conf", O365_MULTI, 0o660);
    let template = builtin("o365-management");
    // Fabrikam's secret was inline: it becomes a file, where it stood.
    let fabrikam = o365_cred(TENANT_B, CLIENT_B, NEW_B, "gcc");
    let (_, diff) = host.import(OFFICE365, &fabrikam, &template);
    let path_b = host.args.secrets_dir.join(TENANT_B);
    assert_eq!(
        diff,
        [
            format!("-/ossec_config/office365/api_auth[{TENANT_B}]/client_secret={OLD_B}"),
            format!(
                "+/ossec_config/office365/api_auth[{TENANT_B}]/client_secret_path={}",
                path_b.display()
            ),
        ]
    );
    assert_eq!(fs::read(&path_b).unwrap(), NEW_B.as_bytes());
    // Contoso's path was the operator's: it now names handoff's file.
    let contoso = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        OFFICE365,
        &contoso,
        &template,
        &[
            format!(
                "~/ossec_config/office365/api_auth[{TENANT_A}]/client_secret_path: /var/ossec/etc/o365/contoso.secret -> {}",
                host.args.secrets_dir.join(TENANT_A).display(),
            ),
        ],
    );
    assert_note(
        &plan,
        "/var/ossec/etc/o365/contoso.secret is left as it was",
    );
    // Northwind has no api_type (Wazuh's default is commercial): none is added.
    let northwind = o365_cred(
        TENANT_C,
        "3a4b5c6d-7e8f-4091-a2b3-c4d5e6f70819",
        NEW_D,
        "commercial",
    );
    host.assert_import_changes(
        OFFICE365,
        &northwind,
        &template,
        &[
            format!(
                "~/ossec_config/office365/api_auth[{TENANT_C}]/client_secret_path: /var/ossec/etc/o365/northwind.secret -> {}",
                host.args.secrets_dir.join(TENANT_C).display(),
            ),
        ],
    );
}

#[test]
fn office365_new_blocks_get_curl_max_size_and_existing_ones_keep_theirs() {
    let host = Host::new("ossec.conf", MANAGER_4, 0o660);
    let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        OFFICE365,
        &cred,
        &builtin("o365-management"),
        &[new_office365_block("/ossec_config", TENANT_A)],
    );
    assert_note(&plan, "systemctl restart wazuh-manager");

    // A block without curl_max_size: advice, and the block stays as it is.
    let bare = O365_MULTI.replace("    <curl_max_size>20M</curl_max_size>\n", "");
    let host = Host::new("ossec.conf", &bare, 0o660);
    let cred = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let (plan, diff) = host.import(OFFICE365, &cred, &builtin("o365-management"));
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0].starts_with(&format!("+/ossec_config/office365/api_auth[{TENANT_NEW}]")));
    assert_note(
        &plan,
        "has no <curl_max_size>, so Wazuh's 1M default applies",
    );
}

#[test]
fn office365_goes_into_an_agents_ossec_conf_of_4x_and_5x() {
    for fixture in [AGENT_4, AGENT_5] {
        let host = Host::new("ossec.conf", fixture, 0o640);
        let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "gcc");
        let plan = host.assert_import_changes(
            OFFICE365,
            &cred,
            &builtin("o365-management"),
            &[new_office365_block("/ossec_config", TENANT_A)],
        );
        assert_note(&plan, "systemctl restart wazuh-agent");
        assert_eq!(
            fs::read(host.args.secrets_dir.join(TENANT_A)).unwrap(),
            NEW_A.as_bytes()
        );
    }
}

#[test]
fn office365_in_a_group_keeps_the_secret_inline_and_edits_the_collecting_section() {
    let host = Host::new("etc/shared/o365/agent.conf", GROUP, 0o660);
    let template = builtin("o365-management");
    // Rotation of an inline secret.
    let contoso = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let p = host.plan(OFFICE365, &contoso, &template).unwrap();
    let shown = p.diff();
    // Masked, but told apart by a digest prefix.
    assert!(
        shown.contains(&format!(
            "-      <client_secret>{}</client_secret>",
            handoff::collect::masked_secret(OLD_A)
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "+      <client_secret>{}</client_secret>",
            handoff::collect::masked_secret(NEW_A)
        )),
        "{shown}"
    );
    assert!(!shown.contains(OLD_A), "{shown}");
    assert!(
        !shown.contains(&OLD_A[..6]) && !shown.contains(&NEW_A[..6]),
        "{shown}"
    );
    let (plan, diff) = host.import(OFFICE365, &contoso, &template);
    let section = "/agent_config[name=\"soc-collector-01\"]/office365";
    assert_eq!(
        diff,
        [format!(
            "~{section}/api_auth[{TENANT_A}]/client_secret: {OLD_A} -> {NEW_A}"
        )]
    );
    assert_note(&plan, "copies the file to every agent of the group");
    assert_no_note(&plan, "readable by every local user");
    // Fabrikam's secret path would have to exist on every agent: inline instead.
    let fabrikam = o365_cred(TENANT_B, CLIENT_B, NEW_B, "gcc");
    let (plan, diff) = host.import(OFFICE365, &fabrikam, &template);
    assert_note(
        &plan,
        "/var/ossec/etc/fabrikam.secret on the agents is no longer read",
    );
    assert_eq!(
        diff,
        [
            format!(
                "-{section}/api_auth[{TENANT_B}]/client_secret_path=/var/ossec/etc/fabrikam.secret"
            ),
            format!("+{section}/api_auth[{TENANT_B}]/client_secret={NEW_B}"),
        ]
    );
    // A new tenant joins the same block.
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    host.assert_import_changes(
        OFFICE365,
        &new,
        &template,
        &[
            format!(
                "+{section}/api_auth[{TENANT_NEW}] {{tenant_id={TENANT_NEW}, client_id={CLIENT_NEW}, client_secret={NEW_D}, api_type=commercial}}"
            ),
        ],
    );
    assert!(
        !host.args.secrets_dir.exists(),
        "no secret file for a group"
    );
    assert_eq!(host.mode(), 0o660);
}

#[test]
fn office365_in_a_new_group_goes_into_its_section_and_warns_about_every_agent() {
    let host = Host::new("etc/shared/default/agent.conf", GROUP_DEFAULT, 0o644);
    let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        OFFICE365,
        &cred,
        &builtin("o365-management"),
        &[new_office365_block("/agent_config", TENANT_A)],
    );
    assert!(
        host.conf()
            .contains(&format!("      <client_secret>{NEW_A}</client_secret>\n"))
    );
    assert_note(&plan, "every agent of group default");
    assert_note(
        &plan,
        "an agent that also has an <office365> block in its own ossec.conf now collects only this block's tenants",
    );
    assert_note(&plan, "readable by every local user (mode 644)");
}

#[test]
fn an_empty_block_placed_by_the_operator_is_filled() {
    let placed = GROUP.replace(
        "<agent_config profile=\"db-servers\">\n",
        "<agent_config profile=\"db-servers\">\n  <ms-graph><!-- Contoso's Defender goes here --></ms-graph>\n",
    );
    let host = Host::new("etc/shared/o365/agent.conf", &placed, 0o660);
    let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let (_, diff) = host.import(MS_GRAPH, &cred, &builtin("defender-incidents"));
    let at = "+/agent_config[profile=\"db-servers\"]/ms-graph";
    assert_eq!(
        diff,
        [
            format!("{at}/enabled=yes"),
            format!("{at}/only_future_events=no"),
            format!("{at}/curl_max_size=10M"),
            format!("{at}/run_on_start=yes"),
            format!("{at}/interval=5m"),
            format!("{at}/version=v1.0"),
            format!(
                "{at}/api_auth[{TENANT_A}] {{client_id={CLIENT_A}, tenant_id={TENANT_A}, secret_value={NEW_A}, api_type=global}}"
            ),
            format!(
                "{at}/resource[security] {{name=security, relationship=incidents, relationship=alerts_v2}}"
            ),
        ]
    );
    host.assert_conf_has(
        "  <ms-graph><!-- Contoso's Defender goes here -->\n    <enabled>yes</enabled>\n",
    );
    host.assert_conf_has("      <relationship>alerts_v2</relationship>\n    </resource>\n  </ms-graph>\n  <localfile>");
}

// ---- refusals: the file is left as it was ----

#[test]
fn a_5x_managers_file_is_refused_with_where_the_modules_run() {
    let host = Host::new("wazuh-manager.conf", MANAGER_5, 0o660);
    for (kind, cred, template) in [
        (
            OFFICE365,
            o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial"),
            builtin("o365-management"),
        ),
        (
            MS_GRAPH,
            graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial"),
            builtin("defender-incidents"),
        ),
    ] {
        let err = host.refused(kind, &cred, &template);
        assert_says(
            &err,
            "is a Wazuh 5.x manager's configuration (<wazuh_config> at line 7)",
        );
        assert_says(&err, "/var/ossec/etc/ossec.conf");
        assert_says(&err, "/var/wazuh-manager/etc/shared/<group>/agent.conf");
    }
}

#[test]
fn a_secret_wazuh_cannot_send_is_refused_by_both_targets() {
    let host = Host::new("ossec.conf", O365_MULTI, 0o660);
    for secret in ["Ab1+cD2/eF3=gH4&iJ5", "with space inside~", "pct%41encoded"] {
        for (kind, template) in [
            (OFFICE365, builtin("o365-management")),
            (MS_GRAPH, builtin("defender-incidents")),
        ] {
            let cred = credential(&template.id, TENANT_A, CLIENT_A, secret, "commercial");
            let err = host.refused(kind, &cred, &template);
            assert_says(&err, "without URL-encoding");
            assert_says(&err, "ask the customer to create a new client secret");
        }
    }
}

#[test]
fn a_group_with_blocks_for_other_agents_refuses_a_new_tenant_but_rotates_a_known_one() {
    // A second block, for other agents: Northwind, and Contoso again.
    let two = GROUP.replace(
        "<agent_config profile=\"db-servers\">\n",
        &format!(
            "<agent_config profile=\"db-servers\">\n  <office365>\n    <api_auth>\n      <tenant_id>{TENANT_C}</tenant_id>\n      <client_id>{CLIENT_B}</client_id>\n      <client_secret>{OLD_B}</client_secret>\n    </api_auth>\n    <api_auth>\n      <tenant_id>{TENANT_A}</tenant_id>\n      <client_id>{CLIENT_A}</client_id>\n      <client_secret>{OLD_A}</client_secret>\n    </api_auth>\n    <subscriptions>\n      <subscription>Audit.General</subscription>\n    </subscriptions>\n  </office365>\n"
        ),
    );
    let host = Host::new("etc/shared/o365/agent.conf", &two, 0o660);
    let template = builtin("o365-management");
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let err = host.refused(OFFICE365, &new, &template);
    assert_says(&err, "blocks in 2 <agent_config> sections");
    assert_says(&err, "cannot tell which agents should collect");
    let northwind = o365_cred(TENANT_C, CLIENT_B, NEW_B, "commercial");
    host.assert_import_changes(
        OFFICE365,
        &northwind,
        &template,
        &[
            format!(
                "~/agent_config[profile=\"db-servers\"]/office365/api_auth[{TENANT_C}]/client_secret: {OLD_B} -> {NEW_B}"
            ),
        ],
    );
    // A tenant in both blocks is rotated in both: the old secret may be revoked.
    let contoso = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    host.assert_import_changes(
        OFFICE365,
        &contoso,
        &template,
        &[
            format!(
                "~/agent_config[name=\"soc-collector-01\"]/office365/api_auth[{TENANT_A}]/client_secret: {OLD_A} -> {NEW_A}"
            ),
            format!(
                "~/agent_config[profile=\"db-servers\"]/office365/api_auth[{TENANT_A}]/client_secret: {OLD_A} -> {NEW_A}"
            ),
        ],
    );
}

#[test]
fn a_group_whose_sections_are_all_filtered_is_refused_without_a_block() {
    let filtered = "<agent_config os=\"Linux\">\n  <localfile>\n    <location>/var/log/syslog</location>\n    <log_format>syslog</log_format>\n  </localfile>\n</agent_config>\n\n<agent_config name=\"web-01\">\n</agent_config>\n";
    let host = Host::new("etc/shared/web/agent.conf", filtered, 0o660);
    let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let err = host.refused(MS_GRAPH, &cred, &builtin("defender-incidents"));
    assert_says(&err, "is limited to some agents");
    // Not an empty block, which Wazuh refuses to load: a comment it skips.
    assert_says(&err, "put the comment <!-- handoff: ms-graph -->");
    assert_not_says(&err, "<ms-graph></ms-graph>");
}

#[test]
fn files_wazuh_would_not_load_are_refused() {
    let several = GRAPH_MULTI.replace(
        "</ossec_config>\n",
        "\t<ms-graph>\n\t\t<enabled>no</enabled>\n\t</ms-graph>\n</ossec_config>\n",
    );
    let mixed = format!("{MANAGER_4}\n{GROUP_DEFAULT}");
    let stray = format!("{AGENT_4}<client_buffer/>\n");
    let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    for (content, says) in [
        (several.as_str(), "2 <ms-graph> blocks (lines 11, 46)"),
        (
            mixed.as_str(),
            "a top-level <ossec_config> in a file of <agent_config> sections",
        ),
        (
            stray.as_str(),
            "a top-level <client_buffer> in a file of <ossec_config> sections",
        ),
    ] {
        let host = Host::new("ossec.conf", content, 0o660);
        let err = host.refused(MS_GRAPH, &cred, &builtin("defender-incidents"));
        assert_says(&err, says);
        assert_says(&err, "left untouched");
    }
}

// ---- one module per agent: blocks Wazuh would not keep are refused ----

/// `conf` with one more `<ossec_config>` root holding `block`.
fn with_another_root(conf: &str, block: &str) -> String {
    format!("{conf}\n<ossec_config>\n{block}</ossec_config>\n")
}

/// An `<office365>` block for Northwind alone, as a second block would be
/// written by another tool (or a second customer's copy of the sample).
fn northwind_office365() -> String {
    format!(
        "  <office365>\n    <enabled>yes</enabled>\n    <api_auth>\n      <tenant_id>{TENANT_C}</tenant_id>\n      <client_id>{CLIENT_B}</client_id>\n      <client_secret>{OLD_B}</client_secret>\n    </api_auth>\n    <subscriptions>\n      <subscription>Audit.General</subscription>\n    </subscriptions>\n  </office365>\n"
    )
}

fn northwind_ms_graph() -> String {
    format!(
        "  <ms-graph>\n    <enabled>yes</enabled>\n    <api_auth>\n      <client_id>{CLIENT_B}</client_id>\n      <tenant_id>{TENANT_C}</tenant_id>\n      <secret_value>{OLD_B}</secret_value>\n      <api_type>global</api_type>\n    </api_auth>\n    <resource>\n      <name>security</name>\n      <relationship>incidents</relationship>\n    </resource>\n  </ms-graph>\n"
    )
}

#[test]
fn blocks_in_several_ossec_config_roots_are_refused_for_every_import() {
    let o365 = builtin("o365-management");
    let graph = builtin("defender-incidents");
    let agent = with_another_root(
        &with_another_root(AGENT_4, &northwind_office365()),
        &northwind_office365().replace(TENANT_C, TENANT_B),
    );
    for (content, kind, template, module) in [
        (
            with_another_root(O365_MULTI, &northwind_office365()),
            OFFICE365,
            &o365,
            "office365",
        ),
        (agent, OFFICE365, &o365, "office365"),
        (
            with_another_root(GRAPH_TUNED, &northwind_ms_graph()),
            MS_GRAPH,
            &graph,
            "ms-graph",
        ),
    ] {
        let host = Host::new("ossec.conf", &content, 0o660);
        // A tenant in the first block (a rotation) and a new tenant alike.
        for tenant in [TENANT_A, TENANT_NEW] {
            let cred = credential(&template.id, tenant, CLIENT_A, NEW_A, "commercial");
            let err = host.refused(kind, &cred, template);
            assert_says(&err, &format!("2 <{module}> blocks (lines "));
            assert_says(&err, "merge them into one");
            assert_not_says(&err, "agent_config");
            assert_says(&err, "left untouched");
        }
    }
}

#[test]
fn a_group_block_without_filters_beside_a_filtered_one_is_refused() {
    // The section without filters reaches soc-collector-01 as well, and
    // that agent would keep only the later block's tenants.
    let shared = "  <!-- Shared agent configuration here -->\n";
    let both = GROUP.replacen(shared, &format!("{shared}{}", northwind_office365()), 1);
    let host = Host::new("etc/shared/o365/agent.conf", &both, 0o660);
    let template = builtin("o365-management");
    for tenant in [TENANT_A, TENANT_C, TENANT_NEW] {
        let cred = o365_cred(tenant, CLIENT_A, NEW_A, "commercial");
        let err = host.refused(OFFICE365, &cred, &template);
        assert_says(&err, "<agent_config> without filters (line 1)");
        assert_says(&err, "reaches every agent of the group");
        assert_says(&err, "merge them into one");
    }
    // The same for two blocks in two sections without filters.
    let twice = format!(
        "{GROUP_DEFAULT}\n<agent_config>\n{}</agent_config>\n",
        northwind_ms_graph()
    )
    .replacen(
        shared,
        &format!(
            "{shared}{}",
            northwind_ms_graph().replace(TENANT_C, TENANT_B)
        ),
        1,
    );
    let host = Host::new("etc/shared/o365/agent.conf", &twice, 0o660);
    let cred = graph_cred(TENANT_C, CLIENT_B, NEW_B, "commercial");
    let err = host.refused(MS_GRAPH, &cred, &builtin("defender-incidents"));
    assert_says(&err, "merge them into one");
}

/// A group with two collecting agents, each for its own customers, and a
/// section without filters that every agent reads.
fn two_collectors() -> String {
    format!(
        "<agent_config>\n  <localfile>\n    <location>/var/log/syslog</location>\n    <log_format>syslog</log_format>\n  </localfile>\n</agent_config>\n\n<agent_config name=\"collector-eu\">\n  <office365>\n    <api_auth>\n      <tenant_id>{TENANT_A}</tenant_id>\n      <client_id>{CLIENT_A}</client_id>\n      <client_secret>{OLD_A}</client_secret>\n    </api_auth>\n    <subscriptions>\n      <subscription>Audit.General</subscription>\n    </subscriptions>\n  </office365>\n</agent_config>\n\n<agent_config name=\"collector-us\">\n  <office365>\n    <api_auth>\n      <tenant_id>{TENANT_B}</tenant_id>\n      <client_id>{CLIENT_B}</client_id>\n      <client_secret>{OLD_B}</client_secret>\n    </api_auth>\n    <subscriptions>\n      <subscription>Audit.General</subscription>\n    </subscriptions>\n  </office365>\n</agent_config>\n"
    )
}

#[test]
fn ms_graph_in_a_group_goes_beside_the_tenants_office365_block_never_to_every_agent() {
    let graph = builtin("defender-incidents");
    let host = Host::new("etc/shared/o365/agent.conf", &two_collectors(), 0o660);
    let contoso = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &contoso,
        &graph,
        &[new_ms_graph_block(
            "/agent_config[name=\"collector-eu\"]",
            TENANT_A,
        )],
    );
    assert_note(
        &plan,
        "beside tenant 72f988bf-86f1-41af-91ab-2d7cd011db47's <office365> block",
    );
    // A tenant neither collector has: which agent should collect it?
    let host = Host::new("etc/shared/o365/agent.conf", &two_collectors(), 0o660);
    let new = graph_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let err = host.refused(MS_GRAPH, &new, &graph);
    assert_says(&err, "<agent_config name=\"collector-eu\">");
    assert_says(&err, "<agent_config name=\"collector-us\">");
    assert_says(&err, "cannot tell which agents should collect");
    assert_says(&err, "<!-- handoff: ms-graph -->");
    // office365's own refusal for a new tenant says the same.
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let err = host.refused(OFFICE365, &new, &builtin("o365-management"));
    assert_says(&err, "<!-- handoff: office365 -->");
    assert_not_says(&err, "by hand");
}

#[test]
fn a_marker_comment_says_where_new_tenants_go_and_stays() {
    let graph = builtin("defender-incidents");
    let marker = "  <!-- handoff: ms-graph -->\n";
    let marked = GROUP.replace(
        "<agent_config profile=\"db-servers\">\n",
        &format!("<agent_config profile=\"db-servers\">\n{marker}"),
    );
    let host = Host::new("etc/shared/o365/agent.conf", &marked, 0o660);
    let new = graph_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let (plan, diff) = host.import(MS_GRAPH, &new, &graph);
    // Not beside the office365 block of soc-collector-01: where the marker is.
    assert_eq!(
        diff,
        [new_ms_graph_block(
            "/agent_config[profile=\"db-servers\"]",
            TENANT_NEW
        )]
    );
    host.assert_conf_has(&format!(
        "{marker}  <ms-graph>\n    <enabled>yes</enabled>\n"
    ));
    assert_note(&plan, "where <!-- handoff: ms-graph --> asks for it");
    // The next tenant joins that block.
    let northwind = graph_cred(TENANT_C, CLIENT_B, NEW_B, "gcc-high");
    let (_, diff) = host.import(MS_GRAPH, &northwind, &graph);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(
        diff[0].starts_with(&format!(
            "+/agent_config[profile=\"db-servers\"]/ms-graph/api_auth[{TENANT_C}]"
        )),
        "{diff:?}"
    );

    // Where several sections hold blocks, the marker picks the one a new
    // tenant joins.
    let marked = two_collectors().replace(
        "<agent_config name=\"collector-us\">\n",
        "<agent_config name=\"collector-us\">\n  <!-- handoff: office365 -->\n",
    );
    let host = Host::new("etc/shared/o365/agent.conf", &marked, 0o660);
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    host.assert_import_changes(
        OFFICE365,
        &new,
        &builtin("o365-management"),
        &[
            format!(
                "+/agent_config[name=\"collector-us\"]/office365/api_auth[{TENANT_NEW}] {{tenant_id={TENANT_NEW}, client_id={CLIENT_NEW}, client_secret={NEW_D}, api_type=commercial}}"
            ),
        ],
    );

    // Markers in two sections: refused, not guessed.
    let twice = marked.replace(
        "<agent_config name=\"collector-eu\">\n",
        "<agent_config name=\"collector-eu\">\n  <!-- handoff: office365 -->\n",
    );
    let host = Host::new("etc/shared/o365/agent.conf", &twice, 0o660);
    let err = host.refused(OFFICE365, &new, &builtin("o365-management"));
    assert_says(&err, "<!-- handoff: office365 --> in 2 sections");
}

#[test]
fn a_marker_in_ossec_conf_picks_the_place_but_never_makes_a_second_block() {
    let graph = builtin("defender-incidents");
    let new = graph_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    // Wazuh's shipped manager file has two roots: the marker picks the first.
    let marked = MANAGER_4.replacen(
        "<ossec_config>\n",
        "<ossec_config>\n  <!-- handoff: ms-graph -->\n",
        1,
    );
    let host = Host::new("ossec.conf", &marked, 0o660);
    let (plan, diff) = host.import(MS_GRAPH, &new, &graph);
    assert_eq!(diff.len(), 1, "{diff:?}");
    host.assert_conf_has(
        "<ossec_config>\n  <!-- handoff: ms-graph -->\n  <ms-graph>\n    <enabled>yes</enabled>\n",
    );
    assert_note(&plan, "where <!-- handoff: ms-graph --> asks for it");
    // A block in another root: the tenant joins it, as Wazuh keeps one.
    let marked = GRAPH_TUNED.replace(
        "<ossec_config>\n  <localfile>",
        "<ossec_config>\n  <!-- handoff: ms-graph -->\n  <localfile>",
    );
    let host = Host::new("ossec.conf", &marked, 0o660);
    let (_, diff) = host.import(MS_GRAPH, &new, &graph);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(
        diff[0].starts_with(&format!("+/ossec_config/ms-graph/api_auth[{TENANT_NEW}]")),
        "{diff:?}"
    );
}

#[test]
fn a_group_marker_that_would_make_an_agent_read_two_blocks_is_refused() {
    // The marker is in the section every agent reads, and soc-collector-01's
    // section already has a block.
    let marked = GROUP.replacen(
        "  <!-- Shared agent configuration here -->\n",
        "  <!-- Shared agent configuration here -->\n  <!-- handoff: office365 -->\n",
        1,
    );
    let host = Host::new("etc/shared/o365/agent.conf", &marked, 0o660);
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let err = host.refused(OFFICE365, &new, &builtin("o365-management"));
    assert_says(
        &err,
        "<!-- handoff: office365 --> is in <agent_config> without filters (line 1)",
    );
    assert_says(
        &err,
        "Move the comment into the section of the existing block",
    );
}

#[test]
fn an_empty_block_is_filled_the_same_whether_self_closing_or_not() {
    let template = builtin("o365-management");
    let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let mut results = Vec::new();
    for empty in ["<office365/>", "<office365></office365>"] {
        let placed = GROUP_DEFAULT.replace(
            "  <!-- Shared agent configuration here -->\n",
            &format!("  <!-- Shared agent configuration here -->\n  {empty}\n"),
        );
        let host = Host::new("etc/shared/default/agent.conf", &placed, 0o660);
        let p = host.plan(OFFICE365, &cred, &template).unwrap();
        assert_note(&p, "filled the empty <office365> block at line 4");
        p.apply().unwrap();
        assert!(host.plan(OFFICE365, &cred, &template).unwrap().is_noop());
        results.push(host.conf());
    }
    assert_eq!(results[0], results[1]);
    assert!(
        results[0].contains("  <office365>\n    <enabled>yes</enabled>\n"),
        "{}",
        results[0]
    );
    assert!(
        results[0].contains("    </subscriptions>\n  </office365>\n\n</agent_config>"),
        "{}",
        results[0]
    );
}

// ---- the file's own bytes: BOM, line ends, indentation ----

#[test]
fn a_byte_order_mark_is_kept_and_read_past_like_wazuh_does() {
    let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let template = builtin("o365-management");
    for fixture in [AGENT_4, AGENT_4.trim_end()] {
        let host = Host::new("ossec.conf", &format!("\u{feff}{fixture}"), 0o640);
        let p = host.plan(OFFICE365, &cred, &template).unwrap();
        p.apply().unwrap();
        assert!(host.plan(OFFICE365, &cred, &template).unwrap().is_noop());
        let after = host.conf();
        let body = after.strip_prefix('\u{feff}').expect("the BOM stays");
        assert_eq!(
            differences(fixture, body),
            [new_office365_block("/ossec_config", TENANT_A)]
        );
        assert!(
            body.contains("\n  <office365>\n    <enabled>yes</enabled>\n"),
            "{body}"
        );
        assert!(body.contains("  </office365>\n</ossec_config>"), "{body}");
    }
}

#[test]
fn new_text_takes_the_files_line_ends_and_tabs() {
    let host = Host::new("ossec.conf", O365_CRLF_TABS, 0o660);
    let new = o365_cred(TENANT_NEW, CLIENT_NEW, NEW_D, "commercial");
    let (_, diff) = host.import(OFFICE365, &new, &builtin("o365-management"));
    let path = host.args.secrets_dir.join(TENANT_NEW);
    assert_eq!(
        diff,
        [format!(
            "+/ossec_config/office365/api_auth[{TENANT_NEW}] {{tenant_id={TENANT_NEW}, client_id={CLIENT_NEW}, client_secret_path={}, api_type=commercial}}",
            path.display()
        )]
    );
    let conf = host.conf();
    assert!(
        conf.contains(&format!(
            "\t\t</api_auth>\r\n\t\t<api_auth>\r\n\t\t\t<tenant_id>{TENANT_NEW}</tenant_id>\r\n\t\t\t<client_id>{CLIENT_NEW}</client_id>\r\n"
        )),
        "{conf:?}"
    );
    assert!(!conf.replace("\r\n", "").contains('\n'), "{conf:?}");
    // Fabrikam's inline secret becomes a path where it stood.
    let fabrikam = o365_cred(TENANT_B, CLIENT_B, NEW_B, "gcc");
    host.import(OFFICE365, &fabrikam, &builtin("o365-management"));
    // A new block, in the same style.
    let graph = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    host.assert_import_changes(
        MS_GRAPH,
        &graph,
        &builtin("defender-incidents"),
        &[new_ms_graph_block("/ossec_config", TENANT_A)],
    );
    let conf = host.conf();
    assert!(
        conf.contains("\t</office365>\r\n\r\n\t<ms-graph>\r\n\t\t<enabled>yes</enabled>\r\n"),
        "{conf:?}"
    );
    assert!(
        conf.contains("\t\t<resource>\r\n\t\t\t<name>security</name>\r\n"),
        "{conf:?}"
    );
    assert!(!conf.replace("\r\n", "").contains('\n'), "{conf:?}");

    // A section with no element to copy the indentation from: the file's
    // own unit (a tab), not two spaces.
    let group = GROUP_DEFAULT
        .replace("  <!--", "\t<!--")
        .replace('\n', "\r\n");
    let host = Host::new("etc/shared/default/agent.conf", &group, 0o660);
    let (_, diff) = host.import(OFFICE365, &new, &builtin("o365-management"));
    assert_eq!(diff.len(), 1, "{diff:?}");
    let conf = host.conf();
    assert!(
        conf.contains("\t<!-- Shared agent configuration here -->\r\n\r\n\t<office365>\r\n\t\t<enabled>yes</enabled>\r\n"),
        "{conf:?}"
    );
    assert!(
        conf.contains("\t\t<api_auth>\r\n\t\t\t<tenant_id>"),
        "{conf:?}"
    );
    assert!(!conf.replace("\r\n", "").contains('\n'), "{conf:?}");
}

// ---- notes ----

#[test]
fn office365_a_new_secret_in_the_secret_file_needs_no_restart() {
    let host = Host::new("ossec.conf", O365_MULTI, 0o660);
    let template = builtin("o365-management");
    // First import: ossec.conf changes (the path becomes handoff's).
    let first = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let (plan, _) = host.import(OFFICE365, &first, &template);
    assert_note(&plan, "systemctl restart wazuh-manager");
    // Rotation: only the secret file changes.
    let rotated = o365_cred(TENANT_A, CLIENT_A, NEW_D, "commercial");
    let (plan, diff) = host.import(OFFICE365, &rotated, &template);
    assert!(diff.is_empty(), "{diff:?}");
    assert_eq!(
        fs::read(host.args.secrets_dir.join(TENANT_A)).unwrap(),
        NEW_D.as_bytes()
    );
    assert_no_note(&plan, "systemctl restart");
    assert_note(
        &plan,
        "used from the module's next interval, with no restart",
    );
}

#[test]
fn office365_an_inline_secret_moved_to_a_file_is_named_in_the_backup() {
    for mode in [0o640, 0o644] {
        let host = Host::new("ossec.conf", O365_MULTI, mode);
        let fabrikam = o365_cred(TENANT_B, CLIENT_B, NEW_B, "gcc");
        let (plan, _) = host.import(OFFICE365, &fabrikam, &builtin("o365-management"));
        assert_note(
            &plan,
            "the old secret that was inline stays in the backup of ossec.conf (ossec.conf.handoff-",
        );
        let backup = fs::read_dir(host.args.ossec_conf.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(".bak"))
            .unwrap();
        assert!(fs::read_to_string(&backup).unwrap().contains(OLD_B));
        assert_eq!(
            has_note(&plan, "so every local user can read that backup"),
            mode == 0o644,
            "{:?}",
            plan.notes
        );
    }
}

#[test]
fn a_removed_duplicate_names_the_secret_file_it_pointed_at() {
    let old = "/var/ossec/etc/o365/contoso-2023.secret";
    let duplicate = format!(
        "    <api_auth>\n      <tenant_id>{TENANT_A}</tenant_id>\n      <client_id>{CLIENT_A}</client_id>\n      <client_secret_path>{old}</client_secret_path>\n    </api_auth>\n    <subscriptions>"
    );
    let twice = O365_MULTI.replacen("    <subscriptions>", &duplicate, 1);
    for relative in ["ossec.conf", "etc/shared/o365/agent.conf"] {
        let content = if relative == "ossec.conf" {
            twice.clone()
        } else {
            twice
                .replace("<ossec_config>", "<agent_config>")
                .replace("</ossec_config>", "</agent_config>")
        };
        let host = Host::new(relative, &content, 0o660);
        let cred = o365_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
        let (plan, _) = host.import(OFFICE365, &cred, &builtin("o365-management"));
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("removed a second <api_auth> for tenant") && n.contains(old)),
            "{relative}: {:?}",
            plan.notes
        );
    }
}

#[test]
fn ms_graph_a_legacy_alerts_relationship_is_named_and_left() {
    let legacy = GRAPH_TUNED.replace(
        "      <relationship>alerts_v2</relationship>\n",
        "      <relationship>alerts</relationship>\n      <relationship>alerts_v2</relationship>\n",
    );
    let host = Host::new("ossec.conf", &legacy, 0o660);
    let cred = graph_cred(TENANT_A, CLIENT_A, NEW_A, "commercial");
    let plan = host.assert_import_changes(
        MS_GRAPH,
        &cred,
        &graph_template(&[("security", &["alerts_v2"])]),
        &[format!(
            "~/ossec_config/ms-graph/api_auth[{TENANT_A}]/secret_value: {OLD_A} -> {NEW_A}"
        )],
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("reads security/alerts,")
                && n.contains("retired on 2026-10-15")
                && n.contains("returns no data")
                && n.contains("it also reads security/alerts_v2, which replaces it")),
        "{:?}",
        plan.notes
    );
    // Without alerts_v2 beside it, the note says to read that instead.
    let only_legacy = GRAPH_TUNED.replace(
        "<relationship>alerts_v2</relationship>",
        "<relationship>alerts</relationship>",
    );
    let host = Host::new("ossec.conf", &only_legacy, 0o660);
    let (plan, diff) = host.import(
        MS_GRAPH,
        &cred,
        &graph_template(&[("security", &["incidents"])]),
    );
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert_note(
        &plan,
        "read security/alerts_v2 instead (application permission SecurityAlert.Read.All)",
    );
    host.assert_conf_has("<relationship>alerts</relationship>");
}

#[test]
fn no_note_carries_a_prefix_of_its_own() {
    // The collector prints each note after "note: ".
    for (kind, template) in [
        (OFFICE365, builtin("o365-management")),
        (MS_GRAPH, builtin("defender-incidents")),
    ] {
        let host = Host::new("etc/shared/default/agent.conf", GROUP_DEFAULT, 0o644);
        let cred = credential(&template.id, TENANT_A, CLIENT_A, NEW_A, "commercial");
        let plan = host.plan(kind, &cred, &template).unwrap();
        assert_note(&plan, "readable by every local user (mode 644)");
        for n in &plan.notes {
            assert!(!n.to_lowercase().contains("warning:"), "{n}");
            assert!(!n.to_lowercase().starts_with("note:"), "{n}");
        }
    }
}
