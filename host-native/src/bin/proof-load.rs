//! Load generator for the proof benchmark (`bench/proofs.sh`): `C` concurrent clients ask a
//! running service for proofs of random txids for `S` seconds, over gRPC (calls multiplexed
//! over up to 8 HTTP/2 connections) or JSON (one keep-alive HTTP/1.1 connection per client), and
//! print one JSON line: proofs/s, p50, p99, errors.
//!
//! Usage: proof-load (grpc|json) ADDR TXID_FILE CONCURRENCY SECONDS
//! (TXID_FILE: a bundle's txid file, 32-byte txids in internal order.)

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use torrent_service::proto as pb;

fn usage() -> ! {
    eprintln!("usage: proof-load (grpc|json) HOST:PORT TXID_FILE CONCURRENCY SECONDS");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        usage();
    }
    let (mode, addr) = (args[1].clone(), args[2].clone());
    let raw = std::fs::read(&args[3]).unwrap_or_else(|e| {
        eprintln!("proof-load: {}: {e}", args[3]);
        std::process::exit(2)
    });
    let txids: Vec<String> = raw
        .chunks_exact(32)
        .map(|c| {
            let mut b: Vec<u8> = c.to_vec();
            b.reverse();
            torrent_core::hex::encode(&b)
        })
        .collect();
    let conc: usize = args[4].parse().unwrap_or_else(|_| usage());
    let secs: u64 = args[5].parse().unwrap_or_else(|_| usage());
    // One thread: the generator should leave the second core to the service it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("proof-load: {e}");
            std::process::exit(2)
        });
    rt.block_on(run(mode, addr, txids, conc, secs));
}

async fn run(mode: String, addr: String, txids: Vec<String>, conc: usize, secs: u64) {
    let txids = std::sync::Arc::new(txids);
    let start = Instant::now();
    let warm = Duration::from_millis(500);
    let end = start + warm + Duration::from_secs(secs);
    // gRPC clients multiplex: concurrent calls share up to 8 HTTP/2 connections, as a
    // real client's channel pool would.
    let mut channels = Vec::new();
    if mode == "grpc" {
        for _ in 0..conc.min(8) {
            match tonic::transport::Endpoint::from_shared(format!("http://{addr}")) {
                Ok(e) => match e.tcp_nodelay(true).connect().await {
                    Ok(ch) => channels.push(ch),
                    Err(e) => {
                        eprintln!("proof-load: connecting to {addr}: {e}");
                        std::process::exit(1);
                    }
                },
                Err(e) => {
                    eprintln!("proof-load: {addr}: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
    let mut tasks = Vec::new();
    for c in 0..conc {
        let channel = channels.get(c % channels.len().max(1)).cloned();
        let (mode, addr, txids) = (mode.clone(), addr.clone(), std::sync::Arc::clone(&txids));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            if mode == "grpc" {
                let Some(channel) = channel else {
                    return (lat, 1);
                };
                let mut client = pb::proof_service_client::ProofServiceClient::new(channel);
                while Instant::now() < end {
                    let t = &txids[(next() % txids.len() as u64) as usize];
                    let t0 = Instant::now();
                    let ok = client
                        .get_proof(pb::GetProofRequest {
                            txid: t.clone(),
                            format: 0,
                            height: None,
                        })
                        .await
                        .is_ok();
                    if t0 > start + warm {
                        lat.push(t0.elapsed());
                        errors += u64::from(!ok);
                    }
                }
            } else {
                let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
                    return (lat, 1);
                };
                let _ = stream.set_nodelay(true);
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let mut line = String::new();
                let mut body = Vec::new();
                while Instant::now() < end {
                    let t = &txids[(next() % txids.len() as u64) as usize];
                    let t0 = Instant::now();
                    let req = format!("GET /v1/proof/{t} HTTP/1.1\r\nhost: bench\r\n\r\n");
                    if w.write_all(req.as_bytes()).await.is_err() {
                        errors += 1;
                        break;
                    }
                    let mut len = 0usize;
                    let mut ok = false;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if l.starts_with("HTTP/1.1 ") {
                            ok = l.starts_with("HTTP/1.1 200");
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length: ") {
                            len = v.parse().unwrap_or(0);
                        }
                    }
                    body.resize(len, 0);
                    if r.read_exact(&mut body).await.is_err() {
                        errors += 1;
                        break;
                    }
                    if t0 > start + warm {
                        lat.push(t0.elapsed());
                        errors += u64::from(!ok);
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "mode": mode,
            "concurrency": conc,
            "proofs": all.len(),
            "per_second": all.len() as f64 / secs as f64,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": errors,
        })
    );
}
