//! The one verification every host runs (DESIGN §13): natively in the service, inside the
//! wasmtime sandbox (through `torrent_wasm_guest`), and in the browser (`web_spv`). The
//! request and the verdict are plain serde types so that the sandbox can carry them as
//! bincode across the wasm boundary; the decision is [`verify`], the same code everywhere.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::proof::bump::Bump;
use crate::proof::tsc::TscProof;
use crate::{Header, Txid};

/// Which proof format the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProofFormat {
    /// BRC-74 BUMP, binary.
    Bump,
    /// TSC, binary.
    Tsc,
}

/// Everything needed to decide whether a proof shows a transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyRequest {
    /// Format of `proof`.
    pub format: ProofFormat,
    /// The block's height (a BUMP names its block by height).
    pub height: u64,
    /// The block's transaction count (fixes the tree's shape).
    pub tx_count: u64,
    /// The block's 80-byte header, trusted by the caller.
    pub header: Vec<u8>,
    /// The transaction, internal byte order.
    pub txid: [u8; 32],
    /// The proof bytes.
    pub proof: Vec<u8>,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// The proof shows the transaction at `index` of the block.
    Valid {
        /// Position of the transaction.
        index: u64,
    },
    /// Well formed, but it does not prove this transaction in this block.
    Invalid {
        /// Why.
        reason: String,
    },
    /// The request or the proof cannot be parsed.
    Malformed {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// Whether the proof holds.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// Decides `req`. Pure: no I/O, no clock, no randomness, so the three hosts agree.
pub fn verify(req: &VerifyRequest) -> Verdict {
    let Ok(header) = Header::decode(&req.header) else {
        return Verdict::Malformed {
            reason: format!("header is {} bytes, not 80", req.header.len()),
        };
    };
    let txid = Txid::from_byte_array(req.txid);
    match req.format {
        ProofFormat::Bump => match Bump::decode(&req.proof) {
            Ok(b) => match b.verify(&txid, req.height, req.tx_count, &header.merkle_root) {
                Ok(index) => Verdict::Valid { index },
                Err(e) => Verdict::Invalid {
                    reason: format!("{e}"),
                },
            },
            Err(e) => Verdict::Malformed {
                reason: format!("BUMP: {e}"),
            },
        },
        ProofFormat::Tsc => match TscProof::decode(&req.proof) {
            Ok(t) => match t.verify(&header, req.tx_count) {
                Ok(proven) if proven == txid => Verdict::Valid { index: t.index },
                Ok(proven) => Verdict::Invalid {
                    reason: format!("the proof is for {proven}, not {txid}"),
                },
                Err(e) => Verdict::Invalid {
                    reason: format!("{e}"),
                },
            },
            Err(e) => Verdict::Malformed {
                reason: format!("TSC: {e}"),
            },
        },
    }
}

/// Decides every request of a batch, in order.
pub fn verify_all(reqs: &[VerifyRequest]) -> Vec<Verdict> {
    reqs.iter().map(verify).collect()
}
