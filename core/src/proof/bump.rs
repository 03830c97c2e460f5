//! BRC-74 BSV Unified Merkle Path (BUMP): binary and JSON, single and compound paths.
//!
//! Binary layout: `blockHeight` CompactSize, `treeHeight` byte, then for each level a
//! CompactSize leaf count and the leaves: `offset` CompactSize, `flags` byte (0 = sibling
//! hash, 1 = duplicate of its sibling (no hash follows), 2 = a txid the path is about), and
//! the 32-byte hash in internal order unless the leaf is a duplicate. JSON mirrors it as
//! `{"blockHeight", "path": [[{"offset", "hash", "txid", "duplicate"}]]}` with display-order
//! hashes, as `@bsv/sdk`'s `MerklePath` reads and writes it.
//!
//! Paths built here are trimmed the way the SDK trims them: a node that can be computed
//! from the level below is left out, so a compound path holds each needed hash once.
//! A block with a single transaction has a tree height of 1 and a level 0 holding just the
//! txid (which is then also the merkle root), again as the SDK writes it.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{ProofError, check_position};
use crate::bsv::hash::{MerkleNode, MerkleRoot, Txid};
use crate::bsv::merkle::{MerkleNodes, level_width};
use crate::encode::{DecodeError, Reader, bounded_capacity, write_compact_size};

/// The largest tree height the format can express meaningfully (offsets are `u64`).
pub const MAX_TREE_HEIGHT: u8 = 64;

/// Why bytes or JSON are not a well-formed BUMP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BumpError {
    /// Bad binary encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Tree height of 0 or above [`MAX_TREE_HEIGHT`].
    #[error("tree height {got} is not in 1..=64")]
    TreeHeight {
        /// The height found.
        got: u64,
    },
    /// A flags byte other than 0, 1 or 2.
    #[error("unknown leaf flags {flags:#04x} at level {level}")]
    UnknownFlags {
        /// Level of the leaf.
        level: u32,
        /// The flags byte.
        flags: u8,
    },
    /// A txid flag above level 0.
    #[error("txid flag at level {level}; txids live at level 0")]
    TxidAboveLevelZero {
        /// Level of the leaf.
        level: u32,
    },
    /// Two leaves with one offset in a level.
    #[error("duplicate offset {offset} at level {level}")]
    DuplicateOffset {
        /// Tree level.
        level: u32,
        /// The repeated offset.
        offset: u64,
    },
    /// A node above level 0 that is not a sibling on the path of any level-0 leaf.
    #[error("offset {offset} at level {level} is not on the path of any level-0 leaf")]
    IllegalOffset {
        /// Tree level.
        level: u32,
        /// The offset.
        offset: u64,
    },
    /// Level 0 has no hash leaf.
    #[error("level 0 has no leaves")]
    EmptyLevelZero,
    /// JSON that does not parse or lacks a field.
    #[error("invalid BUMP JSON at line {line}, column {column}")]
    Json {
        /// Line of the error (1-based, 0 if unknown).
        line: usize,
        /// Column of the error.
        column: usize,
    },
    /// A JSON leaf that is neither a hash nor a duplicate, or has a bad hash.
    #[error("invalid JSON leaf at level {level}, offset {offset}")]
    JsonLeaf {
        /// Tree level.
        level: u32,
        /// The leaf's offset.
        offset: u64,
    },
}

/// What a leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BumpNode {
    /// A txid the path proves (flag 2; level 0 only).
    Txid(Txid),
    /// A sibling hash (flag 0).
    Hash(MerkleNode),
    /// "Pair my sibling with itself": the level's last node has no partner (flag 1).
    Duplicate,
}

/// One leaf of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BumpLeaf {
    /// Position within the level.
    pub offset: u64,
    /// Content.
    pub node: BumpNode,
}

impl BumpLeaf {
    /// The node's hash; `None` for a duplicate marker.
    pub fn hash(&self) -> Option<MerkleNode> {
        match self.node {
            BumpNode::Txid(t) => Some(t.into()),
            BumpNode::Hash(h) => Some(h),
            BumpNode::Duplicate => None,
        }
    }
}

/// A validated BUMP: levels sorted by offset, no repeated offsets, every upper node on the
/// path of a level-0 leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bump {
    block_height: u64,
    levels: Vec<Vec<BumpLeaf>>,
}

#[derive(Clone, Copy)]
enum Slot {
    Hash(MerkleNode),
    Dup,
}

impl Bump {
    /// Validates levels into a BUMP (sorting each level by offset).
    ///
    /// # Errors
    /// [`BumpError`] for a structural problem.
    pub fn from_levels(
        block_height: u64,
        mut levels: Vec<Vec<BumpLeaf>>,
    ) -> Result<Self, BumpError> {
        if levels.is_empty() || levels.len() > usize::from(MAX_TREE_HEIGHT) {
            return Err(BumpError::TreeHeight {
                got: levels.len() as u64,
            });
        }
        for (level, leaves) in levels.iter_mut().enumerate() {
            let level = level as u32;
            leaves.sort_by_key(|l| l.offset);
            for pair in leaves.windows(2) {
                if pair[0].offset == pair[1].offset {
                    return Err(BumpError::DuplicateOffset {
                        level,
                        offset: pair[0].offset,
                    });
                }
            }
            if level > 0 && leaves.iter().any(|l| matches!(l.node, BumpNode::Txid(_))) {
                return Err(BumpError::TxidAboveLevelZero { level });
            }
        }
        // Offsets of the level-0 hashes, sorted: the paths every upper node must serve.
        let base: Vec<u64> = levels[0]
            .iter()
            .filter(|l| l.hash().is_some())
            .map(|l| l.offset)
            .collect();
        if base.is_empty() {
            return Err(BumpError::EmptyLevelZero);
        }
        for (level, leaves) in levels.iter().enumerate().skip(1) {
            let shift = level as u32;
            for leaf in leaves {
                let want = leaf.offset ^ 1;
                // `base` is sorted, so `o >> shift` is too: binary search for `want`.
                let i = base.partition_point(|o| (o >> shift) < want);
                if base.get(i).is_none_or(|o| (o >> shift) != want) {
                    return Err(BumpError::IllegalOffset {
                        level: shift,
                        offset: leaf.offset,
                    });
                }
            }
        }
        Ok(Self {
            block_height,
            levels,
        })
    }

    /// Returns the block height the path claims.
    pub fn block_height(&self) -> u64 {
        self.block_height
    }

    /// Returns the levels, leaves first.
    pub fn levels(&self) -> &[Vec<BumpLeaf>] {
        &self.levels
    }

    /// Returns the txids flagged at level 0, in offset order.
    pub fn txids(&self) -> impl Iterator<Item = (u64, Txid)> + '_ {
        self.levels[0].iter().filter_map(|l| match l.node {
            BumpNode::Txid(t) => Some((l.offset, t)),
            _ => None,
        })
    }

    /// Decodes the binary form (exactly; trailing bytes are an error).
    ///
    /// # Errors
    /// [`BumpError`].
    pub fn decode(bytes: &[u8]) -> Result<Self, BumpError> {
        let mut r = Reader::new(bytes);
        let bump = Self::read(&mut r)?;
        r.finish()?;
        Ok(bump)
    }

    /// Reads one BUMP from a reader (inside a BEEF, where more data follows).
    ///
    /// # Errors
    /// [`BumpError`].
    pub fn read(r: &mut Reader<'_>) -> Result<Self, BumpError> {
        let block_height = r.compact_size()?;
        let tree_height = r.u8()?;
        if tree_height == 0 || tree_height > MAX_TREE_HEIGHT {
            return Err(BumpError::TreeHeight {
                got: u64::from(tree_height),
            });
        }
        let mut levels = Vec::with_capacity(usize::from(tree_height));
        for level in 0..u32::from(tree_height) {
            let n = r.compact_size()?;
            let mut leaves = Vec::with_capacity(bounded_capacity(n, r.remaining(), 2));
            for _ in 0..n {
                let offset = r.compact_size()?;
                let flags = r.u8()?;
                let node = match flags {
                    0 => BumpNode::Hash(MerkleNode::from_byte_array(r.array()?)),
                    1 => BumpNode::Duplicate,
                    2 => BumpNode::Txid(Txid::from_byte_array(r.array()?)),
                    _ => return Err(BumpError::UnknownFlags { level, flags }),
                };
                leaves.push(BumpLeaf { offset, node });
            }
            levels.push(leaves);
        }
        Self::from_levels(block_height, levels)
    }

    /// Returns the binary form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_compact_size(&mut out, self.block_height);
        out.push(self.levels.len() as u8);
        for leaves in &self.levels {
            write_compact_size(&mut out, leaves.len() as u64);
            for leaf in leaves {
                write_compact_size(&mut out, leaf.offset);
                match leaf.node {
                    BumpNode::Hash(h) => {
                        out.push(0);
                        out.extend_from_slice(h.as_byte_array());
                    }
                    BumpNode::Duplicate => out.push(1),
                    BumpNode::Txid(t) => {
                        out.push(2);
                        out.extend_from_slice(t.as_byte_array());
                    }
                }
            }
        }
        out
    }

    /// Builds a trimmed (compound when several) path for the transactions at `indices`.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`] for an index not in the tree.
    pub fn build(
        tree: &impl MerkleNodes,
        block_height: u64,
        indices: &[u64],
    ) -> Result<Self, ProofError> {
        let n = tree.leaf_count();
        let mut targets: Vec<u64> = indices.to_vec();
        targets.sort_unstable();
        targets.dedup();
        let Some(&last) = targets.last() else {
            return Err(ProofError::TxidNotInProof {
                txid: Txid::default(),
            });
        };
        let height = check_position(last, n)?;
        let mut level0: Vec<BumpLeaf> = Vec::new();
        for &i in &targets {
            let txid = tree.txid(i).ok_or(ProofError::IndexOutOfRange {
                index: i,
                tx_count: n,
            })?;
            level0.push(BumpLeaf {
                offset: i,
                node: BumpNode::Txid(txid),
            });
        }
        let mut levels = Vec::with_capacity(height.max(1) as usize);
        levels.push(level0);
        for level in 0..height {
            let width = level_width(n, level);
            let mut known: Vec<u64> = targets.iter().map(|i| i >> level).collect();
            known.dedup();
            let mut siblings = Vec::new();
            for &k in &known {
                let sib = k ^ 1;
                if known.binary_search(&sib).is_ok() {
                    continue;
                }
                let node = if sib < width {
                    let h = tree
                        .node(level, sib)
                        .ok_or(ProofError::MissingNode { level, offset: sib })?;
                    BumpNode::Hash(h)
                } else {
                    BumpNode::Duplicate
                };
                siblings.push(BumpLeaf { offset: sib, node });
            }
            if level == 0 {
                levels[0].extend(siblings);
            } else {
                levels.push(siblings);
            }
        }
        Self::from_levels(block_height, levels).map_err(|_| ProofError::Inconsistent {
            level: 0,
            offset: 0,
        })
    }

    /// Computes the merkle root the path gives for `txid`, with the SDK's leniency: no
    /// transaction count, so depth and duplicate positions are not checked. Use
    /// [`Bump::verify`] to accept a proof.
    ///
    /// # Errors
    /// [`ProofError`].
    pub fn compute_root(&self, txid: &Txid) -> Result<MerkleRoot, ProofError> {
        self.compute(txid, None).map(|(_, root)| root)
    }

    /// Verifies that `txid` is in the block at `block_height` whose header commits to
    /// `merkle_root` and which has `tx_count` transactions; returns the transaction's index.
    ///
    /// Stricter than the SDK's `computeRoot`: the txid must be flagged as a proven txid
    /// (flag 2), the height must match, the depth must be the one `tx_count` implies,
    /// duplicates may only stand where the tree has an odd level's missing partner, and
    /// equal sibling pairs are refused.
    ///
    /// # Errors
    /// [`ProofError`] explaining the first thing that does not hold.
    pub fn verify(
        &self,
        txid: &Txid,
        block_height: u64,
        tx_count: u64,
        merkle_root: &MerkleRoot,
    ) -> Result<u64, ProofError> {
        if self.block_height != block_height {
            return Err(ProofError::HeightMismatch {
                expected: block_height,
                got: self.block_height,
            });
        }
        if !self.levels[0]
            .iter()
            .any(|l| l.node == BumpNode::Txid(*txid))
        {
            return Err(
                if self.levels[0]
                    .iter()
                    .any(|l| l.hash() == Some((*txid).into()))
                {
                    ProofError::TxidNotFlagged { txid: *txid }
                } else {
                    ProofError::TxidNotInProof { txid: *txid }
                },
            );
        }
        let (index, computed) = self.compute(txid, Some(tx_count))?;
        if computed != *merkle_root {
            return Err(ProofError::RootMismatch {
                expected: *merkle_root,
                computed,
            });
        }
        Ok(index)
    }

    /// Verifies every txid flagged in the path (a compound proof); returns how many.
    ///
    /// # Errors
    /// The first failing txid's [`ProofError`].
    pub fn verify_all(
        &self,
        block_height: u64,
        tx_count: u64,
        merkle_root: &MerkleRoot,
    ) -> Result<usize, ProofError> {
        let txids: Vec<Txid> = self.txids().map(|(_, t)| t).collect();
        for t in &txids {
            self.verify(t, block_height, tx_count, merkle_root)?;
        }
        Ok(txids.len())
    }

    fn compute(&self, txid: &Txid, tx_count: Option<u64>) -> Result<(u64, MerkleRoot), ProofError> {
        let leaf = self.levels[0]
            .iter()
            .find(|l| l.node == BumpNode::Txid(*txid))
            .or_else(|| {
                self.levels[0]
                    .iter()
                    .find(|l| l.hash() == Some((*txid).into()))
            })
            .ok_or(ProofError::TxidNotInProof { txid: *txid })?;
        let index = leaf.offset;
        let height = match tx_count {
            Some(n) => {
                let h = check_position(index, n)?;
                let expected = u64::from(h.max(1));
                if self.levels.len() as u64 != expected {
                    return Err(ProofError::DepthMismatch {
                        expected,
                        got: self.levels.len() as u64,
                        tx_count: n,
                    });
                }
                h
            }
            None if self.levels.len() == 1 && self.levels[0].len() == 1 => 0,
            None => self.levels.len() as u32,
        };
        if height == 0 {
            return Ok((index, MerkleRoot::from_byte_array(txid.to_byte_array())));
        }
        // Every node the path gives or implies, level by level, bottom-up.
        let mut maps: Vec<BTreeMap<u64, Slot>> = Vec::with_capacity(height as usize + 1);
        for level in 0..=height {
            let mut map = BTreeMap::new();
            for leaf in self.levels.get(level as usize).into_iter().flatten() {
                if let Some(n) = tx_count {
                    let width = level_width(n, level);
                    let ok = match leaf.node {
                        BumpNode::Duplicate => leaf.offset == width && width % 2 == 1,
                        _ => leaf.offset < width,
                    };
                    if !ok {
                        return Err(match leaf.node {
                            BumpNode::Duplicate => ProofError::MisplacedDuplicate {
                                level,
                                offset: leaf.offset,
                            },
                            _ => ProofError::OffsetOutOfRange {
                                level,
                                offset: leaf.offset,
                            },
                        });
                    }
                }
                let slot = leaf.hash().map_or(Slot::Dup, Slot::Hash);
                map.insert(leaf.offset, slot);
            }
            maps.push(map);
        }
        for level in 0..height {
            let mut parents = Vec::new();
            for (&offset, slot) in &maps[level as usize] {
                let (Slot::Hash(left), true) = (*slot, offset % 2 == 0) else {
                    continue;
                };
                let parent = match maps[level as usize].get(&(offset + 1)) {
                    Some(Slot::Hash(right)) if *right == left => {
                        return Err(ProofError::MutatedPair { level, offset });
                    }
                    Some(Slot::Hash(right)) => MerkleNode::combine(&left, right),
                    Some(Slot::Dup) => MerkleNode::combine(&left, &left),
                    None => continue,
                };
                parents.push((offset >> 1, parent));
            }
            let above = &mut maps[level as usize + 1];
            for (offset, parent) in parents {
                match above.get(&offset) {
                    Some(Slot::Hash(given)) if *given != parent => {
                        return Err(ProofError::Inconsistent {
                            level: level + 1,
                            offset,
                        });
                    }
                    Some(Slot::Dup) => {
                        return Err(ProofError::Inconsistent {
                            level: level + 1,
                            offset,
                        });
                    }
                    _ => {
                        above.insert(offset, Slot::Hash(parent));
                    }
                }
            }
        }
        // Walk the txid's own path so that only its ancestors are trusted.
        let mut cur = MerkleNode::from(*txid);
        for level in 0..height {
            let pos = index >> level;
            let sib = pos ^ 1;
            cur = match maps[level as usize].get(&sib) {
                None => return Err(ProofError::MissingNode { level, offset: sib }),
                Some(Slot::Dup) if sib % 2 == 0 => {
                    return Err(ProofError::MisplacedDuplicate { level, offset: sib });
                }
                Some(Slot::Dup) => MerkleNode::combine(&cur, &cur),
                Some(Slot::Hash(s)) if *s == cur => {
                    return Err(ProofError::MutatedPair {
                        level,
                        offset: pos & !1,
                    });
                }
                Some(Slot::Hash(s)) if pos % 2 == 0 => MerkleNode::combine(&cur, s),
                Some(Slot::Hash(s)) => MerkleNode::combine(s, &cur),
            };
        }
        Ok((index, cur.into()))
    }

    /// Returns the JSON form used by `@bsv/sdk`.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_string(&self.to_json_value()).unwrap_or_default()
    }

    fn to_json_value(&self) -> BumpJson {
        BumpJson {
            block_height: self.block_height,
            path: self
                .levels
                .iter()
                .map(|leaves| {
                    leaves
                        .iter()
                        .map(|l| match l.node {
                            BumpNode::Txid(t) => LeafJson {
                                offset: l.offset,
                                hash: Some(t.into()),
                                txid: Some(true),
                                duplicate: None,
                            },
                            BumpNode::Hash(h) => LeafJson {
                                offset: l.offset,
                                hash: Some(h),
                                txid: None,
                                duplicate: None,
                            },
                            BumpNode::Duplicate => LeafJson {
                                offset: l.offset,
                                hash: None,
                                txid: None,
                                duplicate: Some(true),
                            },
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// Parses the JSON form.
    ///
    /// # Errors
    /// [`BumpError::Json`], [`BumpError::JsonLeaf`] or a structural [`BumpError`].
    pub fn from_json(s: &str) -> Result<Self, BumpError> {
        let j: BumpJson = serde_json::from_str(s).map_err(|e| BumpError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        Self::from_json_value(j)
    }

    fn from_json_value(j: BumpJson) -> Result<Self, BumpError> {
        let mut levels = Vec::with_capacity(j.path.len().min(usize::from(MAX_TREE_HEIGHT)));
        for (level, leaves) in j.path.into_iter().enumerate() {
            let level = u32::try_from(level).unwrap_or(u32::MAX);
            let mut out = Vec::with_capacity(leaves.len());
            for l in leaves {
                let node = match (
                    l.hash,
                    l.duplicate.unwrap_or(false),
                    l.txid.unwrap_or(false),
                ) {
                    (None, true, false) => BumpNode::Duplicate,
                    (Some(h), false, true) => {
                        BumpNode::Txid(Txid::from_byte_array(h.to_byte_array()))
                    }
                    (Some(h), false, false) => BumpNode::Hash(h),
                    _ => {
                        return Err(BumpError::JsonLeaf {
                            level,
                            offset: l.offset,
                        });
                    }
                };
                out.push(BumpLeaf {
                    offset: l.offset,
                    node,
                });
            }
            levels.push(out);
        }
        Self::from_levels(j.block_height, levels)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BumpJson {
    block_height: u64,
    path: Vec<Vec<LeafJson>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LeafJson {
    offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<MerkleNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    txid: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duplicate: Option<bool>,
}

impl serde::Serialize for Bump {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Bump {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = BumpJson::deserialize(d)?;
        Self::from_json_value(j).map_err(serde::de::Error::custom)
    }
}
