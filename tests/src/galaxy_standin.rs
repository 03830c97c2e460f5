//! Stand-ins for Galaxy's services, which cannot be built here (DESIGN §10, §13).
//!
//! They speak the real wire format (a little-endian `u32` length, then bincode 2 standard
//! config of a serde enum, requests in an envelope carrying `auth_token`), and behave like
//! the services the adapters expect: the Transaction service checks that a broadcast
//! spends outputs it knows and does not create money, moves them from the UTXO set to a
//! mempool, and mines the mempool one block at a time as statuses are asked; the Storage
//! service answers UTXO queries from the same set, so a payout's change and its outputs
//! show up there as they would on a node.
//!
//! The message types and the frame codec are the core's (`torrent_core::galaxy`), the same
//! the service's adapters use; what pins the format is `tests/vectors/galaxy/` (golden
//! frames, checked byte for byte), not a second copy of the types.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use torrent_core::bsv::tx::{Transaction, TxLimits};

/// The messages: the service's own types (`torrent_core::galaxy`), so the stand-ins and
/// the adapters cannot drift apart; `tests/vectors/galaxy/` pins their bytes.
pub use torrent_core::galaxy as wire;

use wire::{
    AlertRequest, AlertResponse, Envelope, GalaxyUtxo, StorageRequest, StorageResponse, TxRequest,
    TxResponse, TxState, ValidationRequest, ValidationResponse,
};

const MAX_FRAME: u32 = 16 << 20;

fn read<T: DeserializeOwned>(s: &mut TcpStream) -> std::io::Result<T> {
    let invalid =
        |e: wire::FrameError| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string());
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix)?;
    let mut body = vec![0u8; wire::body_len(prefix, MAX_FRAME).map_err(invalid)?];
    s.read_exact(&mut body)?;
    wire::decode_body(&body).map_err(invalid)
}

fn write<T: Serialize>(s: &mut TcpStream, v: &T) -> std::io::Result<()> {
    let frame = wire::encode_frame(v, u32::MAX)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    s.write_all(&frame)
}

#[derive(Debug, Default)]
struct Chain {
    utxos: BTreeMap<([u8; 32], u32), (u64, Vec<u8>)>,
    mempool: BTreeMap<[u8; 32], u32>,
    mined: BTreeMap<[u8; 32], u64>,
    height: u64,
    broadcasts: Vec<Vec<u8>>,
    alerts: Vec<(String, String)>,
    validations: u64,
}

impl Chain {
    fn broadcast(&mut self, raw: &[u8]) -> TxResponse {
        self.broadcasts.push(raw.to_vec());
        let tx = match Transaction::decode(raw, &TxLimits::default()) {
            Ok(t) => t,
            Err(e) => {
                return TxResponse::Rejected {
                    reason: format!("malformed: {e}"),
                };
            }
        };
        let txid = tx.txid().to_byte_array();
        if self.mempool.contains_key(&txid) || self.mined.contains_key(&txid) {
            return TxResponse::Accepted { txid };
        }
        let mut value_in = 0u64;
        for i in &tx.inputs {
            match self
                .utxos
                .get(&(i.prevout.txid.to_byte_array(), i.prevout.vout))
            {
                Some((v, _)) => value_in += v,
                None => {
                    return TxResponse::Rejected {
                        reason: format!(
                            "missing or spent input {}:{}",
                            i.prevout.txid, i.prevout.vout
                        ),
                    };
                }
            }
        }
        let value_out: u64 = tx.outputs.iter().map(|o| o.value.to_sat()).sum();
        if value_out > value_in {
            return TxResponse::Rejected {
                reason: format!("outputs {value_out} exceed inputs {value_in}"),
            };
        }
        for i in &tx.inputs {
            self.utxos
                .remove(&(i.prevout.txid.to_byte_array(), i.prevout.vout));
        }
        for (n, o) in tx.outputs.iter().enumerate() {
            self.utxos.insert(
                (txid, n as u32),
                (o.value.to_sat(), o.script_pubkey.clone()),
            );
        }
        self.mempool.insert(txid, 0);
        TxResponse::Accepted { txid }
    }

    fn status(&mut self, txid: [u8; 32]) -> TxState {
        if let Some(h) = self.mined.get(&txid) {
            return TxState::Mined { height: *h };
        }
        match self.mempool.get_mut(&txid) {
            // The first question finds it in the mempool; by the next, a block has it.
            Some(0) => {
                self.mempool.insert(txid, 1);
                TxState::Mempool
            }
            Some(_) => {
                self.height += 1;
                let h = self.height;
                for (t, _) in std::mem::take(&mut self.mempool) {
                    self.mined.insert(t, h);
                }
                TxState::Mined { height: h }
            }
            None => TxState::Unknown,
        }
    }
}

/// Running stand-ins for the Transaction and Storage services.
#[derive(Debug, Clone)]
pub struct StandIn {
    /// Transaction service address.
    pub transaction: SocketAddr,
    /// Storage service address.
    pub storage: SocketAddr,
    chain: Arc<Mutex<Chain>>,
}

fn serve<Q, A>(
    l: TcpListener,
    token: String,
    chain: Arc<Mutex<Chain>>,
    answer: fn(&mut Chain, Q) -> A,
    refuse: fn(String) -> A,
) where
    Q: DeserializeOwned + Send + 'static,
    A: Serialize + Send + 'static,
{
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (token, chain) = (token.clone(), Arc::clone(&chain));
            std::thread::spawn(move || {
                let mut s = s;
                while let Ok(env) = read::<Envelope<Q>>(&mut s) {
                    let reply = if env.auth_token == token {
                        let mut c = chain
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        answer(&mut c, env.request)
                    } else {
                        refuse("auth_token refused".into())
                    };
                    if write(&mut s, &reply).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

impl StandIn {
    /// Starts both services on `transaction` and `storage` (`host:port`, port 0 for any),
    /// holding `utxos` at the start.
    ///
    /// # Errors
    /// Addresses that cannot be bound.
    pub fn start(
        transaction: &str,
        storage: &str,
        auth_token: &str,
        utxos: &[GalaxyUtxo],
    ) -> std::io::Result<Self> {
        let mut chain = Chain::default();
        for u in utxos {
            chain
                .utxos
                .insert((u.txid, u.vout), (u.satoshis, u.script_pubkey.clone()));
        }
        let chain = Arc::new(Mutex::new(chain));
        let t = TcpListener::bind(transaction)?;
        let s = TcpListener::bind(storage)?;
        let me = Self {
            transaction: t.local_addr()?,
            storage: s.local_addr()?,
            chain: Arc::clone(&chain),
        };
        serve(
            t,
            auth_token.to_string(),
            Arc::clone(&chain),
            |c, q: TxRequest| match q {
                TxRequest::Broadcast { raw_tx } => c.broadcast(&raw_tx),
                TxRequest::Status { txid } => TxResponse::Status {
                    txid,
                    state: c.status(txid),
                },
            },
            |message| TxResponse::Error { message },
        );
        serve(
            s,
            auth_token.to_string(),
            chain,
            |c, q: StorageRequest| match q {
                StorageRequest::Utxos { script_pubkey } => StorageResponse::Utxos(
                    c.utxos
                        .iter()
                        .filter(|(_, (_, s))| *s == script_pubkey)
                        .map(|((t, v), (sat, s))| GalaxyUtxo {
                            txid: *t,
                            vout: *v,
                            satoshis: *sat,
                            script_pubkey: s.clone(),
                        })
                        .collect(),
                ),
            },
            |message| StorageResponse::Error { message },
        );
        Ok(me)
    }

    /// Also serves the Validation service on `validation` (verdicts from `torrent_core`, as
    /// Galaxy's validator would give) and the Alert service on `alert` (recorded); returns
    /// their addresses.
    ///
    /// # Errors
    /// Addresses that cannot be bound.
    pub fn serve_validation_and_alerts(
        &self,
        validation: &str,
        alert: &str,
        auth_token: &str,
    ) -> std::io::Result<(SocketAddr, SocketAddr)> {
        let v = TcpListener::bind(validation)?;
        let a = TcpListener::bind(alert)?;
        let addrs = (v.local_addr()?, a.local_addr()?);
        serve(
            v,
            auth_token.to_string(),
            Arc::clone(&self.chain),
            |c, q: ValidationRequest| match q {
                ValidationRequest::Verify(reqs) => {
                    c.validations += reqs.len() as u64;
                    ValidationResponse::Verdicts(torrent_core::verdict::verify_all(&reqs))
                }
            },
            |message| ValidationResponse::Error { message },
        );
        serve(
            a,
            auth_token.to_string(),
            Arc::clone(&self.chain),
            |c, q: AlertRequest| match q {
                AlertRequest::Raise { kind, message, .. } => {
                    c.alerts.push((kind, message));
                    AlertResponse::Ack
                }
            },
            |message| AlertResponse::Error { message },
        );
        Ok(addrs)
    }

    /// Alerts received, `(kind, message)`, in order.
    pub fn alerts(&self) -> Vec<(String, String)> {
        self.chain
            .lock()
            .map(|c| c.alerts.clone())
            .unwrap_or_default()
    }

    /// Proofs the Validation stand-in decided.
    pub fn validations(&self) -> u64 {
        self.chain.lock().map(|c| c.validations).unwrap_or(0)
    }

    /// Every raw transaction broadcast so far, in order (repeats included).
    pub fn broadcasts(&self) -> Vec<Vec<u8>> {
        self.chain
            .lock()
            .map(|c| c.broadcasts.clone())
            .unwrap_or_default()
    }

    /// A transaction reaches a miner some other way (anyone who saw it can relay it) and
    /// is mined at once: its inputs are spent and its outputs unspent, as Storage then
    /// reports. Returns the stand-in's verdict (`Err` with the reason when it is refused).
    ///
    /// # Errors
    /// The transaction does not parse, spends what is not unspent, or creates money.
    pub fn mine(&self, raw_tx: &[u8]) -> Result<(), String> {
        let mut c = self
            .chain
            .lock()
            .map_err(|_| "stand-in state poisoned".to_string())?;
        match c.broadcast(raw_tx) {
            TxResponse::Accepted { txid } => {
                c.height += 1;
                let h = c.height;
                c.mempool.remove(&txid);
                c.mined.insert(txid, h);
                Ok(())
            }
            TxResponse::Rejected { reason } => Err(reason),
            other => Err(format!("{other:?}")),
        }
    }

    /// The unspent outputs locked by `script`.
    pub fn utxos_of(&self, script: &[u8]) -> Vec<(u64, [u8; 32], u32)> {
        self.chain
            .lock()
            .map(|c| {
                c.utxos
                    .iter()
                    .filter(|(_, (_, s))| s == script)
                    .map(|((t, v), (sat, _))| (*sat, *t, *v))
                    .collect()
            })
            .unwrap_or_default()
    }
}

// --- Block, Overlay and Auth ---------------------------------------------------------------

use redb::ReadableTable;
use wire::{
    AuthRequest, AuthResponse, BlockInfo, BlockRequest, BlockResponse, OverlayRequest,
    OverlayResponse, TorrentRef,
};

const PRUNED: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("pruned");
const REFS: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new("overlay_refs");

/// Galaxy's Block service over a folder of raw block files named by height (the layout of
/// `dir:` sources), with pruned heights in redb: `Prune` deletes the block's file and
/// records the height, so later `Index` answers leave it out.
#[derive(Debug, Clone)]
pub struct BlockStandIn {
    /// Address.
    pub addr: SocketAddr,
    state: Arc<BlockState>,
}

/// A held block: its file, hash and size.
type Held = (std::path::PathBuf, [u8; 32], u64);

#[derive(Debug)]
struct BlockState {
    /// height → held block
    blocks: Mutex<BTreeMap<u64, Held>>,
    db: redb::Database,
    page: usize,
    chunk: usize,
    /// Break the next block stream after this many bytes (once), to test resumption.
    break_after: Mutex<Option<u64>>,
    streams: std::sync::atomic::AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
}

fn block_error(message: impl Into<String>) -> BlockResponse {
    BlockResponse::Error {
        message: message.into(),
    }
}

impl BlockStandIn {
    /// Serves the blocks in `dir` (files whose first run of digits is the height) on
    /// `addr`, with its database at `db`; index pages hold `page` entries and blocks stream
    /// in `chunk`-byte frames.
    ///
    /// # Errors
    /// Unreadable files or database, or an address that cannot be bound.
    pub fn start(
        addr: &str,
        dir: &std::path::Path,
        db: &std::path::Path,
        auth_token: &str,
        page: usize,
        chunk: usize,
    ) -> anyhow::Result<Self> {
        let db = redb::Database::create(db)?;
        {
            let w = db.begin_write()?;
            w.open_table(PRUNED)?;
            w.commit()?;
        }
        let pruned: std::collections::BTreeSet<u64> = {
            let r = db.begin_read()?;
            let t = r.open_table(PRUNED)?;
            t.iter()?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?
        };
        let mut blocks = BTreeMap::new();
        for e in std::fs::read_dir(dir)? {
            let path = e?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let digits: String = name
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            let Ok(height) = digits.parse::<u64>() else {
                continue;
            };
            if pruned.contains(&height) || name.ends_with(".part") {
                continue;
            }
            let mut header = [0u8; 80];
            std::fs::File::open(&path)?.read_exact(&mut header)?;
            let hash = torrent_core::Header::from_bytes(&header)
                .block_hash()
                .to_byte_array();
            let size = path.metadata()?.len();
            blocks.insert(height, (path, hash, size));
        }
        let l = TcpListener::bind(addr)?;
        let me = Self {
            addr: l.local_addr()?,
            state: Arc::new(BlockState {
                blocks: Mutex::new(blocks),
                db,
                page: page.max(1),
                chunk: chunk.max(1),
                break_after: Mutex::new(None),
                streams: std::sync::atomic::AtomicU64::new(0),
                stopped: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        let (state, token) = (Arc::clone(&me.state), auth_token.to_string());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                if state.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    // Closing the listener: the port refuses connections from now on.
                    break;
                }
                let (state, token) = (Arc::clone(&state), token.clone());
                std::thread::spawn(move || {
                    let mut s = s;
                    while let Ok(env) = read::<Envelope<BlockRequest>>(&mut s) {
                        let ok = if env.auth_token == token {
                            state.answer(&mut s, env.request)
                        } else {
                            write(&mut s, &block_error("auth_token refused")).is_ok()
                        };
                        if !ok {
                            break;
                        }
                    }
                });
            }
        });
        Ok(me)
    }

    /// Stops accepting connections (the service goes down; its data stays on disk).
    pub fn stop(&self) {
        self.state
            .stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
    }

    /// The next block stream breaks after `bytes` bytes (once).
    pub fn break_next_stream_after(&self, bytes: u64) {
        if let Ok(mut b) = self.state.break_after.lock() {
            *b = Some(bytes);
        }
    }

    /// Block streams started so far (resumptions included).
    pub fn streams(&self) -> u64 {
        self.state
            .streams
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Heights whose data is still held.
    pub fn heights(&self) -> Vec<u64> {
        self.state
            .blocks
            .lock()
            .map(|b| b.keys().copied().collect())
            .unwrap_or_default()
    }
}

impl BlockState {
    /// Answers one request; false when the connection should close.
    fn answer(&self, s: &mut TcpStream, q: BlockRequest) -> bool {
        let reply = match q {
            BlockRequest::Tip => {
                let b = self
                    .blocks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let held = b.iter().next_back().map(|(h, (_, hash, _))| (*h, *hash));
                // Pruning deletes a block's data, not the chain: the tip stays known even
                // when every block up to it was pruned.
                let pruned = (|| -> anyhow::Result<Option<(u64, [u8; 32])>> {
                    let r = self.db.begin_read()?;
                    let Ok(t) = r.open_table(PRUNED) else {
                        return Ok(None);
                    };
                    Ok(t.last()?.and_then(|(h, v)| {
                        Some((h.value(), <[u8; 32]>::try_from(v.value()).ok()?))
                    }))
                })()
                .ok()
                .flatten();
                match held.max(pruned) {
                    Some((height, hash)) => BlockResponse::Tip { height, hash },
                    None => block_error("no blocks"),
                }
            }
            BlockRequest::Index { from, to } => {
                let b = self
                    .blocks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut it = b.range(from..=to.max(from));
                let blocks: Vec<BlockInfo> = it
                    .by_ref()
                    .take(self.page)
                    .map(|(h, (_, hash, size))| BlockInfo {
                        height: *h,
                        hash: *hash,
                        size: *size,
                    })
                    .collect();
                let next = it.next().map(|(h, _)| *h);
                BlockResponse::Index { blocks, next }
            }
            BlockRequest::Block { height, offset } => return self.stream(s, height, offset),
            BlockRequest::Prune { height, hash } => self.prune(height, hash),
        };
        write(s, &reply).is_ok()
    }

    fn stream(&self, s: &mut TcpStream, height: u64, offset: u64) -> bool {
        let found = self
            .blocks
            .lock()
            .ok()
            .and_then(|b| b.get(&height).cloned());
        let Some((path, hash, size)) = found else {
            return write(s, &block_error(format!("block {height} is not held"))).is_ok();
        };
        if offset > size {
            return write(s, &block_error(format!("offset {offset} is past {size}"))).is_ok();
        }
        self.streams
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cut = self.break_after.lock().ok().and_then(|mut b| b.take());
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return write(s, &block_error(format!("block {height}: {e}"))).is_ok(),
        };
        if std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset)).is_err()
            || write(s, &BlockResponse::Begin { height, hash, size }).is_err()
        {
            return false;
        }
        let mut sent = 0u64;
        let mut buf = vec![0u8; self.chunk];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => return false,
            };
            if cut.is_some_and(|c| sent + n as u64 > c) {
                // Drop the connection mid-block, as a crashed service would.
                let _ = s.shutdown(std::net::Shutdown::Both);
                return false;
            }
            if write(
                s,
                &BlockResponse::Chunk {
                    data: buf[..n].to_vec(),
                },
            )
            .is_err()
            {
                return false;
            }
            sent += n as u64;
        }
        write(s, &BlockResponse::End).is_ok()
    }

    fn prune(&self, height: u64, hash: [u8; 32]) -> BlockResponse {
        let mut b = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((path, held, _)) = b.get(&height).cloned() else {
            // Already pruned: idempotent.
            return BlockResponse::Pruned { height };
        };
        if held != hash {
            return block_error(format!("block {height} is not the block named"));
        }
        let recorded = (|| -> anyhow::Result<()> {
            let w = self.db.begin_write()?;
            w.open_table(PRUNED)?.insert(height, &hash[..])?;
            w.commit()?;
            Ok(())
        })();
        if let Err(e) = recorded {
            return block_error(format!("recording the prune: {e}"));
        }
        let _ = std::fs::remove_file(&path);
        b.remove(&height);
        BlockResponse::Pruned { height }
    }
}

/// Galaxy's Overlay service: bundle references in redb, by info-hash.
#[derive(Debug, Clone)]
pub struct OverlayStandIn {
    /// Address.
    pub addr: SocketAddr,
    db: Arc<redb::Database>,
}

impl OverlayStandIn {
    /// Serves on `addr` with its database at `db`.
    ///
    /// # Errors
    /// An unusable database or an address that cannot be bound.
    pub fn start(addr: &str, db: &std::path::Path, auth_token: &str) -> anyhow::Result<Self> {
        let db = Arc::new(redb::Database::create(db)?);
        {
            let w = db.begin_write()?;
            w.open_table(REFS)?;
            w.commit()?;
        }
        let l = TcpListener::bind(addr)?;
        let me = Self {
            addr: l.local_addr()?,
            db: Arc::clone(&db),
        };
        let token = auth_token.to_string();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (db, token) = (Arc::clone(&db), token.clone());
                std::thread::spawn(move || {
                    let mut s = s;
                    while let Ok(env) = read::<Envelope<OverlayRequest>>(&mut s) {
                        let reply = if env.auth_token == token {
                            overlay_answer(&db, env.request).unwrap_or_else(|e| {
                                OverlayResponse::Error {
                                    message: e.to_string(),
                                }
                            })
                        } else {
                            OverlayResponse::Error {
                                message: "auth_token refused".into(),
                            }
                        };
                        if write(&mut s, &reply).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(me)
    }

    /// Every reference held.
    ///
    /// # Errors
    /// Database errors.
    pub fn refs(&self) -> anyhow::Result<Vec<TorrentRef>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(REFS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (_, v) = e?;
            let (x, _) = bincode::serde::decode_from_slice(v.value(), bincode::config::standard())?;
            out.push(x);
        }
        Ok(out)
    }
}

fn overlay_answer(db: &redb::Database, q: OverlayRequest) -> anyhow::Result<OverlayResponse> {
    match q {
        OverlayRequest::Publish(r) => {
            // What a real overlay checks first: the info-hash is the torrent's.
            let m = torrent_core::metainfo::Metainfo::parse(
                &r.torrent,
                &torrent_core::bencode::Limits::default(),
            )
            .map_err(|e| anyhow::anyhow!("torrent: {e}"))?;
            if m.infohash_v1.map(|h| h.0) != Some(r.infohash_v1) {
                return Ok(OverlayResponse::Error {
                    message: "infohash_v1 is not the torrent's".into(),
                });
            }
            let bytes = bincode::serde::encode_to_vec(&r, bincode::config::standard())?;
            let w = db.begin_write()?;
            w.open_table(REFS)?
                .insert(&r.infohash_v1[..], bytes.as_slice())?;
            w.commit()?;
            Ok(OverlayResponse::Published)
        }
        OverlayRequest::Lookup { height } => {
            let r = db.begin_read()?;
            let t = r.open_table(REFS)?;
            let mut out = Vec::new();
            for e in t.iter()? {
                let (_, v) = e?;
                let (x, _): (TorrentRef, usize) =
                    bincode::serde::decode_from_slice(v.value(), bincode::config::standard())?;
                if (x.first..=x.last).contains(&height) {
                    out.push(x);
                }
            }
            Ok(OverlayResponse::Refs(out))
        }
    }
}

/// Galaxy's Auth service: a fixed table of operator tokens and their subjects, each allowed
/// the `torrent_service.admin` scope; counts the questions it answers.
#[derive(Debug, Clone)]
pub struct AuthStandIn {
    /// Address.
    pub addr: SocketAddr,
    checks: Arc<std::sync::atomic::AtomicU64>,
}

impl AuthStandIn {
    /// Serves on `addr`; `tokens` maps operator tokens to subjects; answers may be cached
    /// for `ttl_s` seconds.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub fn start(
        addr: &str,
        auth_token: &str,
        tokens: &[(&str, &str)],
        ttl_s: u32,
    ) -> std::io::Result<Self> {
        let l = TcpListener::bind(addr)?;
        let checks = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let me = Self {
            addr: l.local_addr()?,
            checks: Arc::clone(&checks),
        };
        let table: Arc<BTreeMap<String, String>> = Arc::new(
            tokens
                .iter()
                .map(|(t, s)| ((*t).to_string(), (*s).to_string()))
                .collect(),
        );
        let token = auth_token.to_string();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (table, token, checks) =
                    (Arc::clone(&table), token.clone(), Arc::clone(&checks));
                std::thread::spawn(move || {
                    let mut s = s;
                    while let Ok(env) = read::<Envelope<AuthRequest>>(&mut s) {
                        let reply = if env.auth_token != token {
                            AuthResponse::Error {
                                message: "auth_token refused".into(),
                            }
                        } else {
                            checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let AuthRequest::Check { token, scope } = env.request;
                            match table.get(&token) {
                                Some(subject) if scope == "torrent_service.admin" => {
                                    AuthResponse::Allowed {
                                        subject: subject.clone(),
                                        ttl_s,
                                    }
                                }
                                Some(_) => AuthResponse::Denied {
                                    reason: format!("scope {scope} not granted"),
                                },
                                None => AuthResponse::Denied {
                                    reason: "unknown token".into(),
                                },
                            }
                        };
                        if write(&mut s, &reply).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(me)
    }

    /// Questions answered so far.
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::Relaxed)
    }
}
