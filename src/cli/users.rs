//! `handoff user`: staff accounts, added, listed and removed on the
//! database directly.

use std::io::IsTerminal;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;

use crate::config::DbArgs;
use crate::staff;

#[derive(Subcommand)]
pub(super) enum UserCommand {
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

/// Runs one `handoff user` command.
pub(super) async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, generate, db } => add(&name, generate, &db).await,
        UserCommand::List(db) => list(&db).await,
        UserCommand::Remove { name, db } => remove(&name, &db).await,
    }
}

async fn add(name: &str, generate: bool, db: &DbArgs) -> anyhow::Result<()> {
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

async fn list(db: &DbArgs) -> anyhow::Result<()> {
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

async fn remove(name: &str, db: &DbArgs) -> anyhow::Result<()> {
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
