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
    $go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
  done
done
