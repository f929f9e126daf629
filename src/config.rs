//! `handoff serve`'s configuration: flags with `HANDOFF_*` / `DATABASE_URL`
//! fallbacks, checked once at start so that a wrong value stops the server
//! with a sentence instead of surfacing later.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;

use crate::email::EmailConfig;
use crate::expiry::ExpiryPolicy;
use crate::http::client_ip::TrustedProxies;
use crate::http::connections::ConnectionLimits;
use crate::webhook::{self, WebhookConfig};

/// The log's format (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Lines for people to read.
    Text,
    /// One JSON object per line.
    Json,
}

// These doc comments are `serve --help`'s text, shown as written: their
// example URLs stay bare.
#[allow(rustdoc::bare_urls)]
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "HANDOFF_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// `sqlite://PATH` (created if missing; a relative PATH is taken from
    /// the working directory) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://handoff.db")]
    pub(crate) database_url: String,
    /// Base of the links the server hands out, as users reach it (e.g.
    /// https://handoff.example.com). Defaults to http:// and the listen address.
    #[arg(long, env = "HANDOFF_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// Longest lifetime a secret may be given (at most 30 days).
    #[arg(long, env = "HANDOFF_MAX_EXPIRY", default_value = "7d", value_parser = humantime::parse_duration)]
    pub(crate) max_expiry: Duration,
    /// Largest ciphertext accepted, in bytes.
    #[arg(long, env = "HANDOFF_MAX_SECRET_BYTES", default_value_t = 64 * 1024)]
    pub(crate) max_secret_bytes: usize,
    /// Largest file transfer accepted: its pieces' ciphertext bytes together
    /// (at least 1 MiB, at most 64 GiB).
    #[arg(long, env = "HANDOFF_MAX_TRANSFER_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub(crate) max_transfer_bytes: u64,
    /// How long the one who claimed a file transfer may still fetch its
    /// pieces, to finish a broken download (1m to 1d).
    #[arg(long, env = "HANDOFF_TRANSFER_GRACE", default_value = "15m", value_parser = humantime::parse_duration)]
    pub(crate) transfer_grace: Duration,
    /// Secrets one client address may create per minute (0: no limit).
    #[arg(long, env = "HANDOFF_CREATE_LIMIT", default_value_t = 20)]
    pub(crate) create_limit: u32,
    /// Reveals one client address may attempt per minute (0: no limit).
    #[arg(long, env = "HANDOFF_REVEAL_LIMIT", default_value_t = 60)]
    pub(crate) reveal_limit: u32,
    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose
    /// X-Forwarded-For names the client. Without one, the peer address is the client.
    #[arg(long, env = "HANDOFF_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// How often expired secrets are purged.
    #[arg(long, env = "HANDOFF_PURGE_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) purge_interval: Duration,
    /// The SOC's age recipients (`age1...`, comma-separated): answers to
    /// requests are also sealed to them, for `handoff collect`.
    #[arg(long, env = "HANDOFF_SOC_RECIPIENTS", value_delimiter = ',')]
    pub(crate) soc_recipients: Vec<String>,
    /// A file of SOC recipients, one per line (`#` starts a comment), as
    /// `handoff keygen` prints them. Added to `--soc-recipients`. A relative
    /// path is taken from the working directory.
    #[arg(long, env = "HANDOFF_SOC_RECIPIENTS_FILE")]
    pub(crate) soc_recipients_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) templates: TemplatesArgs,
    /// How long a collector's lease on a sealed copy lasts before the copy
    /// can be leased again.
    #[arg(long, env = "HANDOFF_LEASE_TIME", default_value = "5m", value_parser = humantime::parse_duration)]
    pub(crate) lease_time: Duration,
    /// How long a customer has to answer a request, preselected on the new
    /// request page (staff may pick another): customers' admins need days,
    /// not hours. At least 1h, at most --max-expiry; default 7 days, or
    /// --max-expiry if that is shorter.
    #[arg(long, env = "HANDOFF_REQUEST_ANSWER_TIME", value_parser = humantime::parse_duration)]
    pub(crate) request_answer_time: Option<Duration>,
    /// How many days before a client secret expires its credential counts
    /// as expiring in the credential register (1 to 365).
    #[arg(long, env = "HANDOFF_EXPIRY_WARNING_DAYS", default_value_t = 30)]
    pub(crate) expiry_warning_days: i64,
    /// Staff login attempts one client address may make per minute (0: no limit).
    #[arg(long, env = "HANDOFF_LOGIN_LIMIT", default_value_t = 10)]
    pub(crate) login_limit: u32,
    /// Calls to the collector's inbox API one client address may make per
    /// minute, any method (0: no limit). Refused tokens are audited, so this
    /// also bounds how fast a stranger can grow the trail.
    #[arg(long, env = "HANDOFF_INBOX_LIMIT", default_value_t = 600)]
    pub(crate) inbox_limit: u32,
    /// Longest a staff login session lasts, however busy.
    #[arg(long, env = "HANDOFF_SESSION_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration)]
    pub(crate) session_lifetime: Duration,
    /// A staff session unused this long ends.
    #[arg(long, env = "HANDOFF_SESSION_IDLE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) session_idle: Duration,
    /// Serve the public page where anyone may create a secret (true or false).
    /// False: only staff requests are answered; existing links still work.
    #[arg(long, env = "HANDOFF_PUBLIC_PAGE", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) public_page: bool,
    /// Where to POST notifications of answered, retrieved, expired and
    /// failed-verification requests; repeatable or comma-separated. https://
    /// only (http:// for loopback hosts). Needs a secret.
    #[arg(
        long = "webhook-url",
        env = "HANDOFF_WEBHOOK_URLS",
        value_delimiter = ','
    )]
    pub(crate) webhook_urls: Vec<String>,
    /// A file holding the webhooks' HMAC secret (or set HANDOFF_WEBHOOK_SECRET,
    /// which is read from the environment only, so it never shows in `ps`).
    /// A relative path is taken from the working directory.
    #[arg(long, env = "HANDOFF_WEBHOOK_SECRET_FILE")]
    pub(crate) webhook_secret_file: Option<std::path::PathBuf>,
    /// Origins of sibling hosts (same site, another host, e.g.
    /// https://portal.soc.example beside https://handoff.soc.example) whose
    /// pages may send writes here; comma-separated. Other sites never may.
    #[arg(long, env = "HANDOFF_SAME_SITE_ORIGINS", value_delimiter = ',')]
    pub(crate) same_site_origins: Vec<String>,
    /// How the log is written to stderr: `text` for people, `json` (one
    /// object per line) for a log pipeline.
    #[arg(long, value_enum, env = "HANDOFF_LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// The SOC's name, shown in every page's header and footer, so that a
    /// customer sees who is asking (at most 80 characters).
    #[arg(long, env = "HANDOFF_BRAND_NAME")]
    pub(crate) brand_name: Option<String>,
    /// A logo shown beside the name: a PNG, JPEG, WebP or SVG file of at
    /// most 256 KiB, read at start. A relative path is taken from the
    /// working directory.
    #[arg(long, env = "HANDOFF_BRAND_LOGO", requires = "brand_name")]
    pub(crate) brand_logo: Option<std::path::PathBuf>,
    /// A contact e-mail address shown in every page's footer.
    #[arg(long, env = "HANDOFF_BRAND_EMAIL", requires = "brand_name")]
    pub(crate) brand_email: Option<String>,
    /// A contact telephone number shown in every page's footer.
    #[arg(long, env = "HANDOFF_BRAND_PHONE", requires = "brand_name")]
    pub(crate) brand_phone: Option<String>,
    /// The SOC's web site (https://), linked from every page's footer.
    #[arg(long, env = "HANDOFF_BRAND_URL", requires = "brand_name")]
    pub(crate) brand_url: Option<String>,
    /// The accent colour of links and primary buttons in the light theme,
    /// `#RRGGBB`, dark enough for white text (contrast at least 4.5:1).
    #[arg(long, env = "HANDOFF_BRAND_ACCENT", requires = "brand_name")]
    pub(crate) brand_accent: Option<String>,
    /// Connections open at once. When all are taken, a new connection
    /// displaces the one that has waited longest without a request.
    #[arg(long, env = "HANDOFF_MAX_CONNECTIONS", default_value_t = 512)]
    pub(crate) max_connections: usize,
    /// Time a client has to send a complete request head, from connecting
    /// (or from the first byte of a later request on the same connection).
    #[arg(long, env = "HANDOFF_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    #[arg(long, env = "HANDOFF_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) idle_timeout: Duration,
    /// Largest request head (request line and headers) accepted, in bytes;
    /// a larger one gets 431.
    #[arg(long, env = "HANDOFF_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub(crate) max_header_bytes: usize,
    /// How often the webhook worker looks for new events and due retries.
    #[arg(long, env = "HANDOFF_WEBHOOK_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) webhook_interval: Duration,
    /// The SMTP relay e-mails go through: smtp://HOST:PORT (no TLS),
    /// smtp://HOST?tls=required (STARTTLS) or smtps://USER:PASSWORD@HOST
    /// (TLS). Without it no e-mail is sent. Needs --smtp-from.
    #[arg(long, env = "HANDOFF_SMTP_URL", hide_env_values = true)]
    pub(crate) smtp_url: Option<String>,
    /// The sender of e-mails: soc@example.com or "Name <soc@example.com>"
    /// (the --brand-name, where set, is the display name).
    #[arg(long, env = "HANDOFF_SMTP_FROM")]
    pub(crate) smtp_from: Option<String>,
    /// Staff addresses that get an e-mail for every notified event
    /// (answered, retrieved, expired, failed verification, rotation made,
    /// credential failing or recovered); repeatable or comma-separated.
    #[arg(long, env = "HANDOFF_SMTP_NOTIFY", value_delimiter = ',')]
    pub(crate) smtp_notify: Vec<String>,
    /// How often the e-mail worker looks for new events and due retries.
    #[arg(long, env = "HANDOFF_SMTP_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) smtp_interval: Duration,
    #[command(flatten)]
    pub(crate) oidc: OidcArgs,
}

/// Staff sign-in through the SOC's identity provider (OpenID Connect),
/// beside local accounts. Off unless `--oidc-issuer` is given.
// Doc comments are `serve --help`'s text: example URLs stay bare.
#[allow(rustdoc::bare_urls)]
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct OidcArgs {
    /// The identity provider's issuer URL, exactly as its discovery document
    /// names it (Entra ID: https://login.microsoftonline.com/TENANT-ID/v2.0).
    /// https:// only (http:// for localhost and 127.0.0.1). Discovered at
    /// start: the server refuses to start if it cannot be.
    #[arg(long, env = "HANDOFF_OIDC_ISSUER")]
    pub(crate) oidc_issuer: Option<String>,
    /// The client (application) ID handoff is registered under.
    #[arg(long, env = "HANDOFF_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub(crate) oidc_client_id: Option<String>,
    /// The client secret's value. Prefer HANDOFF_OIDC_CLIENT_SECRET: a flag
    /// shows in `ps`. Never logged.
    #[arg(
        long,
        env = "HANDOFF_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "oidc_issuer"
    )]
    pub(crate) oidc_client_secret: Option<String>,
    /// The group whose members are staff: its value in the groups claim
    /// (Entra ID: the group's Object ID).
    #[arg(long, env = "HANDOFF_OIDC_STAFF_GROUP", requires = "oidc_issuer")]
    pub(crate) oidc_staff_group: Option<String>,
    /// The ID token claim that lists the user's groups.
    #[arg(long, env = "HANDOFF_OIDC_GROUPS_CLAIM", requires = "oidc_issuer")]
    pub(crate) oidc_groups_claim: Option<String>,
    /// The provider's name on the sign-in button ("Sign in with NAME"), at
    /// most 40 characters; default SSO.
    #[arg(long, env = "HANDOFF_OIDC_DISPLAY_NAME", requires = "oidc_issuer")]
    pub(crate) oidc_display_name: Option<String>,
}

impl OidcArgs {
    /// The checked configuration; `None` without `--oidc-issuer`.
    pub(crate) fn config(&self) -> Result<Option<crate::oidc::OidcConfig>, String> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let need = |value: &Option<String>, option: &str| {
            value
                .clone()
                .ok_or_else(|| format!("--oidc-issuer needs {option} too"))
        };
        crate::oidc::OidcConfig::new(
            issuer,
            &need(&self.oidc_client_id, "--oidc-client-id")?,
            &need(
                &self.oidc_client_secret,
                "--oidc-client-secret (or HANDOFF_OIDC_CLIENT_SECRET)",
            )?,
            &need(&self.oidc_staff_group, "--oidc-staff-group")?,
            self.oidc_groups_claim.as_deref(),
            self.oidc_display_name.as_deref(),
        )
        .map(Some)
    }
}

/// `--templates-dir`, for commands (and `serve`) to flatten.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct TemplatesArgs {
    /// A directory of extra integration templates (*.toml); a file with a
    /// built-in template's id replaces it. A relative path is taken from the
    /// working directory.
    #[arg(
        long = "templates-dir",
        env = "HANDOFF_TEMPLATES_DIR",
        value_name = "DIR",
        global = true
    )]
    pub(crate) templates_dir: Option<std::path::PathBuf>,
}

impl TemplatesArgs {
    /// The built-in templates, and the directory's if one was given.
    pub(crate) fn load(&self) -> Result<crate::integration::Integrations, String> {
        crate::integration::Integrations::load(self.templates_dir.as_deref())
    }
}

/// The database the admin commands (`user`, `token`, `audit`, ...) act on:
/// the same one `serve` uses.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct DbArgs {
    /// `sqlite://PATH` (a relative PATH is taken from the working
    /// directory) or `postgres://USER@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://handoff.db")]
    pub(crate) database_url: String,
}

impl DbArgs {
    pub(crate) async fn connect(&self) -> anyhow::Result<crate::store::Store> {
        crate::store::Store::connect(&self.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))
    }
}

/// `10.0.0.0/8`, or a single address (`127.0.0.1`, `::1`), spaces ignored.
fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range"))
}

/// The checked configuration the server runs with: its HTTP layer and its
/// background tasks.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base URL for links, without a trailing slash.
    pub public_url: String,
    /// Served over HTTPS (by a proxy in front): enables HSTS.
    pub https: bool,
    pub expiry: ExpiryPolicy,
    pub max_secret_bytes: usize,
    /// Largest file transfer accepted, in ciphertext bytes of all its pieces.
    pub max_transfer_bytes: u64,
    /// Seconds a claimed transfer's pieces stay fetchable by its claimer.
    pub transfer_grace_seconds: i64,
    pub create_limit: u32,
    pub reveal_limit: u32,
    pub trusted_proxies: TrustedProxies,
    /// The SOC's X25519 recipients for sealed copies; empty: no sealed copy.
    pub soc_recipients: Vec<String>,
    /// The integration templates requests can use.
    pub integrations: std::sync::Arc<crate::integration::Integrations>,
    /// Seconds a collector's lease lasts.
    pub lease_seconds: i64,
    /// Days before a secret's expiry from which the register shows its
    /// credential as expiring.
    pub expiry_warning_days: i64,
    /// Seconds a customer has to answer a request, preselected on the new
    /// request page; within `expiry`.
    pub request_answer_seconds: i64,
    /// Staff login attempts per client address per minute; 0: no limit.
    pub login_limit: u32,
    /// Inbox API calls per client address per minute; 0: no limit.
    pub inbox_limit: u32,
    /// How long staff sessions live: in all, and unused.
    pub session_lifetime: Duration,
    pub session_idle: Duration,
    /// False: `/` and `POST /api/v1/secrets` answer 404, for SOCs that only
    /// take credentials through their own requests.
    pub public_page: bool,
    /// Where notifications go; `None`: no webhooks.
    pub webhooks: Option<Arc<WebhookConfig>>,
    /// Limits on connections: how many, how long they may take or wait.
    pub connections: ConnectionLimits,
    /// Who runs the instance, as every page shows it; `None`: handoff's own
    /// header and footer only.
    pub brand: Option<Arc<crate::brand::Brand>>,
    /// Origins (`https://host[:port]`, as browsers send them in `Origin`)
    /// whose `Sec-Fetch-Site: same-site` writes are accepted; empty: none.
    pub same_site_origins: Vec<String>,
    /// How long a request may take, its body's arrival included: a body
    /// still arriving then gets 408, a slow answer 503.
    pub request_timeout: Duration,
    /// How often expired secrets, copies and sessions are purged; `None`: no
    /// purge task, for tests on a manual clock, which purge when they choose.
    pub purge_interval: Option<Duration>,
    /// How often the webhook worker looks for new events and due retries.
    pub webhook_interval: Duration,
    /// Where e-mails go; `None`: no e-mail.
    pub email: Option<Arc<EmailConfig>>,
    /// How often the e-mail worker looks for new events and due retries.
    pub email_interval: Duration,
    /// The SOC's identity provider for staff sign-in; `None`: local
    /// accounts only.
    pub oidc: Option<Arc<crate::oidc::Provider>>,
}

impl Settings {
    /// Settings for a server reachable at `public_url`, with default limits.
    pub fn new(public_url: &str) -> Result<Settings, String> {
        let url = Url::parse(public_url)
            .map_err(|e| format!("public URL {public_url:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "public URL {public_url:?} must be http:// or https:// with a host"
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
            return Err(format!(
                "public URL {public_url:?} must be the root of a host (no path, query or fragment): \
                 the pages and API live at /, so serve handoff on a host of its own"
            ));
        }
        Ok(Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            https: url.scheme() == "https",
            expiry: ExpiryPolicy::default(),
            max_secret_bytes: 64 * 1024,
            max_transfer_bytes: 1024 * 1024 * 1024,
            transfer_grace_seconds: 15 * 60,
            create_limit: 20,
            reveal_limit: 60,
            trusted_proxies: TrustedProxies::default(),
            soc_recipients: Vec::new(),
            integrations: std::sync::Arc::new(crate::integration::Integrations::builtin()),
            lease_seconds: 300,
            expiry_warning_days: 30,
            request_answer_seconds: 7 * 86_400,
            login_limit: 10,
            inbox_limit: 600,
            session_lifetime: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(3600),
            public_page: true,
            webhooks: None,
            same_site_origins: Vec::new(),
            brand: None,
            connections: ConnectionLimits::default(),
            request_timeout: Duration::from_secs(30),
            purge_interval: Some(Duration::from_secs(60)),
            webhook_interval: Duration::from_secs(5),
            email: None,
            email_interval: Duration::from_secs(5),
            oidc: None,
        })
    }

    /// Same limits, but none on rates: for tests and benchmarks.
    pub fn without_rate_limits(mut self) -> Settings {
        self.create_limit = 0;
        self.reveal_limit = 0;
        self.login_limit = 0;
        self.inbox_limit = 0;
        self
    }

    /// The session lifetimes in the store's unit.
    pub(crate) fn session_limits(&self) -> crate::store::SessionLimits {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        crate::store::SessionLimits {
            lifetime: secs(self.session_lifetime),
            idle: secs(self.session_idle),
        }
    }
}

/// Checks that each line is an X25519 age recipient; post-quantum and
/// plugin recipients are refused, because the collector's `age` crate cannot
/// decrypt for them.
pub(crate) fn parse_recipients<'a>(
    lines: impl IntoIterator<Item = &'a str>,
    source: &str,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in lines.into_iter().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.parse::<age::x25519::Recipient>().is_err() {
            let shown: String = line.chars().take(24).collect();
            return Err(format!(
                "{source} entry {} ({shown:?}) is not an X25519 age recipient (age1...); \
                 make one with `handoff keygen`",
                n + 1
            ));
        }
        if !out.iter().any(|r| r == line) {
            out.push(line.to_owned());
        }
    }
    Ok(out)
}

impl ServeArgs {
    fn soc_recipients(&self) -> Result<Vec<String>, String> {
        let mut all = parse_recipients(
            self.soc_recipients.iter().map(String::as_str),
            "--soc-recipients",
        )?;
        if let Some(path) = &self.soc_recipients_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read --soc-recipients-file {}: {e}", path.display())
            })?;
            let from_file = parse_recipients(text.lines(), &path.display().to_string())?;
            if from_file.is_empty() {
                return Err(format!("{} holds no recipients", path.display()));
            }
            for r in from_file {
                if !all.contains(&r) {
                    all.push(r);
                }
            }
        }
        Ok(all)
    }

    /// The `--brand-*` options, checked; `None` without `--brand-name`.
    fn brand(&self) -> Result<Option<crate::brand::Brand>, String> {
        use crate::brand::{Accent, Brand, Logo};
        let Some(name) = &self.brand_name else {
            return Ok(None);
        };
        let name = crate::label::check(name, 80, "--brand-name", true)?;
        let logo = match &self.brand_logo {
            None => None,
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read --brand-logo {}: {e}", path.display()))?;
                Some(
                    Logo::from_bytes(bytes)
                        .map_err(|e| format!("--brand-logo {}: {e}", path.display()))?,
                )
            }
        };
        let email = match self.brand_email.as_deref().map(str::trim) {
            None => None,
            Some(e)
                if e.len() <= 254
                    && e.split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
                    && !e
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') =>
            {
                Some(e.to_owned())
            }
            Some(e) => return Err(format!("--brand-email {e:?} is not an e-mail address")),
        };
        let phone = match self.brand_phone.as_deref().map(str::trim) {
            None => None,
            Some(p)
                if !p.is_empty()
                    && p.len() <= 32
                    && p.chars()
                        .all(|c| c.is_ascii_digit() || " +-().".contains(c)) =>
            {
                Some(p.to_owned())
            }
            Some(p) => {
                return Err(format!(
                    "--brand-phone {p:?} must be a telephone number: digits, spaces, + - ( ) and . only, at most 32 characters"
                ));
            }
        };
        let url = match self.brand_url.as_deref().map(str::trim) {
            None => None,
            Some(u) => {
                let parsed =
                    Url::parse(u).map_err(|e| format!("--brand-url {u:?} is not a URL: {e}"))?;
                if parsed.scheme() != "https" || parsed.host().is_none() {
                    return Err(format!("--brand-url {u:?} must be an https:// address"));
                }
                Some(u.to_owned())
            }
        };
        let accent = self
            .brand_accent
            .as_deref()
            .map(Accent::parse)
            .transpose()?;
        Ok(Some(Brand {
            name,
            logo,
            email,
            phone,
            url,
            accent,
        }))
    }

    /// The webhook configuration, if any URL is given. `env_secret` is
    /// `HANDOFF_WEBHOOK_SECRET`.
    pub(crate) fn webhooks(
        &self,
        public_url: &str,
        env_secret: Option<String>,
    ) -> Result<Option<Arc<WebhookConfig>>, String> {
        let urls = self
            .webhook_urls
            .iter()
            .filter(|u| !u.trim().is_empty())
            .map(|u| webhook::parse_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let env_secret = env_secret.filter(|s| !s.is_empty());
        let secret = match (&self.webhook_secret_file, env_secret) {
            (Some(_), Some(_)) => {
                return Err(
                    "set either --webhook-secret-file or HANDOFF_WEBHOOK_SECRET, not both".into(),
                );
            }
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read --webhook-secret-file {}: {e}", path.display())
                })?;
                Some(text.trim().to_owned())
            }
            (None, Some(s)) => Some(s),
            (None, None) => None,
        };
        match (urls.is_empty(), secret) {
            (true, None) => Ok(None),
            (true, Some(_)) => Err(
                "a webhook secret is set but no --webhook-url (HANDOFF_WEBHOOK_URLS) is given"
                    .into(),
            ),
            (false, None) => Err(
                "webhooks need a secret to sign with: set --webhook-secret-file or \
                 HANDOFF_WEBHOOK_SECRET (e.g. to the output of `openssl rand -hex 32`)"
                    .into(),
            ),
            (false, Some(secret)) => Ok(Some(Arc::new(WebhookConfig::new(
                urls,
                age::secrecy::SecretString::from(secret),
                public_url,
            )?))),
        }
    }

    pub(crate) fn settings(&self) -> Result<Settings, String> {
        let integrations = Arc::new(self.templates.load()?);
        let public = match &self.public_url {
            Some(u) => u.clone(),
            None => format!("http://{}", self.listen),
        };
        if !(1_024..=16 * 1024 * 1024).contains(&self.max_secret_bytes) {
            return Err("--max-secret-bytes must be between 1024 and 16777216".into());
        }
        if !(1024 * 1024..=64 * 1024 * 1024 * 1024).contains(&self.max_transfer_bytes) {
            return Err(
                "--max-transfer-bytes must be between 1048576 (1 MiB) and 68719476736 (64 GiB)"
                    .into(),
            );
        }
        let transfer_grace_seconds = i64::try_from(self.transfer_grace.as_secs()).unwrap_or(0);
        if !(60..=86_400).contains(&transfer_grace_seconds) {
            return Err("--transfer-grace must be between 1m and 1d".into());
        }
        if [
            self.create_limit,
            self.reveal_limit,
            self.login_limit,
            self.inbox_limit,
        ]
        .iter()
        .any(|l| *l > 6_000)
        {
            return Err("--create-limit, --reveal-limit, --login-limit and --inbox-limit must be at most 6000 per minute (0 turns a limit off)".into());
        }
        for (flag, every) in [
            ("--purge-interval", self.purge_interval),
            ("--webhook-interval", self.webhook_interval),
            ("--smtp-interval", self.smtp_interval),
        ] {
            if every < Duration::from_millis(10) {
                return Err(format!("{flag} must be at least 10ms"));
            }
        }
        check_session_times(self.session_lifetime, self.session_idle)?;
        let connections = self.connection_limits()?;
        Ok(Settings {
            expiry: ExpiryPolicy::new(self.max_expiry)?,
            max_secret_bytes: self.max_secret_bytes,
            max_transfer_bytes: self.max_transfer_bytes,
            transfer_grace_seconds,
            create_limit: self.create_limit,
            reveal_limit: self.reveal_limit,
            trusted_proxies: TrustedProxies::new(self.trusted_proxies.clone()),
            soc_recipients: self.soc_recipients()?,
            integrations: integrations.clone(),
            lease_seconds: {
                let secs = self.lease_time.as_secs();
                if !(10..=86_400).contains(&secs) {
                    return Err("--lease-time must be between 10s and 1d".into());
                }
                i64::try_from(secs).unwrap_or(300)
            },
            request_answer_seconds: {
                let max = ExpiryPolicy::new(self.max_expiry)?.max_seconds();
                match self.request_answer_time {
                    None => max.min(7 * 86_400),
                    Some(d) => {
                        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                        if !(3_600..=max).contains(&secs) {
                            return Err(format!(
                                "--request-answer-time must be between 1h and --max-expiry ({})",
                                crate::expiry::describe(max)
                            ));
                        }
                        secs
                    }
                }
            },
            expiry_warning_days: {
                if !(1..=365).contains(&self.expiry_warning_days) {
                    return Err("--expiry-warning-days must be between 1 and 365".into());
                }
                self.expiry_warning_days
            },
            login_limit: self.login_limit,
            inbox_limit: self.inbox_limit,
            session_lifetime: self.session_lifetime,
            session_idle: self.session_idle,
            public_page: self.public_page,
            connections,
            purge_interval: Some(self.purge_interval),
            webhook_interval: self.webhook_interval,
            email_interval: self.smtp_interval,
            email: self
                .email(&public)?
                .map(|e| Arc::new(e.with_integrations(&integrations))),
            same_site_origins: self
                .same_site_origins
                .iter()
                .filter(|o| !o.trim().is_empty())
                .map(|o| {
                    crate::http::security::parse_origin(o)
                        .map_err(|e| format!("--same-site-origins: {e}"))
                })
                .collect::<Result<_, _>>()?,
            brand: self.brand()?.map(Arc::new),
            webhooks: self
                .webhooks(&public, std::env::var("HANDOFF_WEBHOOK_SECRET").ok())?
                .map(|w| {
                    let titles = integrations
                        .all()
                        .iter()
                        .map(|i| (i.id.clone(), i.title.clone()));
                    Arc::new(Arc::unwrap_or_clone(w).with_titles(titles))
                }),
            ..Settings::new(&public)?
        })
    }
}

impl ServeArgs {
    /// The e-mail configuration, if `--smtp-url` is given; the brand name,
    /// where set, is the sender's display name.
    fn email(&self, public_url: &str) -> Result<Option<EmailConfig>, String> {
        let url = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty());
        let notify: Vec<String> = self
            .smtp_notify
            .iter()
            .filter(|a| !a.trim().is_empty())
            .cloned()
            .collect();
        let Some(url) = url else {
            if self.smtp_from.is_some() || !notify.is_empty() {
                return Err(
                    "--smtp-from and --smtp-notify need --smtp-url (HANDOFF_SMTP_URL), the relay to send through"
                        .into(),
                );
            }
            return Ok(None);
        };
        let Some(from) = self.smtp_from.as_deref().filter(|f| !f.trim().is_empty()) else {
            return Err(
                "--smtp-url needs --smtp-from (HANDOFF_SMTP_FROM), the address e-mails come from"
                    .into(),
            );
        };
        let brand = self.brand()?.map(|b| b.name);
        Ok(Some(
            EmailConfig::new(url, from, &notify, public_url)?.with_soc_name(brand),
        ))
    }

    /// The connection limits, each within bounds that keep the server usable.
    fn connection_limits(&self) -> Result<ConnectionLimits, String> {
        use crate::http::connections::MIN_HEADER_BYTES;
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err("--max-connections must be between 1 and 1000000".into());
        }
        let (second, hour) = (Duration::from_secs(1), Duration::from_secs(3600));
        if !(second..=Duration::from_secs(300)).contains(&self.header_timeout) {
            return Err("--header-timeout must be between 1s and 5m".into());
        }
        if !(second..=hour).contains(&self.idle_timeout) {
            return Err("--idle-timeout must be between 1s and 1h".into());
        }
        if !(MIN_HEADER_BYTES..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err(format!(
                "--max-header-bytes must be between {MIN_HEADER_BYTES} and 1048576"
            ));
        }
        Ok(ConnectionLimits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_header_bytes: self.max_header_bytes,
        })
    }
}

/// A session lasts between a minute and 30 days, and may not sit idle
/// longer than it may live.
fn check_session_times(lifetime: Duration, idle: Duration) -> Result<(), String> {
    let minute = Duration::from_secs(60);
    let month = Duration::from_secs(30 * 86_400);
    if !(minute..=month).contains(&lifetime) {
        return Err("--session-lifetime must be between 1m and 30d".into());
    }
    if idle < minute || idle > lifetime {
        return Err("--session-idle must be at least 1m and at most --session-lifetime".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        assert_eq!(
            parse_net("127.0.0.1").unwrap(),
            "127.0.0.1/32".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_net(" 10.0.0.0/8").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            parse_net("::1").unwrap(),
            "::1/128".parse::<IpNet>().unwrap()
        );
        assert!(parse_net("proxy.local").is_err());
    }

    #[test]
    fn soc_recipients_must_be_x25519() {
        let r = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let text = format!("# SOC collector\n{r}\n\n{r}\n");
        assert_eq!(
            parse_recipients(text.lines(), "f").unwrap(),
            vec![r.to_owned()]
        );
        let err = parse_recipients(["AGE-SECRET-KEY-1XYZ"], "f").unwrap_err();
        assert!(err.contains("entry 1"), "{err}");
        assert!(parse_recipients(["age1pq1abc"], "f").is_err());
    }

    fn try_serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let argv = std::iter::once("handoff").chain(args.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).map(|c| c.serve)
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        try_serve_args(args).unwrap()
    }

    #[test]
    fn zero_intervals_are_refused() {
        for flag in ["--purge-interval", "--webhook-interval"] {
            let err = serve_args(&[flag, "0s"]).settings().unwrap_err();
            assert!(err.contains(flag), "{err}");
        }
        assert!(serve_args(&["--inbox-limit", "6001"]).settings().is_err());
    }

    #[test]
    fn connection_limits_are_flags_within_bounds() {
        let s = serve_args(&[
            "--max-connections",
            "64",
            "--header-timeout",
            "5s",
            "--idle-timeout",
            "2m",
            "--max-header-bytes",
            "8192",
        ])
        .settings()
        .unwrap();
        assert_eq!(
            s.connections,
            ConnectionLimits {
                max_connections: 64,
                header_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(120),
                max_header_bytes: 8192,
            }
        );
        assert_eq!(
            serve_args(&[]).settings().unwrap().connections,
            ConnectionLimits::default()
        );
        for (flag, value) in [
            ("--max-connections", "0"),
            ("--header-timeout", "0s"),
            ("--header-timeout", "10m"),
            ("--idle-timeout", "500ms"),
            ("--max-header-bytes", "4096"),
        ] {
            let err = serve_args(&[flag, value]).settings().unwrap_err();
            assert!(err.contains(flag), "{flag} {value}: {err}");
        }
    }

    #[test]
    fn same_site_origins_are_origins() {
        let s = serve_args(&[
            "--same-site-origins",
            "https://portal.example, https://Admin.Example:443/",
        ])
        .settings()
        .unwrap();
        assert_eq!(
            s.same_site_origins,
            ["https://portal.example", "https://admin.example"]
        );
        let err = serve_args(&["--same-site-origins", "https://portal.example/app"])
            .settings()
            .unwrap_err();
        assert!(err.contains("--same-site-origins"), "{err}");
        assert!(
            serve_args(&[])
                .settings()
                .unwrap()
                .same_site_origins
                .is_empty()
        );
    }

    #[test]
    fn the_request_answer_time_defaults_to_days_within_the_maximum() {
        let settings = |args: &[&str]| serve_args(args).settings();
        let days = |n: i64| n * 86_400;
        assert_eq!(settings(&[]).unwrap().request_answer_seconds, days(7));
        let shorter = settings(&["--max-expiry", "3d"]).unwrap();
        assert_eq!(shorter.request_answer_seconds, days(3));
        let five = settings(&["--request-answer-time", "5d"]).unwrap();
        assert_eq!(five.request_answer_seconds, days(5));
        for bad in [
            ["--request-answer-time", "8d"],
            ["--request-answer-time", "30m"],
        ] {
            let err = settings(&bad).unwrap_err();
            assert!(err.contains("--request-answer-time"), "{err}");
        }
    }

    #[test]
    fn brand_options_are_checked_at_start() {
        assert_eq!(serve_args(&[]).brand().unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let logo = dir.path().join("logo.svg");
        std::fs::write(&logo, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
        let logo = logo.display().to_string();
        let brand = serve_args(&[
            "--brand-name",
            " Contoso SOC ",
            "--brand-logo",
            &logo,
            "--brand-email",
            "soc@contoso.example",
            "--brand-phone",
            "+44 20 7946 0000",
            "--brand-url",
            "https://soc.contoso.example",
            "--brand-accent",
            "#0B5CAD",
        ])
        .brand()
        .unwrap()
        .unwrap();
        assert_eq!(brand.name, "Contoso SOC");
        assert_eq!(brand.logo.as_ref().unwrap().content_type, "image/svg+xml");
        assert_eq!(brand.tel(), "+442079460000");
        assert_eq!(brand.accent.unwrap().css(), "#0b5cad");
        let refused = |extra: &[&str], words: &str| {
            let mut args = vec!["--brand-name", "Contoso SOC"];
            args.extend_from_slice(extra);
            let err = serve_args(&args).brand().unwrap_err();
            assert!(err.contains(words), "{words:?} in {err}");
        };
        refused(
            &["--brand-email", "soc at contoso"],
            "not an e-mail address",
        );
        refused(&["--brand-phone", "call us"], "telephone number");
        refused(&["--brand-url", "http://soc.contoso.example"], "https://");
        refused(&["--brand-accent", "#ffcc00"], "too light");
        refused(
            &["--brand-logo", "/no/such/logo.png"],
            "cannot read --brand-logo",
        );
        let text = dir.path().join("logo.txt");
        std::fs::write(&text, "Contoso").unwrap();
        refused(
            &["--brand-logo", &text.display().to_string()],
            "PNG, JPEG, WebP or SVG",
        );
        let err = serve_args(&["--brand-name", "Contoso\u{202e}COS"])
            .brand()
            .unwrap_err();
        assert!(err.contains("--brand-name"), "{err}");
        // The other options need a name to go with.
        assert!(try_serve_args(&["--brand-email", "soc@contoso.example"]).is_err());
    }

    #[test]
    fn webhooks_need_a_secret_and_safe_urls() {
        const PUBLIC: &str = "https://h.example";
        let secret = || Some("0123456789abcdef0123".to_owned());
        assert!(serve_args(&[]).webhooks(PUBLIC, None).unwrap().is_none());
        let two = serve_args(&[
            "--webhook-url",
            "https://a.example/x,http://127.0.0.1:9/y",
            "--webhook-url",
            "https://b.example/z",
        ]);
        let hooks = two.webhooks(PUBLIC, secret()).unwrap().unwrap();
        assert_eq!(hooks.urls.len(), 3);
        let err = two.webhooks(PUBLIC, None).unwrap_err();
        assert!(err.contains("secret"), "{err}");
        let err = serve_args(&[]).webhooks(PUBLIC, secret()).unwrap_err();
        assert!(err.contains("--webhook-url"), "{err}");
        let plain = serve_args(&["--webhook-url", "http://hooks.example/T0/secret-token"]);
        let err = plain.webhooks(PUBLIC, secret()).unwrap_err();
        assert!(
            err.contains("https") && !err.contains("secret-token"),
            "{err}"
        );
        let short = two.webhooks(PUBLIC, Some("short".to_owned())).unwrap_err();
        assert!(short.contains("16 bytes"), "{short}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "0123456789abcdef0123\n").unwrap();
        let from_file = serve_args(&[
            "--webhook-url",
            "https://a.example/x",
            "--webhook-secret-file",
            file.to_str().unwrap(),
        ]);
        assert!(from_file.webhooks(PUBLIC, None).unwrap().is_some());
        assert!(
            from_file.webhooks(PUBLIC, secret()).is_err(),
            "both sources"
        );
    }

    #[test]
    fn smtp_options_are_checked_at_start_without_showing_the_password() {
        assert!(serve_args(&[]).settings().unwrap().email.is_none());
        let s = serve_args(&[
            "--smtp-url",
            "smtps://soc:hunter2@mail.example.com",
            "--smtp-from",
            "SOC <soc@example.com>",
            "--smtp-notify",
            "pm@example.com,lead@example.com",
        ])
        .settings()
        .unwrap();
        let email = s.email.unwrap();
        assert_eq!(email.notify.len(), 2);
        assert!(!format!("{email:?}").contains("hunter2"));
        let refused = |args: &[&str], words: &str| {
            let err = serve_args(args).settings().unwrap_err();
            assert!(err.contains(words), "{words:?} in {err}");
            assert!(!err.contains("hunter2"), "{err}");
        };
        refused(
            &["--smtp-url", "smtps://soc:hunter2@mail.example.com"],
            "--smtp-from",
        );
        refused(&["--smtp-from", "soc@example.com"], "--smtp-url");
        refused(&["--smtp-notify", "pm@example.com"], "--smtp-url");
        refused(
            &[
                "--smtp-url",
                "smtp://soc:hunter2@mail.example.com",
                "--smtp-from",
                "soc@example.com",
            ],
            "unencrypted",
        );
        refused(
            &[
                "--smtp-url",
                "smtps://soc:hunter2@mail.example.com",
                "--smtp-from",
                "soc@example.com",
                "--smtp-notify",
                "pm",
            ],
            "--smtp-notify",
        );
        refused(
            &[
                "--smtp-url",
                "smtps://soc:hunter2@mail.example.com",
                "--smtp-from",
                "soc",
            ],
            "--smtp-from",
        );
        refused(&["--smtp-interval", "0s"], "--smtp-interval");
    }

    #[test]
    fn the_brand_name_signs_e_mails() {
        let s = serve_args(&[
            "--smtp-url",
            "smtp://127.0.0.1:2525",
            "--smtp-from",
            "soc@example.com",
            "--brand-name",
            "Contoso SOC",
        ])
        .settings()
        .unwrap();
        assert_eq!(s.email.unwrap().soc_name.as_deref(), Some("Contoso SOC"));
    }

    #[test]
    fn session_times_are_checked() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert!(check_session_times(h(12), h(1)).is_ok());
        assert!(check_session_times(h(1), h(1)).is_ok());
        assert!(check_session_times(h(1), h(2)).is_err());
        assert!(check_session_times(Duration::from_secs(30), Duration::from_secs(30)).is_err());
        assert!(check_session_times(h(24 * 31), h(1)).is_err());
    }

    #[test]
    fn public_url_is_checked_and_trimmed() {
        let s = Settings::new("https://handoff.example.com/").unwrap();
        assert_eq!(s.public_url, "https://handoff.example.com");
        assert!(s.https);
        assert!(!Settings::new("http://127.0.0.1:8080").unwrap().https);
        for bad in [
            "ftp://x",
            "not a url",
            "https://x/?a=b",
            "https://x/#k",
            "https://x/prefix",
        ] {
            assert!(Settings::new(bad).is_err(), "{bad}");
        }
    }
}
