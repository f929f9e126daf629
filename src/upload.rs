//! What the server checks of an upload before storing it as opaque bytes.
//!
//! The server cannot decrypt anything, but it can make sure that what it
//! stores is a well-formed binary age v1 file (<https://age-encryption.org/v1>)
//! encrypted only to X25519 recipients: the header's lines, each stanza's type,
//! argument and body sizes, the MAC line, and a payload long enough to hold a
//! nonce and STREAM chunks whose sizes add up. Anything else is refused, so a
//! client bug (armored text, a passphrase-encrypted file, a post-quantum or
//! plugin recipient that the CLI could not read) shows up at upload, not at reveal.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
/// Recipients one file may name: a link copy has one; the SOC's sealed copies a few.
pub const MAX_STANZAS: usize = 20;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
const CHUNK_LEN: usize = 64 * 1024 + TAG_LEN;
const STANZA_BODY_COLUMNS: usize = 64;

/// A ciphertext that passed [`AgeFile::parse`]: still opaque, but well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeFile {
    bytes: Vec<u8>,
    recipients: usize,
}

/// Why an upload is not an age file we accept; the text is shown to the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAgeFile(String);

fn bad<T>(why: impl Into<String>) -> Result<T, NotAgeFile> {
    Err(NotAgeFile(why.into()))
}

impl AgeFile {
    pub fn parse(bytes: Vec<u8>) -> Result<AgeFile, NotAgeFile> {
        if bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
            return bad("the ciphertext is ASCII-armored; send the binary age file, base64-encoded");
        }
        let Some(mut rest) = bytes.strip_prefix(VERSION_LINE) else {
            return bad("the ciphertext does not start with the age v1 header (age-encryption.org/v1)");
        };
        let mut recipients = 0;
        loop {
            let (line, after) = split_line(rest)?;
            if let Some(mac) = line.strip_prefix(b"--- ") {
                if decoded_len(mac) != Some(32) {
                    return bad("the age header's MAC line is malformed");
                }
                rest = after;
                break;
            }
            let Some(stanza) = line.strip_prefix(b"-> ") else {
                return bad("the age header has a line that is neither a recipient stanza nor the MAC");
            };
            recipients += 1;
            if recipients > MAX_STANZAS {
                return bad(format!("the age header names more than {MAX_STANZAS} recipients"));
            }
            check_stanza_args(stanza)?;
            rest = check_stanza_body(after)?;
        }
        if recipients == 0 {
            return bad("the age header names no recipient");
        }
        check_payload_len(rest.len())?;
        Ok(AgeFile { bytes, recipients })
    }

    pub fn recipients(&self) -> usize {
        self.recipients
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn split_line(data: &[u8]) -> Result<(&[u8], &[u8]), NotAgeFile> {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => Ok((&data[..i], &data[i + 1..])),
        None => bad("the age header ends before its MAC line"),
    }
}

/// Only X25519 stanzas are accepted: one argument, a 32-byte ephemeral share.
fn check_stanza_args(stanza: &[u8]) -> Result<(), NotAgeFile> {
    let mut args = stanza.split(|b| *b == b' ');
    let kind = args.next().unwrap_or_default();
    let args: Vec<&[u8]> = args.collect();
    if kind != b"X25519" {
        let kind = String::from_utf8_lossy(kind);
        return bad(format!(
            "recipient type {kind:?} is not accepted; encrypt to X25519 recipients (age1...) only"
        ));
    }
    if args.len() != 1 || decoded_len(args[0]) != Some(32) {
        return bad("an X25519 stanza must carry exactly one 32-byte argument");
    }
    Ok(())
}

/// The body is base64 wrapped at 64 columns and ends with a shorter line; an
/// X25519 body is the 32-byte wrapped file key, so it fits on that one line.
fn check_stanza_body(data: &[u8]) -> Result<&[u8], NotAgeFile> {
    let (line, after) = split_line(data)?;
    if line.len() >= STANZA_BODY_COLUMNS || decoded_len(line) != Some(32) {
        return bad("an X25519 stanza's body must be a 32-byte wrapped key");
    }
    Ok(after)
}

/// A payload is a 16-byte nonce and STREAM chunks of 64 KiB plus a tag; only
/// the last chunk may be shorter, and it may be empty only if it is the first.
fn check_payload_len(len: usize) -> Result<(), NotAgeFile> {
    let Some(chunks) = len.checked_sub(NONCE_LEN) else {
        return bad("the age payload is shorter than its nonce");
    };
    let last = chunks % CHUNK_LEN;
    let empty_last_after_full = chunks > CHUNK_LEN && last == TAG_LEN;
    if chunks < TAG_LEN || (last != 0 && last < TAG_LEN) || empty_last_after_full {
        return bad("the age payload's length does not match its chunking");
    }
    Ok(())
}

fn decoded_len(text: &[u8]) -> Option<usize> {
    STANDARD_NO_PAD.decode(text).ok().map(|b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn encrypt_to(recipients: &[age::x25519::Recipient], plaintext: &[u8]) -> Vec<u8> {
        let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient)).unwrap();
        let mut out = vec![];
        let mut w = encryptor.wrap_output(&mut out).unwrap();
        std::io::Write::write_all(&mut w, plaintext).unwrap();
        w.finish().unwrap();
        out
    }

    fn recipient() -> age::x25519::Recipient {
        age::x25519::Identity::generate().to_public()
    }

    #[test]
    fn accepts_files_made_by_the_age_crate() {
        for size in [0, 1, 100, 64 * 1024, 64 * 1024 + 1, 200_000] {
            let file = encrypt_to(&[recipient()], &vec![7u8; size]);
            assert!(AgeFile::parse(file).is_ok(), "plaintext of {size} bytes");
        }
        let three = encrypt_to(&[recipient(), recipient(), recipient()], b"x");
        assert_eq!(AgeFile::parse(three).unwrap().recipients(), 3);
    }

    #[test]
    fn refuses_passphrase_armored_and_foreign_files() {
        let pass = age::scrypt::Recipient::new(age::secrecy::SecretString::from("pw".to_owned()));
        let scrypt = age::encrypt(&pass, b"x").unwrap();
        assert!(AgeFile::parse(scrypt).unwrap_err().0.contains("scrypt"));

        let armored = age::encrypt_and_armor(&recipient(), b"x").unwrap().into_bytes();
        assert!(AgeFile::parse(armored).unwrap_err().0.contains("armored"));

        for junk in [&b""[..], b"hello", b"age-encryption.org/v1\n", b"age-encryption.org/v1\n--- AAAA\n"] {
            assert!(AgeFile::parse(junk.to_vec()).is_err());
        }
    }

    #[test]
    fn refuses_truncated_or_tampered_structure() {
        let file = encrypt_to(&[recipient()], b"a secret");
        let mut short = file.clone();
        short.truncate(short.len() - 20);
        assert!(AgeFile::parse(short).is_err(), "payload cut inside the last tag");

        let text = String::from_utf8_lossy(&file).into_owned();
        let renamed = text.replacen("-> X25519", "-> piv-p256", 1).into_bytes();
        assert!(AgeFile::parse(renamed).is_err());

        let recipient = age::x25519::Recipient::from_str(&recipient().to_string()).unwrap();
        let no_mac = encrypt_to(&[recipient], b"x");
        let cut = no_mac.iter().position(|b| *b == b'-').unwrap();
        let header_only: Vec<u8> = no_mac[..no_mac.len().min(cut + 60)].to_vec();
        assert!(AgeFile::parse(header_only).is_err());
    }
}
