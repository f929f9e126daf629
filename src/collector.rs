//! `handoff collect`: the SOC's collector host pulls sealed copies from the
//! inbox, decrypts them here with the SOC's age identity, writes them into
//! the collector's configuration (or sends them to its API), checks them
//! against Entra ID if asked, acknowledges, and reports back.
//!
//! Per credential: lease → decrypt → plan the target's change → write it
//! (atomically; idempotent) → send an API target's requests (only a 2xx
//! answer counts) → verify → ack → report the verification. If anything
//! fails before the write, or a platform refuses the change (its own words
//! are printed), the lease is released so the copy can be
//! taken again at once; if the process dies, the lease lapses and the copy is
//! leased again later. Because every target write is idempotent, a copy that
//! was written but not acknowledged is simply written again, to the same
//! effect. Nothing secret is printed: one line per credential, a summary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client::{ApiFailure, Client};
use crate::collect::{self, Import, Target, TargetArgs};
use crate::config::TemplatesArgs;
use crate::integration::Integrations;
use crate::payload::{EntraCredential, Payload};
use crate::verify;
use crate::wire::{CredentialFacts, Leased, VerifyOutcome};

#[derive(clap::Args)]
pub(crate) struct CollectArgs {
    /// The handoff server: https://, or http:// on this machine only (the
    /// API token goes with every request).
    #[arg(long, env = "HANDOFF_SERVER", default_value = "http://127.0.0.1:8080", value_parser = parse_server)]
    pub(crate) server: String,
    /// A file holding an API token with the `collect` scope (mode 0600). A
    /// relative path is taken from the working directory.
    #[arg(long, env = "HANDOFF_TOKEN_FILE")]
    pub(crate) token_file: PathBuf,
    /// The SOC's age identity file, as `handoff keygen` wrote it. A relative
    /// path is taken from the working directory.
    #[arg(long, env = "HANDOFF_IDENTITY")]
    pub(crate) identity: PathBuf,
    /// Where credentials go.
    #[arg(long, env = "HANDOFF_TARGET")]
    pub(crate) target: Target,
    #[command(flatten)]
    pub(crate) target_args: TargetArgs,
    /// Print each change as a diff and acknowledge nothing (leases are released).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Check each credential against Entra ID after writing it.
    #[arg(long)]
    pub(crate) verify: bool,
    #[command(flatten)]
    pub(crate) verify_args: VerifyArgs,
    #[command(flatten)]
    pub(crate) templates: TemplatesArgs,
    /// One pass over the inbox, then exit (the default).
    #[arg(long, conflicts_with = "watch")]
    pub(crate) once: bool,
    /// Keep going: a pass every INTERVAL (e.g. 1m) until stopped.
    #[arg(long, value_name = "INTERVAL", value_parser = humantime::parse_duration)]
    pub(crate) watch: Option<Duration>,
    /// After each pass, re-check the credentials this target holds that
    /// nobody checked for INTERVAL (e.g. 1d; at least 1m): each is read back
    /// from where the target wrote it and must still get a token from Entra
    /// ID (one token request, no log data read). A credential that stops
    /// working, or works again, is reported to the server, which notifies.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_recheck, conflicts_with = "dry_run")]
    pub(crate) recheck: Option<Duration>,
}

/// `--recheck`: a humantime duration of at least a minute (Entra ID
/// throttles a tenant that asks for tokens too often).
fn parse_recheck(text: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if every < Duration::from_secs(60) {
        return Err(
            "re-check at most once a minute: give 1m or more (1d suits most SOCs)".to_owned(),
        );
    }
    Ok(every)
}

/// `handoff collect`'s verification options (flattened into its flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct VerifyArgs {
    /// Base URL of the Entra ID token service to use for every cloud instead
    /// of Microsoft's (e.g. http://127.0.0.1:9000 for a test stand-in).
    #[arg(long, env = "HANDOFF_LOGIN_HOST", value_parser = verify::parse_base_url)]
    pub(crate) login_host: Option<reqwest::Url>,
    /// Base URL of Microsoft Graph to use for every cloud.
    #[arg(long, env = "HANDOFF_GRAPH_HOST", value_parser = verify::parse_base_url)]
    pub(crate) graph_host: Option<reqwest::Url>,
    /// Base URL of the Office 365 Management API to use for every cloud.
    #[arg(long, env = "HANDOFF_MANAGE_HOST", value_parser = verify::parse_base_url)]
    pub(crate) manage_host: Option<reqwest::Url>,
    /// After a successful check, start the Office 365 Management API
    /// subscriptions the template needs ("already enabled" counts as done).
    #[arg(long, env = "HANDOFF_START_SUBSCRIPTIONS")]
    pub(crate) start_subscriptions: bool,
}

impl VerifyArgs {
    /// Microsoft's hosts, with the ones these flags name in their place.
    pub(crate) fn endpoints(&self) -> verify::Endpoints {
        verify::Endpoints::with_overrides(
            self.login_host.as_ref(),
            self.graph_host.as_ref(),
            self.manage_host.as_ref(),
        )
    }
}

/// What one pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) imported: u32,
    pub(crate) unchanged: u32,
    pub(crate) verified: u32,
    pub(crate) verify_failed: u32,
    pub(crate) skipped: u32,
    /// Left in the inbox, never leased: their template does not suit this
    /// collector's target (or is unknown here), so another collector takes them.
    pub(crate) other_target: u32,
    pub(crate) failed: u32,
    pub(crate) dry_run: u32,
    /// Written, but the check could not be made from here (the collector
    /// host's network, or Microsoft unavailable): released, not blamed on
    /// the customer, verified again on a later pass.
    pub(crate) unverified: u32,
}

impl Summary {
    fn bad(&self) -> bool {
        self.failed + self.verify_failed + self.unverified > 0
    }
}

/// `--server`: a URL the API token may be sent to; see
/// [`crate::address::require_tls_unless_loopback`].
fn parse_server(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        format!("{text:?} is not a URL ({e}); write it like https://handoff.soc.example")
    })?;
    crate::address::require_tls_unless_loopback(&url, "the collector's API token")?;
    Ok(text.trim().to_owned())
}

pub(crate) async fn run(args: CollectArgs) -> anyhow::Result<()> {
    // Found before anything is leased, not once per credential.
    args.target
        .check_args(&args.target_args, args.dry_run)
        .map_err(|e| anyhow!(e))?;
    if args.target == Target::Dir && (args.verify || args.recheck.is_some()) {
        bail!(
            "--verify and --recheck check Entra credentials against Microsoft; the dir target \
             writes files, which have nothing to check: leave them out"
        );
    }
    let api = collect::Api::from_args(&args.target_args).map_err(|e| anyhow!(e))?;
    let token = read_token(&args.token_file)?;
    let identity = read_identity(&args.identity)?;
    let integrations = args.templates.load().map_err(|e| anyhow!(e))?;
    let client = Client::new(&args.server)?.with_token(&token);
    let http = reqwest::Client::builder()
        .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
        .timeout(Duration::from_secs(30))
        // A redirected token request would repeat the client secret to another host.
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Requests this collector cannot import, already explained once.
    let mut told = std::collections::HashSet::new();
    // Token requests per tenant, kept apart across re-check passes.
    let mut pacer = crate::recheck::TenantPacer::default();
    loop {
        let summary = match pass(
            &args,
            &client,
            &http,
            api.as_ref(),
            &identity,
            &integrations,
            &mut told,
        )
        .await
        {
            Ok(summary) => summary,
            // Watching: an outage or a restart of the server is waited out.
            Err(e) if args.watch.is_some() => {
                eprintln!("error: {e:#}; trying again at the next pass");
                Summary::default()
            }
            Err(e) => return Err(e),
        };
        println!(
            "summary: {} imported, {} unchanged, {} verified, {} failed verification, {} not verified (retried later), {} failed, {} skipped, {} for other targets{}",
            summary.imported,
            summary.unchanged,
            summary.verified,
            summary.verify_failed,
            summary.unverified,
            summary.failed,
            summary.skipped,
            summary.other_target,
            if args.dry_run {
                format!(", {} dry-run", summary.dry_run)
            } else {
                String::new()
            }
        );
        if let Some(every) = args.recheck {
            let endpoints = args.verify_args.endpoints();
            let checker = crate::recheck::Rechecker {
                args: &args,
                client: &client,
                http: &http,
                api: api.as_ref(),
                integrations: &integrations,
                endpoints: &endpoints,
            };
            match checker.pass(every, &mut told, &mut pacer).await {
                Ok(_) => {}
                Err(e) if args.watch.is_some() => {
                    eprintln!("error: re-check: {e:#}; trying again at the next pass");
                }
                Err(e) => return Err(e),
            }
        }
        match args.watch {
            Some(every) => {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
            None if summary.bad() => bail!("some credentials were not imported or did not verify"),
            None => return Ok(()),
        }
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: {} can be read by other users; chmod 600 it",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim().to_owned();
    if !crate::token::well_formed(&token) {
        bail!(
            "{} does not hold an API token (hnd_...); make one with `handoff token create --name NAME --scope collect`",
            path.display()
        );
    }
    Ok(token)
}

fn read_identity(path: &Path) -> anyhow::Result<age::x25519::Identity> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the identity file {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .and_then(|l| l.parse::<age::x25519::Identity>().ok())
        .ok_or_else(|| {
            anyhow!(
                "{} holds no X25519 age identity (AGE-SECRET-KEY-1...); make one with `handoff keygen`",
                path.display()
            )
        })
}

async fn pass(
    args: &CollectArgs,
    client: &Client,
    http: &reqwest::Client,
    api: Option<&collect::Api>,
    identity: &age::x25519::Identity,
    integrations: &Integrations,
    told: &mut std::collections::HashSet<String>,
) -> anyhow::Result<Summary> {
    let inbox = client.inbox().await.context("cannot read the inbox")?;
    let mut summary = Summary::default();
    for item in inbox.items {
        let label = format!("{} ({}, request {})", item.customer, item.template, item.id);
        // Decided before leasing: a lease and a release on every pass would
        // fill the trail and make a watching collector fail every minute.
        if let Some(why) = not_for(args.target, integrations, &item.template) {
            if told.insert(item.id.clone()) {
                println!("left {label} in the inbox: {why}");
            }
            summary.other_target += 1;
            continue;
        }
        if item.leased_until.is_some() {
            println!("skipped {label}: another collector holds it");
            summary.skipped += 1;
            continue;
        }
        let leased = match client.lease(&item.id).await {
            Ok(l) => l,
            Err(e) if api_status(&e).is_some_and(|s| s == 404 || s == 409) => {
                println!("skipped {label}: {e}");
                summary.skipped += 1;
                continue;
            }
            Err(e) => return Err(e.context("cannot lease")),
        };
        let outcome = import_one(args, client, http, api, identity, integrations, &leased).await;
        match outcome {
            Err(e) => {
                // Let it be taken again at once; the write did not happen.
                // The reason goes to the PM's trail: a platform's refusal in
                // its own words (masked), a file that could not be written.
                // Never a files request's: its sentences name the files,
                // which the server must not learn.
                let reason = if asks_for_files(integrations, &item.template) {
                    "the files could not be written on the collector host; its output says why"
                        .to_owned()
                } else {
                    one_line(&format!("{e:#}"))
                };
                let _ = client.release(&item.id, &leased.lease_id, &reason).await;
                println!("FAILED {label}: {e:#}");
                summary.failed += 1;
            }
            Ok(Done::DryRun { diff, notes }) => {
                print!("{diff}");
                client
                    .release(&item.id, &leased.lease_id, "dry run")
                    .await?;
                println!("dry run {label}: nothing written or sent, nothing acknowledged");
                // What the operator would be told after the real import
                // belongs in the preview too: manual steps, warnings.
                for note in notes {
                    println!("  note: {note}");
                }
                summary.dry_run += 1;
            }
            Ok(Done::Written {
                changed,
                report,
                notes,
                facts,
            }) => {
                for note in notes {
                    println!("  note: {note}");
                }
                // Fair blame: a check that could not be made from this host
                // says nothing against the customer's credential. The copy
                // stays in the inbox (the write is idempotent) and nothing
                // is reported, so neither the PM nor the customer is told
                // it failed; a later pass verifies again.
                if let Some(f) = report
                    .as_ref()
                    .and_then(|r| r.failure.as_ref())
                    .filter(|f| f.transient)
                {
                    let reason = one_line(&format!("not verified: {}", failure_text(f)));
                    let _ = client.release(&item.id, &leased.lease_id, &reason).await;
                    println!(
                        "written {label} into {}, but NOT VERIFIED: {}; left in the inbox to verify on the next pass",
                        args.target.as_str(),
                        failure_text(f)
                    );
                    summary.unverified += 1;
                    continue;
                }
                // A failed check keeps the sealed copy on the server, so that
                // the PM can ask for a re-check once the customer fixed it.
                let keep_copy = report.as_ref().is_some_and(|r| r.failure.is_some());
                if let Err(e) = client
                    .ack(
                        &item.id,
                        &leased.lease_id,
                        args.target.as_str(),
                        facts.as_ref(),
                        keep_copy,
                    )
                    .await
                {
                    println!(
                        "FAILED {label}: written, but the acknowledgement failed ({e:#}); \
                         it will be leased and written again, to the same effect"
                    );
                    summary.failed += 1;
                    continue;
                }
                if changed {
                    summary.imported += 1;
                } else {
                    summary.unchanged += 1;
                }
                let how = if changed {
                    "imported"
                } else {
                    "already present"
                };
                match report {
                    None => println!("{how} {label} into {}", args.target.as_str()),
                    Some(r) => {
                        if let Err(e) = client.report(&item.id, &verify_outcome(&r)).await {
                            println!(
                                "  note: the verification result could not be reported: {e:#}"
                            );
                        }
                        for warning in &r.warnings {
                            println!("  warning: {warning}");
                        }
                        match &r.failure {
                            None => {
                                summary.verified += 1;
                                println!("{how} {label} into {}; verified", args.target.as_str());
                            }
                            Some(f) => {
                                summary.verify_failed += 1;
                                println!(
                                    "{how} {label} into {}; verification FAILED: {}",
                                    args.target.as_str(),
                                    failure_text(f)
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(summary)
}

/// Why `target` cannot import a request made from `template`, if it cannot:
/// the sentence names the targets that can.
fn not_for(target: Target, integrations: &Integrations, template: &str) -> Option<String> {
    let Some(integration) = integrations.get(template) else {
        return Some(format!(
            "its template {template:?} is not known to this collector; give it the SOC's templates with --templates-dir"
        ));
    };
    if integration.targets.contains(&target) {
        return None;
    }
    let suits: Vec<&str> = integration.targets.iter().map(|t| t.as_str()).collect();
    Some(format!(
        "the {} target cannot import it; run a collector with --target {}",
        target.as_str(),
        suits.join(" or --target ")
    ))
}

/// `text` as one line for the trail: line breaks become "; ", at most 500
/// characters.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
        .chars()
        .filter(|c| !c.is_control())
        .take(500)
        .collect()
}

fn api_status(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<ApiFailure>().map(|f| f.status)
}

enum Done {
    DryRun {
        diff: String,
        notes: Vec<String>,
    },
    Written {
        changed: bool,
        report: Option<Box<verify::Report>>,
        notes: Vec<String>,
        /// For the server's register, sent with the acknowledgement.
        facts: Option<CredentialFacts>,
    },
}

/// What the acknowledgement reports of `credential` for the register: its
/// client ID and expiry, and only in shapes the server takes (a client ID
/// that is not a GUID is left out rather than refused with the import,
/// an expiry that is not a date is left out alone).
fn register_facts(credential: &EntraCredential) -> Option<CredentialFacts> {
    let expires = credential.secret_expires_on.as_deref();
    let facts = crate::register::Facts::parse(&credential.client_id, expires)
        .or_else(|_| crate::register::Facts::parse(&credential.client_id, None))
        .ok()?;
    Some(CredentialFacts {
        client_id: facts.client_id.clone(),
        secret_expires_on: facts.expires_text(),
    })
}

async fn import_one(
    args: &CollectArgs,
    client: &Client,
    http: &reqwest::Client,
    api: Option<&collect::Api>,
    identity: &age::x25519::Identity,
    integrations: &Integrations,
    leased: &Leased,
) -> anyhow::Result<Done> {
    let sealed = STANDARD
        .decode(&leased.ciphertext)
        .context("the server sent damaged base64")?;
    let payload = decrypt(identity, &sealed)?;
    // The server's record of the request decides what it carries.
    if asks_for_files(integrations, &leased.template) {
        return import_files(args, client, leased, &payload).await;
    }
    let credential = EntraCredential::from_payload(&payload)
        .map_err(|e| anyhow!("the decrypted payload is not an Entra credential: {e}"))?;
    if let Some(why) = wrong_app(leased, &credential) {
        bail!(why);
    }
    // What fails from here is printed and sent as the release's reason:
    // never with the secret in it, whichever layer wrote the message.
    import_credential(args, http, api, integrations, leased, &credential)
        .await
        .map_err(|e| without_secret(&e, &credential.client_secret))
}

/// Whether requests made from `template` ask for files.
fn asks_for_files(integrations: &Integrations, template: &str) -> bool {
    integrations
        .get(template)
        .is_some_and(|i| i.kind == crate::template::Kind::Files)
}

/// A files request's answer: the payload names the transfer (`transfer`)
/// and holds its key (`key`); the lease brought the manifest and this
/// lease's download token. The `dir` target writes the files; nothing is
/// verified (age authenticates each piece, the manifest fixes each
/// length) and no facts go to the register.
async fn import_files(
    args: &CollectArgs,
    client: &Client,
    leased: &Leased,
    payload: &Payload,
) -> anyhow::Result<Done> {
    let field = |name: &str| {
        payload.fields.get(name).map(String::as_str).ok_or_else(|| {
            anyhow!("the decrypted payload names no {name}: it is not a files answer")
        })
    };
    let (named, key) = (field("transfer")?, field("key")?);
    let grant = leased
        .transfer
        .as_ref()
        .ok_or_else(|| anyhow!("the server sent no transfer with this files answer"))?;
    if grant.id != named {
        bail!(
            "the answer names transfer {named}, but the server holds {} for it; not imported",
            grant.id
        );
    }
    let key: age::x25519::Identity = key
        .parse()
        .map_err(|_| anyhow!("the answer's key is not an age identity"))?;
    let manifest = STANDARD
        .decode(&grant.manifest)
        .context("the server sent damaged base64")?;
    let manifest = age::decrypt(&key, &manifest).map_err(|e| {
        anyhow!("the list of files could not be decrypted with the answer's key: {e}")
    })?;
    let manifest = crate::transfer::Manifest::parse(&manifest, grant.files.len())
        .map_err(|e| anyhow!("refusing these files: {e}; nothing was written"))?;
    for (file, held) in manifest.files.iter().zip(&grant.files) {
        let held = u64::try_from(held.pieces).unwrap_or(0);
        if crate::transfer::pieces_for(file.size) != held {
            bail!(
                "the list of files says {:?} has {} bytes, which is not what its {held} pieces hold; nothing was written",
                file.name,
                file.size
            );
        }
    }
    if args.target != Target::Dir {
        bail!(
            "the {} target cannot write files; use --target dir",
            args.target.as_str()
        );
    }
    let import = collect::FilesImport {
        request_id: &leased.id,
        customer: &leased.customer,
        manifest: &manifest,
        source: crate::cli::files::PieceSource {
            client,
            id: &grant.id,
            token: &grant.download_token,
            identity: &key,
        },
    };
    let done = collect::import_files(&args.target_args, &import, args.dry_run).await?;
    if let Some(listing) = done.listing {
        return Ok(Done::DryRun {
            diff: listing,
            notes: vec![done.note],
        });
    }
    Ok(Done::Written {
        changed: done.changed,
        report: None,
        notes: vec![done.note],
        facts: None,
    })
}

/// Why a rotation's answer may not replace the credential it rotates: it
/// names another app registration (a rotation asks for a new secret only,
/// and targets change only the secret). `None` for a match or no rotation.
fn wrong_app(leased: &Leased, credential: &EntraCredential) -> Option<String> {
    let rotates = leased.rotates.as_ref()?;
    if credential
        .client_id
        .eq_ignore_ascii_case(&rotates.client_id)
    {
        return None;
    }
    Some(format!(
        "not imported: this rotation answer is for app {}, but the credential it replaces \
         (request {}) is app {}. A rotation needs a new secret for the same app: cancel this \
         request and re-issue it, or re-issue an ordinary request if the customer moved to \
         another app",
        credential.client_id, rotates.request_id, rotates.client_id
    ))
}

/// `e` as one message with every occurrence of `secret` masked.
fn without_secret(e: &anyhow::Error, secret: &str) -> anyhow::Error {
    let text = format!("{e:#}");
    if secret.is_empty() {
        return anyhow!(text);
    }
    anyhow!(text.replace(secret, &collect::masked_secret(secret)))
}

async fn import_credential(
    args: &CollectArgs,
    http: &reqwest::Client,
    api: Option<&collect::Api>,
    integrations: &Integrations,
    leased: &Leased,
    credential: &EntraCredential,
) -> anyhow::Result<Done> {
    // The server's record of the request decides the template, not the
    // payload (which the customer's browser wrote).
    let Some(integration) = integrations.get(&leased.template) else {
        bail!(
            "the template {:?} is not known here (add it with --templates-dir)",
            leased.template
        );
    };
    let import = Import {
        credential,
        integration,
        customer: &leased.customer,
        request_id: &leased.id,
    };
    let plan = collect::plan_with_api(args.target, &args.target_args, &import, api).await?;
    if args.dry_run {
        return Ok(Done::DryRun {
            diff: plan.diff(),
            notes: plan.notes.clone(),
        });
    }
    let changed = !plan.is_noop();
    plan.apply()?;
    plan.send(api).await?;
    let report = if args.verify {
        let endpoints = args.verify_args.endpoints();
        Some(Box::new(
            verify::verify(
                http,
                &endpoints,
                credential,
                integration,
                args.verify_args.start_subscriptions,
            )
            .await,
        ))
    } else {
        None
    };
    Ok(Done::Written {
        changed,
        report,
        notes: plan.notes.clone(),
        facts: register_facts(credential),
    })
}

fn decrypt(identity: &age::x25519::Identity, sealed: &[u8]) -> anyhow::Result<Payload> {
    let decryptor = age::Decryptor::new(sealed).context("the sealed copy is not an age file")?;
    let mut reader = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|_| {
            anyhow!("this identity cannot decrypt the sealed copy: is it the SOC identity whose recipient the server has?")
        })?;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .context("the sealed copy does not decrypt to text")?;
    serde_json::from_str(&text).context("the sealed copy does not hold a handoff payload")
}

/// The report as the inbox's result endpoint takes it: names and codes only.
fn verify_outcome(r: &verify::Report) -> VerifyOutcome {
    // Only the APIs that issued a token say anything about roles: without a
    // token (a wrong secret), no permission is known to be missing.
    let checked = || r.apis.iter().filter(|a| a.roles_found.is_some());
    let roles_found = checked()
        .flat_map(|a| a.roles_found.iter().flatten())
        .cloned()
        .collect();
    let roles_required = checked()
        .flat_map(|a| a.roles_required.iter())
        .cloned()
        .collect();
    let failure = r.failure.as_ref();
    VerifyOutcome {
        ok: r.ok,
        // The step's own wire name (`token`, `roles`, ...).
        step: failure
            .and_then(|f| serde_json::to_value(f.step).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        code: failure.and_then(|f| f.code.clone()),
        message: failure.map(failure_text),
        roles_found,
        roles_required,
    }
}

/// The plain sentence, and what the server said in its own words, on one line.
fn failure_text(f: &verify::Failure) -> String {
    let text = match &f.detail {
        Some(detail) => format!("{} (Microsoft said: {detail})", f.message),
        None => f.message.clone(),
    };
    let one_line: String = text.replace(['\n', '\r'], " ");
    one_line.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    #[test]
    fn an_import_error_never_carries_the_secret() {
        let secret = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_";
        let e = anyhow!("the platform said: bad value {secret}").context("cannot import");
        let shown = format!("{:#}", without_secret(&e, secret));
        assert!(!shown.contains(secret), "{shown}");
        assert!(
            shown.contains("cannot import: the platform said: bad value ********#"),
            "{shown}"
        );
    }

    #[test]
    fn flags_override_the_hosts() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            verify: VerifyArgs,
        }
        let cli = Cli::try_parse_from([
            "collect",
            "--login-host",
            "http://127.0.0.1:9000",
            "--manage-host",
            "http://127.0.0.1:9001/",
            "--start-subscriptions",
        ])
        .unwrap();
        let e = cli.verify.endpoints();
        assert!(cli.verify.start_subscriptions);
        assert_eq!(
            e.for_cloud(Cloud::GccHigh).login.as_str(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            e.for_cloud(Cloud::Commercial)
                .manage
                .as_ref()
                .map(reqwest::Url::as_str),
            Some("http://127.0.0.1:9001/")
        );
        assert_eq!(
            e.for_cloud(Cloud::Commercial).graph.host_str(),
            Some("graph.microsoft.com")
        );
        let err = Cli::try_parse_from(["collect", "--login-host", "login.microsoftonline.com"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is not a URL"), "{err}");
    }
}
