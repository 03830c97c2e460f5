//! Frames over sockets: [`write_frame`] and [`read_frame`] around the core's codec
//! (`torrent_core::galaxy`, which holds every message type), and the client's errors.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{Read, Write};
use torrent_core::galaxy::{FrameError, body_len, decode_body, encode_frame};

pub use torrent_core::galaxy::{
    AlertRequest, AlertResponse, AuthRequest, AuthResponse, BlockInfo, BlockRequest, BlockResponse,
    Envelope, GalaxyUtxo, OverlayRequest, OverlayResponse, StorageRequest, StorageResponse,
    TorrentRef, TxRequest, TxResponse, TxState, ValidationRequest, ValidationResponse,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum GalaxyError {
    /// The service could not be reached or the stream broke, after every retry.
    #[error("{service} at {addr}: {message} (after {attempts} attempts)")]
    Unreachable {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// Last transport error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A frame over the limit, or bytes that do not decode.
    #[error("{service} at {addr}: {message}")]
    Protocol {
        /// Which service.
        service: &'static str,
        /// Where.
        addr: String,
        /// What was wrong.
        message: String,
    },
}

fn invalid(e: FrameError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// Writes one frame.
///
/// # Errors
/// I/O errors, or a message over `max_frame` once encoded.
pub fn write_frame<T: Serialize>(
    w: &mut impl Write,
    msg: &T,
    max_frame: u32,
) -> std::io::Result<()> {
    let frame = encode_frame(msg, max_frame).map_err(|e| match e {
        FrameError::TooLarge { .. } => {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        }
        other => invalid(other),
    })?;
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame; a length over `max_frame` is refused before allocating.
///
/// # Errors
/// I/O errors ([`std::io::ErrorKind::InvalidData`] for an oversized or undecodable frame).
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max_frame: u32) -> std::io::Result<T> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)?;
    let mut body = vec![0u8; body_len(prefix, max_frame).map_err(invalid)?];
    r.read_exact(&mut body)?;
    decode_body(&body).map_err(invalid)
}
