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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use torrent_core::bsv::keys::{Address, PrivateKey};
use torrent_core::bsv::p2pkh::{TxBuildError, Utxo, build_p2pkh};
use torrent_core::bsv::tx::{OutPoint, TxOut};
use torrent_core::incentive::{Account as Money, Event, Ledger, Rules, SlashReason};
use torrent_core::{Txid, hex};

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
    /// Satoshis.
    pub satoshis: u64,
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
        /// Satoshis.
        amount: u64,
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
    /// Satoshis credited (reward or stake) by this change.
    pub credited: u64,
    /// Satoshis slashed by this change.
    pub slashed: u64,
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
    pub satoshis: u64,
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
    /// Fee paid, satoshis.
    pub fee: u64,
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

/// A wallet output as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WalletRow {
    satoshis: u64,
    locking_script: String,
    /// The payout that spends it, if any.
    #[serde(default)]
    spent_by: Option<String>,
    /// Change of one of our own payouts (unconfirmed until that payout confirms).
    #[serde(default)]
    change_of: Option<String>,
    /// Returned by this abandoned payout: the next payout must spend it, so that it and
    /// the abandoned transaction conflict and at most one of them can ever be mined.
    #[serde(default)]
    released_from: Option<String>,
}

/// The wallet file: a WIF key and the UTXOs it may spend (all P2PKH to that key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletFile {
    /// The funding key.
    pub wif: crate::config::Secret,
    /// Spendable outputs.
    pub utxos: Vec<WalletUtxo>,
}

/// One UTXO of the wallet file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletUtxo {
    /// Source txid, display hex.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Value.
    pub satoshis: u64,
    /// Locking script hex; default the key's P2PKH script.
    #[serde(default)]
    pub locking_script: Option<String>,
}

/// Settlement settings (config keys `payout_*`).
#[derive(Debug, Clone)]
pub struct SettleRules {
    /// Balances below this wait for a later payout.
    pub threshold: u64,
    /// Fee rate, satoshis per 1000 bytes.
    pub fee_per_kb: u64,
    /// Change at or below this goes to the fee.
    pub dust: u64,
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
    alerts: Mutex<BTreeMap<&'static str, u64>>,
    raised: Mutex<BTreeSet<(&'static str, String)>>,
    galaxy: std::sync::OnceLock<crate::galaxy::GalaxyClient>,
}

impl LedgerMetrics {
    /// Also sends every alert to Galaxy's Alert service (from a background thread, with
    /// the client's retries; an Alert service that is down costs a log line, nothing else).
    pub fn send_alerts_to(&self, client: crate::galaxy::GalaxyClient) {
        let _ = self.galaxy.set(client);
    }

    /// Records a finished audit round: how long it took and how many audits its deadline
    /// cut (they count as neither pass nor fail).
    pub fn audit_round(&self, millis: u64, cut: u64) {
        self.audit_rounds.fetch_add(1, Ordering::Relaxed);
        self.audit_round_ms.store(millis, Ordering::Relaxed);
        self.audits_cut.fetch_add(cut, Ordering::Relaxed);
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

    /// Reports the state of the condition behind alert `kind` for `key`: `Some(problem)`
    /// raises it (once, until it clears), `None` clears it.
    pub fn condition(&self, kind: &'static str, key: &str, problem: Option<&str>) {
        match problem {
            Some(message) => self.alert_once(kind, key, message),
            None => self.resolve(kind, key),
        }
    }

    /// How many keys of alert `kind` are raised and not yet resolved.
    pub fn raised(&self, kind: &'static str) -> usize {
        self.raised
            .lock()
            .map(|r| r.iter().filter(|(k, _)| *k == kind).count())
            .unwrap_or(0)
    }

    /// Raises alert `kind` for `key` unless it is already raised (a condition alerts once,
    /// not at every round or retry); [`LedgerMetrics::resolve`] re-arms it.
    pub fn alert_once(&self, kind: &'static str, key: &str, message: &str) {
        let fresh = self
            .raised
            .lock()
            .is_ok_and(|mut r| r.insert((kind, key.to_string())));
        if fresh {
            alert(self, kind, message);
        }
    }

    /// The condition behind alert `kind` for `key` is over.
    pub fn resolve(&self, kind: &'static str, key: &str) {
        if let Ok(mut r) = self.raised.lock() {
            r.remove(&(kind, key.to_string()));
        }
    }

    /// Counts an alert of `kind`.
    pub fn alert(&self, kind: &'static str) {
        if let Ok(mut a) = self.alerts.lock() {
            *a.entry(kind).or_default() += 1;
        }
    }
}

/// Every alert kind, each always present in `torrent_service_alerts_total` (zero until
/// raised), so that rules over them see a series from the first scrape.
pub const ALERT_KINDS: [&str; 9] = [
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

/// Raises an operator alert: a warning in the log (target `torrent_service::alert`) and a
/// count in `torrent_service_alerts_total{kind}`. The Galaxy Alert adapter reads the same.
pub fn alert(metrics: &LedgerMetrics, kind: &'static str, message: &str) {
    metrics.alert(kind);
    tracing::warn!(target: "torrent_service::alert", kind, "{message}");
    if let Some(c) = metrics.galaxy.get() {
        let (c, req) = (
            c.clone(),
            crate::galaxy::AlertRequest::Raise {
                kind: kind.to_string(),
                message: message.to_string(),
                at_ms: now_ms(),
            },
        );
        std::thread::spawn(
            move || match c.call::<_, crate::galaxy::AlertResponse>(&req) {
                Ok(crate::galaxy::AlertResponse::Ack) => {}
                Ok(crate::galaxy::AlertResponse::Error { message }) => {
                    tracing::warn!("Galaxy Alert refused an alert: {message}");
                }
                Err(e) => tracing::warn!("Galaxy Alert: {e}"),
            },
        );
    }
}

struct State {
    ledger: Ledger,
    budget: torrent_core::rewards::Budget,
}

/// Called with a seeder's tracker account after its stake changed.
pub type StakeObserver = Box<dyn Fn(&Account) + Send + Sync>;

/// The durable ledger.
pub struct Book {
    store: Arc<Store>,
    rules: Rules,
    budget: torrent_core::rewards::BudgetConfig,
    state: Mutex<State>,
    observer: Mutex<Option<StakeObserver>>,
    /// Counters.
    pub metrics: LedgerMetrics,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book").field("rules", &self.rules).finish()
    }
}

fn now_ms() -> u64 {
    crate::tracker::now().0
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
        Ok(t) => t.get("credited")?.map_or(0, |v| v.value()),
        Err(_) => 0,
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
                        alert(
                            &self.metrics,
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
        let before: Vec<Money> = touched
            .iter()
            .map(|(id, _)| st.ledger.account(*id))
            .collect();
        st.ledger.apply_new(&event, &self.rules)?;
        let outcome = (|| -> Result<LogRow> {
            let mut credited = 0u64;
            let mut slashed = 0u64;
            {
                let mut money = w.open_table(MONEY)?;
                let mut accounts = w.open_table(ACCOUNTS)?;
                for ((id, address), b) in touched.iter().zip(&before) {
                    let a = st.ledger.account(*id);
                    credited += (a.earned - b.earned) + a.stake.saturating_sub(b.stake);
                    slashed += a.slashed - b.slashed;
                    money.insert(*id, serde_json::to_vec(&a)?.as_slice())?;
                    if a.stake != b.stake {
                        let mut acc: Account = get_json(accounts.get(address.as_str())?)?
                            .with_context(|| format!("no registered seeder {address}"))?;
                        acc.stake = a.stake;
                        accounts.insert(address.as_str(), serde_json::to_vec(&acc)?.as_slice())?;
                    }
                }
            }
            w.open_table(META)?.insert("credited", st.ledger.credited)?;
            let mut log = w.open_table(LOG)?;
            let seq = log.last()?.map_or(0, |(k, _)| k.value()) + 1;
            let row = LogRow {
                seq,
                at: now_ms(),
                key: key.to_string(),
                entry: entry.clone(),
                credited,
                slashed,
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
                m.reward_sat[i].fetch_add(row.credited, Ordering::Relaxed);
            }
            Entry::Slash {
                address,
                reason,
                detail,
            } => {
                let i = usize::from(*reason == Offence::FailedAudit);
                m.slashes[i].fetch_add(1, Ordering::Relaxed);
                m.slashed_sat[i].fetch_add(row.slashed, Ordering::Relaxed);
                alert(
                    m,
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
    pub fn credited(&self) -> u64 {
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

    /// Every payout, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn payouts(&self) -> Result<Vec<Payout>> {
        let r = self.store.db()?.begin_read()?;
        let Ok(t) = r.open_table(PAYOUTS) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Payout> = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.txid.cmp(&b.txid)));
        Ok(out)
    }

    fn put_payout(w: &WriteTransaction, p: &Payout) -> Result<()> {
        w.open_table(PAYOUTS)?
            .insert(p.txid.as_str(), serde_json::to_vec(p)?.as_slice())?;
        Ok(())
    }

    /// Updates a payout's broadcast state (not a ledger change).
    ///
    /// # Errors
    /// Database errors.
    fn update_payout(&self, txid: &str, f: impl FnOnce(&mut Payout)) -> Result<Payout> {
        let _st = self.state();
        let w = self.store.db()?.begin_write()?;
        let mut p: Payout = get_json(w.open_table(PAYOUTS)?.get(txid)?)?
            .with_context(|| format!("no payout {txid}"))?;
        f(&mut p);
        Self::put_payout(&w, &p)?;
        w.commit()?;
        Ok(p)
    }

    /// Adds the wallet file's UTXOs the database does not know yet (never resurrects one a
    /// payout spent); returns how many were added.
    ///
    /// # Errors
    /// A malformed file or database errors.
    pub fn import_wallet(&self, wallet: &WalletFile) -> Result<usize> {
        let key = PrivateKey::from_wif(wallet.wif.expose().trim())
            .map_err(|e| anyhow::anyhow!("wallet wif: {e}"))?;
        self.import_utxos(&key, &wallet.utxos)
    }

    /// Our own unconfirmed change outputs (spendable by the next payout).
    fn change_outpoints(&self) -> Result<BTreeSet<String>> {
        let r = self.store.db()?.begin_read()?;
        let Ok(t) = r.open_table(WALLET) else {
            return Ok(BTreeSet::new());
        };
        let mut out = BTreeSet::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let w: WalletRow = serde_json::from_slice(v.value())?;
            if w.change_of.is_some() {
                out.insert(k.value().to_string());
            }
        }
        Ok(out)
    }

    /// Adds UTXOs of `key` the database does not know yet; returns how many.
    ///
    /// # Errors
    /// Malformed entries or database errors.
    pub fn import_utxos(&self, key: &PrivateKey, utxos: &[WalletUtxo]) -> Result<usize> {
        let default_script = hex::encode(&key.address().script_pubkey());
        let _st = self.state();
        let w = self.store.db()?.begin_write()?;
        let mut added = 0;
        {
            let mut t = w.open_table(WALLET)?;
            for u in utxos {
                let txid: Txid = u
                    .txid
                    .parse()
                    .map_err(|e| anyhow::anyhow!("wallet utxo txid {}: {e}", u.txid))?;
                let script = u.locking_script.clone().unwrap_or(default_script.clone());
                if hex::decode(&script).is_err() {
                    bail!(
                        "wallet utxo {}:{}: locking_script is not hex",
                        u.txid,
                        u.vout
                    );
                }
                let k = format!("{txid}:{}", u.vout);
                if t.get(k.as_str())?.is_none() {
                    let row = WalletRow {
                        satoshis: u.satoshis,
                        locking_script: script,
                        spent_by: None,
                        change_of: None,
                        released_from: None,
                    };
                    t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                    added += 1;
                }
            }
        }
        w.commit()?;
        Ok(added)
    }

    /// Unspent wallet satoshis (including unconfirmed change).
    ///
    /// # Errors
    /// Database errors.
    pub fn wallet_balance(&self) -> Result<u64> {
        Ok(self.unspent()?.iter().map(|u| u.value).sum())
    }

    /// Unspent wallet outputs, those released by abandoned payouts first (see
    /// [`Book::settle`]); returns them and how many of them are such.
    fn unspent(&self) -> Result<Vec<Utxo>> {
        Ok(self.unspent_split()?.0)
    }

    /// Unspent wallet outputs, those released by abandoned payouts first, with the payout
    /// that released each of those (the first `.1.len()` of the list).
    fn unspent_split(&self) -> Result<(Vec<Utxo>, Vec<String>)> {
        let r = self.store.db()?.begin_read()?;
        let Ok(t) = r.open_table(WALLET) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut out = Vec::new();
        let mut released = Vec::new();
        let mut released_from = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let w: WalletRow = serde_json::from_slice(v.value())?;
            if w.spent_by.is_some() {
                continue;
            }
            let list = if let Some(from) = &w.released_from {
                released_from.push(from.clone());
                &mut released
            } else {
                &mut out
            };
            let (txid, vout) = k
                .value()
                .split_once(':')
                .context("corrupt wallet outpoint")?;
            list.push(Utxo {
                outpoint: OutPoint {
                    txid: txid.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                    vout: vout.parse()?,
                },
                value: w.satoshis,
                script_pubkey: hex::decode(&w.locking_script)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            });
        }
        // Largest first: the fewest inputs, the smallest transaction.
        out.sort_by(|a, b| {
            b.value
                .cmp(&a.value)
                .then(a.outpoint.vout.cmp(&b.outpoint.vout))
        });
        released.extend(out);
        Ok((released, released_from))
    }

    /// Pays every balance at or above the threshold in one transaction funded by `key`'s
    /// UTXOs; `Ok(None)` when nobody is due. The payout is durable (and the balances
    /// pending) before this returns; broadcasting is the caller's next step.
    ///
    /// # Errors
    /// Not enough funds (alerted), or database errors.
    pub fn settle(&self, key: &PrivateKey, rules: &SettleRules) -> Result<Option<Payout>> {
        self.settle_from(key, rules, None)
    }

    /// [`Book::settle`] spending only outpoints in `allowed` (plus our own change), when
    /// given: the UTXOs an external source (Galaxy Storage) still reports as unspent.
    ///
    /// # Errors
    /// As [`Book::settle`].
    pub fn settle_from(
        &self,
        key: &PrivateKey,
        rules: &SettleRules,
        allowed: Option<&BTreeSet<String>>,
    ) -> Result<Option<Payout>> {
        let due: Vec<(String, u64)> = self
            .balances()?
            .into_iter()
            .filter(|(a, m)| m.balance >= rules.threshold.max(1) && !a.address.is_empty())
            .map(|(a, m)| (a.address, m.balance))
            .collect();
        if due.is_empty() {
            return Ok(None);
        }
        let outputs: Vec<TxOut> = due
            .iter()
            .map(|(addr, sat)| {
                let a = Address::parse(addr).map_err(|e| anyhow::anyhow!("{addr}: {e}"))?;
                Ok(TxOut {
                    value: *sat,
                    script_pubkey: a.script_pubkey(),
                })
            })
            .collect::<Result<_>>()?;
        // Outputs released by abandoned payouts are spent first, every one that still can
        // be: the new payout then conflicts with every abandoned one, so that if an
        // abandoned transaction surfaces and is mined after all, this one cannot be, and
        // nobody is paid twice. When an abandoned payout has no such input left (the UTXO
        // source reports them spent or does not know them: it may have been mined), no
        // payout can conflict with it, and settlement stops (core's `settle` rule). The
        // rest are taken largest first.
        let (utxos, released_from) = self.unspent_split()?;
        let change: BTreeSet<String> = match allowed {
            Some(_) => self.change_outpoints()?,
            None => BTreeSet::new(),
        };
        let spendable = |u: &Utxo| {
            let k = format!("{}:{}", u.outpoint.txid, u.outpoint.vout);
            allowed.is_none_or(|ok| ok.contains(&k) || change.contains(&k))
        };
        let released: Vec<torrent_core::settle::Released<String, usize>> = released_from
            .iter()
            .enumerate()
            .map(|(i, payout)| torrent_core::settle::Released {
                payout: payout.clone(),
                outpoint: i,
                spendable: spendable(&utxos[i]),
            })
            .collect();
        let first = match torrent_core::settle::inputs_after_abandon(&released) {
            Ok(first) => first,
            Err(payout) => {
                let msg = format!(
                    "settlement refused: abandoned payout {payout} may have been mined (the UTXO source reports none of its inputs unspent), and a new payout could not conflict with it: its seeders could be paid twice; if it was mined, `ledger confirm {payout}`"
                );
                alert(&self.metrics, "payout_conflict_unverifiable", &msg);
                bail!(msg);
            }
        };
        let must = first.len();
        let utxos: Vec<Utxo> = first
            .iter()
            .map(|&i| utxos[i].clone())
            .chain(
                utxos[released_from.len()..]
                    .iter()
                    .filter(|u| spendable(u))
                    .cloned(),
            )
            .collect();
        let change_script = key.address().script_pubkey();
        let mut built = Err(TxBuildError::Empty);
        let mut used = 0;
        for n in must.max(1)..=utxos.len() {
            built = build_p2pkh(
                key,
                &utxos[..n],
                &outputs,
                &change_script,
                rules.fee_per_kb,
                rules.dust,
            );
            used = n;
            if !matches!(built, Err(TxBuildError::Insufficient { .. })) {
                break;
            }
        }
        let tx = match built {
            Ok(tx) => tx,
            Err(e) => {
                let owed: u64 = due.iter().map(|(_, s)| s).sum();
                let msg = format!(
                    "payout of {owed} sat to {} seeders cannot be funded: {e}",
                    due.len()
                );
                alert(&self.metrics, "payout_unfunded", &msg);
                bail!(msg);
            }
        };
        let spent = &utxos[..used];
        let txid = tx.txid().to_string();
        let have: u64 = spent.iter().map(|u| u.value).sum();
        let out_sum: u64 = tx.outputs.iter().map(|o| o.value).sum();
        let change_address = key.address().to_string();
        let mut pay: Vec<PayTo> = due
            .iter()
            .map(|(a, s)| PayTo {
                address: a.clone(),
                satoshis: *s,
                change: false,
            })
            .collect();
        let change = tx.outputs.get(due.len()).map(|o| o.value);
        if let Some(c) = change {
            pay.push(PayTo {
                address: change_address,
                satoshis: c,
                change: true,
            });
        }
        let payout = Payout {
            txid: txid.clone(),
            raw_tx: hex::encode(&tx.encode()),
            inputs: spent
                .iter()
                .map(|u| SpentOutput {
                    txid: u.outpoint.txid.to_string(),
                    vout: u.outpoint.vout,
                    satoshis: u.value,
                    locking_script: hex::encode(&u.script_pubkey),
                })
                .collect(),
            outputs: pay.clone(),
            fee: have - out_sum,
            status: PayoutStatus::Signed,
            created_at: now_ms(),
            attempts: 0,
            accepted_by: None,
            last_error: None,
            block_height: None,
        };
        let p2 = payout.clone();
        let spent_keys: Vec<String> = spent
            .iter()
            .map(|u| format!("{}:{}", u.outpoint.txid, u.outpoint.vout))
            .collect();
        let change_row = change.map(|c| WalletRow {
            satoshis: c,
            locking_script: hex::encode(&change_script),
            spent_by: None,
            change_of: Some(txid.clone()),
            released_from: None,
        });
        let n_out = due.len();
        // A payout abandoned and re-created from the same inputs and balances is the same
        // transaction again (deterministic signatures): its key names the attempt.
        let key = match self.payout(&txid) {
            Ok(old) if old.status == PayoutStatus::Abandoned => {
                format!("payout:{txid}:{}", payout.created_at)
            }
            _ => format!("payout:{txid}"),
        };
        self.record_with(
            &key,
            Entry::PayoutCreated {
                txid: txid.clone(),
                outputs: pay.into_iter().filter(|p| !p.change).collect(),
            },
            move |w| {
                Self::put_payout(w, &p2)?;
                let mut t = w.open_table(WALLET)?;
                for k in &spent_keys {
                    let mut row: WalletRow = get_json(t.get(k.as_str())?)?
                        .with_context(|| format!("wallet lost {k}"))?;
                    row.spent_by = Some(p2.txid.clone());
                    row.released_from = None;
                    t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                }
                if let Some(row) = change_row {
                    let k = format!("{}:{n_out}", p2.txid);
                    t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                }
                Ok(())
            },
        )?;
        tracing::info!(%txid, seeders = n_out, fee = payout.fee, "payout signed");
        Ok(Some(payout))
    }

    /// Marks a payout mined: pending becomes paid. An abandoned payout that was mined after
    /// all (the case settlement refuses to guess about) is taken back first: its amounts
    /// leave the balances again and its inputs are spent by it, unless a payout still
    /// pending or confirmed spends one of them (then at most one of the two can be mined,
    /// and that one must be resolved first).
    ///
    /// # Errors
    /// Unknown payout, a conflicting payout, balances no longer covering it, or database
    /// errors.
    pub fn confirm(&self, txid: &str, block_height: Option<u64>) -> Result<Payout> {
        let mut p = self.payout(txid)?;
        match p.status {
            PayoutStatus::Confirmed => return Ok(p),
            PayoutStatus::Abandoned => {
                self.revive(&p)?;
                p = self.payout(txid)?;
            }
            _ => {}
        }
        let t2 = txid.to_string();
        self.record_with(
            &format!("payout-confirmed:{txid}:{}", p.created_at),
            Entry::PayoutConfirmed {
                txid: txid.to_string(),
            },
            move |w| {
                let mut p: Payout = get_json(w.open_table(PAYOUTS)?.get(t2.as_str())?)?
                    .with_context(|| format!("no payout {t2}"))?;
                p.status = PayoutStatus::Confirmed;
                p.block_height = block_height.or(p.block_height);
                Self::put_payout(w, &p)
            },
        )?;
        tracing::info!(%txid, "payout confirmed");
        self.payout(txid)
    }

    /// Takes an abandoned payout back as pending (see [`Book::confirm`]).
    fn revive(&self, p: &Payout) -> Result<()> {
        let inputs: Vec<String> = p
            .inputs
            .iter()
            .map(|i| format!("{}:{}", i.txid, i.vout))
            .collect();
        {
            let r = self.store.db()?.begin_read()?;
            if let Ok(t) = r.open_table(WALLET) {
                for k in &inputs {
                    if let Some(row) = get_json::<WalletRow>(t.get(k.as_str())?)?
                        && let Some(by) = row.spent_by.filter(|by| *by != p.txid)
                        && self
                            .payout(&by)
                            .is_ok_and(|o| o.status != PayoutStatus::Abandoned)
                    {
                        bail!(
                            "payout {by} spends input {k} of payout {} too: at most one of them can be mined; confirm or abandon {by} first",
                            p.txid
                        );
                    }
                }
            }
        }
        let change = p
            .outputs
            .iter()
            .enumerate()
            .find(|(_, o)| o.change)
            .map(|(i, o)| {
                (
                    format!("{}:{i}", p.txid),
                    WalletRow {
                        satoshis: o.satoshis,
                        locking_script: String::new(),
                        spent_by: None,
                        change_of: Some(p.txid.clone()),
                        released_from: None,
                    },
                )
            });
        let change_script = p
            .inputs
            .first()
            .map(|i| i.locking_script.clone())
            .unwrap_or_default();
        let t2 = p.txid.clone();
        self.record_with(
            &format!("payout-revived:{}:{}", p.txid, p.created_at),
            Entry::PayoutCreated {
                txid: p.txid.clone(),
                outputs: p.outputs.iter().filter(|o| !o.change).cloned().collect(),
            },
            move |w| {
                let mut p: Payout = get_json(w.open_table(PAYOUTS)?.get(t2.as_str())?)?
                    .with_context(|| format!("no payout {t2}"))?;
                p.status = PayoutStatus::Broadcast;
                Self::put_payout(w, &p)?;
                let mut t = w.open_table(WALLET)?;
                for k in &inputs {
                    let row = get_json::<WalletRow>(t.get(k.as_str())?)?;
                    if let Some(mut row) = row {
                        row.spent_by = Some(t2.clone());
                        row.released_from = None;
                        t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                    }
                }
                if let Some((k, mut row)) = change {
                    // Change goes back to the wallet key, which funded the inputs.
                    row.locking_script = change_script;
                    t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                }
                Ok(())
            },
        )?;
        tracing::warn!(txid = %p.txid, "abandoned payout taken back: it was mined after all");
        Ok(())
    }

    /// Abandons a payout that will never confirm: its amounts return to the balances and
    /// its inputs to the wallet. Refused while a later payout spends its change.
    ///
    /// # Errors
    /// Unknown or confirmed payout, a dependent payout, or database errors.
    pub fn abandon(&self, txid: &str) -> Result<Payout> {
        let p = self.payout(txid)?;
        match p.status {
            PayoutStatus::Abandoned => return Ok(p),
            PayoutStatus::Confirmed => bail!("payout {txid} is confirmed; it cannot be abandoned"),
            _ => {}
        }
        let change_key = p
            .outputs
            .iter()
            .position(|o| o.change)
            .map(|i| format!("{txid}:{i}"));
        if let Some(k) = &change_key {
            let r = self.store.db()?.begin_read()?;
            if let Ok(t) = r.open_table(WALLET)
                && let Some(row) = get_json::<WalletRow>(t.get(k.as_str())?)?
                && let Some(by) = row.spent_by
            {
                bail!("payout {by} spends this payout's change: abandon it first");
            }
        }
        let inputs: Vec<String> = p
            .inputs
            .iter()
            .map(|i| format!("{}:{}", i.txid, i.vout))
            .collect();
        let t2 = txid.to_string();
        self.record_with(
            &format!("payout-abandoned:{txid}:{}", p.created_at),
            Entry::PayoutAbandoned {
                txid: txid.to_string(),
            },
            move |w| {
                let mut p: Payout = get_json(w.open_table(PAYOUTS)?.get(t2.as_str())?)?
                    .with_context(|| format!("no payout {t2}"))?;
                p.status = PayoutStatus::Abandoned;
                Self::put_payout(w, &p)?;
                let mut t = w.open_table(WALLET)?;
                for k in &inputs {
                    let row = get_json::<WalletRow>(t.get(k.as_str())?)?;
                    if let Some(mut row) = row {
                        row.spent_by = None;
                        row.released_from = Some(t2.clone());
                        t.insert(k.as_str(), serde_json::to_vec(&row)?.as_slice())?;
                    }
                }
                if let Some(k) = &change_key {
                    t.remove(k.as_str())?;
                }
                Ok(())
            },
        )?;
        tracing::warn!(%txid, "payout abandoned; balances restored");
        self.payout(txid)
    }

    /// One payout.
    ///
    /// # Errors
    /// Unknown txid or database errors.
    pub fn payout(&self, txid: &str) -> Result<Payout> {
        let r = self.store.db()?.begin_read()?;
        let t = r.open_table(PAYOUTS).context("no payouts yet")?;
        get_json(t.get(txid)?)?.with_context(|| format!("no payout {txid}"))
    }

    /// Sends every payout no broadcaster has accepted yet, and asks about the accepted ones
    /// when the broadcaster can tell (ARC); returns how many changed state.
    ///
    /// # Errors
    /// Database errors (broadcast failures are recorded on the payout and retried).
    pub fn pump(&self, broadcaster: &Broadcaster) -> Result<usize> {
        let mut changed = 0;
        for p in self.payouts()? {
            match p.status {
                PayoutStatus::Signed => {
                    let result = broadcaster.broadcast(&p);
                    let ok = result.is_ok();
                    if let Err(e) = &result {
                        self.metrics
                            .broadcast_failures
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(txid = %p.txid, attempts = p.attempts + 1, "broadcast failed, will retry: {e:#}");
                    }
                    self.update_payout(&p.txid, |q| {
                        q.attempts += 1;
                        match result {
                            Ok(by) => {
                                q.status = PayoutStatus::Broadcast;
                                q.accepted_by = Some(by);
                                q.last_error = None;
                            }
                            Err(e) => q.last_error = Some(format!("{e:#}")),
                        }
                    })?;
                    if ok {
                        changed += 1;
                        tracing::info!(txid = %p.txid, "payout broadcast");
                    }
                }
                PayoutStatus::Broadcast => match broadcaster.status(&p.txid) {
                    Ok(Some(height)) => {
                        self.confirm(&p.txid, height)?;
                        changed += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(txid = %p.txid, "status unknown: {e:#}");
                    }
                },
                _ => {}
            }
        }
        Ok(changed)
    }

    /// Appends the ledger's Prometheus metrics.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let m = &self.metrics;
        let (stake, balance, pending, paid, accounts) = {
            let st = self.state();
            st.ledger
                .accounts()
                .fold((0u64, 0u64, 0u64, 0u64, 0u64), |t, (_, a)| {
                    (
                        t.0 + a.stake,
                        t.1 + a.balance,
                        t.2 + a.pending,
                        t.3 + a.paid,
                        t.4 + 1,
                    )
                })
        };
        let kinds = ["proof", "bulk"];
        let _ = writeln!(
            out,
            "# HELP torrent_service_rewards_total Rewards credited, by kind.\n# TYPE torrent_service_rewards_total counter"
        );
        for (i, k) in kinds.iter().enumerate() {
            let _ = writeln!(
                out,
                "torrent_service_rewards_total{{kind=\"{k}\"}} {}",
                m.rewards[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP torrent_service_reward_satoshis_total Satoshis credited as rewards, by kind.\n# TYPE torrent_service_reward_satoshis_total counter"
        );
        for (i, k) in kinds.iter().enumerate() {
            let _ = writeln!(
                out,
                "torrent_service_reward_satoshis_total{{kind=\"{k}\"}} {}",
                m.reward_sat[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP torrent_service_audit_rounds_total Audit rounds finished.\n# TYPE torrent_service_audit_rounds_total counter\ntorrent_service_audit_rounds_total {}\n# HELP torrent_service_audit_round_seconds How long the latest audit round took.\n# TYPE torrent_service_audit_round_seconds gauge\ntorrent_service_audit_round_seconds {:.3}\n# HELP torrent_service_audits_cut_total Audits still running when their round's deadline passed.\n# TYPE torrent_service_audits_cut_total counter\ntorrent_service_audits_cut_total {}",
            m.audit_rounds.load(Ordering::Relaxed),
            m.audit_round_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            m.audits_cut.load(Ordering::Relaxed)
        );
        let reasons = ["invalid_proof", "failed_audit"];
        let _ = writeln!(
            out,
            "# HELP torrent_service_slashes_total Slashes, by offence.\n# TYPE torrent_service_slashes_total counter"
        );
        for (i, r) in reasons.iter().enumerate() {
            let _ = writeln!(
                out,
                "torrent_service_slashes_total{{reason=\"{r}\"}} {}",
                m.slashes[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP torrent_service_slashed_satoshis_total Satoshis slashed from stakes, by offence.\n# TYPE torrent_service_slashed_satoshis_total counter"
        );
        for (i, r) in reasons.iter().enumerate() {
            let _ = writeln!(
                out,
                "torrent_service_slashed_satoshis_total{{reason=\"{r}\"}} {}",
                m.slashed_sat[i].load(Ordering::Relaxed)
            );
        }
        let payouts = self.payouts().unwrap_or_default();
        let count = |s: PayoutStatus| payouts.iter().filter(|p| p.status == s).count();
        let _ = writeln!(
            out,
            "# HELP torrent_service_payouts Payout transactions by state.\n# TYPE torrent_service_payouts gauge"
        );
        for (name, s) in [
            ("signed", PayoutStatus::Signed),
            ("broadcast", PayoutStatus::Broadcast),
            ("confirmed", PayoutStatus::Confirmed),
            ("abandoned", PayoutStatus::Abandoned),
        ] {
            let _ = writeln!(
                out,
                "torrent_service_payouts{{status=\"{name}\"}} {}",
                count(s)
            );
        }
        let wallet = self.wallet_balance().unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP torrent_service_payout_broadcast_failures_total Failed broadcast attempts (retried).\n# TYPE torrent_service_payout_broadcast_failures_total counter\ntorrent_service_payout_broadcast_failures_total {}\n\
             # HELP torrent_service_stake_satoshis Satoshis staked by all seeders.\n# TYPE torrent_service_stake_satoshis gauge\ntorrent_service_stake_satoshis {stake}\n\
             # HELP torrent_service_balance_satoshis Satoshis earned and not yet in a payout.\n# TYPE torrent_service_balance_satoshis gauge\ntorrent_service_balance_satoshis {balance}\n\
             # HELP torrent_service_pending_satoshis Satoshis in payouts not yet confirmed.\n# TYPE torrent_service_pending_satoshis gauge\ntorrent_service_pending_satoshis {pending}\n\
             # HELP torrent_service_paid_satoshis Satoshis in confirmed payouts.\n# TYPE torrent_service_paid_satoshis gauge\ntorrent_service_paid_satoshis {paid}\n\
             # HELP torrent_service_ledger_accounts Seeders with a ledger account.\n# TYPE torrent_service_ledger_accounts gauge\ntorrent_service_ledger_accounts {accounts}\n\
             # HELP torrent_service_wallet_satoshis Unspent satoshis in the payout wallet.\n# TYPE torrent_service_wallet_satoshis gauge\ntorrent_service_wallet_satoshis {wallet}",
            m.broadcast_failures.load(Ordering::Relaxed)
        );
        let under = m.raised("bundle_under_seeded");
        let _ = writeln!(
            out,
            "# HELP torrent_service_bundles_under_seeded Seeding bundles with fewer active seeders than min_seeders.\n# TYPE torrent_service_bundles_under_seeded gauge\ntorrent_service_bundles_under_seeded {under}"
        );
        let _ = writeln!(
            out,
            "# HELP torrent_service_alerts_total Operator alerts raised, by kind.\n# TYPE torrent_service_alerts_total counter"
        );
        let alerts = m.alerts.lock().map(|a| a.clone()).unwrap_or_default();
        for kind in ALERT_KINDS {
            let _ = writeln!(
                out,
                "torrent_service_alerts_total{{kind=\"{kind}\"}} {}",
                alerts.get(kind).copied().unwrap_or(0)
            );
        }
    }
}

/// Where payout transactions go (config `broadcaster`).
#[derive(Debug, Clone)]
pub enum Broadcaster {
    /// Files in a directory (`<txid>.hex` and `<txid>.json`), for the operator's node or
    /// wallet to send: the default, and what works with no network at all.
    Outbox(PathBuf),
    /// An ARC-compatible endpoint: `POST {url}/v1/tx`, status from `GET {url}/v1/tx/{txid}`.
    Arc {
        /// Base URL.
        url: String,
        /// Bearer token, if the endpoint wants one.
        api_key: Option<crate::config::Secret>,
    },
    /// Galaxy's Transaction service.
    Galaxy(crate::galaxy::GalaxyClient),
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("part");
    {
        use std::io::Write;
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

impl Broadcaster {
    /// Sends `p`; returns who accepted it.
    ///
    /// # Errors
    /// The endpoint refused it or could not be reached.
    pub fn broadcast(&self, p: &Payout) -> Result<String> {
        match self {
            Self::Galaxy(c) => {
                use crate::galaxy::{TxRequest, TxResponse};
                let raw = hex::decode(&p.raw_tx).map_err(|e| anyhow::anyhow!("{e}"))?;
                match c.call::<_, TxResponse>(&TxRequest::Broadcast { raw_tx: raw })? {
                    TxResponse::Accepted { txid } => {
                        let t = Txid::from_byte_array(txid).to_string();
                        if t != p.txid {
                            bail!("Galaxy Transaction accepted txid {t}, we sent {}", p.txid);
                        }
                        Ok(format!("galaxy transaction {}", c.addr))
                    }
                    TxResponse::Rejected { reason } => {
                        bail!("Galaxy Transaction rejected it: {reason}")
                    }
                    other => bail!("Galaxy Transaction answered {other:?}"),
                }
            }
            Self::Outbox(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let mut json = serde_json::to_vec_pretty(p)?;
                json.push(b'\n');
                write_atomic(&dir.join(format!("{}.json", p.txid)), &json)?;
                write_atomic(
                    &dir.join(format!("{}.hex", p.txid)),
                    format!("{}\n", p.raw_tx).as_bytes(),
                )?;
                Ok(format!("outbox {}", dir.display()))
            }
            Self::Arc { url, api_key } => {
                let endpoint = format!("{}/v1/tx", url.trim_end_matches('/'));
                let mut req = agent()
                    .post(&endpoint)
                    .header("Content-Type", "application/json");
                if let Some(k) = api_key {
                    req = req.header("Authorization", &format!("Bearer {}", k.expose()));
                }
                let mut resp = req
                    .send(
                        serde_json::json!({ "rawTx": p.raw_tx })
                            .to_string()
                            .as_bytes(),
                    )
                    .with_context(|| format!("POST {endpoint}"))?;
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_json()
                    .unwrap_or(serde_json::Value::Null);
                if !(200..300).contains(&status) {
                    bail!(
                        "ARC {endpoint} answered {status}: {}",
                        body.get("detail")
                            .or(body.get("title"))
                            .and_then(|v| v.as_str())
                            .unwrap_or("no detail")
                    );
                }
                if let Some(t) = body.get("txid").and_then(|v| v.as_str())
                    && t != p.txid
                {
                    bail!("ARC {endpoint} accepted txid {t}, we sent {}", p.txid);
                }
                Ok(format!(
                    "arc {} {}",
                    url,
                    body.get("txStatus")
                        .and_then(|v| v.as_str())
                        .unwrap_or("accepted")
                ))
            }
        }
    }

    /// `Some(height)` once the transaction is mined (height when known); `None` while it
    /// is not, or when this broadcaster cannot tell (the outbox: the operator confirms).
    ///
    /// # Errors
    /// The endpoint could not be asked.
    pub fn status(&self, txid: &str) -> Result<Option<Option<u64>>> {
        match self {
            Self::Galaxy(c) => {
                use crate::galaxy::{TxRequest, TxResponse, TxState};
                let t: Txid = txid.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                match c.call::<_, TxResponse>(&TxRequest::Status {
                    txid: t.to_byte_array(),
                })? {
                    TxResponse::Status {
                        state: TxState::Mined { height },
                        ..
                    } => Ok(Some(Some(height))),
                    TxResponse::Status { .. } => Ok(None),
                    other => bail!("Galaxy Transaction answered {other:?}"),
                }
            }
            Self::Outbox(_) => Ok(None),
            Self::Arc { url, api_key } => {
                let endpoint = format!("{}/v1/tx/{txid}", url.trim_end_matches('/'));
                let mut req = agent().get(&endpoint);
                if let Some(k) = api_key {
                    req = req.header("Authorization", &format!("Bearer {}", k.expose()));
                }
                let mut resp = req.call().with_context(|| format!("GET {endpoint}"))?;
                if resp.status().as_u16() != 200 {
                    bail!("ARC {endpoint} answered {}", resp.status());
                }
                let body: serde_json::Value =
                    resp.body_mut().with_config().limit(1 << 20).read_json()?;
                Ok(
                    (body.get("txStatus").and_then(|v| v.as_str()) == Some("MINED"))
                        .then(|| body.get("blockHeight").and_then(serde_json::Value::as_u64)),
                )
            }
        }
    }
}

/// Reads the wallet file.
///
/// # Errors
/// Unreadable or malformed.
pub fn read_wallet(path: &Path) -> Result<(WalletFile, PrivateKey)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading wallet {}", path.display()))?;
    let w: WalletFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "wallet {}: expected {{\"wif\", \"utxos\": [{{\"txid\", \"vout\", \"satoshis\"}}]}}",
            path.display()
        )
    })?;
    let key = PrivateKey::from_wif(w.wif.expose().trim())
        .map_err(|e| anyhow::anyhow!("wallet {}: wif: {e}", path.display()))?;
    Ok((w, key))
}

/// Settlement at run time: the wallet, the rules, the broadcaster, the schedule.
pub struct Payouts {
    /// The ledger.
    pub book: Arc<Book>,
    key: Option<PrivateKey>,
    rules: SettleRules,
    broadcaster: Broadcaster,
    interval: std::time::Duration,
    retry: std::time::Duration,
    batch: u64,
    auth: Arc<crate::auth::Authorizer>,
    storage: Option<crate::galaxy::GalaxyClient>,
    /// One settlement at a time (a scheduled one and `ledger settle` may meet).
    busy: Mutex<()>,
}

impl std::fmt::Debug for Payouts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payouts")
            .field("broadcaster", &self.broadcaster)
            .finish_non_exhaustive()
    }
}

impl Payouts {
    /// Builds settlement from the config; imports the wallet file's new UTXOs.
    ///
    /// # Errors
    /// An unreadable wallet file or a bad broadcaster setting.
    pub fn from_config(
        config: &crate::config::Config,
        book: Arc<Book>,
        auth: Arc<crate::auth::Authorizer>,
    ) -> Result<Self> {
        use crate::config::BroadcasterKind;
        let key = match &config.wallet_file {
            Some(path) => {
                let (w, key) = read_wallet(path)?;
                let added = book.import_wallet(&w)?;
                tracing::info!(wallet = %path.display(), added, address = %key.address(), "payout wallet loaded");
                Some(key)
            }
            None => None,
        };
        let broadcaster = match config.broadcaster {
            BroadcasterKind::Outbox => Broadcaster::Outbox(
                config
                    .outbox_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("outbox")),
            ),
            BroadcasterKind::Arc => Broadcaster::Arc {
                url: config
                    .arc_url
                    .clone()
                    .context("broadcaster = \"arc\" needs arc_url")?,
                api_key: config.arc_api_key.clone(),
            },
            BroadcasterKind::Galaxy => {
                Broadcaster::Galaxy(crate::galaxy::Galaxy::from_config(config).transaction)
            }
        };
        let storage = (config.payout_utxos == crate::config::UtxoSource::Galaxy)
            .then(|| crate::galaxy::Galaxy::from_config(config).storage);
        Ok(Self {
            book,
            key,
            rules: SettleRules {
                threshold: config.payout_threshold,
                fee_per_kb: config.payout_fee_rate,
                dust: 1,
            },
            broadcaster,
            interval: std::time::Duration::from_secs(config.payout_interval_s),
            retry: std::time::Duration::from_secs(config.payout_retry_s),
            batch: config.payout_batch_sat,
            auth,
            storage,
            busy: Mutex::new(()),
        })
    }

    /// Asks Galaxy's Storage for the wallet key's UTXOs; imports the new ones and returns
    /// the outpoints Storage reports, the only ones (with our own unconfirmed change) a
    /// payout may then spend.
    fn galaxy_utxos(&self, key: &PrivateKey) -> Result<Option<BTreeSet<String>>> {
        use crate::galaxy::{StorageRequest, StorageResponse};
        let Some(c) = &self.storage else {
            return Ok(None);
        };
        let script = key.address().script_pubkey();
        let list = match c.call::<_, StorageResponse>(&StorageRequest::Utxos {
            script_pubkey: script.clone(),
        })? {
            StorageResponse::Utxos(u) => u,
            StorageResponse::Error { message } => bail!("Galaxy Storage: {message}"),
        };
        let utxos: Vec<WalletUtxo> = list
            .iter()
            .filter(|u| u.script_pubkey == script)
            .map(|u| WalletUtxo {
                txid: Txid::from_byte_array(u.txid).to_string(),
                vout: u.vout,
                satoshis: u.satoshis,
                locking_script: Some(hex::encode(&u.script_pubkey)),
            })
            .collect();
        let known: BTreeSet<String> = utxos
            .iter()
            .map(|u| format!("{}:{}", u.txid, u.vout))
            .collect();
        let added = self.book.import_utxos(key, &utxos)?;
        tracing::info!(
            reported = known.len(),
            added,
            "payout UTXOs from Galaxy Storage"
        );
        Ok(Some(known))
    }

    /// Settles now and broadcasts; `Ok(None)` when no balance is due.
    ///
    /// # Errors
    /// No wallet, not enough funds, or database errors. A broadcast failure is not an
    /// error: the payout is durable and the retry loop resends it.
    pub fn settle_now(&self) -> Result<Option<Payout>> {
        let _one = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = self
            .key
            .as_ref()
            .context("no payout wallet: set wallet_file to a JSON {\"wif\", \"utxos\"} file")?;
        let allowed = self.galaxy_utxos(key)?;
        let Some(p) = self.book.settle_from(key, &self.rules, allowed.as_ref())? else {
            return Ok(None);
        };
        self.book.pump(&self.broadcaster)?;
        self.book.payout(&p.txid).map(Some)
    }

    /// Satoshis due now: balances at or above the payout threshold.
    fn due(&self) -> u64 {
        self.book
            .balances()
            .map(|b| {
                b.iter()
                    .map(|(_, m)| m.balance)
                    .filter(|v| *v >= self.rules.threshold.max(1))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Broadcast retries and confirmation checks.
    ///
    /// # Errors
    /// Database errors.
    pub fn pump(&self) -> Result<usize> {
        let _one = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.book.pump(&self.broadcaster)
    }

    /// Runs the schedule until `stop`: retries and confirmation checks every
    /// `payout_retry_s`, a settlement every `payout_interval_s` (when a wallet is set).
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next_settle = tokio::time::Instant::now() + self.interval;
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                () = tokio::time::sleep(self.retry) => {}
            }
            let me = Arc::clone(&self);
            let owed = if self.batch > 0 { self.due() } else { 0 };
            let due = self.key.is_some()
                && (tokio::time::Instant::now() >= next_settle
                    || (self.batch > 0 && owed >= self.batch));
            if due {
                next_settle = tokio::time::Instant::now() + self.interval;
            }
            let r = tokio::task::spawn_blocking(move || -> Result<()> {
                if due {
                    match me.settle_now() {
                        Ok(Some(p)) => tracing::info!(txid = %p.txid, "scheduled payout"),
                        Ok(None) => tracing::debug!("scheduled payout: nothing due"),
                        Err(e) => tracing::warn!("scheduled payout: {e:#}"),
                    }
                }
                me.pump()?;
                Ok(())
            })
            .await;
            match r {
                Ok(Err(e)) => tracing::warn!("payouts: {e:#}"),
                Err(e) => tracing::error!("payouts task: {e}"),
                Ok(Ok(())) => {}
            }
        }
    }
}

fn json_reply(status: axum::http::StatusCode, v: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(v)).into_response()
}

fn refuse(e: &anyhow::Error) -> axum::response::Response {
    let msg = format!("{e:#}");
    let status = if msg.contains("no payout ") || msg.contains("no registered seeder") {
        axum::http::StatusCode::NOT_FOUND
    } else if msg.contains("cannot be funded")
        || msg.contains("no payout wallet")
        || msg.contains("abandon")
    {
        axum::http::StatusCode::CONFLICT
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    json_reply(status, serde_json::json!({ "error": msg }))
}

/// The operator's ledger view as JSON (`GET /admin/ledger`).
///
/// # Errors
/// Database errors.
pub fn overview(book: &Book, stake_amount: u64) -> Result<serde_json::Value> {
    let accounts: Vec<serde_json::Value> = book
        .balances()?
        .into_iter()
        .map(|(a, m)| {
            serde_json::json!({
                "address": a.address,
                "active": !a.revoked && m.stake >= stake_amount,
                "stake": m.stake,
                "balance": m.balance,
                "pending": m.pending,
                "paid": m.paid,
                "slashed": m.slashed,
                "earned": m.earned,
                "bulk_carry": m.bulk_carry,
                "proof_url": a.proof_url,
            })
        })
        .collect();
    let pending: Vec<Payout> = book
        .payouts()?
        .into_iter()
        .filter(|p| matches!(p.status, PayoutStatus::Signed | PayoutStatus::Broadcast))
        .collect();
    Ok(serde_json::json!({
        "credited": book.credited(),
        "accounts": accounts,
        "pending_payouts": pending,
        "wallet_satoshis": book.wallet_balance()?,
    }))
}

#[derive(Deserialize)]
struct Limit {
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize, Default)]
struct ConfirmBody {
    #[serde(default)]
    block_height: Option<u64>,
}

/// The ledger's operator routes (bearer `auth_token`), merged into the tracker's port:
/// `GET /admin/ledger`, `GET /admin/ledger/history?limit=`, `GET /admin/payouts`,
/// `POST /admin/settle`, `POST /admin/payouts/{txid}/confirm`, `.../abandon`.
pub fn router(p: Arc<Payouts>, stake_amount: u64) -> axum::Router {
    use axum::extract::{Path as UrlPath, Query, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    type S = State<(Arc<Payouts>, u64)>;
    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f).await?
    }
    let auth = Arc::clone(&p.auth);
    axum::Router::new()
        .route(
            "/admin/ledger",
            get(move |State((p, stake)): S| async move {
                match blocking(move || overview(&p.book, stake)).await {
                    Ok(v) => json_reply(StatusCode::OK, v),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/ledger/history",
            get(move |State((p, _)): S, Query(l): Query<Limit>| async move {
                let limit = l.limit.unwrap_or(100).min(100_000);
                match blocking(move || p.book.history(limit)).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/payouts",
            get(move |State((p, _)): S| async move {
                match blocking(move || p.book.payouts()).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/settle",
            post(move |State((p, _)): S| async move {
                match blocking(move || p.settle_now()).await {
                    Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                    Err(e) => refuse(&e),
                }
            }),
        )
        .route(
            "/admin/payouts/{txid}/{action}",
            post(
                move |State((p, _)): S,
                      UrlPath((txid, action)): UrlPath<(String, String)>,
                      body: axum::body::Bytes| async move {
                    let b: ConfirmBody = serde_json::from_slice(&body).unwrap_or_default();
                    let r = match action.as_str() {
                        "confirm" => blocking(move || p.book.confirm(&txid, b.block_height)).await,
                        "abandon" => blocking(move || p.book.abandon(&txid)).await,
                        other => {
                            return json_reply(
                                StatusCode::NOT_FOUND,
                                serde_json::json!({"error": format!("unknown action {other:?}: confirm or abandon")}),
                            );
                        }
                    };
                    match r {
                        Ok(v) => json_reply(StatusCode::OK, serde_json::to_value(v).unwrap_or_default()),
                        Err(e) => refuse(&e),
                    }
                },
            ),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            auth,
            crate::auth::guard,
        ))
        .with_state((p, stake_amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use torrent_core::bsv::hash::sha256d;
    use torrent_core::bsv::tx::{Transaction, TxLimits};

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
        assert!(matches!(stake("s1", 100_000), Recorded::Applied(_)));
        assert_eq!(
            stake("s1", 100_000),
            Recorded::Duplicate,
            "a replayed key changes nothing"
        );
        assert_eq!(store.account(&a[0]).unwrap().unwrap().stake, 100_000);
        for (i, (ms, n, want)) in [(499, 2, 160), (500, 2, 150), (499, 3, 110), (500, 3, 100)]
            .into_iter()
            .enumerate()
        {
            let Recorded::Applied(row) = proof(&book, &format!("p{i}"), &a[0], ms, n) else {
                panic!("applied")
            };
            assert_eq!(row.credited, want, "{ms} ms, {n} seeders");
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
                slashed: 10_000,
                ..
            })
        ));
        assert_eq!(
            store.account(&a[0]).unwrap().unwrap().stake,
            90_000,
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
        assert_eq!((m.balance, m.stake, m.slashed), (520, 90_000, 10_000));
        assert_eq!(proof(&book, "p0", &a[0], 1, 1), Recorded::Duplicate);
        assert_eq!(book.credited(), 100_520);
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
            value: 20_000,
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
                    satoshis: 1_000,
                    locking_script: None,
                },
            ],
        };
        assert_eq!(book.import_wallet(&w).unwrap(), 2);
        assert_eq!(book.import_wallet(&w).unwrap(), 0, "imports are idempotent");
        let rules = SettleRules {
            threshold: 2_000,
            fee_per_kb: 100,
            dust: 1,
        };
        let p = book.settle(&wallet_key, &rules).unwrap().unwrap();
        assert_eq!(p.inputs.len(), 1, "the largest UTXO covers it alone");
        let paid: Vec<(String, u64)> = p
            .outputs
            .iter()
            .filter(|o| !o.change)
            .map(|o| (o.address.clone(), o.satoshis))
            .collect();
        assert_eq!(paid, vec![(a[1].clone(), 3_200), (a[2].clone(), 4_800)]);
        let tx =
            Transaction::decode(&hex::decode(&p.raw_tx).unwrap(), &TxLimits::default()).unwrap();
        assert_eq!(tx.txid().to_string(), p.txid);
        let out_sum: u64 = tx.outputs.iter().map(|o| o.value).sum();
        assert_eq!(20_000 - out_sum, p.fee);
        assert!(
            p.fee >= (p.raw_tx.len() as u64 / 2) * 100 / 1000,
            "fee follows the rate"
        );
        assert_eq!(book.money(&a[1]).unwrap().pending, 3_200);
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
        assert_eq!(book.money(&a[1]).unwrap().balance, 3_200);
        assert_eq!(
            book.wallet_balance().unwrap(),
            before - p.outputs.last().unwrap().satoshis + 20_000
        );
        // Paid again, then confirmed.
        let p2 = book.settle(&wallet_key, &rules).unwrap().unwrap();
        assert_eq!(
            p2.txid, p.txid,
            "same inputs, same outputs, same deterministic signatures"
        );
        let p2 = book.confirm(&p2.txid, Some(900_000)).unwrap();
        assert_eq!(p2.status, PayoutStatus::Confirmed);
        assert_eq!(book.money(&a[2]).unwrap().paid, 4_800);
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
        assert_eq!(book.money(&a[0]).unwrap().pending, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
