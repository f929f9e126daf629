//! `handoff send FILE...` and `handoff get LINK -o DIR` with the real
//! binary against a live server: byte-exact round trips, read once, a killed
//! send resumed, and names a reader must refuse.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use age::secrecy::ExposeSecret;
use common::{Backend, spawn_app};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn handoff(state: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.env("XDG_STATE_HOME", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn run(state: &Path, args: &[&str]) -> Output {
    handoff(state).args(args).output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that the command failed and said `words` on stderr.
fn fails_saying(out: &Output, words: &str) {
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(words), "{}", text(&out.stderr));
}

/// A server on SQLite, a scratch folder, and the CLI's state folder in it.
async fn setup() -> (common::TestApp, tempfile::TempDir, std::path::PathBuf) {
    let app = spawn_app(Backend::Sqlite).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    (app, work, state)
}

fn sha256(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn files_and_a_folder_go_through_byte_for_byte_and_once() {
    let (app, work, state) = setup().await;
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("certs/sub")).unwrap();
    std::fs::write(src.join("big.bin"), noise(9 * 1024 * 1024 + 17, 5)).unwrap();
    std::fs::write(src.join("certs/app.pem"), b"-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(src.join("certs/sub/empty"), b"").unwrap();

    let out = run(
        &state,
        &[
            "send",
            "--server",
            &app.base,
            "--message",
            "the files you asked for",
            src.join("big.bin").to_str().unwrap(),
            src.join("certs").to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/f/", app.base)) && link.contains("#AGE-SECRET-KEY-1"),
        "{link}"
    );
    let leftover: Vec<_> = std::fs::read_dir(state.join("handoff")).unwrap().collect();
    assert!(
        leftover.is_empty(),
        "the send's state file is gone when done"
    );

    let dest = work.path().join("dest");
    let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the files you asked for"));
    for name in ["big.bin", "certs/app.pem", "certs/sub/empty"] {
        let (sent, got) = (src.join(name), dest.join(name));
        assert_eq!(sha256(&sent), sha256(&got), "{name} arrives byte for byte");
        #[cfg(unix)]
        assert_eq!(mode(&got), 0o600, "{name} is the owner's alone");
    }
    let names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(".handoff") || n.ends_with(".handoff-part")),
        "no state or partial file is left: {names:?}"
    );

    let again = run(
        &state,
        &[
            "get",
            &link,
            "-o",
            work.path().join("other").to_str().unwrap(),
        ],
    )
    .await;
    fails_saying(&again, "these files are gone");
}

/// A server that hands out a file's pieces in another order (two pieces of
/// the same length, which no size check can tell apart) is caught: each
/// piece opens only with the key of its own place, and nothing is written
/// under the file's name.
#[tokio::test]
async fn a_server_that_reorders_pieces_is_caught() {
    let (app, work, state) = setup().await;
    let file = work.path().join("two-pieces.bin");
    std::fs::write(&file, noise(8 * 1024 * 1024, 11)).unwrap();
    let out = run(
        &state,
        &["send", "--server", &app.base, file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_owned();
    let id = link
        .split("/f/")
        .nth(1)
        .and_then(|rest| rest.split('#').next())
        .unwrap()
        .to_owned();

    let handoff::store::Store::Sqlite(handoff::store::Sqlite { pool, .. }) = &app.store else {
        panic!("a SQLite store");
    };
    let mut c = common::writable(pool).await;
    for (from, to) in [(0, 99), (1, 0), (99, 1)] {
        let done = sqlx::query(
            "UPDATE transfer_pieces SET piece = ? WHERE transfer_id = ? AND file = 0 AND piece = ?",
        )
        .bind(to)
        .bind(&id)
        .bind(from)
        .execute(&mut c)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
    }

    let dest = work.path().join("dest");
    let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
    fails_saying(
        &out,
        "piece 0 of two-pieces.bin does not decrypt with its place's key",
    );
    assert!(
        !dest.join("two-pieces.bin").exists(),
        "nothing is written under the file's name"
    );
}

#[tokio::test]
async fn existing_files_are_kept_unless_forced() {
    let (app, work, state) = setup().await;
    let file = work.path().join("report.txt");
    std::fs::write(&file, b"new contents").unwrap();
    let out = run(
        &state,
        &["send", "--server", &app.base, file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_owned();
    let dest = work.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("report.txt"), b"mine").unwrap();
    let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
    fails_saying(&out, "--force");
    assert_eq!(std::fs::read(dest.join("report.txt")).unwrap(), b"mine");
    // Within the grace the claimed download can be run again.
    let out = run(
        &state,
        &["get", &link, "-o", dest.to_str().unwrap(), "--force"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(dest.join("report.txt")).unwrap(),
        b"new contents"
    );
}

/// Starts `send FILE` and kills it once its state file is written and, if
/// `piece`, the server holds a first piece; yields the state file's JSON.
async fn start_and_kill(app: &common::TestApp, state: &Path, file: &Path, piece: bool) -> Value {
    let mut child = handoff(state)
        .args(["send", "--server", &app.base, file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let dir = state.join("handoff");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let saved: Value = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the send never started"
        );
        let found = std::fs::read_dir(&dir)
            .ok()
            .and_then(|d| {
                d.filter_map(Result::ok)
                    .find(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .and_then(|e| std::fs::read(e.path()).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if let Some(saved) = found {
            if !piece {
                child.start_kill().unwrap();
                break saved;
            }
            let id = saved["id"].as_str().unwrap();
            let res = app
                .http
                .get(app.url(&format!("/api/v1/transfers/{id}/upload")))
                .bearer_auth(saved["upload_token"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            let held: Value = res.json().await.unwrap();
            if !held["files"][0]["present"].as_array().unwrap().is_empty() {
                child.start_kill().unwrap();
                break saved;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let killed = child.wait_with_output().await.unwrap();
    assert!(!killed.status.success(), "the send was killed mid-way");
    saved
}

#[tokio::test]
async fn a_killed_send_resumes_where_it_stopped() {
    let (app, work, state) = setup().await;
    let file = work.path().join("export.bin");
    std::fs::write(&file, noise(120 * 1024 * 1024, 11)).unwrap();
    let saved = start_and_kill(&app, &state, &file, true).await;
    #[cfg(unix)]
    {
        let entry = std::fs::read_dir(state.join("handoff"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            mode(&entry.path()),
            0o600,
            "the state file holds the identity"
        );
    }

    let out = run(
        &state,
        &[
            "send",
            "--server",
            &app.base,
            "--resume",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Resumed"),
        "{}",
        text(&out.stderr)
    );
    let link = text(&out.stdout).trim().to_owned();
    assert!(
        link.contains(saved["id"].as_str().unwrap()),
        "the same transfer: {link}"
    );
    let dest = work.path().join("dest");
    let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sha256(&file), sha256(&dest.join("export.bin")));
}

/// A stand-in between `handoff send` and the server that, in phase 0,
/// refuses to complete uploads (so the send stops with every piece on the
/// server) and, in phase 1, forwards everything but answers a sender's
/// "what do you hold" with nothing held: the view of a resume that asked
/// just before a killed run's last piece landed.
#[derive(Clone)]
struct StaleView {
    upstream: String,
    http: reqwest::Client,
    phase: std::sync::Arc<std::sync::atomic::AtomicU8>,
    refused_as_held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StaleView {
    /// The stand-in in front of `app`, in `phase`, serving on a free
    /// loopback port: it and its base URL.
    async fn start(app: &common::TestApp, phase: u8) -> (StaleView, String) {
        let proxy = StaleView {
            upstream: app.base.clone(),
            http: reqwest::Client::new(),
            phase: std::sync::Arc::new(std::sync::atomic::AtomicU8::new(phase)),
            refused_as_held: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(stale_view)
            .with_state(proxy.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (proxy, base)
    }
}

async fn stale_view(
    axum::extract::State(p): axum::extract::State<StaleView>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering::SeqCst;
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let phase = p.phase.load(SeqCst);
    if phase == 0 && method == reqwest::Method::POST && path.ends_with("/complete") {
        return (reqwest::StatusCode::SERVICE_UNAVAILABLE, "not now").into_response();
    }
    if phase == 2 && method == reqwest::Method::GET && path.contains("/pieces/") {
        // A piece larger than any can be, sent without a length.
        return axum::body::Body::new(Endless {
            left: handoff::transfer::PIECE_CIPHERTEXT_MAX + 1,
        })
        .into_response();
    }
    let mut headers = req.headers().clone();
    headers.remove(reqwest::header::HOST);
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .unwrap();
    let res = p
        .http
        .request(method.clone(), format!("{}{path}", p.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let mut answer_headers = res.headers().clone();
    answer_headers.remove(reqwest::header::CONTENT_LENGTH);
    let mut bytes = res.bytes().await.unwrap().to_vec();
    if phase == 1 && method == reqwest::Method::GET && path.ends_with("/upload") {
        let mut held: Value = serde_json::from_slice(&bytes).unwrap();
        for file in held["files"].as_array_mut().unwrap() {
            file["present"] = json!([]);
        }
        bytes = serde_json::to_vec(&held).unwrap();
    }
    if method == reqwest::Method::PUT && status == reqwest::StatusCode::CONFLICT {
        p.refused_as_held.fetch_add(1, SeqCst);
    }
    (status, answer_headers, bytes).into_response()
}

/// A body of `left` bytes of zeros in 64 KiB frames, its length not told.
struct Endless {
    left: usize,
}

impl http_body::Body for Endless {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let n = self.left.min(64 * 1024);
        if n == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= n;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(axum::body::Bytes::from(
            vec![0u8; n],
        )))))
    }
}

/// A server that answers a piece with more bytes than any piece can have
/// (and no length) is refused as the bytes arrive, not read into memory
/// without end: `handoff get` stops with a sentence and writes no file.
#[tokio::test]
async fn a_server_that_sends_too_much_is_refused() {
    use std::sync::atomic::Ordering::SeqCst;
    let app = spawn_app(Backend::Sqlite).await;
    let (proxy, base) = StaleView::start(&app, 2).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let link = send_one(&app, &state, &work.path().join("src"), "a.bin", b"small").await;
    let through_proxy = link.replace(&app.base, &base);
    let dest = work.path().join("dest");
    let out = run(
        &state,
        &["get", &through_proxy, "-o", dest.to_str().unwrap()],
    )
    .await;
    fails_saying(&out, "more than it can be; refusing it");
    assert!(!dest.join("a.bin").exists());
    assert_eq!(proxy.phase.load(SeqCst), 2);
}

/// The resume race, made to happen every time: the server already holds a
/// piece that the resuming send was told it lacks. Re-encrypting gives other
/// bytes, which the server refuses with 409 `piece_exists`; the send counts
/// the piece as sent (only the upload token's holder stores pieces) and
/// completes, and the file arrives byte for byte.
#[tokio::test]
async fn a_resume_that_meets_pieces_already_held_completes() {
    use std::sync::atomic::Ordering::SeqCst;
    let app = spawn_app(Backend::Sqlite).await;
    let (proxy, base) = StaleView::start(&app, 0).await;

    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let file = work.path().join("export.bin");
    std::fs::write(&file, noise(9 * 1024 * 1024, 23)).unwrap();
    let args = [
        "send",
        "--server",
        &base,
        "--resume",
        file.to_str().unwrap(),
    ];
    let out = run(&state, &args).await;
    assert!(!out.status.success(), "the completion was refused");
    assert_eq!(proxy.refused_as_held.load(SeqCst), 0);

    proxy.phase.store(1, SeqCst);
    let out = run(&state, &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        proxy.refused_as_held.load(SeqCst),
        3,
        "each of the three pieces was sent again and refused as held"
    );
    let link = text(&out.stdout).trim().to_owned();
    let dest = work.path().join("dest");
    let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sha256(&file), sha256(&dest.join("export.bin")));
}

#[tokio::test]
async fn a_changed_file_is_not_resumed() {
    let (app, work, state) = setup().await;
    let file = work.path().join("a.bin");
    std::fs::write(&file, noise(40 * 1024 * 1024, 2)).unwrap();
    start_and_kill(&app, &state, &file, false).await;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(b"more").unwrap();
    drop(f);
    let out = run(
        &state,
        &[
            "send",
            "--server",
            &app.base,
            "--resume",
            file.to_str().unwrap(),
        ],
    )
    .await;
    fails_saying(&out, "changed since the interrupted send");
}

#[tokio::test]
async fn unsafe_names_in_a_manifest_are_refused() {
    let (app, work, state) = setup().await;
    for evil in ["../escaped.txt", "/etc/evil", "a/../../x", "dir\\file"] {
        let identity = age::x25519::Identity::generate();
        let to = identity.to_public();
        let manifest = json!({"v": 2, "files": [{"name": evil, "size": 3}]});
        let manifest = age::encrypt(&to, manifest.to_string().as_bytes()).unwrap();
        let piece_key = handoff::transfer::piece_identity(&identity, 0, 0).unwrap();
        let piece = age::encrypt(&piece_key.to_public(), b"bad").unwrap();
        let created = app.declare_one_piece(&manifest, piece.len()).await;
        let id = created["id"].as_str().unwrap();
        let token = created["upload_token"].as_str().unwrap();
        let res = app
            .http
            .put(app.url(&format!("/api/v1/transfers/{id}/files/0/pieces/0")))
            .bearer_auth(token)
            .body(piece)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let res = app
            .http
            .post(app.url(&format!("/api/v1/transfers/{id}/complete")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let link = format!(
            "{}#{}",
            created["url"].as_str().unwrap(),
            identity.to_string().expose_secret()
        );
        let dest = work.path().join("dest/inner");
        let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
        assert!(!out.status.success(), "{evil:?} is refused");
        assert!(
            text(&out.stderr).contains("refusing these files"),
            "{evil:?}: {}",
            text(&out.stderr)
        );
        assert!(!work.path().join("dest/escaped.txt").exists());
        assert!(!work.path().join("escaped.txt").exists());
        assert!(
            text(&out.stderr).contains("The link is used up now; nothing was written"),
            "{evil:?}: {}",
            text(&out.stderr)
        );
        // Not even the download's state file (it would hold the token for nothing).
        let written: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(written.is_empty(), "{evil:?}: nothing written: {written:?}");
    }
}

/// Sends `name` holding `bytes` with the real binary; the link.
async fn send_one(
    app: &common::TestApp,
    state: &Path,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let out = run(
        state,
        &["send", "--server", &app.base, file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

/// A partial file this download did not make is never written through nor
/// continued: a symbolic link there (to a file elsewhere) and a stale
/// partial file of the same name are refused, the link's target is left as
/// it was, and once they are moved away the same claim finishes the
/// download with the sender's bytes only, mode 0600.
#[tokio::test]
async fn a_partial_file_in_the_way_is_refused_not_used() {
    let (app, work, state) = setup().await;
    let sent = noise(2 * 1024 * 1024 + 10, 31);
    let link = send_one(&app, &state, &work.path().join("src"), "same.bin", &sent).await;
    let dest = work.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    let outside = work.path().join("outside.txt");
    std::fs::write(&outside, b"someone else's").unwrap();
    let part = dest.join("same.bin.handoff-part");
    std::os::unix::fs::symlink(&outside, &part).unwrap();
    // The state file's temporary name is not written through either.
    let id = link.split("/f/").nth(1).unwrap().split('#').next().unwrap();
    let other = work.path().join("other.txt");
    std::fs::write(&other, b"not the token's place").unwrap();
    std::os::unix::fs::symlink(&other, dest.join(format!(".handoff-get-{id}.tmp"))).unwrap();
    let args = ["get", link.as_str(), "-o", dest.to_str().unwrap()];
    let get = || run(&state, &args);
    fails_saying(&get().await, "is in the way: this download did not make it");
    assert_eq!(std::fs::read(&outside).unwrap(), b"someone else's");
    assert_eq!(std::fs::read(&other).unwrap(), b"not the token's place");
    assert!(!dest.join("same.bin").exists());

    std::fs::remove_file(&part).unwrap();
    std::fs::write(&part, vec![b'Z'; 8 * 1024 * 1024]).unwrap();
    fails_saying(&get().await, "is in the way");
    std::fs::remove_file(&part).unwrap();

    let out = get().await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sha256(&dest.join("same.bin")),
        Sha256::digest(&sent).to_vec()
    );
    assert_eq!(mode(&dest.join("same.bin")), 0o600);
}

/// A file refused as "exists" is refused again on the next run (a file of
/// the same size is not taken for one this download saved), and --force
/// replaces it with the sender's bytes.
#[tokio::test]
async fn a_file_in_the_way_of_the_same_size_stays_refused_until_forced() {
    let (app, work, state) = setup().await;
    let link = send_one(&app, &state, &work.path().join("src"), "same.txt", b"NEWER").await;
    let dest = work.path().join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("same.txt"), b"OLDER").unwrap();
    for _ in 0..2 {
        let out = run(&state, &["get", &link, "-o", dest.to_str().unwrap()]).await;
        fails_saying(&out, "exists; use --force");
        assert_eq!(std::fs::read(dest.join("same.txt")).unwrap(), b"OLDER");
    }
    let out = run(
        &state,
        &["get", &link, "-o", dest.to_str().unwrap(), "--force"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(dest.join("same.txt")).unwrap(), b"NEWER");
}

/// A folder that cannot take the download's state file is found before the
/// claim: the link is not used up, and works once the folder is fixed.
#[tokio::test]
async fn a_folder_that_cannot_be_written_costs_nothing() {
    let (app, work, state) = setup().await;
    let link = send_one(&app, &state, &work.path().join("src"), "a.txt", b"hello").await;
    let id = link.split("/f/").nth(1).unwrap().split('#').next().unwrap();
    let dest = work.path().join("dest");
    let blocker = dest.join(format!(".handoff-get-{id}.tmp"));
    std::fs::create_dir_all(&blocker).unwrap();
    let args = ["get", link.as_str(), "-o", dest.to_str().unwrap()];
    let get = || run(&state, &args);
    fails_saying(&get().await, "the link is not used up");
    std::fs::remove_dir(&blocker).unwrap();
    let out = get().await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(dest.join("a.txt")).unwrap(), b"hello");

    // -o naming a file, and --json (for secrets), are refused before anything.
    let again = send_one(&app, &state, &work.path().join("src"), "b.txt", b"x").await;
    let a_file = dest.join("a.txt");
    let out = run(&state, &["get", &again, "-o", a_file.to_str().unwrap()]).await;
    fails_saying(&out, "is not a folder");
    let out = run(
        &state,
        &["get", &again, "--json", "-o", dest.to_str().unwrap()],
    )
    .await;
    fails_saying(&out, "--json is for secrets");
    let out = run(&state, &["get", &again, "-o", dest.to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "the link was not used up: {}",
        text(&out.stderr)
    );
}

/// `send` takes files and folders only: a device is refused, not sent as
/// an empty file; symbolic links inside a folder are skipped with a line
/// that says so. A resume with another message than the first run's is
/// refused (the message is encrypted with the list of files already).
#[tokio::test]
async fn send_refuses_what_it_cannot_send_as_it_is() {
    let (app, work, state) = setup().await;
    let out = run(&state, &["send", "--server", &app.base, "/dev/null"]).await;
    fails_saying(&out, "is neither a file nor a folder");

    let folder = work.path().join("only-links");
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", folder.join("link")).unwrap();
    let out = run(
        &state,
        &["send", "--server", &app.base, folder.to_str().unwrap()],
    )
    .await;
    fails_saying(&out, "symbolic links are not sent");
    assert!(
        text(&out.stderr).contains("Skipping"),
        "{}",
        text(&out.stderr)
    );

    let file = work.path().join("export.bin");
    std::fs::write(&file, noise(40 * 1024 * 1024, 4)).unwrap();
    start_and_kill(&app, &state, &file, false).await;
    let out = run(
        &state,
        &[
            "send",
            "--server",
            &app.base,
            "--resume",
            "--message",
            "another",
            file.to_str().unwrap(),
        ],
    )
    .await;
    fails_saying(&out, "the interrupted send has another message");
}

/// Names every reader would refuse together are refused before anything
/// is sent: two files whose names differ only in letter case (one file in
/// Windows' and macOS' folders).
#[tokio::test]
async fn names_that_clash_are_refused_before_sending() {
    let (app, work, state) = setup().await;
    let (a, b) = (work.path().join("x"), work.path().join("y"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("Report.pdf"), b"one").unwrap();
    std::fs::write(b.join("report.pdf"), b"two").unwrap();
    let out = run(
        &state,
        &[
            "send",
            "--server",
            &app.base,
            a.join("Report.pdf").to_str().unwrap(),
            b.join("report.pdf").to_str().unwrap(),
        ],
    )
    .await;
    fails_saying(&out, "cannot send these together");
    assert!(
        !state.join("handoff").exists()
            || std::fs::read_dir(state.join("handoff"))
                .unwrap()
                .next()
                .is_none()
    );
}
