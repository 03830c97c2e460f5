//! The messages of the framed protocol this service and Galaxy's services speak (DESIGN
//! §10, §13): each frame is a little-endian `u32` length, then bincode 2 (standard config) of
//! one of these values; requests travel in an [`Envelope`] carrying the caller's token.
//!
//! They live in the core because they are a wire format, like the peer wire and the tracker
//! codecs: the host's adapters and the test stand-ins use these same types (so neither can
//! drift from the other), and `tests/vectors/galaxy/` pins their bytes. The host owns the
//! sockets; [`encode_frame`] and [`decode_body`] are the bytes on either side of them.

pub mod native;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

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
    Verify(Vec<crate::verdict::VerifyRequest>),
}

/// Validation service (50057) responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationResponse {
    /// One verdict per request, in order.
    Verdicts(Vec<crate::verdict::Verdict>),
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
    use alloc::vec::Vec;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    struct Visitor;

    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
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

/// Why bytes are not a frame of the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message over the frame limit once encoded, or a length prefix over it.
    #[error("frame of {len} bytes is over the {max} byte limit")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// Bytes that do not decode as the expected message.
    #[error("{0}")]
    Decode(String),
    /// Bytes left after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

/// One frame: the length prefix and the encoded message.
///
/// # Errors
/// [`FrameError::TooLarge`] past `max_frame`, [`FrameError::Decode`] for a value serde
/// cannot encode.
pub fn encode_frame<T: Serialize>(msg: &T, max_frame: u32) -> Result<Vec<u8>, FrameError> {
    let body = bincode::serde::encode_to_vec(msg, bincode::config::standard())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= max_frame)
        .ok_or(FrameError::TooLarge {
            len: body.len() as u64,
            max: max_frame,
        })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks a frame's length prefix before anything is allocated for its body.
///
/// # Errors
/// [`FrameError::TooLarge`].
pub fn body_len(prefix: [u8; 4], max_frame: u32) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix);
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            max: max_frame,
        });
    }
    Ok(len as usize)
}

/// Decodes a frame's body: exactly one message, nothing after it.
///
/// # Errors
/// [`FrameError::Decode`] or [`FrameError::Trailing`].
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (v, used) = bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map_err(|e| FrameError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Trailing(body.len() - used));
    }
    Ok(v)
}
