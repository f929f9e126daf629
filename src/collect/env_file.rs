//! Editing `KEY=value` environment files (a shell's, systemd's
//! `EnvironmentFile`, Docker's `--env-file`) while keeping every line that is
//! not about the credential: comments, `export`, quotes and other keys.

use super::TargetError;

/// `KEY=value` lines set in an environment file's text, everything else kept
/// as it is: each key's first assignment (with or without `export `) gets the
/// new value in place, later assignments of it go (a shell would take the
/// last), and keys the file lacks are appended. `None` as a value removes the
/// key's lines.
pub(super) fn set_env_lines(current: &str, vars: &[(&str, Option<String>)]) -> String {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    for (key, value) in vars {
        let mut seen = false;
        lines.retain_mut(|line| {
            if !env_assigns(line, key) {
                return true;
            }
            match value {
                Some(v) if !seen => {
                    seen = true;
                    let (head, old) = line.split_once('=').unwrap_or((line.as_str(), ""));
                    let (old_value, trailing) = env_assignment(old);
                    // The same value as the operator wrote it (quotes, a
                    // comment) stays byte for byte.
                    if old_value != env_assignment(v).0 {
                        *line = format!("{}={v}{trailing}", head.trim_end());
                    }
                    true
                }
                _ => false,
            }
        });
        if let (false, Some(v)) = (seen, value) {
            lines.push(format!("{key}={v}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A value for a `KEY=value` line that a POSIX shell, systemd's
/// `EnvironmentFile` and Docker's `--env-file` all read the same way where
/// possible: bare when it needs no quoting, else in single quotes.
pub(super) fn env_value(name: &str, value: &str) -> Result<String, TargetError> {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=:@%,".contains(c);
    if !value.is_empty() && value.chars().all(bare) {
        Ok(value.to_owned())
    } else if value.chars().any(|c| c == '\'' || c.is_control()) {
        Err(TargetError::Refused(format!(
            "{name} holds a quote or a control character, which an environment file cannot carry safely"
        )))
    } else {
        Ok(format!("'{value}'"))
    }
}

/// True if the environment-file line sets `key` (`KEY=...`, `export KEY=...`).
pub(super) fn env_assigns(line: &str, key: &str) -> bool {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    l.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// The value an environment file's text gives `key`: its last assignment
/// (a shell takes the last), unquoted.
pub(super) fn env_lookup<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let line = text.lines().rfind(|l| env_assigns(l, key))?;
    let (_, value) = line.split_once('=')?;
    Some(env_assignment(value).0)
}

/// The value of `KEY=value` text after the `=`, unquoted, and what follows
/// it on the line (a ` # comment`), as a shell reads the common forms: a
/// single-quoted, a double-quoted or a bare word.
pub(super) fn env_assignment(text: &str) -> (&str, &str) {
    let closing = |q: char| {
        text[1..]
            .find(q)
            .map(|end| (&text[1..end + 1], &text[end + 2..]))
    };
    let quoted = match text.chars().next() {
        Some(q @ ('\'' | '"')) => closing(q),
        _ => None,
    };
    quoted.unwrap_or_else(|| {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        (&text[..end], &text[end..])
    })
}
