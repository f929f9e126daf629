//! The background task that deletes expired secrets, file transfers,
//! request copies and staff sessions, and makes the rotation requests of credentials whose
//! secret expires soon ([`crate::rotation`]).

use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::rotation::{self, Policy};
use crate::store::Store;

/// Purges every `interval` until `stop` changes: expired ciphertext at once,
/// expired receipts after their retention, then the SQLite file's free
/// pages given back and a checkpoint so that deleted ciphertext does not
/// linger in the write-ahead log; then
/// the rotations that are due.
pub(crate) async fn run(
    store: Store,
    clock: Clock,
    interval: Duration,
    rotations: Policy,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                purge_once(&store, &clock).await;
                rotate_once(&store, &clock, rotations).await;
            }
            _ = stop.changed() => break,
        }
    }
}

/// One pass; failures are logged and retried at the next tick.
pub async fn purge_once(store: &Store, clock: &Clock) {
    match store.purge_secrets(clock.now()).await {
        Ok(p) if p.ciphertexts + p.receipts > 0 => {
            tracing::info!(
                ciphertexts = p.ciphertexts,
                receipts = p.receipts,
                "purged expired secrets"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purge failed"),
    }
    match store.purge_transfers(clock.now()).await {
        Ok(p) if p.transfers > 0 => {
            tracing::info!(
                transfers = p.transfers,
                pieces = p.pieces,
                "purged expired, unfinished and downloaded file transfers"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "file transfer purge failed"),
    }
    match store.purge_requests(clock.now()).await {
        Ok(p) if p.expired + p.copies > 0 => {
            tracing::info!(
                expired = p.expired,
                copies = p.copies,
                "marked expired requests and purged their copies"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "request purge failed"),
    }
    match store.purge_sessions(clock.now()).await {
        Ok(n) if n > 0 => tracing::info!(sessions = n, "purged ended staff sessions"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "session purge failed"),
    }
    if let Err(e) = store.purge_oidc_logins(clock.now()).await {
        tracing::warn!(error = %e, "purging unfinished identity-provider sign-ins failed");
    }
    // Finished webhook deliveries name customers: they go after their
    // retention whether or not webhooks are still configured.
    let before = clock.now() - crate::webhook::DELIVERY_RETENTION_SECONDS;
    if let Err(e) = store.purge_webhook_deliveries(before).await {
        tracing::warn!(error = %e, "deleting old webhook deliveries failed");
    }
    // So do sent e-mails, which also hold addresses and request links.
    if let Err(e) = store.purge_email_deliveries(before).await {
        tracing::warn!(error = %e, "deleting old e-mail deliveries failed");
    }
    match store.release_free_pages().await {
        Ok(n) if n > 0 => tracing::info!(pages = n, "gave free pages back to the file system"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "releasing free pages failed"),
    }
    match store.checkpoint().await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("a reader kept the write-ahead log from being emptied; next pass");
        }
        Err(e) => tracing::warn!(error = %e, "checkpoint failed"),
    }
}

/// One rotation pass; failures are logged and retried at the next tick.
pub async fn rotate_once(store: &Store, clock: &Clock, policy: Policy) {
    match rotation::rotate_due(store, clock.now(), policy).await {
        Ok(made) if !made.is_empty() => {
            tracing::info!(rotations = made.len(), "made rotation requests");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "making rotation requests failed"),
    }
}
