#!/usr/bin/env bash
# Interoperability (issue 13): Debian's C++ btfs (/usr/bin/btfs, built on
# libtorrent) mounts a torrent whose only seeder is our `btfs seed`, and
# every file read through its mount must equal the source byte for byte.
#
#   scripts/interop-cppbtfs.sh [SRC-DIR]
#
# SRC-DIR is the torrent's content (a directory; the torrent's name is its
# base name); without it a ~8 MiB tree of random files is made. The peers
# meet through a `btfs tracker` on 127.0.0.1; our seeder listens on
# 127.0.0.11 (libtorrent never connects to a peer at its own address).
#
# C++ btfs cannot be told a peer's address, and it runs the DHT (public
# routers), local peer discovery, UPnP and NAT-PMP with no switch to turn
# them off, so the whole case runs in a private network namespace
# (unshare --net) with only loopback up: every packet stays on 127.0.0.0/8.
#
# Every wait is bounded by TIMEOUT seconds (default 60). Exit status 0 and
# a last line "interop-cppbtfs: OK ..." only when every file compared
# equal; otherwise 1 with the reason and the logs of every process.
# Environment: BTFS (default bin/btfs), CPPBTFS (default /usr/bin/btfs),
# TIMEOUT, TMPDIR (where the work directory goes).
set -euo pipefail
if [ -z "${BTFS_INTEROP_NETNS:-}" ]; then
  command -v unshare >/dev/null && command -v ip >/dev/null || {
    echo "interop-cppbtfs: needs unshare (util-linux) and ip (iproute2) (run \`make deps\`)" >&2; exit 1; }
  # Resolve paths before the namespace: the script changes directory below.
  args=()
  for a in "$@"; do args+=("$(realpath "$a")"); done
  BTFS_INTEROP_NETNS=1 exec unshare --net -- "$(realpath "$0")" "${args[@]}"
fi
ip link set lo up
cd "$(dirname "$0")/.."
BTFS=${BTFS:-$PWD/bin/btfs}
CPPBTFS=${CPPBTFS:-/usr/bin/btfs}
TIMEOUT=${TIMEOUT:-60}

for c in "$BTFS" "$CPPBTFS" fusermount3 cmp; do
  command -v "$c" >/dev/null || { echo "interop-cppbtfs: $c is missing (run \`make deps\`)" >&2; exit 1; }
done
[ -e /dev/fuse ] || { echo "interop-cppbtfs: /dev/fuse is missing" >&2; exit 1; }
# Nothing but loopback exists in here: a leak would fail, not escape.
if ip -o addr show | grep -v ' lo ' | grep -q inet; then
  echo "interop-cppbtfs: the network namespace has more than loopback:" >&2; ip -o addr show >&2; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/btfs-interop-cppbtfs.XXXXXX")
mnt="$work/mnt"
pids=()
cpid=""   # the C++ btfs mount process
# mounted: is $mnt in the mount table? (Asking the mount itself would hang
# on a stuck C++ btfs, and fail on a dead one.)
mounted() { grep -qF " $mnt " /proc/self/mountinfo; }
cleanup() {
  set +e
  # C++ btfs first: a read stuck in it holds whatever touches its mount.
  [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null
  if mounted; then fusermount3 -u -z "$mnt"; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# fail REASON: print the reason and every process's log, exit 1.
fail() {
  set +e
  echo "interop-cppbtfs: FAIL: $*" >&2
  for f in tracker create seed cppbtfs; do
    [ -s "$work/$f.log" ] || continue
    echo "--- $f log (last 60 lines):" >&2
    tail -n 60 "$work/$f.log" >&2
  done
  exit 1
}

# wait_line FILE PATTERN PID: wait (up to TIMEOUT s) for a line in a
# process's log, print it; fail at once if the process died.
wait_line() {
  local i
  for ((i = 0; i < TIMEOUT * 10; i++)); do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
    kill -0 "$3" 2>/dev/null || fail "$(basename "$1" .log) exited before printing '$2'"
    sleep 0.1
  done
  fail "no '$2' in $(basename "$1") within ${TIMEOUT}s"
}

# --- content ---------------------------------------------------------------
if [ $# -ge 1 ]; then
  src=$1
  [ -d "$src" ] || { echo "interop-cppbtfs: $src is not a directory" >&2; exit 1; }
else
  src="$work/data/interop"
  mkdir -p "$src/video/extras" "$src/z"
  head -c $((3 * 1048576 + 4097)) /dev/urandom > "$src/video/part1.bin"
  head -c $((2 * 1048576 + 1)) /dev/urandom > "$src/video/part2.bin"
  head -c $((2 * 1048576 - 12345)) /dev/urandom > "$src/video/extras/tail.bin"
  head -c 54321 /dev/urandom > "$src/notes.txt"
  head -c 1 /dev/urandom > "$src/one.byte"
  head -c 700001 /dev/urandom > "$src/z/last.bin"
fi
name=$(basename "$src")
mapfile -t files < <(cd "$src" && find . -type f -printf '%P\n' | sort)
[ ${#files[@]} -gt 0 ] || { echo "interop-cppbtfs: $src has no files" >&2; exit 1; }
total=$(cd "$src" && du -cb --apparent-size "${files[@]}" | awk 'END{print $1}')
mkdir -p "$mnt" "$work/cppdata"

# --- tracker, torrent, our seeder ------------------------------------------
"$BTFS" tracker --listen 127.0.0.1:0 --interval 1s > "$work/tracker.log" 2>&1 &
pids+=($!)
url=$(wait_line "$work/tracker.log" 'listening on' "$!" | awk '{print $4}')
"$BTFS" create --tracker "$url" --piece-length 64 -o "$work/t.torrent" "$src" > "$work/create.log" 2>&1 ||
  fail "btfs create failed"
"$BTFS" seed --no-dht --bind 127.0.0.11 --port 0 --max-announce-interval 1s --log-level info \
  "$work/t.torrent" "$(dirname "$src")" > "$work/seed.log" 2>&1 &
spid=$!
pids+=("$spid")
wait_line "$work/seed.log" '^seeding' "$spid" >/dev/null
# The tracker must know our seeder before C++ btfs's first announce.
wait_line "$work/seed.log" 'tracker announce ok' "$spid" >/dev/null

# --- C++ btfs --------------------------------------------------------------
"$CPPBTFS" --data-directory="$work/cppdata" --min-port=31000 --max-port=31010 -f \
  "$work/t.torrent" "$mnt" > "$work/cppbtfs.log" 2>&1 &
cpid=$!
for ((i = 0; ; i++)); do
  missing=0
  for f in "${files[@]}"; do [ -e "$mnt/$name/$f" ] || { missing=1; break; }; done
  [ "$missing" = 0 ] && break
  kill -0 "$cpid" 2>/dev/null || fail "C++ btfs exited before its mount showed every file"
  [ "$i" -lt $((TIMEOUT * 10)) ] || fail "C++ btfs's mount did not show every file within ${TIMEOUT}s"
  sleep 0.1
done

# Every file through the mount, against the source; one deadline for all.
# cmp runs in the background, so that a read stuck in C++ btfs holds
# neither this loop nor the traps: only the end of C++ btfs frees it.
deadline=$((SECONDS + TIMEOUT))
for f in "${files[@]}"; do
  cmp "$src/$f" "$mnt/$name/$f" > "$work/cmp.out" 2>&1 &
  cmppid=$!
  while kill -0 "$cmppid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if kill -0 "$cmppid" 2>/dev/null; then
    kill -9 "$cpid" "$cmppid" 2>/dev/null
    wait "$cmppid" 2>/dev/null || true
    fail "reading the files through C++ btfs took over ${TIMEOUT}s (stuck at $f)"
  fi
  rc=0
  wait "$cmppid" || rc=$?
  [ "$rc" = 0 ] || fail "$f through C++ btfs differs from the source: $(cat "$work/cmp.out")"
done
extra=$(cd "$mnt/$name" && find . -type f -printf '%P\n' | sort | comm -13 <(printf '%s\n' "${files[@]}") -)
[ -z "$extra" ] || fail "C++ btfs shows files the torrent does not have: $extra"

# --- unmount ---------------------------------------------------------------
fusermount3 -u "$mnt" || fail "fusermount3 -u $mnt failed"
for ((i = 0; i < TIMEOUT * 10; i++)); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$cpid" 2>/dev/null && fail "C++ btfs still running ${TIMEOUT}s after its unmount"
wait "$cpid" 2>/dev/null || true
cpid=""
mounted && fail "$mnt is still mounted after C++ btfs exited"
kill -0 "$spid" 2>/dev/null || fail "our seeder exited during the run"
echo "interop-cppbtfs: OK: C++ btfs read ${#files[@]} files ($total bytes) of $name from our btfs seed (127.0.0.11), byte-identical"
