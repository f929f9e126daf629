//! Load benchmark: create-then-reveal cycles against a running server.
//!
//! ```text
//! cargo run --release --example bench -- --server http://127.0.0.1:8080 --seconds 10 --concurrency 16
//! ```
//!
//! Each worker seals a small `entra-app` payload (outside the timed part),
//! creates a secret with it, then reveals that secret and checks that the
//! ciphertext came back unchanged. Create and reveal latencies are recorded
//! separately. Start the server with `--create-limit 0 --reveal-limit 0`, or
//! the rate limits answer 429 within a second. Exits non-zero if any request
//! failed.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use handoff::client::Client;
use handoff::link;
use handoff::payload::Payload;

#[derive(Parser)]
#[command(about = "Create+reveal benchmark against a running handoff server")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent workers, each running create then reveal in a loop.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

#[derive(Default)]
struct Tally {
    create: Vec<Duration>,
    reveal: Vec<Duration>,
    create_errors: u64,
    reveal_errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn fail(&mut self, what: &str, e: impl std::fmt::Display) {
        if self.first_error.is_none() {
            self.first_error = Some(format!("{what}: {e:#}"));
        }
    }

    fn merge(&mut self, other: Tally) {
        self.create.extend(other.create);
        self.reveal.extend(other.reveal);
        self.create_errors += other.create_errors;
        self.reveal_errors += other.reveal_errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn sample_payload(n: u64) -> Vec<u8> {
    let fields = BTreeMap::from([
        (
            "tenant_id".to_owned(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned(),
        ),
        (
            "client_id".to_owned(),
            "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d".to_owned(),
        ),
        (
            "client_secret".to_owned(),
            format!("Abc8Q~dEfGhIjKlMnOpQrStUvWxYz{n:011}"),
        ),
        ("secret_expires_on".to_owned(), "2027-01-31".to_owned()),
        ("cloud".to_owned(), "commercial".to_owned()),
    ]);
    let payload = Payload {
        v: 1,
        template: "entra-app".to_owned(),
        fields,
        note: Some("benchmark".to_owned()),
    };
    serde_json::to_vec(&payload).expect("a payload serialises")
}

async fn worker(client: Client, deadline: Instant, worker: u64) -> Tally {
    let mut t = Tally::default();
    let mut n = worker << 32;
    while Instant::now() < deadline {
        n += 1;
        let (ciphertext, _key) = match link::seal(&sample_payload(n), None) {
            Ok(sealed) => sealed,
            Err(e) => {
                t.create_errors += 1;
                t.fail("seal", e);
                continue;
            }
        };
        let started = Instant::now();
        let created = client.create(&ciphertext, 3_600, false, "entra-app").await;
        let took = started.elapsed();
        let created = match created {
            Ok(c) => {
                t.create.push(took);
                c
            }
            Err(e) => {
                t.create_errors += 1;
                t.fail("create", e);
                continue;
            }
        };
        let started = Instant::now();
        let revealed = client.reveal(&created.id).await;
        let took = started.elapsed();
        match revealed {
            Ok(bytes) if bytes == ciphertext => t.reveal.push(took),
            Ok(_) => {
                t.reveal_errors += 1;
                t.fail("reveal", "the server returned a different ciphertext");
            }
            Err(e) => {
                t.reveal_errors += 1;
                t.fail("reveal", e);
            }
        }
    }
    t
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn report(label: &str, mut samples: Vec<Duration>, errors: u64, elapsed: Duration) {
    samples.sort_unstable();
    let pick = |q: f64| -> Duration {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    println!(
        "{label:<7} count {:>7}  {:>8.1} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  errors {errors}",
        samples.len(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        ms(pick(0.50)),
        ms(pick(0.99)),
        ms(samples.last().copied().unwrap_or_default()),
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.concurrency == 0 || args.seconds == 0 {
        eprintln!("error: --seconds and --concurrency must be at least 1");
        return ExitCode::FAILURE;
    }
    let client = match Client::new(&args.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let workers: Vec<_> = (0..args.concurrency as u64)
        .map(|w| tokio::spawn(worker(client.clone(), deadline, w)))
        .collect();
    let mut total = Tally::default();
    for w in workers {
        match w.await {
            Ok(t) => total.merge(t),
            Err(e) => {
                total.create_errors += 1;
                total.fail("worker", e);
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} for {:.1} s, {} workers, create then reveal of a sealed entra-app payload",
        args.server,
        elapsed.as_secs_f64(),
        args.concurrency
    );
    let errors = total.create_errors + total.reveal_errors;
    report("create", total.create, total.create_errors, elapsed);
    report("reveal", total.reveal, total.reveal_errors, elapsed);
    if let Some(e) = total.first_error {
        eprintln!("first error: {e}");
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
