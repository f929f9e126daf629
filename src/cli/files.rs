//! `handoff send FILE...` and `handoff get LINK -o DIR` for file transfers
//! (issue 14): each file cut into pieces of 4 MiB, each piece encrypted here
//! to a fresh identity and uploaded on its own, so that memory stays at one
//! piece and an interrupted run continues where it stopped.
//!
//! Resuming: `send` keeps a state file (mode 0600) under
//! `$XDG_STATE_HOME/handoff` (or `~/.local/state/handoff`) named after the
//! files sent, holding the transfer's id, upload token and identity and each
//! file's path, size and modification time; `send --resume` with the same
//! files reads it, refuses if a file changed, and sends only the pieces the
//! server lacks. `get` keeps its download token and the encrypted manifest in
//! `DIR/.handoff-get-ID.json` (0600) until every file is written, so running
//! it again within the grace continues. Both files go when the work is done.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::{ApiFailure, Client};
use crate::id::Id;
use crate::transfer::{
    GREASE_ALLOWANCE, MANIFEST_VERSION, Manifest, ManifestFile, PIECE_SIZE, check_name,
    piece_identity, pieces_for,
};
use crate::wire::{CreateTransfer, TransferFile};

/// Tries of one piece before giving up: network failures and the server's
/// 5xx, 408 and 429 are tried again after 1, 2, 4, 8 seconds.
const PIECE_TRIES: u32 = 5;

/// A file to send: where it is here and its name in the manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Source {
    /// Absolute path on this machine.
    path: PathBuf,
    /// The manifest name: relative, `/`-separated.
    name: String,
    /// Plaintext bytes when the send began.
    size: u64,
    /// Modification time (Unix seconds) when the send began.
    mtime: i64,
}

/// What `send --resume` needs of an interrupted send.
#[derive(Serialize, Deserialize)]
struct SendState {
    server: String,
    id: String,
    url: String,
    upload_token: String,
    /// The identity the pieces are encrypted to (`AGE-SECRET-KEY-1...`).
    identity: String,
    expires_at: String,
    files: Vec<Source>,
    /// The message the first run sent (encrypted in the manifest).
    #[serde(default)]
    message: Option<String>,
}

/// What `get` needs to continue a claimed download.
#[derive(Serialize, Deserialize)]
struct GetState {
    id: String,
    download_token: String,
    /// Base64 of the manifest's age file, as the claim answered it.
    manifest: String,
    grace_until: String,
    /// Each file's piece count, as the claim answered it.
    pieces: Vec<u64>,
    /// Files (by index) whose partial file this download made: only those
    /// are continued by a later run, never a partial file found in the way.
    #[serde(default)]
    started: Vec<usize>,
    /// Files (by index) this download put in place: a later run skips
    /// those, and only those (a file of the same size already there is not
    /// taken for one).
    #[serde(default)]
    saved: Vec<usize>,
}

/// Writes `bytes` to `path` readable by its owner only, replacing it.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fresh_private_file(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `$XDG_STATE_HOME/handoff`, or `~/.local/state/handoff`, made (0700) if missing.
fn state_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .ok_or_else(|| anyhow!("neither XDG_STATE_HOME nor HOME is set"))?;
            PathBuf::from(home).join(".local/state")
        }
    };
    let dir = base.join("handoff");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(&dir)
        .with_context(|| format!("cannot make {}", dir.display()))?;
    Ok(dir)
}

/// The state file of a send of these files to this server: named after
/// both, so that the same command line finds it again.
fn send_state_path(server: &str, sources: &[Source]) -> anyhow::Result<PathBuf> {
    let mut h = Sha256::new();
    h.update(server.as_bytes());
    for s in sources {
        h.update([0]);
        h.update(s.path.as_os_str().as_encoded_bytes());
    }
    let digest: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(state_dir()?.join(format!("send-{digest}.json")))
}

fn mtime(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The files named on the command line, directories walked (in name order,
/// symbolic links inside them skipped); a directory's files are named with
/// the directory's own name first (`certs/app.pem`).
fn collect_sources(args: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<Source>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the folder {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let kind = entry.file_type()?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|n| anyhow!("the name {n:?} is not UTF-8; rename it to send it"))?;
            let name = format!("{prefix}/{name}");
            if kind.is_dir() {
                walk(&entry.path(), &name, out)?;
            } else if kind.is_symlink() {
                eprintln!("Skipping {}: a symbolic link", entry.path().display());
            } else if kind.is_file() {
                let meta = entry.metadata()?;
                out.push(Source {
                    path: entry.path(),
                    name,
                    size: meta.len(),
                    mtime: mtime(&meta),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for arg in args {
        let path =
            std::path::absolute(arg).with_context(|| format!("cannot find {}", arg.display()))?;
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", arg.display()))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{} has no UTF-8 file name", arg.display()))?
            .to_owned();
        if meta.is_dir() {
            walk(&path, &name, &mut out)?;
        } else if !meta.is_file() {
            bail!(
                "{} is neither a file nor a folder (a device, pipe or socket); nothing was sent",
                arg.display()
            );
        } else {
            out.push(Source {
                path,
                name,
                size: meta.len(),
                mtime: mtime(&meta),
            });
        }
    }
    if out.is_empty() {
        bail!("nothing to send: the folders hold no files (symbolic links are not sent)");
    }
    if out.len() > crate::transfer::MAX_FILES {
        bail!(
            "{} files: a transfer holds at most {}",
            out.len(),
            crate::transfer::MAX_FILES
        );
    }
    for s in &out {
        check_name(&s.name).map_err(|e| anyhow!("cannot send {}: {e}", s.path.display()))?;
    }
    // What every reader refuses: a name twice (letter case and Unicode
    // normalization aside) or a name that is also another's folder.
    crate::transfer::check_names(out.iter().map(|s| s.name.as_str()))
        .map_err(|e| anyhow!("cannot send these together: {e}; send them separately"))?;
    Ok(out)
}

/// A progress bar for `total` bytes on stderr, hidden when stderr is not a
/// terminal.
pub(crate) fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// True for failures worth another try: the network, and the server's
/// timeouts, rate limits and 5xx.
fn worth_retrying(e: &anyhow::Error) -> bool {
    match e.downcast_ref::<ApiFailure>() {
        Some(f) => f.status >= 500 || f.status == 408 || f.status == 429,
        None => e
            .chain()
            .any(|c| c.downcast_ref::<reqwest::Error>().is_some()),
    }
}

/// Runs `attempt` up to [`PIECE_TRIES`] times, waiting 1, 2, 4 … seconds
/// between tries of a failure [`worth_retrying`].
async fn with_retries<T, F, Fut>(bar: &ProgressBar, what: &str, mut attempt: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut wait = Duration::from_secs(1);
    for tries in 1.. {
        match attempt().await {
            Err(e) if tries < PIECE_TRIES && worth_retrying(&e) => {
                bar.suspend(|| {
                    eprintln!("{what} failed ({e:#}); trying again in {}s", wait.as_secs());
                });
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

/// Reads piece `piece` of `source`'s plaintext; an error if the file is
/// shorter than it was.
fn read_piece(source: &Source, piece: u64) -> anyhow::Result<Vec<u8>> {
    let start = piece * PIECE_SIZE as u64;
    let len = (source.size - start.min(source.size)).min(PIECE_SIZE as u64);
    let mut f = std::fs::File::open(&source.path)
        .with_context(|| format!("cannot open {}", source.path.display()))?;
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        bail!(
            "{} got shorter while it was being sent",
            source.path.display()
        );
    }
    Ok(buf)
}

fn encrypt(to: &age::x25519::Recipient, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))
        .context("encryption failed")?;
    let mut out = Vec::with_capacity(plaintext.len() + 2048);
    let mut w = encryptor.wrap_output(&mut out)?;
    w.write_all(plaintext)?;
    w.finish()?;
    Ok(out)
}

/// The largest ciphertext of a piece of `plaintext` bytes encrypted by this
/// client: age's header for one X25519 recipient is 168 bytes plus the
/// random GREASE stanza the crate adds (at most [`GREASE_ALLOWANCE`]), then
/// a nonce and a 16-byte tag per 64 KiB chunk.
fn piece_ciphertext_len(plaintext: u64) -> u64 {
    let chunks = plaintext.div_ceil(64 * 1024).max(1);
    168 + GREASE_ALLOWANCE + 16 + plaintext + 16 * chunks
}

/// A file's declared ciphertext size: the most its pieces can take.
fn declared_size(size: u64) -> u64 {
    let pieces = pieces_for(size);
    let full = piece_ciphertext_len(PIECE_SIZE as u64);
    let last = size - (pieces - 1) * PIECE_SIZE as u64;
    (pieces - 1) * full + piece_ciphertext_len(last)
}

/// `handoff send FILE... [--message TEXT] [--resume]`: prints the link.
pub(super) async fn send(
    server: &str,
    paths: &[PathBuf],
    message: Option<String>,
    expires: Duration,
    resume: bool,
) -> anyhow::Result<()> {
    let sources = collect_sources(paths)?;
    let state_path = send_state_path(server, &sources)?;
    let client = Client::new(server)?;
    let state = match (resume, std::fs::read(&state_path)) {
        (true, Ok(bytes)) => {
            let state: SendState = serde_json::from_slice(&bytes)
                .with_context(|| format!("the state file {} is damaged", state_path.display()))?;
            for (then, now) in state.files.iter().zip(&sources) {
                if then != now {
                    bail!(
                        "{} changed since the interrupted send; run without --resume to send it anew",
                        now.path.display()
                    );
                }
            }
            if state.files.len() != sources.len() {
                bail!("the files differ from the interrupted send's; run without --resume");
            }
            if message.is_some() && message != state.message {
                bail!(
                    "the interrupted send has another message, which is already encrypted with \
                     the list of files; resume without --message, or run without --resume to \
                     send anew"
                );
            }
            eprintln!(
                "Resuming: the link keeps the first run's message and expiry ({}).",
                state.expires_at
            );
            state
        }
        (resume, _) => {
            if resume {
                eprintln!("Nothing to resume for these files: starting a new transfer.");
            }
            start(&client, server, sources, message, expires).await?
        }
    };
    write_private(&state_path, &serde_json::to_vec(&state)?)?;
    upload(&client, &state).await?;
    let done = client
        .complete_transfer(&state.id, &state.upload_token)
        .await?;
    println!("{}#{}", done.url, state.identity);
    eprintln!("Expires: {}", done.expires_at);
    let _ = std::fs::remove_file(&state_path);
    Ok(())
}

/// Declares a new transfer of `sources` and yields its state.
async fn start(
    client: &Client,
    server: &str,
    sources: Vec<Source>,
    message: Option<String>,
    expires: Duration,
) -> anyhow::Result<SendState> {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let manifest = Manifest {
        v: MANIFEST_VERSION,
        message: message.clone(),
        files: sources
            .iter()
            .map(|s| ManifestFile {
                name: s.name.clone(),
                size: s.size,
                media_type: None,
                modified: Some(s.mtime),
            })
            .collect(),
    };
    let manifest = encrypt(&recipient, &serde_json::to_vec(&manifest)?)?;
    let files = sources
        .iter()
        .map(|s| -> anyhow::Result<TransferFile> {
            Ok(TransferFile {
                pieces: i64::try_from(pieces_for(s.size))?,
                size: i64::try_from(declared_size(s.size))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created = client
        .create_transfer(&CreateTransfer {
            manifest: STANDARD.encode(&manifest),
            files,
            expires_in: Some(i64::try_from(expires.as_secs()).unwrap_or(i64::MAX)),
            request: None,
        })
        .await?;
    Ok(SendState {
        server: server.to_owned(),
        id: created.id,
        url: created.url,
        upload_token: created.upload_token,
        identity: identity.to_string().expose_secret().to_owned(),
        expires_at: created.expires_at,
        files: sources,
        message,
    })
}

/// Sends every piece the server lacks, one at a time.
async fn upload(client: &Client, state: &SendState) -> anyhow::Result<()> {
    let identity: age::x25519::Identity = state
        .identity
        .parse()
        .map_err(|_| anyhow!("the state file's identity is damaged"))?;
    let held = client.upload_state(&state.id, &state.upload_token).await?;
    if held.complete {
        return Ok(());
    }
    let total: u64 = state.files.iter().map(|f| f.size).sum();
    let bar = progress(total, "Sending");
    let mut present_count = 0;
    for (f, source) in state.files.iter().enumerate() {
        let present = held
            .files
            .get(f)
            .map(|h| h.present.as_slice())
            .unwrap_or_default();
        for piece in 0..pieces_for(source.size) {
            let len = (source.size - piece * PIECE_SIZE as u64).min(PIECE_SIZE as u64);
            if present.contains(&i64::try_from(piece)?) {
                bar.inc(len);
                present_count += 1;
                continue;
            }
            let plaintext = read_piece(source, piece)?;
            let to = piece_identity(&identity, u32::try_from(f)?, u32::try_from(piece)?)
                .map_err(|e| anyhow!(e))?
                .to_public();
            let ciphertext = encrypt(&to, &plaintext)?;
            drop(plaintext);
            let what = format!("piece {piece} of {}", source.name);
            with_retries(&bar, &what, || {
                client.put_piece(&state.id, &state.upload_token, f, piece, ciphertext.clone())
            })
            .await?;
            bar.inc(len);
        }
    }
    bar.finish_and_clear();
    if present_count > 0 {
        eprintln!("Resumed: {present_count} piece(s) were already on the server.");
    }
    Ok(())
}

/// A file link, `{base}/f/{id}#AGE-SECRET-KEY-1...`.
struct FileLink {
    base: String,
    id: Id,
    identity: age::x25519::Identity,
}

/// True if `text` is a file transfer's link (its path has `/f/`).
pub(super) fn is_file_link(text: &str) -> bool {
    text.split('#').next().is_some_and(|u| u.contains("/f/"))
}

fn parse_link(text: &str) -> anyhow::Result<FileLink> {
    let text = text.trim();
    let (url, fragment) = text
        .split_once('#')
        .or_else(|| {
            let at = text.rfind("%23")?;
            Some((&text[..at], &text[at + 3..]))
        })
        .ok_or_else(|| anyhow!("the link has no key after '#'; copy the whole link"))?;
    let (base, id) = url
        .rsplit_once("/f/")
        .ok_or_else(|| anyhow!("this is not a handoff file link (no /f/ in it)"))?;
    let id =
        Id::parse(id.trim_end_matches('/')).ok_or_else(|| anyhow!("the link's id is damaged"))?;
    let fragment = SecretString::from(fragment.to_owned());
    let identity = fragment
        .expose_secret()
        .parse::<age::x25519::Identity>()
        .map_err(|_| anyhow!("the link's key is damaged; copy the whole link"))?;
    Ok(FileLink {
        base: base.to_owned(),
        id,
        identity,
    })
}

/// `e` in plain words when the server answered 404 for a transfer: the
/// files are gone (downloaded, expired, never completed) or the link is
/// mistyped; any other error as it is. Also the collector's `dir` target's.
pub(crate) fn explain_gone(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<ApiFailure>() {
        Some(f) if f.status == 404 => anyhow!(
            "these files are gone: they were already downloaded, the transfer expired or was \
             never completed, or the link is mistyped"
        ),
        _ => e,
    }
}

/// Where file `name` goes under `dir`, refusing a path through a symbolic
/// link (which could lead outside `dir`); parent folders are made (0700).
/// Also the collector's `dir` target's.
pub(crate) fn destination(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    check_name(name).map_err(|e| anyhow!("refusing these files: {e}"))?;
    let mut path = dir.to_path_buf();
    let segments: Vec<&str> = name.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        path.push(segment);
        let last = i + 1 == segments.len();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!(
                    "{} is a symbolic link; refusing to write through it",
                    path.display()
                )
            }
            Ok(m) if !last && !m.is_dir() => {
                bail!("{} is in the way of {name:?}", path.display())
            }
            Err(_) if !last => {
                let mut b = std::fs::DirBuilder::new();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::DirBuilderExt;
                    b.mode(0o700);
                }
                b.create(&path)
                    .with_context(|| format!("cannot make {}", path.display()))?;
            }
            Ok(_) | Err(_) => {}
        }
    }
    Ok(path)
}

/// The name a file has while it arrives: beside its final place, so the
/// last rename stays within one folder.
pub(crate) fn partial(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".handoff-part");
    path.with_file_name(name)
}

/// The manifest of a claim (`manifest`: base64 of its age file), decrypted
/// with the link's key and checked: its names and its sizes against the
/// `pieces` the server holds for each file.
fn open_manifest(link: &FileLink, manifest: &str, pieces: &[u64]) -> anyhow::Result<Manifest> {
    let manifest = STANDARD
        .decode(manifest)
        .context("the server sent damaged base64")?;
    let manifest = age::decrypt(&link.identity, &manifest)
        .map_err(|e| anyhow!("the manifest could not be decrypted with this link's key: {e}"))?;
    let manifest = Manifest::parse(&manifest, pieces.len())
        .map_err(|e| anyhow!("refusing these files: {e}"))?;
    for (f, file) in manifest.files.iter().enumerate() {
        if pieces_for(file.size) != pieces[f] {
            bail!(
                "refusing these files: the manifest says {:?} has {} bytes, which is not what \
                 its {} pieces hold",
                file.name,
                file.size,
                pieces[f]
            );
        }
    }
    Ok(manifest)
}

/// `handoff get LINK -o DIR [--force]` for a file link.
///
/// Before the claim uses the link up, the state file is made in `dir` (so
/// a folder that cannot be written to costs nothing) and the claim's list
/// of files is checked before anything else is written. The state file
/// records which partial files this download made and which files it put
/// in place: a later run continues only those, and refuses a partial file
/// or a file it finds in the way.
pub(super) async fn get(link: &str, dir: &Path, force: bool) -> anyhow::Result<()> {
    let link = parse_link(link)?;
    let client = Client::new(&link.base)?;
    if dir.exists() && !dir.is_dir() {
        bail!(
            "{} is not a folder; -o names the folder the files go into",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let state_path = dir.join(format!(".handoff-get-{}.json", link.id));
    // An empty state file is one made before a claim that did not happen.
    let kept = match std::fs::read(&state_path) {
        Ok(bytes) if !bytes.is_empty() => Some(
            serde_json::from_slice::<GetState>(&bytes)
                .with_context(|| format!("the state file {} is damaged", state_path.display()))?,
        ),
        _ => None,
    };
    let (mut state, manifest) = if let Some(state) = kept {
        eprintln!("Continuing the download claimed before.");
        let manifest = open_manifest(&link, &state.manifest, &state.pieces)?;
        (state, manifest)
    } else {
        // Not claimed yet: make sure it is there, and that this folder
        // takes the state file, before using it up.
        client
            .transfer_meta(link.id.as_str())
            .await
            .map_err(explain_gone)?;
        write_private(&state_path, b"").with_context(|| {
            format!(
                "cannot write into {}; the link is not used up",
                dir.display()
            )
        })?;
        let claimed = match client.claim_transfer(link.id.as_str()).await {
            Ok(claimed) => claimed,
            Err(e) => {
                let _ = std::fs::remove_file(&state_path);
                return Err(explain_gone(e));
            }
        };
        let pieces: Vec<u64> = claimed
            .files
            .iter()
            .map(|f| u64::try_from(f.pieces).unwrap_or(0))
            .collect();
        let manifest = match open_manifest(&link, &claimed.manifest, &pieces) {
            Ok(manifest) => manifest,
            Err(e) => {
                let _ = std::fs::remove_file(&state_path);
                bail!("{e:#}. The link is used up now; nothing was written.");
            }
        };
        let state = GetState {
            id: link.id.to_string(),
            download_token: claimed.download_token,
            manifest: claimed.manifest,
            grace_until: claimed.grace_until,
            pieces,
            started: Vec::new(),
            saved: Vec::new(),
        };
        write_private(&state_path, &serde_json::to_vec(&state)?)?;
        (state, manifest)
    };
    let mut targets = Vec::with_capacity(manifest.files.len());
    for (f, file) in manifest.files.iter().enumerate() {
        let path = destination(dir, &file.name)?;
        let saved = state.saved.contains(&f);
        if !saved && path.exists() && !force {
            bail!(
                "{} exists; use --force to replace it (the download can be run again until {})",
                path.display(),
                state.grace_until
            );
        }
        let part = partial(&path);
        if !saved && !state.started.contains(&f) && std::fs::symlink_metadata(&part).is_ok() {
            bail!(
                "{} is in the way: this download did not make it. Move it away and run again \
                 (until {})",
                part.display(),
                state.grace_until
            );
        }
        targets.push((path, saved));
    }
    let total: u64 = manifest.files.iter().map(|f| f.size).sum();
    let bar = progress(total, "Receiving");
    for (f, (file, (path, saved))) in manifest.files.iter().zip(&targets).enumerate() {
        if *saved {
            bar.inc(file.size);
            continue;
        }
        let continuing = state.started.contains(&f);
        if !continuing {
            state.started.push(f);
            write_private(&state_path, &serde_json::to_vec(&state)?)?;
        }
        let source = PieceSource {
            client: &client,
            id: &state.id,
            token: &state.download_token,
            identity: &link.identity,
        };
        if let Err(e) = download_file(&source, f, file, path, &bar, continuing).await {
            // The server hands out no piece any more: the grace is over (or
            // the pieces are gone), and the state file is of no use.
            if e.downcast_ref::<ApiFailure>()
                .is_some_and(|f| f.status == 404)
            {
                let _ = std::fs::remove_file(&state_path);
                bail!(
                    "the server no longer hands out these files: the time to finish this \
                     download (until {}) has passed. What arrived is in the *.handoff-part \
                     files in {}; ask the sender to send the files again",
                    state.grace_until,
                    dir.display()
                );
            }
            return Err(e);
        }
        state.saved.push(f);
        write_private(&state_path, &serde_json::to_vec(&state)?)?;
    }
    bar.finish_and_clear();
    client
        .finish_transfer(&state.id, &state.download_token)
        .await
        .or_else(|e| match e.downcast_ref::<ApiFailure>() {
            // The grace ended after the last piece: the files are here anyway.
            Some(f) if f.status == 404 => Ok(()),
            _ => Err(e),
        })?;
    let _ = std::fs::remove_file(&state_path);
    for ((path, _), file) in targets.iter().zip(&manifest.files) {
        println!("{} ({} bytes)", path.display(), file.size);
    }
    if let Some(message) = manifest.message.filter(|m| !m.is_empty()) {
        eprintln!("Message: {message}");
    }
    Ok(())
}

/// Where a file's pieces come from: a transfer, a download token (the
/// claimer's, or a files request's reader's) and the transfer's identity.
pub(crate) struct PieceSource<'a> {
    pub(crate) client: &'a Client,
    /// The transfer's id.
    pub(crate) id: &'a str,
    pub(crate) token: &'a str,
    pub(crate) identity: &'a age::x25519::Identity,
}

/// A new file at `path`, mode 0600, made by this process: whatever is
/// there first (an earlier file, or a symbolic link, which is removed, not
/// followed) goes, and the file is created exclusively, so nothing written
/// to it lands anywhere else. The state files and the partial files.
fn fresh_private_file(part: &Path) -> anyhow::Result<std::fs::File> {
    if std::fs::symlink_metadata(part).is_ok() {
        std::fs::remove_file(part).with_context(|| format!("cannot remove {}", part.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(part)
        .with_context(|| format!("cannot write {}", part.display()))
}

/// The partial file at `part` that an earlier run of this download made,
/// opened to go on: a plain file (not a link, not a folder), still the one
/// looked at when opened, and made the owner's alone (0600). A new one if
/// there is none.
fn continued_partial(part: &Path) -> anyhow::Result<std::fs::File> {
    let Ok(seen) = std::fs::symlink_metadata(part) else {
        return fresh_private_file(part);
    };
    if !seen.file_type().is_file() {
        bail!(
            "{} is not the partial file this download made (a link or a folder); move it away",
            part.display()
        );
    }
    let out = std::fs::OpenOptions::new()
        .write(true)
        .open(part)
        .with_context(|| format!("cannot write {}", part.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let opened = out.metadata()?;
        if (opened.dev(), opened.ino()) != (seen.dev(), seen.ino()) {
            bail!(
                "{} changed while it was opened; move it away",
                part.display()
            );
        }
        out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(out)
}

/// Fetches, decrypts and writes file `f` into its partial file (mode
/// 0600), then renames it to `path` when whole. With `continuing`, the
/// partial file an earlier run of the same download made is kept up to its
/// last whole piece; otherwise any file there is replaced. Also the
/// collector's `dir` target's (which never continues).
pub(crate) async fn download_file(
    source: &PieceSource<'_>,
    f: usize,
    file: &ManifestFile,
    path: &Path,
    bar: &ProgressBar,
    continuing: bool,
) -> anyhow::Result<()> {
    let (client, identity) = (source.client, source.identity);
    let part = partial(path);
    let mut out = if continuing {
        continued_partial(&part)?
    } else {
        fresh_private_file(&part)?
    };
    let had = out.metadata()?.len();
    // Whole pieces written before are kept; a piece cut short is fetched again.
    let first = (had / PIECE_SIZE as u64).min(pieces_for(file.size) - 1);
    let keep = first * PIECE_SIZE as u64;
    out.set_len(keep)?;
    out.seek(SeekFrom::Start(keep))?;
    bar.inc(keep);
    for piece in first..pieces_for(file.size) {
        let what = format!("piece {piece} of {}", file.name);
        // A 404 goes to the caller as it is: its download has a sentence for it.
        let ciphertext = with_retries(bar, &what, || {
            client.get_piece(source.id, source.token, f, piece)
        })
        .await?;
        let key = piece_identity(identity, u32::try_from(f)?, u32::try_from(piece)?)
            .map_err(|e| anyhow!(e))?;
        let plaintext = age::decrypt(&key, &ciphertext).map_err(|e| {
            anyhow!(
                "{what} does not decrypt with its place's key ({e}): the server sent a damaged \
                 piece or one from another place. {} was not written",
                path.display()
            )
        })?;
        let expected = (file.size - piece * PIECE_SIZE as u64).min(PIECE_SIZE as u64);
        if plaintext.len() as u64 != expected {
            bail!(
                "{what} holds {} bytes, not the {expected} its place needs",
                plaintext.len()
            );
        }
        out.write_all(&plaintext)?;
        bar.inc(expected);
    }
    out.sync_all()?;
    drop(out);
    std::fs::rename(&part, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The declared size bounds what the age crate writes (its GREASE
    /// stanza is random: many tries), and overshoots by no more than the
    /// allowance per piece.
    #[test]
    fn declared_sizes_bound_what_the_age_crate_writes() {
        let to = age::x25519::Identity::generate().to_public();
        for size in [
            0,
            1,
            65_536,
            65_537,
            PIECE_SIZE as u64,
            PIECE_SIZE as u64 + 1,
        ] {
            let pieces = pieces_for(size);
            let data = vec![3u8; usize::try_from(size).unwrap()];
            let tries = if size > 65_537 { 3 } else { 200 };
            for _ in 0..tries {
                let real: u64 = (0..pieces)
                    .map(|p| {
                        let from = usize::try_from(p).unwrap() * PIECE_SIZE;
                        let to_ = (from + PIECE_SIZE).min(data.len());
                        encrypt(&to, &data[from..to_]).unwrap().len() as u64
                    })
                    .sum();
                let declared = declared_size(size);
                assert!(real <= declared, "{size} bytes: {real} > {declared}");
                assert!(declared - real <= pieces * GREASE_ALLOWANCE, "{size} bytes");
            }
        }
    }

    #[test]
    fn file_links_parse() {
        let identity = age::x25519::Identity::generate();
        let key = identity.to_string();
        let id = Id::random();
        let text = format!("https://h.example/f/{id}#{}", key.expose_secret());
        assert!(is_file_link(&text));
        let link = parse_link(&text).unwrap();
        assert_eq!(link.base, "https://h.example");
        assert_eq!(link.id, id);
        assert!(!is_file_link(&format!("https://h.example/s/{id}#x")));
        assert!(parse_link(&format!("https://h.example/f/{id}")).is_err());
    }

    #[test]
    fn destinations_stay_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ok = destination(dir.path(), "a/b/c.txt").unwrap();
        assert_eq!(ok, dir.path().join("a/b/c.txt"));
        assert!(dir.path().join("a/b").is_dir());
        assert!(destination(dir.path(), "../x").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/tmp", dir.path().join("link")).unwrap();
            assert!(destination(dir.path(), "link/x").is_err());
        }
    }
}
