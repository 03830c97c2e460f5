//! SHA-256d and the hash newtypes.
//!
//! Bitcoin stores hashes in "internal" byte order (the raw SHA-256d output) and displays
//! them byte-reversed. Each newtype keeps the internal order and reverses in exactly one
//! place, its `Display`/`FromStr` impls, so no caller ever reverses by hand.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};

use crate::hex::{self, HexError};

/// Returns SHA-256(SHA-256(`data`)).
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    let first = Sha256::digest(data);
    Sha256::digest(first).into()
}

/// Returns SHA-256d of the concatenation `left || right`, the merkle tree's inner node.
pub fn sha256d_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    // In wasm (the sandbox, the browser), a plain loop beats `sha2`'s portable backend
    // several times over; natively `sha2` uses the CPU's SHA instructions.
    #[cfg(target_arch = "wasm32")]
    {
        super::sha256_pair::sha256d_pair(left, right)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut h = Sha256::new();
        h.update(left);
        h.update(right);
        Sha256::digest(h.finalize()).into()
    }
}

/// An incremental SHA-256d, for data that arrives in pieces (a transaction spread over
/// several chunks of a block).
#[derive(Clone, Default)]
pub struct Sha256dEngine(Sha256);

impl fmt::Debug for Sha256dEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256dEngine")
    }
}

impl Sha256dEngine {
    /// Returns a fresh engine.
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Returns the SHA-256d of everything fed and resets the engine.
    pub fn finalize_reset(&mut self) -> [u8; 32] {
        let first = self.0.finalize_reset();
        Sha256::digest(first).into()
    }
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps 32 bytes in internal (hash output) order.
            pub const fn from_byte_array(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Returns the 32 bytes in internal order.
            pub const fn to_byte_array(self) -> [u8; 32] {
                self.0
            }

            /// Borrows the 32 bytes in internal order.
            pub const fn as_byte_array(&self) -> &[u8; 32] {
                &self.0
            }

            /// Returns the bytes in display order (reversed).
            pub fn to_display_bytes(self) -> [u8; 32] {
                let mut b = self.0;
                b.reverse();
                b
            }

            /// Parses the display (byte-reversed) hex form.
            ///
            /// # Errors
            /// [`HexError`] for bad digits or a length other than 64.
            pub fn from_hex(s: &str) -> Result<Self, HexError> {
                let mut b = hex::decode_array::<32>(s)?;
                b.reverse();
                Ok(Self(b))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // One write of a stack buffer: `write!` per byte dominated proof serving.
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 64];
                for (i, b) in self.0.iter().rev().enumerate() {
                    buf[2 * i] = DIGITS[usize::from(b >> 4)];
                    buf[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
                }
                f.write_str(core::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        crate::hex::serde_as_hex!($name);
    };
}

hash_newtype!(
    /// A transaction id: SHA-256d of the serialized transaction.
    Txid
);
hash_newtype!(
    /// A block hash: SHA-256d of the 80-byte header.
    BlockHash
);
hash_newtype!(
    /// The merkle root committed to by a block header.
    MerkleRoot
);
hash_newtype!(
    /// A node of a block's transaction merkle tree (a txid at level 0, an inner hash above).
    MerkleNode
);

impl From<Txid> for MerkleNode {
    fn from(t: Txid) -> Self {
        Self(t.0)
    }
}

impl From<MerkleNode> for MerkleRoot {
    fn from(n: MerkleNode) -> Self {
        Self(n.0)
    }
}

impl MerkleNode {
    /// Returns the parent of two nodes: SHA-256d(`left` || `right`).
    pub fn combine(left: &Self, right: &Self) -> Self {
        Self(sha256d_pair(&left.0, &right.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wasm_pair_hash_matches_sha2() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut l = [0u8; 32];
            let mut r = [0u8; 32];
            for b in l.iter_mut().chain(r.iter_mut()) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let mut h = Sha256::new();
            h.update(l);
            h.update(r);
            let want: [u8; 32] = Sha256::digest(h.finalize()).into();
            assert_eq!(super::super::sha256_pair::sha256d_pair(&l, &r), want);
        }
        assert_eq!(
            super::super::sha256_pair::sha256d_pair(&[0; 32], &[0; 32]),
            sha256d(&[0; 64])
        );
    }
    use alloc::string::ToString;

    #[test]
    fn txid_displays_byte_reversed() {
        // Genesis coinbase: the header's merkle root field starts with 3b a3 ed fd.
        let t: Txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
            .parse()
            .unwrap();
        assert_eq!(t.to_byte_array()[..4], [0x3b, 0xa3, 0xed, 0xfd]);
        assert_eq!(
            t.to_string(),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
        assert!("xyz".parse::<Txid>().is_err());
    }

    #[test]
    fn engine_matches_one_shot() {
        let mut e = Sha256dEngine::new();
        e.update(b"hello ");
        e.update(b"world");
        assert_eq!(e.finalize_reset(), sha256d(b"hello world"));
        assert_eq!(e.finalize_reset(), sha256d(b""));
    }
}
