//! `handoff send` and `handoff get`: a secret sealed here and uploaded, or
//! revealed once and opened here, the key never leaving this machine.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::time::Duration;

use age::secrecy::SecretString;
use anyhow::{Context, anyhow, bail};

use crate::client::{ApiFailure, Client};
use crate::credential::{self, Level};
use crate::link::{self, Link};
use crate::payload::{self, Payload};
use crate::template;

#[derive(clap::Args)]
pub(super) struct SendArgs {
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
    /// Files or folders to send instead of a secret from stdin: they are
    /// encrypted here, piece by piece, and the link opens them once.
    #[arg(value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// With files: a message for the recipient, encrypted with their names.
    #[arg(long, requires = "files")]
    message: Option<String>,
    /// With files: continue the interrupted send of the same files (none
    /// may have changed), sending only what the server lacks.
    #[arg(long, requires = "files")]
    resume: bool,
}

#[derive(clap::Args)]
pub(super) struct GetArgs {
    /// The whole link, including the part after '#'.
    link: String,
    /// Print the decrypted payload as JSON instead of its fields.
    #[arg(long)]
    json: bool,
    /// For a file link (`/f/`): the folder to write the files in (made if
    /// missing); files are written with mode 0600.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<std::path::PathBuf>,
    /// For a file link: replace files that exist in the folder.
    #[arg(long)]
    force: bool,
}

fn passphrase_from_env_or_prompt(prompt: &str) -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("HANDOFF_PASSPHRASE") {
        return Ok(SecretString::from(p));
    }
    let p = rpassword::prompt_password(prompt)
        .context("cannot read the passphrase (set HANDOFF_PASSPHRASE when there is no terminal)")?;
    Ok(SecretString::from(p))
}

/// Seals the secret here, uploads it and prints its link.
pub(super) async fn send(args: SendArgs) -> anyhow::Result<()> {
    if !args.files.is_empty() {
        if args.template.is_some()
            || !args.fields.is_empty()
            || args.note.is_some()
            || args.passphrase
            || args.raw
        {
            bail!(
                "files are sent with --message (and --expires, --resume); --template, --field, \
                 --note, --passphrase and --raw are for secrets"
            );
        }
        return super::files::send(
            &args.server,
            &args.files,
            args.message,
            args.expires,
            args.resume,
        )
        .await;
    }
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

/// Reveals the link's secret once, opens it here and prints it.
pub(super) async fn get(args: GetArgs) -> anyhow::Result<()> {
    if super::files::is_file_link(&args.link) {
        if args.json {
            bail!("--json is for secrets; a file link's files are written to -o DIR");
        }
        let dir = args
            .output
            .as_deref()
            .ok_or_else(|| anyhow!("a file link needs -o DIR: the folder to write the files in"))?;
        return super::files::get(&args.link, dir, args.force).await;
    }
    if args.output.is_some() || args.force {
        bail!("-o and --force are for file links (/f/); a secret is printed");
    }
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
        print!("{}", payload.fields.get("text").map_or("", String::as_str));
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
