//! Fuzz the whole-block decoder and the push decoder (split at every byte of the input's
//! first byte value, so chunking varies).
#![cfg_attr(fuzzing, no_main)]

use torrent_core::bsv::block::{Block, BlockDecoder, BlockLimits};

fn run(data: &[u8]) {
    let limits = BlockLimits::default();
    let whole = Block::decode(data, &limits).ok();
    let chunk = 1 + usize::from(data.first().copied().unwrap_or(0));
    let mut dec = BlockDecoder::new(limits);
    for piece in data.chunks(chunk) {
        let mut input = piece;
        while let Ok(Some(_)) = dec.decode(&mut input) {}
    }
    let streamed = dec.finish().ok();
    // Both decoders accept exactly the same blocks.
    assert_eq!(whole.is_some(), streamed.is_some());
    if let (Some(b), Some(s)) = (whole, streamed) {
        assert_eq!(b.txs.len() as u64, s.tx_count);
    }
}

include!("common.rs");
fuzz_main!(run);
