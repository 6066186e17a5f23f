#!/usr/bin/env bash
# Efficiency benchmark (issue 12): what a read through `btfs mount` costs the
# swarm and the machine, next to libtorrent. SEEDERS (4) python3-libtorrent
# seeders (scripts/lt_seed.py) on 127.0.0.2, 127.0.0.3, ...; every client
# listens on 127.0.0.1. The seeders are restarted for every row, so the bytes
# they report sending (`stopped: uploaded N payload bytes`, summed) are that
# row's alone. Rows:
#   1. cp of a SIZE_MIB (512) MiB file out of a fresh mount (default flags,
#      new --cache-dir), seeders unlimited;
#   2. COUNT (200) scattered 64 KiB preads (scripts/randread.py rand, seed 1)
#      of that file, seeders capped at CAP_BPS (5000000) bytes/s each,
#      --memory-cache 64 (new --cache-dir);
#   3. two concurrent cp of the two SIZE_MIB/2 files of a second torrent
#      (new --cache-dir), seeders unlimited;
#   4. cat of row 1's file from a remount of row 1's cache dir, seeders
#      stopped, page cache dropped; against cat of the plain file, page
#      cache dropped;
#   lt. scripts/lt_download.py of row 1's torrent from the same seeders.
# Columns: MB/s (10^6 bytes/s: bytes read by the reader / wall time); CPU
# seconds (user+sys of the mount process, /usr/bin/time, from start to exit)
# per GiB of the bytes the row needed; peak RSS of that process; seeders'
# bytes sent / bytes needed (needed: the pieces under the bytes read, whole
# pieces; row 2 counts the distinct pieces touched by its offsets); the bytes
# btfs itself counted as downloaded / needed (its "unmounted" line); ours /
# libtorrent ratios (row 4: ours / cat). libtorrent's MB/s and CPU are
# lt_download.py's own (its clock starts when the torrent is added; ours when
# cp starts on the live mount). Then one line per target of issue 12: met or
# missed, with the ratio. ROUNDS (1) rounds, rows in the order lt, 1, 2, 3,
# 4; with more rounds every number is the median over the rounds. BTFS: the
# binary (bin/btfs); OP_TIMEOUT (300 s) bounds each read.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS=${BTFS:-$PWD/bin/btfs}
PY=/usr/bin/python3
SIZE_MIB=${SIZE_MIB:-512}
SEEDERS=${SEEDERS:-4}
ROUNDS=${ROUNDS:-1}
COUNT=${COUNT:-200}
CAP_BPS=${CAP_BPS:-5000000}
MEM_MIB=64            # row 2's --memory-cache
OP_TIMEOUT=${OP_TIMEOUT:-300}
work=$(mktemp -d /tmp/btfs-bench-efficiency.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh # (the script has cd-ed to the repository root)
trap cleanup EXIT
"$PY" -c 'import libtorrent' 2>/dev/null || {
  echo "bench-efficiency: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-efficiency: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ "$SEEDERS" -ge 1 ] && [ "$SEEDERS" -le 200 ] || { echo "bench-efficiency: SEEDERS must be 1..200" >&2; exit 1; }
[ $((SIZE_MIB % 2)) = 0 ] && [ "$SIZE_MIB" -ge 2 ] || { echo "bench-efficiency: SIZE_MIB must be even" >&2; exit 1; }
drop=yes
sync; echo 3 2>/dev/null > /proc/sys/vm/drop_caches || drop=no
drop_caches() { sync; if [ "$drop" = yes ]; then echo 3 > /proc/sys/vm/drop_caches; fi; }
now() { date +%s.%N; }
sub() { awk -v s="$1" -v e="$2" 'BEGIN{printf "%.6f", e-s}'; }

# Torrent 1: one SIZE_MIB file (rows 1, 2, 4, lt); torrent 2: two files of
# SIZE_MIB/2 (row 3).
mkdir -p "$work/data/eff" "$work/data/eff2" "$mnt"
big="$work/data/eff/big.bin"
head -c "${SIZE_MIB}M" /dev/urandom > "$big"
head -c "$((SIZE_MIB / 2))M" /dev/urandom > "$work/data/eff2/a.bin"
head -c "$((SIZE_MIB / 2))M" /dev/urandom > "$work/data/eff2/b.bin"
"$BTFS" create -o "$work/one.torrent" "$work/data/eff" >/dev/null
"$BTFS" create -o "$work/two.torrent" "$work/data/eff2" >/dev/null
size=$(stat -c %s "$big")

# needed TORRENT files PATH...          pieces under whole files
# needed TORRENT rand PATH SEED N SIZE  pieces under randread.py's offsets
# prints "PIECES BYTES PIECE_LENGTH". The offsets are randread.py's:
# random.Random(SEED).randrange(0, file_size - SIZE), N times.
needed() {
  "$PY" - "$@" <<'EOF'
import random, sys
import libtorrent as lt
t, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
ti = lt.torrent_info(t)
fs, plen, total = ti.files(), ti.piece_length(), ti.total_size()
where = {fs.file_path(i).replace("\\", "/"): (fs.file_offset(i), fs.file_size(i)) for i in range(fs.num_files())}
ranges = []  # (torrent offset, length)
if mode == "files":
    ranges = [where[p] for p in args]
else:
    (off, fsize), seed, n, size = where[args[0]], int(args[1]), int(args[2]), int(args[3])
    rng = random.Random(seed)
    ranges = [(off + rng.randrange(0, fsize - size), size) for _ in range(n)]
pieces = set()
for o, n in ranges:
    pieces.update(range(o // plen, (o + n - 1) // plen + 1))
print(len(pieces), sum(min(plen, total - p * plen) for p in pieces), plen)
EOF
}
read -r _ need1 plen1 < <(needed "$work/one.torrent" files eff/big.bin)
read -r touched2 need2 _ < <(needed "$work/one.torrent" rand eff/big.bin 1 "$COUNT" 65536)
read -r _ need3 plen2 < <(needed "$work/two.torrent" files eff2/a.bin eff2/b.bin)

# start_seeders TORRENT RATE: SEEDERS lt_seed.py processes (RATE bytes/s
# each, 0 = unlimited); sets seeds (their pids), peers, peerflags.
seeds=() peers=() peerflags=()
start_seeders() {
  local i
  seeds=() peers=() peerflags=()
  for i in $(seq "$SEEDERS"); do
    "$PY" scripts/lt_seed.py --listen "127.0.0.$((i + 1))" --upload-rate "$2" "$1" "$work/data" > "$work/seed$i.log" 2>&1 &
    seeds+=($!); pids+=($!)
  done
  for i in $(seq "$SEEDERS"); do
    port=$(wait_line "$work/seed$i.log" '^seeding' | sed 's/.*port //')
    peers+=("127.0.0.$((i + 1)):$port")
    peerflags+=(--peer "127.0.0.$((i + 1)):$port")
  done
}
# stop_seeders: SIGTERM, wait; sets sent to the sum of the payload bytes
# they sent.
stop_seeders() {
  local p i n
  sent=0
  for p in "${seeds[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${seeds[@]}"; do wait "$p" || true; done
  for i in $(seq "$SEEDERS"); do
    n=$(sed -n 's/^stopped: uploaded \([0-9]*\) payload bytes.*/\1/p' "$work/seed$i.log")
    [ -n "$n" ] || { echo "bench-efficiency: seeder $i printed no upload count:" >&2; cat "$work/seed$i.log" >&2; exit 1; }
    sent=$((sent + n))
  done
  seeds=() pids=()
}

# mount_start TORRENT CACHE FLAGS...: a foreground mount under /usr/bin/time.
mount_start() {
  local t=$1 c=$2
  shift 2
  /usr/bin/time -f '%U %S %M' -o "$work/mount.time" \
    "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 --cache-dir "$c" "$@" "$t" "$mnt" > "$work/mount.log" 2>&1 &
  mpid=$!
  wait_line "$work/mount.log" '^mounted' >/dev/null
}
# mount_stop: unmount, wait; sets cpu (s), rss (KiB), rcvd (the bytes the
# mount counted as downloaded).
mount_stop() {
  local u y
  fusermount3 -u "$mnt" || fusermount3 -u -z "$mnt"
  wait "$mpid" || true
  read -r u y rss < <(tail -n 1 "$work/mount.time")
  cpu=$(awk -v u="$u" -v y="$y" 'BEGIN{print u+y}')
  rcvd=$(sed -n 's/^unmounted .*: downloaded \([0-9]*\) bytes.*/\1/p' "$work/mount.log")
  rcvd=${rcvd:-nan}
}
# timed OUT CMD...: run CMD > OUT under OP_TIMEOUT; sets wall (seconds).
timed() {
  local out=$1 s e rc=0
  shift
  s=$(now)
  timeout -k 5 "$OP_TIMEOUT" "$@" > "$out" || rc=$?
  e=$(now)
  [ "$rc" = 0 ] || { echo "bench-efficiency: '$*' failed (status $rc)" >&2; exit 1; }
  wall=$(sub "$s" "$e")
}

res="$work/results.txt"   # lines: ROUND ROW KEY VALUE
: > "$res"
round=0
rec() { echo "$round $1 $2 $3" >> "$res"; }

row_lt() {
  local c r
  rm -rf "$work/lt"
  start_seeders "$work/one.torrent" 0
  timed "$work/lt.out" "$PY" scripts/lt_download.py "$work/one.torrent" "$work/lt" "${peers[@]}"
  stop_seeders
  cmp -s "$work/lt/eff/big.bin" "$big" || { echo "bench-efficiency: libtorrent's copy differs" >&2; exit 1; }
  rm -rf "$work/lt"
  read -r wall c r < <(sed 's/[a-z_]*=//g' "$work/lt.out")  # its own clock: from adding the torrent
  rec lt wall "$wall"; rec lt cpu "$c"; rec lt rss "$r"; rec lt sent "$sent"; rec lt bytes "$size"; rec lt need "$need1"
}

# rec_mount ROW BYTES NEEDED: the row's numbers from timed, mount_stop and
# stop_seeders.
rec_mount() {
  rec "$1" wall "$wall"; rec "$1" cpu "$cpu"; rec "$1" rss "$rss"; rec "$1" rcvd "$rcvd"
  rec "$1" bytes "$2"; rec "$1" need "$3"
}

row1() {
  rm -rf "$work/cache1"
  start_seeders "$work/one.torrent" 0
  mount_start "$work/one.torrent" "$work/cache1" "${peerflags[@]}"
  timed /dev/null cp "$mnt/eff/big.bin" "$work/copy.bin"
  mount_stop
  stop_seeders
  cmp -s "$work/copy.bin" "$big" || { echo "bench-efficiency: row 1's copy differs" >&2; exit 1; }
  rm -f "$work/copy.bin"
  rec_mount r1 "$size" "$need1"; rec r1 sent "$sent"
}

row2() {
  rm -rf "$work/cache2"
  start_seeders "$work/one.torrent" "$CAP_BPS"
  mount_start "$work/one.torrent" "$work/cache2" --memory-cache "$MEM_MIB" "${peerflags[@]}"
  timed "$work/rand.out" "$PY" scripts/randread.py rand "$mnt/eff/big.bin" "$big" 1 "$COUNT" 65536
  mount_stop
  stop_seeders
  rm -rf "$work/cache2"
  rec_mount r2 "$((COUNT * 65536))" "$need2"; rec r2 sent "$sent"
  rec r2 p50 "$(sed 's/.*p50_ms=\([^ ]*\).*/\1/' "$work/rand.out")"
  rec r2 p99 "$(sed 's/.*p99_ms=\([^ ]*\).*/\1/' "$work/rand.out")"
}

row3() {
  local s e pa pb ra=0 rb=0
  rm -rf "$work/cache3"
  start_seeders "$work/two.torrent" 0
  mount_start "$work/two.torrent" "$work/cache3" "${peerflags[@]}"
  s=$(now)
  timeout -k 5 "$OP_TIMEOUT" cp "$mnt/eff2/a.bin" "$work/copy_a.bin" & pa=$!
  timeout -k 5 "$OP_TIMEOUT" cp "$mnt/eff2/b.bin" "$work/copy_b.bin" & pb=$!
  wait "$pa" || ra=$?
  wait "$pb" || rb=$?
  e=$(now)
  [ "$ra" = 0 ] && [ "$rb" = 0 ] || { echo "bench-efficiency: row 3's cp failed (status $ra, $rb)" >&2; exit 1; }
  wall=$(sub "$s" "$e")
  mount_stop
  stop_seeders
  cmp -s "$work/copy_a.bin" "$work/data/eff2/a.bin" && cmp -s "$work/copy_b.bin" "$work/data/eff2/b.bin" ||
    { echo "bench-efficiency: row 3's copies differ" >&2; exit 1; }
  rm -rf "$work/copy_a.bin" "$work/copy_b.bin" "$work/cache3"
  rec_mount r3 "$size" "$need3"; rec r3 sent "$sent"
}

row4() {
  drop_caches
  mount_start "$work/one.torrent" "$work/cache1"
  timed /dev/null cat "$mnt/eff/big.bin"
  mount_stop
  rec_mount r4 "$size" "$size"
  drop_caches
  timed /dev/null cat "$big"
  rec cat wall "$wall"; rec cat bytes "$size"
}

t0=$(now)
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS ..." >&2
  row_lt; row1; row2; row3; row4
done
t1=$(now)

# medians: "ROW KEY MEDIAN" for every key recorded.
awk '{ v[$2" "$3] = v[$2" "$3] " " $4 } END { for (k in v) print k v[k] }' "$res" |
  while read -r row key vals; do
    echo "$row $key $(printf '%s\n' $vals | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  done > "$work/medians.txt"

awk -v mib="$SIZE_MIB" -v n="$SEEDERS" -v rounds="$ROUNDS" -v cap="$CAP_BPS" -v mem="$MEM_MIB" \
    -v count="$COUNT" -v plen1="$plen1" -v plen2="$plen2" -v touched="$touched2" -v drop="$drop" \
    -v secs="$(sub "$t0" "$t1")" '
{ m[$1, $2] = $3 }
function mbps(r) { return m[r, "bytes"] / m[r, "wall"] / 1e6 }
function cpug(r) { return m[r, "cpu"] / (m[r, "need"] / 1073741824) }
function num(x, f) { return x == "" || x == "nan" ? "-" : sprintf(f, x) }
function row(label, r, ratio_mb, ratio_cpu) {
  printf "%-44s %8.1f %10.2f %8.0f %9s %9s %9s %9s\n", label, mbps(r), cpug(r), m[r, "rss"] / 1024,
    ((r, "sent") in m) ? sprintf("%.3f", m[r, "sent"] / m[r, "need"]) : "-",
    ((r, "rcvd") in m) && m[r, "rcvd"] != "nan" ? sprintf("%.3f", m[r, "rcvd"] / m[r, "need"]) : "-",
    ratio_mb, ratio_cpu
}
function target(what, ratio, limit, atleast) {
  ok = atleast ? ratio >= limit : ratio <= limit
  printf "  %-62s %s (%.3f, target %s %.2f)\n", what, ok ? "met   " : "missed", ratio, atleast ? ">=" : "<=", limit
}
END {
  printf "efficiency bench (issue 12): %d libtorrent seeders (lt_seed.py on 127.0.0.2..), btfs on 127.0.0.1, loopback; %d round(s)%s\n",
    n, rounds, (rounds > 1 ? ", medians" : "")
  printf "torrent 1: one %d MiB file, %d KiB pieces; torrent 2 (row 3): two %d MiB files, %d KiB pieces\n", mib, plen1 / 1024, mib / 2, plen2 / 1024
  printf "CPU: mount process user+sys (start to exit) per GiB needed; sent: seeders payload bytes / bytes needed; rcvd: btfs downloaded count / needed\n"
  printf "%-44s %8s %10s %8s %9s %9s %9s %9s\n", "row", "MB/s", "CPU s/GiB", "RSS MiB", "sent/need", "rcvd/need", "MB/s /ref", "CPU /ref"
  lw = m["lt", "wall"]; lc = cpug("lt")
  row("lt  libtorrent download (lt_download.py)", "lt", "ref", "ref")
  row("1.  cp " mib " MiB, fresh mount", "r1", sprintf("%.3f", mbps("r1") / mbps("lt")), sprintf("%.3f", cpug("r1") / lc))
  row("2.  " count " x 64 KiB scattered, " cap / 1e6 " MB/s/seeder", "r2", "-", "-")
  row("3.  2 concurrent cp, 2 x " mib / 2 " MiB", "r3", sprintf("%.3f", mbps("r3") / mbps("lt")), sprintf("%.3f", cpug("r3") / lc))
  row("4.  cat, cached remount, cold page cache", "r4", sprintf("%.3f", mbps("r4") / mbps("cat")), "-")
  printf "%-44s %8.1f\n", "    cat of the plain file, cold page cache", mbps("cat")
  printf "row 2: %d distinct pieces touched (%.1f MiB needed for %.1f MiB read), --memory-cache %d; read latency p50 %.1f ms, p99 %.1f ms\n",
    touched, m["r2", "need"] / 1048576, m["r2", "bytes"] / 1048576, mem, m["r2", "p50"], m["r2", "p99"]
  printf "row 4: the remount downloaded %s bytes; page cache dropped: %s\n", num(m["r4", "rcvd"], "%d"), drop
  printf "targets (issue 12):\n"
  target("row 1 seeders sent <= 1.05x the file", m["r1", "sent"] / m["r1", "need"], 1.05, 0)
  target("row 2 seeders sent <= 1.05x the pieces touched", m["r2", "sent"] / m["r2", "need"], 1.05, 0)
  target("row 1 cp MB/s >= 0.9x libtorrent", mbps("r1") / mbps("lt"), 0.9, 1)
  target("row 3 cp MB/s (two readers) >= 0.9x libtorrent", mbps("r3") / mbps("lt"), 0.9, 1)
  target("row 1 CPU s/GiB <= 1.5x libtorrent", cpug("r1") / lc, 1.5, 0)
  target("row 3 CPU s/GiB <= 1.5x libtorrent", cpug("r3") / lc, 1.5, 0)
  target(sprintf("row 2 peak RSS <= memory cache + 64 MiB (%d MiB)", mem + 64), m["r2", "rss"] / 1024 / (mem + 64), 1, 0)
  target("row 4 MB/s >= 0.8x cat", mbps("r4") / mbps("cat"), 0.8, 1)
  printf "measured in %.0f s\n", secs
}' "$work/medians.txt"
echo "all runs (round row: key=value ..., in the order measured):"
awk '{ r = $1 " " $2; if (!(r in line)) order[++k] = r; line[r] = line[r] " " $3 "=" $4 } END { for (i = 1; i <= k; i++) print order[i] ":" line[order[i]] }' "$res"
