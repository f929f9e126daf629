//! `handoff serve`: logging, the checked settings, the database, the
//! listener, and the server until Ctrl-C or SIGTERM.

use anyhow::{Context, anyhow};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::ServeArgs;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::{purge, webhook};

/// Runs the server until Ctrl-C or SIGTERM.
pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
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
