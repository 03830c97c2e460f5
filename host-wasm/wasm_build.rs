//! Building a workspace crate for `wasm32-unknown-unknown` from a build script, so that a
//! plain `cargo build` (the README's first command on a fresh machine) embeds every wasm
//! module the binaries need: the sandbox's guest (host-wasm's build script) and the SPV
//! page's verifier (host-native's). Both include this file with `#[path]`: a build script
//! cannot depend on a workspace crate without making it a package of its own.
//!
//! How:
//! - one nested `cargo build --release --locked --target wasm32-unknown-unknown -p <crate>`
//!   into `<target>/wasm-build`, shared by every profile of the outer build and by both
//!   build scripts (torrent_core is compiled for wasm once), under a file lock so that the
//!   two scripts never race;
//! - when the toolchain lacks the wasm32 target (a fresh rustup install has only the host's;
//!   `rust-toolchain.toml` lists it, but rustup adds listed targets only when it installs the
//!   toolchain itself), it is added with `rustup target add`, once, under the same lock;
//! - the script asks cargo to rerun it when the target's folder in the sysroot changes: a
//!   build made while the target could not be added is redone as soon as it is there,
//!   instead of keeping its miss forever.
//!
//! A miss is an `Err` with the reason, never a failed build: the caller embeds what it got
//! and the binary says, where the module is needed, why it has none.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The wasm target every module is built for.
pub(crate) const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The outer build's target directory, from a build script's `OUT_DIR`
/// (`<target>/<profile>/build/<pkg>-<hash>/out`: four up).
fn outer_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.to_path_buf())
}

/// The workspace root: the folder above the calling package.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    manifest
        .ancestors()
        .find(|p| {
            std::fs::read_to_string(p.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .map(Path::to_path_buf)
        .unwrap_or(manifest)
}

/// The sysroot of the compiler cargo uses for this build.
fn sysroot() -> Result<PathBuf, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("could not run {}: {e}", rustc.to_string_lossy()))?;
    if !out.status.success() {
        return Err("`rustc --print sysroot` failed".into());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Adds the wasm target through rustup when the sysroot lacks it.
fn ensure_target(target_lib: &Path) -> Result<(), String> {
    if target_lib.is_dir() {
        return Ok(());
    }
    println!(
        "cargo::warning=adding the {WASM_TARGET} target (rust-toolchain.toml lists it) with rustup, once"
    );
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    let out = add
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("the {WASM_TARGET} target is missing and rustup could not run ({e}): install the target with your toolchain manager"))?;
    if !out.status.success() || !target_lib.is_dir() {
        return Err(format!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed: {}",
            last_line(&out.stderr)
        ));
    }
    Ok(())
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

/// Builds workspace package `package` for wasm32 (release) and returns the path of its
/// `.wasm` (`<artifact>.wasm`, the package name with `_` for `-`).
///
/// # Errors
/// Why there is no module: the target cannot be added, or the nested build failed (the
/// last line of its output).
pub(crate) fn build(package: &str) -> Result<PathBuf, String> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_dir = outer_target_dir(&out_dir).join("wasm-build");
    std::fs::create_dir_all(&target_dir)
        .map_err(|e| format!("creating {}: {e}", target_dir.display()))?;
    // Held until this function returns: rustup and the nested cargo, one script at a time.
    let lock = File::create(target_dir.join(".lock"))
        .map_err(|e| format!("creating the wasm build lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("locking the wasm build: {e}"))?;

    let target_lib = sysroot()?.join("lib/rustlib").join(WASM_TARGET);
    // A missing path makes cargo rerun the script on every build until it exists.
    println!("cargo::rerun-if-changed={}", target_lib.display());
    ensure_target(&target_lib)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--locked", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .args(["-p", package])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's wrappers and flags are for the host, not for wasm.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("could not run cargo for {package}: {e}"))?;
    let wasm = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if !out.status.success() || !wasm.is_file() {
        return Err(format!(
            "building {package} for {WASM_TARGET} failed: {}",
            last_line(&out.stderr)
        ));
    }
    drop(lock);
    Ok(wasm)
}
