//! Random identifiers and capability tokens.
//!
//! Two shapes, both from the operating system's CSPRNG, written as unpadded
//! base64url:
//! - random: 128 bits, 22 characters (status tokens, requests, transfers,
//!   tokens of every kind, and secrets made before migration 0012);
//! - timestamped: the creation time in Unix seconds (40 bits, big-endian)
//!   and then 128 random bits, 28 characters (secrets). Ids made in the same
//!   second share their first characters, so the index links look secrets up
//!   by takes a second's new ids on a few neighbouring pages instead of a
//!   random page each (issue 15). They are as hard to guess as random ones;
//!   what the prefix tells is when the secret was made, which its metadata
//!   tells any holder of the link anyway.
//!
//! Parsing accepts exactly the shape each kind of id has ([`Id::parse`] the
//! random one, [`Id::parse_secret`] either), so a value that reaches the
//! store has already been checked.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

/// Length of a random id: 16 bytes of base64url without padding.
pub const RANDOM_LEN: usize = 22;

/// Length of a timestamped id: 5 bytes of seconds and 16 random bytes, 21
/// bytes of base64url without padding (no spare bits).
pub const TIMESTAMPED_LEN: usize = 28;

/// An identifier: a secret's id, or a capability token (see the module).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    /// A fresh 128-bit id from the OS random source.
    ///
    /// # Panics
    /// Never in practice: the OS random source only fails on a broken system,
    /// and then no id is safe to hand out.
    pub fn random() -> Id {
        Id(URL_SAFE_NO_PAD.encode(random_bytes()))
    }

    /// A fresh id that starts with `created_at` (Unix seconds, taken modulo
    /// 2^40, which is past the year 36,000) and ends with 128 random bits.
    ///
    /// # Panics
    /// As [`Id::random`].
    pub fn timestamped(created_at: i64) -> Id {
        let mut bytes = [0u8; 21];
        bytes[..5].copy_from_slice(&created_at.to_be_bytes()[3..]);
        bytes[5..].copy_from_slice(&random_bytes());
        Id(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts exactly the 22-character form [`Id::random`] makes: every id
    /// and token but a secret's.
    pub(crate) fn parse(text: &str) -> Option<Id> {
        Id::decoded(text, RANDOM_LEN, 16)
    }

    /// A secret's id or status token: the 28-character form
    /// [`Id::timestamped`] makes, or the random one of secrets made before
    /// migration 0012.
    pub(crate) fn parse_secret(text: &str) -> Option<Id> {
        Id::decoded(text, TIMESTAMPED_LEN, 21).or_else(|| Id::parse(text))
    }

    /// `text` if it is `len` characters of base64url spelling `bytes` bytes.
    fn decoded(text: &str, len: usize, bytes: usize) -> Option<Id> {
        if text.len() != len {
            return None;
        }
        let decoded = URL_SAFE_NO_PAD.decode(text).ok()?;
        // Re-encoding rejects non-canonical trailing bits, so one id has one spelling.
        (decoded.len() == bytes && URL_SAFE_NO_PAD.encode(&decoded) == text)
            .then(|| Id(text.to_owned()))
    }

    /// The Unix second a timestamped id starts with; `None` for a random one.
    pub(crate) fn timestamp(&self) -> Option<i64> {
        if self.0.len() != TIMESTAMPED_LEN {
            return None;
        }
        let decoded = URL_SAFE_NO_PAD.decode(&self.0).ok()?;
        let mut seconds = [0u8; 8];
        seconds[3..].copy_from_slice(decoded.get(..5)?);
        Some(i64::from_be_bytes(seconds))
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

/// 16 bytes from the OS random source.
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
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
        assert_eq!(a.as_str().len(), RANDOM_LEN);
        assert_eq!(Id::parse(a.as_str()), Some(a));
    }

    #[test]
    fn timestamped_ids_parse_back_differ_and_share_their_second() {
        let now = 1_796_000_000;
        let a = Id::timestamped(now);
        let b = Id::timestamped(now);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), TIMESTAMPED_LEN);
        assert_eq!(Id::parse_secret(a.as_str()).as_ref(), Some(&a));
        assert_eq!(
            Id::parse(a.as_str()),
            None,
            "not where a random id is asked for"
        );
        let old = Id::random();
        assert_eq!(Id::parse_secret(old.as_str()), Some(old));
        // 40 bits of seconds are the first 6 characters and 4 bits of the 7th.
        let decoded = URL_SAFE_NO_PAD.decode(a.as_str()).unwrap();
        assert_eq!(&decoded[..5], &now.to_be_bytes()[3..]);
        assert_eq!(a.timestamp(), Some(now));
        assert_eq!(Id::random().timestamp(), None);
        assert_eq!(a.as_str()[..6], b.as_str()[..6]);
        let later = Id::timestamped(now + 1);
        assert_ne!(
            URL_SAFE_NO_PAD.decode(later.as_str()).unwrap()[..5],
            decoded[..5]
        );
        // The 128 bits after the time are random.
        assert_ne!(
            decoded[5..],
            URL_SAFE_NO_PAD.decode(b.as_str()).unwrap()[5..]
        );
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
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAAAAA.A",
        ] {
            assert!(Id::parse(bad).is_none(), "{bad:?} should not parse");
            assert!(Id::parse_secret(bad).is_none(), "{bad:?} should not parse");
        }
        assert!(Id::parse("AAAAAAAAAAAAAAAAAAAAAA").is_some());
        assert!(Id::parse_secret("AAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_some());
    }

    #[test]
    fn digest_is_sha256_of_text() {
        let id = Id::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(id.digest().len(), 32);
        assert_ne!(id.digest(), Id::random().digest());
    }
}
