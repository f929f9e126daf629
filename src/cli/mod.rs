//! The `handoff` command line: `serve`, `send`, `get`, `keygen`, `audit`, ...
//!
//! This file is the command tree and its dispatch. Each command family is a
//! file of its own, with its arguments: `serve`, `transfer` (`send` and
//! `get`, which hand files to `files`), `keygen`, `audit`, `tokens`, `users` and `templates`; `collect`
//! is [`crate::collector`].

mod audit;
pub(crate) mod files;
mod keygen;
mod serve;
mod templates;
mod tokens;
mod transfer;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;
use audit::AuditCommand;
use keygen::KeygenArgs;
use templates::TemplatesCmd;
use tokens::TokenCommand;
use transfer::{GetArgs, SendArgs};
use users::UserCommand;

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
    /// Encrypt a secret here and print its link (text from stdin, or --field
    /// k=v), or files and folders (`send FILE...`).
    Send(SendArgs),
    /// Reveal a link's secret once, decrypt it here and print it; for a file
    /// link, write its files under `-o DIR`.
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

/// Parses the command line, runs its command, and reports a failure on
/// stderr as one `error: ...` line.
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
            Command::Serve(args) => serve::run(*args).await,
            Command::Send(args) => transfer::send(args).await,
            Command::Get(args) => transfer::get(args).await,
            Command::Keygen(args) => keygen::run(&args),
            Command::Audit(command) => audit::run(command).await,
            Command::Templates(args) => templates::run(&args),
            Command::User(command) => users::run(command).await,
            Command::Token(command) => tokens::run(command).await,
            Command::Collect(args) => crate::collector::run(*args).await,
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
