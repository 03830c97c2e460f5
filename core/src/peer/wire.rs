//! Peer wire codec.
//!
//! Handshake: `19 "BitTorrent protocol"`, 8 reserved bytes (extension bits), the 20-byte
//! info-hash and the 20-byte peer id (68 bytes). Then messages: a 4-byte big-endian length
//! (0 is a keep-alive), an id byte and a payload. [`MessageDecoder`] is fed bytes in any
//! chunking and yields whole messages; it refuses lengths above its limit before buffering
//! them, so a peer cannot make it allocate without bound.

use alloc::vec::Vec;

use crate::encode::Reader;

/// The protocol string.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// Handshake length.
pub const HANDSHAKE_LEN: usize = 68;
/// The usual block size.
pub const BLOCK: u32 = 16 * 1024;

/// Reserved-byte extension bits.
pub mod ext {
    /// BEP 10 extension protocol (`reserved[5] & 0x10`).
    pub const EXTENSION_PROTOCOL: (usize, u8) = (5, 0x10);
    /// BEP 5 DHT (`reserved[7] & 0x01`).
    pub const DHT: (usize, u8) = (7, 0x01);
    /// BEP 6 fast extension (`reserved[7] & 0x04`).
    pub const FAST: (usize, u8) = (7, 0x04);
    /// BEP 52 v2 upgrade (`reserved[7] & 0x10`).
    pub const V2: (usize, u8) = (7, 0x10);
}

/// Why bytes are not a valid handshake or message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not the BitTorrent protocol string.
    #[error("not a BitTorrent handshake")]
    NotBitTorrent,
    /// A message longer than the limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Declared length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A known message with the wrong payload size.
    #[error("message id {id} with a {len}-byte payload")]
    BadLength {
        /// Message id.
        id: u8,
        /// Payload length.
        len: usize,
    },
}

/// A handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Reserved bytes (extension bits).
    pub reserved: [u8; 8],
    /// Info-hash (v1, or a v2 hash truncated to 20 bytes).
    pub info_hash: [u8; 20],
    /// Peer id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Returns the 68 bytes.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut b = [0u8; HANDSHAKE_LEN];
        b[0] = 19;
        b[1..20].copy_from_slice(PROTOCOL);
        b[20..28].copy_from_slice(&self.reserved);
        b[28..48].copy_from_slice(&self.info_hash);
        b[48..68].copy_from_slice(&self.peer_id);
        b
    }

    /// Parses 68 bytes.
    ///
    /// # Errors
    /// [`WireError::NotBitTorrent`].
    pub fn decode(b: &[u8; HANDSHAKE_LEN]) -> Result<Self, WireError> {
        if b[0] != 19 || &b[1..20] != PROTOCOL {
            return Err(WireError::NotBitTorrent);
        }
        let mut h = Self {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        h.reserved.copy_from_slice(&b[20..28]);
        h.info_hash.copy_from_slice(&b[28..48]);
        h.peer_id.copy_from_slice(&b[48..68]);
        Ok(h)
    }

    /// Returns whether an extension bit is set.
    pub fn has(&self, bit: (usize, u8)) -> bool {
        self.reserved.get(bit.0).is_some_and(|b| b & bit.1 != 0)
    }
}

/// A peer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Length 0.
    KeepAlive,
    /// 0.
    Choke,
    /// 1.
    Unchoke,
    /// 2.
    Interested,
    /// 3.
    NotInterested,
    /// 4: a piece the peer has.
    Have(u32),
    /// 5: pieces the peer has, most significant bit first.
    Bitfield(Vec<u8>),
    /// 6: ask for a block.
    Request {
        /// Piece.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Length.
        length: u32,
    },
    /// 7: a block.
    Piece {
        /// Piece.
        index: u32,
        /// Offset in the piece.
        begin: u32,
        /// Data.
        block: Vec<u8>,
    },
    /// 8: withdraw a request.
    Cancel {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Length.
        length: u32,
    },
    /// 9: DHT port.
    Port(u16),
    /// 14 (fast extension): the peer has every piece.
    HaveAll,
    /// 15 (fast extension): the peer has none.
    HaveNone,
    /// 16 (fast extension): a request will not be served.
    Reject {
        /// Piece.
        index: u32,
        /// Offset.
        begin: u32,
        /// Length.
        length: u32,
    },
    /// 13 (suggest) and 17 (allowed fast): a piece index.
    Suggest(u32),
    /// 17 (fast extension): may be requested while choked.
    AllowedFast(u32),
    /// 20 (BEP 10): extended message id and payload, passed through.
    Extended(u8, Vec<u8>),
    /// Any other id, ignored by well-behaved peers.
    Unknown(u8, Vec<u8>),
}

fn triple(id: u8, p: &[u8]) -> Result<(u32, u32, u32), WireError> {
    if p.len() != 12 {
        return Err(WireError::BadLength { id, len: p.len() });
    }
    let w = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    Ok((w(0), w(4), w(8)))
}

fn single(id: u8, p: &[u8]) -> Result<u32, WireError> {
    let a: [u8; 4] = p
        .try_into()
        .map_err(|_| WireError::BadLength { id, len: p.len() })?;
    Ok(u32::from_be_bytes(a))
}

impl Message {
    /// Parses a message body (id and payload, without the length prefix).
    ///
    /// # Errors
    /// [`WireError::BadLength`].
    pub fn parse(body: &[u8]) -> Result<Self, WireError> {
        let Some((&id, p)) = body.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let empty = |m: Message| {
            if p.is_empty() {
                Ok(m)
            } else {
                Err(WireError::BadLength { id, len: p.len() })
            }
        };
        match id {
            0 => empty(Message::Choke),
            1 => empty(Message::Unchoke),
            2 => empty(Message::Interested),
            3 => empty(Message::NotInterested),
            4 => Ok(Message::Have(single(id, p)?)),
            5 => Ok(Message::Bitfield(p.to_vec())),
            6 => triple(id, p).map(|(index, begin, length)| Message::Request {
                index,
                begin,
                length,
            }),
            7 => {
                let mut r = Reader::new(p);
                let index = r.array::<4>().map(u32::from_be_bytes);
                let begin = r.array::<4>().map(u32::from_be_bytes);
                match (index, begin) {
                    (Ok(index), Ok(begin)) => Ok(Message::Piece {
                        index,
                        begin,
                        block: r.rest().to_vec(),
                    }),
                    _ => Err(WireError::BadLength { id, len: p.len() }),
                }
            }
            8 => triple(id, p).map(|(index, begin, length)| Message::Cancel {
                index,
                begin,
                length,
            }),
            9 => {
                let a: [u8; 2] = p
                    .try_into()
                    .map_err(|_| WireError::BadLength { id, len: p.len() })?;
                Ok(Message::Port(u16::from_be_bytes(a)))
            }
            13 => Ok(Message::Suggest(single(id, p)?)),
            14 => empty(Message::HaveAll),
            15 => empty(Message::HaveNone),
            16 => triple(id, p).map(|(index, begin, length)| Message::Reject {
                index,
                begin,
                length,
            }),
            17 => Ok(Message::AllowedFast(single(id, p)?)),
            20 => match p.split_first() {
                Some((&ext, rest)) => Ok(Message::Extended(ext, rest.to_vec())),
                None => Err(WireError::BadLength { id, len: 0 }),
            },
            _ => Ok(Message::Unknown(id, p.to_vec())),
        }
    }

    /// Returns the message with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let three = |body: &mut Vec<u8>, id: u8, a: u32, b: u32, c: u32| {
            body.push(id);
            body.extend_from_slice(&a.to_be_bytes());
            body.extend_from_slice(&b.to_be_bytes());
            body.extend_from_slice(&c.to_be_bytes());
        };
        match self {
            Message::KeepAlive => {}
            Message::Choke => body.push(0),
            Message::Unchoke => body.push(1),
            Message::Interested => body.push(2),
            Message::NotInterested => body.push(3),
            Message::Have(i) => {
                body.push(4);
                body.extend_from_slice(&i.to_be_bytes());
            }
            Message::Bitfield(b) => {
                body.push(5);
                body.extend_from_slice(b);
            }
            Message::Request {
                index,
                begin,
                length,
            } => three(&mut body, 6, *index, *begin, *length),
            Message::Piece {
                index,
                begin,
                block,
            } => {
                body.push(7);
                body.extend_from_slice(&index.to_be_bytes());
                body.extend_from_slice(&begin.to_be_bytes());
                body.extend_from_slice(block);
            }
            Message::Cancel {
                index,
                begin,
                length,
            } => three(&mut body, 8, *index, *begin, *length),
            Message::Port(p) => {
                body.push(9);
                body.extend_from_slice(&p.to_be_bytes());
            }
            Message::Suggest(i) => {
                body.push(13);
                body.extend_from_slice(&i.to_be_bytes());
            }
            Message::HaveAll => body.push(14),
            Message::HaveNone => body.push(15),
            Message::Reject {
                index,
                begin,
                length,
            } => three(&mut body, 16, *index, *begin, *length),
            Message::AllowedFast(i) => {
                body.push(17);
                body.extend_from_slice(&i.to_be_bytes());
            }
            Message::Extended(e, p) => {
                body.push(20);
                body.push(*e);
                body.extend_from_slice(p);
            }
            Message::Unknown(id, p) => {
                body.push(*id);
                body.extend_from_slice(p);
            }
        }
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }
}

/// Returns whether a bitfield has piece `i`.
pub fn bitfield_has(bits: &[u8], i: u32) -> bool {
    bits.get((i / 8) as usize)
        .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// Push decoder for length-prefixed messages.
#[derive(Debug, Clone)]
pub struct MessageDecoder {
    max_len: u32,
    buf: Vec<u8>,
}

impl MessageDecoder {
    /// Returns a decoder refusing messages longer than `max_len` bytes (id + payload).
    pub fn new(max_len: u32) -> Self {
        Self {
            max_len,
            buf: Vec::new(),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete message, if any.
    ///
    /// # Errors
    /// [`WireError`]; the connection should be dropped.
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        if len > self.max_len {
            return Err(WireError::TooLong {
                len,
                max: self.max_len,
            });
        }
        let total = 4 + len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let msg = Message::parse(&self.buf[4..total]);
        self.buf.drain(..total);
        msg.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_any_chunking() {
        let msgs = alloc::vec![
            Message::KeepAlive,
            Message::Unchoke,
            Message::Have(7),
            Message::Bitfield(alloc::vec![0b1010_0000]),
            Message::Request {
                index: 1,
                begin: 16384,
                length: 16384
            },
            Message::Piece {
                index: 1,
                begin: 0,
                block: alloc::vec![9; 100]
            },
            Message::HaveAll,
            Message::Reject {
                index: 2,
                begin: 0,
                length: 16384
            },
            Message::Extended(0, b"d1:md11:ut_metadatai1eee".to_vec()),
        ];
        let bytes: Vec<u8> = msgs.iter().flat_map(Message::encode).collect();
        for chunk in [1, 3, 7, bytes.len()] {
            let mut d = MessageDecoder::new(1 << 20);
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.push(c);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, msgs);
        }
        let mut d = MessageDecoder::new(100);
        d.push(&1000u32.to_be_bytes());
        assert_eq!(
            d.next_message(),
            Err(WireError::TooLong {
                len: 1000,
                max: 100
            })
        );
        assert_eq!(
            Message::parse(&[4, 0]),
            Err(WireError::BadLength { id: 4, len: 1 })
        );
        let h = Handshake {
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 0x04],
            info_hash: [1; 20],
            peer_id: [2; 20],
        };
        let back = Handshake::decode(&h.encode()).unwrap();
        assert!(back.has(ext::FAST) && back.has(ext::EXTENSION_PROTOCOL) && !back.has(ext::DHT));
        assert!(
            bitfield_has(&[0b1010_0000], 0)
                && !bitfield_has(&[0b1010_0000], 1)
                && bitfield_has(&[0b1010_0000], 2)
        );
    }
}
