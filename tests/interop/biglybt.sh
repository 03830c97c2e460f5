#!/usr/bin/env bash
# Download one .torrent with BiglyBT (Debian package `biglybt`, console UI),
# headless, in a throwaway profile, bound to 127.0.0.1, DHT/UPnP/NAT-PMP off.
#
#   usage: biglybt.sh TORRENT_FILE OUT_DIR [TIMEOUT_S=180]
#
# Exits 0 once BiglyBT reports the torrent complete (100.0%, seeding) and has
# shut down cleanly (so every byte is flushed to OUT_DIR/<torrent name>/...).
# Exits non-zero with a message on timeout or error. Byte comparison is the
# caller's job. BiglyBT (its whole process group) is killed on any exit.
#
# How it drives BiglyBT: the console UI (`--ui=console`) reads commands from
# stdin, so stdin is a FIFO we write `add` / `show torrents` / `quit` into and
# stdout goes to a log we grep. No tmux or terminal needed.
set -euo pipefail

usage() { echo "usage: $0 TORRENT_FILE OUT_DIR [TIMEOUT_S=180]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
TORRENT=$(readlink -f -- "$1")
OUT=$2
TIMEOUT=${3:-180}
[ -f "$TORRENT" ] || { echo "biglybt.sh: no such torrent: $1" >&2; exit 2; }
command -v biglybt >/dev/null || { echo "biglybt.sh: biglybt not installed" >&2; exit 2; }
mkdir -p -- "$OUT"
OUT=$(readlink -f -- "$OUT")

START=$SECONDS
PROFILE=$(mktemp -d /tmp/biglybt-profile.XXXXXX)  # throwaway, outside OUT_DIR
LOG=$PROFILE/console.log
BBPID=

cleanup() {
  rc=$?
  exec 3>&-
  if [ -n "$BBPID" ]; then
    # The launcher is a sh script that forks java, so kill the whole group
    # (setsid below made the launcher its leader); TERM first, then KILL.
    kill -TERM -- "-$BBPID" 2>/dev/null || true
    for _ in 1 2 3 4 5; do kill -0 -- "-$BBPID" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$BBPID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$LOG" ]; then
    echo "biglybt.sh: last console output:" >&2
    grep -vE '^[[:space:]]+at |VersionCheck' "$LOG" | tail -n 25 >&2 || true
  fi
  rm -rf -- "$PROFILE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PEER_PORT=$(free_port)   # BitTorrent TCP listen port
INST_PORT=$(free_port)   # single-instance port (default 6880 would hand our
                         # args to any other running BiglyBT and exit)

# /usr/bin/biglybt reads JVM options from ~/.biglybt/java.vmoptions, so a
# private HOME lets us pass them without touching system files.
mkdir -p "$PROFILE/.biglybt" "$PROFILE/config"
cat > "$PROFILE/.biglybt/java.vmoptions" <<EOF
# keep everything (incl. ~/BiglyBT Downloads, caches) inside the profile
-Duser.home=$PROFILE
# BiglyBT config dir (biglybt.config, torrents/, plugins/, logs/)
-Dazureus.config.path=$PROFILE/config
# see INST_PORT above
-Dazureus.instance.port=$INST_PORT
# BiglyBT reflects into java.net (Java 17 blocks it otherwise)
--add-opens=java.base/java.net=ALL-UNNAMED
# no LAN instance discovery (multicast)
-Daz.instance.manager.enable=0
# no display
-Djava.awt.headless=true
EOF

# Pre-seed the core config (a bencoded dict, keys sorted) so the settings are
# in force from startup: plugins read their enable flags only at load time.
bstr() { printf '%d:%s' "${#1}" "$1"; }
{
  printf d
  bstr 'Bind IP';                   bstr 127.0.0.1   # listen + dial on loopback only
  bstr 'Default save path';         bstr "$OUT"      # no "where to save?" prompt
  bstr 'Enforce Bind IP';           printf i1e       # never fall back to other NICs
  bstr 'Plugin.DHT.dht.enabled';    printf i0e       # no DHT
  bstr 'Plugin.UPnP.natpmp.enable'; printf i0e       # no NAT-PMP
  bstr 'Plugin.UPnP.upnp.enable';   printf i0e       # no UPnP (SSDP on :1900)
  bstr 'TCP.Listen.Port';           printf 'i%se' "$PEER_PORT"
  bstr 'UDP.Listen.Port.Enable';    printf i0e       # TCP peers only (no uTP)
  bstr 'update.periodic';           printf i0e       # no update checks
  bstr 'update.start';              printf i0e
  printf e
} > "$PROFILE/config/biglybt.config"

# stdin FIFO: fd 3 is opened read-write first so neither side blocks and
# BiglyBT never sees EOF while we are running.
mkfifo "$PROFILE/stdin"
: > "$LOG"   # exists before the first grep below
exec 3<>"$PROFILE/stdin"
env -u DISPLAY -u WAYLAND_DISPLAY HOME="$PROFILE" \
  setsid biglybt --ui=console <"$PROFILE/stdin" >>"$LOG" 2>&1 &
BBPID=$!   # = process-group id (setsid execs in place in a non-leader child)

remaining() { echo $(( TIMEOUT - (SECONDS - START) )); }
fail() { echo "biglybt.sh: $*" >&2; exit 1; }

# Wait for the console prompt, then add the torrent.
until grep -q '^Running BiglyBT' "$LOG"; do
  kill -0 "$BBPID" 2>/dev/null || fail "BiglyBT exited during startup"
  [ "$(remaining)" -gt 0 ] || fail "timeout (${TIMEOUT}s) waiting for BiglyBT to start"
  sleep 1
done
echo "add -o \"$OUT\" \"$TORRENT\"" >&3

# Poll `show torrents`; a line looks like
#   " 1 [*] 100.0%	<name> (1.01 MB) ETA: ..."
# State chars: > downloading, * seeding, : ready, - queued, ! stopped,
# E error, C checking, A allocating, I initialising.
# Done = 100.0% (pieces hash-checked; fresh profile, so no stale resume data)
# in a non-downloading state. A torrent that was already complete on disk
# (a re-run) sits at [:] or [-] instead of seeding, so accept those too.
# The percentage may use ',' under some locales.
status=
while :; do
  off=$(stat -c %s "$LOG")         # only look at output after this command
  echo "show torrents" >&3
  sleep 2
  status=$(tail -c "+$((off + 1))" "$LOG" | grep -aE '^ *1 \[' | tail -n 1 || true)
  case $status in
    *'['[*:!-]'] 100'[.,]'0%'*) break ;;  # complete and seeding/ready/stopped/queued
    *'[E]'*) fail "BiglyBT reports an error: $status" ;;
  esac
  kill -0 "$BBPID" 2>/dev/null || fail "BiglyBT exited unexpectedly"
  [ "$(remaining)" -gt 0 ] || fail "timeout (${TIMEOUT}s), not complete; last status: ${status:-torrent not listed}"
done
echo "biglybt.sh: complete after $((SECONDS - START))s -> $OUT" >&2

# Quit cleanly so the disk cache is flushed and files are closed before the
# caller compares bytes (the trap kills it anyway if this takes too long).
echo "quit" >&3
for _ in $(seq 1 15); do kill -0 -- "-$BBPID" 2>/dev/null || break; sleep 1; done
exit 0
