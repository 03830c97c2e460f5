//! `abuse-load`: the attackers and the well-behaved client of `bench/abuse.sh` (DESIGN §16).
//! Loopback only; attackers come from many source addresses (Linux routes all of 127/8 to
//! loopback, so 127.1.0.1, 127.1.0.2, ... are distinct clients to the service).
//!
//! - `udp`: BEP 15 announces as fast as the sockets take them, each socket from its own
//!   address with a real connection id;
//! - `http`: pipelined `GET /v1/proof/<txid>` on keep-alive connections, several from each
//!   address, each on its own thread;
//! - `idle`: connections that send half a request and wait;
//! - `probe`: the well-behaved client, from 127.0.0.1 at a steady rate: one JSON proof and
//!   one UDP announce per tick, each timed.
//!
//! Each prints one JSON line of what it saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// Abuse-limit load generator (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Flood the UDP tracker with announces for `info_hash`.
    Udp {
        /// Tracker address (UDP).
        #[arg(long)]
        target: SocketAddr,
        /// Info-hash, 40 hex digits.
        #[arg(long)]
        info_hash: String,
        /// Source addresses (one socket each).
        #[arg(long, default_value_t = 1000)]
        sources: u32,
        /// Duration in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Flood the JSON proof API with pipelined requests.
    Http {
        /// HTTP address.
        #[arg(long)]
        target: SocketAddr,
        /// A bundle's txid file (32-byte txids, internal order).
        #[arg(long)]
        txids: std::path::PathBuf,
        /// Source addresses.
        #[arg(long, default_value_t = 256)]
        sources: u32,
        /// Connections from each address.
        #[arg(long, default_value_t = 4)]
        per_source: u32,
        /// Duration in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Hold half-sent connections open.
    Idle {
        /// Address (HTTP or gRPC port).
        #[arg(long)]
        target: SocketAddr,
        /// Connections, spread over source addresses 16 to an address.
        #[arg(long, default_value_t = 2000)]
        conns: u32,
        /// How long to hold them, seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The well-behaved client: timed JSON proofs and UDP announces from 127.0.0.1.
    Probe {
        /// HTTP address.
        #[arg(long)]
        http: SocketAddr,
        /// Tracker address (UDP).
        #[arg(long)]
        udp: SocketAddr,
        /// Info-hash, 40 hex digits.
        #[arg(long)]
        info_hash: String,
        /// A bundle's txid file.
        #[arg(long)]
        txids: std::path::PathBuf,
        /// Ticks per second (one proof and one announce each).
        #[arg(long, default_value_t = 5)]
        rate: u32,
        /// Duration in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

/// The `i`th attacker address: 127.1.0.1 upwards (never 127.0.0.1, the probe's).
fn source(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x7f01_0001 + i)
}

fn txids(path: &std::path::Path) -> Result<Vec<String>> {
    let raw = std::fs::read(path).with_context(|| path.display().to_string())?;
    Ok(raw
        .chunks_exact(32)
        .map(|c| {
            let mut b = c.to_vec();
            b.reverse();
            torrent_core::hex::encode(&b)
        })
        .collect())
}

/// A small xorshift, so that requests name random txids without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// BEP 15 connect on `s`; the connection id.
fn udp_connect(s: &UdpSocket) -> Result<u64> {
    let mut c = 0x0417_2710_1980u64.to_be_bytes().to_vec();
    c.extend_from_slice(&0u32.to_be_bytes());
    c.extend_from_slice(&7u32.to_be_bytes());
    s.send(&c)?;
    let mut buf = [0u8; 64];
    let n = s.recv(&mut buf).context("connect reply")?;
    anyhow::ensure!(n == 16, "connect reply of {n} bytes");
    Ok(u64::from_be_bytes(buf[8..16].try_into()?))
}

fn udp_announce(cid: u64, tid: u32, ih: &[u8; 20], peer: u64) -> Vec<u8> {
    let mut a = Vec::with_capacity(98);
    a.extend_from_slice(&cid.to_be_bytes());
    a.extend_from_slice(&1u32.to_be_bytes());
    a.extend_from_slice(&tid.to_be_bytes());
    a.extend_from_slice(ih);
    a.extend_from_slice(b"-AB0001-");
    a.extend_from_slice(&peer.to_be_bytes()[..8]);
    a.extend_from_slice(&[0; 4]);
    a.extend_from_slice(&[0; 24]);
    a.extend_from_slice(&0u32.to_be_bytes());
    a.extend_from_slice(&0u32.to_be_bytes());
    a.extend_from_slice(&tid.to_be_bytes());
    a.extend_from_slice(&50i32.to_be_bytes());
    a.extend_from_slice(&((peer % 60_000) as u16 + 1024).to_be_bytes());
    a
}

fn udp_flood(target: SocketAddr, ih: [u8; 20], sources: u32, seconds: u64) -> Result<()> {
    let mut socks = Vec::new();
    for i in 0..sources {
        let s = UdpSocket::bind((source(i), 0))?;
        s.connect(target)?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        // A connect lost in a full socket buffer is asked again, as a client would.
        let Some(cid) = (0..3).find_map(|_| udp_connect(&s).ok()) else {
            continue;
        };
        s.set_nonblocking(true)?;
        socks.push((s, cid));
    }
    let (mut sent, mut announced, mut refused) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut peer = 0u64;
    while Instant::now() < end {
        for (s, cid) in &socks {
            peer += 1;
            if s.send(&udp_announce(*cid, peer as u32, &ih, peer)).is_ok() {
                sent += 1;
            }
            while let Ok(n) = s.recv(&mut buf) {
                match buf
                    .get(..4)
                    .map(|a| u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
                {
                    Some(1) if n >= 20 => announced += 1,
                    _ => refused += 1,
                }
            }
        }
    }
    let secs = seconds as f64;
    println!(
        "{}",
        serde_json::json!({"mode": "udp", "sources": socks.len(), "sent_per_s": sent as f64 / secs,
            "announced_per_s": announced as f64 / secs, "refused_per_s": refused as f64 / secs})
    );
    Ok(())
}

/// Reads one HTTP/1.1 response's status, skipping its body.
fn read_response(r: &mut BufReader<TcpStream>, line: &mut String) -> Option<u16> {
    let mut status = 0;
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
            status = rest.get(..3)?.parse().ok()?;
        } else if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length: ") {
            len = v.parse().ok()?;
        }
    }
    std::io::copy(&mut r.by_ref().take(len as u64), &mut std::io::sink()).ok()?;
    Some(status)
}

fn connect_from(src: Ipv4Addr, dst: SocketAddr) -> Result<TcpStream> {
    let s = torrent_tests::support::connect_from(src.into(), dst)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

fn http_flood(
    target: SocketAddr,
    txids: &[String],
    sources: u32,
    per_source: u32,
    seconds: u64,
) -> Result<()> {
    const PIPELINE: usize = 16;
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default()); // 200, 429, other, reconnects
    let txids = Arc::new(txids.to_vec());
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    // One thread per connection: a connection the service holds (a refusal it sends after
    // a pause) does not slow the attacker's others, as it would not for an async client.
    for c in 0..sources * per_source.max(1) {
        let (counts, txids) = (Arc::clone(&counts), Arc::clone(&txids));
        let from = source(c % sources);
        handles.push(
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(c + 1));
                    let mut line = String::new();
                    let mut req = String::new();
                    while Instant::now() < end {
                        counts[3].fetch_add(1, Ordering::Relaxed);
                        let Some((mut w, mut r)) = connect_from(from, target).ok().and_then(|w| {
                            let r = BufReader::new(w.try_clone().ok()?);
                            Some((w, r))
                        }) else {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        };
                        'conn: while Instant::now() < end {
                            req.clear();
                            for _ in 0..PIPELINE {
                                let tx = &txids[(rng.next() % txids.len() as u64) as usize];
                                req.push_str(&format!(
                                    "GET /v1/proof/{tx} HTTP/1.1\r\nhost: a\r\n\r\n"
                                ));
                            }
                            if w.write_all(req.as_bytes()).is_err() {
                                break;
                            }
                            for _ in 0..PIPELINE {
                                match read_response(&mut r, &mut line) {
                                    Some(200) => counts[0].fetch_add(1, Ordering::Relaxed),
                                    Some(429) => counts[1].fetch_add(1, Ordering::Relaxed),
                                    Some(_) => counts[2].fetch_add(1, Ordering::Relaxed),
                                    None => break 'conn,
                                };
                            }
                        }
                    }
                })?,
        );
    }
    for h in handles {
        let _ = h.join();
    }
    let secs = seconds as f64;
    let c = |i: usize| counts[i].load(Ordering::Relaxed) as f64 / secs;
    println!(
        "{}",
        serde_json::json!({"mode": "http", "sources": sources, "connections": sources * per_source.max(1),
            "answered_per_s": c(0) + c(1) + c(2), "proofs_per_s": c(0), "limited_per_s": c(1),
            "other_per_s": c(2), "connects_per_s": c(3)})
    );
    Ok(())
}

fn idle(target: SocketAddr, conns: u32, seconds: u64) -> Result<()> {
    let mut held = Vec::new();
    let mut failed = 0u32;
    for i in 0..conns {
        match connect_from(source(i / 16), target) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /v1/bundles HTTP/1.1\r\nhost: half");
                held.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    std::thread::sleep(Duration::from_secs(seconds));
    let mut closed = 0;
    for s in &mut held {
        let _ = s.set_nonblocking(true);
        let mut b = [0u8; 512];
        loop {
            match s.read(&mut b) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed += 1;
                    break;
                }
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"mode": "idle", "opened": held.len(), "refused_or_failed": failed,
            "closed_by_server": closed, "held_s": seconds})
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn probe(
    http: SocketAddr,
    udp: SocketAddr,
    ih: [u8; 20],
    txids: &[String],
    rate: u32,
    seconds: u64,
) -> Result<()> {
    let src = Ipv4Addr::LOCALHOST;
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let us = UdpSocket::bind((src, 0))?;
    us.connect(udp)?;
    us.set_read_timeout(Some(Duration::from_secs(2)))?;
    // A connect lost in a flood is asked again (BEP 15 clients retry too).
    let connect = |us: &UdpSocket| (0..5).find_map(|_| udp_connect(us).ok());
    let mut cid = connect(&us).context("no connect reply in five tries")?;
    let mut cid_at = Instant::now();
    let (mut proof_lat, mut announce_lat) = (Vec::new(), Vec::new());
    let (mut proof_errors, mut announce_errors) = (0u32, 0u32);
    // What each failed proof got: an HTTP status, or "closed" (no answer).
    let mut proof_failures = std::collections::BTreeMap::<String, u32>::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut line = String::new();
    let tick = Duration::from_secs(1) / rate.max(1);
    let start = Instant::now();
    let mut n = 0u32;
    let mut next = start;
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        // Ticks missed while waiting (a lost announce's timeout) are skipped, not made up
        // in a burst: a well-behaved client does not outrun its own light share.
        next = (next + tick).max(Instant::now() + tick);
        n += 1;
        let tx = &txids[(rng.next() % txids.len() as u64) as usize];
        let t0 = Instant::now();
        if conn.is_none() {
            conn = connect_from(src, http).ok().and_then(|w| {
                let r = BufReader::new(w.try_clone().ok()?);
                Some((w, r))
            });
        }
        let status = conn.as_mut().and_then(|(w, r)| {
            w.write_all(format!("GET /v1/proof/{tx} HTTP/1.1\r\nhost: probe\r\n\r\n").as_bytes())
                .ok()?;
            read_response(r, &mut line)
        });
        match status {
            Some(200) => proof_lat.push(t0.elapsed()),
            Some(status) => {
                proof_errors += 1;
                *proof_failures.entry(status.to_string()).or_default() += 1;
            }
            None => {
                proof_errors += 1;
                *proof_failures.entry("closed".into()).or_default() += 1;
                conn = None;
            }
        }
        // Connection ids live two minutes (BEP 15); ask for a new one well before.
        if cid_at.elapsed() > Duration::from_secs(60)
            && let Some(c) = connect(&us)
        {
            cid = c;
            cid_at = Instant::now();
        }
        let t0 = Instant::now();
        let mut buf = [0u8; 2048];
        // The answer to this tick's announce: a late reply to an earlier one (past its
        // timeout) is skipped, not taken for this one.
        let mut ok = us.send(&udp_announce(cid, n, &ih, u64::from(n))).is_ok();
        while ok {
            match us.recv(&mut buf) {
                Ok(m) if m >= 20 && buf[4..8] == n.to_be_bytes() => {
                    ok = buf[..4] == 1u32.to_be_bytes();
                    break;
                }
                Ok(_) => {}
                Err(_) => ok = false,
            }
        }
        if ok {
            announce_lat.push(t0.elapsed());
        } else {
            announce_errors += 1;
        }
    }
    proof_lat.sort_unstable();
    announce_lat.sort_unstable();
    println!(
        "{}",
        serde_json::json!({"mode": "probe", "proofs": proof_lat.len(), "proof_errors": proof_errors, "proof_failures": proof_failures,
            "proof_p50_ms": percentile(&proof_lat, 0.5), "proof_p99_ms": percentile(&proof_lat, 0.99),
            "announces": announce_lat.len(), "announce_errors": announce_errors,
            "announce_p50_ms": percentile(&announce_lat, 0.5),
            "announce_p99_ms": percentile(&announce_lat, 0.99)})
    );
    Ok(())
}

fn loopback(a: SocketAddr) -> Result<()> {
    if !a.ip().is_loopback() {
        bail!("abuse-load only targets loopback addresses, not {a}");
    }
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().mode {
        Mode::Udp {
            target,
            info_hash,
            sources,
            seconds,
        } => {
            loopback(target)?;
            let ih = torrent_core::hex::decode_array(&info_hash).context("--info-hash")?;
            udp_flood(target, ih, sources, seconds)
        }
        Mode::Http {
            target,
            txids: path,
            sources,
            per_source,
            seconds,
        } => {
            loopback(target)?;
            http_flood(target, &txids(&path)?, sources, per_source, seconds)
        }
        Mode::Idle {
            target,
            conns,
            seconds,
        } => {
            loopback(target)?;
            idle(target, conns, seconds)
        }
        Mode::Probe {
            http,
            udp,
            info_hash,
            txids: path,
            rate,
            seconds,
        } => {
            loopback(http)?;
            loopback(udp)?;
            let ih = torrent_core::hex::decode_array(&info_hash).context("--info-hash")?;
            probe(http, udp, ih, &txids(&path)?, rate, seconds)
        }
    }
}
