//! Links and their keys.
//!
//! A link is `{base}/s/{id}#{key}`. The key is in the fragment, which browsers
//! never send to a server. It has one of three forms:
//!
//! - `AGE-SECRET-KEY-1...`: the X25519 identity the ciphertext is encrypted to.
//! - `p1.{base64url}`: with a passphrase, that identity's 32 bytes encrypted to
//!   an age scrypt (passphrase) recipient, in a compact form: only the parts of
//!   the age file that vary (work factor, salt, wrapped file key, header MAC,
//!   payload). Every age header with one scrypt stanza is the same text around
//!   them (age's format is canonical), so the reader rebuilds the exact file
//!   and age checks it as usual. About 200 characters where the older form
//!   took about 350. `static/js/lock.js` reads and writes the same bytes.
//! - `scrypt.{base64url}`: the older passphrase form, made before the compact
//!   one: the whole age file, holding the identity's text. Still opened.
//!
//! The passphrase unlocks the key on the reader's side before anything is
//! revealed, so a wrong passphrase never uses up the link.

use std::io::Write;
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::id::Id;

const LOCKED_PREFIX: &str = "scrypt.";
const COMPACT_PREFIX: &str = "p1.";
/// scrypt work factor (log2 N, with r = 8 and p = 1) for passphrase-locked
/// keys: 2^16 needs 64 MiB and takes about a second in the browser's pure
/// JavaScript scrypt on a laptop, so the browser and the CLI write the same
/// (`WORK_FACTOR` in `static/js/lock.js`). README "Passphrase links" gives the
/// attacker's cost.
pub const SCRYPT_WORK_FACTOR: u8 = 16;
/// The most a reader accepts, so a hostile link cannot make it work for
/// minutes (older builds wrote 18).
const SCRYPT_MAX_WORK_FACTOR: u8 = 22;
/// The human-readable part of an age X25519 identity's Bech32 spelling.
const SECRET_KEY_HRP: &str = "age-secret-key-";
/// Where the payload starts in the compact form: work factor (1), salt (16),
/// wrapped file key (32), header MAC (32).
const COMPACT_PAYLOAD_AT: usize = 81;

/// The key after a link's `#`.
#[derive(Clone)]
pub enum Key {
    /// The identity itself, `AGE-SECRET-KEY-1...`.
    Identity(SecretString),
    /// `scrypt.`: an age file (scrypt recipient) holding the identity's text.
    Locked(Vec<u8>),
    /// `p1.`: the compact form of an age file (scrypt recipient) holding the
    /// identity's 32 bytes; see the module's doc.
    Compact(Vec<u8>),
}

impl Key {
    /// The text after `#` for this key.
    pub fn to_fragment(&self) -> String {
        match self {
            Key::Identity(s) => s.expose_secret().to_owned(),
            Key::Locked(file) => format!("{LOCKED_PREFIX}{}", URL_SAFE_NO_PAD.encode(file)),
            Key::Compact(bytes) => format!("{COMPACT_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)),
        }
    }

    pub(crate) fn from_fragment(fragment: &str) -> anyhow::Result<Key> {
        let decode = |b64: &str| {
            URL_SAFE_NO_PAD
                .decode(b64)
                .context("the link's key is damaged (bad base64)")
        };
        if let Some(b64) = fragment.strip_prefix(COMPACT_PREFIX) {
            let bytes = decode(b64)?;
            if bytes.len() < COMPACT_PAYLOAD_AT + 16 {
                bail!("the link's key is damaged (too short); copy the whole link");
            }
            Ok(Key::Compact(bytes))
        } else if let Some(b64) = fragment.strip_prefix(LOCKED_PREFIX) {
            Ok(Key::Locked(decode(b64)?))
        } else if fragment.starts_with("AGE-SECRET-KEY-1") {
            Ok(Key::Identity(SecretString::from(fragment.to_owned())))
        } else {
            bail!("the link has no key after '#'; copy the whole link")
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        !matches!(self, Key::Identity(_))
    }

    /// The identity that decrypts the secret; for a locked key, only with the right passphrase.
    pub fn unlock(
        &self,
        passphrase: Option<&SecretString>,
    ) -> anyhow::Result<age::x25519::Identity> {
        let decrypt = |file: &[u8]| {
            let pass = passphrase.ok_or_else(|| anyhow!("this link needs a passphrase"))?;
            let mut identity = age::scrypt::Identity::new(pass.clone());
            identity.set_max_work_factor(SCRYPT_MAX_WORK_FACTOR);
            age::decrypt(&identity, file).map_err(|_| anyhow!("wrong passphrase"))
        };
        let text = match self {
            Key::Identity(s) => s.clone(),
            Key::Locked(file) => SecretString::from(
                String::from_utf8(decrypt(file)?).context("the link's key is damaged")?,
            ),
            Key::Compact(bytes) => {
                let raw = decrypt(&expand(bytes)?)?;
                let hrp = bech32::Hrp::parse(SECRET_KEY_HRP)
                    .map_err(|_| anyhow!("the link's key is damaged"))?;
                if raw.len() != 32 {
                    bail!("the link's key is damaged");
                }
                let text = bech32::encode::<bech32::Bech32>(hrp, &raw)
                    .map_err(|_| anyhow!("the link's key is damaged"))?;
                SecretString::from(text.to_uppercase())
            }
        };
        age::x25519::Identity::from_str(text.expose_secret().trim())
            .map_err(|_| anyhow!("the link's key is damaged"))
    }
}

/// The compact form of an age file with exactly one scrypt stanza, as age
/// writes it; an error for anything else.
fn compact(file: &[u8]) -> anyhow::Result<Vec<u8>> {
    let not_ours = || anyhow!("not an age file with one scrypt stanza");
    let mac_at = file
        .windows(5)
        .position(|w| w == b"\n--- ")
        .ok_or_else(not_ours)?;
    let header_end = mac_at
        + 1
        + file[mac_at + 1..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(not_ours)?;
    let header = std::str::from_utf8(&file[..header_end]).map_err(|_| not_ours())?;
    let mut lines = header.split('\n');
    let (Some("age-encryption.org/v1"), Some(stanza), Some(body), Some(mac), None) = (
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
    ) else {
        return Err(not_ours());
    };
    let mut args = stanza.split(' ');
    let (Some("->"), Some("scrypt"), Some(salt), Some(work_factor), None) = (
        args.next(),
        args.next(),
        args.next(),
        args.next(),
        args.next(),
    ) else {
        return Err(not_ours());
    };
    let mac = mac.strip_prefix("--- ").ok_or_else(not_ours)?;
    let b64 = |s: &str, len: usize| {
        STANDARD_NO_PAD
            .decode(s)
            .ok()
            .filter(|b| b.len() == len)
            .ok_or_else(not_ours)
    };
    let mut out = vec![work_factor.parse::<u8>().map_err(|_| not_ours())?];
    out.extend(b64(salt, 16)?);
    out.extend(b64(body, 32)?);
    out.extend(b64(mac, 32)?);
    out.extend(&file[header_end + 1..]);
    // What the reader will rebuild must be this very file, or its MAC fails.
    if expand(&out)? != file {
        return Err(not_ours());
    }
    Ok(out)
}

/// The age file that a compact form stands for; age checks it when it
/// decrypts. An error for fewer bytes than the header's parts and a nonce.
fn expand(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    if bytes.len() < COMPACT_PAYLOAD_AT + 16 {
        bail!("the link's key is damaged (too short); copy the whole link");
    }
    let part = |from: usize, to: usize| STANDARD_NO_PAD.encode(&bytes[from..to]);
    let mut file = format!(
        "age-encryption.org/v1\n-> scrypt {} {}\n{}\n--- {}\n",
        part(1, 17),
        bytes[0],
        part(17, 49),
        part(49, COMPACT_PAYLOAD_AT)
    )
    .into_bytes();
    file.extend(&bytes[COMPACT_PAYLOAD_AT..]);
    Ok(file)
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
        let id = Id::parse_secret(id.trim_end_matches('/'))
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
            let (_, raw) =
                bech32::decode(secret.expose_secret()).context("age wrote an unreadable key")?;
            Key::Compact(compact(&lock_with(pass, &raw, SCRYPT_WORK_FACTOR)?)?)
        }
    };
    Ok((ciphertext, key))
}

/// `plaintext` in an age file encrypted to the passphrase `pass` (an age
/// scrypt recipient with work factor `work_factor`, log2 N).
fn lock_with(pass: &SecretString, plaintext: &[u8], work_factor: u8) -> anyhow::Result<Vec<u8>> {
    let mut recipient = age::scrypt::Recipient::new(pass.clone());
    recipient.set_work_factor(work_factor);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .context("encryption failed")?;
    let mut locked = vec![];
    let mut w = encryptor.wrap_output(&mut locked)?;
    w.write_all(plaintext)?;
    w.finish()?;
    Ok(locked)
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
    fn compact_locked_keys_are_short_and_exact() {
        let pass = SecretString::from("correct horse".to_owned());
        let (_, key) = seal(b"hello", Some(&pass)).unwrap();
        let fragment = key.to_fragment();
        assert!(fragment.starts_with("p1."), "{fragment}");
        // 81 bytes of header parts, 16 of nonce, 32 + 16 of sealed identity.
        assert_eq!(fragment.len(), "p1.".len() + (145_usize * 4).div_ceil(3));
        let Key::Compact(bytes) = &key else {
            panic!("not compact")
        };
        assert_eq!(bytes[0], SCRYPT_WORK_FACTOR);
        assert_eq!(compact(&expand(bytes).unwrap()).unwrap(), *bytes);
        // A damaged byte anywhere is refused by age, never read as another key.
        for at in [0, 5, 30, 60, 90, 120] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert!(Key::Compact(bad).unlock(Some(&pass)).is_err(), "byte {at}");
        }
        assert!(Key::from_fragment("p1.AAAA").is_err());
    }

    #[test]
    fn older_scrypt_links_still_open() {
        // What builds before the compact form wrote: the identity's text in a
        // whole age file, work factor 18.
        let pass = SecretString::from("old pass".to_owned());
        let identity = age::x25519::Identity::generate();
        let file = lock_with(&pass, identity.to_string().expose_secret().as_bytes(), 18).unwrap();
        let fragment = format!("scrypt.{}", URL_SAFE_NO_PAD.encode(&file));
        let key = Key::from_fragment(&fragment).unwrap();
        assert!(key.is_locked());
        assert_eq!(
            key.unlock(Some(&pass)).unwrap().to_string().expose_secret(),
            identity.to_string().expose_secret()
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
        // The links the server makes now, with a timestamped id.
        let id = Id::timestamped(1_796_000_000);
        let url = format!("https://h.example/s/{id}#{}", key.to_fragment());
        assert_eq!(Link::parse(&url).unwrap().id, id);
    }
}
