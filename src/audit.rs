//! The trail: every state change of a request is an event, and each event
//! carries the hash of the one before it, so that a changed, removed or
//! reordered row breaks the chain at a point that `handoff audit verify` names.
//!
//! Events hold no secret material: times, kinds, ids of requests, who acted
//! (a staff user, an API token's name, or an anonymous client) and from which
//! address, and a small JSON detail object (template, customer label, counts).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened. The names are stored and exported; keep them stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    RequestCreated,
    RequestOpened,
    RequestAnswered,
    RequestRetrieved,
    RequestWithdrawn,
    RequestCancelled,
    RequestExpired,
    RequestPurged,
    RequestLeased,
    RequestReleased,
    RequestImported,
    RequestVerified,
    RequestVerifyFailed,
    RequestCredentialNoted,
    /// The server asked the customer for a new secret before the one it
    /// holds expires (a rotation request was created).
    RequestRotationCreated,
    /// A collector's periodic re-check found that a credential it imported no
    /// longer obtains a token (detail: `cause`, a plain sentence, and `code`,
    /// the AADSTS code when Entra gave one).
    RequestCredentialFailing,
    /// A credential reported failing obtains a token again.
    RequestCredentialRecovered,
    /// Staff asked the collector to import and check a failed request's
    /// credential again: its sealed copy, kept after the failed check, is
    /// back in the inbox.
    RequestRecheckRequested,
    LoginSucceeded,
    LoginFailed,
    Logout,
    UserAdded,
    UserRemoved,
    TokenCreated,
    TokenRevoked,
    TokenRefused,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::RequestCreated,
        Kind::RequestOpened,
        Kind::RequestAnswered,
        Kind::RequestRetrieved,
        Kind::RequestWithdrawn,
        Kind::RequestCancelled,
        Kind::RequestExpired,
        Kind::RequestPurged,
        Kind::RequestLeased,
        Kind::RequestReleased,
        Kind::RequestImported,
        Kind::RequestVerified,
        Kind::RequestVerifyFailed,
        Kind::RequestCredentialNoted,
        Kind::RequestRotationCreated,
        Kind::RequestCredentialFailing,
        Kind::RequestCredentialRecovered,
        Kind::RequestRecheckRequested,
        Kind::LoginSucceeded,
        Kind::LoginFailed,
        Kind::Logout,
        Kind::UserAdded,
        Kind::UserRemoved,
        Kind::TokenCreated,
        Kind::TokenRevoked,
        Kind::TokenRefused,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::RequestCreated => "request.created",
            Kind::RequestOpened => "request.opened",
            Kind::RequestAnswered => "request.answered",
            Kind::RequestRetrieved => "request.retrieved",
            Kind::RequestWithdrawn => "request.withdrawn",
            Kind::RequestCancelled => "request.cancelled",
            Kind::RequestExpired => "request.expired",
            Kind::RequestPurged => "request.purged",
            Kind::RequestLeased => "request.leased",
            Kind::RequestReleased => "request.released",
            Kind::RequestImported => "request.imported",
            Kind::RequestVerified => "request.verified",
            Kind::RequestVerifyFailed => "request.verify_failed",
            Kind::RequestCredentialNoted => "request.credential_noted",
            Kind::RequestRotationCreated => "request.rotation_created",
            Kind::RequestCredentialFailing => "request.credential_failing",
            Kind::RequestCredentialRecovered => "request.credential_recovered",
            Kind::RequestRecheckRequested => "request.recheck_requested",
            Kind::LoginSucceeded => "login.succeeded",
            Kind::LoginFailed => "login.failed",
            Kind::Logout => "logout",
            Kind::UserAdded => "user.added",
            Kind::UserRemoved => "user.removed",
            Kind::TokenCreated => "token.created",
            Kind::TokenRevoked => "token.revoked",
            Kind::TokenRefused => "token.refused",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// Who acted, as stored: `staff:NAME`, `token:NAME`, `anonymous` or `system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Staff(String),
    Token(String),
    Anonymous,
    System,
}

impl Actor {
    pub(crate) fn label(&self) -> String {
        match self {
            Actor::Staff(name) => format!("staff:{name}"),
            Actor::Token(name) => format!("token:{name}"),
            Actor::Anonymous => "anonymous".to_owned(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// An event about to be appended.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub(crate) kind: Kind,
    pub(crate) request_id: Option<String>,
    pub(crate) actor: Actor,
    pub(crate) client_addr: Option<String>,
    /// A JSON object with no secret material.
    pub(crate) detail: serde_json::Value,
}

impl NewEvent {
    pub fn new(kind: Kind, actor: Actor) -> NewEvent {
        NewEvent {
            kind,
            request_id: None,
            actor,
            client_addr: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn request(mut self, id: &str) -> NewEvent {
        self.request_id = Some(id.to_owned());
        self
    }

    pub fn from_addr(mut self, addr: Option<String>) -> NewEvent {
        self.client_addr = addr;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> NewEvent {
        self.detail = detail;
        self
    }
}

/// A stored event, as exported (one NDJSON line each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub(crate) at: i64,
    pub kind: String,
    pub(crate) request_id: Option<String>,
    pub actor: String,
    pub client_addr: Option<String>,
    /// The detail object's JSON text, hashed exactly as stored.
    pub detail: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

impl Event {
    /// SHA-256 (hex) over every field but `hash`, as a JSON array: an
    /// unambiguous encoding, so no two different events hash alike.
    pub(crate) fn compute_hash(&self) -> String {
        let fields = (
            self.seq,
            self.at,
            &self.kind,
            &self.request_id,
            &self.actor,
            &self.client_addr,
            &self.detail,
            &self.prev_hash,
        );
        // Serialising integers and strings cannot fail.
        let bytes = serde_json::to_vec(&fields).unwrap_or_default();
        hex(&Sha256::digest(&bytes))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Where and why a chain stops being intact.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("event {seq}: expected sequence number {expected} (an event is missing or reordered)")]
    Gap { seq: i64, expected: i64 },
    #[error(
        "event {seq}: prev_hash does not match the hash of event {prev} (an event was removed or changed)"
    )]
    Link { seq: i64, prev: i64 },
    #[error("event {seq}: its contents do not match its hash (the row was changed)")]
    Content { seq: i64 },
    #[error(
        "the chain's head says {head_seq} events, but the trail ends at {last_seq} (events were removed at the end)"
    )]
    Head { head_seq: i64, last_seq: i64 },
    #[error("the chain's head hash does not match event {seq}")]
    HeadHash { seq: i64 },
}

/// Checks a chain incrementally: feed events in `seq` order, then `finish`
/// with the head the store recorded.
#[derive(Debug)]
pub(crate) struct Verifier {
    expected_seq: i64,
    prev_hash: String,
    pub(crate) checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
        }
    }
}

impl Verifier {
    pub(crate) fn check(&mut self, event: &Event) -> Result<(), Break> {
        if event.seq != self.expected_seq {
            return Err(Break::Gap {
                seq: event.seq,
                expected: self.expected_seq,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(Break::Link {
                seq: event.seq,
                prev: event.seq - 1,
            });
        }
        if event.compute_hash() != event.hash {
            return Err(Break::Content { seq: event.seq });
        }
        self.expected_seq += 1;
        self.prev_hash.clone_from(&event.hash);
        self.checked += 1;
        Ok(())
    }

    pub(crate) fn finish(&self, head_seq: i64, head_hash: &str) -> Result<(), Break> {
        let last_seq = self.expected_seq - 1;
        if head_seq != last_seq {
            return Err(Break::Head { head_seq, last_seq });
        }
        if head_hash != self.prev_hash {
            return Err(Break::HeadHash { seq: last_seq });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let mut e = Event {
                    seq,
                    at: 1_795_305_600 + seq,
                    kind: Kind::RequestOpened.as_str().to_owned(),
                    request_id: Some(format!("r{seq}")),
                    actor: Actor::Anonymous.label(),
                    client_addr: Some("127.0.0.1".to_owned()),
                    detail: "{}".to_owned(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn verify(events: &[Event]) -> Result<(), Break> {
        let mut v = Verifier::default();
        for e in events {
            v.check(e)?;
        }
        let last = events.last();
        v.finish(
            last.map_or(0, |e| e.seq),
            last.map_or(GENESIS, |e| e.hash.as_str()),
        )
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
        assert_eq!(verify(&[]), Ok(()));
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let mut c = chain(5);
        c[2].actor = "staff:mallory".to_owned();
        assert_eq!(verify(&c), Err(Break::Content { seq: 3 }));

        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(Break::Gap {
                seq: 3,
                expected: 2
            })
        );

        // A rewritten row with a recomputed hash still breaks the next link.
        let mut c = chain(5);
        c[1].detail = r#"{"x":1}"#.to_owned();
        c[1].hash = c[1].compute_hash();
        assert_eq!(verify(&c), Err(Break::Link { seq: 3, prev: 2 }));

        let c = chain(5);
        let mut v = Verifier::default();
        for e in &c[..4] {
            v.check(e).unwrap();
        }
        assert_eq!(
            v.finish(5, &c[4].hash),
            Err(Break::Head {
                head_seq: 5,
                last_seq: 4
            })
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
        }
    }
}
