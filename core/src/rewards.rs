//! Which seeder proofs earn (DESIGN §15 "Proof rewards"): pay for work once, not for
//! every time someone asks.
//!
//! A seeder's proof is worth something to the service the first time it is needed: after
//! that the service has it. So:
//!
//! - a verified answer for a txid earns once per window (`floor(now / window)`), whoever
//!   asks and however often; the host caches it and serves later requests itself;
//! - a request from one of the seeder's own addresses earns that seeder nothing (a seeder
//!   asking for proofs it serves itself would farm the operator's wallet);
//! - after `per_block` rewarded proofs of one block in a window, asking seeders for that
//!   block is dearer than fetching its txid file once: the host does so and serves the
//!   block locally ([`Plan::ServeLocally`]).
//!
//! The state is bounded: only the current window's entries are kept, at most one per
//! rewarded proof, and rewarded proofs per block stop at `per_block`.

use alloc::collections::{BTreeMap, BTreeSet};
use core::time::Duration;

use crate::bsv::amount::Satoshis;

/// The proof reward rules' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRewardConfig {
    /// How long one verified answer for a txid stays paid for.
    pub window: Duration,
    /// Rewarded seeder proofs of one block per window before the block is served locally.
    pub per_block: u32,
}

/// What to do with a proof request the local store cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Ask the seeders.
    AskSeeders,
    /// Enough of this block was paid for in this window: fetch its txid file, serve it here.
    ServeLocally,
}

/// Why a verified seeder answer earns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReward {
    /// This txid was paid for in this window already.
    AlreadyPaid,
    /// The request came from the seeder's own address.
    OwnRequest,
    /// The block had its `per_block` rewarded proofs in this window.
    BlockDone,
}

/// The proof-reward state of one service.
#[derive(Debug, Clone, Default)]
pub struct ProofRewards {
    window: u64,
    paid: BTreeSet<[u8; 32]>,
    per_block: BTreeMap<u64, u32>,
}

impl ProofRewards {
    /// The window `now_ms` (Unix milliseconds) falls in.
    pub fn window_of(now_ms: u64, cfg: &ProofRewardConfig) -> u64 {
        let ms = u64::try_from(cfg.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1_000);
        now_ms / ms
    }

    /// Forgets earlier windows when `now_ms` is in a new one.
    fn roll(&mut self, now_ms: u64, cfg: &ProofRewardConfig) {
        let w = Self::window_of(now_ms, cfg);
        if w != self.window {
            self.window = w;
            self.paid.clear();
            self.per_block.clear();
        }
    }

    /// What to do for a request of a txid of block `height` that the local store cannot
    /// answer.
    pub fn plan(&mut self, height: u64, now_ms: u64, cfg: &ProofRewardConfig) -> Plan {
        self.roll(now_ms, cfg);
        if self.per_block.get(&height).copied().unwrap_or(0) >= cfg.per_block {
            Plan::ServeLocally
        } else {
            Plan::AskSeeders
        }
    }

    /// Decides whether a verified answer for `txid` (block `height`) earns its seeder, and
    /// if so records it as paid. `own_request`: the request came from one of the seeder's
    /// own addresses.
    ///
    /// # Errors
    /// [`NoReward`]: why it earns nothing.
    pub fn earn(
        &mut self,
        txid: [u8; 32],
        height: u64,
        own_request: bool,
        now_ms: u64,
        cfg: &ProofRewardConfig,
    ) -> Result<u64, NoReward> {
        self.roll(now_ms, cfg);
        if own_request {
            return Err(NoReward::OwnRequest);
        }
        if self.paid.contains(&txid) {
            return Err(NoReward::AlreadyPaid);
        }
        let n = self.per_block.entry(height).or_default();
        if *n >= cfg.per_block {
            return Err(NoReward::BlockDone);
        }
        *n += 1;
        self.paid.insert(txid);
        Ok(self.window)
    }

    /// Rewarded proofs remembered (the current window's).
    pub fn len(&self) -> usize {
        self.paid.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.paid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: ProofRewardConfig = ProofRewardConfig {
        window: Duration::from_secs(86_400),
        per_block: 3,
    };

    #[test]
    fn once_per_txid_per_window_never_for_own_requests_then_served_locally() {
        let mut r = ProofRewards::default();
        let t = 1_000_000_000_000;
        assert_eq!(r.plan(7, t, &CFG), Plan::AskSeeders);
        assert_eq!(r.earn([1; 32], 7, true, t, &CFG), Err(NoReward::OwnRequest));
        let w = r.earn([1; 32], 7, false, t, &CFG).unwrap();
        assert_eq!(
            r.earn([1; 32], 7, false, t + 1, &CFG),
            Err(NoReward::AlreadyPaid)
        );
        r.earn([2; 32], 7, false, t, &CFG).unwrap();
        r.earn([3; 32], 7, false, t, &CFG).unwrap();
        assert_eq!(r.plan(7, t, &CFG), Plan::ServeLocally);
        assert_eq!(r.earn([4; 32], 7, false, t, &CFG), Err(NoReward::BlockDone));
        assert_eq!(r.plan(8, t, &CFG), Plan::AskSeeders);
        // The next window starts afresh.
        let next = (w + 1) * 86_400_000;
        assert_eq!(r.plan(7, next, &CFG), Plan::AskSeeders);
        assert_eq!(r.earn([1; 32], 7, false, next, &CFG), Ok(w + 1));
        assert_eq!(r.len(), 1);
    }
}

/// The operator's daily reward budgets (DESIGN §15 "Budgets"): what may accrue in one UTC
/// day, overall and per seeder. Zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetConfig {
    /// Rewards per UTC day, all seeders together.
    pub per_day: Satoshis,
    /// Rewards per UTC day for one seeder.
    pub per_seeder_per_day: Satoshis,
}

/// Why a reward does not accrue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// This is the first refusal of the day (raise the alert now, once).
    pub first_today: bool,
}

/// What accrued today, per seeder and overall (serializable: the host keeps it with the
/// ledger, so that a restart does not reset it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// The UTC day (days since the epoch) the counts are for.
    pub day: u64,
    /// Accrued today, all seeders.
    pub total: Satoshis,
    /// Accrued today per seeder account.
    pub per_seeder: BTreeMap<u64, Satoshis>,
    /// A refusal happened today (the alert was raised).
    pub exhausted: bool,
}

impl Budget {
    /// Admits a reward of `amount` to `seeder` at `now_ms`, counting it, or refuses it
    /// whole when it would take today's total or the seeder's past its cap. A zero reward
    /// is always admitted.
    ///
    /// # Errors
    /// [`OverBudget`].
    pub fn admit(
        &mut self,
        seeder: u64,
        amount: Satoshis,
        now_ms: u64,
        cfg: &BudgetConfig,
    ) -> Result<(), OverBudget> {
        let day = now_ms / 86_400_000;
        if day != self.day {
            *self = Self {
                day,
                ..Self::default()
            };
        }
        if amount.is_zero() {
            return Ok(());
        }
        let mine = self.per_seeder.get(&seeder).copied().unwrap_or_default();
        let over = |cap: Satoshis, have: Satoshis| {
            !cap.is_zero() && have.checked_add(amount).is_none_or(|t| t > cap)
        };
        if over(cfg.per_day, self.total) || over(cfg.per_seeder_per_day, mine) {
            let first_today = !self.exhausted;
            self.exhausted = true;
            return Err(OverBudget { first_today });
        }
        // Under a cap neither sum can pass it; without one they only count.
        self.total = self.total.saturating_add(amount);
        self.per_seeder.insert(seeder, mine.saturating_add(amount));
        Ok(())
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn caps_hold_per_day_and_per_seeder_and_alert_once() {
        let cfg = BudgetConfig {
            per_day: Satoshis(1000),
            per_seeder_per_day: Satoshis(400),
        };
        let mut b = Budget::default();
        let t = 20_000 * 86_400_000;
        assert_eq!(b.admit(1, Satoshis(300), t, &cfg), Ok(()));
        assert_eq!(
            b.admit(1, Satoshis(200), t, &cfg),
            Err(OverBudget { first_today: true })
        );
        assert_eq!(b.admit(1, Satoshis(100), t, &cfg), Ok(()));
        assert_eq!(b.admit(2, Satoshis(400), t, &cfg), Ok(()));
        assert_eq!(
            b.admit(3, Satoshis(300), t, &cfg),
            Err(OverBudget { first_today: false })
        );
        assert_eq!(b.admit(3, Satoshis(0), t, &cfg), Ok(()));
        // A new UTC day starts afresh.
        assert_eq!(b.admit(1, Satoshis(400), t + 86_400_000, &cfg), Ok(()));
        assert_eq!(b.total, Satoshis(400));
        // No caps: everything is admitted.
        assert_eq!(
            b.admit(9, Satoshis(u64::MAX), t, &BudgetConfig::default()),
            Ok(())
        );
    }
}
