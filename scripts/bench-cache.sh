#!/usr/bin/env bash
# Cache benchmark (issue 5), loopback only:
#  1. sequential read of a fully disk-cached SIZE_MIB file from a fresh mount
#     (no seeders, page cache dropped) vs `cat` of the same bytes as a plain
#     file (page cache dropped): MB/s and ratio;
#  2. peak RSS of a mount streaming a file 4x larger than --memory-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS="$PWD/bin/btfs"
SIZE_MIB=${SIZE_MIB:-1024}
work=$(mktemp -d /tmp/btfs-bench-cache.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh # (the script has cd-ed to the repository root)
trap cleanup EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(could not drop the page cache)" >&2; }
secs_cat() { local s e; s=$(date +%s.%N); cat "$1" > /dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN{print e-s}'; }

mkdir -p "$work/data/c" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/c/big.bin"
"$BTFS" create -o "$work/c.torrent" "$work/data/c" >/dev/null
# start_seeders TAG: two `btfs seed` processes; sets pids and peerflags.
start_seeders() {
  pids=() peerflags=()
  for i in 1 2; do
    "$BTFS" seed --no-dht --bind 127.0.0.1 --port 0 "$work/c.torrent" "$work/data" > "$work/seed$1$i.log" 2>&1 &
    pids+=($!)
    port=$(wait_line "$work/seed$1$i.log" '^seeding' | sed 's/.*port //')
    peerflags+=(--peer "127.0.0.1:$port")
  done
}
start_seeders a

mount_bg() { # mount_bg LOG ARGS...: start a mount, wait until live
  local log=$1; shift
  "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 "$@" "$work/c.torrent" "$mnt" > "$log" 2>&1 &
  mpid=$!
  wait_line "$log" '^mounted' >/dev/null
}

# Fill the disk cache through a first mount.
mount_bg "$work/m1.log" --cache-dir "$work/cache" --cache-size 4G "${peerflags[@]}"
cat "$mnt/c/big.bin" > /dev/null
fusermount3 -u "$mnt"; wait "$mpid" || true
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done   # seeders gone: disk only

drop
mount_bg "$work/m2.log" --cache-dir "$work/cache" --cache-size 4G
tm=$(secs_cat "$mnt/c/big.bin")
fusermount3 -u "$mnt"; wait "$mpid" || true
grep -q "downloaded 0 bytes" "$work/m2.log" || { echo "the cached mount downloaded data:" >&2; cat "$work/m2.log" >&2; exit 1; }
drop
tp=$(secs_cat "$work/data/c/big.bin")

# Peak RSS streaming a file 4x the memory cache (disk cache off, seeders back).
start_seeders b
mem=$((SIZE_MIB / 4))
/usr/bin/time -f '%M' -o "$work/rss.txt" "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 --cache-size 0 --memory-cache "${mem}M" "${peerflags[@]}" "$work/c.torrent" "$mnt" > "$work/m3.log" 2>&1 &
mpid=$!
wait_line "$work/m3.log" '^mounted' >/dev/null
cat "$mnt/c/big.bin" > /dev/null
fusermount3 -u "$mnt"; wait "$mpid" || true
rss=$(cat "$work/rss.txt")

awk -v mib="$SIZE_MIB" -v tm="$tm" -v tp="$tp" -v rss="$rss" -v mem="$mem" 'BEGIN {
  b = mib * 1048576
  printf "fully cached %d MiB file, fresh mount, page cache dropped: %.1f MB/s; plain file cat: %.1f MB/s; ratio %.2f\n", mib, b/tm/1e6, b/tp/1e6, tp/tm
  printf "streaming %d MiB with --memory-cache %d MiB (disk cache off): peak RSS %.0f MiB (%.2fx the memory cache)\n", mib, mem, rss/1024, rss/1024/mem
}'
