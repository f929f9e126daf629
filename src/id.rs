//! Random identifiers and capability tokens.
//!
//! Every id is 128 bits from the operating system's CSPRNG, written as 22
//! characters of unpadded base64url. Parsing accepts exactly that shape, so a
//! value that reaches the store has already been checked.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

/// Length of an encoded id: 16 bytes of base64url without padding.
pub const ENCODED_LEN: usize = 22;

/// A 128-bit random identifier (a secret's id, or a status token).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    /// A fresh id from the OS random source.
    ///
    /// # Panics
    /// Never in practice: the OS random source only fails on a broken system,
    /// and then no id is safe to hand out.
    pub fn random() -> Id {
        let mut bytes = [0u8; 16];
        SysRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Id(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts exactly the 22-character base64url form that [`Id::random`] makes.
    pub(crate) fn parse(text: &str) -> Option<Id> {
        if text.len() != ENCODED_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        // Re-encoding rejects non-canonical trailing bits, so one id has one spelling.
        (bytes.len() == 16 && URL_SAFE_NO_PAD.encode(&bytes) == text).then(|| Id(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the id's text: what the store keeps for capability tokens
    /// (status links), so that reading the database does not hand them out.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    /// Only the start: ids are capabilities (status tokens, retrieval ids),
    /// and Debug output ends up in logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({}…)", &self.0[..4])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_shows_only_the_start_of_a_capability() {
        let id = super::Id::random();
        let shown = format!("{id:?}");
        assert!(!shown.contains(id.as_str()), "{shown}");
        assert!(shown.contains(&id.as_str()[..4]));
    }

    use super::*;

    #[test]
    fn random_ids_parse_back_and_differ() {
        let a = Id::random();
        let b = Id::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ENCODED_LEN);
        assert_eq!(Id::parse(a.as_str()), Some(a));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAA+/",
            "AAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert!(Id::parse(bad).is_none(), "{bad:?} should not parse");
        }
        assert!(Id::parse("AAAAAAAAAAAAAAAAAAAAAA").is_some());
    }

    #[test]
    fn digest_is_sha256_of_text() {
        let id = Id::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(id.digest().len(), 32);
        assert_ne!(id.digest(), Id::random().digest());
    }
}
