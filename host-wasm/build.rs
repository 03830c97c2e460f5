//! Builds the wasm guest (`torrent_wasm_guest`, target `wasm32-unknown-unknown`, release)
//! so that the host embeds it and nobody has to build it by hand.
//!
//! A nested `cargo build` into `<target>/guest-build` (its own lock, shared by every profile
//! of the outer build). When the wasm target is not installed the host still builds, with
//! no embedded guest; the sandbox then says how to get one
//! (`rustup target add wasm32-unknown-unknown`). `TORRENT_WASM_GUEST=path.wasm` at run time
//! overrides the embedded module either way.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(embedded_guest)");
    println!("cargo::rerun-if-changed=guest/src");
    println!("cargo::rerun-if-changed=guest/Cargo.toml");
    println!("cargo::rerun-if-changed=../core/src");
    println!("cargo::rerun-if-changed=../core/Cargo.toml");
    println!("cargo::rerun-if-env-changed=TORRENT_WASM_SKIP_GUEST");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wasm_out = out.join("torrent_wasm_guest.wasm");
    if std::env::var_os("TORRENT_WASM_SKIP_GUEST").is_some() {
        println!("cargo::warning=TORRENT_WASM_SKIP_GUEST is set: no embedded wasm guest");
        return;
    }
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out: the target dir is four up.
    let target = out
        .ancestors()
        .nth(4)
        .map(PathBuf::from)
        .unwrap_or_else(|| out.clone());
    let guest_target = target.join("guest-build");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("guest/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &guest_target)
        // The outer build's wrappers and flags are for the host, not for the guest.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .status();
    let built = guest_target.join("wasm32-unknown-unknown/release/torrent_wasm_guest.wasm");
    match status {
        Ok(s) if s.success() && built.exists() => {
            std::fs::copy(&built, &wasm_out).expect("copying the guest into OUT_DIR");
            println!("cargo::rustc-cfg=embedded_guest");
        }
        Ok(s) => println!(
            "cargo::warning=the wasm guest did not build ({s}); the sandbox needs it: rustup target add wasm32-unknown-unknown"
        ),
        Err(e) => println!("cargo::warning=could not run cargo for the wasm guest: {e}"),
    }
}
