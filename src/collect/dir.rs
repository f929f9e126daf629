//! `dir`: the files of a files request, written into a folder of their own,
//! `<output-dir>/<customer-slug>-<request id>/<name>` (the manifest's names,
//! subfolders kept), each file mode 0600 and each folder made here 0700.
//!
//! Nothing is planned from a credential: a files request's answer names a
//! transfer and holds its key, so the collector hands [`import_files`] the
//! decrypted manifest and the lease's download token instead of calling
//! [`plan`]. Names the manifest gives are checked before anything is
//! written ([`Manifest::parse`] with [`crate::transfer::check_name`] and
//! [`crate::transfer::check_names`]: the one set of rules both readers
//! apply), and a path through a symbolic link is refused. Each file
//! arrives as `<name>.handoff-part`, made afresh (0600, exclusively, never
//! through a link), and is renamed into place when whole, with `handoff
//! get`'s code.
//!
//! An existing file is never replaced. One of another size is refused
//! before a byte is fetched; one of the same size is compared with what
//! the server holds (fetched to its `.handoff-part`, then SHA-256 of both):
//! the same bytes count as already there, which makes a second import of
//! the same answer (after an acknowledgement that failed) a no-op, and
//! other bytes are refused. Those comparisons come first, so a refusal
//! leaves no new file behind. A dry run fetches nothing: it lists what
//! would be written and what is in the way.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};

use super::files::customer_slug;
use super::{Import, Plan, Reads, TargetArgs, TargetError};
use crate::cli::files::{
    PieceSource, destination, download_file, explain_gone, partial, progress,
};
use crate::transfer::{Manifest, ManifestFile};

/// What it takes from a template's `[collect]` section: nothing.
pub(super) const READS: Reads = Reads::Nothing;

/// It needs no option beyond `--output-dir`.
#[allow(
    clippy::unnecessary_wraps,
    reason = "the registry calls every target's check_args alike"
)]
pub(super) fn check_args(_args: &TargetArgs, _dry_run: bool) -> Result<(), String> {
    Ok(())
}

/// A credential has no files to write: a template that pairs `dir` with
/// credentials is refused when it is loaded, and this is the same refusal.
pub(super) fn plan(_args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    Err(TargetError::Refused(format!(
        "the dir target writes the files of a files request; the template {:?} asks for credentials",
        import.integration.id
    )))
}

/// One files request's answer, decrypted by the collector.
pub(crate) struct FilesImport<'a> {
    pub(crate) request_id: &'a str,
    /// The request's customer label: the folder's name starts with it.
    pub(crate) customer: &'a str,
    pub(crate) manifest: &'a Manifest,
    /// Where the pieces come from (the lease's token, the transfer's key).
    pub(crate) source: PieceSource<'a>,
}

/// What [`import_files`] did.
pub(crate) struct Imported {
    /// Some file was written (not all were already there).
    pub(crate) changed: bool,
    /// A sentence for the operator: how many files, where.
    pub(crate) note: String,
    /// With `dry_run`: what a real run would write, one line per file.
    pub(crate) listing: Option<String>,
}

/// The request's folder under `--output-dir`.
fn folder(args: &TargetArgs, customer: &str, request_id: &str) -> PathBuf {
    args.output_dir
        .join(format!("{}-{request_id}", customer_slug(customer)))
}

/// Where a file stands before the import.
#[derive(Debug)]
enum Found {
    /// Nothing there yet.
    New,
    /// A file of the same size: compared once fetched.
    SameSize,
}

/// Where `name` goes under `folder`, and what is there now, without
/// making anything: a symbolic link on the way, something that is not a
/// folder where one is needed, or a file of another size than the
/// manifest's, is refused.
fn locate(folder: &Path, file: &ManifestFile) -> anyhow::Result<(PathBuf, Found)> {
    let mut path = folder.to_path_buf();
    let segments: Vec<&str> = file.name.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        path.push(segment);
        let last = i + 1 == segments.len();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((folder.join(&file.name), Found::New));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.file_type().is_symlink() {
            bail!(
                "{} is a symbolic link; refusing to write through it",
                path.display()
            );
        }
        if !last && !meta.is_dir() {
            bail!(
                "{} is in the way of {:?}; move it away",
                path.display(),
                file.name
            );
        }
        if last {
            if !meta.is_file() || meta.len() != file.size {
                bail!(
                    "{} exists and is not this answer's file ({} bytes); move it away and import again",
                    path.display(),
                    file.size
                );
            }
            return Ok((path, Found::SameSize));
        }
    }
    Ok((path, Found::New))
}

fn sha256_of(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
    }
}

/// Makes `dir` (mode 0700) if missing; refuses a symbolic link there.
fn make_folder(dir: &Path) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "{} is a symbolic link; refusing to write through it",
            dir.display()
        );
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("cannot make {}", dir.display()))
}

/// Writes (or with `dry_run`, lists) the files of one files request's
/// answer under `--output-dir`; see the module's documentation.
///
/// # Errors
/// A name or a file in the way (refused before anything is written), the
/// server or the disk failing; the message says which file and what to do.
pub(crate) async fn import_files(
    args: &TargetArgs,
    import: &FilesImport<'_>,
    dry_run: bool,
) -> anyhow::Result<Imported> {
    let folder = folder(args, import.customer, import.request_id);
    let mut plan = Vec::with_capacity(import.manifest.files.len());
    for (f, file) in import.manifest.files.iter().enumerate() {
        let (path, found) = locate(&folder, file)?;
        plan.push((f, file, path, found));
    }
    let total: u64 = import.manifest.files.iter().map(|f| f.size).sum();
    let count = import.manifest.files.len();
    let note = format!(
        "{count} file{} ({total} bytes) in {}",
        if count == 1 { "" } else { "s" },
        folder.display()
    );
    if dry_run {
        let mut listing = String::new();
        for (_, file, path, found) in &plan {
            listing.push_str(&match found {
                Found::New => format!("+ {} ({} bytes, mode 0600)\n", path.display(), file.size),
                Found::SameSize => format!(
                    "= {} (exists with the same size: compared with the server's when imported; other bytes are refused)\n",
                    path.display()
                ),
            });
        }
        return Ok(Imported {
            changed: plan.iter().any(|(.., found)| matches!(found, Found::New)),
            note,
            listing: Some(listing),
        });
    }
    make_folder(&folder)?;
    let bar = progress(total, "Receiving");
    // The files already there first: a refusal then leaves nothing new.
    let mut changed = false;
    for (f, file, path, found) in &plan {
        if !matches!(found, Found::SameSize) {
            continue;
        }
        let fetched = partial(path);
        download_file(&import.source, *f, file, &fetched, &bar, false)
            .await
            .map_err(explain_gone)?;
        let same = sha256_of(&fetched)? == sha256_of(path)?;
        std::fs::remove_file(&fetched)
            .with_context(|| format!("cannot remove {}", fetched.display()))?;
        if !same {
            bail!(
                "{} exists with other bytes than this answer's file; move it away and import again",
                path.display()
            );
        }
    }
    for (f, file, _, found) in &plan {
        if matches!(found, Found::SameSize) {
            continue;
        }
        let path = destination(&folder, &file.name).map_err(|e| anyhow!("{e:#}"))?;
        if path.exists() {
            bail!("{} appeared while the files were written", path.display());
        }
        download_file(&import.source, *f, file, &path, &bar, false)
            .await
            .map_err(explain_gone)?;
        changed = true;
    }
    bar.finish_and_clear();
    Ok(Imported {
        changed,
        note,
        listing: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> ManifestFile {
        ManifestFile {
            name: name.to_owned(),
            size,
            media_type: None,
            modified: None,
        }
    }

    #[test]
    fn a_request_has_a_folder_of_its_own() {
        let args = TargetArgs::under(Path::new("/srv"));
        assert_eq!(
            folder(&args, "Contoso Ltd", "AbC_12-x"),
            Path::new("/srv/credentials/contoso-ltd-AbC_12-x")
        );
    }

    #[test]
    fn what_is_in_the_way_is_refused_before_anything_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("req");
        assert!(matches!(
            locate(&root, &file("a/b.txt", 3)).unwrap().1,
            Found::New
        ));
        assert!(!root.exists(), "locating makes nothing");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/b.txt"), b"abc").unwrap();
        assert!(matches!(
            locate(&root, &file("a/b.txt", 3)).unwrap().1,
            Found::SameSize
        ));
        let err = locate(&root, &file("a/b.txt", 4)).unwrap_err().to_string();
        assert!(err.contains("exists and is not this answer's file"), "{err}");
        let err = locate(&root, &file("a/b.txt/c", 1)).unwrap_err().to_string();
        assert!(err.contains("is in the way"), "{err}");
        std::os::unix::fs::symlink("/tmp", root.join("link")).unwrap();
        let err = locate(&root, &file("link/x", 1)).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
