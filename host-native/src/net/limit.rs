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
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::net::conn::client_key;

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

/// What a proof costs against the ceiling, in tracker announces. Measured with `perf` under
/// bench/abuse.sh: one core answers about 130,000 UDP announces or about 13,000 JSON proofs
/// a second, so a ceiling counted in requests would let proofs take ten times the CPU it
/// was sized for.
pub(crate) const PROOF_COST: u32 = 10;

/// How long a client that went past its light share stays out of the light lane.
pub(crate) const HEAVY_FOR: Duration = Duration::from_secs(10);

/// How long, on average, a refused HTTP or gRPC request waits before its refusal is sent
/// (the `Retry-After`). A client that floods in a closed loop (the next request as soon as
/// the last answer arrives) would otherwise go faster the faster it is refused, and its
/// refusals alone would take the CPU; held for about a second, each of its connections
/// (capped per address) gets one refusal a second, at the cost of a sleeping task.
pub(crate) const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// Waits before a refusal is sent: [`REFUSAL_PAUSE`], spread over half to one and a half
/// times it. Refusals all held for exactly one second would wake a flood's connections
/// together, and the ceiling's whole burst would be spent in one instant, while light
/// clients wait behind it.
pub(crate) async fn pause_before_refusal() {
    tokio::time::sleep(REFUSAL_PAUSE * crate::net::conn::random_permille(500..1500) / 1000).await;
}

/// One class of limits: per client, and over all clients.
///
/// The ceiling sheds load, but shedding at random would let a flood from many addresses
/// starve a client that asks little: so a light client, one that stays within a tenth of
/// its own rate, is never refused by the ceiling. A client that goes past that tenth leaves
/// the light lane until it has stayed within it for [`HEAVY_FOR`], so a flood gets no share
/// of the ceiling for free; what light clients add is bounded by that tenth per address
/// (DESIGN §16). The ceiling counts work, not requests: a proof spends [`PROOF_COST`] of it.
#[derive(Debug)]
pub struct Limiter {
    per_client: Option<Bucket<DefaultKeyedRateLimiter<IpAddr>>>,
    light: Option<Bucket<DefaultKeyedRateLimiter<IpAddr>>>,
    /// Clients out of the light lane, until when.
    heavy: dashmap::DashMap<IpAddr, Instant>,
    ceiling: Option<Bucket<DefaultDirectRateLimiter>>,
    limited_client: AtomicU64,
    limited_ceiling: AtomicU64,
}

/// A limiter and its burst: a request costing more than the whole burst spends all of it
/// (a batch may take a client's whole second, never more).
#[derive(Debug)]
struct Bucket<L> {
    limiter: L,
    burst: NonZeroU32,
}

impl<L> Bucket<L> {
    fn cost(&self, n: u32) -> NonZeroU32 {
        NonZeroU32::new(n.min(self.burst.get())).unwrap_or(NonZeroU32::MIN)
    }
}

impl Limiter {
    /// `per_client` requests per `period` per client (bursts of that many), and `ceiling`
    /// announce-sized requests per second over all clients; 0 turns either off.
    pub fn new(per_client: u32, period: Duration, ceiling: u32) -> Self {
        let quota = |n: NonZeroU32, period: Duration| {
            Quota::with_period(period / n.get())
                .unwrap_or_else(|| Quota::per_second(n))
                .allow_burst(n)
        };
        let keyed = |n: NonZeroU32| Bucket {
            limiter: RateLimiter::keyed(quota(n, period)),
            burst: n,
        };
        let ceiling_on = ceiling > 0;
        Self {
            per_client: NonZeroU32::new(per_client).map(keyed),
            light: NonZeroU32::new(per_client / 10)
                .filter(|_| ceiling_on)
                .map(keyed),
            heavy: dashmap::DashMap::new(),
            ceiling: NonZeroU32::new(ceiling).map(|n| Bucket {
                limiter: RateLimiter::direct(quota(n, Duration::from_secs(1))),
                burst: n,
            }),
            limited_client: AtomicU64::new(0),
            limited_ceiling: AtomicU64::new(0),
        }
    }

    /// Spends one request of `ip`'s quota and one unit of the ceiling.
    ///
    /// # Errors
    /// [`Limited`] when either is spent.
    pub fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        self.check_n(ip, 1, 1)
    }

    /// Spends `requests` of `ip`'s quota and `requests × weight` units of the ceiling (a
    /// batch of proofs: its txids, each [`PROOF_COST`]).
    ///
    /// # Errors
    /// [`Limited`] when either is spent.
    pub fn check_n(&self, ip: IpAddr, requests: u32, weight: u32) -> Result<(), Limited> {
        let key = client_key(ip);
        if let Some(b) = &self.per_client
            && !matches!(b.limiter.check_key_n(&key, b.cost(requests)), Ok(Ok(())))
        {
            self.limited_client.fetch_add(1, Ordering::Relaxed);
            return Err(Limited::Client);
        }
        if let Some(b) = &self.light {
            // The light share is spent even while the client is heavy: a client that keeps
            // asking for more than its share stays heavy, one that slowed down is light
            // again HEAVY_FOR after it last went past it.
            let now = Instant::now();
            let within = matches!(b.limiter.check_key_n(&key, b.cost(requests)), Ok(Ok(())));
            let until = self.heavy.get(&key).map(|u| *u);
            if !within {
                // Renewed only once half spent: a flood's every request would otherwise
                // be a write to the map.
                if until.is_none_or(|u| u < now + HEAVY_FOR / 2) {
                    self.heavy.insert(key, now + HEAVY_FOR);
                }
            } else if until.is_none_or(|u| u <= now) {
                return Ok(());
            }
        }
        if let Some(b) = &self.ceiling
            && !matches!(
                b.limiter.check_n(b.cost(requests.saturating_mul(weight))),
                Ok(Ok(()))
            )
        {
            self.limited_ceiling.fetch_add(1, Ordering::Relaxed);
            return Err(Limited::Ceiling);
        }
        Ok(())
    }

    /// [`Self::check_n`], and on a refusal [`pause_before_refusal`] before it is returned:
    /// what every public route calls, whatever its transport.
    ///
    /// # Errors
    /// [`Limited`] when either quota is spent.
    pub async fn admit(&self, ip: IpAddr, requests: u32, weight: u32) -> Result<(), Limited> {
        let r = self.check_n(ip, requests, weight);
        if r.is_err() {
            pause_before_refusal().await;
        }
        r
    }

    /// Clients currently remembered.
    pub fn keys(&self) -> usize {
        self.per_client.as_ref().map_or(0, |b| b.limiter.len())
    }

    fn purge(&self) {
        for b in [&self.per_client, &self.light].into_iter().flatten() {
            b.limiter.retain_recent();
            b.limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.heavy.retain(|_, until| *until > now);
        self.heavy.shrink_to_fit();
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
}

impl crate::metrics::Report for RateLimits {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let classes = [("read", &self.reads), ("write", &self.writes)];
        out.counters(
            "torrent_rate_limited",
            "Requests refused by a rate limit, by class and by whether the client's own quota or the ceiling over all clients was spent.",
            classes.iter().flat_map(|(class, l)| {
                [
                    ([("class", *class), ("limit", "client")], l.limited_client.load(Ordering::Relaxed)),
                    ([("class", *class), ("limit", "ceiling")], l.limited_ceiling.load(Ordering::Relaxed)),
                ]
            }),
        )?;
        out.gauges(
            "torrent_rate_limiter_clients",
            "Clients the rate limiter remembers now (forgotten once their quota refills).",
            classes
                .iter()
                .map(|(class, l)| ([("class", *class)], l.keys())),
        )
    }
}

/// axum middleware: the read limit on a route (HTTP 429 with `Retry-After`).
pub(crate) async fn reads(
    axum::extract::State(l): axum::extract::State<std::sync::Arc<RateLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    gate(&l.reads, 1, req, next).await
}

/// axum middleware: the read limit on a proof route, whose work is [`PROOF_COST`]
/// announces.
pub(crate) async fn proof_reads(
    axum::extract::State(l): axum::extract::State<std::sync::Arc<RateLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    gate(&l.reads, PROOF_COST, req, next).await
}

/// axum middleware: the write limit on a route.
pub(crate) async fn writes(
    axum::extract::State(l): axum::extract::State<std::sync::Arc<RateLimits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    gate(&l.writes, 1, req, next).await
}

async fn gate(
    l: &Limiter,
    weight: u32,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = ip
        && let Err(e) = l.admit(ip, 1, weight).await
    {
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "1")],
            axum::Json(serde_json::json!({"error": e.to_string(), "reason": "rate"})),
        )
            .into_response();
    }
    next.run(req).await
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
        // Each flooder's first tenth passed as light, then it left the light lane; 50 more
        // fit under the ceiling (a few more if the buckets refilled while the loop ran).
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

    #[test]
    fn a_client_past_its_light_share_stays_out_of_the_light_lane() {
        // 100 a second per client (a light share of 10), 20 over all.
        let l = Limiter::new(100, Duration::from_secs(1), 20);
        let flooder: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..30 {
            l.check(flooder).unwrap(); // 10 as light, then 20 of the ceiling
        }
        assert_eq!(l.check(flooder), Err(Limited::Ceiling));
        // A second later its light share has refilled, but it asked for more than that:
        // it is heavy for HEAVY_FOR and competes for the ceiling like every flood.
        std::thread::sleep(Duration::from_millis(1100));
        let refused = (0..30).filter(|_| l.check(flooder).is_err()).count();
        assert!(refused >= 5, "{refused} of 30 refused");
        // A client that never went past its share is still served.
        let light: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..10 {
            l.check(light).unwrap();
        }
    }

    #[test]
    fn the_ceiling_counts_work_and_a_batch_counts_its_items() {
        let l = Limiter::new(0, Duration::from_secs(1), 10 * PROOF_COST);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            l.check_n(a, 1, PROOF_COST).unwrap();
        }
        assert_eq!(l.check_n(a, 1, PROOF_COST), Err(Limited::Ceiling));
        assert_eq!(l.check(a), Err(Limited::Ceiling));
        // Per client, a batch of 1,000 spends the whole burst (never more), once.
        let c = Limiter::new(50, Duration::from_secs(60), 0);
        c.check_n(a, 1000, PROOF_COST).unwrap();
        assert_eq!(c.check_n(a, 1, PROOF_COST), Err(Limited::Client));
        c.check_n("192.0.2.2".parse().unwrap(), 3, PROOF_COST)
            .unwrap();
    }
}
