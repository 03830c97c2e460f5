//! Fuzz the bencode decoder and the metainfo parser: whatever decodes re-encodes to the same
//! bytes (canonical), and a parsed torrent's info-hash is the hash of its raw `info` bytes.
#![cfg_attr(fuzzing, no_main)]

use torrent_core::bencode::{self, Limits};
use torrent_core::metainfo::{InfoHashV1, Metainfo};

fn run(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(v) = bencode::decode(data, &limits) {
        assert_eq!(v.encode(), data);
    }
    if let Ok(m) = Metainfo::parse(data, &limits) {
        if let Some(h) = m.infohash_v1 {
            assert_eq!(h, InfoHashV1::of(&m.info_raw));
        }
        let _ = m.magnet(&[], &[]);
    }
}

include!("common.rs");
fuzz_main!(run);
