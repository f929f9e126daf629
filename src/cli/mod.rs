//! The `handoff` command line: `serve`, `send`, `get`, `keygen`, `audit`, ...

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::time::Duration;

use age::secrecy::SecretString;
use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::client::{ApiFailure, Client};
use crate::clock::Clock;
use crate::config::{DbArgs, ServeArgs};
use crate::credential::{self, Level};
use crate::http::{self, AppState};
use crate::link::{self, Link};
use crate::payload::{self, Payload};
use crate::store::Store;
use crate::{purge, staff, template, webhook};

#[derive(Parser)]
#[command(
    name = "handoff",
    version,
    about = "Hand credentials to a SOC: encrypted in the browser or here, read once."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Encrypt a secret here and print its link (text from stdin, or --field k=v).
    Send(SendArgs),
    /// Reveal a link's secret once, decrypt it here and print it.
    Get(GetArgs),
    /// Make an age identity for the SOC's collector: writes it to a file
    /// (mode 0600) and prints its recipient for HANDOFF_SOC_RECIPIENTS.
    Keygen(KeygenArgs),
    /// The audit trail: verify its hash chain, or export it as NDJSON.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// API tokens for machines (the collector): create, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// On the collector host: import sealed credentials into the collector's
    /// configuration, check them against Entra ID, and report back.
    Collect(Box<crate::collector::CollectArgs>),
    /// Staff accounts: add, list, remove.
    #[command(subcommand)]
    User(UserCommand),
    /// List the integration templates, or show one's full guide (`show ID`).
    Templates(TemplatesCmd),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token and print it once; the server keeps only its hash.
    Create {
        /// 1 to 64 characters of A-Z a-z 0-9 . _ @ -
        #[arg(long)]
        name: String,
        /// What it may do; repeatable. `collect`: the collector's inbox.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens: name, visible prefix, scopes, created, last used, revoked.
    List(DbArgs),
    /// Revoke a token; it stops working at once.
    Revoke {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a staff account. The password comes from HANDOFF_PASSWORD, or is
    /// asked for twice on a terminal; with --generate (or with neither a
    /// terminal nor HANDOFF_PASSWORD) a strong one is made and printed once.
    Add {
        /// 1 to 64 characters of A-Z a-z 0-9 . _ @ -
        name: String,
        /// Make a strong password and print it once.
        #[arg(long)]
        generate: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List staff accounts and when they were added.
    List(DbArgs),
    /// Remove a staff account and end its sessions.
    Remove {
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(clap::Args)]
struct TemplatesCmd {
    #[command(flatten)]
    dir: crate::config::TemplatesArgs,
    /// Print the registry (or the one template) as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    show: Option<TemplatesShow>,
}

#[derive(Subcommand)]
enum TemplatesShow {
    /// The full guide: permissions, portal steps, checklist, notes, az commands.
    Show {
        /// The template's id, as `handoff templates` lists it.
        id: String,
    },
}

#[derive(clap::Args)]
struct KeygenArgs {
    /// Where to write the identity; must not exist yet.
    #[arg(long, short)]
    output: std::path::PathBuf,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every event's hash and link; report the first break.
    Verify(DbArgs),
    /// Write every event as one JSON object per line to stdout.
    Export(DbArgs),
}

#[derive(clap::Args)]
struct SendArgs {
    /// The handoff server.
    #[arg(long, env = "HANDOFF_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// `text`, or `entra-app` (fields from --field, or the JSON of `az ad app credential reset` on stdin).
    #[arg(long)]
    template: Option<String>,
    /// A field of the template, `name=value`; repeatable.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    fields: Vec<String>,
    /// A note for the recipient, encrypted with the rest.
    #[arg(long)]
    note: Option<String>,
    /// How long the link lives (e.g. 1h, 3d).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    expires: Duration,
    /// Lock the link's key with a passphrase (from HANDOFF_PASSPHRASE, or asked for).
    #[arg(long)]
    passphrase: bool,
    /// Send the text from stdin byte for byte. Without it, the line break that
    /// `echo` adds to one line of text is dropped (text of several lines is
    /// always sent as it is).
    #[arg(long)]
    raw: bool,
}

#[derive(clap::Args)]
struct GetArgs {
    /// The whole link, including the part after '#'.
    link: String,
    /// Print the decrypted payload as JSON instead of its fields.
    #[arg(long)]
    json: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Send(args) => send(args).await,
            Command::Get(args) => get(args).await,
            Command::Keygen(args) => keygen(&args),
            Command::Audit(AuditCommand::Verify(db)) => audit_verify(&db).await,
            Command::Audit(AuditCommand::Export(db)) => audit_export(&db).await,
            Command::Templates(args) => templates(&args),
            Command::User(UserCommand::Add { name, generate, db }) => {
                user_add(&name, generate, &db).await
            }
            Command::User(UserCommand::List(db)) => user_list(&db).await,
            Command::Token(TokenCommand::Create { name, scopes, db }) => {
                token_create(&name, &scopes, &db).await
            }
            Command::Token(TokenCommand::List(db)) => token_list(&db).await,
            Command::Collect(args) => crate::collector::run(*args).await,
            Command::Token(TokenCommand::Revoke { name, db }) => token_revoke(&name, &db).await,
            Command::User(UserCommand::Remove { name, db }) => user_remove(&name, &db).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = args.settings().map_err(|e| anyhow!(e))?;
    for notice in settings.integrations.notices() {
        tracing::info!("{notice}");
    }
    let store = Store::connect(&args.database_url).await.with_context(|| {
        format!(
            "cannot open the database ({})",
            redact_url(&args.database_url)
        )
    })?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Connections beyond the descriptor limit fail to be accepted at all,
    // before any can be shed; the database and files need some too.
    let max = settings.connections.max_connections;
    if let Some(limit) = http::connections::descriptor_limit()
        && u64::try_from(max).unwrap_or(u64::MAX).saturating_add(64) > limit
    {
        tracing::warn!(
            max_connections = max,
            descriptor_limit = limit,
            "--max-connections is near the open-file limit: lower it, or raise the limit (ulimit -n)"
        );
    }
    let clock = Clock::system();
    let (stop_tx, stop_rx) = watch::channel(false);
    let purger = tokio::spawn(purge::run(
        store.clone(),
        clock.clone(),
        args.purge_interval,
        stop_rx.clone(),
    ));
    let notifier = settings.webhooks.clone().map(|hooks| {
        tokio::spawn(webhook::run(
            store.clone(),
            clock.clone(),
            hooks,
            args.webhook_interval,
            stop_rx,
        ))
    });
    tracing::info!(
        listen = %listener.local_addr()?,
        public_url = %settings.public_url,
        database = store.backend(),
        max_connections = settings.connections.max_connections,
        "handoff is serving"
    );
    let state = AppState {
        store: store.clone(),
        clock,
        settings: std::sync::Arc::new(settings),
    };
    http::serve(listener, state, shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    let _ = purger.await;
    if let Some(notifier) = notifier {
        let _ = notifier.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    use age::secrecy::ExposeSecret;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.output)
        .with_context(|| {
            format!(
                "cannot create {} (it must not exist yet)",
                args.output.display()
            )
        })?;
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote the identity to {} (mode 0600); keep it on the collector host only.",
        args.output.display()
    );
    eprintln!("give the server this recipient (HANDOFF_SOC_RECIPIENTS):");
    println!("{recipient}");
    Ok(())
}

async fn audit_verify(db: &DbArgs) -> anyhow::Result<()> {
    let store = db.connect().await?;
    let report = store.verify_chain().await?;
    let store_head = store.audit_head().await?;
    store.close().await;
    match report.result {
        Ok(()) => {
            let (seq, hash) = store_head;
            println!(
                "ok: {} events, the chain is intact; head {seq} {hash} (keep a copy elsewhere to detect a rewritten chain later)",
                report.checked
            );
            Ok(())
        }
        Err(b) => bail!(
            "the audit trail is broken: {b} ({} events before it verified)",
            report.checked
        ),
    }
}

async fn audit_export(db: &DbArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let store = db.connect().await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = 0;
    loop {
        let page = store.events_after(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for event in &page {
            serde_json::to_writer(&mut out, event)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    store.close().await;
    Ok(())
}

fn templates(args: &TemplatesCmd) -> anyhow::Result<()> {
    use crate::integration::guide;
    let all = args.dir.load().map_err(|e| anyhow!(e))?;
    for notice in all.notices() {
        eprintln!("note: {notice}");
    }
    match &args.show {
        Some(TemplatesShow::Show { id }) => {
            let Some(i) = all.get(id) else {
                let known: Vec<&str> = all.all().iter().map(|i| i.id.as_str()).collect();
                bail!("no template {id:?} (known: {})", known.join(", "));
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(i)?);
            } else {
                print!("{}", guide(i));
            }
        }
        None if args.json => println!("{}", serde_json::to_string_pretty(&all)?),
        None => {
            for i in all.all() {
                let custom = match &i.origin {
                    crate::integration::Origin::Builtin => "",
                    crate::integration::Origin::Custom {
                        replaces_builtin: true,
                        ..
                    } => " [custom, replaces built-in]",
                    crate::integration::Origin::Custom { .. } => " [custom]",
                };
                let perms: Vec<&str> = i.permissions.iter().map(|p| p.name.as_str()).collect();
                let targets: Vec<&str> = i.targets.iter().map(|t| t.as_str()).collect();
                println!("{}{custom}\n  {}", i.id, i.title);
                println!("  permissions: {}", perms.join(", "));
                println!("  targets: {}", targets.join(", "));
            }
            println!("\n`handoff templates show ID` prints a template's full guide.");
        }
    }
    Ok(())
}

async fn user_add(name: &str, generate: bool, db: &DbArgs) -> anyhow::Result<()> {
    let name = staff::UserName::parse(name).map_err(|e| anyhow!(e))?;
    let env = std::env::var("HANDOFF_PASSWORD").ok();
    let generated = generate || (env.is_none() && !std::io::stdin().is_terminal());
    let password = if generated {
        staff::generate_password()
    } else if let Some(p) = env {
        p
    } else {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .context("cannot read the password")?;
        staff::check_new_password(&first)?;
        let again = rpassword::prompt_password("Same password again: ")
            .context("cannot read the password")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    let hash = staff::hash_password(&password)?;
    let store = db.connect().await?;
    let added = store
        .add_user(
            &name,
            &hash,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .await;
    store.close().await;
    added??;
    eprintln!("added staff user {name}; they sign in at /login");
    if generated {
        eprintln!("their password (shown only now; hand it over safely):");
        println!("{password}");
    }
    Ok(())
}

async fn user_list(db: &DbArgs) -> anyhow::Result<()> {
    let store = db.connect().await?;
    let users = store.list_users().await;
    store.close().await;
    let users = users?;
    if users.is_empty() {
        eprintln!("no staff users yet; add one with `handoff user add NAME`");
    }
    for u in users {
        println!("{}\t{}", u.name, crate::clock::rfc3339(u.created_at));
    }
    Ok(())
}

async fn user_remove(name: &str, db: &DbArgs) -> anyhow::Result<()> {
    let store = db.connect().await?;
    let removed = store
        .remove_user(name, time::OffsetDateTime::now_utc().unix_timestamp())
        .await;
    store.close().await;
    if !removed? {
        bail!("there is no staff user named {name:?}");
    }
    eprintln!("removed staff user {name} and ended their sessions");
    Ok(())
}

async fn token_create(name: &str, scopes: &[String], db: &DbArgs) -> anyhow::Result<()> {
    let store = db.connect().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let issued = store
        .issue_token(name, scopes, crate::audit::Actor::System, None, now)
        .await;
    store.close().await;
    let minted = issued??;
    eprintln!("created token {name}; it is shown only now, keep it in a file of mode 0600:");
    println!("{}", minted.token);
    Ok(())
}

async fn token_list(db: &DbArgs) -> anyhow::Result<()> {
    use crate::clock::rfc3339;
    let store = db.connect().await?;
    let tokens = store.list_tokens().await;
    store.close().await;
    let tokens = tokens?;
    if tokens.is_empty() {
        eprintln!(
            "no tokens yet; make one with `handoff token create --name NAME --scope collect`"
        );
    }
    println!("name\tprefix\tscopes\tcreated\tlast used\trevoked");
    for t in tokens {
        let when = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), rfc3339);
        println!(
            "{}\t{}…\t{}\t{}\t{}\t{}",
            t.name,
            t.prefix,
            t.scopes,
            rfc3339(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at)
        );
    }
    Ok(())
}

async fn token_revoke(name: &str, db: &DbArgs) -> anyhow::Result<()> {
    use crate::audit::{Actor, Kind, NewEvent};
    let store = db.connect().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let event = NewEvent::new(Kind::TokenRevoked, Actor::System)
        .detail(serde_json::json!({ "name": name }));
    let done = store.revoke_token(name, now, &event).await;
    store.close().await;
    if !done? {
        bail!("there is no active token named {name:?}");
    }
    eprintln!("revoked token {name}; it no longer works");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The database URL without its password, for error messages.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn passphrase_from_env_or_prompt(prompt: &str) -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("HANDOFF_PASSPHRASE") {
        return Ok(SecretString::from(p));
    }
    let p = rpassword::prompt_password(prompt)
        .context("cannot read the passphrase (set HANDOFF_PASSPHRASE when there is no terminal)")?;
    Ok(SecretString::from(p))
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let template_id = args.template.clone().unwrap_or_else(|| {
        if args.fields.is_empty() {
            "text"
        } else {
            "entra-app"
        }
        .to_owned()
    });
    let tpl = template::find(&template_id)
        .ok_or_else(|| anyhow!("unknown template {template_id:?} (known: entra-app, text)"))?;
    let mut fields = BTreeMap::new();
    if tpl.kind == template::Kind::Text {
        if !args.fields.is_empty() {
            bail!("the text template reads its text from stdin; --field is for entra-app");
        }
        let text = read_stdin("the secret text")?;
        let text = if args.raw {
            text
        } else {
            without_echo_newline(text)
        };
        if text.is_empty() {
            bail!("nothing to send: the text from stdin is empty");
        }
        fields.insert("text".to_owned(), text);
    } else {
        if args.raw {
            bail!("--raw is for text from stdin; {template_id} takes its values as they are");
        }
        if !std::io::stdin().is_terminal() {
            let input = read_stdin("")?;
            if !input.trim().is_empty() {
                let az = payload::fields_from_az_output(&input).ok_or_else(|| {
                    anyhow!("stdin is not the JSON that `az ad app credential reset` prints")
                })?;
                fields.extend(az);
            }
        }
        for kv in &args.fields {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--field takes NAME=VALUE, not {kv:?}"))?;
            if !tpl.fields.iter().any(|f| f.name == k) {
                bail!("{template_id} has no field {k:?}");
            }
            fields.insert(k.to_owned(), v.to_owned());
        }
        fields
            .entry("cloud".to_owned())
            .or_insert_with(|| "commercial".to_owned());
        let today = time::OffsetDateTime::now_utc().date();
        let findings = credential::check(&fields, today);
        for f in &findings {
            let level = if f.level == Level::Error {
                "error"
            } else {
                "warning"
            };
            eprintln!("{level}: {}: {}", f.field, f.message);
        }
        if findings.iter().any(|f| f.level == Level::Error) {
            bail!("nothing was sent; fix the fields above");
        }
    }
    let payload = Payload {
        v: 1,
        template: template_id.clone(),
        fields,
        note: args.note.clone(),
    };
    let passphrase = if args.passphrase {
        Some(passphrase_from_env_or_prompt("Passphrase for the link: ")?)
    } else {
        None
    };
    let (ciphertext, key) = link::seal(&serde_json::to_vec(&payload)?, passphrase.as_ref())?;
    let client = Client::new(&args.server)?;
    let expires_in = i64::try_from(args.expires.as_secs()).unwrap_or(i64::MAX);
    let created = client
        .create(&ciphertext, expires_in, passphrase.is_some(), &template_id)
        .await?;
    println!("{}#{}", created.url, key.to_fragment());
    eprintln!("Expires: {}", created.expires_at);
    eprintln!("Status page (keep it private): {}", created.status_url);
    Ok(())
}

/// `echo secret | handoff send` sends `secret`, not `secret\n`: the line break
/// that ends one line of text is no part of a secret, and a Copy button would
/// copy it along. One trailing `\n` or `\r\n` goes; text of several lines is
/// kept as it is, since its last line break may well be meant.
fn without_echo_newline(mut text: String) -> String {
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .map(str::len);
    if let Some(len) = body
        && !text[..len].contains('\n')
    {
        text.truncate(len);
    }
    text
}

fn read_stdin(what: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() && !what.is_empty() {
        eprintln!("Type or paste {what}, then press Ctrl-D:");
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read stdin")?;
    Ok(s)
}

async fn get(args: GetArgs) -> anyhow::Result<()> {
    let link = Link::parse(&args.link)?;
    let client = Client::new(&link.base)?;
    // Check the link is still there, then unlock before revealing: a wrong
    // passphrase must not use up the link.
    client.meta(link.id.as_str()).await.map_err(explain_gone)?;
    let identity = if link.key.is_locked() {
        let pass = passphrase_from_env_or_prompt("Passphrase: ")?;
        link.key
            .unlock(Some(&pass))
            .context("nothing was revealed")?
    } else {
        link.key.unlock(None)?
    };
    let ciphertext = client
        .reveal(link.id.as_str())
        .await
        .map_err(explain_gone)?;
    let plain = link::open(&ciphertext, &identity)?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&plain));
        return Ok(());
    }
    let payload: Payload = serde_json::from_slice(&plain)
        .context("the secret is not a handoff payload; try --json")?;
    if payload.template == "text" {
        print!(
            "{}",
            payload.fields.get("text").map(String::as_str).unwrap_or("")
        );
    } else {
        for (k, v) in &payload.fields {
            println!("{k}: {v}");
        }
        let today = time::OffsetDateTime::now_utc().date();
        if let Some(note) = payload
            .fields
            .get("secret_expires_on")
            .and_then(|d| credential::parse_date(d))
            .and_then(|d| credential::long_expiry(d, today))
        {
            eprintln!("note: {}: {}", note.field, note.message);
        }
    }
    if let Some(note) = payload.note {
        eprintln!("Note: {note}");
    }
    Ok(())
}

fn explain_gone(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<ApiFailure>() {
        Some(f) if f.status == 404 => anyhow!(
            "this link is gone: it was already read, destroyed, has expired, or is mistyped"
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_loses_the_line_break_echo_added_and_nothing_else() {
        let strip = |s: &str| without_echo_newline(s.to_owned());
        assert_eq!(strip("secret\n"), "secret");
        assert_eq!(strip("secret\r\n"), "secret");
        assert_eq!(strip("secret"), "secret");
        assert_eq!(strip("secret\n\n"), "secret\n\n");
        assert_eq!(strip("secret \n"), "secret ");
        assert_eq!(strip("a\nb\n"), "a\nb\n");
        assert_eq!(strip("a\r\nb"), "a\r\nb");
        assert_eq!(strip("\n"), "");
    }
}
