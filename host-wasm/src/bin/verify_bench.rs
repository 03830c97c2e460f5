//! `verify-bench`: verifications per second of the same proofs natively (torrent_core) and
//! in the wasmtime sandbox (torrent_wasm_host), for `bench/verify.sh`, which adds @bsv/sdk.
//!
//! `verify-bench write FILE [--proofs N] [--txs T]` writes N random BUMPs of one block of T
//! random txids as JSON lines `{"txid", "bump", "header", "height", "tx_count", "root"}`;
//! `verify-bench run FILE` verifies them all and prints one JSON line of rates.

use std::io::{BufRead, Write};
use std::time::Instant;

use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::verdict::{ProofFormat, VerifyRequest, verify};
use torrent_core::{Header, Txid, hex};
use torrent_wasm_host::{Limits, Sandbox};

fn next(s: &mut u64) -> u64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn write(path: &str, proofs: u64, txs: u64) -> std::io::Result<()> {
    let mut seed = 0x0bad_5eed_u64;
    let txids: Vec<Txid> = (0..txs)
        .map(|_| {
            let mut b = [0u8; 32];
            for c in b.chunks_mut(8) {
                c.copy_from_slice(&next(&mut seed).to_le_bytes());
            }
            Txid::from_byte_array(b)
        })
        .collect();
    let tree = MerkleTree::from_txids(&txids).map_err(std::io::Error::other)?;
    let mut header = Header::decode(&[0u8; 80]).map_err(std::io::Error::other)?;
    header.merkle_root = tree.root();
    let height = 800_000;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for _ in 0..proofs {
        let i = next(&mut seed) % txs;
        let bump = Bump::build(&tree, height, &[i]).map_err(std::io::Error::other)?;
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "txid": txids[i as usize].to_string(),
                "bump": hex::encode(&bump.encode()),
                "header": hex::encode(&header.to_bytes()),
                "height": height,
                "tx_count": txs,
                "root": header.merkle_root.to_string(),
            })
        )?;
    }
    out.flush()
}

fn run(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut reqs = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(path)?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let txid: Txid = v["txid"].as_str().unwrap_or_default().parse()?;
        reqs.push(VerifyRequest {
            format: ProofFormat::Bump,
            height: v["height"].as_u64().unwrap_or_default(),
            tx_count: v["tx_count"].as_u64().unwrap_or_default(),
            header: hex::decode(v["header"].as_str().unwrap_or_default())?,
            txid: txid.to_byte_array(),
            proof: hex::decode(v["bump"].as_str().unwrap_or_default())?,
        });
    }
    let n = reqs.len() as f64;
    // Native: best of 5 passes.
    let mut native = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let ok = reqs.iter().filter(|r| verify(r).is_valid()).count();
        native = native.min(t.elapsed().as_secs_f64());
        assert_eq!(ok, reqs.len(), "every proof verifies natively");
    }
    let compile = Instant::now();
    let sandbox = Sandbox::guest(Limits::default())?;
    let compile_s = compile.elapsed().as_secs_f64();
    let (_, fuel) = sandbox.call_metered(&reqs[..1000])?;
    // Sandbox, batches of up to 1,024 per guest call (a fresh Store each): best of 5.
    let mut batched = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let v = sandbox.verify_all(&reqs)?;
        batched = batched.min(t.elapsed().as_secs_f64());
        assert!(
            v.iter().all(|v| v.is_valid()),
            "every proof verifies in the sandbox"
        );
    }
    // Sandbox, one proof per guest call (what validating one seeder answer costs).
    let t = Instant::now();
    for r in &reqs {
        assert!(sandbox.verify(r)?.is_valid());
    }
    let single = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "proofs": reqs.len(),
            "native_per_s": n / native,
            "wasmtime_batched_per_s": n / batched,
            "wasmtime_single_call_per_s": n / single,
            "wasmtime_compile_s": compile_s,
            "wasm_instructions_per_proof": fuel / 1000,
        })
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("write"), Some(p)) => write(
            p,
            arg(&args, "--proofs", 10_000),
            arg(&args, "--txs", 1_000_000),
        )
        .map_err(Into::into),
        (Some("run"), Some(p)) => run(p),
        _ => {
            eprintln!(
                "usage: verify-bench write FILE [--proofs N] [--txs T] | verify-bench run FILE"
            );
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verify-bench: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
