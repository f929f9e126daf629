//! `handoff token`: API tokens for machines (the collector), made, listed
//! and revoked on the database directly.

use anyhow::bail;
use clap::Subcommand;

use crate::config::DbArgs;

#[derive(Subcommand)]
pub(super) enum TokenCommand {
    /// Make a token and print it once; the server keeps only its hash.
    Create {
        /// 1 to 64 characters of A-Z a-z 0-9 . _ @ -
        #[arg(long)]
        name: String,
        /// What it may do; repeatable. `collect`: the collector's inbox;
        /// `metrics`: `GET /metrics`.
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

/// Runs one `handoff token` command.
pub(super) async fn run(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, scopes, db } => create(&name, &scopes, &db).await,
        TokenCommand::List(db) => list(&db).await,
        TokenCommand::Revoke { name, db } => revoke(&name, &db).await,
    }
}

async fn create(name: &str, scopes: &[String], db: &DbArgs) -> anyhow::Result<()> {
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

async fn list(db: &DbArgs) -> anyhow::Result<()> {
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

async fn revoke(name: &str, db: &DbArgs) -> anyhow::Result<()> {
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
