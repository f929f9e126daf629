//! `handoff collect`'s targets: one decrypted credential in, a change to the
//! collector's configuration files, or requests to its API, out.
//!
//! Each target ([`wazuh_office365`], [`wazuh_ms_graph`], [`filebeat_o365`],
//! [`env`](mod@env), [`json`], [`http`](mod@http), [`wazuh_api`],
//! [`qradar`], [`elastic_agent`], [`splunk_o365`], [`cribl`]) plans
//! without changing anything: [`plan`] reads the current files and computes
//! their new content, or the requests an API target would send, so
//! `--dry-run` can print the [`Plan::diff`] and a test can look at the
//! result. A target whose configuration lives behind its API (`wazuh-api`,
//! `qradar`, `elastic-agent`, `splunk-o365`, `cribl`, marked `@reads_api` in the registry) reads it there first,
//! through the collector's [`Api`] ([`plan_with_api`]): a login and GETs,
//! never a change.
//! [`Plan::apply`] then writes every changed file the same careful way: a
//! temporary file in the same directory, fsynced, with the original's mode
//! and owner, a backup of the original beside it, a rename over it, and an
//! fsync of the directory.
//! A plan whose files already hold the wanted content changes nothing, which
//! is what makes a second import of the same credential a no-op.
//! [`Plan::send`] then sends an API target's requests through the one
//! [`Api`] the collector built at start (see [`api`]); a platform that
//! follows HTTP semantics makes their repetition a no-op too.

mod api;
mod diff;
mod env_file;
mod files;
mod mask;
mod ossec_conf;
mod stored;
mod write;

pub(crate) use api::Api;
use api::ApiRequest;
use env_file::{env_lookup, env_value, set_env_lines};
use files::{customer_file, read_optional, read_text, refuse_if_others_can_access};
pub use mask::masked_secret;
use mask::{mask_line, secret_block};
pub(crate) use stored::{Unreadable, stored};
use write::{utc_stamp, write_change};

use std::fmt::Write as _;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::integration::Integration;
use crate::payload::EntraCredential;

/// Declares every target at once from one line each (its variant, its name
/// in the CLI and the templates, its module): the module, the [`Target`]
/// enum with its names, the list `--target` offers and the dispatch.
///
/// A target that must read its API while planning (the configuration it
/// merges into lives behind the API) is marked `@reads_api` before its
/// module: its `plan` is `async fn plan(&TargetArgs, &Import, &Api)`, and
/// only [`plan_with_api`] (what the collector calls) can run it. Every other
/// target's `plan` stays synchronous and pure.
macro_rules! targets {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal => $(@$reads_api:ident)? $module:ident,)+) => {
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
            /// cloud first. A `reads_api` target refuses: it needs its API.
            fn plan_for(self, args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
                match self {
                    $(Target::$variant => plan_call!($($reads_api)? self, $module, args, import),)+
                }
            }

            /// The target's own plan, reading its API first if it is a
            /// `reads_api` target; [`plan_with_api`] checks the template
            /// and the cloud first.
            async fn plan_reading(
                self,
                args: &TargetArgs,
                import: &Import<'_>,
                api: Option<&Api>,
            ) -> Result<Plan, TargetError> {
                match self {
                    $(Target::$variant => plan_call!($($reads_api)? self, $module, args, import, api),)+
                }
            }
        }
    };
}

/// One registry line's call to its module's `plan`: with the API for a
/// `reads_api` target (refused without one), without for the others.
macro_rules! plan_call {
    (reads_api $target:ident, $module:ident, $args:ident, $import:ident) => {
        Err(TargetError::Refused(format!(
            "the {} target reads its configuration from its API while planning: run it through handoff collect with --api-url",
            $target.as_str()
        )))
    };
    ($target:ident, $module:ident, $args:ident, $import:ident) => {
        $module::plan($args, $import)
    };
    (reads_api $target:ident, $module:ident, $args:ident, $import:ident, $api:ident) => {
        match $api {
            Some(api) => $module::plan($args, $import, api).await,
            None => plan_call!(reads_api $target, $module, $args, $import),
        }
    };
    ($target:ident, $module:ident, $args:ident, $import:ident, $api:ident) => {
        $module::plan($args, $import)
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
    /// A SOC platform's own API: a JSON body from the SOC's template.
    Http = "http" => http,
    /// A Wazuh manager's ossec.conf, or a group's agent.conf, through the
    /// Wazuh server API.
    WazuhApi = "wazuh-api" => @reads_api wazuh_api,
    /// An IBM QRadar log source (Office 365 REST API or Microsoft Graph
    /// Security API protocol), through QRadar's REST API.
    Qradar = "qradar" => @reads_api qradar,
    /// An Elastic Agent integration policy (Fleet package policy of the
    /// `o365` or `m365_defender` package), through Kibana's Fleet API.
    ElasticAgent = "elastic-agent" => @reads_api elastic_agent,
    /// The Splunk Add-on for Microsoft Office 365: a tenant and its
    /// Management Activity inputs, through splunkd's REST API.
    SplunkO365 = "splunk-o365" => @reads_api splunk_o365,
    /// A Cribl Stream Office 365 Activity Source and its stored secret in
    /// a Worker Group, through the Leader's REST API, committed and
    /// deployed.
    Cribl = "cribl" => @reads_api cribl,
    /// The files of a files request, into a folder per request.
    Dir = "dir" => dir,
}

pub(crate) use dir::{FilesImport, import_files};

pub use http::{HttpAuth, HttpMethod};

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
    /// Management Activity API content types, or Graph resources of which
    /// the target collects only the listed `(resource, relationship)`
    /// pairs: a target with a protocol for each API (`qradar`) picks it by
    /// what the template lists. A template for such a target must list
    /// content types or one of those pairs.
    ContentTypesOrGraph(&'static [(&'static str, &'static str)]),
    /// The content types where the template lists some, nothing otherwise:
    /// a target that picks what to collect by the template (`elastic-agent`
    /// turns `o365-management`'s content types into its package's setting,
    /// and collects `defender-incidents` without any).
    ContentTypesIfListed,
    /// Nothing: the target writes the files a files request carries.
    Nothing,
}

impl Reads {
    /// Its key in the template's `[collect]` section.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Reads::ContentTypes | Reads::ContentTypesIfListed => "content_types",
            Reads::GraphResources => "graph_resources",
            Reads::GraphEndpoints => "graph_endpoints",
            Reads::ContentTypesOrGraph(_) => "content_types or graph_resources",
            Reads::Nothing => "",
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
    /// option under a name that fits all three. A relative path is taken
    /// from the working directory.
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
    /// Filebeat's o365 module file (`filebeat-o365`). A relative path is
    /// taken from the working directory.
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
    /// A relative path is taken from the working directory.
    #[arg(long, env = "HANDOFF_FILEBEAT_ENV_FILE")]
    pub filebeat_env_file: Option<PathBuf>,
    /// Where `env` and `json` write one file per customer. A relative path is
    /// taken from the working directory.
    #[arg(
        long,
        env = "HANDOFF_OUTPUT_DIR",
        default_value = "/var/lib/handoff/credentials"
    )]
    pub output_dir: PathBuf,
    /// API targets (`http`): the platform's endpoint, https:// (http:// on
    /// this machine only). `http` fills `{tenant_id}`-style placeholders in it.
    #[arg(long, env = "HANDOFF_API_URL", value_parser = api::parse_url)]
    pub api_url: Option<String>,
    /// API targets: a file (mode 0600) holding the platform's API token
    /// (`http`: the bearer token, or the HMAC key with `--http-auth hmac`;
    /// `wazuh-api`: `USER:PASSWORD` of a Wazuh API user; `qradar`: an
    /// authorized service token; `splunk-o365`: a Splunk authentication
    /// token, or `USER:PASSWORD` of a Splunk user; `cribl`: a bearer token,
    /// or `USER:PASSWORD` of a Cribl user to log in with). A relative path
    /// is taken from the working directory.
    #[arg(long, env = "HANDOFF_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// API targets: PEM certificates of a private CA to trust besides the
    /// usual web roots. TLS is always verified. A relative path is taken
    /// from the working directory.
    #[arg(long, env = "HANDOFF_API_CA_FILE")]
    pub api_ca_file: Option<PathBuf>,
    /// `http`: a JSON file, the body to send with `{placeholders}` for the
    /// credential's fields (see the README). A relative path is taken from
    /// the working directory.
    #[arg(long, env = "HANDOFF_HTTP_BODY_TEMPLATE")]
    pub http_body_template: Option<PathBuf>,
    /// `http`: POST, or PUT (to a per-tenant `--api-url`).
    #[arg(long, value_enum, env = "HANDOFF_HTTP_METHOD", default_value = "post")]
    pub http_method: HttpMethod,
    /// `http`: how `--api-token-file`'s secret is used: a bearer token, or
    /// the key of an `X-Handoff-Signature` HMAC-SHA256 header.
    #[arg(long, value_enum, env = "HANDOFF_HTTP_AUTH", default_value = "bearer")]
    pub http_auth: HttpAuth,
    /// `wazuh-api`: write the agent.conf of this agent group (`GET
    /// /groups/{group}/files/agent.conf`, `PUT /groups/{group}/configuration`)
    /// instead of the manager's ossec.conf.
    #[arg(long, env = "HANDOFF_WAZUH_GROUP")]
    pub wazuh_group: Option<String>,
    /// `wazuh-api`: do not restart the manager after changing its ossec.conf
    /// (`PUT /manager/restart`); a note says to restart it.
    #[arg(long, env = "HANDOFF_WAZUH_NO_RESTART")]
    pub wazuh_no_restart: bool,
    /// `elastic-agent`: the id of the Fleet agent policy the integration
    /// policy joins (Fleet > Agent policies > the policy > its id, or `GET
    /// /api/fleet/agent_policies`).
    #[arg(long, env = "HANDOFF_FLEET_AGENT_POLICY")]
    pub fleet_agent_policy: Option<String>,
    /// `splunk-o365`: the Splunk index the new Management Activity inputs
    /// write to. `default` is what the add-on's own input form proposes:
    /// splunkd's default index (usually `main`).
    #[arg(long, env = "HANDOFF_SPLUNK_INDEX", default_value = "default")]
    pub splunk_index: String,
    /// `splunk-o365`: how often, in seconds, each new Management Activity
    /// input runs (the add-on proposes 300).
    #[arg(long, env = "HANDOFF_SPLUNK_INTERVAL", default_value_t = 300)]
    pub splunk_interval: u32,
    /// `cribl`: the Worker Group whose Office 365 Activity Source and
    /// stored secret handoff writes, commits and deploys (its id, as in
    /// `/api/v1/m/<group>`).
    #[arg(long, env = "HANDOFF_CRIBL_GROUP", default_value = "default")]
    pub cribl_group: String,
    /// `cribl`: the API is a single Cribl Stream instance without a Leader
    /// or groups: no `/m/<group>`, and a commit with no deploy.
    #[arg(long, env = "HANDOFF_CRIBL_SINGLE_INSTANCE")]
    pub cribl_single_instance: bool,
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
            api_url: None,
            api_token_file: None,
            api_ca_file: None,
            http_body_template: None,
            http_method: HttpMethod::Post,
            http_auth: HttpAuth::Bearer,
            wazuh_group: None,
            wazuh_no_restart: false,
            fleet_agent_policy: None,
            splunk_index: "default".to_owned(),
            splunk_interval: 300,
            cribl_group: "default".to_owned(),
            cribl_single_instance: false,
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
    /// A collector's API did not confirm a change: unreachable, or an
    /// answer other than 2xx, in the platform's own words (secrets masked).
    #[error("{0}")]
    Api(String),
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
    pub(crate) before: Option<Vec<u8>>,
    pub(crate) after: Vec<u8>,
    /// The mode a new file gets; an existing file keeps its own.
    pub(crate) mode_if_new: u32,
    /// The owner (uid, gid) a new file gets, where a collector refuses files
    /// that are not owned like its others; `None` leaves the writer's own.
    /// An existing file keeps its owner.
    pub(crate) owner_if_new: Option<(u32, u32)>,
    /// The whole content is a secret value (a secret file): diffs show its
    /// size, never its bytes.
    pub(crate) secret: bool,
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
    /// An API target's requests, sent in order after the files are written.
    pub(crate) requests: Vec<ApiRequest>,
    /// Sentences for the operator: restarts, manual steps, warnings.
    pub notes: Vec<String>,
    /// Values masked wherever a diff would show them.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("changes", &self.changes)
            .field("requests", &self.requests)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

/// A file [`Plan::apply`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub(crate) path: PathBuf,
    /// The original's copy, if there was an original.
    pub(crate) backup: Option<PathBuf>,
}

impl Plan {
    fn new(changes: Vec<FileChange>, notes: Vec<String>, credential: &EntraCredential) -> Plan {
        Plan {
            changes,
            requests: Vec::new(),
            notes,
            secrets: vec![credential.client_secret.clone()],
        }
    }

    /// An API target's plan: `requests` to send, no file.
    fn with_requests(
        requests: Vec<ApiRequest>,
        notes: Vec<String>,
        credential: &EntraCredential,
    ) -> Plan {
        Plan {
            requests,
            ..Plan::new(Vec::new(), notes, credential)
        }
    }

    /// True if every file already holds what the plan would write and there
    /// is no request to send.
    pub fn is_noop(&self) -> bool {
        self.changes.iter().all(FileChange::is_noop) && self.requests.is_empty()
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
        for request in &self.requests {
            out.push_str(&request.shown(&self.secrets));
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

    /// Sends the plan's requests in order, after [`Plan::apply`]; stops at
    /// the first that the platform does not confirm. A request with a
    /// [`Fill`](api::Fill) takes its value from the answer to the one before.
    ///
    /// # Errors
    /// [`TargetError::Api`] from [`Api::send`]; [`TargetError::Refused`] if
    /// there are requests but no `api` (no `--api-url`).
    pub(crate) async fn send(&self, api: Option<&Api>) -> Result<(), TargetError> {
        if self.requests.is_empty() {
            return Ok(());
        }
        let Some(api) = api else {
            return Err(TargetError::Refused(
                "this target sends requests to an API: give it --api-url and --api-token-file"
                    .to_owned(),
            ));
        };
        let mut previous: Option<String> = None;
        for request in &self.requests {
            previous = Some(
                api.send_after(request, &self.secrets, previous.as_deref())
                    .await?,
            );
        }
        Ok(())
    }
}

/// Plans `kind`'s change for one credential. Reads files; writes nothing.
/// A target that reads its API while planning (`wazuh-api`) is refused
/// here: see [`plan_with_api`].
pub fn plan(kind: Target, args: &TargetArgs, import: &Import) -> Result<Plan, TargetError> {
    suits(kind, import)?;
    kind.plan_for(args, import)
}

/// Plans `kind`'s change for one credential, as the collector does: like
/// [`plan`], and a target that reads its API while planning reads it
/// through `api` (GETs and a login; nothing is changed).
pub(crate) async fn plan_with_api(
    kind: Target,
    args: &TargetArgs,
    import: &Import<'_>,
    api: Option<&Api>,
) -> Result<Plan, TargetError> {
    suits(kind, import)?;
    kind.plan_reading(args, import, api).await
}

/// Refuses a template not meant for `kind`, or a cloud it cannot collect.
fn suits(kind: Target, import: &Import) -> Result<(), TargetError> {
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
    Ok(())
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

#[cfg(test)]
pub(crate) mod testing {
    //! A credential and templates for the targets' unit tests.
    use std::collections::BTreeMap;

    use super::*;
    use crate::integration::Integrations;

    pub(crate) const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    pub(crate) const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
    pub(crate) const SECRET: &str = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";

    pub(crate) fn credential(template: &str, cloud: &str) -> EntraCredential {
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

    pub(crate) fn integration(id: &str) -> Integration {
        Integrations::builtin()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no built-in template {id}"))
    }

    pub(crate) fn import<'a>(
        cred: &'a EntraCredential,
        integration: &'a Integration,
    ) -> Import<'a> {
        Import {
            credential: cred,
            integration,
            customer: "Contoso Ltd",
            request_id: "req_0123",
        }
    }

    pub(crate) fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    pub(crate) fn backups(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
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
            "http",
            "wazuh-api",
            "qradar",
            "elastic-agent",
            "splunk-o365",
            "cribl",
            "dir",
        ] {
            assert_eq!(Target::from_str(name).unwrap().as_str(), name);
        }
        let err = Target::from_str("splunk").unwrap_err();
        assert_eq!(
            err,
            "unknown target \"splunk\" (known: wazuh-office365, wazuh-ms-graph, filebeat-o365, env, json, http, wazuh-api, qradar, elastic-agent, splunk-o365, cribl, dir)"
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
            let needs_options = matches!(
                t,
                Target::FilebeatO365
                    | Target::Http
                    | Target::WazuhApi
                    | Target::Qradar
                    | Target::ElasticAgent
                    | Target::SplunkO365
                    | Target::Cribl
            );
            assert_eq!(real_run.is_err(), needs_options, "{t:?}");
            assert_eq!(
                t.check_args(&args, true).is_ok(),
                !matches!(
                    t,
                    Target::Http
                        | Target::WazuhApi
                        | Target::Qradar
                        | Target::ElasticAgent
                        | Target::SplunkO365
                        | Target::Cribl
                ),
                "{t:?}: an API target needs its URL even to show its requests"
            );
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
}
