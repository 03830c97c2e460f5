//! The ledger in redb (DESIGN §9): stakes, rewards, slashes and payouts, each one durable
//! before anything is acknowledged.
//!
//! The arithmetic is the core's [`torrent_core::incentive::Ledger`]; this module gives it
//! names (addresses instead of account ids), durability and idempotency:
//!
//! - every change carries a key (`proof:…`, `audit:…`, `stake-tx:…`, `payout:…`); a key
//!   seen before is a no-op, so a retry after a crash or a timeout never pays twice;
//! - the touched accounts, the satoshi total credited, the key and a history row are
//!   written in one redb transaction, committed (fsync) before the caller answers anyone;
//! - a seeder's stake is mirrored into its tracker account in the same transaction, so
//!   that a slash below `stake_amount` stops its passkey at once.
//!
//! Payouts: [`Book::settle`] pays every balance at or above the threshold in one signed
//! P2PKH transaction funded by the wallet's UTXOs. The transaction, the inputs it spends,
//! its change and the ledger's move from balances to pending commit together; broadcasting
//! happens after, and a failed broadcast resends the *same* signed bytes, so a retry can
//! never pay twice. A payout stays pending until confirmed (ARC reports it mined, or the
//! operator confirms it) or abandoned by the operator, which returns the amounts to the
//! balances and the inputs to the wallet.
//!
//! Files: this one holds the entries, the book and its durable log; [`payouts`] turns
//! balances into signed transactions, [`wallet`] keeps the key and the coins they spend,
//! [`broadcast`] sends them, [`http`] is the operator's view.
//!
//! Uses `store`, `alerts`, `auth` (its routes are operator calls), `galaxy` (broadcast
//! through Galaxy) and `clock`. It must not reach the tracker or the proof server: they
//! call it with entries, it never calls them.

mod http;
pub(crate) use http::{Overview, router};

mod broadcast;
pub(crate) use broadcast::Broadcaster;

mod payouts;
pub(crate) use payouts::Payouts;

mod wallet;
pub(crate) use wallet::{WalletUtxo, read_wallet};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use torrent_core::incentive::{Account as Money, Event, Ledger, Rules, SlashReason};
use torrent_core::{Satoshis, Txid};

use crate::store::{ACCOUNTS, Account, Store};

const MONEY: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("ledger_accounts");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("ledger_meta");
const KEYS: TableDefinition<'_, &str, u64> = TableDefinition::new("ledger_keys");
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("ledger_log");
const PAYOUTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("payouts");
const WALLET: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("wallet_utxos");
/// Today's reward budget counts (`torrent_core::rewards::Budget`, JSON under "today").
const BUDGET: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("ledger_budget");

/// Why a seeder is slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offence {
    /// It served a proof that does not verify.
    InvalidProof,
    /// It failed an audit.
    FailedAudit,
}

impl Offence {
    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidProof => "invalid_proof",
            Self::FailedAudit => "failed_audit",
        }
    }
}

/// One output of a payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayTo {
    /// P2PKH address.
    pub address: String,
    /// Amount.
    pub satoshis: Satoshis,
    /// The wallet's own change output.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub change: bool,
}

/// A ledger change, as recorded in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A stake deposit (operator credit or SPV-proven payment).
    Stake {
        /// Seeder.
        address: String,
        /// Amount.
        amount: Satoshis,
        /// Where it came from (a txid, or the operator).
        reference: String,
    },
    /// A seeder served a proof that verified.
    Proof {
        /// Seeder.
        address: String,
        /// The transaction proven.
        txid: String,
        /// Milliseconds from request to verified answer.
        served_ms: u64,
        /// Active seeders of the bundle at the time.
        active_seeders: u32,
    },
    /// Verified piece data delivered by a seeder.
    Bulk {
        /// Seeder.
        address: String,
        /// Bytes.
        bytes: u64,
        /// Bundle.
        bundle: String,
    },
    /// A slash.
    Slash {
        /// Seeder.
        address: String,
        /// Offence.
        reason: Offence,
        /// What happened.
        detail: String,
    },
    /// A payout transaction was signed: balances move to pending.
    PayoutCreated {
        /// Its txid.
        txid: String,
        /// Seeders paid.
        outputs: Vec<PayTo>,
    },
    /// The payout was mined.
    PayoutConfirmed {
        /// Its txid.
        txid: String,
    },
    /// The operator abandoned the payout: pending returns to balances.
    PayoutAbandoned {
        /// Its txid.
        txid: String,
    },
}

/// A history row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    /// Sequence number.
    pub seq: u64,
    /// Unix milliseconds.
    pub at: u64,
    /// Idempotency key.
    pub key: String,
    /// What happened.
    pub entry: Entry,
    /// Credited (reward or stake) by this change.
    pub credited: Satoshis,
    /// Slashed by this change.
    pub slashed: Satoshis,
}

/// What recording a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Applied and durable.
    Applied(LogRow),
    /// The key was recorded before; nothing changed.
    Duplicate,
    /// A reward today's budget cannot take (DESIGN §15): nothing accrued, nothing recorded.
    OverBudget,
}

/// An input of a payout, with the output it spends (enough to verify the signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentOutput {
    /// Source transaction.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Its value.
    pub satoshis: Satoshis,
    /// Its locking script, hex.
    pub locking_script: String,
}

/// Where a payout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Signed and recorded; no broadcaster has accepted it yet.
    Signed,
    /// A broadcaster accepted it; not yet mined.
    Broadcast,
    /// Mined.
    Confirmed,
    /// Abandoned by the operator.
    Abandoned,
}

/// A payout transaction and its state (the `ledger settle --json` shape, DESIGN §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Txid, display hex.
    pub txid: String,
    /// The signed transaction, hex.
    pub raw_tx: String,
    /// Inputs with the outputs they spend.
    pub inputs: Vec<SpentOutput>,
    /// Outputs, change last.
    pub outputs: Vec<PayTo>,
    /// Fee paid.
    pub fee: Satoshis,
    /// State.
    pub status: PayoutStatus,
    /// Unix milliseconds of signing.
    pub created_at: u64,
    /// Broadcast attempts so far.
    pub attempts: u32,
    /// Who accepted it, and what they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// The latest broadcast or status error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Block height once mined, when the broadcaster reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_height: Option<u64>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct LedgerMetrics {
    rewards: [AtomicU64; 2],
    reward_sat: [AtomicU64; 2],
    slashes: [AtomicU64; 2],
    slashed_sat: [AtomicU64; 2],
    payouts_created: AtomicU64,
    broadcast_failures: AtomicU64,
    audit_rounds: AtomicU64,
    audit_round_ms: AtomicU64,
    audits_cut: AtomicU64,
}

impl LedgerMetrics {
    /// Records a finished audit round: how long it took and how many audits its deadline
    /// cut (they count as neither pass nor fail).
    pub fn audit_round(&self, millis: u64, cut: u64) {
        self.audit_rounds.fetch_add(1, Ordering::Relaxed);
        self.audit_round_ms.store(millis, Ordering::Relaxed);
        self.audits_cut.fetch_add(cut, Ordering::Relaxed);
    }
}

struct State {
    ledger: Ledger,
    budget: torrent_core::rewards::Budget,
}

/// Called with a seeder's tracker account after its stake changed.
pub(crate) type StakeObserver = Box<dyn Fn(&Account) + Send + Sync>;

/// The durable ledger.
pub struct Book {
    store: Arc<Store>,
    rules: Rules,
    budget: torrent_core::rewards::BudgetConfig,
    state: Mutex<State>,
    observer: Mutex<Option<StakeObserver>>,
    /// Counters.
    pub metrics: LedgerMetrics,
    /// Operator alerts (shared with every module that raises them).
    pub alerts: Arc<crate::alerts::Alerts>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book").field("rules", &self.rules).finish()
    }
}

fn now_ms() -> u64 {
    crate::clock::now().0
}

fn payout_id(txid: &str) -> Result<u64> {
    let t: Txid = txid
        .parse()
        .map_err(|e| anyhow::anyhow!("txid {txid}: {e}"))?;
    let b = t.to_byte_array();
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[..8]);
    Ok(u64::from_le_bytes(id))
}

fn get_json<T: serde::de::DeserializeOwned>(
    v: Option<redb::AccessGuard<'_, &[u8]>>,
) -> Result<Option<T>> {
    v.map(|g| serde_json::from_slice(g.value()).context("corrupt ledger row"))
        .transpose()
}

fn account_of(w: &WriteTransaction, address: &str) -> Result<Account> {
    let t = w.open_table(ACCOUNTS)?;
    let a: Option<Account> = get_json(t.get(address)?)?;
    a.with_context(|| format!("no registered seeder with address {address}"))
}

fn load(store: &Store) -> Result<Ledger> {
    let r = store.db()?.begin_read()?;
    let mut accounts = BTreeMap::new();
    if let Ok(t) = r.open_table(MONEY) {
        for row in t.iter()? {
            let (k, v) = row?;
            accounts.insert(k.value(), serde_json::from_slice::<Money>(v.value())?);
        }
    }
    let credited = match r.open_table(META) {
        Ok(t) => Satoshis(t.get("credited")?.map_or(0, |v| v.value())),
        Err(_) => Satoshis::ZERO,
    };
    let mut payouts = BTreeMap::new();
    let mut settled = BTreeSet::new();
    if let Ok(t) = r.open_table(PAYOUTS) {
        let ids: BTreeMap<String, u64> = match r.open_table(ACCOUNTS) {
            Ok(a) => a
                .iter()?
                .filter_map(|row| {
                    let (k, v) = row.ok()?;
                    let acc: Account = serde_json::from_slice(v.value()).ok()?;
                    Some((k.value().to_string(), acc.id))
                })
                .collect(),
            Err(_) => BTreeMap::new(),
        };
        for row in t.iter()? {
            let (_, v) = row?;
            let p: Payout = serde_json::from_slice(v.value())?;
            let id = payout_id(&p.txid)?;
            match p.status {
                PayoutStatus::Signed | PayoutStatus::Broadcast => {
                    let outs = p
                        .outputs
                        .iter()
                        .filter(|o| !o.change)
                        .map(|o| {
                            ids.get(&o.address)
                                .map(|i| (*i, o.satoshis))
                                .with_context(|| {
                                    format!("payout {} pays unknown {}", p.txid, o.address)
                                })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    payouts.insert(id, outs);
                }
                PayoutStatus::Confirmed => {
                    settled.insert(id);
                }
                PayoutStatus::Abandoned => {}
            }
        }
    }
    Ok(Ledger::from_parts(accounts, payouts, settled, credited))
}

impl Book {
    /// Opens the ledger kept in `store`.
    ///
    /// # Errors
    /// Database errors or corrupt rows.
    pub fn open(store: Arc<Store>, rules: Rules) -> Result<Self> {
        let ledger = load(&store)?;
        let budget = {
            let r = store.db()?.begin_read()?;
            match r.open_table(BUDGET) {
                Ok(t) => t
                    .get("today")?
                    .map(|v| serde_json::from_slice(v.value()))
                    .transpose()?
                    .unwrap_or_default(),
                Err(_) => torrent_core::rewards::Budget::default(),
            }
        };
        let book = Self {
            store,
            rules,
            budget: torrent_core::rewards::BudgetConfig::default(),
            state: Mutex::new(State { ledger, budget }),
            observer: Mutex::new(None),
            metrics: LedgerMetrics::default(),
            alerts: Arc::default(),
        };
        book.check()?;
        Ok(book)
    }

    /// Caps what rewards may accrue per UTC day (zero: no cap).
    #[must_use]
    pub fn with_budget(mut self, budget: torrent_core::rewards::BudgetConfig) -> Self {
        self.budget = budget;
        self
    }

    /// Sets who hears about stake changes (the tracker, to stop or restart passkeys).
    pub fn observe(&self, f: StakeObserver) {
        if let Ok(mut o) = self.observer.lock() {
            *o = Some(f);
        }
    }

    /// The reward rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks the conservation law: satoshis credited = held + paid + slashed.
    ///
    /// # Errors
    /// When it does not hold (a corrupt database).
    pub fn check(&self) -> Result<()> {
        let s = self.state();
        let accounted = s.ledger.accounted().context("ledger totals overflow")?;
        if accounted != s.ledger.credited {
            bail!(
                "ledger does not balance: {} sat credited, {accounted} sat accounted for",
                s.ledger.credited
            );
        }
        Ok(())
    }

    /// Records a change under `key` (see the module docs).
    ///
    /// # Errors
    /// An unknown seeder, a change the ledger refuses (overflow, insufficient balance), or
    /// database errors; the ledger is then unchanged.
    pub fn record(&self, key: &str, entry: Entry) -> Result<Recorded> {
        self.record_with(key, entry, |_| Ok(()))
    }

    /// [`Book::record`], plus `extra` writes committed in the same transaction.
    fn record_with(
        &self,
        key: &str,
        entry: Entry,
        extra: impl FnOnce(&WriteTransaction) -> Result<()>,
    ) -> Result<Recorded> {
        let mut st = self.state();
        let w = self.store.db()?.begin_write()?;
        if w.open_table(KEYS)?.get(key)?.is_some() {
            return Ok(Recorded::Duplicate);
        }
        // Map addresses to the core's account ids.
        let mut touched: Vec<(u64, String)> = Vec::new();
        let mut id_of = |address: &str| -> Result<u64> {
            let a = account_of(&w, address)?;
            touched.push((a.id, a.address.clone()));
            Ok(a.id)
        };
        let event = match &entry {
            Entry::Stake {
                address, amount, ..
            } => Event::Stake {
                seeder: id_of(address)?,
                amount: *amount,
            },
            Entry::Proof {
                address,
                served_ms,
                active_seeders,
                ..
            } => Event::ProofServed {
                seeder: id_of(address)?,
                served_ms: *served_ms,
                active_seeders: *active_seeders,
            },
            Entry::Bulk { address, bytes, .. } => Event::Bulk {
                seeder: id_of(address)?,
                bytes: *bytes,
            },
            Entry::Slash {
                address, reason, ..
            } => Event::Slash {
                seeder: id_of(address)?,
                reason: match reason {
                    Offence::InvalidProof => SlashReason::InvalidProof,
                    Offence::FailedAudit => SlashReason::FailedAudit,
                },
            },
            Entry::PayoutCreated { txid, outputs } => Event::PayoutCreated {
                payout: payout_id(txid)?,
                outputs: outputs
                    .iter()
                    .filter(|o| !o.change)
                    .map(|o| Ok((id_of(&o.address)?, o.satoshis)))
                    .collect::<Result<Vec<_>>>()?,
            },
            Entry::PayoutConfirmed { txid } | Entry::PayoutAbandoned { txid } => {
                let id = payout_id(txid)?;
                let outs = st.ledger.payout(id).map(<[_]>::to_vec).unwrap_or_default();
                let accounts = self.store.accounts()?;
                for (seeder, _) in outs {
                    if let Some(a) = accounts.iter().find(|a| a.id == seeder) {
                        touched.push((a.id, a.address.clone()));
                    }
                }
                if matches!(entry, Entry::PayoutConfirmed { .. }) {
                    Event::PayoutConfirmed { payout: id }
                } else {
                    Event::PayoutAbandoned { payout: id }
                }
            }
        };
        // A reward must fit today's budgets first (core's rule); what it admits is kept
        // with the change, in the same transaction.
        let mut budget = None;
        if let Event::ProofServed { seeder, .. } | Event::Bulk { seeder, .. } = &event
            && let Some(amount) = self.rules.reward_of(&event, &st.ledger.account(*seeder))?
        {
            let mut b = st.budget.clone();
            match b.admit(*seeder, amount, now_ms(), &self.budget) {
                Ok(()) => budget = Some(b),
                Err(over) => {
                    st.budget = b;
                    drop(st);
                    if over.first_today {
                        self.alerts.raise(
                            "reward_budget_exhausted",
                            &format!(
                                "today's reward budget is spent (reward_budget_sat_per_day {}, reward_budget_sat_per_seeder_per_day {}): proofs are still served, nothing more accrues today",
                                self.budget.per_day, self.budget.per_seeder_per_day
                            ),
                        );
                    }
                    return Ok(Recorded::OverBudget);
                }
            }
        }
        let stakes: Vec<Satoshis> = touched
            .iter()
            .map(|(id, _)| st.ledger.account(*id).stake)
            .collect();
        let moved = st.ledger.apply_new(&event, &self.rules)?;
        let outcome = (|| -> Result<LogRow> {
            {
                let mut money = w.open_table(MONEY)?;
                let mut accounts = w.open_table(ACCOUNTS)?;
                for ((id, address), stake) in touched.iter().zip(&stakes) {
                    let a = st.ledger.account(*id);
                    money.insert(*id, serde_json::to_vec(&a)?.as_slice())?;
                    if a.stake != *stake {
                        let mut acc: Account = get_json(accounts.get(address.as_str())?)?
                            .with_context(|| format!("no registered seeder {address}"))?;
                        acc.stake = a.stake;
                        accounts.insert(address.as_str(), serde_json::to_vec(&acc)?.as_slice())?;
                    }
                }
            }
            w.open_table(META)?
                .insert("credited", st.ledger.credited.to_sat())?;
            let mut log = w.open_table(LOG)?;
            let seq = log.last()?.map_or(0, |(k, _)| k.value()) + 1;
            let row = LogRow {
                seq,
                at: now_ms(),
                key: key.to_string(),
                entry: entry.clone(),
                credited: moved.credited,
                slashed: moved.slashed,
            };
            log.insert(seq, serde_json::to_vec(&row)?.as_slice())?;
            drop(log);
            w.open_table(KEYS)?.insert(key, seq)?;
            if let Some(b) = &budget {
                w.open_table(BUDGET)?
                    .insert("today", serde_json::to_vec(b)?.as_slice())?;
            }
            extra(&w)?;
            Ok(row)
        })();
        let committed = outcome.and_then(|row| {
            w.commit()?;
            Ok(row)
        });
        let row = match committed {
            Ok(row) => {
                if let Some(b) = budget {
                    st.budget = b;
                }
                row
            }
            Err(e) => {
                // Memory ran ahead of the disk: reload what is durable.
                st.ledger = load(&self.store)?;
                return Err(e);
            }
        };
        drop(st);
        self.after(&row);
        Ok(Recorded::Applied(row))
    }

    fn after(&self, row: &LogRow) {
        let m = &self.metrics;
        match &row.entry {
            Entry::Proof { .. } | Entry::Bulk { .. } => {
                let i = usize::from(matches!(row.entry, Entry::Bulk { .. }));
                m.rewards[i].fetch_add(1, Ordering::Relaxed);
                m.reward_sat[i].fetch_add(row.credited.to_sat(), Ordering::Relaxed);
            }
            Entry::Slash {
                address,
                reason,
                detail,
            } => {
                let i = usize::from(*reason == Offence::FailedAudit);
                m.slashes[i].fetch_add(1, Ordering::Relaxed);
                m.slashed_sat[i].fetch_add(row.slashed.to_sat(), Ordering::Relaxed);
                self.alerts.raise(
                    "seeder_slashed",
                    &format!(
                        "seeder {address} slashed {} sat for {}: {detail}",
                        row.slashed,
                        reason.name()
                    ),
                );
            }
            Entry::PayoutCreated { .. } => {
                m.payouts_created.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let address = match &row.entry {
            Entry::Stake { address, .. } | Entry::Slash { address, .. } => address,
            _ => return,
        };
        if let (Ok(Some(a)), Ok(o)) = (self.store.account(address), self.observer.lock())
            && let Some(f) = o.as_ref()
        {
            f(&a);
        }
    }

    /// The money of `address` (zeros for a registered seeder never credited).
    ///
    /// # Errors
    /// Unknown address or database errors.
    pub fn money(&self, address: &str) -> Result<Money> {
        let a = self
            .store
            .account(address)?
            .with_context(|| format!("no registered seeder with address {address}"))?;
        Ok(self.state().ledger.account(a.id))
    }

    /// Whether the ledger holds nothing for account `id` and never did (no stake, reward,
    /// payout or slash): such an account may expire without losing any record.
    pub fn untouched(&self, id: u64) -> bool {
        self.state().ledger.account(id) == Money::default()
    }

    /// Every registered seeder with its money.
    ///
    /// # Errors
    /// Database errors.
    pub fn balances(&self) -> Result<Vec<(Account, Money)>> {
        let accounts = self.store.accounts()?;
        let st = self.state();
        Ok(accounts
            .into_iter()
            .map(|a| {
                let m = st.ledger.account(a.id);
                (a, m)
            })
            .collect())
    }

    /// Satoshis credited so far (rewards and stakes).
    pub fn credited(&self) -> Satoshis {
        self.state().ledger.credited
    }

    /// The latest `limit` history rows, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn history(&self, limit: usize) -> Result<Vec<LogRow>> {
        let r = self.store.db()?.begin_read()?;
        let Ok(t) = r.open_table(LOG) else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        for row in t.iter()?.rev().take(limit) {
            let (_, v) = row?;
            rows.push(serde_json::from_slice(v.value())?);
        }
        rows.reverse();
        Ok(rows)
    }
}

impl crate::metrics::Report for Book {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let m = &self.metrics;
        let (stake, balance, pending, paid, accounts) = {
            let st = self.state();
            st.ledger
                .accounts()
                .fold((0u64, 0u64, 0u64, 0u64, 0u64), |t, (_, a)| {
                    // Reported, not spent: saturating (see `Satoshis`'s `Sum`).
                    (
                        t.0.saturating_add(a.stake.to_sat()),
                        t.1.saturating_add(a.balance.to_sat()),
                        t.2.saturating_add(a.pending.to_sat()),
                        t.3.saturating_add(a.paid.to_sat()),
                        t.4 + 1,
                    )
                })
        };
        let kinds = ["proof", "bulk"];
        fn by<'a>(
            label: &'static str,
            names: [&'static str; 2],
            values: &'a [AtomicU64; 2],
        ) -> impl Iterator<Item = ([(&'static str, &'static str); 1], u64)> + 'a {
            names
                .into_iter()
                .zip(values)
                .map(move |(n, v)| ([(label, n)], v.load(Ordering::Relaxed)))
        }
        out.counters(
            "torrent_service_rewards",
            "Rewards credited, by kind.",
            by("kind", kinds, &m.rewards),
        )?;
        out.counters(
            "torrent_service_reward_satoshis",
            "Satoshis credited as rewards, by kind.",
            by("kind", kinds, &m.reward_sat),
        )?;
        out.counter(
            "torrent_service_audit_rounds",
            "Audit rounds finished.",
            m.audit_rounds.load(Ordering::Relaxed),
        )?;
        out.gauge(
            "torrent_service_audit_round_seconds",
            "How long the latest audit round took.",
            m.audit_round_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        )?;
        out.counter(
            "torrent_service_audits_cut",
            "Audits still running when their round's deadline passed.",
            m.audits_cut.load(Ordering::Relaxed),
        )?;
        let reasons = ["invalid_proof", "failed_audit"];
        out.counters(
            "torrent_service_slashes",
            "Slashes, by offence.",
            by("reason", reasons, &m.slashes),
        )?;
        out.counters(
            "torrent_service_slashed_satoshis",
            "Satoshis slashed from stakes, by offence.",
            by("reason", reasons, &m.slashed_sat),
        )?;
        let payouts = self.payouts().unwrap_or_default();
        out.gauges(
            "torrent_service_payouts",
            "Payout transactions by state.",
            [
                ("signed", PayoutStatus::Signed),
                ("broadcast", PayoutStatus::Broadcast),
                ("confirmed", PayoutStatus::Confirmed),
                ("abandoned", PayoutStatus::Abandoned),
            ]
            .map(|(name, st)| {
                (
                    [("status", name)],
                    payouts.iter().filter(|p| p.status == st).count(),
                )
            }),
        )?;
        out.counter(
            "torrent_service_payout_broadcast_failures",
            "Failed broadcast attempts (retried).",
            m.broadcast_failures.load(Ordering::Relaxed),
        )?;
        for (name, help, v) in [
            (
                "torrent_service_stake_satoshis",
                "Satoshis staked by all seeders.",
                stake,
            ),
            (
                "torrent_service_balance_satoshis",
                "Satoshis earned and not yet in a payout.",
                balance,
            ),
            (
                "torrent_service_pending_satoshis",
                "Satoshis in payouts not yet confirmed.",
                pending,
            ),
            (
                "torrent_service_paid_satoshis",
                "Satoshis in confirmed payouts.",
                paid,
            ),
            (
                "torrent_service_ledger_accounts",
                "Seeders with a ledger account.",
                accounts,
            ),
            (
                "torrent_service_wallet_satoshis",
                "Unspent satoshis in the payout wallet.",
                self.wallet_balance().unwrap_or_default().to_sat(),
            ),
        ] {
            out.gauge(name, help, v)?;
        }
        self.alerts.report(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payouts::SettleRules;
    use std::path::{Path, PathBuf};
    use torrent_core::bsv::hash::sha256d;
    use torrent_core::bsv::keys::PrivateKey;
    use torrent_core::bsv::tx::{Transaction, TxLimits, TxOut};
    use torrent_core::hex;
    use wallet::WalletFile;

    fn key(i: u32) -> PrivateKey {
        PrivateKey::from_bytes(&sha256d(&i.to_le_bytes()), torrent_core::Network::Mainnet).unwrap()
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ts_ledger_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn setup(dir: &Path) -> (Arc<Store>, Book, Vec<String>) {
        let store = Arc::new(Store::open(&dir.join("db.redb")).unwrap());
        let mut addrs = Vec::new();
        for i in 1..=3 {
            let a = key(i).address().to_string();
            store
                .register(&a, &format!("{i:032x}"), &format!("pk{i}"), 1)
                .unwrap();
            addrs.push(a);
        }
        let book = Book::open(Arc::clone(&store), Rules::DEFAULT).unwrap();
        (store, book, addrs)
    }

    fn proof(book: &Book, key: &str, address: &str, ms: u64, seeders: u32) -> Recorded {
        book.record(
            key,
            Entry::Proof {
                address: address.into(),
                txid: "00".repeat(32),
                served_ms: ms,
                active_seeders: seeders,
            },
        )
        .unwrap()
    }

    #[test]
    fn changes_are_durable_idempotent_and_mirror_the_stake() {
        let dir = temp("durable");
        let (store, book, a) = setup(&dir);
        let stake = |k: &str, amount| {
            book.record(
                k,
                Entry::Stake {
                    address: a[0].clone(),
                    amount,
                    reference: "op".into(),
                },
            )
            .unwrap()
        };
        assert!(matches!(
            stake("s1", Satoshis(100_000)),
            Recorded::Applied(_)
        ));
        assert_eq!(
            stake("s1", Satoshis(100_000)),
            Recorded::Duplicate,
            "a replayed key changes nothing"
        );
        assert_eq!(
            store.account(&a[0]).unwrap().unwrap().stake,
            Satoshis(100_000)
        );
        for (i, (ms, n, want)) in [(499, 2, 160), (500, 2, 150), (499, 3, 110), (500, 3, 100)]
            .into_iter()
            .enumerate()
        {
            let Recorded::Applied(row) = proof(&book, &format!("p{i}"), &a[0], ms, n) else {
                panic!("applied")
            };
            assert_eq!(row.credited, Satoshis(want), "{ms} ms, {n} seeders");
        }
        let slash = book
            .record(
                "x1",
                Entry::Slash {
                    address: a[0].clone(),
                    reason: Offence::FailedAudit,
                    detail: "test".into(),
                },
            )
            .unwrap();
        assert!(matches!(
            slash,
            Recorded::Applied(LogRow {
                slashed: Satoshis(10_000),
                ..
            })
        ));
        assert_eq!(
            store.account(&a[0]).unwrap().unwrap().stake,
            Satoshis(90_000),
            "the tracker's copy of the stake follows the ledger in the same transaction"
        );
        assert!(
            book.record(
                "bad",
                Entry::Bulk {
                    address: "1Nobody".into(),
                    bytes: 1,
                    bundle: "b".into()
                }
            )
            .is_err()
        );
        drop(book);
        // Reopened: the same money, and old keys still refused.
        let book = Book::open(Arc::clone(&store), Rules::DEFAULT).unwrap();
        let m = book.money(&a[0]).unwrap();
        assert_eq!(
            (m.balance, m.stake, m.slashed),
            (Satoshis(520), Satoshis(90_000), Satoshis(10_000))
        );
        assert_eq!(proof(&book, "p0", &a[0], 1, 1), Recorded::Duplicate);
        assert_eq!(book.credited(), Satoshis(100_520));
        book.check().unwrap();
        assert_eq!(book.history(100).unwrap().len(), 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settle_pays_once_abandon_restores_confirm_completes() {
        let dir = temp("settle");
        let (_store, book, a) = setup(&dir);
        for (i, addr) in a.iter().enumerate() {
            for j in 0..(i + 1) * 10 {
                proof(&book, &format!("p{i}-{j}"), addr, 10, 1);
            }
        }
        // 1600, 3200 and 4800 sat owed: with a 2000 sat threshold the first one waits.
        let wallet_key = key(99);
        let fund = TxOut {
            value: Satoshis(20_000),
            script_pubkey: wallet_key.address().script_pubkey(),
        };
        let w = WalletFile {
            wif: wallet_key.to_wif().as_str().into(),
            utxos: vec![
                WalletUtxo {
                    txid: "11".repeat(32),
                    vout: 0,
                    satoshis: fund.value,
                    locking_script: None,
                },
                WalletUtxo {
                    txid: "22".repeat(32),
                    vout: 3,
                    satoshis: Satoshis(1_000),
                    locking_script: None,
                },
            ],
        };
        assert_eq!(book.import_wallet(&w).unwrap(), 2);
        assert_eq!(book.import_wallet(&w).unwrap(), 0, "imports are idempotent");
        let rules = SettleRules {
            threshold: Satoshis(2_000),
            fee_per_kb: 100,
            dust: Satoshis(1),
        };
        let p = book.settle(&wallet_key, &rules).unwrap().unwrap();
        assert_eq!(p.inputs.len(), 1, "the largest UTXO covers it alone");
        let paid: Vec<(String, Satoshis)> = p
            .outputs
            .iter()
            .filter(|o| !o.change)
            .map(|o| (o.address.clone(), o.satoshis))
            .collect();
        assert_eq!(
            paid,
            vec![
                (a[1].clone(), Satoshis(3_200)),
                (a[2].clone(), Satoshis(4_800))
            ]
        );
        let tx =
            Transaction::decode(&hex::decode(&p.raw_tx).unwrap(), &TxLimits::default()).unwrap();
        assert_eq!(tx.txid().to_string(), p.txid);
        let out_sum: Satoshis = tx.outputs.iter().map(|o| o.value).sum();
        assert_eq!(Satoshis(20_000).checked_sub(out_sum), Some(p.fee));
        assert!(
            p.fee.to_sat() >= (p.raw_tx.len() as u64 / 2) * 100 / 1000,
            "fee follows the rate"
        );
        assert_eq!(book.money(&a[1]).unwrap().pending, Satoshis(3_200));
        assert!(
            book.settle(&wallet_key, &rules).unwrap().is_none(),
            "nothing left due: no double pay"
        );
        // The outbox gets the transaction.
        let outbox = dir.join("outbox");
        let b = Broadcaster::Outbox(outbox.clone());
        assert_eq!(book.pump(&b).unwrap(), 1);
        let written = std::fs::read_to_string(outbox.join(format!("{}.hex", p.txid))).unwrap();
        assert_eq!(written.trim(), p.raw_tx);
        assert_eq!(
            book.payout(&p.txid).unwrap().status,
            PayoutStatus::Broadcast
        );
        // Abandoned: balances and the wallet come back.
        let before = book.wallet_balance().unwrap();
        book.abandon(&p.txid).unwrap();
        assert_eq!(book.money(&a[1]).unwrap().balance, Satoshis(3_200));
        assert_eq!(
            book.wallet_balance().unwrap(),
            Satoshis(before.to_sat() - p.outputs.last().unwrap().satoshis.to_sat() + 20_000)
        );
        // Paid again, then confirmed.
        let p2 = book.settle(&wallet_key, &rules).unwrap().unwrap();
        assert_eq!(
            p2.txid, p.txid,
            "same inputs, same outputs, same deterministic signatures"
        );
        let p2 = book.confirm(&p2.txid, Some(900_000)).unwrap();
        assert_eq!(p2.status, PayoutStatus::Confirmed);
        assert_eq!(book.money(&a[2]).unwrap().paid, Satoshis(4_800));
        assert!(
            book.abandon(&p2.txid).is_err(),
            "a mined payout cannot be abandoned"
        );
        book.check().unwrap();
        // Not enough money: refused with a reason, and nothing moves.
        for j in 0..1000 {
            proof(&book, &format!("big{j}"), &a[0], 10, 1);
        }
        let err = book.settle(&wallet_key, &rules).unwrap_err();
        assert!(format!("{err:#}").contains("cannot be funded"), "{err:#}");
        assert_eq!(book.money(&a[0]).unwrap().pending, Satoshis::ZERO);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
