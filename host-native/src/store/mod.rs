//! The embedded database (redb): seeder accounts, passkeys, used registration nonces,
//! bundles, audits, the header store, and the manifest of the txid index, whose entries live
//! in run files beside the database (`runs`, ADR 0003: one per bundle, merged when runs of
//! like size pile up), next to every indexed block's upper merkle levels (`levels`), which
//! proofs read one node per level instead of hashing a block's whole txid file.
//!
//! Every change is committed (and so durable) before the request that caused it is
//! answered. Values are small JSON documents so that the schema can grow without migrations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use torrent_core::Satoshis;
use torrent_core::metainfo::InfoHashV1;

mod levels;
pub(crate) mod offsets;
pub(crate) mod runs;
mod table;

pub(crate) const ACCOUNTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("accounts");
const PASSKEYS: TableDefinition<'_, &str, &str> = TableDefinition::new("passkeys");
const NONCES: TableDefinition<'_, &str, u64> = TableDefinition::new("registration_nonces");
const BUNDLES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bundles");
const AUDITS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("audits");
const PRUNED: TableDefinition<'_, u64, u64> = TableDefinition::new("pruned_heights");
/// The txid index before run files (ADR 0003): read once by the migration, then dropped.
const LEGACY_TXIDS: TableDefinition<'_, &[u8], (u64, u32)> = TableDefinition::new("txids");
/// The txid index's runs: run name (the bundle's, or `migrated`) to its entry count.
/// Leaves per chunk of the stored upper merkle levels, as a power of two (16 txids: a proof
/// reads 512 bytes of its txid file and hashes 15 nodes; the levels take about 4 bytes per
/// transaction).
pub const LEVELS_CHUNK_LOG2: u32 = 4;

/// Txids handed to the merkle levels thread at a time (44 bytes each: under 3 MB a batch,
/// at most three batches held).
const LEVELS_BATCH: usize = 1 << 16;

/// The run a migration from the old txid table writes.
const MIGRATED: &str = "migrated";
/// What is left of it once its bundles were indexed again (blocks without txid files).
const MIGRATED_REST: &str = "migrated-rest";

const INDEX_RUNS: TableDefinition<'_, &str, u64> = TableDefinition::new("index_runs");
const HEADERS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("headers");
/// Block hash (internal byte order) to height, for every block of the header store: how
/// the SV Node REST routes find a block by hash.
const BLOCK_HEIGHTS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("block_heights");
/// Counters that must survive deletions (account ids are never reused).
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
const NEXT_ACCOUNT_ID: &str = "next_account_id";

/// What the proof service needs of an offloaded block (the header store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderRecord {
    /// The 80-byte header.
    pub header: Vec<u8>,
    /// Transactions in the block.
    pub tx_count: u64,
    /// Bundle name.
    pub bundle: String,
    /// v1 info-hash of the bundle.
    pub infohash_v1: InfoHashV1,
    /// The block file inside the bundle (`blocks/...`).
    pub block_file: String,
    /// The txid file inside the bundle (`txids/...`).
    pub txid_file: String,
}

/// A bundle in the offload pipeline (`torrent_core::prune::Stage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// Torrent name (also the key).
    pub name: String,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// Stage name.
    pub stage: String,
    /// v1 info-hash, once written.
    #[serde(default)]
    pub infohash_v1: Option<InfoHashV1>,
    /// Unix seconds of the last stage change.
    pub updated: u64,
    /// Accounts that opened the gate (recorded with the `pruning` stage).
    #[serde(default)]
    pub gate_accounts: Vec<u64>,
    /// Unix seconds the gate opened.
    #[serde(default)]
    pub gate_opened: Option<u64>,
}

impl BundleRecord {
    /// The stage as the core's enum (unknown names read as `planned`, the safe end).
    pub fn stage(&self) -> torrent_core::prune::Stage {
        torrent_core::prune::Stage::parse(&self.stage)
            .unwrap_or(torrent_core::prune::Stage::Planned)
    }
}

/// Audit history of one seeder for one bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix millis of the latest pass.
    pub last_pass: Option<u64>,
    /// Unix millis of the latest failure.
    pub last_fail: Option<u64>,
    /// Passes so far.
    pub passes: u64,
    /// Failures so far.
    pub fails: u64,
    /// Why the latest failure failed.
    #[serde(default)]
    pub last_failure: Option<String>,
    /// The IP the latest pass reached the seeder at: its network for the prune gate
    /// (records written before this field have none, and count only after a new pass).
    #[serde(default)]
    pub last_pass_ip: Option<std::net::IpAddr>,
}

impl AuditRecord {
    /// The latest audit, pass or fail, Unix millis.
    pub fn last_at(&self) -> Option<u64> {
        self.last_pass.max(self.last_fail)
    }
}

/// A registered seeder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable numeric id (swarm bookkeeping).
    pub id: u64,
    /// P2PKH address.
    pub address: String,
    /// Current passkey (a new registration rotates it).
    pub passkey: String,
    /// Unix seconds of the last registration.
    pub registered_at: u64,
    /// Stake credited.
    pub stake: Satoshis,
    /// Revoked by the operator.
    pub revoked: bool,
    /// Announces made with the passkey.
    #[serde(default)]
    pub announces: u64,
    /// Unix seconds of the last announce.
    #[serde(default)]
    pub last_announce: u64,
    /// Bytes the seeder's client claimed to upload (reported, not verified).
    #[serde(default)]
    pub uploaded_claimed: u64,
    /// Where the seeder answers proof requests (its ProofService, gRPC), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_url: Option<String>,
}

/// Seeder activity accumulated in memory between database flushes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeederActivity {
    /// Announces since the last flush.
    pub announces: u64,
    /// Unix seconds of the latest announce.
    pub last_announce: u64,
    /// Highest `uploaded` reported since the last flush (clients report session totals).
    pub uploaded: u64,
}

/// Outcome of recording a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Stored; the account as it now is.
    Ok(Account),
    /// The nonce was used before.
    NonceReused,
}

/// Opens (creating if needed) the database at `path` with every table of this module.
fn open_db(path: &Path) -> Result<Database> {
    let db =
        Database::create(path).with_context(|| format!("opening database {}", path.display()))?;
    let w = db.begin_write()?;
    {
        w.open_table(ACCOUNTS)?;
        w.open_table(PASSKEYS)?;
        w.open_table(NONCES)?;
        w.open_table(BUNDLES)?;
        w.open_table(AUDITS)?;
        w.open_table(PRUNED)?;
        w.open_table(INDEX_RUNS)?;
        w.open_table(HEADERS)?;
        w.open_table(BLOCK_HEIGHTS)?;
    }
    w.commit()?;
    fill_block_heights(&db)?;
    Ok(db)
}

/// A database from before the hash-to-height table: fills it from the header store once
/// (the table is written with the headers from then on).
fn fill_block_heights(db: &Database) -> Result<()> {
    let r = db.begin_read()?;
    if !r.open_table(BLOCK_HEIGHTS)?.is_empty()? {
        return Ok(());
    }
    let headers = r.open_table(HEADERS)?;
    if headers.is_empty()? {
        return Ok(());
    }
    let w = db.begin_write()?;
    {
        let mut t = w.open_table(BLOCK_HEIGHTS)?;
        for row in headers.iter()? {
            let (height, v) = row?;
            let hr: HeaderRecord = serde_json::from_slice(v.value())?;
            let hash = torrent_core::Header::decode(&hr.header)?.block_hash();
            t.insert(hash.to_byte_array().as_slice(), height.value())?;
        }
    }
    w.commit()?;
    Ok(())
}

/// The database.
///
/// After an I/O error (a full disk, a failing device) redb refuses every write until the
/// database is opened again; [`Store::probe`] finds that state and [`Store::reopen`] leaves
/// it (the storage watchdog in `service` runs both and reports health, DESIGN §16). Every
/// commit is durable before it returns, so reopening loses nothing that was acknowledged.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// `None` while being reopened.
    db: RwLock<Option<Arc<Database>>>,
    health: StorageHealth,
    /// The txid index's run files (`<data>/index/`).
    index_dir: PathBuf,
    runs: runs::Runs,
    /// Held while a run is added or merged: one change of the run set at a time.
    index_writer: std::sync::Mutex<()>,
    /// Merges done since start.
    merges: AtomicU64,
    /// Every indexed block's upper merkle levels (`<data>/levels/`).
    levels: levels::Levels,
    /// Where each transaction of every offloaded block lies in its block file
    /// (`<data>/offsets/`).
    offsets: offsets::Offsets,
}

/// Whether the database works, for health checks and metrics.
#[derive(Debug)]
pub struct StorageHealth {
    healthy: tokio::sync::watch::Sender<bool>,
    reopens: AtomicU64,
    failures: AtomicU64,
}

impl StorageHealth {
    /// Whether the database accepts writes.
    pub fn healthy(&self) -> bool {
        *self.healthy.borrow()
    }

    /// Follows changes of [`Self::healthy`].
    pub fn watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.healthy.subscribe()
    }

    /// Records the outcome of a probe; true when it changed the state.
    pub fn set(&self, healthy: bool) -> bool {
        if !healthy {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.healthy
            .send_if_modified(|h| std::mem::replace(h, healthy) != healthy)
    }
}

/// The database is being reopened after an I/O error; the request may be retried.
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable (reopening after an I/O error); retry shortly")]
pub struct StorageUnavailable;

impl Store {
    /// The database, for modules that keep their own tables in it (the ledger).
    ///
    /// # Errors
    /// [`StorageUnavailable`] while it is being reopened.
    pub(crate) fn db(&self) -> Result<Arc<Database>> {
        self.db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StorageUnavailable.into())
    }

    /// Whether the database works.
    pub fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// Checks that the database accepts writes, without writing: redb fails every
    /// `begin_write` once an I/O error has occurred (an empty transaction is aborted).
    ///
    /// # Errors
    /// The database's error.
    pub fn probe(&self) -> Result<()> {
        self.db()?.begin_write()?.abort()?;
        Ok(())
    }

    /// Opens the database again after an I/O error (redb repairs it on open). The old
    /// handle is released first; while a request still holds it the file stays locked, and
    /// the open fails until the caller's next attempt.
    ///
    /// # Errors
    /// The open failing (still no space, the file still locked).
    pub fn reopen(&self) -> Result<()> {
        let old = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(old);
        let db = open_db(&self.path)?;
        *self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(db));
        self.health.reopens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sets or clears the proof endpoint of `address`.
    ///
    /// # Errors
    /// Unknown address or database errors.
    pub fn set_proof_url(&self, address: &str, url: Option<String>) -> Result<Account> {
        self.modify(address, |a| {
            a.proof_url = url;
            Ok(())
        })
    }

    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// I/O or a database held by another process.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = open_db(path)?;
        let store = Self {
            path: path.to_path_buf(),
            db: RwLock::new(Some(Arc::new(db))),
            health: StorageHealth {
                healthy: tokio::sync::watch::Sender::new(true),
                reopens: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            },
            index_dir: path.parent().unwrap_or(Path::new(".")).join("index"),
            runs: runs::Runs::default(),
            index_writer: std::sync::Mutex::new(()),
            merges: AtomicU64::new(0),
            levels: levels::Levels::new(path.parent().unwrap_or(Path::new(".")).join("levels")),
            offsets: offsets::Offsets::new(path.parent().unwrap_or(Path::new(".")).join("offsets")),
        };
        store.migrate_txids()?;
        store.open_runs()?;
        store.remove_stray_runs();
        Ok(store)
    }

    /// Opens every run the database lists.
    fn open_runs(&self) -> Result<()> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(INDEX_RUNS)?;
        for row in t.iter()? {
            let (name, _) = row?;
            let name = name.value();
            let path = runs::path_of(&self.index_dir, name);
            let run = runs::Run::open(name, &path).with_context(|| {
                format!(
                    "the txid index run {} is missing or damaged; restore it from a backup of {}, or move the database aside and offload again",
                    path.display(),
                    self.index_dir.display()
                )
            })?;
            self.runs.add(run);
        }
        Ok(())
    }

    /// Removes what a crash or a merge left in the index folder: run files the database
    /// does not list (merged away, or written before a crash ended their bundle's
    /// transaction) and temporary files.
    fn remove_stray_runs(&self) {
        let listed: std::collections::HashSet<String> = self
            .runs
            .all()
            .iter()
            .map(|r| format!("{}.run", r.name()))
            .collect();
        self.levels.remove_temporaries();
        self.offsets.remove_temporaries();
        let Ok(dir) = std::fs::read_dir(&self.index_dir) else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".run") || name.contains(".run.")) && !listed.contains(&name) {
                tracing::info!(file = %name, "removing a stray txid index file");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// A database from before run files keeps its txid index in one redb table: write it
    /// out as the run `migrated` (over every block in the header store), record the run and
    /// drop the table, in that order, so that a crash at any point migrates again or is done.
    /// The old table kept one location per txid, so a txid of two blocks (BIP 30) is listed
    /// in the last one indexed until the offload pipeline indexes the bundles again from
    /// their txid files (`Pipeline::reindex_migrated`, at start).
    fn migrate_txids(&self) -> Result<()> {
        let db = self.db()?;
        let r = db.begin_read()?;
        let old = match r.open_table(LEGACY_TXIDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let rows = old.len()?;
        let mut blocks = Vec::new();
        for row in r.open_table(HEADERS)?.iter()? {
            let (height, v) = row?;
            let hr: HeaderRecord = serde_json::from_slice(v.value())?;
            blocks.push(torrent_core::txindex::RunBlock {
                height: height.value(),
                tx_count: u32::try_from(hr.tx_count)
                    .with_context(|| format!("block {} has {} txs", height.value(), hr.tx_count))?,
            });
        }
        let blocks = torrent_core::txindex::Blocks::new(blocks)?;
        if rows > 0 {
            tracing::info!(
                txids = rows,
                "migrating the txid index to run files (ADR 0003)"
            );
            let mut entries = old.iter()?.map(|row| {
                let (k, v) = row?;
                let (height, index) = v.value();
                let txid: [u8; 32] = k
                    .value()
                    .try_into()
                    .context("a txid of other than 32 bytes")?;
                runs::entry(&blocks, height, index, &txid)
            });
            runs::write_run(
                &runs::path_of(&self.index_dir, MIGRATED),
                &blocks,
                &mut entries,
            )?;
        }
        drop(old);
        drop(r);
        let w = db.begin_write()?;
        if rows > 0 {
            w.open_table(INDEX_RUNS)?.insert(MIGRATED, rows)?;
        }
        w.delete_table(LEGACY_TXIDS)?;
        w.commit()?;
        if rows > 0 {
            tracing::info!(txids = rows, "txid index migrated");
        }
        Ok(())
    }

    /// Returns every account.
    ///
    /// # Errors
    /// Database errors.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(ACCOUNTS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// Returns the account of `address`.
    ///
    /// # Errors
    /// Database errors.
    pub fn account(&self, address: &str) -> Result<Option<Account>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(ACCOUNTS)?;
        Ok(match t.get(address)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Records a verified registration: burns the nonce, creates or updates the account
    /// with a fresh passkey (the old one stops working).
    ///
    /// # Errors
    /// Database errors.
    pub fn register(
        &self,
        address: &str,
        nonce: &str,
        passkey: &str,
        now: u64,
    ) -> Result<Registered> {
        let w = self.db()?.begin_write()?;
        let account;
        {
            let mut nonces = w.open_table(NONCES)?;
            let key = format!("{address}:{nonce}");
            if nonces.get(key.as_str())?.is_some() {
                return Ok(Registered::NonceReused);
            }
            nonces.insert(key.as_str(), now)?;
            let mut accounts = w.open_table(ACCOUNTS)?;
            let mut passkeys = w.open_table(PASSKEYS)?;
            let existing: Option<Account> = match accounts.get(address)? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            let mut meta = w.open_table(META)?;
            let next_id = match meta.get(NEXT_ACCOUNT_ID)? {
                Some(v) => v.value(),
                // Databases from before accounts could expire: ids were 1..=n.
                None => {
                    let mut max = 0;
                    for row in accounts.iter()? {
                        let (_, v) = row?;
                        max = max.max(serde_json::from_slice::<Account>(v.value())?.id);
                    }
                    max + 1
                }
            };
            account = match existing {
                Some(mut a) => {
                    passkeys.remove(a.passkey.as_str())?;
                    a.passkey = passkey.to_string();
                    a.registered_at = now;
                    a
                }
                None => {
                    meta.insert(NEXT_ACCOUNT_ID, next_id + 1)?;
                    Account {
                        id: next_id,
                        address: address.to_string(),
                        passkey: passkey.to_string(),
                        registered_at: now,
                        stake: Satoshis::ZERO,
                        revoked: false,
                        announces: 0,
                        last_announce: 0,
                        uploaded_claimed: 0,
                        proof_url: None,
                    }
                }
            };
            accounts.insert(address, serde_json::to_vec(&account)?.as_slice())?;
            passkeys.insert(passkey, address)?;
        }
        w.commit()?;
        Ok(Registered::Ok(account))
    }

    /// Forgets registration nonces recorded before `before` (Unix seconds); returns how many.
    /// Older ones can never be replayed: a registration's `issued_at` must be within
    /// `registration_window_s` of the tracker's clock.
    ///
    /// # Errors
    /// Database errors.
    pub fn purge_nonces(&self, before: u64) -> Result<u64> {
        let w = self.db()?.begin_write()?;
        let removed;
        {
            let mut nonces = w.open_table(NONCES)?;
            let n0 = nonces.len()?;
            nonces.retain(|_, at| at >= before)?;
            removed = n0 - nonces.len()?;
        }
        w.commit()?;
        Ok(removed)
    }

    /// Deletes the accounts that never held a stake (none now, not revoked, registered
    /// before `before`, Unix seconds) and that `keep` does not claim (the ledger knows them);
    /// returns them. Their passkeys stop working with them.
    ///
    /// # Errors
    /// Database errors.
    pub fn expire_unstaked(
        &self,
        before: u64,
        keep: impl Fn(&Account) -> bool,
    ) -> Result<Vec<Account>> {
        let w = self.db()?.begin_write()?;
        let mut gone = Vec::new();
        {
            let mut accounts = w.open_table(ACCOUNTS)?;
            let mut passkeys = w.open_table(PASSKEYS)?;
            for row in accounts.iter()? {
                let (_, v) = row?;
                let a: Account = serde_json::from_slice(v.value())?;
                if a.stake.is_zero() && !a.revoked && a.registered_at < before && !keep(&a) {
                    gone.push(a);
                }
            }
            for a in &gone {
                accounts.remove(a.address.as_str())?;
                passkeys.remove(a.passkey.as_str())?;
            }
        }
        w.commit()?;
        Ok(gone)
    }

    /// Applies `change` to the account of `address` in one transaction; returns the result.
    fn modify(
        &self,
        address: &str,
        change: impl FnOnce(&mut Account) -> Result<()>,
    ) -> Result<Account> {
        let w = self.db()?.begin_write()?;
        let account;
        {
            let mut accounts = w.open_table(ACCOUNTS)?;
            let mut a: Account = match accounts.get(address)? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => anyhow::bail!("no registered seeder with address {address}"),
            };
            change(&mut a)?;
            accounts.insert(address, serde_json::to_vec(&a)?.as_slice())?;
            account = a;
        }
        w.commit()?;
        Ok(account)
    }

    /// Adds accumulated activity (keyed by account address) in one transaction.
    ///
    /// # Errors
    /// Database errors.
    pub fn record_activity(&self, activity: &[(String, SeederActivity)]) -> Result<()> {
        if activity.is_empty() {
            return Ok(());
        }
        let w = self.db()?.begin_write()?;
        {
            let mut accounts = w.open_table(ACCOUNTS)?;
            for (address, act) in activity {
                let mut a: Account = match accounts.get(address.as_str())? {
                    Some(v) => serde_json::from_slice(v.value())?,
                    None => continue,
                };
                a.announces = a.announces.saturating_add(act.announces);
                a.last_announce = a.last_announce.max(act.last_announce);
                a.uploaded_claimed = a.uploaded_claimed.max(act.uploaded);
                accounts.insert(address.as_str(), serde_json::to_vec(&a)?.as_slice())?;
            }
        }
        w.commit()?;
        Ok(())
    }

    /// Marks an account revoked (its passkey stops working).
    ///
    /// # Errors
    /// Unknown address or database errors.
    pub fn revoke(&self, address: &str) -> Result<Account> {
        self.modify(address, |a| {
            a.revoked = true;
            Ok(())
        })
    }

    /// Every bundle record, by name.
    ///
    /// # Errors
    /// Database errors.
    pub fn bundles(&self) -> Result<Vec<BundleRecord>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(BUNDLES)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// The record of bundle `name`.
    ///
    /// # Errors
    /// Database errors.
    pub fn bundle(&self, name: &str) -> Result<Option<BundleRecord>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(BUNDLES)?;
        Ok(match t.get(name)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Writes a bundle record (committed, so durable, on return).
    ///
    /// # Errors
    /// Database errors.
    pub fn put_bundle(&self, rec: &BundleRecord) -> Result<()> {
        let w = self.db()?.begin_write()?;
        {
            let mut t = w.open_table(BUNDLES)?;
            t.insert(rec.name.as_str(), serde_json::to_vec(rec)?.as_slice())?;
        }
        w.commit()?;
        Ok(())
    }

    /// Indexes a block's txids and sets the bundle's record in the same transaction, so the
    /// `indexed` stage is never recorded without its index (and an index is never half there
    /// with the stage saying otherwise: a crash just redoes it).
    ///
    /// # Errors
    /// Database errors.
    pub fn index_txids(
        &self,
        txids: &mut dyn Iterator<Item = Result<(u64, u32, [u8; 32])>>,
        headers: &[(u64, HeaderRecord)],
        rec: &BundleRecord,
    ) -> Result<u64> {
        let n = self.write_index(txids, headers, &rec.name, Some(rec))?;
        self.merge_runs()?;
        Ok(n)
    }

    /// Indexes an already indexed bundle again from its txids, leaving its record alone:
    /// after a migration from the old table (ADR 0003), where a txid of two blocks had lost
    /// one of them and no block had stored merkle levels. Runs are not merged here; see
    /// [`Store::finish_reindex`].
    ///
    /// # Errors
    /// Read, write and database errors.
    pub fn reindex_txids(
        &self,
        txids: &mut dyn Iterator<Item = Result<(u64, u32, [u8; 32])>>,
        headers: &[(u64, HeaderRecord)],
        name: &str,
    ) -> Result<u64> {
        self.write_index(txids, headers, name, None)
    }

    /// Whether the run a migration wrote is still waiting for its bundles to be indexed
    /// again.
    pub fn awaits_reindex(&self) -> bool {
        self.runs.all().iter().any(|r| r.name() == MIGRATED)
    }

    /// Ends a re-index: the migrated run is dropped when the bundles' runs now cover every
    /// block it lists, otherwise kept under the name `migrated-rest` (so that the next
    /// start does not index again); then runs are merged as usual.
    ///
    /// # Errors
    /// Read, write and database errors.
    pub fn finish_reindex(&self) -> Result<()> {
        let _writer = self
            .index_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let all = self.runs.all();
        let Some(migrated) = all.iter().find(|r| r.name() == MIGRATED) else {
            return Ok(());
        };
        let covered: std::collections::HashSet<torrent_core::txindex::RunBlock> = all
            .iter()
            .filter(|r| r.name() != MIGRATED)
            .flat_map(|r| r.blocks().blocks().iter().copied())
            .collect();
        let rest = migrated
            .blocks()
            .blocks()
            .iter()
            .filter(|b| !covered.contains(b))
            .count();
        let old = runs::path_of(&self.index_dir, MIGRATED);
        let w = self.db()?.begin_write()?;
        if rest == 0 {
            w.open_table(INDEX_RUNS)?.remove(MIGRATED)?;
            w.commit()?;
            self.runs.remove(MIGRATED);
            let _ = std::fs::remove_file(&old);
            tracing::info!("the migrated txid index run is covered by the bundles' runs: dropped");
        } else {
            // A second name for the same file first, so that a crash before or after the
            // commit leaves the name the database lists.
            let new = runs::path_of(&self.index_dir, MIGRATED_REST);
            let _ = std::fs::remove_file(&new);
            std::fs::hard_link(&old, &new)?;
            {
                let mut t = w.open_table(INDEX_RUNS)?;
                t.remove(MIGRATED)?;
                t.insert(MIGRATED_REST, migrated.entries())?;
            }
            w.commit()?;
            self.runs.replace(
                &[MIGRATED.to_string()],
                runs::Run::open(MIGRATED_REST, &new)?,
            );
            let _ = std::fs::remove_file(&old);
            tracing::info!(
                blocks = rest,
                "blocks of the migrated txid index have no txid files to index again from; kept as run {MIGRATED_REST}"
            );
        }
        drop(_writer);
        self.merge_runs()
    }

    /// Writes the run and merkle levels of `name`'s txids, then records them (and `rec`,
    /// when given) in one transaction.
    fn write_index(
        &self,
        txids: &mut dyn Iterator<Item = Result<(u64, u32, [u8; 32])>>,
        headers: &[(u64, HeaderRecord)],
        name: &str,
        rec: Option<&BundleRecord>,
    ) -> Result<u64> {
        let blocks = torrent_core::txindex::Blocks::new(
            headers
                .iter()
                .map(|(height, hr)| {
                    Ok(torrent_core::txindex::RunBlock {
                        height: *height,
                        tx_count: u32::try_from(hr.tx_count)
                            .with_context(|| format!("block {height} has {} txs", hr.tx_count))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
        )?;
        // The run first (written whole, synced, renamed), then the records that point to it.
        let path = runs::path_of(&self.index_dir, name);
        let levels = levels::LevelsWriter::new(
            self.levels.dir(),
            name,
            LEVELS_CHUNK_LOG2,
            headers.iter().map(|(h, hr)| (*h, hr.tx_count)).collect(),
        )?;
        // The merkle levels hash every txid: on a thread of their own, fed in batches, while
        // this one sorts and writes the run (2 cores: about twice the txids per second).
        let n = std::thread::scope(|scope| -> Result<u64> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(u64, u32, [u8; 32])>>(2);
            let hashing = scope.spawn(move || -> Result<levels::LevelsWriter> {
                let mut levels = levels;
                for batch in rx {
                    for (height, i, txid) in batch {
                        levels.push(height, i, &txid)?;
                    }
                }
                Ok(levels)
            });
            let mut batch = Vec::with_capacity(LEVELS_BATCH);
            let mut entries = txids.map(|item| {
                let (height, i, txid) = item?;
                batch.push((height, i, txid));
                if batch.len() == LEVELS_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(LEVELS_BATCH));
                    // A closed channel: the hashing thread failed; its error is the one told.
                    let _ = tx.send(full);
                }
                runs::entry(&blocks, height, i, &txid)
            });
            let written = runs::write_run(&path, &blocks, &mut entries);
            drop(entries);
            let _ = tx.send(batch);
            drop(tx);
            let levels = hashing
                .join()
                .map_err(|_| anyhow::anyhow!("the merkle levels thread panicked"))??;
            let n = written?;
            levels.finish(self.levels.dir(), name)?;
            Ok(n)
        })?;
        self.levels.forget(name);
        let _writer = self
            .index_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let w = self.db()?.begin_write()?;
        {
            let mut h = w.open_table(HEADERS)?;
            let mut by_hash = w.open_table(BLOCK_HEIGHTS)?;
            for (height, hr) in headers {
                h.insert(*height, serde_json::to_vec(hr)?.as_slice())?;
                let hash = torrent_core::Header::decode(&hr.header)?.block_hash();
                by_hash.insert(hash.to_byte_array().as_slice(), *height)?;
            }
            w.open_table(INDEX_RUNS)?.insert(name, n)?;
            if let Some(rec) = rec {
                w.open_table(BUNDLES)?
                    .insert(name, serde_json::to_vec(rec)?.as_slice())?;
            }
        }
        w.commit()?;
        self.runs.add(runs::Run::open(name, &path)?);
        Ok(n)
    }

    /// Merges runs of like size while [`runs::plan`] finds some (one change of the run set
    /// at a time: it holds `index_writer`): each merge writes the new run, swaps it for its sources in the
    /// database in one transaction, then for readers, and only then deletes the sources, so
    /// a crash at any point leaves a complete index (the next start removes the leftovers).
    fn merge_runs(&self) -> Result<()> {
        let _writer = self
            .index_writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(sources) = runs::plan(&self.runs.all()) {
            let union = torrent_core::txindex::Blocks::union(sources.iter().map(|r| r.blocks()))?;
            let (first, last) = match union.blocks() {
                [first, .., last] => (first.height, last.height),
                [only] => (only.height, only.height),
                [] => break,
            };
            let name = format!("merged-{first:09}-{last:09}");
            let path = runs::path_of(&self.index_dir, &name);
            let started = std::time::Instant::now();
            let n = runs::merge_runs(&path, &sources)?;
            let names: Vec<String> = sources.iter().map(|r| r.name().to_string()).collect();
            let w = self.db()?.begin_write()?;
            {
                let mut t = w.open_table(INDEX_RUNS)?;
                for s in &names {
                    t.remove(s.as_str())?;
                }
                t.insert(name.as_str(), n)?;
            }
            w.commit()?;
            self.runs.replace(&names, runs::Run::open(&name, &path)?);
            for s in names.iter().filter(|s| **s != name) {
                let _ = std::fs::remove_file(runs::path_of(&self.index_dir, s));
            }
            self.merges.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                run = %name,
                sources = names.len(),
                txids = n,
                secs = started.elapsed().as_secs_f64(),
                "txid index runs merged"
            );
        }
        Ok(())
    }

    /// Where a txid (internal byte order) may be: every (height, index) the index lists
    /// under its key, highest height first. Candidates: the txid file says which hold it
    /// (all of them but a false match, about once in 2^48 / transactions; two for a txid
    /// in two blocks, BIP 30).
    ///
    /// # Errors
    /// Read errors.
    pub fn txid_candidates(&self, txid: &[u8; 32]) -> Result<Vec<(u64, u32)>> {
        self.runs.candidates(txid)
    }

    /// What a proof of transaction `index` of block `height` in `bundle` reads from the
    /// stored upper merkle levels: the block's layout and the siblings above the proof's
    /// chunk, to be checked against the header (`SparsePath::new`); `None` when the block's
    /// levels are not stored.
    ///
    /// # Errors
    /// Read errors.
    pub fn upper_path(
        &self,
        bundle: &str,
        height: u64,
        index: u64,
    ) -> Result<
        Option<(
            torrent_core::bsv::merkle::UpperLayout,
            Vec<Option<torrent_core::bsv::hash::MerkleNode>>,
        )>,
    > {
        self.levels.path(bundle, height, index)
    }

    /// Where each transaction of every offloaded block lies in its block file.
    pub(crate) fn offsets(&self) -> &offsets::Offsets {
        &self.offsets
    }

    /// The txid index: (runs, txids, bytes held in memory).
    pub fn index_stats(&self) -> (usize, u64, usize) {
        self.runs.stats()
    }

    /// The header record of `height`.
    ///
    /// # Errors
    /// Database errors.
    pub fn header(&self, height: u64) -> Result<Option<HeaderRecord>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(HEADERS)?;
        Ok(match t.get(height)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// The height of the offloaded block with hash `hash`.
    ///
    /// # Errors
    /// Database errors.
    pub fn height_of(&self, hash: &torrent_core::BlockHash) -> Result<Option<u64>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(BLOCK_HEIGHTS)?;
        Ok(t.get(hash.to_byte_array().as_slice())?.map(|v| v.value()))
    }

    /// The highest offloaded block's header record.
    ///
    /// # Errors
    /// Database errors.
    pub fn last_header(&self) -> Result<Option<(u64, HeaderRecord)>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(HEADERS)?;
        Ok(match t.last()? {
            Some((k, v)) => Some((k.value(), serde_json::from_slice(v.value())?)),
            None => None,
        })
    }

    /// Up to `count` header records from height `from` on (offloaded heights only).
    ///
    /// # Errors
    /// Database errors.
    pub fn headers(&self, from: u64, count: u32) -> Result<Vec<(u64, HeaderRecord)>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(HEADERS)?;
        let mut out = Vec::new();
        for row in t.range(from..)?.take(count as usize) {
            let (k, v) = row?;
            out.push((k.value(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    /// Records an audit outcome for (`infohash`, `account`).
    ///
    /// # Errors
    /// Database errors.
    pub fn record_audit(
        &self,
        infohash: &InfoHashV1,
        account: u64,
        passed: bool,
        at_millis: u64,
        from: std::net::IpAddr,
        failure: Option<String>,
    ) -> Result<AuditRecord> {
        let key = format!("{infohash}:{account}");
        let w = self.db()?.begin_write()?;
        let rec;
        {
            let mut t = w.open_table(AUDITS)?;
            let mut a: AuditRecord = match t.get(key.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => AuditRecord::default(),
            };
            if passed {
                a.last_pass = Some(at_millis);
                a.last_pass_ip = Some(from);
                a.passes += 1;
            } else {
                a.last_fail = Some(at_millis);
                a.fails += 1;
                a.last_failure = failure;
            }
            t.insert(key.as_str(), serde_json::to_vec(&a)?.as_slice())?;
            rec = a;
        }
        w.commit()?;
        Ok(rec)
    }

    /// The audit history of (`infohash`, `account`).
    ///
    /// # Errors
    /// Database errors.
    pub fn audit(&self, infohash: &InfoHashV1, account: u64) -> Result<Option<AuditRecord>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(AUDITS)?;
        Ok(match t.get(format!("{infohash}:{account}").as_str())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    /// Records heights as pruned (a `blk` source cannot delete them from shared files).
    ///
    /// # Errors
    /// Database errors.
    pub fn mark_pruned(&self, heights: impl IntoIterator<Item = u64>, at: u64) -> Result<()> {
        let w = self.db()?.begin_write()?;
        {
            let mut t = w.open_table(PRUNED)?;
            for h in heights {
                t.insert(h, at)?;
            }
        }
        w.commit()?;
        Ok(())
    }

    /// Every height recorded as pruned.
    ///
    /// # Errors
    /// Database errors.
    pub fn pruned_heights(&self) -> Result<std::collections::BTreeSet<u64>> {
        let r = self.db()?.begin_read()?;
        let t = r.open_table(PRUNED)?;
        let mut out = std::collections::BTreeSet::new();
        for row in t.iter()? {
            out.insert(row?.0.value());
        }
        Ok(out)
    }

    /// Totals for metrics: (bundles per stage name, audit passes, audit failures, heights
    /// recorded as pruned).
    ///
    /// # Errors
    /// Database errors.
    pub fn pipeline_totals(&self) -> Result<(BTreeMap<String, u64>, u64, u64, u64)> {
        let r = self.db()?.begin_read()?;
        let mut stages = BTreeMap::new();
        for row in r.open_table(BUNDLES)?.iter()? {
            let rec: BundleRecord = serde_json::from_slice(row?.1.value())?;
            *stages.entry(rec.stage).or_insert(0) += 1;
        }
        let (mut passes, mut fails) = (0, 0);
        for row in r.open_table(AUDITS)?.iter()? {
            let a: AuditRecord = serde_json::from_slice(row?.1.value())?;
            passes += a.passes;
            fails += a.fails;
        }
        let pruned = r.open_table(PRUNED)?.len()?;
        Ok((stages, passes, fails, pruned))
    }
}

impl crate::metrics::Report for Store {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let h = self.health();
        out.gauge(
            "torrent_service_storage_healthy",
            "1 while the database accepts writes, 0 after an I/O error until it is reopened.",
            u32::from(h.healthy()),
        )?;
        out.counter(
            "torrent_service_storage_failed_probes",
            "Storage probes that found the database failed.",
            h.failures.load(Ordering::Relaxed),
        )?;
        out.counter(
            "torrent_service_storage_reopens",
            "Times the database was reopened after an I/O error.",
            h.reopens.load(Ordering::Relaxed),
        )?;
        let (runs, txids, memory) = self.index_stats();
        out.gauge(
            "torrent_service_index_runs",
            "Run files of the txid index.",
            runs as u64,
        )?;
        out.gauge(
            "torrent_service_index_txids",
            "Transactions the txid index lists.",
            txids,
        )?;
        out.counter(
            "torrent_service_index_merges",
            "Merges of txid index runs since start.",
            self.merges.load(Ordering::Relaxed),
        )?;
        out.gauge(
            "torrent_service_index_memory_bytes",
            "Bytes the txid index keeps in memory (block tables and bucket directories).",
            memory as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ts_store_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn txid(n: u32) -> [u8; 32] {
        torrent_core::bsv::hash::sha256d(&n.to_le_bytes())
    }

    fn header(bundle: &str, tx_count: u64) -> HeaderRecord {
        HeaderRecord {
            header: vec![0; 80],
            tx_count,
            bundle: bundle.into(),
            infohash_v1: InfoHashV1([7; 20]),
            block_file: "blocks/x".into(),
            txid_file: "txids/x".into(),
        }
    }

    fn bundle(name: &str, first: u64, last: u64) -> BundleRecord {
        BundleRecord {
            name: name.into(),
            first,
            last,
            stage: "indexed".into(),
            infohash_v1: None,
            updated: 0,
            gate_accounts: Vec::new(),
            gate_opened: None,
        }
    }

    /// A database as a version before run files left it: `headers` as (height, bundle,
    /// tx count), the txid index in the old table.
    fn old_database(db: &Path, headers: &[(u64, &str, u64)], txids: &[([u8; 32], (u64, u32))]) {
        let d = Database::create(db).unwrap();
        let w = d.begin_write().unwrap();
        {
            let mut h = w.open_table(HEADERS).unwrap();
            for &(height, bundle, n) in headers {
                let rec = serde_json::to_vec(&header(bundle, n)).unwrap();
                h.insert(height, rec.as_slice()).unwrap();
            }
            let mut t = w.open_table(LEGACY_TXIDS).unwrap();
            for (id, at) in txids {
                t.insert(id.as_slice(), *at).unwrap();
            }
        }
        w.commit().unwrap();
    }

    #[test]
    fn a_txid_in_two_blocks_is_found_in_both_highest_first_and_after_a_restart() {
        let dir = temp("dup");
        let db = dir.join("data.redb");
        let store = Store::open(&db).unwrap();
        // The coinbase of block 20 repeats the coinbase of block 10 (BIP 30), in two bundles.
        let a = [(10u64, 0u32, txid(0)), (10, 1, txid(1)), (10, 2, txid(2))];
        let b = [(20u64, 0u32, txid(0)), (20, 1, txid(21))];
        let n = store
            .index_txids(
                &mut a.iter().map(|t| Ok(*t)),
                &[(10, header("a", 3))],
                &bundle("a", 10, 10),
            )
            .unwrap();
        assert_eq!(n, 3);
        store
            .index_txids(
                &mut b.iter().map(|t| Ok(*t)),
                &[(20, header("b", 2))],
                &bundle("b", 20, 20),
            )
            .unwrap();
        assert_eq!(
            store.txid_candidates(&txid(0)).unwrap(),
            vec![(20, 0), (10, 0)]
        );
        assert_eq!(store.txid_candidates(&txid(2)).unwrap(), vec![(10, 2)]);
        assert!(store.txid_candidates(&txid(99)).unwrap().is_empty());
        drop(store);
        let store = Store::open(&db).unwrap();
        assert_eq!(store.index_stats().0, 2, "both runs reopened");
        assert_eq!(store.txid_candidates(&txid(21)).unwrap(), vec![(20, 1)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn runs_of_like_size_are_merged_into_one_and_nothing_is_lost() {
        let dir = temp("merge");
        let db = dir.join("data.redb");
        let store = Store::open(&db).unwrap();
        let block = |h: u64| -> Vec<(u64, u32, [u8; 32])> {
            (0..3).map(|i| (h, i, txid(h as u32 * 10 + i))).collect()
        };
        for h in 0..runs::FAN_IN as u64 + 1 {
            let name = format!("b{h}");
            store
                .index_txids(
                    &mut block(h).into_iter().map(Ok),
                    &[(h, header(&name, 3))],
                    &bundle(&name, h, h),
                )
                .unwrap();
        }
        // FAN_IN runs became one; the last bundle's run waits for others of its size.
        assert_eq!(store.index_stats().0, 2);
        assert_eq!(store.index_stats().1, 3 * (runs::FAN_IN as u64 + 1));
        for h in 0..runs::FAN_IN as u64 + 1 {
            for i in 0..3 {
                assert_eq!(
                    store.txid_candidates(&txid(h as u32 * 10 + i)).unwrap(),
                    vec![(h, i)]
                );
            }
        }
        let mut files: Vec<String> = std::fs::read_dir(dir.join("index"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["b4.run", "merged-000000000-000000003.run"]);
        // The merged run is the run its blocks give when built at once (canonical bytes).
        let all: Vec<(u64, u32)> = (0..runs::FAN_IN as u32 * 3)
            .map(|o| (torrent_core::txindex::key_of(&txid(o / 3 * 10 + o % 3)), o))
            .collect();
        let blocks = torrent_core::txindex::Blocks::new(
            (0..runs::FAN_IN as u64)
                .map(|height| torrent_core::txindex::RunBlock {
                    height,
                    tx_count: 3,
                })
                .collect(),
        )
        .unwrap();
        assert!(
            std::fs::read(dir.join("index/merged-000000000-000000003.run")).unwrap()
                == torrent_core::txindex::encode(&blocks, all).unwrap()
        );
        // A crash between writing a run and recording it leaves a stray file: removed at
        // the next start, the recorded runs kept.
        drop(store);
        std::fs::write(dir.join("index/b9.run"), b"partial").unwrap();
        std::fs::write(dir.join("index/b8.run.tmp"), b"partial").unwrap();
        let store = Store::open(&db).unwrap();
        assert_eq!(store.index_stats().0, 2);
        assert!(!dir.join("index/b9.run").exists() && !dir.join("index/b8.run.tmp").exists());
        assert_eq!(store.txid_candidates(&txid(21)).unwrap(), vec![(2, 1)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn after_a_migration_bundles_indexed_again_bring_back_a_lost_duplicate() {
        let dir = temp("reindex");
        let db = dir.join("data.redb");
        // Block 3 (bundle a) and block 5 (bundle b) share txid 0 (BIP 30); the old table
        // kept only block 5's.
        let a = [(3u64, 0u32, txid(0)), (3, 1, txid(1))];
        let b = [(5u64, 0u32, txid(0)), (5, 1, txid(2))];
        let kept: Vec<([u8; 32], (u64, u32))> = [a[1], b[0], b[1]]
            .iter()
            .map(|&(h, i, t)| (t, (h, i)))
            .collect();
        old_database(&db, &[(3, "a", 2), (5, "b", 2)], &kept);
        let store = Store::open(&db).unwrap();
        assert!(store.awaits_reindex());
        assert_eq!(store.txid_candidates(&txid(0)).unwrap(), vec![(5, 0)]);
        for (rows, name) in [(&a, "a"), (&b, "b")] {
            store
                .reindex_txids(
                    &mut rows.iter().map(|t| Ok(*t)),
                    &[(rows[0].0, header(name, 2))],
                    name,
                )
                .unwrap();
        }
        store.finish_reindex().unwrap();
        assert!(!store.awaits_reindex());
        assert_eq!(store.index_stats().0, 2, "the migrated run is dropped");
        assert!(!dir.join("index/migrated.run").exists());
        assert_eq!(
            store.txid_candidates(&txid(0)).unwrap(),
            vec![(5, 0), (3, 0)]
        );
        drop(store);
        let store = Store::open(&db).unwrap();
        assert!(!store.awaits_reindex());
        assert_eq!(
            store.txid_candidates(&txid(0)).unwrap(),
            vec![(5, 0), (3, 0)]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn blocks_without_txid_files_keep_their_migrated_entries() {
        let dir = temp("reindex_rest");
        let db = dir.join("data.redb");
        old_database(
            &db,
            &[(3, "a", 1), (5, "b", 1)],
            &[(txid(30), (3, 0)), (txid(50), (5, 0))],
        );
        let store = Store::open(&db).unwrap();
        // Only bundle b's files are here.
        store
            .reindex_txids(
                &mut [(5u64, 0u32, txid(50))].into_iter().map(Ok),
                &[(5, header("b", 1))],
                "b",
            )
            .unwrap();
        store.finish_reindex().unwrap();
        assert!(!store.awaits_reindex(), "not indexed again at every start");
        assert_eq!(store.txid_candidates(&txid(30)).unwrap(), vec![(3, 0)]);
        drop(store);
        let store = Store::open(&db).unwrap();
        assert!(!store.awaits_reindex());
        assert!(dir.join("index/migrated-rest.run").exists());
        assert!(!dir.join("index/migrated.run").exists());
        assert_eq!(store.txid_candidates(&txid(30)).unwrap(), vec![(3, 0)]);
        assert_eq!(store.txid_candidates(&txid(50)).unwrap(), vec![(5, 0)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_database_with_the_old_txid_table_is_migrated_once() {
        let dir = temp("migrate");
        let db = dir.join("data.redb");
        let rows: Vec<([u8; 32], (u64, u32))> = [(5u64, 0u32), (5, 1), (5, 2), (9, 0), (9, 1)]
            .into_iter()
            .enumerate()
            .map(|(i, at)| (txid(i as u32), at))
            .collect();
        old_database(&db, &[(5, "a", 3), (9, "a", 2)], &rows);
        let store = Store::open(&db).unwrap();
        assert_eq!(store.txid_candidates(&txid(0)).unwrap(), vec![(5, 0)]);
        assert_eq!(store.txid_candidates(&txid(4)).unwrap(), vec![(9, 1)]);
        assert_eq!(store.index_stats().1, 5);
        {
            let r = store.db().unwrap().begin_read().unwrap();
            assert!(r.open_table(LEGACY_TXIDS).is_err(), "the old table is gone");
        }
        drop(store);
        let store = Store::open(&db).unwrap();
        assert_eq!(store.txid_candidates(&txid(3)).unwrap(), vec![(9, 0)]);
        assert_eq!(store.index_stats(), (1, 5, store.index_stats().2));
        // A run gone from the disk is a clear refusal to start, not a silent loss.
        drop(store);
        std::fs::remove_file(dir.join("index/migrated.run")).unwrap();
        let err = Store::open(&db).unwrap_err();
        assert!(format!("{err:#}").contains("missing or damaged"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
