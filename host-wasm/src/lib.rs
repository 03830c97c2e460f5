//! # torrent_wasm_host
//!
//! Will embed wasmtime to run `torrent_wasm_guest` with fuel and a memory cap (see
//! `host-wasm/ABI.md`). For now it only locates the guest module built by
//! `tests/run_tests.sh`, so that tools and tests agree on where it is.

use std::path::PathBuf;

/// File name of the guest module.
pub const GUEST_FILE: &str = "torrent_wasm_guest.wasm";

/// Returns where `cargo build -p torrent_wasm_guest --target wasm32-unknown-unknown
/// --release` puts the guest, honouring `CARGO_TARGET_DIR`.
pub fn guest_wasm_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target
        .join("wasm32-unknown-unknown/release")
        .join(GUEST_FILE)
}
