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
. scripts/lib.sh # (the script has cd-ed to the repository root)
trap cleanup EXIT
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import libtorrent' 2>/dev/null || {
  echo "bench-swarm: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }

mkdir -p "$work/data/swarm" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/swarm/big.bin"
"$BTFS" create -o "$work/b.torrent" "$work/data/swarm" >/dev/null
peers=() peerflags=()
for i in $(seq "$SEEDERS"); do
  "$BTFS" seed --no-dht --bind 127.0.0.1 --port 0 "$work/b.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  port=$(wait_line "$work/seed$i.log" '^seeding' | sed 's/.*port //')
  peers+=("127.0.0.1:$port")
  peerflags+=(--peer "127.0.0.1:$port")
done

ROUNDS=${ROUNDS:-3}
res="$work/results.txt"   # lines: client wall cpu rss_kib
: > "$res"

run_lt() {
  /usr/bin/python3 scripts/lt_download.py "$work/b.torrent" "$work/lt" "${peers[@]}" > "$work/lt.out"
  cmp -s "$work/lt/swarm/big.bin" "$work/data/swarm/big.bin" || { echo "libtorrent's copy differs" >&2; exit 1; }
  rm -rf "$work/lt"
  read -r w c r < <(sed 's/[a-z_]*=//g' "$work/lt.out")
  echo "lt $w $c $r" >> "$res"
}

run_get() {
  local s e u y m
  s=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$work/get.time" \
    "$BTFS" get --no-dht -q --bind 127.0.0.1 --port 0 "${peerflags[@]}" "$work/b.torrent" "$work/get" > "$work/get.out" 2>&1
  e=$(date +%s.%N)
  cmp -s "$work/get/swarm/big.bin" "$work/data/swarm/big.bin" || { echo "btfs get's copy differs" >&2; exit 1; }
  rm -rf "$work/get"
  read -r u y m < "$work/get.time"
  echo "get $(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}') $(awk -v u="$u" -v y="$y" 'BEGIN{print u+y}') $m" >> "$res"
}

run_cp() {
  local s e u y m mpid
  /usr/bin/time -f '%U %S %M' -o "$work/mount.time" \
    "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 --cache-dir "$work/cache" --memory-cache 256 ${MOUNT_FLAGS:-} "${peerflags[@]}" "$work/b.torrent" "$mnt" > "$work/mount.log" 2>&1 &
  mpid=$!
  wait_line "$work/mount.log" '^mounted' >/dev/null
  s=$(date +%s.%N)
  cp "$mnt/swarm/big.bin" "$work/copy.bin"
  e=$(date +%s.%N)
  fusermount3 -u "$mnt"
  wait "$mpid" || true
  cmp -s "$work/copy.bin" "$work/data/swarm/big.bin" || { echo "copy out of the mount differs" >&2; exit 1; }
  rm -rf "$work/copy.bin" "$work/cache"   # every round starts cold
  read -r u y m < "$work/mount.time"
  echo "cp $(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}') $(awk -v u="$u" -v y="$y" 'BEGIN{print u+y}') $m" >> "$res"
}

# Rounds rotate the order so no client always runs first or last.
for r in $(seq "$ROUNDS"); do
  case $((r % 3)) in
    1) run_lt; run_get; run_cp ;;
    2) run_get; run_cp; run_lt ;;
    0) run_cp; run_lt; run_get ;;
  esac
done

# median CLIENT FIELD (2 wall, 3 cpu, 4 rss)
median() { awk -v c="$1" -v f="$2" '$1==c {print $f}' "$res" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ltw=$(median lt 2); ltc=$(median lt 3); ltr=$(median lt 4)
aw=$(median get 2); ac=$(median get 3); ar=$(median get 4)
bw=$(median cp 2); bc=$(median cp 3); br=$(median cp 4)
awk -v mib="$SIZE_MIB" -v n="$SEEDERS" -v rounds="$ROUNDS" \
    -v lw="$ltw" -v lc="$ltc" -v lr="$ltr" -v aw="$aw" -v ac="$ac" -v ar="$ar" -v bw="$bw" -v bc="$bc" -v br="$br" 'BEGIN {
  gib = mib / 1024; bytes = mib * 1048576
  printf "%d MiB torrent, %d local seeder processes (btfs seed), loopback; medians of %d rounds\n", mib, n, rounds
  printf "%-28s %9s %12s %10s %10s %12s\n", "client", "MB/s", "CPU s/GiB", "RSS MiB", "MB/s ratio", "CPU ratio"
  printf "%-28s %9.1f %12.2f %10.0f %10s %12s\n", "libtorrent (python3-lt)", bytes/lw/1e6, lc/gib, lr/1024, "1.00", "1.00"
  printf "%-28s %9.1f %12.2f %10.0f %10.2f %12.2f\n", "(a) btfs get (no FUSE)", bytes/aw/1e6, ac/gib, ar/1024, lw/aw, ac/lc
  printf "%-28s %9.1f %12.2f %10.0f %10.2f %12.2f\n", "(b) cp out of btfs mount", bytes/bw/1e6, bc/gib, br/1024, lw/bw, bc/lc
}'
echo "all runs (client wall_s cpu_s rss_kib):"; cat "$res"
