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
pub(crate) const MAX_STANZAS: usize = 20;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
const CHUNK_LEN: usize = 64 * 1024 + TAG_LEN;
const STANZA_BODY_COLUMNS: usize = 64;

/// A ciphertext that passed [`AgeFile::parse`]: still opaque, but well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AgeFile {
    bytes: Vec<u8>,
    recipients: usize,
    /// Bytes after the header: the nonce and the STREAM chunks.
    payload: usize,
}

/// Why an upload is not an age file we accept; the text is shown to the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotAgeFile(String);

fn bad<T>(why: impl Into<String>) -> Result<T, NotAgeFile> {
    Err(NotAgeFile(why.into()))
}

impl AgeFile {
    pub(crate) fn parse(bytes: Vec<u8>) -> Result<AgeFile, NotAgeFile> {
        if bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
            return bad(
                "the ciphertext is ASCII-armored; send the binary age file, base64-encoded",
            );
        }
        let Some(mut rest) = bytes.strip_prefix(VERSION_LINE) else {
            return bad(
                "the ciphertext does not start with the age v1 header (age-encryption.org/v1)",
            );
        };
        let (mut stanzas, mut recipients) = (0, 0);
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
                return bad(
                    "the age header has a line that is neither a recipient stanza nor the MAC",
                );
            };
            stanzas += 1;
            if stanzas > MAX_STANZAS {
                return bad(format!(
                    "the age header has more than {MAX_STANZAS} stanzas"
                ));
            }
            let (body, after) = stanza_body(after)?;
            if check_stanza(stanza, body)? {
                recipients += 1;
            }
            rest = after;
        }
        if recipients == 0 {
            return bad("the age header names no X25519 recipient");
        }
        check_payload_len(rest.len())?;
        let payload = rest.len();
        Ok(AgeFile {
            bytes,
            recipients,
            payload,
        })
    }

    pub(crate) fn recipients(&self) -> usize {
        self.recipients
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file, its bytes owned.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The plaintext's length in bytes, which the payload's length fixes:
    /// each STREAM chunk adds a 16-byte tag, and the nonce comes first.
    pub(crate) fn plaintext_len(&self) -> usize {
        let chunks = self.payload - NONCE_LEN;
        let full = chunks / CHUNK_LEN;
        let last = chunks % CHUNK_LEN;
        full * (CHUNK_LEN - TAG_LEN) + last.saturating_sub(TAG_LEN)
    }
}

fn split_line(data: &[u8]) -> Result<(&[u8], &[u8]), NotAgeFile> {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => Ok((&data[..i], &data[i + 1..])),
        None => bad("the age header ends before its MAC line"),
    }
}

/// Checks one stanza; true if it is an X25519 recipient. Only X25519 is
/// accepted, apart from GREASE stanzas (`*-grease`), which age writes at random
/// so that readers stay tolerant of unknown types, and which every reader skips.
fn check_stanza(stanza: &[u8], body: usize) -> Result<bool, NotAgeFile> {
    let mut parts = stanza.split(|b| *b == b' ');
    let kind = parts.next().unwrap_or_default();
    let args: Vec<&[u8]> = parts.collect();
    if args
        .iter()
        .any(|a| a.is_empty() || !a.iter().all(|c| (0x21..=0x7e).contains(c)))
    {
        return bad("a stanza has an empty or non-printable argument");
    }
    if kind.ends_with(b"-grease") {
        return Ok(false);
    }
    if kind != b"X25519" {
        let kind = String::from_utf8_lossy(kind);
        return bad(format!(
            "recipient type {kind:?} is not accepted; encrypt to X25519 recipients (age1...) only"
        ));
    }
    if args.len() != 1 || decoded_len(args[0]) != Some(32) || body != 32 {
        return bad("an X25519 stanza must carry one 32-byte argument and a 32-byte wrapped key");
    }
    Ok(true)
}

/// A stanza's body: base64 lines of 64 columns, ended by a shorter (maybe
/// empty) line. Returns the decoded length and what follows.
fn stanza_body(mut data: &[u8]) -> Result<(usize, &[u8]), NotAgeFile> {
    let mut len = 0;
    loop {
        let (line, after) = split_line(data)?;
        len += decoded_len(line)
            .ok_or_else(|| NotAgeFile("a stanza body is not canonical base64".into()))?;
        data = after;
        if line.len() < STANZA_BODY_COLUMNS {
            return Ok((len, data));
        }
    }
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

    fn encrypt_to(recipients: &[age::x25519::Recipient], plaintext: &[u8]) -> Vec<u8> {
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .unwrap();
        let mut out = vec![];
        let mut w = encryptor.wrap_output(&mut out).unwrap();
        std::io::Write::write_all(&mut w, plaintext).unwrap();
        w.finish().unwrap();
        out
    }

    /// Replaces the first `from` in the file's bytes (the payload is binary, so no strings).
    fn replace(file: &[u8], from: &str, to: &str) -> Vec<u8> {
        let at = file
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap();
        [&file[..at], to.as_bytes(), &file[at + from.len()..]].concat()
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
        for size in [0, 1, 64 * 1024, 64 * 1024 + 1, 4 * 1024 * 1024] {
            let file = encrypt_to(&[recipient()], &vec![7u8; size]);
            assert_eq!(AgeFile::parse(file).unwrap().plaintext_len(), size);
        }
        let three = encrypt_to(&[recipient(), recipient(), recipient()], b"x");
        assert_eq!(AgeFile::parse(three).unwrap().recipients(), 3);
    }

    #[test]
    fn refuses_passphrase_armored_and_foreign_files() {
        let mut pass =
            age::scrypt::Recipient::new(age::secrecy::SecretString::from("pw".to_owned()));
        pass.set_work_factor(2);
        let scrypt = age::encrypt(&pass, b"x").unwrap();
        assert!(AgeFile::parse(scrypt).unwrap_err().0.contains("scrypt"));

        let armored = age::encrypt_and_armor(&recipient(), b"x")
            .unwrap()
            .into_bytes();
        assert!(AgeFile::parse(armored).unwrap_err().0.contains("armored"));

        for junk in [
            &b""[..],
            b"hello",
            b"age-encryption.org/v1\n",
            b"age-encryption.org/v1\n--- AAAA\n",
        ] {
            assert!(AgeFile::parse(junk.to_vec()).is_err());
        }
    }

    #[test]
    fn grease_stanzas_are_skipped_but_not_counted() {
        let file = encrypt_to(&[recipient()], b"x");
        let greased = replace(
            &file,
            "-> X25519",
            "-> 9r~-grease a! b\nZm9vYmFy\n-> X25519",
        );
        assert_eq!(AgeFile::parse(greased).unwrap().recipients(), 1);
        let empty_body = replace(&file, "-> X25519", "-> x-grease\n\n-> X25519");
        assert!(AgeFile::parse(empty_body).is_ok());
    }

    #[test]
    fn refuses_truncated_or_tampered_structure() {
        let file = encrypt_to(&[recipient()], b"a secret");
        let mut short = file.clone();
        short.truncate(short.len() - 20);
        assert!(
            AgeFile::parse(short).is_err(),
            "payload cut inside the last tag"
        );

        let renamed = replace(&file, "-> X25519", "-> piv-p256");
        assert!(AgeFile::parse(renamed).unwrap_err().0.contains("piv-p256"));
        let bad_arg = replace(&file, "-> X25519 ", "-> X25519 AAAA");
        assert!(AgeFile::parse(bad_arg).is_err());

        let no_mac = encrypt_to(&[recipient()], b"x");
        let cut = no_mac.windows(4).position(|w| w == b"\n---").unwrap();
        let header_only = no_mac[..cut + 1].to_vec();
        assert!(AgeFile::parse(header_only).unwrap_err().0.contains("MAC"));
    }
}
