//! A link secret's life as its creator's receipt tells it: waiting to be
//! opened, then read, destroyed or expired, whichever came first.

use std::fmt;

/// Where a secret stands, from its creator's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReceiptState {
    /// Not opened yet, and still openable.
    Waiting,
    Read,
    /// Destroyed by its creator, unread.
    Destroyed,
    /// Lapsed unread.
    Expired,
}

impl ReceiptState {
    #[cfg(test)]
    pub(crate) const ALL: &'static [ReceiptState] = &[
        ReceiptState::Waiting,
        ReceiptState::Read,
        ReceiptState::Destroyed,
        ReceiptState::Expired,
    ];

    /// The state from the receipt's times; destruction and reading are final,
    /// expiry only matters while neither happened.
    pub(crate) fn of(
        read_at: Option<i64>,
        destroyed_at: Option<i64>,
        expires_at: i64,
        now: i64,
    ) -> Self {
        if destroyed_at.is_some() {
            ReceiptState::Destroyed
        } else if read_at.is_some() {
            ReceiptState::Read
        } else if expires_at <= now {
            ReceiptState::Expired
        } else {
            ReceiptState::Waiting
        }
    }

    /// The word the status API and page show.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReceiptState::Waiting => "waiting",
            ReceiptState::Read => "read",
            ReceiptState::Destroyed => "destroyed",
            ReceiptState::Expired => "expired",
        }
    }
}

impl fmt::Display for ReceiptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_waits_until_read_destroyed_or_expired() {
        assert_eq!(ReceiptState::of(None, None, 10, 9), ReceiptState::Waiting);
        assert_eq!(ReceiptState::of(None, None, 10, 10), ReceiptState::Expired);
        assert_eq!(ReceiptState::of(Some(5), None, 10, 20), ReceiptState::Read);
        assert_eq!(
            ReceiptState::of(None, Some(5), 10, 20),
            ReceiptState::Destroyed
        );
        let words: std::collections::BTreeSet<&str> =
            ReceiptState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words.len(), ReceiptState::ALL.len());
    }
}
