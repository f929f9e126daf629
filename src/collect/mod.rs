//! `handoff collect`'s targets: one decrypted credential in, a change to the
//! collector's configuration files out.
//!
//! Each target ([`wazuh_office365`], [`wazuh_ms_graph`], [`filebeat_o365`],
//! [`env`](mod@env), [`json`]) is pure: [`plan`] reads the current files and
//! computes their new content without touching anything, so `--dry-run` can
//! print the [`Plan::diff`] and a test can look at the result.
//! [`Plan::apply`] then writes every changed file the same careful way: a
//! temporary file in the same directory, fsynced, with the original's mode
//! and owner, a backup of the original beside it, a rename over it, and an
//! fsync of the directory.
//! A plan whose files already hold the wanted content changes nothing, which
//! is what makes a second import of the same credential a no-op.

mod diff;
mod ossec_conf;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::integration::Integration;
use crate::payload::EntraCredential;

/// Declares every target at once from one line each (its variant, its name
/// in the CLI and the templates, its module): the module, the [`Target`]
/// enum with its names, the list `--target` offers and the dispatch.
macro_rules! targets {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal => $module:ident,)+) => {
        $(mod $module;)+

        /// Where the collected credentials go, as the CLI and the integration
        /// templates name it (`--target wazuh-office365`).
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum Target {
            $($(#[doc = $doc])* #[serde(rename = $name)] $variant,)+
        }

        impl Target {
            /// Every target, in the registry's order.
            pub(crate) const ALL: &[Target] = &[$(Target::$variant,)+];

            /// Its name in the CLI and the templates.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Target::$variant => $name,)+
                }
            }

            /// What the target takes from a template's `[collect]` section.
            pub(crate) fn reads(self) -> Reads {
                match self {
                    $(Target::$variant => $module::READS,)+
                }
            }

            /// Whether `handoff collect`'s options suit the target, checked
            /// before anything is leased; why not, as a sentence.
            pub(crate) fn check_args(self, args: &TargetArgs, dry_run: bool) -> Result<(), String> {
                match self {
                    $(Target::$variant => $module::check_args(args, dry_run),)+
                }
            }

            /// The target's own plan; [`plan`] checks the template and the
            /// cloud first.
            fn plan_for(self, args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
                match self {
                    $(Target::$variant => $module::plan(args, import),)+
                }
            }
        }
    };
}

targets! {
    /// Wazuh's `<office365>` module (Management Activity API).
    WazuhOffice365 = "wazuh-office365" => wazuh_office365,
    /// Wazuh's `<ms-graph>` module (4.6+).
    WazuhMsGraph = "wazuh-ms-graph" => wazuh_ms_graph,
    /// Filebeat's `o365` module.
    FilebeatO365 = "filebeat-o365" => filebeat_o365,
    /// `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`.
    Env = "env" => env,
    /// The fields as JSON, for anything else.
    Json = "json" => json,
}

/// The part of a template's `[collect]` section a target writes into a
/// collector's configuration; each target's file says which
/// (`const READS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Management Activity API content types; a template for such a
    /// target must list some.
    ContentTypes,
    /// Graph resources and their relationships; a template for such a target
    /// must list some.
    GraphResources,
    /// Other Graph paths, only for the SOC's own collector to read; may be
    /// empty.
    GraphEndpoints,
}

impl Reads {
    /// Its key in the template's `[collect]` section.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Reads::ContentTypes => "content_types",
            Reads::GraphResources => "graph_resources",
            Reads::GraphEndpoints => "graph_endpoints",
        }
    }
}

/// One credential to import, with what the targets need to know around it.
pub struct Import<'a> {
    pub credential: &'a EntraCredential,
    /// The template the request was made from: what to collect (content
    /// types, Graph resources) and which targets suit it.
    pub integration: &'a Integration,
    /// The request's customer label, as the PM typed it: names the output
    /// files of `env` and `json` and labels the tenant in Filebeat.
    pub customer: &'a str,
    pub request_id: &'a str,
}

/// Where each target writes. Flattened into `handoff collect`.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// The Wazuh file that configures the office365 and ms-graph modules
    /// (`wazuh-office365`, `wazuh-ms-graph`): a 4.x manager's or an agent's
    /// ossec.conf, or a group's `etc/shared/<group>/agent.conf` on the
    /// manager, told apart by its root element. `--wazuh-conf` is the same
    /// option under a name that fits all three.
    #[arg(
        long,
        visible_alias = "wazuh-conf",
        env = "HANDOFF_OSSEC_CONF",
        default_value = "/var/ossec/etc/ossec.conf"
    )]
    pub ossec_conf: PathBuf,
    /// Where `wazuh-office365` writes each tenant's client secret, one file
    /// per tenant ID, referenced by `<client_secret_path>`. Must be absolute.
    #[arg(
        long,
        env = "HANDOFF_SECRETS_DIR",
        default_value = "/var/ossec/etc/handoff-secrets"
    )]
    pub secrets_dir: PathBuf,
    /// Filebeat's o365 module file (`filebeat-o365`).
    #[arg(
        long,
        env = "HANDOFF_FILEBEAT_MODULE",
        default_value = "/etc/filebeat/modules.d/o365.yml"
    )]
    pub filebeat_module: PathBuf,
    /// A `KEY=value` file (mode 0600) to write the `${KEY}` the Filebeat
    /// module refers to, e.g. a systemd `EnvironmentFile`. Required for a
    /// real import (acknowledging deletes the sealed copy, so the secret must
    /// land somewhere); a dry run without it says what a real run would write.
    #[arg(long, env = "HANDOFF_FILEBEAT_ENV_FILE")]
    pub filebeat_env_file: Option<PathBuf>,
    /// Where `env` and `json` write one file per customer.
    #[arg(
        long,
        env = "HANDOFF_OUTPUT_DIR",
        default_value = "/var/lib/handoff/credentials"
    )]
    pub output_dir: PathBuf,
}

impl TargetArgs {
    /// Everything under `dir`: for tests and for callers that keep a
    /// collector's files in one place.
    pub fn under(dir: &Path) -> TargetArgs {
        TargetArgs {
            ossec_conf: dir.join("ossec.conf"),
            secrets_dir: dir.join("handoff-secrets"),
            filebeat_module: dir.join("o365.yml"),
            filebeat_env_file: None,
            output_dir: dir.join("credentials"),
        }
    }
}

/// Why a target could not plan or apply a change. Every message names the
/// file or the value at fault and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The file exists but is not what its collector would read; it is
    /// refused and left as it is.
    #[error("{}: {problem}; the file was left untouched", path.display())]
    Malformed { path: PathBuf, problem: String },
    /// The credential or template cannot be expressed by this target (a
    /// national cloud it has no setting for, a value it cannot hold).
    #[error("{0}")]
    Refused(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Someone else wrote the file between plan and apply.
    #[error("{} changed after the change was planned; nothing was written to it, plan again", path.display())]
    Changed { path: PathBuf },
}

impl TargetError {
    fn malformed(path: &Path, problem: impl Into<String>) -> TargetError {
        TargetError::Malformed {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The new content of one file, next to its current content.
#[derive(Clone)]
pub struct FileChange {
    pub path: PathBuf,
    /// `None` if the file does not exist yet.
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
    /// The mode a new file gets; an existing file keeps its own.
    pub mode_if_new: u32,
    /// The owner (uid, gid) a new file gets, where a collector refuses files
    /// that are not owned like its others; `None` leaves the writer's own.
    /// An existing file keeps its owner.
    pub owner_if_new: Option<(u32, u32)>,
    /// The whole content is a secret value (a secret file): diffs show its
    /// size, never its bytes.
    pub secret: bool,
}

impl FileChange {
    pub fn is_noop(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_slice())
    }
}

impl std::fmt::Debug for FileChange {
    /// Sizes only: the content may hold a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileChange")
            .field("path", &self.path)
            .field("before_len", &self.before.as_ref().map(Vec::len))
            .field("after_len", &self.after.len())
            .field("mode_if_new", &format_args!("{:o}", self.mode_if_new))
            .field("secret", &self.secret)
            .finish()
    }
}

/// What a target would change, and what the operator should know about it.
pub struct Plan {
    /// In the order they are written: a file another one refers to (a
    /// secret file) comes first.
    pub changes: Vec<FileChange>,
    /// Sentences for the operator: restarts, manual steps, warnings.
    pub notes: Vec<String>,
    /// Values masked wherever a diff would show them.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("changes", &self.changes)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

/// A file [`Plan::apply`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub path: PathBuf,
    /// The original's copy, if there was an original.
    pub backup: Option<PathBuf>,
}

impl Plan {
    fn new(changes: Vec<FileChange>, notes: Vec<String>, credential: &EntraCredential) -> Plan {
        Plan {
            changes,
            notes,
            secrets: vec![credential.client_secret.clone()],
        }
    }

    /// True if every file already holds what the plan would write.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(FileChange::is_noop)
    }

    /// A unified diff of every change, for `--dry-run`. Secret values are
    /// masked: the credential's secret wherever it appears, any value whose
    /// key or element names a secret, and secret files as a whole.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for c in self.changes.iter().filter(|c| !c.is_noop()) {
            let shown = c.path.display();
            let old_name = if c.before.is_some() {
                shown.to_string()
            } else {
                "/dev/null".to_owned()
            };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "--- {old_name}\n+++ {shown}");
            if c.secret {
                let _ = writeln!(
                    out,
                    "(secret value, {} bytes, not shown{})",
                    c.after.len(),
                    if c.before.is_some() {
                        "; it replaces the current one"
                    } else {
                        ""
                    }
                );
                continue;
            }
            let before = String::from_utf8_lossy(c.before.as_deref().unwrap_or_default());
            let after = String::from_utf8_lossy(&c.after);
            // The indentation of a secret's key whose value continues on
            // the lines below it (`var.client_secret: >-`), while they last.
            let mut block: Option<usize> = None;
            for line in diff::unified(&before, &after, 3) {
                let body = line.get(1..).unwrap_or_default();
                let indent = body.len() - body.trim_start().len();
                let inside = block.is_some_and(|at| {
                    !line.starts_with("@@") && (body.trim().is_empty() || indent > at)
                });
                if inside {
                    if !body.trim().is_empty() {
                        let _ = write!(out, "{}{}", &line[..1], &body[..indent]);
                        out.push_str(&masked_secret(body.trim()));
                    } else {
                        out.push_str(&line);
                    }
                } else {
                    block = secret_block(body);
                    out.push_str(&mask_line(&line, &self.secrets));
                }
                out.push('\n');
            }
        }
        out
    }

    /// Writes every changed file (see the module's documentation). Files
    /// already holding their new content are not touched: no write, no backup.
    pub fn apply(&self) -> Result<Vec<Applied>, TargetError> {
        let stamp = utc_stamp();
        let mut applied = Vec::new();
        for change in self.changes.iter().filter(|c| !c.is_noop()) {
            applied.push(write_change(change, &stamp)?);
        }
        Ok(applied)
    }
}

/// The plan for targets that keep one 0600 file per customer
/// (`<output-dir>/<customer-slug>.<ext>`). `render` gets the file's current
/// text (`None` for a new file) and gives its new text, keeping whatever in
/// it is not about the credential; it also gets the file's path, for errors.
fn customer_file(
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
fn refuse_if_others_can_access(path: &Path) -> Result<(), TargetError> {
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

/// `KEY=value` lines set in an environment file's text, everything else kept
/// as it is: each key's first assignment (with or without `export `) gets the
/// new value in place, later assignments of it go (a shell would take the
/// last), and keys the file lacks are appended. `None` as a value removes the
/// key's lines.
fn set_env_lines(current: &str, vars: &[(&str, Option<String>)]) -> String {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    for (key, value) in vars {
        let mut seen = false;
        lines.retain_mut(|line| {
            if !env_assigns(line, key) {
                return true;
            }
            match value {
                Some(v) if !seen => {
                    seen = true;
                    let (head, old) = line.split_once('=').unwrap_or((line.as_str(), ""));
                    let (old_value, trailing) = env_assignment(old);
                    // The same value as the operator wrote it (quotes, a
                    // comment) stays byte for byte.
                    if old_value != env_assignment(v).0 {
                        *line = format!("{}={v}{trailing}", head.trim_end());
                    }
                    true
                }
                _ => false,
            }
        });
        if let (false, Some(v)) = (seen, value) {
            lines.push(format!("{key}={v}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Plans `kind`'s change for one credential. Reads files; writes nothing.
pub fn plan(kind: Target, args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    if !import.integration.targets.contains(&kind) {
        let suits: Vec<&str> = import
            .integration
            .targets
            .iter()
            .map(|t| t.as_str())
            .collect();
        return Err(TargetError::Refused(format!(
            "the template {:?} is not meant for the {} target (it suits: {})",
            import.integration.id,
            kind.as_str(),
            suits.join(", ")
        )));
    }
    if let Some(why) = import.integration.cloud_refusal(import.credential.cloud) {
        return Err(TargetError::Refused(format!(
            "the credential is for a {} tenant, which the template {:?} cannot collect from: {why}; ask the customer which cloud their tenant is in, or use a template made for that cloud",
            import.credential.cloud, import.integration.id
        )));
    }
    kind.plan_for(args, import)
}

impl clap::ValueEnum for Target {
    fn value_variants<'a>() -> &'a [Self] {
        Target::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        Target::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Target::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown target {s:?} (known: {})", known.join(", "))
            })
    }
}

// ---- helpers the targets share ----

/// The file's bytes, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, TargetError> {
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
fn read_text(path: &Path) -> Result<Option<String>, TargetError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| TargetError::malformed(path, format!("not UTF-8 text ({e})"))),
    }
}

/// A customer label as a file name: lower-case letters, digits and `-`.
pub fn customer_slug(customer: &str) -> String {
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

/// A value for a `KEY=value` line that a POSIX shell, systemd's
/// `EnvironmentFile` and Docker's `--env-file` all read the same way where
/// possible: bare when it needs no quoting, else in single quotes.
fn env_value(name: &str, value: &str) -> Result<String, TargetError> {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=:@%,".contains(c);
    if !value.is_empty() && value.chars().all(bare) {
        Ok(value.to_owned())
    } else if value.chars().any(|c| c == '\'' || c.is_control()) {
        Err(TargetError::Refused(format!(
            "{name} holds a quote or a control character, which an environment file cannot carry safely"
        )))
    } else {
        Ok(format!("'{value}'"))
    }
}

/// True if the environment-file line sets `key` (`KEY=...`, `export KEY=...`).
fn env_assigns(line: &str, key: &str) -> bool {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    l.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// The value an environment file's text gives `key`: its last assignment
/// (a shell takes the last), unquoted.
fn env_lookup<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let line = text.lines().rfind(|l| env_assigns(l, key))?;
    let (_, value) = line.split_once('=')?;
    Some(env_assignment(value).0)
}

/// The value of `KEY=value` text after the `=`, unquoted, and what follows
/// it on the line (a ` # comment`), as a shell reads the common forms: a
/// single-quoted, a double-quoted or a bare word.
fn env_assignment(text: &str) -> (&str, &str) {
    let closing = |q: char| {
        text[1..]
            .find(q)
            .map(|end| (&text[1..end + 1], &text[end + 2..]))
    };
    let quoted = match text.chars().next() {
        Some(q @ ('\'' | '"')) => closing(q),
        _ => None,
    };
    quoted.unwrap_or_else(|| {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        (&text[..end], &text[end..])
    })
}

/// `20250131T120000Z`: backups sort by time and never contain a colon.
fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    now.format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// What a diff shows for a secret value: stars and the first 8 hex digits
/// of its SHA-256 (`********#1a2b3c4d`), so that an operator can tell a
/// rotation from a rewrite of the same value without any of the value
/// itself reaching the terminal or a journal. A value under 12 characters
/// shows stars only: a digest of something that short could be guessed.
pub fn masked_secret(value: &str) -> String {
    use sha2::Digest;
    const STARS: &str = "********";
    let value = value.trim_matches(['\'', '"']);
    if value.chars().count() < 12 {
        return STARS.to_owned();
    }
    let digest = sha2::Sha256::digest(value.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{STARS}#{hex}")
}

/// The indentation of `line`'s key if it names a secret whose value starts
/// on the next line: a YAML block scalar (`|`, `>-`) or nothing after the `:`.
fn secret_block(line: &str) -> Option<usize> {
    let (key, value) = line.split_once(':')?;
    let name = key.trim().to_ascii_lowercase();
    let value = value.split(" #").next().unwrap_or_default().trim();
    let names_secret = name.contains("secret")
        && !name.contains("expires")
        && !name.contains("path")
        && !name.contains(['<', '{', '=']);
    let continues = value.is_empty() || value.starts_with(['|', '>']);
    (names_secret && continues).then(|| key.len() - key.trim_start().len())
}

/// Masks a diff line: the known secrets, an XML element naming a secret,
/// and every `key: value` / `KEY=value` on it whose key names one (but not a
/// `${REF}`).
fn mask_line(line: &str, secrets: &[String]) -> String {
    let mut line = line.to_owned();
    let mut done = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if line.contains(s.as_str()) {
            let m = masked_secret(s);
            line = line.replace(s.as_str(), &m);
            done.push(m);
        }
    }
    let is_done = |v: &str| done.iter().any(|m| m == v);
    for tag in ["secret_value", "client_secret"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let (Some(a), Some(b)) = (line.find(&open), line.find(&close)) {
            let a = a + open.len();
            if a <= b && !is_done(&line[a..b]) {
                let m = masked_secret(&line[a..b]);
                line.replace_range(a..b, &m);
                return line;
            }
        }
    }
    // The line's own key, or a later one: a flow mapping such as
    // `- {module: o365, audit: {var.client_secret: "…"}}` (another tenant's
    // entry, shown as context) holds its secret after the first `:`.
    let mut from = 0;
    while let Some(rel) = line[from..].find(['=', ':']) {
        let at = from + rel;
        let start = line[from..at]
            .rfind(['{', ','])
            .map_or(from, |i| from + i + 1);
        let key = line[start..at].to_ascii_lowercase();
        let value = line[at + 1..].trim();
        let names_secret = key.contains("secret")
            && !key.contains("expires")
            && !key.contains("path")
            && !key.contains('<');
        if names_secret && !value.is_empty() && !value.contains("${") && !is_done(value) {
            let sep = if &line[at..at + 1] == "=" { "=" } else { ": " };
            return format!("{}{sep}{}", &line[..at], masked_secret(value));
        }
        from = at + 1;
    }
    line
}

fn write_change(change: &FileChange, stamp: &str) -> Result<Applied, TargetError> {
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

/// Backups kept per file: older ones go, so that copies of replaced secrets
/// do not pile up beside the live one.
pub const KEEP_BACKUPS: usize = 5;

/// Deletes all but the newest [`KEEP_BACKUPS`] backups of `name` in `dir`.
/// Best effort: a backup that cannot be listed or removed stays.
fn prune_backups(dir: &Path, name: &str) {
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
fn new_file(dir: &Path, name: impl Fn(u32) -> String) -> Result<(PathBuf, fs::File), TargetError> {
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
fn fill(
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
pub(crate) mod testing {
    //! A credential and templates for the targets' unit tests.
    use std::collections::BTreeMap;

    use super::*;
    use crate::integration::Integrations;

    pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    pub const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
    pub const SECRET: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";

    pub fn credential(template: &str, cloud: &str) -> EntraCredential {
        EntraCredential {
            template: template.to_owned(),
            tenant_id: TENANT.to_owned(),
            client_id: CLIENT.to_owned(),
            client_secret: SECRET.to_owned(),
            secret_expires_on: Some("2026-06-30".to_owned()),
            cloud: crate::cloud::Cloud::parse(cloud)
                .unwrap_or_else(|| panic!("no cloud {cloud:?}")),
            extra: BTreeMap::new(),
        }
    }

    pub fn integration(id: &str) -> Integration {
        Integrations::builtin()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no built-in template {id}"))
    }

    pub fn import<'a>(cred: &'a EntraCredential, integration: &'a Integration) -> Import<'a> {
        Import {
            credential: cred,
            integration,
            customer: "Contoso Ltd",
            request_id: "req_0123",
        }
    }

    pub fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    pub fn backups(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".bak"))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn target_names_parse_as_on_the_command_line() {
        for name in [
            "wazuh-office365",
            "wazuh-ms-graph",
            "filebeat-o365",
            "env",
            "json",
        ] {
            assert_eq!(Target::from_str(name).unwrap().as_str(), name);
        }
        let err = Target::from_str("splunk").unwrap_err();
        assert_eq!(
            err,
            "unknown target \"splunk\" (known: wazuh-office365, wazuh-ms-graph, filebeat-o365, env, json)"
        );
        for t in Target::ALL {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::from(t.as_str()),
                "templates and the CLI name a target alike"
            );
            let value = clap::ValueEnum::to_possible_value(t).unwrap();
            assert_eq!(value.get_name(), t.as_str());
        }
    }

    #[test]
    fn targets_check_their_options_before_anything_is_leased() {
        let mut args = TargetArgs::under(Path::new("/var/lib/handoff"));
        for t in Target::ALL {
            let real_run = t.check_args(&args, false);
            assert_eq!(real_run.is_err(), *t == Target::FilebeatO365, "{t:?}");
            assert_eq!(t.check_args(&args, true), Ok(()), "{t:?}");
        }
        args.filebeat_env_file = Some(PathBuf::from("/etc/filebeat/handoff.env"));
        assert_eq!(Target::FilebeatO365.check_args(&args, false), Ok(()));
        args.secrets_dir = PathBuf::from("handoff-secrets");
        assert_eq!(
            Target::WazuhOffice365.check_args(&args, true),
            Err("--secrets-dir handoff-secrets must be an absolute path: Wazuh reads <client_secret_path> from its own directory".to_owned())
        );
    }

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
    fn masking_hides_secret_values_but_not_references() {
        let s = vec![SECRET.to_owned()];
        assert_eq!(
            mask_line(&format!("+AZURE_CLIENT_SECRET={SECRET}"), &s),
            format!("+AZURE_CLIENT_SECRET={}", masked_secret(SECRET))
        );
        assert_eq!(
            mask_line(
                "-      <secret_value>Kx71Q~oldsecretvalue</secret_value>",
                &s
            ),
            format!(
                "-      <secret_value>{}</secret_value>",
                masked_secret("Kx71Q~oldsecretvalue")
            )
        );
        assert_eq!(
            mask_line("-      <client_secret>short</client_secret>", &s),
            "-      <client_secret>********</client_secret>"
        );
        assert_eq!(
            mask_line("+O365_SECRET_ABC='Zz9Q~quotedquotedquoted'", &s),
            format!(
                "+O365_SECRET_ABC={}",
                masked_secret("Zz9Q~quotedquotedquoted")
            )
        );
        let r = "+    var.client_secret: \"${O365_SECRET_ABC}\"";
        assert_eq!(mask_line(r, &s), r);
        let p = "+    <client_secret_path>/x/y</client_secret_path>";
        assert_eq!(mask_line(p, &s), p);
        // Another tenant's entry in flow style, shown as context: its
        // literal secret comes after the line's first `:`.
        let flow = " - {module: o365, audit: {var.client_secret: \"Qw8Q~otherTenantSecret\"}}";
        let shown = mask_line(flow, &s);
        assert!(!shown.contains("otherTenantSecret"), "{shown}");
        assert_eq!(
            shown,
            format!(
                " - {{module: o365, audit: {{var.client_secret: {}",
                masked_secret("\"Qw8Q~otherTenantSecret\"}}")
            )
        );
        let env = "-export X=1 AZURE_CLIENT_SECRET=Kx71Q~oldsecretvalue";
        assert!(!mask_line(env, &s).contains("oldsecretvalue"));
        // A literal secret written as a YAML block scalar, or on the line
        // below its key, is masked on the lines that hold it.
        let block = Plan::new(
            vec![FileChange {
                path: PathBuf::from("o365.yml"),
                before: Some(
                    b"- module: o365\n  audit:\n    var.client_secret: >-\n      Qw8Q~blockScalarSecret\n    var.client_id: x\n    var.secret_b:\n      Qw8Q~plainNextLine\n".to_vec(),
                ),
                after: b"- module: o365\n  audit:\n    var.client_secret: >-\n      Qw8Q~blockScalarSecret\n    var.client_id: y\n    var.secret_b:\n      Qw8Q~plainNextLine\n".to_vec(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: false,
            }],
            Vec::new(),
            &credential("defender-incidents", "commercial"),
        )
        .diff();
        assert!(!block.contains("blockScalarSecret"), "{block}");
        assert!(!block.contains("plainNextLine"), "{block}");
        assert!(
            block.contains("-    var.client_id: x\n+    var.client_id: y\n"),
            "{block}"
        );
        // Stars and a digest prefix, none of the value itself.
        let m = masked_secret(SECRET);
        assert!(m.starts_with("********#") && m.len() == 17, "{m}");
        assert!(
            !SECRET.contains(&m[9..]) && !m.contains(&SECRET[..3]),
            "{m}"
        );
        assert_ne!(m, masked_secret("Kx71Q~oldsecretvalue"));
        // A rotation reads as one: the old value's digest against the new one's.
        let rotated = Plan::new(
            vec![FileChange {
                path: PathBuf::from("ossec.conf"),
                before: Some(
                    b"<a>\n  <secret_value>Kx71Q~oldsecretvalue</secret_value>\n</a>\n".to_vec(),
                ),
                after: format!("<a>\n  <secret_value>{SECRET}</secret_value>\n</a>\n").into_bytes(),
                mode_if_new: 0o600,
                owner_if_new: None,
                secret: false,
            }],
            vec![],
            &credential("defender-incidents", "commercial"),
        )
        .diff();
        assert!(
            rotated.contains(&format!(
                "-  <secret_value>{}</secret_value>",
                masked_secret("Kx71Q~oldsecretvalue")
            )),
            "{rotated}"
        );
        assert!(
            rotated.contains(&format!(
                "+  <secret_value>{}</secret_value>",
                masked_secret(SECRET)
            )),
            "{rotated}"
        );
        assert!(
            !rotated.contains(&SECRET[3..]) && !rotated.contains("oldsecret"),
            "{rotated}"
        );
    }

    #[test]
    fn a_template_is_only_written_to_the_targets_it_suits() {
        let dir = tempfile::tempdir().unwrap();
        let cred = credential("defender-incidents", "commercial");
        let integ = integration("defender-incidents");
        let err = plan(
            Target::WazuhOffice365,
            &TargetArgs::under(dir.path()),
            &import(&cred, &integ),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("not meant for the wazuh-office365 target"),
            "{err}"
        );
    }

    #[test]
    fn a_cloud_the_template_cannot_collect_from_is_refused_by_every_target() {
        let dir = tempfile::tempdir().unwrap();
        let args = TargetArgs::under(dir.path());
        let cred = credential("defender-incidents", "china");
        let integ = integration("defender-incidents");
        for kind in [Target::Env, Target::Json, Target::WazuhMsGraph] {
            let err = plan(kind, &args, &import(&cred, &integ))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("the credential is for a china tenant, which the template \"defender-incidents\" cannot collect from"),
                "{err}"
            );
        }
        assert!(!args.output_dir.exists(), "nothing was written");
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
