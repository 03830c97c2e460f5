//! The 80-byte block header: decoding, hashing, proof of work, chain linkage and chain work.

use super::hash::{BlockHash, MerkleRoot, sha256d};
use super::network::Network;
use super::u256::U256;
use crate::encode::{DecodeError, Reader};

/// Why a header (or a chain of them) is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// `bits` encodes a negative number.
    #[error("bits {bits:#010x} encode a negative target")]
    NegativeTarget {
        /// The compact target.
        bits: u32,
    },
    /// `bits` encodes a number that does not fit in 256 bits.
    #[error("bits {bits:#010x} overflow 256 bits")]
    TargetOverflow {
        /// The compact target.
        bits: u32,
    },
    /// `bits` encodes zero, a target no hash can meet.
    #[error("bits {bits:#010x} encode a zero target")]
    ZeroTarget {
        /// The compact target.
        bits: u32,
    },
    /// The target is easier than the network allows.
    #[error("bits {bits:#010x} are above the {network} proof-of-work limit")]
    TargetAboveLimit {
        /// The compact target.
        bits: u32,
        /// The network checked against.
        network: Network,
    },
    /// The header's hash does not meet its own target.
    #[error("block {hash} does not meet its target")]
    InsufficientWork {
        /// The header's hash.
        hash: BlockHash,
    },
    /// A header does not point to the one before it.
    #[error("header {index} points to {got}, expected {expected}")]
    BrokenLink {
        /// Position in the chain checked.
        index: usize,
        /// Hash of the previous header.
        expected: BlockHash,
        /// The header's `prev_blockhash`.
        got: BlockHash,
    },
    /// Chain work no longer fits in 256 bits (impossible for real chains).
    #[error("chain work overflows 256 bits")]
    WorkOverflow,
}

/// A block header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Block version.
    pub version: i32,
    /// Hash of the previous block's header.
    pub prev_blockhash: BlockHash,
    /// Root of the block's transaction merkle tree.
    pub merkle_root: MerkleRoot,
    /// Block time, Unix seconds as claimed by the miner.
    pub time: u32,
    /// Compact proof-of-work target.
    pub bits: u32,
    /// Nonce.
    pub nonce: u32,
}

impl Header {
    /// Serialized size.
    pub const SIZE: usize = 80;

    /// Reads a header from a reader.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`] when fewer than 80 bytes remain.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes: [u8; 80] = r.array()?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Parses exactly 80 bytes.
    ///
    /// # Errors
    /// [`DecodeError`] when `bytes` is not 80 bytes long.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let h = Self::read(&mut r)?;
        r.finish()?;
        Ok(h)
    }

    /// Parses 80 bytes; every 80-byte string is a syntactically valid header.
    pub fn from_bytes(b: &[u8; 80]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let hash = |i: usize| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&b[i..i + 32]);
            h
        };
        Self {
            version: word(0) as i32,
            prev_blockhash: BlockHash::from_byte_array(hash(4)),
            merkle_root: MerkleRoot::from_byte_array(hash(36)),
            time: word(68),
            bits: word(72),
            nonce: word(76),
        }
    }

    /// Returns the 80 serialized bytes.
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut b = [0u8; 80];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(self.prev_blockhash.as_byte_array());
        b[36..68].copy_from_slice(self.merkle_root.as_byte_array());
        b[68..72].copy_from_slice(&self.time.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_le_bytes());
        b[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// Returns the block hash, SHA-256d of the serialized header.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(sha256d(&self.to_bytes()))
    }

    /// Returns the target encoded by `bits`.
    ///
    /// # Errors
    /// [`HeaderError::NegativeTarget`], [`HeaderError::TargetOverflow`] or
    /// [`HeaderError::ZeroTarget`].
    pub fn target(&self) -> Result<U256, HeaderError> {
        target_from_bits(self.bits)
    }

    /// Checks that the target is within the network's limit and that the hash meets it;
    /// returns the hash.
    ///
    /// # Errors
    /// A target error, [`HeaderError::TargetAboveLimit`] or [`HeaderError::InsufficientWork`].
    pub fn check_pow(&self, network: Network) -> Result<BlockHash, HeaderError> {
        let target = self.target()?;
        let limit = target_from_bits(network.pow_limit_bits())?;
        if target > limit {
            return Err(HeaderError::TargetAboveLimit {
                bits: self.bits,
                network,
            });
        }
        let hash = self.block_hash();
        if U256::from_le_bytes(hash.to_byte_array()) > target {
            return Err(HeaderError::InsufficientWork { hash });
        }
        Ok(hash)
    }

    /// Returns the expected number of hashes needed to find this header:
    /// `2^256 / (target + 1)`, computed as `~target / (target + 1) + 1` as in Bitcoin.
    ///
    /// # Errors
    /// A target error.
    pub fn work(&self) -> Result<U256, HeaderError> {
        let target = self.target()?;
        // target < 2^256 - 1 here: the largest encodable target is below 2^255.
        let denom = target
            .checked_add(U256::ONE)
            .ok_or(HeaderError::WorkOverflow)?;
        target
            .complement()
            .checked_div(denom)
            .and_then(|q| q.checked_add(U256::ONE))
            .ok_or(HeaderError::WorkOverflow)
    }
}

/// Decodes a compact target (`nBits`) the way the node does, rejecting negative, zero and
/// overflowing encodings.
///
/// # Errors
/// [`HeaderError::NegativeTarget`], [`HeaderError::TargetOverflow`] or
/// [`HeaderError::ZeroTarget`].
pub fn target_from_bits(bits: u32) -> Result<U256, HeaderError> {
    let exponent = bits >> 24;
    let mut mantissa = bits & 0x007f_ffff;
    let negative = bits & 0x0080_0000 != 0;
    if negative && mantissa != 0 {
        return Err(HeaderError::NegativeTarget { bits });
    }
    if mantissa != 0
        && (exponent > 34
            || (mantissa > 0xff && exponent > 33)
            || (mantissa > 0xffff && exponent > 32))
    {
        return Err(HeaderError::TargetOverflow { bits });
    }
    let value = if exponent <= 3 {
        mantissa >>= 8 * (3 - exponent);
        U256::from_u64(u64::from(mantissa))
    } else {
        U256::from_u64(u64::from(mantissa)).shl_bits(8 * (exponent - 3))
    };
    if value.is_zero() {
        return Err(HeaderError::ZeroTarget { bits });
    }
    Ok(value)
}

/// What [`check_chain`] learned about a run of headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Hash of the last header.
    pub tip: BlockHash,
    /// Sum of the work of every header checked.
    pub work: U256,
}

/// Checks that `headers` link one to the next (and to `prev` when given), that each meets
/// its own target within the network's limit, and sums their work.
///
/// Difficulty retargeting is not checked: the service learns headers from its own node or
/// from a bundle's info-hash-authenticated metadata, and only needs linkage and real work.
///
/// # Errors
/// The first failing header's [`HeaderError`]; links report their index.
pub fn check_chain(
    headers: &[Header],
    network: Network,
    prev: Option<BlockHash>,
) -> Result<ChainSummary, HeaderError> {
    let mut expected = prev;
    let mut work = U256::ZERO;
    let mut tip = prev.unwrap_or_default();
    for (index, h) in headers.iter().enumerate() {
        if let Some(expected) = expected
            && h.prev_blockhash != expected
        {
            return Err(HeaderError::BrokenLink {
                index,
                expected,
                got: h.prev_blockhash,
            });
        }
        tip = h.check_pow(network)?;
        work = work
            .checked_add(h.work()?)
            .ok_or(HeaderError::WorkOverflow)?;
        expected = Some(tip);
    }
    Ok(ChainSummary { tip, work })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_targets() {
        assert_eq!(
            target_from_bits(0x1d00_ffff).unwrap(),
            U256::from_u64(0xffff).shl_bits(8 * 26)
        );
        assert_eq!(target_from_bits(0x0300_0001).unwrap(), U256::ONE);
        assert_eq!(
            target_from_bits(0x0180_0001),
            Err(HeaderError::NegativeTarget { bits: 0x0180_0001 })
        );
        assert_eq!(
            target_from_bits(0xff00_ffff),
            Err(HeaderError::TargetOverflow { bits: 0xff00_ffff })
        );
        assert_eq!(
            target_from_bits(0x0100_0000),
            Err(HeaderError::ZeroTarget { bits: 0x0100_0000 })
        );
    }

    #[test]
    fn difficulty_one_work_is_4295032833() {
        let h = Header {
            version: 1,
            prev_blockhash: BlockHash::default(),
            merkle_root: MerkleRoot::default(),
            time: 0,
            bits: 0x1d00_ffff,
            nonce: 0,
        };
        // The well-known chainwork of one difficulty-1 block: 0x100010001.
        assert_eq!(h.work().unwrap(), U256::from_u64(0x1_0001_0001));
    }
}
