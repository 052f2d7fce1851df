//! Accepting and serving connections, so that no client holds the server: the accept loop, a
//! cap on connections, the header-read and idle timeouts, and a stop bounded by a grace period.
//!
//! * **Cap.** At most [`Limits::max_connections`] connections are open at once (by default
//!   derived from the open-files limit, which `serve` raises to its hard limit at start:
//!   [`raise_open_files_limit`]). A connection past the cap is still accepted, so `accept`
//!   never starves: it closes the connection that has been idle the longest (no request in
//!   progress), or, when every connection has a request in progress, it is answered a bare
//!   `503` in the JSON error shape and closed. Refusals are logged at most once per
//!   [`LOG_EVERY`].
//! * **Header-read timeout.** Once the first byte of a request has arrived, its headers must
//!   be complete within [`Limits::header_read_timeout`], or the connection is closed (slow
//!   clients, "slowloris").
//! * **Idle timeout.** A connection with no request in progress (before its first request,
//!   or between kept-alive requests) is closed after [`Limits::idle_timeout`]. A request in
//!   progress, such as a long poll, is never idle; the request timeout of the router bounds it.
//! * **Accept errors** (out of files, out of memory) are logged at most once per
//!   [`LOG_EVERY`] and retried after [`ACCEPT_BACKOFF`], never in a busy loop.
//! * **Unread bodies.** A request body the handler did not read to its end (refused as too
//!   large for its route, or answered before it was read) is read and thrown away after the
//!   answer, within [`DRAIN_TIME`] and [`DRAIN_BYTES`], so the client receives the answer
//!   rather than a connection reset.
//! * **Stop.** When `shutdown` is cancelled the listener closes, connections that never sent a
//!   request close at once, the others finish the request they are in and close (hyper's
//!   graceful shutdown); long polls answer at once (`crate::live`). Whatever is still open
//!   after [`Limits::shutdown_grace`] is dropped.
//!
//! HTTP/1.1 only (with keep-alive), as before: phones, browsers and the console speak it to
//! this server. Each request carries `ConnectInfo<SocketAddr>` (sign-in throttling).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::Service as _;

/// How often at most a repeated condition (refusals, accept errors) is logged.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long the accept loop waits after an accept error other than a failed handshake.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Connections closed to make room close in their own tasks, a moment later. While more than
/// this many are still closing, the accept loop waits for them (at most [`CLOSING_WAIT`]), so
/// a burst of new connections cannot run the process out of files meanwhile (the files left
/// free by the default cap, `config::RESERVED_FILES`, cover this).
pub const CLOSING_SLACK: usize = 32;
/// The longest the accept loop waits for connections closing to make room. (One chosen just
/// as a request began on it finishes that request first.)
pub const CLOSING_WAIT: Duration = Duration::from_secs(1);
/// A request body the handler did not read to its end (refused as too large, or before it
/// was read, such as a `401`) is read and thrown away for at most this long after the
/// answer...
pub const DRAIN_TIME: Duration = Duration::from_secs(5);
/// ...and at most this many bytes (as sent, before any decompression), so the client gets the
/// answer instead of a connection reset and may keep the connection. Past either bound the
/// connection is closed.
pub const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// The connection limits (from [`crate::config::Settings`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest time a request's headers may take, from their first byte.
    pub header_read_timeout: Duration,
    /// Longest time a connection may stay open with no request in progress.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a stop waits for requests in progress.
    pub shutdown_grace: Duration,
}

/// The process's open-files limits: soft before, soft after raising it, and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now.
    pub now: u64,
    /// The hard limit (the most the soft limit may be raised to).
    pub hard: u64,
}

/// Raises the soft open-files limit (`RLIMIT_NOFILE`) to the hard limit. Many systems start
/// services with a soft limit of 1,024, far below what the hard limit allows.
pub fn raise_open_files_limit() -> io::Result<OpenFiles> {
    let (before, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    let now = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok(OpenFiles { before, now, hard })
}

/// The soft open-files limit, if it can be read.
pub fn open_files_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Milliseconds since the server started, the unit the connections' clocks are kept in.
#[derive(Debug)]
struct Clock(Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// "Not set" for [`Conn::head_started`].
const UNSET: u64 = u64::MAX;

/// One connection, as its watchdog, the accept loop and the request service see it.
#[derive(Debug)]
struct Conn {
    id: u64,
    /// Requests whose response is not finished (at most one on HTTP/1.1).
    in_flight: AtomicUsize,
    /// Requests started on this connection.
    requests: AtomicU64,
    /// When the connection last became idle (accepted, or a response finished), in ms.
    idle_since: AtomicU64,
    /// When the first byte of the next request arrived while idle, in ms, or [`UNSET`].
    head_started: AtomicU64,
    /// Closed by the accept loop to make room.
    evicted: AtomicBool,
    /// Wakes the watchdog when any of the above changes.
    changed: Notify,
}

impl Conn {
    fn new(id: u64, now_ms: u64) -> Self {
        Self {
            id,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(now_ms),
            head_started: AtomicU64::new(UNSET),
            evicted: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    /// When the connection times out (ms), unless something happens first; `None` while a
    /// request is in progress.
    fn deadline(&self, limits: &Limits) -> Option<u64> {
        if self.busy() {
            return None;
        }
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head = self.head_started.load(Ordering::SeqCst);
        Some(if head == UNSET {
            self.idle_since
                .load(Ordering::SeqCst)
                .saturating_add(millis(limits.idle_timeout))
        } else {
            head.saturating_add(millis(limits.header_read_timeout))
        })
    }
}

/// A request in progress on a connection, from its head until its response body is done
/// (or dropped).
#[derive(Debug)]
struct InFlight {
    conn: Arc<Conn>,
    clock: Arc<Clock>,
}

impl InFlight {
    fn start(conn: &Arc<Conn>, clock: &Arc<Clock>) -> Self {
        conn.head_started.store(UNSET, Ordering::SeqCst);
        conn.requests.fetch_add(1, Ordering::SeqCst);
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        conn.changed.notify_one();
        Self {
            conn: conn.clone(),
            clock: clock.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn.head_started.store(UNSET, Ordering::SeqCst);
        self.conn
            .idle_since
            .store(self.clock.now_ms(), Ordering::SeqCst);
        self.conn.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.conn.changed.notify_one();
    }
}

/// A response body that keeps its request in progress until it is done.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that, when dropped before its end, has the rest read and thrown away in the
/// background (within [`DRAIN_TIME`] and [`DRAIN_BYTES`]; nothing is kept). Without this,
/// closing a socket with unread data makes the kernel reset the connection, and a client
/// still sending a body too large for its route would lose the `413` answer.
struct Drained {
    inner: Option<Incoming>,
    ended: bool,
}

impl http_body::Body for Drained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            self.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if self.ended || http_body::Body::is_end_stream(&body) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

/// Reads and throws away the rest of a request body, within [`DRAIN_TIME`] and
/// [`DRAIN_BYTES`].
async fn drain(mut body: Incoming) {
    let deadline = Instant::now() + DRAIN_TIME;
    let mut left = DRAIN_BYTES;
    loop {
        let frame = std::future::poll_fn(|cx| http_body::Body::poll_frame(Pin::new(&mut body), cx));
        match tokio::time::timeout_at(deadline, frame).await {
            Ok(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, Bytes::len);
                if n > left {
                    return;
                }
                left -= n;
            }
            _ => return,
        }
    }
}

/// The socket, noting when the first byte of a request arrives on an idle connection.
struct Metered {
    stream: TcpStream,
    conn: Arc<Conn>,
    clock: Arc<Clock>,
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && !this.conn.busy()
            && this.conn.head_started.load(Ordering::SeqCst) == UNSET
        {
            this.conn
                .head_started
                .store(this.clock.now_ms(), Ordering::SeqCst);
            this.conn.changed.notify_one();
        }
        result
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    app: Router,
    limits: Limits,
    clock: Arc<Clock>,
    /// Connections counted against the cap (an evicted one leaves at once).
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// Connection tasks still running.
    open: watch::Sender<usize>,
    /// Stop gracefully.
    shutdown: CancellationToken,
    /// The grace period is over: drop every connection.
    hard_stop: CancellationToken,
}

/// What the accept loop did with a new connection.
enum Admission {
    /// Served, with no one closed for it.
    Admitted(Arc<Conn>),
    /// Served; the connection idle the longest was closed to make room.
    MadeRoom(Arc<Conn>),
    /// Every connection has a request in progress.
    Full,
}

impl Shared {
    fn admit(&self) -> Admission {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let mut made_room = false;
        if conns.len() >= self.limits.max_connections {
            let victim = conns
                .values()
                .filter(|c| !c.busy())
                .min_by_key(|c| c.idle_since.load(Ordering::SeqCst))
                .map(|c| c.id);
            let Some(victim) = victim.and_then(|id| conns.remove(&id)) else {
                return Admission::Full;
            };
            victim.evicted.store(true, Ordering::SeqCst);
            victim.changed.notify_one();
            made_room = true;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(id, self.clock.now_ms()));
        conns.insert(id, conn.clone());
        if made_room {
            Admission::MadeRoom(conn)
        } else {
            Admission::Admitted(conn)
        }
    }
}

/// Removes a connection from the count when its task ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.shared.open.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Logs a repeated condition at most once per [`LOG_EVERY`], with how often it happened.
#[derive(Debug, Default)]
struct Every {
    last: Option<Instant>,
    count: u64,
}

impl Every {
    /// Counts one occurrence; `Some(count)` when it is time to log.
    fn tick(&mut self) -> Option<u64> {
        self.count += 1;
        let due = self.last.is_none_or(|last| last.elapsed() >= LOG_EVERY);
        if !due {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.count))
    }
}

/// The answer to a connection past the cap while every connection is busy.
fn busy_answer() -> Vec<u8> {
    let body = r#"{"error":{"code":"unavailable","message":"the server has too many connections; retry later"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A failed handshake of one client, not a problem of the server.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops within the grace
/// period. `on_stop` runs as the stop begins (it makes long polls answer).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
    on_stop: impl FnOnce(),
) -> io::Result<()> {
    let shared = Arc::new(Shared {
        app,
        limits,
        clock: Arc::new(Clock(Instant::now())),
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        open: watch::Sender::new(0),
        shutdown: shutdown.clone(),
        hard_stop: CancellationToken::new(),
    });
    let busy = busy_answer();
    let (mut refused, mut made_room, mut failed) =
        (Every::default(), Every::default(), Every::default());
    let mut open = shared.open.subscribe();
    let most_open = limits.max_connections.saturating_add(CLOSING_SLACK);
    loop {
        if *open.borrow() >= most_open {
            let closed = open.wait_for(|n| *n < most_open);
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tokio::time::timeout(CLOSING_WAIT, closed) => {}
            }
        }
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = match shared.admit() {
                    Admission::Admitted(conn) => conn,
                    Admission::MadeRoom(conn) => {
                        if let Some(n) = made_room.tick() {
                            tracing::info!(
                                max_connections = limits.max_connections,
                                closed = n,
                                "at the connection cap: closing the connections idle the longest to make room"
                            );
                        }
                        conn
                    }
                    Admission::Full => {
                        let _ = stream.try_write(&busy);
                        drop(stream);
                        if let Some(n) = refused.tick() {
                            tracing::warn!(
                                max_connections = limits.max_connections,
                                refused = n,
                                "at the connection cap with a request in progress on every connection: refusing new connections with 503"
                            );
                        }
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                shared.open.send_modify(|n| *n += 1);
                let registered = Registered {
                    shared: shared.clone(),
                    id: conn.id,
                };
                tokio::spawn(serve_connection(stream, peer, conn, registered));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of files or memory: the pending connection stays queued; try again
                // shortly instead of spinning on the same error.
                if let Some(n) = failed.tick() {
                    tracing::warn!(error = %e, failures = n, "accepting a connection failed; retrying shortly");
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    on_stop();

    let drained = tokio::time::timeout(limits.shutdown_grace, open.wait_for(|n| *n == 0))
        .await
        .is_ok();
    if !drained {
        let left = *open.borrow();
        tracing::warn!(
            connections = left,
            grace = ?limits.shutdown_grace,
            "requests still in progress after the grace period; closing their connections"
        );
        shared.hard_stop.cancel();
        let _ = open.wait_for(|n| *n == 0).await;
    }
    Ok(())
}

/// Serves one connection until it ends, times out, is closed to make room, or the server
/// stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Arc<Conn>,
    registered: Registered,
) {
    let shared = registered.shared.clone();
    let clock = shared.clock.clone();
    let limits = shared.limits;
    let io = TokioIo::new(Metered {
        stream,
        conn: conn.clone(),
        clock: clock.clone(),
    });
    let service = {
        let (conn, clock, app) = (conn.clone(), clock.clone(), shared.app.clone());
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&conn, &clock);
            let mut app = app.clone();
            let mut request = request.map(|body| {
                Body::new(Drained {
                    inner: Some(body),
                    ended: false,
                })
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            async move {
                let response = match app.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|inner| Tracked {
                    inner,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header-read timeout is kept here, counted from the first byte (hyper's own counts
    // from when it starts waiting, idle time included).
    builder.header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        if conn.evicted.load(Ordering::SeqCst) && !stopping {
            if !conn.busy() {
                tracing::debug!(%peer, "closing an idle connection to make room");
                break;
            }
            // A request began just as it was chosen: finish it, then close.
            stopping = true;
            connection.as_mut().graceful_shutdown();
        }
        let deadline = conn.deadline(&limits);
        let timeout = async {
            match deadline {
                Some(ms) => tokio::time::sleep_until(clock.at(ms)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            () = conn.changed.notified() => {}
            () = timeout => {
                if conn.deadline(&limits).is_some_and(|d| d <= clock.now_ms()) {
                    tracing::debug!(%peer, "closing a connection: headers too slow or idle too long");
                    break;
                }
            }
            () = shared.shutdown.cancelled(), if !stopping => {
                stopping = true;
                if conn.requests.load(Ordering::SeqCst) == 0 && !conn.busy() {
                    // It never asked anything: nothing to finish.
                    break;
                }
                // Finish the request in progress, if any, then close.
                connection.as_mut().graceful_shutdown();
            }
            () = shared.hard_stop.cancelled() => break,
        }
    }
    drop(registered);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections,
            shutdown_grace: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_connection_times_out_idle_or_mid_headers_but_never_mid_request() {
        let l = limits(1);
        let conn = Arc::new(Conn::new(0, 1_000));
        assert_eq!(
            conn.deadline(&l),
            Some(61_000),
            "idle since it was accepted"
        );
        conn.head_started.store(5_000, Ordering::SeqCst);
        assert_eq!(
            conn.deadline(&l),
            Some(15_000),
            "headers from their first byte"
        );
        let clock = Arc::new(Clock(Instant::now()));
        let request = InFlight::start(&conn, &clock);
        assert_eq!(conn.deadline(&l), None, "a request in progress is not idle");
        drop(request);
        let idle_since = conn.idle_since.load(Ordering::SeqCst);
        assert_eq!(conn.deadline(&l), Some(idle_since + 60_000));
        assert_eq!(conn.requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let shared = Shared {
            app: Router::new(),
            limits: limits(2),
            clock: Arc::new(Clock(Instant::now())),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            open: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        };
        let Admission::Admitted(a) = shared.admit() else {
            panic!("room for a")
        };
        let Admission::Admitted(b) = shared.admit() else {
            panic!("room for b")
        };
        a.idle_since.store(10, Ordering::SeqCst);
        b.idle_since.store(5, Ordering::SeqCst);
        // b has been idle longer: it makes room for c.
        let Admission::MadeRoom(c) = shared.admit() else {
            panic!("room made for c")
        };
        assert!(b.evicted.load(Ordering::SeqCst));
        assert!(!a.evicted.load(Ordering::SeqCst));
        // Both left have a request in progress: the next one is refused.
        a.in_flight.store(1, Ordering::SeqCst);
        c.in_flight.store(1, Ordering::SeqCst);
        assert!(matches!(shared.admit(), Admission::Full));
    }

    #[test]
    fn repeated_conditions_are_logged_once_per_interval_with_their_count() {
        let mut every = Every::default();
        assert_eq!(every.tick(), Some(1));
        assert_eq!(every.tick(), None);
        assert_eq!(every.tick(), None);
        every.last = Instant::now().checked_sub(LOG_EVERY);
        assert_eq!(every.tick(), Some(3));
    }
}
