//! Payouts (DESIGN §9): balances become signed BSV transactions in batches (`settle`),
//! broadcast and retried until a block confirms them, or abandoned and their amounts
//! restored; [`Payouts`] runs that on a timer and after every reward.

use super::wallet::WalletRow;
use super::{
    Book, Broadcaster, Entry, PAYOUTS, PayTo, Payout, PayoutStatus, SpentOutput, WALLET,
    WalletUtxo, get_json, now_ms, read_wallet,
};
use anyhow::{Context, Result, bail};
use redb::{ReadableTable, WriteTransaction};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use torrent_core::bsv::keys::{Address, PrivateKey};
use torrent_core::bsv::p2pkh::Utxo;
use torrent_core::bsv::tx::TxOut;
use torrent_core::{Satoshis, Txid, hex};

/// Settlement settings (config keys `payout_*`).
#[derive(Debug, Clone)]
pub struct SettleRules {
    /// Balances below this wait for a later payout.
    pub threshold: Satoshis,
    /// Fee rate, satoshis per 1000 bytes.
    pub fee_per_kb: u64,
    /// Change at or below this goes to the fee.
    pub dust: Satoshis,
}

/// Settlement at run time: the wallet, the rules, the broadcaster, the schedule.
pub(crate) struct Payouts {
    /// The ledger.
    pub book: Arc<Book>,
    key: Option<PrivateKey>,
    rules: SettleRules,
    broadcaster: Broadcaster,
    interval: std::time::Duration,
    retry: std::time::Duration,
    batch: Satoshis,
    pub(super) auth: Arc<crate::auth::Authorizer>,
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
    pub(crate) fn from_config(
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
                dust: Satoshis(1),
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
                satoshis: Satoshis(u.satoshis),
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
    pub(crate) fn settle_now(&self) -> Result<Option<Payout>> {
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
    fn due(&self) -> Satoshis {
        self.book
            .balances()
            .map(|b| {
                b.iter()
                    .map(|(_, m)| m.balance)
                    .filter(|v| *v >= self.rules.threshold.max(Satoshis(1)))
                    .sum()
            })
            .unwrap_or_default()
    }

    /// Broadcast retries and confirmation checks.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn pump(&self) -> Result<usize> {
        let _one = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.book.pump(&self.broadcaster)
    }

    /// Runs the schedule until `stop`: retries and confirmation checks every
    /// `payout_retry_s`, a settlement every `payout_interval_s` (when a wallet is set).
    pub(crate) async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next_settle = tokio::time::Instant::now() + self.interval;
        loop {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                () = tokio::time::sleep(self.retry) => {}
            }
            let me = Arc::clone(&self);
            let owed = if self.batch.is_zero() {
                Satoshis::ZERO
            } else {
                self.due()
            };
            let due = self.key.is_some()
                && (tokio::time::Instant::now() >= next_settle
                    || (!self.batch.is_zero() && owed >= self.batch));
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

impl Book {
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
        let due: Vec<(String, Satoshis)> = self
            .balances()?
            .into_iter()
            .filter(|(a, m)| m.balance >= rules.threshold.max(Satoshis(1)) && !a.address.is_empty())
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
                self.alerts.raise("payout_conflict_unverifiable", &msg);
                bail!(msg);
            }
        };
        let must: Vec<Utxo> = first.iter().map(|&i| utxos[i].clone()).collect();
        let rest: Vec<Utxo> = utxos[released_from.len()..]
            .iter()
            .filter(|u| spendable(u))
            .cloned()
            .collect();
        let change_script = key.address().script_pubkey();
        let funded = torrent_core::settle::fund(
            key,
            &must,
            &rest,
            &outputs,
            &change_script,
            rules.fee_per_kb,
            rules.dust,
        );
        let (tx, spent) = match funded {
            Ok(f) => f,
            Err(e) => {
                let owed: Satoshis = due.iter().map(|(_, s)| *s).sum();
                let msg = format!(
                    "payout of {owed} sat to {} seeders cannot be funded: {e}",
                    due.len()
                );
                self.alerts.raise("payout_unfunded", &msg);
                bail!(msg);
            }
        };
        let spent = &spent[..];
        let txid = tx.txid().to_string();
        let have: Satoshis = spent.iter().map(|u| u.value).sum();
        let out_sum: Satoshis = tx.outputs.iter().map(|o| o.value).sum();
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
            fee: have.saturating_sub(out_sum),
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
        tracing::info!(%txid, seeders = n_out, fee = payout.fee.to_sat(), "payout signed");
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
}
