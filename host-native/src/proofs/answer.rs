//! What a proof request gets: the formats asked for, the answer, and the typed failure that
//! each transport maps to its own status (gRPC in `rpc::grpc`, HTTP in `rpc::json`).

use std::time::Instant;

use serde::Serialize;
use torrent_core::metainfo::InfoHashV1;
use torrent_core::verdict::ProofFormat;
use torrent_core::{BlockHash, Header, Txid};

use crate::store::HeaderRecord;

/// Why a proof could not be given. Each transport maps it once: `rpc::grpc` to a gRPC status,
/// `rpc::json` to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofFailure {
    /// Malformed input.
    Invalid(String),
    /// Not in any offloaded block.
    NotFound(String),
    /// Too many requests in flight.
    Busy(String),
    /// The data is neither local nor obtainable from the swarm right now.
    Unavailable(String),
    /// The request's deadline passed before an answer was ready.
    Timeout(String),
    /// Damaged local data or another internal error.
    Internal(String),
}

impl ProofFailure {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m)
            | Self::NotFound(m)
            | Self::Busy(m)
            | Self::Unavailable(m)
            | Self::Timeout(m)
            | Self::Internal(m) => m,
        }
    }

    /// What a client is told: the message, except for an internal error, whose detail
    /// (paths, database errors) goes to the log instead (DESIGN §16).
    pub fn public_message(&self) -> &str {
        match self {
            Self::Internal(m) => {
                tracing::error!("proof request failed: {m}");
                "internal error; the service log has the details"
            }
            other => other.message(),
        }
    }

    /// Metrics label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not_found",
            Self::Busy(_) => "busy",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout(_) => "timeout",
            Self::Internal(_) => "error",
        }
    }
}

/// Which of the core's proof formats a request wants: both, unless it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Formats(Option<ProofFormat>);

impl Formats {
    /// BUMP and TSC.
    pub(crate) const BOTH: Self = Self(None);

    /// Only `f`.
    pub(crate) fn only(f: ProofFormat) -> Self {
        Self(Some(f))
    }

    /// Whether `f` is wanted.
    pub(crate) fn wants(self, f: ProofFormat) -> bool {
        self.0.is_none_or(|only| only == f)
    }

    /// The one format wanted, unless both are.
    pub(crate) fn single(self) -> Option<ProofFormat> {
        self.0
    }

    /// Parses `bump`, `tsc`, `json`/`all` (or nothing: both).
    ///
    /// # Errors
    /// Another word.
    pub(crate) fn parse(s: Option<&str>) -> Result<Self, ProofFailure> {
        match s.unwrap_or("all") {
            "all" | "json" | "" => Ok(Self::BOTH),
            "bump" => Ok(Self::only(ProofFormat::Bump)),
            "tsc" => Ok(Self::only(ProofFormat::Tsc)),
            other => Err(ProofFailure::Invalid(format!(
                "format {other:?}: use bump, tsc or json"
            ))),
        }
    }
}

impl std::str::FromStr for Formats {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(Some(s)).map_err(|e| e.message().to_string())
    }
}

/// A proof with everything a light client needs to check it (DESIGN §12 JSON shape).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProofAnswer {
    /// The transaction (display hex in JSON).
    pub txid: Txid,
    /// Block height.
    pub height: u64,
    /// Block hash (display hex in JSON).
    pub block_hash: BlockHash,
    /// Transactions in the block.
    pub tx_count: u64,
    /// Position of the transaction.
    pub index: u64,
    /// The 80-byte header (hex in JSON).
    #[serde(serialize_with = "as_hex")]
    pub header: Vec<u8>,
    /// BRC-74 BUMP (hex in JSON; empty when not asked for).
    #[serde(serialize_with = "as_hex")]
    pub bump: Vec<u8>,
    /// TSC proof as JSON, written as is (null when not asked for).
    pub tsc: Option<Box<serde_json::value::RawValue>>,
    /// The bundle's v1 info-hash (hex in JSON).
    pub infohash_v1: InfoHashV1,
    /// Bundle name.
    pub bundle: String,
    /// Txid file inside the bundle.
    pub txid_file: String,
    /// Microseconds spent.
    pub elapsed_us: u64,
    /// Where the data came from.
    pub source: Source,
    /// Other blocks holding the same txid (BIP 30), whose proofs a request naming their
    /// height gets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_heights: Vec<u64>,
}

/// What a client asks for: a transaction's proof in some formats, in one block when it
/// names one (a txid in two blocks, BIP 30), else in the highest block holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProofRequest {
    /// The transaction.
    pub txid: Txid,
    /// The block, if named.
    pub height: Option<u64>,
    /// The formats.
    pub formats: Formats,
}

impl ProofAnswer {
    /// The answer for `txid`, transaction `index` of the block at `height` that `rec` and
    /// `header` describe, asked at `started`, without proofs yet (the caller sets `bump`
    /// and `tsc` to the formats asked for).
    pub(crate) fn new(
        txid: Txid,
        height: u64,
        index: u64,
        rec: &HeaderRecord,
        header: &Header,
        started: Instant,
        source: Source,
    ) -> Self {
        Self {
            txid,
            height,
            block_hash: header.block_hash(),
            tx_count: rec.tx_count,
            index,
            header: rec.header.clone(),
            bump: Vec::new(),
            tsc: None,
            infohash_v1: rec.infohash_v1,
            bundle: rec.bundle.clone(),
            txid_file: rec.txid_file.clone(),
            elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            source,
            other_heights: Vec::new(),
        }
    }
}

fn as_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&torrent_core::hex::encode(v))
}

/// Where a proof's data came from (the `source` field of every answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// A block tree already in memory.
    Cache,
    /// The block's txid file on this machine.
    Local,
    /// The txid file, fetched from the swarm for this request.
    Swarm,
    /// A registered seeder's proof server (verified here).
    Seeder,
}

impl Source {
    /// The word clients see.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Local => "local",
            Self::Swarm => "swarm",
            Self::Seeder => "seeder",
        }
    }
}

/// Parses a display-hex txid: exactly 64 hex digits, nothing around them (a txid with
/// spaces is a client's bug to report, not a match).
///
/// # Errors
/// Anything but 64 hex digits.
pub(crate) fn parse_txid(s: &str) -> Result<Txid, ProofFailure> {
    if s.trim() != s {
        return Err(ProofFailure::Invalid(format!(
            "txid {s:?} has whitespace around it"
        )));
    }
    if s.len() != 64 {
        return Err(ProofFailure::Invalid(format!(
            "txid must be 64 hex digits, got {} characters",
            s.len()
        )));
    }
    s.parse::<Txid>()
        .map_err(|_| ProofFailure::Invalid(format!("txid {s:?} is not hex")))
}
