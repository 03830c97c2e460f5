#!/usr/bin/env bash
# Builds the web-spv page's wasm: web_spv for wasm32 (release), then the wasm-bindgen CLI at
# exactly the version Cargo.lock pins (installed with `cargo install --locked` when missing
# or different) writes web-spv/pkg/{web_spv.js, web_spv_bg.wasm}, which the service serves
# at /pkg/ next to the page. Reuses CARGO_TARGET_DIR when set.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/[^0-9.]/, "", $0); print; exit }' Cargo.lock)
[ -n "$version" ] || { echo "web-spv/build.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
    echo "installing wasm-bindgen-cli $version (the version Cargo.lock pins)" >&2
    # --locked first; a registry mirror may lack one of the CLI's locked dependencies
    # (seen: webpki-roots), then let cargo pick compatible ones. The CLI itself stays
    # exactly $version.
    # --force: cargo may record the package as installed while its binary is gone or
    # another version is on PATH; we got here because `wasm-bindgen --version` disagreed.
    cargo install --force --locked --quiet wasm-bindgen-cli --version "$version" \
        || cargo install --force --quiet wasm-bindgen-cli --version "$version"
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || rustup target add wasm32-unknown-unknown
cargo build --locked --quiet -p web_spv --target wasm32-unknown-unknown --release
target="${CARGO_TARGET_DIR:-target}"
wasm-bindgen --target web --no-typescript --out-dir web-spv/pkg \
    "$target/wasm32-unknown-unknown/release/web_spv.wasm"
echo "web-spv/pkg: $(ls web-spv/pkg | tr '\n' ' ')"
