//! The payout wallet: the key file (`wallet_file`, written once, read at start) and the
//! unspent outputs the ledger spends from, imported by the operator and updated by every
//! payout (change comes back as a new output).

use super::{Book, WALLET};
use anyhow::{Context, Result, bail};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use torrent_core::bsv::keys::PrivateKey;
use torrent_core::bsv::p2pkh::Utxo;
use torrent_core::bsv::tx::OutPoint;
use torrent_core::{Satoshis, Txid, hex};

/// A wallet output as the database keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WalletRow {
    pub(super) satoshis: Satoshis,
    pub(super) locking_script: String,
    /// The payout that spends it, if any.
    #[serde(default)]
    pub(super) spent_by: Option<String>,
    /// Change of one of our own payouts (unconfirmed until that payout confirms).
    #[serde(default)]
    pub(super) change_of: Option<String>,
    /// Returned by this abandoned payout: the next payout must spend it, so that it and
    /// the abandoned transaction conflict and at most one of them can ever be mined.
    #[serde(default)]
    pub(super) released_from: Option<String>,
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
    pub satoshis: Satoshis,
    /// Locking script hex; default the key's P2PKH script.
    #[serde(default)]
    pub locking_script: Option<String>,
}

/// Reads the wallet file.
///
/// # Errors
/// Unreadable or malformed.
pub(crate) fn read_wallet(path: &Path) -> Result<(WalletFile, PrivateKey)> {
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

impl Book {
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
    pub(super) fn change_outpoints(&self) -> Result<BTreeSet<String>> {
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
    pub fn wallet_balance(&self) -> Result<Satoshis> {
        Ok(self.unspent()?.iter().map(|u| u.value).sum())
    }

    /// Unspent wallet outputs, those released by abandoned payouts first (see
    /// [`Book::settle`]); returns them and how many of them are such.
    pub(super) fn unspent(&self) -> Result<Vec<Utxo>> {
        Ok(self.unspent_split()?.0)
    }

    /// Unspent wallet outputs, those released by abandoned payouts first, with the payout
    /// that released each of those (the first `.1.len()` of the list).
    pub(super) fn unspent_split(&self) -> Result<(Vec<Utxo>, Vec<String>)> {
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
        released.extend(out);
        Ok((released, released_from))
    }
}
