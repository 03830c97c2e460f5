//! Connection limits for every TCP listener (DESIGN §16): a cap on open connections, global
//! and per IP; a header-read timeout for a connection's first request and an idle timeout
//! after its last one; an accept loop that survives running out of file descriptors; and
//! the soft file limit raised at start with headroom kept for the database and bundles.
//!
//! Why not `axum::serve` or tonic's own listener: neither bounds connections, `axum::serve`
//! gives hyper no timer (so hyper's header timeout never runs), and an HTTP/2 connection
//! that never opens a stream is never closed by either. Here every accepted socket is a
//! [`Conn`]: it holds its slot under both caps until it closes, and its reads fail with
//! `TimedOut` once it has been silent too long with no request in flight, which makes hyper
//! (HTTP/1 or HTTP/2) drop it. "In flight" is counted by [`Track`] from the moment a request
//! reaches the service until its response body has been sent, so a slow download is not idle.
//!
//! A refused connection is closed at once, before anything is read: it costs the attacker a
//! handshake and the service one accept.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// tokio's clock, not std's: the same instant in production, and tests can pause it.
use tokio::time::{Instant, Sleep};

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Open connections at most, all clients together.
    pub max_connections: usize,
    /// Open connections at most from one IP (IPv6: one /64).
    pub max_connections_per_ip: usize,
    /// A connection must have sent its first request within this.
    pub header_read_timeout: Duration,
    /// A connection with nothing in flight is closed after this.
    pub idle_timeout: Duration,
}

impl Limits {
    /// The limits every listener gets from the config.
    pub(crate) fn from_config(c: &crate::config::Config) -> Self {
        Self {
            max_connections: c.max_connections,
            max_connections_per_ip: c.max_connections_per_ip,
            header_read_timeout: Duration::from_secs(c.header_read_timeout_s),
            idle_timeout: Duration::from_secs(c.idle_timeout_s),
        }
    }
}

/// Counters of one listener, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed at accept: the listener was full.
    pub refused_full: AtomicU64,
    /// Connections closed at accept: their IP was at its cap.
    pub refused_per_ip: AtomicU64,
    /// Connections closed for silence (header-read or idle timeout).
    pub timed_out: AtomicU64,
    /// Accept errors (out of file descriptors and others).
    pub accept_errors: AtomicU64,
}

/// The key connections and rate limits are counted under: the IP, or for IPv6 its /64 (one
/// subscriber's whole allocation, which it can rotate through at will).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The admission state of one listener.
#[derive(Debug)]
pub(crate) struct Gate {
    name: &'static str,
    limits: Limits,
    total: Arc<Semaphore>,
    per_ip: Arc<PerClient>,
    epoch: Instant,
    /// Counters.
    pub stats: Stats,
}

/// What each client (an IP, an IPv6 /64) holds, under a cap per client: connections on a
/// listener, proofs in flight. An entry lives only while its client holds something, so the
/// map never holds more clients than there are things held.
#[derive(Debug)]
pub(crate) struct PerClient {
    max: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One thing a client holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    owner: Arc<PerClient>,
    key: IpAddr,
}

impl PerClient {
    /// At most `max` (at least 1) per client.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// One more for `ip`'s client, unless it holds its maximum already.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        let key = client_key(ip);
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = held.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held {
            owner: Arc::clone(self),
            key,
        })
    }

    /// Whether `ip`'s client holds anything.
    #[cfg(test)]
    fn holds(&self, ip: IpAddr) -> bool {
        self.held
            .lock()
            .is_ok_and(|h| h.contains_key(&client_key(ip)))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self
            .owner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// A connection's slot under both caps; released when dropped.
#[derive(Debug)]
struct Admitted {
    _permit: OwnedSemaphorePermit,
    _held: Held,
    gate: Arc<Gate>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gate.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether an accept error means the process (or system) is out of descriptors or
/// buffers: retrying at once would spin, since the pending connection stays queued.
fn resource_exhausted(e: &std::io::Error) -> bool {
    // EMFILE 24, ENFILE 23, ENOBUFS 105, ENOMEM 12 (Linux numbering).
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

impl Gate {
    /// A gate for the listener called `name` (in logs and metrics).
    pub(crate) fn new(name: &'static str, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            name,
            limits,
            total: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_ip: PerClient::new(limits.max_connections_per_ip),
            epoch: Instant::now(),
            stats: Stats::default(),
        })
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let Ok(permit) = Arc::clone(&self.total).try_acquire_owned() else {
            self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let Some(held) = self.per_ip.take(ip) else {
            self.stats.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Admitted {
            _permit: permit,
            _held: held,
            gate: Arc::clone(self),
        })
    }

    /// Accepts the next connection that fits under the caps (others are closed at once).
    /// Out of file descriptors, it waits 100 ms before trying again instead of spinning.
    pub(crate) async fn accept(self: &Arc<Self>, listener: &TcpListener) -> Conn {
        let mut last_warning: Option<Instant> = None;
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    if let Some(admitted) = self.admit(remote.ip()) {
                        let _ = stream.set_nodelay(true);
                        return Conn::new(stream, remote, admitted);
                    }
                    // Dropped: closed before anything is read.
                }
                Err(e) => {
                    self.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if resource_exhausted(&e) {
                        if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                            tracing::warn!(listener = self.name, "accept: {e}; retrying in 100 ms");
                            last_warning = Some(Instant::now());
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else {
                        tracing::debug!(listener = self.name, "accept: {e}");
                    }
                }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The figures of every listener, by `listener`.
#[derive(Debug)]
pub(crate) struct Listeners(pub(crate) Vec<Arc<Gate>>);

impl crate::metrics::Report for Listeners {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let each = |f: fn(&Stats) -> &AtomicU64| {
            self.0
                .iter()
                .map(move |g| ([("listener", g.name)], f(&g.stats).load(Ordering::Relaxed)))
        };
        out.gauges(
            "torrent_connections_open",
            "Connections open now, by listener.",
            self.0
                .iter()
                .map(|g| ([("listener", g.name)], g.stats.open.load(Ordering::Relaxed))),
        )?;
        out.counters(
            "torrent_connections_accepted",
            "Connections accepted, by listener.",
            each(|s| &s.accepted),
        )?;
        out.counters(
            "torrent_connections_refused",
            "Connections closed at accept: the listener (full) or the client's IP (per_ip) was at its cap.",
            self.0.iter().flat_map(|g| {
                [("full", &g.stats.refused_full), ("per_ip", &g.stats.refused_per_ip)]
                    .map(|(reason, v)| ([("listener", g.name), ("reason", reason)], v.load(Ordering::Relaxed)))
            }),
        )?;
        out.counters(
            "torrent_connections_timed_out",
            "Connections closed for silence: no first request within header_read_timeout_s, or nothing in flight for idle_timeout_s.",
            each(|s| &s.timed_out),
        )?;
        out.counters(
            "torrent_connections_accept_errors",
            "Accept errors (out of file descriptors, aborted handshakes).",
            each(|s| &s.accept_errors),
        )
    }
}

/// What a connection's requests share: how many are in flight and when the last one ended.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since the gate's epoch; `u64::MAX` until the first request.
    last_ms: AtomicU64,
    gate: Arc<Gate>,
}

/// Who is on the other end of a connection; in every request's extensions (HTTP and gRPC).
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The client's address.
    pub remote: SocketAddr,
    activity: Arc<Activity>,
}

impl ConnInfo {
    /// Marks a request in flight until the returned guard is dropped.
    pub(crate) fn begin(&self) -> InFlight {
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.activity))
    }
}

/// A request in flight on a connection (see [`ConnInfo::begin`]).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .last_ms
            .store(self.0.gate.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

/// An accepted connection under a [`Gate`]'s limits.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TcpStream,
    info: ConnInfo,
    opened: Instant,
    /// This connection's timeouts, in thousandths of the configured ones (750 to 999):
    /// connections opened together (a flood of half-sent requests) are closed over a
    /// quarter of the timeout, not in one instant whose burst of closes every other client
    /// would wait behind.
    spread: u32,
    timer: Pin<Box<Sleep>>,
    _admitted: Admitted,
}

impl Conn {
    fn new(io: TcpStream, remote: SocketAddr, admitted: Admitted) -> Self {
        let gate = Arc::clone(&admitted.gate);
        let spread = random_permille(750..1000);
        let first = gate.limits.header_read_timeout * spread / 1000;
        Self {
            io,
            info: ConnInfo {
                remote,
                activity: Arc::new(Activity {
                    in_flight: AtomicUsize::new(0),
                    last_ms: AtomicU64::new(u64::MAX),
                    gate,
                }),
            },
            opened: Instant::now(),
            spread,
            timer: Box::pin(tokio::time::sleep(first)),
            _admitted: admitted,
        }
    }

    /// Who is on the other end.
    pub(crate) fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// When the connection is due to be closed for silence, or `None` while a request is in
    /// flight.
    fn deadline(&self) -> Option<Instant> {
        let a = &self.info.activity;
        if a.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let limits = a.gate.limits;
        Some(match a.last_ms.load(Ordering::Relaxed) {
            u64::MAX => self.opened + limits.header_read_timeout * self.spread / 1000,
            ms => {
                a.gate.epoch + Duration::from_millis(ms) + limits.idle_timeout * self.spread / 1000
            }
        })
    }

    /// `Ready(err)` once the connection has been silent past its deadline.
    fn poll_silence(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let next = match self.deadline() {
                Some(d) if d <= now => {
                    self.info
                        .activity
                        .gate
                        .stats
                        .timed_out
                        .fetch_add(1, Ordering::Relaxed);
                    return Poll::Ready(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connection silent past its timeout",
                    ));
                }
                Some(d) => d,
                // Busy: look again after an idle period.
                None => now + self.info.activity.gate.limits.idle_timeout,
            };
            self.timer.as_mut().reset(next);
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => self.poll_silence(cx).map(Err),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A response body that keeps its request in flight until it has been sent (or dropped).
#[derive(Debug)]
pub(crate) struct TrackedBody<B> {
    inner: B,
    _in_flight: Option<InFlight>,
}

impl<B: http_body::Body + Unpin> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A tower layer counting each request in flight on its connection (for the idle timeout)
/// from its arrival until its response body is done.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Track;

impl<S> tower::Layer<S> for Track {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked(inner)
    }
}

/// The service of [`Track`].
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S>(S);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for Tracked<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: http_body::Body + Unpin,
{
    type Response = http::Response<TrackedBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let guard = req.extensions().get::<ConnInfo>().map(ConnInfo::begin);
        let fut = self.0.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(resp.map(|inner| TrackedBody {
                inner,
                _in_flight: guard,
            }))
        })
    }
}

/// Serves an axum app over HTTP/1.1 on `listener` under `gate`'s limits until `shutdown`,
/// then lets open requests finish for up to 10 s. Each request may take `request_timeout`
/// to produce its response head (bodies then stream at the client's pace); past it the
/// client gets 503.
pub(crate) async fn serve_http(
    listener: TcpListener,
    gate: Arc<Gate>,
    app: axum::Router,
    request_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // Also the keep-alive idle limit: hyper starts this clock whenever it waits for a
        // request head, on a fresh connection and between requests alike.
        .header_read_timeout(gate.limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            () = &mut shutdown => break,
            c = gate.accept(&listener) => c,
        };
        let info = conn.info().clone();
        let app = app.clone();
        let svc =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(info.remote));
                req.extensions_mut().insert(info.clone());
                let guard = info.begin();
                let call = tower::ServiceExt::oneshot(app.clone(), req.map(axum::body::Body::new));
                async move {
                    let resp = match tokio::time::timeout(request_timeout, call).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(never)) => match never {},
                        Err(_) => {
                            use axum::response::IntoResponse;
                            (
                                http::StatusCode::SERVICE_UNAVAILABLE,
                                [(http::header::RETRY_AFTER, "5")],
                                "the request took longer than request_timeout_s\n",
                            )
                                .into_response()
                        }
                    };
                    Ok::<_, std::convert::Infallible>(resp.map(|inner| {
                        axum::body::Body::new(TrackedBody {
                            inner,
                            _in_flight: Some(guard),
                        })
                    }))
                }
            });
        let served = graceful.watch(http.serve_connection(TokioIo::new(conn), svc));
        let name = gate.name;
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::trace!(listener = name, "connection: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!(
            listener = gate.name,
            "connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them"
        );
    }
}

/// How long a listener waits at shutdown for requests in flight (an idle or half-sent
/// connection is not waited for past it), well within the service's own 10 s.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Hands memory the allocator holds free back to the system.
///
/// After a burst of connections (a flood of half-sent requests, a crowd of clients) the
/// memory they used is freed, but glibc's malloc keeps it in its per-thread arenas, so the
/// process stayed at its peak RSS: measured with `bench/abuse.sh`, 3,000 idle connections
/// left 30 MiB behind after every one of them was closed, and `malloc_trim(0)` gave all of it
/// back. It walks every arena under its lock, which took up to 13 ms with a flood's heap:
/// [`Trimmer`] calls it once a crowd has gone, not while it is here. Elsewhere than glibc it
/// does nothing.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages to the system.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Calls [`release_free_memory`] once the connections open have fallen to half their peak
/// since the last call (and by at least [`Trimmer::CROWD`]): after a flood or a crowd, never
/// during one, when the stall would fall on the clients still being served.
#[derive(Debug, Default)]
pub(crate) struct Trimmer {
    peak: AtomicUsize,
}

impl Trimmer {
    /// How many connections must have gone before memory is handed back.
    pub(crate) const CROWD: usize = 256;

    /// Looks at the listeners' open connections (every second or so) and trims on a fall;
    /// returns whether it trimmed.
    pub(crate) fn tick(&self, gates: &[&Gate]) -> bool {
        let open: usize = gates
            .iter()
            .map(|g| g.stats.open.load(Ordering::Relaxed))
            .sum();
        let peak = self.peak.fetch_max(open, Ordering::Relaxed).max(open);
        if peak >= open + Self::CROWD && open <= peak / 2 {
            release_free_memory();
            self.peak.store(open, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// A number drawn uniformly from `range` (thousandths, to scale a duration by): spreads
/// timeouts and pauses that would otherwise fall due together.
pub(crate) fn random_permille(range: std::ops::Range<u32>) -> u32 {
    let width = u64::from(range.end.saturating_sub(range.start).max(1));
    range.start + u32::try_from(getrandom::u64().unwrap_or(0) % width).unwrap_or(0)
}

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
pub(crate) fn raise_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// Scales connection caps down so that all listeners together fit in `budget` descriptors.
pub(crate) fn fit_caps(caps: &mut [&mut Limits], budget: u64) {
    let sum: u64 = caps.iter().map(|l| l.max_connections as u64).sum();
    if sum <= budget || sum == 0 {
        return;
    }
    for l in caps.iter_mut() {
        let scaled = (l.max_connections as u64).saturating_mul(budget) / sum;
        l.max_connections = usize::try_from(scaled.max(16)).unwrap_or(16);
        l.max_connections_per_ip = l.max_connections_per_ip.min(l.max_connections);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn caps_are_scaled_into_the_descriptor_budget() {
        let mut a = Limits {
            max_connections: 4096,
            max_connections_per_ip: 128,
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        let mut b = a;
        fit_caps(&mut [&mut a, &mut b], 1000);
        assert_eq!(a.max_connections + b.max_connections, 1000);
        assert_eq!(a.max_connections_per_ip, 128);
        fit_caps(&mut [&mut a, &mut b], 100_000);
        assert_eq!(a.max_connections, 500, "a budget that fits changes nothing");
    }

    #[test]
    fn memory_is_handed_back_once_a_crowd_has_gone_and_not_during_it() {
        let limits = Limits {
            max_connections: 8,
            max_connections_per_ip: 8,
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        let (a, b) = (Gate::new("a", limits), Gate::new("b", limits));
        let t = Trimmer::default();
        let at = |x: usize, y: usize| {
            a.stats.open.store(x, Ordering::Relaxed);
            b.stats.open.store(y, Ordering::Relaxed);
            t.tick(&[&a, &b])
        };
        assert!(!at(10, 0), "quiet");
        assert!(!at(2000, 1000), "a crowd arrives: no trim while it is here");
        assert!(!at(1900, 900), "still here");
        assert!(at(10, 5), "gone: trimmed once");
        assert!(!at(10, 5), "and not again");
        assert!(!at(200, 50), "a small crowd");
        assert!(!at(10, 0), "leaving it is not worth a trim");
    }

    #[tokio::test]
    async fn per_ip_and_total_caps_release_on_drop() {
        let gate = Gate::new(
            "t",
            Limits {
                max_connections: 3,
                max_connections_per_ip: 2,
                header_read_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(1),
            },
        );
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let a = gate.admit(ip).unwrap();
        let _b = gate.admit(ip).unwrap();
        assert!(gate.admit(ip).is_none(), "third from one IP");
        let _c = gate.admit(other).unwrap();
        assert!(
            gate.admit("192.0.2.3".parse().unwrap()).is_none(),
            "listener full"
        );
        drop(a);
        assert!(
            gate.admit(ip).is_some(),
            "a closed connection frees its slot"
        );
        assert_eq!(gate.stats.refused_per_ip.load(Ordering::Relaxed), 1);
        assert_eq!(gate.stats.refused_full.load(Ordering::Relaxed), 1);
        drop(_c);
        assert!(
            !gate.per_ip.holds(other),
            "an IP without connections leaves the map"
        );
    }

    // The timeouts below run in tokio's paused time (`start_paused`): a silent client costs
    // the test no wall time, and each close is measured on the service's own clock. The
    // sockets are real loopback connections served by `serve_http`, as in production.

    const SERVED: Limits = Limits {
        max_connections: 16,
        max_connections_per_ip: 16,
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(30),
    };
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

    /// Serves a router with `/` (at once) and `/slow/<secs>` (answers after that many
    /// seconds) under [`SERVED`]; it stops when the returned sender is dropped.
    async fn serve() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let app = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route(
                "/slow/{secs}",
                axum::routing::get(
                    |axum::extract::Path(secs): axum::extract::Path<u64>| async move {
                        tokio::time::sleep(Duration::from_secs(secs)).await;
                        "slow"
                    },
                ),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_http(
            listener,
            Gate::new("test", SERVED),
            app,
            REQUEST_TIMEOUT,
            async {
                let _ = stopped.await;
            },
        ));
        (addr, stop)
    }

    /// Everything the service sends until it closes the connection.
    async fn until_closed(c: &mut TcpStream) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got).await;
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_sends_is_closed_within_the_header_timeout() {
        let (addr, _stop) = serve().await;
        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert_eq!(until_closed(&mut c).await, "");
        let waited = t0.elapsed();
        assert!(
            waited >= SERVED.header_read_timeout * 3 / 4 && waited <= SERVED.header_read_timeout,
            "closed after {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_head_trickled_byte_by_byte_does_not_keep_its_connection() {
        use tokio::io::AsyncWriteExt;
        let (addr, _stop) = serve().await;
        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).await.unwrap();
        // Slowloris: a byte every 2 s, never the end of the head.
        let mut closed = false;
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa" {
            if c.write_all(&[*b]).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            if t0.elapsed() > SERVED.header_read_timeout + Duration::from_secs(4) {
                break;
            }
        }
        if !closed {
            // The close may not have surfaced on a write yet: the read says.
            assert!(!until_closed(&mut c).await.contains("200 OK"));
        }
        assert!(
            t0.elapsed() <= SERVED.header_read_timeout + Duration::from_secs(4),
            "the trickle kept its connection for {:?}",
            t0.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_is_closed_once_idle() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (addr, _stop) = serve().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 512];
        let n = c.read(&mut head).await.unwrap();
        let answer = String::from_utf8_lossy(&head[..n]).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok"),
            "{answer}"
        );
        let t0 = Instant::now();
        assert_eq!(until_closed(&mut c).await, "", "nothing more is sent");
        let waited = t0.elapsed();
        assert!(
            waited > Duration::ZERO && waited <= SERVED.header_read_timeout,
            "an idle keep-alive connection lasted {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_in_flight_is_not_idle_and_one_past_the_request_timeout_gets_503() {
        use tokio::io::AsyncWriteExt;
        let (addr, _stop) = serve().await;
        // Longer than both the header and the idle timeout, shorter than the request timeout.
        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /slow/45 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut c).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("slow"),
            "{answer}"
        );
        assert!(t0.elapsed() >= Duration::from_secs(45));

        let t0 = Instant::now();
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /slow/600 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut c).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("request_timeout_s"), "{answer}");
        let waited = t0.elapsed();
        assert!(
            waited >= REQUEST_TIMEOUT && waited < Duration::from_secs(600),
            "answered after {waited:?}"
        );
    }
}
