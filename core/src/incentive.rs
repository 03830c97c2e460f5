//! Rewards, slashing and the ledger (DESIGN §9): integer satoshis, checked arithmetic, the
//! same verdicts natively and in wasm.
//!
//! The ledger is a state machine over events with ids: applying an event twice changes
//! nothing (the host may retry after a crash), and at every step the satoshis that came in
//! (rewards credited and stakes deposited) equal the satoshis held (balances, stakes,
//! pending payouts) plus those that left (paid, slashed). Nothing is created or lost.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::bsv::amount::Satoshis;

/// The reward and slashing rules (the original service's keys, from the host's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Per valid proof served.
    pub proof_reward_base: Satoshis,
    /// Extra when the proof was served strictly under `speed_limit_ms`.
    pub proof_bonus_speed: Satoshis,
    /// Extra when the block's bundle has strictly fewer than `rare_below` active seeders.
    pub proof_bonus_rare: Satoshis,
    /// The speed bonus edge, milliseconds (500).
    pub speed_limit_ms: u64,
    /// The rarity edge, seeders (3).
    pub rare_below: u32,
    /// Per 1,000,000 bytes of verified bulk data; the remainder carries to the next report.
    pub bulk_reward_per_mb: Satoshis,
    /// Taken from the stake for an invalid proof.
    pub slash_invalid_proof: Satoshis,
    /// Taken from the stake for a failed audit.
    pub slash_failed_audit: Satoshis,
}

impl Rules {
    /// The original service's numbers: 100 sat a proof, +10 under 500 ms, +50 under 3
    /// seeders, 100 sat per MB; slashing 10,000 sat for an invalid proof or a failed audit.
    pub const DEFAULT: Self = Self {
        proof_reward_base: Satoshis(100),
        proof_bonus_speed: Satoshis(10),
        proof_bonus_rare: Satoshis(50),
        speed_limit_ms: 500,
        rare_below: 3,
        bulk_reward_per_mb: Satoshis(100),
        slash_invalid_proof: Satoshis(10_000),
        slash_failed_audit: Satoshis(10_000),
    };

    /// The reward of one valid proof.
    pub fn proof_reward(
        &self,
        served_ms: u64,
        active_seeders: u32,
    ) -> Result<Satoshis, LedgerError> {
        let mut r = self.proof_reward_base;
        if served_ms < self.speed_limit_ms {
            r = r
                .checked_add(self.proof_bonus_speed)
                .ok_or(LedgerError::Overflow)?;
        }
        if active_seeders < self.rare_below {
            r = r
                .checked_add(self.proof_bonus_rare)
                .ok_or(LedgerError::Overflow)?;
        }
        Ok(r)
    }

    /// The reward of `bytes` of verified bulk data on top of `carry` bytes not yet worth
    /// a megabyte: (satoshis, the new carry).
    pub fn bulk_reward(&self, carry: u64, bytes: u64) -> Result<(Satoshis, u64), LedgerError> {
        let total = carry.checked_add(bytes).ok_or(LedgerError::Overflow)?;
        let r = self
            .bulk_reward_per_mb
            .checked_mul(total / 1_000_000)
            .ok_or(LedgerError::Overflow)?;
        Ok((r, total % 1_000_000))
    }

    /// The satoshis `event` would credit to a seeder whose money is `account` now (`None`
    /// for events that are not rewards): what a budget must admit first.
    pub fn reward_of(
        &self,
        event: &Event,
        account: &Account,
    ) -> Result<Option<Satoshis>, LedgerError> {
        Ok(match event {
            Event::ProofServed {
                served_ms,
                active_seeders,
                ..
            } => Some(self.proof_reward(*served_ms, *active_seeders)?),
            Event::Bulk { bytes, .. } => Some(self.bulk_reward(account.bulk_carry, *bytes)?.0),
            _ => None,
        })
    }
}

/// Why a seeder is slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlashReason {
    /// It served a proof that does not verify.
    InvalidProof,
    /// It failed an audit.
    FailedAudit,
}

/// What happened, as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A stake deposit was credited.
    Stake {
        /// Seeder account.
        seeder: u64,
        /// Satoshis.
        amount: Satoshis,
    },
    /// A seeder served a proof that verified.
    ProofServed {
        /// Seeder account.
        seeder: u64,
        /// How long it took, milliseconds.
        served_ms: u64,
        /// Active seeders of the block's bundle at the time.
        active_seeders: u32,
    },
    /// A seeder delivered verified piece data.
    Bulk {
        /// Seeder account.
        seeder: u64,
        /// Bytes.
        bytes: u64,
    },
    /// A seeder misbehaved.
    Slash {
        /// Seeder account.
        seeder: u64,
        /// Why.
        reason: SlashReason,
    },
    /// A payout transaction was built: its amounts move from balances to pending.
    PayoutCreated {
        /// Payout id (the host's; the txid once signed).
        payout: u64,
        /// Seeder and amount per output.
        outputs: Vec<(u64, Satoshis)>,
    },
    /// The payout confirmed: pending becomes paid.
    PayoutConfirmed {
        /// Payout id.
        payout: u64,
    },
    /// The payout was abandoned (never confirmed): pending returns to balances.
    PayoutAbandoned {
        /// Payout id.
        payout: u64,
    },
}

/// Why an event was refused (the ledger is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Arithmetic would overflow.
    #[error("satoshi arithmetic overflow")]
    Overflow,
    /// A payout asks for more than a balance holds.
    #[error("payout {payout}: seeder {seeder} has {balance} sat, {asked} asked")]
    Insufficient {
        /// Payout id.
        payout: u64,
        /// Seeder.
        seeder: u64,
        /// Balance.
        balance: Satoshis,
        /// Amount asked.
        asked: Satoshis,
    },
    /// A payout id used twice or unknown.
    #[error("payout {0} is unknown or already settled")]
    UnknownPayout(u64),
    /// A payout with no outputs, a zero output or a seeder twice.
    #[error("payout {0} has no outputs, a zero output, or a seeder twice")]
    BadPayout(u64),
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied now, moving this much.
    Done(Moved),
    /// The event id was applied before; nothing changed.
    Duplicate,
}

/// What one event moved: satoshis credited (a reward or a stake) and slashed from a stake.
/// Payouts move money between a seeder's own buckets and credit or slash nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// Credited to a balance (rewards) or a stake (stakes).
    pub credited: Satoshis,
    /// Taken from a stake.
    pub slashed: Satoshis,
}

/// One seeder's money.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// Earned and not yet in a payout.
    pub balance: Satoshis,
    /// Staked (slashing takes from here).
    pub stake: Satoshis,
    /// In payouts not yet confirmed.
    pub pending: Satoshis,
    /// Confirmed paid out.
    pub paid: Satoshis,
    /// Slashed so far.
    pub slashed: Satoshis,
    /// Bulk bytes not yet worth a whole megabyte.
    pub bulk_carry: u64,
    /// Rewards credited so far.
    pub earned: Satoshis,
}

/// The ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    accounts: BTreeMap<u64, Account>,
    payouts: BTreeMap<u64, Vec<(u64, Satoshis)>>,
    settled: BTreeSet<u64>,
    seen: BTreeSet<u64>,
    /// Satoshis that came in: rewards credited plus stakes deposited.
    pub credited: Satoshis,
}

fn add(a: Satoshis, b: Satoshis) -> Result<Satoshis, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// The account of `seeder` (zeros if never seen).
    pub fn account(&self, seeder: u64) -> Account {
        self.accounts.get(&seeder).copied().unwrap_or_default()
    }

    /// Every account.
    pub fn accounts(&self) -> impl Iterator<Item = (u64, &Account)> {
        self.accounts.iter().map(|(k, v)| (*k, v))
    }

    /// Satoshis held plus satoshis gone: must equal [`Ledger::credited`].
    pub fn accounted(&self) -> Option<Satoshis> {
        self.accounts.values().try_fold(Satoshis::ZERO, |acc, a| {
            acc.checked_add(a.balance)?
                .checked_add(a.stake)?
                .checked_add(a.pending)?
                .checked_add(a.paid)?
                .checked_add(a.slashed)
        })
    }

    /// Rebuilds a ledger from its persisted parts (the host's database): accounts, payouts
    /// not yet settled, confirmed payout ids, and the satoshis credited so far. Event ids
    /// are not part of it: a host that persists state keeps its ids durable itself and
    /// applies with [`Ledger::apply_new`].
    pub fn from_parts(
        accounts: BTreeMap<u64, Account>,
        payouts: BTreeMap<u64, Vec<(u64, Satoshis)>>,
        settled: BTreeSet<u64>,
        credited: Satoshis,
    ) -> Self {
        Self {
            accounts,
            payouts,
            settled,
            seen: BTreeSet::new(),
            credited,
        }
    }

    /// The outputs of payout `payout` while it is pending.
    pub fn payout(&self, payout: u64) -> Option<&[(u64, Satoshis)]> {
        self.payouts.get(&payout).map(Vec::as_slice)
    }

    /// Applies an event the caller knows is new (its id is already durable elsewhere),
    /// without remembering an id: the in-memory id set would otherwise grow by one per
    /// event for the life of the process. All-or-nothing, like [`Ledger::apply`].
    ///
    /// # Errors
    /// [`LedgerError`].
    pub fn apply_new(&mut self, event: &Event, rules: &Rules) -> Result<Moved, LedgerError> {
        self.apply_inner(event, rules)
    }

    /// Applies event `id` under `rules`. All-or-nothing: every check runs before the first
    /// change, so an error leaves the ledger as it was; a repeated id does nothing.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub fn apply(&mut self, id: u64, event: &Event, rules: &Rules) -> Result<Applied, LedgerError> {
        if self.seen.contains(&id) {
            return Ok(Applied::Duplicate);
        }
        let moved = self.apply_inner(event, rules)?;
        self.seen.insert(id);
        Ok(Applied::Done(moved))
    }

    fn credit(
        &mut self,
        seeder: u64,
        amount: Satoshis,
        carry: Option<u64>,
    ) -> Result<Moved, LedgerError> {
        let a = self.account(seeder);
        let (balance, earned) = (add(a.balance, amount)?, add(a.earned, amount)?);
        let credited = add(self.credited, amount)?;
        let a = self.accounts.entry(seeder).or_default();
        a.balance = balance;
        a.earned = earned;
        if let Some(c) = carry {
            a.bulk_carry = c;
        }
        self.credited = credited;
        Ok(Moved {
            credited: amount,
            slashed: Satoshis::ZERO,
        })
    }

    fn apply_inner(&mut self, event: &Event, rules: &Rules) -> Result<Moved, LedgerError> {
        let mut moved = Moved::default();
        match event {
            Event::Stake { seeder, amount } => {
                let stake = add(self.account(*seeder).stake, *amount)?;
                let credited = add(self.credited, *amount)?;
                self.accounts.entry(*seeder).or_default().stake = stake;
                self.credited = credited;
                moved.credited = *amount;
            }
            Event::ProofServed {
                seeder,
                served_ms,
                active_seeders,
            } => {
                let r = rules.proof_reward(*served_ms, *active_seeders)?;
                moved = self.credit(*seeder, r, None)?;
            }
            Event::Bulk { seeder, bytes } => {
                let (r, carry) = rules.bulk_reward(self.account(*seeder).bulk_carry, *bytes)?;
                moved = self.credit(*seeder, r, Some(carry))?;
            }
            Event::Slash { seeder, reason } => {
                let want = match reason {
                    SlashReason::InvalidProof => rules.slash_invalid_proof,
                    SlashReason::FailedAudit => rules.slash_failed_audit,
                };
                let a = self.account(*seeder);
                // A stake cannot go below zero: take what is there.
                let taken = want.min(a.stake);
                let slashed = add(a.slashed, taken)?;
                let a = self.accounts.entry(*seeder).or_default();
                a.stake = a.stake.saturating_sub(taken);
                a.slashed = slashed;
                moved.slashed = taken;
            }
            Event::PayoutCreated { payout, outputs } => {
                if self.payouts.contains_key(payout) || self.settled.contains(payout) {
                    return Err(LedgerError::UnknownPayout(*payout));
                }
                let mut seen = BTreeSet::new();
                if outputs.is_empty()
                    || outputs.iter().any(|(s, v)| v.is_zero() || !seen.insert(*s))
                {
                    return Err(LedgerError::BadPayout(*payout));
                }
                // Every new figure first, then the writes: all or nothing.
                let mut next = Vec::with_capacity(outputs.len());
                for (seeder, amount) in outputs {
                    let a = self.account(*seeder);
                    let balance =
                        a.balance
                            .checked_sub(*amount)
                            .ok_or(LedgerError::Insufficient {
                                payout: *payout,
                                seeder: *seeder,
                                balance: a.balance,
                                asked: *amount,
                            })?;
                    next.push((*seeder, balance, add(a.pending, *amount)?));
                }
                for (seeder, balance, pending) in next {
                    let a = self.accounts.entry(seeder).or_default();
                    a.balance = balance;
                    a.pending = pending;
                }
                self.payouts.insert(*payout, outputs.clone());
            }
            Event::PayoutConfirmed { payout } | Event::PayoutAbandoned { payout } => {
                let outputs = self
                    .payouts
                    .get(payout)
                    .ok_or(LedgerError::UnknownPayout(*payout))?;
                let confirmed = matches!(event, Event::PayoutConfirmed { .. });
                let mut next = Vec::with_capacity(outputs.len());
                for (seeder, amount) in outputs {
                    let a = self.account(*seeder);
                    let pending = a
                        .pending
                        .checked_sub(*amount)
                        .ok_or(LedgerError::Overflow)?;
                    let to = add(if confirmed { a.paid } else { a.balance }, *amount)?;
                    next.push((*seeder, pending, to));
                }
                self.payouts.remove(payout);
                for (seeder, pending, to) in next {
                    let a = self.accounts.entry(seeder).or_default();
                    a.pending = pending;
                    if confirmed {
                        a.paid = to;
                    } else {
                        a.balance = to;
                    }
                }
                if confirmed {
                    self.settled.insert(*payout);
                }
            }
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn bonuses_are_strict_edges() {
        let r = Rules::DEFAULT;
        assert_eq!(r.proof_reward(499, 2).unwrap(), Satoshis(160));
        assert_eq!(
            r.proof_reward(500, 2).unwrap(),
            Satoshis(150),
            "500 ms is not under 500 ms"
        );
        assert_eq!(
            r.proof_reward(499, 3).unwrap(),
            Satoshis(110),
            "3 seeders is not fewer than 3"
        );
        assert_eq!(r.proof_reward(10_000, 50).unwrap(), Satoshis(100));
    }

    #[test]
    fn bulk_carries_the_remainder() {
        let r = Rules::DEFAULT;
        let mut l = Ledger::new();
        l.apply(
            1,
            &Event::Bulk {
                seeder: 7,
                bytes: 1_500_000,
            },
            &r,
        )
        .unwrap();
        assert_eq!(l.account(7).balance, Satoshis(100));
        assert_eq!(l.account(7).bulk_carry, 500_000);
        l.apply(
            2,
            &Event::Bulk {
                seeder: 7,
                bytes: 600_000,
            },
            &r,
        )
        .unwrap();
        assert_eq!(l.account(7).balance, Satoshis(200));
        assert_eq!(l.account(7).bulk_carry, 100_000);
    }

    #[test]
    fn payouts_move_money_without_creating_any() {
        let r = Rules::DEFAULT;
        let mut l = Ledger::new();
        l.apply(
            1,
            &Event::Stake {
                seeder: 1,
                amount: Satoshis(100_000),
            },
            &r,
        )
        .unwrap();
        for i in 0..10 {
            l.apply(
                10 + i,
                &Event::ProofServed {
                    seeder: 1,
                    served_ms: 10,
                    active_seeders: 5,
                },
                &r,
            )
            .unwrap();
        }
        assert_eq!(l.account(1).balance, Satoshis(1100));
        let out = Event::PayoutCreated {
            payout: 9,
            outputs: vec![(1, Satoshis(1000))],
        };
        l.apply(100, &out, &r).unwrap();
        assert_eq!(
            (l.account(1).balance, l.account(1).pending),
            (Satoshis(100), Satoshis(1000))
        );
        assert!(matches!(
            l.apply(
                101,
                &Event::PayoutCreated {
                    payout: 10,
                    outputs: vec![(1, Satoshis(101))]
                },
                &r
            ),
            Err(LedgerError::Insufficient { .. })
        ));
        l.apply(102, &Event::PayoutAbandoned { payout: 9 }, &r)
            .unwrap();
        assert_eq!(l.account(1).balance, Satoshis(1100));
        l.apply(
            103,
            &Event::PayoutCreated {
                payout: 11,
                outputs: vec![(1, Satoshis(1100))],
            },
            &r,
        )
        .unwrap();
        l.apply(104, &Event::PayoutConfirmed { payout: 11 }, &r)
            .unwrap();
        assert_eq!(l.account(1).paid, Satoshis(1100));
        assert_eq!(
            l.apply(105, &Event::PayoutConfirmed { payout: 11 }, &r),
            Err(LedgerError::UnknownPayout(11))
        );
        l.apply(
            106,
            &Event::Slash {
                seeder: 1,
                reason: SlashReason::FailedAudit,
            },
            &r,
        )
        .unwrap();
        assert_eq!(l.account(1).stake, Satoshis(90_000));
        assert_eq!(l.accounted(), Some(l.credited));
    }
}
