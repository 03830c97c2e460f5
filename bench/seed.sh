#!/usr/bin/env bash
# Seeding benchmark on loopback: how fast do real leechers (aria2c, libtorrent) download a
# bundle from the service's own BitTorrent session (librqbit), against libtorrent seeding the
# same bundle (same info-hash, same tracker) in the same run? Prints times, MB/s and the
# ratio reference_time / our_time (above 1: we seed faster).
# Usage: bench/seed.sh [WORKDIR] [BLOCK_SIZE=256M]   (needs aria2 and python3-libtorrent)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/ts-seedbench.XXXXXX)}
SIZE=${2:-256M}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin gen-chain
TS=$TARGET_DIR/release/torrent_service
GEN=$TARGET_DIR/release/gen-chain
LT="/usr/bin/python3 tests/interop/lt.py"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

. bench/lib.sh
TRACKER=$(free_port); HTTP=$(free_port); PEER=$(free_port)

rm -rf "$WORK/chain" "$WORK/ref" "$WORK/svc" "$WORK/dl"* "$WORK"/*.toml
mkdir -p "$WORK"
echo "generating 2 x $SIZE regtest blocks in $WORK/chain ..."
"$GEN" --out "$WORK/chain" --blocks 2 --txs 100000 --block-size "$SIZE" --format raw > /dev/null

config() { # file, bittorrent(true/false), extra
    cat > "$1" <<TOML
[torrent_service]
network = "regtest"
data_dir = "$WORK/svc"
listen_host = "127.0.0.1"
tracker_port = $TRACKER
http_port = $HTTP
peer_port = $PEER
rate_limit_per_ip = 0
rate_limit_global = 0
write_rate_limit_per_ip_per_min = 0
announce_interval_s = 5
bundle_blocks = 2
aged_threshold_blocks = 0
bittorrent = $2
$3
TOML
}
wait_line() { # file -> waits for a first line
    for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "no readiness line in $1" >&2; exit 1
}
leech() { # name, torrent -> median seconds of 3 downloads each (aria2c, then libtorrent)
    local t0 t1 i
    : > "$WORK/$1-aria2.all"; : > "$WORK/$1-lt.all"
    for i in 1 2 3; do
        rm -rf "$WORK/dl-$1-aria2" "$WORK/dl-$1-lt"
        t0=$(date +%s.%N)
        aria2c --dir "$WORK/dl-$1-aria2" --seed-time=0 --enable-dht=false --enable-dht6=false \
            --bt-enable-lpd=false --enable-peer-exchange=false --bt-stop-timeout=120 \
            --file-allocation=none --quiet=true "$2"
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc >> "$WORK/$1-aria2.all"
        cmp -s "$WORK/dl-$1-aria2/$NAME/blocks/$(ls "$WORK/dl-$1-aria2/$NAME/blocks" | head -1)" \
            "$WORK/chain/raw/$(ls "$WORK/chain/raw" | head -1)" || { echo "$1: aria2c got different bytes" >&2; exit 1; }
        $LT fetch "$2" "$WORK/dl-$1-lt" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["complete"], r; print(r["seconds"])' >> "$WORK/$1-lt.all"
    done
    for c in aria2 lt; do sort -n "$WORK/$1-$c.all" | sed -n 2p > "$WORK/$1-$c.s"; done
}

# 1. The bundle, made once by `bundle` (the service makes the same bytes below).
"$TS" bundle --source "dir:$WORK/chain/raw" --out "$WORK/ref" --network regtest --first 0 --last 1 \
    --tracker "http://127.0.0.1:$TRACKER/announce" --web-seed "http://127.0.0.1:$HTTP/webseed/" \
    --json > "$WORK/ref.json"
NAME=$(python3 -c "import json; print(json.load(open('$WORK/ref.json'))['name'])")
BYTES=$(python3 -c "import json; print(json.load(open('$WORK/ref.json'))['bytes'])")
$LT set-trackers "$WORK/ref/$NAME.torrent" "$WORK/swarm.torrent" "http://127.0.0.1:$TRACKER/announce" > /dev/null

# 2. Reference: libtorrent seeds it; our tracker runs alone (no BitTorrent session).
config "$WORK/tracker.toml" false ""
"$TS" run --config "$WORK/tracker.toml" > "$WORK/tracker.out" 2> "$WORK/tracker.err" & PIDS+=($!)
wait_line "$WORK/tracker.out"
$LT seed "$WORK/swarm.torrent" "$WORK/ref" "http://127.0.0.1:$TRACKER/announce" > "$WORK/ltseed.out" & LTPID=$!; PIDS+=($LTPID)
wait_line "$WORK/ltseed.out"
echo "leeching from libtorrent ..."
leech ref "$WORK/swarm.torrent"
kill "$LTPID" "${PIDS[0]}"; wait "$LTPID" "${PIDS[0]}" 2>/dev/null || true
PIDS=()

# 3. Ours: the service offloads the same blocks itself and seeds the bundle.
config "$WORK/svc.toml" true "block_source = \"dir:$WORK/chain/raw\""
"$TS" run --config "$WORK/svc.toml" > "$WORK/svc.out" 2> "$WORK/svc.err" & PIDS+=($!)
wait_line "$WORK/svc.out"
for _ in $(seq 1 600); do
    curl -s "http://127.0.0.1:$HTTP/v1/bundles" | grep -q '"stage":"seeding"' && break; sleep 0.2
done
cmp "$WORK/ref/$NAME.torrent" "$WORK/svc/bundles/$NAME.torrent" || { echo "the service's torrent differs" >&2; exit 1; }
echo "leeching from the service ..."
leech ours "$WORK/swarm.torrent"
echo "leeching from the service with its web seed (the bundle as published) ..."
leech oursws "$WORK/svc/bundles/$NAME.torrent"

python3 - "$BYTES" "$WORK" <<'PY'
import sys
b = int(sys.argv[1]); w = sys.argv[2]
t = lambda n: float(open(f"{w}/{n}.s").read())
print(f"bundle: {b/2**20:.0f} MiB, loopback, one seeder, one leecher at a time, median of 3")
for c in ("aria2", "lt"):
    name = {"aria2": "aria2c    ", "lt": "libtorrent"}[c]
    r, o, ws = t(f"ref-{c}"), t(f"ours-{c}"), t(f"oursws-{c}")
    print(f"{name} <- libtorrent: {r:6.2f} s {b/r/1e6:5.0f} MB/s | <- torrent_service peer: {o:6.2f} s {b/o/1e6:5.0f} MB/s, ratio {r/o:.2f}"
          f" | peer + web seed: {ws:6.2f} s {b/ws/1e6:5.0f} MB/s, ratio {r/ws:.2f}")
PY
