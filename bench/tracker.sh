#!/usr/bin/env bash
# Tracker benchmark, ours against Debian's opentracker in the same run, on loopback:
#   HTTP: wrk with a Lua script that varies peer_id and port (one new peer per request);
#   UDP:  udp-load (ours), one BEP 15 announce in flight per socket;
# prints announces per second, the ratios, and our memory per peer.
# Usage: bench/tracker.sh [SECONDS]   (needs wrk and opentracker; see tests/run_tests.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
WORK=$(mktemp -d /tmp/ts-trk.XXXXXX)
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin udp-load
TS=$TARGET_DIR/release/torrent_service
LOAD=$TARGET_DIR/release/udp-load
IH=0123456789abcdef0123456789abcdef01234567
IH_PCT=$(python3 -c "print(''.join('%%%02x' % b for b in bytes.fromhex('$IH')))")
. bench/lib.sh

cleanup() { kill "${OT_PID:-}" "${TS_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

OT_PORT=$(free_port)
# opentracker chroots into -d and drops to -u (it refuses to keep root), so the whitelist
# path is relative to that directory.
mkdir -p "$WORK/ot"
echo "$IH" > "$WORK/ot/whitelist"
chmod 755 "$WORK" "$WORK/ot"; chmod 644 "$WORK/ot/whitelist"
opentracker -i 127.0.0.1 -p "$OT_PORT" -P "$OT_PORT" -w /whitelist -d "$WORK/ot" -u nobody > "$WORK/ot.log" 2>&1 &
OT_PID=$!

cat > "$WORK/config.toml" <<CFG
[torrent_service]
data_dir = "$WORK/data"
tracker_port = 0
http_port = 0
listen_host = "127.0.0.1"
rate_limit_per_ip = 0
rate_limit_global = 0
write_rate_limit_per_ip_per_min = 0
# The benchmark's info-hash is no bundle of this service; opentracker gets it whitelisted.
tracker_open = true
CFG
RUST_LOG=warn "$TS" run --config "$WORK/config.toml" > "$WORK/ts.out" 2> "$WORK/ts.err" &
TS_PID=$!
for _ in $(seq 50); do [ -s "$WORK/ts.out" ] && break; sleep 0.1; done
TS_ADDR=$(python3 -c "import json; print(json.load(open('$WORK/ts.out'))['tracker'])")
HTTP_ADDR=$(python3 -c "import json; print(json.load(open('$WORK/ts.out'))['http'])")
sleep 0.5

cat > "$WORK/announce.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local pid = string.format("-WR0001-%012d", counter + 1000000000 * (wrk.thread_id or 0))
  local port = 1024 + (counter % 60000)
  return wrk.format("GET", "/announce?info_hash=$IH_PCT&peer_id=" .. pid .. "&port=" .. port ..
    "&uploaded=0&downloaded=0&left=0&compact=1&numwant=50")
end
LUA

http_rate() { # host:port -> requests/s
    wrk -t1 -c32 -d"${SECS}s" -s "$WORK/announce.lua" "http://$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

rss0=$(rss_kib "$TS_PID")
h_ot=$(http_rate "127.0.0.1:$OT_PORT")
h_ts=$(http_rate "$TS_ADDR")
peers=$(curl -s "http://$HTTP_ADDR/metrics" | awk '/^torrent_tracker_peers / {print $2}')
rss1=$(rss_kib "$TS_PID")
u_ot=$("$LOAD" --target "127.0.0.1:$OT_PORT" --info-hash "$IH" --seconds "$SECS" | python3 -c "import json,sys; print(json.load(sys.stdin)['per_second'])")
u_ts=$("$LOAD" --target "$TS_ADDR" --info-hash "$IH" --seconds "$SECS" | python3 -c "import json,sys; print(json.load(sys.stdin)['per_second'])")

python3 - "$h_ot" "$h_ts" "$u_ot" "$u_ts" "$peers" "$rss0" "$rss1" <<'PY'
import sys
h_ot, h_ts, u_ot, u_ts, peers, rss0, rss1 = map(float, sys.argv[1:])
print(f"HTTP announces/s: opentracker {h_ot:9.0f}   ours {h_ts:9.0f}   ours/opentracker {h_ts/h_ot:.2f}")
print(f"UDP  announces/s: opentracker {u_ot:9.0f}   ours {u_ts:9.0f}   ours/opentracker {u_ts/u_ot:.2f}")
if peers > 0:
    print(f"memory: {peers:.0f} peers added {(rss1-rss0):.0f} KiB RSS = {(rss1-rss0)*1024/peers:.0f} bytes per peer")
PY
