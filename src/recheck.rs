//! `handoff collect --recheck INTERVAL`: the collector notices the day a
//! credential it imported stops working.
//!
//! After each pass over the inbox, the collector asks the server which
//! imported credentials nobody checked for INTERVAL (the server's clock and
//! register decide, so a restart or a second collector does not check
//! twice), keeps those its own target holds, reads each back from where the
//! target wrote it ([`crate::collect::stored`]: no copy is kept anywhere
//! else) and asks Entra ID for one token ([`crate::verify::recheck`]: no
//! log data is read). What it finds goes to the server
//! (`POST /api/v1/inbox/{id}/recheck`), which records it in the register
//! and, when the credential's standing changes, appends
//! `request.credential_failing` (with the cause in plain words) or
//! `request.credential_recovered`, which webhooks are told.
//!
//! Fair blame, as on import: a check that could not be made from here (the
//! collector host's network, Microsoft unavailable) is not reported, and
//! is tried again at the next pass. Token requests for one tenant are at
//! least [`TENANT_SPACING`] apart, whatever the number of its credentials.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;

use crate::client::Client;
use crate::collect::{self, Unreadable};
use crate::collector::CollectArgs;
use crate::integration::Integrations;
use crate::payload::EntraCredential;
use crate::verify;
use crate::wire::{ImportedCredential, RecheckOutcome};

/// The least time between two token requests for one tenant.
pub(crate) const TENANT_SPACING: Duration = Duration::from_secs(2);

/// When each tenant (lower case) last got a token request from this
/// process: kept across passes.
#[derive(Default)]
pub(crate) struct TenantPacer {
    last: HashMap<String, Instant>,
}

impl TenantPacer {
    /// Waits until `tenant` may be asked again, and notes that it is.
    async fn turn(&mut self, tenant: &str) {
        let key = tenant.to_ascii_lowercase();
        if let Some(last) = self.last.get(&key) {
            tokio::time::sleep_until(*last + TENANT_SPACING).await;
        }
        self.last.insert(key, Instant::now());
    }
}

/// What one re-check pass needs from the collector.
pub(crate) struct Rechecker<'a> {
    pub(crate) args: &'a CollectArgs,
    pub(crate) client: &'a Client,
    pub(crate) http: &'a reqwest::Client,
    pub(crate) api: Option<&'a collect::Api>,
    pub(crate) integrations: &'a Integrations,
    pub(crate) endpoints: &'a verify::Endpoints,
}

/// What one re-check pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RecheckSummary {
    pub(crate) working: u32,
    pub(crate) failing: u32,
    /// Of `failing`: newly so in this pass (notified).
    pub(crate) newly_failing: u32,
    pub(crate) recovered: u32,
    /// Not checked: the target does not give it back, it is gone from the
    /// target, or the check could not be made from here.
    pub(crate) not_checked: u32,
}

/// How one credential's check ended.
enum Found {
    Works,
    Fails {
        code: Option<String>,
        cause: String,
    },
    /// Said nothing about the credential (network, Microsoft unavailable).
    NotNow(String),
}

impl Rechecker<'_> {
    /// Re-checks every credential of this collector's target that is due
    /// (unchecked for `every`), and prints a line per credential and a
    /// summary. `told` holds what was already said once (a target that
    /// cannot be re-checked), `pacer` the tenants' last token requests.
    ///
    /// # Errors
    /// The server cannot be reached or refuses the list.
    pub(crate) async fn pass(
        &self,
        every: Duration,
        told: &mut HashSet<String>,
        pacer: &mut TenantPacer,
    ) -> anyhow::Result<RecheckSummary> {
        let target = self.args.target;
        let due = self
            .client
            .imported_credentials(every)
            .await
            .context("cannot list the imported credentials to re-check")?;
        let mut summary = RecheckSummary::default();
        for item in due
            .items
            .iter()
            .filter(|i| i.imported_to == target.as_str())
        {
            let label = format!(
                "{} ({}, request {})",
                item.customer, item.template, item.request_id
            );
            let found = match self.check(item, pacer).await {
                Ok(found) => found,
                Err(Unreadable::NotSupported(why)) => {
                    if told.insert(format!("recheck:{}", target.as_str())) {
                        println!("not re-checking {} credentials: {why}", target.as_str());
                    }
                    summary.not_checked += 1;
                    continue;
                }
                Err(Unreadable::Target(e)) => {
                    println!("NOT RE-CHECKED {label}: {e}");
                    summary.not_checked += 1;
                    continue;
                }
            };
            let outcome = match found {
                Found::NotNow(why) => {
                    println!("not re-checked {label} now: {why}; tried again at the next pass");
                    summary.not_checked += 1;
                    continue;
                }
                Found::Works => RecheckOutcome {
                    ok: true,
                    code: None,
                    cause: None,
                },
                Found::Fails { code, cause } => RecheckOutcome {
                    ok: false,
                    code,
                    cause: Some(cause),
                },
            };
            let recorded = match self.client.recheck(&item.request_id, &outcome).await {
                Ok(r) => r,
                Err(e) => {
                    println!("re-checked {label}, but the server did not take the result: {e:#}");
                    summary.not_checked += 1;
                    continue;
                }
            };
            let change = recorded.change.as_str();
            match (&outcome.cause, change) {
                (None, "recovered") => {
                    summary.recovered += 1;
                    summary.working += 1;
                    println!("re-checked {label}: works again (reported)");
                }
                (None, _) => {
                    summary.working += 1;
                    println!("re-checked {label}: works");
                }
                (Some(cause), "failing") => {
                    summary.failing += 1;
                    summary.newly_failing += 1;
                    println!("re-checked {label}: STOPPED WORKING (reported): {cause}");
                }
                (Some(cause), _) => {
                    summary.failing += 1;
                    println!("re-checked {label}: still failing: {cause}");
                }
            }
        }
        println!(
            "re-check: {} working ({} again), {} failing ({} newly), {} not checked",
            summary.working,
            summary.recovered,
            summary.failing,
            summary.newly_failing,
            summary.not_checked
        );
        Ok(summary)
    }

    /// Reads `item`'s credential back from the target and asks Entra ID
    /// for a token with each copy found (a multi-tenant app may sit in one
    /// Wazuh file for several tenants): the first failure decides.
    async fn check(
        &self,
        item: &ImportedCredential,
        pacer: &mut TenantPacer,
    ) -> Result<Found, Unreadable> {
        let Some(integration) = self.integrations.get(&item.template) else {
            return Err(Unreadable::Target(collect::TargetError::Refused(format!(
                "its template {:?} is not known to this collector; give it the SOC's templates with --templates-dir",
                item.template
            ))));
        };
        let stored = collect::stored(
            self.args.target,
            &self.args.target_args,
            self.api,
            &item.customer,
            &item.client_id,
        )
        .await?;
        for copy in stored {
            let credential = EntraCredential {
                template: item.template.clone(),
                tenant_id: copy.tenant_id,
                client_id: copy.client_id,
                client_secret: copy.client_secret,
                secret_expires_on: None,
                cloud: copy.cloud,
                extra: std::collections::BTreeMap::new(),
            };
            pacer.turn(&credential.tenant_id).await;
            let report = verify::recheck(self.http, self.endpoints, &credential, integration).await;
            if let Some(f) = report.failure {
                if f.transient {
                    return Ok(Found::NotNow(f.message));
                }
                return Ok(Found::Fails {
                    cause: verify::recheck_cause(&f),
                    code: f.code,
                });
            }
        }
        Ok(Found::Works)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_requests_for_one_tenant_are_kept_apart() {
        let mut pacer = TenantPacer::default();
        let start = Instant::now();
        pacer.turn("72F988BF-86F1-41AF-91AB-2D7CD011DB47").await;
        // Another tenant does not wait.
        pacer.turn("0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The same tenant, in another case, waits out the spacing.
        pacer.turn("72f988bf-86f1-41af-91ab-2d7cd011db47").await;
        assert_eq!(start.elapsed(), TENANT_SPACING);
        pacer.turn("72f988bf-86f1-41af-91ab-2d7cd011db47").await;
        assert_eq!(start.elapsed(), 2 * TENANT_SPACING);
    }
}
