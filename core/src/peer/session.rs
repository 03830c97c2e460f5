//! One audit of one peer, sans-IO (DESIGN §9 "Audits"): the session speaks as an ordinary
//! leecher (handshake, interested), learns what the peer has, and once unchoked asks for
//! whole pieces block by block (16 KiB requests, [`PIPELINE`] in flight), checking each
//! against its SHA-1. The host owns the socket and the clock: it sends what
//! [`Session::take_outgoing`] returns, feeds what it reads to [`Session::receive`], and stops
//! at its deadline. Bulk fetches use the same session and keep the verified pieces.
//!
//! Whatever a hostile peer sends, the session answers with a [`Failure`] and never panics:
//! another torrent, a missing piece, a rejected, unrequested, repeated or wrongly sized block,
//! a choke mid-audit, or a piece that does not match its hash.

use alloc::vec;
use alloc::vec::Vec;

use sha1::{Digest, Sha1};

use super::wire::{
    BLOCK, HANDSHAKE_LEN, Handshake, Message, MessageDecoder, WireError, bitfield_has, ext,
};
use crate::metainfo::Metainfo;

/// Requests kept in flight.
pub const PIPELINE: usize = 16;

/// The largest message accepted: a block with its header, or a bitfield of a 1 MiB.
const MAX_MESSAGE: u32 = BLOCK + 13 + 1024 * 1024;

/// A piece to fetch and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its index.
    pub index: u32,
    /// Its length in bytes (the last piece may be short).
    pub length: u32,
    /// Its SHA-1 from the torrent.
    pub hash: [u8; 20],
}

impl Wanted {
    /// `pieces` of torrent `m`, with their lengths and hashes.
    ///
    /// # Errors
    /// [`Failure::OutOfRange`] for a piece the torrent does not have.
    pub fn of(m: &Metainfo, pieces: &[u32]) -> Result<Vec<Self>, Failure> {
        let total = m.total_length();
        pieces
            .iter()
            .map(|&p| {
                let hash = *m.pieces.get(p as usize).ok_or(Failure::OutOfRange(p))?;
                let start = u64::from(p) * m.piece_length;
                let length = u32::try_from(m.piece_length.min(total.saturating_sub(start)))
                    .map_err(|_| Failure::OutOfRange(p))?;
                Ok(Self {
                    index: p,
                    length,
                    hash,
                })
            })
            .collect()
    }
}

/// Why the peer failed the audit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// Bytes that are not the peer wire protocol.
    #[error("protocol error: {0}")]
    Protocol(WireError),
    /// Its handshake named another info-hash.
    #[error("peer answered for another torrent")]
    OtherTorrent,
    /// It said it has nothing.
    #[error("peer has none of the torrent")]
    HasNone,
    /// It does not have a piece asked for.
    #[error("peer does not have piece {0}")]
    Missing(u32),
    /// The torrent has no such piece.
    #[error("piece {0} out of range")]
    OutOfRange(u32),
    /// A block nobody asked for (or one already received).
    #[error("unrequested block at {begin} of piece {piece}")]
    Unrequested {
        /// Piece.
        piece: u32,
        /// Offset.
        begin: u32,
    },
    /// A block of the wrong size.
    #[error("block at {begin} of piece {piece} has {got} bytes, asked {asked}")]
    WrongLength {
        /// Piece.
        piece: u32,
        /// Offset.
        begin: u32,
        /// Bytes received.
        got: usize,
        /// Bytes asked.
        asked: u32,
    },
    /// It refused a request.
    #[error("peer rejected block {begin} of piece {piece}")]
    Rejected {
        /// Piece.
        piece: u32,
        /// Offset.
        begin: u32,
    },
    /// It choked us before the last piece.
    #[error("peer choked us mid-audit")]
    Choked,
    /// A whole piece whose SHA-1 is not the torrent's.
    #[error("piece {0} does not match its hash")]
    HashMismatch(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the peer's handshake.
    Handshake,
    /// Waiting to be unchoked, learning what the peer has.
    Choked,
    /// Fetching `wanted[at]`.
    Fetching,
    /// Every piece checked.
    Done,
}

/// One audit in progress.
#[derive(Debug)]
pub struct Session {
    info_hash: [u8; 20],
    phase: Phase,
    handshake: Vec<u8>,
    decoder: MessageDecoder,
    out: Vec<u8>,
    wanted: Vec<Wanted>,
    at: usize,
    have_all: bool,
    bitfield: Vec<u8>,
    haves: Vec<u32>,
    /// The current piece: its bytes, and for each block whether it arrived.
    data: Vec<u8>,
    arrived: Vec<bool>,
    next: usize,
    outstanding: usize,
    bytes: u64,
    pieces_ok: u32,
}

impl Session {
    /// A session for torrent `info_hash`, introducing itself as `peer_id` (with the fast
    /// extension), to fetch and check `wanted`; its handshake is queued at once.
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20], wanted: Vec<Wanted>) -> Self {
        let mut reserved = [0u8; 8];
        reserved[ext::FAST.0] |= ext::FAST.1;
        let out = Handshake {
            reserved,
            info_hash,
            peer_id,
        }
        .encode()
        .to_vec();
        Self {
            info_hash,
            phase: if wanted.is_empty() {
                Phase::Done
            } else {
                Phase::Handshake
            },
            handshake: Vec::with_capacity(HANDSHAKE_LEN),
            decoder: MessageDecoder::new(MAX_MESSAGE),
            out,
            wanted,
            at: 0,
            have_all: false,
            bitfield: Vec::new(),
            haves: Vec::new(),
            data: Vec::new(),
            arrived: Vec::new(),
            next: 0,
            outstanding: 0,
            bytes: 0,
            pieces_ok: 0,
        }
    }

    /// The bytes to send now (empty when there is nothing to say).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.out)
    }

    /// Whether every piece was fetched and matched its hash.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Block bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Pieces that matched their hash so far.
    pub fn pieces_ok(&self) -> u32 {
        self.pieces_ok
    }

    /// Feeds bytes read from the peer; returns the pieces that became complete and matched
    /// their hash (index and bytes), in order.
    ///
    /// # Errors
    /// The [`Failure`] that ends the audit; the session must not be fed after one.
    pub fn receive(&mut self, mut bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, Failure> {
        if self.phase == Phase::Handshake {
            let take = (HANDSHAKE_LEN - self.handshake.len()).min(bytes.len());
            self.handshake.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let Ok(hs) = <[u8; HANDSHAKE_LEN]>::try_from(self.handshake.as_slice()) else {
                return Ok(Vec::new());
            };
            let theirs = Handshake::decode(&hs).map_err(Failure::Protocol)?;
            if theirs.info_hash != self.info_hash {
                return Err(Failure::OtherTorrent);
            }
            self.out.extend_from_slice(&Message::Interested.encode());
            self.phase = Phase::Choked;
        }
        self.decoder.push(bytes);
        let mut verified = Vec::new();
        while self.phase != Phase::Done {
            let Some(m) = self.decoder.next_message().map_err(Failure::Protocol)? else {
                break;
            };
            if let Some(piece) = self.on_message(m)? {
                verified.push(piece);
            }
        }
        Ok(verified)
    }

    fn on_message(&mut self, m: Message) -> Result<Option<(u32, Vec<u8>)>, Failure> {
        match m {
            Message::HaveAll => self.have_all = true,
            Message::HaveNone => return Err(Failure::HasNone),
            Message::Bitfield(b) => self.bitfield = b,
            Message::Have(i) => self.haves.push(i),
            Message::Unchoke if self.phase == Phase::Choked => {
                self.phase = Phase::Fetching;
                self.start_piece()?;
            }
            Message::Choke if self.phase == Phase::Fetching => return Err(Failure::Choked),
            Message::Reject { index, begin, .. } if self.phase == Phase::Fetching => {
                return Err(Failure::Rejected {
                    piece: index,
                    begin,
                });
            }
            Message::Piece {
                index,
                begin,
                block,
            } if self.phase == Phase::Fetching && index == self.wanted[self.at].index => {
                return self.on_block(begin, &block);
            }
            _ => {}
        }
        Ok(None)
    }

    /// Checks that the peer has the current piece and asks for its first blocks.
    fn start_piece(&mut self) -> Result<(), Failure> {
        let w = &self.wanted[self.at];
        let p = w.index;
        if !(self.have_all || bitfield_has(&self.bitfield, p) || self.haves.contains(&p)) {
            return Err(Failure::Missing(p));
        }
        self.data = vec![0u8; w.length as usize];
        self.arrived = vec![false; (w.length as usize).div_ceil(BLOCK as usize)];
        self.next = 0;
        self.outstanding = 0;
        self.request_more();
        Ok(())
    }

    /// Keeps [`PIPELINE`] requests in flight.
    fn request_more(&mut self) {
        let w = &self.wanted[self.at];
        while self.outstanding < PIPELINE && self.next < self.arrived.len() {
            let begin = self.next as u32 * BLOCK;
            let length = (w.length - begin).min(BLOCK);
            self.out.extend_from_slice(
                &Message::Request {
                    index: w.index,
                    begin,
                    length,
                }
                .encode(),
            );
            self.next += 1;
            self.outstanding += 1;
        }
    }

    fn on_block(&mut self, begin: u32, block: &[u8]) -> Result<Option<(u32, Vec<u8>)>, Failure> {
        let w = &self.wanted[self.at];
        let piece = w.index;
        let slot = (begin / BLOCK) as usize;
        if !begin.is_multiple_of(BLOCK) || slot >= self.next || self.arrived[slot] {
            return Err(Failure::Unrequested { piece, begin });
        }
        let asked = (w.length - begin).min(BLOCK);
        if block.len() != asked as usize {
            return Err(Failure::WrongLength {
                piece,
                begin,
                got: block.len(),
                asked,
            });
        }
        self.data[begin as usize..begin as usize + block.len()].copy_from_slice(block);
        self.arrived[slot] = true;
        self.bytes += block.len() as u64;
        self.outstanding -= 1;
        if self.arrived.iter().any(|a| !a) {
            self.request_more();
            return Ok(None);
        }
        let got: [u8; 20] = Sha1::digest(&self.data).into();
        if got != w.hash {
            return Err(Failure::HashMismatch(piece));
        }
        self.pieces_ok += 1;
        let done = (piece, core::mem::take(&mut self.data));
        self.at += 1;
        if self.at == self.wanted.len() {
            self.phase = Phase::Done;
        } else {
            self.start_piece()?;
        }
        Ok(Some(done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IH: [u8; 20] = [7; 20];

    /// Two pieces: 40 KiB (three blocks) and 5 bytes.
    fn wanted() -> (Vec<Wanted>, Vec<Vec<u8>>) {
        let bytes = [vec![1u8; 40 * 1024], vec![2u8; 5]];
        let w = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| Wanted {
                index: i as u32,
                length: b.len() as u32,
                hash: Sha1::digest(b).into(),
            })
            .collect();
        (w, bytes.to_vec())
    }

    fn theirs(info_hash: [u8; 20]) -> Vec<u8> {
        Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id: [9; 20],
        }
        .encode()
        .to_vec()
    }

    /// Every request in `out`, as (piece, begin, length).
    fn requests(out: &[u8]) -> Vec<(u32, u32, u32)> {
        let mut d = MessageDecoder::new(MAX_MESSAGE);
        let start = if out.first() == Some(&19) {
            HANDSHAKE_LEN
        } else {
            0
        };
        d.push(&out[start..]);
        let mut r = Vec::new();
        while let Some(m) = d.next_message().unwrap() {
            if let Message::Request {
                index,
                begin,
                length,
            } = m
            {
                r.push((index, begin, length));
            }
        }
        r
    }

    fn block(pieces: &[Vec<u8>], (index, begin, length): (u32, u32, u32)) -> Vec<u8> {
        let data = &pieces[index as usize][begin as usize..(begin + length) as usize];
        Message::Piece {
            index,
            begin,
            block: data.to_vec(),
        }
        .encode()
    }

    /// A request: piece, offset, length.
    type Req = (u32, u32, u32);

    /// A session past the handshake and unchoked, with the pieces' bytes and its first
    /// requests.
    fn unchoked() -> (Session, Vec<Vec<u8>>, Vec<Req>) {
        let (w, pieces) = wanted();
        let mut s = Session::new(IH, [1; 20], w);
        assert_eq!(
            &s.take_outgoing()[28..48],
            &IH,
            "our handshake names the torrent"
        );
        let mut input = theirs(IH);
        input.extend(Message::HaveAll.encode());
        input.extend(Message::Unchoke.encode());
        // Split anywhere: the session buffers.
        let (a, b) = input.split_at(30);
        assert!(s.receive(a).unwrap().is_empty());
        assert!(s.receive(b).unwrap().is_empty());
        let reqs = requests(&s.take_outgoing());
        (s, pieces, reqs)
    }

    #[test]
    fn an_honest_peer_passes_piece_by_piece() {
        let (mut s, pieces, reqs) = unchoked();
        assert_eq!(
            reqs,
            vec![(0, 0, BLOCK), (0, BLOCK, BLOCK), (0, 2 * BLOCK, 8 * 1024)]
        );
        let mut got = Vec::new();
        for r in reqs {
            got.extend(s.receive(&block(&pieces, r)).unwrap());
        }
        assert_eq!(got, vec![(0, pieces[0].clone())]);
        let reqs = requests(&s.take_outgoing());
        assert_eq!(reqs, vec![(1, 0, 5)]);
        assert_eq!(
            s.receive(&block(&pieces, reqs[0])).unwrap(),
            vec![(1, pieces[1].clone())]
        );
        assert!(s.is_done());
        assert_eq!((s.pieces_ok(), s.bytes()), (2, 40 * 1024 + 5));
    }

    #[test]
    fn every_way_of_cheating_is_a_failure() {
        // Another torrent.
        let (w, _) = wanted();
        let mut s = Session::new(IH, [1; 20], w.clone());
        assert_eq!(s.receive(&theirs([8; 20])), Err(Failure::OtherTorrent));
        // Claims nothing, or not the piece.
        let mut s = Session::new(IH, [1; 20], w.clone());
        let mut input = theirs(IH);
        input.extend(Message::HaveNone.encode());
        assert_eq!(s.receive(&input), Err(Failure::HasNone));
        let mut s = Session::new(IH, [1; 20], w);
        let mut input = theirs(IH);
        input.extend(Message::Bitfield(vec![0b0100_0000]).encode());
        input.extend(Message::Unchoke.encode());
        assert_eq!(s.receive(&input), Err(Failure::Missing(0)));
        // Wrong bytes.
        let (mut s, mut pieces, reqs) = unchoked();
        pieces[0][100] ^= 1;
        let mut last = Ok(Vec::new());
        for r in reqs {
            last = s.receive(&block(&pieces, r));
        }
        assert_eq!(last, Err(Failure::HashMismatch(0)));
        // A block twice, a block nobody asked for, a short block.
        let (mut s, pieces, reqs) = unchoked();
        s.receive(&block(&pieces, reqs[0])).unwrap();
        assert_eq!(
            s.receive(&block(&pieces, reqs[0])),
            Err(Failure::Unrequested { piece: 0, begin: 0 })
        );
        let (mut s, pieces, _) = unchoked();
        assert_eq!(
            s.receive(&block(&pieces, (0, 5, 10))),
            Err(Failure::Unrequested { piece: 0, begin: 5 })
        );
        let (mut s, pieces, _) = unchoked();
        assert_eq!(
            s.receive(&block(&pieces, (0, 0, 100))),
            Err(Failure::WrongLength {
                piece: 0,
                begin: 0,
                got: 100,
                asked: BLOCK
            })
        );
        // Refusing or choking mid-audit.
        let (mut s, _, _) = unchoked();
        let reject = Message::Reject {
            index: 0,
            begin: 0,
            length: BLOCK,
        };
        assert_eq!(
            s.receive(&reject.encode()),
            Err(Failure::Rejected { piece: 0, begin: 0 })
        );
        let (mut s, _, _) = unchoked();
        assert_eq!(s.receive(&Message::Choke.encode()), Err(Failure::Choked));
        // Garbage.
        let (mut s, _, _) = unchoked();
        assert!(matches!(
            s.receive(&[0xff, 0xff, 0xff, 0xff, 7]),
            Err(Failure::Protocol(_))
        ));
    }
}
