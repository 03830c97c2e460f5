//! The gRPC types of `torrent.v1` (bottom floor: any module may use them; they use nothing
//! of this crate).
//!
//! Generated from `proto/torrent/v1/proof.proto` by `proto/gen` into `host-native/generated/`
//! and committed: building the service then needs no protoc and no code generator (a cold
//! build is slow enough on two cores), and `tests/run_tests.sh` regenerates it and fails when
//! the committed copy is stale.
#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/generated/torrent.v1.rs"
));

/// The encoded file descriptor set, for server reflection.
pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/generated/torrent_v1_descriptor.bin"
));
