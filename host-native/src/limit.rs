//! Request rate limits (DESIGN §16): per client (an IP, or an IPv6 /64) with a ceiling over
//! all clients, in two classes. Reads are every public request (tracker announces and
//! scrapes over HTTP and UDP, proofs over gRPC and JSON, the registry, headers, metrics, the
//! page, the web seed); writes are the requests that cost a signature check or a database
//! commit (registration, stakes, proof URLs) and failed operator calls.
//!
//! Keys expire: [`RateLimits::purge`] (every few seconds, from the service) forgets every
//! client whose bucket has refilled, so the key map holds only clients seen within about one
//! refill period. UDP is limited only after its connection id checks out (a spoofed source
//! never gets one), so spoofed datagrams neither grow the map nor spend anyone's quota.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::conn::client_key;

/// A request refused by a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// This client is over its own rate.
    #[error("rate limited: slow down")]
    Client,
    /// All clients together are over the ceiling.
    #[error("the service is at its request ceiling; retry shortly")]
    Ceiling,
}

/// One class of limits: per client, and over all clients.
///
/// The ceiling sheds load, but shedding at random would let a flood from many addresses
/// starve a client that asks little: so a light client, one within a tenth of its own rate,
/// is never refused by the ceiling. What light clients can add is bounded by that tenth per
/// address; every request past it competes for the ceiling (DESIGN §16).
#[derive(Debug)]
pub struct Limiter {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    light: Option<DefaultKeyedRateLimiter<IpAddr>>,
    ceiling: Option<DefaultDirectRateLimiter>,
    limited_client: AtomicU64,
    limited_ceiling: AtomicU64,
}

impl Limiter {
    /// `per_client` requests per `period` per client (bursts of that many), and `ceiling`
    /// requests per second over all clients; 0 turns either off.
    pub fn new(per_client: u32, period: Duration, ceiling: u32) -> Self {
        let quota = |n: NonZeroU32, period: Duration| {
            Quota::with_period(period / n.get())
                .unwrap_or_else(|| Quota::per_second(n))
                .allow_burst(n)
        };
        let ceiling_on = ceiling > 0;
        Self {
            per_client: NonZeroU32::new(per_client).map(|n| RateLimiter::keyed(quota(n, period))),
            light: NonZeroU32::new(per_client / 10)
                .filter(|_| ceiling_on)
                .map(|n| RateLimiter::keyed(quota(n, period))),
            ceiling: NonZeroU32::new(ceiling)
                .map(|n| RateLimiter::direct(quota(n, Duration::from_secs(1)))),
            limited_client: AtomicU64::new(0),
            limited_ceiling: AtomicU64::new(0),
        }
    }

    /// Spends one request of `ip`'s quota (and of the ceiling).
    ///
    /// # Errors
    /// [`Limited`] when either is spent.
    pub fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        let key = client_key(ip);
        if let Some(l) = &self.per_client
            && l.check_key(&key).is_err()
        {
            self.limited_client.fetch_add(1, Ordering::Relaxed);
            return Err(Limited::Client);
        }
        if let Some(l) = &self.light
            && l.check_key(&key).is_ok()
        {
            return Ok(());
        }
        if let Some(l) = &self.ceiling
            && l.check().is_err()
        {
            self.limited_ceiling.fetch_add(1, Ordering::Relaxed);
            return Err(Limited::Ceiling);
        }
        Ok(())
    }

    /// Clients currently remembered.
    pub fn keys(&self) -> usize {
        self.per_client.as_ref().map_or(0, RateLimiter::len)
    }

    fn purge(&self) {
        for l in [&self.per_client, &self.light].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The two classes.
#[derive(Debug)]
pub struct RateLimits {
    /// Every public request.
    pub reads: Limiter,
    /// Registrations, stakes, proof URLs, failed operator calls.
    pub writes: Limiter,
}

impl RateLimits {
    /// From the configuration.
    pub fn from_config(c: &crate::config::Config) -> Self {
        Self {
            reads: Limiter::new(
                c.rate_limit_per_ip,
                Duration::from_secs(1),
                c.rate_limit_global,
            ),
            writes: Limiter::new(
                c.write_rate_limit_per_ip_per_min,
                Duration::from_secs(60),
                c.write_rate_limit_global,
            ),
        }
    }

    /// Forgets clients whose quota has refilled.
    pub fn purge(&self) {
        self.reads.purge();
        self.writes.purge();
    }

    /// Purges every `every` until `shutdown`.
    pub async fn purge_loop(
        self: std::sync::Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::periodic::every_blocking(every, shutdown, move || self.purge()).await;
    }

    /// Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP torrent_rate_limited_total Requests refused by a rate limit, by class and by whether the client's own quota or the ceiling over all clients was spent."
        );
        let _ = writeln!(out, "# TYPE torrent_rate_limited_total counter");
        for (class, l) in [("read", &self.reads), ("write", &self.writes)] {
            let _ = writeln!(
                out,
                "torrent_rate_limited_total{{class=\"{class}\",limit=\"client\"}} {}",
                l.limited_client.load(Ordering::Relaxed)
            );
            let _ = writeln!(
                out,
                "torrent_rate_limited_total{{class=\"{class}\",limit=\"ceiling\"}} {}",
                l.limited_ceiling.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP torrent_rate_limiter_clients Clients the rate limiter remembers now (forgotten once their quota refills)."
        );
        let _ = writeln!(out, "# TYPE torrent_rate_limiter_clients gauge");
        for (class, l) in [("read", &self.reads), ("write", &self.writes)] {
            let _ = writeln!(
                out,
                "torrent_rate_limiter_clients{{class=\"{class}\"}} {}",
                l.keys()
            );
        }
    }
}

/// axum middleware: the read limit on a route (HTTP 429 with `Retry-After`).
pub async fn reads(
    axum::extract::State(l): axum::extract::State<std::sync::Arc<RateLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    gate(&l.reads, req, next).await
}

/// axum middleware: the write limit on a route.
pub async fn writes(
    axum::extract::State(l): axum::extract::State<std::sync::Arc<RateLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    gate(&l.writes, req, next).await
}

async fn gate(
    l: &Limiter,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match ip.map(|ip| l.check(ip)) {
        Some(Err(e)) => (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "1")],
            axum::Json(serde_json::json!({"error": e.to_string(), "reason": "rate"})),
        )
            .into_response(),
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_once_their_quota_refills() {
        let l = Limiter::new(2, Duration::from_millis(20), 0);
        for i in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.check(ip).unwrap();
        }
        assert_eq!(l.keys(), 1000);
        std::thread::sleep(Duration::from_millis(50));
        l.purge();
        assert_eq!(l.keys(), 0);
    }

    #[test]
    fn a_client_over_its_rate_is_limited_and_others_are_not() {
        let l = Limiter::new(3, Duration::from_secs(60), 0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            l.check(a).unwrap();
        }
        assert_eq!(l.check(a), Err(Limited::Client));
        l.check("192.0.2.2".parse().unwrap()).unwrap();
        let ceiling = Limiter::new(0, Duration::from_secs(1), 2);
        ceiling.check(a).unwrap();
        ceiling.check("192.0.2.3".parse().unwrap()).unwrap();
        assert_eq!(
            ceiling.check("192.0.2.4".parse().unwrap()),
            Err(Limited::Ceiling)
        );
    }

    #[test]
    fn a_flood_at_the_ceiling_does_not_refuse_a_light_client() {
        // 100 a second per client, 50 over all: flooders from 20 addresses spend the
        // ceiling; a client asking 5 times is still served, and a sixth flooder is not.
        let l = Limiter::new(100, Duration::from_secs(1), 50);
        let mut ceiling_refusals = 0;
        for i in 0..20u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            for _ in 0..100 {
                if l.check(ip) == Err(Limited::Ceiling) {
                    ceiling_refusals += 1;
                }
            }
        }
        // Each flooder's first tenth passed as light; 50 more fit under the ceiling (a few
        // more if the buckets refilled while the loop ran).
        assert!(
            (1700..=20 * 100 - 20 * 10 - 50).contains(&ceiling_refusals),
            "{ceiling_refusals}"
        );
        let light: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..5 {
            l.check(light).unwrap();
        }
        let heavy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(l.check(heavy), Err(Limited::Client));
    }
}
