//! `filebeat-o365`: one tenant's place in Filebeat's `modules.d/o365.yml`.
//!
//! The module file is a YAML list of `- module: o365` entries; each entry's
//! `audit:` fileset names one application ID (`var.application_id`), one or
//! more tenants (`var.tenants`, a list of `id`/`name` items) and one client
//! secret (`var.client_secret`), which all its tenants share. An import
//! changes only what its credential is about, and decides which entry that
//! is by tenant first:
//!
//! - **The tenant has an entry of its own** (its only tenant): that entry is
//!   edited in place. Same application ID: rotation, so at most the secret
//!   reference changes (the value lives outside the file). Another
//!   application ID: the customer made a new app registration, so
//!   `var.application_id` changes too. The cloud's `var.api` endpoints are
//!   set where they differ. Nothing else in the entry changes: `enabled`,
//!   `var.content_type`, other `var.api` settings, `input:` overrides,
//!   other filesets and comments stay byte for byte.
//! - **The tenant shares an entry** with other tenants (one multi-tenant
//!   app): those tenants share its `var.client_secret`, so writing this
//!   tenant's secret there would change theirs. The tenant's list item
//!   (its `- id:`/`name:` lines and the comment lines directly above them)
//!   is taken out of that entry, and the entry's `audit:` settings are
//!   copied into a new entry for this tenant alone, with its own secret
//!   reference (and application ID and endpoints, if they differ): its poll
//!   interval, content types and overrides stay what they were.
//! - **The tenant is in no entry**: Filebeat's shipped sample entry (an
//!   application ID and tenants that are placeholders, not GUIDs or
//!   `${...}` references) is filled in and enabled, its comments kept;
//!   otherwise a new entry is appended. An entry for the same application
//!   ID with other tenants (a multi-tenant app) is left alone: matching on
//!   the application ID alone would take their place.
//!
//! A client secret belongs to the app registration, not to a tenant: where
//! other entries name the same application ID under another key, a note
//! says that they still use the old secret and stop when it is revoked.
//!
//! The text is spliced line by line, never re-serialised. Before anything is
//! written, the result is parsed again and compared with the input: every
//! entry the import does not touch must read back identical, and the edited
//! ones must hold exactly the intended values. An entry written in a form
//! the splicer does not handle (flow style, settings nested under `var:`,
//! YAML anchors, aliases and merge keys) is refused with a sentence saying
//! how to make the change by hand.
//!
//! The secret never goes into the module file: it says `${O365_SECRET_<TENANT>}`,
//! and the value goes to the env file Filebeat's service reads. Filebeat
//! resolves a `${KEY}` from its keystore before its environment, so a key of
//! the same name in the keystore would hide every value written to the env
//! file: where a keystore exists, a note says so and how to remove the key.

use std::fs;
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{
    FileChange, Import, Plan, TargetArgs, TargetError, env_lookup, env_value, read_text,
    refuse_if_others_can_access, set_env_lines,
};
use crate::cloud::Cloud;
use crate::credential::is_guid;

/// The commercial cloud's `var.api` endpoints: the module's defaults
/// (Filebeat's o365 module documentation, "Advanced configuration options").
const COMMERCIAL_ENDPOINTS: (&str, &str) = (
    Cloud::Commercial.login_url(),
    match Cloud::Commercial.management_url() {
        Some(url) => url,
        None => panic!("the commercial cloud has a Management API host"),
    },
);

/// `var.api`'s `authentication_endpoint` and `resource` for a cloud, as the
/// module's own sample writes them; `None` for commercial, which needs none.
fn api_endpoints(cloud: Cloud) -> Result<Option<(&'static str, &'static str)>, TargetError> {
    match (cloud, cloud.management_url()) {
        (Cloud::Commercial, _) => Ok(None),
        (Cloud::Gcc | Cloud::GccHigh | Cloud::Dod, Some(resource)) => {
            Ok(Some((cloud.login_url(), resource)))
        }
        (Cloud::China, _) | (_, None) => Err(TargetError::Refused(
            "handoff does not know the Office 365 Management API's address in the China cloud, so it will not guess a var.api for Filebeat; collect this tenant with the env or json target".to_owned(),
        )),
    }
}

/// The name of the `${KEY}` holding a tenant's secret:
/// `O365_SECRET_` and the tenant ID in upper case with `-` as `_`.
pub(crate) fn secret_key(tenant_id: &str) -> String {
    let t: String = tenant_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("O365_SECRET_{t}")
}

/// A double-quoted YAML scalar.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What one import is about, in the terms of the module file.
struct Job<'a> {
    /// The tenant ID, lower case.
    tenant: String,
    /// The application (client) ID, as the credential gives it.
    app: &'a str,
    /// `O365_SECRET_<TENANT>`, and the `${...}` that refers to it.
    key: String,
    reference: String,
    /// The client secret's value: only ever compared with what an env file
    /// already holds, never written into the module file or a note.
    secret: &'a str,
    /// The tenant's `name:` in a list item handoff writes: the customer
    /// label, without the characters Filebeat's pipeline cannot carry (its
    /// input template puts the name between double quotes unescaped). The
    /// module's pipeline makes it, in lower case, the `host.name` of the
    /// tenant's events (`pipeline.js`, `setHostName`); Filebeat's docs ask
    /// for the tenant's domain there, which a credential does not carry.
    label: String,
    cloud: Cloud,
    endpoints: Option<(&'static str, &'static str)>,
    /// What the template asks for (`var.content_type` of a new entry).
    content_types: &'a [String],
    integration: &'a str,
}

impl Job<'_> {
    /// The `var.api` endpoints to set in an existing entry: the cloud's,
    /// where the entry names others; for commercial only where it names any
    /// (the module's defaults are commercial).
    fn api_ops(&self, entry: &Value) -> Vec<(&'static str, &'static str)> {
        let (login, resource) = self.endpoints.unwrap_or(COMMERCIAL_ENDPOINTS);
        let mut out = Vec::new();
        for (name, want) in [("authentication_endpoint", login), ("resource", resource)] {
            let have = get(entry, &["audit", "var", "api", name]);
            let same = have.and_then(Value::as_str).is_some_and(|h| {
                h.trim_end_matches('/')
                    .eq_ignore_ascii_case(want.trim_end_matches('/'))
            });
            if !same && (have.is_some() || self.endpoints.is_some()) {
                out.push((name, want));
            }
        }
        out
    }

    fn is_app(&self, entry: &Value) -> bool {
        app_id(entry).is_some_and(|a| a.eq_ignore_ascii_case(self.app))
    }
}

/// The module file's change for one credential (see the module's
/// documentation), and the env file's if `--filebeat-env-file` is given.
/// What it takes from a template's `[collect]` section.
pub(super) const READS: super::Reads = super::Reads::ContentTypes;

/// Acknowledging deletes the sealed copy: the secret must land somewhere
/// first, so a real run needs the env file.
pub(super) fn check_args(args: &TargetArgs, dry_run: bool) -> Result<(), String> {
    if args.filebeat_env_file.is_none() && !dry_run {
        return Err("--target filebeat-o365 needs --filebeat-env-file: without it the client secret would be \
             written nowhere before the sealed copy is deleted (use --dry-run to preview)"
            .to_owned());
    }
    Ok(())
}

pub(super) fn plan(args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    let cred = import.credential;
    let endpoints = api_endpoints(cred.cloud)?;
    if !is_guid(&cred.tenant_id) {
        return Err(TargetError::Refused(format!(
            "the tenant ID {:?} is not a GUID; the Office 365 Management API needs the tenant's GUID, not its domain name",
            cred.tenant_id
        )));
    }
    let tenant = cred.tenant_id.to_ascii_lowercase();
    let key = secret_key(&tenant);
    let job = Job {
        reference: format!("${{{key}}}"),
        key,
        tenant,
        app: &cred.client_id,
        secret: &cred.client_secret,
        label: import
            .customer
            .chars()
            .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
            .collect::<String>()
            .trim()
            .to_owned(),
        cloud: cred.cloud,
        endpoints,
        content_types: &import.integration.collect.content_types,
        integration: &import.integration.id,
    };

    let path = &args.filebeat_module;
    let existing = read_text(path)?;
    let env = match &args.filebeat_env_file {
        Some(p) => Some(EnvFile {
            path: p,
            text: read_text(p)?,
        }),
        None => None,
    };
    let (after, mut notes) = module_text(
        path,
        existing.as_deref().unwrap_or_default(),
        &job,
        env.as_ref(),
    )?;

    let mut changes = Vec::new();
    let key = &job.key;
    let keystores = keystore_candidates(path);
    let found: Vec<&PathBuf> = keystores.iter().filter(|k| k.is_file()).collect();
    match &env {
        Some(env) => {
            changes.push(env_change(env, key, &cred.client_secret)?);
            let looked = if found.is_empty() {
                format!(
                    "; handoff found no Filebeat keystore, which Filebeat would read first (it looked for {})",
                    or_list(&keystores)
                )
            } else {
                String::new()
            };
            notes.push(format!(
                "the client secret is in {} as {key}; Filebeat must have it in its environment (for example EnvironmentFile={} in a systemd drop-in for filebeat.service){looked}",
                env.path.display(),
                env.path.display()
            ));
        }
        None => notes.push(format!(
            "without --filebeat-env-file the client secret is written nowhere, so `handoff collect` runs this target only with it (or as a dry run): it writes {key}=<the secret> to that file, for Filebeat's environment. Do not add {key} to Filebeat's keystore instead: Filebeat resolves ${{{key}}} from its keystore before its environment, so a keystore copy would hide every later secret written to the env file"
        )),
    }
    let env_shown = env.as_ref().map_or_else(
        || "the env file".to_owned(),
        |e| e.path.display().to_string(),
    );
    for keystore in found {
        notes.push(format!(
            "Filebeat's keystore {} exists, and Filebeat resolves ${{{key}}} from its keystore before its environment: if the keystore holds {key} (`filebeat keystore list` shows its keys), Filebeat keeps that value and never reads the one in {env_shown}, so remove it with `filebeat keystore remove {key}` (run as Filebeat's user) and restart Filebeat",
            keystore.display()
        ));
    }

    let (mode_if_new, owner_if_new) = match &existing {
        Some(_) => {
            if let Ok(meta) = fs::metadata(path)
                && meta.permissions().mode() & 0o022 != 0
            {
                notes.push(format!(
                    "Filebeat refuses {} while its group or other users can write it (mode {:04o}): run chmod go-w {}",
                    path.display(),
                    meta.permissions().mode() & 0o7777,
                    path.display()
                ));
            }
            (NEW_MODULE_MODE, None)
        }
        None => {
            let (mode, owner, like) = new_module_owner(path);
            notes.push(match (owner, like) {
                (Some((uid, gid)), Some(like)) => format!(
                    "{} is created with owner {uid}:{gid} and mode {mode:04o}, like {} (Filebeat refuses a module file not owned by root or its own user, or writable by others)",
                    path.display(),
                    like.display()
                ),
                _ => format!(
                    "{} is created with mode {mode:04o} and handoff's own user as its owner, as there is no other module file beside it to copy; Filebeat refuses a module file not owned by root or its own user",
                    path.display()
                ),
            });
            (mode, owner)
        }
    };
    let module_change = FileChange {
        path: path.clone(),
        before: existing.map(String::into_bytes),
        after: after.into_bytes(),
        mode_if_new,
        owner_if_new,
        secret: false,
    };
    if !(module_change.is_noop() && changes.iter().all(FileChange::is_noop)) {
        notes.push("restart Filebeat (systemctl restart filebeat) to load the change".to_owned());
    }
    changes.push(module_change);
    Ok(Plan::new(changes, notes, cred))
}

/// The mode of a module file handoff creates when it has no sibling to
/// copy: what Filebeat's packages give their configuration files (root,
/// 0644; Beats documentation, "Config file ownership and permissions").
/// The file holds no secret, only a `${KEY}` reference.
const NEW_MODULE_MODE: u32 = 0o644;

/// The mode and owner a new module file gets: those of another module file
/// in its directory (the module's own `<name>.disabled` sample first, then
/// the enabled `*.yml`, then the `*.yml.disabled`, each by name), since
/// Filebeat loads `modules.d/*.yml` only if each is owned by root or the
/// beat's user and writable by no one else (Beats documentation, "Config
/// file ownership and permissions"). Write bits for group and others are
/// never copied. Also returns the file copied, if any.
fn new_module_owner(path: &Path) -> (u32, Option<(u32, u32)>, Option<PathBuf>) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut enabled = Vec::new();
    let mut disabled = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n == name || !entry.path().is_file() {
                continue;
            }
            if n.ends_with(".yml") {
                enabled.push(n);
            } else if n.ends_with(".yml.disabled") {
                disabled.push(n);
            }
        }
    }
    enabled.sort();
    disabled.sort();
    let sample = format!("{name}.disabled");
    let own_sample = disabled.iter().position(|n| *n == sample);
    let pick = own_sample
        .map(|i| disabled.remove(i))
        .into_iter()
        .chain(enabled)
        .chain(disabled)
        .find_map(|n| {
            let p = dir.join(&n);
            fs::metadata(&p).ok().map(|m| (m, p))
        });
    match pick {
        Some((meta, like)) => (
            meta.permissions().mode() & 0o644,
            Some((meta.uid(), meta.gid())),
            Some(like),
        ),
        None => (NEW_MODULE_MODE, None, None),
    }
}

/// The env file `--filebeat-env-file` names, as it is now.
struct EnvFile<'p> {
    path: &'p Path,
    /// `None` if it does not exist yet.
    text: Option<String>,
}

impl EnvFile<'_> {
    fn holds(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    /// The value the file's last line for `key` sets (a shell takes the
    /// last), unquoted.
    fn value(&self, key: &str) -> Option<&str> {
        env_lookup(self.text.as_deref()?, key)
    }
}

/// The `KEY=value` file's new content: the key's line set in place (later
/// duplicates removed), or added at the end; an existing file others can
/// read is refused.
fn env_change(env: &EnvFile, key: &str, secret: &str) -> Result<FileChange, TargetError> {
    let value = env_value(key, secret)?;
    if env.text.is_some() {
        refuse_if_others_can_access(env.path)?;
    }
    let text = set_env_lines(env.text.as_deref().unwrap_or_default(), &[(key, Some(value))]);
    Ok(FileChange {
        path: env.path.to_owned(),
        before: env.text.clone().map(String::into_bytes),
        after: text.into_bytes(),
        mode_if_new: 0o600,
        owner_if_new: None,
        secret: false,
    })
}

/// The name of Filebeat's keystore file in its data directory.
const KEYSTORE: &str = "filebeat.keystore";

/// Where Filebeat keeps its keystore, as far as the module file's place
/// tells: `keystore.path` if `filebeat.yml` sets one, else
/// `${path.data}/filebeat.keystore` (libbeat's `LoadKeystore`), with the
/// data directory set by `path.data` in `filebeat.yml`, by the packages'
/// `-path.data /var/lib/filebeat` when the configuration is in
/// `/etc/filebeat` (their systemd unit and `/usr/bin/filebeat`), or else
/// `data/` under the configuration directory (the tar.gz and Docker
/// layouts, where `path.data` defaults to `${path.home}/data` and
/// `modules.d` is under `${path.home}`). The configuration directory is
/// the one holding `modules.d`.
fn keystore_candidates(module: &Path) -> Vec<PathBuf> {
    let dir = match module.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let config = match dir.parent() {
        Some(p) if dir.file_name() == Some(std::ffi::OsStr::new("modules.d")) => p,
        _ => dir,
    };
    let settings = fs::read_to_string(config.join("filebeat.yml"))
        .ok()
        .and_then(|t| serde_yaml_ng::from_str::<Value>(&t).ok())
        .map(|v| normalize(&v));
    // A value with a ${...} in it, or a relative one, is not guessed at.
    let setting = |at: &[&str]| {
        settings
            .as_ref()
            .and_then(|s| get(s, at))
            .and_then(Value::as_str)
            .filter(|p| !p.contains("${"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(path) = setting(&["keystore", "path"]) {
        return vec![path];
    }
    let mut out: Vec<PathBuf> = Vec::new();
    let data_dirs = [
        setting(&["path", "data"]),
        (config == Path::new("/etc/filebeat")).then(|| PathBuf::from("/var/lib/filebeat")),
        Some(config.join("data")),
    ];
    for keystore in data_dirs.into_iter().flatten().map(|d| d.join(KEYSTORE)) {
        if !out.contains(&keystore) {
            out.push(keystore);
        }
    }
    out
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    match shown.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Where the credential's tenant goes.
enum Place {
    /// Entry `i` lists this tenant alone.
    Own(usize),
    /// Entry `i` lists this tenant and others.
    Shared(usize),
    /// Entry `i` is Filebeat's placeholder sample.
    Sample(usize),
    /// No entry fits: a new one.
    New,
}

/// What an entry must read back as after the change.
enum Expect {
    /// Untouched: identical to the original, as parsed.
    Same(Value),
    /// Edited: equal to this, once dotted keys are expanded.
    Normalized(Value),
}

/// The module file's new text, and notes for the operator.
fn module_text(
    path: &Path,
    src: &str,
    job: &Job,
    env: Option<&EnvFile>,
) -> Result<(String, Vec<String>), TargetError> {
    let items = parse_list(path, src)?;
    let spans = item_spans(src);
    if spans.len() != items.len() {
        return Err(TargetError::malformed(
            path,
            format!(
                "it has {} entries but {} of them start with \"- \" at the beginning of a line; handoff edits only block lists written that way",
                items.len(),
                spans.len()
            ),
        ));
    }
    let norm: Vec<Value> = items.iter().map(normalize).collect();
    let text = Text::new(src);
    let shown = path.display();
    let t = job.tenant.as_str();
    let mut notes = Vec::new();
    let mut expect: Vec<Expect> = items.iter().cloned().map(Expect::Same).collect();

    let holders: Vec<usize> = norm
        .iter()
        .enumerate()
        .filter(|(_, v)| is_o365(v))
        .flat_map(|(i, v)| {
            tenant_ids(v)
                .into_iter()
                .filter(|id| id.eq_ignore_ascii_case(t))
                .map(move |_| i)
        })
        .collect();
    let place = match holders.as_slice() {
        [] => norm
            .iter()
            .position(is_sample)
            .map_or(Place::New, Place::Sample),
        [i] if tenant_ids(&norm[*i]).len() == 1 => Place::Own(*i),
        [i] => Place::Shared(*i),
        several => {
            let mut entries = several.to_vec();
            entries.dedup();
            for &i in &entries {
                no_node_properties(
                    path,
                    &text,
                    &spans[i],
                    &format!("an o365 entry that lists tenant {t}"),
                )?;
            }
            let lines: Vec<usize> = entries
                .iter()
                .flat_map(|&i| tenant_lines(&text, &spans[i], t))
                .collect();
            let at = match lines.as_slice() {
                [] => String::new(),
                [one] => format!(" (line {one})"),
                [rest @ .., last] => format!(
                    " (lines {} and {last})",
                    rest.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(TargetError::Refused(format!(
                "{shown}: tenant {t} is listed {} times among the o365 entries{at}, so Filebeat collects it more than once and handoff cannot tell which listing is meant; keep one of its `- id:` items and import again",
                several.len()
            )));
        }
    };

    let (what, by_hand) = match place {
        Place::Own(_) => (format!("tenant {t}'s o365 entry"), BY_HAND.to_owned()),
        Place::Sample(_) => (
            "Filebeat's sample o365 entry".to_owned(),
            BY_HAND.to_owned(),
        ),
        Place::Shared(_) => (
            format!("the o365 entry tenant {t} shares with other tenants"),
            format!(
                "take tenant {t} out by hand: copy the entry, keep only tenant {t}'s `- id:`/`name:` item in the copy and delete it from the original, set the copy's var.client_secret to \"{}\", and import again",
                job.reference
            ),
        ),
        Place::New => ("the file".to_owned(), BY_HAND.to_owned()),
    };
    if let Place::Own(i) | Place::Shared(i) | Place::Sample(i) = place {
        no_node_properties(path, &text, &spans[i], &what)?;
    }
    let refuse = |why: String| cannot_edit(path, &what, &why, &by_hand);
    let spaced = blank_line_between(src, &spans);
    let new_app = |entry: &Value| (!job.is_app(entry)).then_some(job.app);
    let (after, own) = match place {
        Place::Own(i) => {
            let current = get(&norm[i], &["audit", "var", "client_secret"]).and_then(Value::as_str);
            let ops = Ops {
                application_id: new_app(&norm[i]),
                client_secret: (current != Some(job.reference.as_str()))
                    .then_some(job.reference.as_str()),
                api: job.api_ops(&norm[i]),
                ..Ops::default()
            };
            let edits =
                edit_entry(&text, &spans[i], &tenant_ids(&norm[i]), &ops).map_err(&refuse)?;
            if let Some(old) = ops.application_id.and(app_id(&norm[i])) {
                notes.push(format!(
                    "tenant {t}'s o365 entry in {shown} named application {old}; it now names {} (a new app registration), its other settings as they were",
                    job.app
                ));
            }
            if ops.client_secret.is_some() {
                let before = match current.and_then(reference_name) {
                    Some(old) => format!(
                        " instead of ${{{old}}}; remove {old} from Filebeat's keystore or environment if nothing else uses it"
                    ),
                    None => String::new(),
                };
                notes.push(format!(
                    "tenant {t}'s o365 entry in {shown} now takes its client secret from {}{before}",
                    job.reference
                ));
            }
            if !ops.api.is_empty() {
                notes.push(format!(
                    "tenant {t}'s o365 entry in {shown} now names the {} cloud's endpoints in var.api",
                    job.cloud
                ));
            }
            expect[i] = Expect::Normalized(mutated(&norm[i], &ops));
            (apply_edits(src, edits).map_err(&refuse)?, i)
        }
        Place::Sample(i) => {
            let ops = Ops {
                enable: true,
                application_id: Some(job.app),
                tenants: Tenants::Replace {
                    id: t,
                    name: &job.label,
                },
                client_secret: Some(&job.reference),
                api: job.api_ops(&norm[i]),
            };
            let edits =
                edit_entry(&text, &spans[i], &tenant_ids(&norm[i]), &ops).map_err(&refuse)?;
            notes.push(format!(
                "filled in Filebeat's sample o365 entry in {shown} with tenant {t} and application {} and enabled it; its comments were kept",
                job.app
            ));
            notes.push(name_note(job, path));
            expect[i] = Expect::Normalized(mutated(&norm[i], &ops));
            (apply_edits(src, edits).map_err(&refuse)?, i)
        }
        Place::Shared(i) => {
            let out_of = Ops {
                tenants: Tenants::Remove(t),
                ..Ops::default()
            };
            let edits =
                edit_entry(&text, &spans[i], &tenant_ids(&norm[i]), &out_of).map_err(&refuse)?;
            expect[i] = Expect::Normalized(mutated(&norm[i], &out_of));
            let mut after = apply_edits(src, edits).map_err(&refuse)?;

            let audit = audit_of(&text, &spans[i]).map_err(&refuse)?;
            let others: Vec<&str> = tenant_ids(&norm[i])
                .into_iter()
                .filter(|id| !id.eq_ignore_ascii_case(t))
                .collect();
            let old_app = app_id(&norm[i]).unwrap_or("(none)");
            let copy = copy_of(
                &text,
                &audit,
                &format!(
                    "Tenant {t} ({}), taken out of the entry for application {old_app} by handoff collect ({}); the settings are that entry's.",
                    job.label, job.integration
                ),
            );
            let copy_items = parse_list(path, &copy)
                .map_err(|e| refuse(format!("its audit settings do not stand alone: {e}")))?;
            let [copied] = copy_items.as_slice() else {
                return Err(refuse("its audit settings do not stand alone".to_owned()));
            };
            let copied = normalize(copied);
            let ops = Ops {
                application_id: new_app(&copied),
                tenants: Tenants::Only(t),
                client_secret: Some(&job.reference),
                api: job.api_ops(&copied),
                ..Ops::default()
            };
            let copy_text = Text::new(&copy);
            let edits = edit_entry(&copy_text, &(0..copy.len()), &tenant_ids(&copied), &ops)
                .map_err(&refuse)?;
            let copy = apply_edits(&copy, edits).map_err(&refuse)?;
            let mut want = Value::Mapping(Mapping::new());
            set_path(&mut want, &["module"], Value::from("o365"));
            if let Some(a) = get(&norm[i], &["audit"]) {
                set_path(&mut want, &["audit"], a.clone());
            }
            expect.push(Expect::Normalized(mutated(&want, &ops)));
            append(&mut after, &copy, spaced);
            // With the same application, the note on the other entries of
            // that application says what becomes of their secret.
            let theirs = if job.is_app(&norm[i]) {
                ""
            } else {
                "; that entry keeps its other tenants and their secret as they were"
            };
            notes.push(format!(
                "tenant {t} shared the o365 entry for application {old_app} in {shown} with {} (and with them its client secret); it was taken out of that entry (its `- id:`/`name:` item, with any comment lines directly above it) into an entry of its own with that entry's settings, application {} and the secret {}{theirs}",
                others.join(", "),
                job.app,
                job.reference
            ));
            (after, expect.len() - 1)
        }
        Place::New => {
            let (entry, want) = new_entry(job);
            let mut after = src.to_owned();
            append(&mut after, &entry, spaced);
            expect.push(Expect::Normalized(want));
            notes.push(format!("added an o365 entry for tenant {t} to {shown}"));
            notes.push(name_note(job, path));
            let sharing: Vec<&str> = norm
                .iter()
                .filter(|v| is_o365(v) && job.is_app(v))
                .flat_map(tenant_ids)
                .collect();
            if !sharing.is_empty() {
                notes.push(format!(
                    "application {} is also in the o365 entry for {} (a multi-tenant app); that entry was left as it is, and tenant {t} got an entry of its own, with its own key {}",
                    job.app,
                    sharing.join(", "),
                    job.reference
                ));
            }
            (after, expect.len() - 1)
        }
    };

    let back = verify(path, &after, &expect).map_err(&refuse)?;
    let ours = &back[own];
    if get(ours, &["audit", "var", "certificate"]).is_some() {
        return Err(TargetError::Refused(format!(
            "{shown}: the o365 entry for tenant {t} authenticates with a certificate (var.certificate), and Filebeat takes a certificate or a client secret, not both; remove var.certificate, var.key and var.key_passphrase from it by hand to switch it to the client secret, and import again"
        )));
    }
    if let Some((_, other)) = back
        .iter()
        .enumerate()
        .find(|(i, v)| *i != own && mentions(v, &job.key))
    {
        let whose = tenant_ids(other);
        return Err(TargetError::Refused(format!(
            "{shown}: the o365 entry for {} also refers to ${{{}}}, the key that holds tenant {t}'s client secret, so importing tenant {t}'s secret would change theirs; give that entry a key of its own (in the file and in Filebeat's keystore or environment) and import again",
            if whose.is_empty() {
                "other settings".to_owned()
            } else {
                format!("tenant(s) {}", whose.join(", "))
            },
            job.key
        )));
    }
    for other in back
        .iter()
        .enumerate()
        .filter(|(i, v)| *i != own && is_o365(v) && job.is_app(v))
        .map(|(_, v)| v)
    {
        notes.extend(same_app_note(job, path, other, env));
    }
    if get(ours, &["audit", "enabled"]) == Some(&Value::Bool(false)) {
        notes.push(format!(
            "tenant {t}'s o365 entry in {shown} is disabled (enabled: false), as it was; Filebeat collects nothing for it until that is set to true"
        ));
    }
    if let Some(chosen) = get(ours, &["audit", "var", "content_type"]) {
        let has = |ty: &str| match chosen {
            Value::String(s) => s == ty,
            Value::Sequence(s) => s.iter().any(|v| v.as_str() == Some(ty)),
            _ => false,
        };
        let missing: Vec<&str> = job
            .content_types
            .iter()
            .map(String::as_str)
            .filter(|ty| !has(ty))
            .collect();
        if !missing.is_empty() {
            notes.push(format!(
                "tenant {t}'s o365 entry in {shown} sets var.content_type without {}, which the {} template collects; handoff leaves that choice alone, so add them by hand if they are wanted",
                missing.join(", "),
                job.integration
            ));
        }
    }
    Ok((after, notes))
}

const BY_HAND: &str = "make the change by hand";

/// A refusal to edit an entry whose text handoff cannot splice safely.
fn cannot_edit(path: &Path, what: &str, why: &str, by_hand: &str) -> TargetError {
    TargetError::Refused(format!(
        "{}: handoff cannot edit {what} safely ({why}), so nothing was written; write its audit settings the way Filebeat's sample does (one `var.NAME: value` line per setting under `audit:`, var.tenants as a list with one `- id:` and `name:` item per tenant) and import again, or {by_hand}",
        path.display()
    ))
}

/// Refuses an entry that uses a YAML anchor, alias or merge key: the
/// splicer edits text, and a change there would reach every place that
/// shares the node (Filebeat's YAML reader applies merge keys; handoff's
/// reading of the entry would not).
fn no_node_properties(
    path: &Path,
    text: &Text,
    span: &Range<usize>,
    what: &str,
) -> Result<(), TargetError> {
    let first = text.line_at(span.start);
    let stop = text.line_at(span.end.saturating_sub(1)) + 1;
    match node_property(text, first..stop) {
        None => Ok(()),
        Some((line, kind)) => Err(TargetError::Refused(format!(
            "{}: {what} uses {kind} on line {}: YAML anchors, aliases and merge keys are not supported here; write the entry out in full and import again (nothing was written)",
            path.display(),
            line + 1
        ))),
    }
}

/// The first line in `lines` that gives a node an anchor (`&name`), is an
/// alias (`*name`) or holds a merge key (`<<:`), with what it is. Quoted
/// text, comments and block scalars (`|`, `>`) are skipped, so `"*"` or a
/// `* item` line of a description is not taken for one.
fn node_property(text: &Text, lines: Range<usize>) -> Option<(usize, String)> {
    // The indentation of a key whose block scalar the next lines hold.
    let mut scalar_of: Option<usize> = None;
    for i in lines {
        let body = text.body(i);
        let rest = body.trim_start_matches(' ');
        let indent = body.len() - rest.len();
        if rest.trim().is_empty() {
            continue;
        }
        if let Some(parent) = scalar_of {
            if indent > parent {
                continue;
            }
            scalar_of = None;
        }
        let mut chars = rest.char_indices().peekable();
        let mut node_start = true;
        let mut flow = 0usize;
        let mut last = ' ';
        while let Some((at, c)) = chars.next() {
            match c {
                '#' if last == ' ' || last == '\t' => break,
                '"' | '\'' => {
                    let mut escaped = false;
                    for (_, q) in chars.by_ref() {
                        if c == '"' && !escaped && q == '\\' {
                            escaped = true;
                            continue;
                        }
                        if q == c && !escaped {
                            break;
                        }
                        escaped = false;
                    }
                    node_start = false;
                }
                '&' | '*' if node_start => {
                    let name: String = rest[at + 1..]
                        .chars()
                        .take_while(|n| !n.is_whitespace() && !",[]{}".contains(*n))
                        .collect();
                    let kind = if c == '&' {
                        "a YAML anchor"
                    } else {
                        "a YAML alias"
                    };
                    return Some((i, format!("{kind} ({c}{name})")));
                }
                '<' if node_start && rest[at..].starts_with("<<") => {
                    if rest[at + 2..].trim_start().starts_with(':') {
                        return Some((i, "a YAML merge key (<<)".to_owned()));
                    }
                    node_start = false;
                }
                '-' | '?' | ':'
                    if (node_start || c == ':')
                        && chars.peek().is_none_or(|(_, n)| *n == ' ' || *n == '\t') =>
                {
                    node_start = true;
                    if c == ':' && chars.peek().is_none() {
                        break;
                    }
                }
                '[' | '{' if node_start || flow > 0 => {
                    flow += 1;
                    node_start = true;
                }
                ']' | '}' if flow > 0 => flow -= 1,
                ',' if flow > 0 => node_start = true,
                '|' | '>' if node_start && flow == 0 => {
                    scalar_of = Some(indent);
                    break;
                }
                ' ' | '\t' => {}
                _ => node_start = false,
            }
            last = c;
        }
    }
    None
}

/// The 1-based numbers of the lines in `span` that list `tenant`, comments
/// left out.
fn tenant_lines(text: &Text, span: &Range<usize>, tenant: &str) -> Vec<usize> {
    let first = text.line_at(span.start);
    let stop = text.line_at(span.end.saturating_sub(1)) + 1;
    (first..stop)
        .filter(|&i| {
            let body = text.body(i).to_ascii_lowercase();
            !body.trim_start().starts_with('#') && body.contains(tenant) && body.contains("id")
        })
        .map(|i| i + 1)
        .collect()
}

/// Whether an appended entry gets a blank line above it, as the file
/// spaces its entries: yes, unless the entries follow each other without
/// one, the file is empty, or it already ends with a blank line.
fn blank_line_between(src: &str, spans: &[Range<usize>]) -> bool {
    if src.trim().is_empty() || src.lines().last().is_some_and(|l| l.trim().is_empty()) {
        return false;
    }
    let mut gaps = spans
        .windows(2)
        .map(|w| &src[w[0].end..w[1].start])
        .peekable();
    gaps.peek().is_none() || gaps.any(|g| g.lines().any(|l| l.trim().is_empty()))
}

/// What the tenant's `name:` is, for a list item handoff wrote.
fn name_note(job: &Job, path: &Path) -> String {
    format!(
        "tenant {}'s name in {} is {}, the request's customer label: Filebeat's o365 pipeline makes it, in lower case, the host.name of the tenant's events (Filebeat's documentation suggests the tenant's domain there, which handoff does not know); change it if another name suits you better, and later imports keep it",
        job.tenant,
        path.display(),
        quoted(&job.label)
    )
}

/// For another o365 entry under the credential's application: its secret
/// is the same application's, so it goes stale with the old one. `None`
/// if the entry has no client secret (a certificate), or the env file
/// already gives its key the new value.
fn same_app_note(job: &Job, path: &Path, entry: &Value, env: Option<&EnvFile>) -> Option<String> {
    let tenants = tenant_ids(entry);
    if tenants.is_empty() {
        return None;
    }
    let secret = get(entry, &["audit", "var", "client_secret"]).and_then(Value::as_str)?;
    let fix = match reference_name(secret) {
        Some(shared) => match env {
            Some(env) if env.value(shared) == Some(job.secret) => return None,
            Some(env) if env.holds(shared) => format!(
                "set {shared} in {} to the same value as {} (handoff changes only its own key) and restart Filebeat",
                env.path.display(),
                job.key
            ),
            _ => format!(
                "give {shared} the same value as {} where Filebeat gets it (its keystore, with `filebeat keystore add {shared} --force`, or its environment) and restart Filebeat",
                job.key
            ),
        },
        None => "set that entry's var.client_secret, which is written out in the file, to the new secret as well and restart Filebeat".to_owned(),
    };
    let old = reference_name(secret).map_or_else(
        || "the old secret".to_owned(),
        |shared| format!("the old secret in {shared}"),
    );
    Some(format!(
        "tenant {}'s new client secret belongs to application {}, which the o365 entry for {} in {} uses too: a client secret is the app registration's, not a tenant's, so those tenants still sign in with {old} and stop collecting once it is revoked or expires; {fix}",
        job.tenant,
        job.app,
        tenants.join(", "),
        path.display()
    ))
}

/// A new entry for the tenant alone, and the value it must read back as.
fn new_entry(job: &Job) -> (String, Value) {
    let mut entry = String::from("- module: o365\n");
    entry.push_str(&format!(
        "  # Written by handoff collect for {} ({}).\n",
        job.label, job.integration
    ));
    entry.push_str("  audit:\n    enabled: true\n");
    entry.push_str(&format!("    var.application_id: {}\n", quoted(job.app)));
    entry.push_str(&format!(
        "    var.tenants:\n      - id: {}\n        name: {}\n",
        quoted(&job.tenant),
        quoted(&job.label)
    ));
    entry.push_str(&format!(
        "    var.client_secret: {}\n",
        quoted(&job.reference)
    ));
    let mut want = Value::Mapping(Mapping::new());
    set_path(&mut want, &["module"], Value::from("o365"));
    set_path(&mut want, &["audit", "enabled"], Value::Bool(true));
    set_path(
        &mut want,
        &["audit", "var", "application_id"],
        Value::from(job.app),
    );
    set_path(
        &mut want,
        &["audit", "var", "tenants"],
        Value::Sequence(vec![tenant_row(&job.tenant, &job.label)]),
    );
    set_path(
        &mut want,
        &["audit", "var", "client_secret"],
        Value::from(job.reference.as_str()),
    );
    if !job.content_types.is_empty() {
        entry.push_str("    var.content_type:\n");
        for ty in job.content_types {
            entry.push_str(&format!("      - {}\n", quoted(ty)));
        }
        set_path(
            &mut want,
            &["audit", "var", "content_type"],
            Value::Sequence(
                job.content_types
                    .iter()
                    .map(|t| Value::from(t.as_str()))
                    .collect(),
            ),
        );
    }
    if let Some((login, resource)) = job.endpoints {
        entry.push_str(&format!(
            "    var.api:\n      authentication_endpoint: {}\n      resource: {}\n",
            quoted(login),
            quoted(resource)
        ));
        set_path(
            &mut want,
            &["audit", "var", "api", "authentication_endpoint"],
            Value::from(login),
        );
        set_path(
            &mut want,
            &["audit", "var", "api", "resource"],
            Value::from(resource),
        );
    }
    (entry, want)
}

fn tenant_row(id: &str, name: &str) -> Value {
    let mut row = Mapping::new();
    row.insert(Value::from("id"), Value::from(id));
    row.insert(Value::from("name"), Value::from(name));
    Value::Mapping(row)
}

/// Adds a new last entry to the file's text, after a blank line if
/// `spaced`.
fn append(text: &mut String, entry: &str, spaced: bool) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if spaced {
        text.push('\n');
    }
    text.push_str(entry);
}

/// Parses the new text and checks each entry against what it must be;
/// returns the entries, dotted keys expanded.
fn verify(path: &Path, after: &str, expect: &[Expect]) -> Result<Vec<Value>, String> {
    let back = parse_list(path, after).map_err(|e| format!("the result would not parse: {e}"))?;
    if back.len() != expect.len() || item_spans(after).len() != back.len() {
        return Err("the result would not hold the same entries".to_owned());
    }
    for (n, (got, want)) in back.iter().zip(expect).enumerate() {
        let fits = match want {
            Expect::Same(v) => got == v,
            Expect::Normalized(v) => normalize(got) == *v,
        };
        if !fits {
            return Err(format!(
                "entry {} would not read back as exactly the intended change",
                n + 1
            ));
        }
    }
    Ok(back.iter().map(normalize).collect())
}

/// The file's entries; an empty file (or only comments) has none.
fn parse_list(path: &Path, src: &str) -> Result<Vec<Value>, TargetError> {
    match serde_yaml_ng::from_str::<Value>(src) {
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(Value::Sequence(items)) => Ok(items),
        Ok(_) => Err(TargetError::malformed(
            path,
            "it is not a list of modules (\"- module: o365\")",
        )),
        Err(e) => Err(TargetError::malformed(path, format!("not valid YAML: {e}"))),
    }
}

/// Each top-level entry's bytes: from its `-` line to its last indented
/// line, so comments and blank lines between entries stay outside.
fn item_spans(src: &str) -> Vec<Range<usize>> {
    let text = Text::new(src);
    let starts: Vec<usize> = (0..text.len())
        .filter(|&i| {
            let l = text.body(i);
            l == "-" || l.starts_with("- ") || l.starts_with("-\t")
        })
        .collect();
    let mut spans = Vec::new();
    for (k, &first) in starts.iter().enumerate() {
        let stop = starts.get(k + 1).copied().unwrap_or(text.len());
        let last = (first + 1..stop)
            .rev()
            .find(|&i| {
                let l = text.body(i);
                l.starts_with([' ', '\t']) && !l.trim().is_empty()
            })
            .unwrap_or(first);
        spans.push(text.start(first)..text.end(last));
    }
    spans
}

// ---- the values: entries with dotted keys expanded ----

/// The entry with every dotted key expanded into nested mappings, as
/// Filebeat's configuration library reads them: `var.api.resource: x` and
/// `var: {api: {resource: x}}` are the same setting.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut out = Value::Mapping(Mapping::new());
            for (k, val) in m {
                let val = normalize(val);
                match k.as_str() {
                    Some(k) => merge_at(&mut out, &k.split('.').collect::<Vec<_>>(), val),
                    None => {
                        if let Value::Mapping(o) = &mut out {
                            o.insert(k.clone(), val);
                        }
                    }
                }
            }
            out
        }
        Value::Sequence(s) => Value::Sequence(s.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Puts `val` at `path`, merging mappings that meet there.
fn merge_at(out: &mut Value, path: &[&str], val: Value) {
    match path.split_first() {
        None => merge(out, val),
        Some((first, rest)) => {
            if !out.is_mapping() {
                *out = Value::Mapping(Mapping::new());
            }
            if let Value::Mapping(m) = out {
                let slot = m.entry(Value::from(*first)).or_insert(Value::Null);
                merge_at(slot, rest, val);
            }
        }
    }
}

/// Merges `val` into `into`: mappings key by key, anything else replaces.
fn merge(into: &mut Value, val: Value) {
    match (into, val) {
        (Value::Mapping(have), Value::Mapping(add)) => {
            for (k, v) in add {
                match have.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        have.insert(k, v);
                    }
                }
            }
        }
        (slot, val) => *slot = val,
    }
}

/// A value at a path of plain keys (in a normalized entry).
fn get<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// Sets a value at a path of plain keys, making mappings on the way.
fn set_path(v: &mut Value, path: &[&str], val: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = val;
        return;
    };
    if !v.is_mapping() {
        *v = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(m) = v {
        let slot = m.entry(Value::from(*first)).or_insert(Value::Null);
        set_path(slot, rest, val);
    }
}

/// The key a `${KEY}` or `${KEY:default}` value refers to.
fn reference_name(s: &str) -> Option<&str> {
    let name = s.strip_prefix("${")?.strip_suffix('}')?;
    Some(name.split_once(':').map_or(name, |(n, _)| n))
}

/// True if any string in the value refers to `${key}` (or `${key:default}`).
fn mentions(v: &Value, key: &str) -> bool {
    match v {
        Value::String(s) => s.contains(&format!("${{{key}}}")) || s.contains(&format!("${{{key}:")),
        Value::Sequence(s) => s.iter().any(|v| mentions(v, key)),
        Value::Mapping(m) => m.iter().any(|(k, v)| mentions(k, key) || mentions(v, key)),
        Value::Tagged(t) => mentions(&t.value, key),
        _ => false,
    }
}

fn is_o365(v: &Value) -> bool {
    v.get("module").and_then(Value::as_str) == Some("o365")
}

fn app_id(v: &Value) -> Option<&str> {
    get(v, &["audit", "var", "application_id"]).and_then(Value::as_str)
}

fn tenant_ids(v: &Value) -> Vec<&str> {
    get(v, &["audit", "var", "tenants"])
        .and_then(Value::as_sequence)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("id").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// A value that stands for one to be filled in: Filebeat's sample writes
/// `"<MyApplicationID>"`, its comments `"tenant_id_1"`. A GUID or a
/// `${...}` reference is real.
fn is_placeholder(s: &str) -> bool {
    !is_guid(s) && !s.contains("${")
}

/// Filebeat's sample entry: an o365 `audit:` whose application ID and
/// tenant IDs are all placeholders.
fn is_sample(v: &Value) -> bool {
    is_o365(v)
        && get(v, &["audit"]).is_some_and(Value::is_mapping)
        && app_id(v).is_none_or(is_placeholder)
        && tenant_ids(v).into_iter().all(is_placeholder)
}

/// What to change in one entry's `audit:` settings; nothing else changes.
#[derive(Default)]
struct Ops<'a> {
    /// `enabled: true` where the entry says otherwise; only ever for
    /// Filebeat's sample, whose `enabled: false` nobody chose.
    enable: bool,
    application_id: Option<&'a str>,
    tenants: Tenants<'a>,
    client_secret: Option<&'a str>,
    /// `var.api` settings to set (name, value).
    api: Vec<(&'static str, &'static str)>,
}

#[derive(Default)]
enum Tenants<'a> {
    #[default]
    Keep,
    /// Take this tenant's list item out.
    Remove(&'a str),
    /// Keep only this tenant's list item.
    Only(&'a str),
    /// The whole list becomes this one tenant.
    Replace { id: &'a str, name: &'a str },
}

/// The normalized entry with `ops` applied: what the edited text must read
/// back as.
fn mutated(entry: &Value, ops: &Ops) -> Value {
    let mut v = entry.clone();
    if ops.enable && get(&v, &["audit", "enabled"]).is_some() {
        set_path(&mut v, &["audit", "enabled"], Value::Bool(true));
    }
    if let Some(a) = ops.application_id {
        set_path(&mut v, &["audit", "var", "application_id"], Value::from(a));
    }
    let tenants = ["audit", "var", "tenants"];
    let is = |row: &Value, t: &str| {
        row.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| id.eq_ignore_ascii_case(t))
    };
    match ops.tenants {
        Tenants::Keep => {}
        Tenants::Remove(t) | Tenants::Only(t) => {
            let keep_it = matches!(ops.tenants, Tenants::Only(_));
            if let Some(Value::Sequence(rows)) = get(&v, &tenants).cloned() {
                let rows = rows.into_iter().filter(|r| is(r, t) == keep_it).collect();
                set_path(&mut v, &tenants, Value::Sequence(rows));
            }
        }
        Tenants::Replace { id, name } => {
            set_path(
                &mut v,
                &tenants,
                Value::Sequence(vec![tenant_row(id, name)]),
            );
        }
    }
    if let Some(s) = ops.client_secret {
        set_path(&mut v, &["audit", "var", "client_secret"], Value::from(s));
    }
    for (name, val) in &ops.api {
        set_path(&mut v, &["audit", "var", "api", name], Value::from(*val));
    }
    v
}

// ---- the text: lines, blocks and splices ----

/// The file as lines, each with the offset it starts at.
struct Text<'s> {
    src: &'s str,
    starts: Vec<usize>,
}

impl<'s> Text<'s> {
    fn new(src: &'s str) -> Text<'s> {
        let mut starts = Vec::new();
        let mut at = 0;
        for line in src.split_inclusive('\n') {
            starts.push(at);
            at += line.len();
        }
        Text { src, starts }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn start(&self, i: usize) -> usize {
        self.starts[i]
    }

    /// Where line `i` ends, its newline included.
    fn end(&self, i: usize) -> usize {
        self.starts.get(i + 1).copied().unwrap_or(self.src.len())
    }

    /// Line `i` without its line break.
    fn body(&self, i: usize) -> &'s str {
        self.src[self.start(i)..self.end(i)].trim_end_matches(['\n', '\r'])
    }

    /// The line holding byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }

    /// The indentation of a line that holds YAML content; `None` for blank
    /// lines and comment lines, which belong to no block.
    fn indent(&self, i: usize) -> Option<usize> {
        let body = self.body(i);
        let rest = body.trim_start_matches(' ');
        if rest.trim().is_empty() || rest.starts_with('#') {
            None
        } else {
            Some(body.len() - rest.len())
        }
    }
}

/// The key of a `key: value` or `key:` line whose key starts at `indent`:
/// a plain key such as `var.application_id` (no quotes, no flow).
fn key_at(body: &str, indent: usize) -> Option<&str> {
    let rest = body.get(indent..)?;
    let colon = rest.find(':')?;
    let key = &rest[..colon];
    let after = &rest[colon + 1..];
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !key.starts_with('-');
    (plain && (after.is_empty() || after.starts_with([' ', '\t']))).then_some(key)
}

/// What follows `key:` on its line, comment excluded; empty when the value
/// is on the lines below.
fn inline_value<'b>(body: &'b str, indent: usize, key: &str) -> &'b str {
    let rest = body[indent + key.len() + 1..].trim_start();
    if rest.starts_with('#') { "" } else { rest }
}

/// The byte range, within the line, of the one-line scalar after `key:`;
/// `None` for anything else (empty, a block, a flow collection, an anchor).
fn scalar_range(body: &str, indent: usize, key: &str) -> Option<Range<usize>> {
    let after = indent + key.len() + 1;
    let rest = body.get(after..)?;
    let start = after + (rest.len() - rest.trim_start_matches([' ', '\t']).len());
    let v = &body[start..];
    let len = match v.chars().next()? {
        '"' => {
            let mut escaped = false;
            v.char_indices().skip(1).find_map(|(i, c)| {
                if escaped {
                    escaped = false;
                    None
                } else if c == '\\' {
                    escaped = true;
                    None
                } else {
                    (c == '"').then_some(i + 1)
                }
            })?
        }
        '\'' => {
            let b = v.as_bytes();
            let mut i = 1;
            loop {
                match b.get(i)? {
                    b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => break i + 1,
                    _ => i += 1,
                }
            }
        }
        '#' | '|' | '>' | '&' | '*' | '!' | '{' | '[' | '%' | '@' | '`' => return None,
        _ => {
            let end = v.find(" #").or_else(|| v.find("\t#")).unwrap_or(v.len());
            v[..end].trim_end().len()
        }
    };
    let tail = v[len..].trim_start();
    (tail.is_empty() || tail.starts_with('#')).then_some(start..start + len)
}

/// A setting in a block mapping: its key line and the last line of its value.
struct Child {
    key: String,
    line: usize,
    last: usize,
}

/// The settings under a key, each at the block's indentation.
struct Block {
    indent: usize,
    children: Vec<Child>,
    /// The last content line of the block (the parent's line if empty).
    last: usize,
}

impl Block {
    fn child(&self, key: &str) -> Result<Option<&Child>, String> {
        let mut found = self.children.iter().filter(|c| c.key == key);
        match (found.next(), found.next()) {
            (Some(c), None) => Ok(Some(c)),
            (None, _) => Ok(None),
            (Some(c), Some(_)) => Err(format!("{key} appears twice, from line {}", c.line + 1)),
        }
    }
}

/// The block under `parent` (whose key is at `parent_indent`), up to line `stop`.
fn block(text: &Text, parent: usize, parent_indent: usize, stop: usize) -> Result<Block, String> {
    let mut indent = None;
    let mut children: Vec<Child> = Vec::new();
    let mut last = parent;
    for i in parent + 1..stop {
        let Some(at) = text.indent(i) else { continue };
        if at <= parent_indent {
            break;
        }
        let own = *indent.get_or_insert(at);
        let body = text.body(i);
        if at == own
            && let Some(key) = key_at(body, own)
        {
            children.push(Child {
                key: key.to_owned(),
                line: i,
                last: i,
            });
            last = i;
            continue;
        }
        // A list may sit at its key's own indentation; anything else
        // deeper belongs to the setting above it.
        if at < own || (at == own && !body[own..].starts_with('-')) {
            return Err(format!("line {} is not a `key: value` setting", i + 1));
        }
        let child = children
            .last_mut()
            .ok_or_else(|| format!("line {} belongs to no setting", i + 1))?;
        child.last = i;
        last = i;
    }
    Ok(Block {
        indent: indent.unwrap_or(parent_indent + 2),
        children,
        last,
    })
}

/// The items of the block list under `child`: each from its `-` line to
/// its last content line (comments inside an item go with it, comments
/// between items stay).
fn list_items(text: &Text, child: &Child) -> Result<Vec<(usize, usize)>, String> {
    let mut items: Vec<(usize, usize)> = Vec::new();
    let mut indent = None;
    for i in child.line + 1..=child.last {
        let Some(at) = text.indent(i) else { continue };
        let own = *indent.get_or_insert(at);
        let rest = &text.body(i)[at..];
        if at == own && (rest == "-" || rest.starts_with("- ")) {
            items.push((i, i));
        } else if at > own
            && let Some(item) = items.last_mut()
        {
            item.1 = i;
        } else {
            return Err(format!(
                "{} is not a block list (line {})",
                child.key,
                i + 1
            ));
        }
    }
    Ok(items)
}

/// An entry's `audit:` fileset, in the text.
struct Audit {
    /// The column of the entry's own keys (`module`, `audit`).
    key_col: usize,
    line: usize,
    block: Block,
}

fn audit_of(text: &Text, span: &Range<usize>) -> Result<Audit, String> {
    let first = text.line_at(span.start);
    let stop = text.line_at(span.end.saturating_sub(1)) + 1;
    let dash = text.body(first);
    let after = dash
        .strip_prefix('-')
        .ok_or("the entry does not start with -")?;
    let key_col = 1 + after.len() - after.trim_start_matches(' ').len();
    if key_at(dash, key_col) == Some("audit") {
        return Err("its audit: starts on the entry's `-` line".to_owned());
    }
    let mut lines = (first + 1..stop).filter(|&i| {
        text.indent(i) == Some(key_col) && key_at(text.body(i), key_col) == Some("audit")
    });
    let line = match (lines.next(), lines.next()) {
        (Some(l), None) => l,
        (None, _) => return Err("it has no audit: block".to_owned()),
        (Some(_), Some(_)) => return Err("it has two audit: blocks".to_owned()),
    };
    if !inline_value(text.body(line), key_col, "audit").is_empty() {
        return Err("its audit: settings are written on one line".to_owned());
    }
    Ok(Audit {
        key_col,
        line,
        block: block(text, line, key_col, stop)?,
    })
}

/// A splice: the bytes at `at` become `with` (an insertion if `at` is empty).
struct Edit {
    at: Range<usize>,
    with: String,
}

/// New lines after line `i`.
fn insert_after(text: &Text, i: usize, lines: String) -> Edit {
    let at = text.end(i);
    let with = if text.src[..at].ends_with('\n') {
        lines
    } else {
        format!("\n{lines}")
    };
    Edit { at: at..at, with }
}

/// Replaces the one-line scalar of `child` (a setting at `indent`).
fn set_scalar(text: &Text, child: &Child, indent: usize, value: &str) -> Result<Edit, String> {
    let body = text.body(child.line);
    let range = (child.last == child.line)
        .then(|| scalar_range(body, indent, &child.key))
        .flatten()
        .ok_or_else(|| {
            format!(
                "{} on line {} is not a one-line value",
                child.key,
                child.line + 1
            )
        })?;
    let start = text.start(child.line);
    Ok(Edit {
        at: start + range.start..start + range.end,
        with: value.to_owned(),
    })
}

/// The splices that apply `ops` to the entry at `span`; `ids` are its
/// tenant IDs in list order, as parsed.
fn edit_entry(
    text: &Text,
    span: &Range<usize>,
    ids: &[&str],
    ops: &Ops,
) -> Result<Vec<Edit>, String> {
    let audit = audit_of(text, span)?;
    let b = &audit.block;
    let pad = " ".repeat(b.indent);
    if b.child("var")?.is_some() {
        return Err("its settings are nested under var:".to_owned());
    }
    let mut edits = Vec::new();
    // New settings go after the fileset's last one.
    let mut added = String::new();

    if ops.enable
        && let Some(c) = b.child("enabled")?
    {
        edits.push(set_scalar(text, c, b.indent, "true")?);
    }
    for (key, value) in [
        ("var.application_id", ops.application_id),
        ("var.client_secret", ops.client_secret),
    ] {
        let Some(value) = value else { continue };
        match b.child(key)? {
            Some(c) => edits.push(set_scalar(text, c, b.indent, &quoted(value))?),
            None => added.push_str(&format!("{pad}{key}: {}\n", quoted(value))),
        }
    }

    let row = |dash: usize, id: &str, name: &str| {
        format!(
            "{}- id: {}\n{}  name: {}\n",
            " ".repeat(dash),
            quoted(id),
            " ".repeat(dash),
            quoted(name)
        )
    };
    match (&ops.tenants, b.child("var.tenants")?) {
        (Tenants::Keep, _) => {}
        (Tenants::Replace { id, name }, None) => {
            added.push_str(&format!(
                "{pad}var.tenants:\n{}",
                row(b.indent + 2, id, name)
            ));
        }
        (_, None) => return Err("it has no var.tenants".to_owned()),
        (ops_tenants, Some(c)) => {
            if !inline_value(text.body(c.line), b.indent, &c.key).is_empty() {
                return Err("its var.tenants is written on one line".to_owned());
            }
            let items = list_items(text, c)?;
            if items.len() != ids.len() {
                return Err("its var.tenants items could not be told apart".to_owned());
            }
            // An item with the comment lines directly above it, aligned
            // with its `-`: they label that tenant (`# Northwind Europe`).
            let with_comments = |item: &(usize, usize)| {
                let dash = text.indent(item.0).unwrap_or_default();
                let mut from = item.0;
                while from > c.line + 1 {
                    let above = text.body(from - 1);
                    let rest = above.trim_start_matches(' ');
                    if !rest.starts_with('#') || above.len() - rest.len() != dash {
                        break;
                    }
                    from -= 1;
                }
                text.start(from)..text.end(item.1)
            };
            let drop = |item: &(usize, usize)| Edit {
                at: with_comments(item),
                with: String::new(),
            };
            let is = |id: &str, t: &str| id.eq_ignore_ascii_case(t);
            match ops_tenants {
                Tenants::Keep => {}
                Tenants::Remove(t) => edits.extend(
                    items
                        .iter()
                        .zip(ids)
                        .filter(|(_, id)| is(id, t))
                        .map(|(item, _)| drop(item)),
                ),
                Tenants::Only(t) => {
                    // Only in a copy, whose original keeps every comment:
                    // the list becomes the one item, without the others'.
                    let mut kept = items.iter().zip(ids).filter(|(_, id)| is(id, t));
                    let (Some((item, _)), None) = (kept.next(), kept.next()) else {
                        return Err(format!("tenant {t} is not listed exactly once"));
                    };
                    edits.push(Edit {
                        at: text.start(c.line + 1)..text.end(c.last),
                        with: text.src[with_comments(item)].to_owned(),
                    });
                }
                Tenants::Replace { id, name } => match (items.first(), items.last()) {
                    (Some(first), Some(last)) => {
                        let dash = text.indent(first.0).unwrap_or(b.indent + 2);
                        edits.push(Edit {
                            at: text.start(first.0)..text.end(last.1),
                            with: row(dash, id, name),
                        });
                    }
                    _ => edits.push(insert_after(text, c.line, row(b.indent + 2, id, name))),
                },
            }
        }
    }

    if !ops.api.is_empty() {
        let dotted = b.children.iter().any(|c| c.key.starts_with("var.api."));
        match b.child("var.api")? {
            Some(_) if dotted => {
                return Err("it sets var.api both as a block and as var.api.* lines".to_owned());
            }
            Some(c) => {
                if !inline_value(text.body(c.line), b.indent, &c.key).is_empty() {
                    return Err("its var.api is written on one line".to_owned());
                }
                let api = block(text, c.line, b.indent, c.last + 1)?;
                let mut new = String::new();
                for (name, value) in &ops.api {
                    match api.child(name)? {
                        Some(s) => edits.push(set_scalar(text, s, api.indent, &quoted(value))?),
                        None => new.push_str(&format!(
                            "{}{name}: {}\n",
                            " ".repeat(api.indent),
                            quoted(value)
                        )),
                    }
                }
                if !new.is_empty() {
                    edits.push(insert_after(text, c.line, new));
                }
            }
            None if dotted => {
                for (name, value) in &ops.api {
                    let key = format!("var.api.{name}");
                    match b.child(&key)? {
                        Some(s) => edits.push(set_scalar(text, s, b.indent, &quoted(value))?),
                        None => added.push_str(&format!("{pad}{key}: {}\n", quoted(value))),
                    }
                }
            }
            None => {
                added.push_str(&format!("{pad}var.api:\n"));
                for (name, value) in &ops.api {
                    added.push_str(&format!("{pad}  {name}: {}\n", quoted(value)));
                }
            }
        }
    }
    if !added.is_empty() {
        edits.push(insert_after(text, b.last, added));
    }
    Ok(edits)
}

/// A new entry holding a copy of an entry's `audit:` fileset (comments
/// included) and nothing else, with a comment saying where it came from.
fn copy_of(text: &Text, audit: &Audit, comment: &str) -> String {
    let mut copy = format!(
        "-{}module: o365\n{}# {comment}\n",
        " ".repeat(audit.key_col - 1),
        " ".repeat(audit.key_col)
    );
    copy.push_str(&text.src[text.start(audit.line)..text.end(audit.block.last)]);
    if !copy.ends_with('\n') {
        copy.push('\n');
    }
    copy
}

/// Applies splices; they must not overlap.
fn apply_edits(src: &str, mut edits: Vec<Edit>) -> Result<String, String> {
    edits.sort_by_key(|e| (e.at.start, e.at.end));
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for e in edits {
        if e.at.start < at {
            return Err("two of its changes would overlap".to_owned());
        }
        out.push_str(&src[at..e.at.start]);
        out.push_str(&e.with);
        at = e.at.end;
    }
    out.push_str(&src[at..]);
    Ok(out)
}
#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::testing::*;
    use super::super::{Target, plan as plan_target};
    use super::*;

    const KEY: &str = "O365_SECRET_72F988BF_86F1_41AF_91AB_2D7CD011DB47";

    const OTHER: &str = "# Filebeat o365 module, managed by the SOC.\n- module: o365\n  audit:\n    enabled: true\n    # the other customer\n    var.application_id: \"aaaaaaaa-2222-3333-4444-555555555555\"\n    var.tenants:\n      - id: \"11111111-2222-3333-4444-555555555555\"\n        name: \"fabrikam.onmicrosoft.com\"\n    var.client_secret: \"${O365_SECRET_FABRIKAM}\"\n\n# end of the list\n";

    fn run(args: &TargetArgs, cloud: &str) -> Result<Plan, TargetError> {
        let cred = credential("o365-management", cloud);
        let integ = integration("o365-management");
        plan_target(Target::FilebeatO365, args, &import(&cred, &integ))
    }

    fn run_app(args: &TargetArgs, cloud: &str, app: &str) -> Result<Plan, TargetError> {
        let mut cred = credential("o365-management", cloud);
        cred.client_id = app.to_owned();
        let integ = integration("o365-management");
        plan_target(Target::FilebeatO365, args, &import(&cred, &integ))
    }

    /// Writes `before`, imports, and returns the module file afterwards.
    fn imported(before: &str, cloud: &str, app: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.filebeat_module, before).unwrap();
        run_app(&args, cloud, app).unwrap().apply().unwrap();
        let after = fs::read_to_string(&args.filebeat_module).unwrap();
        assert!(run_app(&args, cloud, app).unwrap().is_noop(), "{after}");
        after
    }

    /// Writes `before`, and returns the refusal; the file must be untouched.
    fn refused(before: &str, cloud: &str, app: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.filebeat_module, before).unwrap();
        let err = run_app(&args, cloud, app).unwrap_err().to_string();
        assert_eq!(fs::read_to_string(&args.filebeat_module).unwrap(), before);
        err
    }

    /// An entry for the credential's tenant alone, with `audit` lines.
    fn own(audit: &str) -> String {
        format!("- module: o365\n  audit:\n{audit}")
    }

    #[test]
    fn appends_an_entry_and_keeps_the_rest_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.filebeat_module, OTHER).unwrap();
        run(&args, "gcc-high").unwrap().apply().unwrap();
        let after = fs::read_to_string(&args.filebeat_module).unwrap();
        assert!(after.starts_with(OTHER), "{after}");
        // A blank line above it, as the sample has above its entry.
        let added = &after[OTHER.len()..];
        assert!(added.starts_with("\n- module: o365\n"), "{added}");
        assert!(added.contains(&format!("    var.client_secret: \"${{{KEY}}}\"\n")));
        assert!(added.contains("      authentication_endpoint: \"https://login.microsoftonline.us/\"\n      resource: \"https://manage.office365.us\"\n"));
        assert!(!after.contains(SECRET));
        assert!(run(&args, "gcc-high").unwrap().is_noop());
    }

    #[test]
    fn the_sample_entry_is_filled_in_line_by_line_and_keeps_its_comments() {
        let sample = "- module: o365\n  audit:\n    enabled: false\n\n    # Set the application_id (also known as client ID):\n    var.application_id: \"<MyApplicationID>\"\n    var.tenants:\n     - id: \"<MyTenantID>\"\n       name: \"mytenant.onmicrosoft.com\"\n    var.client_secret: \"<YourClientSecretHere>\"\n\n    # Advanced settings, use with care:\n    # var.api:\n    #   poll_interval: 3m\n";
        let after = imported(sample, "commercial", CLIENT);
        assert_eq!(
            after,
            format!(
                "- module: o365\n  audit:\n    enabled: true\n\n    # Set the application_id (also known as client ID):\n    var.application_id: \"{CLIENT}\"\n    var.tenants:\n     - id: \"{TENANT}\"\n       name: \"Contoso Ltd\"\n    var.client_secret: \"${{{KEY}}}\"\n\n    # Advanced settings, use with care:\n    # var.api:\n    #   poll_interval: 3m\n"
            )
        );
    }

    #[test]
    fn a_new_app_registration_for_the_same_tenant_changes_only_the_application_id() {
        let before = own(&format!(
            "    enabled: true\n    var.application_id: \"{CLIENT}\" # first app\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: \"contoso.com\"\n    var.client_secret: \"${{{KEY}}}\"\n    var.api:\n      poll_interval: 9m\n"
        ));
        let app = "bbbbbbbb-2222-4333-8444-555555555555";
        let after = imported(&before, "commercial", app);
        assert_eq!(
            after,
            before.replace(
                &format!("\"{CLIENT}\" # first app"),
                &format!("\"{app}\" # first app")
            )
        );
    }

    #[test]
    fn cloud_endpoints_are_set_in_the_form_the_entry_uses() {
        let nested = own(&format!(
            "    var.application_id: \"{CLIENT}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: \"contoso.com\"\n    var.client_secret: \"${{{KEY}}}\"\n    var.api:\n      # slow tenant\n      poll_interval: 9m\n      resource: https://manage.office.com\n"
        ));
        assert_eq!(
            imported(&nested, "gcc-high", CLIENT),
            nested
                .replace("    var.api:\n", "    var.api:\n      authentication_endpoint: \"https://login.microsoftonline.us/\"\n")
                .replace("resource: https://manage.office.com", "resource: \"https://manage.office365.us\"")
        );
        let dotted = own(&format!(
            "    var.application_id: \"{CLIENT}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: \"contoso.com\"\n    var.api.poll_interval: 9m\n    var.api.resource: 'https://manage.office365.us'\n    var.client_secret: \"${{{KEY}}}\"\n"
        ));
        // Back to commercial: the endpoint it names is reset, none is added.
        assert_eq!(
            imported(&dotted, "commercial", CLIENT),
            dotted.replace(
                "'https://manage.office365.us'",
                "\"https://manage.office.com\""
            )
        );
    }

    #[test]
    fn entries_the_splicer_cannot_read_are_refused_with_a_way_out() {
        let nested_var = own(&format!(
            "    var:\n      application_id: \"{CLIENT}\"\n      tenants:\n        - id: \"{TENANT}\"\n          name: \"contoso.com\"\n      client_secret: \"${{{KEY}}}\"\n"
        ));
        let err = refused(
            &nested_var,
            "commercial",
            "bbbbbbbb-2222-4333-8444-555555555555",
        );
        assert!(
            err.contains("its settings are nested under var:")
                && err.contains("nothing was written")
                && err.contains("make the change by hand"),
            "{err}"
        );
        let flow = format!(
            "- module: o365\n  audit:\n    var.application_id: \"{CLIENT}\"\n    var.tenants: [{{id: \"{TENANT}\", name: a}}, {{id: \"11111111-2222-4333-8444-555555555555\", name: b}}]\n    var.client_secret: \"${{SHARED}}\"\n"
        );
        let err = refused(&flow, "commercial", CLIENT);
        assert!(
            err.contains("var.tenants is written on one line")
                && err.contains(&format!("take tenant {TENANT} out by hand")),
            "{err}"
        );
        let block_scalar = own(&format!(
            "    var.application_id: >-\n      {CLIENT}\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: \"contoso.com\"\n"
        ));
        let err = refused(
            &block_scalar,
            "commercial",
            "bbbbbbbb-2222-4333-8444-555555555555",
        );
        assert!(
            err.contains("var.application_id on line 3 is not a one-line value"),
            "{err}"
        );
    }

    #[test]
    fn a_splice_that_would_change_anything_else_is_refused() {
        // A literal block whose last line looks like a comment: the new
        // var.api would go above that line and turn it into a comment.
        let block = own(&format!(
            "    var.application_id: \"{CLIENT}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: a\n    var.client_secret: \"${{{KEY}}}\"\n    input:\n      description: |\n        first line\n        # part of the text\n"
        ));
        let err = refused(&block, "gcc-high", CLIENT);
        assert!(
            err.contains("(entry 1 would not read back as exactly the intended change)"),
            "{err}"
        );
        // An anchor another entry uses: refused before any splice.
        let anchored = format!(
            "- module: o365\n  audit:\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: &shared contoso\n      - id: \"11111111-2222-4333-8444-555555555555\"\n        name: b\n    var.client_secret: \"${{SHARED}}\"\n{}",
            own(
                "    var.tenants:\n      - id: \"22222222-2222-4333-8444-555555555555\"\n        name: *shared\n"
            )
        );
        let err = refused(&anchored, "commercial", CLIENT);
        assert!(
            err.contains("uses a YAML anchor (&shared) on line 5: YAML anchors, aliases and merge keys are not supported here; write the entry out in full"),
            "{err}"
        );
    }

    #[test]
    fn a_tenant_listed_twice_a_shared_key_and_a_certificate_are_refused() {
        let twice = format!(
            "{}{}",
            own(&format!(
                "    var.tenants:\n      - id: \"{TENANT}\"\n        name: a\n"
            )),
            own(&format!(
                "    var.tenants:\n      - id: \"{}\"\n        name: b\n",
                TENANT.to_uppercase()
            ))
        );
        let err = refused(&twice, "commercial", CLIENT);
        assert!(
            err.contains(&format!("tenant {TENANT} is listed 2 times")),
            "{err}"
        );

        let shared_key = format!(
            "- module: o365\n  audit:\n    var.application_id: \"{CLIENT}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: a\n      - id: \"11111111-2222-4333-8444-555555555555\"\n        name: b\n    var.client_secret: \"${{{KEY}}}\"\n"
        );
        let err = refused(&shared_key, "commercial", CLIENT);
        assert!(
            err.contains(&format!("the o365 entry for tenant(s) 11111111-2222-4333-8444-555555555555 also refers to ${{{KEY}}}"))
                && err.contains("give that entry a key of its own"),
            "{err}"
        );

        let certificate = own(&format!(
            "    var.application_id: \"{CLIENT}\"\n    var.tenants:\n      - id: \"{TENANT}\"\n        name: a\n    var.certificate: /etc/filebeat/o365.pem\n    var.key: /etc/filebeat/o365.key\n"
        ));
        let err = refused(&certificate, "commercial", CLIENT);
        assert!(
            err.contains("authenticates with a certificate (var.certificate)"),
            "{err}"
        );
    }

    #[test]
    fn the_env_file_gets_the_key_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        let env = dir.path().join("filebeat.env");
        args.filebeat_env_file = Some(env.clone());
        fs::write(&env, format!("A=1\n{KEY}=old\nB=2\n")).unwrap();
        fs::set_permissions(&env, fs::Permissions::from_mode(0o640)).unwrap();
        let plan = run(&args, "commercial").unwrap();
        let diff = plan.diff();
        assert!(!diff.contains(SECRET) && !diff.contains("=old"), "{diff}");
        plan.apply().unwrap();
        assert_eq!(
            fs::read_to_string(&env).unwrap(),
            format!("A=1\n{KEY}={SECRET}\nB=2\n")
        );
        assert_eq!(mode(&env), 0o640);
        let fresh = dir.path().join("new.env");
        args.filebeat_env_file = Some(fresh.clone());
        run(&args, "commercial").unwrap().apply().unwrap();
        assert_eq!(mode(&fresh), 0o600);
    }

    #[test]
    fn an_env_file_other_users_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut args = TargetArgs::under(dir.path());
        let env = dir.path().join("filebeat.env");
        args.filebeat_env_file = Some(env.clone());
        fs::write(&env, "A=1\n").unwrap();
        fs::set_permissions(&env, fs::Permissions::from_mode(0o644)).unwrap();
        let err = run(&args, "commercial").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{} would hold a client secret but other users can read or write it (mode 0644); run chmod 600 {} (or 640 if a group must read it) and import again",
                env.display(),
                env.display()
            )
        );
        assert_eq!(fs::read_to_string(&env).unwrap(), "A=1\n");
    }

    #[test]
    fn a_module_file_others_can_write_is_named_in_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        fs::write(&args.filebeat_module, OTHER).unwrap();
        fs::set_permissions(&args.filebeat_module, fs::Permissions::from_mode(0o664)).unwrap();
        let plan = run(&args, "commercial").unwrap();
        let want = format!(
            "Filebeat refuses {} while its group or other users can write it (mode 0664): run chmod go-w {}",
            args.filebeat_module.display(),
            args.filebeat_module.display()
        );
        assert!(plan.notes.contains(&want), "{:?}", plan.notes);
        fs::set_permissions(&args.filebeat_module, fs::Permissions::from_mode(0o644)).unwrap();
        let plan = run(&args, "commercial").unwrap();
        assert!(
            !plan.notes.iter().any(|n| n.contains("chmod go-w")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn malformed_yaml_and_china_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        for broken in [
            "- module: o365\n  audit: [\n",
            "module: o365\n",
            "  - module: o365\n  - module: aws\n",
        ] {
            fs::write(&args.filebeat_module, broken).unwrap();
            let err = run(&args, "commercial").unwrap_err().to_string();
            assert!(
                err.contains("o365.yml: ") && err.contains("left untouched"),
                "{broken:?}: {err}"
            );
            assert_eq!(fs::read_to_string(&args.filebeat_module).unwrap(), broken);
        }
        let err = run(&args, "china").unwrap_err().to_string();
        assert!(err.contains("China cloud"), "{err}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_found_outside_quotes_comments_and_block_text() {
        let find = |src: &str| {
            let text = Text::new(src);
            node_property(&text, 0..text.len()).map(|(line, what)| (line + 1, what))
        };
        let found = |line: usize, what: &str| Some((line, what.to_owned()));
        assert_eq!(
            find("- module: o365\n  audit: &common\n"),
            found(2, "a YAML anchor (&common)")
        );
        assert_eq!(
            find("  audit:\n    <<: *common\n"),
            found(2, "a YAML merge key (<<)")
        );
        assert_eq!(
            find("    var.tenants: *all\n"),
            found(1, "a YAML alias (*all)")
        );
        assert_eq!(
            find("      - *tenant\n"),
            found(1, "a YAML alias (*tenant)")
        );
        assert_eq!(find("    - &t id: x\n"), found(1, "a YAML anchor (&t)"));
        assert_eq!(find("    k: [a, *b]\n"), found(1, "a YAML alias (*b)"));
        for plain in [
            "    name: \"*not an alias\" # &nor this\n",
            "    name: 'a & b' # *c\n",
            "    name: Smith & Sons\n",
            "    resource: https://x/*&y\n",
            "    description: |\n      * a bullet\n      &more\n    next: 1\n",
            "    # <<: *commented\n",
        ] {
            assert_eq!(find(plain), None, "{plain:?}");
        }
        // The block ends where its key's indentation comes back.
        assert_eq!(
            find("    d: >-\n      * text\n    e: *x\n"),
            found(3, "a YAML alias (*x)")
        );
    }

    #[test]
    fn an_appended_entry_is_spaced_like_the_entries_before_it() {
        let spaced = |src: &str| blank_line_between(src, &item_spans(src));
        assert!(spaced("- a: 1\n\n- b: 2\n"));
        assert!(spaced("- a: 1\n# b\n\n# c\n- b: 2\n"));
        assert!(!spaced("- a: 1\n- b: 2\n"));
        assert!(!spaced("- a: 1\n# about b\n- b: 2\n"));
        // One entry tells nothing: a blank line, as Filebeat's sample spaces
        // its header from its entry; none where there is one already.
        assert!(spaced("# head\n- a: 1\n"));
        assert!(!spaced("- a: 1\n\n"));
        assert!(!spaced(""));
        assert!(!spaced("# only a comment\n\n"));
    }

    #[test]
    fn the_keystore_is_looked_for_where_each_install_keeps_its_data() {
        // deb and rpm: configuration in /etc/filebeat, data in /var/lib/filebeat.
        assert_eq!(
            keystore_candidates(Path::new("/etc/filebeat/modules.d/o365.yml")),
            [
                PathBuf::from("/var/lib/filebeat/filebeat.keystore"),
                PathBuf::from("/etc/filebeat/data/filebeat.keystore")
            ]
        );
        // tar.gz and Docker: data/ beside modules.d, under path.home.
        assert_eq!(
            keystore_candidates(Path::new("/opt/filebeat-8.15.0/modules.d/o365.yml")),
            [PathBuf::from("/opt/filebeat-8.15.0/data/filebeat.keystore")]
        );
        // filebeat.yml's own settings, keystore.path first.
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("modules.d/o365.yml");
        fs::write(dir.path().join("filebeat.yml"), "path.data: /srv/fb\n").unwrap();
        assert_eq!(
            keystore_candidates(&module),
            [
                PathBuf::from("/srv/fb/filebeat.keystore"),
                dir.path().join("data/filebeat.keystore")
            ]
        );
        fs::write(
            dir.path().join("filebeat.yml"),
            "path:\n  data: /srv/fb\nkeystore:\n  path: /srv/secrets/fb.keystore\n",
        )
        .unwrap();
        assert_eq!(
            keystore_candidates(&module),
            [PathBuf::from("/srv/secrets/fb.keystore")]
        );
        // A setting with a variable in it is not guessed at.
        fs::write(
            dir.path().join("filebeat.yml"),
            "path.data: ${path.home}/d\n",
        )
        .unwrap();
        assert_eq!(
            keystore_candidates(&module),
            [dir.path().join("data/filebeat.keystore")]
        );
    }

    #[test]
    fn spans_leave_comments_between_entries_outside() {
        let src = "# head\n- a: 1\n  b: 2\n\n# about c\n- c: 3\n";
        let spans = item_spans(src);
        assert_eq!(&src[spans[0].clone()], "- a: 1\n  b: 2\n");
        assert_eq!(&src[spans[1].clone()], "- c: 3\n");
    }

    #[test]
    fn scalars_are_found_with_their_quotes_and_without_their_comment() {
        fn at<'l>(line: &'l str, key: &str) -> Option<&'l str> {
            let indent = line.len() - line.trim_start().len();
            scalar_range(line, indent, key).map(|r| &line[r])
        }
        assert_eq!(at("    k: \"a \\\" # b\" # c", "k"), Some("\"a \\\" # b\""));
        assert_eq!(at("  k: 'it''s' # c", "k"), Some("'it''s'"));
        assert_eq!(at("  k: plain value # c", "k"), Some("plain value"));
        assert_eq!(at("  k: a#b", "k"), Some("a#b"));
        assert_eq!(at("  k:", "k"), None);
        assert_eq!(at("  k: # only a comment", "k"), None);
        assert_eq!(at("  k: [a, b]", "k"), None);
        assert_eq!(at("  k: &anchor a", "k"), None);
        assert_eq!(at("  k: \"open", "k"), None);
    }

    #[test]
    fn dotted_and_nested_keys_read_as_the_same_settings() {
        let dotted: Value = serde_yaml_ng::from_str(
            "audit:\n  var.api.poll_interval: 1m\n  var.api:\n    resource: r\n  var.tenants: [{id: a}]\n",
        )
        .unwrap();
        let nested: Value = serde_yaml_ng::from_str(
            "audit:\n  var:\n    tenants: [{id: a}]\n    api:\n      poll_interval: 1m\n      resource: r\n",
        )
        .unwrap();
        assert_ne!(dotted, nested);
        assert_eq!(normalize(&dotted), normalize(&nested));
    }
}
