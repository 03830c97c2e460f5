#!/usr/bin/env bash
# The project's test command (README): installs what it needs, idempotently, then runs
# formatting, lints, every test suite, the wasm32 builds (failing if the guest imports
# anything), the fuzz targets over their seeds, bench and doc builds, and the end-to-end run
# of the whole system. Exits non-zero if any step fails; prints a summary of what ran.
#
# Reuses CARGO_TARGET_DIR when set. Runs one cargo at a time (CI has 2 cores).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LOG_DIR=$TARGET_DIR/run_tests
mkdir -p "$LOG_DIR"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A one-shot run gains nothing from incremental artifacts, which would double the debug
# target's size on disk (a cold run writes about 10 GiB without them).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# Disk is the resource a cold run exhausts first: say how much there is before starting, so a
# "No space left on device" further down is explained at the top of the log.
disk_report() {
    local avail_kib
    avail_kib=$(df -Pk "$TARGET_DIR" | awk 'NR == 2 { print $4 }')
    echo "disk: $((avail_kib / 1024 / 1024)) GiB free under $TARGET_DIR"
    if [ "$avail_kib" -lt $((12 * 1024 * 1024)) ]; then
        echo "warning: a cold run needs about 12 GiB free for $TARGET_DIR" >&2
    fi
}
disk_report

started=$(date +%s)
declare -a RESULTS=()
failed=0

step() {
    local name=$1
    shift
    local t0=$(date +%s)
    echo "==> $name"
    if "$@" 2>&1 | tee "$LOG_DIR/$name.log"; then
        RESULTS+=("ok    $(( $(date +%s) - t0 ))s  $name")
    else
        RESULTS+=("FAIL  $(( $(date +%s) - t0 ))s  $name")
        failed=$((failed + 1))
    fi
}

# --- installs (idempotent) ---------------------------------------------------------------
install_toolchain_parts() {
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
        || rustup target add wasm32-unknown-unknown
}

# Debian packages the tests drive: libtorrent (python), Transmission, aria2, BiglyBT (console UI,
# driven by tests/interop/biglybt.sh) and mktorrent are independent BitTorrent implementations; libssl-dev
# and pkg-config build librqbit's TLS (native-tls) for HTTPS trackers; Chromium and its WebDriver
# run the web-spv page headless; prometheus brings promtool for the shipped alerting rules.
APT_PACKAGES=(python3-libtorrent transmission-cli mktorrent aria2 biglybt libssl-dev pkg-config protobuf-compiler chromium chromium-driver prometheus)
install_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

[ ${#APT_PACKAGES[@]} -gt 0 ] && step apt install_apt
# npm packages the tests use as independent implementations (@bsv/sdk), pinned by the lock.
step npm npm ci --prefix tests/interop --no-audit --no-fund

# What a newcomer does first, before this script installs anything for Rust (on a fresh
# machine the toolchain has no wasm target yet): a fresh clone, the README's first command,
# the demo's page verifying a txid in Chromium, then the binary copied elsewhere with the
# clone gone (tests/src/bin/first_contact.rs). The driver needs nothing built for wasm.
first_contact() {
    cargo build --locked -q -p torrent_tests --bin first-contact || return 1
    "$TARGET_DIR/debug/first-contact" --repo "$ROOT" --work "$TARGET_DIR/first-contact-work" \
        --target-dir "$TARGET_DIR/first-contact" || return 1
    # Its release build is of no use to the steps below; a developer's reused target keeps
    # it so that the next run rebuilds only the workspace's crates.
    [ -n "${CARGO_TARGET_DIR:-}" ] || rm -rf "$TARGET_DIR/first-contact"
}
step first-contact first_contact
step install install_toolchain_parts

# --- checks --------------------------------------------------------------------------------
step fmt cargo fmt --all --check
step clippy cargo clippy --locked --workspace --all-targets -- -D warnings
# The committed gRPC code must be what proto/ generates (protoc from Debian).
proto_fresh() {
    (cd proto/gen && cargo run --locked -q --release) &&
        git diff --exit-code --stat -- host-native/generated
}
step proto proto_fresh
step test timeout 2700 cargo test --locked --workspace --no-fail-fast
step test-core-no-std cargo test --locked -p torrent_core --no-default-features --lib
step wasm-core cargo build --locked -p torrent_core --target wasm32-unknown-unknown --no-default-features
step wasm-guest cargo build --locked -p torrent_wasm_guest --target wasm32-unknown-unknown --release
step wasm-guest-imports cargo run --locked -q -p torrent_tests --bin wasm-imports -- \
    "$TARGET_DIR/wasm32-unknown-unknown/release/torrent_wasm_guest.wasm" \
    --expect-exports memory,alloc,dealloc,verify

fuzz_targets() {
    cargo build --locked --release --manifest-path fuzz/Cargo.toml || return 1
    for t in block tx bump tsc metainfo tracker; do
        cargo run --locked -q --release --manifest-path fuzz/Cargo.toml --bin "$t" -- "fuzz/seeds/$t" || return 1
    done
}
step fuzz fuzz_targets
step bench-build cargo bench --locked -p torrent_core --no-run
step doc env RUSTDOCFLAGS="-D warnings" cargo doc --locked --workspace --no-deps
# The whole system end to end (tests/src/bin/e2e.rs): Galaxy stand-ins, the service on the
# Galaxy path, real blocks offloaded, BSM-registered seeders, aria2c and libtorrent through
# the tracker, proofs over gRPC and JSON checked natively, in wasmtime, by @bsv/sdk and in
# headless Chromium, rewards, the prune gate, a payout checked by @bsv/sdk, Prometheus text.
e2e() {
    cargo build --locked -q -p torrent_service -p torrent_tests --bins || return 1
    "$TARGET_DIR/debug/e2e" --service "$TARGET_DIR/debug/torrent_service" \
        --work "$TARGET_DIR/e2e-work"
}
step e2e e2e

# --- summary -------------------------------------------------------------------------------
passed_tests=0
failed_tests=0
while read -r p f; do
    passed_tests=$((passed_tests + p))
    failed_tests=$((failed_tests + f))
done < <(grep -hE '^test result:' "$LOG_DIR"/test*.log 2>/dev/null \
    | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/')

echo
echo "==> summary ($(( $(date +%s) - started ))s)"
echo "  target: $(du -sh "$TARGET_DIR" 2>/dev/null | cut -f1) in $TARGET_DIR"
printf '  %s\n' "${RESULTS[@]}"
echo "steps: $(( ${#RESULTS[@]} - failed )) passed, $failed failed"
echo "tests: $passed_tests passed, $failed_tests failed"
[ "$failed" -eq 0 ] && [ "$failed_tests" -eq 0 ]
