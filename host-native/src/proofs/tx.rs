//! Archived transactions themselves: the raw bytes of any offloaded txid, and its atomic
//! BEEF (BRC-95: the transaction with the BUMP that proves it), what SPV wallets hand
//! around today.
//!
//! The bytes come from the block file, at the range the stored offsets give
//! (`store::offsets`): one `pread` when the bundle's block file is here. When it is not,
//! only the pieces that cover the range are fetched over the peer wire from the seeders the
//! tracker knows (the audit client: each piece checked against its hash); librqbit selects
//! whole files only, so it is the fallback when no peer of the tracker delivers, and then
//! the whole block file comes and stays. Whatever the source, the bytes are served only
//! once they hash to the txid asked for; a candidate of the index whose bytes hash to
//! another txid (a false 48-bit match) is passed over.
//!
//! A bundle written before offsets were recorded, whose block files are gone, has its
//! block file fetched and decoded up to the transaction.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use torrent_core::bencode::Limits;
use torrent_core::bsv::beef::Beef;
use torrent_core::bsv::block::BlockEvent;
use torrent_core::bsv::tx::txid_of;
use torrent_core::metainfo::Metainfo;
use torrent_core::proof::bump::Bump;
use torrent_core::verdict::ProofFormat;
use torrent_core::{BlockHash, Header, Txid};

use super::{Formats, ProofFailure, ProofRequest, Proofs, Source, internal, not_offloaded};
use crate::store::HeaderRecord;

/// Bytes of recently served transactions kept (those fetched from the swarm are not fetched
/// again while they stay).
const CACHE_BYTES: usize = 32 << 20;

/// How long the peers of one range fetch get.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// One archived transaction.
#[derive(Debug, Clone)]
pub(crate) struct ArchivedTx {
    /// Its bytes, checked against the txid.
    pub raw: Arc<Vec<u8>>,
    /// The txid.
    pub txid: Txid,
    /// The block holding it.
    pub height: u64,
    /// Its position there.
    pub index: u64,
    /// The block's hash.
    pub block_hash: BlockHash,
    /// Where the bytes came from (`Local`, `Swarm`, or `Cache`).
    pub source: Source,
}

/// Recently served transactions, evicted oldest first beyond [`CACHE_BYTES`].
#[derive(Debug, Default)]
pub(crate) struct TxCache {
    txs: HashMap<(Txid, u64), Arc<Vec<u8>>>,
    order: VecDeque<(Txid, u64)>,
    bytes: usize,
}

impl TxCache {
    fn get(&self, txid: &Txid, height: u64) -> Option<Arc<Vec<u8>>> {
        self.txs.get(&(*txid, height)).cloned()
    }

    fn put(&mut self, txid: Txid, height: u64, raw: Arc<Vec<u8>>) {
        if raw.len() > CACHE_BYTES || self.txs.contains_key(&(txid, height)) {
            return;
        }
        while self.bytes + raw.len() > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(r) = self.txs.remove(&old) {
                self.bytes -= r.len();
            }
        }
        self.bytes += raw.len();
        self.order.push_back((txid, height));
        self.txs.insert((txid, height), raw);
    }
}

impl Proofs {
    /// The raw transaction `txid` (in block `height` when named: a txid of two blocks,
    /// BIP 30), for a client at `from`, within the proof limits and deadline.
    ///
    /// # Errors
    /// [`ProofFailure`]: not offloaded, not obtainable now, busy, past the deadline.
    pub(crate) async fn transaction(
        &self,
        txid: Txid,
        height: Option<u64>,
        from: Option<std::net::IpAddr>,
    ) -> Result<ArchivedTx, ProofFailure> {
        let deadline = Instant::now() + self.deadline;
        self.limited(from, deadline, self.transaction_held(txid, height))
            .await
    }

    /// The atomic BEEF (BRC-95, V1 inside) of `txid`: its raw bytes and its BUMP, with the
    /// transaction it holds.
    ///
    /// # Errors
    /// As [`Self::transaction`] and [`Proofs::prove`].
    pub(crate) async fn beef(
        &self,
        txid: Txid,
        height: Option<u64>,
        from: Option<std::net::IpAddr>,
    ) -> Result<(ArchivedTx, Vec<u8>), ProofFailure> {
        let proof = self
            .prove(
                ProofRequest {
                    txid,
                    height,
                    formats: Formats::only(ProofFormat::Bump),
                },
                from,
            )
            .await?;
        let tx = self.transaction(txid, Some(proof.height), from).await?;
        let bump = Bump::decode(&proof.bump).map_err(internal)?;
        let beef = Beef::proven(&tx.raw, bump).map_err(internal)?;
        Ok((tx, beef.encode()))
    }

    /// [`Self::transaction`] once the client's slot and a permit are held.
    async fn transaction_held(
        &self,
        txid: Txid,
        named: Option<u64>,
    ) -> Result<ArchivedTx, ProofFailure> {
        let positions = self.positions(&txid)?;
        for &(height, index) in &positions {
            if named.is_some_and(|h| h != height) {
                continue;
            }
            let rec = self
                .store
                .header(height)
                .map_err(internal)?
                .ok_or_else(|| internal(format!("height {height} is indexed but has no header")))?;
            let block_hash = Header::decode(&rec.header).map_err(internal)?.block_hash();
            let cached = self
                .txs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&txid, height);
            let (raw, source) = match cached {
                Some(raw) => (raw, Source::Cache),
                None => {
                    // The block's txid file, when here, says whether the index's candidate
                    // is this txid (a false 48-bit match is another one).
                    if super::local_txid(&self.bundles, &rec, index).is_some_and(|t| t != txid) {
                        continue;
                    }
                    let (raw, source) = self.tx_bytes(&rec, height, index, &txid).await?;
                    // Without the txid file, bytes from the swarm (checked piece by piece)
                    // that hash to another txid show a false candidate.
                    if txid_of(&raw) != txid {
                        continue;
                    }
                    let raw = Arc::new(raw);
                    self.txs
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .put(txid, height, Arc::clone(&raw));
                    (raw, source)
                }
            };
            return Ok(ArchivedTx {
                raw,
                txid,
                height,
                index,
                block_hash,
                source,
            });
        }
        Err(match named {
            Some(h) => ProofFailure::NotFound(format!("txid {txid} is not in block {h}")),
            None => not_offloaded(&txid),
        })
    }

    /// The bytes of transaction `index` of block `height`, expected to be `txid`: the local
    /// block file's when they hash to it (a file here may be incomplete: a download that
    /// stopped leaves zeros), else the swarm's.
    async fn tx_bytes(
        &self,
        rec: &HeaderRecord,
        height: u64,
        index: u64,
        txid: &Txid,
    ) -> Result<(Vec<u8>, Source), ProofFailure> {
        let range = self
            .store
            .offsets()
            .range(&rec.bundle, height, index)
            .map_err(internal)?;
        let path = self.bundles.join(&rec.bundle).join(&rec.block_file);
        let local = match range {
            Some((at, len)) => read_at(&path, at, len).ok(),
            None if path.exists() => {
                let p = path.clone();
                blocking(move || scan_block(&p, index)).await.ok()
            }
            None => None,
        };
        match local {
            Some(raw) if txid_of(&raw) == *txid => return Ok((raw, Source::Local)),
            Some(_) => {
                tracing::warn!(file = %path.display(), "transaction {index} of block {height} here does not hash to {txid} (an incomplete or damaged file); fetching it");
            }
            None => {}
        }
        if let Some(r) = range
            && let Some(raw) = self.fetch_range(rec, r).await?
        {
            return Ok((raw, Source::Swarm));
        }
        // No peer of the tracker delivered the range: the whole block file from the swarm
        // (librqbit checks every piece, and rewrites those of a damaged file).
        self.fetch_file(rec, &rec.block_file).await?;
        let raw = match range {
            Some((at, len)) => {
                read_at(&path, at, len).map_err(|e| internal(format!("{}: {e}", path.display())))?
            }
            None => blocking(move || scan_block(&path, index)).await?,
        };
        Ok((raw, Source::Swarm))
    }

    /// The bytes `range` of `rec`'s block file from the peers the tracker knows hold its
    /// bundle (only the pieces covering them, each checked against its hash); `None` when
    /// the tracker is off or no peer delivered.
    async fn fetch_range(
        &self,
        rec: &HeaderRecord,
        range: (u64, u64),
    ) -> Result<Option<Vec<u8>>, ProofFailure> {
        let Some(seeders) = self.seeders.get() else {
            return Ok(None);
        };
        let peers = seeders.seed_addrs(&rec.infohash_v1);
        if peers.is_empty() {
            return Ok(None);
        }
        let torrent = self.bundles.join(format!("{}.torrent", rec.bundle));
        let bytes =
            std::fs::read(&torrent).map_err(|e| internal(format!("{}: {e}", torrent.display())))?;
        let m = Metainfo::parse(&bytes, &Limits::default()).map_err(internal)?;
        let file = rec.block_file.clone();
        self.metrics
            .tx_fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let got = blocking(move || {
            Ok(crate::swarm::audit::fetch_range(
                &m,
                &file,
                range,
                &peers,
                FETCH_TIMEOUT,
            ))
        })
        .await?;
        match got {
            Ok((raw, report)) => {
                tracing::info!(bundle = %rec.bundle, file = %rec.block_file, peer = %report.peer, bytes = report.bytes, "transaction fetched from the swarm");
                Ok(Some(raw))
            }
            Err(failure) => {
                tracing::info!(bundle = %rec.bundle, file = %rec.block_file, failure, "no peer of the tracker delivered a transaction's pieces");
                Ok(None)
            }
        }
    }
}

/// Runs blocking work off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProofFailure> + Send + 'static,
) -> Result<T, ProofFailure> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

/// Bytes `at .. at + len` of the file at `path`.
fn read_at(path: &Path, at: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; len];
    File::open(path)?.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

/// Transaction `index` of the block file at `path`, found by decoding the block up to it
/// (a bundle without stored offsets).
fn scan_block(path: &Path, index: u64) -> Result<Vec<u8>, ProofFailure> {
    let mut found = None;
    crate::blockfile::walk(path, |ev| match ev {
        BlockEvent::Tx(t) if t.index == index => {
            found = Some((t.offset, t.len));
            false
        }
        _ => true,
    })
    .map_err(|e| internal(format!("{e:#}")))?;
    let (at, len) = found.ok_or_else(|| {
        internal(format!(
            "{}: the block has no transaction {index}",
            path.display()
        ))
    })?;
    read_at(path, at, len).map_err(|e| internal(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without stored offsets a transaction is found by decoding its block up to it.
    #[test]
    fn a_transaction_is_found_in_its_block_file_by_decoding() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/blocks/block-413567.bin");
        let block = torrent_core::bsv::block::Block::decode(
            &std::fs::read(&path).unwrap(),
            &Default::default(),
        )
        .unwrap();
        for i in [0usize, 777, 1556] {
            assert_eq!(scan_block(&path, i as u64).unwrap(), block.txs[i].encode());
        }
        let e = scan_block(&path, 1557).unwrap_err();
        assert!(e.message().contains("no transaction 1557"), "{e:?}");
    }
}
