//! How long things may live. Every secret has an expiry; the operator bounds it.

use std::fmt;
use std::time::Duration;

/// The shortest lifetime the API accepts. Shorter would expire in transit.
pub(crate) const MIN_SECONDS: i64 = 60;
/// The longest lifetime any configuration may allow: credentials waiting in a
/// queue for more than a month are better sent again.
pub(crate) const HARD_MAX_SECONDS: i64 = 30 * 86_400;
/// The default upper bound.
pub(crate) const DEFAULT_MAX_SECONDS: i64 = 7 * 86_400;

/// The lifetimes offered in the browser, shortest first; those above the
/// configured maximum are left out.
const CHOICES: [(i64, &str); 7] = [
    (3_600, "1 hour"),
    (6 * 3_600, "6 hours"),
    (86_400, "1 day"),
    (3 * 86_400, "3 days"),
    (7 * 86_400, "7 days"),
    (14 * 86_400, "14 days"),
    (30 * 86_400, "30 days"),
];

/// The operator's bound on lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryPolicy {
    max_seconds: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OutOfRange {
    pub(crate) min: i64,
    pub(crate) max: i64,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expires_in must be between {} and {} seconds ({}).",
            self.min,
            self.max,
            describe(self.max)
        )
    }
}

impl ExpiryPolicy {
    /// A policy whose longest lifetime is `max`; refused above 30 days or below
    /// the minimum, so that a typo in the configuration stops the server at start.
    pub fn new(max: Duration) -> Result<ExpiryPolicy, String> {
        let max_seconds = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
        if !(MIN_SECONDS..=HARD_MAX_SECONDS).contains(&max_seconds) {
            return Err(format!(
                "the maximum expiry must be between {} and 30 days, not {}",
                describe(MIN_SECONDS),
                humantime::format_duration(max)
            ));
        }
        Ok(ExpiryPolicy { max_seconds })
    }

    pub(crate) fn max_seconds(self) -> i64 {
        self.max_seconds
    }

    /// Accepts a requested lifetime in seconds if the policy allows it.
    pub(crate) fn check(self, seconds: i64) -> Result<i64, OutOfRange> {
        if (MIN_SECONDS..=self.max_seconds).contains(&seconds) {
            Ok(seconds)
        } else {
            Err(OutOfRange {
                min: MIN_SECONDS,
                max: self.max_seconds,
            })
        }
    }

    /// The browser's choices: `(seconds, label)`, within the policy, the
    /// maximum itself always included.
    pub(crate) fn choices(self) -> Vec<(i64, String)> {
        let mut out: Vec<(i64, String)> = CHOICES
            .iter()
            .filter(|(s, _)| *s <= self.max_seconds)
            .map(|(s, l)| (*s, (*l).to_owned()))
            .collect();
        if out.last().map(|(s, _)| *s) != Some(self.max_seconds) {
            out.push((self.max_seconds, describe(self.max_seconds)));
        }
        out
    }

    /// [`ExpiryPolicy::choices`] with `seconds` (a configured default) among
    /// them, in order.
    pub(crate) fn choices_with(self, seconds: i64) -> Vec<(i64, String)> {
        let mut out = self.choices();
        if !out.iter().any(|(s, _)| *s == seconds) {
            out.push((seconds, describe(seconds)));
            out.sort_by_key(|(s, _)| *s);
        }
        out
    }

    /// The choice the browser preselects: one day, or less if the policy is shorter.
    pub(crate) fn default_choice(self) -> i64 {
        self.max_seconds.min(86_400)
    }
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy {
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

/// "7 days", "1 hour", "90 minutes": for people, not for parsing.
pub(crate) fn describe(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds % 86_400 == 0 {
        plural(seconds / 86_400, "day")
    } else if seconds % 3_600 == 0 {
        plural(seconds / 3_600, "hour")
    } else if seconds % 60 == 0 {
        plural(seconds / 60, "minute")
    } else {
        plural(seconds, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_allows_one_minute_to_seven_days() {
        let p = ExpiryPolicy::default();
        assert_eq!(p.check(60), Ok(60));
        assert_eq!(p.check(7 * 86_400), Ok(7 * 86_400));
        assert!(p.check(59).is_err());
        assert!(p.check(7 * 86_400 + 1).is_err());
        assert!(p.check(-5).is_err());
    }

    #[test]
    fn configured_maximum_is_bounded_by_thirty_days() {
        assert!(ExpiryPolicy::new(Duration::from_secs(30 * 86_400)).is_ok());
        assert!(ExpiryPolicy::new(Duration::from_secs(31 * 86_400)).is_err());
        assert!(ExpiryPolicy::new(Duration::from_secs(10)).is_err());
    }

    #[test]
    fn choices_stop_at_the_maximum_and_include_it() {
        let p = ExpiryPolicy::new(Duration::from_secs(2 * 86_400)).unwrap();
        let secs: Vec<i64> = p.choices().iter().map(|c| c.0).collect();
        assert_eq!(secs, vec![3_600, 21_600, 86_400, 172_800]);
        assert_eq!(p.choices().last().unwrap().1, "2 days");
        let thirty = ExpiryPolicy::new(Duration::from_secs(30 * 86_400)).unwrap();
        assert_eq!(thirty.choices().len(), 7);
    }

    #[test]
    fn describes_durations_in_words() {
        assert_eq!(describe(3_600), "1 hour");
        assert_eq!(describe(7 * 86_400), "7 days");
        assert_eq!(describe(5_400), "90 minutes");
    }
}
