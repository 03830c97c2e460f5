//! Operator alerts (DESIGN §9, §16): each one a warning in the log (target
//! `torrent_service::alert`), a count in `torrent_service_alerts_total{kind}`, and, when
//! Galaxy is configured, a message to its Alert service.
//!
//! A *condition* (a database that refuses writes, a block source that is down, a bundle with
//! too few seeders) alerts once when it starts and re-arms when it clears, so an outage is
//! one alert, not one per retry.
//!
//! Uses `galaxy` (the Alert client) and `clock`; every module that notices trouble may use
//! it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::galaxy::{AlertRequest, AlertResponse, GalaxyClient};

/// Every alert kind, each always present in `torrent_service_alerts_total` (zero until
/// raised), so that rules over them see a series from the first scrape.
pub(crate) const ALERT_KINDS: [&str; 9] = [
    "seeder_slashed",
    "bundle_under_seeded",
    "payout_unfunded",
    "payout_conflict_unverifiable",
    "reward_budget_exhausted",
    "block_source_unavailable",
    "overlay_unavailable",
    "auth_unavailable",
    "storage_unavailable",
];

/// Alerts raised, conditions standing, and where alerts go besides the log.
#[derive(Debug, Default)]
pub struct Alerts {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    raised: Mutex<BTreeSet<(&'static str, String)>>,
    galaxy: std::sync::OnceLock<GalaxyClient>,
}

impl Alerts {
    /// Also sends every alert to Galaxy's Alert service (from a background thread, with
    /// the client's retries; an Alert service that is down costs a log line, nothing else).
    pub fn send_to(&self, client: GalaxyClient) {
        let _ = self.galaxy.set(client);
    }

    /// Raises an alert: logs it, counts it, forwards it.
    pub fn raise(&self, kind: &'static str, message: &str) {
        if let Ok(mut a) = self.counts.lock() {
            *a.entry(kind).or_default() += 1;
        }
        tracing::warn!(target: "torrent_service::alert", kind, "{message}");
        if let Some(c) = self.galaxy.get() {
            let (c, req) = (
                c.clone(),
                AlertRequest::Raise {
                    kind: kind.to_string(),
                    message: message.to_string(),
                    at_ms: crate::clock::now().0,
                },
            );
            std::thread::spawn(move || match c.call::<_, AlertResponse>(&req) {
                Ok(AlertResponse::Ack) => {}
                Ok(AlertResponse::Error { message }) => {
                    tracing::warn!("Galaxy Alert refused an alert: {message}");
                }
                Err(e) => tracing::warn!("Galaxy Alert: {e}"),
            });
        }
    }

    /// Reports the state of the condition behind alert `kind` for `key`: `Some(problem)`
    /// raises it (once, until it clears), `None` clears it.
    pub fn condition(&self, kind: &'static str, key: &str, problem: Option<&str>) {
        match problem {
            Some(message) => {
                let fresh = self
                    .raised
                    .lock()
                    .is_ok_and(|mut r| r.insert((kind, key.to_string())));
                if fresh {
                    self.raise(kind, message);
                }
            }
            None => {
                if let Ok(mut r) = self.raised.lock() {
                    r.remove(&(kind, key.to_string()));
                }
            }
        }
    }

    /// Records how many active seeders bundle `name` has; alerts when it falls below
    /// `min` (once per fall, not every round).
    pub fn seeders_of(&self, name: &str, active: usize, min: usize) {
        self.condition(
            "bundle_under_seeded",
            name,
            (active < min)
                .then(|| format!("bundle {name} has {active} active seeders, fewer than {min}"))
                .as_deref(),
        );
    }

    /// How many keys of alert `kind` are raised and not yet resolved.
    pub fn raised(&self, kind: &'static str) -> usize {
        self.raised
            .lock()
            .map(|r| r.iter().filter(|(k, _)| *k == kind).count())
            .unwrap_or(0)
    }

    /// Reports the alert series (every kind, zero until raised) and the under-seeded gauge.
    pub(crate) fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        out.gauge(
            "torrent_service_bundles_under_seeded",
            "Seeding bundles with fewer active seeders than min_seeders.",
            self.raised("bundle_under_seeded"),
        )?;
        let counts = self.counts.lock().map(|a| a.clone()).unwrap_or_default();
        out.counters(
            "torrent_service_alerts",
            "Operator alerts raised, by kind.",
            ALERT_KINDS.map(|kind| ([("kind", kind)], counts.get(kind).copied().unwrap_or(0))),
        )
    }
}
