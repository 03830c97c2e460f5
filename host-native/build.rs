//! Embeds the SPV page's verifier: builds `web_spv` for wasm32 (how, in
//! `host-wasm/wasm_build.rs`, shared with the sandbox's guest) and runs wasm-bindgen's
//! generation (the `wasm-bindgen-cli-support` library at the version Cargo.lock pins for
//! `wasm-bindgen`, so no CLI to install), then writes `$OUT_DIR/web_spv_pkg.rs`: the
//! generated `web_spv.js` and `web_spv_bg.wasm` as `include_bytes!`, or the reason there are
//! none, which the page then shows. The binary serves them at `/pkg/`; it reads nothing from
//! the source tree at run time (`web_spv_dir` overrides them for page development).

#[path = "../host-wasm/wasm_build.rs"]
mod wasm_build;

use std::path::{Path, PathBuf};

fn generate(pkg: &Path) -> Result<(PathBuf, PathBuf), String> {
    let wasm = wasm_build::build("web_spv")?;
    let _ = std::fs::remove_dir_all(pkg);
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        .typescript(false)
        .generate(pkg)
        .map_err(|e| format!("wasm-bindgen could not generate the page's glue: {e:#}"))?;
    let js = pkg.join("web_spv.js");
    let bg = pkg.join("web_spv_bg.wasm");
    if !js.is_file() || !bg.is_file() {
        return Err(format!(
            "wasm-bindgen wrote no web_spv.js / web_spv_bg.wasm in {}",
            pkg.display()
        ));
    }
    Ok((js, bg))
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../host-wasm/wasm_build.rs");
    println!("cargo::rerun-if-changed=../web-spv/src");
    println!("cargo::rerun-if-changed=../web-spv/Cargo.toml");
    println!("cargo::rerun-if-changed=../core/src");
    println!("cargo::rerun-if-changed=../core/Cargo.toml");
    println!("cargo::rerun-if-changed=../Cargo.lock");
    println!("cargo::rerun-if-env-changed=TORRENT_WASM_SKIP_GUEST");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let result = if std::env::var_os("TORRENT_WASM_SKIP_GUEST").is_some() {
        Err("TORRENT_WASM_SKIP_GUEST was set when this binary was built".to_string())
    } else {
        generate(&out.join("pkg"))
    };
    let code = match result {
        Ok((js, wasm)) => format!(
            "Ok(Pkg {{ js: include_bytes!({:?}), wasm: include_bytes!({:?}) }})",
            js.display().to_string(),
            wasm.display().to_string()
        ),
        Err(reason) => {
            println!("cargo::warning=the SPV page will have no verifier: {reason}");
            format!("Err({reason:?})")
        }
    };
    std::fs::write(
        out.join("web_spv_pkg.rs"),
        format!(
            "// Written by host-native/build.rs.\npub(crate) static EMBEDDED: Result<Pkg, &str> = {code};\n"
        ),
    )
    .expect("writing into OUT_DIR");
}
