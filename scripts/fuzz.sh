#!/usr/bin/env bash
# Runs every FuzzXxx target in the module for $FUZZTIME each.
set -euo pipefail
: "${FUZZTIME:=10s}"
log=$(mktemp /tmp/btfs-fuzz.XXXXXX)
trap 'rm -f "$log"' EXIT
go=${GO:-go}
for pkg in $($go list ./...); do
  dir=$($go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $f ($FUZZTIME)"
    if ! $go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
      # Go's fuzzer reports "context deadline exceeded" when a worker is
      # still busy with one input as the time runs out; that is no crash
      # (a crash writes its failing input). Run once more before failing.
      if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "fuzz $pkg $f: the fuzzer overran its time on one input; running it again"
        $go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
      else
        cat "$log"; exit 1
      fi
    fi
  done
done
