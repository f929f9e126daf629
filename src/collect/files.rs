//! Reading the files a target changes, and the per-customer files of the
//! `env` and `json` targets: one file per customer label, refused when
//! another tenant's credentials are already in it or when other users can
//! read it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{FileChange, Import, Plan, TargetArgs, TargetError};

/// The plan for targets that keep one 0600 file per customer
/// (`<output-dir>/<customer-slug>.<ext>`). `render` gets the file's current
/// text (`None` for a new file) and gives its new text, keeping whatever in
/// it is not about the credential; it also gets the file's path, for errors.
pub(super) fn customer_file(
    args: &TargetArgs,
    import: &Import,
    ext: &str,
    render: impl FnOnce(&Path, Option<&str>) -> Result<String, TargetError>,
) -> Result<Plan, TargetError> {
    let path = args
        .output_dir
        .join(format!("{}.{ext}", customer_slug(import.customer)));
    let before = read_text(&path)?;
    // Labels such as "ACME" and "Acme" share a file name: never let one
    // customer's import overwrite another's credentials.
    if let Some(existing) = &before
        && !existing.contains(import.credential.tenant_id.as_str())
    {
        return Err(TargetError::Refused(format!(
            "{} already holds another tenant's credentials: another customer whose label gives \
             the same file name, or this customer's previous tenant. Move that file away (or \
             rename one customer's label) and import again",
            path.display()
        )));
    }
    if before.is_some() {
        refuse_if_others_can_access(&path)?;
    }
    let after = render(&path, before.as_deref())?;
    let change = FileChange {
        before: before.map(String::into_bytes),
        path,
        after: after.into_bytes(),
        mode_if_new: 0o600,
        owner_if_new: None,
        secret: false,
    };
    Ok(Plan::new(vec![change], Vec::new(), import.credential))
}

/// Refuses to write a secret into an existing file that anyone but its
/// owner can write or that users outside its group can read (0640 at most):
/// the write keeps the file's mode, and its backup gets the same mode.
pub(super) fn refuse_if_others_can_access(path: &Path) -> Result<(), TargetError> {
    let mode = fs::metadata(path)
        .map_err(|source| TargetError::Read {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o037 != 0 {
        return Err(TargetError::Refused(format!(
            "{} would hold a client secret but other users can read or write it (mode {mode:04o}); \
             run chmod 600 {} (or 640 if a group must read it) and import again",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// The file's bytes, or `None` if it does not exist.
pub(super) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TargetError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TargetError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The file as text; a file that is not UTF-8 is refused as malformed.
pub(super) fn read_text(path: &Path) -> Result<Option<String>, TargetError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| TargetError::malformed(path, format!("not UTF-8 text ({e})"))),
    }
}

/// A customer label as a file name: lower-case letters, digits and `-`.
pub(crate) fn customer_slug(customer: &str) -> String {
    let mut slug = String::new();
    for c in customer.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(64).collect();
    let slug = slug.trim_end_matches('-');
    if !slug.is_empty() {
        return slug.to_owned();
    }
    // A label in another script ("株式会社…") keeps nothing above; a short
    // hash of it keeps two such customers in two files.
    if customer.chars().any(char::is_alphanumeric) {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(customer.trim().as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        return format!("customer-{hex}");
    }
    "customer".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::*;
    use crate::collect::*;

    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(customer_slug("Contoso Ltd."), "contoso-ltd");
        assert_eq!(customer_slug("  ../../etc/passwd"), "etc-passwd");
        assert_eq!(customer_slug("Café GmbH & Co"), "caf-gmbh-co");
        assert_eq!(customer_slug("???"), "customer");
        let (a, b) = (customer_slug("株式会社"), customer_slug("日本商事"));
        assert!(
            a.starts_with("customer-") && a.len() == "customer-".len() + 8,
            "{a}"
        );
        assert_ne!(a, b, "labels in another script get files of their own");
        assert_eq!(customer_slug(" 株式会社 "), a);
    }

    #[test]
    fn customers_whose_labels_share_a_file_name_do_not_overwrite_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let integ = integration("identity-protection");
        let first = credential("identity-protection", "commercial");
        let mut second = first.clone();
        second.tenant_id = "11111111-2222-4333-8444-555555555555".to_owned();
        for kind in [Target::Env, Target::Json] {
            let mut a = import(&first, &integ);
            a.customer = "ACME";
            plan(kind, &args, &a).unwrap().apply().unwrap();
            let path = args.output_dir.join(format!("acme.{}", kind.as_str()));
            let written = fs::read(&path).unwrap();
            let mut b = import(&second, &integ);
            b.customer = "Acme";
            let err = plan(kind, &args, &b).unwrap_err().to_string();
            assert!(err.contains("another tenant"), "{err}");
            assert_eq!(fs::read(&path).unwrap(), written, "untouched");
            // The same customer again is fine (and changes nothing).
            assert!(plan(kind, &args, &a).unwrap().is_noop());
        }
    }
}
