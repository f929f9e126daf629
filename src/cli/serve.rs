//! `handoff serve`: logging, the checked settings, the database, the
//! listener, and the server until Ctrl-C or SIGTERM.

use anyhow::{Context, anyhow};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{LogFormat, ServeArgs};
use crate::server::Server;

/// Runs the server until Ctrl-C or SIGTERM.
pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        // One JSON object per line, the event's fields at the top level and
        // the request's span (request_id, method, route) beside them.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => logs.init(),
    }
    let mut settings = args.settings().map_err(|e| anyhow!(e))?;
    if let Some(config) = args.oidc.config().map_err(|e| anyhow!(e))? {
        let provider = crate::oidc::Provider::discover(config)
            .await
            .map_err(|e| anyhow!(e))?;
        tracing::info!(
            issuer = provider.issuer(),
            "staff may sign in through the identity provider"
        );
        settings.oidc = Some(std::sync::Arc::new(provider));
    }
    let server = Server::open(&args.database_url, settings, Clock::system()).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    server.serve(listener, shutdown_signal()).await
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
