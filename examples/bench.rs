//! Load benchmark pieces that `scripts/bench.sh` puts together into one run.
//!
//! ```text
//! bench load --kind handoff --server http://127.0.0.1:8080 --label sqlite --conns 32 --seconds 3 --pid PID
//! bench load --kind snappass --server http://127.0.0.1:5000 --label snappass --conns 32 --seconds 3
//! bench fsync --dir /tmp/x --seconds 2
//! bench rss --pid PID --label sqlite
//! bench summary results.txt
//! bench files --server http://127.0.0.1:8080 --label sqlite --transfers 4 --mib 1024 --pid PID
//! bench uploads --server http://127.0.0.1:8080 --label sqlite --conns 32 --seconds 10 --transfers 2 --mib 1024
//! ```
//!
//! `uploads` (issue 15, group commit) measures creates at `--conns`
//! connections alone for `--seconds`, then while `--transfers` uploads of
//! `--mib` MiB each (4 MiB pieces) run against the same server, for as long
//! as the uploads take: creates per second, p50, p99 and the longest wait
//! of each, and their ratios (during ÷ alone). The server needs
//! `--max-transfer-bytes` above `--mib` MiB of ciphertext.
//!
//! `files` (issue 14) runs `--transfers` file transfers at once, each of
//! `--mib` MiB in 4 MiB pieces: declared, uploaded piece by piece,
//! completed, claimed, downloaded and finished. It prints the upload and
//! download throughput of all of them together beside the loopback ceiling
//! (1 GiB through one TCP connection in this process) and the server's
//! resident set idle and at its largest. The server needs
//! `--max-transfer-bytes` above `--mib` MiB of ciphertext.
//!
//! `load` runs, one after the other and each for `--seconds` with `--conns`
//! concurrent keep-alive connections: creates (a sealed `entra-app` payload,
//! sealed before the clock starts), metadata GETs of the secrets just made,
//! reveals of those secrets (each checked to be the ciphertext sent; the
//! phase ends early when every secret is revealed), and GETs of a static
//! asset (`/assets/favicon.svg`, handoff only). With `--pid` it samples the
//! server's resident set (`VmRSS` of the process and its children, from
//! `/proc`) every 20 ms and reports the largest, and the largest anonymous
//! part (`RssAnon`: heap and stacks; the rest is file-backed, mostly the
//! pages of the binary's code the kernel mapped, which it can drop and read
//! again under memory pressure). Snappass (PyPI `snappass`)
//! is driven through its form (`POST /` with `Accept: application/json`),
//! its preview page (`GET /TOKEN`) and its reveal (`POST /TOKEN`).
//!
//! `fsync` appends 4 KiB blocks to a file in `--dir` and `fdatasync`s after
//! each: the rate of ungrouped durable commits that disk allows.
//!
//! Every subcommand prints a human line and a machine line starting with `@`
//! (tab-separated); `summary` reads the machine lines of a whole run and
//! prints the table and the ratios issue 15 asks for. Start handoff with
//! `--create-limit 0 --reveal-limit 0`, or the rate limits answer 429.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand, ValueEnum};
use handoff::link;
use handoff::payload::Payload;

#[derive(Parser)]
#[command(about = "Benchmark pieces for scripts/bench.sh")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    Handoff,
    Snappass,
}

#[derive(Subcommand)]
enum Command {
    /// One cell: create, metadata GET, reveal and static GET at one concurrency.
    Load {
        #[arg(long, value_enum)]
        kind: Kind,
        /// Base URL of the server.
        #[arg(long)]
        server: String,
        /// The name the figures are printed under.
        #[arg(long)]
        label: String,
        /// Concurrent connections.
        #[arg(long)]
        conns: usize,
        /// Seconds per operation.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// The server's process id, to sample its resident set under load.
        #[arg(long)]
        pid: Option<u32>,
        /// Only these operations (create, meta, reveal, static), in that
        /// order; all by default.
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
    },
    /// The disk's rate of single write+fdatasync, in a file under `dir`.
    Fsync {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// A process's resident set now (idle), with its children's.
    Rss {
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        label: String,
    },
    /// Reads the `@` lines of a run and prints the table and the ratios.
    Summary { file: PathBuf },
    /// File transfers (issue 14): `--transfers` at once, each of `--mib`
    /// MiB in 4 MiB pieces, uploaded, completed, claimed, downloaded and
    /// finished; the server's largest resident set meanwhile, and the
    /// throughput beside this machine's loopback ceiling.
    Files {
        #[arg(long)]
        server: String,
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 4)]
        transfers: usize,
        /// Plaintext MiB per transfer (a multiple of 4).
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Creates alone, then while file uploads run (issue 15).
    Uploads {
        #[arg(long)]
        server: String,
        #[arg(long)]
        label: String,
        /// Concurrent connections making creates.
        #[arg(long, default_value_t = 32)]
        conns: usize,
        /// Seconds of creates alone.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Uploads at once.
        #[arg(long, default_value_t = 2)]
        transfers: usize,
        /// Plaintext MiB per upload (a multiple of 4).
        #[arg(long, default_value_t = 1024)]
        mib: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Args::parse().command {
        Command::Load {
            kind,
            server,
            label,
            conns,
            seconds,
            pid,
            ops,
        } => load(kind, &server, &label, conns, seconds, pid, &ops).await,
        Command::Fsync { dir, seconds } => fsync(&dir, seconds),
        Command::Rss { pid, label } => Resident::of(pid).map(|r| {
            println!(
                "{label} idle RSS {:.1} MB (anonymous {:.1} MB)\n@rss\t{label}\t{}\t{}",
                mb(r.total),
                mb(r.anonymous),
                r.total,
                r.anonymous
            );
        }),
        Command::Summary { file } => summary(&file),
        Command::Files {
            server,
            label,
            transfers,
            mib,
            pid,
        } => files(&server, &label, transfers, mib, pid).await,
        Command::Uploads {
            server,
            label,
            conns,
            seconds,
            transfers,
            mib,
        } => uploads(&server, &label, conns, seconds, transfers, mib).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A process's resident set with its children's (gunicorn's workers), in
/// KiB: all of it (`VmRSS`) and its anonymous part (`RssAnon`: heap, stacks).
#[derive(Clone, Copy, Default)]
struct Resident {
    total: u64,
    anonymous: u64,
}

impl Resident {
    /// Reads `/proc/PID/status` of `pid` and of its children.
    fn of(pid: u32) -> anyhow::Result<Resident> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))
        };
        let mut sum = Resident {
            total: field("VmRSS:")?,
            anonymous: field("RssAnon:")?,
        };
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let children =
                    std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                    let child = Resident::of(child).unwrap_or_default();
                    sum.total += child.total;
                    sum.anonymous += child.anonymous;
                }
            }
        }
        Ok(sum)
    }

    /// The larger of each part (the two may peak at different moments).
    fn max(self, other: Resident) -> Resident {
        Resident {
            total: self.total.max(other.total),
            anonymous: self.anonymous.max(other.anonymous),
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

/// Latencies and errors of one operation across all connections.
#[derive(Default)]
struct Tally {
    took: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn fail(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.took.extend(other.took);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// What one connection needs: the HTTP client, the server and the kind.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    base: String,
    kind: Kind,
}

impl Target {
    /// Creates a secret holding `ciphertext`; yields what reveals it.
    async fn create(&self, ciphertext: &[u8]) -> anyhow::Result<String> {
        match self.kind {
            Kind::Handoff => {
                let body = serde_json::json!({
                    "ciphertext": STANDARD.encode(ciphertext),
                    "expires_in": 3600,
                    "passphrase": false,
                    "template": "entra-app",
                });
                let res = self
                    .http
                    .post(format!("{}/api/v1/secrets", self.base))
                    .json(&body)
                    .send()
                    .await?;
                let v: serde_json::Value = ok(res).await?.json().await?;
                v["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("no id in the answer"))
            }
            Kind::Snappass => {
                let res = self
                    .http
                    .post(format!("{}/", self.base))
                    .header("accept", "application/json")
                    .form(&[
                        ("password", STANDARD.encode(ciphertext).as_str()),
                        ("ttl", "hour"),
                    ])
                    .send()
                    .await?;
                let v: serde_json::Value = ok(res).await?.json().await?;
                let link = v["link"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no link in the answer"))?;
                link.rsplit('/')
                    .next()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("a link without a token"))
            }
        }
    }

    async fn meta(&self, id: &str) -> anyhow::Result<()> {
        let url = match self.kind {
            Kind::Handoff => format!("{}/api/v1/secrets/{id}", self.base),
            Kind::Snappass => format!("{}/{id}", self.base),
        };
        ok(self.http.get(url).send().await?).await?.bytes().await?;
        Ok(())
    }

    /// Reveals `id` and checks that `ciphertext` came back.
    async fn reveal(&self, id: &str, ciphertext: &[u8]) -> anyhow::Result<()> {
        match self.kind {
            Kind::Handoff => {
                let res = self
                    .http
                    .post(format!("{}/api/v1/secrets/{id}/reveal", self.base))
                    .send()
                    .await?;
                let v: serde_json::Value = ok(res).await?.json().await?;
                let got = STANDARD.decode(v["ciphertext"].as_str().unwrap_or_default())?;
                if got != ciphertext {
                    bail!("the server returned a different ciphertext");
                }
            }
            Kind::Snappass => {
                let res = self.http.post(format!("{}/{id}", self.base)).send().await?;
                let page = ok(res).await?.text().await?;
                // The page shows the password HTML-escaped; base64 has no
                // character that escaping changes but `+` and `/`, which it keeps.
                if !page.contains(&STANDARD.encode(ciphertext)) {
                    bail!("the page does not show the password");
                }
            }
        }
        Ok(())
    }

    async fn asset(&self) -> anyhow::Result<()> {
        let res = self
            .http
            .get(format!("{}/assets/favicon.svg", self.base))
            .send()
            .await?;
        ok(res).await?.bytes().await?;
        Ok(())
    }
}

async fn ok(res: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    let body = res.text().await.unwrap_or_default();
    bail!("{status}: {}", body.chars().take(200).collect::<String>())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Meta,
    Reveal,
    Static,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Meta => "meta",
            Op::Reveal => "reveal",
            Op::Static => "static",
        }
    }
}

/// Secrets made by the create phase: `(id, index of the ciphertext)`.
type Made = Arc<std::sync::Mutex<Vec<(String, usize)>>>;

async fn connection(
    target: Target,
    op: Op,
    deadline: Instant,
    sealed: Arc<Vec<Vec<u8>>>,
    made: Made,
    next: Arc<AtomicUsize>,
    worker: usize,
) -> Tally {
    let mut t = Tally::default();
    let mut n = worker;
    while Instant::now() < deadline {
        n += 1;
        // What this step works on, picked before the clock starts.
        let job = match op {
            Op::Create | Op::Static => None,
            Op::Meta | Op::Reveal => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let made = made.lock().expect("no panics while locked");
                if made.is_empty() || (op == Op::Reveal && i >= made.len()) {
                    break;
                }
                Some(made[i % made.len()].clone())
            }
        };
        let started = Instant::now();
        let outcome = match (op, job) {
            (Op::Create, _) => {
                let k = n % sealed.len();
                match target.create(&sealed[k]).await {
                    Ok(id) => {
                        let took = started.elapsed();
                        made.lock().expect("no panics while locked").push((id, k));
                        Ok(took)
                    }
                    Err(e) => Err(e),
                }
            }
            (Op::Meta, Some((id, _))) => target.meta(&id).await.map(|()| started.elapsed()),
            (Op::Reveal, Some((id, k))) => target
                .reveal(&id, &sealed[k])
                .await
                .map(|()| started.elapsed()),
            (Op::Static, _) => target.asset().await.map(|()| started.elapsed()),
            (Op::Meta | Op::Reveal, None) => break,
        };
        match outcome {
            Ok(took) => t.took.push(took),
            Err(e) => t.fail(format!("{}: {e:#}", op.name())),
        }
    }
    t
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// A wait longer than this is counted on its own (`@tail`): issue 15 bounds
/// what a purge may make a request wait at 100 ms.
const SLOW_MS: u64 = 100;

fn pick(samples: &[Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

async fn load(
    kind: Kind,
    server: &str,
    label: &str,
    conns: usize,
    seconds: f64,
    pid: Option<u32>,
    only: &[String],
) -> anyhow::Result<()> {
    if conns == 0 || seconds <= 0.0 {
        bail!("--conns and --seconds must be above 0");
    }
    // A few distinct ciphertexts, sealed before any clock starts.
    let sealed: Vec<Vec<u8>> = (0..64)
        .map(|n| link::seal(&sample_payload(n), None).map(|(c, _key)| c))
        .collect::<Result<_, _>>()?;
    let sealed = Arc::new(sealed);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(60))
        .build()?;
    let target = Target {
        http,
        base: server.trim_end_matches('/').to_owned(),
        kind,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());
    let made: Made = Arc::default();
    let mut ops = vec![Op::Create, Op::Meta, Op::Reveal];
    if kind == Kind::Handoff {
        ops.push(Op::Static);
    }
    if !only.is_empty() {
        ops.retain(|op| only.iter().any(|o| o == op.name()));
    }
    let mut failed = false;
    for op in ops {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..conns)
            .map(|w| {
                tokio::spawn(connection(
                    target.clone(),
                    op,
                    deadline,
                    sealed.clone(),
                    made.clone(),
                    next.clone(),
                    w * 1_000_003,
                ))
            })
            .collect();
        let mut total = Tally::default();
        for task in tasks {
            match task.await {
                Ok(t) => total.merge(t),
                Err(e) => total.fail(e),
            }
        }
        let elapsed = started.elapsed();
        total.took.sort_unstable();
        let rate = total.took.len() as f64 / elapsed.as_secs_f64();
        let (p50, p99) = (ms(pick(&total.took, 0.50)), ms(pick(&total.took, 0.99)));
        println!(
            "{label:<14} {:<6} {conns:>4} conns  {rate:>8.0} /s  p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  max {:>7.2} ms  errors {}",
            op.name(),
            ms(total.took.last().copied().unwrap_or_default()),
            total.errors,
        );
        println!(
            "@op\t{label}\t{}\t{conns}\t{rate:.1}\t{p50:.3}\t{p99:.3}\t{}\t{:.3}",
            op.name(),
            total.errors,
            ms(total.took.last().copied().unwrap_or_default()),
        );
        // The tail beyond p99: the purge's bound is on single waits.
        println!(
            "@tail\t{label}\t{}\t{conns}\t{:.3}\t{}",
            op.name(),
            ms(pick(&total.took, 0.999)),
            total
                .took
                .iter()
                .filter(|d| **d > Duration::from_millis(SLOW_MS))
                .count(),
        );
        if let Some(e) = total.first_error {
            eprintln!("{label} first error: {e}");
            failed = true;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await?;
    if pid.is_some() {
        println!(
            "{label} RSS under load at {conns} conns {:.1} MB at most (anonymous {:.1} MB)\n\
             @rssload\t{label}\t{conns}\t{}\t{}",
            mb(peak.total),
            mb(peak.anonymous),
            peak.total,
            peak.anonymous
        );
    }
    if failed {
        bail!("some requests failed");
    }
    Ok(())
}

fn fsync(dir: &std::path::Path, seconds: f64) -> anyhow::Result<()> {
    let path = dir.join("fsync-probe");
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        file.write_all(&block)?;
        file.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).ok();
    println!(
        "fsync: {rate:.0} write+fdatasync/s of 4 KiB in {}\n@fsync\t{rate:.1}",
        dir.display()
    );
    Ok(())
}

/// One `@op` line.
struct Cell {
    rate: f64,
    p50: f64,
    p99: f64,
    /// The longest wait, in ms.
    max: f64,
    /// p99.9 in ms and the waits over [`SLOW_MS`], from the `@tail` line.
    p999: f64,
    slow: u64,
}

impl Cell {
    /// One cell for the rounds of a cell (`BENCH_ROUNDS`): the median of
    /// each figure, the longest wait of all, the slow waits of all.
    fn median_of(rounds: &[Cell]) -> Cell {
        let median = |figure: fn(&Cell) -> f64| {
            let mut v: Vec<f64> = rounds.iter().map(figure).collect();
            v.sort_by(f64::total_cmp);
            match v.len() {
                0 => 0.0,
                n if n % 2 == 1 => v[n / 2],
                n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
            }
        };
        Cell {
            rate: median(|c| c.rate),
            p50: median(|c| c.p50),
            p99: median(|c| c.p99),
            max: rounds.iter().map(|c| c.max).fold(0.0, f64::max),
            p999: median(|c| c.p999),
            slow: rounds.iter().map(|c| c.slow).sum(),
        }
    }
}

/// The `@purge` line of a `BENCH_PURGE` run.
struct Purge {
    label: String,
    /// Expired secrets the file held.
    rows: u64,
    /// Seconds the creates ran for.
    load: f64,
    /// Seconds from the start of the load until the last expired secret was
    /// gone; `None` if it was not gone `BENCH_PURGE_WAIT` s after the load.
    took: Option<f64>,
}

fn summary(file: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)?;
    // Every round of each (label, op, conns), in the order they ran.
    let mut rounds: BTreeMap<(String, String, usize), Vec<Cell>> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::new();
    let mut conns_seen: BTreeSet<usize> = BTreeSet::new();
    let mut fsync: Option<f64> = None;
    let mut idle: BTreeMap<String, Resident> = BTreeMap::new();
    // The largest under load, per label and concurrency, in the first round.
    let mut loaded: BTreeMap<(String, usize), Resident> = BTreeMap::new();
    let mut purge: Option<Purge> = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["@op", label, op, conns, rate, p50, p99, _errors, max] => {
                let conns: usize = conns.parse()?;
                if !labels.iter().any(|l| l == label) {
                    labels.push((*label).to_owned());
                }
                conns_seen.insert(conns);
                rounds
                    .entry(((*label).to_owned(), (*op).to_owned(), conns))
                    .or_default()
                    .push(Cell {
                        rate: rate.parse()?,
                        p50: p50.parse()?,
                        p99: p99.parse()?,
                        max: max.parse()?,
                        p999: 0.0,
                        slow: 0,
                    });
            }
            ["@tail", label, op, conns, p999, slow] => {
                let key = ((*label).to_owned(), (*op).to_owned(), conns.parse()?);
                if let Some(cell) = rounds.get_mut(&key).and_then(|r| r.last_mut()) {
                    cell.p999 = p999.parse()?;
                    cell.slow = slow.parse()?;
                }
            }
            ["@purge", label, rows, load, took] => {
                purge = Some(Purge {
                    label: (*label).to_owned(),
                    rows: rows.parse()?,
                    load: load.parse()?,
                    took: Some(took.parse()?),
                });
            }
            ["@purge", label, rows, load] => {
                purge = Some(Purge {
                    label: (*label).to_owned(),
                    rows: rows.parse()?,
                    load: load.parse()?,
                    took: None,
                });
            }
            ["@fsync", rate] => fsync = Some(rate.parse()?),
            ["@rss", label, total, anonymous] => {
                let r = Resident {
                    total: total.parse()?,
                    anonymous: anonymous.parse()?,
                };
                idle.insert((*label).to_owned(), r);
            }
            ["@rssload", label, conns, total, anonymous] => {
                let r = Resident {
                    total: total.parse()?,
                    anonymous: anonymous.parse()?,
                };
                // The first round's: a later round starts with what the
                // server kept from the round before at 128 connections.
                loaded
                    .entry(((*label).to_owned(), conns.parse()?))
                    .or_insert(r);
            }
            _ => {}
        }
    }
    let cells: BTreeMap<(String, String, usize), Cell> = rounds
        .iter()
        .map(|(key, r)| (key.clone(), Cell::median_of(r)))
        .collect();
    let most_rounds = rounds.values().map(Vec::len).max().unwrap_or(0);
    if most_rounds > 1 {
        println!(
            "== summary: ops/s, p50 / p99 in ms; each the median of its {most_rounds} rounds =="
        );
    } else {
        println!("== summary: ops/s, p50 / p99 in ms ==");
    }
    println!(
        "{:<14} {:<6} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "server", "op", "conns", "ops/s", "p50", "p99", "p99/p50"
    );
    for label in &labels {
        for op in ["create", "meta", "reveal", "static"] {
            for &c in &conns_seen {
                if let Some(cell) = cells.get(&(label.clone(), op.to_owned(), c)) {
                    println!(
                        "{label:<14} {op:<6} {c:>5} {:>9.0} {:>9.2} {:>9.2} {:>9.1}",
                        cell.rate,
                        cell.p50,
                        cell.p99,
                        if cell.p50 > 0.0 {
                            cell.p99 / cell.p50
                        } else {
                            0.0
                        }
                    );
                }
            }
        }
    }
    println!(
        "== resident set (MB): idle, and the largest under load at each concurrency{}; \
         (in brackets) its anonymous part, heap and stacks; the rest is file-backed, \
         mostly the binary's code ==",
        if most_rounds > 1 {
            " in the first round"
        } else {
            ""
        }
    );
    for label in &labels {
        let show = |v: Option<&Resident>| {
            v.map_or("-".to_owned(), |r| {
                format!("{:.1} ({:.1})", mb(r.total), mb(r.anonymous))
            })
        };
        let mut line = format!("{label:<14} idle {:>12}", show(idle.get(label)));
        for &c in &conns_seen {
            line.push_str(&format!(
                "  {c} conns {:>12}",
                show(loaded.get(&(label.clone(), c)))
            ));
        }
        println!("{line}");
    }
    if let Some(fsync) = fsync {
        println!(
            "== creates/s ÷ single fsyncs/s ({fsync:.0}/s): above 1 means commits are grouped =="
        );
        for label in &labels {
            let line: Vec<String> = conns_seen
                .iter()
                .filter_map(|&c| {
                    cells
                        .get(&(label.clone(), "create".to_owned(), c))
                        .map(|cell| format!("{c} conns {:.2}", cell.rate / fsync))
                })
                .collect();
            println!("{label:<14} {}", line.join("  "));
        }
    }
    let full: Vec<&String> = labels.iter().filter(|l| l.ends_with("-full")).collect();
    if !full.is_empty() {
        if most_rounds > 1 {
            println!(
                "== p99 on a filled database ÷ p99 on an empty one (BENCH_ROWS): \
                 of the medians, and (in brackets) the lowest and highest of the rounds' own =="
            );
        } else {
            println!("== p99 on a filled database ÷ p99 on an empty one (BENCH_ROWS) ==");
        }
        for label in full {
            let empty = label.trim_end_matches("-full");
            for &c in &conns_seen {
                let ratio = |op: &str| {
                    let key = |l: &str| (l.to_owned(), op.to_owned(), c);
                    let (Some(f), Some(e)) = (cells.get(&key(label)), cells.get(&key(empty)))
                    else {
                        return "-".to_owned();
                    };
                    if e.p99 <= 0.0 {
                        return "-".to_owned();
                    }
                    let mut text = format!("{:.2}", f.p99 / e.p99);
                    // Round i of one beside round i of the other: they ran
                    // next to each other.
                    let per_round: Vec<f64> = rounds[&key(label)]
                        .iter()
                        .zip(&rounds[&key(empty)])
                        .filter(|(_, e)| e.p99 > 0.0)
                        .map(|(f, e)| f.p99 / e.p99)
                        .collect();
                    if per_round.len() > 1 {
                        let low = per_round.iter().copied().fold(f64::INFINITY, f64::min);
                        let high = per_round.iter().copied().fold(0.0, f64::max);
                        text.push_str(&format!(" ({low:.2}-{high:.2})"));
                    }
                    text
                };
                println!(
                    "{label:<14} {c:>4} conns  create {}  reveal {}  meta {}",
                    ratio("create"),
                    ratio("reveal"),
                    ratio("meta")
                );
            }
        }
    }
    if let Some(Purge {
        label,
        rows,
        load,
        took,
    }) = &purge
    {
        println!(
            "== creates on {rows} expired secrets, without a purge and while one runs (BENCH_PURGE) =="
        );
        match took {
            Some(s) => println!(
                "{label:<14} the purge took {s:.1} s from the start of the load (creates ran for the first {load} s)"
            ),
            None => println!(
                "{label:<14} the purge had not finished BENCH_PURGE_WAIT seconds after the load ended"
            ),
        }
        for l in [format!("{label}-off"), label.clone()] {
            let creates = cells
                .iter()
                .find(|((cl, op, _), _)| *cl == l && op == "create")
                .map(|(_, cell)| cell);
            if let Some(cell) = creates {
                println!(
                    "{l:<18} creates {:>6.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  p99.9 {:>7.2} ms  longest {:>7.2} ms  over {SLOW_MS} ms: {}",
                    cell.rate, cell.p50, cell.p99, cell.p999, cell.max, cell.slow
                );
            }
        }
    }
    if labels.iter().any(|l| l == "snappass") {
        println!(
            "== ÷ snappass at the same concurrency: creates/s, reveals/s, p99 create, p99 reveal =="
        );
        for label in labels.iter().filter(|l| *l != "snappass") {
            for &c in &conns_seen {
                let get = |l: &str, op: &str| cells.get(&(l.to_owned(), op.to_owned(), c));
                if let (Some(oc), Some(or), Some(sc), Some(sr)) = (
                    get(label, "create"),
                    get(label, "reveal"),
                    get("snappass", "create"),
                    get("snappass", "reveal"),
                ) {
                    println!(
                        "{label:<14} {c:>4} conns  creates {:.2}x  reveals {:.2}x  p99 create {:.2}x  p99 reveal {:.2}x",
                        oc.rate / sc.rate,
                        or.rate / sr.rate,
                        oc.p99 / sc.p99,
                        or.p99 / sr.p99,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Samples `pid`'s resident set every 20 ms until `stop`; yields the largest.
fn sample_rss(pid: Option<u32>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Resident> {
    tokio::spawn(async move {
        let mut peak = Resident::default();
        while !stop.load(Ordering::Relaxed) {
            if let Some(pid) = pid {
                peak = peak.max(Resident::of(pid).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak
    })
}

/// Bytes per second one TCP connection carries over loopback on this
/// machine (1 GiB through a socket pair in this process): the ceiling a
/// transfer's throughput is measured against.
async fn loopback_ceiling() -> anyhow::Result<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TOTAL: usize = 1 << 30;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < TOTAL {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            got += n;
        }
        anyhow::Ok(got)
    });
    let start = Instant::now();
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..TOTAL / chunk.len() {
        sock.write_all(&chunk).await?;
    }
    sock.shutdown().await?;
    let got = reader.await??;
    Ok(got as f64 / start.elapsed().as_secs_f64())
}

/// One transfer's sender: declares it, uploads every piece (the same age
/// file `piece`, 4 MiB of plaintext; the server stores bytes, not meaning)
/// one after the other and completes it. Yields the transfer's id and the
/// seconds the upload took.
async fn upload(
    http: &reqwest::Client,
    server: &str,
    manifest: &str,
    piece: &[u8],
    pieces: u64,
) -> anyhow::Result<(String, f64)> {
    let created: serde_json::Value = ok(http
        .post(format!("{server}/api/v1/transfers"))
        .json(&serde_json::json!({
            "manifest": manifest,
            "files": [{"pieces": pieces, "size": pieces * piece.len() as u64}],
            "expires_in": 3600,
        }))
        .send()
        .await?)
    .await?
    .json()
    .await?;
    let id = created["id"].as_str().context("no id")?.to_owned();
    let upload = created["upload_token"]
        .as_str()
        .context("no token")?
        .to_owned();
    let start = Instant::now();
    for p in 0..pieces {
        ok(http
            .put(format!("{server}/api/v1/transfers/{id}/files/0/pieces/{p}"))
            .bearer_auth(&upload)
            .header("content-type", "application/octet-stream")
            .body(piece.to_vec())
            .send()
            .await?)
        .await?;
    }
    ok(http
        .post(format!("{server}/api/v1/transfers/{id}/complete"))
        .bearer_auth(&upload)
        .send()
        .await?)
    .await?;
    Ok((id, start.elapsed().as_secs_f64()))
}

/// One transfer, sender and recipient: uploaded ([`upload`]), then
/// downloaded piece by piece. Yields the seconds the upload and the
/// download took.
async fn one_transfer(
    http: reqwest::Client,
    server: String,
    manifest: String,
    piece: Arc<Vec<u8>>,
    pieces: u64,
) -> anyhow::Result<(f64, f64)> {
    let (id, up) = upload(&http, &server, &manifest, &piece, pieces).await?;
    let claimed: serde_json::Value = ok(http
        .post(format!("{server}/api/v1/transfers/{id}/claim"))
        .send()
        .await?)
    .await?
    .json()
    .await?;
    let download = claimed["download_token"]
        .as_str()
        .context("no download token")?
        .to_owned();
    let start = Instant::now();
    for p in 0..pieces {
        let got = ok(http
            .get(format!("{server}/api/v1/transfers/{id}/files/0/pieces/{p}"))
            .bearer_auth(&download)
            .send()
            .await?)
        .await?
        .bytes()
        .await?;
        if got.len() != piece.len() {
            bail!(
                "piece {p} came back with {} bytes, not {}",
                got.len(),
                piece.len()
            );
        }
    }
    let down = start.elapsed().as_secs_f64();
    ok(http
        .post(format!("{server}/api/v1/transfers/{id}/finish"))
        .bearer_auth(&download)
        .send()
        .await?)
    .await?;
    Ok((up, down))
}

/// What each benchmark upload sends: one 4 MiB piece of age ciphertext
/// (to a throwaway recipient: the server checks its header, not its
/// contents), sent `pieces` times to make `mib` MiB, and a manifest.
struct Upload {
    piece: Arc<Vec<u8>>,
    /// Base64, as the declaration carries it.
    manifest: String,
    pieces: u64,
}

impl Upload {
    fn of(mib: u64) -> anyhow::Result<Upload> {
        let recipient = age::x25519::Identity::generate().to_public();
        Ok(Upload {
            piece: Arc::new(age::encrypt(&recipient, &vec![0x5a; 4 << 20])?),
            manifest: STANDARD.encode(age::encrypt(
                &recipient,
                br#"{"v":1,"files":[{"name":"bench.bin","size":0}]}"#,
            )?),
            pieces: mib.div_ceil(4).max(1),
        })
    }
}

async fn files(
    server: &str,
    label: &str,
    transfers: usize,
    mib: u64,
    pid: Option<u32>,
) -> anyhow::Result<()> {
    let ceiling = loopback_ceiling().await?;
    let Upload {
        piece,
        manifest,
        pieces,
    } = Upload::of(mib)?;
    let idle = pid.map(Resident::of).transpose()?.unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pid, stop.clone());
    let http = reqwest::Client::new();
    let start = Instant::now();
    let runs: Vec<_> = (0..transfers)
        .map(|_| {
            tokio::spawn(one_transfer(
                http.clone(),
                server.to_owned(),
                manifest.clone(),
                piece.clone(),
                pieces,
            ))
        })
        .collect();
    let (mut up, mut down) = (0f64, 0f64);
    for run in runs {
        let (u, d) = run.await??;
        up = up.max(u);
        down = down.max(d);
    }
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.await?;
    let bytes = (transfers as u64 * pieces * piece.len() as u64) as f64;
    let mbs = |b: f64, s: f64| b / s / 1e6;
    println!(
        "{label} files: {transfers} x {mib} MiB: upload {:.0} MB/s, download {:.0} MB/s \
         (loopback ceiling {:.0} MB/s on one connection); server RSS {:.1} MB idle, \
         {:.1} MB at most; {wall:.1} s in all",
        mbs(bytes, up),
        mbs(bytes, down),
        ceiling / 1e6,
        mb(idle.total),
        mb(peak.total)
    );
    println!(
        "@files\t{label}\t{transfers}\t{mib}\t{:.0}\t{:.0}\t{:.0}\t{}\t{}",
        mbs(bytes, up),
        mbs(bytes, down),
        ceiling / 1e6,
        idle.total,
        peak.total
    );
    Ok(())
}

/// Creates on `conns` connections until `stop`: every latency and error.
async fn creates_until(
    target: &Target,
    conns: usize,
    sealed: &Arc<Vec<Vec<u8>>>,
    stop: &Arc<AtomicBool>,
) -> Tally {
    let tasks: Vec<_> = (0..conns)
        .map(|w| {
            let (target, sealed, stop) = (target.clone(), sealed.clone(), stop.clone());
            tokio::spawn(async move {
                let mut t = Tally::default();
                let mut n = w * 1_000_003;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let started = Instant::now();
                    match target.create(&sealed[n % sealed.len()]).await {
                        Ok(_) => t.took.push(started.elapsed()),
                        Err(e) => t.fail(format!("create: {e:#}")),
                    }
                }
                t
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok(t) => total.merge(t),
            Err(e) => total.fail(e),
        }
    }
    total.took.sort_unstable();
    total
}

/// Creates per second, p50, p99 and the longest wait (ms) of `t` over `seconds`.
fn figures(t: &Tally, seconds: f64) -> (f64, f64, f64, f64) {
    (
        t.took.len() as f64 / seconds,
        ms(pick(&t.took, 0.50)),
        ms(pick(&t.took, 0.99)),
        ms(t.took.last().copied().unwrap_or_default()),
    )
}

async fn uploads(
    server: &str,
    label: &str,
    conns: usize,
    seconds: f64,
    transfers: usize,
    mib: u64,
) -> anyhow::Result<()> {
    if conns == 0 || seconds <= 0.0 || transfers == 0 {
        bail!("--conns, --seconds and --transfers must be above 0");
    }
    let sealed: Vec<Vec<u8>> = (0..64)
        .map(|n| link::seal(&sample_payload(n), None).map(|(c, _key)| c))
        .collect::<Result<_, _>>()?;
    let sealed = Arc::new(sealed);
    let target = Target {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(conns)
            .timeout(Duration::from_secs(60))
            .build()?,
        base: server.trim_end_matches('/').to_owned(),
        kind: Kind::Handoff,
    };
    let Upload {
        piece,
        manifest,
        pieces,
    } = Upload::of(mib)?;

    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let started = Instant::now();
    let alone = creates_until(&target, conns, &sealed, &stop).await;
    let alone_secs = started.elapsed().as_secs_f64();
    timer.await?;

    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let started = Instant::now();
    let senders: Vec<_> = (0..transfers)
        .map(|_| {
            let (http, server, manifest, piece) = (
                http.clone(),
                target.base.clone(),
                manifest.clone(),
                piece.clone(),
            );
            tokio::spawn(async move { upload(&http, &server, &manifest, &piece, pieces).await })
        })
        .collect();
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut result = Ok(());
            for sender in senders {
                match sender.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(e) => result = Err(e.into()),
                }
            }
            stop.store(true, Ordering::Relaxed);
            result
        })
    };
    let during = creates_until(&target, conns, &sealed, &stop).await;
    let during_secs = started.elapsed().as_secs_f64();
    watcher.await??;

    let bytes = (transfers as u64 * pieces * piece.len() as u64) as f64;
    let (a, d) = (figures(&alone, alone_secs), figures(&during, during_secs));
    println!(
        "{label:<14} creates alone        {conns:>4} conns {:>8.0} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        a.0, a.1, a.2, a.3
    );
    println!(
        "{label:<14} creates during {transfers} x {mib} MiB uploads ({:.0} MB/s, {during_secs:.1} s): {:>8.0} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        bytes / during_secs / 1e6,
        d.0,
        d.1,
        d.2,
        d.3
    );
    let ratio = |during: f64, alone: f64| if alone > 0.0 { during / alone } else { 0.0 };
    println!(
        "{label:<14} during ÷ alone: creates/s {:.2}  p50 {:.1}x  p99 {:.1}x  max {:.1}x",
        ratio(d.0, a.0),
        ratio(d.1, a.1),
        ratio(d.2, a.2),
        ratio(d.3, a.3)
    );
    println!(
        "@uploads\t{label}\t{transfers}\t{mib}\t{conns}\t{:.1}\t{:.3}\t{:.3}\t{:.3}\t{:.1}\t{:.3}\t{:.3}\t{:.3}",
        a.0, a.1, a.2, a.3, d.0, d.1, d.2, d.3
    );
    if let Some(e) = alone.first_error.or(during.first_error) {
        bail!("some creates failed: {e}");
    }
    Ok(())
}
