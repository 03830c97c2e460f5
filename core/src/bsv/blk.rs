//! The node's `blk*.dat` framing: for each block, the network's 4-byte disk magic, a 4-byte
//! little-endian length, then the block. Nodes preallocate these files, so a run of zero
//! bytes where a magic should be marks the end of the data.

use crate::encode::{DecodeError, Reader};

/// A frame header: where a block starts in the file and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkFrame {
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    /// Length of the block in bytes.
    pub len: u32,
}

/// Why a blk file could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlkError {
    /// Neither the expected magic nor zero padding.
    #[error("bad magic {found:02x?} at offset {offset}")]
    BadMagic {
        /// Offset of the frame.
        offset: u64,
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A frame runs past the end of the data.
    #[error("frame at offset {offset} declares {len} bytes but the data ends first")]
    Truncated {
        /// Offset of the frame.
        offset: u64,
        /// Declared block length.
        len: u32,
    },
}

/// Parses the 8-byte frame header at `offset`. Returns `Ok(None)` at the end of the data
/// (no bytes left, or zero padding).
///
/// # Errors
/// [`BlkError::BadMagic`].
pub fn parse_frame_header(
    header: &[u8],
    offset: u64,
    magic: [u8; 4],
) -> Result<Option<u32>, BlkError> {
    let mut r = Reader::new(header);
    let Ok(found) = r.array::<4>() else {
        return Ok(None);
    };
    if found == [0; 4] {
        return Ok(None);
    }
    if found != magic {
        return Err(BlkError::BadMagic { offset, found });
    }
    match r.u32_le() {
        Ok(len) => Ok(Some(len)),
        Err(DecodeError::UnexpectedEnd { .. }) | Err(_) => {
            Err(BlkError::Truncated { offset, len: 0 })
        }
    }
}

/// Iterates over the frames of an in-memory blk file.
#[derive(Debug, Clone)]
pub struct BlkFrames<'a> {
    data: &'a [u8],
    pos: usize,
    magic: [u8; 4],
    done: bool,
}

impl<'a> BlkFrames<'a> {
    /// Frames `data` with the given network magic.
    pub fn new(data: &'a [u8], magic: [u8; 4]) -> Self {
        Self {
            data,
            pos: 0,
            magic,
            done: false,
        }
    }
}

impl<'a> Iterator for BlkFrames<'a> {
    type Item = Result<&'a [u8], BlkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos as u64;
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let len = match parse_frame_header(rest, offset, self.magic) {
            Ok(Some(len)) => len,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(e));
            }
        };
        let start = self.pos + 8;
        let Some(block) = self.data.get(start..start.saturating_add(len as usize)) else {
            self.done = true;
            return Some(Err(BlkError::Truncated { offset, len }));
        };
        self.pos = start + len as usize;
        Some(Ok(block))
    }
}
