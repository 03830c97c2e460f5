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

/// Where each node of an encoded [`UpperTree`] lies: the levels from the root down to level
/// `k`, each level's nodes in order, 32 bytes each. Top levels first, so the nodes every
/// path shares sit together at the start (one 4 KiB page holds the top seven levels), and a
/// proof reads one node per level below them: `tree_height(n) - k` nodes in all.
///
/// A host stores this beside a block's txid file so that a proof never rehashes the whole
/// file: it reads its chunk of `2^k` txids and the siblings [`UpperLayout::siblings`] names,
/// and [`SparsePath::new`] checks the lot against the header's merkle root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayout {
    tx_count: u64,
    k: u32,
}

impl UpperLayout {
    /// The layout of a block of `tx_count` transactions with chunks of `2^k` leaves (`k` as
    /// [`UpperTreeBuilder::new`] takes it; a tree lower than `k` keeps only its root).
    ///
    /// # Errors
    /// [`MerkleError::Empty`] for no transactions.
    pub fn new(tx_count: u64, k: u32) -> Result<Self, MerkleError> {
        if tx_count == 0 {
            return Err(MerkleError::Empty);
        }
        Ok(Self {
            tx_count,
            k: k.min(16).min(tree_height(tx_count)),
        })
    }

    /// Transactions of the block.
    pub fn tx_count(&self) -> u64 {
        self.tx_count
    }

    /// The chunk level.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Bytes of the encoded levels.
    pub fn len(&self) -> u64 {
        (self.k..=tree_height(self.tx_count))
            .map(|l| level_width(self.tx_count, l) * 32)
            .sum()
    }

    /// Whether the encoding is empty (never: a tree has a root).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Byte offset of node (`level`, `offset`) in the encoding, if the encoding holds it.
    pub fn offset_of(&self, level: u32, offset: u64) -> Option<u64> {
        let height = tree_height(self.tx_count);
        if level < self.k || level > height || offset >= level_width(self.tx_count, level) {
            return None;
        }
        let above: u64 = (level + 1..=height)
            .map(|l| level_width(self.tx_count, l) * 32)
            .sum();
        Some(above + offset * 32)
    }

    /// The leaves `[first, first + len)` of the chunk holding `index`.
    pub fn chunk_of(&self, index: u64) -> (u64, u64) {
        let first = (index >> self.k) << self.k;
        (
            first,
            (1u64 << self.k).min(self.tx_count.saturating_sub(first)),
        )
    }

    /// The byte offsets of the siblings a proof of `index` needs above its chunk, level `k`
    /// first; `None` where the path's node is the last of an odd level (paired with itself).
    pub fn siblings(&self, index: u64) -> impl Iterator<Item = Option<u64>> + '_ {
        (self.k..tree_height(self.tx_count))
            .map(move |level| self.offset_of(level, (index >> level) ^ 1))
    }
}

impl UpperTree {
    /// The encoding [`UpperLayout`] describes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.memory());
        for level in self.levels.iter().rev() {
            for n in level {
                out.extend_from_slice(&n.to_byte_array());
            }
        }
        out
    }

    /// The layout of [`UpperTree::encode`]'s bytes.
    pub fn layout(&self) -> UpperLayout {
        UpperLayout {
            tx_count: self.tx_count,
            k: self.k,
        }
    }
}

/// The nodes one proof needs, from a chunk of txids and the siblings above it read from
/// an encoded [`UpperTree`]; built only when they hash to the block's merkle root.
#[derive(Debug, Clone)]
pub struct SparsePath {
    layout: UpperLayout,
    index: u64,
    first: u64,
    chunk: Vec<Vec<MerkleNode>>,
    /// The sibling at level `k + j`, `None` where the node pairs with itself.
    siblings: Vec<Option<MerkleNode>>,
}

impl SparsePath {
    /// Checks `chunk` (the txids [`UpperLayout::chunk_of`] `index` names) and `siblings` (the
    /// nodes at [`UpperLayout::siblings`], in order, `None` where it says `None`) against
    /// `root`.
    ///
    /// # Errors
    /// [`MerkleError::Mutated`] for equal paired nodes; [`MerkleError::ChunkMismatch`] when
    /// the nodes do not hash to `root` or are not the ones the layout names.
    pub fn new(
        layout: UpperLayout,
        index: u64,
        chunk: &[Txid],
        siblings: Vec<Option<MerkleNode>>,
        root: MerkleRoot,
    ) -> Result<Self, MerkleError> {
        let (first, len) = layout.chunk_of(index);
        let mismatch = MerkleError::ChunkMismatch { first };
        let wanted: Vec<bool> = layout.siblings(index).map(|s| s.is_some()).collect();
        if index >= layout.tx_count
            || chunk.len() as u64 != len
            || siblings.len() != wanted.len()
            || siblings.iter().zip(&wanted).any(|(s, w)| s.is_some() != *w)
        {
            return Err(mismatch);
        }
        let leaves: Vec<MerkleNode> = chunk.iter().map(|t| MerkleNode::from(*t)).collect();
        let levels = chunk_levels(&leaves, layout.k, first)?;
        let mut node = levels
            .last()
            .and_then(|l| l.first().copied())
            .ok_or(MerkleError::Empty)?;
        for (j, sibling) in siblings.iter().enumerate() {
            let level = layout.k + j as u32;
            let pos = index >> level;
            node = match sibling {
                None => MerkleNode::combine(&node, &node),
                Some(s) if *s == node => {
                    return Err(MerkleError::Mutated {
                        level,
                        offset: pos & !1,
                    });
                }
                Some(s) if pos & 1 == 0 => MerkleNode::combine(&node, s),
                Some(s) => MerkleNode::combine(s, &node),
            };
        }
        if MerkleRoot::from(node) != root {
            return Err(mismatch);
        }
        Ok(Self {
            layout,
            index,
            first,
            chunk: levels,
            siblings,
        })
    }
}

impl MerkleNodes for SparsePath {
    fn leaf_count(&self) -> u64 {
        self.layout.tx_count
    }

    fn node(&self, level: u32, offset: u64) -> Option<MerkleNode> {
        // The chunk's own levels, 0 to k (level k: the chunk's one node).
        let local = offset
            .checked_sub(self.first >> level)
            .and_then(|l| usize::try_from(l).ok());
        if let Some(n) = local.and_then(|l| self.chunk.get(level as usize)?.get(l)) {
            return Some(*n);
        }
        if level < self.layout.k || offset != (self.index >> level) ^ 1 {
            return None;
        }
        self.siblings
            .get((level - self.layout.k) as usize)
            .copied()
            .flatten()
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

    /// The siblings a proof of `index` reads from encoded levels, as a host would from a file.
    fn read_siblings(layout: &UpperLayout, index: u64, bytes: &[u8]) -> Vec<Option<MerkleNode>> {
        layout
            .siblings(index)
            .map(|at| {
                at.map(|at| {
                    let at = at as usize;
                    MerkleNode::from_byte_array(bytes[at..at + 32].try_into().unwrap())
                })
            })
            .collect()
    }

    fn sparse(tree: &UpperTree, bytes: &[u8], index: u64, txids: &[Txid]) -> SparsePath {
        let layout = tree.layout();
        let (first, len) = layout.chunk_of(index);
        let chunk = &txids[first as usize..(first + len) as usize];
        let siblings = read_siblings(&layout, index, bytes);
        SparsePath::new(layout, index, chunk, siblings, tree.root()).unwrap()
    }

    #[test]
    fn a_path_read_from_encoded_levels_has_the_siblings_of_the_whole_tree() {
        for n in 1..70u8 {
            let txids: Vec<Txid> = (0..n).map(leaf).collect();
            let whole = MerkleTree::from_txids(&txids).unwrap();
            for k in [0, 2, 4] {
                let mut b = UpperTreeBuilder::new(k);
                for t in &txids {
                    b.push(*t).unwrap();
                }
                let tree = b.finish().unwrap();
                let bytes = tree.encode();
                assert_eq!(bytes.len() as u64, tree.layout().len(), "n = {n}, k = {k}");
                for index in 0..u64::from(n) {
                    let path = sparse(&tree, &bytes, index, &txids);
                    for level in 0..whole.height() {
                        let sib = (index >> level) ^ 1;
                        assert_eq!(
                            path.node(level, sib),
                            whole.node(level, sib),
                            "n = {n}, k = {k}, index = {index}, level = {level}"
                        );
                    }
                    assert_eq!(path.txid(index), Some(txids[index as usize]));
                }
            }
        }
    }

    #[test]
    fn a_damaged_sibling_or_chunk_is_refused() {
        let txids: Vec<Txid> = (0..40).map(leaf).collect();
        let mut b = UpperTreeBuilder::new(2);
        for t in &txids {
            b.push(*t).unwrap();
        }
        let tree = b.finish().unwrap();
        let layout = tree.layout();
        let mut bytes = tree.encode();
        let at = layout.siblings(5).flatten().last().unwrap() as usize;
        bytes[at] ^= 1;
        let siblings = read_siblings(&layout, 5, &bytes);
        let err = SparsePath::new(layout, 5, &txids[4..8], siblings, tree.root());
        assert_eq!(err.unwrap_err(), MerkleError::ChunkMismatch { first: 4 });
        let mut chunk = txids[4..8].to_vec();
        chunk[1] = leaf(99);
        let siblings = read_siblings(&layout, 5, &tree.encode());
        assert!(SparsePath::new(layout, 5, &chunk, siblings.clone(), tree.root()).is_err());
        assert!(SparsePath::new(layout, 5, &txids[4..7], siblings, tree.root()).is_err());
    }
}
