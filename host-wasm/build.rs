//! Builds the wasm guest (`torrent_wasm_guest`, wasm32, release) so that the host embeds it
//! and nobody has to build it by hand; how, in `wasm_build.rs` (shared with the SPV page's
//! build). Without a guest (the target could not be added, the build failed) the host still
//! builds and the sandbox says why it has none. `TORRENT_WASM_GUEST=path.wasm` at run time
//! overrides the embedded module either way.

#[path = "wasm_build.rs"]
mod wasm_build;

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(embedded_guest)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=wasm_build.rs");
    println!("cargo::rerun-if-changed=guest/src");
    println!("cargo::rerun-if-changed=guest/Cargo.toml");
    println!("cargo::rerun-if-changed=../core/src");
    println!("cargo::rerun-if-changed=../core/Cargo.toml");
    println!("cargo::rerun-if-changed=../Cargo.lock");
    println!("cargo::rerun-if-env-changed=TORRENT_WASM_SKIP_GUEST");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let reason = if std::env::var_os("TORRENT_WASM_SKIP_GUEST").is_some() {
        "TORRENT_WASM_SKIP_GUEST was set when this binary was built".to_string()
    } else {
        match wasm_build::build("torrent_wasm_guest") {
            Ok(built) => {
                std::fs::copy(&built, out.join("torrent_wasm_guest.wasm"))
                    .expect("copying the guest into OUT_DIR");
                println!("cargo::rustc-cfg=embedded_guest");
                return;
            }
            Err(reason) => reason,
        }
    };
    println!("cargo::warning=no embedded wasm guest: {reason}");
    std::fs::write(out.join("no_guest_reason.txt"), reason).expect("writing into OUT_DIR");
}
