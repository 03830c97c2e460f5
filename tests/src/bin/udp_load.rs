//! `udp-load --target HOST:PORT --info-hash HEX [--seconds S] [--sockets N]`: a BEP 15 load
//! generator. Each socket connects once, then keeps one announce in flight (varying the
//! peer id and port), for S seconds; prints announces per second as JSON. Loopback only.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// BEP 15 announce load generator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Tracker address (loopback).
    #[arg(long)]
    target: SocketAddr,
    /// Info-hash, 40 hex digits.
    #[arg(long)]
    info_hash: String,
    /// Duration in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent sockets (one request in flight each).
    #[arg(long, default_value_t = 64)]
    sockets: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.target.ip().is_loopback() {
        bail!("udp-load only targets loopback addresses");
    }
    let ih: [u8; 20] = torrent_core::hex::decode_array(&args.info_hash).context("--info-hash")?;
    let mut socks = Vec::new();
    for i in 0..args.sockets {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.connect(args.target)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut c = 0x0417_2710_1980u64.to_be_bytes().to_vec();
        c.extend_from_slice(&0u32.to_be_bytes());
        c.extend_from_slice(&(i as u32).to_be_bytes());
        s.send(&c)?;
        let mut buf = [0u8; 16];
        let n = s.recv(&mut buf).context("connect reply")?;
        anyhow::ensure!(n == 16, "short connect reply");
        let cid = u64::from_be_bytes(buf[8..16].try_into()?);
        s.set_nonblocking(true)?;
        socks.push((s, cid, false));
    }
    let mut counter = 0u64;
    let mut done = 0u64;
    let mut errors = 0u64;
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        for (s, cid, in_flight) in &mut socks {
            if !*in_flight {
                counter += 1;
                let mut a = cid.to_be_bytes().to_vec();
                a.extend_from_slice(&1u32.to_be_bytes());
                a.extend_from_slice(&(counter as u32).to_be_bytes());
                a.extend_from_slice(&ih);
                let mut peer = *b"-UL0001-000000000000";
                peer[8..].copy_from_slice(format!("{counter:012}").as_bytes());
                a.extend_from_slice(&peer);
                a.extend_from_slice(&0u64.to_be_bytes());
                a.extend_from_slice(&0u64.to_be_bytes());
                a.extend_from_slice(&0u64.to_be_bytes());
                a.extend_from_slice(&0u32.to_be_bytes());
                a.extend_from_slice(&[0; 8]);
                a.extend_from_slice(&50i32.to_be_bytes());
                a.extend_from_slice(&((1024 + counter % 60_000) as u16).to_be_bytes());
                if s.send(&a).is_ok() {
                    *in_flight = true;
                }
            }
            match s.recv(&mut buf) {
                Ok(n) => {
                    *in_flight = false;
                    if n >= 20 && buf[..4] == [0, 0, 0, 1] {
                        done += 1;
                    } else {
                        errors += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *in_flight = false,
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"announces": done, "errors": errors, "seconds": secs, "per_second": (done as f64 / secs).round()})
    );
    Ok(())
}
