#!/usr/bin/env bash
# A gigabyte block end to end (issue "The whole aged chain on one machine", point 3): one
# generated block of SIZE (default 4 GiB) with TXS transactions is bundled, indexed and
# seeded by the service (release build); aria2c downloads the bundle through the service's
# tracker and the downloaded block is compared with the source; proofs of the first, the
# last and RANDOM random transactions are fetched over JSON and checked by @bsv/sdk
# (tests/interop/merklepath.mjs). The service's peak RSS (VmHWM, the kernel's high-water
# mark over the whole run) must stay at most 256 MiB; the script exits non-zero otherwise.
# Needs: aria2c, node with tests/interop's packages (tests/run_tests.sh installs both), and
# about 3 × SIZE of free disk (the source block, the bundle's hard link costs nothing, the
# download).
# Usage: bench/big-block.sh [WORKDIR] [SIZE=4G] [TXS=1000000] [RANDOM=50]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${1:-$(mktemp -d /tmp/ts-bigblock.XXXXXX)}
SIZE=${2:-4G}
TXS=${3:-1000000}
RANDOM_TXS=${4:-50}
LIMIT_MIB=256
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin gen-chain
TS=$TARGET_DIR/release/torrent_service
GEN=$TARGET_DIR/release/gen-chain
command -v aria2c > /dev/null || { echo "aria2c is missing (tests/run_tests.sh installs aria2)" >&2; exit 1; }
[ -d tests/interop/node_modules/@bsv/sdk ] || { echo "@bsv/sdk is missing: npm ci --prefix tests/interop" >&2; exit 1; }
. bench/lib.sh
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
now() { date +%s.%N; }
since() { python3 -c "import time; print(round(time.time() - $1, 1))"; }

rm -rf "$WORK/chain" "$WORK/svc" "$WORK/dl"
mkdir -p "$WORK"
echo "generating one block of $SIZE with $TXS transactions ..."
t0=$(now)
"$GEN" --out "$WORK/chain" --blocks 1 --txs "$TXS" --block-size "$SIZE" --format raw > /dev/null
BLOCK=$(ls "$WORK"/chain/raw/*)
echo "   $(stat -c %s "$BLOCK") bytes in $(since "$t0") s"

HTTP=$(free_port); TRACKER=$(free_port)
cat > "$WORK/svc.toml" <<TOML
[torrent_service]
network = "regtest"
data_dir = "$WORK/svc"
listen_host = "127.0.0.1"
tracker_port = $TRACKER
http_port = $HTTP
proof_rpc_port = $(free_port)
peer_port = $(free_port)
bundle_blocks = 1
aged_threshold_blocks = 0
aging_scan_interval_s = 1
block_source = "dir:$WORK/chain/raw"
prune = false
rate_limit_per_ip = 0
rate_limit_global = 0
write_rate_limit_per_ip_per_min = 0
TOML
"$TS" run --config "$WORK/svc.toml" > "$WORK/svc.out" 2> "$WORK/svc.err" & SVC=$!
PIDS+=("$SVC")
stage() { curl -s "http://127.0.0.1:$HTTP/v1/bundles" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b[0].get("stage") or "" if b else "")' 2>/dev/null || true; }
t0=$(now)
declare -A AT
while :; do
    s=$(stage)
    if [ -n "$s" ] && [ -z "${AT[$s]:-}" ]; then AT[$s]=$(since "$t0"); echo "   $s after ${AT[$s]} s"; fi
    [ "$s" = seeding ] && break
    kill -0 "$SVC" 2>/dev/null || { echo "the service exited; see $WORK/svc.err" >&2; exit 1; }
    sleep 0.5
done
hwm() { awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$SVC/status"; }
echo "   peak RSS so far: $(hwm) MiB"

IH=$(curl -s "http://127.0.0.1:$HTTP/v1/bundles" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["infohash_v1"])')
curl -sf -o "$WORK/bundle.torrent" "http://127.0.0.1:$HTTP/v1/bundles/$IH.torrent"
echo "aria2c downloads the bundle through the tracker ..."
t0=$(now)
aria2c --dir "$WORK/dl" --seed-time=0 --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --bt-stop-timeout=120 --summary-interval=0 --console-log-level=warn \
    --listen-port=6990-6999 --quiet=true "$WORK/bundle.torrent"
dl_s=$(since "$t0")
GOT=$(ls "$WORK"/dl/*/blocks/*)
cmp -s "$GOT" "$BLOCK" || { echo "the downloaded block differs from the source" >&2; exit 1; }
echo "   $(stat -c %s "$GOT") bytes in $dl_s s, identical to the source block"
rm -rf "$WORK/dl"

echo "proofs of the first, the last and $RANDOM_TXS random transactions, checked by @bsv/sdk ..."
TXIDS=$(ls "$WORK"/svc/bundles/*/txids/*.txids)
python3 - "$TXIDS" "$HTTP" "$RANDOM_TXS" "$BLOCK" > "$WORK/proofs.json" <<'PY'
import json, os, random, sys, urllib.request
path, port, k, block = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
# The root each proof must reach: from the source block's own header, not the service's.
root = open(block, "rb").read(80)[36:68][::-1].hex()
n = os.path.getsize(path) // 32
random.seed(11)
picks = [0, n - 1] + random.sample(range(1, n - 1), min(k, max(n - 2, 0)))
out = []
with open(path, "rb") as f:
    for i in picks:
        f.seek(i * 32)
        txid = f.read(32)[::-1].hex()
        a = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/proof/{txid}"))
        assert a["index"] == i, (i, a["index"])
        out.append({"txid": txid, "bump": a["bump"], "merkle_root": root})
print(json.dumps(out))
PY
node tests/interop/merklepath.mjs < "$WORK/proofs.json" > "$WORK/sdk.json"
python3 - "$WORK/sdk.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert not r["mismatches"], r
print(f"   @bsv/sdk: {r['checked']} proofs, every one computes the block's merkle root")
PY
peak=$(hwm)
kill "$SVC"; wait "$SVC" 2>/dev/null || true
echo
stages=""; for s in written indexed published seeding; do [ -n "${AT[$s]:-}" ] && stages="$stages $s ${AT[$s]} s,"; done
echo "block $SIZE, $TXS txs; after start:${stages%,} (stages polled every 0.5 s); download $dl_s s"
echo "service peak RSS: $peak MiB (limit $LIMIT_MIB MiB)"
[ "$peak" -le "$LIMIT_MIB" ] || { echo "FAIL: peak RSS above $LIMIT_MIB MiB" >&2; exit 1; }
echo "PASS"
cd "$ROOT"
