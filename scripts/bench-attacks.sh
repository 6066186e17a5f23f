#!/usr/bin/env bash
# Attack benchmark (issue 15): each attack of integration/hostile against a
# fresh foreground `btfs mount` while a file is read through it. For every
# row: a python3-libtorrent seeder (scripts/lt_seed.py) on 127.0.0.2, the
# mount on 127.0.0.1 (--no-dht, --memory-cache MEM_MIB, a new --cache-dir,
# --peer for the seeder and for the attacker's listener), the attacker on
# 127.0.0.66 (its tracker on 127.0.0.77). The attack starts first, runs
# ATTACK_SECS (30) seconds; 2 s after the mount is live a SIZE_MIB (64) MiB
# file is read with cat (at most ATTACK_SECS - 2 s) and compared. Rows:
#   baseline     no attacker
#   badhash      garbage blocks; reconnects at once under a new peer id
#   stealid      the seeder's peer id, one bad block, while the seeder is
#                stopped (SIGSTOP) for the attack's first 8 s; the seeder is
#                `btfs seed` (libtorrent's peer id changes per connection)
#   reqflood     requests while choked, never reading: with the fast
#                extension (rejects), and without it, not interested
#   tracker      150000 compact peers and interval 1 at every announce
#                (the mount with --max-announce-interval 1s to follow it)
#   connflood    1100 half-open connections, the mount under ulimit -n 1024
#                (prlimit); 2400 that handshake and idle; both start 0.5 s
#                after the mount is live, once it has reached the seeder
#   unsolicited  piece messages nobody asked for
#   keepalive    keep-alives as fast as possible
#   trickle      20 connections sending one byte every 10 s
#   chokeflap    choke/unchoke as fast as possible
# Columns: peak RSS (VmHWM of the mount process, MiB); CPU seconds of the
# mount from live to the attack's end (utime+stime, /proc/PID/stat); the
# read: ok, differs, timeout, or the error; its time; the attacker's own
# count of handshakes, of connections refused before the handshake and of
# connections the mount closed; whether a new peer (127.0.0.67) completes a
# handshake after the attack; whether the mount process is still alive.
# BTFS: the binary (bin/btfs); it needs only the flags an old binary has
# (mount -f, --peer, --port, --bind, --no-dht, --cache-dir, --memory-cache,
# --log-level, --max-announce-interval), so two builds can be compared.
# ATTACKS: the rows to run (default all, names as in the table). LOGS: a
# directory to keep each row's mount, seeder and attacker output in.
# The issue's last row (200 scattered reads, --memory-cache 64) is row 2 of
# scripts/bench-efficiency.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS=${BTFS:-$PWD/bin/btfs}
PY=/usr/bin/python3
ATTACK_SECS=${ATTACK_SECS:-30}
SIZE_MIB=${SIZE_MIB:-64}
MEM_MIB=${MEM_MIB:-64}
ALL="baseline badhash stealid reqflood reqflood-choked tracker connflood-half connflood-idle unsolicited keepalive trickle chokeflap"
ATTACKS=${ATTACKS:-$ALL}
ATTACKER=127.0.0.66 BYSTANDER=127.0.0.67 SEEDIP=127.0.0.2 TRACKERIP=127.0.0.77
work=$(mktemp -d /tmp/btfs-bench-attacks.XXXXXX)
mnt="$work/mnt"
pids=()
. scripts/lib.sh # (the script has cd-ed to the repository root)
# A stopped seeder ignores SIGTERM: continue every process before cleanup.
bench_cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
  cleanup
}
trap bench_cleanup EXIT

[ -x "$BTFS" ] || { echo "bench-attacks: no btfs binary at $BTFS (make build, or set BTFS)" >&2; exit 1; }
"$PY" -c 'import libtorrent' 2>/dev/null || {
  echo "bench-attacks: needs Debian's python3-libtorrent (apt-get install python3-libtorrent)" >&2; exit 1; }
command -v mktorrent >/dev/null || { echo "bench-attacks: needs mktorrent (make deps)" >&2; exit 1; }
command -v prlimit >/dev/null || { echo "bench-attacks: needs prlimit (util-linux)" >&2; exit 1; }
[ "$ATTACK_SECS" -ge 10 ] || { echo "bench-attacks: ATTACK_SECS must be >= 10" >&2; exit 1; }
for a in $ATTACKS; do
  case " $ALL " in *" $a "*) ;; *) echo "bench-attacks: unknown attack $a (one of: $ALL)" >&2; exit 1 ;; esac
done
hz=$(getconf CLK_TCK)
now() { date +%s.%N; }
sub() { awk -v s="$1" -v e="$2" 'BEGIN{printf "%.1f", e-s}'; }

go build -o "$work/hostile" ./integration/hostile
hostile="$work/hostile"
mkdir -p "$work/data/att" "$mnt"
src="$work/data/att/f.bin"
head -c "${SIZE_MIB}M" /dev/urandom > "$src"
mktorrent -l 18 -o "$work/att.torrent" "$work/data/att" >/dev/null

# free_port: a port free for TCP and UDP on 127.0.0.1 (the mount's uTP
# shares its number).
free_port() {
  "$PY" - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()
EOF
}
cpu_of() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$hz" '{printf "%.2f", ($12 + $13) / hz}'; }
hwm_of() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# stop PID: SIGTERM, up to 10 s, then SIGKILL; reaps it.
stop() {
  kill -CONT "$1" 2>/dev/null || true
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
  if alive "$1"; then kill -9 "$1" 2>/dev/null || true; fi
  wait "$1" 2>/dev/null || true
}
# json FILE KEY: a number from the last line (the hostile's summary).
json() { tail -n 1 "$1" | sed -n "s/.*\"$2\":\([-0-9.e]*\).*/\1/p"; }

res="$work/rows.txt"
: > "$res"

# row NAME: one attack against one fresh mount.
row() {
  local a=$1 torrent="$work/att.torrent" hargs=() margs=() wrap=() hl="" hpid="" tpid="" mport seedport
  local sid="" s e rc outcome took cpu0 cpu1 rss live newpeer hs="-" ref="-" clo="-"
  echo "  $a ..." >&2
  rm -rf "$work/cache" "$work/copy"
  if [ "$a" = stealid ]; then
    # libtorrent shows a new peer id on every connection, so its id cannot
    # be stolen: this row's seeder is `btfs seed` (the binary under test).
    "$BTFS" seed --no-dht --bind "$SEEDIP" --port 0 "$work/att.torrent" "$work/data" > "$work/seed.log" 2>&1 &
  else
    "$PY" scripts/lt_seed.py --listen "$SEEDIP" "$work/att.torrent" "$work/data" > "$work/seed.log" 2>&1 &
  fi
  local spid=$!
  pids+=("$spid")
  seedport=$(wait_line "$work/seed.log" '^seeding' | sed 's/.*port //')
  mport=$(free_port)
  local target="127.0.0.1:$mport" common=(-torrent "$work/att.torrent" -bind "$ATTACKER")
  case $a in
    baseline) ;;
    badhash | unsolicited | keepalive | chokeflap) hargs=("$a" -listen 0) ;;
    stealid)
      sid=$("$hostile" peerid -torrent "$work/att.torrent" -target "$SEEDIP:$seedport" -bind "$BYSTANDER" | sed 's/.*"peer_id":"\([0-9a-f]*\)".*/\1/')
      kill -STOP "$spid"
      hargs=(stealid -listen 0 -id "$sid" -bad 1 -data "$work/data") ;;
    reqflood) hargs=(reqflood -listen 0) ;;
    reqflood-choked) hargs=(reqflood -listen 0 -fast=false -interested=false) ;;
    trickle) hargs=(trickle -listen 0 -conns 20 -every 10s) ;;
    connflood-half) hargs=(connflood -n 1100 -mode half); wrap=(prlimit --nofile=1024:1024 --) ;;
    connflood-idle) hargs=(connflood -n 2400 -mode idle) ;;
    tracker)
      "$hostile" tracker -bind "$TRACKERIP" -listen 0 -peers 150000 -interval 1 -for "${ATTACK_SECS}s" > "$work/hostile.log" 2>&1 &
      tpid=$!
      pids+=("$tpid")
      local url
      url=$(wait_line "$work/hostile.log" '^listening' | sed 's/^listening //')
      torrent="$work/att-tracker.torrent"
      rm -f "$torrent"
      mktorrent -l 18 -a "$url" -o "$torrent" "$work/data/att" >/dev/null
      margs=(--max-announce-interval 1s) ;;
  esac
  # start_hostile: the peer attack (-for its share of ATTACK_SECS).
  start_hostile() {
    local dur=$ATTACK_SECS
    [ "$a" = stealid ] && dur=8
    "$hostile" "${hargs[0]}" "${common[@]}" -target "$target" -for "${dur}s" "${hargs[@]:1}" > "$work/hostile.log" 2>&1 &
    hpid=$!
    pids+=("$hpid")
  }
  # An attacker with a listener starts first, so that the mount gets its
  # address with --peer; a connection flood starts on the live mount.
  case " ${hargs[*]} " in *" -listen "*)
    start_hostile
    hl=$(wait_line "$work/hostile.log" '^listening' | sed 's/^listening //')
    margs=(--peer "$hl") ;;
  esac
  "${wrap[@]}" "$BTFS" mount -f --no-dht --bind 127.0.0.1 --port "$mport" --log-level "${LOG_LEVEL:-warn}" --cache-dir "$work/cache" \
    --memory-cache "$MEM_MIB" --peer "$SEEDIP:$seedport" "${margs[@]}" "$torrent" "$mnt" > "$work/mount.log" 2>&1 &
  local mpid=$!
  pids+=("$mpid")
  wait_line "$work/mount.log" '^mounted' >/dev/null
  grep -q "(port $mport)" "$work/mount.log" || { echo "bench-attacks: the mount did not get port $mport:" >&2; cat "$work/mount.log" >&2; exit 1; }
  local t0
  t0=$(now)
  cpu0=$(cpu_of "$mpid")
  if [ ${#hargs[@]} -gt 0 ] && [ -z "$hpid" ]; then
    sleep 0.5 # the mount's dial to the seeder completes first
    start_hostile
  fi
  sleep 2
  s=$(now)
  rm -f "$work/read.done"
  { rc=0; timeout -k 2 "$((ATTACK_SECS - 2))" cat "$mnt/att/f.bin" > "$work/copy" 2> "$work/cat.err" || rc=$?
    echo "$rc $(now)" > "$work/read.done"; } &
  local rpid=$!
  if [ -n "$sid" ]; then
    # The seeder comes back once the stealid attacker is done.
    for _ in $(seq 200); do alive "$hpid" || break; sleep 0.1; done
    kill -CONT "$spid"
  fi
  wait "$rpid" || true
  read -r rc e < "$work/read.done"
  took=$(sub "$s" "$e")
  if [ "$rc" = 0 ]; then
    if cmp -s "$work/copy" "$src"; then outcome=ok; else outcome=differs; fi
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    outcome=timeout
  else
    outcome="error: $(head -c 60 "$work/cat.err" | tr '\n|' '  ')"
  fi
  rm -f "$work/copy"
  # The attack runs its course (the hostile ends by itself after -for).
  local left
  left=$(awk -v t0="$t0" -v n="$(now)" -v d="$ATTACK_SECS" 'BEGIN{l = d - (n - t0); print (l > 0 ? l : 0)}')
  sleep "$left"
  for p in $hpid $tpid; do
    for _ in $(seq 150); do alive "$p" || break; sleep 0.1; done
    stop "$p"
  done
  cpu1=$(cpu_of "$mpid" 2>/dev/null || echo nan)
  rss=$(hwm_of "$mpid" 2>/dev/null || echo nan)
  if [ -n "$hpid$tpid" ]; then
    hs=$(json "$work/hostile.log" handshakes); ref=$(json "$work/hostile.log" refused); clo=$(json "$work/hostile.log" closed_by_peer)
    [ -n "$tpid" ] && { hs="$(json "$work/hostile.log" announces) announces"; ref=-; clo=-; }
  fi
  newpeer=no
  for _ in $(seq 10); do
    if timeout 10 "$hostile" peerid -torrent "$torrent" -target "$target" -bind "$BYSTANDER" > /dev/null 2>&1; then newpeer=yes; break; fi
    sleep 1
  done
  if alive "$mpid" && mountpoint -q "$mnt"; then live=alive; else live=DEAD; fi
  fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
  stop "$mpid"
  stop "$spid"
  if [ -n "${LOGS:-}" ]; then
    mkdir -p "$LOGS"
    for f in mount seed hostile; do [ -f "$work/$f.log" ] && cp "$work/$f.log" "$LOGS/$a.$f.log"; done
  fi
  rm -f "$work/hostile.log"
  pids=()
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{ if (b == "nan") print "nan"; else printf "%.1f", b - a }')
  echo "$a|$rss|$cpu|$outcome|$took|$hs|$ref|$clo|$newpeer|$live" >> "$res"
}

t0=$(now)
echo "bench-attacks: $BTFS, $ATTACK_SECS s per attack ..." >&2
for a in $ATTACKS; do row "$a"; done
t1=$(now)

echo "attack bench (issue 15): $BTFS ($("$BTFS" version 2>/dev/null | head -n 1 || echo "version unknown"))"
echo "a $SIZE_MIB MiB file (256 KiB pieces) read with cat 2 s into each ${ATTACK_SECS}-s attack; mount --memory-cache $MEM_MIB; seeder: libtorrent on $SEEDIP (stealid: btfs seed); attacker on $ATTACKER"
echo
echo "| attack | peak RSS MiB | CPU s | read | read s | attacker handshakes | refused before handshake | closed by mount | new peer after | mount |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---|---|"
while IFS="|" read -r a rss cpu outcome took hs ref clo newpeer live; do
  echo "| $a | $rss | $cpu | $outcome | $took | $hs | $ref | $clo | $newpeer | $live |"
done < "$res"
echo
echo "measured in $(sub "$t0" "$t1") s"
