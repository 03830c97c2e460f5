//! What a proof request gets: the formats asked for, the answer, and the typed failure that
//! each transport maps to its own status (gRPC in `rpc::grpc`, HTTP in `rpc::json`).

use serde::Serialize;
use torrent_core::Txid;

/// Why a proof could not be given; each maps to one gRPC status and one HTTP status.
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

    /// HTTP status code.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::NotFound(_) => 404,
            Self::Busy(_) => 429,
            Self::Unavailable(_) => 503,
            Self::Timeout(_) => 504,
            Self::Internal(_) => 500,
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

/// Which proof formats to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Formats {
    /// BUMP and TSC.
    All,
    /// BUMP only.
    Bump,
    /// TSC only.
    Tsc,
}

impl Formats {
    /// Parses `bump`, `tsc`, `json`/`all` (or nothing).
    ///
    /// # Errors
    /// Another word.
    pub(crate) fn parse(s: Option<&str>) -> Result<Self, ProofFailure> {
        match s.unwrap_or("all") {
            "all" | "json" | "" => Ok(Self::All),
            "bump" => Ok(Self::Bump),
            "tsc" => Ok(Self::Tsc),
            other => Err(ProofFailure::Invalid(format!(
                "format {other:?}: use bump, tsc or json"
            ))),
        }
    }
}

/// A proof with everything a light client needs to check it (DESIGN §12 JSON shape).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ProofAnswer {
    /// Display hex.
    pub txid: String,
    /// Block height.
    pub height: u64,
    /// Block hash, display hex.
    pub block_hash: String,
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
    /// The bundle's v1 info-hash.
    pub infohash_v1: String,
    /// Bundle name.
    pub bundle: String,
    /// Txid file inside the bundle.
    pub txid_file: String,
    /// Microseconds spent.
    pub elapsed_us: u64,
    /// `cache`, `local`, `swarm` or `seeder`.
    pub source: &'static str,
}

fn as_hex<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&torrent_core::hex::encode(v))
}

/// Parses a display-hex txid.
///
/// # Errors
/// Anything but 64 hex digits.
pub(crate) fn parse_txid(s: &str) -> Result<Txid, ProofFailure> {
    let s = s.trim();
    if s.len() != 64 {
        return Err(ProofFailure::Invalid(format!(
            "txid must be 64 hex digits, got {} characters",
            s.len()
        )));
    }
    s.parse::<Txid>()
        .map_err(|_| ProofFailure::Invalid(format!("txid {s:?} is not hex")))
}
