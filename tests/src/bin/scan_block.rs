//! `scan-block FILE...`: streams raw block files through the push decoder in 1 MiB reads and
//! prints each block's hash, transaction count, size and throughput. Memory stays flat
//! whatever the block size: the decoder never holds a transaction.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use torrent_core::bsv::block::{BlockDecoder, BlockEvent, BlockLimits};

/// Streams block files through torrent_core's push decoder.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Raw block files (header, tx count, transactions).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn main() {
    let args = Args::parse();
    for f in &args.files {
        if let Err(e) = scan(f) {
            eprintln!("scan-block: {}: {e:#}", f.display());
            std::process::exit(1);
        }
    }
}

fn scan(path: &PathBuf) -> Result<()> {
    let started = Instant::now();
    let mut file = File::open(path).context("opening")?;
    let mut dec = BlockDecoder::new(BlockLimits::default());
    let mut buf = vec![0u8; 1 << 20];
    let mut largest_tx = 0u64;
    loop {
        let n = file.read(&mut buf).context("reading")?;
        if n == 0 {
            break;
        }
        let mut input = &buf[..n];
        while let Some(ev) = dec.decode(&mut input)? {
            if let BlockEvent::Tx(t) = ev {
                largest_tx = largest_tx.max(t.len);
            }
        }
    }
    let s = dec.finish()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} {} txs, {} bytes, largest tx {} bytes, merkle root ok, {:.0} MB/s",
        s.hash,
        s.tx_count,
        s.size,
        largest_tx,
        s.size as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
