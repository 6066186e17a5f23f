#!/usr/bin/env bash
# Streaming benchmark (issue 4): how a player-like reader feels through
#   ours: `btfs mount` (this repo) and
#   btfs: Debian's C++ btfs (/usr/bin/btfs, libtorrent),
# on one multi-file torrent (an H.264 MP4 whose moov index is at the END,
# and a 512 MiB random file) served by SEEDERS `btfs seed` processes on
# 127.0.0.2, 127.0.0.3, ... (one IP each: libtorrent allows one connection
# per IP) that announce to a local `btfs tracker`. Both clients find the
# seeders through the tracker only.
#
# Every measurement runs on a FRESH mount (new process, new empty data
# directory or --cache-dir) with the page cache dropped first (when
# permitted):
#   ttfb      open() to the first byte read of the 512 MiB file
#   rand      64 cold 16 KiB preads of the 512 MiB file at fixed random
#             offsets (scripts/randread.py, seed 1): p50 and p99
#   probe     ffprobe of the MP4 (reads the header and the moov at the end)
#   seek      ffmpeg -ss <middle> -i MP4 -t 2 -f null -  (seek + decode)
#   cp        cp of the 512 MiB file: MB/s (compared byte for byte after)
# plus the raw libtorrent download of the whole torrent from the same
# seeders (scripts/lt_download.py) for cp's ours/libtorrent ratio.
# Each operation has a timeout (OP_TIMEOUT, 120 s); a client that misses it
# scores "timeout" (worse than any number). Medians of ROUNDS (3) rounds;
# the client order rotates between rounds.
#
# The whole run happens in a private network namespace (unshare -n) with
# only loopback: the C++ btfs has DHT/LSD on and listens on all interfaces,
# and this keeps every packet on 127.0.0.0/8.
set -euo pipefail
if [ -z "${BTFS_BENCH_NETNS:-}" ]; then
  command -v unshare >/dev/null && command -v ip >/dev/null || {
    echo "bench-stream: needs unshare (util-linux) and ip (iproute2)" >&2; exit 1; }
  BTFS_BENCH_NETNS=1 exec unshare --net -- "$0" "$@"
fi
ip link set lo up
cd "$(dirname "$0")/.."
BTFS=${BTFS:-$PWD/bin/btfs}
CPPBTFS=${CPPBTFS:-/usr/bin/btfs}
PY=/usr/bin/python3
SEEDERS=${SEEDERS:-4}
ROUNDS=${ROUNDS:-3}
OP_TIMEOUT=${OP_TIMEOUT:-120}
RAND_MIB=${RAND_MIB:-512}
VIDEO_SECONDS=${VIDEO_SECONDS:-120}

for c in "$CPPBTFS" ffmpeg ffprobe fusermount3 "$PY"; do
  command -v "$c" >/dev/null || { echo "bench-stream: $c is missing (BENCH=1 scripts/deps.sh installs it)" >&2; exit 1; }
done
"$PY" -c 'import libtorrent' 2>/dev/null || {
  echo "bench-stream: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }
[ "$SEEDERS" -ge 1 ] && [ "$SEEDERS" -le 250 ] || { echo "bench-stream: SEEDERS must be 1..250" >&2; exit 1; }

work=$(mktemp -d /tmp/btfs-bench-stream.XXXXXX)
mnt="$work/mnt"
pids=()
cpid=""   # the client mount process of the current measurement
cleanup() {
  set +e
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u -z "$mnt"; fi
  [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
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
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN{printf "%.6f", e-s}'; }

# --- content: MP4 with moov at the end, and random bytes -------------------
data="$work/data/stream"
mkdir -p "$data" "$mnt"
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1280x720:rate=30" -t "$VIDEO_SECONDS" \
  -c:v libx264 -preset ultrafast -b:v 8M -pix_fmt yuv420p "$data/video.mp4"
top=$(ffprobe -v trace "$data/video.mp4" 2>&1 | grep -o "type:'[a-z]*' parent:'root'" | cut -d"'" -f2 | tr '\n' ' ')
case "$top" in
  *mdat*moov*) ;;
  *) echo "bench-stream: the MP4's top-level atoms are '$top': want moov after mdat" >&2; exit 1 ;;
esac
head -c "${RAND_MIB}M" /dev/urandom > "$data/random.bin"
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$data/video.mp4")
mid=$(awk -v d="$dur" 'BEGIN{printf "%.3f", d/2}')
# Seek + decode must be silent on the original, so any message through a
# mount is a real error.
if [ -n "$(ffmpeg -nostdin -v error -ss "$mid" -i "$data/video.mp4" -t 2 -f null - 2>&1)" ]; then
  echo "bench-stream: ffmpeg is not silent on the original MP4" >&2; exit 1
fi
total_bytes=$(du -cb "$data/video.mp4" "$data/random.bin" | awk 'END{print $1}')

# --- tracker, torrent, seeders ---------------------------------------------
"$BTFS" tracker --listen 127.0.0.1:0 --interval 2s > "$work/tracker.log" 2>&1 &
pids+=($!)
url=$(wait_line "$work/tracker.log" 'listening on' | awk '{print $4}')
"$BTFS" create --tracker "$url" -o "$work/s.torrent" "$data" > "$work/create.log"
peers=()
for i in $(seq "$SEEDERS"); do
  ip=127.0.0.$((i + 1))
  "$BTFS" seed --no-dht --bind "$ip" --port 0 "$work/s.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  port=$(wait_line "$work/seed$i.log" '^seeding' | sed 's/.*port //')
  peers+=("$ip:$port")
done

cacheflags=()
if "$BTFS" mount --no-dht --help 2>&1 | grep -q -- '-cache-dir'; then cacheflags=(--cache-dir "$work/cache"); fi
drop=no
if sync && echo 3 2>/dev/null > /proc/sys/vm/drop_caches; then drop=yes; fi
drop_caches() { if [ "$drop" = yes ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }

# --- clients ---------------------------------------------------------------
# mount_CLIENT starts a fresh mount and waits until the files are visible.
# Ours gets a new empty disk cache each time (the default ~/.cache/btfs
# would make every mount after the first warm).
mount_ours() {
  rm -rf "$work/cache"
  "$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 "${cacheflags[@]}" ${MOUNT_FLAGS:-} "$work/s.torrent" "$mnt" > "$work/mount.log" 2>&1 &
  cpid=$!
  for _ in $(seq 300); do
    grep -q '^mounted' "$work/mount.log" && return 0
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "btfs mount did not mount:" >&2; cat "$work/mount.log" >&2; return 1
}
mount_btfs() {
  rm -rf "$work/cppdata"; mkdir "$work/cppdata"
  "$CPPBTFS" --data-directory="$work/cppdata" --min-port=31000 --max-port=31010 -f \
    "$work/s.torrent" "$mnt" > "$work/mount.log" 2>&1 &
  cpid=$!
  for _ in $(seq 300); do
    [ -e "$mnt/stream/random.bin" ] && return 0
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "C++ btfs did not mount:" >&2; cat "$work/mount.log" >&2; return 1
}
unmount_client() {
  fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$cpid" 2>/dev/null; then
    echo "note: $1 still running 15 s after unmount ($2); killing it" >&2
    kill -9 "$cpid" 2>/dev/null || true
  fi
  wait "$cpid" 2>/dev/null || true
  cpid=""
  if mountpoint -q "$mnt"; then fusermount3 -u -z "$mnt" || true; fi
  rm -rf "$work/cppdata" "$work/cache" "$work/copy.bin"
}

res="$work/results.txt"   # lines: client metric value (value may be timeout/error)
: > "$res"
record() { echo "$1 $2 $3" >> "$res"; }

# run CMD... under the timeout; sets rc (124 = timed out).
run() { rc=0; timeout -k 5 "$OP_TIMEOUT" "$@" || rc=$?; }
verdict() { if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo timeout; else echo error; fi; }

keys_of() {
  case $1 in ttfb) echo ttfb_ms ;; rand) echo rand_p50_ms rand_p99_ms ;; probe) echo probe_s ;; seek) echo seek_s ;; cp) echo cp_MBps ;; esac
}

# measure CLIENT METRIC: one measurement on a fresh mount.
measure() {
  local client=$1 metric=$2 s e out v
  drop_caches
  if ! "mount_$client"; then
    for k in $(keys_of "$metric"); do record "$client" "$k" error; done
    unmount_client "$client" "$metric"; return
  fi
  local f="$mnt/stream/random.bin" v4="$mnt/stream/video.mp4"
  case $metric in
    ttfb|rand)
      rc=0
      out=$(timeout -k 5 "$OP_TIMEOUT" "$PY" scripts/randread.py "$metric" "$f" "$data/random.bin" 2>"$work/op.err") || rc=$?
      if [ "$rc" = 0 ] && [ "$metric" = ttfb ]; then
        record "$client" ttfb_ms "$(echo "$out" | sed 's/ttfb_s=//' | awk '{print $1*1000}')"
      elif [ "$rc" = 0 ]; then
        record "$client" rand_p50_ms "$(echo "$out" | sed 's/.*p50_ms=\([^ ]*\).*/\1/')"
        record "$client" rand_p99_ms "$(echo "$out" | sed 's/.*p99_ms=\([^ ]*\).*/\1/')"
      else
        v=$(verdict); echo "$client $metric: $v (status $rc) $(cat "$work/op.err")" >&2
        if [ "$metric" = ttfb ]; then record "$client" ttfb_ms "$v"
        else record "$client" rand_p50_ms "$v"; record "$client" rand_p99_ms "$v"; fi
      fi
      ;;
    probe|seek)
      s=$(now)
      if [ "$metric" = probe ]; then
        run ffprobe -v error -show_entries format=duration:stream=codec_name -of csv=p=0 "$v4" > /dev/null 2> "$work/op.err"
      else
        run ffmpeg -nostdin -v error -ss "$mid" -i "$v4" -t 2 -f null - > /dev/null 2> "$work/op.err"
      fi
      e=$(now)
      if [ "$rc" = 0 ] && [ ! -s "$work/op.err" ]; then
        record "$client" "${metric}_s" "$(elapsed "$s" "$e")"
      else
        [ "$rc" = 0 ] && rc=1   # messages on stderr: corrupt or short data
        v=$(verdict); echo "$client $metric: $v (status $rc) $(head -c 500 "$work/op.err")" >&2
        record "$client" "${metric}_s" "$v"
      fi
      ;;
    cp)
      s=$(now)
      run cp "$f" "$work/copy.bin" 2> "$work/op.err"
      e=$(now)
      if [ "$rc" = 0 ] && cmp -s "$work/copy.bin" "$data/random.bin"; then
        record "$client" cp_MBps "$(awk -v s="$s" -v e="$e" -v b="$(stat -c %s "$data/random.bin")" 'BEGIN{printf "%.2f", b/(e-s)/1e6}')"
      else
        [ "$rc" = 0 ] && { rc=1; echo "$client cp: the copy differs from the original" >&2; }
        v=$(verdict); echo "$client cp: $v (status $rc) $(cat "$work/op.err")" >&2
        record "$client" cp_MBps "$v"
      fi
      ;;
  esac
  unmount_client "$client" "$metric"
}

run_lt() {
  drop_caches
  rm -rf "$work/lt"
  run "$PY" scripts/lt_download.py "$work/s.torrent" "$work/lt" "${peers[@]}" > "$work/lt.out" 2> "$work/op.err"
  if [ "$rc" = 0 ] && cmp -s "$work/lt/stream/random.bin" "$data/random.bin" && cmp -s "$work/lt/stream/video.mp4" "$data/video.mp4"; then
    record lt lt_MBps "$(sed 's/seconds=\([^ ]*\).*/\1/' "$work/lt.out" | awk -v b="$total_bytes" '{printf "%.2f", b/$1/1e6}')"
  else
    v=$(verdict); echo "libtorrent: $v (status $rc) $(cat "$work/op.err")" >&2
    record lt lt_MBps "$v"
  fi
  rm -rf "$work/lt"
}

client_round() { for m in ttfb rand probe seek cp; do measure "$1" "$m"; done; }
for r in $(seq "$ROUNDS"); do
  echo "round $r of $ROUNDS ..." >&2
  case $((r % 3)) in
    1) client_round ours; client_round btfs; run_lt ;;
    2) client_round btfs; run_lt; client_round ours ;;
    0) run_lt; client_round ours; client_round btfs ;;
  esac
done

# median CLIENT METRIC: "timeout" and "error" sort after every number.
median() {
  awk -v c="$1" -v m="$2" '$1==c && $2==m {print ($3 ~ /^[0-9.]+$/ ? $3 : "9e99 " $3)}' "$res" |
    sort -g | awk '{a[NR]=$0} END {v=a[int((NR+1)/2)]; if (NR==0) print "n/a"; else if (v ~ / /) print substr(v, index(v," ")+1); else print v}'
}
rows=(ttfb_ms rand_p50_ms rand_p99_ms probe_s seek_s cp_MBps)
{
  for k in "${rows[@]}"; do echo "$k $(median ours "$k") $(median btfs "$k")"; done
  echo "lt_MBps $(median lt lt_MBps)"
} > "$work/medians.txt"
awk -v rounds="$ROUNDS" -v n="$SEEDERS" -v drop="$drop" -v tb="$total_bytes" -v rmib="$RAND_MIB" \
    -v vmb="$(stat -c %s "$data/video.mp4")" -v mid="$mid" -v flags="${MOUNT_FLAGS:-}" '
function num(x) { return x ~ /^[0-9.]+$/ }
function show(m, x) { return num(x) ? sprintf(fmt[m], x) : x }
function ratio(a, b) { return (num(a) && num(b) && b > 0) ? sprintf("%.2f", a / b) : "-" }
BEGIN {
  label["ttfb_ms"] = "TTFB, open to 1st byte (ms)"; better["ttfb_ms"] = "lower"
  label["rand_p50_ms"] = "16 KiB random read p50 (ms)"; better["rand_p50_ms"] = "lower"
  label["rand_p99_ms"] = "16 KiB random read p99 (ms)"; better["rand_p99_ms"] = "lower"
  label["probe_s"] = "ffprobe MP4 (s)"; better["probe_s"] = "lower"
  label["seek_s"] = "ffmpeg -ss mid, 2 s decode (s)"; better["seek_s"] = "lower"
  label["cp_MBps"] = "cp " rmib " MiB file (MB/s)"; better["cp_MBps"] = "higher"
  fmt["ttfb_ms"] = fmt["rand_p50_ms"] = fmt["rand_p99_ms"] = "%.1f"; fmt["probe_s"] = fmt["seek_s"] = "%.3f"; fmt["cp_MBps"] = "%.1f"
}
$1 == "lt_MBps" { lt = $2; next }
{ order[++k] = $1; o[$1] = $2; b[$1] = $3 }
END {
  printf "stream bench: %.1f MB torrent = H.264 MP4 %.1f MB (moov at end) + %d MiB random; %d seeders (btfs seed on 127.0.0.2..), tracker-only discovery\n", tb/1e6, vmb/1e6, rmib, n
  printf "fresh mount per measurement, page cache dropped: %s; ffmpeg seeks to %s s; medians of %d rounds; ours mount flags: \"%s\"\n", drop, mid, rounds, flags
  printf "%-32s %10s %10s %10s  %s\n", "metric", "ours", "btfs", "ours/btfs", "better"
  for (i = 1; i <= k; i++) {
    m = order[i]
    printf "%-32s %10s %10s %10s  %s\n", label[m], show(m, o[m]), show(m, b[m]), ratio(o[m], b[m]), better[m] " is better" (better[m] == "lower" ? " (ratio < 1: ours faster)" : " (ratio > 1: ours faster)")
  }
  printf "%-32s %10s  %s\n", "libtorrent whole torrent (MB/s)", show("cp_MBps", lt), "python3-libtorrent, same seeders"
  printf "%-32s %10s %10s %10s  %s\n", "cp MB/s / libtorrent MB/s", ratio(o["cp_MBps"], lt), ratio(b["cp_MBps"], lt), "", "higher is better"
}' "$work/medians.txt"
echo "all runs (client metric value):"; cat "$res"
