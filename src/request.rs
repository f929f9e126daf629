//! A request's rules: where it stands, derived from the times of its steps,
//! and what each side may still do. The store and the handlers ask here; none
//! of them compares states as text.

use std::fmt;

/// The time of every step that decides a request's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    pub(crate) created_at: i64,
    /// Until then the request can be answered.
    pub(crate) expires_at: i64,
    /// The customer's browser first showed the request; decides nothing,
    /// but is a step all the same.
    pub(crate) opened_at: Option<i64>,
    pub answered_at: Option<i64>,
    /// When the answer's copies lapse if nobody took them.
    pub(crate) copies_expire_at: Option<i64>,
    pub retrieved_at: Option<i64>,
    pub imported_at: Option<i64>,
    pub(crate) verified_at: Option<i64>,
    /// The verification's outcome, set with `verified_at`.
    pub(crate) verify_ok: Option<bool>,
    pub withdrawn_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// Set by the purge when the request expired unanswered.
    pub(crate) expired_at: Option<i64>,
}

/// Where a request stands, as staff see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    Open,
    Answered,
    Retrieved,
    Imported,
    Verified,
    Failed,
    Expired,
    Withdrawn,
    Cancelled,
}

impl RequestState {
    /// Every state, in the order of a request's life; the dashboard counts
    /// them in this order.
    pub(crate) const IN_ORDER: &'static [RequestState] = &[
        RequestState::Open,
        RequestState::Answered,
        RequestState::Retrieved,
        RequestState::Imported,
        RequestState::Verified,
        RequestState::Failed,
        RequestState::Expired,
        RequestState::Withdrawn,
        RequestState::Cancelled,
    ];

    /// The word the API, the pages' `data-state` and the badges show.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Open => "open",
            RequestState::Answered => "answered",
            RequestState::Retrieved => "retrieved",
            RequestState::Imported => "imported",
            RequestState::Verified => "verified",
            RequestState::Failed => "failed",
            RequestState::Expired => "expired",
            RequestState::Withdrawn => "withdrawn",
            RequestState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request stands for the customer about to answer it: the SOC's
/// later steps are not theirs to see, only whether it can still be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CustomerState {
    Open,
    Answered,
    Expired,
    Withdrawn,
    Cancelled,
}

impl CustomerState {
    #[cfg(test)]
    pub(crate) const ALL: &'static [CustomerState] = &[
        CustomerState::Open,
        CustomerState::Answered,
        CustomerState::Expired,
        CustomerState::Withdrawn,
        CustomerState::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CustomerState::Open => "open",
            CustomerState::Answered => "answered",
            CustomerState::Expired => "expired",
            CustomerState::Withdrawn => "withdrawn",
            CustomerState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for CustomerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the PM's retrieval link finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetrievalState {
    /// Not answered yet: the link will work once it is.
    Waiting,
    /// The PM's copy is there, to be taken once.
    Ready,
    /// Taken, withdrawn, cancelled or lapsed.
    Gone,
}

impl RetrievalState {
    #[cfg(test)]
    pub(crate) const ALL: &'static [RetrievalState] = &[
        RetrievalState::Waiting,
        RetrievalState::Ready,
        RetrievalState::Gone,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RetrievalState::Waiting => "waiting",
            RetrievalState::Ready => "ready",
            RetrievalState::Gone => "gone",
        }
    }
}

impl fmt::Display for RetrievalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two ciphertexts of an answer, as `request_copies.kind` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CopyKind {
    /// Encrypted to the request's one recipient, the PM; retrieved once.
    Pm,
    /// Sealed to the server's SOC recipients; imported by the collector.
    Sealed,
}

impl CopyKind {
    pub const ALL: &'static [CopyKind] = &[CopyKind::Pm, CopyKind::Sealed];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyKind::Pm => "pm",
            CopyKind::Sealed => "sealed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<CopyKind> {
        CopyKind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// Why an answer was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerRefused {
    /// No such request.
    Unknown,
    AlreadyAnswered,
    Expired,
    Cancelled,
    /// The answer names a transfer that is not a complete, unexpired
    /// transfer made for this request (a files request's answer).
    TransferNotReady,
}

impl Steps {
    /// The furthest step reached. Retrieval by the PM and import by the
    /// collector are independent; verification follows import.
    pub fn state(&self, now: i64) -> RequestState {
        if self.cancelled_at.is_some() {
            RequestState::Cancelled
        } else if self.withdrawn_at.is_some() {
            RequestState::Withdrawn
        } else if self.verified_at.is_some() {
            if self.verify_ok == Some(true) {
                RequestState::Verified
            } else {
                RequestState::Failed
            }
        } else if self.imported_at.is_some() {
            RequestState::Imported
        } else if self.retrieved_at.is_some() {
            RequestState::Retrieved
        } else if self.answered_at.is_some() {
            // Answered, and nothing taken: until the copies lapse unread.
            if self.copies_expire_at.is_some_and(|t| t <= now) {
                RequestState::Expired
            } else {
                RequestState::Answered
            }
        } else if self.expired_at.is_some() || self.expires_at <= now {
            RequestState::Expired
        } else {
            RequestState::Open
        }
    }

    /// The customer-facing state of the request page and its API.
    pub(crate) fn customer_state(&self, now: i64) -> CustomerState {
        match self.state(now) {
            RequestState::Open => CustomerState::Open,
            RequestState::Cancelled => CustomerState::Cancelled,
            RequestState::Withdrawn => CustomerState::Withdrawn,
            // Answered, but its copies lapsed untaken: still "answered" here.
            RequestState::Expired if self.answered_at.is_some() => CustomerState::Answered,
            RequestState::Expired => CustomerState::Expired,
            RequestState::Answered
            | RequestState::Retrieved
            | RequestState::Imported
            | RequestState::Verified
            | RequestState::Failed => CustomerState::Answered,
        }
    }

    /// Whether the customer may still withdraw the answer: it is there and
    /// nobody has taken it (retrieved or imported) yet.
    pub fn withdrawable(&self, now: i64) -> bool {
        self.state(now) == RequestState::Answered
    }

    /// Why a request that refused an answer refused it: answered before,
    /// cancelled, or else past its time.
    pub fn answer_refused(&self) -> AnswerRefused {
        if self.answered_at.is_some() {
            AnswerRefused::AlreadyAnswered
        } else if self.cancelled_at.is_some() {
            AnswerRefused::Cancelled
        } else {
            AnswerRefused::Expired
        }
    }

    /// The time of the latest step taken, creation included.
    pub(crate) fn latest(&self) -> i64 {
        [
            self.opened_at,
            self.answered_at,
            self.retrieved_at,
            self.imported_at,
            self.verified_at,
            self.withdrawn_at,
            self.cancelled_at,
            self.expired_at,
        ]
        .into_iter()
        .flatten()
        .fold(self.created_at, i64::max)
    }

    /// Whether staff may still cancel it: not already cancelled or withdrawn.
    pub fn cancellable(&self) -> bool {
        self.cancelled_at.is_none() && self.withdrawn_at.is_none()
    }

    /// What the PM's link finds, given whether the PM's copy is still held.
    pub fn retrieval(&self, now: i64, pm_copy_held: bool) -> RetrievalState {
        if self.state(now) == RequestState::Open {
            RetrievalState::Waiting
        } else if pm_copy_held {
            RetrievalState::Ready
        } else {
            RetrievalState::Gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000;

    fn open() -> Steps {
        Steps {
            expires_at: NOW + 10,
            ..Steps::default()
        }
    }

    fn answered() -> Steps {
        Steps {
            answered_at: Some(NOW - 5),
            copies_expire_at: Some(NOW + 10),
            ..open()
        }
    }

    #[test]
    fn an_unanswered_request_is_open_until_it_expires() {
        assert_eq!(open().state(NOW), RequestState::Open);
        assert_eq!(open().state(NOW + 10), RequestState::Expired);
        let marked = Steps {
            expired_at: Some(NOW - 1),
            ..open()
        };
        assert_eq!(marked.state(NOW), RequestState::Expired);
        assert_eq!(marked.customer_state(NOW), CustomerState::Expired);
    }

    #[test]
    fn an_answer_whose_copies_lapsed_is_expired_for_staff_and_answered_for_the_customer() {
        let r = answered();
        assert_eq!(r.state(NOW), RequestState::Answered);
        assert_eq!(r.state(NOW + 10), RequestState::Expired);
        assert_eq!(r.customer_state(NOW + 10), CustomerState::Answered);
        assert!(r.withdrawable(NOW));
        assert!(!r.withdrawable(NOW + 10));
    }

    #[test]
    fn later_steps_win_and_end_withdrawal() {
        let retrieved = Steps {
            retrieved_at: Some(NOW),
            ..answered()
        };
        assert_eq!(retrieved.state(NOW), RequestState::Retrieved);
        assert!(!retrieved.withdrawable(NOW));
        let imported = Steps {
            imported_at: Some(NOW),
            ..retrieved
        };
        assert_eq!(imported.state(NOW), RequestState::Imported);
        let verified = |ok| Steps {
            verified_at: Some(NOW),
            verify_ok: Some(ok),
            ..imported
        };
        assert_eq!(verified(true).state(NOW), RequestState::Verified);
        assert_eq!(verified(false).state(NOW), RequestState::Failed);
        assert_eq!(verified(false).customer_state(NOW), CustomerState::Answered);
        let withdrawn = Steps {
            withdrawn_at: Some(NOW),
            ..answered()
        };
        assert_eq!(withdrawn.state(NOW), RequestState::Withdrawn);
        assert!(!withdrawn.cancellable());
        let cancelled = Steps {
            cancelled_at: Some(NOW),
            ..withdrawn
        };
        assert_eq!(cancelled.state(NOW), RequestState::Cancelled);
        assert_eq!(cancelled.customer_state(NOW), CustomerState::Cancelled);
        assert!(!cancelled.cancellable());
        assert!(answered().cancellable());
        assert_eq!(withdrawn.answer_refused(), AnswerRefused::AlreadyAnswered);
        let cancelled_unanswered = Steps {
            cancelled_at: Some(NOW),
            ..open()
        };
        assert_eq!(
            cancelled_unanswered.answer_refused(),
            AnswerRefused::Cancelled
        );
        assert_eq!(open().answer_refused(), AnswerRefused::Expired);
    }

    #[test]
    fn the_latest_step_is_the_newest_time_taken() {
        let r = Steps {
            created_at: NOW - 100,
            ..answered()
        };
        assert_eq!(r.latest(), NOW - 5);
        let fresh = Steps {
            created_at: NOW - 100,
            ..open()
        };
        assert_eq!(fresh.latest(), NOW - 100);
    }

    #[test]
    fn the_pm_waits_for_an_answer_then_takes_the_copy_once() {
        assert_eq!(open().retrieval(NOW, false), RetrievalState::Waiting);
        assert_eq!(answered().retrieval(NOW, true), RetrievalState::Ready);
        assert_eq!(answered().retrieval(NOW, false), RetrievalState::Gone);
        // Expired unanswered: nothing will come.
        assert_eq!(open().retrieval(NOW + 10, false), RetrievalState::Gone);
    }

    #[test]
    fn every_state_has_its_own_word() {
        let mut words: Vec<&str> = RequestState::IN_ORDER.iter().map(|s| s.as_str()).collect();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), RequestState::IN_ORDER.len());
        for c in CustomerState::ALL {
            assert!(words.contains(&c.as_str()), "{c}");
        }
        for k in CopyKind::ALL {
            assert_eq!(CopyKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(CopyKind::parse("PM"), None);
        assert_eq!(RetrievalState::ALL.len(), 3);
    }
}
