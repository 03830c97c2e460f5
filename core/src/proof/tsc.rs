//! TSC merkle proofs (the Technical Standards Committee "Merkle proof standardised format",
//! BRC-10), binary and JSON, single branch proofs.
//!
//! Binary: `flags` byte, `index` CompactSize, the transaction (CompactSize length + raw
//! bytes when flag bit 0 is set) or its 32-byte txid, the target (32-byte block hash or
//! merkle root, or the 80-byte header, chosen by flag bits 1–2), a CompactSize node count
//! and the nodes, each a type byte (0 = 32-byte hash, 1 = duplicate of the working hash).
//! Hashes are in internal byte order. JSON uses display-order hex, `"*"` for a duplicate
//! node and `targetType` `"hash"` (the default), `"header"` or `"merkleRoot"` (the node's
//! RPC spells it `"merkleroot"`; both are read). Flag bits 3 (tree proofs) and 4
//! (composite proofs) are defined by the standard but used by no implementation; they are
//! rejected with a typed error, and compound proofs use BUMP instead.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ProofError, check_position};
use crate::bsv::hash::{BlockHash, MerkleNode, MerkleRoot, Txid};
use crate::bsv::header::Header;
use crate::bsv::merkle::{MerkleNodes, level_width};
use crate::bsv::tx::txid_of;
use crate::encode::{DecodeError, Reader, write_compact_size};
use crate::hex;

/// Most nodes a branch can have (a tree of 2^64 leaves).
pub const MAX_NODES: u64 = 64;

const FLAG_FULL_TX: u8 = 0x01;
const TARGET_MASK: u8 = 0x06;
const TARGET_HEADER: u8 = 0x02;
const TARGET_MERKLE_ROOT: u8 = 0x04;
const FLAG_TREE: u8 = 0x08;
const FLAG_COMPOSITE: u8 = 0x10;

/// Why bytes or JSON are not a well-formed TSC proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TscError {
    /// Bad binary encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Flag bits this implementation does not accept (tree, composite, unknown, or target
    /// type 3).
    #[error("unsupported flags {flags:#04x}")]
    UnsupportedFlags {
        /// The flags byte.
        flags: u8,
    },
    /// A node type other than hash (0) or duplicate (1).
    #[error("unsupported node type {kind} at node {index}")]
    UnsupportedNode {
        /// Position in the node list.
        index: usize,
        /// The type byte.
        kind: u8,
    },
    /// JSON that does not parse or lacks a field.
    #[error("invalid TSC JSON at line {line}, column {column}")]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A JSON field with a bad value.
    #[error("invalid TSC JSON field {field}")]
    JsonField {
        /// The field's name.
        field: &'static str,
    },
}

/// The transaction a proof is about: the whole transaction or only its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOrId {
    /// Only the txid.
    Txid(Txid),
    /// The raw transaction.
    Tx(Vec<u8>),
}

impl TxOrId {
    /// Returns the txid, hashing the transaction when it is given whole.
    pub fn txid(&self) -> Txid {
        match self {
            TxOrId::Txid(t) => *t,
            TxOrId::Tx(raw) => txid_of(raw),
        }
    }
}

/// What the proof's root is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscTarget {
    /// The block hash (the verifier looks the header up).
    BlockHash(BlockHash),
    /// The full header.
    Header(Header),
    /// The merkle root.
    MerkleRoot(MerkleRoot),
}

/// A branch node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscNode {
    /// A sibling hash.
    Hash(MerkleNode),
    /// The working hash pairs with itself (`"*"` in JSON).
    Duplicate,
}

/// A TSC merkle proof of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TscProof {
    /// Position of the transaction in the block.
    pub index: u64,
    /// The transaction or its id.
    pub tx_or_id: TxOrId,
    /// The target.
    pub target: TscTarget,
    /// Sibling nodes from the leaves up.
    pub nodes: Vec<TscNode>,
}

/// Which kind of target to put in a built proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Block hash.
    BlockHash,
    /// Header.
    Header,
    /// Merkle root.
    MerkleRoot,
}

impl TscProof {
    /// Builds the proof of the transaction at `index`, targeting `header` in the chosen way.
    /// `raw_tx`, when given, is embedded instead of the txid.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`].
    pub fn build(
        tree: &impl MerkleNodes,
        index: u64,
        header: &Header,
        kind: TargetKind,
        raw_tx: Option<Vec<u8>>,
    ) -> Result<Self, ProofError> {
        let n = tree.leaf_count();
        let height = check_position(index, n)?;
        let txid = tree
            .txid(index)
            .ok_or(ProofError::IndexOutOfRange { index, tx_count: n })?;
        let mut nodes = Vec::with_capacity(height as usize);
        for level in 0..height {
            let sib = (index >> level) ^ 1;
            nodes.push(match tree.node(level, sib) {
                Some(h) => TscNode::Hash(h),
                None => TscNode::Duplicate,
            });
        }
        let target = match kind {
            TargetKind::BlockHash => TscTarget::BlockHash(header.block_hash()),
            TargetKind::Header => TscTarget::Header(*header),
            TargetKind::MerkleRoot => TscTarget::MerkleRoot(header.merkle_root),
        };
        Ok(Self {
            index,
            tx_or_id: raw_tx.map_or(TxOrId::Txid(txid), TxOrId::Tx),
            target,
            nodes,
        })
    }

    /// Returns the merkle root the branch gives, without checking depth or duplicates.
    pub fn compute_root(&self) -> MerkleRoot {
        let mut cur = MerkleNode::from(self.tx_or_id.txid());
        for (level, node) in self.nodes.iter().enumerate() {
            let pos = self.index.checked_shr(level as u32).unwrap_or(0);
            cur = match node {
                TscNode::Duplicate => MerkleNode::combine(&cur, &cur),
                TscNode::Hash(s) if pos.is_multiple_of(2) => MerkleNode::combine(&cur, s),
                TscNode::Hash(s) => MerkleNode::combine(s, &cur),
            };
        }
        cur.into()
    }

    /// Verifies the proof against `header` for a block of `tx_count` transactions; returns
    /// the txid proven.
    ///
    /// # Errors
    /// [`ProofError`] explaining the first thing that does not hold.
    pub fn verify(&self, header: &Header, tx_count: u64) -> Result<Txid, ProofError> {
        let target_ok = match &self.target {
            TscTarget::BlockHash(h) => *h == header.block_hash(),
            TscTarget::Header(h) => h == header,
            TscTarget::MerkleRoot(r) => *r == header.merkle_root,
        };
        if !target_ok {
            return Err(ProofError::TargetMismatch);
        }
        let height = check_position(self.index, tx_count)?;
        if self.nodes.len() as u64 != u64::from(height) {
            return Err(ProofError::DepthMismatch {
                expected: u64::from(height),
                got: self.nodes.len() as u64,
                tx_count,
            });
        }
        let txid = self.tx_or_id.txid();
        let mut cur = MerkleNode::from(txid);
        for (level, node) in self.nodes.iter().enumerate() {
            let level = level as u32;
            let pos = self.index >> level;
            let width = level_width(tx_count, level);
            // The tree duplicates exactly when `pos` is the last node of an odd level.
            let must_duplicate = pos.is_multiple_of(2) && pos + 1 == width;
            cur = match node {
                TscNode::Duplicate if must_duplicate => MerkleNode::combine(&cur, &cur),
                TscNode::Duplicate => {
                    return Err(ProofError::MisplacedDuplicate {
                        level,
                        offset: pos ^ 1,
                    });
                }
                TscNode::Hash(_) if must_duplicate => {
                    return Err(ProofError::OffsetOutOfRange {
                        level,
                        offset: pos ^ 1,
                    });
                }
                TscNode::Hash(s) if *s == cur => {
                    return Err(ProofError::MutatedPair {
                        level,
                        offset: pos & !1,
                    });
                }
                TscNode::Hash(s) if pos.is_multiple_of(2) => MerkleNode::combine(&cur, s),
                TscNode::Hash(s) => MerkleNode::combine(s, &cur),
            };
        }
        let computed = MerkleRoot::from(cur);
        if computed != header.merkle_root {
            return Err(ProofError::RootMismatch {
                expected: header.merkle_root,
                computed,
            });
        }
        Ok(txid)
    }

    /// Decodes the binary form (exactly).
    ///
    /// # Errors
    /// [`TscError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, TscError> {
        Self::decode_with_limit(bytes, u64::MAX)
    }

    /// Decodes the binary form, refusing an embedded transaction above `max_tx_len` bytes.
    ///
    /// # Errors
    /// [`TscError`].
    pub fn decode_with_limit(bytes: &[u8], max_tx_len: u64) -> Result<Self, TscError> {
        let mut r = Reader::new(bytes);
        let flags = r.u8()?;
        if flags & !(FLAG_FULL_TX | TARGET_MASK) != 0 || flags & TARGET_MASK == TARGET_MASK {
            let _ = (FLAG_TREE, FLAG_COMPOSITE);
            return Err(TscError::UnsupportedFlags { flags });
        }
        let index = r.compact_size()?;
        let tx_or_id = if flags & FLAG_FULL_TX != 0 {
            TxOrId::Tx(r.var_bytes("transaction length", max_tx_len)?.to_vec())
        } else {
            TxOrId::Txid(Txid::from_byte_array(r.array()?))
        };
        let target = match flags & TARGET_MASK {
            TARGET_HEADER => TscTarget::Header(Header::read(&mut r)?),
            TARGET_MERKLE_ROOT => TscTarget::MerkleRoot(MerkleRoot::from_byte_array(r.array()?)),
            _ => TscTarget::BlockHash(BlockHash::from_byte_array(r.array()?)),
        };
        let count = r.compact_size_max("node count", MAX_NODES)?;
        let mut nodes = Vec::with_capacity(count as usize);
        for index in 0..count as usize {
            nodes.push(match r.u8()? {
                0 => TscNode::Hash(MerkleNode::from_byte_array(r.array()?)),
                1 => TscNode::Duplicate,
                kind => return Err(TscError::UnsupportedNode { index, kind }),
            });
        }
        r.finish()?;
        Ok(Self {
            index,
            tx_or_id,
            target,
            nodes,
        })
    }

    /// Returns the binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = 0u8;
        if matches!(self.tx_or_id, TxOrId::Tx(_)) {
            flags |= FLAG_FULL_TX;
        }
        flags |= match self.target {
            TscTarget::BlockHash(_) => 0,
            TscTarget::Header(_) => TARGET_HEADER,
            TscTarget::MerkleRoot(_) => TARGET_MERKLE_ROOT,
        };
        let mut out = alloc::vec![flags];
        write_compact_size(&mut out, self.index);
        match &self.tx_or_id {
            TxOrId::Txid(t) => out.extend_from_slice(t.as_byte_array()),
            TxOrId::Tx(raw) => {
                write_compact_size(&mut out, raw.len() as u64);
                out.extend_from_slice(raw);
            }
        }
        match &self.target {
            TscTarget::BlockHash(h) => out.extend_from_slice(h.as_byte_array()),
            TscTarget::Header(h) => out.extend_from_slice(&h.to_bytes()),
            TscTarget::MerkleRoot(m) => out.extend_from_slice(m.as_byte_array()),
        }
        write_compact_size(&mut out, self.nodes.len() as u64);
        for n in &self.nodes {
            match n {
                TscNode::Hash(h) => {
                    out.push(0);
                    out.extend_from_slice(h.as_byte_array());
                }
                TscNode::Duplicate => out.push(1),
            }
        }
        out
    }

    fn to_json_value(&self) -> TscJson {
        let (target_type, target) = match &self.target {
            TscTarget::BlockHash(h) => ("hash", alloc::format!("{h}")),
            TscTarget::Header(h) => ("header", hex::encode(&h.to_bytes())),
            TscTarget::MerkleRoot(m) => ("merkleRoot", alloc::format!("{m}")),
        };
        TscJson {
            index: self.index,
            tx_or_id: match &self.tx_or_id {
                TxOrId::Txid(t) => alloc::format!("{t}"),
                TxOrId::Tx(raw) => hex::encode(raw),
            },
            target_type: Some(String::from(target_type)),
            target,
            nodes: self
                .nodes
                .iter()
                .map(|n| match n {
                    TscNode::Hash(h) => alloc::format!("{h}"),
                    TscNode::Duplicate => String::from("*"),
                })
                .collect(),
            proof_type: None,
            composite: None,
        }
    }

    /// Returns the JSON form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_json_value()).unwrap_or_default()
    }

    /// Parses the JSON form.
    ///
    /// # Errors
    /// [`TscError`].
    pub fn from_json(s: &str) -> Result<Self, TscError> {
        let j: TscJson = serde_json::from_str(s).map_err(|e| TscError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        Self::from_json_value(j)
    }

    fn from_json_value(j: TscJson) -> Result<Self, TscError> {
        if j.proof_type.as_deref().is_some_and(|p| p != "branch") {
            return Err(TscError::JsonField { field: "proofType" });
        }
        if j.composite == Some(true) {
            return Err(TscError::JsonField { field: "composite" });
        }
        let bad = |field| TscError::JsonField { field };
        // A 64-digit txOrId is a txid; anything longer is a raw transaction (a transaction
        // is at least 10 bytes, so the two never collide).
        let tx_or_id = if j.tx_or_id.len() == 64 {
            TxOrId::Txid(Txid::from_hex(&j.tx_or_id).map_err(|_| bad("txOrId"))?)
        } else {
            TxOrId::Tx(hex::decode(&j.tx_or_id).map_err(|_| bad("txOrId"))?)
        };
        let target = match j.target_type.as_deref().unwrap_or("hash") {
            "hash" => {
                TscTarget::BlockHash(BlockHash::from_hex(&j.target).map_err(|_| bad("target"))?)
            }
            "merkleRoot" | "merkleroot" => {
                TscTarget::MerkleRoot(MerkleRoot::from_hex(&j.target).map_err(|_| bad("target"))?)
            }
            "header" => {
                let b = hex::decode_array::<80>(&j.target).map_err(|_| bad("target"))?;
                TscTarget::Header(Header::from_bytes(&b))
            }
            _ => return Err(bad("targetType")),
        };
        if j.nodes.len() as u64 > MAX_NODES {
            return Err(bad("nodes"));
        }
        let nodes = j
            .nodes
            .iter()
            .map(|n| match n.as_str() {
                "*" => Ok(TscNode::Duplicate),
                h => MerkleNode::from_hex(h)
                    .map(TscNode::Hash)
                    .map_err(|_| bad("nodes")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            index: j.index,
            tx_or_id,
            target,
            nodes,
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TscJson {
    index: u64,
    tx_or_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_type: Option<String>,
    target: String,
    nodes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    composite: Option<bool>,
}

impl serde::Serialize for TscProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for TscProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_json_value(TscJson::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
