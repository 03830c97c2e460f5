#!/usr/bin/env bash
# Scale benchmark (issue "The whole aged chain on one machine", ADR 0003): for generated
# chains of 1, 10 and 100 million transactions, offloaded by the service (release build),
# prints
#   - txids indexed per second (the index stage alone, from the service's own log),
#   - index bytes on disk per txid (the run files), and the stored upper merkle levels' bytes
#     per txid (what proofs read instead of hashing whole txid files),
#   - the proof server's p50/p99 for random txids across the whole chain (gRPC, 1 and 16
#     concurrent clients), and the service's peak RSS;
#   - the same proofs again with the service restarted in a memory-limited cgroup whose page
#     cache room is a tenth of the index (limit = the restarted service's own resident memory
#     + index bytes / 10), so the index, and the txid files behind it, are ten times larger
#     than the memory they may use.
# Blocks hold TXS_PER_BLOCK small P2PKH-shaped transactions (about 226 bytes each), bundled
# BUNDLE_BLOCKS at a time (a bundle of 1 million transactions, as the real chain's late-2021
# bundles of 144 blocks hold about 0.9 million), so 100 million transactions are about 23 GB;
# the script checks free disk first and skips a size that does not fit.
# Usage: bench/scale.sh [WORKDIR] [SIZES_IN_MILLIONS="1 10 100"] [SECONDS=10]
# Env: TXS_PER_BLOCK (default 10000), BUNDLE_BLOCKS (default 100), KEEP=1 keeps each size's
# chain and data.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/ts-scale.XXXXXX)}
SIZES=${2:-"1 10 100"}
SECS=${3:-10}
PER_BLOCK=${TXS_PER_BLOCK:-10000}
BUNDLE=${BUNDLE_BLOCKS:-100}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin proof-load --bin gen-chain
TS=$TARGET_DIR/release/torrent_service
LOAD=$TARGET_DIR/release/proof-load
GEN=$TARGET_DIR/release/gen-chain
. bench/lib.sh
PIDS=()
CGROUP=""
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$CGROUP" ] && [ -d "$CGROUP" ]; then sleep 1; rmdir "$CGROUP" 2>/dev/null || true; fi
}
trap cleanup EXIT
mkdir -p "$WORK"
RESULTS=$WORK/scale.jsonl
: > "$RESULTS"

# A memory cgroup to run the service in: cgroup v2 (memory.max) or v1 (memory.limit_in_bytes);
# page cache counts against the limit in both.
make_cgroup() { # limit_bytes -> prints the cgroup directory, or nothing
    local limit=$1 d
    if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
        d=/sys/fs/cgroup/ts-scale-$$
        mkdir -p "$d" 2>/dev/null && echo "$limit" > "$d/memory.max" 2>/dev/null && echo 0 > "$d/memory.swap.max" 2>/dev/null || true
        [ -f "$d/memory.max" ] && { echo "$d"; return; }
    fi
    if [ -d /sys/fs/cgroup/memory ]; then
        d=/sys/fs/cgroup/memory/ts-scale-$$
        mkdir -p "$d" 2>/dev/null && echo "$limit" > "$d/memory.limit_in_bytes" 2>/dev/null && { echo "$d"; return; }
    fi
}
set_limit() { # dir, bytes
    if [ -f "$1/memory.max" ]; then echo "$2" > "$1/memory.max"; else echo "$2" > "$1/memory.limit_in_bytes"; fi
}
cgroup_peak() { # dir -> peak bytes charged (RSS and page cache)
    cat "$1/memory.peak" 2>/dev/null || cat "$1/memory.max_usage_in_bytes" 2>/dev/null || echo 0
}

start_service() { # config, log prefix, [cgroup] -> sets SVC_PID
    local cg=${3:-}
    if [ -n "$cg" ]; then
        ( echo $BASHPID > "$cg/cgroup.procs" 2>/dev/null || echo $BASHPID > "$cg/tasks"; exec "$TS" run --config "$1" ) > "$2.out" 2> "$2.err" &
    else
        "$TS" run --config "$1" > "$2.out" 2> "$2.err" &
    fi
    SVC_PID=$!
    PIDS+=("$SVC_PID")
}
stop_service() { kill "$SVC_PID" 2>/dev/null || true; wait "$SVC_PID" 2>/dev/null || true; }
wait_ready() { # http port, seconds
    for _ in $(seq 1 $(( $2 * 4 ))); do
        curl -sf "http://127.0.0.1:$1/v1/bundles" > /dev/null && return 0
        kill -0 "$SVC_PID" 2>/dev/null || { echo "the service exited; see $WORK" >&2; return 1; }
        sleep 0.25
    done
    return 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
proofs() { # grpc port, concurrency -> one JSON line
    "$LOAD" grpc "127.0.0.1:$1" "$SAMPLE" "$2" "$SECS"
}

for M in $SIZES; do
    N=$(( M * 1000000 ))
    # Whole bundles only: the service offloads a bundle once all its blocks have aged.
    BLOCKS=$(( (N + PER_BLOCK * BUNDLE - 1) / (PER_BLOCK * BUNDLE) * BUNDLE ))
    D=$WORK/m$M
    rm -rf "$D"; mkdir -p "$D"
    need=$(( N * 300 + (1 << 30) ))
    avail=$(( $(df --output=avail -B1 "$WORK" | tail -1) ))
    if [ "$avail" -lt "$need" ]; then
        echo "${M}M: skipped, needs $(( need >> 30 )) GiB free in $WORK, has $(( avail >> 30 )) GiB" | tee -a "$WORK/skipped"
        continue
    fi
    echo "== ${M}M transactions: $BLOCKS blocks of $PER_BLOCK"
    t0=$(date +%s.%N)
    "$GEN" --out "$D/chain" --blocks "$BLOCKS" --txs "$PER_BLOCK" --format raw > /dev/null
    echo "   generated in $(python3 -c "import time; print(round(time.time()-$t0,1))") s"
    HTTP=$(free_port); GRPC=$(free_port)
    cat > "$D/svc.toml" <<TOML
[torrent_service]
network = "regtest"
data_dir = "$D/svc"
listen_host = "127.0.0.1"
tracker_port = $(free_port)
http_port = $HTTP
proof_rpc_port = $GRPC
peer_port = $(free_port)
aged_threshold_blocks = 0
bundle_blocks = $BUNDLE
aging_scan_interval_s = 1
block_source = "dir:$D/chain/raw"
bittorrent = false
prune = false
rate_limit_per_ip = 0
rate_limit_global = 0
write_rate_limit_per_ip_per_min = 0
TOML
    BUNDLES=$(( BLOCKS / BUNDLE ))
    start_service "$D/svc.toml" "$D/svc"
    wait_ready "$HTTP" 60
    t0=$(date +%s.%N)
    while :; do
        n=$(curl -s "http://127.0.0.1:$HTTP/v1/bundles" | python3 -c 'import json,sys; print(sum(1 for b in json.load(sys.stdin) if b.get("stage") in ("published","seeding","pruning","pruned")))' 2>/dev/null || echo 0)
        [ "$n" -ge "$BUNDLES" ] && break
        kill -0 "$SVC_PID" 2>/dev/null || { echo "the service exited; see $D/svc.err" >&2; exit 1; }
        sleep 1
    done
    offload_s=$(python3 -c "import time; print(round(time.time()-$t0,1))")
    # A sample of random txids across the whole chain: 20 per block, from the txid files.
    SAMPLE=$D/sample.txids
    python3 - "$D/svc/bundles" "$SAMPLE" <<'PY'
import glob, os, random, sys
random.seed(7)
out = open(sys.argv[2], "wb")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "txids", "*.txids"))):
    n = os.path.getsize(f) // 32
    with open(f, "rb") as t:
        for i in random.sample(range(n), min(20, n)):
            t.seek(i * 32); out.write(t.read(32))
PY
    proofs "$GRPC" 1 > "$D/p1.json"
    proofs "$GRPC" 16 > "$D/p16.json"
    hwm=$(hwm_kib "$SVC_PID")
    METRICS=$(curl -s "http://127.0.0.1:$HTTP/metrics")
    stop_service
    index_bytes=$(du -sb "$D/svc/index" | cut -f1)
    levels_bytes=$(du -sb "$D/svc/levels" | cut -f1)
    # The memory-limited run: restart in a cgroup (no limit yet), measure the fresh
    # service's resident memory, then limit the cgroup to it plus a tenth of the index and
    # drop the page cache (where the kernel allows), so the index and the txid files behind
    # it are read from disk.
    CGROUP=$(make_cgroup $(( 1 << 40 )))
    if [ -n "$CGROUP" ]; then
        start_service "$D/svc.toml" "$D/svc-limited" "$CGROUP"
        wait_ready "$HTTP" 120
        fresh_rss=$(rss_kib "$SVC_PID")
        limit=$(( fresh_rss * 1024 + index_bytes / 10 ))
        set_limit "$CGROUP" "$limit"
        sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
        proofs "$GRPC" 1 > "$D/l1.json"
        proofs "$GRPC" 16 > "$D/l16.json"
        lim_hwm=$(hwm_kib "$SVC_PID")
        lim_peak=$(cgroup_peak "$CGROUP")
        stop_service
        sleep 1; rmdir "$CGROUP" 2>/dev/null || true; CGROUP=""
    else
        echo "   no memory cgroup can be made here (needs root and a memory controller): the limited run is skipped"
        echo '{}' > "$D/l1.json"; echo '{}' > "$D/l16.json"; lim_hwm=0; lim_peak=0; limit=0
    fi
    python3 - "$D" "$M" "$N" "$offload_s" "$index_bytes" "$hwm" "$levels_bytes" "$limit" "$lim_hwm" "$lim_peak" <<'PY' | tee -a "$RESULTS"
import json, re, sys
d, m, n, offload_s, index_bytes, hwm, levels_bytes, limit, lim_hwm, lim_peak = sys.argv[1:]
secs = txids = 0.0
for line in open(f"{d}/svc.err", errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if "txid index committed" in line:
        txids += float(re.search(r"txids=(\d+)", line).group(1))
        secs += float(re.search(r"secs=([0-9.e-]+)", line).group(1))
load = lambda f: json.load(open(f"{d}/{f}"))
print(json.dumps({
    "millions": int(m), "txids_indexed": int(txids),
    "index_txids_per_s": round(txids / secs) if secs else None,
    "offload_s": float(offload_s),
    "index_bytes_per_txid": round(int(index_bytes) / int(n), 2),
    "levels_bytes_per_txid": round(int(levels_bytes) / int(n), 2),
    "p1": load("p1.json"), "p16": load("p16.json"), "peak_rss_mib": round(int(hwm) / 1024, 1),
    "limit_mib": round(int(limit) / 2**20, 1), "limited_p1": load("l1.json"), "limited_p16": load("l16.json"),
    "limited_peak_rss_mib": round(int(lim_hwm) / 1024, 1), "limited_cgroup_peak_mib": round(int(lim_peak) / 2**20, 1),
}))
PY
    [ "${KEEP:-0}" = 1 ] || rm -rf "$D/chain" "$D/svc"
done

python3 - "$RESULTS" "$PER_BLOCK" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print(f"blocks of {sys.argv[2]} txs; gRPC proofs of random txids across the chain; c = concurrent clients")
print("| txids | indexed/s | index B/txid | levels B/txid | p50 / p99 c=1 (ms) | p99 c=16 (ms) | peak RSS | limit | limited p50 / p99 c=1 | limited p99 c=16 |")
print("|---|---|---|---|---|---|---|---|---|---|")
f = lambda r, k: r.get(k, float("nan"))
for r in rows:
    p1, p16, l1, l16 = r["p1"], r["p16"], r["limited_p1"], r["limited_p16"]
    print(f"| {r['millions']} M | {r['index_txids_per_s']:,} | {r['index_bytes_per_txid']} | {r['levels_bytes_per_txid']} | "
          f"{f(p1,'p50_ms'):.3f} / {f(p1,'p99_ms'):.3f} | {f(p16,'p99_ms'):.3f} | {r['peak_rss_mib']} MiB | "
          f"{r['limit_mib']} MiB | {f(l1,'p50_ms'):.3f} / {f(l1,'p99_ms'):.3f} | {f(l16,'p99_ms'):.3f} |")
PY
