//! The tracker's swarms: peers per info-hash, seeders and leechers, completed counts,
//! expiry, `numwant`, intervals and memory caps, with `now` passed in.
//!
//! Driving contract: the host calls [`Swarms::announce`] and [`Swarms::scrape`] as requests
//! arrive and [`Swarms::expire`] whenever [`Swarms::poll_timeout`] has passed (calling it
//! early is harmless). Randomness for peer selection comes in as a `seed` per call.
//!
//! Identity (DESIGN §15): a peer is its peer id *and* the IP it announces from, as aquatic
//! keys peers by (peer id, IP) and opentracker by address. A peer id is public (every
//! peer-wire handshake shows it), so an announce from another IP reusing it is another peer:
//! it can neither remove, move nor re-attribute the first one. The port is not part of the
//! key, so a client behind NAT whose port changes still updates its own entry.
//!
//! `downloaded` (scrape) counts each peer's completion once: the keys of peers that
//! completed are remembered per swarm (up to `max_peers_per_swarm` of them; past that, a
//! completion still counts only once per stay in the swarm), so repeating `completed`,
//! alternating `left`, or leaving and coming back does not inflate it.
//!
//! Caps: a swarm holds at most `max_peers_per_swarm` peers and all swarms together
//! `max_peers_total`; a new peer beyond either cap replaces a stale one: the stalest of a
//! sample of [`EVICTION_SAMPLE`] peers (as Redis approximates LRU), which keeps every
//! announce O(1) instead of maintaining a global age order. At the total cap the sample is
//! drawn from [`EVICTION_SAMPLE`] random swarms, so eviction never walks every swarm.
//! Expiry of silent peers is exact, and a swarm left without peers is dropped with them
//! (its `downloaded` count goes with it): which info-hashes get a swarm at all is the
//! host's decision (DESIGN §16).

use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use hashbrown::{HashMap, HashSet};

use crate::metainfo::InfoHashV1;
use crate::time::UnixMillis;

/// Intervals and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmConfig {
    /// Announce interval handed to clients, seconds.
    pub interval_s: u32,
    /// Minimum announce interval, seconds.
    pub min_interval_s: u32,
    /// A peer not heard from for this long is dropped, seconds.
    pub peer_timeout_s: u64,
    /// Peers returned when the client does not say.
    pub default_numwant: u32,
    /// Most peers returned whatever the client asks.
    pub max_numwant: u32,
    /// Cap per swarm.
    pub max_peers_per_swarm: usize,
    /// Cap over all swarms.
    pub max_peers_total: usize,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            interval_s: 1800,
            min_interval_s: 300,
            peer_timeout_s: 2 * 1800 + 300,
            default_numwant: 50,
            max_numwant: 200,
            max_peers_per_swarm: 50_000,
            max_peers_total: 2_000_000,
        }
    }
}

/// Announce event (BEP 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// First announce.
    Started,
    /// Download finished.
    Completed,
    /// Leaving the swarm.
    Stopped,
    /// A regular update.
    None,
}

/// A validated announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    /// Swarm.
    pub info_hash: InfoHashV1,
    /// The client's peer id.
    pub peer_id: [u8; 20],
    /// Where other peers reach it.
    pub addr: SocketAddr,
    /// Event.
    pub event: Event,
    /// Bytes left; 0 means seeder.
    pub left: u64,
    /// Bytes uploaded (client's claim).
    pub uploaded: u64,
    /// Bytes downloaded (client's claim).
    pub downloaded: u64,
    /// Peers wanted.
    pub numwant: Option<u32>,
    /// The registered seeder account behind the passkey, if any (already checked by the host).
    pub account: Option<u64>,
}

/// The answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Interval, seconds.
    pub interval: u32,
    /// Minimum interval, seconds.
    pub min_interval: u32,
    /// Seeders in the swarm.
    pub complete: u32,
    /// Leechers in the swarm.
    pub incomplete: u32,
    /// Peers for the client (never itself).
    pub peers: Vec<SocketAddr>,
}

/// BEP 48 scrape numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever reported.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// A swarm peer's identity: its peer id and the IP it announces from (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PeerKey {
    id: [u8; 20],
    ip: IpAddr,
}

impl PeerKey {
    fn of(id: &[u8; 20], addr: &SocketAddr) -> Self {
        Self {
            id: *id,
            ip: addr.ip().to_canonical(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    key: PeerKey,
    addr: SocketAddr,
    left: u64,
    last_seen: UnixMillis,
    account: Option<u64>,
    /// Its completion was counted during this stay in the swarm.
    counted: bool,
}

/// Peers sampled to pick an eviction victim when a cap is reached.
pub const EVICTION_SAMPLE: usize = 16;

/// One swarm. Seeders and leechers live in separate lists, so a seeder's reply (leechers
/// only) never walks the seeders. Invariant: `index[p.key] = (p.left == 0, position of p in
/// its list)` for every peer.
#[derive(Debug, Default, Clone)]
struct Swarm {
    seeds: Vec<Peer>,
    leeches: Vec<Peer>,
    index: HashMap<PeerKey, (bool, usize)>,
    completed: u32,
    /// Peers whose completion was counted (bounded by `max_peers_per_swarm`).
    completers: HashSet<PeerKey>,
    /// Position of this swarm's info-hash in [`Swarms::order`].
    slot: usize,
}

impl Swarm {
    fn len(&self) -> usize {
        self.seeds.len() + self.leeches.len()
    }

    fn get(&self, key: &PeerKey) -> Option<&Peer> {
        let &(seed, i) = self.index.get(key)?;
        if seed {
            self.seeds.get(i)
        } else {
            self.leeches.get(i)
        }
    }

    fn remove(&mut self, key: &PeerKey) -> Option<Peer> {
        let (seed, i) = self.index.remove(key)?;
        let list = if seed {
            &mut self.seeds
        } else {
            &mut self.leeches
        };
        let p = list.swap_remove(i);
        if let Some(moved) = list.get(i) {
            self.index.insert(moved.key, (seed, i));
        }
        Some(p)
    }

    fn insert(&mut self, p: Peer) {
        let seed = p.left == 0;
        let list = if seed {
            &mut self.seeds
        } else {
            &mut self.leeches
        };
        self.index.insert(p.key, (seed, list.len()));
        list.push(p);
    }

    /// Returns the stalest of a sample of peers (all of them in a small swarm).
    fn stale_sample(&self, seed: u64) -> Option<(PeerKey, UnixMillis)> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let at = |k: usize| {
            if k < self.seeds.len() {
                &self.seeds[k]
            } else {
                &self.leeches[k - self.seeds.len()]
            }
        };
        let mut x = seed | 1;
        (0..EVICTION_SAMPLE.min(n))
            .map(|j| {
                if n <= EVICTION_SAMPLE {
                    at(j)
                } else {
                    // xorshift64: positions spread over the whole swarm.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    at((x % n as u64) as usize)
                }
            })
            .min_by_key(|p| p.last_seen)
            .map(|p| (p.key, p.last_seen))
    }

    /// Returns the oldest `last_seen` (exact; walks the swarm).
    fn oldest(&self) -> Option<UnixMillis> {
        self.seeds
            .iter()
            .chain(&self.leeches)
            .map(|p| p.last_seen)
            .min()
    }
}

/// All swarms of the tracker. Invariant: `order[swarms[ih].slot] == ih` for every swarm.
#[derive(Debug, Clone, Default)]
pub struct Swarms {
    config: SwarmConfig,
    swarms: HashMap<InfoHashV1, Swarm>,
    /// Every info-hash with a swarm, for sampling at random.
    order: Vec<InfoHashV1>,
    total: usize,
}

impl Swarms {
    /// Returns empty swarms.
    pub fn new(config: SwarmConfig) -> Self {
        Self {
            config,
            swarms: HashMap::new(),
            order: Vec::new(),
            total: 0,
        }
    }

    /// The swarm of `ih`, created empty when missing.
    fn swarm_mut(&mut self, ih: InfoHashV1) -> &mut Swarm {
        let slot = self.order.len();
        let order = &mut self.order;
        self.swarms.entry(ih).or_insert_with(|| {
            order.push(ih);
            Swarm {
                slot,
                ..Swarm::default()
            }
        })
    }

    /// Drops the swarm of `ih` (its peers must be gone already).
    fn drop_swarm(&mut self, ih: &InfoHashV1) {
        if let Some(s) = self.swarms.remove(ih) {
            debug_assert_eq!(s.len(), 0);
            self.order.swap_remove(s.slot);
            if let Some(moved) = self.order.get(s.slot)
                && let Some(m) = self.swarms.get_mut(moved)
            {
                m.slot = s.slot;
            }
        }
    }

    /// Returns the number of peers over all swarms.
    pub fn peer_count(&self) -> usize {
        self.total
    }

    /// Returns the number of swarms.
    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// Returns the number of seeders over all swarms.
    pub fn seeder_count(&self) -> usize {
        self.swarms.values().map(|s| s.seeds.len()).sum()
    }

    /// Handles an announce; returns the reply.
    pub fn announce(&mut self, now: UnixMillis, a: &Announce, seed: u64) -> AnnounceReply {
        let numwant = a
            .numwant
            .unwrap_or(self.config.default_numwant)
            .min(self.config.max_numwant) as usize;
        let key = PeerKey::of(&a.peer_id, &a.addr);
        if a.event == Event::Stopped {
            if let Some(s) = self.swarms.get_mut(&a.info_hash)
                && s.remove(&key).is_some()
            {
                self.total -= 1;
            }
            return self.reply(&a.info_hash, &key, a.left == 0, 0, seed);
        }
        let previous = self
            .swarms
            .get_mut(&a.info_hash)
            .and_then(|s| s.remove(&key));
        match previous {
            Some(_) => self.total -= 1,
            None => self.make_room(&a.info_hash, seed),
        }
        // A completion: the event, or a leecher that became a seeder without saying it.
        let completes = a.event == Event::Completed
            || (a.left == 0 && previous.is_some_and(|old| old.left != 0));
        let mut counted = previous.is_some_and(|old| old.counted);
        let cap = self.config.max_peers_per_swarm;
        let s = self.swarm_mut(a.info_hash);
        if completes && !counted {
            counted = true;
            let remembered = s.completers.contains(&key);
            if !remembered {
                s.completed = s.completed.saturating_add(1);
                if s.completers.len() < cap {
                    s.completers.insert(key);
                }
            }
        }
        s.insert(Peer {
            key,
            addr: a.addr,
            left: a.left,
            last_seen: now,
            account: a.account,
            counted,
        });
        self.total += 1;
        self.reply(&a.info_hash, &key, a.left == 0, numwant, seed)
    }

    fn reply(
        &self,
        ih: &InfoHashV1,
        me: &PeerKey,
        i_am_seeder: bool,
        numwant: usize,
        seed: u64,
    ) -> AnnounceReply {
        let stats = self.scrape(ih);
        let mut peers = Vec::with_capacity(numwant.min(64));
        if let Some(s) = self.swarms.get(ih) {
            // Leechers first (both kinds of client want them), then seeders for leechers;
            // each list from a random offset: uniform enough, O(numwant).
            let mut lists: Vec<&[Peer]> = alloc::vec![&s.leeches];
            if !i_am_seeder {
                lists.push(&s.seeds);
            }
            for list in lists {
                let n = list.len();
                if n == 0 {
                    continue;
                }
                let start = (seed % n as u64) as usize;
                for k in 0..n {
                    if peers.len() >= numwant {
                        break;
                    }
                    let p = &list[(start + k) % n];
                    if &p.key != me {
                        peers.push(p.addr);
                    }
                }
            }
        }
        AnnounceReply {
            interval: self.config.interval_s,
            min_interval: self.config.min_interval_s,
            complete: stats.complete,
            incomplete: stats.incomplete,
            peers,
        }
    }

    /// Evicts the stalest peers so that one more fits under both caps.
    fn make_room(&mut self, ih: &InfoHashV1, seed: u64) {
        if let Some(s) = self.swarms.get_mut(ih)
            && s.len() >= self.config.max_peers_per_swarm
            && let Some((key, _)) = s.stale_sample(seed)
        {
            s.remove(&key);
            self.total -= 1;
        }
        if self.total >= self.config.max_peers_total && !self.order.is_empty() {
            let n = self.order.len() as u64;
            let mut x = seed.rotate_left(17) | 1;
            let victim = (0..EVICTION_SAMPLE.min(self.order.len()))
                .filter_map(|j| {
                    let h = if self.order.len() <= EVICTION_SAMPLE {
                        self.order[j]
                    } else {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        self.order[(x % n) as usize]
                    };
                    self.swarms
                        .get(&h)
                        .and_then(|s| s.stale_sample(seed))
                        .map(|(id, t)| (t, h, id))
                })
                .min_by_key(|(t, _, _)| *t);
            if let Some((_, h, key)) = victim
                && let Some(s) = self.swarms.get_mut(&h)
            {
                s.remove(&key);
                self.total -= 1;
                if s.len() == 0 && h != *ih {
                    self.drop_swarm(&h);
                }
            }
        }
    }

    /// Returns the scrape numbers of a swarm (zeros for an unknown one).
    pub fn scrape(&self, ih: &InfoHashV1) -> ScrapeStats {
        self.swarms
            .get(ih)
            .map_or_else(ScrapeStats::default, |s| ScrapeStats {
                complete: s.seeds.len() as u32,
                downloaded: s.completed,
                incomplete: s.leeches.len() as u32,
            })
    }

    /// Returns the distinct registered seeder accounts holding the whole torrent.
    pub fn authenticated_seeders(&self, ih: &InfoHashV1) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .swarms
            .get(ih)
            .map(|s| s.seeds.iter().filter_map(|p| p.account).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Returns the registered seeders holding the whole torrent with the address each one
    /// announced from (the audit targets), ordered by account.
    pub fn authenticated_seed_peers(&self, ih: &InfoHashV1) -> Vec<(u64, SocketAddr)> {
        let mut v: Vec<(u64, SocketAddr)> = self
            .swarms
            .get(ih)
            .map(|s| {
                s.seeds
                    .iter()
                    .filter_map(|p| p.account.map(|a| (a, p.addr)))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Returns the addresses of every peer holding the whole torrent (registered or not),
    /// the registered ones first: where the service fetches what it no longer holds.
    pub fn seed_addrs(&self, ih: &InfoHashV1) -> Vec<SocketAddr> {
        let Some(s) = self.swarms.get(ih) else {
            return Vec::new();
        };
        let (mut registered, anonymous): (Vec<&Peer>, Vec<&Peer>) =
            s.seeds.iter().partition(|p| p.account.is_some());
        registered.extend(anonymous);
        registered.into_iter().map(|p| p.addr).collect()
    }

    /// Returns where the peer with this id announced from, for each IP it announced
    /// from (for tests and diagnostics).
    pub fn peer_addrs(&self, ih: &InfoHashV1, peer_id: &[u8; 20]) -> Vec<SocketAddr> {
        self.swarms
            .get(ih)
            .map(|s| {
                s.seeds
                    .iter()
                    .chain(&s.leeches)
                    .filter(|p| &p.key.id == peer_id)
                    .map(|p| p.addr)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Returns whether the swarm has the peer `peer_id` announcing from `addr`'s IP.
    pub fn has_peer(&self, ih: &InfoHashV1, peer_id: &[u8; 20], addr: &SocketAddr) -> bool {
        self.swarms
            .get(ih)
            .is_some_and(|s| s.get(&PeerKey::of(peer_id, addr)).is_some())
    }

    /// Drops peers not heard from within the timeout; returns how many.
    pub fn expire(&mut self, now: UnixMillis) -> usize {
        let cutoff = UnixMillis(
            now.0
                .saturating_sub(self.config.peer_timeout_s.saturating_mul(1000)),
        );
        let mut removed = 0;
        for s in self.swarms.values_mut() {
            let stale: Vec<PeerKey> = s
                .seeds
                .iter()
                .chain(&s.leeches)
                .filter(|p| p.last_seen < cutoff)
                .map(|p| p.key)
                .collect();
            for key in stale {
                s.remove(&key);
                removed += 1;
            }
        }
        let empty: Vec<InfoHashV1> = self
            .swarms
            .iter()
            .filter(|(_, s)| s.len() == 0)
            .map(|(h, _)| *h)
            .collect();
        for h in empty {
            self.drop_swarm(&h);
        }
        self.total -= removed;
        removed
    }

    /// Returns when [`Swarms::expire`] next has something to do.
    pub fn poll_timeout(&self) -> Option<UnixMillis> {
        self.swarms
            .values()
            .filter_map(Swarm::oldest)
            .min()
            .map(|t| {
                UnixMillis(t.0.saturating_add(self.config.peer_timeout_s.saturating_mul(1000)))
            })
    }
}

/// Returns the IP family of an address as BEP 7 splits them.
pub fn is_v6(addr: &SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ann(peer: u8, left: u64, event: Event) -> Announce {
        Announce {
            info_hash: InfoHashV1([1; 20]),
            peer_id: [peer; 20],
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer)), 6881),
            event,
            left,
            uploaded: 0,
            downloaded: 0,
            numwant: None,
            account: (left == 0).then_some(u64::from(peer)),
        }
    }

    #[test]
    fn seeders_leechers_completed_and_expiry() {
        let mut s = Swarms::new(SwarmConfig::default());
        let t0 = UnixMillis::from_secs(1000);
        let r = s.announce(t0, &ann(1, 0, Event::Started), 7);
        assert!(r.peers.is_empty());
        let r = s.announce(t0, &ann(2, 100, Event::Started), 7);
        assert_eq!(r.peers.len(), 1);
        assert_eq!((r.complete, r.incomplete), (1, 1));
        s.announce(t0, &ann(2, 0, Event::Completed), 7);
        let st = s.scrape(&InfoHashV1([1; 20]));
        assert_eq!((st.complete, st.downloaded, st.incomplete), (2, 1, 0));
        assert_eq!(s.authenticated_seeders(&InfoHashV1([1; 20])), [1, 2]);
        // A seeder is not told about other seeders.
        let r = s.announce(t0, &ann(1, 0, Event::None), 3);
        assert!(r.peers.is_empty());
        s.announce(t0, &ann(2, 0, Event::Stopped), 7);
        assert_eq!(s.peer_count(), 1);
        assert!(s.expire(UnixMillis::from_secs(1000 + 3000)) == 0);
        assert_eq!(s.poll_timeout(), Some(UnixMillis::from_secs(1000 + 3900)));
        assert_eq!(s.expire(UnixMillis::from_secs(1000 + 3901)), 1);
        assert_eq!(s.peer_count(), 0);
        assert_eq!(
            s.swarm_count(),
            0,
            "a swarm without peers is dropped at expiry"
        );
    }

    /// At the total cap over many swarms, a new peer evicts a stale one found by sampling
    /// swarms; swarms emptied by eviction or expiry leave `order` consistent.
    #[test]
    fn total_cap_over_many_swarms_evicts_by_sampling_and_keeps_the_order_consistent() {
        let mut s = Swarms::new(SwarmConfig {
            max_peers_total: 1000,
            ..SwarmConfig::default()
        });
        let t0 = UnixMillis::from_secs(1000);
        for i in 0..5000u32 {
            let mut a = ann(1, 100, Event::Started);
            a.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
            s.announce(UnixMillis(t0.0 + u64::from(i)), &a, u64::from(i));
            assert!(s.peer_count() <= 1000);
        }
        assert_eq!(s.peer_count(), 1000);
        assert_eq!(
            s.swarm_count(),
            1000,
            "evicted peers' empty swarms are dropped"
        );
        for (k, h) in s.order.iter().enumerate() {
            assert_eq!(s.swarms[h].slot, k);
        }
        assert_eq!(s.expire(UnixMillis::from_secs(1_000_000)), 1000);
        assert_eq!((s.swarm_count(), s.order.len()), (0, 0));
    }

    /// An announce from another IP reusing a seeder's peer id (learnable from any peer-wire
    /// handshake): neither `stopped` nor a regular announce removes, moves or re-attributes
    /// the seeder; the stranger is a peer of its own.
    #[test]
    fn a_peer_id_from_another_ip_never_touches_the_first_peer() {
        let ih = InfoHashV1([1; 20]);
        let mut s = Swarms::new(SwarmConfig::default());
        let t0 = UnixMillis::from_secs(1000);
        let seeder = ann(1, 0, Event::Started);
        s.announce(t0, &seeder, 7);
        let mut thief = ann(1, 0, Event::Stopped);
        thief.addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66)), 6881);
        thief.account = None;
        s.announce(t0, &thief, 7);
        assert!(s.has_peer(&ih, &seeder.peer_id, &seeder.addr));
        thief.event = Event::None;
        s.announce(t0, &thief, 7);
        assert_eq!(s.peer_addrs(&ih, &seeder.peer_id).len(), 2);
        assert_eq!(s.authenticated_seed_peers(&ih), [(1, seeder.addr)]);
        // The seeder itself may change port (NAT) and still is one peer.
        let mut moved = seeder;
        moved.addr.set_port(7000);
        s.announce(t0, &moved, 7);
        assert_eq!(s.authenticated_seed_peers(&ih), [(1, moved.addr)]);
        assert_eq!(s.peer_count(), 2);
    }

    /// Scrape's `downloaded` counts a peer's completion once, however it repeats it.
    #[test]
    fn a_completion_counts_once_per_peer() {
        let ih = InfoHashV1([1; 20]);
        let mut s = Swarms::new(SwarmConfig::default());
        let t0 = UnixMillis::from_secs(1000);
        s.announce(t0, &ann(2, 100, Event::Started), 7);
        s.announce(t0, &ann(2, 0, Event::Completed), 7);
        for _ in 0..5 {
            s.announce(t0, &ann(2, 0, Event::Completed), 7);
            s.announce(t0, &ann(2, 50, Event::None), 7);
            s.announce(t0, &ann(2, 0, Event::None), 7);
            s.announce(t0, &ann(2, 0, Event::Stopped), 7);
            s.announce(t0, &ann(2, 10, Event::Started), 7);
            s.announce(t0, &ann(2, 0, Event::Completed), 7);
        }
        assert_eq!(s.scrape(&ih).downloaded, 1);
        s.announce(t0, &ann(3, 100, Event::Started), 7);
        s.announce(t0, &ann(3, 0, Event::None), 7);
        assert_eq!(
            s.scrape(&ih).downloaded,
            2,
            "a silent completion counts too"
        );
    }

    #[test]
    fn caps_evict_the_stalest_and_numwant_is_bounded() {
        let cfg = SwarmConfig {
            max_peers_per_swarm: 3,
            max_peers_total: 5,
            max_numwant: 2,
            ..SwarmConfig::default()
        };
        let mut s = Swarms::new(cfg);
        for p in 1..=4u8 {
            s.announce(
                UnixMillis::from_secs(u64::from(p)),
                &ann(p, 5, Event::Started),
                0,
            );
        }
        assert_eq!(s.peer_count(), 3, "per-swarm cap");
        let mut a = ann(9, 5, Event::Started);
        a.numwant = Some(10_000);
        let r = s.announce(UnixMillis::from_secs(10), &a, 1);
        assert_eq!(r.peers.len(), 2, "numwant capped");
        // Peer 1 (the stalest) was evicted first.
        assert!(!r.peers.contains(&SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            6881
        )));
        for p in 20..=30u8 {
            let mut a = ann(p, 5, Event::Started);
            a.info_hash = InfoHashV1([p; 20]);
            s.announce(UnixMillis::from_secs(100 + u64::from(p)), &a, 0);
        }
        assert_eq!(s.peer_count(), 5, "total cap");
    }
}
