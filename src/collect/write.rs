//! The careful write every target's plan ends with: a temporary file in the
//! same directory, fsynced, with the original's mode and owner; a backup of
//! the original beside it (the newest [`KEEP_BACKUPS`] kept); a rename over
//! the original; and an fsync of the directory.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::ffi::OsStr;

use super::{Applied, FileChange, TargetError, read_optional};

pub(super) fn write_change(change: &FileChange, stamp: &str) -> Result<Applied, TargetError> {
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| TargetError::Write { path, source }
    };
    // Write through a symlink to the file it names, as an editor would.
    let path = match fs::canonicalize(&change.path) {
        Ok(real) if change.before.is_some() => real,
        _ => change.path.clone(),
    };
    let current = read_optional(&path)?;
    if current != change.before {
        return Err(TargetError::Changed { path });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(OsStr::to_string_lossy)
        .ok_or_else(|| TargetError::Refused(format!("{} names no file", path.display())))?
        .into_owned();

    let (mode, owner, backup) = match &change.before {
        Some(before) => {
            let meta = fs::metadata(&path).map_err(|source| TargetError::Read {
                path: path.clone(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o7777;
            let owner = Some((meta.uid(), meta.gid()));
            let backup = new_file(&dir, |n| {
                if n == 0 {
                    format!("{name}.handoff-{stamp}.bak")
                } else {
                    format!("{name}.handoff-{stamp}-{n}.bak")
                }
            })?;
            fill(&backup.1, before, mode, owner).map_err(werr(&backup.0))?;
            (mode, owner, Some(backup.0))
        }
        None => {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(werr(&dir))?;
            }
            (change.mode_if_new, change.owner_if_new, None)
        }
    };

    let (tmp, file) = new_file(&dir, |n| {
        format!(".{name}.handoff-{}-{n}.tmp", std::process::id())
    })?;
    let written = fill(&file, &change.after, mode, owner)
        .and_then(|()| fs::rename(&tmp, &path))
        .and_then(|()| fs::File::open(&dir)?.sync_all());
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(TargetError::Write { path, source });
    }
    prune_backups(&dir, &name);
    Ok(Applied {
        path: change.path.clone(),
        backup,
    })
}

/// `20250131T120000Z`: backups sort by time and never contain a colon.
pub(super) fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Backups kept per file: older ones go, so that copies of replaced secrets
/// do not pile up beside the live one.
pub(crate) const KEEP_BACKUPS: usize = 5;

/// Deletes all but the newest [`KEEP_BACKUPS`] backups of `name` in `dir`.
/// Best effort: a backup that cannot be listed or removed stays.
pub(super) fn prune_backups(dir: &Path, name: &str) {
    let prefix = format!("{name}.handoff-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(".bak")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    // Newest first: by modification time, then by name (the name carries the time).
    backups.sort_by(|a, b| b.cmp(a));
    for (_, old) in backups.into_iter().skip(KEEP_BACKUPS) {
        let _ = fs::remove_file(old);
    }
}

/// Creates a file that did not exist, trying the names `name(0)`, `name(1)`...
pub(super) fn new_file(
    dir: &Path,
    name: impl Fn(u32) -> String,
) -> Result<(PathBuf, fs::File), TargetError> {
    let mut n = 0;
    loop {
        let path = dir.join(name(n));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(source) => return Err(TargetError::Write { path, source }),
        }
    }
}

/// Writes the content, gives the file its owner and then its mode (a chown
/// clears set-id bits), and fsyncs it.
pub(super) fn fill(
    file: &fs::File,
    content: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let mut w = file;
    w.write_all(content)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::*;
    use crate::collect::*;

    #[test]
    fn only_the_newest_backups_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"v0").unwrap();
        let cred = credential("o365-management", "commercial");
        for v in 1..=8 {
            let change = FileChange {
                path: path.clone(),
                before: Some(format!("v{}", v - 1).into_bytes()),
                after: format!("v{v}").into_bytes(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: true,
            };
            Plan::new(vec![change], vec![], &cred).apply().unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), b"v8");
        let mut kept: Vec<Vec<u8>> = backups(dir.path())
            .iter()
            .map(|b| fs::read(b).unwrap())
            .collect();
        kept.sort();
        // The five newest earlier versions, v3 to v7; v0 to v2 are gone.
        assert_eq!(
            kept,
            [b"v3", b"v4", b"v5", b"v6", b"v7"].map(|b| b.to_vec())
        );
    }

    #[test]
    fn apply_keeps_mode_and_owner_and_a_backup_and_skips_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf");
        fs::write(&path, b"old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&path, Some(1000), Some(1001)).unwrap();
        let change = FileChange {
            path: path.clone(),
            before: Some(b"old\n".to_vec()),
            after: b"new\n".to_vec(),
            mode_if_new: 0o600,
            owner_if_new: None,
            secret: false,
        };
        let cred = credential("o365-management", "commercial");
        let plan = Plan::new(vec![change.clone()], vec![], &cred);
        let applied = plan.apply().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        assert_eq!(mode(&path), 0o640);
        let backup = applied[0].backup.clone().unwrap();
        assert_eq!(fs::read(&backup).unwrap(), b"old\n");
        assert_eq!(mode(&backup), 0o640);
        assert_eq!(fs::metadata(&backup).unwrap().uid(), 1000);
        // The same plan again: the file no longer holds `before`.
        assert!(matches!(plan.apply(), Err(TargetError::Changed { .. })));
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        // A plan that changes nothing writes nothing.
        let same = FileChange {
            before: Some(b"new\n".to_vec()),
            ..change
        };
        let noop = Plan::new(vec![same], vec![], &cred);
        assert!(noop.is_noop());
        assert!(noop.apply().unwrap().is_empty());
        assert_eq!(backups(dir.path()).len(), 1);
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_new_file_gets_its_mode_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/secret");
        let cred = credential("o365-management", "commercial");
        let plan = Plan::new(
            vec![FileChange {
                path: path.clone(),
                before: None,
                after: SECRET.as_bytes().to_vec(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: true,
            }],
            vec![],
            &cred,
        );
        let diff = plan.diff();
        assert!(!diff.contains(SECRET), "{diff}");
        assert!(diff.contains("--- /dev/null"), "{diff}");
        let applied = plan.apply().unwrap();
        assert_eq!(applied[0].backup, None);
        assert_eq!(fs::read(&path).unwrap(), SECRET.as_bytes());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
