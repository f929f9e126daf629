//! Connections that a client opens and does not use: more than the server
//! allows, silent, half a request head, a head sent a byte at a time, or kept
//! alive and left idle. They are shed or closed, and legitimate requests keep
//! being answered. Traffic goes to loopback only, bounded in count and time.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Backend, TestApp, TestDb, spawn_app_with};
use handoff::clock::Clock;
use handoff::config::Settings;
use handoff::http::connections::ConnectionLimits;
use handoff::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far beyond any limit a test sets: whatever has not happened by then
/// will not happen.
const BOUND: Duration = Duration::from_secs(10);

const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: handoff.test\r\nAccept: */";

async fn app_with(limits: ConnectionLimits) -> TestApp {
    spawn_app_with(Backend::Sqlite, move |s| Settings {
        connections: limits,
        ..s.without_rate_limits()
    })
    .await
}

/// `n` connections, each having sent `sent` (nothing, or half a head) and
/// then stalling.
async fn open(addr: SocketAddr, n: usize, sent: &'static [u8]) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(sent).await.unwrap();
        out.push(conn);
    }
    out
}

/// Whether the server closes `conn` (end of stream or reset) within `bound`.
async fn closes(mut conn: TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(bound, async {
        while let Ok(n) = conn.read(&mut buf).await
            && n > 0
        {}
    })
    .await
    .is_ok()
}

/// How many of `conns` the server closes within `bound`.
async fn closed_within(conns: Vec<TcpStream>, bound: Duration) -> usize {
    let waits: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(closes(c, bound)))
        .collect();
    let mut closed = 0;
    for w in waits {
        closed += usize::from(w.await.unwrap());
    }
    closed
}

async fn healthz(app: &TestApp) -> u16 {
    // A client of its own: a fresh connection, as a new visitor would open.
    let client = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// With room for 8 connections, 20 that never send a request (15 silent, 5
/// with half a head) do not lock anyone out: each new connection displaces
/// the oldest unused one, so `/healthz` still answers, and exactly the 13
/// displaced ones are closed (the timeouts, a minute here, play no part).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_connections_beyond_the_cap_make_room_for_new_ones() {
    let app = app_with(ConnectionLimits {
        max_connections: 8,
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..ConnectionLimits::default()
    })
    .await;
    let mut conns = open(app.addr, 15, b"").await;
    conns.extend(open(app.addr, 5, HALF_HEAD).await);
    assert_eq!(healthz(&app).await, 200);
    assert_eq!(
        closed_within(conns, Duration::from_secs(3)).await,
        20 - 7,
        "20 unused and 1 answered connection on 8 slots: 7 unused ones stay"
    );
}

/// Connections that send nothing, half a head, or a head a byte at a time
/// are closed once the header timeout has passed since they connected, while
/// requests that arrive whole are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_whole_head_are_closed_after_the_header_timeout() {
    let app = app_with(ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(30),
        ..ConnectionLimits::default()
    })
    .await;
    let mut conns = open(app.addr, 5, b"").await;
    conns.extend(open(app.addr, 5, HALF_HEAD).await);
    // A head sent a byte every 200 ms, until the server closes the connection.
    let mut trickled = TcpStream::connect(app.addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        for b in HALF_HEAD.iter().cycle().take(100) {
            if trickled.write_all(&[*b]).await.is_err() {
                return true;
            }
            let mut buf = [0u8; 64];
            let read = tokio::time::timeout(Duration::from_millis(200), trickled.read(&mut buf));
            if let Ok(Ok(0) | Err(_)) = read.await {
                return true;
            }
        }
        false
    });
    assert_eq!(healthz(&app).await, 200);
    assert_eq!(closed_within(conns, BOUND).await, 10);
    assert!(trickle.await.unwrap(), "the trickled head is cut off too");
    assert_eq!(healthz(&app).await, 200);
}

/// One answer read from a raw connection: its status, or `None` if the
/// connection closed instead.
async fn exchange(conn: &mut TcpStream) -> Option<u16> {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: handoff.test\r\n\r\n")
        .await
        .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text.get(9..12)?.parse().ok();
            }
        }
    }
}

/// A kept-alive connection outlives the header timeout between requests (the
/// idle timeout applies there) and is closed once it has been idle that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_close_after_the_idle_timeout() {
    let app = app_with(ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(4),
        ..ConnectionLimits::default()
    })
    .await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    assert_eq!(exchange(&mut conn).await, Some(200));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        exchange(&mut conn).await,
        Some(200),
        "2 s idle of 4 allowed"
    );
    assert!(closes(conn, BOUND).await);
}

/// A request head larger than the configured buffer gets 431; one that fits
/// is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_431() {
    let app = app_with(ConnectionLimits {
        max_header_bytes: 16 * 1024,
        ..ConnectionLimits::default()
    })
    .await;
    let get = |filler: usize| {
        app.http
            .get(app.url("/healthz"))
            .header("x-filler", "x".repeat(filler))
            .send()
    };
    assert_eq!(get(8 * 1024).await.unwrap().status(), 200);
    assert_eq!(get(32 * 1024).await.unwrap().status(), 431);
}

/// Shutting down does not wait for connections that never send a request:
/// the server, with the purge task `serve` runs, stops promptly, with them
/// open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_unused_connections() {
    let db = TestDb::new(Backend::Sqlite).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = Settings::new(&format!("http://{addr}")).unwrap();
    assert!(settings.purge_interval.is_some());
    let server = Server::open(db.url(), settings, Clock::manual(common::T0))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let conns = open(addr, 3, b"").await;
    let mut half = open(addr, 2, HALF_HEAD).await;
    let mut kept = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut kept).await, Some(200));
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(BOUND, server).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "the server stopped: {ended:?}"
    );
    half.extend(conns);
    assert_eq!(closed_within(half, Duration::from_secs(1)).await, 5);
}

/// `handoff serve` run by `bash` under an open-file limit, killed on drop.
struct LimitedServer {
    child: std::process::Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl LimitedServer {
    async fn start(descriptors: u32, args: &[&str]) -> LimitedServer {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.path().join("server.log");
        let db = format!("sqlite://{}", dir.path().join("handoff.db").display());
        let child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_handoff"))
            .args([
                "serve",
                "--listen",
                &addr.to_string(),
                "--database-url",
                &db,
            ])
            .args(args)
            .env_remove("HANDOFF_PUBLIC_URL")
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let server = LimitedServer {
            child,
            addr,
            log,
            _dir: dir,
        };
        for _ in 0..400 {
            if let Ok(r) = reqwest::get(format!("http://{addr}/healthz")).await
                && r.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("handoff did not start: {}", server.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The case: a process allowed 150 open files, 100 connections,
/// and 400 connections that never send a request (half of them half a
/// head). Shed connections are dropped before more are accepted, so the
/// process never runs out of descriptors: nothing fails to be accepted,
/// `/healthz` answers, and all but the 99 newest unused ones are closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unused_connections_never_exhausts_descriptors() {
    let server = LimitedServer::start(150, &["--max-connections", "100"]).await;
    let mut conns = open(server.addr, 200, b"").await;
    conns.extend(open(server.addr, 200, HALF_HEAD).await);
    let client = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let res = client
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(client);
    assert_eq!(
        closed_within(conns, Duration::from_secs(2)).await,
        400 - 99,
        "{}",
        server.log()
    );
    let log = server.log();
    assert!(!log.contains("cannot accept"), "{log}");
}
