//! The store's conditional UPDATEs and the request's rules in
//! `handoff::request::Steps` say the same thing. Seeded walks drive real
//! requests through every step in random order (open, answer, retrieve,
//! import, verify, withdraw, cancel, time passing, purge); before each step
//! the rules predict whether the store will take it, and the store must
//! agree. A condition changed on one side only fails here.

mod common;

use common::{Backend, TestDb};
use handoff::audit::{Actor, Kind, NewEvent};
use handoff::id::Id;
use handoff::request::{CopyKind, RequestState, RetrievalState, Steps};
use handoff::store::{Ack, Answer, Imported, Lease, NewRequest, Store, VerifyResult, Withdrawal};

/// Walks per backend; each walk is one request and up to `STEPS` steps.
const WALKS: u64 = 40;
const STEPS: usize = 10;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One walk's request and the tokens the customer and the PM hold.
struct Walk {
    id: Id,
    retrieval: Id,
    status: Id,
    now: i64,
    /// The answer's copies lapse this long after the answer.
    copies_ttl: i64,
}

fn event(kind: Kind) -> NewEvent {
    NewEvent::new(kind, Actor::System)
}

async fn steps(store: &Store, w: &Walk) -> Steps {
    store
        .request(w.id.as_str())
        .await
        .unwrap()
        .expect("the walk's request exists")
        .steps()
}

async fn walk(store: &Store, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut w = Walk {
        id: Id::random(),
        retrieval: Id::random(),
        status: Id::random(),
        now: 1_000_000,
        copies_ttl: 100 + rng.below(300) as i64,
    };
    let expires_at = w.now + 100 + rng.below(300) as i64;
    store
        .create_request(
            &NewRequest {
                id: &w.id,
                retrieval_id: &w.retrieval,
                customer: "Contoso",
                template: "o365-management",
                note: "",
                recipient: "age1placeholder",
                created_by: "staff:ada",
                created_at: w.now,
                expires_at,
                reissued_from: None,
                contact_email: None,
                email_link: false,
            },
            &event(Kind::RequestCreated),
        )
        .await
        .unwrap();
    let mut taken = Vec::new();
    let with_sealed = rng.below(4) != 0;
    for _ in 0..STEPS {
        let before = steps(store, &w).await;
        let now = w.now;
        let state = before.state(now);
        let step = rng.below(10);
        let context = format!("seed {seed}, step {step}, at {now}, from {before:?}");
        match step {
            0 => {
                let answer = Answer {
                    pm_copy: b"pm-ciphertext",
                    sealed_copy: with_sealed.then_some(b"sealed-ciphertext".as_slice()),
                    status_hash: w.status.digest(),
                    copies_expire_at: now + w.copies_ttl,
                    transfer_id: None,
                };
                let got = store
                    .answer_request(w.id.as_str(), now, &answer, &event(Kind::RequestAnswered))
                    .await
                    .unwrap();
                if state == RequestState::Open {
                    assert_eq!(got, Ok(()), "{context}");
                    taken.push("answer".to_owned());
                } else {
                    assert_eq!(got, Err(before.answer_refused()), "{context}");
                }
            }
            1 => {
                let held = store
                    .has_copy(w.id.as_str(), CopyKind::Pm, now)
                    .await
                    .unwrap();
                let got = store
                    .retrieve(
                        &w.retrieval,
                        now,
                        event(Kind::RequestRetrieved),
                        &no_files(),
                    )
                    .await
                    .unwrap();
                let ready = before.retrieval(now, held) == RetrievalState::Ready;
                assert_eq!(got.is_some(), ready, "{context}, PM copy held: {held}");
                if ready {
                    taken.push("retrieve".to_owned());
                }
            }
            2 => {
                let got = store
                    .withdraw(&w.status, now, event(Kind::RequestWithdrawn))
                    .await
                    .unwrap();
                let expected = if before.withdrawable(now) {
                    Withdrawal::Done
                } else if before.answered_at.is_some() {
                    Withdrawal::TooLate
                } else {
                    // Never answered: the receipt token is unknown.
                    Withdrawal::Unknown
                };
                assert_eq!(got, expected, "{context}");
                if got == Withdrawal::Done {
                    taken.push("withdraw".to_owned());
                }
            }
            3 => {
                let got = store
                    .cancel_request(w.id.as_str(), now, &event(Kind::RequestCancelled))
                    .await
                    .unwrap();
                assert_eq!(got, before.cancellable(), "{context}");
                if got {
                    taken.push("cancel".to_owned());
                }
            }
            4 => {
                // The collector's import: lease, then acknowledge.
                let lease_id = Id::random();
                let lease = store
                    .lease_sealed(
                        w.id.as_str(),
                        lease_id.as_str(),
                        now,
                        now + 60,
                        &event(Kind::RequestLeased),
                        &no_files(),
                    )
                    .await
                    .unwrap();
                if let Lease::Granted { .. } = lease {
                    let ack = store
                        .ack_sealed(
                            w.id.as_str(),
                            lease_id.as_str(),
                            &Imported::default(),
                            now,
                            &event(Kind::RequestImported),
                        )
                        .await
                        .unwrap();
                    // An import is taken while the answer stands: not
                    // withdrawn, not cancelled, its copies not lapsed.
                    let importable =
                        matches!(state, RequestState::Answered | RequestState::Retrieved);
                    assert_eq!(ack == Ack::Done, importable, "{context}: {ack:?}");
                    if ack == Ack::Done {
                        taken.push("import".to_owned());
                    }
                } else {
                    assert!(
                        !matches!(state, RequestState::Answered | RequestState::Retrieved)
                            || !with_sealed,
                        "{context}: an answer with a sealed copy that nobody took must be leasable"
                    );
                }
            }
            5 => {
                let ok = rng.below(2) == 0;
                let got = store
                    .record_verification(
                        w.id.as_str(),
                        &VerifyResult { ok, detail: "" },
                        now,
                        &event(Kind::RequestVerified),
                    )
                    .await
                    .unwrap();
                assert_eq!(got, before.imported_at.is_some(), "{context}");
                if got {
                    taken.push(format!("verify {ok}"));
                }
            }
            6 => {
                // Purge only writes down what the rules already derive.
                store.purge_requests(now).await.unwrap();
                let after = steps(store, &w).await;
                assert_eq!(
                    after.state(now),
                    state,
                    "{context}: purge changed the state"
                );
                taken.push("purge".to_owned());
            }
            7 => {
                let _ = store
                    .mark_opened(w.id.as_str(), now, &event(Kind::RequestOpened))
                    .await
                    .unwrap();
                let after = steps(store, &w).await;
                assert_eq!(
                    after.state(now),
                    state,
                    "{context}: opening changed the state"
                );
            }
            _ => {
                // Time passes: a little, or past the request's or the copies' end.
                w.now += [1, 30, 150, 400][rng.below(4) as usize];
            }
        }
        // The state only moves the way the rules allow: a later read at the
        // same time never finds an earlier step undone.
        let after = steps(store, &w).await;
        for (was, is) in [
            (before.answered_at, after.answered_at),
            (before.retrieved_at, after.retrieved_at),
            (before.imported_at, after.imported_at),
            (before.withdrawn_at, after.withdrawn_at),
            (before.cancelled_at, after.cancelled_at),
        ] {
            if was.is_some() {
                assert_eq!(was, is, "{context}: a step's time changed");
            }
        }
    }
    taken
}

async fn the_store_takes_exactly_the_steps_the_rules_allow(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(db.url()).await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..WALKS {
        seen.extend(walk(&store, seed).await);
    }
    // The walks reach every step, so every condition is compared.
    for step in [
        "answer",
        "retrieve",
        "withdraw",
        "cancel",
        "import",
        "verify true",
        "verify false",
        "purge",
    ] {
        assert!(seen.contains(step), "no walk took {step}: {seen:?}");
    }
    store.close().await;
}

with_each_backend!(the_store_takes_exactly_the_steps_the_rules_allow);

/// The reader token a files request would get; these requests ask for
/// credentials, so it is never kept.
fn no_files() -> handoff::store::NewReader {
    handoff::store::NewReader {
        download_hash: handoff::id::Id::random().digest(),
        grace_until: 0,
    }
}
