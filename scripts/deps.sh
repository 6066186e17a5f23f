#!/usr/bin/env bash
# Installs the system packages btfs's tests and demo need (Debian, as root).
set -euo pipefail
need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v mktorrent >/dev/null 2>&1 || need+=(mktorrent)
[ -x /usr/bin/time ] || need+=(time)
# Tracker tests run against Debian's real opentracker (whitelist-only build).
command -v opentracker >/dev/null 2>&1 || need+=(opentracker)
# The streaming tests (integration/stream_test.go) decode video through a mount.
{ command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || need+=(ffmpeg)
# The interoperability tests (integration/clients_test.go) run real clients:
# libtorrent (Debian's module, for /usr/bin/python3 only) and aria2c.
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
command -v aria2c >/dev/null 2>&1 || need+=(aria2)
# The terminal test drives `btfs mount -f` through tmux.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# integration/interop_more_test.go runs transmission-cli and Debian's C++
# btfs, each in a loopback-only network namespace (unshare, nsenter, ip);
# so does the streaming benchmark (bench-stream.sh) with C++ btfs.
command -v transmission-cli >/dev/null 2>&1 || need+=(transmission-cli)
[ -x /usr/bin/btfs ] || need+=(btfs)
{ command -v unshare && command -v nsenter; } >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || { echo "deps: /dev/fuse is missing: FUSE cannot work here" >&2; exit 1; }
