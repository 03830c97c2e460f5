//! Merkle proofs of transaction inclusion: BRC-74 BUMP (primary) and TSC (second format).
//!
//! Both are built from a [`MerkleTree`](crate::bsv::merkle::MerkleTree) and verified
//! against a header *and the block's transaction count*. The count is not optional: without
//! it a proof for an inner node (64 bytes, like a 64-byte transaction) one level up, or a
//! proof padded with duplicate levels, cannot be told apart from a real one. With it the
//! verifier knows the exact depth, the width of every level and so where a duplicate is
//! allowed.

pub mod bump;
pub mod tsc;

use crate::bsv::hash::{MerkleRoot, Txid};

/// Why a proof does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A block always has at least one transaction.
    #[error("transaction count must be at least 1")]
    ZeroTxCount,
    /// The transaction's position is not below the block's transaction count.
    #[error("index {index} is not below the block's {tx_count} transactions")]
    IndexOutOfRange {
        /// The claimed index.
        index: u64,
        /// The block's transaction count.
        tx_count: u64,
    },
    /// The path length does not match the tree height implied by the transaction count.
    #[error("proof has {got} levels, a block of {tx_count} transactions needs {expected}")]
    DepthMismatch {
        /// Levels required.
        expected: u64,
        /// Levels present.
        got: u64,
        /// The block's transaction count.
        tx_count: u64,
    },
    /// The txid is not a leaf of the proof.
    #[error("txid {txid} is not in the proof")]
    TxidNotInProof {
        /// The txid asked about.
        txid: Txid,
    },
    /// The txid is in the proof only as a sibling hash, not flagged as a proven txid.
    #[error("txid {txid} is in the proof but not flagged as a proven txid")]
    TxidNotFlagged {
        /// The txid asked about.
        txid: Txid,
    },
    /// The proof is for another block height.
    #[error("proof is for block height {got}, expected {expected}")]
    HeightMismatch {
        /// Height of the block checked against.
        expected: u64,
        /// Height the proof claims.
        got: u64,
    },
    /// A sibling needed by the path is neither given nor computable.
    #[error("missing node at level {level}, offset {offset}")]
    MissingNode {
        /// Tree level (0 = txids).
        level: u32,
        /// Offset within the level.
        offset: u64,
    },
    /// A duplicate marker where the tree has a real node, or a real node where the tree
    /// duplicates.
    #[error("duplicate marker not allowed at level {level}, offset {offset}")]
    MisplacedDuplicate {
        /// Tree level.
        level: u32,
        /// Offset within the level.
        offset: u64,
    },
    /// A node beyond the width of its level.
    #[error("offset {offset} is outside level {level}")]
    OffsetOutOfRange {
        /// Tree level.
        level: u32,
        /// Offset within the level.
        offset: u64,
    },
    /// Two equal sibling hashes (CVE-2012-2459 shape).
    #[error("equal sibling hashes at level {level}, offset {offset}")]
    MutatedPair {
        /// Tree level.
        level: u32,
        /// Offset of the left node.
        offset: u64,
    },
    /// A given node disagrees with the one computed from the level below.
    #[error("node at level {level}, offset {offset} contradicts the nodes below it")]
    Inconsistent {
        /// Tree level.
        level: u32,
        /// Offset within the level.
        offset: u64,
    },
    /// The proof's target (block hash, header or merkle root) is not the header's.
    #[error("proof target does not match the header")]
    TargetMismatch,
    /// The computed root is not the header's merkle root.
    #[error("computed merkle root {computed} does not match {expected}")]
    RootMismatch {
        /// The header's merkle root.
        expected: MerkleRoot,
        /// The root the proof hashes to.
        computed: MerkleRoot,
    },
}

/// Checks `index` and `tx_count` and returns the number of hashing steps.
pub(crate) fn check_position(index: u64, tx_count: u64) -> Result<u32, ProofError> {
    if tx_count == 0 {
        return Err(ProofError::ZeroTxCount);
    }
    if index >= tx_count {
        return Err(ProofError::IndexOutOfRange { index, tx_count });
    }
    Ok(crate::bsv::merkle::tree_height(tx_count))
}
