//! The embedded database (redb): seeder accounts, passkeys, used registration nonces.
//!
//! Every change is committed (and so durable) before the request that caused it is
//! answered. Values are small JSON documents so that the schema can grow without migrations.

use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const ACCOUNTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("accounts");
const PASSKEYS: TableDefinition<'_, &str, &str> = TableDefinition::new("passkeys");
const NONCES: TableDefinition<'_, &str, u64> = TableDefinition::new("registration_nonces");
const STAKE_TXIDS: TableDefinition<'_, &str, &str> = TableDefinition::new("stake_txids");

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
    /// Stake credited, satoshis.
    pub stake: u64,
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

/// The database.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    /// I/O or a database held by another process.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::create(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        let w = db.begin_write()?;
        {
            w.open_table(ACCOUNTS)?;
            w.open_table(PASSKEYS)?;
            w.open_table(NONCES)?;
            w.open_table(STAKE_TXIDS)?;
        }
        w.commit()?;
        Ok(Self { db })
    }

    /// Returns every account.
    ///
    /// # Errors
    /// Database errors.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let r = self.db.begin_read()?;
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
        let r = self.db.begin_read()?;
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
        let w = self.db.begin_write()?;
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
            let next_id = accounts.len()? + 1;
            account = match existing {
                Some(mut a) => {
                    passkeys.remove(a.passkey.as_str())?;
                    a.passkey = passkey.to_string();
                    a.registered_at = now;
                    a
                }
                None => Account {
                    id: next_id,
                    address: address.to_string(),
                    passkey: passkey.to_string(),
                    registered_at: now,
                    stake: 0,
                    revoked: false,
                    announces: 0,
                    last_announce: 0,
                    uploaded_claimed: 0,
                },
            };
            accounts.insert(address, serde_json::to_vec(&account)?.as_slice())?;
            passkeys.insert(passkey, address)?;
        }
        w.commit()?;
        Ok(Registered::Ok(account))
    }

    /// Applies `change` to the account of `address` in one transaction; returns the result.
    fn modify(
        &self,
        address: &str,
        change: impl FnOnce(&mut Account) -> Result<()>,
    ) -> Result<Account> {
        let w = self.db.begin_write()?;
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

    /// Adds `amount` to the stake of `address` (ledger stake mode); returns the account.
    ///
    /// # Errors
    /// Unknown address, overflow, or database errors.
    pub fn credit_stake(&self, address: &str, amount: u64) -> Result<Account> {
        self.modify(address, |a| {
            a.stake = a.stake.checked_add(amount).context("stake overflows")?;
            Ok(())
        })
    }

    /// Adds accumulated activity (keyed by account address) in one transaction.
    ///
    /// # Errors
    /// Database errors.
    pub fn record_activity(&self, activity: &[(String, SeederActivity)]) -> Result<()> {
        if activity.is_empty() {
            return Ok(());
        }
        let w = self.db.begin_write()?;
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

    /// Credits an SPV-proven stake payment once per transaction; `Ok(None)` when the txid was
    /// already credited (to anyone).
    ///
    /// # Errors
    /// Unknown address, overflow, or database errors.
    pub fn credit_stake_once(
        &self,
        address: &str,
        txid: &str,
        amount: u64,
    ) -> Result<Option<Account>> {
        let w = self.db.begin_write()?;
        let account;
        {
            let mut used = w.open_table(STAKE_TXIDS)?;
            if used.get(txid)?.is_some() {
                return Ok(None);
            }
            used.insert(txid, address)?;
            let mut accounts = w.open_table(ACCOUNTS)?;
            let mut a: Account = match accounts.get(address)? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => anyhow::bail!("no registered seeder with address {address}"),
            };
            a.stake = a.stake.checked_add(amount).context("stake overflows")?;
            accounts.insert(address, serde_json::to_vec(&a)?.as_slice())?;
            account = a;
        }
        w.commit()?;
        Ok(Some(account))
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
}
