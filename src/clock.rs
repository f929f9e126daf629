//! Where "now" comes from. The server reads the system clock; tests use a
//! manual clock so that expiry can be proven without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` is the system clock; `Some` holds a test's current Unix time.
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands still at `unix_seconds` until [`Clock::advance`] moves it.
    pub fn manual(unix_seconds: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(unix_seconds))),
        }
    }

    /// Current time as Unix seconds (UTC), the unit the store keeps.
    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => OffsetDateTime::now_utc().unix_timestamp(),
        }
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, seconds: i64) {
        if let Some(t) = &self.manual {
            t.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

/// Formats Unix seconds as RFC 3339 (`2026-11-22T10:00:00Z`), the API's time format.
/// The UTC day `unix_seconds` falls on (the epoch's for a time `time`
/// cannot represent).
pub(crate) fn utc_date(unix_seconds: i64) -> time::Date {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// Unix seconds as pages show a time before their script makes it relative
/// and local (`2026-11-22 10:00 UTC`): what a reader without JavaScript sees.
pub(crate) fn readable_utc(unix_seconds: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| rfc3339(unix_seconds))
}

pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances() {
        let c = Clock::manual(1_000);
        c.advance(60);
        assert_eq!(c.now(), 1_060);
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn readable_utc_is_minutes_and_says_utc() {
        assert_eq!(readable_utc(1_795_000_000), "2026-11-18 11:06 UTC");
    }
}
