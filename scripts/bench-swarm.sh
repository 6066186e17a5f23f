#!/usr/bin/env bash
# Swarm benchmark (issue 3): a SIZE_MIB torrent from SEEDERS local `btfs seed`
# processes on 127.0.0.1, downloaded by
#   (a) `btfs get` (the engine alone, no FUSE, writing files),
#   (b) `cp` out of a fresh `btfs mount`,
#   (ref) Debian's libtorrent (scripts/lt_download.py), same seeders.
# Prints one table: MB/s, CPU seconds per GiB, peak RSS, and our/libtorrent ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS="$PWD/bin/btfs"
SIZE_MIB=${SIZE_MIB:-1024}
SEEDERS=${SEEDERS:-4}
work=$(mktemp -d /tmp/btfs-bench-swarm.XXXXXX)
mnt="$work/mnt"
pids=()
cleanup() {
  set +e
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u -z "$mnt"; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
wait_line() {
  for _ in $(seq 600); do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import libtorrent' 2>/dev/null || {
  echo "bench-swarm: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }

mkdir -p "$work/data/swarm" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/swarm/big.bin"
"$BTFS" create -o "$work/b.torrent" "$work/data/swarm" >/dev/null
peers=() peerflags=()
for i in $(seq "$SEEDERS"); do
  "$BTFS" seed --bind 127.0.0.1 --port 0 "$work/b.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  port=$(wait_line "$work/seed$i.log" '^seeding' | sed 's/.*port //')
  peers+=("127.0.0.1:$port")
  peerflags+=(--peer "127.0.0.1:$port")
done

# run_timed NAME CMD...: wall seconds, CPU seconds, peak RSS KiB of CMD.
declare -A wall cpu rss
run_timed() {
  local name=$1; shift
  local s e
  s=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$work/$name.time" "$@" > "$work/$name.out" 2>&1
  e=$(date +%s.%N)
  read -r u y m < "$work/$name.time"
  wall[$name]=$(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}')
  cpu[$name]=$(awk -v u="$u" -v y="$y" 'BEGIN{print u+y}')
  rss[$name]=$m
}

# Reference: libtorrent.
/usr/bin/python3 scripts/lt_download.py "$work/b.torrent" "$work/lt" "${peers[@]}" > "$work/lt.out"
read -r ltw ltc ltr < <(sed 's/[a-z_]*=//g' "$work/lt.out")
cmp -s "$work/lt/swarm/big.bin" "$work/data/swarm/big.bin" || { echo "libtorrent's copy differs" >&2; exit 1; }
rm -rf "$work/lt"

# (a) the engine alone.
run_timed get "$BTFS" get -q --bind 127.0.0.1 --port 0 "${peerflags[@]}" "$work/b.torrent" "$work/get"
cmp -s "$work/get/swarm/big.bin" "$work/data/swarm/big.bin" || { echo "btfs get's copy differs" >&2; exit 1; }
rm -rf "$work/get"

# (b) cp out of a fresh mount; the mount's CPU and RSS over its lifetime.
/usr/bin/time -f '%U %S %M' -o "$work/mount.time" \
  "$BTFS" mount --bind 127.0.0.1 --port 0 --memory-cache 256 "${peerflags[@]}" "$work/b.torrent" "$mnt" > "$work/mount.log" 2>&1 &
mpid=$!
wait_line "$work/mount.log" '^mounted' >/dev/null
s=$(date +%s.%N)
cp "$mnt/swarm/big.bin" "$work/copy.bin"
e=$(date +%s.%N)
fusermount3 -u "$mnt"
wait "$mpid" || true
cmp -s "$work/copy.bin" "$work/data/swarm/big.bin" || { echo "copy out of the mount differs" >&2; exit 1; }
read -r u y m < "$work/mount.time"
wall[cp]=$(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}')
cpu[cp]=$(awk -v u="$u" -v y="$y" 'BEGIN{print u+y}')
rss[cp]=$m

awk -v mib="$SIZE_MIB" -v n="$SEEDERS" \
    -v lw="$ltw" -v lc="$ltc" -v lr="$ltr" \
    -v aw="${wall[get]}" -v ac="${cpu[get]}" -v ar="${rss[get]}" \
    -v bw="${wall[cp]}" -v bc="${cpu[cp]}" -v br="${rss[cp]}" 'BEGIN {
  gib = mib / 1024; bytes = mib * 1048576
  printf "%d MiB torrent, %d local seeder processes (btfs seed), loopback\n", mib, n
  printf "%-28s %9s %12s %10s %10s %12s\n", "client", "MB/s", "CPU s/GiB", "RSS MiB", "MB/s ratio", "CPU ratio"
  printf "%-28s %9.1f %12.2f %10.0f %10s %12s\n", "libtorrent (python3-lt)", bytes/lw/1e6, lc/gib, lr/1024, "1.00", "1.00"
  printf "%-28s %9.1f %12.2f %10.0f %10.2f %12.2f\n", "(a) btfs get (no FUSE)", bytes/aw/1e6, ac/gib, ar/1024, lw/aw, ac/lc
  printf "%-28s %9.1f %12.2f %10.0f %10.2f %12.2f\n", "(b) cp out of btfs mount", bytes/bw/1e6, bc/gib, br/1024, lw/bw, bc/lc
}'
