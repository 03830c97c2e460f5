//! TSC proofs from other implementations (sources in tests/vectors/tsc/README.md): each
//! decodes, re-encodes byte-identically and hashes to the expected root.

use torrent_core::hex;
use torrent_core::proof::tsc::{TscNode, TscProof, TscTarget, TxOrId};
use torrent_core::{BlockHash, MerkleRoot, Txid};

const A: &str = "000cef65a4611570303539143dabd6aa64dbd0f41ed89074406dc0e7cd251cf1efff69f17b44cfe9c2a23285168fe05084e1254daa5305311ed8cd95b19ea6b0ed7505008e66d81026ddb2dae0bd88082632790fc6921b299ca798088bef5325a607efb9004d104f378654a25e35dbd6a539505a1e3ddbba7f92420414387bb5b12fc1c10f00472581a20a043cee55edee1c65dd6677e09903f22992062d8fd4b8d55de7b060006fcc978b3f999a3dbb85a6ae55edc06dd9a30855a030b450206c3646dadbd8c000423ab0273c2572880cdc0030034c72ec300ec9dd7bbc7d3f948a9d41b3621e39";
const B_TX: &str = "0200000001080e8558d7af4763fef68042ef1e723d521948a0fb465237d5fb21fafb61f0580000000049483045022100fb4c94dc29cfa7423775443f8d8bb49b5814dcf709553345fcfad240efce22920220558569f97acd0d2b7bbe1954d570b9629ddf5491d9341867d7c41a8e6ee4ed2a41feffffff0200e1f505000000001976a914e296a740f5d9ecc22e0a74f9799f54ec44ee215a88ac80dc4a1f000000001976a914c993ce218b406cb71c60bad1f2be9469d91593cd88ac85020000";
const C: &str = "040269f17b44cfe9c2a23285168fe05084e1254daa5305311ed8cd95b19ea6b0ed75a7b067a2cf49c96d83ab1cf216839a0e5915a191ad6f6174c4b0eb51bf859d6c030100fecafecafecafecafecafecafecafecafecafecafecafecafecafecafecafe0a00fecafecafecafecafecafecafecafecafecafecafecafecafecafecafecafe1a";

#[test]
fn go_bc_and_electrumsv_vector_a() {
    let bin = hex::decode(A).unwrap();
    let p = TscProof::decode(&bin).unwrap();
    assert_eq!(p.encode(), bin);
    assert_eq!(p.index, 12);
    assert_eq!(
        p.tx_or_id,
        TxOrId::Txid(
            "ffeff11c25cde7c06d407490d81ef4d0db64aad6ab3d14393530701561a465ef"
                .parse()
                .unwrap()
        )
    );
    assert_eq!(
        p.target,
        TscTarget::BlockHash(
            "75edb0a69eb195cdd81e310553aa4d25e18450e08f168532a2c2e9cf447bf169"
                .parse::<BlockHash>()
                .unwrap()
        )
    );
    assert_eq!(p.nodes.len(), 5);
    assert_eq!(
        p.compute_root().to_string(),
        "96cbb75fd2ef98e4309eebc8a54d2386333d936ded2a0f3e06c23a91bb612f70"
    );
    assert_eq!(TscProof::from_json(&p.to_json()).unwrap(), p);
    // The same proof with the whole transaction embedded (flag bit 0, ElectrumSV).
    let mut full = vec![0x01, 0x0c, 0xc0];
    full.extend_from_slice(&hex::decode(B_TX).unwrap());
    full.extend_from_slice(&bin[34..]);
    let q = TscProof::decode(&full).unwrap();
    assert_eq!(q.tx_or_id.txid(), p.tx_or_id.txid());
    assert_eq!(q.compute_root(), p.compute_root());
    assert_eq!(q.encode(), full);
}

#[test]
fn electrumsv_vector_c_merkle_root_target_with_duplicate() {
    let bin = hex::decode(C).unwrap();
    let p = TscProof::decode(&bin).unwrap();
    assert_eq!(p.encode(), bin);
    assert_eq!(p.index, 2);
    assert_eq!(p.nodes[0], TscNode::Duplicate);
    let root: MerkleRoot = "6c9d85bf51ebb0c474616fad91a115590e9a8316f21cab836dc949cfa267b0a7"
        .parse()
        .unwrap();
    assert_eq!(p.target, TscTarget::MerkleRoot(root));
    assert_eq!(p.compute_root(), root);
    let json = p.to_json();
    assert!(
        json.contains(r#""targetType":"merkleRoot""#) && json.contains(r#""*""#),
        "{json}"
    );
    // The node RPC's lower-case spelling is read too.
    let rpc = json.replace("merkleRoot", "merkleroot");
    assert_eq!(TscProof::from_json(&rpc).unwrap(), p);
}

#[test]
fn unsupported_and_malformed_tsc_get_typed_errors() {
    let mut bin = hex::decode(A).unwrap();
    bin[0] = 0x08; // tree proof
    assert!(TscProof::decode(&bin).is_err());
    bin[0] = 0x10; // composite
    assert!(TscProof::decode(&bin).is_err());
    bin[0] = 0x06; // target type 3
    assert!(TscProof::decode(&bin).is_err());
    for bad in [
        "{}",
        r#"{"index":0,"txOrId":"00","target":"00","nodes":[]}"#,
        r#"{"index":0,"txOrId":"zz","target":"00","nodes":[]}"#,
        r#"{"index":0,"txOrId":"ffeff11c25cde7c06d407490d81ef4d0db64aad6ab3d14393530701561a465ef","targetType":"x","target":"00","nodes":[]}"#,
    ] {
        assert!(TscProof::from_json(bad).is_err(), "{bad}");
    }
    let _ = Txid::default();
}
