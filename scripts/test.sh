#!/usr/bin/env bash
# make test: lint, unit + race tests, real-mount integration tests, short
# fuzzing. Every stage runs even after one fails; the last line counts the
# Go test results of all of them ("N passed, N failed"; a failed lint or
# build counts as one failure) and the exit status is 1 if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
work=$(mktemp -d "${TMPDIR:-/tmp}/btfs-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BTFS_TALLY=$work/tally TESTSUM=$work/testsum
if ! $go build -o "$TESTSUM" ./scripts/testsum; then
  echo "0 passed, 1 failed"
  exit 1
fi
status=0
fail_stage() { echo "$1 failed"; echo "0 1" >>"$BTFS_TALLY"; status=1; }

echo "== lint"
make --no-print-directory lint || fail_stage lint

echo "== unit tests (race detector)"
$go test -json -race -timeout 10m $($go list ./... | grep -v /integration) |
  "$TESTSUM" -tally "$BTFS_TALLY" || status=1

echo "== integration tests (real mounts)"
if make --no-print-directory build; then
  $go test -json -timeout 10m -count=1 ./integration/ | "$TESTSUM" -v -tally "$BTFS_TALLY" || status=1
else
  fail_stage build
fi

echo "== fuzzing"
FUZZTIME=3s scripts/fuzz.sh || status=1

"$TESTSUM" -total "$BTFS_TALLY"
exit $status
