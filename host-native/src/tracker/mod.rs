//! The tracker host: HTTP (BEP 3/7/23/48) and UDP (BEP 15/41) on `tracker_port`, seeder
//! registration, passkeys, stakes and metrics. Wire formats and swarm logic are
//! `torrent_core::tracker`; this module owns sockets, the clock, the database and limits.
//!
//! Who may do what: anyone may leech (announce without a passkey). An announce *with* a
//! passkey must name a registered, unrevoked seeder whose stake is at least `stake_amount`,
//! otherwise it gets a bencoded failure reason; this keeps seeder counts (which gate
//! pruning and bonuses) to accountable seeders.
//!
//! Files: this one holds the tracker's state (swarms, accounts, settings, counters); [`http`]
//! and [`udp`] are its two transports.
//!
//! Uses `store`, `ledger` (stakes are ledger entries), `auth` (`/admin/*`), `net` and
//! `clock`. It must not reach the proof server, the registry or the offload pipeline: they
//! ask it (who seeds this bundle?), it does not ask them.

pub(crate) mod api;
mod http;
use http::INTERNAL;
pub(crate) use http::router;

mod udp;
pub(crate) use udp::run_udp_blocking;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use torrent_core::metainfo::InfoHashV1;
use torrent_core::tracker::register::{self, RegistrationError, RegistrationRequest};
use torrent_core::tracker::swarm::{Announce, SwarmConfig, Swarms};
use torrent_core::{Network, Satoshis};

use crate::store::{Account, Registered, Store};

use crate::clock::now;

/// The info-hashes this tracker serves besides `tracker_open` (its whitelist): the bundle
/// store's torrents, filled by the registry's catalog, read on every announce.
#[derive(Debug, Clone, Default)]
pub struct Known(Arc<RwLock<HashSet<InfoHashV1>>>);

impl Known {
    /// Whether `ih` is one of the bundle store's torrents.
    pub fn contains(&self, ih: &InfoHashV1) -> bool {
        self.0.read().is_ok_and(|k| k.contains(ih))
    }

    /// Replaces the whole set (the catalog after a scan).
    pub fn replace(&self, set: HashSet<InfoHashV1>) {
        if let Ok(mut k) = self.0.write() {
            *k = set;
        }
    }
}

/// Settings the tracker needs (from the config file).
#[derive(Debug, Clone)]
pub struct TrackerSettings {
    /// Network of seeder addresses.
    pub network: Network,
    /// `host:port` in registration messages and announce URLs.
    pub public_host: String,
    /// Allowed clock distance of a registration, seconds.
    pub registration_window_s: u64,
    /// Stake a seeder needs, satoshis.
    pub stake_amount: Satoshis,
    /// Request rate limits shared with the other listeners.
    pub limits: Arc<crate::net::limit::RateLimits>,
    /// Serve any info-hash (a public tracker); otherwise only those in `known`.
    pub open: bool,
    /// The info-hashes this tracker serves when not open: the registry's bundles.
    pub known: Known,
    /// Let seeders' proof URLs name loopback, private or link-local addresses.
    pub allow_private_proof_urls: bool,
    /// Accounts that never held a stake are deleted this long after registering, seconds.
    pub unstaked_account_ttl_s: u64,
    /// Who may make operator (`/admin/*`) calls.
    pub auth: Arc<crate::auth::Authorizer>,
    /// Swarm limits and intervals.
    pub swarm: SwarmConfig,
    /// `spv` stake mode: the stake address and the trusted headers by height.
    pub spv: Option<SpvStake>,
}

/// What SPV stake verification needs.
#[derive(Debug, Clone)]
pub struct SpvStake {
    /// The operator's stake address.
    pub address: torrent_core::bsv::keys::Address,
    /// Trusted headers: first height and the headers from there.
    pub first_height: u64,
    /// The headers.
    pub headers: Vec<torrent_core::Header>,
}

impl SpvStake {
    fn merkle_root_at(&self, height: u64) -> Option<torrent_core::MerkleRoot> {
        let i = usize::try_from(height.checked_sub(self.first_height)?).ok()?;
        self.headers.get(i).map(|h| h.merkle_root)
    }
}

const PROTOCOLS: [&str; 2] = ["http", "udp"];
const OUTCOMES: [&str; 5] = [
    "ok",
    "refused",
    "malformed",
    "rate_limited",
    "bad_connection_id",
];
const REJECT_REASONS: [&str; 8] = [
    "json",
    "address",
    "network",
    "nonce",
    "expired",
    "signature",
    "replay",
    "other",
];

/// Counters for `/metrics`: plain atomics, so counting costs no lock on the hot path.
#[derive(Debug, Default)]
pub struct Metrics {
    announces: [[AtomicU64; OUTCOMES.len()]; PROTOCOLS.len()],
    scrapes: [AtomicU64; PROTOCOLS.len()],
    registrations_ok: AtomicU64,
    accounts_expired: AtomicU64,
    registrations_rejected: [AtomicU64; REJECT_REASONS.len()],
}

fn slot(list: &[&str], name: &str) -> usize {
    list.iter()
        .position(|n| *n == name)
        .unwrap_or(list.len() - 1)
}

impl Metrics {
    fn announce(&self, proto: &'static str, outcome: &'static str) {
        self.announces[slot(&PROTOCOLS, proto)][slot(&OUTCOMES, outcome)]
            .fetch_add(1, Ordering::Relaxed);
    }

    fn scrape(&self, proto: &'static str) {
        self.scrapes[slot(&PROTOCOLS, proto)].fetch_add(1, Ordering::Relaxed);
    }

    fn rejected(&self, reason: &'static str) {
        self.registrations_rejected[slot(&REJECT_REASONS, reason)].fetch_add(1, Ordering::Relaxed);
    }
}

/// The accounts in memory, by passkey and by id (no request path scans them all).
#[derive(Debug, Default)]
struct Accounts {
    by_passkey: HashMap<String, Account>,
    passkey_of: HashMap<u64, String>,
}

impl Accounts {
    fn get(&self, passkey: &str) -> Option<&Account> {
        self.by_passkey.get(passkey)
    }

    fn by_id(&self, id: u64) -> Option<&Account> {
        self.passkey_of
            .get(&id)
            .and_then(|k| self.by_passkey.get(k))
    }

    fn remove(&mut self, id: u64) {
        if let Some(k) = self.passkey_of.remove(&id) {
            self.by_passkey.remove(&k);
        }
    }

    /// Replaces the account's entry (its passkey may have changed).
    fn put(&mut self, a: &Account) {
        if let Some(old) = self.passkey_of.insert(a.id, a.passkey.clone())
            && old != a.passkey
        {
            self.by_passkey.remove(&old);
        }
        self.by_passkey.insert(a.passkey.clone(), a.clone());
    }
}

/// The tracker's shared state.
pub struct Tracker {
    settings: TrackerSettings,
    swarms: Mutex<Swarms>,
    store: Arc<Store>,
    passkeys: RwLock<Accounts>,
    book: Arc<crate::ledger::Book>,
    activity: Mutex<HashMap<String, crate::store::SeederActivity>>,
    /// The addresses each seeder account announced from lately: its requests for proofs
    /// never earn it anything (DESIGN §15).
    announced_ips: Mutex<HashMap<u64, std::collections::VecDeque<IpAddr>>>,
    /// Held across take-and-write, so that a reader's flush waits for one in flight
    /// (otherwise it could read the database between another flush's take and its commit).
    flush: Mutex<()>,
    udp_secret: [u8; 32],
    seed: AtomicU64,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("public_host", &self.settings.public_host)
            .finish()
    }
}

/// The failure reason for a torrent this tracker does not serve (opentracker's wording).
pub(crate) const UNKNOWN_TORRENT: &str =
    "Requested download is not authorized for use with this tracker.";

/// Addresses remembered per seeder account (a NAT, a second machine, a move).
pub(crate) const ANNOUNCED_IPS_KEPT: usize = 16;

fn refusal(account: Option<&Account>, stake_amount: Satoshis) -> Option<String> {
    match account {
        None => Some("unknown passkey: register at /register for a new one".into()),
        Some(a) if a.revoked => Some("passkey revoked".into()),
        Some(a) if a.stake < stake_amount => Some(format!(
            "stake of {} sat is below the {stake_amount} sat a seeder needs",
            a.stake
        )),
        Some(_) => None,
    }
}

impl Tracker {
    /// Builds the tracker over an open store.
    ///
    /// # Errors
    /// Database errors, or no randomness for the UDP secret.
    pub fn new(
        settings: TrackerSettings,
        store: Arc<Store>,
        book: Arc<crate::ledger::Book>,
    ) -> anyhow::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let mut passkeys = Accounts::default();
        for a in store.accounts()? {
            passkeys.put(&a);
        }
        Ok(Self {
            swarms: Mutex::new(Swarms::new(settings.swarm)),
            settings,
            store,
            passkeys: RwLock::new(passkeys),
            book,
            activity: Mutex::new(HashMap::new()),
            announced_ips: Mutex::new(HashMap::new()),
            flush: Mutex::new(()),
            udp_secret: secret,
            seed: AtomicU64::new(u64::from(secret[0]) << 8 | u64::from(secret[1])),
            metrics: Metrics::default(),
        })
    }

    fn next_seed(&self) -> u64 {
        // SplitMix64 over a counter: cheap, and only spreads peer selection.
        let mut z = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.settings.limits.reads.check(ip).is_ok()
    }

    /// Whether seeders' proof URLs may name non-public addresses.
    pub fn allows_private_proof_urls(&self) -> bool {
        self.settings.allow_private_proof_urls
    }

    /// Whether this tracker keeps a swarm for `ih` (DESIGN §16: like opentracker's
    /// whitelist, only torrents it knows, unless `tracker_open`).
    pub fn serves(&self, ih: &InfoHashV1) -> bool {
        self.settings.open || self.settings.known.contains(ih)
    }

    /// Resolves an optional passkey into the account id to record, or a refusal.
    fn authorize(&self, passkey: Option<&str>) -> Result<Option<u64>, String> {
        let Some(k) = passkey else { return Ok(None) };
        let keys = self
            .passkeys
            .read()
            .map_err(|_| "tracker state poisoned".to_string())?;
        let account = keys.get(k);
        match refusal(account, self.settings.stake_amount) {
            Some(r) => Err(r),
            None => Ok(account.map(|a| a.id)),
        }
    }

    fn announce(
        &self,
        mut a: Announce,
        passkey: Option<&str>,
    ) -> Result<torrent_core::tracker::swarm::AnnounceReply, String> {
        if !self.serves(&a.info_hash) {
            return Err(UNKNOWN_TORRENT.into());
        }
        a.account = self.authorize(passkey)?;
        if let Some(id) = a.account
            && let Ok(mut ips) = self.announced_ips.lock()
        {
            let ip = a.addr.ip().to_canonical();
            let list = ips.entry(id).or_default();
            if !list.contains(&ip) {
                if list.len() >= ANNOUNCED_IPS_KEPT {
                    list.pop_front();
                }
                list.push_back(ip);
            }
        }
        if let (Some(k), Some(_)) = (passkey, a.account)
            && let Ok(mut act) = self.activity.lock()
        {
            let e = act.entry(k.to_string()).or_default();
            e.announces += 1;
            e.last_announce = now().as_secs();
            e.uploaded = e.uploaded.max(a.uploaded);
        }
        let seed = self.next_seed();
        let mut swarms = self
            .swarms
            .lock()
            .map_err(|_| "tracker state poisoned".to_string())?;
        Ok(swarms.announce(now(), &a, seed))
    }

    fn scrape(
        &self,
        hashes: &[InfoHashV1],
    ) -> Vec<(InfoHashV1, torrent_core::tracker::swarm::ScrapeStats)> {
        let swarms = match self.swarms.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        hashes.iter().map(|h| (*h, swarms.scrape(h))).collect()
    }

    /// Whether account `id`'s passkey works right now (registered, not revoked, staked): a
    /// seeder slashed below the stake stops counting at once, not when its peer entry
    /// expires.
    pub fn is_active(&self, id: u64) -> bool {
        self.passkeys.read().is_ok_and(|k| {
            k.by_id(id)
                .is_some_and(|a| refusal(Some(a), self.settings.stake_amount).is_none())
        })
    }

    /// Whether seeder `account` announced from `ip` (one of the last
    /// [`ANNOUNCED_IPS_KEPT`] addresses it used): a proof request from there is its own.
    pub fn announced_from(&self, account: u64, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.announced_ips
            .lock()
            .is_ok_and(|ips| ips.get(&account).is_some_and(|l| l.contains(&ip)))
    }

    /// Returns the distinct active seeder accounts holding the torrent now.
    pub fn authenticated_seeders(&self, ih: &InfoHashV1) -> usize {
        let mut ids: Vec<u64> = self
            .authenticated_seed_peers(ih)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The ledger.
    pub fn book(&self) -> &Arc<crate::ledger::Book> {
        &self.book
    }

    /// The account a passkey names, from the in-memory passkey map.
    pub fn account_by_passkey(&self, passkey: &str) -> Option<Account> {
        self.passkeys
            .read()
            .ok()
            .and_then(|k| k.get(passkey).cloned())
    }

    /// The account behind account id `id`, from the in-memory passkey map.
    pub fn account_by_id(&self, id: u64) -> Option<Account> {
        self.passkeys.read().ok().and_then(|k| k.by_id(id).cloned())
    }

    /// The database behind the tracker.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The registered seeders holding the torrent now, with their announced addresses.
    pub fn authenticated_seed_peers(&self, ih: &InfoHashV1) -> Vec<(u64, SocketAddr)> {
        let peers = self
            .swarms
            .lock()
            .map(|s| s.authenticated_seed_peers(ih))
            .unwrap_or_default();
        let Ok(keys) = self.passkeys.read() else {
            return Vec::new();
        };
        peers
            .into_iter()
            .filter(|(id, _)| {
                keys.by_id(*id)
                    .is_some_and(|a| refusal(Some(a), self.settings.stake_amount).is_none())
            })
            .collect()
    }

    /// Every peer holding the whole torrent, registered seeders first.
    pub fn seed_addrs(&self, ih: &InfoHashV1) -> Vec<SocketAddr> {
        self.swarms
            .lock()
            .map(|s| s.seed_addrs(ih))
            .unwrap_or_default()
    }

    /// Drops stale peers; called periodically.
    pub fn expire(&self) -> usize {
        self.swarms.lock().map(|mut s| s.expire(now())).unwrap_or(0)
    }

    /// Writes accumulated seeder activity to the database (periodically and at shutdown).
    ///
    /// # Errors
    /// Database errors; the activity is kept for the next attempt.
    pub fn flush_activity(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self
            .flush
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let taken: HashMap<String, crate::store::SeederActivity> = match self.activity.lock() {
            Ok(mut a) => std::mem::take(&mut *a),
            Err(_) => return Ok(()),
        };
        let by_address: Vec<(String, crate::store::SeederActivity)> = {
            let keys = self
                .passkeys
                .read()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            taken
                .iter()
                .filter_map(|(k, v)| keys.get(k).map(|acc| (acc.address.clone(), *v)))
                .collect()
        };
        if let Err(e) = self.store.record_activity(&by_address) {
            if let Ok(mut a) = self.activity.lock() {
                for (k, v) in taken {
                    let e2 = a.entry(k).or_default();
                    e2.announces += v.announces;
                    e2.last_announce = e2.last_announce.max(v.last_announce);
                    e2.uploaded = e2.uploaded.max(v.uploaded);
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Returns every account with its stake and activity (operator view).
    ///
    /// # Errors
    /// Database errors.
    pub fn accounts(&self) -> anyhow::Result<Vec<Account>> {
        self.flush_activity()?;
        self.store.accounts()
    }

    /// Replaces the in-memory copy of an account (after a stake, slash or revocation).
    pub fn refresh_account(&self, a: &Account) {
        if let Ok(mut keys) = self.passkeys.write() {
            keys.put(a);
        }
    }

    /// Registration housekeeping (DESIGN §16): forgets nonces older than twice the
    /// registration window (they can no longer be replayed) and deletes accounts that never
    /// held a stake `unstaked_account_ttl_s` after they registered, with everything the
    /// tracker kept for them. Blocking (database); returns the accounts deleted.
    ///
    /// # Errors
    /// Database errors.
    pub fn expire_registrations(&self) -> anyhow::Result<usize> {
        let t = now().as_secs();
        let window = self.settings.registration_window_s;
        self.store
            .purge_nonces(t.saturating_sub(window.saturating_mul(2).saturating_add(60)))?;
        let gone = self.store.expire_unstaked(
            t.saturating_sub(self.settings.unstaked_account_ttl_s),
            |a| !self.book.untouched(a.id),
        )?;
        if gone.is_empty() {
            return Ok(0);
        }
        if let Ok(mut keys) = self.passkeys.write() {
            for a in &gone {
                keys.remove(a.id);
            }
        }
        if let Ok(mut ips) = self.announced_ips.lock() {
            for a in &gone {
                ips.remove(&a.id);
            }
        }
        if let Ok(mut act) = self.activity.lock() {
            for a in &gone {
                act.remove(&a.passkey);
            }
        }
        self.metrics
            .accounts_expired
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        tracing::info!(accounts = gone.len(), "unstaked registrations expired");
        Ok(gone.len())
    }

    /// How often [`Tracker::expire_registrations`] and peer expiry run: every minute, or
    /// more often when the TTL or the registration window is shorter.
    fn housekeeping_period(&self) -> Duration {
        let s = self
            .settings
            .unstaked_account_ttl_s
            .min(self.settings.registration_window_s)
            / 2;
        Duration::from_secs(s.clamp(1, 60))
    }

    /// Handles a registration; returns the JSON reply and its status.
    fn register(&self, body: &[u8]) -> (StatusCode, serde_json::Value) {
        let req: RegistrationRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                self.metrics.rejected("json");
                return (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"error": format!("invalid JSON: {e}"), "reason": "json"}),
                );
            }
        };
        let t = now().as_secs();
        let address = match register::verify(
            &req,
            &self.settings.public_host,
            self.settings.network,
            t,
            self.settings.registration_window_s,
        ) {
            Ok(a) => a,
            Err(e) => {
                self.metrics.rejected(e.reason());
                let status = if matches!(e, RegistrationError::Signature(_)) {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                return (
                    status,
                    serde_json::json!({"error": e.to_string(), "reason": e.reason()}),
                );
            }
        };
        let mut raw = [0u8; 16];
        if getrandom::fill(&mut raw).is_err() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"error": "no randomness", "reason": "internal"}),
            );
        }
        let passkey = torrent_core::hex::encode(&raw);
        match self
            .store
            .register(&address.to_string(), &req.nonce, &passkey, t)
        {
            Ok(Registered::Ok(account)) => {
                self.refresh_account(&account);
                self.metrics
                    .registrations_ok
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(address = %account.address, "seeder registered");
                let spv = self.settings.spv.as_ref();
                // With SPV stakes: what the staking transaction must carry besides its
                // payment (DESIGN §15).
                let reply = api::Registration {
                    announce_url: format!(
                        "http://{}/announce?passkey={passkey}",
                        self.settings.public_host
                    ),
                    passkey,
                    address: account.address,
                    stake: account.stake,
                    stake_address: spv.map(|s| s.address.to_string()),
                    stake_amount: spv.map(|_| self.settings.stake_amount),
                    stake_commitment: spv
                        .map(|_| torrent_core::bsv::stake::commitment_hex(&address)),
                };
                (
                    StatusCode::OK,
                    serde_json::to_value(&reply).unwrap_or_default(),
                )
            }
            Ok(Registered::NonceReused) => {
                self.metrics.rejected("replay");
                (
                    StatusCode::CONFLICT,
                    serde_json::json!({"error": "nonce already used", "reason": "replay"}),
                )
            }
            Err(e) => {
                tracing::error!("registration: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": INTERNAL, "reason": "internal"}),
                )
            }
        }
    }
}

/// Drops stale peers, saves seeder activity and expires registrations every minute (more
/// often with short TTLs) until `shutdown`.
pub(crate) async fn run_expiry(t: Arc<Tracker>, shutdown: impl std::future::Future<Output = ()>) {
    let period = t.housekeeping_period();
    crate::periodic::every_blocking(period, shutdown, move || {
        let n = t.expire();
        if n > 0 {
            tracing::debug!(expired = n, "dropped stale peers");
        }
        if let Err(e) = t.flush_activity() {
            tracing::warn!("saving seeder activity: {e:#}");
        }
        if let Err(e) = t.expire_registrations() {
            tracing::warn!("expiring registrations: {e:#}");
        }
    })
    .await;
}

impl crate::metrics::Report for Tracker {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let m = &self.metrics;
        out.counters(
            "torrent_tracker_announces",
            "Announces handled, by protocol and outcome.",
            PROTOCOLS.iter().enumerate().flat_map(|(p, proto)| {
                OUTCOMES.iter().enumerate().map(move |(o, outcome)| {
                    (
                        [("protocol", *proto), ("outcome", *outcome)],
                        m.announces[p][o].load(Ordering::Relaxed),
                    )
                })
            }),
        )?;
        out.counters(
            "torrent_tracker_scrapes",
            "Scrapes handled, by protocol.",
            PROTOCOLS
                .iter()
                .enumerate()
                .map(|(p, proto)| ([("protocol", *proto)], m.scrapes[p].load(Ordering::Relaxed))),
        )?;
        let (peers, seeders, swarms) = self
            .swarms
            .lock()
            .map(|s| (s.peer_count(), s.seeder_count(), s.swarm_count()))
            .unwrap_or_default();
        let accounts = self
            .passkeys
            .read()
            .map(|k| k.by_passkey.len())
            .unwrap_or_default();
        out.gauge(
            "torrent_tracker_accounts",
            "Registered seeder accounts (unstaked ones expire after unstaked_account_ttl_s).",
            accounts,
        )?;
        out.gauge("torrent_tracker_peers", "Peers in all swarms.", peers)?;
        out.gauge("torrent_tracker_seeders", "Seeders in all swarms.", seeders)?;
        out.gauge(
            "torrent_tracker_swarms",
            "Swarms with peers (only for known info-hashes unless tracker_open).",
            swarms,
        )?;
        out.counter(
            "torrent_tracker_accounts_expired",
            "Accounts deleted for never holding a stake within unstaked_account_ttl_s.",
            m.accounts_expired.load(Ordering::Relaxed),
        )?;
        out.counter(
            "torrent_tracker_registrations",
            "Accepted seeder registrations.",
            m.registrations_ok.load(Ordering::Relaxed),
        )?;
        out.counters(
            "torrent_tracker_registrations_rejected",
            "Refused seeder registrations, by reason.",
            REJECT_REASONS.iter().enumerate().map(|(i, reason)| {
                (
                    [("reason", *reason)],
                    m.registrations_rejected[i].load(Ordering::Relaxed),
                )
            }),
        )
    }
}
