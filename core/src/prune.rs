//! The offload pipeline and the prune gate (DESIGN §7): when may a block leave local storage?
//!
//! A bundle moves through [`Stage`]s in order, and the host records each stage in its
//! database only after the work of that stage is durable. A crash between two records just
//! repeats the last step, which is idempotent (the bundle writer re-creates byte-identical
//! files; indexing and publishing overwrite). Pruning is the only destructive step and is
//! allowed by [`evaluate`] alone, from evidence the host gathers: which registered seeders
//! the tracker sees holding the whole bundle, their stakes, and their latest audits.
//!
//! The rule is deliberately conservative: a seeder counts only if it is staked, not revoked,
//! currently announcing as complete, and has passed an audit of this bundle within
//! `audit_max_age` with no failed audit since. Anything missing keeps the gate closed.
//!
//! Copies must be independent (DESIGN §15): the gate counts *networks*, not accounts.
//! Accounts cost a stake each, machines do not, so three accounts on one host would
//! otherwise open the gate and leave "nothing is lost" resting on that one host. Each
//! qualified seeder is placed in the network its latest passing audit reached it on (IPv4
//! /`prefix_v4`, IPv6 /`prefix_v6`; an IPv4-mapped IPv6 address is IPv4), and each network
//! counts once, whatever the number of accounts in it.

use alloc::vec::Vec;
use core::net::IpAddr;

use crate::bsv::amount::Satoshis;
use crate::time::UnixMillis;

/// Where a bundle is in the offload pipeline. Ordered: each stage implies all earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The range was found aged and recorded; nothing written yet.
    Planned,
    /// Block files, txid files and the .torrent are complete and fsynced under final names.
    Written,
    /// The txid index (txid → height, index) is committed.
    Indexed,
    /// The bundle's reference is in the registry that `GET /v1/bundles` serves.
    Published,
    /// The local BitTorrent session holds it after a hash check (and the web seed serves it).
    Seeding,
    /// The gate opened and pruning of its blocks began (recorded before the first delete).
    Pruning,
    /// Every block of the bundle left the block source.
    Pruned,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Self; 7] = [
        Self::Planned,
        Self::Written,
        Self::Indexed,
        Self::Published,
        Self::Seeding,
        Self::Pruning,
        Self::Pruned,
    ];

    /// Stable lower-case name (database, JSON, metrics labels).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Written => "written",
            Self::Indexed => "indexed",
            Self::Published => "published",
            Self::Seeding => "seeding",
            Self::Pruning => "pruning",
            Self::Pruned => "pruned",
        }
    }

    /// Parses [`Stage::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.name() == s)
    }

    /// The stage after this one (`Pruned` stays `Pruned`).
    pub const fn next(self) -> Self {
        match self {
            Self::Planned => Self::Written,
            Self::Written => Self::Indexed,
            Self::Indexed => Self::Published,
            Self::Published => Self::Seeding,
            Self::Seeding => Self::Pruning,
            Self::Pruning | Self::Pruned => Self::Pruned,
        }
    }
}

/// The gate's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateConfig {
    /// Distinct qualified seeders needed (at least 1: a gate that needs nobody is no gate).
    pub min_seeders: u32,
    /// How recent a passing audit must be.
    pub audit_max_age: core::time::Duration,
    /// Stake a seeder must hold, satoshis.
    pub stake_amount: Satoshis,
    /// IPv4 prefix length of one network (24 by default).
    pub prefix_v4: u8,
    /// IPv6 prefix length of one network (48 by default).
    pub prefix_v6: u8,
}

/// A network, as the gate counts them: an address masked to its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetworkPrefix(pub IpAddr);

impl NetworkPrefix {
    /// The network `ip` belongs to under `cfg`'s prefixes (longer prefixes are taken as the
    /// whole address).
    pub fn of(ip: IpAddr, cfg: &GateConfig) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(cfg.prefix_v4.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Self(IpAddr::V4((u32::from(v4) & mask).into()))
            }
            IpAddr::V6(v6) => {
                let bits = u32::from(cfg.prefix_v6.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Self(IpAddr::V6((u128::from(v6) & mask).into()))
            }
        }
    }
}

/// What the host knows of one registered seeder, for one bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeederEvidence {
    /// Account id.
    pub account: u64,
    /// Stake credited, satoshis.
    pub stake: Satoshis,
    /// Revoked by the operator.
    pub revoked: bool,
    /// The tracker currently sees it announcing this bundle as complete.
    pub complete: bool,
    /// Time of its latest passing audit of this bundle.
    pub last_pass: Option<UnixMillis>,
    /// Time of its latest failed audit of this bundle.
    pub last_fail: Option<UnixMillis>,
    /// The address its latest passing audit reached it on (`None` for audits recorded
    /// before addresses were: such a seeder is audited again before it counts).
    pub audited_at: Option<IpAddr>,
}

/// Why a seeder does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disqualified {
    /// Stake below `stake_amount`.
    Unstaked,
    /// Revoked.
    Revoked,
    /// Not announcing the bundle as complete.
    NotComplete,
    /// No passing audit yet.
    NeverAudited,
    /// The latest pass is older than `audit_max_age`.
    AuditStale,
    /// A failed audit at or after the latest pass.
    AuditFailed,
    /// The latest pass did not record where the seeder was reached.
    UnknownNetwork,
}

impl SeederEvidence {
    /// Whether this seeder counts toward the gate at `now`, and if not, why.
    pub fn qualifies(&self, cfg: &GateConfig, now: UnixMillis) -> Result<(), Disqualified> {
        if self.revoked {
            return Err(Disqualified::Revoked);
        }
        if self.stake < cfg.stake_amount {
            return Err(Disqualified::Unstaked);
        }
        if !self.complete {
            return Err(Disqualified::NotComplete);
        }
        let Some(pass) = self.last_pass else {
            return Err(Disqualified::NeverAudited);
        };
        if self.last_fail.is_some_and(|f| f >= pass) {
            return Err(Disqualified::AuditFailed);
        }
        if pass.saturating_add(cfg.audit_max_age) < now {
            return Err(Disqualified::AuditStale);
        }
        if self.audited_at.is_none() {
            return Err(Disqualified::UnknownNetwork);
        }
        Ok(())
    }
}

/// The gate's answer for one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pruning may proceed; one qualified account per network (the lowest id of each),
    /// ascending (recorded as the evidence).
    Open(Vec<u64>),
    /// The bundle has not reached [`Stage::Seeding`] yet.
    NotReady(Stage),
    /// Too few independent copies: how many networks hold a qualified seeder, and how many
    /// are needed.
    TooFewSeeders {
        /// Distinct networks with a qualified seeder.
        qualified: u32,
        /// `min_seeders`.
        needed: u32,
    },
}

/// Decides whether the blocks of a bundle at `stage` may be pruned now.
///
/// A bundle already at [`Stage::Pruning`] stays open (the decision was recorded before the
/// first delete, and finishing it is what crash recovery must do). Evidence for the same
/// account counted once, whatever the number of entries; accounts on one network count
/// once (module docs).
pub fn evaluate(
    stage: Stage,
    evidence: &[SeederEvidence],
    cfg: &GateConfig,
    now: UnixMillis,
) -> Verdict {
    if stage < Stage::Seeding {
        return Verdict::NotReady(stage);
    }
    // (network, account) of every qualified seeder; the lowest account of each network.
    let mut by_network: Vec<(NetworkPrefix, u64)> = evidence
        .iter()
        .filter(|e| e.qualifies(cfg, now).is_ok())
        .filter_map(|e| Some((NetworkPrefix::of(e.audited_at?, cfg), e.account)))
        .collect();
    by_network.sort_unstable();
    by_network.dedup_by_key(|(n, _)| *n);
    let mut qualified: Vec<u64> = by_network.into_iter().map(|(_, a)| a).collect();
    qualified.sort_unstable();
    // One account in two networks (it moved between audits of different bundles) counts once.
    qualified.dedup();
    if stage >= Stage::Pruning {
        return Verdict::Open(qualified);
    }
    let n = u32::try_from(qualified.len()).unwrap_or(u32::MAX);
    if n >= cfg.min_seeders.max(1) {
        Verdict::Open(qualified)
    } else {
        Verdict::TooFewSeeders {
            qualified: n,
            needed: cfg.min_seeders.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use core::time::Duration;

    const CFG: GateConfig = GateConfig {
        min_seeders: 3,
        audit_max_age: Duration::from_secs(3600),
        stake_amount: Satoshis(100_000),
        prefix_v4: 24,
        prefix_v6: 48,
    };

    /// A qualified seeder audited on network 10.0.`account`.0/24.
    fn good(account: u64, now: UnixMillis) -> SeederEvidence {
        SeederEvidence {
            account,
            stake: Satoshis(100_000),
            revoked: false,
            complete: true,
            last_pass: Some(UnixMillis(now.0 - 1000)),
            last_fail: None,
            audited_at: Some(IpAddr::V4([10, 0, account as u8, 1].into())),
        }
    }

    /// Three accounts on one /24 (or one /48, or IPv4-mapped into IPv6) are one copy;
    /// three /24s are three.
    #[test]
    fn accounts_on_one_network_count_once() {
        let now = UnixMillis::from_secs(10_000_000);
        let on = |account: u64, ip: IpAddr| SeederEvidence {
            audited_at: Some(ip),
            ..good(account, now)
        };
        let v4 = |a, b, c, d| IpAddr::V4([a, b, c, d].into());
        let one_host = [
            on(1, v4(127, 0, 0, 1)),
            on(2, v4(127, 0, 0, 1)),
            on(3, v4(127, 0, 0, 9)),
        ];
        assert_eq!(
            evaluate(Stage::Seeding, &one_host, &CFG, now),
            Verdict::TooFewSeeders {
                qualified: 1,
                needed: 3
            }
        );
        let three = [
            on(1, v4(127, 1, 0, 1)),
            on(2, v4(127, 2, 0, 1)),
            on(3, v4(127, 3, 0, 1)),
            on(4, v4(127, 3, 0, 2)),
        ];
        assert_eq!(
            evaluate(Stage::Seeding, &three, &CFG, now),
            Verdict::Open(vec![1, 2, 3])
        );
        let v6 = |s: u16, h: u16| IpAddr::V6([0x2001, 0xdb8, s, 0, 0, 0, 0, h].into());
        let mapped = IpAddr::V6(core::net::Ipv4Addr::new(127, 1, 0, 7).to_ipv6_mapped());
        let mixed = [
            on(1, v6(1, 1)),
            on(2, v6(1, 2)),
            on(3, v6(2, 1)),
            on(5, mapped),
            on(6, v4(127, 1, 0, 1)),
        ];
        assert_eq!(
            evaluate(Stage::Seeding, &mixed, &CFG, now),
            Verdict::Open(vec![1, 3, 5])
        );
        // A wider prefix merges networks.
        let cfg = GateConfig {
            prefix_v4: 8,
            ..CFG
        };
        assert!(matches!(
            evaluate(Stage::Seeding, &three, &cfg, now),
            Verdict::TooFewSeeders { qualified: 1, .. }
        ));
    }

    #[test]
    fn opens_only_with_enough_distinct_qualified_seeders() {
        let now = UnixMillis::from_secs(10_000_000);
        let mut ev = vec![good(1, now), good(2, now), good(2, now)];
        assert_eq!(
            evaluate(Stage::Seeding, &ev, &CFG, now),
            Verdict::TooFewSeeders {
                qualified: 2,
                needed: 3
            }
        );
        ev.push(good(3, now));
        assert_eq!(
            evaluate(Stage::Seeding, &ev, &CFG, now),
            Verdict::Open(vec![1, 2, 3])
        );
        for early in [
            Stage::Planned,
            Stage::Written,
            Stage::Indexed,
            Stage::Published,
        ] {
            assert_eq!(evaluate(early, &ev, &CFG, now), Verdict::NotReady(early));
        }
    }

    #[test]
    fn each_disqualification() {
        let now = UnixMillis::from_secs(10_000_000);
        let mut e = good(1, now);
        assert_eq!(e.qualifies(&CFG, now), Ok(()));
        e.stake = Satoshis(99_999);
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::Unstaked));
        e = good(1, now);
        e.revoked = true;
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::Revoked));
        e = good(1, now);
        e.complete = false;
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::NotComplete));
        e = good(1, now);
        e.last_pass = None;
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::NeverAudited));
        e = good(1, now);
        e.last_fail = e.last_pass;
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::AuditFailed));
        e = good(1, now);
        e.last_fail = Some(UnixMillis(now.0 - 5000));
        assert_eq!(
            e.qualifies(&CFG, now),
            Ok(()),
            "a fail before the latest pass is history"
        );
        e = good(1, now);
        e.last_pass = Some(UnixMillis(now.0 - 3_600_001));
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::AuditStale));
        e = good(1, now);
        e.audited_at = None;
        assert_eq!(e.qualifies(&CFG, now), Err(Disqualified::UnknownNetwork));
    }

    #[test]
    fn zero_min_seeders_still_needs_one() {
        let now = UnixMillis::from_secs(1_000);
        let cfg = GateConfig {
            min_seeders: 0,
            ..CFG
        };
        assert!(matches!(
            evaluate(Stage::Seeding, &[], &cfg, now),
            Verdict::TooFewSeeders { needed: 1, .. }
        ));
    }

    #[test]
    fn stage_order_and_names() {
        for w in Stage::ALL.windows(2) {
            assert!(w[0] < w[1]);
            assert_eq!(w[0].next(), w[1]);
        }
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.name()), Some(s));
        }
        assert_eq!(Stage::Pruned.next(), Stage::Pruned);
        assert_eq!(
            evaluate(Stage::Pruning, &[], &CFG, UnixMillis(0)),
            Verdict::Open(vec![])
        );
    }
}
