# Shared by the demo and bench scripts (sourced, not run). The caller sets
# work (a temp dir), mnt (its mount point) and pids (background processes).

# cleanup unmounts, stops the background processes and removes $work.
cleanup() {
  set +e
  if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u -z "$mnt"; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}

# wait_line FILE PATTERN: wait (up to 60 s) for a line in a process's
# output and print it.
wait_line() {
  for _ in $(seq 600); do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}
