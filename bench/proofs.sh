#!/usr/bin/env bash
# Proof benchmark: a generated regtest block of 1,000,000 transactions is offloaded by the
# service (release build), then proof-load asks for proofs of random txids at concurrency
# 1, 16 and 64, over gRPC and over JSON, for SECONDS each; prints proofs/s, p50 and p99.
# The service runs as one process; the load generator shares the same 2 cores.
# Targets (issue): at least 20,000 proofs/s and p99 at most 5 ms at concurrency 64.
# Usage: bench/proofs.sh [WORKDIR] [SECONDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/ts-proofbench.XXXXXX)}
SECS=${2:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin proof-load --bin gen-chain
TS=$TARGET_DIR/release/torrent_service
LOAD=$TARGET_DIR/release/proof-load
GEN=$TARGET_DIR/release/gen-chain
. bench/lib.sh
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

rm -rf "$WORK/chain" "$WORK/svc"
mkdir -p "$WORK"
echo "generating one block of 1,000,000 transactions ..."
"$GEN" --out "$WORK/chain" --blocks 1 --txs 1000000 --format raw > /dev/null
HTTP=$(free_port); GRPC=$(free_port)
cat > "$WORK/svc.toml" <<TOML
[torrent_service]
network = "regtest"
data_dir = "$WORK/svc"
listen_host = "127.0.0.1"
tracker_port = $(free_port)
http_port = $HTTP
proof_rpc_port = $GRPC
peer_port = $(free_port)
bundle_blocks = 1
aged_threshold_blocks = 0
block_source = "dir:$WORK/chain/raw"
rate_limit_per_ip = 0
rate_limit_global = 0
write_rate_limit_per_ip_per_min = 0
TOML
"$TS" run --config "$WORK/svc.toml" > "$WORK/svc.out" 2> "$WORK/svc.err" & PIDS+=($!)
for _ in $(seq 1 1200); do
    curl -s "http://127.0.0.1:$HTTP/v1/bundles" | grep -q '"stage":"seeding"' && break; sleep 0.25
done
TXIDS=$(ls "$WORK"/svc/bundles/*/txids/*.txids | head -1)
# Warm the block's cached tree once (the first proof builds it: one pass over 32 MB).
first=$(python3 -c "import sys; b=open('$TXIDS','rb').read(32); print(b[::-1].hex())")
curl -s "http://127.0.0.1:$HTTP/v1/proof/$first" > /dev/null
for mode in grpc json; do
    port=$GRPC; [ "$mode" = json ] && port=$HTTP
    for c in 1 16 64; do
        "$LOAD" "$mode" "127.0.0.1:$port" "$TXIDS" "$c" "$SECS"
    done
done > "$WORK/results.jsonl"
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys
print("block: 1,000,000 txs; random txids; one service process; load generator on the same 2 cores")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("{mode:5} c={concurrency:3}: {per_second:9.0f} proofs/s  p50 {p50_ms:6.3f} ms  p99 {p99_ms:6.3f} ms  errors {errors}".format(**r))
PY
