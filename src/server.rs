//! The server from start to stop, the one way the app is started, by
//! `handoff serve` and by every test's app alike: open (and migrate) the
//! database, start the background tasks (the purge, the webhook and e-mail workers),
//! serve on a listener the caller bound until its shutdown signal, then stop
//! the tasks and close the database.
//!
//! Opening and serving are two steps so that a caller can hold the store
//! before serving (tests act on it directly) and can bind its listener
//! after the database is known to open (`handoff serve` does).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::{purge, webhook};

/// A server whose database is open and migrated, ready to serve.
pub struct Server {
    store: Store,
    /// Where "now" comes from: the system's, or a test's manual clock.
    clock: Clock,
    settings: Settings,
}

impl Server {
    /// Opens the database at `database_url`, creating and migrating it as
    /// needed, for a server with `settings` that reads the time from `clock`.
    pub async fn open(
        database_url: &str,
        settings: Settings,
        clock: Clock,
    ) -> anyhow::Result<Server> {
        for notice in settings.integrations.notices() {
            tracing::info!("{notice}");
        }
        let store = Store::connect(database_url)
            .await
            .with_context(|| format!("cannot open the database ({})", redact_url(database_url)))?;
        Ok(Server {
            store,
            clock,
            settings,
        })
    }

    /// The server's database, for callers that also act on it directly.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs the background tasks and serves on `listener` until `shutdown`
    /// completes; then finishes the requests under way, stops the tasks and
    /// closes the database.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Server {
            store,
            clock,
            settings,
        } = self;
        let listen = listener.local_addr()?;
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
        let (stop_tx, stop_rx) = watch::channel(false);
        let purger = settings.purge_interval.map(|every| {
            tokio::spawn(purge::run(
                store.clone(),
                clock.clone(),
                every,
                crate::rotation::Policy::from_settings(&settings),
                stop_rx.clone(),
            ))
        });
        let notifier = settings.webhooks.clone().map(|hooks| {
            tokio::spawn(webhook::run(
                store.clone(),
                clock.clone(),
                hooks,
                settings.webhook_interval,
                stop_rx.clone(),
            ))
        });
        let mailer = settings.email.clone().map(|mail| {
            tokio::spawn(crate::email::run(
                store.clone(),
                clock.clone(),
                mail,
                settings.email_interval,
                stop_rx,
            ))
        });
        tracing::info!(
            listen = %listen,
            public_url = %settings.public_url,
            database = store.backend(),
            max_connections = settings.connections.max_connections,
            "handoff is serving"
        );
        let state = AppState {
            store: store.clone(),
            clock,
            settings: Arc::new(settings),
            metrics: Arc::default(),
        };
        let served = http::serve(listener, state, shutdown).await;
        let _ = stop_tx.send(true);
        for task in purger.into_iter().chain(notifier).chain(mailer) {
            let _ = task.await;
        }
        store.close().await;
        served?;
        tracing::info!("stopped");
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_reach_error_messages() {
        assert_eq!(
            redact_url("postgres://handoff:hunter2@db.example/handoff"),
            "postgres://handoff:***@db.example/handoff"
        );
        assert_eq!(
            redact_url("postgres://handoff@db.example/handoff"),
            "postgres://handoff@db.example/handoff"
        );
        assert_eq!(redact_url("sqlite://handoff.db"), "sqlite://handoff.db");
    }
}
