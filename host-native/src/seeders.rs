//! Proofs served by seeders, verified and rewarded (DESIGN §9).
//!
//! When a proof needs a block whose txid file is not held locally (pruned bundle data, or
//! a file lost), the service first asks the registered seeders that hold the bundle and
//! declared a proof endpoint (`POST /seeder/proof-url`): each one's `GetProof` answer is
//! timed from request to reply, checked against the header this service trusts (the BUMP
//! at the index the txid index gives, and the TSC proof when present), and then:
//!
//! - valid: the seeder is rewarded through the ledger (base, +speed when served strictly
//!   under 500 ms, +rare when the bundle has strictly fewer than 3 active seeders) and the
//!   client gets the proof, marked `source = "seeder"`;
//! - invalid: the seeder is slashed and the next one is asked;
//! - no answer (timeout, refused connection, an error status): nobody is slashed, since a
//!   network fault proves nothing; the next one is asked.
//!
//! When no seeder answers validly, the caller falls back to fetching the txid file from
//! the swarm.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use torrent_core::metainfo::InfoHashV1;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::TscProof;
use torrent_core::{Header, Txid};

use crate::grpc::pb;
use crate::ledger::{Entry, Offence, Recorded};
use crate::proofs::{Formats, ProofAnswer};
use crate::store::HeaderRecord;
use crate::tracker::Tracker;

/// Most seeders asked for one proof before falling back to the swarm.
const MAX_ASKED: usize = 3;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct SeederProofMetrics {
    valid: AtomicU64,
    invalid: AtomicU64,
    failed: AtomicU64,
}

/// Asks seeders for proofs.
pub struct SeederProofs {
    tracker: Arc<Tracker>,
    timeout: Duration,
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
    /// Counters.
    pub metrics: SeederProofMetrics,
}

impl std::fmt::Debug for SeederProofs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeederProofs")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a seeder's answer was refused.
fn check(
    p: &pb::Proof,
    txid: &Txid,
    height: u64,
    index: u64,
    header: &Header,
    rec: &HeaderRecord,
) -> Result<(), String> {
    let bump = Bump::decode(&p.bump).map_err(|e| format!("BUMP does not decode: {e}"))?;
    let at = bump
        .verify(txid, height, rec.tx_count, &header.merkle_root)
        .map_err(|e| format!("BUMP does not verify: {e}"))?;
    if at != index {
        return Err(format!(
            "BUMP proves index {at}, the block has it at {index}"
        ));
    }
    if !p.tsc_json.is_empty() {
        let tsc =
            TscProof::from_json(&p.tsc_json).map_err(|e| format!("TSC does not parse: {e}"))?;
        let proven = tsc
            .verify(header, rec.tx_count)
            .map_err(|e| format!("TSC does not verify: {e}"))?;
        if proven != *txid {
            return Err(format!("TSC proves {proven}, not {txid}"));
        }
    }
    Ok(())
}

impl SeederProofs {
    /// A source over the tracker's registered seeders.
    pub fn new(tracker: Arc<Tracker>, timeout: Duration) -> Self {
        Self {
            tracker,
            timeout,
            channels: Mutex::new(HashMap::new()),
            metrics: SeederProofMetrics::default(),
        }
    }

    fn channel(&self, url: &str) -> Result<tonic::transport::Channel, String> {
        let mut c = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ch) = c.get(url) {
            return Ok(ch.clone());
        }
        let ch = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("proof url {url}: {e}"))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_lazy();
        c.insert(url.to_string(), ch.clone());
        Ok(ch)
    }

    /// Asks the seeders of `rec`'s bundle for the proof of `txid` (tx `index` of block
    /// `height`); `None` when none gave a valid one.
    pub async fn ask(
        &self,
        txid: &Txid,
        height: u64,
        index: u64,
        rec: &HeaderRecord,
        formats: Formats,
        started: Instant,
    ) -> Option<ProofAnswer> {
        let header = Header::decode(&rec.header).ok()?;
        let ih: InfoHashV1 = rec.infohash_v1.parse().ok()?;
        let mut ids: Vec<u64> = self
            .tracker
            .authenticated_seed_peers(&ih)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let active = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut candidates: Vec<(String, String)> = ids
            .iter()
            .filter_map(|id| self.tracker.account_by_id(*id))
            .filter_map(|a| a.proof_url.clone().map(|u| (a.address, u)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        // Spread requests over the candidates.
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        let n = candidates.len();
        candidates.rotate_left(usize::try_from(u64::from_le_bytes(r) % n as u64).unwrap_or(0));
        for (address, url) in candidates.into_iter().take(MAX_ASKED) {
            let asked = Instant::now();
            let reply = match self.channel(&url) {
                Ok(ch) => {
                    let mut client = pb::proof_service_client::ProofServiceClient::new(ch);
                    let req = pb::GetProofRequest {
                        txid: txid.to_string(),
                        format: pb::ProofFormat::All as i32,
                    };
                    match tokio::time::timeout(self.timeout, client.get_proof(req)).await {
                        Ok(Ok(r)) => Ok(r.into_inner()),
                        Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
                        Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
                    }
                }
                Err(e) => Err(e),
            };
            let served_ms = u64::try_from(asked.elapsed().as_millis()).unwrap_or(u64::MAX);
            let proof = match reply {
                Ok(p) => p,
                Err(e) => {
                    self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(seeder = %address, %url, "seeder gave no proof: {e}");
                    continue;
                }
            };
            let mut nonce = [0u8; 8];
            let _ = getrandom::fill(&mut nonce);
            let nonce = u64::from_le_bytes(nonce);
            if let Err(why) = check(&proof, txid, height, index, &header, rec) {
                self.metrics.invalid.fetch_add(1, Ordering::Relaxed);
                let book = Arc::clone(self.tracker.book());
                let entry = Entry::Slash {
                    address: address.clone(),
                    reason: Offence::InvalidProof,
                    detail: format!("proof of {txid}: {why}"),
                };
                let key = format!("slash-proof:{address}:{txid}:{nonce:016x}");
                match tokio::task::spawn_blocking(move || book.record(&key, entry)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(seeder = %address, "recording a slash: {e:#}"),
                    Err(e) => tracing::error!("slash task: {e}"),
                }
                continue;
            }
            let book = Arc::clone(self.tracker.book());
            let entry = Entry::Proof {
                address: address.clone(),
                txid: txid.to_string(),
                served_ms,
                active_seeders: active,
            };
            let key = format!("proof:{address}:{txid}:{nonce:016x}");
            match tokio::task::spawn_blocking(move || book.record(&key, entry)).await {
                Ok(Ok(Recorded::Applied(row))) => {
                    tracing::info!(seeder = %address, %txid, served_ms, active_seeders = active, reward = row.credited, "seeder proof verified and rewarded");
                }
                Ok(Ok(Recorded::Duplicate)) => {}
                Ok(Err(e)) => {
                    // Not durable, so not acknowledged as earned; the proof is still good.
                    tracing::error!(seeder = %address, "recording a reward: {e:#}");
                }
                Err(e) => tracing::error!("reward task: {e}"),
            }
            self.metrics.valid.fetch_add(1, Ordering::Relaxed);
            let tsc = (formats != Formats::Bump && !proof.tsc_json.is_empty())
                .then(|| serde_json::value::RawValue::from_string(proof.tsc_json.clone()).ok())
                .flatten();
            return Some(ProofAnswer {
                txid: txid.to_string(),
                height,
                block_hash: header.block_hash().to_string(),
                tx_count: rec.tx_count,
                index,
                header: rec.header.clone(),
                bump: if formats == Formats::Tsc {
                    Vec::new()
                } else {
                    proof.bump
                },
                tsc,
                infohash_v1: rec.infohash_v1.clone(),
                bundle: rec.bundle.clone(),
                txid_file: rec.txid_file.clone(),
                elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                source: "seeder",
            });
        }
        None
    }

    /// Appends the Prometheus text.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let m = &self.metrics;
        let _ = writeln!(
            out,
            "# HELP torrent_proof_seeder_answers_total Proof answers asked of seeders, by verdict.\n# TYPE torrent_proof_seeder_answers_total counter\ntorrent_proof_seeder_answers_total{{verdict=\"valid\"}} {}\ntorrent_proof_seeder_answers_total{{verdict=\"invalid\"}} {}\ntorrent_proof_seeder_answers_total{{verdict=\"none\"}} {}",
            m.valid.load(Ordering::Relaxed),
            m.invalid.load(Ordering::Relaxed),
            m.failed.load(Ordering::Relaxed)
        );
    }
}
