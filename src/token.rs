//! API tokens for machines: `hnd_` and 43 characters of base64url (256 bits
//! from the OS random source). The server keeps the SHA-256 (right for a
//! random token of that size: no stretching is needed) and the first 12
//! characters, so that people can tell tokens apart in lists.

use sha2::{Digest, Sha256};

pub(crate) const PREFIX: &str = "hnd_";
/// Characters of a token shown in lists.
pub(crate) const VISIBLE: usize = 12;
/// What a token may do.
pub(crate) const SCOPES: &[&str] = &["collect", "metrics"];

/// A new token: the secret text (shown once), its visible prefix, its hash.
pub struct Minted {
    pub token: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

/// Makes a token: 256 random bits, as staff session tokens are made.
pub fn mint() -> Minted {
    let token = format!("{PREFIX}{}", crate::staff::Token::random().as_str());
    Minted {
        prefix: token[..VISIBLE].to_owned(),
        hash: hash(&token),
        token,
    }
}

pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `text` has a token's shape (before looking it up).
pub fn well_formed(text: &str) -> bool {
    text.len() == PREFIX.len() + 43
        && text.starts_with(PREFIX)
        && text[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a token name: 1 to 64 of `A-Z a-z 0-9 . _ @ -`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a token name is 1 to 64 characters of A-Z a-z 0-9 . _ @ - (got {name:?})"
        ))
    }
}

/// Checks and normalises scopes (space-separated, sorted, deduplicated).
pub(crate) fn check_scopes(scopes: &[String]) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for s in scopes
        .iter()
        .flat_map(|s| s.split([',', ' ']))
        .filter(|s| !s.is_empty())
    {
        let Some(known) = SCOPES.iter().find(|k| **k == s) else {
            return Err(format!(
                "unknown scope {s:?}; the scopes are: {}",
                SCOPES.join(", ")
            ));
        };
        if !out.contains(known) {
            out.push(known);
        }
    }
    if out.is_empty() {
        return Err(format!("give at least one scope ({})", SCOPES.join(", ")));
    }
    out.sort_unstable();
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_well_formed_and_distinct() {
        let a = mint();
        let b = mint();
        assert!(well_formed(&a.token), "{}", a.token);
        assert_ne!(a.token, b.token);
        assert_eq!(a.prefix, &a.token[..12]);
        assert_eq!(a.hash, hash(&a.token));
        assert!(!well_formed("hnd_short"));
        assert!(!well_formed(&a.token.replace("hnd_", "xyz_")));
    }

    #[test]
    fn names_and_scopes_are_checked() {
        assert!(check_name("collector-1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert_eq!(
            check_scopes(&["collect".into(), "collect".into()]).unwrap(),
            "collect"
        );
        assert!(check_scopes(&["admin".into()]).is_err());
        assert!(check_scopes(&[]).is_err());
    }
}
