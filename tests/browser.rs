//! Browser tests: the real `handoff` binary, driven by the system Chromium.
//!
//! Each test starts `handoff serve` on a free port with its own SQLite file and
//! log in a temporary directory, then runs scripts from `tests/browser/*.mjs`
//! (Node.js with npm `playwright-core`) that act as the admin and the
//! recipient would. A script prints one JSON object on its last stdout line;
//! the checks that need the server's side (its database, its log, the API)
//! are made here.
//!
//! Needs Node.js, `npm ci` (for playwright-core) and Chromium at
//! `/usr/bin/chromium` (or `HANDOFF_CHROMIUM`). Without them these tests fail
//! and say so: run `.ci/run`, or `apt-get install chromium`.

mod common;
mod oidc_provider;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// The server under test

/// A running `handoff serve` ([`common::ServerProcess`]) with its own
/// directory for the database and the log, killed when dropped.
struct Server {
    process: common::ServerProcess,
    port: u16,
    base: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[])
    }

    /// Logging everything it can (`RUST_LOG=trace`), for tests that search the log.
    fn start_tracing(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[("RUST_LOG", "trace")])
    }

    fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = format!("sqlite://{}", dir.path().join("handoff.db").display());
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        let process = runtime.block_on(common::ServerProcess::start_with(
            &db,
            dir.path(),
            extra,
            env,
        ));
        let base = process.base.clone();
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the base URL");
        Server {
            process,
            port,
            base,
            dir,
        }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("handoff.db")
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.process.log).unwrap_or_default()
    }

    /// The log without its terminal colours, to search for what it records.
    fn plain_log(&self) -> String {
        let log = self.log();
        let mut out = String::with_capacity(log.len());
        let mut chars = log.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // CSI: ESC '[' parameters, ended by a letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `(status, body)` of a plain HTTP/1.1 request; `host` overrides the Host header.
    fn request(&self, method: &str, path: &str, host: Option<&str>) -> (u16, String) {
        self.try_request(method, path, host)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        host: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let host = host.map_or_else(|| format!("127.0.0.1:{}", self.port), str::to_owned);
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )?;
        let mut raw = vec![];
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_owned();
        Ok((status, body))
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, None)
    }

    /// Status of the metadata endpoint, which never consumes.
    fn meta_status(&self, id: &str) -> u16 {
        self.get(&format!("/api/v1/secrets/{id}")).0
    }

    /// The bytes of every file the server wrote: the database, its WAL, the log.
    fn files_on_disk(&self) -> Vec<(String, Vec<u8>)> {
        let db = self.db_path();
        assert!(db.exists(), "no database file at {}", db.display());
        let mut files = vec![];
        for entry in fs::read_dir(self.dir.path()).expect("read the temporary directory") {
            let path = entry.expect("directory entry").path();
            files.push((
                path.display().to_string(),
                fs::read(&path).expect("read a server file"),
            ));
        }
        assert!(
            files.iter().any(|(n, _)| n.ends_with("handoff.db-wal")),
            "no WAL file: is SQLite not in WAL mode?"
        );
        files
    }

    /// Fails if any of `needles` appears in the database, its WAL or the log.
    fn assert_nothing_on_disk(&self, needles: &[(&str, &str)]) {
        for (name, bytes) in self.files_on_disk() {
            for (what, needle) in needles {
                assert!(!needle.is_empty());
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "the {what} is in plaintext in {name}"
                );
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// The browser scripts and the CLI

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails, with what to do, when the browser tests cannot run here.
fn require_browser() {
    let chromium =
        std::env::var("HANDOFF_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is not installed at {chromium}; the browser tests need it: run .ci/run, or `apt-get install chromium` \
         (or point HANDOFF_CHROMIUM at a Chromium binary)"
    );
    assert!(
        repo()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "npm package playwright-core is missing: run `npm ci` in {} (or .ci/run)",
        repo().display()
    );
}

/// Runs `tests/browser/{script}` with `env` and returns its JSON result.
fn node(script: &str, env: &[(&str, &str)]) -> Value {
    require_browser();
    let out = Command::new("node")
        .arg(repo().join("tests/browser").join(script))
        .envs(env.iter().copied())
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}); the browser tests need Node.js 20+: run .ci/run")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stderr}\n--- stdout:\n{stdout}",
        out.status
    );
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} did not end with JSON ({e}): {stdout}"))
}

/// Runs the `handoff` binary with `stdin`.
fn handoff(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(args)
        .env_remove("HANDOFF_PASSPHRASE")
        .env_remove("HANDOFF_SERVER")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run target/debug/handoff");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("handoff output")
}

fn handoff_ok(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> String {
    let out = handoff(args, stdin, env);
    assert!(
        out.status.success(),
        "handoff {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `handoff send` of a text secret; returns the link.
fn cli_send_text(server: &Server, text: &str, passphrase: Option<&str>) -> String {
    let mut args = vec!["send", "--server", &server.base];
    let mut env = vec![];
    if let Some(p) = passphrase {
        args.push("--passphrase");
        env.push(("HANDOFF_PASSPHRASE", p));
    }
    handoff_ok(&args, text, &env).trim().to_owned()
}

/// The id and the key (fragment) of a link.
fn split_link(link: &str) -> (String, String) {
    let (url, fragment) = link
        .split_once('#')
        .unwrap_or_else(|| panic!("no key in {link}"));
    let id = url
        .rsplit_once("/s/")
        .unwrap_or_else(|| panic!("no id in {link}"))
        .1;
    (id.to_owned(), fragment.to_owned())
}

fn path_of(server: &Server, link: &str) -> String {
    link.strip_prefix(&server.base)
        .unwrap_or_else(|| panic!("{link} is not on {}", server.base))
        .to_owned()
}

// ---------------------------------------------------------------------------
// Fresh values for every run, so that a leak cannot hide behind a constant

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("/dev/urandom");
    b
}

fn random_hex(bytes: usize) -> String {
    random_bytes::<32>()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_guid() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A client secret of the current shape: 3 characters, a digit, `Q~`, 34 more.
fn random_client_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    let r = random_bytes::<35>();
    let tail: String = r[1..]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("Ab1{}Q~{tail}", r[0] % 10)
}

fn in_six_months() -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(180);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Today's date `months` later (the 28th when the day does not exist there).
fn months_ahead(months: i32) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let total = today.year() * 12 + i32::from(u8::from(today.month())) - 1 + months;
    let month = u8::try_from(total.rem_euclid(12) + 1).expect("a month");
    format!(
        "{:04}-{month:02}-{:02}",
        total.div_euclid(12),
        today.day().min(28)
    )
}

/// What the form must say, step by step, for HANDOFF_EXPECT_FINDINGS: a
/// 36-month expiry, then the old portal's "never", each a warning that says it
/// is accepted.
fn long_expiry_findings() -> String {
    json!([
        {
            "set": { "secret_expires_on": months_ahead(36) },
            "field": "secret_expires_on", "level": "warning",
            "text": "This secret is valid for more than 24 months. That is accepted",
        },
        {
            "set": { "secret_expires_on": "2299-12-31" },
            "field": "secret_expires_on", "level": "warning",
            "text": "2299-12-31 means this secret never expires",
        },
    ])
    .to_string()
}

/// `link` as a mail gateway that rewrites its `#` to `%23` passes it on.
fn escape_fragment(link: &str) -> String {
    link.replacen('#', "%23", 1)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn browser_entra_round_trip_leaves_no_plaintext_on_server() {
    let server = Server::start();
    let (tenant, client, secret) = (random_guid(), random_guid(), random_client_secret());
    let secret_id = random_guid();
    let expires = in_six_months();
    let note = format!("collector-{}", random_hex(6));
    let fields = json!({
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": expires, "cloud": "gcc-high",
    })
    .to_string();
    let first_try = json!({ "client_secret": secret_id }).to_string();

    // The Secret ID pasted as the secret is refused in the page, without a request.
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "entra-app"),
            ("HANDOFF_FIELDS", &fields),
            ("HANDOFF_NOTE", &note),
            ("HANDOFF_FIRST_TRY", &first_try),
            (
                "HANDOFF_FIRST_TRY_FINDING",
                "client_secret:error:This is the Secret ID, not the secret.",
            ),
        ],
    );
    assert_eq!(created["refused_first"], true);
    let link = s(&created, "link");
    let (id, key) = split_link(link);
    assert!(
        key.starts_with("AGE-SECRET-KEY-1"),
        "unexpected key form: {key}"
    );
    assert!(link.starts_with(&format!("{}/s/", server.base)));

    // What went over the wire is ciphertext and metadata, nothing else.
    let upload: Value = serde_json::from_str(s(&created, "upload")).expect("upload JSON");
    assert_eq!(upload["template"], "entra-app");
    assert_eq!(upload["passphrase"], false);
    let ciphertext = STANDARD
        .decode(s(&upload, "ciphertext"))
        .expect("standard base64 with padding");
    assert!(
        ciphertext.starts_with(b"age-encryption.org/v1\n-> X25519 "),
        "not a binary X25519 age file"
    );
    let plaintexts = [
        ("client secret", secret.as_str()),
        ("tenant ID", tenant.as_str()),
        ("client ID", client.as_str()),
        ("note", note.as_str()),
        ("link key", key.as_str()),
    ];
    let body = s(&created, "upload");
    for (what, value) in plaintexts {
        assert!(
            !body.contains(value),
            "the upload carries the {what} in plaintext"
        );
    }

    // The ciphertext reached the server's disk: the search below can find bytes there.
    assert!(
        server.log().contains("secret created"),
        "the log does not show the upload:\n{}",
        server.log()
    );
    assert!(
        server
            .files_on_disk()
            .iter()
            .any(|(_, bytes)| contains(bytes, &ciphertext)),
        "the uploaded ciphertext is not in the database or its WAL, so the leak search proves nothing"
    );
    server.assert_nothing_on_disk(&plaintexts);

    // The recipient, in another browser: the interstitial, then the values, exactly.
    let revealed = node(
        "reveal.mjs",
        &[("HANDOFF_LINK", link), ("HANDOFF_EXPECT", "revealed")],
    );
    let got = &revealed["fields"];
    assert_eq!(
        got,
        &json!({
            "tenant_id": tenant, "client_id": client, "client_secret": secret,
            "secret_expires_on": expires, "cloud": "gcc-high", "note": note,
        })
    );
    assert_eq!(
        revealed["hash_after"], "",
        "the key stayed in the address bar"
    );
    assert_eq!(revealed["gone_after_reload"], true);

    // Read once: the link is gone for everyone after that.
    node(
        "reveal.mjs",
        &[("HANDOFF_LINK", link), ("HANDOFF_EXPECT", "gone")],
    );
    assert_eq!(server.meta_status(&id), 404);
    assert!(server.log().contains("secret revealed"));
    server.assert_nothing_on_disk(&plaintexts);
}

#[test]
fn browser_az_json_paste_fills_fields() {
    let server = Server::start();
    let (tenant, client, secret) = (random_guid(), random_guid(), random_client_secret());
    // As `az ad app credential reset` prints it (newer versions add displayName).
    let az = format!(
        "{{\n  \"appId\": \"{client}\",\n  \"displayName\": \"log-collector\",\n  \"password\": \"{secret}\",\n  \"tenant\": \"{tenant}\"\n}}\n"
    );
    // Copied from the terminal together with the warning az prints first.
    let with_warning = format!(
        "WARNING: The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control. For more information, see https://aka.ms/azadsp-cli\n{az}"
    );
    for (target, pasted) in [
        ("client_secret", &az),
        ("tenant_id", &az),
        ("client_secret", &with_warning),
    ] {
        let out = node(
            "az-paste.mjs",
            &[
                ("HANDOFF_URL", &server.base),
                ("HANDOFF_AZ_JSON", pasted),
                ("HANDOFF_PASTE_INTO", target),
            ],
        );
        assert_eq!(
            out["fields"],
            json!({ "tenant_id": tenant, "client_id": client, "client_secret": secret }),
            "pasting into {target}"
        );
        assert_eq!(
            out["findings"],
            json!({ "tenant_id": "", "client_id": "", "client_secret": "" }),
            "pasting into {target}"
        );
    }
}

/// Seconds since 1970, as the server's clock counts.
fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("a time that fits")
}

/// A request for `template` opened through the store at `created_at`, open for `expires_in` seconds.
fn open_request(
    server: &Server,
    created_at: i64,
    expires_in: i64,
    template: &str,
) -> common::flow::Opened {
    let db = format!("sqlite://{}", server.db_path().display());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = handoff::store::Store::connect(&db)
            .await
            .expect("the database");
        let r = common::flow::open_request_for(&store, created_at, expires_in, template).await;
        store.close().await;
        r
    })
}

/// A request whose collector's check failed with `why`, in the server's database.
fn failed_request(server: &Server, at: i64, why: &str) -> common::flow::Opened {
    let db = format!("sqlite://{}", server.db_path().display());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = handoff::store::Store::connect(&db)
            .await
            .expect("the database");
        let r = common::flow::failed_request(&store, at, why).await;
        store.close().await;
        r
    })
}

/// Adds the staff user `name` through the CLI; returns its fresh password.
fn add_staff(server: &Server, name: &str) -> String {
    let db = format!("sqlite://{}", server.db_path().display());
    let password = format!("pw-{}", random_hex(12));
    handoff_ok(
        &["user", "add", name, "--database-url", &db],
        "",
        &[("HANDOFF_PASSWORD", &password)],
    );
    password
}

#[test]
fn browser_az_commands_follow_the_cloud_the_customer_picks() {
    let server = Server::start();
    let request = open_request(&server, unix_now(), 86_400, "defender-incidents");
    let out = node(
        "az-cloud.mjs",
        &[(
            "HANDOFF_REQUEST_URL",
            &format!("{}/r/{}", server.base, request.id),
        )],
    );
    // No China: Graph security incidents and alerts do not exist there.
    assert_eq!(
        out["options"],
        json!(["commercial", "gcc", "gcc-high", "dod"])
    );
    assert_eq!(out["shown"]["initial"], json!(["commercial"]));
    let template = handoff::integration::Integrations::builtin()
        .get("defender-incidents")
        .cloned()
        .expect("a built-in template");
    for cloud in ["commercial", "gcc", "gcc-high", "dod"] {
        assert_eq!(
            out["shown"][cloud],
            json!([cloud]),
            "after choosing {cloud}"
        );
        let expected = handoff::integration::Cloud::parse(cloud)
            .and_then(|c| template.az_script(c))
            .expect("a script");
        assert_eq!(
            s(&out["scripts"], cloud).trim_end(),
            expected.trim_end(),
            "{cloud}"
        );
        let powershell = handoff::integration::Cloud::parse(cloud)
            .and_then(|c| template.az_script_in(c, handoff::integration::Shell::PowerShell))
            .expect("a PowerShell script");
        assert_eq!(
            s(&out["powershell"], cloud).trim_end(),
            powershell.trim_end(),
            "{cloud}"
        );
        assert!(powershell.contains("run in PowerShell"), "{powershell}");
    }
    assert!(s(&out["scripts"], "dod").contains("az cloud set --name AzureUSGovernment"));
    // Copy puts exactly the visible commands on the clipboard.
    assert_eq!(
        out["copy"],
        json!({"label": "Copied", "same": true}),
        "{out}"
    );
    assert_eq!(out["copy_powershell"], json!({"same": true}), "{out}");
    // Show reveals the pasted secret on request, and hides it again.
    assert_eq!(
        out["show"],
        json!({
            "before": {"type": "password", "label": "Show", "pressed": "false"},
            "shown": {"type": "text", "label": "Hide", "pressed": "true"},
            "value": "Abc8Q~pastedValue",
            "hidden": {"type": "password", "label": "Show", "pressed": "false"},
        })
    );
}

#[test]
fn browser_wrong_passphrase_never_burns() {
    let server = Server::start();
    let text = format!("text-secret-{}", random_hex(12));
    let passphrase = format!("pass-{}", random_hex(6));
    let wrong = format!("not-{passphrase}");
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "text"),
            ("HANDOFF_FIELDS", &json!({ "text": text }).to_string()),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    let link = s(&created, "link");
    let (id, key) = split_link(link);
    assert!(
        key.starts_with("p1."),
        "a passphrase link must carry a locked key, not {key}"
    );
    let upload: Value = serde_json::from_str(s(&created, "upload")).expect("upload JSON");
    assert_eq!(upload["passphrase"], true);

    // A wrong passphrase is refused in the browser; no reveal request is sent.
    node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", link),
            ("HANDOFF_EXPECT", "wrong-passphrase"),
            ("HANDOFF_WRONG_PASSPHRASE", &wrong),
        ],
    );
    let (status, meta) = server.get(&format!("/api/v1/secrets/{id}"));
    assert_eq!(status, 200, "a wrong passphrase used up the link: {meta}");
    assert!(meta.contains("\"passphrase\":true"), "{meta}");

    // Wrong once more, then right, on the same page: the text appears.
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", link),
            ("HANDOFF_EXPECT", "revealed"),
            ("HANDOFF_WRONG_PASSPHRASE", &wrong),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));
    assert_eq!(server.meta_status(&id), 404);
    server.assert_nothing_on_disk(&[
        ("text", &text),
        ("passphrase", &passphrase),
        ("locked key", &key),
    ]);
}

/// A frame report from `watchFrames` (tests/browser/lib.mjs) shows the
/// progress bar and no freeze: without the worker, scrypt holds the page's
/// thread, so one pause between frames takes most of the wait.
fn assert_progress_without_freeze(frames: &Value, what: &str) {
    let gap = frames["max_gap_ms"].as_u64().expect("max_gap_ms");
    let elapsed = frames["elapsed_ms"].as_u64().expect("elapsed_ms");
    eprintln!("{what}: {elapsed} ms in all, longest pause between frames {gap} ms");
    assert_eq!(
        frames["saw_progress"], true,
        "{what}: no progress bar: {frames}"
    );
    assert!(
        gap * 2 < elapsed,
        "{what}: the page froze for {gap} ms of {elapsed} ms: {frames}"
    );
}

#[test]
fn browser_passphrase_links_are_compact_and_show_progress_without_freezing() {
    let server = Server::start();
    let timing = node("lock-timing.mjs", &[("HANDOFF_URL", &server.base)]);
    eprintln!(
        "scrypt in Chromium here: work factor {} locks in {} ms and unlocks in {} ms (the older 18: {} ms); \
         key after '#': {} characters (the older form: {})",
        timing["work_factor"],
        timing["lock_ms"],
        timing["unlock_ms"],
        timing["older_lock_ms"],
        timing["compact_length"],
        timing["older_length"]
    );
    assert_eq!(timing["work_factor"], 16);
    // 3 for "p1.", then 145 bytes: header parts 81, nonce 16, identity 32 + tag 16.
    assert_eq!(timing["compact_length"], 3 + 194);

    let text = format!("quick-lock-{}", random_hex(10));
    let passphrase = format!("pass-{}", random_hex(6));
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "text"),
            ("HANDOFF_FIELDS", &json!({ "text": text }).to_string()),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    let link = s(&created, "link");
    let (_, key) = split_link(link);
    assert!(key.starts_with("p1."), "{key}");
    assert_eq!(key.len(), 3 + 194, "{key}");
    eprintln!("a passphrase link: {} characters", link.len());
    assert_progress_without_freeze(&created["lock_frames"], "locking on the create page");

    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", link),
            ("HANDOFF_EXPECT", "revealed"),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));
    assert_progress_without_freeze(&revealed["unlock_frames"], "unlocking on the reveal page");
}

/// `link` (with the identity after '#') as builds before the compact form
/// locked it: the identity's text in a whole age file, scrypt work factor 18.
fn older_locked_link(link: &str, passphrase: &str) -> String {
    let (head, identity) = link.split_once('#').expect("a key");
    let mut recipient =
        age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(18);
    let file = age::encrypt(&recipient, identity.as_bytes()).expect("age encrypts");
    format!("{head}#scrypt.{}", URL_SAFE_NO_PAD.encode(file))
}

#[test]
fn older_passphrase_links_still_open_in_browser_and_cli() {
    let server = Server::start();
    let passphrase = format!("old-pass-{}", random_hex(6));

    let text = format!("older-link-{}", random_hex(10));
    let link = older_locked_link(&cli_send_text(&server, &text, None), &passphrase);
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", &link),
            ("HANDOFF_EXPECT", "revealed"),
            ("HANDOFF_WRONG_PASSPHRASE", "wrong"),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));

    let text = format!("older-link-cli-{}", random_hex(10));
    let link = older_locked_link(&cli_send_text(&server, &text, None), &passphrase);
    let out = handoff_ok(&["get", &link], "", &[("HANDOFF_PASSPHRASE", &passphrase)]);
    assert_eq!(out, text);
}

#[test]
fn browser_link_made_by_cli_opens_in_browser() {
    let server = Server::start();

    let text = format!("from-the-cli-{}", random_hex(10));
    let link = cli_send_text(&server, &text, None);
    let revealed = node(
        "reveal.mjs",
        &[("HANDOFF_LINK", &link), ("HANDOFF_EXPECT", "revealed")],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));

    let text = format!("locked-by-the-cli-{}", random_hex(10));
    let passphrase = format!("cli-pass-{}", random_hex(6));
    let link = cli_send_text(&server, &text, Some(&passphrase));
    assert!(split_link(&link).1.starts_with("p1."), "{link}");
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", &link),
            ("HANDOFF_EXPECT", "revealed"),
            ("HANDOFF_WRONG_PASSPHRASE", "wrong"),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));

    let (tenant, client, secret, expires) = (
        random_guid(),
        random_guid(),
        random_client_secret(),
        in_six_months(),
    );
    let f = |k: &str, v: &str| format!("{k}={v}");
    let (a, b, c, d) = (
        f("tenant_id", &tenant),
        f("client_id", &client),
        f("client_secret", &secret),
        f("secret_expires_on", &expires),
    );
    let link = handoff_ok(
        &[
            "send",
            "--server",
            &server.base,
            "--template",
            "entra-app",
            "--note",
            "via cli",
            "--field",
            &a,
            "--field",
            &b,
            "--field",
            &c,
            "--field",
            &d,
        ],
        "",
        &[],
    );
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", link.trim()),
            ("HANDOFF_EXPECT", "revealed"),
        ],
    );
    assert_eq!(
        revealed["fields"],
        json!({
            "tenant_id": tenant, "client_id": client, "client_secret": secret,
            "secret_expires_on": expires, "cloud": "commercial", "note": "via cli",
        })
    );
}

#[test]
fn cli_reads_link_made_in_browser() {
    let server = Server::start();

    let text = format!("from-the-browser-{}", random_hex(10));
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "text"),
            ("HANDOFF_FIELDS", &json!({ "text": text }).to_string()),
        ],
    );
    assert_eq!(handoff_ok(&["get", s(&created, "link")], "", &[]), text);

    let (tenant, client, secret, expires) = (
        random_guid(),
        random_guid(),
        random_client_secret(),
        in_six_months(),
    );
    let passphrase = format!("browser-pass-{}", random_hex(6));
    let fields = json!({
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": expires, "cloud": "dod",
    });
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "entra-app"),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_PASSPHRASE", &passphrase),
        ],
    );
    let link = s(&created, "link");
    let (id, _) = split_link(link);

    // The CLI refuses a wrong passphrase before revealing, too.
    let wrong = handoff(&["get", link], "", &[("HANDOFF_PASSPHRASE", "wrong")]);
    assert!(!wrong.status.success());
    assert_eq!(server.meta_status(&id), 200);

    let out = handoff_ok(
        &["get", "--json", link],
        "",
        &[("HANDOFF_PASSPHRASE", &passphrase)],
    );
    let payload: Value = serde_json::from_str(&out).expect("payload JSON");
    assert_eq!(
        payload,
        json!({ "v": 1, "template": "entra-app", "fields": fields })
    );
    assert_eq!(server.meta_status(&id), 404);
}

#[test]
fn browser_scanner_preview_does_not_consume() {
    let server = Server::start();
    let text = format!("scanned-{}", random_hex(10));
    let link = cli_send_text(&server, &text, None);
    let (id, _) = split_link(&link);
    let page = format!("/s/{id}");

    // Mail scanners and unfurlers fetch, and fetch again; none of it counts.
    for _ in 0..3 {
        let (status, body) = server.get(&page);
        assert_eq!(status, 200);
        assert!(
            body.contains("id=\"reveal-button\""),
            "the interstitial has no Reveal button"
        );
        assert!(!body.contains(&text));
        assert_eq!(server.request("HEAD", &page, None).0, 200);
        assert_eq!(server.meta_status(&id), 200);
    }
    // A browser that loads the page (with and without its key) and clicks nothing.
    node(
        "reveal.mjs",
        &[("HANDOFF_LINK", &link), ("HANDOFF_EXPECT", "interstitial")],
    );
    node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", &format!("{}{page}", server.base)),
            ("HANDOFF_EXPECT", "missing-key"),
        ],
    );
    assert_eq!(
        server.meta_status(&id),
        200,
        "a page load consumed the link"
    );

    let revealed = node(
        "reveal.mjs",
        &[("HANDOFF_LINK", &link), ("HANDOFF_EXPECT", "revealed")],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));
    assert_eq!(server.get(&page).0, 404);
    assert_eq!(server.request("HEAD", &page, None).0, 404);
}

#[test]
fn plain_http_on_remote_host_explains_https_is_needed() {
    let server = Server::start();
    let link = cli_send_text(&server, "not over plain http", None);
    let (id, _) = split_link(&link);
    let secret_path = path_of(&server, &link);

    // The server already says so in the page it renders for a remote host name...
    let remote = format!("handoff.test:{}", server.port);
    let (_, html) = server.request("GET", "/", Some(&remote));
    assert!(
        html.contains("<div id=\"insecure-banner\" class=\"banner danger\">"),
        "banner hidden for {remote}"
    );
    let (_, html) = server.get("/");
    assert!(
        html.contains("<div id=\"insecure-banner\" class=\"banner danger\" hidden>"),
        "banner shown for 127.0.0.1"
    );

    // ...and the browser, where WebCrypto is missing, switches the forms off.
    let insecure = node(
        "insecure.mjs",
        &[
            ("HANDOFF_URL", &format!("http://{remote}")),
            ("HANDOFF_HOST_RULES", "MAP handoff.test 127.0.0.1"),
            ("HANDOFF_EXPECT_SECURE", "0"),
            ("HANDOFF_SECRET_PATH", &secret_path),
        ],
    );
    assert_eq!(insecure["secure_context"], false);
    assert!(s(&insecure["create"], "banner_text").contains("not served over HTTPS"));
    let local = node(
        "insecure.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_EXPECT_SECURE", "1"),
            ("HANDOFF_SECRET_PATH", &secret_path),
        ],
    );
    assert_eq!(local["create"]["banner"], false);
    assert_eq!(
        server.meta_status(&id),
        200,
        "the insecure page consumed the link"
    );
}

#[test]
fn browser_pages_have_no_csp_violations() {
    let server = Server::start();
    let out = node("csp.mjs", &[("HANDOFF_URL", &server.base)]);
    let pages = out["pages"].as_array().expect("pages");
    let names: Vec<&str> = pages.iter().map(|p| s(p, "name")).collect();
    assert_eq!(
        names,
        [
            "create",
            "reveal",
            "gone",
            "missing key",
            "status",
            "not found"
        ]
    );
    for p in pages {
        for key in ["console_errors", "csp", "page_errors"] {
            assert_eq!(p[key], json!([]), "{}: {key}", s(p, "name"));
        }
    }
}

#[test]
fn browser_refuses_oversized_secret_before_upload() {
    let server = Server::start_with(&["--max-secret-bytes", "1024"]);
    let text = "x".repeat(4000);
    let out = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "text"),
            ("HANDOFF_FIELDS", &json!({ "text": text }).to_string()),
            ("HANDOFF_EXPECT_ERROR", "too large to send"),
        ],
    );
    assert_eq!(out["uploads"], 0);
    assert!(
        s(&out, "form_error").contains("1,024") || s(&out, "form_error").contains("1024"),
        "{out}"
    );
    assert!(!server.log().contains("secret created"));
}

/// The sealed copy of the only answered request, read from the database file.
fn sealed_copy_on_disk(server: &Server) -> Vec<u8> {
    let url = format!("sqlite://{}", server.db_path().display());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = handoff::store::Store::connect(&url)
            .await
            .expect("open the database");
        let handoff::store::Store::Sqlite(handoff::store::Sqlite { pool, .. }) = &store else {
            unreachable!("the browser tests run on SQLite")
        };
        let copy: Vec<u8> =
            sqlx::query_scalar("SELECT ciphertext FROM request_copies WHERE kind = 'sealed'")
                .fetch_one(pool)
                .await
                .expect("one sealed copy");
        store.close().await;
        copy
    })
}

#[test]
fn browser_request_round_trip_staff_customer_pm() {
    let soc = age::x25519::Identity::generate();
    let soc_recipient = soc.to_public().to_string();
    let server = Server::start_with(&["--soc-recipients", &soc_recipient]);
    let db = format!("sqlite://{}", server.db_path().display());
    let password = add_staff(&server, "pm");

    let (tenant, client, secret) = (random_guid(), random_guid(), random_client_secret());
    let expires = in_six_months();
    let fields = json!({
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": expires, "cloud": "commercial",
    });
    let customer = format!("Contoso {}", random_hex(3));
    let out = node(
        "request-flow.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            ("HANDOFF_CUSTOMER", &customer),
            ("HANDOFF_TEMPLATE", "o365-management"),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_SECRET_ID", &random_guid()),
        ],
    );
    assert_eq!(out["dashboard_state"], "answered");
    // The PM got exactly what the customer typed.
    assert_eq!(out["revealed"], fields);
    assert!(
        s(&out, "second_try").contains("nothing to retrieve"),
        "{}",
        s(&out, "second_try")
    );
    let retrieval = s(&out, "retrieval_link");
    let (url, identity) = retrieval.split_once('#').expect("a key in the PM's link");
    let retrieval_id = url.rsplit('/').next().expect("an id");
    let (status, _) = server.request(
        "POST",
        &format!("/api/v1/retrievals/{retrieval_id}/reveal"),
        None,
    );
    assert_eq!(
        status, 404,
        "a second retrieval through the API finds nothing"
    );

    // The sealed copy, untouched by the retrieval, opens with the SOC's identity.
    let sealed = sealed_copy_on_disk(&server);
    let decryptor = age::Decryptor::new(&sealed[..]).expect("an age file");
    let mut reader = decryptor
        .decrypt(std::iter::once(&soc as &dyn age::Identity))
        .expect("the SOC identity opens the sealed copy");
    let mut plain = String::new();
    reader.read_to_string(&mut plain).expect("UTF-8");
    let payload: Value = serde_json::from_str(&plain).expect("a JSON payload");
    assert_eq!(payload["v"], 1);
    assert_eq!(payload["template"], "o365-management");
    assert_eq!(payload["fields"], fields);

    // The retrieval page reported the credential's facts for the register
    // (the client ID and expiry, which the README lists among what the
    // server learns), and the Credentials page shows them.
    assert_eq!(out["credential_noted"], 204, "{out}");
    let row = s(&out, "register_row");
    for shown in [
        customer.as_str(),
        client.as_str(),
        expires.as_str(),
        "retrieved by the PM",
    ] {
        assert!(
            row.contains(shown),
            "{shown:?} in the register's row {row:?}"
        );
    }

    // Nothing secret reached the server's files, and the trail holds.
    server.assert_nothing_on_disk(&[
        ("client secret", secret.as_str()),
        ("tenant ID", tenant.as_str()),
        ("request identity", identity),
        ("PM retrieval id", retrieval_id),
        ("staff password", password.as_str()),
    ]);
    let verified = handoff_ok(&["audit", "verify", "--database-url", &db], "", &[]);
    assert!(verified.starts_with("ok:"), "{verified}");

    // The collector host takes it from there: the sealed copy lands in
    // ossec.conf, the tenant once, the secret in its own 0600 file.
    let host = tempfile::tempdir().expect("a directory");
    let key = host.path().join("soc.key");
    {
        use age::secrecy::ExposeSecret;
        fs::write(&key, soc.to_string().expose_secret()).expect("write the identity");
    }
    let token = handoff_ok(
        &[
            "token",
            "create",
            "--name",
            "collector",
            "--scope",
            "collect",
            "--database-url",
            &db,
        ],
        "",
        &[],
    );
    let token_file = host.path().join("token");
    fs::write(&token_file, token.trim()).expect("write the token");
    let conf = host.path().join("ossec.conf");
    fs::write(&conf, "<ossec_config>\n  <!-- ours -->\n</ossec_config>\n")
        .expect("write ossec.conf");
    let secrets = host.path().join("secrets");
    let collect = |extra: &[&str]| {
        let mut args = vec![
            "collect",
            "--server",
            &server.base,
            "--token-file",
            token_file.to_str().expect("UTF-8"),
            "--identity",
            key.to_str().expect("UTF-8"),
            "--target",
            "wazuh-office365",
            "--ossec-conf",
            conf.to_str().expect("UTF-8"),
            "--secrets-dir",
            secrets.to_str().expect("UTF-8"),
        ];
        args.extend_from_slice(extra);
        handoff_ok(&args, "", &[])
    };
    let out = collect(&[]);
    assert!(out.contains("summary: 1 imported"), "{out}");
    let written = fs::read_to_string(&conf).expect("ossec.conf");
    assert_eq!(
        written
            .matches(&format!("<tenant_id>{tenant}</tenant_id>"))
            .count(),
        1,
        "{written}"
    );
    assert!(written.contains("<!-- ours -->") && !written.contains(&secret));
    let secret_file = secrets.join(&tenant);
    assert_eq!(
        fs::read_to_string(&secret_file).expect("the secret file"),
        secret
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&secret_file)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Imported: the copy is gone from the server, and the trail still holds.
    let again = collect(&[]);
    assert!(again.contains("summary: 0 imported"), "{again}");
    server.assert_nothing_on_disk(&[("client secret", secret.as_str())]);
    let verified = handoff_ok(&["audit", "verify", "--database-url", &db], "", &[]);
    assert!(verified.starts_with("ok:"), "{verified}");
}

#[test]
fn credential_checks_in_javascript_match_the_shared_cases() {
    let out = Command::new("node")
        .args(["--test", "tests/browser/credential.test.mjs"])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}); these tests need Node.js 20+"));
    assert!(
        out.status.success(),
        "static/js/credential.js disagrees with the shared cases:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn browser_secret_valid_for_more_than_24_months_is_accepted_with_a_warning() {
    let server = Server::start();
    let (tenant, client, secret) = (random_guid(), random_guid(), random_client_secret());
    let three_years = months_ahead(36);
    let fields = json!({
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": three_years, "cloud": "commercial",
    });

    // The public page: both dates are pointed out, as warnings, and the link is made.
    let created = node(
        "create.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TEMPLATE", "entra-app"),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_EXPECT_FINDINGS", &long_expiry_findings()),
        ],
    );
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", s(&created, "link")),
            ("HANDOFF_EXPECT", "revealed"),
        ],
    );
    assert_eq!(revealed["fields"], fields);
    assert!(
        s(&revealed, "expiry_note")
            .starts_with("This secret is valid for more than 24 months. That is accepted"),
        "{revealed}"
    );
}

#[test]
fn browser_request_with_a_never_expiring_secret_and_an_escaped_retrieval_link() {
    let server = Server::start_tracing(&[]);
    let password = add_staff(&server, "pm");
    let (tenant, client, secret) = (random_guid(), random_guid(), random_client_secret());
    let fields = json!({
        "tenant_id": tenant, "client_id": client, "client_secret": secret,
        "secret_expires_on": "2299-12-31", "cloud": "commercial",
    });
    let out = node(
        "request-flow.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            ("HANDOFF_CUSTOMER", "Fabrikam"),
            ("HANDOFF_TEMPLATE", "o365-management"),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_SECRET_ID", &random_guid()),
            ("HANDOFF_EXPECT_FINDINGS", &long_expiry_findings()),
            ("HANDOFF_ESCAPED_RETRIEVAL", "1"),
        ],
    );
    // The customer was warned and could answer; the PM, who opened the link
    // as the mail gateway left it, got the values and is told what the date means.
    assert_eq!(out["revealed"], fields);
    assert!(
        s(&out, "expiry_note").starts_with("2299-12-31 means this secret never expires"),
        "{out}"
    );
    let retrieval = s(&out, "retrieval_link");
    let (url, identity) = retrieval.split_once('#').expect("a key in the PM's link");
    let retrieval_id = url.rsplit('/').next().expect("an id");

    // The key reached the server in the path, and went no further: not into
    // the log (at trace level), not into the database.
    let log = server.plain_log();
    assert!(
        log.contains("GET route=/p/{id}") && log.contains(" TRACE "),
        "the log does not record the retrieval page at trace level, so the search proves nothing:\n{log}"
    );
    server.assert_nothing_on_disk(&[
        ("PM retrieval key", identity),
        ("PM retrieval id", retrieval_id),
        ("client secret", secret.as_str()),
    ]);
}

#[test]
fn browser_link_whose_fragment_a_mail_gateway_escaped_still_opens() {
    let server = Server::start_tracing(&[]);
    let text = format!("escaped-{}", random_hex(10));
    let link = cli_send_text(&server, &text, None);
    let (id, key) = split_link(&link);
    let escaped = escape_fragment(&link);
    let path = path_of(&server, &escaped);
    assert!(path.contains("%23AGE-SECRET-KEY-1"), "{path}");

    // The server answers the escaped path with the interstitial for the id,
    // as often as a scanner asks, and consumes nothing.
    for method in ["GET", "HEAD", "GET"] {
        let (status, body) = server.request(method, &path, None);
        assert_eq!(status, 200, "{method} {path}: {body}");
        if method == "GET" {
            assert!(body.contains("id=\"reveal-button\""), "{body}");
            assert!(body.contains(&format!("data-id=\"{id}\"")), "{body}");
            assert!(!body.contains(&key), "the page repeats the key");
        }
    }
    assert_eq!(server.meta_status(&id), 200);

    // In a browser, the key moves back into the fragment before anything is
    // sent, and the secret opens.
    let revealed = node(
        "reveal.mjs",
        &[
            ("HANDOFF_LINK", &escaped),
            ("HANDOFF_EXPECT_ADDRESS", &link),
            ("HANDOFF_EXPECT", "revealed"),
        ],
    );
    assert_eq!(revealed["fields"], json!({ "text": text }));
    assert_eq!(server.meta_status(&id), 404);
    // Spent, the escaped link shows the gone page and takes its dead key
    // out of the address bar and the history entry.
    node(
        "reveal.mjs",
        &[("HANDOFF_LINK", &escaped), ("HANDOFF_EXPECT", "gone")],
    );

    let log = server.plain_log();
    assert!(
        log.contains("GET route=/s/{id}") && log.contains(" TRACE "),
        "the log does not record the page at trace level, so the search proves nothing:\n{log}"
    );
    server.assert_nothing_on_disk(&[("link key", &key), ("text", &text)]);
}

#[test]
fn browser_every_page_state_fits_a_phone_and_axe_finds_nothing_serious() {
    let soc = age::x25519::Identity::generate();
    // Branded as a SOC would brand it, with a long name and contact, so that
    // the header and footer are measured and scanned on every page too.
    let logo_dir = tempfile::tempdir().expect("a directory");
    let logo = logo_dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#6b2fa0"/></svg>"##,
    )
    .expect("the logo");
    let server = Server::start_with(&[
        "--soc-recipients",
        &soc.to_public().to_string(),
        "--brand-name",
        "Contoso Managed Security Operations Centre",
        "--brand-logo",
        &logo.display().to_string(),
        "--brand-email",
        "security-operations-onboarding@contoso-managed-services.example",
        "--brand-phone",
        "+44 20 7946 0000",
        "--brand-url",
        "https://soc.contoso-managed-services.example/onboarding",
        "--brand-accent",
        "#6b2fa0",
    ]);
    let password = add_staff(&server, "pm");
    let expired = open_request(&server, unix_now() - 2 * 86_400, 86_400, "o365-management");
    let failed = failed_request(&server, unix_now() - 3600, "invalid client secret");
    let fields = json!({
        "tenant_id": random_guid(), "client_id": random_guid(),
        "client_secret": random_client_secret(), "secret_expires_on": in_six_months(),
    });
    let out = node(
        "layout.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            (
                "HANDOFF_EXPIRED_URL",
                &format!("{}/r/{}", server.base, expired.id),
            ),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_FAILED_ID", &failed.id),
        ],
    );
    let pages = out["pages"].as_array().expect("pages");
    let mut names: Vec<&str> = pages.iter().map(|p| s(p, "name")).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "login",
            "new request",
            "new request: created",
            "request: open",
            "request: findings",
            "request: sent",
            "receipt: answered",
            "request: answered",
            "receipt: confirm withdraw",
            "receipt: withdrawn",
            "request: withdrawn",
            "request: expired",
            "dashboard",
            "dashboard: filtered",
            "staff request: failed",
            "new request: re-issue of a failed one",
            "staff request: re-issued",
            "staff request: answered",
            "tokens",
            "account",
            "staff request: open",
            "retrieval: waiting",
            "staff request: confirm cancel",
            "staff request: cancelled",
            "request: cancelled",
            "retrieval: ready",
            "retrieval: revealed",
            "credentials",
            "public: compose",
            "public: findings",
            "public: link ready",
            "status: waiting",
            "status: confirm destroy",
            "secret: before reveal",
            "secret: revealed",
            "secret: gone",
            "status: read",
            "not found",
        ]
    );
    let mut failures = vec![];
    for p in pages {
        let (name, screen, scheme) = (s(p, "name"), s(p, "screen"), s(p, "scheme"));
        if p["width"].as_i64() > p["viewport"].as_i64() {
            failures.push(format!(
                "{name} ({screen}, {scheme}): {} px wide on a {} px screen, past the edge: {}",
                p["width"], p["viewport"], p["wide"]
            ));
        }
        if p["axe"] != json!([]) {
            failures.push(format!("{name} ({screen}, {scheme}): axe: {}", p["axe"]));
        }
        // On a laptop a staff table fits its page: no sideways scrolling.
        if screen == "laptop" && p["scrolling_tables"] != json!([]) {
            failures.push(format!(
                "{name} ({screen}, {scheme}): tables scroll sideways: {}",
                p["scrolling_tables"]
            ));
        }
    }
    // The dashboard on a 1280 px laptop: its table fits, and the times and
    // who made it each take one line.
    let d = &out["dashboard_laptop"];
    assert!(
        d["client_width"].as_i64() >= Some(1000),
        "the dashboard's table keeps to a narrow column on a 1280 px laptop: {d}"
    );
    assert!(
        d["scroll_width"].as_i64() <= d["client_width"].as_i64(),
        "the dashboard's table scrolls sideways at 1280 px: {d}"
    );
    assert_eq!(
        d["wrapped"],
        json!([]),
        "cramped dashboard cells at 1280 px: {d}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The checklist's boxes keep their size, one a line, each beside the
    // first line of its label, all at one left edge.
    let boxes = out["checklist"].as_array().expect("checklist");
    assert!(!boxes.is_empty());
    for b in boxes {
        assert!(b["width"].as_i64() <= Some(24), "a stretched checkbox: {b}");
        assert_eq!(b["on_first_line"], true, "{b}");
        assert_eq!(b["own_line"], true, "{b}");
        assert_eq!(
            b["left"], boxes[0]["left"],
            "staggered checkboxes: {boxes:?}"
        );
    }

    // "New request" and "Re-issue" are links that look like the buttons beside them.
    for which in ["new_request", "reissue"] {
        let look = &out["buttons"][which];
        assert_eq!(look["tag"], "a", "{which}");
        assert_eq!(
            look["differ"],
            json!([]),
            "{which} does not look like a button"
        );
    }
    assert_eq!(
        out["buttons"]["reissue"]["height"][0], out["buttons"]["reissue"]["cancel_height"],
        "Re-issue and Cancel differ in height: {}",
        out["buttons"]
    );

    // The az block stays in its box; a keyboard reaches it and scrolls it.
    let az = &out["az"];
    assert_eq!(az["inside"], true, "{az}");
    if az["scrollable"] == true {
        assert_eq!(az["tabindex"], "0", "{az}");
        assert_eq!(az["role"], "region", "{az}");
        assert!(!s(az, "name").is_empty(), "{az}");
        assert_eq!(az["reached_by_tab"], true, "{az}");
        assert_eq!(az["scrolled_by_keys"], true, "{az}");
    }
    assert_eq!(out["csp"], json!([]), "the pages broke their CSP");
}

#[test]
fn browser_first_click_on_submit_counts_when_leaving_a_field_shows_a_message() {
    let soc = age::x25519::Identity::generate();
    let server = Server::start_with(&["--soc-recipients", &soc.to_public().to_string()]);
    let request = open_request(&server, unix_now(), 86_400, "o365-management");
    let fields = json!({
        "tenant_id": random_guid(), "client_id": random_guid(), "secret_expires_on": in_six_months(),
    });
    // An older secret's shape: no Q~, so a warning that does not stop the form.
    let old_secret = format!("Zx7.{}", random_hex(18));
    let out = node(
        "first-click.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            (
                "HANDOFF_REQUEST_URL",
                &format!("{}/r/{}", server.base, request.id),
            ),
            ("HANDOFF_FIELDS", &fields.to_string()),
            ("HANDOFF_OLD_SECRET", &old_secret),
        ],
    );
    for page in ["public", "request"] {
        let o = &out[page];
        assert!(
            s(o, "warning").contains("does not look like a current client secret"),
            "{page}: the message under the secret did not appear, so the test proves nothing: {o}"
        );
        assert_eq!(
            o["submitted"], true,
            "{page}: the first click was lost: {o}"
        );
        assert_eq!(o["posts"], 1, "{page}: {o}");
    }
}

#[test]
fn browser_staff_pages_say_how_long_ago_and_keep_dates_as_written() {
    let server = Server::start();
    let password = add_staff(&server, "pm");
    let facts = handoff::register::Facts::parse(&random_guid(), Some("2027-06-30")).expect("facts");
    let db = format!("sqlite://{}", server.db_path().display());
    let failed = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let store = handoff::store::Store::connect(&db)
                .await
                .expect("the database");
            let at = unix_now() - 3 * 3600 - 60;
            let r = common::flow::failed_request_with(
                &store,
                at,
                "invalid client secret",
                Some(&facts),
            )
            .await;
            store.close().await;
            r
        });
    let out = node(
        "staff-times.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            ("HANDOFF_REQUEST_ID", &failed.id),
        ],
    );
    let relative = |t: &Value| {
        let text = s(t, "text");
        text == "just now" || text.ends_with(" ago") || text.starts_with("in ")
    };
    for page in ["request", "credentials", "tokens", "account"] {
        let times = out[page].as_array().expect(page);
        assert!(!times.is_empty(), "{page}: no times: {out}");
        for t in times {
            let datetime = s(t, "datetime");
            if datetime.len() == "YYYY-MM-DD".len() {
                // A calendar day (a secret's expiry): as written, never "in 7 months".
                assert_eq!(s(t, "text"), datetime, "{page}: {t}");
                continue;
            }
            assert!(relative(t), "{page}: not a relative time: {t}");
            let title = s(t, "title");
            assert!(
                !title.is_empty() && title != datetime && title.contains(&datetime[..4]),
                "{page}: no exact local time on hover: {t}"
            );
        }
    }
    let texts = |page: &str| -> Vec<String> {
        out[page]
            .as_array()
            .expect(page)
            .iter()
            .map(|t| s(t, "text").to_owned())
            .collect()
    };
    assert!(texts("request").iter().any(|t| t == "3 h ago"), "{out}");
    assert!(
        texts("credentials").iter().any(|t| t == "2027-06-30"),
        "{out}"
    );
    assert!(texts("credentials").iter().any(|t| t == "3 h ago"), "{out}");
    assert!(texts("tokens").iter().any(|t| t == "just now"), "{out}");
    assert!(
        texts("account").iter().any(|t| t.starts_with("in ")),
        "{out}"
    );
}

#[test]
fn browser_dashboard_times_filter_copy_and_confirmations_with_and_without_scripts() {
    let soc = age::x25519::Identity::generate();
    let server = Server::start_with(&["--soc-recipients", &soc.to_public().to_string()]);
    let password = add_staff(&server, "pm");
    failed_request(&server, unix_now() - 3 * 3600 - 60, "invalid client secret");
    let fields = json!({
        "tenant_id": random_guid(), "client_id": random_guid(),
        "client_secret": random_client_secret(), "secret_expires_on": in_six_months(),
    });
    let out = node(
        "dashboard.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            ("HANDOFF_FIELDS", &fields.to_string()),
        ],
    );

    // A contact address that is not one gets the server's sentence on the
    // new request page, and no request.
    let bad = &out["bad_contact"];
    assert!(
        s(bad, "error").contains("is not an e-mail address")
            && s(bad, "error").contains("No request was created"),
        "{bad}"
    );
    assert_eq!(bad["created"], false, "{bad}");

    // Times say how long ago, with the exact time on hover.
    let times = out["times"].as_array().expect("times");
    assert!(
        times.iter().any(|t| t["text"] == "3 h ago"),
        "the failed request's times: {times:?}"
    );
    for t in times {
        let text = s(t, "text");
        assert!(
            text == "just now" || text.ends_with(" ago"),
            "not a relative time: {t}"
        );
        let title = s(t, "title");
        assert!(
            !title.is_empty()
                && title != s(t, "datetime")
                && title.contains(&s(t, "datetime")[..4]),
            "no exact local time on hover: {t}"
        );
    }
    assert_eq!(
        out["ahead"],
        json!(["in 2 days", "in 1 day", "in 3 h", "5 min ago"])
    );
    assert_eq!(
        out["waiting"],
        json!([{"customer": "Contoso", "text": "⚑ waiting for retrieval or import"}])
    );

    // Filter and search, in the page.
    let f = &out["filter"];
    let mut all: Vec<&str> = f["all"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, ["Contoso", "Contoso", "Fabrikam", "Northwind"], "{f}");
    assert_eq!(f["search"], json!(["Fabrikam"]), "{f}");
    assert_eq!(f["status"], "Showing 1 of 4 requests.", "{f}");
    assert_eq!(f["failed"], json!(["Contoso"]), "{f}");
    assert_eq!(f["waiting"], json!(["Contoso"]), "{f}");
    assert_eq!(f["open_north"], json!(["Northwind"]), "{f}");
    assert_eq!(f["reloaded"], 1, "filtering loaded the page again: {f}");
    assert_eq!(f["cleared"], f["all"], "{f}");

    // A copy button for each open request's customer link.
    let copy = &out["copy"];
    assert_eq!(copy["buttons"], 2, "{copy}");
    assert_eq!(copy["label"], "Copied", "{copy}");
    assert_eq!(copy["clipboard"], copy["expected"], "{copy}");

    // Each irreversible action asks first; "Keep it" changes nothing.
    for (which, asked, kept, done) in [
        ("cancel", "Cancel the request?", "open", "cancelled"),
        ("withdraw", "Withdraw your answer?", "answered", "withdrawn"),
        ("destroy", "Destroy the secret?", "waiting", "destroyed"),
    ] {
        assert_eq!(
            out[which],
            json!({"asked": asked, "kept": kept, "done": done}),
            "{which}"
        );
    }

    // Without JavaScript: every row, readable times, no dead controls, and
    // the confirm step still works.
    let nojs = &out["nojs"];
    assert_eq!(nojs["rows"].as_array().unwrap().len(), 4, "{nojs}");
    assert_eq!(nojs["filter_visible"], false, "{nojs}");
    assert_eq!(nojs["copy_visible"], 0, "{nojs}");
    for t in nojs["times"].as_array().unwrap() {
        let t = t.as_str().unwrap();
        assert!(
            t.len() == "2026-11-30 15:47 UTC".len() && t.ends_with(" UTC"),
            "{t}"
        );
    }
    assert_eq!(
        nojs["cancel"],
        json!({"asked": "Cancel the request?", "kept": "open", "done": "cancelled"})
    );
}

/// A staff member signs in with the identity provider's button and lands
/// on the dashboard. The provider (tests/oidc_provider) is on `localhost`,
/// another site than handoff's `127.0.0.1`, as Entra ID is in production: the
/// `SameSite=Lax` flow cookie must come back on the provider's redirect, and
/// the `SameSite=Strict` session cookie must reach the dashboard after a way
/// back that the provider's page started (a redirect to the dashboard would
/// lose it; the signed-in page's own refresh keeps it).
#[test]
fn browser_sign_in_with_the_identity_provider_lands_on_the_dashboard() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (client_id, secret, group) = ("handoff-browser", random_hex(16), random_guid());
    let idp = runtime.block_on(oidc_provider::Idp::start(
        "localhost",
        client_id,
        &secret,
        unix_now(),
    ));
    idp.sign_in_as(oidc_provider::Person::new("browser-sub", &[&group]));
    idp.with_screen();
    let server = Server::start_with_env(
        &[
            "--oidc-issuer",
            &idp.issuer,
            "--oidc-client-id",
            client_id,
            "--oidc-staff-group",
            &group,
            "--oidc-display-name",
            "Test IdP",
        ],
        &[("HANDOFF_OIDC_CLIENT_SECRET", &secret)],
    );
    let out = node(
        "oidc.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_IDP_NAME", "Test IdP"),
        ],
    );
    assert_eq!(out["button"], "Sign in with Test IdP");
    assert_eq!(out["landed"], format!("{}/staff", server.base));
    assert_eq!(out["dashboard"], true);
    assert_eq!(out["passed_idp"], true);
    // The trail has the sign-in; the log has no client secret.
    let trail = handoff_ok(
        &[
            "audit",
            "export",
            "--database-url",
            &format!("sqlite://{}", server.db_path().display()),
        ],
        "",
        &[],
    );
    assert!(
        trail.contains("login.succeeded") && trail.contains("browser-sub"),
        "{trail}"
    );
    assert!(
        !server.log().contains(&secret),
        "the client secret reached the log"
    );
    drop(runtime);
}

// ---------------------------------------------------------------------------
// File transfers

/// Writes `bytes` random bytes to `path`, a mebibyte at a time.
fn random_file(path: &Path, bytes: usize) {
    let mut out = File::create(path).expect("create the file");
    let mut urandom = File::open("/dev/urandom").expect("/dev/urandom");
    let mut left = bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len());
        urandom.read_exact(&mut buf[..n]).expect("random bytes");
        out.write_all(&buf[..n]).expect("write the file");
        left -= n;
    }
}

/// Fails on every page state wider than its phone screen or with a
/// serious axe finding; returns the states' names in order.
fn check_page_states(out: &Value) -> Vec<String> {
    let pages = out["pages"].as_array().expect("pages");
    let mut failures = vec![];
    for p in pages {
        let (name, scheme) = (s(p, "name"), s(p, "scheme"));
        if p["width"].as_i64() > p["viewport"].as_i64() {
            failures.push(format!(
                "{name} ({scheme}): {} px wide on a {} px screen: {}",
                p["width"], p["viewport"], p["wide"]
            ));
        }
        if p["axe"] != json!([]) {
            failures.push(format!("{name} ({scheme}): axe: {}", p["axe"]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(out["csp"], json!([]), "the pages broke their CSP");
    let mut names: Vec<String> = pages.iter().map(|p| s(p, "name").to_owned()).collect();
    names.dedup();
    names
}

#[test]
fn browser_files_resume_after_a_reload_stream_to_disk_and_open_once() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a directory");
    let big_name = format!("firewall-export-{}.bin", random_hex(6));
    let small_name = format!("handover-notes-{}.txt", random_hex(6));
    let big = dir.path().join(&big_name);
    let small = dir.path().join(&small_name);
    random_file(&big, 200_000_000);
    let small_text = format!("vpn-config-marker-{}", random_hex(12));
    fs::write(&small, &small_text).expect("the small file");
    let message = format!("message-marker-{}", random_hex(12));

    let out = node(
        "files.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_BIG", &big.display().to_string()),
            ("HANDOFF_SMALL", &small.display().to_string()),
            ("HANDOFF_MESSAGE", &message),
        ],
    );
    eprintln!(
        "200 MB file: {} pieces in all; {} PUTs before the reload, {} after; upload {} ms, download {} ms",
        out["pieces"],
        out["puts_before_reload"],
        out["puts_after_reload"],
        out["upload_ms"],
        out["download_ms"]
    );

    // 48 pieces of the big file, one of the small one.
    assert_eq!(out["pieces"], 49);
    let after = out["puts_after_reload"].as_i64().expect("a count");
    let stored_before = out["stored_before_reload"].as_i64().expect("a count");
    assert!(stored_before > 0, "{out}");
    assert!(
        after > 0 && after <= 49 - stored_before,
        "{after} pieces were sent again after the reload, though {stored_before} of 49 were stored before it"
    );

    // Both files arrive byte for byte, under their names, with the message.
    assert_eq!(
        out["source"].as_object().map(serde_json::Map::len),
        Some(2),
        "{out}"
    );
    assert_eq!(out["saved"], out["source"], "the saved files differ");
    assert_eq!(out["names"], json!([big_name, small_name]));
    assert_eq!(out["message"], json!(message));
    // The keys are gone from the address bar and from the browsers' storage.
    assert!(!s(&out, "address_after_reveal").contains('#'), "{out}");
    assert_eq!(out["left_in_storage"], json!([]));
    assert_eq!(out["left_in_session"], json!([]));
    // A third visitor: gone.
    assert_eq!(out["gone_status"], 404);
    assert_eq!(out["gone_heading"], "These files are gone");
    assert_eq!(out["files_hidden"], true);
    assert!(!s(&out, "gone_address").contains('#'), "{out}");

    assert_eq!(
        check_page_states(&out),
        [
            "files: compose",
            "files: chosen",
            "files: resume",
            "files: uploading",
            "files: link ready",
            "files: before reveal",
            "files: list",
            "files: all saved",
            "files: gone",
        ]
    );

    // The server never had the names, the message or the small file's text.
    server.assert_nothing_on_disk(&[
        ("file name", &big_name),
        ("file name", &small_name),
        ("message", &message),
        ("file contents", &small_text),
    ]);
}

#[test]
fn browser_files_refuse_unsafe_names_finish_a_broken_download_and_show_the_limit() {
    let server = Server::start_with(&["--max-transfer-bytes", "20000000"]);
    let dir = tempfile::tempdir().expect("a directory");
    // Under the limit as it is, over it once encrypted.
    let too_big = dir.path().join("too-big.bin");
    random_file(&too_big, 19_999_000);
    // Two files of one name, size and time in two folders, other contents.
    let twins = dir.path().join("twins");
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_764_540_000);
    let mut twin_hashes = serde_json::Map::new();
    for folder in ["a", "b"] {
        fs::create_dir_all(twins.join(folder)).expect("a folder");
        let path = twins.join(folder).join("config.json");
        let text = format!(
            "{{\"folder\": \"{folder}\", \"marker\": \"{}\"}}",
            random_hex(8)
        );
        fs::write(&path, &text).expect("a twin");
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(when))
            .expect("set the time");
        twin_hashes.insert(
            format!("twins/{folder}/config.json"),
            json!(sha256_hex(text.as_bytes())),
        );
    }
    let out = node(
        "files-edges.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_TOO_BIG", &too_big.display().to_string()),
            ("HANDOFF_TWINS", &twins.display().to_string()),
        ],
    );

    // Unsafe names are refused, each with its reason, and those that clash
    // in one folder every one; the safe file is saved, through the
    // in-memory fallback (no service worker). A name that reads as another
    // is shown written out.
    let refused = &out["refused"];
    assert_eq!(
        refused["statuses"],
        json!([
            "Not saved: it points outside its folder (\"..\").",
            "",
            "Not saved: it contains a control character.",
            "Not saved: it is an absolute path.",
            "Not saved: it contains U+202E RIGHT-TO-LEFT OVERRIDE, an invisible character that can make a name read as another.",
            "Not saved: it starts with a drive letter.",
            "Not saved: another file in the list is in a folder of this name.",
            "Not saved: one of its folders is also a file in the list (notes).",
            "Not saved: a part of it ends in .handoff-part, the suffix of files still arriving."
        ])
    );
    assert_eq!(refused["names"][2], "bell⟨U+0007⟩.txt", "{refused}");
    assert_eq!(refused["names"][4], "invoice⟨U+202E⟩gpj.exe", "{refused}");
    assert_eq!(refused["save_buttons"], 1, "{refused}");
    assert_eq!(refused["folder_button"], true, "{refused}");
    assert!(
        s(refused, "banner").starts_with("8 files are not saved"),
        "{refused}"
    );
    assert_eq!(refused["saved_name"], "report.txt");
    assert_eq!(refused["saved_ok"], true);
    assert_eq!(refused["done"], "Every file that could be saved is saved.");

    // A download broken by the network is finished by the same tab after a
    // reload, without revealing again (the transfer is claimed by then).
    let retry = &out["retry"];
    assert_eq!(retry["refused_fetches"], 5, "{retry}");
    assert!(retry["failed_download"].is_string(), "{retry}");
    assert!(
        s(retry, "failed_status").starts_with("The connection keeps failing"),
        "{retry}"
    );
    assert_eq!(retry["revealed_again"], false);
    assert_eq!(retry["saved_ok"], true);

    // Over the limit: the server's refusal, shown before any piece is sent.
    // Pieces handed out in each other's place are refused, not saved.
    let reordered = &out["reordered"];
    assert!(
        s(reordered, "status").contains("damaged, changed or moved on the way"),
        "{reordered}"
    );
    assert_eq!(reordered["download_failed"], true, "{reordered}");
    assert_eq!(reordered["saved"], false, "{reordered}");

    // The limit counts ciphertext: a file just under it in plaintext is
    // over it once encrypted, and the sentence's two numbers differ.
    let too_big = &out["too_big"];
    assert_eq!(too_big["puts"], 0);
    let error = s(too_big, "error");
    let taken = error
        .strip_prefix("These files are too large for this server: they take ")
        .and_then(|rest| {
            rest.split_once(
                " bytes once encrypted, and it takes at most 20,000,000 bytes per link. ",
            )
        })
        .unwrap_or_else(|| panic!("{error}"));
    let encrypted: u64 = taken.0.replace(',', "").parse().expect("a byte count");
    assert!((20_000_001..20_010_000).contains(&encrypted), "{error}");
    assert_eq!(
        taken.1,
        "Send them in several links, or fewer at a time. Nothing was sent."
    );
    // Names that are one file in a Windows or macOS folder are not sent.
    assert_eq!(
        out["clash"]["error"],
        "The file name “Report.pdf” cannot be sent: another file in the list has the same name \
         (letter case aside). Rename one of them and choose them again."
    );
    assert_eq!(out["clash"]["puts"], 0);

    // Resumed after a reload, each file is sent from its own path: the
    // twins arrive each with its own contents.
    let twins = &out["twins"];
    assert_eq!(
        twins["sent_names"],
        json!(["twins/a/config.json", "twins/b/config.json"]),
        "{twins}"
    );
    assert_eq!(twins["received"], Value::Object(twin_hashes), "{twins}");

    assert_eq!(
        check_page_states(&out),
        [
            "files: unsafe names refused",
            "files: download failed",
            "files: too large",
        ]
    );
}

/// Every file under `dir`, by its path relative to `dir`, with its bytes' SHA-256.
fn hashes_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).expect("read a folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string();
                out.push((name, sha256_hex(&fs::read(&path).expect("read a file"))));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn browser_files_request_uploads_resumes_answers_and_the_pm_and_collector_get_the_files() {
    let soc = age::x25519::Identity::generate();
    let soc_recipient = soc.to_public().to_string();
    let server = Server::start_with(&[
        "--soc-recipients",
        &soc_recipient,
        "--max-transfer-bytes",
        "20000000",
    ]);
    let db = format!("sqlite://{}", server.db_path().display());
    let password = add_staff(&server, "pm");
    let dir = tempfile::tempdir().expect("a directory");
    let big_name = format!("firewall-export-{}.bin", random_hex(6));
    let big = dir.path().join(&big_name);
    random_file(&big, 10_500_000);
    let folder_name = format!("certs-{}", random_hex(6));
    let folder = dir.path().join(&folder_name);
    fs::create_dir(&folder).expect("a folder");
    let small_name = format!("app-key-{}.pem", random_hex(6));
    let small_text = format!("private-key-marker-{}", random_hex(12));
    fs::write(folder.join(&small_name), &small_text).expect("the small file");
    let too_big = dir.path().join("too-big.bin");
    random_file(&too_big, 30_000_000);
    let message = format!("message-marker-{}", random_hex(12));
    let customer = format!("Contoso {}", random_hex(3));

    let out = node(
        "request-files.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_STAFF", "pm"),
            ("HANDOFF_STAFF_PASSWORD", &password),
            ("HANDOFF_CUSTOMER", &customer),
            ("HANDOFF_BIG", &big.display().to_string()),
            ("HANDOFF_FOLDER", &folder.display().to_string()),
            ("HANDOFF_TOO_BIG", &too_big.display().to_string()),
            ("HANDOFF_MESSAGE", &message),
        ],
    );
    let small_path = format!("{folder_name}/{small_name}");

    // The customer's page: the file drop instead of the credential form;
    // bad input said plainly, nothing sent for it.
    assert_eq!(out["credential_form"], 0);
    assert_eq!(
        out["errors"]["nothing"],
        "Choose at least one file to send."
    );
    assert_eq!(
        out["errors"]["too_big"],
        "These files are too large for this server: they take 30 MB once encrypted, and it takes at most 20 MB per request. \
         Put them in a compressed archive, or send the rest through another request from your SOC. Nothing was sent."
    );
    assert_eq!(out["errors"]["puts"], 0);
    assert_eq!(out["chosen"], json!([big_name, small_path]));

    // Reloaded in the middle: only what the server lacked went again.
    // 3 pieces of the big file, 1 of the small one.
    assert_eq!(out["pieces"], 4);
    assert_eq!(out["stored_before_reload"], 2);
    let after = out["puts_after_reload"].as_i64().expect("a count");
    assert_eq!(after, 2, "{out}");
    assert!(
        s(&out, "still_missing").contains(&small_path),
        "{}",
        out["still_missing"]
    );

    // Created for the request (no lifetime of its own), answered with the
    // transfer's id in the clear and nothing else readable.
    assert_eq!(
        out["transfers_created"],
        json!([
            {"request": out["request_id"], "expires_in": null},
            {"request": out["request_id"], "expires_in": null}
        ]),
        "the refused one, then the one sent"
    );
    assert_eq!(
        out["answer"]["keys"],
        json!(["pm_ciphertext", "sealed_ciphertext", "transfer"])
    );
    assert_eq!(out["answer"]["plaintext"], json!([]));
    assert!(!s(&out["answer"], "transfer").is_empty(), "{out}");
    assert_eq!(out["left_in_storage"], json!([]));
    assert_eq!(
        out["left_after_closed"],
        json!([]),
        "the closed page clears an upload kept for the request"
    );
    assert_eq!(out["closed_after"], true);

    // The PM: names, sizes and the message, a broken download finished
    // after a reload within the grace, every file byte for byte.
    assert_eq!(out["names"], json!([big_name, small_path]));
    assert_eq!(
        out["sizes"],
        json!(["10.5 MB", format!("{} bytes", small_text.len())])
    );
    assert_eq!(out["message"], json!(message));
    assert!(!s(&out, "address_after_reveal").contains('#'), "{out}");
    assert!(out["broken"]["failed_download"].is_string(), "{out}");
    assert!(
        s(&out["broken"], "status").starts_with("The connection keeps failing"),
        "{out}"
    );
    assert_eq!(out["broken"]["button"], "Try again");
    assert_eq!(out["broken"]["reveal_shown_after_reload"], false);
    assert_eq!(out["saved"], out["source"], "the PM's files differ");
    assert_eq!(
        out["source"].as_object().map(serde_json::Map::len),
        Some(2),
        "{out}"
    );
    assert_eq!(out["left_in_session"], json!([]));
    assert!(
        s(&out, "second_try").contains("nothing to retrieve"),
        "{}",
        s(&out, "second_try")
    );

    assert_eq!(
        check_page_states(&out),
        [
            "request files: compose",
            "request files: nothing chosen",
            "request files: too large",
            "request files: chosen",
            "request files: uploading",
            "request files: resume",
            "request files: resume, a file missing",
            "request files: sent",
            "retrieval files: ready",
            "retrieval files: list",
            "retrieval files: download failed",
            "retrieval files: all saved",
        ]
    );

    // The collector's copy: the real `handoff collect --target dir`.
    let host = tempfile::tempdir().expect("a directory");
    let key = host.path().join("soc.key");
    {
        use age::secrecy::ExposeSecret;
        fs::write(&key, soc.to_string().expose_secret()).expect("write the identity");
    }
    let token = handoff_ok(
        &[
            "token",
            "create",
            "--name",
            "collector",
            "--scope",
            "collect",
            "--database-url",
            &db,
        ],
        "",
        &[],
    );
    let token_file = host.path().join("token");
    fs::write(&token_file, token.trim()).expect("write the token");
    let received = host.path().join("received");
    let collected = handoff_ok(
        &[
            "collect",
            "--server",
            &server.base,
            "--token-file",
            token_file.to_str().expect("UTF-8"),
            "--identity",
            key.to_str().expect("UTF-8"),
            "--target",
            "dir",
            "--output-dir",
            received.to_str().expect("UTF-8"),
        ],
        "",
        &[],
    );
    assert!(collected.contains("1 imported"), "{collected}");
    let folders: Vec<_> = fs::read_dir(&received)
        .expect("the output folder")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(
        folders[0]
            .display()
            .to_string()
            .ends_with(s(&out, "request_id")),
        "{folders:?}"
    );
    let mut expected = vec![
        (big_name.clone(), s(&out["source"], &big_name).to_owned()),
        (
            small_path.clone(),
            s(&out["source"], &small_name).to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(hashes_under(&folders[0]), expected);

    // The server never had the names, the message, the contents or a key.
    server.assert_nothing_on_disk(&[
        ("file name", &big_name),
        ("file name", &small_name),
        ("folder name", &folder_name),
        ("message", &message),
        ("file contents", &small_text),
        ("age identity", "AGE-SECRET-KEY"),
        ("staff password", password.as_str()),
    ]);
    let verified = handoff_ok(&["audit", "verify", "--database-url", &db], "", &[]);
    assert!(verified.starts_with("ok:"), "{verified}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn files_sent_from_the_cli_open_in_the_browser_and_back() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a directory");

    // handoff send → the browser saves them.
    let folder = dir.path().join("certs");
    fs::create_dir(&folder).expect("a folder");
    let key = folder.join("app.pem");
    let key_text = format!("-----BEGIN PRIVATE KEY-----\n{}\n", random_hex(24));
    fs::write(&key, &key_text).expect("the key");
    let capture = dir.path().join("capture.bin");
    random_file(&capture, 9_000_000);
    // The capture and the folder, sent anew: a link opens once.
    let send_both = || {
        let sent = handoff_ok(
            &[
                "send",
                "--server",
                &server.base,
                &capture.display().to_string(),
                &folder.display().to_string(),
            ],
            "",
            &[],
        );
        sent.lines()
            .rev()
            .find(|l| l.contains("/f/"))
            .unwrap_or_else(|| panic!("no /f/ link in {sent}"))
            .trim()
            .to_owned()
    };
    let link = send_both();
    let out = node(
        "files-interop.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_MODE", "receive"),
            ("HANDOFF_LINK", &link),
        ],
    );
    assert_eq!(out["names"], json!(["capture.bin", "certs/app.pem"]));
    assert_eq!(
        out["saved"],
        json!({
            "capture.bin": sha256_hex(&fs::read(&capture).expect("the capture")),
            // A browser download carries the file's own name, not its folder.
            "app.pem": sha256_hex(key_text.as_bytes()),
        })
    );

    // handoff send → the browser saves them into a folder it picks (the
    // File System Access API): subfolders kept, a name already there kept
    // too, the new file numbered beside it.
    let link = send_both();
    let out = node(
        "files-interop.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_MODE", "folder"),
            ("HANDOFF_LINK", &link),
            ("HANDOFF_EXISTING", "capture.bin"),
        ],
    );
    assert_eq!(
        out["folder"],
        json!({
            "capture.bin": sha256_hex(b"kept as it was"),
            "capture (1).bin": sha256_hex(&fs::read(&capture).expect("the capture")),
            "certs/app.pem": sha256_hex(key_text.as_bytes()),
        })
    );
    // Each line says where its file went (the picked folder here is the
    // origin-private file system's root, which has no name).
    assert_eq!(
        out["statuses"],
        json!([
            "Saved into the folder you picked, as capture (1).bin.",
            "Saved into the folder you picked, as certs/app.pem."
        ])
    );

    // The browser sends → handoff get writes them.
    let notes = dir.path().join("handover.txt");
    fs::write(&notes, format!("notes {}", random_hex(8))).expect("the notes");
    let out = node(
        "files-interop.mjs",
        &[
            ("HANDOFF_URL", &server.base),
            ("HANDOFF_MODE", "send"),
            (
                "HANDOFF_FILES",
                &format!("{}\n{}", capture.display(), notes.display()),
            ),
        ],
    );
    let link = s(&out, "link");
    let received = dir.path().join("received");
    handoff_ok(
        &["get", link, "-o", &received.display().to_string()],
        "",
        &[],
    );
    assert_eq!(
        fs::read(received.join("capture.bin")).expect("capture.bin written"),
        fs::read(&capture).expect("the capture")
    );
    assert_eq!(
        fs::read(received.join("handover.txt")).expect("handover.txt written"),
        fs::read(&notes).expect("the notes")
    );
}

#[test]
fn file_piece_sizes_and_name_rules_in_javascript_match_the_protocol() {
    let out = Command::new("node")
        .args(["--test", "tests/browser/files-format.test.mjs"])
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}); these tests need Node.js 20+"));
    assert!(
        out.status.success(),
        "static/js/files-format.js disagrees with the protocol:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
