//! Rotation before expiry: the server asks a customer for a new client
//! secret for the same app registration before the one the SOC holds stops
//! working.
//!
//! On each purge pass, every entry of the credential register
//! ([`crate::register::current`]) that stands `expiring` (within
//! `--expiry-warning-days`) or `expired` and has no rotation yet gets one
//! rotation request ([`crate::store::Store::create_rotation`]): same
//! customer, template, note and PM recipient, created by `system`, open for
//! [`crate::rotation::Policy::answer_seconds`]. One credential gets one
//! rotation, ever: the unique `requests.rotates` column decides, so several
//! server instances on one database make it once, and the webhook worker
//! tells receivers once (`request.rotation_created` is a notified kind).

use crate::clock::utc_date;
use crate::config::Settings;
use crate::register::{Standing, current};
use crate::store::{Rotation, Store, StoreError};

/// When rotations are made and how long they stay open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `--expiry-warning-days`: a credential whose secret expires within
    /// this many days is rotated.
    pub lead_days: i64,
    /// How long the customer has to answer: `--request-answer-time`, the
    /// time staff requests preselect (7 days by default).
    pub answer_seconds: i64,
}

impl Policy {
    /// The policy of a server with `settings`.
    pub fn from_settings(settings: &Settings) -> Policy {
        Policy {
            lead_days: settings.expiry_warning_days,
            answer_seconds: settings.request_answer_seconds,
        }
    }
}

/// Makes the rotation request of every credential that is due for one at
/// `now` and has none yet; returns the ones this call made (another
/// instance may have made the rest).
///
/// # Errors
/// A database error; the rotations made before it stay made.
pub async fn rotate_due(
    store: &Store,
    now: i64,
    policy: Policy,
) -> Result<Vec<Rotation>, StoreError> {
    let register = current(
        store.credential_entries().await?,
        utc_date(now),
        policy.lead_days,
    );
    let rotated = store.rotated_request_ids().await?;
    let mut made = Vec::new();
    for (entry, standing) in register {
        if !matches!(standing, Standing::Expiring | Standing::Expired)
            || rotated.contains(&entry.request_id)
        {
            continue;
        }
        if let Some(r) = store
            .create_rotation(&entry.request_id, now, now + policy.answer_seconds)
            .await?
        {
            made.push(r);
        }
    }
    Ok(made)
}
