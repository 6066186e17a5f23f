#!/usr/bin/env bash
# Runs every FuzzXxx target in the module for $FUZZTIME each; a target's
# output is shown only if it fails. Under scripts/test.sh ($BTFS_TALLY set)
# the results are added to its tally. Exits 1 if any target failed.
set -euo pipefail
: "${FUZZTIME:=10s}"
go=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/btfs-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
testsum=${TESTSUM:-}
if [ -z "$testsum" ]; then
  testsum=$work/testsum
  $go build -o "$testsum" ./scripts/testsum
fi
tally=()
[ -n "${BTFS_TALLY:-}" ] && tally=(-tally "$BTFS_TALLY")
failed=0
for pkg in $($go list ./...); do
  dir=$($go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $f ($FUZZTIME)"
    $go test -json -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 |
      "$testsum" -v "${tally[@]}" >"$work/log" 2>&1 || { cat "$work/log"; failed=1; }
  done
done
exit $failed
