#!/usr/bin/env bash
# Interop benchmark (issue 13): first-piece time and MB/s between btfs and
# python3-libtorrent over TCP and uTP, plaintext and MSE-encrypted, on
# loopback. One SIZE_MIB (256) MiB file. Pairs, each ROUNDS (3) times:
#   lt <- btfs seed: a libtorrent leecher (scripts/lt_peer.py on 127.0.0.2,
#     given our address) downloads from `btfs seed` (127.0.0.1); its own
#     clock: first payload byte, and done;
#   btfs get <- lt: `btfs get` downloads from a libtorrent seeder
#     (127.0.0.2); wall time of the whole get.
# Modes: "default" (libtorrent's defaults: uTP tried first, encryption
# enabled; ours: defaults), "tcp" (plaintext TCP both sides), "tcp+rc4"
# (encryption forced on libtorrent's side, required on ours), "utp"
# (libtorrent uTP only, plaintext; ours finds uTP after TCP fails).
# Prints medians, then the targets of issue 13: a default libtorrent gets
# its first piece from us within 1 s; encrypted >= 0.8x plaintext MB/s;
# uTP >= 0.5x TCP MB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS=${BTFS:-$PWD/bin/btfs}
PY=/usr/bin/python3
SIZE_MIB=${SIZE_MIB:-256}
ROUNDS=${ROUNDS:-3}
OP_TIMEOUT=${OP_TIMEOUT:-300}
work=$(mktemp -d /tmp/btfs-bench-interop.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh
trap cleanup EXIT
"$PY" -c 'import libtorrent' 2>/dev/null || {
  echo "bench-interop: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }

mkdir -p "$work/data/io" "$mnt"
head -c "${SIZE_MIB}M" /dev/urandom > "$work/data/io/big.bin"
"$BTFS" create -o "$work/io.torrent" "$work/data/io" >/dev/null
size=$((SIZE_MIB << 20))
res="$work/results.txt" # lines: pair mode first_s done_s
: > "$res"

lt_flags() {
  case $1 in
    default) echo "--transport both" ;;
    tcp) echo "--transport tcp --enc disabled" ;;
    tcp+rc4) echo "--transport tcp --enc forced" ;;
    utp) echo "--transport utp --enc disabled" ;;
  esac
}
our_flags() {
  case $1 in
    default) echo "" ;;
    tcp) echo "--encryption off --no-utp" ;;
    tcp+rc4) echo "--encryption require --no-utp" ;;
    utp) echo "--encryption off" ;;
  esac
}

# lt_from_us MODE: libtorrent leeches from btfs seed.
lt_from_us() {
  local mode=$1 sport lpid spid
  # shellcheck disable=SC2046
  "$BTFS" seed --no-dht --bind 127.0.0.1 --port 0 $(our_flags "$mode") "$work/io.torrent" "$work/data" > "$work/seed.log" 2>&1 &
  spid=$!
  sport=$(wait_line "$work/seed.log" '^seeding' | sed 's/.* on port //')
  rm -rf "$work/ltdl"
  # shellcheck disable=SC2046
  timeout -k 5 "$OP_TIMEOUT" "$PY" -u scripts/lt_peer.py --listen 127.0.0.2 $(lt_flags "$mode") --exit-when-done \
    --peer "127.0.0.1:$sport" --torrent "$work/io.torrent" "$work/ltdl" > "$work/lt.log" 2>&1 || {
    echo "bench-interop: libtorrent ($mode) failed:" >&2; cat "$work/lt.log" >&2; exit 1; }
  kill -INT "$spid"; wait "$spid" || true
  cmp -s "$work/ltdl/io/big.bin" "$work/data/io/big.bin" || { echo "bench-interop: libtorrent's copy ($mode) differs" >&2; exit 1; }
  echo "lt<-btfs $mode $(awk '$1 == "first-byte" {print $2}' "$work/lt.log") $(awk '$1 == "done" {print $2}' "$work/lt.log")" >> "$res"
}

# us_from_lt MODE: btfs get from a libtorrent seeder.
us_from_lt() {
  local mode=$1 lport lpid s e
  # shellcheck disable=SC2046
  "$PY" -u scripts/lt_peer.py --listen 127.0.0.2 $(lt_flags "$mode") --torrent "$work/io.torrent" "$work/data" > "$work/lts.log" 2>&1 &
  lpid=$!
  lport=$(wait_line "$work/lts.log" '^seeding' | sed 's/.* on port //')
  rm -rf "$work/getdl"
  s=$(date +%s.%N)
  # shellcheck disable=SC2046
  timeout -k 5 "$OP_TIMEOUT" "$BTFS" get -q --no-dht --bind 127.0.0.1 --port 0 $(our_flags "$mode") \
    --peer "127.0.0.2:$lport" "$work/io.torrent" "$work/getdl" > "$work/get.log" 2>&1 || {
    echo "bench-interop: btfs get ($mode) failed:" >&2; cat "$work/get.log" >&2; exit 1; }
  e=$(date +%s.%N)
  kill "$lpid"; wait "$lpid" || true
  cmp -s "$work/getdl/io/big.bin" "$work/data/io/big.bin" || { echo "bench-interop: btfs's copy ($mode) differs" >&2; exit 1; }
  echo "btfs<-lt $mode - $(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}')" >> "$res"
}

for _ in $(seq "$ROUNDS"); do
  for mode in default tcp tcp+rc4 utp; do
    lt_from_us "$mode"
    us_from_lt "$mode"
  done
done

median() { sort -n | awk '{a[NR]=$1} END{if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { awk -v p="$1" -v m="$2" -v c="$3" '$1==p && $2==m {print $c}' "$res" | median; }
mbs() { awk -v t="$1" -v n="$size" 'BEGIN{ if (t+0 > 0) printf "%.1f", n/t/1e6; else print "nan"}'; }
printf "interop bench: %d MiB file, libtorrent %s on 127.0.0.2, btfs on 127.0.0.1, %d rounds (medians)\n" \
  "$SIZE_MIB" "$("$PY" -c 'import libtorrent; print(libtorrent.__version__)')" "$ROUNDS"
printf "%-10s %-8s %14s %10s\n" pair mode "first piece s" "MB/s"
for pair in "lt<-btfs" "btfs<-lt"; do
  for mode in default tcp tcp+rc4 utp; do
    printf "%-10s %-8s %14s %10s\n" "$pair" "$mode" "$(col "$pair" "$mode" 3)" "$(mbs "$(col "$pair" "$mode" 4)")"
  done
done
verdict() { # NAME VALUE OP TARGET
  awk -v n="$1" -v v="$2" -v op="$3" -v t="$4" 'BEGIN{
    ok = (op == "<=") ? (v+0 <= t+0) : (v+0 >= t+0)
    printf "  %-58s %-6s (%s, target %s %s)\n", n, (v == "nan" ? "missed" : (ok ? "met" : "missed")), v, op, t }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.3f", b/a; else print "nan"}'; }
echo "targets (issue 13):"
verdict "default libtorrent's first piece from btfs seed (s)" "$(col 'lt<-btfs' default 3)" "<=" 1
for pair in "lt<-btfs" "btfs<-lt"; do
  verdict "$pair encrypted / plaintext MB/s" "$(ratio "$(col "$pair" tcp+rc4 4)" "$(col "$pair" tcp 4)")" ">=" 0.8
  verdict "$pair uTP / TCP MB/s" "$(ratio "$(col "$pair" utp 4)" "$(col "$pair" tcp 4)")" ">=" 0.5
done
