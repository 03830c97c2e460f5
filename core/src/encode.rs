//! Bitcoin consensus encoding primitives: a bounds-checked [`Reader`] over a byte slice and
//! CompactSize (the "VarInt" of the Bitcoin wire format).
//!
//! Small inputs (a transaction, a proof, a header) are parsed from a slice with [`Reader`];
//! big ones (whole blocks) go through the push decoder in [`crate::bsv::block`].

use alloc::vec::Vec;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("unexpected end of input at offset {offset}: needed {needed} more bytes")]
    UnexpectedEnd {
        /// Offset where the missing value starts.
        offset: usize,
        /// Bytes that were needed.
        needed: usize,
    },
    /// A CompactSize that uses more bytes than its value needs. Consensus code rejects
    /// these so that every value has exactly one encoding.
    #[error("non-canonical CompactSize at offset {offset}")]
    NonCanonicalCompactSize {
        /// Offset of the CompactSize prefix byte.
        offset: usize,
    },
    /// A count or length above the caller's limit.
    #[error("{what} of {got} at offset {offset} exceeds the limit of {max}")]
    LimitExceeded {
        /// What was being counted.
        what: &'static str,
        /// Value found.
        got: u64,
        /// The limit.
        max: u64,
        /// Offset of the count.
        offset: usize,
    },
    /// Bytes left over after a complete value.
    #[error("{count} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Offset of the first unexpected byte.
        offset: usize,
        /// Number of bytes left over.
        count: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {what} at offset {offset}")]
    InvalidValue {
        /// Which field.
        what: &'static str,
        /// Offset of the field.
        offset: usize,
    },
}

/// A cursor over a byte slice. Every read is bounds-checked and reports its offset.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Returns a reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Returns the current offset from the start of the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Returns the number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Returns the unread bytes without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Reads `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`] when fewer than `n` bytes remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`].
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`].
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`].
    pub fn u32_le(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `i32`.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`].
    pub fn i32_le(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`].
    pub fn u64_le(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a canonical CompactSize.
    ///
    /// # Errors
    /// [`DecodeError::UnexpectedEnd`] or [`DecodeError::NonCanonicalCompactSize`].
    pub fn compact_size(&mut self) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let prefix = self.u8()?;
        let (value, min) = match prefix {
            0xfd => (u64::from(u16::from_le_bytes(self.array()?)), 0xfd),
            0xfe => (u64::from(u32::from_le_bytes(self.array()?)), 0x1_0000),
            0xff => (self.u64_le()?, 0x1_0000_0000),
            b => return Ok(u64::from(b)),
        };
        if value < min {
            return Err(DecodeError::NonCanonicalCompactSize { offset });
        }
        Ok(value)
    }

    /// Reads a CompactSize and checks it against `max`.
    ///
    /// # Errors
    /// As [`Reader::compact_size`], plus [`DecodeError::LimitExceeded`].
    pub fn compact_size_max(&mut self, what: &'static str, max: u64) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let got = self.compact_size()?;
        if got > max {
            return Err(DecodeError::LimitExceeded {
                what,
                got,
                max,
                offset,
            });
        }
        Ok(got)
    }

    /// Reads a CompactSize length (at most `max`) and then that many bytes.
    ///
    /// # Errors
    /// As [`Reader::compact_size_max`] and [`Reader::take`].
    pub fn var_bytes(&mut self, what: &'static str, max: u64) -> Result<&'a [u8], DecodeError> {
        let len = self.compact_size_max(what, max)?;
        // `len <= max` and `take` checks it against what is left, so the cast cannot lose
        // anything that matters: a length above usize::MAX could never be satisfied.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len)
    }

    /// Fails unless every byte was consumed.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`].
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                offset: self.pos,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

/// Returns how many bytes the CompactSize encoding of `n` takes.
pub const fn compact_size_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Appends the canonical CompactSize encoding of `n`.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Returns the prefix of a vector capacity request that the remaining input could hold,
/// so that a hostile count can never make a decoder allocate more than the input's size.
pub(crate) fn bounded_capacity(count: u64, remaining: usize, min_item_size: usize) -> usize {
    let fit = remaining / min_item_size.max(1);
    usize::try_from(count).map_or(fit, |c| c.min(fit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn compact_size_boundaries_round_trip() {
        for n in [
            0u64,
            0xfc,
            0xfd,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            write_compact_size(&mut buf, n);
            assert_eq!(buf.len(), compact_size_len(n));
            let mut r = Reader::new(&buf);
            assert_eq!(r.compact_size().unwrap(), n);
            r.finish().unwrap();
        }
    }

    #[test]
    fn compact_size_rejects_non_canonical() {
        let mut r = Reader::new(&[0xfd, 0x10, 0x00]);
        assert_eq!(
            r.compact_size(),
            Err(DecodeError::NonCanonicalCompactSize { offset: 0 })
        );
        let mut r = Reader::new(&[0xfe, 0xff, 0xff, 0x00, 0x00]);
        assert!(matches!(
            r.compact_size(),
            Err(DecodeError::NonCanonicalCompactSize { .. })
        ));
        let mut r = Reader::new(&[0xff, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            r.compact_size(),
            Err(DecodeError::NonCanonicalCompactSize { .. })
        ));
    }

    #[test]
    fn truncated_reads_report_offset() {
        let data = vec![0xfd, 0x01];
        let mut r = Reader::new(&data);
        assert_eq!(
            r.compact_size(),
            Err(DecodeError::UnexpectedEnd {
                offset: 1,
                needed: 1
            })
        );
    }
}
