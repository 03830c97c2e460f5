//! The wasm guest's request handling, run natively on real proofs: the same function the
//! module exports (see host-wasm/ABI.md). Running it under wasmtime comes with the host.

use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::proof::tsc::{TargetKind, TscProof};
use torrent_tests::read_vector;
use torrent_wasm_guest::{FORMAT_BUMP, FORMAT_TSC, INVALID, MALFORMED, VALID, verify_request};

fn request(
    format: u8,
    height: u64,
    count: u64,
    header: &[u8; 80],
    txid: &[u8; 32],
    proof: &[u8],
) -> Vec<u8> {
    let mut r = vec![format];
    r.extend_from_slice(&height.to_le_bytes());
    r.extend_from_slice(&count.to_le_bytes());
    r.extend_from_slice(header);
    r.extend_from_slice(txid);
    r.extend_from_slice(proof);
    r
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
    let header = block.header.to_bytes();
    for i in [0u64, 1, 300, 563] {
        let t = txids[i as usize].to_byte_array();
        let bump = Bump::build(&tree, 384_189, &[i]).unwrap().encode();
        let tsc = TscProof::build(&tree, i, &block.header, TargetKind::Header, None)
            .unwrap()
            .encode();
        assert_eq!(
            verify_request(&request(FORMAT_BUMP, 384_189, n, &header, &t, &bump)),
            VALID
        );
        assert_eq!(
            verify_request(&request(FORMAT_TSC, 384_189, n, &header, &t, &tsc)),
            VALID
        );
        // Wrong height, wrong count, wrong txid: invalid.
        assert_eq!(
            verify_request(&request(FORMAT_BUMP, 1, n, &header, &t, &bump)),
            INVALID
        );
        assert_eq!(
            verify_request(&request(FORMAT_TSC, 0, 2 * n, &header, &t, &tsc)),
            INVALID
        );
        let other = txids[((i + 1) % n) as usize].to_byte_array();
        assert_eq!(
            verify_request(&request(FORMAT_TSC, 0, n, &header, &other, &tsc)),
            INVALID
        );
        // Garbage: malformed, never a panic.
        assert_eq!(
            verify_request(&request(FORMAT_BUMP, 0, n, &header, &t, &bump[..3])),
            MALFORMED
        );
        assert_eq!(
            verify_request(&request(9, 0, n, &header, &t, &bump)),
            MALFORMED
        );
        assert_eq!(verify_request(&bump), MALFORMED);
    }
}
