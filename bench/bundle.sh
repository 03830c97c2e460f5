#!/usr/bin/env bash
# Bundle benchmark: ~1 GiB of generated regtest blocks. In one run, times
#   ours (dir): torrent_service bundle from raw block files (block files hard-linked;
#               SHA-256d of every transaction for txids + merkle check; SHA-1 pieces)
#   ours (blk): the same from blk files (block files copied with copy_file_range)
#   mktorrent:  mktorrent -t 2 over the same bytes (hashing only)
#   libtorrent: create_torrent (v1) + set_piece_hashes over the same bytes (hashing only)
# and prints the ratios and our peak RSS; then repeats ours on a single 1 GiB block for RSS.
# Usage: bench/bundle.sh [WORKDIR]   (needs mktorrent and python3-libtorrent; see run_tests.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-$(mktemp -d /tmp/ts-bench.XXXXXX)}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p torrent_service -p torrent_tests --bin torrent_service --bin gen-chain
TS=$TARGET_DIR/release/torrent_service
GEN=$TARGET_DIR/release/gen-chain

measure() { # name, command... -> prints "seconds rss_kib"
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
        cat "$WORK/$name.err" >&2; exit 1; }
    cat "$WORK/$name.time"
}

rm -rf "$WORK/chain" "$WORK/ours" "$WORK/oursblk" "$WORK/one" "$WORK/onechain"
mkdir -p "$WORK"
echo "generating 4 x 256 MiB regtest blocks in $WORK/chain ..."
"$GEN" --out "$WORK/chain" --blocks 4 --txs 250000 --block-size 256M --format both
sync

read -r t_ours rss_ours < <(measure ours "$TS" bundle --source "dir:$WORK/chain/raw" --out "$WORK/ours" \
    --network regtest --first 0 --last 3 --json)
read -r t_blk rss_blk < <(measure oursblk "$TS" bundle --source "blk:$WORK/chain/blk" --out "$WORK/oursblk" \
    --network regtest --first 0 --last 3 --json)
cmp "$WORK"/ours/*.torrent "$WORK"/oursblk/*.torrent
NAME=$(ls "$WORK/ours" | grep -v torrent$ | head -1)
PIECE=$(python3 -c "import json,sys; print(json.load(open('$WORK/ours.out'))['piece_length'])")
LOG2=$(python3 -c "print(($PIECE).bit_length()-1)")
read -r t_mk _ < <(measure mktorrent mktorrent -t 2 -l "$LOG2" -o "$WORK/mk.torrent" "$WORK/ours/$NAME")
rm -f "$WORK/mk.torrent"
read -r t_lt _ < <(measure libtorrent /usr/bin/python3 tests/interop/lt.py create "$WORK/ours/$NAME" "$WORK/lt.torrent" v1 "$PIECE")

echo "generating one 1 GiB block in $WORK/onechain ..."
"$GEN" --out "$WORK/onechain" --blocks 1 --txs 1000000 --block-size 1G --format raw
read -r t_one rss_one < <(measure one "$TS" bundle --source "dir:$WORK/onechain/raw" --out "$WORK/one" \
    --network regtest --first 0 --last 0 --json)

BYTES=$(python3 -c "import json; print(json.load(open('$WORK/ours.out'))['bytes'])")
python3 - "$BYTES" "$t_ours" "$t_mk" "$t_lt" "$rss_ours" "$t_one" "$rss_one" "$t_blk" "$rss_blk" <<'PY'
import sys
b, ours, mk, lt, rss, one, rss_one, blk, rss_blk = sys.argv[1:]
b = int(b); ours, mk, lt, one, blk = map(float, (ours, mk, lt, one, blk))
print(f"data: {b/2**30:.2f} GiB in 4 blocks (same torrent from both sources)")
print(f"ours, dir source (link + txids + SHA-256d + SHA-1): {ours:6.2f} s  {b/ours/1e6:7.0f} MB/s  peak RSS {int(rss)/1024:.1f} MiB")
print(f"ours, blk source (copy + txids + SHA-256d + SHA-1): {blk:6.2f} s  {b/blk/1e6:7.0f} MB/s  peak RSS {int(rss_blk)/1024:.1f} MiB")
print(f"mktorrent -t 2 (SHA-1 only):                         {mk:6.2f} s  {b/mk/1e6:7.0f} MB/s")
print(f"libtorrent create_torrent v1 (SHA-1 only):           {lt:6.2f} s  {b/lt/1e6:7.0f} MB/s")
print(f"ratio ours(dir)/mktorrent: {ours/mk:.2f}   ours(dir)/libtorrent: {ours/lt:.2f}   ours(blk)/mktorrent: {blk/mk:.2f}")
print(f"single 1 GiB block: {one:.2f} s, peak RSS {int(rss_one)/1024:.1f} MiB")
PY
