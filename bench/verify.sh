#!/usr/bin/env bash
# Proof verification, the same 10,000 BUMPs (random positions of a 1,000,000-tx block, 20
# levels each) three ways in one run: natively (torrent_core), in the wasmtime sandbox
# (torrent_wasm_host: batched, and one proof per guest call), and with @bsv/sdk's
# MerklePath in Node. Prints the rates and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
(cd tests/interop && npm ci --silent >/dev/null)
cargo build --locked --release -q -p torrent_wasm_host --bin verify-bench
target="${CARGO_TARGET_DIR:-target}"
"$target/release/verify-bench" write "$work/proofs.jsonl" --proofs 10000 --txs 1000000
ours=$("$target/release/verify-bench" run "$work/proofs.jsonl")
sdk=$(node tests/interop/merklepath-bench.mjs "$work/proofs.jsonl")
echo "ours: $ours"
echo "sdk:  $sdk"
python3 - "$ours" "$sdk" <<'PY'
import json, sys
o, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
n, wb, w1, k = o["native_per_s"], o["wasmtime_batched_per_s"], o["wasmtime_single_call_per_s"], s["sdk_per_s"]
print(f"native            {n:12,.0f} verifications/s")
print(f"wasmtime batched  {wb:12,.0f} verifications/s   (module compiled once in {o['wasmtime_compile_s']:.2f} s)")
print(f"wasmtime 1/call   {w1:12,.0f} verifications/s")
print(f"@bsv/sdk          {k:12,.0f} verifications/s")
print(f"wasmtime batched / @bsv/sdk = {wb / k:.1f}x   (target >= 10x)")
print(f"native / wasmtime batched   = {n / wb:.1f}x   (target >= 3x)")
print(f"wasmtime 1/call / @bsv/sdk  = {w1 / k:.2f}x")
PY
