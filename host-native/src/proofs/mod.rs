//! Proofs for the transactions of offloaded blocks (DESIGN §8), shared by gRPC and JSON.
//!
//! The txid index (run files, ADR 0003) gives the heights and positions a txid may be at,
//! highest first, and the block's txid file decides (a duplicate txid, BIP 30, is in two
//! blocks; a false match of the index's 48-bit key in none); the header store gives the
//! block's header, tx count and bundle. The proof itself reads one 512-byte chunk of 16
//! txids from the block's txid file (`pread`) and one stored node per merkle level above it
//! (the levels written when the block was indexed), and checks them together against the
//! header's merkle root (`SparsePath`): about 40 hashes, nothing held per block. A block
//! without usable stored levels (indexed by an older version, or damaged) has its upper
//! levels computed once from its txid file (one streaming pass, checked against the root)
//! and cached (about 4 MB per million transactions, `proof_cache_blocks` blocks). When the
//! txid file is not local (pruned bundle data), only that file is fetched from the swarm,
//! checked the same way, and kept.
//!
//! Files: this one proves (index, headers, tree cache, swarm fetch); [`answer`] holds the
//! request and answer types shared with the transports; [`seeders`] asks seeders' proof
//! servers, verifies and rewards them.
//!
//! Uses `store`, `swarm` (fetching a txid file), `tracker` and `ledger` (which seeders to
//! ask, what they earn), `galaxy` (Validation), `net` and `proto`. Transports live in `rpc`;
//! nothing here knows gRPC status codes or HTTP.

mod answer;
pub(crate) use answer::{Formats, ProofAnswer, ProofFailure, ProofRequest, Source, parse_txid};

mod block;
pub(crate) mod seeders;
mod tx;
pub(crate) use tx::ArchivedTx;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};
use torrent_core::bencode::Limits;
use torrent_core::bsv::merkle::{MerkleNodes, SparsePath, UpperTree, UpperTreeBuilder};
use torrent_core::metainfo::Metainfo;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::verdict::ProofFormat;
use torrent_core::{Header, Txid};

use crate::store::{HeaderRecord, Store};
use crate::swarm::session::{AddMode, BitTorrent};

/// Leaves per chunk, as a power of two: 16 txids (512 bytes) read and 15 hashes per proof,
/// for upper levels of about 4 MB per million transactions (measured: the chunk's hashing
/// was the largest cost of a proof at 64 leaves).
const CHUNK_LOG2: u32 = 4;

/// Latency histogram bucket edges, seconds (500 ms is the speed bonus edge).
pub(crate) const BUCKETS: [f64; 11] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Methods counted in metrics.
pub(crate) const METHODS: [&str; 9] = [
    "GetProof",
    "GetProofs",
    "StreamProofs",
    "json",
    "GetBundle",
    "GetTransaction",
    "GetBeef",
    "json_tx",
    "json_beef",
];
const OUTCOMES: [&str; 7] = [
    "ok",
    "invalid",
    "not_found",
    "busy",
    "unavailable",
    "error",
    "timeout",
];

/// Proof metrics (atomics and a histogram: read by `/metrics`, written on every request).
#[derive(Debug)]
pub(crate) struct ProofMetrics {
    requests: [[AtomicU64; 7]; 9],
    /// `torrent_proof_seconds`, registered as is.
    pub(crate) seconds: crate::metrics::Histogram,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    levels: AtomicU64,
    swarm_fetches: AtomicU64,
    swarm_failures: AtomicU64,
    tx_fetches: AtomicU64,
    client_busy: AtomicU64,
    in_flight: AtomicU64,
}

/// Counts one proof in flight while it lives.
struct InFlight<'a>(&'a ProofMetrics);

impl<'a> InFlight<'a> {
    fn new(m: &'a ProofMetrics) -> Self {
        m.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for ProofMetrics {
    fn default() -> Self {
        Self {
            requests: Default::default(),
            seconds: crate::metrics::Histogram::new(BUCKETS),
            cache_hits: AtomicU64::default(),
            cache_misses: AtomicU64::default(),
            levels: AtomicU64::default(),
            swarm_fetches: AtomicU64::default(),
            swarm_failures: AtomicU64::default(),
            tx_fetches: AtomicU64::default(),
            client_busy: AtomicU64::default(),
            in_flight: AtomicU64::default(),
        }
    }
}

impl ProofMetrics {
    /// Counts a request refused because its client had all its slots in flight.
    fn client_refused(&self) {
        self.client_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request.
    pub(crate) fn record(&self, method: &str, outcome: &str, elapsed: Duration) {
        let m = METHODS.iter().position(|x| *x == method).unwrap_or(0);
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(5);
        self.requests[m][o].fetch_add(1, Ordering::Relaxed);
        self.seconds.observe(elapsed.as_secs_f64());
    }
}

impl crate::metrics::Report for Proofs {
    fn report(&self, out: &mut crate::metrics::Sink<'_, '_>) -> std::fmt::Result {
        let m = &self.metrics;
        out.counters(
            "torrent_proof_requests",
            "Proof requests by method and outcome.",
            METHODS.iter().enumerate().flat_map(|(i, method)| {
                OUTCOMES.iter().enumerate().map(move |(j, outcome)| {
                    (
                        [("method", *method), ("outcome", *outcome)],
                        m.requests[i][j].load(Ordering::Relaxed),
                    )
                })
            }),
        )?;
        out.gauge(
            "torrent_proof_in_flight",
            "Proof requests being answered now.",
            m.in_flight.load(Ordering::Relaxed),
        )?;
        for (name, help, v) in [
            (
                "torrent_proof_cache_hits",
                "Proofs answered from a cached tree.",
                &m.cache_hits,
            ),
            (
                "torrent_proof_cache_misses",
                "Proofs that had to build a block's tree.",
                &m.cache_misses,
            ),
            (
                "torrent_proof_from_levels",
                "Proofs answered from a block's stored upper merkle levels (no tree built).",
                &m.levels,
            ),
            (
                "torrent_proof_swarm_fetches",
                "Whole files (txid or block files) fetched from the swarm.",
                &m.swarm_fetches,
            ),
            (
                "torrent_proof_swarm_failures",
                "Failed swarm fetches.",
                &m.swarm_failures,
            ),
            (
                "torrent_tx_swarm_fetches",
                "Transactions whose pieces were fetched from the tracker's seeders.",
                &m.tx_fetches,
            ),
            (
                "torrent_proof_client_busy",
                "Proof requests refused because their client had proof_max_per_client in flight.",
                &m.client_busy,
            ),
        ] {
            out.counter(name, help, v.load(Ordering::Relaxed))?;
        }
        match self.seeders() {
            Some(s) => s.report(out),
            None => Ok(()),
        }
    }
}

/// A block's cached upper tree and its open txid file.
#[derive(Debug)]
struct BlockTree {
    tree: UpperTree,
    file: File,
    rec: HeaderRecord,
    header: Header,
}

type Slot = Arc<OnceCell<Arc<BlockTree>>>;

/// Cached trees, evicted oldest first beyond `max_bytes`.
#[derive(Debug, Default)]
struct TreeCache {
    slots: HashMap<u64, Slot>,
    order: VecDeque<u64>,
}

/// The proof engine.
pub(crate) struct Proofs {
    store: Arc<Store>,
    bundles: PathBuf,
    engine: Option<Arc<dyn BitTorrent>>,
    cache: Mutex<TreeCache>,
    max_cached_blocks: usize,
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    permits: Arc<Semaphore>,
    /// Proofs in flight per client.
    clients: Arc<crate::net::conn::PerClient>,
    deadline: std::time::Duration,
    seeders: std::sync::OnceLock<Arc<crate::proofs::seeders::SeederProofs>>,
    /// Recently served raw transactions.
    txs: Mutex<tx::TxCache>,
    /// Block files checked against their headers.
    blocks_checked: Mutex<block::Checked>,
    /// Metrics.
    pub metrics: Arc<ProofMetrics>,
}

impl std::fmt::Debug for Proofs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proofs")
            .field("bundles", &self.bundles)
            .finish_non_exhaustive()
    }
}

fn not_offloaded(txid: &Txid) -> ProofFailure {
    ProofFailure::NotFound(format!(
        "txid {txid} is not in any block this service has offloaded"
    ))
}

fn internal(e: impl std::fmt::Display) -> ProofFailure {
    ProofFailure::Internal(e.to_string())
}

/// How many proofs run at once, overall and per client, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProofLimits {
    /// Proofs in flight, all clients.
    pub max_concurrency: usize,
    /// Proofs in flight for one client (an IP, an IPv6 /64).
    pub max_per_client: usize,
    /// Deadline of one proof.
    pub deadline: std::time::Duration,
}

impl ProofLimits {
    /// From the config's `proof_*` keys.
    pub(crate) fn from_config(c: &crate::config::Config) -> Self {
        Self {
            max_concurrency: c.proof_max_concurrency,
            max_per_client: c.proof_max_per_client,
            deadline: std::time::Duration::from_secs(c.proof_deadline_s),
        }
    }
}

impl Proofs {
    /// A proof engine over the database and bundle store, serving within `limits`: more
    /// proofs at once than allowed (overall or for one client) are refused as busy.
    pub(crate) fn new(
        store: Arc<Store>,
        bundles: PathBuf,
        engine: Option<Arc<dyn BitTorrent>>,
        limits: ProofLimits,
        max_cached_blocks: usize,
    ) -> Self {
        Self {
            store,
            bundles,
            engine,
            cache: Mutex::new(TreeCache::default()),
            max_cached_blocks: max_cached_blocks.max(1),
            fetch_locks: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(limits.max_concurrency.max(1))),
            clients: crate::net::conn::PerClient::new(limits.max_per_client),
            deadline: limits.deadline,
            seeders: std::sync::OnceLock::new(),
            txs: Mutex::default(),
            blocks_checked: Mutex::default(),
            metrics: Arc::default(),
        }
    }

    /// Lets proofs of blocks not held locally come from seeders (verified, rewarded).
    pub(crate) fn set_seeders(&self, s: Arc<crate::proofs::seeders::SeederProofs>) {
        let _ = self.seeders.set(s);
    }

    /// The seeder source, when set.
    pub(crate) fn seeders(&self) -> Option<&Arc<crate::proofs::seeders::SeederProofs>> {
        self.seeders.get()
    }

    /// Whether block `height`'s tree is cached.
    fn cached(&self, height: u64) -> bool {
        self.cache
            .lock()
            .map(|c| c.slots.get(&height).is_some_and(|s| s.get().is_some()))
            .unwrap_or(false)
    }

    /// Whether the block's txid file is in the bundle store at full length (its hash is
    /// checked when the tree is built).
    fn txid_file_at_hand(&self, rec: &HeaderRecord) -> bool {
        txid_file_at_hand(&self.bundles, rec)
    }

    /// Where the txid index says a txid may be (height, index), highest height first; the
    /// txid file decides (see `Store::txid_candidates`).
    ///
    /// # Errors
    /// An unknown txid.
    fn positions(&self, txid: &Txid) -> Result<Vec<(u64, u64)>, ProofFailure> {
        let found = self
            .store
            .txid_candidates(&txid.to_byte_array())
            .map_err(internal)?;
        if found.is_empty() {
            return Err(not_offloaded(txid));
        }
        Ok(found.into_iter().map(|(h, i)| (h, u64::from(i))).collect())
    }

    /// Where a txid is: its height, index and block record (the highest block holding it,
    /// checked against its txid file when that is here).
    ///
    /// # Errors
    /// Malformed or unknown txid.
    pub(crate) fn locate(&self, txid: &Txid) -> Result<(u64, u64, HeaderRecord), ProofFailure> {
        for (height, index) in self.positions(txid)? {
            let rec = self
                .store
                .header(height)
                .map_err(internal)?
                .ok_or_else(|| internal(format!("height {height} is indexed but has no header")))?;
            // A txid file not here cannot say: the index's candidate stands.
            if local_txid(&self.bundles, &rec, index).is_none_or(|t| t == *txid) {
                return Ok((height, index, rec));
            }
        }
        Err(not_offloaded(txid))
    }

    fn slot(&self, height: u64) -> Slot {
        let mut c = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = c.slots.get(&height) {
            return Arc::clone(s);
        }
        while c.order.len() >= self.max_cached_blocks {
            if let Some(old) = c.order.pop_front() {
                c.slots.remove(&old);
            }
        }
        let s: Slot = Arc::new(OnceCell::new());
        c.slots.insert(height, Arc::clone(&s));
        c.order.push_back(height);
        s
    }

    /// Builds one proof for a client at `from` (its IP decides whether a seeder's answer
    /// may earn: never when the seeder asks itself, DESIGN §15).
    ///
    /// # Errors
    /// [`ProofFailure`].
    pub(crate) async fn prove(
        &self,
        req: ProofRequest,
        from: Option<std::net::IpAddr>,
    ) -> Result<ProofAnswer, ProofFailure> {
        self.prove_by(req, from, Instant::now() + self.deadline)
            .await
    }

    /// Builds one proof for a client at `from` that must be ready by `deadline` (a batch
    /// passes its own, so that the batch as a whole has one).
    ///
    /// Limited as [`Self::limited`] says.
    ///
    /// # Errors
    /// [`ProofFailure`]; [`ProofFailure::Busy`] past either limit, [`ProofFailure::Timeout`]
    /// past the deadline.
    pub(crate) async fn prove_by(
        &self,
        req: ProofRequest,
        from: Option<std::net::IpAddr>,
        deadline: Instant,
    ) -> Result<ProofAnswer, ProofFailure> {
        self.limited(from, deadline, self.prove_held(req, from))
            .await
    }

    /// Runs `work` for a client at `from` within the limits, ready by `deadline`.
    ///
    /// A client takes one of its `max_per_client` slots, then one of the shared permits;
    /// both are freed when the answer is ready or the deadline passes, whichever is first.
    ///
    /// # Errors
    /// `work`'s; [`ProofFailure::Busy`] past either limit, [`ProofFailure::Timeout`] past
    /// the deadline.
    async fn limited<T>(
        &self,
        from: Option<std::net::IpAddr>,
        deadline: Instant,
        work: impl std::future::Future<Output = Result<T, ProofFailure>>,
    ) -> Result<T, ProofFailure> {
        if Instant::now() >= deadline {
            return Err(ProofFailure::Timeout(
                "the request's deadline passed before this request was started".into(),
            ));
        }
        let _slot = match from {
            Some(ip) => Some(self.clients.take(ip).ok_or_else(|| {
                self.metrics.client_refused();
                ProofFailure::Busy(
                    "too many proof requests in flight from this client; retry shortly".into(),
                )
            })?),
            None => None,
        };
        let _permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            ProofFailure::Busy("too many proof requests in flight; retry shortly".into())
        })?;
        let _counted = InFlight::new(&self.metrics);
        tokio::time::timeout_at(deadline.into(), work)
            .await
            .unwrap_or_else(|_| {
                Err(ProofFailure::Timeout(
                    "the answer was not ready before the request's deadline".into(),
                ))
            })
    }

    /// [`Self::prove`] once the client's slot and a permit are held.
    async fn prove_held(
        &self,
        req: ProofRequest,
        from: Option<std::net::IpAddr>,
    ) -> Result<ProofAnswer, ProofFailure> {
        let started = Instant::now();
        let ProofRequest {
            txid,
            height: named,
            formats,
        } = req;
        let positions = self.positions(&txid)?;
        // Each candidate in turn (the named block's, else the highest first): the txid file
        // decides.
        for &(height, index) in &positions {
            if named.is_some_and(|h| h != height) {
                continue;
            }
            if let Some(mut answer) = self
                .prove_at(txid, height, index, formats, from, started)
                .await?
            {
                if positions.len() > 1 {
                    answer.other_heights = positions
                        .iter()
                        .filter(|&&(h, i)| h != height && self.holds(h, i, &txid))
                        .map(|&(h, _)| h)
                        .collect();
                }
                return Ok(answer);
            }
        }
        Err(match named {
            Some(h) => ProofFailure::NotFound(format!("txid {txid} is not in block {h}")),
            None => not_offloaded(&txid),
        })
    }

    /// Whether transaction `index` of block `height` is `txid`, by the block's txid file
    /// here (false when the file is not here: only what this service can prove is listed).
    fn holds(&self, height: u64, index: u64, txid: &Txid) -> bool {
        self.store
            .header(height)
            .ok()
            .flatten()
            .and_then(|rec| local_txid(&self.bundles, &rec, index))
            .is_some_and(|t| t == *txid)
    }

    /// The proof of `txid` as transaction `index` of block `height`, or `None` when that
    /// transaction is another (a false candidate of the index).
    async fn prove_at(
        &self,
        txid: Txid,
        height: u64,
        index: u64,
        formats: Formats,
        from: Option<std::net::IpAddr>,
        started: Instant,
    ) -> Result<Option<ProofAnswer>, ProofFailure> {
        // A cached tree answers at once; only a miss looks further (header, file, seeders),
        // so the hot path stays one index read and one chunk read.
        // A seeder's verified answer is served again without asking anyone; a block whose
        // quota of paid seeder proofs is spent is served from its txid file (core's rule).
        if let Some(seeders) = self.seeders.get()
            && !self.cached(height)
        {
            if let Some(answer) = seeders.cached(&txid, formats, started)
                && answer.height == height
            {
                return Ok(Some(answer));
            }
            let rec = self
                .store
                .header(height)
                .map_err(internal)?
                .ok_or_else(|| internal(format!("height {height} is indexed but has no header")))?;
            if !self.txid_file_at_hand(&rec)
                && seeders.plan(height) == torrent_core::rewards::Plan::AskSeeders
                && let Some(answer) = seeders
                    .ask(
                        &txid,
                        height,
                        index,
                        &rec,
                        &crate::proofs::seeders::Asked {
                            formats,
                            started,
                            from,
                        },
                    )
                    .await
            {
                return Ok(Some(answer));
            }
        }
        if !self.cached(height)
            && let Some(answer) = self.prove_from_levels(txid, height, index, formats, started)?
        {
            return Ok(answer);
        }
        let (bt, source) = self.tree(height).await?;
        let (rec, header) = (&bt.rec, &bt.header);
        let (first, len) = bt.tree.chunk_of(index);
        let chunk = read_chunk(&bt.file, first, len)
            .map_err(|e| internal(format!("reading {}: {e}", rec.txid_file)))?;
        let view = bt
            .tree
            .path(index, &chunk)
            .map_err(|e| internal(format!("{} in bundle {}: {e}", rec.txid_file, rec.bundle)))?;
        if view_txid(&chunk, first, index) != Some(txid) {
            return Ok(None);
        }
        answer(
            &view, txid, height, index, rec, header, formats, started, source,
        )
        .map(Some)
    }

    /// The proof from the block's stored upper levels, with no tree built or cached: its
    /// chunk of txids and one stored node per level above it, checked against the header's
    /// merkle root. `Ok(None)` when that cannot answer (levels not stored, txid file not
    /// here, or either damaged): the cached-tree path then hashes the whole file or fetches
    /// it. `Ok(Some(None))` for a false candidate.
    fn prove_from_levels(
        &self,
        txid: Txid,
        height: u64,
        index: u64,
        formats: Formats,
        started: Instant,
    ) -> Result<Option<Option<ProofAnswer>>, ProofFailure> {
        let Some(rec) = self.store.header(height).map_err(internal)? else {
            return Ok(None);
        };
        let Some((layout, siblings)) = self
            .store
            .upper_path(&rec.bundle, height, index)
            .map_err(internal)?
        else {
            return Ok(None);
        };
        let header = Header::decode(&rec.header).map_err(internal)?;
        let (first, len) = layout.chunk_of(index);
        let path = self.bundles.join(&rec.bundle).join(&rec.txid_file);
        let Ok(chunk) = File::open(&path).and_then(|f| read_chunk(&f, first, len)) else {
            return Ok(None);
        };
        let view = match SparsePath::new(layout, index, &chunk, siblings, header.merkle_root) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(file = %path.display(), "stored merkle levels or txid file do not match block {height} ({e}); hashing the whole file");
                return Ok(None);
            }
        };
        if view_txid(&chunk, first, index) != Some(txid) {
            return Ok(Some(None));
        }
        self.metrics.levels.fetch_add(1, Ordering::Relaxed);
        answer(
            &view,
            txid,
            height,
            index,
            &rec,
            &header,
            formats,
            started,
            Source::Local,
        )
        .map(|a| Some(Some(a)))
    }

    /// The cached tree of `height`, building it (and fetching its txid file) once.
    async fn tree(&self, height: u64) -> Result<(Arc<BlockTree>, Source), ProofFailure> {
        let slot = self.slot(height);
        if let Some(bt) = slot.get() {
            self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::clone(bt), Source::Cache));
        }
        let rec = self
            .store
            .header(height)
            .map_err(internal)?
            .ok_or_else(|| internal(format!("height {height} is indexed but has no header")))?;
        let header = Header::decode(&rec.header).map_err(internal)?;
        let (rec, header) = (&rec, &header);
        let mut source = Source::Local;
        let bt = slot
            .get_or_try_init(|| async {
                self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
                let path = self.bundles.join(&rec.bundle).join(&rec.txid_file);
                let build = |path: PathBuf| {
                    let (rec, header) = (rec.clone(), *header);
                    async move {
                        tokio::task::spawn_blocking(move || build_tree(&path, rec, header))
                            .await
                            .map_err(internal)?
                    }
                };
                // A local file is used only if it hashes to the header; a missing or
                // damaged one (an interrupted download leaves zeros) comes from the swarm.
                let local = if path.exists() {
                    match build(path.clone()).await {
                        Ok(t) => Some(t),
                        Err(e) => {
                            tracing::warn!(file = %path.display(), "local txid file unusable ({}); fetching it", e.message());
                            None
                        }
                    }
                } else {
                    None
                };
                let built = match local {
                    Some(t) => t,
                    None => {
                        self.fetch_file(rec, &rec.txid_file).await?;
                        source = Source::Swarm;
                        build(path).await?
                    }
                };
                Ok::<_, ProofFailure>(Arc::new(built))
            })
            .await?;
        Ok((Arc::clone(bt), source))
    }

    /// Fetches one file of `rec`'s bundle (its txid file, or its block file) from the swarm
    /// into the bundle store (one fetch per file at a time, however many requests wait).
    ///
    /// The fetch runs as a task of its own: a request that reaches its deadline stops
    /// waiting, but the fetch goes on, so that a file slower than one deadline is there for
    /// a later request.
    async fn fetch_file(&self, rec: &HeaderRecord, file: &str) -> Result<(), ProofFailure> {
        let key = format!("{}/{}", rec.bundle, file);
        let lock = {
            let mut m = self
                .fetch_locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(m.entry(key.clone()).or_default())
        };
        let guard = lock.lock_owned().await;
        let fetch = Fetch {
            key,
            file: file.to_string(),
            rec: rec.clone(),
            bundles: self.bundles.clone(),
            engine: self.engine.clone(),
            seeders: self.seeders.get().cloned(),
            metrics: Arc::clone(&self.metrics),
        };
        tokio::spawn(async move {
            let _guard = guard;
            fetch.run().await
        })
        .await
        .map_err(internal)?
    }

    /// The database.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Makes every txid file of `bundle` local (fetching from the swarm what is missing) and
    /// caches its trees; returns (txid files, fetched from the swarm).
    ///
    /// # Errors
    /// Unknown bundle, or a fetch that failed.
    pub(crate) async fn prefetch(&self, bundle: &str) -> Result<(u32, u32), ProofFailure> {
        let rec = self
            .store
            .bundle(bundle)
            .map_err(internal)?
            .ok_or_else(|| ProofFailure::NotFound(format!("no bundle named {bundle:?}")))?;
        let span = u32::try_from(rec.last - rec.first + 1).unwrap_or(u32::MAX);
        let (mut files, mut fetched) = (0, 0);
        for (height, _) in self.store.headers(rec.first, span).map_err(internal)? {
            if height > rec.last {
                break;
            }
            let (_, source) = self.tree(height).await?;
            files += 1;
            if source == Source::Swarm {
                fetched += 1;
            }
        }
        Ok((files, fetched))
    }

    /// Headers from `from`, at most `count` (2000).
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn headers(
        &self,
        from: u64,
        count: u32,
    ) -> Result<Vec<(u64, HeaderRecord)>, ProofFailure> {
        if count > 2000 {
            return Err(ProofFailure::Invalid(format!(
                "count {count}: at most 2000 headers"
            )));
        }
        self.store.headers(from, count).map_err(internal)
    }
}

/// Reads the `len` txids from `first` on.
fn read_chunk(file: &File, first: u64, len: u64) -> std::io::Result<Vec<Txid>> {
    let mut buf = vec![0u8; usize::try_from(len * 32).unwrap_or(0)];
    file.read_exact_at(&mut buf, first * 32)?;
    Ok(buf
        .chunks_exact(32)
        .map(|c| Txid::from_byte_array(c.try_into().unwrap_or([0; 32])))
        .collect())
}

/// The answer for transaction `index` of block `height` from the nodes of its path.
#[allow(clippy::too_many_arguments)]
fn answer(
    view: &impl MerkleNodes,
    txid: Txid,
    height: u64,
    index: u64,
    rec: &HeaderRecord,
    header: &Header,
    formats: Formats,
    started: Instant,
    source: Source,
) -> Result<ProofAnswer, ProofFailure> {
    let bump = if !formats.wants(ProofFormat::Bump) {
        Vec::new()
    } else {
        Bump::build(view, height, &[index])
            .map_err(internal)?
            .encode()
    };
    let tsc = if !formats.wants(ProofFormat::Tsc) {
        None
    } else {
        let t =
            TscProof::build(view, index, header, TargetKind::BlockHash, None).map_err(internal)?;
        Some(serde_json::value::RawValue::from_string(t.to_json()).map_err(internal)?)
    };
    Ok(ProofAnswer {
        bump,
        tsc,
        ..ProofAnswer::new(txid, height, index, rec, header, started, source)
    })
}

fn view_txid(chunk: &[Txid], first: u64, index: u64) -> Option<Txid> {
    chunk
        .get(usize::try_from(index.checked_sub(first)?).ok()?)
        .copied()
}

/// Reads a txid file once into an upper tree and checks it against the header.
fn build_tree(
    path: &std::path::Path,
    rec: HeaderRecord,
    header: Header,
) -> Result<BlockTree, ProofFailure> {
    let (root, tx_count) = (header.merkle_root, rec.tx_count);
    use std::io::Read;
    let file = File::open(path).map_err(|e| internal(format!("{}: {e}", path.display())))?;
    let len = file.metadata().map_err(internal)?.len();
    if len != tx_count * 32 {
        return Err(internal(format!(
            "{}: {len} bytes, but the block has {tx_count} transactions",
            path.display()
        )));
    }
    let mut r = std::io::BufReader::with_capacity(1 << 20, &file);
    let mut b = UpperTreeBuilder::new(CHUNK_LOG2);
    let mut t = [0u8; 32];
    for _ in 0..tx_count {
        r.read_exact(&mut t).map_err(internal)?;
        b.push(Txid::from_byte_array(t)).map_err(internal)?;
    }
    let tree = b.finish().map_err(internal)?;
    if tree.root() != root {
        return Err(internal(format!(
            "{}: the txids do not hash to the header's merkle root",
            path.display()
        )));
    }
    drop(r);
    Ok(BlockTree {
        tree,
        file,
        rec,
        header,
    })
}

/// Whether the block's txid file is in the bundle store at full length (its hash is
/// checked when the tree is built).
/// Transaction `index` of `rec`'s block as its txid file here says, or `None` when the file
/// is not here (or too short).
pub(super) fn local_txid(
    bundles: &std::path::Path,
    rec: &HeaderRecord,
    index: u64,
) -> Option<Txid> {
    let (mut t, at) = ([0u8; 32], index.checked_mul(32)?);
    File::open(bundles.join(&rec.bundle).join(&rec.txid_file))
        .and_then(|f| f.read_exact_at(&mut t, at))
        .ok()?;
    Some(Txid::from_byte_array(t))
}

fn txid_file_at_hand(bundles: &std::path::Path, rec: &HeaderRecord) -> bool {
    std::fs::metadata(bundles.join(&rec.bundle).join(&rec.txid_file))
        .is_ok_and(|m| m.len() == rec.tx_count.saturating_mul(32))
}

/// One file to bring into the bundle store, owned so that it outlives the request that
/// asked for it.
struct Fetch {
    key: String,
    file: String,
    rec: HeaderRecord,
    bundles: PathBuf,
    engine: Option<Arc<dyn BitTorrent>>,
    seeders: Option<Arc<crate::proofs::seeders::SeederProofs>>,
    metrics: Arc<ProofMetrics>,
}

impl Fetch {
    async fn run(self) -> Result<(), ProofFailure> {
        let Self {
            key,
            file,
            rec,
            bundles,
            engine,
            seeders,
            metrics,
        } = self;
        // The bulk path first: a staked seeder delivers it over the peer wire, checked piece
        // by piece, and is paid for it once; the anonymous swarm is the fallback.
        if file == rec.txid_file
            && let Some(seeders) = &seeders
            && seeders.fetch_txid_file(&rec, &bundles).await
            && txid_file_at_hand(&bundles, &rec)
        {
            return Ok(());
        }
        let data = bundles.join(&rec.bundle);
        let Some(engine) = &engine else {
            return Err(ProofFailure::Unavailable(format!(
                "{key} is not local and the BitTorrent session is off (bittorrent = false)"
            )));
        };
        let torrent_path = bundles.join(format!("{}.torrent", rec.bundle));
        let bytes = std::fs::read(&torrent_path)
            .map_err(|e| internal(format!("{}: {e}", torrent_path.display())))?;
        let m = Metainfo::parse(&bytes, &Limits::default()).map_err(internal)?;
        let want: Vec<&str> = file.split('/').collect();
        let idx = m
            .files
            .iter()
            .position(|f| f.path.iter().map(String::as_str).eq(want.iter().copied()))
            .ok_or_else(|| internal(format!("{file} is not a file of {}", rec.bundle)))?;
        metrics.swarm_fetches.fetch_add(1, Ordering::Relaxed);
        tracing::info!(file = %key, "fetching a file from the swarm");
        let ih = m.infohash_v1.map(|h| h.0).unwrap_or_default();
        let _ = engine.remove(ih).await;
        let fetched = async {
            let ih = engine
                .add(
                    bytes,
                    &data,
                    AddMode::Fetch {
                        only_files: Some(vec![idx]),
                    },
                )
                .await?;
            engine.wait_complete(ih).await
        };
        match tokio::time::timeout(Duration::from_secs(120), fetched).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                metrics.swarm_failures.fetch_add(1, Ordering::Relaxed);
                Err(ProofFailure::Unavailable(format!(
                    "fetching {key} from the swarm: {e:#}"
                )))
            }
            Err(_) => {
                metrics.swarm_failures.fetch_add(1, Ordering::Relaxed);
                Err(ProofFailure::Unavailable(format!(
                    "fetching {key} from the swarm: no seeder delivered it within 120 s"
                )))
            }
        }
    }
}
