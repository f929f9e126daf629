//! Reading Wazuh's ossec.conf without rewriting it.
//!
//! ossec.conf is several `<ossec_config>` roots in one file, full of
//! comments an operator cares about. Re-serialising it would lose them, so
//! the Wazuh targets find the byte ranges of elements with quick-xml's reader
//! and splice new text in; every other byte stays as it was.
//!
//! Element text is taken raw, as Wazuh's own reader does (it decodes no
//! entities), which is also why values written here must not need escaping.

use std::ops::Range;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::TargetError;

/// An element and where it sits in the file.
pub(super) struct Element {
    pub name: String,
    /// Offset of its `<`.
    pub start: usize,
    /// What lies between its start and end tags (empty if self-closing).
    pub inner: Range<usize>,
    /// Offset just past its end tag.
    pub end: usize,
    pub self_closing: bool,
    pub children: Vec<Element>,
}

impl Element {
    pub fn children_named<'e>(&'e self, name: &'e str) -> impl Iterator<Item = &'e Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of a leaf element.
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        src[self.inner.clone()].trim()
    }

    /// The text of the first child called `name`.
    pub fn child_text<'s>(&self, src: &'s str, name: &str) -> Option<&'s str> {
        self.children_named(name).next().map(|c| c.text(src))
    }

    /// The element's leaf children as (name, text), sorted: for comparing
    /// what an element says regardless of its layout.
    pub fn leaves<'s>(&self, src: &'s str) -> Vec<(String, &'s str)> {
        let mut v: Vec<(String, &str)> = self
            .children
            .iter()
            .map(|c| (c.name.clone(), c.text(src)))
            .collect();
        v.sort();
        v
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
                children: Vec::new(),
            }),
            Event::Empty(e) => {
                let el = Element {
                    name: e.name().0.to_owned(),
                    start: before,
                    inner: after..after,
                    end: after,
                    self_closing: true,
                    children: Vec::new(),
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
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(el) = open.last() {
        return Err(bad(el.start, format!("<{}> is never closed", el.name)));
    }
    Ok(roots)
}

/// The `<ossec_config>` roots; a file without one is not an ossec.conf.
pub(super) fn configs<'r>(
    path: &Path,
    src: &str,
    roots: &'r [Element],
) -> Result<Vec<&'r Element>, TargetError> {
    let configs: Vec<&Element> = roots.iter().filter(|r| r.name == "ossec_config").collect();
    if configs.is_empty() {
        return Err(TargetError::malformed(
            path,
            "it has no <ossec_config> element, so it is not a Wazuh ossec.conf",
        ));
    }
    if let Some(c) = configs.iter().find(|c| c.self_closing) {
        return Err(TargetError::malformed(
            path,
            format!(
                "line {}: an empty <ossec_config/>; write it as <ossec_config></ossec_config>",
                line_of(src, c.start)
            ),
        ));
    }
    Ok(configs)
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

fn line_start(src: &str, at: usize) -> usize {
    src[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The whitespace before `at` on its line, if only whitespace is there.
pub(super) fn indent_at(src: &str, at: usize) -> Option<&str> {
    let s = &src[line_start(src, at)..at];
    s.chars().all(|c| c == ' ' || c == '\t').then_some(s)
}

/// How `el`'s children are indented: like its first child on its own line,
/// else two spaces (or the file's tab) deeper than `el`.
pub(super) fn child_indent(src: &str, el: &Element) -> String {
    if let Some(i) = el.children.iter().find_map(|c| indent_at(src, c.start)) {
        return i.to_owned();
    }
    let own = indent_at(src, el.start).unwrap_or("");
    if own.starts_with('\t') {
        format!("{own}\t")
    } else {
        format!("{own}  ")
    }
}

/// The step from one indentation level to the next, as `el`'s children use it.
pub(super) fn indent_step(src: &str, el: &Element) -> String {
    let own = indent_at(src, el.start).unwrap_or("");
    let child = child_indent(src, el);
    child
        .strip_prefix(own)
        .filter(|s| !s.is_empty())
        .unwrap_or("  ")
        .to_owned()
}

/// One replacement of a byte range.
pub(super) struct Edit {
    pub range: Range<usize>,
    pub text: String,
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
}
