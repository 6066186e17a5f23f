#!/usr/bin/env bash
# Magnet benchmark (issue 11): four libtorrent seeders (scripts/lt_peer.py,
# 127.0.0.2-5) of a SIZE_MIB torrent, in a loopback DHT and behind a `btfs
# tracker`. Given only a magnet link, how long until the metadata is known
# and until the first byte of the file arrives:
#   ours: `btfs mount MAGNET` (metadata, then the mount goes live) and a
#         1-byte read of the file through the mount;
#   lt:   a libtorrent client (lt_peer.py --magnet), same swarm;
# (a) through the tracker alone (no DHT), (b) through the DHT alone (no
# tracker in the magnet; the first seeder is the only bootstrap node).
# ROUNDS runs each; prints medians and our/libtorrent ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS="$PWD/bin/btfs"
PY=/usr/bin/python3
SIZE_MIB=${SIZE_MIB:-128}
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d /tmp/btfs-bench-magnet.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh
trap cleanup EXIT
"$PY" -c 'import libtorrent' 2>/dev/null || {
  echo "bench-magnet: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }

mkdir -p "$work/data/mag" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/mag/movie.bin"
"$BTFS" tracker --listen 127.0.0.1:0 --interval 120s > "$work/tracker.log" 2>&1 &
pids+=($!)
url=$(wait_line "$work/tracker.log" 'listening on' | sed 's/.*listening on //')
"$BTFS" create --tracker "$url" -o "$work/m.torrent" "$work/data/mag" >/dev/null
magnet=$("$BTFS" info "$work/m.torrent" | awk '$1 == "magnet:" {print $2}')
bare=${magnet%%&tr=*} # xt and dn only: the DHT must find the peers

boot=""
for i in 2 3 4 5; do
  dht=(--dht-alone)
  [ -n "$boot" ] && dht=(--dht "$boot")
  "$PY" -u scripts/lt_peer.py --listen "127.0.0.$i" "${dht[@]}" --announce --torrent "$work/m.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  wait_line "$work/seed$i.log" '^seeding' >/dev/null
  [ -z "$boot" ] && boot="127.0.0.2:$(awk '$1 == "listening" {print $3; exit}' "$work/seed$i.log")"
done
sleep 3 # let the seeders' DHT announces land

res="$work/results.txt" # lines: client mode metadata_s first_byte_s
: > "$res"

# ours MODE MAGNET FLAGS...: mount, time the metadata line and a 1-byte read.
ours() {
  local mode=$1 mg=$2 s t0 tm tb
  shift 2
  rm -rf "$work/cache"
  s=$(date +%s.%N)
  "$BTFS" mount -f --bind 127.0.0.1 --port 0 --cache-dir "$work/cache" "$@" "$mg" "$mnt" > "$work/mount.log" 2>&1 &
  local mpid=$!
  wait_line "$work/mount.log" '^mounted' >/dev/null
  tm=$(awk '/^metadata of/ {print $(NF-1); exit}' "$work/mount.log")
  head -c 1 "$mnt/mag/movie.bin" > /dev/null
  t0=$(date +%s.%N)
  tb=$(awk -v s="$s" -v e="$t0" 'BEGIN{print e-s}')
  echo "ours $mode $tm $tb" >> "$res"
  fusermount3 -u "$mnt"
  wait "$mpid" || true
}

# lt MODE FLAGS...: a libtorrent client given the magnet.
lt() {
  local mode=$1
  shift
  rm -rf "$work/ltdl"
  "$PY" -u scripts/lt_peer.py --verbose --listen 127.0.0.9 "$@" "$work/ltdl" > "$work/lt.log" 2>&1 &
  local lpid=$!
  wait_line "$work/lt.log" '^first-byte' >/dev/null
  kill "$lpid"; wait "$lpid" || true
  echo "lt $mode $(awk '$1 == "metadata" {print $3}' "$work/lt.log") $(awk '$1 == "first-byte" {print $2}' "$work/lt.log")" >> "$res"
}

for _ in $(seq "$ROUNDS"); do
  ours tracker "$magnet" --no-dht
  lt tracker --magnet "$magnet"
  ours dht "$bare" --dht-bootstrap "$boot"
  lt dht --dht "$boot" --magnet "$bare"
done

median() { sort -n | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf "magnet bench: %d MiB torrent, 4 libtorrent seeders on loopback, %d rounds (medians, seconds)\n" "$SIZE_MIB" "$ROUNDS"
printf "%-8s %-22s %-22s %-14s %-14s\n" mode "btfs metadata / 1st B" "libtorrent md / 1st B" "ratio md" "ratio 1st B"
for mode in tracker dht; do
  om=$(awk -v m=$mode '$1=="ours" && $2==m {print $3}' "$res" | median)
  ob=$(awk -v m=$mode '$1=="ours" && $2==m {print $4}' "$res" | median)
  lm=$(awk -v m=$mode '$1=="lt" && $2==m {print $3}' "$res" | median)
  lb=$(awk -v m=$mode '$1=="lt" && $2==m {print $4}' "$res" | median)
  printf "%-8s %-22s %-22s %-14s %-14s\n" "$mode" "$om / $ob" "$lm / $lb" \
    "$(awk -v a="$om" -v b="$lm" 'BEGIN{printf "%.2fx", a/b}')" "$(awk -v a="$ob" -v b="$lb" 'BEGIN{printf "%.2fx", a/b}')"
done
