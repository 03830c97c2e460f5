//! Fuzz the TSC decoders (binary and JSON) and the verifier.
#![cfg_attr(fuzzing, no_main)]

use torrent_core::Header;
use torrent_core::proof::tsc::TscProof;

fn run(data: &[u8]) {
    if let Ok(p) = TscProof::decode(data) {
        assert_eq!(p.encode(), data);
        assert_eq!(
            TscProof::from_json(&p.to_json()).expect("JSON round trip"),
            p
        );
        let header = Header::from_bytes(&[0u8; 80]);
        for n in [1u64, 2, 1557, u64::MAX] {
            let _ = p.verify(&header, n);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = TscProof::from_json(s);
    }
}

include!("common.rs");
fuzz_main!(run);
