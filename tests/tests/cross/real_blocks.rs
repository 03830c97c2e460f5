//! Real mainnet blocks: decoding (whole and streamed in arbitrary chunks) and a BUMP and a
//! TSC proof for every transaction, verified against the block's header.

use torrent_core::bsv::block::{Block, BlockDecodeError, BlockDecoder, BlockEvent, BlockLimits};
use torrent_core::bsv::hash::Txid;
use torrent_core::bsv::header::check_chain;
use torrent_core::bsv::merkle::{self, MerkleTree};
use torrent_core::proof::ProofError;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::{BlockHash, Network};
use torrent_tests::{
    KNOWN_BLOCKS, blk_blocks_1_to_255, headers_0_to_255, prove_every_tx, read_vector,
};

/// Txids, `(offset, len)` of each transaction, and the transaction count.
type Streamed = (Vec<Txid>, Vec<(u64, u64)>, u64);

/// Streams `raw` through the push decoder in chunks of `chunk` bytes.
fn stream(raw: &[u8], chunk: usize) -> Result<Streamed, BlockDecodeError> {
    let mut dec = BlockDecoder::new(BlockLimits::default());
    let mut txids = Vec::new();
    let mut ranges = Vec::new();
    let mut ended = 0;
    for piece in raw.chunks(chunk) {
        let mut input = piece;
        while let Some(ev) = dec.decode(&mut input)? {
            match ev {
                BlockEvent::Tx(t) => {
                    assert_eq!(t.index, txids.len() as u64);
                    txids.push(t.txid);
                    ranges.push((t.offset, t.len));
                }
                BlockEvent::End(s) => ended = s.size,
                _ => {}
            }
        }
    }
    let summary = dec.finish()?;
    assert_eq!(summary.size, ended);
    Ok((txids, ranges, summary.tx_count))
}

#[test]
fn every_tx_of_known_blocks_proves_in_both_formats() {
    for kb in KNOWN_BLOCKS {
        let raw = read_vector(kb.file).unwrap();
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        assert_eq!(
            block.header.block_hash().to_string(),
            kb.hash,
            "{}",
            kb.file
        );
        assert_eq!(block.txs.len() as u64, kb.tx_count);
        assert_eq!(block.encode(), raw, "re-encoding {} changed it", kb.file);
        block.header.check_pow(Network::Mainnet).unwrap();
        let counts = prove_every_tx(&raw, kb.height).unwrap();
        assert_eq!(counts.bump, kb.tx_count);
        assert_eq!(counts.tsc, kb.tx_count);
        println!(
            "block {}: {} BUMP and {} TSC proofs verified",
            kb.height, counts.bump, counts.tsc
        );
    }
}

#[test]
fn push_decoder_agrees_with_whole_block_decoder_for_any_chunking() {
    for kb in KNOWN_BLOCKS {
        let raw = read_vector(kb.file).unwrap();
        let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
        let expected = block.txids();
        for chunk in [1, 2, 7, 80, 81, 1000, 65_536, raw.len()] {
            let (txids, ranges, n) = stream(&raw, chunk).unwrap();
            assert_eq!(txids, expected, "{} in chunks of {chunk}", kb.file);
            assert_eq!(n, kb.tx_count);
            // The byte ranges cover the transactions exactly and hash to the txids.
            for ((off, len), txid) in ranges.iter().zip(&expected) {
                let bytes = &raw[*off as usize..(*off + *len) as usize];
                assert_eq!(torrent_core::bsv::tx::txid_of(bytes), *txid);
            }
            let last = ranges.last().unwrap();
            assert_eq!(last.0 + last.1, raw.len() as u64);
        }
    }
}

#[test]
fn push_decoder_rejects_damaged_blocks() {
    let raw = read_vector("block-277647.bin").unwrap();
    // Truncated: finish reports how far it got.
    let err = stream(&raw[..raw.len() - 1], 4096).unwrap_err();
    assert!(matches!(err, BlockDecodeError::Truncated { .. }), "{err:?}");
    // Trailing bytes after the last transaction.
    let mut long = raw.clone();
    long.push(0);
    assert!(matches!(
        stream(&long, 4096).unwrap_err(),
        BlockDecodeError::Decode(torrent_core::encode::DecodeError::TrailingBytes { .. })
    ));
    // A flipped byte inside a transaction changes a txid and so the merkle root.
    let mut bad = raw.clone();
    bad[1000] ^= 1;
    let err = stream(&bad, 4096).unwrap_err();
    assert!(
        matches!(
            err,
            BlockDecodeError::MerkleRootMismatch { .. } | BlockDecodeError::Decode(_)
        ),
        "{err:?}"
    );
    // The errors are sticky and the whole-block decoder agrees.
    assert!(Block::decode(&bad, &BlockLimits::default()).is_err());
}

#[test]
fn blocks_1_to_255_from_blk_framing_prove_and_link() {
    let blocks = blk_blocks_1_to_255().unwrap();
    let headers = headers_0_to_255().unwrap();
    let mut total = torrent_tests::ProofCounts::default();
    let mut decoded_headers = vec![headers[0]];
    for (i, raw) in blocks.iter().enumerate() {
        let height = i as u64 + 1;
        let (txids, _, _) = stream(raw, 97).unwrap();
        let block = Block::decode(raw, &BlockLimits::default()).unwrap();
        assert_eq!(block.txids(), txids);
        assert_eq!(block.header, headers[height as usize], "header {height}");
        decoded_headers.push(block.header);
        let c = prove_every_tx(raw, height).unwrap();
        total.bump += c.bump;
        total.tsc += c.tsc;
    }
    // README: 262 transactions in blocks 1..255.
    assert_eq!(total.bump, 262);
    assert_eq!(total.tsc, 262);
    println!(
        "blocks 1-255: {} BUMP and {} TSC proofs verified",
        total.bump, total.tsc
    );
    let summary = check_chain(&decoded_headers, Network::Mainnet, None).unwrap();
    assert_eq!(
        summary.tip.to_string(),
        "00000000d0a75c861fabf9ff7b92022f60e4afeed9331fe5aa073d8e4706fe3c"
    );
}

#[test]
fn headers_0_to_255_link_meet_targets_and_sum_work() {
    let headers = headers_0_to_255().unwrap();
    assert_eq!(headers.len(), 256);
    assert_eq!(headers[0].block_hash(), Network::Mainnet.genesis_hash());
    let s = check_chain(&headers, Network::Mainnet, None).unwrap();
    // 256 difficulty-1 blocks: 256 * 0x100010001 = 0x10001000100.
    assert_eq!(
        s.work.to_string(),
        "0000000000000000000000000000000000000000000000000000010001000100"
    );
    // Linked to genesis explicitly as well.
    check_chain(
        &headers[1..],
        Network::Mainnet,
        Some(headers[0].block_hash()),
    )
    .unwrap();
    // The 1..11 text file holds the same headers.
    let txt = String::from_utf8(read_vector("blockheaders-mainnet-1-11.txt").unwrap()).unwrap();
    let from_txt: Vec<_> = txt
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            torrent_core::Header::decode(&torrent_core::hex::decode(l.trim()).unwrap()).unwrap()
        })
        .collect();
    assert_eq!(from_txt, headers[1..12]);
    // Swapping two headers breaks the linkage at the swap.
    let mut swapped = headers.clone();
    swapped.swap(10, 11);
    assert!(matches!(
        check_chain(&swapped, Network::Mainnet, None),
        Err(torrent_core::bsv::header::HeaderError::BrokenLink { index: 10, .. })
    ));
    // A header whose nonce changed no longer meets its target.
    let mut h = headers[5];
    h.nonce ^= 1;
    assert!(h.check_pow(Network::Mainnet).is_err());
    // Mainnet headers are not easier than regtest allows, but regtest's limit is not mainnet's.
    assert!(headers[5].check_pow(Network::Regtest).is_ok());
    let mut easy = headers[5];
    easy.bits = Network::Regtest.pow_limit_bits();
    assert!(matches!(
        easy.check_pow(Network::Mainnet),
        Err(torrent_core::bsv::header::HeaderError::TargetAboveLimit { .. })
    ));
    let _ = BlockHash::default();
}

#[test]
fn real_proofs_fail_when_tampered() {
    let raw = read_vector("block-413567.bin").unwrap();
    let block = Block::decode(&raw, &BlockLimits::default()).unwrap();
    let txids = block.txids();
    let tree = MerkleTree::from_txids(&txids).unwrap();
    let n = txids.len() as u64;
    let root = block.header.merkle_root;
    assert_eq!(merkle::root(&txids).unwrap(), root);
    for i in [0u64, 1, 777, 1555, 1556] {
        let t = txids[i as usize];
        let bump = Bump::build(&tree, 413_567, &[i]).unwrap();
        assert_eq!(bump.verify(&t, 413_567, n, &root).unwrap(), i);
        // Another txid, height, count with a different depth, or root: all refused.
        assert!(
            bump.verify(&txids[(i as usize + 1) % 1557], 413_567, n, &root)
                .is_err()
        );
        assert!(matches!(
            bump.verify(&t, 413_568, n, &root),
            Err(ProofError::HeightMismatch { .. })
        ));
        assert!(matches!(
            bump.verify(&t, 413_567, 4096, &root),
            Err(ProofError::DepthMismatch { .. })
        ));
        assert!(bump.verify(&t, 413_567, i, &root).is_err());
        let other_root = torrent_core::MerkleRoot::from_byte_array([7; 32]);
        assert!(matches!(
            bump.verify(&t, 413_567, n, &other_root),
            Err(ProofError::RootMismatch { .. })
        ));
        // No single-bit flip of the binary BUMP makes it prove something false. Exactly one
        // kind of flip survives: a level-0 sibling's flags 0 -> 2, which turns the path into a
        // true compound proof of both neighbours (what the SDK's `extract` writes for them).
        let bin = bump.encode();
        let mut surviving = 0;
        for byte in 0..bin.len() {
            for bit in 0..8 {
                let mut b = bin.clone();
                b[byte] ^= 1 << bit;
                let Ok(p) = Bump::decode(&b) else { continue };
                if p.verify(&t, 413_567, n, &root).is_ok() {
                    surviving += 1;
                    let claimed: Vec<_> = p.txids().collect();
                    assert_eq!(claimed.len(), 2, "flip {byte}/{bit}");
                    for (index, txid) in claimed {
                        assert_eq!(
                            txids[index as usize], txid,
                            "flip {byte}/{bit} proves a false txid"
                        );
                    }
                    assert_eq!(p.verify_all(413_567, n, &root).unwrap(), 2);
                }
            }
        }
        assert!(surviving <= 1, "{surviving} flips still verify");
        // Every strict prefix fails to decode.
        for len in 0..bin.len() {
            assert!(Bump::decode(&bin[..len]).is_err());
        }
        let tsc = TscProof::build(&tree, i, &block.header, TargetKind::BlockHash, None).unwrap();
        let bin = tsc.encode();
        for byte in 0..bin.len() {
            for bit in 0..8 {
                let mut b = bin.clone();
                b[byte] ^= 1 << bit;
                if let Ok(p) = TscProof::decode(&b) {
                    assert!(
                        p.verify(&block.header, n).is_err(),
                        "TSC flip {byte}/{bit} verifies"
                    );
                }
            }
        }
        for len in 0..bin.len() {
            assert!(TscProof::decode(&bin[..len]).is_err());
        }
    }
}
