//! v1 piece hashing, fed by the host one file at a time.
//!
//! Bundles pad every file but the last to a piece boundary (BEP 47), so no piece spans two
//! files and each file's pieces can be hashed on their own, in any order or in parallel,
//! and concatenated in file order afterwards.

use alloc::vec::Vec;

use sha1::{Digest, Sha1};

/// SHA-1 piece hashes of one file, fed incrementally.
#[derive(Clone)]
pub struct PieceHasher {
    piece_length: u64,
    filled: u64,
    sha: Sha1,
    pieces: Vec<[u8; 20]>,
    total: u64,
}

impl core::fmt::Debug for PieceHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PieceHasher")
            .field("piece_length", &self.piece_length)
            .field("total", &self.total)
            .field("pieces", &self.pieces.len())
            .finish()
    }
}

static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

impl PieceHasher {
    /// Returns a hasher for pieces of `piece_length` bytes (non-zero).
    pub fn new(piece_length: u64) -> Self {
        Self {
            piece_length: piece_length.max(1),
            filled: 0,
            sha: Sha1::new(),
            pieces: Vec::new(),
            total: 0,
        }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = self.piece_length - self.filled;
            let n = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
            let (now, rest) = data.split_at(n);
            self.sha.update(now);
            self.filled += n as u64;
            data = rest;
            if self.filled == self.piece_length {
                self.pieces.push(self.sha.finalize_reset().into());
                self.filled = 0;
            }
        }
    }

    /// Returns how many bytes were fed.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Returns true when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Finishes the file. With `pad`, a partial last piece is completed with zeros (the pad
    /// file that follows it); without, it is hashed short (the torrent's last file).
    pub fn finish(mut self, pad: bool) -> Vec<[u8; 20]> {
        if self.filled > 0 {
            if pad {
                let mut left = self.piece_length - self.filled;
                while left > 0 {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(ZEROS.len());
                    self.sha.update(&ZEROS[..n]);
                    left -= n as u64;
                }
            }
            self.pieces.push(self.sha.finalize_reset().into());
        }
        self.pieces
    }
}

/// Returns the zero bytes needed after a file of `len` bytes to reach a piece boundary.
pub const fn pad_len(len: u64, piece_length: u64) -> u64 {
    if piece_length == 0 {
        return 0;
    }
    match len % piece_length {
        0 => 0,
        r => piece_length - r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_matter_and_padding_is_zeros() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut a = PieceHasher::new(16384);
        a.update(&data);
        let mut b = PieceHasher::new(16384);
        for c in data.chunks(999) {
            b.update(c);
        }
        let (pa, pb) = (a.finish(true), b.finish(true));
        assert_eq!(pa, pb);
        assert_eq!(pa.len(), 7);
        let mut padded = data.clone();
        padded.resize(7 * 16384, 0);
        assert_eq!(pa[6], <[u8; 20]>::from(Sha1::digest(&padded[6 * 16384..])));
        let mut c = PieceHasher::new(16384);
        c.update(&data);
        assert_eq!(
            c.finish(false)[6],
            <[u8; 20]>::from(Sha1::digest(&data[6 * 16384..]))
        );
        assert_eq!(pad_len(100_000, 16384), 7 * 16384 - 100_000);
        assert_eq!(pad_len(16384, 16384), 0);
    }
}
