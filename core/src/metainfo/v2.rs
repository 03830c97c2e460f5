//! BEP 52 (v2) file hashing: a SHA-256 merkle tree over 16 KiB blocks per file.
//!
//! Leaves are SHA-256 of each 16 KiB block (the last one may be short); missing leaves up to
//! a power of two are 32 zero bytes and inner nodes are SHA-256(left || right) — zero
//! padding, unlike Bitcoin's duplicate-the-last rule, which is why this tree has its own
//! module. A file longer than one piece also publishes its "piece layer": the roots of the
//! piece-sized subtrees. We keep only one piece's leaves and the finished piece hashes, so
//! memory is 32 bytes per piece whatever the file size.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

/// The v2 block size.
pub const BLOCK: u64 = 16 * 1024;

fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Merkle root of `leaves` padded with `pad` to `width` (a power of two ≥ `leaves.len()`).
fn root_padded(leaves: &[[u8; 32]], width: usize, pad: [u8; 32]) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    level.resize(width.max(1), pad);
    let mut pad = pad;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| node(&p[0], p.get(1).unwrap_or(&pad)))
            .collect();
        pad = node(&pad, &pad);
    }
    level[0]
}

/// The root of a subtree of `leaves` zero leaves.
fn zero_subtree(leaves: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    let mut n = 1;
    while n < leaves {
        h = node(&h, &h);
        n *= 2;
    }
    h
}

/// What a finished file contributes to a v2 torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRoots {
    /// The file's `pieces root`.
    pub root: [u8; 32],
    /// The file's piece layer (empty when the file fits in one piece).
    pub piece_layer: Vec<[u8; 32]>,
    /// File length.
    pub length: u64,
}

/// Computes a file's v2 root and piece layer from bytes fed incrementally.
#[derive(Clone)]
pub struct FileHasher {
    piece_length: u64,
    block: Sha256,
    block_filled: u64,
    leaves: Vec<[u8; 32]>,
    pieces: Vec<[u8; 32]>,
    length: u64,
}

impl core::fmt::Debug for FileHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileHasher")
            .field("piece_length", &self.piece_length)
            .field("length", &self.length)
            .finish()
    }
}

impl FileHasher {
    /// Returns a hasher for a torrent with `piece_length` (a power of two ≥ 16 KiB).
    pub fn new(piece_length: u64) -> Self {
        Self {
            piece_length: piece_length.max(BLOCK),
            block: Sha256::new(),
            block_filled: 0,
            leaves: Vec::new(),
            pieces: Vec::new(),
            length: 0,
        }
    }

    fn blocks_per_piece(&self) -> usize {
        usize::try_from(self.piece_length / BLOCK).unwrap_or(usize::MAX)
    }

    fn close_block(&mut self) {
        self.leaves.push(self.block.finalize_reset().into());
        self.block_filled = 0;
        if self.leaves.len() == self.blocks_per_piece() {
            let bpp = self.blocks_per_piece();
            self.pieces.push(root_padded(&self.leaves, bpp, [0; 32]));
            self.leaves.clear();
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length += data.len() as u64;
        while !data.is_empty() {
            let n = usize::try_from(BLOCK - self.block_filled)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let (now, rest) = data.split_at(n);
            self.block.update(now);
            self.block_filled += n as u64;
            data = rest;
            if self.block_filled == BLOCK {
                self.close_block();
            }
        }
    }

    /// Finishes the file.
    pub fn finish(mut self) -> FileRoots {
        if self.block_filled > 0 {
            self.close_block();
        }
        let length = self.length;
        if length == 0 {
            return FileRoots {
                root: [0; 32],
                piece_layer: Vec::new(),
                length,
            };
        }
        if self.pieces.is_empty() {
            // Fits in one piece: the tree is just its blocks, padded to a power of two.
            let width = self.leaves.len().next_power_of_two();
            return FileRoots {
                root: root_padded(&self.leaves, width, [0; 32]),
                piece_layer: Vec::new(),
                length,
            };
        }
        if !self.leaves.is_empty() {
            let bpp = self.blocks_per_piece();
            self.pieces.push(root_padded(&self.leaves, bpp, [0; 32]));
        }
        let width = self.pieces.len().next_power_of_two();
        let pad = zero_subtree(self.piece_length / BLOCK);
        FileRoots {
            root: root_padded(&self.pieces, width, pad),
            piece_layer: self.pieces,
            length,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_block_root_is_its_hash_and_layers_agree_with_flat_tree() {
        let mut h = FileHasher::new(BLOCK);
        h.update(b"abc");
        let r = h.finish();
        assert_eq!(r.root, <[u8; 32]>::from(Sha256::digest(b"abc")));
        // A file of 5 blocks with 2-block pieces: the root equals the flat tree of 8 leaves.
        let data: Vec<u8> = (0..5 * BLOCK as usize).map(|i| (i % 251) as u8).collect();
        let mut h = FileHasher::new(2 * BLOCK);
        for c in data.chunks(1000) {
            h.update(c);
        }
        let r = h.finish();
        let leaves: Vec<[u8; 32]> = data
            .chunks(BLOCK as usize)
            .map(|c| Sha256::digest(c).into())
            .collect();
        assert_eq!(r.root, root_padded(&leaves, 8, [0; 32]));
        assert_eq!(r.piece_layer.len(), 3);
        assert_eq!(r.piece_layer[2], root_padded(&leaves[4..], 2, [0; 32]));
    }
}
