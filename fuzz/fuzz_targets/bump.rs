//! Fuzz the BUMP decoders (binary and JSON) and the verifier.
#![cfg_attr(fuzzing, no_main)]

use torrent_core::proof::bump::Bump;

fn run(data: &[u8]) {
    if let Ok(b) = Bump::decode(data) {
        let again = Bump::decode(&b.encode()).expect("an encoded BUMP decodes");
        assert_eq!(again, b);
        assert_eq!(Bump::from_json(&b.to_json()).expect("JSON round trip"), b);
        let txids: Vec<_> = b.txids().collect();
        for (_, t) in txids {
            let _ = b.compute_root(&t);
            for n in [1u64, 2, 1557, u64::MAX] {
                let _ = b.verify(&t, b.block_height(), n, &Default::default());
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Bump::from_json(s);
    }
}

include!("common.rs");
fuzz_main!(run);
