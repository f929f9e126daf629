//! File transfers (issue 14), the rules that need neither HTTP nor SQL: the
//! piece arithmetic, the bounds on what a sender may declare and upload, and
//! the manifest the sender encrypts (its format and the names a reader
//! accepts).
//!
//! A transfer is one manifest and 1 to [`MAX_FILES`] files. Each file's
//! plaintext is cut into pieces of [`PIECE_SIZE`] bytes (the last may be
//! shorter; an empty file is one piece of zero bytes), and each piece is one
//! complete binary age file, so an upload resumes by sending only the pieces
//! the server lacks, and memory stays at one piece per upload. Each piece is
//! encrypted to an identity of its own, derived from the transfer's identity
//! and the piece's place ([`piece_identity`]), so a piece opens only in its
//! place. The manifest is an age file of [`Manifest`] JSON, encrypted to the
//! transfer's identity itself. The server checks every piece's age
//! header and the length its payload fixes; it learns the number of files,
//! their piece counts and ciphertext sizes, never names or contents.

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::upload::AgeFile;

/// Plaintext bytes per piece: 4 MiB. Piece `p` of a file holds plaintext
/// bytes `[p·PIECE_SIZE, (p+1)·PIECE_SIZE)`.
pub const PIECE_SIZE: usize = 4 * 1024 * 1024;

/// The largest piece ciphertext accepted: a full piece's payload (16-byte
/// nonce, 64 STREAM chunks of 64 KiB each with a 16-byte tag: 4,195,344
/// bytes) leaves 64,496 bytes for the header, room for
/// [`MAX_STANZAS`](crate::upload::MAX_STANZAS) X25519 stanzas and age's
/// GREASE stanzas many times over.
pub const PIECE_CIPHERTEXT_MAX: usize = PIECE_SIZE + 65_536;

/// The smallest age file there is: the version line (22 bytes), one X25519
/// stanza (54 + 44), the MAC line (48), a nonce and one empty chunk's tag (32).
pub const PIECE_CIPHERTEXT_MIN: u64 = 200;

/// The smallest ciphertext of a full piece: the smallest header (168 bytes)
/// and a full payload (nonce, 64 chunks with their tags).
const FULL_PIECE_MIN: u64 = 168 + 16 + PIECE_SIZE as u64 + 64 * 16;

/// Files in one transfer, at most.
pub const MAX_FILES: usize = 1000;

/// The manifest's ciphertext, at most: 256 KiB.
pub const MANIFEST_MAX: usize = 256 * 1024;

/// Bytes of one path segment of a manifest name, at most (what common file
/// systems allow).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// How many pieces a file of `plaintext` bytes is cut into: at least one.
pub fn pieces_for(plaintext: u64) -> u64 {
    plaintext.div_ceil(PIECE_SIZE as u64).max(1)
}

/// Bytes a client may add to each piece's declared ciphertext size when it
/// cannot know the exact size in advance. The Rust `age` crate writes a
/// random GREASE stanza into every header it makes (`grease_the_joint` in
/// `age-core` 0.12: a tag of up to 15 characters, up to 4 arguments of up
/// to 8, a body of up to 99 bytes: at most 190 bytes written), so the
/// `handoff` CLI declares its pieces' sizes plus this much each.
pub const GREASE_ALLOWANCE: u64 = 256;

/// One file as the sender declares it at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclaredFile {
    /// Pieces the file is cut into (at least 1).
    pub pieces: u64,
    /// Ciphertext bytes of all its pieces together, at most: the pieces
    /// uploaded may not add up to more, and the transfer's size is what
    /// they hold once it is complete.
    pub size: u64,
}

impl DeclaredFile {
    /// Checks one declaration: the sizes `pieces` age files of pieces can
    /// have. All pieces but the last hold a full [`PIECE_SIZE`], so their
    /// ciphertext is at least a full piece's; every piece is at most
    /// [`PIECE_CIPHERTEXT_MAX`]. The text says what is wrong (`index` names
    /// the file).
    pub fn check(index: usize, pieces: i64, size: i64) -> Result<DeclaredFile, String> {
        let (Ok(pieces), Ok(size)) = (u64::try_from(pieces), u64::try_from(size)) else {
            return Err(format!(
                "files[{index}]: pieces and size must not be negative"
            ));
        };
        if pieces == 0 {
            return Err(format!(
                "files[{index}]: a file has at least one piece (an empty file is one piece of zero bytes)"
            ));
        }
        let min = (pieces - 1)
            .saturating_mul(FULL_PIECE_MIN)
            .saturating_add(PIECE_CIPHERTEXT_MIN);
        let max = pieces.saturating_mul(PIECE_CIPHERTEXT_MAX as u64);
        if !(min..=max).contains(&size) {
            return Err(format!(
                "files[{index}]: {pieces} piece(s) of age ciphertext take between {min} and {max} bytes, not {size}"
            ));
        }
        Ok(DeclaredFile { pieces, size })
    }
}

/// Checks piece `piece` of a file of `pieces` pieces, already parsed as an
/// age file: every piece but the last holds exactly [`PIECE_SIZE`] bytes of
/// plaintext, the last at most that (and at least one byte, unless it is the
/// only piece, of an empty file). The text says what is wrong.
pub(crate) fn check_piece(file: &AgeFile, piece: u64, pieces: u64) -> Result<(), String> {
    let plain = file.plaintext_len();
    let last = piece + 1 == pieces;
    if plain > PIECE_SIZE {
        return Err(format!(
            "the piece holds {plain} bytes of plaintext; a piece holds at most {PIECE_SIZE}"
        ));
    }
    if !last && plain != PIECE_SIZE {
        return Err(format!(
            "piece {piece} holds {plain} bytes of plaintext; every piece but a file's last holds exactly {PIECE_SIZE}"
        ));
    }
    if last && pieces > 1 && plain == 0 {
        return Err(format!(
            "piece {piece} is empty; only an empty file's one piece may be"
        ));
    }
    Ok(())
}

/// The manifest format this version writes and reads: 2, where each piece
/// is encrypted to its own [`piece_identity`] (version 1 encrypted every
/// piece to the transfer's identity, so a piece's place was not
/// authenticated; readers refuse it).
pub const MANIFEST_VERSION: u32 = 2;

/// HKDF's `info` prefix for a piece's key; the file and piece numbers follow
/// as two big-endian `u32`s.
const PIECE_KEY_INFO: &[u8] = b"handoff transfer piece\0";

/// The Bech32 human-readable part of an age X25519 identity.
const SECRET_KEY_HRP: &str = "AGE-SECRET-KEY-";

/// The identity that piece `piece` of file `file` (both counted from 0) is
/// encrypted to: its 32 bytes are HKDF-SHA-256 (RFC 5869) with the
/// transfer identity's 32 bytes as input key material, no salt, and `info`
/// = `"handoff transfer piece"`, a zero byte, `file` and `piece` as
/// big-endian `u32`s. A piece moved to another place (another file, another
/// position, another transfer) does not decrypt there, so a server that
/// reorders equal-length pieces is caught; the manifest, encrypted to the
/// transfer's identity itself, cannot stand in for a piece either.
///
/// Errors only if `transfer` is not an X25519 identity age can spell, which
/// a parsed identity always is.
pub fn piece_identity(
    transfer: &age::x25519::Identity,
    file: u32,
    piece: u32,
) -> Result<age::x25519::Identity, String> {
    let damaged = |_| "the transfer's key is damaged".to_owned();
    let (_, ikm) = bech32::decode(transfer.to_string().expose_secret()).map_err(damaged)?;
    let mut info = PIECE_KEY_INFO.to_vec();
    info.extend_from_slice(&file.to_be_bytes());
    info.extend_from_slice(&piece.to_be_bytes());
    let mut okm = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm)
        .expand(&info, &mut okm)
        .map_err(|_| "HKDF refused a 32-byte output".to_owned())?;
    let hrp = bech32::Hrp::parse(SECRET_KEY_HRP).map_err(|_| "bad HRP".to_owned())?;
    let text = age::secrecy::SecretString::from(
        bech32::encode::<bech32::Bech32>(hrp, &okm)
            .map_err(|_| "the piece key cannot be spelled".to_owned())?
            .to_uppercase(),
    );
    okm.fill(0);
    age::x25519::Identity::from_str(text.expose_secret()).map_err(ToOwned::to_owned)
}

/// The manifest's plaintext: UTF-8 JSON, encrypted by the sender to the
/// transfer's identity (the pieces go to their [`piece_identity`]).
/// `{"v":2,"message":"…","files":[{"name":"certs/app.pem","size":1234,"type":"application/x-pem-file","modified":1764540000}]}`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version: [`MANIFEST_VERSION`].
    pub v: u32,
    /// The sender's message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The files, in the order of their indexes in the API.
    pub files: Vec<ManifestFile>,
}

/// One file of a [`Manifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// A relative path with `/` separators (see [`check_name`]).
    pub name: String,
    /// Plaintext bytes.
    pub size: u64,
    /// A media type, if the sender knew one.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Last modified, Unix seconds, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
}

/// The suffix `handoff get` and `handoff collect --target dir` give a file
/// while its pieces arrive (`<name>.handoff-part`), renamed away when whole:
/// a manifest name with a part ending in it would clash with another file's
/// partial copy, so readers refuse it.
pub const PARTIAL_SUFFIX: &str = ".handoff-part";

/// Checks a manifest name before anything is written under it: a relative
/// path of `/`-separated segments, none empty, `.` or `..`, none longer than
/// [`MAX_SEGMENT_BYTES`] and none ending in [`PARTIAL_SUFFIX`] (in any
/// letter case); not starting with `/` or a drive letter (`C:`); with no
/// backslash, no control character (Unicode's `Cc`, and the line and
/// paragraph separators U+2028 and U+2029), and no bidirectional control or
/// invisible character ([`deceptive`](crate::label::deceptive), as in
/// labels), which would make the name read as another
/// (`invoice\u{202E}gpj.exe` shows as `invoiceexe.jpg`). The browser
/// (static/js/files-format.js) holds names to the same rules; both are tested
/// against tests/fixtures/file-names.json. The text says what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a file name is empty".to_owned());
    }
    if name.starts_with('/') {
        return Err(format!("the file name {name:?} is an absolute path"));
    }
    if let [letter, b':', ..] = name.as_bytes()
        && letter.is_ascii_alphabetic()
    {
        return Err(format!("the file name {name:?} starts with a drive letter"));
    }
    if name
        .chars()
        .any(|c| c == '\\' || c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(format!(
            "the file name {name:?} holds a backslash or a control character"
        ));
    }
    if let Some((c, what)) = name
        .chars()
        .find_map(|c| crate::label::deceptive(c).map(|n| (c, n)))
    {
        return Err(format!(
            "the file name {name:?} holds U+{:04X} {what}, an invisible character that can \
             make a name read as another",
            u32::from(c)
        ));
    }
    for segment in name.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "the file name {name:?} has an empty, '.' or '..' part"
            ));
        }
        if segment.len() > MAX_SEGMENT_BYTES {
            return Err(format!(
                "a part of the file name {name:?} is longer than {MAX_SEGMENT_BYTES} bytes"
            ));
        }
        if segment.to_lowercase().ends_with(PARTIAL_SUFFIX) {
            return Err(format!(
                "a part of the file name {name:?} ends in {PARTIAL_SUFFIX}, the suffix of \
                 files still arriving"
            ));
        }
    }
    Ok(())
}

/// A name as the folders of Windows and macOS compare it: in Unicode
/// normalization form C, lower case. Two names with the same key are the same
/// file there.
fn name_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect::<String>().to_lowercase()
}

/// Checks that the names of one transfer (each already accepted by
/// [`check_name`]) can all be written under one folder: no name twice, also
/// when they differ only in letter case or Unicode normalization (Windows
/// and macOS folders would hold them as one file), and no name that is
/// also a folder of another (`a` and `a/b`, compared part by part the same
/// way). The text names the clash.
pub fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let names: Vec<&str> = names.into_iter().collect();
    let mut files = std::collections::HashMap::new();
    for &name in &names {
        if let Some(first) = files.insert(name_key(name), name) {
            return Err(if first == name {
                format!("the manifest names {name:?} twice")
            } else {
                format!(
                    "the manifest names both {first:?} and {name:?}, one file in folders \
                     that ignore letter case"
                )
            });
        }
    }
    for &name in &names {
        let key = name_key(name);
        for (at, _) in key.match_indices('/') {
            if let Some(file) = files.get(&key[..at]) {
                return Err(format!(
                    "the manifest names {file:?} as a file and as a folder of {name:?}"
                ));
            }
        }
    }
    Ok(())
}

impl Manifest {
    /// Reads a decrypted manifest and checks it: version [`MANIFEST_VERSION`], 1 to
    /// [`MAX_FILES`] files, every name safe ([`check_name`]), no two clashing
    /// on disk ([`check_names`]), and `expected` files (the count the server
    /// holds).
    pub fn parse(plaintext: &[u8], expected: usize) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(plaintext)
            .map_err(|e| format!("the manifest is not what this version reads: {e}"))?;
        if manifest.v == 1 {
            return Err(
                "these files were sent by an earlier version of handoff, whose pieces \
                 could be reordered unnoticed; this version does not read them: ask the \
                 sender to send them again"
                    .to_owned(),
            );
        }
        if manifest.v != MANIFEST_VERSION {
            return Err(format!(
                "the manifest has version {}; this version reads {MANIFEST_VERSION}",
                manifest.v
            ));
        }
        if manifest.files.is_empty() || manifest.files.len() > MAX_FILES {
            return Err(format!(
                "the manifest lists {} files; a transfer has 1 to {MAX_FILES}",
                manifest.files.len()
            ));
        }
        if manifest.files.len() != expected {
            return Err(format!(
                "the manifest lists {} files but the server holds {expected}",
                manifest.files.len()
            ));
        }
        for f in &manifest.files {
            check_name(&f.name)?;
        }
        check_names(manifest.files.iter().map(|f| f.name.as_str()))?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encrypt(plaintext: &[u8]) -> AgeFile {
        let r = age::x25519::Identity::generate().to_public();
        AgeFile::parse(age::encrypt(&r, plaintext).unwrap()).unwrap()
    }

    #[test]
    fn piece_counts() {
        assert_eq!(pieces_for(0), 1);
        assert_eq!(pieces_for(1), 1);
        assert_eq!(pieces_for(PIECE_SIZE as u64), 1);
        assert_eq!(pieces_for(PIECE_SIZE as u64 + 1), 2);
        assert_eq!(pieces_for(9 * 1024 * 1024), 3);
    }

    #[test]
    fn the_smallest_age_file_is_the_bound() {
        let empty = encrypt(b"");
        assert!(empty.as_bytes().len() as u64 >= PIECE_CIPHERTEXT_MIN);
        let full = encrypt(&vec![0u8; PIECE_SIZE]);
        assert!(full.as_bytes().len() as u64 >= FULL_PIECE_MIN);
        assert!(full.as_bytes().len() <= PIECE_CIPHERTEXT_MAX);
    }

    #[test]
    fn declarations_are_bounded_by_what_pieces_can_weigh() {
        assert!(DeclaredFile::check(0, 1, 200).is_ok());
        assert!(DeclaredFile::check(0, 1, 199).is_err());
        assert!(DeclaredFile::check(0, 0, 0).is_err());
        assert!(DeclaredFile::check(0, -1, 200).is_err());
        assert!(DeclaredFile::check(0, 1, PIECE_CIPHERTEXT_MAX as i64 + 1).is_err());
        // Three pieces cannot weigh as little as three empty age files.
        assert!(DeclaredFile::check(0, 3, 600).is_err());
        assert!(DeclaredFile::check(0, 3, 2 * FULL_PIECE_MIN as i64 + 200).is_ok());
    }

    #[test]
    fn pieces_hold_full_plaintext_but_the_last() {
        let full = encrypt(&vec![1u8; PIECE_SIZE]);
        let short = encrypt(b"abc");
        let empty = encrypt(b"");
        assert!(check_piece(&full, 0, 2).is_ok());
        assert!(check_piece(&short, 0, 2).is_err());
        assert!(check_piece(&short, 1, 2).is_ok());
        assert!(check_piece(&empty, 0, 1).is_ok());
        assert!(check_piece(&empty, 1, 2).is_err());
        let over = encrypt(&vec![1u8; PIECE_SIZE + 1]);
        assert!(check_piece(&over, 0, 1).is_err());
    }

    /// The cases the browser's reader is held to as well.
    fn shared_name_cases() -> serde_json::Value {
        serde_json::from_str(include_str!("../tests/fixtures/file-names.json")).unwrap()
    }

    #[test]
    fn names_follow_the_shared_cases() {
        let cases = shared_name_cases();
        for case in cases["names"].as_array().unwrap() {
            let (name, ok) = (case[0].as_str().unwrap(), case[1].as_bool().unwrap());
            assert_eq!(
                check_name(name).is_ok(),
                ok,
                "{name:?}: {:?}",
                check_name(name)
            );
        }
    }

    #[test]
    fn refused_characters_are_exactly_the_shared_list() {
        let mut ranges: Vec<[String; 2]> = vec![];
        let mut open: Option<(u32, u32)> = None;
        for c in char::MIN..=char::MAX {
            let refused = check_name(&format!("ab{c}cd")).is_err();
            let code = u32::from(c);
            open = match (open, refused) {
                (Some((first, last)), true) if last + 1 == code => Some((first, code)),
                (Some((first, last)), _) => {
                    ranges.push([format!("{first:04X}"), format!("{last:04X}")]);
                    refused.then_some((code, code))
                }
                (None, true) => Some((code, code)),
                (None, false) => None,
            };
        }
        if let Some((first, last)) = open {
            ranges.push([format!("{first:04X}"), format!("{last:04X}")]);
        }
        let want: Vec<[String; 2]> =
            serde_json::from_value(shared_name_cases()["refused_characters"].clone()).unwrap();
        assert_eq!(ranges, want);
    }

    #[test]
    fn deceptive_names_say_which_character() {
        let err = check_name("invoice\u{202E}gpj.exe").unwrap_err();
        assert!(err.contains("U+202E RIGHT-TO-LEFT OVERRIDE"), "{err}");
        let err = check_name("C:evil.txt").unwrap_err();
        assert!(err.contains("drive letter"), "{err}");
        let err = check_name("x.handoff-part").unwrap_err();
        assert!(err.contains("ends in .handoff-part"), "{err}");
    }

    #[test]
    fn manifests_whose_names_clash_are_refused() {
        let cases = shared_name_cases();
        for case in cases["lists"].as_array().unwrap() {
            let names: Vec<&str> = case["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            let clashes = !case["refused"].as_array().unwrap().is_empty();
            let files: Vec<ManifestFile> = names
                .iter()
                .map(|&name| ManifestFile {
                    name: name.to_owned(),
                    size: 1,
                    media_type: None,
                    modified: None,
                })
                .collect();
            let text = serde_json::to_vec(&Manifest {
                v: MANIFEST_VERSION,
                message: None,
                files,
            })
            .unwrap();
            let read = Manifest::parse(&text, names.len());
            assert_eq!(read.is_err(), clashes, "{names:?}: {read:?}");
        }
        let err = check_names(["a/b", "a"]).unwrap_err();
        assert_eq!(
            err,
            r#"the manifest names "a" as a file and as a folder of "a/b""#
        );
        let err = check_names(["Report.pdf", "report.PDF"]).unwrap_err();
        assert!(err.contains("ignore letter case"), "{err}");
        assert_eq!(
            check_names(["a", "a"]).unwrap_err(),
            r#"the manifest names "a" twice"#
        );
    }

    #[test]
    fn manifests_read_and_refuse() {
        let text = br#"{"v":2,"message":"hi","files":[{"name":"a","size":1,"type":"text/plain","modified":5},{"name":"b/c","size":0}]}"#;
        let m = Manifest::parse(text, 2).unwrap();
        assert_eq!(m.files[1].media_type, None);
        assert_eq!(m.message.as_deref(), Some("hi"));
        assert!(Manifest::parse(text, 3).is_err());
        let twice = br#"{"v":2,"files":[{"name":"a","size":1},{"name":"a","size":1}]}"#;
        assert!(Manifest::parse(twice, 2).is_err());
        let v1 = br#"{"v":1,"files":[{"name":"a","size":1}]}"#;
        let refused = Manifest::parse(v1, 1).unwrap_err();
        assert!(refused.contains("earlier version"), "{refused}");
        let v3 = br#"{"v":3,"files":[{"name":"a","size":1}]}"#;
        assert!(Manifest::parse(v3, 1).is_err());
        let evil = br#"{"v":2,"files":[{"name":"../a","size":1}]}"#;
        assert!(Manifest::parse(evil, 1).is_err());
    }

    /// The transfer identity whose 32 bytes are 0, 1, … 31: the same vector
    /// is in tests/browser/files-format.test.mjs, so the browser and the CLI
    /// derive the same piece keys.
    fn vector_identity() -> age::x25519::Identity {
        let bytes: Vec<u8> = (0u8..32).collect();
        let hrp = bech32::Hrp::parse(SECRET_KEY_HRP).unwrap();
        let text = bech32::encode::<bech32::Bech32>(hrp, &bytes)
            .unwrap()
            .to_uppercase();
        text.parse().unwrap()
    }

    #[test]
    fn piece_keys_follow_the_documented_derivation() {
        let transfer = vector_identity();
        let key = |f, p| {
            piece_identity(&transfer, f, p)
                .unwrap()
                .to_string()
                .expose_secret()
                .to_owned()
        };
        assert_eq!(key(0, 0), PIECE_KEY_0_0);
        assert_eq!(key(2, 7), PIECE_KEY_2_7);
    }

    /// Computed for this test by an independent HKDF and Bech32 (Python's hmac, BIP 173).
    const PIECE_KEY_0_0: &str =
        "AGE-SECRET-KEY-1ZQ5Z8K2C923U52M4TYHJD9GVDKHMUJQVHLTGCTSF84L6G0ZGR2NSNV50VQ";
    const PIECE_KEY_2_7: &str =
        "AGE-SECRET-KEY-1RAG43EGN9TYRHJ9QVAAUCFP4U0QNLYXN2AQCM66PPYMEYA886WCSU62V2R";

    #[test]
    fn a_piece_opens_only_in_its_own_place() {
        let transfer = age::x25519::Identity::generate();
        let here = piece_identity(&transfer, 1, 3).unwrap();
        let sealed = age::encrypt(&here.to_public(), b"piece 3 of file 1").unwrap();
        assert_eq!(age::decrypt(&here, &sealed).unwrap(), b"piece 3 of file 1");
        for (f, p) in [(1, 4), (3, 1), (0, 3), (1, 2)] {
            let there = piece_identity(&transfer, f, p).unwrap();
            assert!(age::decrypt(&there, &sealed).is_err(), "opened as {f}/{p}");
        }
        assert!(
            age::decrypt(&transfer, &sealed).is_err(),
            "opened with the transfer's own key"
        );
        let other = piece_identity(&age::x25519::Identity::generate(), 1, 3).unwrap();
        assert!(
            age::decrypt(&other, &sealed).is_err(),
            "opened in another transfer"
        );
    }
}
