#!/usr/bin/env bash
# End-to-end throughput: `cp` of a SIZE_MIB file out of a fresh mount fed by
# three local seeders through a local tracker (loopback only). Prints MB/s,
# the mount's CPU seconds and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS="$PWD/bin/btfs"
SIZE_MIB=${SIZE_MIB:-512}
SEEDERS=${SEEDERS:-3}
work=$(mktemp -d /tmp/btfs-bench.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh # (the script has cd-ed to the repository root)
trap cleanup EXIT
mkdir -p "$work/data/bench" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/bench/big.bin"
"$BTFS" tracker --listen 127.0.0.1:0 --interval 5s > "$work/tracker.log" 2>&1 &
pids+=($!)
url=$(wait_line "$work/tracker.log" 'listening on' | awk '{print $4}')
"$BTFS" create --tracker "$url" -o "$work/bench.torrent" "$work/data/bench" >/dev/null
for i in $(seq "$SEEDERS"); do
  "$BTFS" seed --no-dht --bind 127.0.0.1 --port 0 "$work/bench.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  wait_line "$work/seed$i.log" '^seeding' >/dev/null
done
/usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
  "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 --cache-dir "$work/cache" --memory-cache 1024 ${MOUNT_FLAGS:-} "$work/bench.torrent" "$mnt" > "$work/mount.log" 2>&1 &
tpid=$!
pids+=($tpid)
wait_line "$work/mount.log" '^mounted' >/dev/null
start=$(date +%s.%N)
cp "$mnt/bench/big.bin" "$work/copy.bin"
end=$(date +%s.%N)
cmp "$work/copy.bin" "$work/data/bench/big.bin"
fusermount3 -u "$mnt" 2>/dev/null || kill -INT "$tpid" || true
wait "$tpid" || true
read -r _ usr sys rss < "$work/time.txt"
awk -v s="$start" -v e="$end" -v mib="$SIZE_MIB" -v u="$usr" -v y="$sys" -v r="$rss" -v n="$SEEDERS" 'BEGIN {
  t = e - s
  printf "cp %d MiB from a fresh mount, %d local seeders: %.2f s, %.1f MB/s, mount CPU %.2f s (%.2f s/GiB), peak RSS %.0f MiB\n",
    mib, n, t, mib*1048576/t/1e6, u+y, (u+y)*1024/mib, r/1024 }'
