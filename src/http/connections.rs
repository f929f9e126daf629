//! The accept loop: hyper's HTTP/1 server under limits that keep a client
//! from holding the server with connections it never uses (axum's own
//! `serve` has none of them).
//!
//! - **At most `max_connections` open at once.** When a connection arrives
//!   and every slot is taken, the one that has waited longest without a
//!   request in progress makes room: first those that never delivered a
//!   complete request (they sent nothing, or half a head), dropped at once;
//!   then kept-alive connections between requests, closed once any answer is
//!   written. If every connection is answering a request, the new one is
//!   closed.
//! - **A header timeout.** A client has `header_timeout` to send a complete
//!   request head, counted from when it connected (for its first request) or
//!   from the first byte of a later one.
//! - **An idle timeout.** A kept-alive connection that begins no new request
//!   for `idle_timeout` is closed.
//! - **A small head buffer.** A request head larger than `max_header_bytes`
//!   gets 431 from hyper, and an idle connection holds little memory.
//!
//! Handlers see the peer's address as `ConnectInfo<SocketAddr>`, as with
//! axum's `into_make_service_with_connect_info`. When the shutdown signal
//! comes, no new connection is accepted, connections with nothing in
//! progress close, and requests under way are answered first.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use super::error::{ApiError, Code};

/// How long a connection closed gracefully (to make room, or at shutdown)
/// may take to finish writing an answer once no request is in progress.
const GRACE: Duration = Duration::from_secs(1);

/// Smallest head buffer hyper accepts, in bytes.
pub(crate) const MIN_HEADER_BYTES: usize = 8 * 1024;

/// The limits on connections (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more are shed.
    pub max_connections: usize,
    /// Time to send a complete request head.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; at least
    /// [`MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    /// 512 connections, 10 s to send a head, 60 s idle, 16 KiB heads.
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
        }
    }
}

/// How a connection is to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// Dropped: nothing was ever answered on it.
    Now,
    /// Hyper finishes what is under way, then closes it.
    Gracefully,
}

/// What a connection is doing, as its task, its service and its reads see it.
#[derive(Debug)]
struct Activity {
    /// Requests being answered: from their complete head until their answer's
    /// body is dropped (written out, or abandoned).
    in_flight: usize,
    /// Requests answered so far.
    served: u64,
    /// Since when nothing has been in progress.
    idle_since: Instant,
    /// When the head being read began: the connection's opening for its
    /// first request, the first byte for later ones. `None` while a
    /// kept-alive connection waits for its next request.
    head_since: Option<Instant>,
    /// Set once the connection must end.
    close: Option<Close>,
}

impl Activity {
    /// When the connection times out if nothing changes; `None` while a
    /// request is in progress (the handlers' own time limit applies then).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight > 0 {
            return None;
        }
        Some(match self.head_since {
            Some(since) => since + limits.header_timeout,
            None => self.idle_since + limits.idle_timeout,
        })
    }
}

/// One open connection.
#[derive(Debug)]
struct Conn {
    /// When it was accepted: the oldest unused connection is shed first.
    opened: Instant,
    activity: Mutex<Activity>,
    /// Wakes the connection's task to look at `activity` again.
    wake: Notify,
}

impl Conn {
    fn new() -> Conn {
        let now = Instant::now();
        Conn {
            opened: now,
            activity: Mutex::new(Activity {
                in_flight: 0,
                served: 0,
                idle_since: now,
                head_since: Some(now),
                close: None,
            }),
            wake: Notify::new(),
        }
    }

    fn activity(&self) -> MutexGuard<'_, Activity> {
        // Only counters and times are behind the lock: still sound after a panic.
        self.activity.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the connection to end, if nothing is in progress on it (or in
    /// any case, with `busy_too`); `None` if it was not asked.
    fn close(&self, busy_too: bool) -> Option<Close> {
        let mut a = self.activity();
        if a.close.is_some() || (a.in_flight > 0 && !busy_too) {
            return None;
        }
        let close = if a.served == 0 && a.in_flight == 0 {
            Close::Now
        } else {
            Close::Gracefully
        };
        a.close = Some(close);
        drop(a);
        self.wake.notify_one();
        Some(close)
    }
}

/// A request in progress on a connection, until its answer's body is dropped.
struct InFlight(Arc<Conn>);

impl InFlight {
    /// `None` if the connection is being dropped: the request is not run.
    fn start(conn: &Arc<Conn>) -> Option<InFlight> {
        let mut a = conn.activity();
        if a.close == Some(Close::Now) {
            return None;
        }
        a.in_flight += 1;
        a.head_since = None;
        Some(InFlight(conn.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut a = self.0.activity();
        a.in_flight = a.in_flight.saturating_sub(1);
        a.served += 1;
        if a.in_flight == 0 {
            a.idle_since = Instant::now();
        }
        drop(a);
        self.0.wake.notify_one();
    }
}

/// The TCP stream, noting when the first byte of a new request head arrives.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            let mut a = this.conn.activity();
            if a.in_flight == 0 && a.head_since.is_none() {
                a.head_since = Some(Instant::now());
                drop(a);
                this.conn.wake.notify_one();
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The open connections, by a number of their own.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    open: HashMap<u64, Arc<Conn>>,
    /// Connections shed to be dropped whose tasks have not yet dropped
    /// them: each still holds a file descriptor.
    dropping: usize,
}

impl Registry {
    fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
        registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for one more connection below `max`, shedding the one
    /// that has waited longest without a request if need be. False if every
    /// connection is answering a request.
    fn make_room(&mut self, max: usize) -> bool {
        // A request may begin between choosing and closing: then choose again.
        for _ in 0..=self.open.len() {
            if self.open.len() < max {
                return true;
            }
            let chosen = self
                .open
                .iter()
                .filter_map(|(id, conn)| {
                    let a = conn.activity();
                    // Never used first, then the longest idle.
                    let key = if a.served == 0 {
                        (false, conn.opened)
                    } else {
                        (true, a.idle_since)
                    };
                    (a.in_flight == 0 && a.close.is_none()).then_some((key, *id))
                })
                .min();
            let Some((_, id)) = chosen else {
                return false;
            };
            if let Some(conn) = self.open.get(&id)
                && let Some(close) = conn.close(false)
            {
                tracing::debug!("connection shed to make room for a new one");
                self.open.remove(&id);
                self.dropping += usize::from(close == Close::Now);
            }
        }
        self.open.len() < max
    }

    /// Forgets the connection `id`, whose task has ended.
    fn finish(&mut self, id: u64, conn: &Conn) {
        if self.open.remove(&id).is_none() && conn.activity().close == Some(Close::Now) {
            self.dropping = self.dropping.saturating_sub(1);
        }
    }

    fn add(&mut self) -> (u64, Arc<Conn>) {
        self.next += 1;
        let conn = Arc::new(Conn::new());
        self.open.insert(self.next, conn.clone());
        (self.next, conn)
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes,
/// then lets the requests under way finish (see the module documentation).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let mut tasks = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let (mut refusals, mut accept_errors) = (Occasional::default(), Occasional::default());
    // Wakes the loop when a shed connection's task has dropped it.
    let dropped = Arc::new(Notify::new());
    loop {
        // Shed connections are dropped before another is accepted, so that
        // connections never hold more than `max_connections` + 1 descriptors.
        loop {
            let next = dropped.notified();
            if Registry::lock(&registry).dropping == 0 {
                break;
            }
            next.await;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, typically: a pause lets some close.
                if let Some(failed) = accept_errors.note() {
                    tracing::error!(
                        error = %e,
                        failed,
                        "cannot accept connections; lower --max-connections or raise the open-file limit"
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let added = {
            let mut open = Registry::lock(&registry);
            open.make_room(limits.max_connections).then(|| open.add())
        };
        let Some((id, conn)) = added else {
            if let Some(refused) = refusals.note() {
                tracing::warn!(
                    refused,
                    max_connections = limits.max_connections,
                    "every connection is answering a request: new connections are being refused"
                );
            }
            continue;
        };
        let (registry, dropped) = (registry.clone(), dropped.clone());
        let app = app.clone();
        // At trace level only: one line per connection is noise in production,
        // and a trace log is what a test searches for what must never be logged.
        tracing::trace!(%peer, "connection accepted");
        tasks.spawn(async move {
            serve_connection(stream, peer, &conn, app, &limits).await;
            Registry::lock(&registry).finish(id, &conn);
            dropped.notify_one();
        });
    }
    drop(listener);
    for conn in Registry::lock(&registry).open.values() {
        conn.close(true);
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The process's soft limit on open file descriptors, where the system
/// tells it (`/proc/self/limits` on Linux); `None` elsewhere or unlimited.
pub(crate) fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Counts occurrences of something worth a log line, and says when one is
/// due: at the first and then at most once a minute, so that a flood of
/// connections does not flood the log.
#[derive(Default)]
struct Occasional {
    count: u64,
    last_said: Option<Instant>,
}

impl Occasional {
    /// Counts one; `Some(count since the last line)` when a line is due.
    fn note(&mut self) -> Option<u64> {
        self.count += 1;
        let now = Instant::now();
        if self
            .last_said
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(60))
        {
            return None;
        }
        self.last_said = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

/// Errors of one connection that is already gone, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The answer to a request that arrives on a connection being dropped; it
/// is rarely seen, since the connection goes with it.
fn closing() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        Code::Unavailable,
        "The server closed this connection to make room for others; send the request again.",
    )
    .into_response()
}

/// Runs one connection until it ends, times out or is dropped.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: &Arc<Conn>,
    app: Router,
    limits: &ConnectionLimits,
) {
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
    });
    let for_service = conn.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let guard = InFlight::start(&for_service);
        async move {
            let Some(guard) = guard else {
                return Ok::<_, Infallible>(closing());
            };
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let res = match app.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            // The request counts as in progress until its answer is written.
            Ok(res.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _in_flight = &guard;
                    frame
                }))
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut grace_until: Option<Instant> = None;
    let deadline = |grace_until: Option<Instant>| {
        let a = conn.activity();
        let mut until = a.deadline(limits);
        if let (Some(t), Some(g)) = (until, grace_until) {
            until = Some(t.min(g));
        }
        (until, a.close)
    };
    loop {
        let (until, close) = deadline(grace_until);
        match close {
            Some(Close::Now) => return,
            Some(Close::Gracefully) if grace_until.is_none() => {
                connection.as_mut().graceful_shutdown();
                grace_until = Some(Instant::now() + GRACE);
                continue;
            }
            _ => {}
        }
        let timeout = async {
            match until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = timeout => {
                // Looked at again: a request may have begun meanwhile.
                if deadline(grace_until).0.is_some_and(|t| t <= Instant::now()) {
                    tracing::debug!("connection closed: header or idle timeout");
                    return;
                }
            }
            () = conn.wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle_conn(served: u64) -> Arc<Conn> {
        let conn = Arc::new(Conn::new());
        conn.activity().served = served;
        if served > 0 {
            conn.activity().head_since = None;
        }
        conn
    }

    #[tokio::test]
    async fn never_used_connections_are_shed_before_kept_alive_ones() {
        let mut r = Registry::default();
        let (kept, kept_conn) = r.add();
        kept_conn.activity().served = 3;
        let (busy, busy_conn) = r.add();
        let _request = InFlight::start(&busy_conn);
        let (silent, silent_conn) = r.add();
        assert!(r.make_room(3));
        assert_eq!(r.open.len(), 2);
        assert!(!r.open.contains_key(&silent), "the unused one went first");
        assert_eq!(silent_conn.activity().close, Some(Close::Now));
        assert_eq!(r.dropping, 1);
        r.finish(silent, &silent_conn);
        assert_eq!(r.dropping, 0);
        assert!(r.make_room(2));
        assert!(!r.open.contains_key(&kept), "then the kept-alive one");
        assert_eq!(kept_conn.activity().close, Some(Close::Gracefully));
        assert!(!r.make_room(1), "a connection answering a request stays");
        assert!(r.open.contains_key(&busy));
        assert_eq!(busy_conn.activity().close, None);
    }

    #[tokio::test]
    async fn deadlines_follow_the_connection_state() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        };
        let conn = idle_conn(0);
        assert_eq!(
            conn.activity().deadline(&limits),
            Some(conn.opened + limits.header_timeout),
            "a new connection must send its first head in time"
        );
        let request = InFlight::start(&conn);
        assert_eq!(conn.activity().deadline(&limits), None);
        drop(request);
        let a = conn.activity();
        assert_eq!(a.served, 1);
        assert_eq!(
            a.deadline(&limits),
            Some(a.idle_since + limits.idle_timeout)
        );
    }

    #[tokio::test]
    async fn log_lines_about_floods_are_occasional() {
        let mut o = Occasional::default();
        assert_eq!(o.note(), Some(1), "the first is said");
        assert_eq!((o.note(), o.note()), (None, None));
        o.last_said = o.last_said.map(|t| t - Duration::from_secs(61));
        assert_eq!(o.note(), Some(3), "a minute later, with the count");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_descriptor_limit_is_read() {
        assert!(descriptor_limit().is_some_and(|n| n >= 16));
    }

    #[tokio::test]
    async fn a_dropped_connection_runs_no_more_requests() {
        let conn = idle_conn(0);
        assert_eq!(conn.close(false), Some(Close::Now));
        assert!(InFlight::start(&conn).is_none());
        let kept = idle_conn(2);
        assert_eq!(kept.close(false), Some(Close::Gracefully));
        assert!(
            InFlight::start(&kept).is_some(),
            "a graceful close lets it finish"
        );
    }
}
