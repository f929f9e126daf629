//! Reading Wazuh's configuration files without rewriting them.
//!
//! The office365 and ms-graph modules are configured in one of three files,
//! told apart by their root elements:
//!
//! - a Wazuh 4.x manager's `ossec.conf` (`<ossec_config>` roots), where the
//!   manager runs the modules;
//! - an agent's `ossec.conf` (`<ossec_config>` with a `<client>` section, or
//!   `<agent>` from 5.0), where the agent runs them;
//! - a group's shared `etc/shared/<group>/agent.conf` on the manager
//!   (`<agent_config>` roots, some filtered by `name=`, `os=` or `profile=`),
//!   which the manager hands to the group's agents.
//!
//! A Wazuh 5.x manager's `wazuh-manager.conf` (`<wazuh_config>`) is refused:
//! from 5.0 the manager only warns "The 'office365' module only works for the
//! agent" and skips the block (wazuh/wazuh `src/config/src/wmodules-config.c`,
//! `Read_Office365` and `Read_MS_Graph`, built without `CLIENT`).
//!
//! These files are full of comments an operator cares about, so they are never
//! re-serialised: the Wazuh targets find the byte ranges of elements with
//! quick-xml's reader and splice new text in; every other byte stays as it
//! was, a UTF-8 byte order mark included, and new lines take the file's line
//! end and indentation. Element text is taken raw, as Wazuh's own reader does
//! (it decodes no entities), which is also why values written here must not
//! need escaping.

use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{FileChange, TargetError, read_text};

/// An element and where it sits in the file.
pub(super) struct Element {
    pub(crate) name: String,
    /// Offset of its `<`.
    pub(crate) start: usize,
    /// What lies between its start and end tags (empty if self-closing).
    pub(crate) inner: Range<usize>,
    /// Offset just past its end tag.
    pub(crate) end: usize,
    pub(crate) self_closing: bool,
    /// Its attributes as (name, raw value), in order.
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    /// The byte ranges of the comments directly inside it, where an
    /// operator's `<!-- handoff: MODULE -->` marker is looked for.
    pub(crate) comments: Vec<Range<usize>>,
}

impl Element {
    /// Its child elements called `name`, in order.
    pub(crate) fn children_named<'e>(
        &'e self,
        name: &str,
    ) -> impl Iterator<Item = &'e Element> + use<'e> {
        let name = name.to_owned();
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a leaf element.
    pub(crate) fn text<'s>(&self, src: &'s str) -> &'s str {
        src[self.inner.clone()].trim()
    }

    /// The text of the first child called `name`.
    pub(crate) fn child_text<'s>(&self, src: &'s str, name: &str) -> Option<&'s str> {
        self.children_named(name).next().map(|c| c.text(src))
    }
}

/// The file's top-level elements. Mismatched or unclosed tags, text outside
/// any element and anything quick-xml cannot read are refused with the line.
pub(super) fn parse(path: &Path, src: &str) -> Result<Vec<Element>, TargetError> {
    // Wazuh's reader takes a bare `&` (`2>&1` in a <command>) that XML
    // forbids. Parse a copy with every `&` swapped for a letter: the offsets
    // stay the same and nothing is read as an entity, which is Wazuh's view.
    let masked = src.replace('&', "x");
    let mut reader = Reader::from_str(&masked);
    reader.config_mut().check_end_names = true;
    let mut roots: Vec<Element> = Vec::new();
    let mut open: Vec<Element> = Vec::new();
    let bad = |at: usize, what: String| {
        TargetError::malformed(path, format!("line {}: {what}", line_of(src, at)))
    };
    loop {
        let before = pos(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            bad(
                pos(reader.error_position()),
                format!("not well-formed XML: {e}"),
            )
        })?;
        let after = pos(reader.buffer_position());
        match event {
            Event::Start(e) => open.push(Element {
                name: e.name().0.to_owned(),
                start: before,
                inner: after..after,
                end: after,
                self_closing: false,
                attributes: attributes(&e),
                children: Vec::new(),
                comments: Vec::new(),
            }),
            Event::Empty(e) => {
                let el = Element {
                    name: e.name().0.to_owned(),
                    start: before,
                    inner: after..after,
                    end: after,
                    self_closing: true,
                    attributes: attributes(&e),
                    children: Vec::new(),
                    comments: Vec::new(),
                };
                match open.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => roots.push(el),
                }
            }
            Event::End(_) => {
                let Some(mut el) = open.pop() else {
                    return Err(bad(before, "an end tag closes nothing".to_owned()));
                };
                el.inner.end = before;
                el.end = after;
                match open.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => roots.push(el),
                }
            }
            Event::Text(_) if open.is_empty() && !src[before..after].trim().is_empty() => {
                return Err(bad(before, "text outside any element".to_owned()));
            }
            Event::Comment(_) => {
                if let Some(parent) = open.last_mut() {
                    parent.comments.push(before..after);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(el) = open.last() {
        return Err(bad(el.start, format!("<{}> is never closed", el.name)));
    }
    Ok(roots)
}

/// The element's attributes. Read without quick-xml's checks, and what it
/// cannot read is left out: only `<agent_config>`'s filters are looked at,
/// and an attribute Wazuh takes must not make a file unreadable here.
fn attributes(e: &quick_xml::events::BytesStart) -> Vec<(String, String)> {
    let mut attrs = e.attributes();
    attrs.with_checks(false);
    attrs
        .filter_map(Result::ok)
        .map(|a| (a.key.0.to_owned(), a.value.into_owned()))
        .collect()
}

/// What a Wazuh configuration file configures, told by its root elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A Wazuh 4.x manager's ossec.conf: `<ossec_config>` roots without a
    /// `<client>` or `<agent>` section. The manager runs the modules.
    Manager,
    /// An agent's ossec.conf: `<ossec_config>` with `<client>` (the 4.x
    /// name) or `<agent>` (its 5.x name; wazuh/wazuh
    /// `src/init/inst-functions.sh`, `WriteAgent`).
    Agent,
    /// A group's shared agent.conf: `<agent_config>` roots, which the manager
    /// sends to every agent of the group.
    Group,
}

/// The attributes of `<agent_config>` that limit a section to some agents
/// (`overwrite` does not); wazuh/wazuh `src/config/src/config.c`, `ReadConfig`.
const AGENT_FILTERS: [&str; 3] = ["name", "os", "profile"];

/// A Wazuh configuration file, read and told apart.
pub(super) struct WazuhConf {
    pub(crate) path: PathBuf,
    /// The file as it is, past a UTF-8 byte order mark if it has one: every
    /// edit is a byte range of this text.
    pub(crate) src: String,
    /// The file starts with a UTF-8 byte order mark, which Wazuh's reader
    /// skips like anything else before the first `<` (wazuh/wazuh
    /// `src/os_xml/os_xml.c`, `_ReadElem`); it is written back as it was.
    bom: bool,
    /// The line end new lines get: the file's own (`\r\n` in a file written
    /// on Windows), so that the file does not end up with two kinds.
    eol: &'static str,
    pub(crate) role: Role,
    /// The `<ossec_config>` or `<agent_config>` sections, in file order.
    pub(crate) sections: Vec<Element>,
}

/// Where a module's block for one tenant is, or where a new one goes.
pub(super) enum Place<'c> {
    /// The block to edit; in a group file, where the tenant sits in the
    /// blocks of several sections, each of those.
    Blocks(Vec<&'c Element>),
    /// No block for the tenant to join: a new one goes into `section`.
    NewIn {
        section: &'c Element,
        /// The operator's `<!-- handoff: MODULE -->` comment, which the
        /// new block follows; without one, the block ends the section.
        marker: Option<Range<usize>>,
        why: Why,
    },
}

/// Why a new block goes into the section [`Place::NewIn`] names, for the note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Why {
    /// The operator's marker comment is there.
    Marker,
    /// The tenant's block of the other Microsoft module is there.
    SiblingTenant,
    /// The only section with a block of the other module is there.
    Sibling,
    /// A group's last section without filters: every agent reads it.
    Unfiltered,
    /// The last `<ossec_config>` of a manager's or agent's ossec.conf.
    Last,
}

/// The comment that tells handoff where a new `module` block goes:
/// `<!-- handoff: office365 -->`. Wazuh's reader skips comments, so the
/// marker may stay in the file, unlike an empty block, which Wazuh refuses
/// to load (`wm_office365_read` returns `OS_INVALID` without children,
/// `wm_ms_graph_read` logs "Empty configuration found" and returns
/// `OS_CFGERR`; wazuh/wazuh `src/config/wmodules-office365.c` and
/// `wmodules-ms-graph.c` at v4.14.7, under `src/config/src/` in 5.x).
pub(super) fn marker_text(module: &str) -> String {
    format!("<!-- handoff: {module} -->")
}

/// The comment directly inside `section` that is `module`'s marker.
fn marker_in(src: &str, section: &Element, module: &str) -> Option<Range<usize>> {
    section
        .comments
        .iter()
        .find(|c| {
            let text = src[c.start..c.end]
                .trim_start_matches("<!--")
                .trim_end_matches("-->")
                .trim();
            text.strip_prefix("handoff:")
                .is_some_and(|m| m.trim() == module)
        })
        .cloned()
}

/// What each `<office365>` or `<ms-graph>` block does to the ones Wazuh read
/// before it, in a sentence.
///
/// Wazuh keeps one module per tag for a process: `Read_Office365` and
/// `Read_MS_Graph` find the module already read under the block's tag and
/// read the block into it (wazuh/wazuh `src/config/wmodules-config.c`).
/// `wm_office365_read` starts a new `<api_auth>` list there, dropping the
/// earlier blocks' tenants and subscriptions; `wm_ms_graph_read` replaces
/// the module's whole configuration (`src/config/wmodules-office365.c`,
/// `wmodules-ms-graph.c`). Paths as at v4.14.7; 5.x has the same code under
/// `src/config/src/`.
fn block_replaces(module: &str) -> String {
    if module == "office365" {
        "Wazuh runs one office365 module, and each <office365> block it reads starts that module's tenants (<api_auth>) and subscriptions anew".to_owned()
    } else {
        format!(
            "Wazuh runs one {module} module, and each <{module}> block it reads replaces that module's whole configuration"
        )
    }
}

impl WazuhConf {
    /// Reads the file at `path`. A missing file, a 5.x manager's
    /// `wazuh-manager.conf`, and anything Wazuh would not read as one of the
    /// three kinds (see [`Role`]) are refused with what to do instead.
    pub(crate) fn read(path: &Path) -> Result<WazuhConf, TargetError> {
        let text = read_text(path)?.ok_or_else(|| {
            TargetError::Refused(format!(
                "{} does not exist; is Wazuh installed here? Point --wazuh-conf at the ossec.conf of the Wazuh 4.x manager or of the agent that should collect, or at a group's etc/shared/<group>/agent.conf on the manager",
                path.display()
            ))
        })?;
        WazuhConf::from_text(path, text)
    }

    /// Reads `text` as the file `path` names (which only labels what is
    /// said about it: the `wazuh-api` target names the API's URL), with the
    /// same checks as [`WazuhConf::read`].
    pub(crate) fn from_text(path: &Path, text: String) -> Result<WazuhConf, TargetError> {
        let (bom, src) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest.to_owned()),
            None => (false, text),
        };
        let roots = parse(path, &src)?;
        if let Some(root) = roots.iter().find(|r| r.name == "wazuh_config") {
            return Err(TargetError::Refused(format!(
                "{} is a Wazuh 5.x manager's configuration (<wazuh_config> at line {}); from Wazuh 5.0 the manager no longer runs the office365 and ms-graph modules, agents do. Point --wazuh-conf at the ossec.conf of the agent that should collect (/var/ossec/etc/ossec.conf on that host), or at the agent.conf of its group on the manager (/var/wazuh-manager/etc/shared/<group>/agent.conf); nothing was written",
                path.display(),
                line_of(&src, root.start)
            )));
        }
        let role = if roots.iter().any(|r| r.name == "agent_config") {
            Role::Group
        } else if roots.iter().any(|r| r.name == "ossec_config") {
            let agent = roots
                .iter()
                .filter(|r| r.name == "ossec_config")
                .flat_map(|r| r.children.iter())
                .any(|c| c.name == "client" || c.name == "agent");
            if agent { Role::Agent } else { Role::Manager }
        } else {
            return Err(TargetError::malformed(
                path,
                "it has neither <ossec_config> nor <agent_config> elements, so it is not a Wazuh ossec.conf or agent.conf",
            ));
        };
        let section = match role {
            Role::Group => "agent_config",
            Role::Manager | Role::Agent => "ossec_config",
        };
        // Wazuh's reader refuses any other top-level element in the file.
        if let Some(stray) = roots.iter().find(|r| r.name != section) {
            return Err(TargetError::malformed(
                path,
                format!(
                    "line {}: a top-level <{}> in a file of <{section}> sections, which Wazuh refuses to load",
                    line_of(&src, stray.start),
                    stray.name
                ),
            ));
        }
        if let Some(c) = roots.iter().find(|c| c.self_closing) {
            return Err(TargetError::malformed(
                path,
                format!(
                    "line {}: an empty <{section}/>; write it as <{section}></{section}>",
                    line_of(&src, c.start)
                ),
            ));
        }
        let eol = line_end(&src);
        Ok(WazuhConf {
            path: path.to_owned(),
            src,
            bom,
            eol,
            role,
            sections: roots,
        })
    }

    /// The file's bytes for `text` (this file's text or an edited copy):
    /// with its byte order mark, if it had one.
    pub(crate) fn bytes(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 3);
        if self.bom {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        out.extend_from_slice(text.as_bytes());
        out
    }

    /// This file with `edits` made, their new lines ending like the file's.
    pub(crate) fn splice(&self, edits: Vec<Edit>) -> String {
        let edits = edits
            .into_iter()
            .map(|e| Edit {
                text: with_line_end(&e.text, self.eol),
                range: e.range,
            })
            .collect();
        splice(&self.src, edits)
    }

    /// Where `module`'s block for `tenant` is edited or added.
    ///
    /// One agent (or a 4.x manager) runs one module per tag, and each block
    /// it reads replaces the earlier blocks' tenants (see
    /// [`block_replaces`]); on an agent the group's agent.conf is read after
    /// its own ossec.conf, into the same modules, and every section whose
    /// filters match the agent is read, in file order, a section without
    /// filters by every agent (wazuh/wazuh `src/wazuh_modules/wmodules.c`,
    /// `wm_config`; `src/config/config.c`, `ReadConfig`; v4.14.7, and the
    /// same under `src/*/src/` in 5.x). So several blocks that reach one
    /// process are refused:
    /// in ossec.conf, blocks across all `<ossec_config>` roots; in a group's
    /// agent.conf, several in one section, or a block in a section without
    /// filters (which every agent of the group reads) beside any other.
    ///
    /// A tenant already in a block is edited there (in a group, in each
    /// filtered section's block that holds it). A new tenant goes where the
    /// operator's [`marker_text`] comment is, else into the one block, else
    /// (no block yet) into the last `<ossec_config>`; in a group, beside the
    /// tenant's block of the `sibling` module (the other of office365 and
    /// ms-graph), else beside the only section's sibling block, else into the
    /// last section without filters. Where handoff cannot tell which agents
    /// should collect the tenant, it refuses and names the marker.
    pub(crate) fn place(
        &self,
        module: &str,
        sibling: &str,
        tenant: &str,
    ) -> Result<Place<'_>, TargetError> {
        let blocks = self.blocks(module);
        match self.role {
            Role::Manager | Role::Agent if blocks.len() > 1 => {
                return Err(TargetError::malformed(
                    &self.path,
                    format!(
                        "it has {} <{module}> blocks (lines {}), and only the last one's tenants are collected ({}), so an import into an earlier block would never be; merge them into one block, with one <api_auth> per tenant, before handoff edits the file",
                        blocks.len(),
                        self.lines(blocks.iter().map(|(_, b)| *b)),
                        block_replaces(module)
                    ),
                ));
            }
            Role::Manager | Role::Agent => {}
            Role::Group => self.refuse_overlaps(module, &blocks)?,
        }

        let with_tenant: Vec<&Element> = blocks
            .iter()
            .map(|(_, b)| *b)
            .filter(|b| !tenant_auths(&self.src, b, tenant).is_empty())
            .collect();
        if !with_tenant.is_empty() {
            return Ok(Place::Blocks(with_tenant));
        }

        // A new tenant: the operator's marker first.
        let marked: Vec<(&Element, Range<usize>)> = self
            .sections
            .iter()
            .filter_map(|s| marker_in(&self.src, s, module).map(|m| (s, m)))
            .collect();
        if marked.len() > 1 {
            return Err(TargetError::Refused(format!(
                "{} has {} in {} sections ({}), and handoff does not guess which one tenant {tenant} belongs to; leave the comment only in the section of the agents that should collect it; nothing was written",
                self.path.display(),
                marker_text(module),
                marked.len(),
                self.describe_all(marked.iter().map(|(s, _)| *s))
            )));
        }
        if let Some((section, marker)) = marked.into_iter().next() {
            if let Some(block) = section.children_named(module).next() {
                return Ok(Place::Blocks(vec![block]));
            }
            let open = !is_filtered(section) || blocks.iter().any(|(s, _)| !is_filtered(s));
            match (self.role, blocks.first()) {
                // A second block that some agent would read beside the first.
                (Role::Group, Some(_)) if open => {
                    return Err(TargetError::Refused(format!(
                        "{} is in {}, and an <{module}> block is already in {}; one of them has no filters, so it reaches every agent of the group, and an agent that reads both blocks collects only the last one's tenants ({}). Move the comment into the section of the existing block, so that the tenant joins it; nothing was written",
                        marker_text(module),
                        self.describe(section),
                        self.describe_all(blocks.iter().map(|(s, _)| *s)),
                        block_replaces(module)
                    )));
                }
                (Role::Group, _) | (_, None) => {
                    return Ok(Place::NewIn {
                        section,
                        marker: Some(marker),
                        why: Why::Marker,
                    });
                }
                // In ossec.conf a second block would replace the first.
                (Role::Manager | Role::Agent, Some(_)) => {}
            }
        }

        match blocks.as_slice() {
            [(_, one)] => return Ok(Place::Blocks(vec![one])),
            [] => {}
            several => {
                return Err(TargetError::Refused(format!(
                    "{} has <{module}> blocks in {} <agent_config> sections ({}), each for the agents its filters name, and handoff cannot tell which agents should collect the new tenant {tenant}; put the comment {} in the section of the agents that should (the next import adds the tenant to that section's block, and later imports rotate it in place); nothing was written",
                    self.path.display(),
                    several.len(),
                    self.describe_all(several.iter().map(|(s, _)| *s)),
                    marker_text(module)
                )));
            }
        }

        // No block yet.
        if self.role != Role::Group {
            return match self.sections.last() {
                Some(section) => Ok(Place::NewIn {
                    section,
                    marker: None,
                    why: Why::Last,
                }),
                None => Err(TargetError::malformed(&self.path, "it has no sections")),
            };
        }
        let siblings = self.blocks(sibling);
        let tenant_sections = distinct(
            siblings
                .iter()
                .filter(|(_, b)| !tenant_auths(&self.src, b, tenant).is_empty())
                .map(|(s, _)| *s),
        );
        let sibling_sections = distinct(siblings.iter().map(|(s, _)| *s));
        let (candidates, why) = if tenant_sections.is_empty() {
            (sibling_sections, Why::Sibling)
        } else {
            (tenant_sections, Why::SiblingTenant)
        };
        match candidates.as_slice() {
            [section] => Ok(Place::NewIn {
                section,
                marker: None,
                why,
            }),
            [] => match self.sections.iter().rfind(|s| !is_filtered(s)) {
                Some(section) => Ok(Place::NewIn {
                    section,
                    marker: None,
                    why: Why::Unfiltered,
                }),
                None => Err(TargetError::Refused(format!(
                    "every <agent_config> in {} is limited to some agents (name=, os= or profile=), and handoff does not guess which agent should collect tenant {tenant}; put the comment {} in the section of the agent that should (Wazuh ignores it; the next import creates the <{module}> block after it), then import again; nothing was written",
                    self.path.display(),
                    marker_text(module)
                ))),
            },
            several => Err(TargetError::Refused(format!(
                "{} has {}<{sibling}> blocks in {} <agent_config> sections ({}), and handoff cannot tell which agents should collect the new tenant {tenant}'s <{module}>; put the comment {} in the section of the agents that should (Wazuh ignores it; the next import creates the <{module}> block after it); nothing was written",
                self.path.display(),
                if why == Why::SiblingTenant {
                    format!("tenant {tenant}'s ")
                } else {
                    String::new()
                },
                several.len(),
                self.describe_all(several.iter().copied()),
                marker_text(module)
            ))),
        }
    }

    /// Every `module` block, with its section, in file order.
    fn blocks(&self, module: &str) -> Vec<(&Element, &Element)> {
        self.sections
            .iter()
            .flat_map(|s| s.children_named(module).map(move |b| (s, b)))
            .collect()
    }

    /// Refuses a group file where one agent would read two `module` blocks:
    /// two in one section, or one in a section without filters (which every
    /// agent reads) beside any other.
    fn refuse_overlaps(
        &self,
        module: &str,
        blocks: &[(&Element, &Element)],
    ) -> Result<(), TargetError> {
        for section in &self.sections {
            let here: Vec<&Element> = blocks
                .iter()
                .filter(|(s, _)| s.start == section.start)
                .map(|(_, b)| *b)
                .collect();
            if here.len() > 1 {
                return Err(TargetError::malformed(
                    &self.path,
                    format!(
                        "it has {} <{module}> blocks in one {} (lines {}), and the agents it reaches collect only the last one's tenants ({}); merge them into one block, with one <api_auth> per tenant, before handoff edits the file",
                        here.len(),
                        self.describe(section),
                        self.lines(here.iter().copied()),
                        block_replaces(module)
                    ),
                ));
            }
        }
        if blocks.len() > 1
            && let Some((open, _)) = blocks.iter().find(|(s, _)| !is_filtered(s))
        {
            let others: Vec<&Element> = blocks
                .iter()
                .filter(|(s, _)| s.start != open.start)
                .map(|(s, _)| *s)
                .collect();
            return Err(TargetError::malformed(
                &self.path,
                format!(
                    "it has <{module}> blocks in {}, which reaches every agent of the group, and in {}, and an agent that reads more than one collects only the last one's tenants ({}); merge them into one block, in the section of the agents that should collect, before handoff edits the file",
                    self.describe(open),
                    self.describe_all(others.into_iter()),
                    block_replaces(module)
                ),
            ));
        }
        Ok(())
    }

    /// A section for a message: `<agent_config name="x"> (line 9)`, or
    /// `<agent_config> without filters (line 1)`.
    fn describe(&self, section: &Element) -> String {
        let mut d = format!("<{}", section.name);
        for (k, v) in &section.attributes {
            d.push_str(&format!(" {k}=\"{v}\""));
        }
        d.push('>');
        if section.name == "agent_config" && !is_filtered(section) {
            d.push_str(" without filters");
        }
        format!("{d} (line {})", line_of(&self.src, section.start))
    }

    fn describe_all<'e>(&self, sections: impl Iterator<Item = &'e Element>) -> String {
        sections
            .map(|s| self.describe(s))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The section that holds `el`, described for a note: `<agent_config
    /// name="x">` or `<ossec_config>`.
    pub(crate) fn section_of(&self, el: &Element) -> String {
        self.sections
            .iter()
            .find(|s| s.start <= el.start && el.end <= s.end)
            .map(|s| {
                let mut d = format!("<{}", s.name);
                for (k, v) in &s.attributes {
                    d.push_str(&format!(" {k}=\"{v}\""));
                }
                d.push('>');
                d
            })
            .unwrap_or_default()
    }

    /// What an operator should know about a new `module` block in
    /// `section`: why it went there, and in a group who now runs it.
    pub(crate) fn new_block_notes(
        &self,
        module: &str,
        section: &Element,
        tenant: &str,
        why: Why,
    ) -> Vec<String> {
        let which = self.section_of(section);
        let line = line_of(&self.src, section.start);
        let sibling = if module == "office365" {
            "ms-graph"
        } else {
            "office365"
        };
        let mut notes = Vec::new();
        match why {
            Why::Marker => notes.push(format!(
                "added the <{module}> block to {which} (line {line}) of {}, where {} asks for it (the comment stays; Wazuh ignores it)",
                self.path.display(),
                marker_text(module)
            )),
            Why::SiblingTenant => notes.push(format!(
                "added the <{module}> block to {which} (line {line}), beside tenant {tenant}'s <{sibling}> block"
            )),
            Why::Sibling => notes.push(format!(
                "added the <{module}> block to {which} (line {line}), beside the <{sibling}> block of the agents that already collect from Microsoft"
            )),
            Why::Unfiltered | Why::Last => {}
        }
        if self.role != Role::Group {
            return notes;
        }
        if !is_filtered(section) {
            notes.push(format!(
                "every agent of group {} that {which} reaches now runs the {module} module for tenant {tenant}: keep one collecting agent in the group (or move the block into an <agent_config name=\"AGENT\"> section), or the tenant's events are collected once per agent",
                self.group()
            ));
        }
        notes.push(format!(
            "an agent that also has an <{module}> block in its own ossec.conf now collects only this block's tenants: the agent reads its ossec.conf and then the group's agent.conf into one {module} module"
        ));
        notes
    }

    fn lines<'e>(&self, els: impl Iterator<Item = &'e Element>) -> String {
        els.map(|b| line_of(&self.src, b.start).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The group a shared agent.conf belongs to: its directory's name.
    fn group(&self) -> String {
        self.path.parent().and_then(Path::file_name).map_or_else(
            || "its group".to_owned(),
            |g| g.to_string_lossy().into_owned(),
        )
    }

    /// The sentence that says how the change reaches Wazuh.
    ///
    /// A manager or agent reads its ossec.conf when it starts. A group's
    /// agent.conf is re-read by the manager every `remoted.shared_reload`
    /// seconds (10 by default) and sent to the group's agents, which restart
    /// themselves to load it while `<auto_restart>` is on (the default);
    /// `verify-agent-conf -f FILE` checks it (wazuh/wazuh
    /// `src/remoted/src/config.c`, `src/util/src/verify-agent-conf.c`,
    /// `docs/ref/modules/client/configuration.md`).
    pub(crate) fn load_note(&self) -> String {
        match self.role {
            Role::Manager => {
                "restart the Wazuh manager (systemctl restart wazuh-manager) to load the change"
                    .to_owned()
            }
            Role::Agent => {
                "restart the Wazuh agent on this host (systemctl restart wazuh-agent) to load the change"
                    .to_owned()
            }
            Role::Group => format!(
                "check the file with {} -f {}; the manager re-reads it within seconds and sends it to the agents of group {}, which restart themselves to load it (if one does not, restart it: systemctl restart wazuh-agent)",
                self.verify_agent_conf(),
                self.path.display(),
                self.group()
            ),
        }
    }

    /// `verify-agent-conf` of the install that holds this group file:
    /// `<install>/bin/verify-agent-conf` for `<install>/etc/shared/<group>/agent.conf`
    /// (`/var/ossec` in 4.x, `/var/wazuh-manager` in 5.x).
    fn verify_agent_conf(&self) -> String {
        let etc = self
            .path
            .parent()
            .and_then(Path::parent)
            .filter(|shared| shared.file_name().is_some_and(|n| n == "shared"))
            .and_then(Path::parent)
            .filter(|etc| etc.file_name().is_some_and(|n| n == "etc"));
        match etc.and_then(Path::parent) {
            Some(install) => install.join("bin/verify-agent-conf").display().to_string(),
            None => {
                "verify-agent-conf (in /var/ossec/bin on Wazuh 4.x, /var/wazuh-manager/bin on 5.x)"
                    .to_owned()
            }
        }
    }

    /// The file's permission bits, if it can be looked at.
    fn mode(&self) -> Option<u32> {
        Some(std::fs::metadata(&self.path).ok()?.permissions().mode() & 0o777)
    }

    /// A note if other local users can read the file, which holds a secret.
    /// Notes carry no "warning:" of their own: the collector prints each
    /// after "note: ".
    pub(crate) fn world_readable_note(&self) -> Option<String> {
        let mode = self.mode()?;
        (mode & 0o004 != 0).then(|| {
            format!(
                "{} is readable by every local user (mode {mode:o}) and holds the client secret: run chmod o-r on it",
                self.path.display()
            )
        })
    }

    /// Where a secret that left the file is still written: the backup the
    /// write leaves beside it (`NAME.handoff-<UTC time>.bak`, with the
    /// file's own mode and owner; the newest five are kept, see
    /// `super::write_change`).
    pub(crate) fn backup_note(&self) -> String {
        let name = self.path.file_name().map_or_else(
            || "the file".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let dir = self
            .path
            .parent()
            .map_or_else(String::new, |d| format!(" in {}", d.display()));
        let mut note = format!(
            "the old secret that was inline stays in the backup of {name} ({name}.handoff-<UTC time>.bak{dir}) until five newer backups of the file replace it: delete that backup once the old secret is revoked"
        );
        if let Some(mode) = self.mode().filter(|m| m & 0o004 != 0) {
            note.push_str(&format!(
                "; backups keep the file's mode ({mode:o}), so every local user can read that backup: run chmod o-r on it"
            ));
        }
        note
    }

    /// Parses `after` (this file with handoff's edits) as strictly as the
    /// original, so that a change Wazuh could not read is never written.
    pub(crate) fn check_after(&self, after: &str) -> Result<(), TargetError> {
        parse(&self.path, after).map(drop).map_err(|e| {
            TargetError::Refused(format!(
                "handoff's change to {} would not parse: {e}",
                self.path.display()
            ))
        })
    }

    /// The file with `edits` made, once it parses as strictly as the original.
    pub(crate) fn change(&self, edits: Vec<Edit>) -> Result<FileChange, TargetError> {
        let after = self.splice(edits);
        self.check_after(&after)?;
        Ok(FileChange {
            path: self.path.clone(),
            before: Some(self.bytes(&self.src)),
            after: self.bytes(&after),
            mode_if_new: 0o660,
            owner_if_new: None,
            secret: false,
        })
    }

    /// Fits the tenant's `<api_auth>` to `wants`; the note names the
    /// children that changed, if any did.
    pub(crate) fn fit_api_auth(
        &self,
        auth: &Element,
        tenant: &str,
        wants: &[Want],
        edits: &mut Vec<Edit>,
    ) -> Option<String> {
        let src = self.src.as_str();
        let (fitted, changed) = fit_children(src, auth, wants);
        edits.extend(fitted);
        (!changed.is_empty()).then(|| {
            format!(
                "updated {} in tenant {tenant}'s <api_auth> at line {} of {}; the rest of the file is as it was",
                changed.join(", "),
                line_of(src, auth.start),
                self.path.display()
            )
        })
    }
}

/// The sections, each once, in order.
fn distinct<'e>(sections: impl Iterator<Item = &'e Element>) -> Vec<&'e Element> {
    let mut out: Vec<&Element> = Vec::new();
    for s in sections {
        if !out.iter().any(|o| o.start == s.start) {
            out.push(s);
        }
    }
    out
}

fn is_filtered(section: &Element) -> bool {
    section
        .attributes
        .iter()
        .any(|(k, _)| AGENT_FILTERS.contains(&k.as_str()))
}

/// The `<api_auth>` children of `block` whose `<tenant_id>` is `tenant`
/// (GUIDs compare without regard to case).
pub(super) fn tenant_auths<'e>(src: &str, block: &'e Element, tenant: &str) -> Vec<&'e Element> {
    block
        .children_named("api_auth")
        .filter(|a| {
            a.child_text(src, "tenant_id")
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
        })
        .collect()
}

/// One child an element must hold, for [`fit_children`].
pub(super) struct Want<'v> {
    pub(crate) name: &'static str,
    pub(crate) value: &'v str,
    /// Other elements for the same setting, replaced in place by this one
    /// (`<client_secret>` for `<client_secret_path>`).
    pub(crate) replaces: &'static [&'static str],
    /// The value compares without regard to case (a GUID).
    pub(crate) any_case: bool,
    /// What Wazuh assumes when the element is absent: an absent element
    /// already says this value, so nothing is added for it.
    pub(crate) default: Option<&'static str>,
}

impl<'v> Want<'v> {
    /// A child that must read exactly `value`.
    pub(crate) fn exact(name: &'static str, value: &'v str) -> Want<'v> {
        Want {
            name,
            value,
            replaces: &[],
            any_case: false,
            default: None,
        }
    }

    /// A GUID child (tenant or client ID): a value that differs only in
    /// case is left as the operator wrote it.
    pub(crate) fn guid(name: &'static str, value: &'v str) -> Want<'v> {
        Want {
            any_case: true,
            ..Want::exact(name, value)
        }
    }

    fn holds(&self, text: &str) -> bool {
        if self.any_case {
            text.eq_ignore_ascii_case(self.value)
        } else {
            text == self.value
        }
    }
}

/// The edits that make `el`'s children say `wants`, touching nothing else: a
/// child whose text differs gets the new text between its tags; a child
/// replaced by another name (see [`Want::replaces`]) is swapped where it
/// stands; a missing child is added after the last one; every other child,
/// comment and blank stays byte for byte. Returns the names of the children
/// that changed, with the edits.
pub(super) fn fit_children(
    src: &str,
    el: &Element,
    wants: &[Want],
) -> (Vec<Edit>, Vec<&'static str>) {
    let mut edits = Vec::new();
    let mut changed = Vec::new();
    let mut removed: Vec<usize> = Vec::new();
    let mut missing = Vec::new();
    for want in wants {
        let own: Vec<&Element> = el.children_named(want.name).collect();
        let others: Vec<usize> = (0..el.children.len())
            .filter(|&i| want.replaces.contains(&el.children[i].name.as_str()))
            .collect();
        let element = format!("<{0}>{1}</{0}>", want.name, want.value);
        if !own.is_empty() {
            for c in own {
                if c.self_closing {
                    edits.push(Edit {
                        range: c.start..c.end,
                        text: element.clone(),
                    });
                    changed.push(want.name);
                } else if !want.holds(c.text(src)) {
                    edits.push(Edit {
                        range: c.inner.clone(),
                        text: want.value.to_owned(),
                    });
                    changed.push(want.name);
                }
            }
            removed.extend(others);
        } else if let Some((&first, rest)) = others.split_first() {
            let c = &el.children[first];
            edits.push(Edit {
                range: c.start..c.end,
                text: element,
            });
            removed.extend(rest);
            changed.push(want.name);
        } else if want.default.is_none_or(|d| !want.holds(d)) {
            missing.push(element);
            changed.push(want.name);
        }
    }
    for &i in &removed {
        edits.push(remove(src, &el.children[i]));
    }
    if !missing.is_empty() {
        let indent = child_indent(src, el);
        let anchor = (0..el.children.len())
            .rev()
            .find(|i| !removed.contains(i))
            .map(|i| &el.children[i]);
        edits.push(match anchor {
            Some(last) => Edit {
                range: last.end..last.end,
                text: missing.iter().map(|m| format!("\n{indent}{m}")).collect(),
            },
            None => append_child(
                src,
                el,
                &missing
                    .iter()
                    .map(|m| format!("{indent}{m}\n"))
                    .collect::<String>(),
            ),
        });
    }
    changed.sort_unstable();
    changed.dedup();
    (edits, changed)
}

/// `<api_auth>` holding `wants`, in their order, as whole lines at `indent`.
pub(super) fn api_auth_text(indent: &str, step: &str, wants: &[Want]) -> String {
    let mut s = format!("{indent}<api_auth>\n");
    for w in wants {
        s.push_str(&format!("{indent}{step}<{0}>{1}</{0}>\n", w.name, w.value));
    }
    s.push_str(&format!("{indent}</api_auth>\n"));
    s
}

/// Refuses a client secret that Wazuh cannot send to Entra ID.
///
/// Both modules format the token request's form body with `snprintf` and
/// put the secret in as it is, without URL-encoding: office365 with
/// `WM_OFFICE365_API_ACCESS_TOKEN_PAYLOAD` (`client_id=%s&scope=https://%s/.default&grant_type=client_credentials&client_secret=%s`)
/// in `wm_office365_get_access_token`, ms-graph with
/// `WM_MS_GRAPH_ACCESS_TOKEN_PAYLOAD` (`scope=https://%s/.default&grant_type=client_credentials&client_id=%s&client_secret=%s`)
/// in `wm_ms_graph_get_access_token` (wazuh/wazuh
/// `src/wazuh_modules/src/wm_office365.{h,c}` and `wm_ms_graph.{h,c}`; the
/// same in v4.14.7 and 5.x). A `+` arrives as a space and `&`, `=` or `%`
/// cut or garble the field, so such a secret is valid, passes handoff's
/// verification (which encodes it), and never signs in from Wazuh. Secrets
/// the Entra portal makes today use only `A-Z a-z 0-9 - . _ ~`, which need
/// no encoding; older ones could hold `+ / =`.
pub(super) fn wazuh_secret(secret: &str) -> Result<&str, TargetError> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
    if secret.is_empty() || !secret.chars().all(safe) {
        return Err(TargetError::Refused(
            "the client secret holds characters other than A-Z, a-z, 0-9, -, ., _ and ~ (such as + / = or spaces), and Wazuh sends the secret to Entra ID without URL-encoding it, so Wazuh would never sign in with it although it is valid; ask the customer to create a new client secret in the Entra portal (current secrets use only those characters) and to send that one; nothing was written"
                .to_owned(),
        ));
    }
    Ok(secret)
}

fn pos(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

pub(super) fn line_of(src: &str, at: usize) -> usize {
    src.as_bytes()[..at.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line end a file uses most: `\r\n` or `\n`.
fn line_end(src: &str) -> &'static str {
    let lines = src.matches('\n').count();
    let crlf = src.matches("\r\n").count();
    if crlf * 2 > lines { "\r\n" } else { "\n" }
}

/// `text` (written with `\n`) with every bare `\n` made `eol`.
fn with_line_end(text: &str, eol: &str) -> String {
    if eol == "\n" {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut prev = '\0';
    for c in text.chars() {
        if c == '\n' && prev != '\r' {
            out.push_str(eol);
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// One level of indentation in the file: a tab if most indented lines
/// start with one, else the smallest indentation by spaces (two if none).
fn indent_unit(src: &str) -> String {
    let (mut tabs, mut spaced, mut least) = (0usize, 0usize, usize::MAX);
    for line in src.lines() {
        let body = line.trim_start_matches([' ', '\t']);
        if !body.starts_with('<') || body.len() == line.len() {
            continue;
        }
        if line.starts_with('\t') {
            tabs += 1;
        } else {
            spaced += 1;
            least = least.min(line.len() - line.trim_start_matches(' ').len());
        }
    }
    if tabs > spaced {
        "\t".to_owned()
    } else if spaced > 0 && least > 0 && least <= 8 {
        " ".repeat(least)
    } else {
        "  ".to_owned()
    }
}

fn line_start(src: &str, at: usize) -> usize {
    src[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The whitespace before `at` on its line, if only whitespace is there.
pub(super) fn indent_at(src: &str, at: usize) -> Option<&str> {
    let s = &src[line_start(src, at)..at];
    s.chars().all(|c| c == ' ' || c == '\t').then_some(s)
}

/// How `el`'s children are indented: like its first child on its own line,
/// else one level of the file's indentation (see [`indent_unit`]) deeper
/// than `el`.
pub(super) fn child_indent(src: &str, el: &Element) -> String {
    if let Some(i) = el.children.iter().find_map(|c| indent_at(src, c.start)) {
        return i.to_owned();
    }
    let own = indent_at(src, el.start).unwrap_or("");
    format!("{own}{}", indent_unit(src))
}

/// The step from one indentation level to the next, as `el`'s children use
/// it, else the file's unit.
pub(super) fn indent_step(src: &str, el: &Element) -> String {
    let own = indent_at(src, el.start).unwrap_or("");
    let child = child_indent(src, el);
    match child.strip_prefix(own).filter(|s| !s.is_empty()) {
        Some(step) => step.to_owned(),
        None => indent_unit(src),
    }
}

/// A new tenant's `<api_auth>` after the block's last one, indented like
/// it; `None` where the block has none.
pub(super) fn api_auth_after_others(
    src: &str,
    block: &Element,
    step: &str,
    wants: &[Want],
) -> Option<Edit> {
    let last = block.children_named("api_auth").last()?;
    let indent = indent_at(src, last.start).map_or_else(|| child_indent(src, block), str::to_owned);
    Some(insert_after(last, &api_auth_text(&indent, step, wants)))
}

/// `lines` (whole lines, each ending in `\n`) right after `sibling`.
pub(super) fn insert_after(sibling: &Element, lines: &str) -> Edit {
    Edit {
        range: sibling.end..sibling.end,
        text: format!("\n{}", lines.trim_end_matches('\n')),
    }
}

/// Fills an empty block (`<x/>`, or `<x>` with no element inside, which
/// Wazuh refuses alike) with `body`, lines at [`child_indent`]; comments in
/// it and the attributes of its tag stay.
pub(super) fn fill_empty(src: &str, block: &Element, body: &str) -> Edit {
    if !block.self_closing {
        return append_child(src, block, body);
    }
    let own = indent_at(src, block.start).unwrap_or("");
    let tag = src[block.start..block.end]
        .trim_end_matches('>')
        .trim_end_matches('/')
        .trim_end();
    Edit {
        range: block.start..block.end,
        text: format!("{tag}>\n{body}{own}</{}>", block.name),
    }
}

/// `block` (whole lines at the right indentation, each ending in `\n`) as a
/// new child of `section`: on the line after the operator's marker comment
/// when it has that line to itself, else at the section's end after a blank
/// line.
pub(super) fn insert_block(
    src: &str,
    section: &Element,
    marker: Option<&Range<usize>>,
    block: &str,
) -> Edit {
    if let Some(m) = marker
        && indent_at(src, m.start).is_some()
        && let Some(nl) = src[m.end..].find('\n')
        && src[m.end..m.end + nl].trim().is_empty()
    {
        let at = m.end + nl + 1;
        return Edit {
            range: at..at,
            text: block.to_owned(),
        };
    }
    // A blank line before the new block, unless one is there already.
    let close = section.inner.end;
    let at = line_start(src, close);
    let blank_before = indent_at(src, close).is_some()
        && at > 0
        && src[line_start(src, at - 1)..at - 1].trim().is_empty();
    if blank_before {
        append_child(src, section, block)
    } else {
        append_child(src, section, &format!("\n{block}"))
    }
}

/// The indentation a new block in `section` gets, and its step: after the
/// marker, the marker's own; else like the section's children.
pub(super) fn block_indent(
    src: &str,
    section: &Element,
    marker: Option<&Range<usize>>,
) -> (String, String) {
    let step = indent_step(src, section);
    let indent = marker
        .and_then(|m| indent_at(src, m.start))
        .map_or_else(|| child_indent(src, section), str::to_owned);
    (indent, step)
}

/// One replacement of a byte range.
pub(super) struct Edit {
    pub(crate) range: Range<usize>,
    pub(crate) text: String,
}

/// `block` (whole lines, each ending in `\n`) added as `parent`'s last child.
pub(super) fn append_child(src: &str, parent: &Element, block: &str) -> Edit {
    let close = parent.inner.end;
    if indent_at(src, close).is_some() {
        let at = line_start(src, close);
        Edit {
            range: at..at,
            text: block.to_owned(),
        }
    } else {
        let own = indent_at(src, parent.start).unwrap_or("");
        Edit {
            range: close..close,
            text: format!("\n{block}{own}"),
        }
    }
}

/// Removes `el`, with its line if it has the line to itself.
pub(super) fn remove(src: &str, el: &Element) -> Edit {
    let rest = &src[el.end..];
    let eol = rest.find('\n').map_or(src.len(), |i| el.end + i + 1);
    let range = if indent_at(src, el.start).is_some() && src[el.end..eol].trim().is_empty() {
        line_start(src, el.start)..eol
    } else {
        el.start..el.end
    };
    Edit {
        range,
        text: String::new(),
    }
}

/// The source with every edit made; edits must not overlap.
pub(super) fn splice(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.range.start));
    let mut out = src.to_owned();
    for e in edits {
        out.replace_range(e.range, &e.text);
    }
    out
}

/// Refuses a value Wazuh's reader could not take back verbatim.
pub(super) fn plain_value<'v>(what: &str, value: &'v str) -> Result<&'v str, TargetError> {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>&\"'".contains(c))
    {
        return Err(TargetError::Refused(format!(
            "the {what} is empty or holds spaces, quotes or <, >, &, which Wazuh's configuration reader cannot take verbatim"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(src: &str) -> Vec<Element> {
        parse(Path::new("ossec.conf"), src).unwrap()
    }

    #[test]
    fn finds_elements_in_several_roots_past_comments() {
        let src = "<!-- head -->\n<ossec_config>\n  <global><a>1</a></global>\n</ossec_config>\n\n<ossec_config>\n  <!-- <office365> in a comment -->\n  <x/>\n</ossec_config>\n";
        let roots = tree(src);
        assert_eq!(roots.len(), 2);
        assert_eq!(roots[0].children[0].name, "global");
        assert_eq!(roots[0].children[0].child_text(src, "a"), Some("1"));
        assert_eq!(roots[1].children.len(), 1);
        assert!(roots[1].children[0].self_closing);
        assert_eq!(
            &src[roots[1].start..roots[1].end],
            &src[src.rfind("<ossec_config>").unwrap()..src.len() - 1]
        );
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        for (src, says) in [
            ("<ossec_config>\n<a>\n</b>\n</ossec_config>\n", "line 3"),
            ("<ossec_config>\n<a>\n", "never closed"),
            ("<ossec_config></ossec_config>\nstray\n", "text outside"),
            (
                "<ossec_config>\n<!-- never ends\n</ossec_config>\n",
                "not well-formed",
            ),
        ] {
            let err = parse(Path::new("/etc/ossec.conf"), src)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(says), "{src:?}: {err}");
            assert!(err.starts_with("/etc/ossec.conf: "), "{err}");
        }
    }

    #[test]
    fn shell_commands_with_ampersands_still_read() {
        let src = "<ossec_config>\n  <localfile><command>df -P && uptime 2>&1</command></localfile>\n</ossec_config>\n";
        let roots = tree(src);
        let lf = &roots[0].children[0];
        assert_eq!(lf.child_text(src, "command"), Some("df -P && uptime 2>&1"));
    }

    #[test]
    fn append_and_remove_keep_the_rest() {
        let src = "<ossec_config>\n  <a>1</a>\n  <b>2</b>\n</ossec_config>\n";
        let roots = tree(src);
        let add = append_child(src, &roots[0], "  <c>3</c>\n");
        let del = remove(src, &roots[0].children[0]);
        assert_eq!(
            splice(src, vec![add, del]),
            "<ossec_config>\n  <b>2</b>\n  <c>3</c>\n</ossec_config>\n"
        );
        let inline = "<ossec_config><a>1</a></ossec_config>";
        let roots = tree(inline);
        assert_eq!(
            splice(
                inline,
                vec![append_child(inline, &roots[0], "  <c>3</c>\n")]
            ),
            "<ossec_config><a>1</a>\n  <c>3</c>\n</ossec_config>"
        );
    }

    fn fitted(src: &str, wants: &[Want]) -> (String, Vec<&'static str>) {
        let roots = tree(src);
        let (edits, changed) = fit_children(src, &roots[0], wants);
        (splice(src, edits), changed)
    }

    #[test]
    fn fitting_changes_only_the_children_that_differ() {
        let src = "<api_auth>\n    <tenant_id>ABC</tenant_id>\n    <!-- keep -->\n    <secret_value>old</secret_value>\n</api_auth>";
        let wants = [
            Want::guid("tenant_id", "abc"),
            Want::exact("secret_value", "new"),
            Want::exact("api_type", "global"),
        ];
        let (after, changed) = fitted(src, &wants);
        assert_eq!(
            after,
            "<api_auth>\n    <tenant_id>ABC</tenant_id>\n    <!-- keep -->\n    <secret_value>new</secret_value>\n    <api_type>global</api_type>\n</api_auth>"
        );
        assert_eq!(changed, ["api_type", "secret_value"]);
        // Fitted again: nothing to do.
        let (again, changed) = fitted(&after, &wants);
        assert_eq!((again.as_str(), changed.len()), (after.as_str(), 0));
    }

    #[test]
    fn fitting_swaps_a_replaced_setting_where_it_stands_and_respects_defaults() {
        let src = "<api_auth>\n  <client_secret_path>/a</client_secret_path>\n  <tenant_id/>\n  <client_secret_path>/b</client_secret_path>\n</api_auth>";
        let wants = [
            Want {
                replaces: &["client_secret_path"],
                ..Want::exact("client_secret", "s3cr3t")
            },
            Want::guid("tenant_id", "t"),
            Want {
                default: Some("commercial"),
                ..Want::exact("api_type", "commercial")
            },
        ];
        let (after, changed) = fitted(src, &wants);
        assert_eq!(
            after,
            "<api_auth>\n  <client_secret>s3cr3t</client_secret>\n  <tenant_id>t</tenant_id>\n</api_auth>"
        );
        assert_eq!(changed, ["client_secret", "tenant_id"]);
    }

    #[test]
    fn a_missing_child_goes_after_the_last_one_that_stays() {
        let src = "<api_auth>\n\t<tenant_id>t</tenant_id>\n\t<client_secret>x</client_secret>\n\t<client_secret_path>/p</client_secret_path>\n</api_auth>";
        // client_secret stays and the path, its alternative, goes: the new
        // api_type follows client_secret.
        let wants = [
            Want {
                replaces: &["client_secret_path"],
                ..Want::exact("client_secret", "x")
            },
            Want::exact("api_type", "gcc"),
        ];
        let (after, _) = fitted(src, &wants);
        assert_eq!(
            after,
            "<api_auth>\n\t<tenant_id>t</tenant_id>\n\t<client_secret>x</client_secret>\n\t<api_type>gcc</api_type>\n</api_auth>"
        );
    }

    fn conf_at(relative: &str, src: &str) -> (tempfile::TempDir, Result<WazuhConf, TargetError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, src).unwrap();
        let conf = WazuhConf::read(&path);
        (dir, conf)
    }

    #[test]
    fn the_file_is_told_apart_by_its_root_and_sections() {
        for (src, role) in [
            ("<ossec_config><global/></ossec_config>", Role::Manager),
            (
                "<ossec_config><client><server/></client></ossec_config>",
                Role::Agent,
            ),
            (
                "<ossec_config><agent><server/></agent></ossec_config>",
                Role::Agent,
            ),
            (
                "<agent_config></agent_config>\n<agent_config os=\"Linux\"></agent_config>",
                Role::Group,
            ),
        ] {
            let (_dir, conf) = conf_at("ossec.conf", src);
            assert_eq!(conf.unwrap().role, role, "{src}");
        }
        let (_dir, conf) = conf_at("wazuh-manager.conf", "<wazuh_config></wazuh_config>");
        let err = conf.err().unwrap().to_string();
        assert!(err.contains("Wazuh 5.x manager"), "{err}");
        let (_dir, conf) = conf_at("x.conf", "<config></config>");
        let err = conf.err().unwrap().to_string();
        assert!(
            err.contains("neither <ossec_config> nor <agent_config>"),
            "{err}"
        );
    }

    #[test]
    fn the_load_note_names_what_to_restart_or_check() {
        let (_dir, conf) = conf_at("ossec.conf", "<ossec_config></ossec_config>");
        assert!(
            conf.unwrap()
                .load_note()
                .contains("systemctl restart wazuh-manager")
        );
        let (_dir, conf) = conf_at("ossec.conf", "<ossec_config><client/></ossec_config>");
        assert!(
            conf.unwrap()
                .load_note()
                .contains("systemctl restart wazuh-agent")
        );
        let (dir, conf) = conf_at(
            "etc/shared/cloud/agent.conf",
            "<agent_config></agent_config>",
        );
        let note = conf.unwrap().load_note();
        let verify = dir.path().join("bin/verify-agent-conf");
        assert!(
            note.contains(&format!("{} -f ", verify.display())),
            "{note}"
        );
        assert!(note.contains("the agents of group cloud"), "{note}");
        // A group file kept elsewhere: where the tool lives in each version.
        let (_dir, conf) = conf_at("cloud/agent.conf", "<agent_config></agent_config>");
        let note = conf.unwrap().load_note();
        assert!(
            note.contains("verify-agent-conf (in /var/ossec/bin on Wazuh 4.x, /var/wazuh-manager/bin on 5.x) -f "),
            "{note}"
        );
    }

    #[test]
    fn new_lines_take_the_files_line_end_and_indentation() {
        assert_eq!(line_end("<a>\r\n<b/>\r\n</a>\r\n"), "\r\n");
        assert_eq!(line_end("<a>\n<b/>\r\n</a>\n"), "\n");
        assert_eq!(line_end("<a/>"), "\n");
        assert_eq!(with_line_end("\n  <x>\r\n", "\r\n"), "\r\n  <x>\r\n");
        assert_eq!(with_line_end("\n  <x>\n", "\n"), "\n  <x>\n");
        assert_eq!(indent_unit("<a>\n\t<b>\n\t\t<c/>\n  <d/>\n</a>"), "\t");
        assert_eq!(indent_unit("<a>\n    <b>\n        <c/>\n</a>"), "    ");
        assert_eq!(indent_unit("<a></a>"), "  ");
        // An element with nothing inside to copy from: the file's unit.
        let src = "<agent_config>\n\t<!-- x -->\n</agent_config>\n";
        let roots = tree(src);
        assert_eq!(child_indent(src, &roots[0]), "\t");
        assert_eq!(indent_step(src, &roots[0]), "\t");
    }

    #[test]
    fn a_byte_order_mark_is_kept_but_not_parsed() {
        let (_dir, conf) = conf_at(
            "ossec.conf",
            "\u{feff}<ossec_config>\n  <global/>\n</ossec_config>",
        );
        let conf = conf.unwrap();
        assert!(conf.src.starts_with("<ossec_config>"));
        assert_eq!(child_indent(&conf.src, &conf.sections[0]), "  ");
        assert_eq!(&conf.bytes(&conf.src)[..3], b"\xEF\xBB\xBF");
        let (_dir, plain) = conf_at("ossec.conf", "<ossec_config></ossec_config>");
        let plain = plain.unwrap();
        assert_eq!(plain.bytes(&plain.src), plain.src.as_bytes());
    }

    #[test]
    fn a_marker_is_a_comment_directly_in_the_section() {
        let src = "<agent_config>\n  <!--handoff:office365-->\n  <localfile><!-- handoff: ms-graph --></localfile>\n  <!-- handoff: office365 (not this) -->\n</agent_config>";
        let roots = tree(src);
        let m = marker_in(src, &roots[0], "office365").unwrap();
        assert_eq!(&src[m], "<!--handoff:office365-->");
        assert!(marker_in(src, &roots[0], "ms-graph").is_none());
    }

    #[test]
    fn an_empty_block_is_filled_in_place_with_its_tag_kept() {
        let src = "<ossec_config>\n  <office365 note=\"x\" />\n</ossec_config>\n";
        let roots = tree(src);
        let block = &roots[0].children[0];
        let edit = fill_empty(src, block, "    <a>1</a>\n");
        assert_eq!(
            splice(src, vec![edit]),
            "<ossec_config>\n  <office365 note=\"x\">\n    <a>1</a>\n  </office365>\n</ossec_config>\n"
        );
    }

    #[test]
    fn only_secrets_wazuh_can_send_unencoded_pass() {
        let safe = "abcXYZ019-._~";
        assert_eq!(wazuh_secret(safe).unwrap(), safe);
        for bad in ["", "a+b", "a/b", "a=b", "a&b", "a%20", "a b", "é"] {
            assert!(wazuh_secret(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_wazuh_file_option_has_a_name_for_every_kind_of_file() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            targets: crate::collect::TargetArgs,
        }
        for flag in ["--ossec-conf", "--wazuh-conf"] {
            let cli =
                Cli::try_parse_from(["handoff", flag, "/var/ossec/etc/shared/o365/agent.conf"])
                    .unwrap();
            assert_eq!(
                cli.targets.ossec_conf,
                Path::new("/var/ossec/etc/shared/o365/agent.conf")
            );
        }
    }
}
