//! Galaxy adapters (DESIGN §10, §13): Galaxy's services speak length-prefixed bincode over
//! TCP. Each message is a little-endian `u32` length, then bincode 2 (standard config) of
//! a serde value; requests travel in an [`Envelope`] carrying `auth_token`.
//!
//! The client here is blocking (`std::net`), with a connect and I/O timeout, a frame limit
//! checked before anything is allocated, and retries with exponential backoff on transport
//! failures (refused connection, timeout, a dropped stream). An answer the service gives,
//! an error included, is never retried: retrying a refused broadcast would not change it.
//!
//! The message enums are the contract between this service and Galaxy's Transaction (50052),
//! Storage (50053), Block (50054), Overlay (50056), Validation (50057), Auth (50060) and
//! Alert (50061) services; `tests/` holds stand-ins speaking the same frames.
//!
//! Most calls are one request, one answer. A block is the exception: it can be gigabytes, so
//! the Block service answers [`BlockRequest::Block`] with a header frame, a run of chunk
//! frames (each under the frame limit) and an end frame, and [`RemoteBlock`] reads them as a
//! `Read` with bounded memory, reconnecting at the byte where a broken stream stopped.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A request with the caller's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Galaxy's shared operator token (Auth service, 50060).
    pub auth_token: String,
    /// The request.
    pub request: T,
}

/// Transaction service (50052) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxRequest {
    /// Validate and relay a raw transaction.
    Broadcast {
        /// Serialized transaction.
        raw_tx: Vec<u8>,
    },
    /// Where a transaction stands.
    Status {
        /// Txid, internal byte order.
        txid: [u8; 32],
    },
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxState {
    /// Not known to the node.
    Unknown,
    /// In the mempool.
    Mempool,
    /// Mined at this height.
    Mined {
        /// Block height.
        height: u64,
    },
}

/// Transaction service (50052) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxResponse {
    /// Accepted (or already known).
    Accepted {
        /// Txid, internal byte order.
        txid: [u8; 32],
    },
    /// Refused by policy or consensus.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Answer to [`TxRequest::Status`].
    Status {
        /// Txid.
        txid: [u8; 32],
        /// State.
        state: TxState,
    },
    /// The request was not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Storage service (50053) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageRequest {
    /// Unspent outputs locked by a script.
    Utxos {
        /// The locking script (the payout wallet's P2PKH script).
        script_pubkey: Vec<u8>,
    },
}

/// An unspent output as Storage reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalaxyUtxo {
    /// Txid, internal byte order.
    pub txid: [u8; 32],
    /// Output index.
    pub vout: u32,
    /// Value.
    pub satoshis: u64,
    /// Locking script.
    pub script_pubkey: Vec<u8>,
}

/// Storage service (50053) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageResponse {
    /// Answer to [`StorageRequest::Utxos`].
    Utxos(Vec<GalaxyUtxo>),
    /// The request was not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Validation service (50057) requests: the core's verification requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationRequest {
    /// Decide these proofs.
    Verify(Vec<torrent_core::verdict::VerifyRequest>),
}

/// Validation service (50057) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationResponse {
    /// One verdict per request, in order.
    Verdicts(Vec<torrent_core::verdict::Verdict>),
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Alert service (50061) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertRequest {
    /// An operator alert (the same events as the log and `torrent_service_alerts_total`).
    Raise {
        /// Which alert (`seeder_slashed`, `bundle_under_seeded`, `payout_unfunded`).
        kind: String,
        /// What happened.
        message: String,
        /// Unix milliseconds.
        at_ms: u64,
    },
}

/// Alert service (50061) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertResponse {
    /// Recorded.
    Ack,
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Block service (50054) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockRequest {
    /// The best chain's tip.
    Tip,
    /// The best chain's blocks in `from..=to` that still hold their data; the service may
    /// answer a prefix and say where to continue.
    Index {
        /// First height.
        from: u64,
        /// Last height.
        to: u64,
    },
    /// The block at `height` from byte `offset`: answered by [`BlockResponse::Begin`], then
    /// [`BlockResponse::Chunk`]s, then [`BlockResponse::End`].
    Block {
        /// Height on the best chain.
        height: u64,
        /// First byte wanted (non-zero when resuming a broken stream).
        offset: u64,
    },
    /// Drop the block's data (its header stays): the bundle holding it passed the prune
    /// gate. `hash` guards against a reorganisation since the bundle was written.
    Prune {
        /// Height.
        height: u64,
        /// Block hash, internal byte order.
        hash: [u8; 32],
    },
}

/// One block in an index answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// Height.
    pub height: u64,
    /// Block hash, internal byte order.
    pub hash: [u8; 32],
    /// Serialized size in bytes.
    pub size: u64,
}

/// Block service (50054) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockResponse {
    /// Answer to [`BlockRequest::Tip`].
    Tip {
        /// Height.
        height: u64,
        /// Hash, internal byte order.
        hash: [u8; 32],
    },
    /// Answer to [`BlockRequest::Index`], ascending.
    Index {
        /// Blocks with data.
        blocks: Vec<BlockInfo>,
        /// Where to continue, when the answer stopped short of `to`.
        next: Option<u64>,
    },
    /// First frame of a block stream.
    Begin {
        /// Height.
        height: u64,
        /// Hash, internal byte order.
        hash: [u8; 32],
        /// Whole block size (not the remainder after `offset`).
        size: u64,
    },
    /// The next bytes of the block.
    Chunk {
        /// Bytes.
        #[serde(with = "bytes")]
        data: Vec<u8>,
    },
    /// Last frame of a block stream.
    End,
    /// Answer to [`BlockRequest::Prune`].
    Pruned {
        /// Height.
        height: u64,
    },
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Serializes `Vec<u8>` as serde bytes: the same bincode encoding as a sequence of `u8`
/// (a varint length, then the bytes), without a visitor call per byte.
mod bytes {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    struct Visitor;

    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
            let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = a.next_element()? {
                v.push(b);
            }
            Ok(v)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(Visitor)
    }
}

/// A bundle's reference as the Overlay service (50056) carries it: enough for any peer to
/// join the swarm (the `.torrent` itself, so no metadata exchange is needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorrentRef {
    /// Bundle name (`bsv-<network>-<first>-<last>`).
    pub name: String,
    /// Network name.
    pub network: String,
    /// First height.
    pub first: u64,
    /// Last height.
    pub last: u64,
    /// v1 info-hash.
    pub infohash_v1: [u8; 20],
    /// Magnet link.
    pub magnet: String,
    /// The `.torrent` file.
    #[serde(with = "bytes")]
    pub torrent: Vec<u8>,
}

/// Overlay service (50056) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverlayRequest {
    /// Publish (or re-publish: idempotent by info-hash) a bundle's reference.
    Publish(TorrentRef),
    /// The references whose range holds `height`.
    Lookup {
        /// Height.
        height: u64,
    },
}

/// Overlay service (50056) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverlayResponse {
    /// Recorded.
    Published,
    /// Answer to [`OverlayRequest::Lookup`].
    Refs(Vec<TorrentRef>),
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Auth service (50060) requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthRequest {
    /// May the bearer of `token` do `scope`?
    Check {
        /// The token an operator presented.
        token: String,
        /// What they asked for (`torrent_service.admin`).
        scope: String,
    },
}

/// Auth service (50060) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthResponse {
    /// Allowed, for this long.
    Allowed {
        /// Who the token belongs to.
        subject: String,
        /// Seconds the answer may be cached.
        ttl_s: u32,
    },
    /// Refused.
    Denied {
        /// Why.
        reason: String,
    },
    /// Not understood or not allowed.
    Error {
        /// Why.
        message: String,
    },
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum GalaxyError {
    /// The service could not be reached or the stream broke, after every retry.
    #[error("{service} at {addr}: {message} (after {attempts} attempts)")]
    Unreachable {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// Last transport error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A frame over the limit, or bytes that do not decode.
    #[error("{service} at {addr}: {message}")]
    Protocol {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// What was wrong.
        message: String,
    },
}

/// Writes one frame.
///
/// # Errors
/// I/O errors, or a message over `max_frame` once encoded.
pub fn write_frame<T: Serialize>(
    w: &mut impl Write,
    msg: &T,
    max_frame: u32,
) -> std::io::Result<()> {
    let body = bincode::serde::encode_to_vec(msg, bincode::config::standard())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= max_frame)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes is over the {max_frame} byte limit",
                    body.len()
                ),
            )
        })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out)?;
    w.flush()
}

/// Reads one frame; a length over `max_frame` is refused before allocating.
///
/// # Errors
/// I/O errors ([`std::io::ErrorKind::InvalidData`] for an oversized or undecodable frame).
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max_frame: u32) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > max_frame {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the {max_frame} byte limit"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    let (v, used) = bincode::serde::decode_from_slice(&body, bincode::config::standard())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if used != body.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} trailing bytes after the message", body.len() - used),
        ));
    }
    Ok(v)
}

/// Connection settings for one Galaxy service.
#[derive(Debug, Clone)]
pub struct GalaxyClient {
    /// Service name, for messages.
    pub service: &'static str,
    /// `host:port`.
    pub addr: String,
    /// Sent with every request.
    pub auth_token: String,
    /// Largest frame accepted or sent.
    pub max_frame: u32,
    /// Connect, read and write timeout.
    pub timeout: Duration,
    /// Attempts on transport failure (at least 1).
    pub attempts: u32,
    /// First backoff; doubled after each failure.
    pub backoff: Duration,
}

impl GalaxyClient {
    /// Connects and sends `req` in its envelope; the caller reads the answer frames.
    ///
    /// # Errors
    /// Transport errors, or a request over the frame limit.
    pub fn send<Q: Serialize>(&self, req: &Q) -> std::io::Result<TcpStream> {
        let mut last = None;
        for sa in self.addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&sa, self.timeout) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    s.set_nodelay(true)?;
                    let env = Envelope {
                        auth_token: self.auth_token.clone(),
                        request: req,
                    };
                    write_frame(&mut s, &env, self.max_frame)?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
        }))
    }

    fn once<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> std::io::Result<A> {
        let mut s = self.send(req)?;
        read_frame(&mut s, self.max_frame)
    }

    /// One request, one answer; transport failures are retried with backoff.
    ///
    /// # Errors
    /// [`GalaxyError`].
    pub fn call<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> Result<A, GalaxyError> {
        let attempts = self.attempts.max(1);
        let mut wait = self.backoff;
        let mut message = String::new();
        for n in 1..=attempts {
            match self.once(req) {
                Ok(a) => return Ok(a),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(GalaxyError::Protocol {
                        service: self.service,
                        addr: self.addr.clone(),
                        message: e.to_string(),
                    });
                }
                Err(e) => {
                    message = e.to_string();
                    tracing::debug!(service = self.service, addr = %self.addr, attempt = n, "galaxy call failed: {e}");
                    if n < attempts {
                        std::thread::sleep(wait);
                        wait = wait.saturating_mul(2).min(Duration::from_secs(30));
                    }
                }
            }
        }
        Err(GalaxyError::Unreachable {
            service: self.service,
            addr: self.addr.clone(),
            message,
            attempts,
        })
    }
}

/// One block streamed from the Block service, as a reader of exactly its bytes.
///
/// Memory is one chunk. A transport failure mid-stream reconnects and asks again from the
/// byte reached, up to the client's attempts (counted afresh after every chunk that
/// arrives), with doubling backoff; the service's `Begin` must repeat the block's hash and
/// size each time, so a reorganisation between attempts is an error, never a spliced block.
#[derive(Debug)]
pub struct RemoteBlock {
    client: GalaxyClient,
    height: u64,
    hash: [u8; 32],
    size: u64,
    pos: u64,
    stream: Option<TcpStream>,
    chunk: Vec<u8>,
    at: usize,
    failures: u32,
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

impl RemoteBlock {
    /// A reader of the block at `height`, which the index said has `hash` and `size`.
    pub fn new(client: GalaxyClient, height: u64, hash: [u8; 32], size: u64) -> Self {
        Self {
            client,
            height,
            hash,
            size,
            pos: 0,
            stream: None,
            chunk: Vec::new(),
            at: 0,
            failures: 0,
        }
    }

    fn next_chunk(&mut self) -> std::io::Result<()> {
        let max = self.client.max_frame;
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let mut s = self.client.send(&BlockRequest::Block {
                    height: self.height,
                    offset: self.pos,
                })?;
                match read_frame::<BlockResponse>(&mut s, max)? {
                    BlockResponse::Begin { height, hash, size }
                        if height == self.height && hash == self.hash && size == self.size => {}
                    BlockResponse::Begin { .. } => {
                        return Err(invalid(format!(
                            "block {} is no longer the block indexed (reorganised?)",
                            self.height
                        )));
                    }
                    BlockResponse::Error { message } => {
                        return Err(invalid(format!("block {}: {message}", self.height)));
                    }
                    other => {
                        return Err(invalid(format!(
                            "block {}: unexpected answer {}",
                            self.height,
                            variant(&other)
                        )));
                    }
                }
                self.stream.insert(s)
            }
        };
        match read_frame::<BlockResponse>(stream, max)? {
            BlockResponse::Chunk { data }
                if !data.is_empty() && data.len() as u64 <= self.size - self.pos =>
            {
                self.chunk = data;
                self.at = 0;
                Ok(())
            }
            BlockResponse::Chunk { data } => Err(invalid(format!(
                "block {}: a chunk of {} bytes at byte {} of {}",
                self.height,
                data.len(),
                self.pos,
                self.size
            ))),
            BlockResponse::End => Err(invalid(format!(
                "block {} ended at byte {} of {}",
                self.height, self.pos, self.size
            ))),
            BlockResponse::Error { message } => {
                Err(invalid(format!("block {}: {message}", self.height)))
            }
            other => Err(invalid(format!(
                "block {}: unexpected answer {}",
                self.height,
                variant(&other)
            ))),
        }
    }
}

fn variant(r: &BlockResponse) -> &'static str {
    match r {
        BlockResponse::Tip { .. } => "Tip",
        BlockResponse::Index { .. } => "Index",
        BlockResponse::Begin { .. } => "Begin",
        BlockResponse::Chunk { .. } => "Chunk",
        BlockResponse::End => "End",
        BlockResponse::Pruned { .. } => "Pruned",
        BlockResponse::Error { .. } => "Error",
    }
}

impl Read for RemoteBlock {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at < self.chunk.len() {
                let n = out.len().min(self.chunk.len() - self.at);
                out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
                self.at += n;
                self.pos += n as u64;
                return Ok(n);
            }
            if self.pos >= self.size || out.is_empty() {
                return Ok(0);
            }
            match self.next_chunk() {
                Ok(()) => self.failures = 0,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(e),
                Err(e) => {
                    self.stream = None;
                    self.failures += 1;
                    if self.failures >= self.client.attempts.max(1) {
                        return Err(std::io::Error::new(
                            e.kind(),
                            format!(
                                "{} at {}: block {} at byte {}: {e} (after {} attempts)",
                                self.client.service,
                                self.client.addr,
                                self.height,
                                self.pos,
                                self.failures
                            ),
                        ));
                    }
                    tracing::debug!(
                        height = self.height,
                        pos = self.pos,
                        "block stream broke: {e}; resuming"
                    );
                    std::thread::sleep(
                        self.client
                            .backoff
                            .saturating_mul(1 << (self.failures - 1).min(7)),
                    );
                }
            }
        }
    }
}

/// The Galaxy clients the config describes.
#[derive(Debug, Clone)]
pub struct Galaxy {
    /// Transaction service.
    pub transaction: GalaxyClient,
    /// Storage service.
    pub storage: GalaxyClient,
    /// Validation service.
    pub validation: GalaxyClient,
    /// Alert service.
    pub alert: GalaxyClient,
    /// Block service.
    pub block: GalaxyClient,
    /// Overlay service.
    pub overlay: GalaxyClient,
    /// Auth service.
    pub auth: GalaxyClient,
}

impl Galaxy {
    /// Clients from the config's `galaxy_*` keys.
    pub fn from_config(c: &crate::config::Config) -> Self {
        let client = |service, port: u16| GalaxyClient {
            service,
            addr: format!("{}:{port}", c.galaxy_host),
            auth_token: c.galaxy_token.expose().to_string(),
            max_frame: c.galaxy_max_frame,
            timeout: Duration::from_millis(c.galaxy_timeout_ms),
            attempts: c.galaxy_attempts,
            backoff: Duration::from_millis(200),
        };
        Self {
            transaction: client("Transaction", c.galaxy_transaction_port),
            storage: client("Storage", c.galaxy_storage_port),
            validation: client("Validation", c.galaxy_validation_port),
            alert: client("Alert", c.galaxy_alert_port),
            block: client("Block", c.galaxy_block_port),
            overlay: client("Overlay", c.galaxy_overlay_port),
            auth: client("Auth", c.galaxy_auth_port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused_before_allocation() {
        let msg = Envelope {
            auth_token: "t".into(),
            request: TxRequest::Broadcast {
                raw_tx: vec![1, 2, 3],
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &msg, 1024).unwrap();
        assert_eq!(
            u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize,
            buf.len() - 4
        );
        let back: Envelope<TxRequest> = read_frame(&mut buf.as_slice(), 1024).unwrap();
        assert_eq!(back, msg);
        // A 4 GiB length is refused from its 4 bytes alone.
        let huge = [0xff, 0xff, 0xff, 0xff];
        let e = read_frame::<TxResponse>(&mut &huge[..], 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(write_frame(&mut Vec::new(), &msg, 4).is_err());
        // Garbage after a valid length: a decode error, not a panic.
        let mut junk = 3u32.to_le_bytes().to_vec();
        junk.extend_from_slice(&[0xfe, 0xfe, 0xfe]);
        assert!(read_frame::<TxResponse>(&mut junk.as_slice(), 1024).is_err());
    }

    #[test]
    fn chunks_encode_as_plain_byte_sequences() {
        // The stand-ins and Galaxy may declare chunks as `Vec<u8>`: same bytes on the wire.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        enum Plain {
            Tip {
                height: u64,
                hash: [u8; 32],
            },
            Index {
                blocks: Vec<BlockInfo>,
                next: Option<u64>,
            },
            Begin {
                height: u64,
                hash: [u8; 32],
                size: u64,
            },
            Chunk {
                data: Vec<u8>,
            },
        }
        let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let fast = BlockResponse::Chunk { data: data.clone() };
        let plain = Plain::Chunk { data };
        let cfg = bincode::config::standard();
        let a = bincode::serde::encode_to_vec(&fast, cfg).unwrap();
        assert_eq!(a, bincode::serde::encode_to_vec(&plain, cfg).unwrap());
        let (back, _): (BlockResponse, usize) = bincode::serde::decode_from_slice(&a, cfg).unwrap();
        assert_eq!(back, fast);
    }

    /// A Block service that answers the n-th connection's request with `script[n]`.
    fn fake_block_service(script: Vec<Vec<BlockResponse>>) -> GalaxyClient {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for (mut s, answers) in l.incoming().flatten().zip(script) {
                let _: Envelope<BlockRequest> = read_frame(&mut s, 1 << 20).unwrap();
                for a in answers {
                    write_frame(&mut s, &a, 1 << 20).unwrap();
                }
            }
        });
        GalaxyClient {
            service: "Block",
            addr,
            auth_token: String::new(),
            max_frame: 1 << 20,
            timeout: Duration::from_secs(2),
            attempts: 1,
            backoff: Duration::from_millis(1),
        }
    }

    #[test]
    fn a_block_stream_that_breaks_its_contract_is_an_error_not_a_block() {
        let begin = BlockResponse::Begin {
            height: 5,
            hash: [7; 32],
            size: 10,
        };
        let cases = [
            (
                vec![begin.clone(), BlockResponse::End],
                "ended at byte 0 of 10",
            ),
            (
                vec![begin.clone(), BlockResponse::Chunk { data: vec![0; 11] }],
                "a chunk of 11 bytes at byte 0 of 10",
            ),
            (
                vec![BlockResponse::Error {
                    message: "pruned".into(),
                }],
                "block 5: pruned",
            ),
            (
                vec![BlockResponse::Begin {
                    height: 5,
                    hash: [7; 32],
                    size: 11,
                }],
                "no longer the block indexed",
            ),
            (
                vec![BlockResponse::Pruned { height: 5 }],
                "unexpected answer Pruned",
            ),
        ];
        for (answers, want) in cases {
            let c = fake_block_service(vec![answers]);
            let e = RemoteBlock::new(c, 5, [7; 32], 10)
                .read_to_end(&mut Vec::new())
                .unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn a_confused_block_index_is_refused() {
        use crate::source::{BlockSource, SourceSpec};
        let info = |height| BlockInfo {
            height,
            hash: [1; 32],
            size: 100,
        };
        let tip = BlockResponse::Tip {
            height: 9,
            hash: [1; 32],
        };
        let cases = [
            (
                BlockResponse::Index {
                    blocks: vec![info(3), info(2)],
                    next: None,
                },
                "holds height 2 out of order",
            ),
            (
                BlockResponse::Index {
                    blocks: vec![info(12)],
                    next: None,
                },
                "holds height 12 out of order",
            ),
            (
                BlockResponse::Index {
                    blocks: vec![info(0)],
                    next: Some(0),
                },
                "index paging went from 0 to 0",
            ),
        ];
        for (index, want) in cases {
            let c = fake_block_service(vec![vec![tip.clone()], vec![index]]);
            let e = BlockSource::open(
                &SourceSpec::Galaxy,
                torrent_core::Network::Mainnet,
                Some(&c),
            )
            .unwrap_err();
            assert!(format!("{e:#}").contains(want), "{e:#} (wanted {want})");
        }
    }

    #[test]
    fn transport_failures_are_retried_then_named() {
        // A port with nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let c = GalaxyClient {
            service: "Transaction",
            addr: addr.clone(),
            auth_token: String::new(),
            max_frame: 1024,
            timeout: Duration::from_millis(200),
            attempts: 3,
            backoff: Duration::from_millis(10),
        };
        let e = c
            .call::<_, TxResponse>(&TxRequest::Status { txid: [0; 32] })
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Transaction")
                && text.contains(&addr)
                && text.contains("after 3 attempts"),
            "{text}"
        );
    }
}
