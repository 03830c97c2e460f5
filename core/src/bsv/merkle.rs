//! Bitcoin's transaction merkle tree.
//!
//! Bitcoin pairs nodes level by level and, when a level has an odd number of nodes,
//! pairs the last node with itself. That rule lets two different transaction lists share a
//! root: `[a, b, c]` and `[a, b, c, c]` both hash to `H(H(a,b), H(c,c))` (CVE-2012-2459).
//! The node guards against it by flagging a tree as *mutated* when any level holds two equal
//! adjacent nodes that are paired together; we do the same in [`root`], [`MerkleTree`] and
//! [`MerkleRootBuilder`].
//!
//! A second ambiguity: an inner node is 64 bytes of input to SHA-256d, exactly like a 64-byte
//! transaction. A proof can therefore be made to "prove" an inner node as a transaction one
//! level up. Proof verification (in [`crate::proof`]) closes this by requiring the block's
//! transaction count: the index must be below it and the path length must equal
//! [`tree_height`] of it.
//!
//! BEP 52's SHA-256 piece trees pad with zero hashes instead; they live elsewhere on purpose.

use alloc::vec::Vec;

use super::hash::{MerkleNode, MerkleRoot, Txid};

/// Why a merkle tree could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A block has at least one transaction; an empty list has no root.
    #[error("a merkle tree needs at least one leaf")]
    Empty,
    /// Two equal nodes are paired (CVE-2012-2459).
    #[error("mutated tree: equal sibling nodes at level {level}, offset {offset}")]
    Mutated {
        /// Level of the pair (0 = txids).
        level: u32,
        /// Offset of the left node of the pair.
        offset: u64,
    },
    /// More leaves than a 64-level tree can hold.
    #[error("too many leaves for a merkle tree")]
    TooManyLeaves,
    /// A chunk of txids read for a proof does not hash to the cached tree (wrong length or
    /// damaged data).
    #[error("the txids of the chunk starting at {first} do not match the block's merkle tree")]
    ChunkMismatch {
        /// Index of the chunk's first leaf.
        first: u64,
    },
}

/// Returns the number of hashing levels above the leaves of a tree of `leaf_count`
/// leaves: 0 for one leaf (the root is the txid), `ceil(log2(n))` otherwise.
pub const fn tree_height(leaf_count: u64) -> u32 {
    if leaf_count <= 1 {
        0
    } else {
        64 - (leaf_count - 1).leading_zeros()
    }
}

/// Returns the number of nodes at `level` of a tree of `leaf_count` leaves.
pub const fn level_width(leaf_count: u64, level: u32) -> u64 {
    if level >= 64 {
        return if leaf_count == 0 { 0 } else { 1 };
    }
    let div = 1u64 << level;
    leaf_count / div + if leaf_count.is_multiple_of(div) { 0 } else { 1 }
}

/// Returns the merkle root of `txids`, rejecting mutated trees.
///
/// # Errors
/// [`MerkleError::Empty`] or [`MerkleError::Mutated`].
pub fn root(txids: &[Txid]) -> Result<MerkleRoot, MerkleError> {
    let mut b = MerkleRootBuilder::new();
    for t in txids {
        b.push(*t)?;
    }
    b.finish()
}

/// Computes a merkle root from txids pushed one at a time, in `O(log n)` memory.
///
/// Used on blocks streamed through [`crate::bsv::block::BlockDecoder`], where the list of
/// txids is never held in memory. Same result and the same mutation rule as [`root`].
#[derive(Debug, Clone)]
pub struct MerkleRootBuilder {
    /// `inner[l]` holds a pending left node at level `l` when bit `l` of `count` is set.
    inner: [MerkleNode; 64],
    count: u64,
}

impl Default for MerkleRootBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleRootBuilder {
    /// Returns an empty builder.
    pub fn new() -> Self {
        Self {
            inner: [MerkleNode::default(); 64],
            count: 0,
        }
    }

    /// Returns how many leaves were pushed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds the next leaf.
    ///
    /// # Errors
    /// [`MerkleError::Mutated`] as soon as two equal nodes are paired, or
    /// [`MerkleError::TooManyLeaves`].
    pub fn push(&mut self, txid: Txid) -> Result<(), MerkleError> {
        let index = self.count;
        self.count = self
            .count
            .checked_add(1)
            .ok_or(MerkleError::TooManyLeaves)?;
        let mut h = MerkleNode::from(txid);
        let mut level = 0u32;
        // Each trailing zero bit of the new count is a completed pair to combine.
        while level < 63 && self.count & (1u64 << level) == 0 {
            let left = &self.inner[level as usize];
            if *left == h {
                return Err(MerkleError::Mutated {
                    level,
                    offset: (index >> level).saturating_sub(1),
                });
            }
            h = MerkleNode::combine(left, &h);
            level += 1;
        }
        self.inner[level as usize] = h;
        Ok(())
    }

    /// Returns the root.
    ///
    /// # Errors
    /// [`MerkleError::Empty`] if nothing was pushed, or [`MerkleError::Mutated`] for an
    /// equal pair on the right edge of the tree.
    pub fn finish(&self) -> Result<MerkleRoot, MerkleError> {
        if self.count == 0 {
            return Err(MerkleError::Empty);
        }
        let mut count = self.count;
        let mut level = count.trailing_zeros();
        let mut h = self.inner[level as usize];
        // Walk the right edge: an odd node pairs with itself, then joins pending left nodes.
        while level < 64 && count != 1u64 << level {
            h = MerkleNode::combine(&h, &h);
            count += 1u64 << level;
            level += 1;
            while level < 64 && count & (1u64 << level) == 0 {
                let left = &self.inner[level as usize];
                if *left == h {
                    return Err(MerkleError::Mutated {
                        level,
                        offset: (count >> level).saturating_sub(2),
                    });
                }
                h = MerkleNode::combine(left, &h);
                level += 1;
            }
        }
        Ok(h.into())
    }
}

/// A whole merkle tree held in memory: every level, leaves first. Used to build proofs
/// (about `2n` nodes, 64 MB for a million transactions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    levels: Vec<Vec<MerkleNode>>,
}

impl MerkleTree {
    /// Builds the tree over `txids`, rejecting mutated trees.
    ///
    /// # Errors
    /// [`MerkleError::Empty`] or [`MerkleError::Mutated`].
    pub fn from_txids(txids: &[Txid]) -> Result<Self, MerkleError> {
        if txids.is_empty() {
            return Err(MerkleError::Empty);
        }
        let mut levels = Vec::with_capacity(tree_height(txids.len() as u64) as usize + 1);
        levels.push(
            txids
                .iter()
                .map(|t| MerkleNode::from(*t))
                .collect::<Vec<_>>(),
        );
        let mut level = 0u32;
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let mut next = Vec::with_capacity(below.len().div_ceil(2));
            for (i, pair) in below.chunks(2).enumerate() {
                let next_node = match pair {
                    [l, r] if l == r => {
                        return Err(MerkleError::Mutated {
                            level,
                            offset: 2 * i as u64,
                        });
                    }
                    [l, r] => MerkleNode::combine(l, r),
                    // chunks(2) yields one or two nodes; a lone one pairs with itself.
                    [l] | [l, ..] => MerkleNode::combine(l, l),
                    [] => continue,
                };
                next.push(next_node);
            }
            levels.push(next);
            level += 1;
        }
        Ok(Self { levels })
    }

    /// Returns the number of leaves.
    pub fn leaf_count(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Returns the number of hashing levels ([`tree_height`] of the leaf count).
    pub fn height(&self) -> u32 {
        (self.levels.len() - 1) as u32
    }

    /// Returns the root.
    pub fn root(&self) -> MerkleRoot {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
            .into()
    }

    /// Returns the node at `level` and `offset`, if the tree has one there.
    pub fn node(&self, level: u32, offset: u64) -> Option<MerkleNode> {
        let offset = usize::try_from(offset).ok()?;
        self.levels.get(level as usize)?.get(offset).copied()
    }

    /// Returns the txid at `index`.
    pub fn txid(&self, index: u64) -> Option<Txid> {
        self.node(0, index)
            .map(|n| Txid::from_byte_array(n.to_byte_array()))
    }
}

/// Read access to the nodes of a merkle tree, whole or partial: what proof builders need.
pub trait MerkleNodes {
    /// Number of leaves of the whole tree.
    fn leaf_count(&self) -> u64;
    /// The node at `level` and `offset`, if this view holds it.
    fn node(&self, level: u32, offset: u64) -> Option<MerkleNode>;
    /// The txid at `index`, if this view holds it.
    fn txid(&self, index: u64) -> Option<Txid> {
        self.node(0, index)
            .map(|n| Txid::from_byte_array(n.to_byte_array()))
    }
}

impl MerkleNodes for MerkleTree {
    fn leaf_count(&self) -> u64 {
        MerkleTree::leaf_count(self)
    }
    fn node(&self, level: u32, offset: u64) -> Option<MerkleNode> {
        MerkleTree::node(self, level, offset)
    }
}

/// Pairs `below` into the next level: a lone last node pairs with itself (Bitcoin's rule),
/// and two equal nodes in a pair are a mutated tree (CVE-2012-2459).
fn next_level(
    below: &[MerkleNode],
    level: u32,
    first_offset: u64,
) -> Result<Vec<MerkleNode>, MerkleError> {
    let mut next = Vec::with_capacity(below.len().div_ceil(2));
    for (i, pair) in below.chunks(2).enumerate() {
        next.push(match pair {
            [l, r] if l == r => {
                return Err(MerkleError::Mutated {
                    level,
                    offset: first_offset + 2 * i as u64,
                });
            }
            [l, r] => MerkleNode::combine(l, r),
            [l] | [l, ..] => MerkleNode::combine(l, l),
            [] => continue,
        });
    }
    Ok(next)
}

/// The upper levels of a block's merkle tree, from level `k` up: about `2n / 2^k` nodes. With
/// the `2^k` leaves of one chunk read from the txid file, [`UpperTree::path`] gives every node
/// a proof of a transaction in that chunk needs — O(1) reads and `2^k` hashes per proof, and
/// `n / 2^(k-5)` bytes of memory per block (1 MB for a million transactions at `k = 6`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpperTree {
    tx_count: u64,
    k: u32,
    /// `levels[j]` is level `k + j`.
    levels: Vec<Vec<MerkleNode>>,
}

/// Builds an [`UpperTree`] from the txids in order (a streaming pass over a txid file).
#[derive(Debug, Clone)]
pub struct UpperTreeBuilder {
    k: u32,
    count: u64,
    chunk: Vec<MerkleNode>,
    level_k: Vec<MerkleNode>,
}

impl UpperTreeBuilder {
    /// Starts a tree whose chunks hold `2^k` leaves (`k` at most 16).
    pub fn new(k: u32) -> Self {
        let k = k.min(16);
        Self {
            k,
            count: 0,
            chunk: Vec::with_capacity(1 << k),
            level_k: Vec::new(),
        }
    }

    /// Adds the next txid.
    ///
    /// # Errors
    /// [`MerkleError::Mutated`] inside a completed chunk.
    pub fn push(&mut self, txid: Txid) -> Result<(), MerkleError> {
        self.chunk.push(MerkleNode::from(txid));
        self.count += 1;
        if self.chunk.len() == 1 << self.k {
            let first = self.count - self.chunk.len() as u64;
            let root = chunk_levels(&self.chunk, self.k, first)?
                .pop()
                .and_then(|l| l.first().copied())
                .ok_or(MerkleError::Empty)?;
            self.level_k.push(root);
            self.chunk.clear();
        }
        Ok(())
    }

    /// Finishes the tree.
    ///
    /// # Errors
    /// [`MerkleError::Empty`] or [`MerkleError::Mutated`].
    pub fn finish(mut self) -> Result<UpperTree, MerkleError> {
        if self.count == 0 {
            return Err(MerkleError::Empty);
        }
        let height = tree_height(self.count);
        let k = self.k.min(height);
        let mut level_k = if k < self.k {
            // The whole tree fits in one (partial) chunk: its level-k nodes are computed
            // directly from all the leaves.
            let mut levels = chunk_levels(&self.chunk, k, 0)?;
            levels.pop().unwrap_or_default()
        } else {
            core::mem::take(&mut self.level_k)
        };
        if k == self.k && !self.chunk.is_empty() {
            let first = self.count - self.chunk.len() as u64;
            let root = chunk_levels(&self.chunk, k, first)?
                .pop()
                .and_then(|l| l.first().copied())
                .ok_or(MerkleError::Empty)?;
            level_k.push(root);
        }
        let mut levels = alloc::vec![level_k];
        let mut level = k;
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let next = next_level(below, level, 0)?;
            levels.push(next);
            level += 1;
        }
        Ok(UpperTree {
            tx_count: self.count,
            k,
            levels,
        })
    }
}

/// Levels `0..=k` of one chunk whose first leaf is `first`. A chunk is full, or the last one
/// of the tree, so a lone node at its right edge is also the last of its level in the whole
/// tree and pairs with itself, up to level `k`.
fn chunk_levels(
    leaves: &[MerkleNode],
    k: u32,
    first: u64,
) -> Result<Vec<Vec<MerkleNode>>, MerkleError> {
    let mut levels = alloc::vec![leaves.to_vec()];
    for level in 0..k {
        let below = levels.last().map(Vec::as_slice).unwrap_or_default();
        let next = next_level(below, level, first >> level)?;
        levels.push(next);
    }
    Ok(levels)
}

impl UpperTree {
    /// Number of transactions.
    pub fn tx_count(&self) -> u64 {
        self.tx_count
    }

    /// The merkle root.
    pub fn root(&self) -> MerkleRoot {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
            .into()
    }

    /// The leaves `[first, first + len)` of the chunk holding `index`.
    pub fn chunk_of(&self, index: u64) -> (u64, u64) {
        let first = (index >> self.k) << self.k;
        let len = (1u64 << self.k).min(self.tx_count.saturating_sub(first));
        (first, len)
    }

    /// Bytes of memory the upper levels take.
    pub fn memory(&self) -> usize {
        self.levels.iter().map(|l| l.len() * 32).sum()
    }

    /// A view of every node on the path of `index`, given the txids of its chunk (as
    /// [`UpperTree::chunk_of`] says). The chunk is checked against the cached level-`k`
    /// node, so a damaged txid file is caught here, not handed out as a proof.
    ///
    /// # Errors
    /// [`MerkleError::Mutated`], or [`MerkleError::ChunkMismatch`] when the chunk does not
    /// hash to the cached node.
    pub fn path(&self, index: u64, chunk: &[Txid]) -> Result<PathView<'_>, MerkleError> {
        let (first, len) = self.chunk_of(index);
        if index >= self.tx_count || chunk.len() as u64 != len {
            return Err(MerkleError::ChunkMismatch { first });
        }
        let leaves: Vec<MerkleNode> = chunk.iter().map(|t| MerkleNode::from(*t)).collect();
        let levels = chunk_levels(&leaves, self.k, first)?;
        let top = levels.last().and_then(|l| l.first().copied());
        let cached = self
            .levels
            .first()
            .and_then(|l| l.get((first >> self.k) as usize))
            .copied();
        if top.is_none() || top != cached {
            return Err(MerkleError::ChunkMismatch { first });
        }
        Ok(PathView {
            upper: self,
            first,
            chunk: levels,
        })
    }
}

/// The nodes one proof needs: a chunk's lower levels and the cached upper levels.
#[derive(Debug, Clone)]
pub struct PathView<'a> {
    upper: &'a UpperTree,
    first: u64,
    chunk: Vec<Vec<MerkleNode>>,
}

impl MerkleNodes for PathView<'_> {
    fn leaf_count(&self) -> u64 {
        self.upper.tx_count
    }

    fn node(&self, level: u32, offset: u64) -> Option<MerkleNode> {
        if level >= self.upper.k {
            let j = (level - self.upper.k) as usize;
            return self
                .upper
                .levels
                .get(j)?
                .get(usize::try_from(offset).ok()?)
                .copied();
        }
        let base = self.first >> level;
        let local = usize::try_from(offset.checked_sub(base)?).ok()?;
        self.chunk.get(level as usize)?.get(local).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn leaf(i: u8) -> Txid {
        Txid::from_byte_array([i; 32])
    }

    #[test]
    fn heights_and_widths() {
        assert_eq!(tree_height(1), 0);
        assert_eq!(tree_height(2), 1);
        assert_eq!(tree_height(3), 2);
        assert_eq!(tree_height(4), 2);
        assert_eq!(tree_height(5), 3);
        assert_eq!(tree_height(1557), 11);
        assert_eq!(level_width(1557, 1), 779);
        assert_eq!(level_width(213, 3), 27);
    }

    #[test]
    fn tx_merkle_node_duplicate_leaves_are_rejected() {
        // [a, b, c] is a valid tree; [a, b, c, c] has the same root and must be refused.
        let ok = vec![leaf(1), leaf(2), leaf(3)];
        let bad = vec![leaf(1), leaf(2), leaf(3), leaf(3)];
        let r = root(&ok).unwrap();
        assert_eq!(MerkleTree::from_txids(&ok).unwrap().root(), r);
        assert_eq!(
            root(&bad),
            Err(MerkleError::Mutated {
                level: 0,
                offset: 2
            })
        );
        assert!(MerkleTree::from_txids(&bad).is_err());
        // A duplicated pair of inner nodes on the right edge: [a,b,c,d,e,f,c,d... ] style.
        let bad2 = vec![
            leaf(1),
            leaf(2),
            leaf(3),
            leaf(4),
            leaf(5),
            leaf(6),
            leaf(5),
            leaf(6),
        ];
        assert!(matches!(
            root(&bad2),
            Err(MerkleError::Mutated { level: 1, .. })
        ));
        assert!(MerkleTree::from_txids(&bad2).is_err());
    }

    #[test]
    fn builder_matches_tree_for_all_small_sizes() {
        for n in 1..70u8 {
            let txids: Vec<Txid> = (0..n).map(leaf).collect();
            let t = MerkleTree::from_txids(&txids).unwrap();
            assert_eq!(root(&txids).unwrap(), t.root(), "n = {n}");
            assert_eq!(t.height(), tree_height(u64::from(n)));
        }
        assert_eq!(root(&[]), Err(MerkleError::Empty));
    }
}
