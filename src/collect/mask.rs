//! What a `--dry-run` diff shows of a secret: stars and a short digest, for
//! the credential's own secret, any value whose key names a secret, and the
//! lines of a YAML block scalar under such a key.

/// What a diff shows for a secret value: stars and the first 8 hex digits
/// of its SHA-256 (`********#1a2b3c4d`), so that an operator can tell a
/// rotation from a rewrite of the same value without any of the value
/// itself reaching the terminal or a journal. A value under 12 characters
/// shows stars only: a digest of something that short could be guessed.
pub fn masked_secret(value: &str) -> String {
    const STARS: &str = "********";
    let value = value.trim_matches(['\'', '"']);
    if value.chars().count() < 12 {
        return STARS.to_owned();
    }
    format!("{STARS}#{}", secret_digest(value))
}

/// The first 8 hex digits of `value`'s SHA-256: the digest
/// [`masked_secret`] shows, which a target may also keep beside a secret
/// its collector never shows again (`elastic-agent`), to recognise the same
/// secret on a second import.
pub(super) fn secret_digest(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The token in a description (a Fleet package policy's, a QRadar log
/// source's) that holds the secret's digest, for a collector that never
/// shows a stored secret again: `[handoff secret sha256:1a2b3c4d]`.
const DIGEST_MARK: &str = "[handoff secret sha256:";

/// The digest kept in `description`, if it holds one.
pub(super) fn digest_in(description: &str) -> Option<&str> {
    let at = description.find(DIGEST_MARK)? + DIGEST_MARK.len();
    let rest = description.get(at..)?;
    let end = rest.find(']')?;
    Some(&rest[..end])
}

/// `description` with its digest token set to `digest`: replaced where it
/// is, else appended, so that the rest of the text (an operator's) stays.
pub(super) fn with_digest(description: &str, digest: &str) -> String {
    let token = format!("{DIGEST_MARK}{digest}]");
    if let Some(at) = description.find(DIGEST_MARK)
        && let Some(len) = description[at..].find(']')
    {
        let mut out = description.to_owned();
        out.replace_range(at..=at + len, &token);
        return out;
    }
    if description.trim().is_empty() {
        token
    } else {
        format!("{} {token}", description.trim_end())
    }
}

/// The indentation of `line`'s key if it names a secret whose value starts
/// on the next line: a YAML block scalar (`|`, `>-`) or nothing after the `:`.
pub(super) fn secret_block(line: &str) -> Option<usize> {
    let (key, value) = line.split_once(':')?;
    let name = key.trim().to_ascii_lowercase();
    let value = value.split(" #").next().unwrap_or_default().trim();
    let names_secret = name.contains("secret")
        && !name.contains("expires")
        && !name.contains("path")
        && !name.contains(['<', '{', '=']);
    let continues = value.is_empty() || value.starts_with(['|', '>']);
    (names_secret && continues).then(|| key.len() - key.trim_start().len())
}

/// Masks a diff line: the known secrets, an XML element naming a secret,
/// and every `key: value` / `KEY=value` on it whose key names one (but not a
/// `${REF}`).
pub(super) fn mask_line(line: &str, secrets: &[String]) -> String {
    let mut line = line.to_owned();
    let mut done = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if line.contains(s.as_str()) {
            let m = masked_secret(s);
            line = line.replace(s.as_str(), &m);
            done.push(m);
        }
    }
    let is_done = |v: &str| done.iter().any(|m| m == v);
    for tag in ["secret_value", "client_secret"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let (Some(a), Some(b)) = (line.find(&open), line.find(&close)) {
            let a = a + open.len();
            if a <= b && !is_done(&line[a..b]) {
                let m = masked_secret(&line[a..b]);
                line.replace_range(a..b, &m);
                return line;
            }
        }
    }
    // The line's own key, or a later one: a flow mapping such as
    // `- {module: o365, audit: {var.client_secret: "…"}}` (another tenant's
    // entry, shown as context) holds its secret after the first `:`.
    let mut from = 0;
    while let Some(rel) = line[from..].find(['=', ':']) {
        let at = from + rel;
        let start = line[from..at]
            .rfind(['{', ','])
            .map_or(from, |i| from + i + 1);
        let key = line[start..at].to_ascii_lowercase();
        let value = line[at + 1..].trim();
        let names_secret = key.contains("secret")
            && !key.contains("expires")
            && !key.contains("path")
            && !key.contains('<');
        if names_secret && !value.is_empty() && !value.contains("${") && !is_done(value) {
            let sep = if &line[at..at + 1] == "=" { "=" } else { ": " };
            return format!("{}{sep}{}", &line[..at], masked_secret(value));
        }
        from = at + 1;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::*;
    use crate::collect::*;

    #[test]
    fn masking_hides_secret_values_but_not_references() {
        let s = vec![SECRET.to_owned()];
        assert_eq!(
            mask_line(&format!("+AZURE_CLIENT_SECRET={SECRET}"), &s),
            format!("+AZURE_CLIENT_SECRET={}", masked_secret(SECRET))
        );
        assert_eq!(
            mask_line(
                "-      <secret_value>Kx71Q~oldsecretvalue</secret_value>",
                &s
            ),
            format!(
                "-      <secret_value>{}</secret_value>",
                masked_secret("Kx71Q~oldsecretvalue")
            )
        );
        assert_eq!(
            mask_line("-      <client_secret>short</client_secret>", &s),
            "-      <client_secret>********</client_secret>"
        );
        assert_eq!(
            mask_line("+O365_SECRET_ABC='Zz9Q~quotedquotedquoted'", &s),
            format!(
                "+O365_SECRET_ABC={}",
                masked_secret("Zz9Q~quotedquotedquoted")
            )
        );
        let r = "+    var.client_secret: \"${O365_SECRET_ABC}\"";
        assert_eq!(mask_line(r, &s), r);
        let p = "+    <client_secret_path>/x/y</client_secret_path>";
        assert_eq!(mask_line(p, &s), p);
        // Another tenant's entry in flow style, shown as context: its
        // literal secret comes after the line's first `:`.
        let flow = " - {module: o365, audit: {var.client_secret: \"Qw8Q~otherTenantSecret\"}}";
        let shown = mask_line(flow, &s);
        assert!(!shown.contains("otherTenantSecret"), "{shown}");
        assert_eq!(
            shown,
            format!(
                " - {{module: o365, audit: {{var.client_secret: {}",
                masked_secret("\"Qw8Q~otherTenantSecret\"}}")
            )
        );
        let env = "-export X=1 AZURE_CLIENT_SECRET=Kx71Q~oldsecretvalue";
        assert!(!mask_line(env, &s).contains("oldsecretvalue"));
        // A literal secret written as a YAML block scalar, or on the line
        // below its key, is masked on the lines that hold it.
        let block = Plan::new(
            vec![FileChange {
                path: PathBuf::from("o365.yml"),
                before: Some(
                    b"- module: o365\n  audit:\n    var.client_secret: >-\n      Qw8Q~blockScalarSecret\n    var.client_id: x\n    var.secret_b:\n      Qw8Q~plainNextLine\n".to_vec(),
                ),
                after: b"- module: o365\n  audit:\n    var.client_secret: >-\n      Qw8Q~blockScalarSecret\n    var.client_id: y\n    var.secret_b:\n      Qw8Q~plainNextLine\n".to_vec(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: false,
            }],
            Vec::new(),
            &credential("defender-incidents", "commercial"),
        )
        .diff();
        assert!(!block.contains("blockScalarSecret"), "{block}");
        assert!(!block.contains("plainNextLine"), "{block}");
        assert!(
            block.contains("-    var.client_id: x\n+    var.client_id: y\n"),
            "{block}"
        );
        // Stars and a digest prefix, none of the value itself.
        let m = masked_secret(SECRET);
        assert!(m.starts_with("********#") && m.len() == 17, "{m}");
        assert!(
            !SECRET.contains(&m[9..]) && !m.contains(&SECRET[..3]),
            "{m}"
        );
        assert_ne!(m, masked_secret("Kx71Q~oldsecretvalue"));
        // A rotation reads as one: the old value's digest against the new one's.
        let rotated = Plan::new(
            vec![FileChange {
                path: PathBuf::from("ossec.conf"),
                before: Some(
                    b"<a>\n  <secret_value>Kx71Q~oldsecretvalue</secret_value>\n</a>\n".to_vec(),
                ),
                after: format!("<a>\n  <secret_value>{SECRET}</secret_value>\n</a>\n").into_bytes(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: false,
            }],
            vec![],
            &credential("defender-incidents", "commercial"),
        )
        .diff();
        assert!(
            rotated.contains(&format!(
                "-  <secret_value>{}</secret_value>",
                masked_secret("Kx71Q~oldsecretvalue")
            )),
            "{rotated}"
        );
        assert!(
            rotated.contains(&format!(
                "+  <secret_value>{}</secret_value>",
                masked_secret(SECRET)
            )),
            "{rotated}"
        );
        assert!(
            !rotated.contains(&SECRET[3..]) && !rotated.contains("oldsecret"),
            "{rotated}"
        );
    }
}
