//! E-mail notifications over SMTP (crate `lettre`), for SOCs that configure
//! `--smtp-url`: the same events webhooks notify, to the staff addresses of
//! `--smtp-notify`, and a few to the customer admin's contact address of the
//! request.
//!
//! Delivery follows the webhooks' design (see the store's e-mail part): the
//! audit trail is the outbox, a cursor moved by compare-and-set turns each
//! event into one message per address once, however many server instances
//! run, and each message is claimed under a lease, sent, and retried after
//! 30 s, 1 min, 2 min, ... (at most 1 h apart) until `max_attempts`, then
//! given up with a warning in the log. A permanent refusal (an SMTP 5xx
//! answer, e.g. an unknown mailbox) is given up at once. Every attempt of one
//! message carries the same `Message-ID`, so a message sent twice (a sender
//! that died after the server took it, before the store heard) is one to
//! mail clients.
//!
//! What a message may carry: no secret, no retrieval, status or receipt link,
//! never a token. Staff messages say what the webhook's sentence says and
//! link the staff dashboard's page of the request (useless without a staff
//! login). The one capability link an e-mail may carry is a request's
//! customer link (`/r/{id}`), to the request's contact address, and only when
//! the PM chose to send it (the choice is stored with the request and copied
//! to its rotation).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::Url;
use tokio::sync::watch;

use crate::audit::Kind;
use crate::clock::{Clock, readable_utc};
use crate::store::{AttemptOutcome, MailDelivery, MailEvent, NewMail, Store, StoreError};
use crate::webhook::{MAX_EVENT_AGE_SECONDS, plain, sentence};

/// The SMTP transport messages go through.
pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Events read per enqueue step, and steps per pass.
const PAGE: i64 = 200;
const PAGES_PER_PASS: usize = 10;
/// Messages sent per pass, so that a long backlog does not starve the
/// enqueue step.
const SENDS_PER_PASS: usize = 100;

/// Where and how e-mails go: checked at start by [`crate::config`].
#[derive(Clone)]
pub struct EmailConfig {
    /// `--smtp-url`, which may hold the relay's password: never shown.
    url: SecretString,
    /// The relay's host and port, for logs and errors.
    relay: String,
    /// `--smtp-from`: the sender's address (and display name, unless the
    /// SOC's brand name replaces it).
    pub(crate) from: Mailbox,
    /// `--smtp-notify`: staff addresses that get every notified event.
    pub(crate) notify: Vec<Address>,
    /// The server's public base URL, without a trailing slash.
    pub(crate) public_url: String,
    /// Integration template titles by id, for the sentences.
    pub(crate) titles: HashMap<String, String>,
    /// The SOC's brand name (`--brand-name`): the sender's display name and
    /// how messages to customers name the SOC.
    pub(crate) soc_name: Option<String>,
    /// Attempts per message before it is given up.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one.
    pub(crate) first_retry: Duration,
    /// Longest wait between two attempts.
    pub(crate) max_retry: Duration,
    /// Time allowed for one SMTP exchange.
    pub(crate) timeout: Duration,
}

impl fmt::Debug for EmailConfig {
    /// The relay's host and port only: the URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("relay", &self.relay)
            .field("from", &self.from.email.to_string())
            .field("notify", &self.notify.len())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl EmailConfig {
    /// Checks `--smtp-url` (lettre's forms: `smtp://host[:port]` without
    /// TLS, `smtp://host?tls=required` or `?tls=opportunistic` for
    /// STARTTLS, `smtps://[user:pass@]host[:port]` for TLS from the start;
    /// see <https://docs.rs/lettre/0.11/lettre/transport/smtp/struct.AsyncSmtpTransport.html#method.from_url>),
    /// `--smtp-from` (a mailbox, `Name <addr>` or `addr`) and the
    /// `--smtp-notify` addresses. A password is refused on a connection
    /// without TLS to another machine. Errors are sentences that never show
    /// the URL's password.
    ///
    /// # Errors
    /// A sentence naming the option that is wrong.
    pub fn new(
        url: &str,
        from: &str,
        notify: &[String],
        public_url: &str,
    ) -> Result<EmailConfig, String> {
        let relay = check_url(url)?;
        let from = Mailbox::from_str(from.trim()).map_err(|e| {
            format!("--smtp-from {from:?} is not an e-mail address (\"Name <soc@example.com>\" or \"soc@example.com\"): {e}")
        })?;
        let notify = notify
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
            .map(|a| {
                Address::from_str(a)
                    .map_err(|e| format!("--smtp-notify {a:?} is not an e-mail address: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EmailConfig {
            url: SecretString::from(url.trim().to_owned()),
            relay,
            from,
            notify,
            public_url: public_url.trim_end_matches('/').to_owned(),
            titles: HashMap::new(),
            soc_name: None,
            max_attempts: 8,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
        })
    }

    /// Names the integration templates by their titles in the messages.
    pub fn with_integrations(
        mut self,
        integrations: &crate::integration::Integrations,
    ) -> EmailConfig {
        self.titles = integrations
            .all()
            .iter()
            .map(|i| (i.id.clone(), i.title.clone()))
            .collect();
        self
    }

    /// The SOC's brand name: the sender's display name, and the SOC's name
    /// in messages to customers.
    pub fn with_soc_name(mut self, name: Option<String>) -> EmailConfig {
        self.soc_name = name;
        self
    }

    /// Wait after failed attempt number `attempt` (1 for the first).
    pub(crate) fn retry_delay(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_retry)
    }

    /// The transport to the relay. Makes no connection: the first message
    /// does.
    ///
    /// # Errors
    /// The URL is refused by lettre (checked at start, so not expected), as
    /// a sentence naming the relay's host only.
    pub fn transport(&self) -> Result<Transport, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(self.url.expose_secret())
            .map_err(|e| format!("--smtp-url ({}) cannot be used: {e}", self.relay))?;
        Ok(builder.timeout(Some(self.timeout)).build())
    }

    /// The sender: `--smtp-from`'s address, with the SOC's brand name as its
    /// display name where one is set.
    fn sender(&self) -> Mailbox {
        let name = self.soc_name.clone().or_else(|| self.from.name.clone());
        Mailbox::new(name, self.from.email.clone())
    }
}

/// Checks an SMTP URL and returns its `host[:port]`, for logs.
fn check_url(text: &str) -> Result<String, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("--smtp-url is not a URL ({e}); e.g. smtps://user:password@mail.example.com or smtp://127.0.0.1:25")
    })?;
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("--smtp-url names no host".into());
    };
    let relay = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let encrypted = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("opportunistic")) => false,
        ("smtps", _) | ("smtp", Some("required")) => true,
        ("smtp", Some(other)) => {
            return Err(format!(
                "--smtp-url ({relay}): tls={other:?} is not one of required, opportunistic"
            ));
        }
        (other, _) => {
            return Err(format!(
                "--smtp-url ({relay}) must start with smtp:// or smtps://, not {other}://"
            ));
        }
    };
    if url.password().is_some() && !encrypted && !crate::address::is_loopback_host(&relay) {
        return Err(format!(
            "--smtp-url would send its password to {relay} unencrypted: use smtps:// or add ?tls=required"
        ));
    }
    // lettre's own reading of the URL, so that nothing is refused later.
    AsyncSmtpTransport::<Tokio1Executor>::from_url(text.trim())
        .map_err(|e| format!("--smtp-url ({relay}) cannot be used: {e}"))?;
    Ok(relay)
}

/// Checks a request's contact address: empty is none; otherwise one
/// address (`local@domain`, no display name, no spaces around it), at most
/// 254 characters (RFC 5321 §4.5.3.1.3's limit on a path).
///
/// # Errors
/// A sentence for the PM.
pub fn parse_contact(text: &str) -> Result<Option<Address>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > 254 {
        return Err("The contact e-mail address is longer than 254 characters.".into());
    }
    Address::from_str(text).map(Some).map_err(|_| {
        format!(
            "The contact e-mail address {:?} is not an e-mail address (name@example.com).",
            plain(text)
        )
    })
}

/// A link in a message.
struct Link {
    /// What the link is for, shown before it.
    label: String,
    url: String,
}

/// One message's content, as both parts show it.
struct Content {
    heading: String,
    paragraphs: Vec<String>,
    link: Option<Link>,
    /// Paragraphs after the link.
    after: Vec<String>,
    /// Who signs: the SOC's name, or "handoff".
    signature: String,
}

#[derive(Template)]
#[template(path = "email/message.txt")]
struct TextPart<'a> {
    m: &'a Content,
}

#[derive(Template)]
#[template(path = "email/message.html")]
struct HtmlPart<'a> {
    m: &'a Content,
}

impl Content {
    fn render(&self, to: &str, subject: String) -> Option<NewMail> {
        let text = TextPart { m: self }.render();
        let html = HtmlPart { m: self }.render();
        match (text, html) {
            (Ok(text), Ok(html)) => Some(NewMail {
                to: to.to_owned(),
                subject,
                text,
                html,
            }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "an e-mail failed to render");
                None
            }
        }
    }
}

/// The messages `event` makes: one to each `--smtp-notify` address for a
/// notified kind, and one to the request's contact address for the kinds a
/// customer admin is told of.
pub(crate) fn messages(event: &MailEvent, config: &EmailConfig) -> Vec<NewMail> {
    let mut out = Vec::new();
    if crate::store::NOTIFIED_KINDS.contains(&event.kind) && !config.notify.is_empty() {
        let staff = staff_message(event, config);
        for to in &config.notify {
            out.extend(staff.render(to.as_ref(), staff.heading.clone()));
        }
    }
    if let Some(contact) = event.contact_email.as_deref()
        && let Some((subject, content)) = customer_message(event, config)
    {
        out.extend(content.render(contact, subject));
    }
    out
}

fn detail(event: &MailEvent) -> serde_json::Value {
    serde_json::from_str(&event.detail).unwrap_or_default()
}

/// The template's title, for sentences.
fn title(event: &MailEvent, config: &EmailConfig) -> String {
    let id = event.template.clone().unwrap_or_default();
    plain(crate::template::title(
        &id,
        config.titles.get(&id).map(String::as_str),
    ))
}

/// What staff get: the webhook's sentence and the staff dashboard's page of
/// the request (for a rotation, the page of the request it rotates, since a
/// rotation's id is its customer link).
fn staff_message(event: &MailEvent, config: &EmailConfig) -> Content {
    let detail = detail(event);
    let from_detail = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let customer = event.customer.clone().or_else(|| from_detail("customer"));
    let template = event.template.clone().or_else(|| from_detail("template"));
    let page_of = match event.kind {
        Kind::RequestRotationCreated => from_detail("rotates"),
        _ => event.request_id.clone(),
    };
    let text = sentence(
        event.kind,
        customer.as_deref(),
        template.as_deref(),
        &detail,
        &config.titles,
    );
    Content {
        heading: text,
        paragraphs: vec![format!("At {}.", readable_utc(event.at))],
        link: page_of.map(|id| Link {
            label: "The request on the staff dashboard".into(),
            url: format!("{}/staff/requests/{id}", config.public_url),
        }),
        after: vec![
            "You get this because your address is in this handoff server's --smtp-notify list."
                .into(),
        ],
        signature: "handoff".into(),
    }
}

/// What the customer admin gets, with its subject, if anything.
fn customer_message(event: &MailEvent, config: &EmailConfig) -> Option<(String, Content)> {
    let soc = config
        .soc_name
        .as_deref()
        .map_or_else(|| "your SOC".to_owned(), plain);
    let signature = config
        .soc_name
        .as_deref()
        .map_or_else(|| "handoff".to_owned(), plain);
    let what = title(event, config);
    let request_link = |label: &str| {
        let id = event.request_id.as_deref()?;
        Some(Link {
            label: label.to_owned(),
            url: format!("{}/r/{id}", config.public_url),
        })
    };
    let until = event
        .expires_at
        .map(|t| format!(" It works until {}.", readable_utc(t)))
        .unwrap_or_default();
    let forwarding = "Please do not forward this link: whoever holds it can answer in your name. \
                      If you did not expect this message, tell your SOC and ignore it."
        .to_owned();
    match event.kind {
        Kind::RequestCreated if event.email_link => {
            let link = request_link("Open this link to see what is needed and to send it")?;
            Some((
                format!("{}: please send the {what} credentials", capitalised(&soc)),
                Content {
                    heading: format!("{} asks you for the {what} credentials.", capitalised(&soc)),
                    paragraphs: vec![format!(
                        "The page guides you step by step and checks what you enter; your browser \
                         encrypts the credentials before they leave it, so not even this server \
                         can read them.{until}"
                    )],
                    link: Some(link),
                    after: vec![forwarding],
                    signature,
                },
            ))
        }
        Kind::RequestRotationCreated => {
            let when = event
                .replaced_expires_on
                .as_deref()
                .map_or_else(|| "soon".to_owned(), |day| format!("on {}", plain(day)));
            let mut paragraphs = vec![
                format!(
                    "The client secret of the {what} app registration you gave {soc} expires {when}. \
                     After that day {soc} can no longer collect your logs with it."
                ),
                "Only a new client secret for the same app registration is needed: the tenant, \
                 the application (client) ID and its permissions stay as they are. In the Entra \
                 admin centre, open App registrations, the app, Certificates & secrets, and add a \
                 new client secret; copy its Value (not its Secret ID)."
                    .to_owned(),
            ];
            let (link, after) = if event.email_link {
                let link = request_link("Send the new secret through this link")?;
                let mut after = Vec::new();
                if !until.is_empty() {
                    after.push(until.trim().to_owned());
                }
                after.push(forwarding);
                (Some(link), after)
            } else {
                paragraphs.push(format!(
                    "{} will send you a link to send it through.",
                    capitalised(&soc)
                ));
                (None, Vec::new())
            };
            Some((
                format!("Your {what} client secret expires {when}"),
                Content {
                    heading: format!("A new {what} client secret is needed."),
                    paragraphs,
                    link,
                    after,
                    signature,
                },
            ))
        }
        Kind::RequestCredentialFailing => {
            let cause = detail(event)
                .get("cause")
                .and_then(|v| v.as_str())
                .map(|c| plain(c.trim()))
                .filter(|c| !c.is_empty());
            let mut paragraphs = vec![format!(
                "The {what} credentials you gave {soc} stopped working, so {soc} cannot collect your logs with them."
            )];
            if let Some(cause) = cause {
                paragraphs.push(format!("The cause: {cause}"));
            }
            paragraphs.push(
                "What you can do: in the Entra admin centre, open App registrations and the app; \
                 check under Certificates & secrets that its client secret still exists and has \
                 not expired, under API permissions that admin consent is still granted, and under \
                 Enterprise applications that the app is still enabled for sign-in."
                    .to_owned(),
            );
            paragraphs.push(format!(
                "If a new client secret is needed, {soc} will send you a link to send it through; \
                 never send a secret by e-mail."
            ));
            Some((
                format!("Your {what} credentials stopped working"),
                Content {
                    heading: format!("The {what} credentials stopped working."),
                    paragraphs,
                    link: None,
                    after: Vec::new(),
                    signature,
                },
            ))
        }
        Kind::RequestCredentialRecovered => Some((
            format!("Your {what} credentials work again"),
            Content {
                heading: format!("The {what} credentials work again."),
                paragraphs: vec![format!(
                    "{} can collect your logs with them again. There is nothing more to do.",
                    capitalised(&soc)
                )],
                link: None,
                after: Vec::new(),
                signature,
            },
        )),
        _ => None,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailStats {
    /// Messages made from new events.
    pub enqueued: u64,
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// Messages given up.
    pub failed: u64,
}

/// One pass: new events become messages, then every due message is
/// attempted once, one at a time, each under a lease longer than its
/// exchange may take.
///
/// # Errors
/// A database error; messages sent before it are recorded.
pub async fn deliver_once(
    store: &Store,
    clock: &Clock,
    config: &EmailConfig,
    transport: &Transport,
) -> Result<MailStats, StoreError> {
    let mut stats = MailStats::default();
    for _ in 0..PAGES_PER_PASS {
        let now = clock.now();
        let step = store
            .enqueue_emails(now, now - MAX_EVENT_AGE_SECONDS, PAGE, |e| {
                messages(e, config)
            })
            .await?;
        stats.enqueued += step.messages;
        if step.skipped > 0 {
            tracing::info!(
                events = step.skipped,
                "e-mail: passed over events older than a day"
            );
        }
        if !step.more {
            break;
        }
    }
    let lease = i64::try_from(config.timeout.as_secs()).unwrap_or(60) * 2 + 30;
    let sender = config.sender();
    for _ in 0..SENDS_PER_PASS {
        let now = clock.now();
        let Some(delivery) = store.claim_email_delivery(now, now + lease).await? else {
            break;
        };
        let result = send(transport, &sender, &delivery).await;
        let now = clock.now();
        let outcome = match &result {
            Ok(()) => AttemptOutcome::Delivered { status: 250 },
            Err((permanent, error))
                if *permanent || delivery.attempts >= i64::from(config.max_attempts) =>
            {
                tracing::warn!(
                    message = %delivery.id,
                    event = %delivery.event,
                    relay = %config.relay,
                    attempts = delivery.attempts,
                    error = %error,
                    "e-mail given up"
                );
                AttemptOutcome::GiveUp {
                    status: None,
                    error,
                }
            }
            Err((_, error)) => {
                let wait = config.retry_delay(delivery.attempts).as_secs();
                tracing::info!(
                    message = %delivery.id,
                    event = %delivery.event,
                    relay = %config.relay,
                    attempt = delivery.attempts,
                    retry_in_seconds = wait,
                    error = %error,
                    "e-mail attempt failed"
                );
                AttemptOutcome::Retry {
                    status: None,
                    error,
                    next_attempt_at: now + i64::try_from(wait).unwrap_or(3600),
                }
            }
        };
        match outcome {
            AttemptOutcome::Delivered { .. } => stats.delivered += 1,
            AttemptOutcome::Retry { .. } => stats.retrying += 1,
            AttemptOutcome::GiveUp { .. } => stats.failed += 1,
        }
        store.record_email_attempt(&delivery, now, &outcome).await?;
    }
    Ok(stats)
}

/// One message. `Err((permanent, reason))`: `permanent` for a refusal that
/// a retry cannot change (an SMTP 5xx answer, or a message that cannot be
/// built).
async fn send(
    transport: &Transport,
    sender: &Mailbox,
    delivery: &MailDelivery,
) -> Result<(), (bool, String)> {
    let to = Address::from_str(&delivery.recipient)
        .map_err(|e| (true, format!("the address cannot be used: {e}")))?;
    let domain = sender.email.domain().to_owned();
    let message = Message::builder()
        .from(sender.clone())
        .to(Mailbox::new(None, to))
        .subject(delivery.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", delivery.id)))
        .multipart(MultiPart::alternative_plain_html(
            delivery.text_body.clone(),
            delivery.html_body.clone(),
        ))
        .map_err(|e| (true, format!("the message cannot be built: {e}")))?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) => Err((e.is_permanent(), e.to_string())),
    }
}

/// Runs a pass every `interval`, the first one interval after start, until
/// `stop` changes. Failures are logged and the pass is tried again at the
/// next tick.
pub(crate) async fn run(
    store: Store,
    clock: Clock,
    config: std::sync::Arc<EmailConfig>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let transport = match config.transport() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "e-mail is off");
            return;
        }
    };
    tracing::info!(config = ?config, "e-mail on");
    // The first pass one interval after start, not at once: a test's app
    // on a manual clock sets a long interval and passes when it chooses.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Stopping cuts a pass short: a message cut off mid-send is
                // sent again once its lease ends, with the same Message-ID.
                let pass = tokio::select! {
                    pass = deliver_once(&store, &clock, &config, &transport) => pass,
                    _ = stop.changed() => break,
                };
                match pass {
                    Ok(s) if s.delivered + s.failed > 0 => tracing::info!(
                        delivered = s.delivered,
                        retrying = s.retrying,
                        failed = s.failed,
                        "e-mails sent"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "e-mail pass failed"),
                }
            }
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://handoff.example.com";

    fn config(url: &str) -> Result<EmailConfig, String> {
        EmailConfig::new(url, "SOC <soc@example.com>", &[], PUBLIC)
    }

    #[test]
    fn lettres_url_forms_are_taken() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com",
            "smtp://mail.example.com:587?tls=required",
            "smtp://user:pw@mail.example.com?tls=required",
            "smtps://user:pw@mail.example.com",
            "smtp://user:pw@127.0.0.1:2525",
        ] {
            assert!(config(ok).is_ok(), "{ok}: {:?}", config(ok).err());
        }
    }

    #[test]
    fn bad_urls_are_refused_without_their_password() {
        for (bad, words) in [
            ("mail.example.com", "not a URL"),
            ("https://user:hunter2@mail.example.com", "smtp://"),
            ("smtp://user:hunter2@mail.example.com", "unencrypted"),
            (
                "smtp://user:hunter2@mail.example.com?tls=opportunistic",
                "unencrypted",
            ),
            ("smtp://user:hunter2@mail.example.com?tls=maybe", "tls="),
            ("smtp://user:hunter2@", "--smtp-url"),
        ] {
            let err = config(bad).unwrap_err();
            assert!(err.contains(words), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{bad}: {err}");
            assert!(err.contains("--smtp-url"), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_shows_the_relay_not_the_password() {
        let c = config("smtps://soc:hunter2@mail.example.com:465").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("mail.example.com:465"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn from_and_notify_must_be_addresses() {
        let url = "smtp://127.0.0.1:25";
        assert!(EmailConfig::new(url, "soc@example.com", &[], PUBLIC).is_ok());
        let err = EmailConfig::new(url, "the SOC", &[], PUBLIC).unwrap_err();
        assert!(err.contains("--smtp-from"), "{err}");
        let err = EmailConfig::new(url, "soc@example.com", &["pm at example".into()], PUBLIC)
            .unwrap_err();
        assert!(err.contains("--smtp-notify"), "{err}");
    }

    #[test]
    fn the_brand_name_is_the_senders_display_name() {
        let c = config("smtp://127.0.0.1:25").unwrap();
        assert_eq!(c.sender().to_string(), "SOC <soc@example.com>");
        let c = c.with_soc_name(Some("Contoso SOC".into()));
        assert_eq!(c.sender().to_string(), "Contoso SOC <soc@example.com>");
    }

    #[test]
    fn contact_addresses_are_checked() {
        assert_eq!(parse_contact("").unwrap(), None);
        assert_eq!(
            parse_contact("admin@contoso.example")
                .unwrap()
                .unwrap()
                .to_string(),
            "admin@contoso.example"
        );
        for bad in [
            " ",
            " admin@contoso.example",
            "admin",
            "admin@",
            "Admin <admin@contoso.example>",
            "a b@contoso.example",
        ] {
            assert!(parse_contact(bad).is_err(), "{bad}");
        }
        assert!(parse_contact(&format!("{}@contoso.example", "a".repeat(250))).is_err());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let c = config("smtp://127.0.0.1:25").unwrap();
        let waits: Vec<u64> = (1..=9).map(|a| c.retry_delay(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
