//! Webhook notifications: a request was answered, retrieved, expired
//! unanswered, or its verification failed.
//!
//! The worker tails the audit trail (see [`crate::store`]'s webhook part):
//! each pass turns new events into deliveries, then sends whatever is due.
//! A body is JSON with a `text` sentence, so Slack and Teams incoming
//! webhooks show it as is; it names the request, its customer label and
//! template, and the staff dashboard's page of it, and nothing else: no
//! secret material, no retrieval or status links, no ids of copies. Every
//! notified event happens after a request stopped taking answers, so its id
//! grants nothing either.
//!
//! Each POST carries `X-Handoff-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256(secret, "<t>.<body>")>`, `X-Handoff-Event` and
//! `X-Handoff-Delivery` (the same for every attempt of one delivery, for
//! deduplication). A 2xx answer is delivered; anything else, a redirect or a
//! connection error is retried after 30 s, 1 min, 2 min, ... (at most 1 h
//! apart), until `max_attempts`, then given up with a warning in the log.

use std::fmt;
use std::time::Duration;

use age::secrecy::{ExposeSecret, SecretString};
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::audit::{Kind, hex};
use crate::clock::{Clock, rfc3339};
use crate::store::{AttemptOutcome, Delivery, NotifiedEvent, Store, StoreError};
use crate::wire::{WebhookEvent, WebhookRequest};

/// Events older than this when the worker first sees them are not sent: it
/// covers a restart or an outage, not history from before webhooks were on.
pub(crate) const MAX_EVENT_AGE_SECONDS: i64 = 24 * 3600;

/// How long finished deliveries (their bodies name customers) are kept.
pub const DELIVERY_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// The shortest secret accepted, in bytes.
pub(crate) const MIN_SECRET_BYTES: usize = 16;

/// Events read per enqueue step, and steps per pass.
const PAGE: i64 = 200;
const PAGES_PER_PASS: usize = 10;
/// Attempts sent per pass, so that a long backlog does not starve the
/// enqueue step.
const SENDS_PER_PASS: usize = 100;

/// Where and how notifications go: checked at start by [`crate::config`].
#[derive(Clone)]
pub struct WebhookConfig {
    /// Receivers; each gets every notification.
    pub(crate) urls: Vec<Url>,
    /// The HMAC key of `X-Handoff-Signature`.
    pub(crate) secret: SecretString,
    /// The server's public base URL, without a trailing slash: the body
    /// links to the staff dashboard under it.
    pub(crate) public_url: String,
    /// Attempts per delivery before it is given up.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one.
    pub(crate) first_retry: Duration,
    /// Longest wait between two attempts.
    pub(crate) max_retry: Duration,
    /// Time allowed for one POST, connection included.
    pub(crate) timeout: Duration,
    /// Integration template titles by id, for the chat sentence.
    pub(crate) titles: std::collections::HashMap<String, String>,
}

impl fmt::Debug for WebhookConfig {
    /// Hosts only: a Slack or Teams webhook URL carries a token in its path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("hosts", &self.urls.iter().map(host).collect::<Vec<_>>())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// Checks the receivers and the secret. `https://` is required, except
    /// for loopback hosts (a relay or test receiver on the same machine):
    /// a body names customers, and the secret only proves who sent it.
    pub fn new(
        urls: Vec<Url>,
        secret: SecretString,
        public_url: &str,
    ) -> Result<WebhookConfig, String> {
        if urls.is_empty() {
            return Err("no webhook URL is given".into());
        }
        for url in &urls {
            check_url(url)?;
        }
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the webhook secret must be at least {MIN_SECRET_BYTES} bytes long \
                 (e.g. the output of `openssl rand -hex 32`)"
            ));
        }
        Ok(WebhookConfig {
            urls,
            secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_attempts: 8,
            first_retry: Duration::from_secs(30),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            titles: std::collections::HashMap::new(),
        })
    }

    /// Names templates by their titles in the chat sentence.
    pub(crate) fn with_titles(
        mut self,
        titles: impl IntoIterator<Item = (String, String)>,
    ) -> WebhookConfig {
        self.titles = titles.into_iter().collect();
        self
    }

    /// Wait after failed attempt number `attempt` (1 for the first).
    pub(crate) fn retry_delay(&self, attempt: i64) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_retry)
    }
}

/// Parses one `--webhook-url` and applies [`WebhookConfig::new`]'s rules.
pub(crate) fn parse_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| {
        // The text may carry a token: name only its start.
        let shown: String = text.chars().take(24).collect();
        format!("webhook URL {shown:?}... is not a URL: {e}")
    })?;
    check_url(&url)?;
    Ok(url)
}

fn check_url(url: &Url) -> Result<(), String> {
    crate::address::require_tls_unless_loopback(url, "the signed notification")
        .map_err(|e| format!("webhook URL: {e}"))
}

/// What logs and errors may name of a receiver: its host and port.
pub(crate) fn host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => "?".to_owned(),
    }
}

/// What the store keeps instead of a receiver's URL.
pub fn url_hash(url: &Url) -> String {
    hex(&Sha256::digest(url.as_str().as_bytes()))
}

/// The JSON body sent for `event`.
pub(crate) fn body(
    event: &NotifiedEvent,
    public_url: &str,
    titles: &std::collections::HashMap<String, String>,
) -> String {
    let detail: serde_json::Value = serde_json::from_str(&event.detail).unwrap_or_default();
    let from_detail = |key: &str| detail.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let customer = event.customer.clone().or_else(|| from_detail("customer"));
    let template = event.template.clone().or_else(|| from_detail("template"));
    // A rotation request is open for the customer's answer, and its id is
    // its customer link: the body names the request it rotates instead (whose
    // page links the rotation), so that a chat channel cannot answer it.
    let request_id = match event.kind {
        Kind::RequestRotationCreated => from_detail("rotates"),
        _ => event.request_id.clone(),
    };
    let dashboard_url = request_id
        .as_ref()
        .map(|id| format!("{public_url}/staff/requests/{id}"));
    let text = sentence(
        event.kind,
        customer.as_deref(),
        template.as_deref(),
        &detail,
        titles,
    );
    let body = WebhookEvent {
        event: event.kind.as_str().to_owned(),
        seq: event.seq,
        at: rfc3339(event.at),
        request: WebhookRequest {
            id: request_id,
            customer,
            template,
        },
        dashboard_url,
        text,
    };
    // Strings and numbers only: serializing cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// One plain sentence for chat: `Contoso answered the Text request.`
pub(crate) fn sentence(
    kind: Kind,
    customer: Option<&str>,
    template: Option<&str>,
    detail: &serde_json::Value,
    titles: &std::collections::HashMap<String, String>,
) -> String {
    let who = customer.map_or_else(|| "a customer".to_owned(), plain);
    // "the Text request", or "the request" when the template is unknown.
    let what = template.map_or_else(String::new, |id| {
        let title = crate::template::title(id, titles.get(id).map(String::as_str));
        format!("{} ", plain(title))
    });
    let text = match kind {
        Kind::RequestAnswered => format!("{who} answered the {what}request."),
        Kind::RequestRetrieved => format!("The {what}credentials from {who} were retrieved."),
        Kind::RequestExpired => format!("The {what}request to {who} expired unanswered."),
        Kind::RequestVerifyFailed => format!("Verifying the {what}credentials from {who} failed."),
        Kind::RequestRotationCreated => {
            format!(
                "The {what}client secret from {who} needs renewing: a rotation request was made."
            )
        }
        Kind::RequestCredentialFailing => {
            let cause = detail_cause(detail);
            format!("The credential {who} sent for the {what}request stopped working{cause}")
        }
        Kind::RequestCredentialRecovered => {
            format!("The credential {who} sent for the {what}request works again.")
        }
        // Not notified (see `NOTIFIED_KINDS`); a plain fallback all the same.
        Kind::RequestCreated
        | Kind::RequestOpened
        | Kind::RequestWithdrawn
        | Kind::RequestCancelled
        | Kind::RequestPurged
        | Kind::RequestLeased
        | Kind::RequestReleased
        | Kind::RequestImported
        | Kind::RequestVerified
        | Kind::RequestCredentialNoted
        | Kind::RequestRecheckRequested
        | Kind::LoginSucceeded
        | Kind::LoginFailed
        | Kind::Logout
        | Kind::UserAdded
        | Kind::UserRemoved
        | Kind::TokenCreated
        | Kind::TokenRevoked
        | Kind::TokenRefused => format!("{who}: {}.", kind.as_str()),
    };
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// ": CAUSE" from a failing credential's detail (itself a sentence ending in
/// a full stop), or "." when the collector gave none.
fn detail_cause(detail: &serde_json::Value) -> String {
    match detail.get("cause").and_then(|v| v.as_str()) {
        Some(cause) if !cause.trim().is_empty() => {
            let cause = plain(cause.trim());
            if cause.ends_with('.') {
                format!(": {cause}")
            } else {
                format!(": {cause}.")
            }
        }
        _ => ".".to_owned(),
    }
}

/// A label as chat text: Slack reads `<...>` as a link or mention, so angle
/// brackets go, and control characters become spaces.
pub(crate) fn plain(label: &str) -> String {
    label
        .chars()
        .filter(|c| !matches!(c, '<' | '>'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub(crate) fn signature(secret: &[u8], unix_seconds: i64, body: &str) -> String {
    format!(
        "t={unix_seconds},v1={}",
        hex(&mac(secret, unix_seconds, body))
    )
}

fn mac(secret: &[u8], unix_seconds: i64, body: &str) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What a receiver does: true if `header` signs `body` with `secret` and its
/// time is within `tolerance` seconds of `now` (which refuses replays of old
/// deliveries). Compares in constant time.
pub fn verify_signature(secret: &[u8], header: &str, body: &str, now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if now.abs_diff(t) > tolerance.unsigned_abs() {
        return false;
    }
    let Some(given) = unhex(v1) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&given).is_ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The HTTP client deliveries go through: rustls, `config.timeout` per
/// request, redirects not followed (a redirect is a failed attempt).
pub fn http_client(config: &WebhookConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("handoff-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Deliveries created from new events.
    pub enqueued: u64,
    pub delivered: u64,
    /// Attempts that failed and will be retried.
    pub retrying: u64,
    /// Deliveries given up after their last attempt.
    pub failed: u64,
}

/// One pass: new events become deliveries, then every due delivery is
/// attempted once, one at a time, each under a lease long enough for its
/// request to time out.
pub async fn deliver_once(
    store: &Store,
    clock: &Clock,
    config: &WebhookConfig,
    client: &reqwest::Client,
) -> Result<DeliveryStats, StoreError> {
    let mut stats = DeliveryStats::default();
    let hashes: Vec<String> = config.urls.iter().map(url_hash).collect();
    for _ in 0..PAGES_PER_PASS {
        let now = clock.now();
        let step = store
            .enqueue_webhooks(&hashes, now, now - MAX_EVENT_AGE_SECONDS, PAGE, |e| {
                body(e, &config.public_url, &config.titles)
            })
            .await?;
        stats.enqueued += step.deliveries;
        if step.skipped > 0 {
            tracing::info!(
                events = step.skipped,
                "webhooks: passed over events older than a day"
            );
        }
        if !step.more {
            break;
        }
    }
    let lease = i64::try_from(config.timeout.as_secs()).unwrap_or(60) + 50;
    for _ in 0..SENDS_PER_PASS {
        let now = clock.now();
        let Some(delivery) = store.claim_webhook_delivery(now, now + lease).await? else {
            break;
        };
        let Some(url) = config
            .urls
            .iter()
            .find(|u| url_hash(u) == delivery.url_hash)
        else {
            // The receiver was removed from the configuration since.
            let outcome = AttemptOutcome::GiveUp {
                status: None,
                error: "the receiver is no longer configured",
            };
            store
                .record_webhook_attempt(&delivery, clock.now(), &outcome)
                .await?;
            stats.failed += 1;
            continue;
        };
        let result = send(client, url, config, &delivery, clock.now()).await;
        let now = clock.now();
        let outcome = match &result {
            Ok(status) => AttemptOutcome::Delivered { status: *status },
            Err((status, error)) if delivery.attempts >= i64::from(config.max_attempts) => {
                tracing::warn!(
                    delivery = %delivery.id,
                    event = %delivery.event,
                    receiver = %host(url),
                    attempts = delivery.attempts,
                    error = %error,
                    "webhook given up"
                );
                AttemptOutcome::GiveUp {
                    status: *status,
                    error,
                }
            }
            Err((status, error)) => {
                let wait = config.retry_delay(delivery.attempts).as_secs();
                tracing::info!(
                    delivery = %delivery.id,
                    event = %delivery.event,
                    receiver = %host(url),
                    attempt = delivery.attempts,
                    retry_in_seconds = wait,
                    error = %error,
                    "webhook attempt failed"
                );
                AttemptOutcome::Retry {
                    status: *status,
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
        store
            .record_webhook_attempt(&delivery, now, &outcome)
            .await?;
    }
    Ok(stats)
}

/// One POST. `Ok(status)` for a 2xx answer; otherwise the status, if any,
/// and a reason that names neither the URL nor the body.
async fn send(
    client: &reqwest::Client,
    url: &Url,
    config: &WebhookConfig,
    delivery: &Delivery,
    now: i64,
) -> Result<u16, (Option<u16>, String)> {
    let sig = signature(
        config.secret.expose_secret().as_bytes(),
        now,
        &delivery.body,
    );
    let response = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Handoff-Signature", sig)
        .header("X-Handoff-Event", &delivery.event)
        .header("X-Handoff-Delivery", &delivery.id)
        .body(delivery.body.clone())
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Ok(r.status().as_u16()),
        Ok(r) => Err((
            Some(r.status().as_u16()),
            format!("the receiver answered {}", r.status()),
        )),
        Err(e) => Err((None, describe(e))),
    }
}

/// A transport error as a sentence, without the URL reqwest attaches.
pub(crate) fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let e = e.without_url();
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs a pass every `interval` until `stop` changes (finished deliveries
/// are deleted by the purge task, webhooks on or off). Failures are logged and the pass is tried again at the next tick.
pub(crate) async fn run(
    store: Store,
    clock: Clock,
    config: std::sync::Arc<WebhookConfig>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let client = match http_client(&config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "webhooks are off: cannot build the HTTP client");
            return;
        }
    };
    tracing::info!(receivers = ?config, "webhooks on");
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // Stopping cuts a pass short: an attempt cut off mid-send is
                // retried once its lease ends (receivers deduplicate on
                // X-Handoff-Delivery), so shutdown never waits on a receiver.
                let pass = tokio::select! {
                    pass = deliver_once(&store, &clock, &config, &client) => pass,
                    _ = stop.changed() => break,
                };
                match pass {
                    Ok(s) if s.delivered + s.failed > 0 => tracing::info!(
                        delivered = s.delivered,
                        retrying = s.retrying,
                        failed = s.failed,
                        "webhooks sent"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhook pass failed"),
                }
            }
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WebhookConfig {
        WebhookConfig::new(
            vec![Url::parse("https://hooks.example.com/services/T0/B0/xyz").unwrap()],
            SecretString::from("0123456789abcdef".to_owned()),
            "https://handoff.example.com/",
        )
        .unwrap()
    }

    #[test]
    fn urls_must_be_https_unless_loopback() {
        for ok in [
            "https://hooks.slack.com/services/a",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:8080/",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/x",
            "http://10.0.0.1/x",
            "ftp://127.0.0.1/x",
            "not a url",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_secrets_and_no_urls_are_refused() {
        let url = vec![Url::parse("https://x.example/").unwrap()];
        assert!(
            WebhookConfig::new(
                url.clone(),
                SecretString::from("short".to_owned()),
                "https://h"
            )
            .is_err()
        );
        assert!(
            WebhookConfig::new(
                vec![],
                SecretString::from("0123456789abcdef".to_owned()),
                "https://h"
            )
            .is_err()
        );
    }

    #[test]
    fn debug_shows_hosts_not_tokens() {
        let shown = format!("{:?}", config());
        assert!(shown.contains("hooks.example.com"), "{shown}");
        assert!(
            !shown.contains("xyz") && !shown.contains("0123456789"),
            "{shown}"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let c = config();
        let waits: Vec<u64> = (1..=9).map(|a| c.retry_delay(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(c.retry_delay(1_000).as_secs(), 3600);
    }

    #[test]
    fn signatures_verify_only_with_the_secret_and_in_time() {
        let body = r#"{"text":"hi"}"#;
        let header = signature(b"0123456789abcdef", 1_000, body);
        // The same as Python's hmac.new(secret, b'1000.' + body, sha256), the
        // README's receiver snippet.
        assert_eq!(
            header,
            "t=1000,v1=070f72a26172189e4b9cc5807adf76940c206e805d4d5ad173fa24b0c4a639e5"
        );
        assert!(verify_signature(
            b"0123456789abcdef",
            &header,
            body,
            1_100,
            300
        ));
        assert!(!verify_signature(
            b"another secret!!",
            &header,
            body,
            1_100,
            300
        ));
        assert!(!verify_signature(
            b"0123456789abcdef",
            &header,
            "{}",
            1_100,
            300
        ));
        assert!(!verify_signature(
            b"0123456789abcdef",
            &header,
            body,
            1_400,
            300
        ));
        assert!(!verify_signature(
            b"0123456789abcdef",
            "t=1000",
            body,
            1_000,
            300
        ));
        let far = format!("t={},v1=00", i64::MIN);
        assert!(!verify_signature(
            b"0123456789abcdef",
            &far,
            body,
            1_000,
            300
        ));
    }

    #[test]
    fn body_falls_back_to_the_event_detail_and_keeps_to_plain_text() {
        let event = NotifiedEvent {
            seq: 7,
            at: 1_795_305_600,
            kind: Kind::RequestExpired,
            request_id: Some("abc".into()),
            customer: None,
            template: None,
            detail: r#"{"customer":"<!channel> Contoso","template":"entra-app"}"#.into(),
        };
        let body: serde_json::Value =
            serde_json::from_str(&body(&event, "https://h.example", &Default::default())).unwrap();
        assert_eq!(body["request"]["customer"], "<!channel> Contoso");
        assert_eq!(
            body["dashboard_url"],
            "https://h.example/staff/requests/abc"
        );
        assert_eq!(body["at"], "2026-11-22T00:00:00Z");
        assert_eq!(
            body["text"],
            "The Microsoft 365 / Entra app credentials request to !channel Contoso expired unanswered."
        );
    }
}
