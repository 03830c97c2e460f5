//! Audits: connect to a seeder as an ordinary peer, ask for whole random pieces block by
//! block (16 KiB requests, pipelined) and check each piece against the torrent's SHA-1 piece
//! hash. A seeder that claims a bundle but cannot serve it fails, whatever its tracker
//! announces say. The session (what to send, what the peer's bytes mean, every way of
//! failing) is `torrent_core::peer::session`; this module owns the socket and the deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Serialize;
use torrent_core::metainfo::{InfoHashV1, Metainfo};
use torrent_core::peer::session::{Session, Wanted};

/// The outcome of one audit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditReport {
    /// The peer audited.
    pub peer: String,
    /// Torrent audited (v1 info-hash; none for a torrent without one, which fails).
    pub infohash_v1: Option<InfoHashV1>,
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
        infohash_v1: m.infohash_v1,
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
    let wanted = Wanted::of(m, pieces).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut stream =
        TcpStream::connect_timeout(&peer, timeout).map_err(|e| format!("connect: {e}"))?;
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
    let mut session = Session::new(ih.0, peer_id, wanted);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let out = session.take_outgoing();
        if !out.is_empty() {
            stream.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
        if session.is_done() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("peer closed the connection".into());
        }
        let verified = session.receive(&buf[..n]);
        report.bytes = session.bytes();
        report.pieces_ok = session.pieces_ok();
        for (index, data) in verified.map_err(|e| e.to_string())? {
            sink(index, data);
        }
    }
}

/// Where file `path` (its names joined by `/`) lies in the byte stream of torrent `m`
/// (pad files included): (offset, length).
pub(crate) fn file_span(m: &Metainfo, path: &str) -> Option<(u64, u64)> {
    let want: Vec<&str> = path.split('/').collect();
    let mut offset = 0u64;
    for f in &m.files {
        if f.path.iter().map(String::as_str).eq(want.iter().copied()) {
            return Some((offset, f.length));
        }
        offset += f.length;
    }
    None
}

/// Bytes `at .. at + len` of file `path` of torrent `m`, from the first of `peers` that
/// delivers every piece covering them, each checked against its piece hash (whole pieces:
/// standard clients serve nothing smaller that a hash can vouch for). Returns the bytes and
/// the report of the peer that delivered them; blocking.
///
/// # Errors
/// A range outside the file, or no peer delivered (the last peer's failure).
pub(crate) fn fetch_range(
    m: &Metainfo,
    path: &str,
    (at, len): (u64, u64),
    peers: &[SocketAddr],
    timeout: Duration,
) -> Result<(Vec<u8>, AuditReport), String> {
    let (offset, file_len) =
        file_span(m, path).ok_or_else(|| format!("{path} is not a file of the torrent"))?;
    if len == 0 || m.piece_length == 0 || at.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(format!(
            "bytes {at}+{len} are outside {path} ({file_len} bytes)"
        ));
    }
    let start = offset + at;
    let (first, last) = (start / m.piece_length, (start + len - 1) / m.piece_length);
    let pieces = (first..=last)
        .map(u32::try_from)
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|e| e.to_string())?;
    let mut failure = String::from("no peer holds the torrent");
    for &peer in peers {
        let mut got = std::collections::BTreeMap::new();
        let report = fetch_pieces(peer, m, &pieces, timeout, &mut |p, data| {
            got.insert(p, data);
        });
        if !report.passed {
            failure = format!(
                "{peer}: {}",
                report.failure.as_deref().unwrap_or("pieces did not match")
            );
            continue;
        }
        let skip = usize::try_from(start - first * m.piece_length).map_err(|e| e.to_string())?;
        let take = usize::try_from(len).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        for (i, piece) in got.into_values().enumerate() {
            let from = if i == 0 { skip } else { 0 };
            bytes.extend_from_slice(piece.get(from..).unwrap_or_default());
        }
        if bytes.len() >= take {
            bytes.truncate(take);
            return Ok((bytes, report));
        }
        failure = format!("{peer}: delivered fewer bytes than the range");
    }
    Err(failure)
}
