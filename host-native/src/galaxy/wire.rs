//! The messages of the framed protocol: one `u32` little-endian length, then bincode 2
//! (standard config) of a serde value; requests in an [`Envelope`] with the caller's token.
//! These types are the contract with Galaxy's services and with the stand-ins in `tests/`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

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
