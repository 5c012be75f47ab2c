#!/usr/bin/env bash
# Runs every libFuzzer target of a -Dfuzz=true build for a bounded time each, starting from the
# committed seeds in tests/fuzz/corpus/<target>/ (never written to: new inputs go to a scratch
# directory). A crash, leak, timeout or sanitizer report fails the run and leaves the input in
# the scratch directory, whose path is printed.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]   (default: BYOCD_FUZZ_SECONDS or 10)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-${BYOCD_FUZZ_SECONDS:-10}}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d /tmp/byocd-fuzz.XXXXXX)
failed=0 ran=0
for exe in "$build"/tests/fuzz/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe")
  target=${name#fuzz_}
  seeds="$here/corpus/$target"
  if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
    echo "fuzz: $target has no seed corpus in $seeds" >&2
    failed=$((failed + 1))
    continue
  fi
  work="$scratch/$target"
  mkdir -p "$work/corpus"
  ran=$((ran + 1))
  if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log.txt" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$work/log.txt")
    echo "fuzz: $target ok (${runs:-?} runs in ${seconds}s)"
  else
    failed=$((failed + 1))
    echo "fuzz: $target FAILED; log and input in $work" >&2
    tail -n 40 "$work/log.txt" >&2
  fi
done
echo "fuzz targets: $((ran - failed)) passed, $failed failed"
if [ "$failed" -eq 0 ]; then
  rm -rf "$scratch"
fi
[ "$ran" -gt 0 ] && [ "$failed" -eq 0 ]
