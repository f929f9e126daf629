//! Staff accounts, without HTTP or SQL: what a valid name is, how passwords
//! are checked, hashed (argon2id, PHC strings) and generated, and the random
//! tokens behind a login session.
//!
//! The session token in the browser's cookie is 256 bits from the OS random
//! source; the store keeps only its SHA-256, so a copy of the database does
//! not let anyone sign in.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};

/// Shortest password accepted for a staff account.
pub(crate) const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted: argon2 is fine with more, but nobody types it.
pub(crate) const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest staff name.
pub(crate) const MAX_NAME_CHARS: usize = 64;

/// A staff member's login name: 1 to 64 characters of `A-Z a-z 0-9 . _ @ -`,
/// so it fits in an audit actor (`staff:NAME`) and a page without escaping
/// surprises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(text: &str) -> Result<UserName, String> {
        if text.is_empty() {
            return Err("a staff name must not be empty".to_owned());
        }
        if text.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "a staff name has at most {MAX_NAME_CHARS} characters"
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
        {
            return Err(format!(
                "a staff name may only hold letters A-Z and a-z, digits and . _ @ - (not {bad:?})"
            ));
        }
        Ok(UserName(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// The length rule for a new password.
pub(crate) fn check_new_password(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Checks `password` and hashes it with argon2id at the crate's default
/// cost, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_new_password(password)?;
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// True when `password` matches the PHC string `phc`. A malformed hash
/// matches nothing. Only argon2id hashes are accepted.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// An argon2id hash, at the default cost, of a random password nobody kept.
/// A login for an unknown name is checked against it, so that it takes as
/// long as a wrong password for a real name and timing tells nothing.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$kxut9r/z4cFIyuid1BtedQ$LHpD2vtit34hz0g0KKxGM6gugydu0FzXvORzEpls8Fs";

/// A strong password for `handoff user add --generate`: 144 random bits,
/// as 24 characters of base64url.
pub(crate) fn generate_password() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

/// A 256-bit random token, as 43 characters of base64url: the session
/// cookie's value, a session's CSRF token, the login form's CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

/// Length of an encoded [`Token`].
pub(crate) const TOKEN_LEN: usize = 43;

impl Token {
    pub(crate) fn random() -> Token {
        Token(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
    }

    /// Accepts exactly the shape [`Token::random`] makes.
    pub(crate) fn parse(text: &str) -> Option<Token> {
        if text.len() != TOKEN_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == 32 && URL_SAFE_NO_PAD.encode(&bytes) == text)
            .then(|| Token(text.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token's text: what the store keeps.
    pub(crate) fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are credentials: never in logs.
        f.write_str("Token(..)")
    }
}

/// `N` bytes from the OS random source.
///
/// # Panics
/// Never in practice: the OS random source only fails on a broken system, and
/// then no password salt or session token is safe to make (as in [`crate::id`]).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "alice", "a.b_c-d@soc.example", &"x".repeat(64)] {
            assert!(UserName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "with space",
            "tab\t",
            "ä",
            "a/b",
            "<b>",
            &"x".repeat(65),
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(phc, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn short_and_long_passwords_are_refused() {
        assert!(matches!(
            hash_password("elevenchars"),
            Err(PasswordError::TooShort)
        ));
        assert!(hash_password("twelve chars").is_ok());
        assert!(matches!(
            hash_password(&"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PasswordError::TooLong)
        ));
    }

    #[test]
    fn dummy_hash_costs_what_a_real_hash_costs() {
        let real = hash_password("some password here").unwrap();
        let params = |phc: &str| {
            let p = PasswordHash::new(phc).unwrap();
            (
                p.algorithm.to_string(),
                p.version,
                p.params.to_string(),
                p.hash.map(|h| h.len()),
            )
        };
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(!verify_password("", DUMMY_HASH));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert!(check_new_password(&a).is_ok());
        assert_ne!(a, generate_password());
    }

    #[test]
    fn tokens_parse_back_and_hash() {
        let t = Token::random();
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert_eq!(Token::parse(t.as_str()), Some(t.clone()));
        assert_eq!(t.digest().len(), 32);
        assert!(Token::parse("short").is_none());
        assert!(Token::parse(&format!("{}=", &t.as_str()[..42])).is_none());
        assert_eq!(format!("{t:?}"), "Token(..)");
    }
}
