//! Audits: connect to a seeder as an ordinary peer, ask for whole random pieces block by
//! block (16 KiB requests, pipelined) and check each piece against the torrent's SHA-1 piece
//! hash. A seeder that claims a bundle but cannot serve it fails, whatever its tracker
//! announces say. The codec is `torrent_core::peer::wire`; this module owns the socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha1::{Digest, Sha1};
use torrent_core::metainfo::Metainfo;
use torrent_core::peer::wire::{
    BLOCK, HANDSHAKE_LEN, Handshake, Message, MessageDecoder, bitfield_has, ext,
};

/// Requests kept in flight per piece.
const PIPELINE: usize = 16;

/// The outcome of one audit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditReport {
    /// The peer audited.
    pub peer: String,
    /// Torrent audited (v1 info-hash).
    pub infohash_v1: String,
    /// Pieces requested.
    pub pieces: Vec<u32>,
    /// Pieces whose hash matched.
    pub pieces_ok: u32,
    /// Bytes received.
    pub bytes: u64,
    /// Whether the seeder passed.
    pub passed: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Milliseconds taken.
    pub millis: u64,
}

/// Picks `n` distinct pseudo-random pieces of `total` from `seed`.
pub(crate) fn pick_pieces(total: u32, n: u32, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    let mut out: Vec<u32> = Vec::new();
    while (out.len() as u32) < n.min(total) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = (x % u64::from(total)) as u32;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

struct Conn {
    stream: TcpStream,
    dec: MessageDecoder,
    buf: Vec<u8>,
}

impl Conn {
    fn next(&mut self, deadline: Instant) -> Result<Message, String> {
        loop {
            if let Some(m) = self
                .dec
                .next_message()
                .map_err(|e| format!("protocol error: {e}"))?
            {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err("timed out".into());
            }
            let n = self
                .stream
                .read(&mut self.buf)
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("peer closed the connection".into());
            }
            self.dec.push(&self.buf[..n]);
        }
    }

    fn send(&mut self, m: &Message) -> Result<(), String> {
        self.stream
            .write_all(&m.encode())
            .map_err(|e| format!("write: {e}"))
    }
}

/// Audits `peer` for the torrent `m`, checking `pieces`; never panics on a hostile peer.
pub(crate) fn audit_peer(
    peer: SocketAddr,
    m: &Metainfo,
    pieces: &[u32],
    timeout: Duration,
) -> AuditReport {
    fetch_pieces(peer, m, pieces, timeout, &mut |_, _| {})
}

/// [`audit_peer`], handing each piece that matched its hash to `sink` (index, bytes): the
/// bulk path, where what a seeder delivers is both checked and used.
pub(crate) fn fetch_pieces(
    peer: SocketAddr,
    m: &Metainfo,
    pieces: &[u32],
    timeout: Duration,
    sink: &mut dyn FnMut(u32, Vec<u8>),
) -> AuditReport {
    let started = Instant::now();
    let mut report = AuditReport {
        peer: peer.to_string(),
        infohash_v1: m.infohash_v1.map(|h| h.to_string()).unwrap_or_default(),
        pieces: pieces.to_vec(),
        pieces_ok: 0,
        bytes: 0,
        passed: false,
        failure: None,
        millis: 0,
    };
    let result = run(peer, m, pieces, timeout, &mut report, sink);
    report.passed = result.is_ok() && report.pieces_ok as usize == pieces.len();
    report.failure = result.err();
    report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

fn run(
    peer: SocketAddr,
    m: &Metainfo,
    pieces: &[u32],
    timeout: Duration,
    report: &mut AuditReport,
    sink: &mut dyn FnMut(u32, Vec<u8>),
) -> Result<(), String> {
    let ih = m.infohash_v1.ok_or("torrent has no v1 info-hash")?;
    let deadline = Instant::now() + timeout;
    let stream = TcpStream::connect_timeout(&peer, timeout).map_err(|e| format!("connect: {e}"))?;
    // Small messages (handshake, interested, requests) must not wait for delayed ACKs.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut peer_id = *b"-TS0001-auditauditau";
    let mut rnd = [0u8; 12];
    if getrandom::fill(&mut rnd).is_ok() {
        for (d, r) in peer_id[8..].iter_mut().zip(rnd) {
            *d = b'a' + r % 26;
        }
    }
    let mut reserved = [0u8; 8];
    reserved[ext::FAST.0] |= ext::FAST.1;
    let mut conn = Conn {
        stream,
        dec: MessageDecoder::new(BLOCK + 13 + 1024 * 1024),
        buf: vec![0u8; 64 * 1024],
    };
    conn.stream
        .write_all(
            &Handshake {
                reserved,
                info_hash: ih.0,
                peer_id,
            }
            .encode(),
        )
        .map_err(|e| format!("write: {e}"))?;
    let mut hs = [0u8; HANDSHAKE_LEN];
    conn.stream
        .read_exact(&mut hs)
        .map_err(|e| format!("handshake: {e}"))?;
    let theirs = Handshake::decode(&hs).map_err(|e| e.to_string())?;
    if theirs.info_hash != ih.0 {
        return Err("peer answered for another torrent".into());
    }
    conn.send(&Message::Interested)?;
    // Learn what the peer has and wait to be unchoked.
    let mut have_all = false;
    let mut bitfield: Vec<u8> = Vec::new();
    let mut haves: Vec<u32> = Vec::new();
    loop {
        match conn.next(deadline)? {
            Message::Unchoke => break,
            Message::HaveAll => have_all = true,
            Message::HaveNone => return Err("peer has none of the torrent".into()),
            Message::Bitfield(b) => bitfield = b,
            Message::Have(i) => haves.push(i),
            _ => {}
        }
    }
    let total = m.total_length();
    for &p in pieces {
        if !(have_all || bitfield_has(&bitfield, p) || haves.contains(&p)) {
            return Err(format!("peer does not have piece {p}"));
        }
        let start = u64::from(p) * m.piece_length;
        let len = m.piece_length.min(total.saturating_sub(start));
        let expected = m
            .pieces
            .get(p as usize)
            .ok_or(format!("piece {p} out of range"))?;
        let mut data = vec![0u8; usize::try_from(len).map_err(|_| "piece too large")?];
        let blocks: Vec<(u32, u32)> = (0..len)
            .step_by(BLOCK as usize)
            .map(|b| (b as u32, (len - b).min(u64::from(BLOCK)) as u32))
            .collect();
        let mut next = 0;
        let mut outstanding = 0usize;
        let mut received = 0usize;
        while received < blocks.len() {
            while outstanding < PIPELINE && next < blocks.len() {
                let (begin, length) = blocks[next];
                conn.send(&Message::Request {
                    index: p,
                    begin,
                    length,
                })?;
                next += 1;
                outstanding += 1;
            }
            match conn.next(deadline)? {
                Message::Piece {
                    index,
                    begin,
                    block,
                } if index == p => {
                    let Some(&(_, length)) = blocks.iter().find(|(b, _)| *b == begin) else {
                        return Err(format!("unrequested block at {begin} of piece {p}"));
                    };
                    if block.len() != length as usize {
                        return Err(format!(
                            "block at {begin} of piece {p} has {} bytes, asked {length}",
                            block.len()
                        ));
                    }
                    data[begin as usize..begin as usize + block.len()].copy_from_slice(&block);
                    report.bytes += block.len() as u64;
                    outstanding -= 1;
                    received += 1;
                }
                Message::Reject { index, begin, .. } => {
                    return Err(format!("peer rejected block {begin} of piece {index}"));
                }
                Message::Choke => return Err("peer choked us mid-audit".into()),
                _ => {}
            }
        }
        let got: [u8; 20] = Sha1::digest(&data).into();
        if &got != expected {
            return Err(format!("piece {p} does not match its hash"));
        }
        report.pieces_ok += 1;
        sink(p, data);
    }
    Ok(())
}
