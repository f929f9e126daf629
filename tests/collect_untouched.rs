//! One rule for every collector target, present and future: an import
//! changes what its credential is about and nothing else.
//!
//! For each target, seeded generators build configurations shaped like the
//! ones SOCs run (several other tenants, operator settings and comments, and
//! sometimes this tenant already there under an old secret or an old app
//! registration). The credential is imported through the public API; then
//! the files before and after are read back with a real parser (quick-xml,
//! serde_yaml_ng, serde_json, lines for env files), everything that is about
//! the imported tenant is taken out of both, and what is left of the file
//! before must still be in the file after: every element, entry, key,
//! setting, comment and other tenant, with its value. Targets may add what
//! their template needs (a resource, a subscription, a new entry), never
//! drop or change anything else. A second import of the same credential
//! changes nothing.
//!
//! [`case`] matches on every [`Target`], so a new target does not compile
//! until it has its own generator here.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::flow::entra_credential as credential;
use handoff::collect::{Import, Target, TargetArgs, plan};
use handoff::integration::Integrations;
use handoff::payload::EntraCredential;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_yaml_ng::Value as Yaml;

/// Seeds per target; each seed is one configuration and one import.
const SEEDS: u64 = 48;

/// Wazuh's shipped default manager ossec.conf (see the fixture's header).
const OSSEC_DEFAULT: &str = include_str!("fixtures/ossec.conf");

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same case, so a failure names a case that can be run again.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }
    fn guid(&mut self) -> String {
        let h = format!("{:016x}{:016x}", self.next(), self.next());
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
    /// A client secret from the portal's alphabet.
    fn secret(&mut self) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~.-";
        let mut s = String::new();
        for i in 0..40 {
            if i == 4 {
                s.push_str("Q~");
                continue;
            }
            if i == 5 {
                continue;
            }
            s.push(A[self.below(A.len())] as char);
        }
        s
    }
}

/// One generated case: files to lay down, the credential to import, and how
/// to read a file's content as what is not about that credential.
struct Case {
    files: Vec<(PathBuf, String)>,
    credential: EntraCredential,
    customer: String,
    /// What of a file's text is not about the credential, as a comparable
    /// tree: everything in `before`'s must be in `after`'s.
    rest: fn(&Path, &str, &EntraCredential) -> Tree,
    /// The target may refuse this case with a sentence (leaving every file
    /// as it was) instead of importing: only where the issue allows it.
    may_refuse: bool,
}

/// A parsed file, reduced to what can be compared: elements, entries and
/// keys with their values, comments, in order.
#[derive(Clone, Debug, PartialEq)]
enum Tree {
    Leaf(String),
    /// Ordered children; `before`'s must appear in `after`'s, in order.
    Seq(Vec<Tree>),
    /// Keyed children; every key of `before` must be in `after`.
    Map(BTreeMap<String, Tree>),
    /// A named node (an XML element, with its attributes) and its content.
    Node(String, Box<Tree>),
}

/// True if everything in `a` is in `b`: equal leaves, every key of a map,
/// and the items of a sequence in order (others may be added between).
fn kept(a: &Tree, b: &Tree) -> bool {
    match (a, b) {
        (Tree::Leaf(x), Tree::Leaf(y)) => x == y,
        (Tree::Node(n, x), Tree::Node(m, y)) => n == m && kept(x, y),
        (Tree::Map(x), Tree::Map(y)) => x.iter().all(|(k, v)| y.get(k).is_some_and(|w| kept(v, w))),
        (Tree::Seq(x), Tree::Seq(y)) => {
            let mut rest = y.iter();
            x.iter().all(|item| rest.any(|other| kept(item, other)))
        }
        _ => false,
    }
}

// ---- XML (ossec.conf, agent.conf) ----

/// The file as a tree of elements (name and attributes), texts and
/// comments. Several roots are read as one sequence; a bare `&` is read as
/// Wazuh reads it.
fn xml_tree(src: &str) -> Tree {
    let mut reader = Reader::from_str(src);
    reader.config_mut().allow_dangling_amp = true;
    let mut stack: Vec<(String, Vec<Tree>)> = vec![(String::new(), Vec::new())];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push((element_name(&e), Vec::new())),
            Event::Empty(e) => {
                let name = element_name(&e);
                stack
                    .last_mut()
                    .unwrap()
                    .1
                    .push(Tree::Node(name, Box::new(Tree::Seq(Vec::new()))));
            }
            Event::End(_) => {
                let (name, children) = stack.pop().unwrap();
                stack
                    .last_mut()
                    .unwrap()
                    .1
                    .push(Tree::Node(name, Box::new(Tree::Seq(children))));
            }
            Event::Text(t) => {
                let text = t.xml10_content().trim().to_owned();
                if !text.is_empty() {
                    stack.last_mut().unwrap().1.push(Tree::Leaf(text));
                }
            }
            Event::Comment(c) => stack
                .last_mut()
                .unwrap()
                .1
                .push(Tree::Leaf(format!("<!--{}-->", c.xml10_content()))),
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    Tree::Seq(stack.pop().unwrap().1)
}

fn element_name(e: &quick_xml::events::BytesStart) -> String {
    let mut name = e.name().0.to_owned();
    for a in e.attributes().flatten() {
        name.push_str(&format!(" {}={:?}", a.key.0, a.value));
    }
    name
}

/// The text of a node's child element `name`.
fn child_text(children: &[Tree], name: &str) -> Option<String> {
    children.iter().find_map(|c| match c {
        Tree::Node(n, inner) if n == name => match inner.as_ref() {
            Tree::Seq(v) => v.iter().find_map(|t| match t {
                Tree::Leaf(s) => Some(s.clone()),
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    })
}

/// The tree without any `<api_auth>` naming the tenant.
fn without_tenant_xml(tree: &Tree, tenant: &str) -> Tree {
    match tree {
        Tree::Seq(items) => Tree::Seq(
            items
                .iter()
                .filter(|t| match t {
                    Tree::Node(n, inner) if n == "api_auth" => match inner.as_ref() {
                        Tree::Seq(c) => !child_text(c, "tenant_id")
                            .is_some_and(|t| t.eq_ignore_ascii_case(tenant)),
                        _ => true,
                    },
                    _ => true,
                })
                .map(|t| without_tenant_xml(t, tenant))
                .collect(),
        ),
        Tree::Node(n, inner) => Tree::Node(n.clone(), Box::new(without_tenant_xml(inner, tenant))),
        other => other.clone(),
    }
}

fn xml_rest(_: &Path, src: &str, cred: &EntraCredential) -> Tree {
    without_tenant_xml(&xml_tree(src), &cred.tenant_id)
}

/// An `<api_auth>` for another tenant, as operators write them.
fn other_api_auth(rng: &mut Rng, ind: &str, graph: bool) -> String {
    let tenant = rng.guid();
    let client = rng.guid();
    let mut s = format!("{ind}<api_auth>\n");
    if graph {
        s.push_str(&format!(
            "{ind}  <client_id>{client}</client_id>\n{ind}  <tenant_id>{tenant}</tenant_id>\n{ind}  <secret_value>{}</secret_value>\n{ind}  <api_type>{}</api_type>\n",
            rng.secret(),
            rng.pick(&["global", "gcc-high", "dod"])
        ));
    } else {
        s.push_str(&format!(
            "{ind}  <tenant_id>{tenant}</tenant_id>\n{ind}  <client_id>{client}</client_id>\n"
        ));
        if rng.chance(50) {
            s.push_str(&format!(
                "{ind}  <client_secret_path>/var/ossec/etc/o365/{tenant}</client_secret_path>\n"
            ));
        } else {
            s.push_str(&format!(
                "{ind}  <client_secret>{}</client_secret>\n",
                rng.secret()
            ));
        }
        s.push_str(&format!(
            "{ind}  <api_type>{}</api_type>\n",
            rng.pick(&["commercial", "gcc", "gcc-high"])
        ));
    }
    s.push_str(&format!("{ind}</api_auth>\n"));
    s
}

/// This tenant's entry as it was before: an old secret, sometimes an old
/// app registration.
fn own_api_auth(rng: &mut Rng, cred: &EntraCredential, graph: bool) -> String {
    let client = if rng.chance(30) {
        rng.guid()
    } else {
        cred.client_id.clone()
    };
    if graph {
        format!(
            "    <api_auth>\n      <client_id>{client}</client_id>\n      <tenant_id>{}</tenant_id>\n      <secret_value>{}</secret_value>\n      <api_type>global</api_type>\n    </api_auth>\n",
            cred.tenant_id,
            rng.secret()
        )
    } else {
        format!(
            "    <api_auth>\n      <tenant_id>{}</tenant_id>\n      <client_id>{client}</client_id>\n      <client_secret>{}</client_secret>\n      <api_type>commercial</api_type>\n    </api_auth>\n",
            cred.tenant_id,
            rng.secret()
        )
    }
}

fn wazuh_case(rng: &mut Rng, dir: &Path, graph: bool) -> Case {
    let template = if graph {
        *rng.pick(&[
            "defender-incidents",
            "graph-security-alerts",
            "identity-protection",
        ])
    } else {
        "o365-management"
    };
    let cloud = if graph {
        *rng.pick(&["commercial", "gcc", "gcc-high", "dod"])
    } else {
        *rng.pick(&["commercial", "gcc", "gcc-high"])
    };
    let cred = credential(template, &rng.guid(), &rng.guid(), &rng.secret(), cloud);
    let mut auths: Vec<String> = (0..rng.below(4))
        .map(|_| other_api_auth(rng, "    ", graph))
        .collect();
    if rng.chance(50) {
        let at = rng.below(auths.len() + 1);
        auths.insert(at, own_api_auth(rng, &cred, graph));
    }
    let mut block = String::new();
    if !auths.is_empty() || rng.chance(70) {
        let name = if graph { "ms-graph" } else { "office365" };
        block.push_str(&format!(
            "  <!-- {name}: tuned by the SOC, keep -->\n  <{name}>\n"
        ));
        block.push_str(&format!(
            "    <enabled>{}</enabled>\n",
            rng.pick(&["yes", "no"])
        ));
        for (setting, values) in [
            ("only_future_events", &["yes", "no"][..]),
            ("interval", &["10m", "1h", "30s"][..]),
            ("curl_max_size", &["50M", "2M"][..]),
        ] {
            if rng.chance(60) {
                block.push_str(&format!(
                    "    <{setting}>{}</{setting}>\n",
                    rng.pick(values)
                ));
            }
        }
        if graph {
            for (setting, values) in [
                ("run_on_start", &["no", "yes"][..]),
                ("version", &["v1.0", "beta"][..]),
                ("page_size", &["50", "100"][..]),
            ] {
                if rng.chance(60) {
                    block.push_str(&format!(
                        "    <{setting}>{}</{setting}>\n",
                        rng.pick(values)
                    ));
                }
            }
        }
        if rng.chance(40) {
            block.push_str("    <!-- one tenant per customer, sorted by contract -->\n");
        }
        for a in &auths {
            block.push_str(a);
        }
        if graph {
            for (name, rels) in [
                ("security", &["incidents", "alerts_v2"][..]),
                ("deviceManagement", &["auditEvents"][..]),
                ("auditLogs", &["signIns"][..]),
            ] {
                if rng.chance(50) {
                    block.push_str(&format!("    <resource>\n      <name>{name}</name>\n"));
                    for r in rels.iter().filter(|_| rng.chance(70)) {
                        block.push_str(&format!("      <relationship>{r}</relationship>\n"));
                    }
                    block.push_str("    </resource>\n");
                }
            }
        } else {
            block.push_str("    <subscriptions>\n");
            for s in [
                "Audit.AzureActiveDirectory",
                "Audit.Exchange",
                "Audit.SharePoint",
                "Audit.General",
                "DLP.All",
            ] {
                if rng.chance(60) {
                    block.push_str(&format!("      <subscription>{s}</subscription>\n"));
                }
            }
            block.push_str("    </subscriptions>\n");
        }
        block.push_str(&format!("  </{name}>\n"));
    }
    // A manager's (or agent's) ossec.conf, or a group's shared agent.conf
    // (Wazuh 5.x runs these modules only on agents).
    let (name, conf) = if rng.chance(30) {
        (
            "agent.conf",
            format!(
                "<agent_config>\n  <!-- every agent of the cloud group -->\n  <localfile>\n    <log_format>syslog</log_format>\n    <location>/var/log/syslog</location>\n  </localfile>\n{block}</agent_config>\n\n<agent_config os=\"Windows\">\n  <localfile>\n    <location>Security</location>\n    <log_format>eventchannel</log_format>\n  </localfile>\n</agent_config>\n"
            ),
        )
    } else {
        (
            "ossec.conf",
            format!(
                "{OSSEC_DEFAULT}\n<ossec_config>\n  <!-- cloud modules -->\n{block}</ossec_config>\n"
            ),
        )
    };
    Case {
        files: vec![(dir.join(name), conf)],
        credential: cred,
        customer: "Contoso Ltd".to_owned(),
        rest: xml_rest,
        may_refuse: false,
    }
}

// ---- Filebeat's modules.d/o365.yml ----

fn yaml_tree(v: &Yaml) -> Tree {
    match v {
        Yaml::Sequence(items) => Tree::Seq(items.iter().map(yaml_tree).collect()),
        Yaml::Mapping(m) => Tree::Map(
            m.iter()
                .map(|(k, v)| (serde_yaml_ng::to_string(k).unwrap(), yaml_tree(v)))
                .collect(),
        ),
        other => Tree::Leaf(serde_yaml_ng::to_string(other).unwrap()),
    }
}

/// The module file without the tenant's rows, and without the credential's
/// own settings in an entry that held that tenant alone.
fn yaml_rest(path: &Path, src: &str, cred: &EntraCredential) -> Tree {
    if path.extension().is_some_and(|e| e == "env") {
        return env_rest(path, src, cred);
    }
    let mut doc: Yaml = serde_yaml_ng::from_str(src).unwrap();
    if let Yaml::Sequence(entries) = &mut doc {
        for entry in entries.iter_mut() {
            strip_tenant_from_entry(entry, &cred.tenant_id);
        }
    }
    // Comments are not in the YAML value: compare them as lines too.
    let comments: Vec<Tree> = src
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .map(|l| Tree::Leaf(l.trim().to_owned()))
        .collect();
    Tree::Seq(vec![yaml_tree(&doc), Tree::Seq(comments)])
}

/// The `audit` part of an entry, however its keys are dotted.
fn audit_vars(entry: &mut Yaml) -> Option<&mut serde_yaml_ng::Mapping> {
    entry.get_mut("audit").and_then(Yaml::as_mapping_mut)
}

fn strip_tenant_from_entry(entry: &mut Yaml, tenant: &str) {
    let Some(audit) = audit_vars(entry) else {
        return;
    };
    let Some(Yaml::Sequence(tenants)) = audit.get_mut("var.tenants") else {
        return;
    };
    let had = tenants.len();
    tenants.retain(|t| {
        !t.get("id")
            .and_then(Yaml::as_str)
            .is_some_and(|id| id.eq_ignore_ascii_case(tenant))
    });
    if had > 0 && tenants.is_empty() {
        // The entry was this tenant's alone: what names its app, its
        // secret and its cloud is about the credential.
        for key in ["var.tenants", "var.application_id", "var.client_secret"] {
            audit.remove(key);
        }
        if let Some(Yaml::Mapping(api)) = audit.get_mut("var.api") {
            api.remove("authentication_endpoint");
            api.remove("resource");
        }
    }
}

fn filebeat_case(rng: &mut Rng, dir: &Path) -> Case {
    let cloud = *rng.pick(&["commercial", "gcc", "gcc-high", "dod"]);
    let cred = credential(
        "o365-management",
        &rng.guid(),
        &rng.guid(),
        &rng.secret(),
        cloud,
    );
    let mut text =
        String::from("# Module: o365\n# Managed by the SOC; handoff adds customers.\n\n");
    let mut env = String::from("# Filebeat's secrets\n");
    let entries = 1 + rng.below(3);
    let own_at = rng.chance(60).then(|| rng.below(entries));
    // This tenant in an entry with others: splitting it out is asked for,
    // refusing with a sentence that says how is allowed.
    let mut shared = false;
    for i in 0..entries {
        let app = rng.guid();
        let key = format!("O365_SECRET_{i}");
        env.push_str(&format!("{key}={}\n", rng.secret()));
        text.push_str(&format!(
            "- module: o365\n  audit:\n    enabled: {}\n",
            rng.pick(&["true", "false"])
        ));
        if rng.chance(50) {
            text.push_str("    # customer's own app registration\n");
        }
        let own = own_at == Some(i);
        // This tenant under the same app (a rotation) or an old one.
        let app = if own && rng.chance(50) {
            cred.client_id.clone()
        } else {
            app
        };
        text.push_str(&format!(
            "    var.application_id: \"{app}\"\n    var.tenants:\n"
        ));
        let mut rows: Vec<String> = (0..rng.below(3))
            .map(|_| {
                format!(
                    "      - id: \"{}\"\n        name: \"other{}.onmicrosoft.com\"\n",
                    rng.guid(),
                    rng.below(100)
                )
            })
            .collect();
        if own {
            let at = rng.below(rows.len() + 1);
            rows.insert(
                at,
                format!(
                    "      - id: \"{}\"\n        name: \"contoso.onmicrosoft.com\"\n",
                    cred.tenant_id
                ),
            );
        }
        shared |= own && rows.len() > 1;
        if rows.is_empty() {
            rows.push(format!(
                "      - id: \"{}\"\n        name: \"solo.onmicrosoft.com\"\n",
                rng.guid()
            ));
        }
        text.push_str(&rows.concat());
        text.push_str(&format!("    var.client_secret: \"${{{key}}}\"\n"));
        if rng.chance(50) {
            text.push_str(
                "    var.content_type:\n      - \"Audit.General\"\n      - \"Audit.Exchange\"\n",
            );
        }
        if rng.chance(50) {
            text.push_str(&format!(
                "    var.api:\n      poll_interval: {}\n",
                rng.pick(&["3m", "10m"])
            ));
        }
        text.push('\n');
    }
    text.push_str("# end of the SOC's list\n");
    Case {
        files: vec![
            (dir.join("o365.yml"), text),
            (dir.join("filebeat.env"), env),
        ],
        credential: cred,
        customer: "Contoso Ltd".to_owned(),
        rest: yaml_rest,
        may_refuse: shared,
    }
}

// ---- env and json: one file per customer ----

/// An env file's lines that are not handoff's own for this credential.
fn env_rest(_: &Path, src: &str, cred: &EntraCredential) -> Tree {
    let owned = |l: &str| {
        let l = l.trim_start();
        let l = l.strip_prefix("export ").unwrap_or(l);
        l.starts_with("# handoff collect:")
            || l.starts_with("# the client secret expires on")
            || l.starts_with("AZURE_TENANT_ID=")
            || l.starts_with("AZURE_CLIENT_ID=")
            || l.starts_with("AZURE_CLIENT_SECRET=")
            || l.starts_with("AZURE_AUTHORITY_HOST=")
            || l.starts_with(&filebeat_key(&cred.tenant_id))
    };
    Tree::Seq(
        src.lines()
            .filter(|l| !owned(l))
            .map(|l| Tree::Leaf(l.to_owned()))
            .collect(),
    )
}

fn filebeat_key(tenant: &str) -> String {
    format!(
        "O365_SECRET_{}=",
        tenant.to_ascii_uppercase().replace('-', "_")
    )
}

fn json_rest(_: &Path, src: &str, _: &EntraCredential) -> Tree {
    let owned = [
        "customer",
        "template",
        "request_id",
        "tenant_id",
        "client_id",
        "client_secret",
        "secret_expires_on",
        "cloud",
        "extra",
    ];
    let v: serde_json::Value = serde_json::from_str(src).unwrap();
    let map = v.as_object().unwrap();
    Tree::Map(
        map.iter()
            .filter(|(k, _)| !owned.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), Tree::Leaf(v.to_string())))
            .collect(),
    )
}

fn per_customer_case(rng: &mut Rng, dir: &Path, json: bool) -> Case {
    let cloud = *rng.pick(&["commercial", "gcc", "gcc-high", "dod"]);
    let cred = credential(
        "identity-protection",
        &rng.guid(),
        &rng.guid(),
        &rng.secret(),
        cloud,
    );
    let out = dir.join("credentials");
    let mut files = Vec::new();
    for other in ["fabrikam", "northwind"] {
        let text = if json {
            format!(
                "{{\"tenant_id\": \"{}\", \"client_secret\": \"{}\"}}\n",
                rng.guid(),
                rng.secret()
            )
        } else {
            format!(
                "AZURE_TENANT_ID={}\nAZURE_CLIENT_SECRET={}\n",
                rng.guid(),
                rng.secret()
            )
        };
        files.push((
            out.join(format!("{other}.{}", if json { "json" } else { "env" })),
            text,
        ));
    }
    if rng.chance(70) {
        // This customer's file from an earlier import, tuned by an operator.
        let text = if json {
            format!(
                "{{\"tenant_id\": \"{}\", \"client_id\": \"{}\", \"client_secret\": \"{}\", \"cloud\": \"commercial\", \"siem_index\": \"contoso\", \"poll\": {{\"minutes\": {}}}}}\n",
                cred.tenant_id,
                rng.guid(),
                rng.secret(),
                rng.below(60)
            )
        } else {
            format!(
                "# handoff collect: Contoso Ltd (identity-protection, request req_old)\nAZURE_TENANT_ID={}\nAZURE_CLIENT_ID={}\nexport AZURE_CLIENT_SECRET={}\nAZURE_AUTHORITY_HOST=https://login.microsoftonline.us\n# egress through the SOC's proxy\nHTTPS_PROXY=http://proxy.soc.example:{}\n",
                cred.tenant_id,
                rng.guid(),
                rng.secret(),
                3000 + rng.below(1000)
            )
        };
        files.push((
            out.join(format!("contoso-ltd.{}", if json { "json" } else { "env" })),
            text,
        ));
    }
    Case {
        files,
        credential: cred,
        customer: "Contoso Ltd".to_owned(),
        rest: if json { json_rest } else { env_rest },
        may_refuse: false,
    }
}

/// The generated case for `kind`. Every target that writes files must
/// have one; an API target writes none (`collect_http.rs`,
/// `collect_wazuh_api.rs`, `collect_qradar.rs`, `collect_elastic_agent.rs`,
/// `collect_splunk.rs` and `collect_cribl.rs` test what they send;
/// `wazuh-api` merges with `wazuh-office365`'s own merge, which the Wazuh
/// cases here cover); `dir` writes a files request's files, never into an
/// existing file (`file_requests.rs`).
fn case(kind: Target, rng: &mut Rng, dir: &Path) -> Option<Case> {
    Some(match kind {
        Target::WazuhOffice365 => wazuh_case(rng, dir, false),
        Target::WazuhMsGraph => wazuh_case(rng, dir, true),
        Target::FilebeatO365 => filebeat_case(rng, dir),
        Target::Env => per_customer_case(rng, dir, false),
        Target::Json => per_customer_case(rng, dir, true),
        Target::Http
        | Target::WazuhApi
        | Target::Qradar
        | Target::ElasticAgent
        | Target::SplunkO365
        | Target::Cribl
        | Target::Dir => return None,
    })
}

fn run_case(kind: Target, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(seed);
    let Some(c) = case(kind, &mut rng, dir.path()) else {
        return;
    };
    for (path, text) in &c.files {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        // As collectors keep files that hold secrets: not for other users.
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut args = TargetArgs::under(dir.path());
    if let Some((path, _)) = c.files.iter().find(|(p, _)| p.ends_with("agent.conf")) {
        args.ossec_conf = path.clone();
    }
    args.filebeat_env_file = Some(dir.path().join("filebeat.env"));
    let all = Integrations::builtin();
    let integration = all.get(&c.credential.template).unwrap();
    let import = Import {
        credential: &c.credential,
        integration,
        customer: &c.customer,
        request_id: "req_new",
    };
    let what = format!("{} seed {seed}", kind.as_str());
    let planned = match plan(kind, &args, &import) {
        Ok(p) => p,
        Err(e) => {
            assert!(c.may_refuse, "{what}: refused: {e}");
            for (path, text) in &c.files {
                assert_eq!(
                    &fs::read_to_string(path).unwrap(),
                    text,
                    "{what}: refused ({e}) but changed {}",
                    path.display()
                );
            }
            return;
        }
    };
    planned.apply().unwrap();
    for (path, before) in &c.files {
        let after = fs::read_to_string(path).unwrap();
        let (a, b) = (
            (c.rest)(path, before, &c.credential),
            (c.rest)(path, &after, &c.credential),
        );
        assert!(
            kept(&a, &b),
            "{what}: {} lost or changed something the credential is not about\n--- before\n{before}\n--- after\n{after}",
            path.display()
        );
    }
    let again = plan(kind, &args, &import).unwrap();
    assert!(
        again.is_noop(),
        "{what}: a second import changes\n{}",
        again.diff()
    );
}

#[test]
fn every_target_changes_only_what_its_credential_is_about() {
    use clap::ValueEnum;
    // Every target runs, so one failure does not hide another's.
    let failed: Vec<&str> = Target::value_variants()
        .iter()
        .filter(|kind| {
            std::panic::catch_unwind(|| {
                for seed in 0..SEEDS {
                    run_case(**kind, seed);
                }
            })
            .is_err()
        })
        .map(|kind| kind.as_str())
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn the_comparison_catches_a_lost_tenant_a_changed_setting_and_a_lost_comment() {
    let doc = |interval: &str, comment: &str, x_client: &str, y: bool| {
        let y = if y {
            "  <api_auth><tenant_id>y</tenant_id><client_id>cy</client_id></api_auth>\n"
        } else {
            ""
        };
        xml_tree(&format!(
            "<a>\n{comment}  <interval>{interval}</interval>\n  <api_auth><tenant_id>x</tenant_id><client_id>{x_client}</client_id></api_auth>\n{y}</a>\n"
        ))
    };
    let keep = "  <!-- keep -->\n";
    let before = doc("10m", keep, "cx", true);
    assert!(kept(&before, &before));
    let added = xml_tree(
        "<a>\n  <!-- keep -->\n  <interval>10m</interval>\n  <api_auth><tenant_id>x</tenant_id><client_id>cx</client_id></api_auth>\n  <api_auth><tenant_id>y</tenant_id><client_id>cy</client_id></api_auth>\n  <added/>\n</a>\n",
    );
    assert!(kept(&before, &added), "adding is allowed");
    for (broken, what) in [
        (doc("10m", keep, "cx", false), "a lost tenant"),
        (doc("5m", keep, "cx", true), "a reset setting"),
        (doc("10m", "", "cx", true), "a lost comment"),
    ] {
        assert!(!kept(&before, &broken), "{what}");
    }
    // Taking the imported tenant out is what allows its own change.
    let rotated = doc("10m", keep, "new", true);
    assert!(!kept(&before, &rotated));
    assert!(kept(
        &without_tenant_xml(&before, "x"),
        &without_tenant_xml(&rotated, "x")
    ));
    assert!(!kept(
        &without_tenant_xml(&before, "y"),
        &without_tenant_xml(&rotated, "y")
    ));
}
