//! The bundle piece-length rule and its padding bound, for arbitrary file sizes.

use proptest::prelude::*;
use torrent_core::bundle::{MIN_PIECE, padding, piece_length_for};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn piece_length_is_bounded_and_padding_is_small(
        sizes in prop::collection::vec(1u64..(1 << 32), 1..300),
        max_log in 14u32..26,
    ) {
        let max = 1u64 << max_log;
        let p = piece_length_for(&sizes, max);
        prop_assert!(p.is_power_of_two());
        prop_assert!((MIN_PIECE..=max.max(MIN_PIECE)).contains(&p));
        let data: u64 = sizes.iter().sum();
        let pad = padding(&sizes, p);
        // The documented bound: at most 1/32 of the data, unless even 16 KiB pieces pad more,
        // and then less than one minimum piece per file boundary.
        if p > MIN_PIECE {
            prop_assert!(pad <= data / 32, "p={} pad={} data={}", p, pad, data);
        } else {
            prop_assert!(pad <= (sizes.len() as u64 - 1) * (MIN_PIECE - 1));
        }
        // Pure function of the sizes: same answer every time.
        prop_assert_eq!(piece_length_for(&sizes, max), p);
    }
}

#[test]
fn big_blocks_get_the_largest_piece() {
    // 144 blocks of 1 GiB plus their txid files: 32 MiB pieces, the configured ceiling.
    let mut sizes = vec![1u64 << 30; 144];
    sizes.extend(vec![(1u64 << 30) / 8; 144]);
    assert_eq!(piece_length_for(&sizes, 32 << 20), 32 << 20);
}
