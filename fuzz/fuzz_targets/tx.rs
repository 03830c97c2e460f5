//! Fuzz the transaction decoder: anything that decodes re-encodes to the same bytes.
#![cfg_attr(fuzzing, no_main)]

use torrent_core::bsv::tx::{Transaction, TxLimits};

fn run(data: &[u8]) {
    if let Ok(tx) = Transaction::decode(data, &TxLimits::default()) {
        assert_eq!(tx.encode(), data);
    }
}

include!("common.rs");
fuzz_main!(run);
