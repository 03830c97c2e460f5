//! Whom to audit, and how much an audit may pay (DESIGN §15 "Audits").
//!
//! An audit costs the service a connection and a few pieces' worth of bandwidth, and a
//! passing one pays its seeder a bulk reward: both must follow accounts, not peer ids. A
//! peer id costs nothing (a passkey can announce any number of them), so a plan built from
//! the swarm's entries would audit, and pay, one account as many times as it likes, and a
//! swarm of dead entries would stall the round. The rule:
//!
//! - one audit per (account, bundle) per audit window (`floor(now / interval)`), at one of
//!   the account's addresses picked with the round's random seed (the seeder cannot choose
//!   which one answers);
//! - accounts that are not active (unstaked, revoked, slashed below the stake) are neither
//!   audited nor paid;
//! - the bulk reward of an audit is keyed by its (account, bundle, window) and is the bytes
//!   that audit verified, so one window never pays more than was verified in it.
//!
//! The host runs the plan concurrently under a bound and a round deadline.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use crate::time::UnixMillis;

/// The audit window `now` falls in (`interval` of zero is taken as one second).
pub fn window(now: UnixMillis, interval: Duration) -> u64 {
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1_000);
    now.0 / ms
}

/// One audit to run: the account and the address to reach it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditTarget {
    /// Account id.
    pub account: u64,
    /// Where to connect.
    pub addr: SocketAddr,
}

/// Plans one bundle's audits at `now`.
///
/// `peers` are the swarm's registered seed entries `(account, address)` (any number per
/// account, in any order); `active(account)` says whether the account may be audited and
/// paid; `last_audit(account)` is the time of its latest audit of this bundle, pass or
/// fail. Returns at most one target per active account not yet audited in this window,
/// ordered by account.
pub fn plan(
    peers: &[(u64, SocketAddr)],
    active: impl Fn(u64) -> bool,
    last_audit: impl Fn(u64) -> Option<UnixMillis>,
    interval: Duration,
    now: UnixMillis,
    seed: u64,
) -> Vec<AuditTarget> {
    let current = window(now, interval);
    let mut sorted: Vec<(u64, SocketAddr)> = peers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    for group in sorted.chunk_by(|a, b| a.0 == b.0) {
        let account = group[0].0;
        if !active(account) {
            continue;
        }
        if last_audit(account).is_some_and(|t| window(t, interval) >= current) {
            continue;
        }
        // splitmix64 of (seed, account): a different pick per account and per round.
        let mut z = seed ^ account.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let at = (z % group.len() as u64) as usize;
        out.push(AuditTarget {
            account,
            addr: group[at].1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use core::net::{IpAddr, Ipv4Addr};

    fn addr(host: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port)
    }

    #[test]
    fn one_audit_per_account_per_window_and_none_for_the_inactive() {
        let interval = Duration::from_secs(600);
        let now = UnixMillis::from_secs(6_000_300);
        // Account 1 announces 20 peer ids; 2 is inactive; 3 was audited this window; 4 in
        // the previous one.
        let mut peers: Vec<(u64, SocketAddr)> = (0..20).map(|i| (1, addr(1, 1000 + i))).collect();
        peers.extend([(2, addr(2, 1)), (3, addr(3, 1)), (4, addr(4, 1))]);
        let last = |a: u64| match a {
            3 => Some(UnixMillis::from_secs(6_000_100)),
            4 => Some(UnixMillis::from_secs(6_000_300 - 601)),
            _ => None,
        };
        let p = plan(&peers, |a| a != 2, last, interval, now, 42);
        assert_eq!(p.iter().map(|t| t.account).collect::<Vec<_>>(), vec![1, 4]);
        assert!(peers.contains(&(1, p[0].addr)));
        // The pick varies with the seed: the seeder does not choose its audited address.
        let picks: alloc::collections::BTreeSet<SocketAddr> = (0..64)
            .map(|seed| plan(&peers, |_| true, |_| None, interval, now, seed)[0].addr)
            .collect();
        assert!(picks.len() > 5, "{picks:?}");
    }

    #[test]
    fn windows_follow_the_interval() {
        let i = Duration::from_secs(600);
        assert_eq!(window(UnixMillis::from_secs(599), i), 0);
        assert_eq!(window(UnixMillis::from_secs(600), i), 1);
        assert_eq!(window(UnixMillis::from_secs(5), Duration::ZERO), 5);
    }
}
