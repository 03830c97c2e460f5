//! `bump-vectors.json` (made with @bsv/sdk 2.1.0, see the vectors README): every BUMP parses,
//! re-encodes byte-identically, gives the header's merkle root for each of its txids, and is
//! exactly what our own builder produces from the block.

use serde::Deserialize;
use torrent_core::bsv::block::{Block, BlockLimits};
use torrent_core::bsv::merkle::MerkleTree;
use torrent_core::proof::bump::Bump;
use torrent_core::{MerkleRoot, Txid};
use torrent_tests::{KNOWN_BLOCKS, read_vector};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    block_height: u64,
    tx_count: u64,
    merkle_root: MerkleRoot,
    txids: Vec<VecTxid>,
    bump: String,
}

#[derive(Deserialize)]
struct VecTxid {
    txid: Txid,
    index: u64,
}

#[test]
fn every_bump_vector_round_trips_and_verifies() {
    let vectors: Vec<Vector> =
        serde_json::from_slice(&read_vector("bump-vectors.json").unwrap()).unwrap();
    assert_eq!(vectors.len(), 11);
    for v in &vectors {
        let bin = torrent_core::hex::decode(&v.bump).unwrap();
        let bump = Bump::decode(&bin).unwrap();
        assert_eq!(
            bump.encode(),
            bin,
            "re-encoding changed the BUMP at {}",
            v.block_height
        );
        assert_eq!(Bump::from_json(&bump.to_json()).unwrap(), bump);
        for t in &v.txids {
            assert_eq!(bump.compute_root(&t.txid).unwrap(), v.merkle_root);
            let index = bump
                .verify(&t.txid, v.block_height, v.tx_count, &v.merkle_root)
                .unwrap();
            assert_eq!(index, t.index);
        }
        assert_eq!(
            bump.verify_all(v.block_height, v.tx_count, &v.merkle_root)
                .unwrap(),
            v.txids.len()
        );
        // Our builder, fed the real block, writes the very same bytes.
        let kb = KNOWN_BLOCKS
            .iter()
            .find(|k| k.height == v.block_height)
            .unwrap();
        let block = Block::decode(&read_vector(kb.file).unwrap(), &BlockLimits::default()).unwrap();
        let tree = MerkleTree::from_txids(&block.txids()).unwrap();
        let indices: Vec<u64> = v.txids.iter().map(|t| t.index).collect();
        let ours = Bump::build(&tree, v.block_height, &indices).unwrap();
        assert_eq!(
            torrent_core::hex::encode(&ours.encode()),
            v.bump,
            "builder differs from the SDK at {} for {indices:?}",
            v.block_height
        );
    }
}

#[test]
fn sdk_json_shape_is_read() {
    // The JSON @bsv/sdk's MerklePath serialises to: display-order hashes, flags as booleans.
    let json = r#"{"blockHeight":170,"path":[[{"offset":0,"hash":"b1fea52486ce0c62bb442b530a3f0132b826c74e473d1f2c220bfa78111c5082"},{"offset":1,"hash":"f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16","txid":true}]]}"#;
    let bump = Bump::from_json(json).unwrap();
    let v: Vec<Vector> =
        serde_json::from_slice(&read_vector("bump-vectors.json").unwrap()).unwrap();
    assert_eq!(torrent_core::hex::encode(&bump.encode()), v[2].bump);
    // Bad JSON gets a typed error, never a panic.
    assert!(Bump::from_json("{").is_err());
    assert!(Bump::from_json(r#"{"blockHeight":1,"path":[]}"#).is_err());
    assert!(Bump::from_json(r#"{"blockHeight":1,"path":[[{"offset":0}]]}"#).is_err());
    assert!(Bump::from_json(r#"{"blockHeight":1,"path":[[{"offset":0,"hash":"zz"}]]}"#).is_err());
}
