//! The wasm guest's request handling, run natively on real proofs: the same function the
//! module exports (see host-wasm/ABI.md), over the bincode request and response.

use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_core::verdict::{ProofFormat, Verdict, VerifyRequest};
use torrent_tests::read_vector;
use torrent_wasm_guest::{Response, answer};

fn ask(reqs: &[VerifyRequest]) -> Response {
    let bytes = bincode::serde::encode_to_vec(reqs, bincode::config::standard()).unwrap();
    bincode::serde::decode_from_slice(&answer(&bytes), bincode::config::standard())
        .unwrap()
        .0
}

#[test]
fn guest_verdicts_match_core_on_real_block() {
    let block = Block::decode(
        &read_vector("block-384189.bin").unwrap(),
        &BlockLimits::default(),
    )
    .unwrap();
    let txids = block.txids();
    let tree = MerkleTree::from_txids(&txids).unwrap();
    let n = txids.len() as u64;
    let header = block.header.to_bytes().to_vec();
    for i in [0u64, 1, 300, 563] {
        let t = txids[i as usize].to_byte_array();
        let bump = Bump::build(&tree, 384_189, &[i]).unwrap().encode();
        let tsc = TscProof::build(&tree, i, &block.header, TargetKind::Header, None)
            .unwrap()
            .encode();
        let req = |format, height, count, txid: [u8; 32], proof: &[u8]| VerifyRequest {
            format,
            height,
            tx_count: count,
            header: header.clone(),
            txid,
            proof: proof.to_vec(),
        };
        let other = txids[((i + 1) % n) as usize].to_byte_array();
        let verdicts = ask(&[
            req(ProofFormat::Bump, 384_189, n, t, &bump),
            req(ProofFormat::Tsc, 384_189, n, t, &tsc),
            // Wrong height, wrong count, wrong txid: invalid.
            req(ProofFormat::Bump, 1, n, t, &bump),
            req(ProofFormat::Tsc, 0, 2 * n, t, &tsc),
            req(ProofFormat::Tsc, 0, n, other, &tsc),
            // Garbage: malformed, never a panic.
            req(ProofFormat::Bump, 0, n, t, &bump[..3]),
            req(ProofFormat::Tsc, 0, n, t, &bump),
        ])
        .unwrap();
        assert_eq!(verdicts[0], Verdict::Valid { index: i });
        assert_eq!(verdicts[1], Verdict::Valid { index: i });
        for v in &verdicts[2..5] {
            assert!(matches!(v, Verdict::Invalid { .. }), "{v:?}");
        }
        for v in &verdicts[5..] {
            assert!(matches!(v, Verdict::Malformed { .. }), "{v:?}");
        }
    }
    // Request bytes that are not a request: an error answer, not a trap.
    assert!(ask_raw(&[0xff; 7]).is_err());
}

fn ask_raw(bytes: &[u8]) -> Response {
    bincode::serde::decode_from_slice(&answer(bytes), bincode::config::standard())
        .unwrap()
        .0
}
