#!/usr/bin/env bash
# Fuzz: runs every Go fuzz target of the repository (func FuzzXxx in a
# *_test.go file outside third_party) for FUZZTIME each, one
# `go test -fuzz` per target, as go test allows one -fuzz target per run.
# Prints one summary line per target and stops at the first failure, showing
# go test's output (a failing input is saved under the package's
# testdata/fuzz/<Target>/ by go test). Usually run as: make fuzz FUZZTIME=30s
#
# Usage: scripts/fuzz.sh [REGEXP]   only targets whose name matches REGEXP
#
# Environment: FUZZTIME (default 5s; a duration or Nx for N executions),
# FUZZJOBS (default 2: targets run at a time),
# FUZZMINIMIZETIME (default 2s: the time spent minimizing each new input;
# raise it for smaller reproducers), GO (default go).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-5s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
GO=${GO:-go}
FILTER=${1:-.}

# "pkg/flv/fuzz_test.go:func FuzzParseVideo(f *testing.F) {" -> "./pkg/flv FuzzParseVideo"
targets=$(grep -r --include='*_test.go' --exclude-dir=third_party --exclude-dir=.git \
  --exclude-dir=testdata -E '^func Fuzz[A-Za-z0-9_]*\(' . |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' |
  sort -u | awk -v re="$FILTER" '$2 ~ re')

if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets match '$FILTER'" >&2
  exit 1
fi
count=$(printf '%s\n' "$targets" | wc -l | tr -d ' ')
echo "fuzz: $count targets, $FUZZTIME each"

# now prints the time in seconds, with a fraction where bash has EPOCHREALTIME.
now() {
  if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi
}

logs=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$logs"' EXIT

# fuzz_one runs one target (once more if the engine timed out without a
# failing input), prints its summary line, and leaves its output in
# $logs/$name.log and its exit code in $logs/$name.code.
fuzz_one() {
  local pkg=$1 name=$2 log="$logs/$2.log" start code attempt secs execs interesting
  start=$(now)
  for attempt in 1 2; do
    set +e
    "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
      -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" </dev/null >"$log" 2>&1
    code=$?
    set -e
    # go's fuzzing engine can end a short run with a bare "context deadline
    # exceeded" on a loaded machine, with no failing input: that is the
    # engine, not the target, so run it once more. A real failure writes
    # its input ("Failing input written to") and is never retried.
    if [ "$code" -ne 0 ] && [ "$attempt" = 1 ] && ! grep -q 'Failing input written to' "$log" &&
      grep -q '^    context deadline exceeded$' "$log"; then
      echo "fuzz: $name: fuzzing engine timed out without a failing input; running it again" >&2
      continue
    fi
    break
  done
  secs=$(awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }')
  # The last progress line: "fuzz: elapsed: 5s, execs: 12345 (2469/sec), new interesting: ..."
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
  interesting=$(grep -o 'new interesting: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f3 || true)
  if [ "$code" -ne 0 ]; then
    printf 'FAIL  %-32s %-22s %6ss  execs %s\n' "$name" "$pkg" "$secs" "${execs:-?}"
  else
    printf 'ok    %-32s %-22s %6ss  execs %-9s new %s\n' "$name" "$pkg" "$secs" "${execs:-?}" "${interesting:-0}"
  fi
  echo "$code" >"$logs/$name.code"
}

# FUZZJOBS targets at a time (default 2): a short run is mostly building
# and gathering the baseline, which overlap well.
total_start=$(now)
running=0
while read -r pkg name; do
  if [ "$running" -ge "${FUZZJOBS:-2}" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$pkg" "$name" &
  running=$((running + 1))
done <<<"$targets"
wait
failed=0
while read -r pkg name; do
  code=$(cat "$logs/$name.code" 2>/dev/null || echo 1)
  if [ "$code" -ne 0 ]; then
    echo "fuzz: $name ($pkg) failed:"
    cat "$logs/$name.log"
    failed=1
  fi
done <<<"$targets"
[ "$failed" = 0 ] || exit 1
echo "fuzz: all $count targets passed in $(awk -v s="$total_start" -v e="$(now)" 'BEGIN { printf "%.0f", e - s }')s"
