#!/usr/bin/env bash
# make demo: create a ~200 MiB torrent, seed it from two local seeders
# through a local tracker, mount it, copy a file out of the mount with
# progress, verify its checksum, unmount and clean up. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BTFS="$PWD/bin/btfs"
work=$(mktemp -d /tmp/btfs-demo.XXXXXX)
pids=()
mnt="$work/mnt"
. scripts/lib.sh # (the script has cd-ed to the repository root)
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }


step "creating a ~200 MiB sample in $work/data"
mkdir -p "$work/data/sample/extras" "$mnt"
head -c 200M /dev/urandom > "$work/data/sample/movie.bin"
echo "btfs demo" > "$work/data/sample/README.txt"
head -c 1234567 /dev/urandom > "$work/data/sample/extras/notes.bin"

step "starting a local tracker"
"$BTFS" tracker --listen 127.0.0.1:0 --interval 5s > "$work/tracker.log" 2>&1 &
pids+=($!)
url=$(wait_line "$work/tracker.log" 'listening on' | awk '{print $4}')
echo "$url"

step "creating the torrent"
"$BTFS" create --tracker "$url" -o "$work/sample.torrent" "$work/data/sample"
"$BTFS" info "$work/sample.torrent"

step "starting two seeders"
for i in 1 2; do
  "$BTFS" seed --no-dht --bind 127.0.0.1 --port 0 "$work/sample.torrent" "$work/data" > "$work/seed$i.log" 2>&1 &
  pids+=($!)
  wait_line "$work/seed$i.log" '^seeding'
done

step "mounting at $mnt"
"$BTFS" mount --no-dht -f --bind 127.0.0.1 --port 0 --cache-dir "$work/cache" "$work/sample.torrent" "$mnt" > "$work/mount.log" 2>&1 &
mount_pid=$!
pids+=($mount_pid)
wait_line "$work/mount.log" '^mounted'
ls -lR "$mnt"

step "copying sample/movie.bin out of the mount"
dd if="$mnt/sample/movie.bin" of="$work/copy.bin" bs=1M status=progress

step "verifying"
want=$(sha256sum < "$work/data/sample/movie.bin" | cut -d' ' -f1)
got=$(sha256sum < "$work/copy.bin" | cut -d' ' -f1)
echo "source: $want"
echo "copy:   $got"
[ "$want" = "$got" ] || { echo "CHECKSUM MISMATCH" >&2; exit 1; }
echo "checksums match"

step "unmounting"
kill -INT "$mount_pid"
wait "$mount_pid" || true
if mountpoint -q "$mnt"; then echo "still mounted!" >&2; exit 1; fi
echo "unmounted cleanly"
