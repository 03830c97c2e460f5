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

use torrent_core::proof::tsc::TscProof;
use torrent_core::rewards::{Plan, ProofRewardConfig, ProofRewards};
use torrent_core::verdict::{ProofFormat, Verdict, VerifyRequest};
use torrent_core::{Header, Txid};

use super::answer::{Formats, ProofAnswer, Source};
use crate::ledger::{Entry, Offence, Recorded};
use crate::proto as pb;
use crate::store::HeaderRecord;
use crate::tracker::Tracker;

/// Most seeders asked for one proof before falling back to the swarm.
const MAX_ASKED: usize = 3;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct SeederProofMetrics {
    valid: AtomicU64,
    invalid: AtomicU64,
    failed: AtomicU64,
    unrewarded: AtomicU64,
}

/// Asks seeders for proofs.
pub(crate) struct SeederProofs {
    tracker: Arc<Tracker>,
    timeout: Duration,
    validator: Validator,
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
    /// Which verified answers earn (core's rule, DESIGN §15).
    rewards: Mutex<ProofRewards>,
    reward_config: ProofRewardConfig,
    /// Verified seeder answers (all formats), served again without asking anyone.
    answers: Mutex<AnswerCache>,
    /// Counters.
    pub metrics: SeederProofMetrics,
}

/// What a client asked for, and from where.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    /// The formats wanted.
    pub formats: Formats,
    /// When the request arrived (answers report the time spent).
    pub started: Instant,
    /// The client's address: a seeder asking for its own proofs earns nothing.
    pub from: Option<std::net::IpAddr>,
}

/// Verified seeder answers by txid, at most [`ANSWER_CACHE`], the oldest dropped first.
#[derive(Debug, Default)]
struct AnswerCache {
    by_txid: HashMap<Txid, ProofAnswer>,
    order: std::collections::VecDeque<Txid>,
}

/// Verified seeder answers kept (each about a kilobyte).
const ANSWER_CACHE: usize = 65_536;

impl AnswerCache {
    fn get(&self, txid: &Txid) -> Option<ProofAnswer> {
        self.by_txid.get(txid).cloned()
    }

    fn put(&mut self, txid: Txid, answer: ProofAnswer) {
        if self.by_txid.insert(txid, answer).is_none() {
            self.order.push_back(txid);
        }
        while self.order.len() > ANSWER_CACHE {
            if let Some(old) = self.order.pop_front() {
                self.by_txid.remove(&old);
            }
        }
    }
}

impl std::fmt::Debug for SeederProofs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeederProofs")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where seeders' proofs are checked (config `validation`).
#[derive(Clone)]
pub(crate) enum Validator {
    /// `torrent_core` in this process.
    Native,
    /// `torrent_core` compiled to wasm, in wasmtime with fuel and a memory cap.
    Sandbox(Arc<torrent_wasm_host::Sandbox>),
    /// Galaxy's Validation service.
    Galaxy(crate::galaxy::GalaxyClient),
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Sandbox(_) => "sandbox",
            Self::Galaxy(_) => "galaxy",
        })
    }
}

impl Validator {
    /// Decides the requests, natively or in the sandbox (the same core function).
    ///
    /// # Errors
    /// The sandbox stopped the guest (a cap, a trap): no verdict.
    pub(crate) fn decide(&self, reqs: &[VerifyRequest]) -> Result<Vec<Verdict>, String> {
        match self {
            Self::Native => Ok(reqs.iter().map(torrent_core::verdict::verify).collect()),
            Self::Sandbox(s) => s.verify_all(reqs).map_err(|e| e.to_string()),
            Self::Galaxy(c) => {
                use crate::galaxy::{ValidationRequest, ValidationResponse};
                match c
                    .call::<_, ValidationResponse>(&ValidationRequest::Verify(reqs.to_vec()))
                    .map_err(|e| e.to_string())?
                {
                    ValidationResponse::Verdicts(v) if v.len() == reqs.len() => Ok(v),
                    ValidationResponse::Verdicts(v) => Err(format!(
                        "Galaxy Validation gave {} verdicts for {} requests",
                        v.len(),
                        reqs.len()
                    )),
                    ValidationResponse::Error { message } => {
                        Err(format!("Galaxy Validation: {message}"))
                    }
                }
            }
        }
    }
}

/// The judgement of one seeder's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judged {
    /// It proves the transaction at its position in the block this service trusts.
    Valid,
    /// It does not, and why: the seeder is slashed.
    Refused(String),
    /// The validator itself failed, and why: no verdict, nobody slashed.
    Unjudged(String),
}

/// Judges a seeder's answer against the header this service trusts.
fn check(
    validator: &Validator,
    p: &pb::Proof,
    txid: &Txid,
    height: u64,
    index: u64,
    header: &Header,
    rec: &HeaderRecord,
) -> Judged {
    let base = VerifyRequest {
        format: ProofFormat::Bump,
        height,
        tx_count: rec.tx_count,
        header: header.to_bytes().to_vec(),
        txid: txid.to_byte_array(),
        proof: p.bump.clone(),
    };
    let mut reqs = vec![base.clone()];
    if !p.tsc_json.is_empty() {
        match TscProof::from_json(&p.tsc_json) {
            Ok(t) => reqs.push(VerifyRequest {
                format: ProofFormat::Tsc,
                proof: t.encode(),
                ..base
            }),
            Err(e) => return Judged::Refused(format!("TSC does not parse: {e}")),
        }
    }
    let verdicts = match validator.decide(&reqs) {
        Ok(v) => v,
        Err(e) => return Judged::Unjudged(e),
    };
    for (v, what) in verdicts.iter().zip(["BUMP", "TSC"]) {
        match v {
            Verdict::Valid { index: at } if *at == index => {}
            Verdict::Valid { index: at } => {
                return Judged::Refused(format!(
                    "{what} proves index {at}, the block has it at {index}"
                ));
            }
            Verdict::Invalid { reason } | Verdict::Malformed { reason } => {
                return Judged::Refused(format!("{what} does not verify: {reason}"));
            }
        }
    }
    Judged::Valid
}

impl SeederProofs {
    /// A source over the tracker's registered seeders.
    pub(crate) fn new(
        tracker: Arc<Tracker>,
        timeout: Duration,
        validator: Validator,
        reward_config: ProofRewardConfig,
    ) -> Self {
        Self {
            tracker,
            timeout,
            validator,
            channels: Mutex::new(HashMap::new()),
            rewards: Mutex::new(ProofRewards::default()),
            reward_config,
            answers: Mutex::new(AnswerCache::default()),
            metrics: SeederProofMetrics::default(),
        }
    }

    /// A verified seeder answer given before, in the formats asked for.
    pub(crate) fn cached(
        &self,
        txid: &Txid,
        formats: Formats,
        started: Instant,
    ) -> Option<ProofAnswer> {
        let mut a = self
            .answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(txid)?;
        if !formats.wants(ProofFormat::Bump) {
            a.bump.clear();
        }
        if !formats.wants(ProofFormat::Tsc) {
            a.tsc = None;
        }
        a.source = Source::Cache;
        a.elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        Some(a)
    }

    /// Every peer the tracker knows holding torrent `ih` whole, registered seeders first.
    pub(crate) fn seed_addrs(
        &self,
        ih: &torrent_core::metainfo::InfoHashV1,
    ) -> Vec<std::net::SocketAddr> {
        self.tracker.seed_addrs(ih)
    }

    /// Fetches `rec`'s txid file from a staked seeder of its bundle over the peer wire (the
    /// audit client: whole pieces, each checked against its piece hash), writes it under
    /// `bundles`, and pays that seeder the verified bytes as bulk, once per (file, reward
    /// window): the bulk path of DESIGN §15, taken when a block's quota of paid proofs is
    /// spent or no seeder answered. `false` when no seeder delivered it (the caller then
    /// asks the swarm).
    pub(crate) async fn fetch_txid_file(
        &self,
        rec: &HeaderRecord,
        bundles: &std::path::Path,
    ) -> bool {
        let Ok(bytes) = std::fs::read(bundles.join(format!("{}.torrent", rec.bundle))) else {
            return false;
        };
        let Ok(m) = torrent_core::metainfo::Metainfo::parse(&bytes, &Default::default()) else {
            return false;
        };
        let Some(ih) = m.infohash_v1 else {
            return false;
        };
        let Some((_, len)) = crate::swarm::audit::file_span(&m, &rec.txid_file) else {
            return false;
        };
        let mut peers = self.tracker.authenticated_seed_peers(&ih);
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        if !peers.is_empty() {
            let n = peers.len();
            peers.rotate_left(usize::try_from(u64::from_le_bytes(r) % n as u64).unwrap_or(0));
        }
        let m = Arc::new(m);
        for (account, addr) in peers.into_iter().take(MAX_ASKED) {
            let (m2, file) = (Arc::clone(&m), rec.txid_file.clone());
            let fetched = tokio::task::spawn_blocking(move || {
                crate::swarm::audit::fetch_range(
                    &m2,
                    &file,
                    (0, len),
                    &[addr],
                    Duration::from_secs(60),
                )
            })
            .await;
            let (file, report) = match fetched {
                Ok(Ok(got)) => got,
                Ok(Err(failure)) => {
                    tracing::info!(seeder = account, peer = %addr, failure, "a seeder did not deliver a txid file");
                    continue;
                }
                Err(_) => continue,
            };
            let path = bundles.join(&rec.bundle).join(&rec.txid_file);
            let part = path.with_extension("part");
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::write(&part, file)?;
                    std::fs::rename(&part, &path)
                });
            if let Err(e) = written {
                tracing::error!(file = %path.display(), "writing a fetched txid file: {e}");
                return false;
            }
            tracing::info!(file = %rec.txid_file, bundle = %rec.bundle, seeder = account, bytes = report.bytes, "txid file fetched from a seeder");
            if let Some(a) = self.tracker.account_by_id(account) {
                let window = ProofRewards::window_of(crate::clock::now().0, &self.reward_config);
                let key = format!("txid-file:{ih}:{}:w{window}", rec.txid_file);
                let entry = Entry::Bulk {
                    address: a.address.clone(),
                    bytes: report.bytes,
                    bundle: rec.bundle.clone(),
                };
                let book = Arc::clone(self.tracker.book());
                match tokio::task::spawn_blocking(move || book.record(&key, entry)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(seeder = %a.address, "recording a bulk reward: {e:#}")
                    }
                    Err(e) => tracing::error!("bulk reward task: {e}"),
                }
            }
            return true;
        }
        false
    }

    /// Whether a request the local store cannot answer, of block `height`, should go to
    /// the seeders or to the block's txid file (core's rule).
    pub(crate) fn plan(&self, height: u64) -> Plan {
        self.rewards
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .plan(height, crate::clock::now().0, &self.reward_config)
    }

    /// A channel to a seeder's proof URL. Its host is resolved here and checked (public
    /// addresses only, unless `allow_private_proof_urls`), and the channel connects to that
    /// checked address: a name cannot be re-pointed at an internal one between the check
    /// and the connection (DNS rebinding).
    async fn channel(&self, url: &str) -> Result<tonic::transport::Channel, String> {
        if let Some(ch) = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
        {
            return Ok(ch.clone());
        }
        let addrs =
            crate::net::addr::resolve_proof_url(url, self.tracker.allows_private_proof_urls())
                .await?;
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("proof url {url}: {e}"))?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let ch = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let addrs = addrs.clone();
            async move {
                let s = tokio::net::TcpStream::connect(&addrs[..]).await?;
                let _ = s.set_nodelay(true);
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
            }
        }));
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(url.to_string(), ch.clone());
        Ok(ch)
    }

    /// Asks the seeders of `rec`'s bundle for the proof of `txid` (tx `index` of block
    /// `height`); `None` when none gave a valid one.
    pub(crate) async fn ask(
        &self,
        txid: &Txid,
        height: u64,
        index: u64,
        rec: &HeaderRecord,
        asked: &Asked,
    ) -> Option<ProofAnswer> {
        let Asked {
            formats,
            started,
            from,
        } = *asked;
        let header = Header::decode(&rec.header).ok()?;
        let ih = rec.infohash_v1;
        let mut ids: Vec<u64> = self
            .tracker
            .authenticated_seed_peers(&ih)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let active = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut candidates: Vec<(u64, String, String)> = ids
            .iter()
            .filter_map(|id| self.tracker.account_by_id(*id))
            .filter_map(|a| a.proof_url.clone().map(|u| (a.id, a.address, u)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        // Spread requests over the candidates.
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        let n = candidates.len();
        candidates.rotate_left(usize::try_from(u64::from_le_bytes(r) % n as u64).unwrap_or(0));
        for (account, address, url) in candidates.into_iter().take(MAX_ASKED) {
            let asked = Instant::now();
            let reply = match self.channel(&url).await {
                Ok(ch) => {
                    let mut client = pb::proof_service_client::ProofServiceClient::new(ch);
                    let req = pb::GetProofRequest {
                        txid: txid.to_string(),
                        format: pb::ProofFormat::All as i32,
                        height: Some(height),
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
            let judged = {
                let (v, proof, txid, header, rec) = (
                    self.validator.clone(),
                    proof.clone(),
                    *txid,
                    header,
                    rec.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    check(&v, &proof, &txid, height, index, &header, &rec)
                })
                .await
                .unwrap_or_else(|e| Judged::Unjudged(e.to_string()))
            };
            if let Judged::Unjudged(e) = &judged {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(seeder = %address, "validating a seeder's proof: {e}");
                continue;
            }
            if let Judged::Refused(why) = judged {
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
            // Does it earn (core's rule)? Once per (txid, window); never for a request from
            // the seeder's own address; a bounded number per block.
            let own = from.is_some_and(|ip| self.tracker.announced_from(account, ip));
            let earned = self
                .rewards
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .earn(
                    txid.to_byte_array(),
                    height,
                    own,
                    crate::clock::now().0,
                    &self.reward_config,
                );
            match earned {
                Ok(window) => {
                    let book = Arc::clone(self.tracker.book());
                    let entry = Entry::Proof {
                        address: address.clone(),
                        txid: txid.to_string(),
                        served_ms,
                        active_seeders: active,
                    };
                    // Keyed by (txid, window) alone: durable, so a restart cannot pay twice.
                    let key = format!("proof:{txid}:w{window}");
                    match tokio::task::spawn_blocking(move || book.record(&key, entry)).await {
                        Ok(Ok(Recorded::Applied(row))) => {
                            tracing::info!(seeder = %address, %txid, served_ms, active_seeders = active, reward = row.credited.to_sat(), "seeder proof verified and rewarded");
                        }
                        Ok(Ok(Recorded::Duplicate | Recorded::OverBudget)) => {}
                        Ok(Err(e)) => {
                            // Not durable, so not acknowledged as earned; the proof is still good.
                            tracing::error!(seeder = %address, "recording a reward: {e:#}");
                        }
                        Err(e) => tracing::error!("reward task: {e}"),
                    }
                }
                Err(why) => {
                    self.metrics.unrewarded.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(seeder = %address, %txid, ?why, "seeder proof verified, not rewarded");
                }
            }
            self.metrics.valid.fetch_add(1, Ordering::Relaxed);
            let tsc = (formats.wants(ProofFormat::Tsc) && !proof.tsc_json.is_empty())
                .then(|| serde_json::value::RawValue::from_string(proof.tsc_json.clone()).ok())
                .flatten();
            let answer = ProofAnswer {
                bump: proof.bump,
                tsc: (!proof.tsc_json.is_empty())
                    .then(|| serde_json::value::RawValue::from_string(proof.tsc_json.clone()).ok())
                    .flatten(),
                ..ProofAnswer::new(*txid, height, index, rec, &header, started, Source::Seeder)
            };
            self.answers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .put(*txid, answer.clone());
            let mut answer = answer;
            if !formats.wants(ProofFormat::Bump) {
                answer.bump.clear();
            }
            answer.tsc = tsc;
            return Some(answer);
        }
        None
    }

    /// Reports the seeders' answers.
    pub(crate) fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let m = &self.metrics;
        out.counters(
            "torrent_proof_seeder_answers",
            "Proof answers asked of seeders, by verdict.",
            [
                ("valid", &m.valid),
                ("invalid", &m.invalid),
                ("none", &m.failed),
            ]
            .map(|(verdict, v)| ([("verdict", verdict)], v.load(Ordering::Relaxed))),
        )?;
        out.counter(
            "torrent_proof_seeder_unrewarded",
            "Valid seeder answers that earned nothing (paid already in the window, the seeder's own request, or the block's quota reached).",
            m.unrewarded.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use torrent_core::bsv::block::{Block, BlockLimits};
    use torrent_core::bsv::merkle::MerkleTree;
    use torrent_core::proof::bump::Bump;

    fn client(addr: String) -> crate::galaxy::GalaxyClient {
        crate::galaxy::GalaxyClient {
            service: "Validation",
            addr,
            auth_token: "t".into(),
            max_frame: 1 << 20,
            timeout: Duration::from_millis(500),
            attempts: 2,
            backoff: Duration::from_millis(10),
        }
    }

    #[test]
    fn galaxy_validation_gives_the_native_verdicts_and_a_down_service_gives_none() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/blocks/block-384189.bin"
        ))
        .unwrap();
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        let txids = block.txids();
        let tree = MerkleTree::from_txids(&txids).unwrap();
        let mut reqs = Vec::new();
        for i in [0u64, 5, 563] {
            let req = VerifyRequest {
                format: ProofFormat::Bump,
                height: 384_189,
                tx_count: txids.len() as u64,
                header: block.header.to_bytes().to_vec(),
                txid: txids[i as usize].to_byte_array(),
                proof: Bump::build(&tree, 384_189, &[i]).unwrap().encode(),
            };
            let mut bad = req.clone();
            bad.height += 1;
            reqs.push(req);
            reqs.push(bad);
        }
        let standin =
            torrent_tests::galaxy_standin::StandIn::start("127.0.0.1:0", "127.0.0.1:0", "t", &[])
                .unwrap();
        let (v, _) = standin
            .serve_validation_and_alerts("127.0.0.1:0", "127.0.0.1:0", "t")
            .unwrap();
        let galaxy = Validator::Galaxy(client(v.to_string()));
        let native = Validator::Native.decide(&reqs).unwrap();
        assert_eq!(galaxy.decide(&reqs).unwrap(), native);
        assert_eq!(native.iter().filter(|v| v.is_valid()).count(), 3);
        assert_eq!(standin.validations(), 6);
        // A wrong token: the service's refusal, not a verdict.
        let mut wrong = client(v.to_string());
        wrong.auth_token = "nope".into();
        let err = Validator::Galaxy(wrong).decide(&reqs).unwrap_err();
        assert!(err.contains("auth_token refused"), "{err}");
        // Down: no verdict (and so nobody would be slashed).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = l.local_addr().unwrap().to_string();
        drop(l);
        let err = Validator::Galaxy(client(closed)).decide(&reqs).unwrap_err();
        assert!(err.contains("after 2 attempts"), "{err}");
    }
}
