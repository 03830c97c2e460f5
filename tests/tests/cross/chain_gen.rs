//! The regtest chain generator writes valid, deterministic chains in raw and blk form.

use std::path::PathBuf;

use torrent_core::Network;
use torrent_core::bsv::blk::BlkFrames;
use torrent_core::bsv::block::{Block, BlockDecoder, BlockEvent, BlockLimits};
use torrent_core::bsv::header::check_chain;
use torrent_tests::chain_gen::{ChainSpec, OutputFormat, write_chain};

fn temp(name: &str) -> PathBuf {
    torrent_tests::support::temp(&format!("chain_{name}"))
}

#[test]
fn generated_chain_is_valid_sized_and_deterministic() {
    let spec = ChainSpec {
        blocks: 3,
        txs_per_block: 500,
        block_size: Some(200_000),
        seed: 7,
        start_time: 1_600_000_000,
        payout: None,
        stake_for: None,
        repeat_coinbase: None,
        tx_counts: &[],
    };
    let dir = temp("a");
    let blocks = write_chain(&spec, &dir, OutputFormat::Both).unwrap();
    assert_eq!(blocks.len(), 3);
    let mut headers = Vec::new();
    for b in &blocks {
        assert_eq!(b.size, 200_000, "block {} has the wanted size", b.height);
        let raw = std::fs::read(b.raw.as_ref().unwrap()).unwrap();
        assert_eq!(raw.len() as u64, b.size);
        // Streamed in 4 KiB chunks: header, count, every tx, merkle root checked at the end.
        let mut dec = BlockDecoder::new(BlockLimits::default());
        let mut n = 0;
        for chunk in raw.chunks(4096) {
            let mut input = chunk;
            while let Some(ev) = dec.decode(&mut input).unwrap() {
                match ev {
                    BlockEvent::Header(h) => headers.push(h),
                    BlockEvent::Tx(_) => n += 1,
                    _ => {}
                }
            }
        }
        let s = dec.finish().unwrap();
        assert_eq!((n, s.tx_count, s.hash), (500, 500, b.hash));
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        assert!(block.txs[0].is_coinbase());
        // BIP34: the coinbase starts with a push of the height.
        let script = &block.txs[0].inputs[0].script_sig;
        let push = &script[1..1 + script[0] as usize];
        let mut le = [0u8; 8];
        le[..push.len()].copy_from_slice(push);
        assert_eq!(u64::from_le_bytes(le), b.height);
        // P2PKH-shaped spends: 107-byte unlocking script, 25-byte locking scripts.
        assert_eq!(block.txs[1].inputs[0].script_sig.len(), 107);
        assert_eq!(block.txs[1].outputs[0].script_pubkey.len(), 25);
        assert_eq!(block.txs[2].inputs[0].prevout.txid, block.txs[1].txid());
    }
    let summary = check_chain(&headers, Network::Regtest, None).unwrap();
    assert_eq!(summary.tip, blocks[2].hash);
    assert!(
        check_chain(&headers, Network::Mainnet, None).is_err(),
        "regtest work is not mainnet work"
    );

    // The blk file holds the same blocks with regtest framing.
    let blk = std::fs::read(dir.join("blk/blk00000.dat")).unwrap();
    let framed: Vec<&[u8]> = BlkFrames::new(&blk, Network::Regtest.disk_magic())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(framed.len(), 3);
    for (f, b) in framed.iter().zip(&blocks) {
        assert_eq!(
            *f,
            std::fs::read(b.raw.as_ref().unwrap()).unwrap().as_slice()
        );
    }

    // Same seed, same chain; another seed, another chain.
    let again = write_chain(&spec, &temp("b"), OutputFormat::Raw).unwrap();
    assert_eq!(
        again.iter().map(|b| b.hash).collect::<Vec<_>>(),
        blocks.iter().map(|b| b.hash).collect::<Vec<_>>()
    );
    let other = write_chain(
        &ChainSpec { seed: 8, ..spec },
        &temp("c"),
        OutputFormat::Raw,
    )
    .unwrap();
    assert_ne!(other[0].hash, blocks[0].hash);
    for d in ["a", "b", "c"] {
        let _ = std::fs::remove_dir_all(temp(d));
    }
}

#[test]
fn unpadded_and_single_tx_blocks() {
    let dir = temp("d");
    let blocks = write_chain(
        &ChainSpec {
            blocks: 2,
            txs_per_block: 1,
            block_size: None,
            seed: 1,
            start_time: 0,
            payout: None,
            stake_for: None,
            repeat_coinbase: None,
            tx_counts: &[],
        },
        &dir,
        OutputFormat::Raw,
    )
    .unwrap();
    for b in &blocks {
        let raw = std::fs::read(b.raw.as_ref().unwrap()).unwrap();
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        assert_eq!(block.txs.len(), 1);
        assert_eq!(
            block.header.merkle_root.to_byte_array(),
            block.txs[0].txid().to_byte_array()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transactions_larger_than_any_chunk_stream_through_the_decoder() {
    // Three transactions sharing 24 MiB: each is bigger than the 64 KiB chunks fed in, so
    // every field boundary and the SHA-256 state cross chunk edges many times.
    let dir = temp("e");
    let blocks = write_chain(
        &ChainSpec {
            blocks: 1,
            txs_per_block: 3,
            block_size: Some(24 << 20),
            seed: 3,
            start_time: 0,
            payout: None,
            stake_for: None,
            repeat_coinbase: None,
            tx_counts: &[],
        },
        &dir,
        OutputFormat::Raw,
    )
    .unwrap();
    let b = &blocks[0];
    assert_eq!(b.size, 24 << 20);
    let raw = std::fs::read(b.raw.as_ref().unwrap()).unwrap();
    let mut dec = BlockDecoder::new(BlockLimits::default());
    let mut lens = Vec::new();
    for chunk in raw.chunks(64 * 1024) {
        let mut input = chunk;
        while let Some(ev) = dec.decode(&mut input).unwrap() {
            if let BlockEvent::Tx(t) = ev {
                lens.push(t.len);
            }
        }
    }
    assert_eq!(dec.finish().unwrap().hash, b.hash);
    assert_eq!(lens.len(), 3);
    assert!(lens.iter().all(|l| *l > 8_000_000), "{lens:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
