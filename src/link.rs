//! Links and their keys.
//!
//! A link is `{base}/s/{id}#{key}`. The key is in the fragment, which browsers
//! never send to a server. It has one of two forms:
//!
//! - `AGE-SECRET-KEY-1...`: the X25519 identity the ciphertext is encrypted to.
//! - `scrypt.{base64url}`: with a passphrase, that identity's text encrypted
//!   to an age scrypt (passphrase) recipient, as a binary age file in unpadded
//!   base64url. The passphrase unlocks it on the reader's side before anything
//!   is revealed, so a wrong passphrase never uses up the link.

use std::io::Write;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::id::Id;

const LOCKED_PREFIX: &str = "scrypt.";
/// scrypt work factor (log2 N) for passphrase-locked keys; age-encryption's
/// default in the browser, about a second on a laptop.
const SCRYPT_WORK_FACTOR: u8 = 18;
/// The most a reader accepts, so a hostile link cannot make it work for minutes.
const SCRYPT_MAX_WORK_FACTOR: u8 = 22;

#[derive(Clone)]
pub enum Key {
    Identity(SecretString),
    Locked(Vec<u8>),
}

impl Key {
    pub fn to_fragment(&self) -> String {
        match self {
            Key::Identity(s) => s.expose_secret().to_owned(),
            Key::Locked(file) => format!("{LOCKED_PREFIX}{}", URL_SAFE_NO_PAD.encode(file)),
        }
    }

    pub(crate) fn from_fragment(fragment: &str) -> anyhow::Result<Key> {
        if let Some(b64) = fragment.strip_prefix(LOCKED_PREFIX) {
            let file = URL_SAFE_NO_PAD
                .decode(b64)
                .context("the link's key is damaged (bad base64)")?;
            Ok(Key::Locked(file))
        } else if fragment.starts_with("AGE-SECRET-KEY-1") {
            Ok(Key::Identity(SecretString::from(fragment.to_owned())))
        } else {
            bail!("the link has no key after '#'; copy the whole link")
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        matches!(self, Key::Locked(_))
    }

    /// The identity that decrypts the secret; for a locked key, only with the right passphrase.
    pub fn unlock(
        &self,
        passphrase: Option<&SecretString>,
    ) -> anyhow::Result<age::x25519::Identity> {
        let text = match self {
            Key::Identity(s) => s.clone(),
            Key::Locked(file) => {
                let pass = passphrase.ok_or_else(|| anyhow!("this link needs a passphrase"))?;
                let mut identity = age::scrypt::Identity::new(pass.clone());
                identity.set_max_work_factor(SCRYPT_MAX_WORK_FACTOR);
                let plain =
                    age::decrypt(&identity, file).map_err(|_| anyhow!("wrong passphrase"))?;
                SecretString::from(String::from_utf8(plain).context("the link's key is damaged")?)
            }
        };
        age::x25519::Identity::from_str(text.expose_secret().trim())
            .map_err(|_| anyhow!("the link's key is damaged"))
    }
}

/// A parsed link.
pub(crate) struct Link {
    /// Scheme, host and any path prefix: where the API lives.
    pub(crate) base: String,
    pub(crate) id: Id,
    pub(crate) key: Key,
}

impl Link {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Link> {
        let text = text.trim();
        // A mail gateway may have rewritten the `#` to `%23` (Safe Links does).
        let (url, fragment) = text
            .split_once('#')
            .or_else(|| {
                let at = text.rfind("%23")?;
                Some((&text[..at], &text[at + 3..]))
            })
            .ok_or_else(|| anyhow!("the link has no key after '#'; copy the whole link"))?;
        let (base, id) = url
            .rsplit_once("/s/")
            .ok_or_else(|| anyhow!("this is not a handoff link (no /s/ in it)"))?;
        let id = Id::parse(id.trim_end_matches('/'))
            .ok_or_else(|| anyhow!("the link's id is damaged"))?;
        Ok(Link {
            base: base.to_owned(),
            id,
            key: Key::from_fragment(fragment)?,
        })
    }
}

/// Encrypts `plaintext` to a fresh identity; returns the age file and the key
/// for the link (locked with `passphrase` if given).
pub fn seal(plaintext: &[u8], passphrase: Option<&SecretString>) -> anyhow::Result<(Vec<u8>, Key)> {
    let identity = age::x25519::Identity::generate();
    let ciphertext = age::encrypt(&identity.to_public(), plaintext).context("encryption failed")?;
    let secret = identity.to_string();
    let key = match passphrase {
        None => Key::Identity(secret),
        Some(pass) => {
            let mut recipient = age::scrypt::Recipient::new(pass.clone());
            recipient.set_work_factor(SCRYPT_WORK_FACTOR);
            let encryptor =
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .context("encryption failed")?;
            let mut locked = vec![];
            let mut w = encryptor.wrap_output(&mut locked)?;
            w.write_all(secret.expose_secret().as_bytes())?;
            w.finish()?;
            Key::Locked(locked)
        }
    };
    Ok((ciphertext, key))
}

/// Decrypts a revealed ciphertext.
pub fn open(ciphertext: &[u8], identity: &age::x25519::Identity) -> anyhow::Result<Vec<u8>> {
    age::decrypt(identity, ciphertext)
        .map_err(|e| anyhow!("the secret could not be decrypted with this link's key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_with_its_key() {
        let (c, key) = seal(b"hello", None).unwrap();
        let identity = Key::from_fragment(&key.to_fragment())
            .unwrap()
            .unlock(None)
            .unwrap();
        assert_eq!(open(&c, &identity).unwrap(), b"hello");
    }

    #[test]
    fn locked_key_needs_the_right_passphrase() {
        let pass = SecretString::from("correct horse".to_owned());
        let (c, key) = seal(b"hello", Some(&pass)).unwrap();
        let fragment = key.to_fragment();
        assert!(fragment.starts_with("scrypt."));
        let key = Key::from_fragment(&fragment).unwrap();
        assert!(
            key.unlock(Some(&SecretString::from("wrong".to_owned())))
                .is_err()
        );
        assert!(key.unlock(None).is_err());
        assert_eq!(
            open(&c, &key.unlock(Some(&pass)).unwrap()).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn links_parse_back() {
        let (_, key) = seal(b"x", None).unwrap();
        let id = Id::random();
        let url = format!("https://h.example/prefix/s/{id}#{}", key.to_fragment());
        let link = Link::parse(&url).unwrap();
        assert_eq!(link.base, "https://h.example/prefix");
        assert_eq!(link.id, id);
        assert_eq!(link.key.to_fragment(), key.to_fragment());
        let escaped = Link::parse(&url.replacen('#', "%23", 1)).unwrap();
        assert_eq!(
            (escaped.base, escaped.id, escaped.key.to_fragment()),
            (link.base, link.id, link.key.to_fragment()),
            "a %23 link is read as the link it was"
        );
        assert!(Link::parse(&format!("https://h.example/s/{id}")).is_err());
        assert!(Link::parse(&format!("https://h.example/s/{id}#")).is_err());
    }
}
