//! `gen-chain`: writes a valid regtest chain for tests and benchmarks.
//!
//! ```text
//! cargo run --release -p torrent_tests --bin gen-chain -- --out /tmp/chain \
//!     --blocks 3 --txs 1000000 --format both
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use torrent_tests::chain_gen::{ChainSpec, OutputFormat, write_chain};

/// Writes a regtest chain of valid blocks with P2PKH-shaped transactions.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Output directory (gets `raw/` and/or `blk/`).
    #[arg(long)]
    out: PathBuf,
    /// Number of blocks (heights 0..N).
    #[arg(long, default_value_t = 1)]
    blocks: u64,
    /// Transactions per block, coinbase included.
    #[arg(long, default_value_t = 100)]
    txs: u64,
    /// Wanted size of each block in bytes (padding with OP_RETURN outputs); accepts
    /// suffixes k, M, G (powers of 1024).
    #[arg(long, value_parser = parse_size)]
    block_size: Option<u64>,
    /// Seed: the same seed gives the same chain.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Unix time of block 0; later blocks are 600 s apart.
    #[arg(long, default_value_t = 1_231_006_505)]
    start_time: u32,
    /// Pay `ADDRESS:SATOSHIS` (P2PKH) in the second transaction of every block.
    #[arg(long, value_parser = parse_pay)]
    pay: Option<([u8; 20], u64)>,
    /// Which files to write.
    #[arg(long, value_enum, default_value = "both")]
    format: OutputFormat,
    /// Print the generated blocks as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            format!("invalid size {s:?}: expected a number with an optional k, M or G suffix")
        })
}

fn parse_pay(s: &str) -> Result<([u8; 20], u64), String> {
    let (addr, sats) = s.split_once(':').ok_or("expected ADDRESS:SATOSHIS")?;
    let a = torrent_core::bsv::keys::Address::parse(addr).map_err(|e| e.to_string())?;
    let v = sats.parse::<u64>().map_err(|e| e.to_string())?;
    Ok((a.hash, v))
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("gen-chain: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let spec = ChainSpec {
        blocks: args.blocks,
        txs_per_block: args.txs,
        block_size: args.block_size,
        seed: args.seed,
        start_time: args.start_time,
        payout: args.pay,
        stake_for: None,
        repeat_coinbase: None,
        tx_counts: &[],
    };
    let blocks = write_chain(&spec, &args.out, args.format)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&blocks)?);
    } else {
        let bytes: u64 = blocks.iter().map(|b| b.size).sum();
        eprintln!(
            "wrote {} blocks ({} bytes) to {} in {:.1?}",
            blocks.len(),
            bytes,
            args.out.display(),
            started.elapsed()
        );
    }
    Ok(())
}
