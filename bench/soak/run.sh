#!/usr/bin/env bash
# The long crash test (issue 6): byocd is killed with SIGKILL at random moments while agent
# replies and bot messages stream in and webhooks and CXone posts go out, round after round;
# afterwards every acknowledged request must be stored and delivered at least once, in order
# per conversation, repeats only with the same webhook-id / idOnExternalPlatform.
#   bash bench/soak/run.sh
# It runs the program of the short version (tests/integration/test_crash.c, `meson test crash`)
# again and again, each time with a fresh seed and SOAK_ROUNDS kills (a fresh server and
# database every 8 kills), until SOAK_MINUTES have passed, and prints each run's seed and
# counts. Not part of the test suite. Needs what `bash deploy/dev.sh test` installs (the build
# packages, check, node with tests/node_modules). Settings (environment):
#   SOAK_MINUTES=10           start no new run after this long (a run takes ~25 s per 8 kills)
#   SOAK_ROUNDS=40            kills per run (BYOCD_CRASH_ROUNDS, 1-100000)
#   SOAK_RUNS=0               stop after this many runs (0: only the time limit)
#   SOAK_BUILD_DIR=build-soak the build directory (created with tests on, debugoptimized)
#   SOAK_SANITIZE=1           build with -Db_sanitize=address,undefined (default dir build-soak-asan)
#   SOAK_KEEP_GOING=1         go on after a failed run (default: stop at the first one)
#   BYOCD_CRASH_SEED=N        replay one run with this seed (implies SOAK_RUNS=1)
# A failed run's output is kept in the work directory printed at the start, with the seed that
# replays it. Exit status: 0 every run passed, 1 a run failed, 2 bad settings or no build.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

MINUTES=${SOAK_MINUTES:-10}
ROUNDS=${SOAK_ROUNDS:-40}
RUNS=${SOAK_RUNS:-0}
SANITIZE=${SOAK_SANITIZE:-0}
KEEP_GOING=${SOAK_KEEP_GOING:-0}
if [ "$SANITIZE" = 1 ]; then
  BUILD_DIR=${SOAK_BUILD_DIR:-build-soak-asan}
else
  BUILD_DIR=${SOAK_BUILD_DIR:-build-soak}
fi
ROUNDS_PER_SERVER=8        # CRASH_ROUNDS_PER_EPOCH in test_crash.c
RUN_LIMIT_PER_SERVER_S=120 # outer bound of one server's share of a run (Check's is 90 s)

log() { echo "soak: $*" >&2; }
number() { [[ $1 =~ ^[0-9]+$ ]]; }

for v in MINUTES ROUNDS RUNS; do
  number "${!v}" || { log "SOAK_$v=${!v}: want a whole number"; exit 2; }
done
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 100000 ]; then
  log "SOAK_ROUNDS=$ROUNDS: want 1 to 100000"
  exit 2
fi
if [ -n "${BYOCD_CRASH_SEED:-}" ]; then
  number "$BYOCD_CRASH_SEED" || { log "BYOCD_CRASH_SEED: want a decimal number"; exit 2; }
  RUNS=1
fi
for cmd in meson ninja node; do
  command -v "$cmd" >/dev/null || {
    log "$cmd is missing: run 'bash deploy/dev.sh test' once"
    exit 2
  }
done
[ -d tests/node_modules ] || (cd tests && npm ci --no-audit --no-fund --loglevel=error)

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  opts=(--buildtype=debugoptimized -Dtests=true)
  [ "$SANITIZE" = 1 ] && opts+=("-Db_sanitize=address,undefined")
  meson setup "$BUILD_DIR" "${opts[@]}" >/dev/null
fi
ninja -C "$BUILD_DIR" byocd tests/itest_crash >/dev/null

WORK=$(mktemp -d /tmp/byocd-soak-XXXXXX)
limit=""
[ "$RUNS" -gt 0 ] && limit=" (at most $RUNS runs)"
log "work directory $WORK; $ROUNDS kills a run, for $MINUTES minutes$limit"
servers=$(((ROUNDS + ROUNDS_PER_SERVER - 1) / ROUNDS_PER_SERVER))
run_limit=$((servers * RUN_LIMIT_PER_SERVER_S + 60))
deadline=$(($(date +%s) + MINUTES * 60))
passed=0
failed=0
n=0
while :; do
  if [ "$RUNS" -gt 0 ] && [ "$n" -ge "$RUNS" ]; then break; fi
  if [ "$n" -gt 0 ] && [ "$(date +%s)" -ge "$deadline" ]; then break; fi
  n=$((n + 1))
  seed=${BYOCD_CRASH_SEED:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}
  out=$WORK/run-$n-seed-$seed.log
  log "run $n: BYOCD_CRASH_SEED=$seed BYOCD_CRASH_ROUNDS=$ROUNDS"
  status=0
  env BYOCD_TEST_BINARY="$ROOT/$BUILD_DIR/byocd" BYOCD_SOURCE_ROOT="$ROOT" \
    BYOCD_CRASH_SEED="$seed" BYOCD_CRASH_ROUNDS="$ROUNDS" \
    timeout --kill-after=10 "$run_limit" "$ROOT/$BUILD_DIR/tests/itest_crash" >"$out" 2>&1 ||
    status=$?
  grep -E '^crash: epoch' "$out" | sed 's/^/  /' >&2 || true
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    rm -f "$out"
    continue
  fi
  failed=$((failed + 1))
  log "run $n FAILED (exit $status): replay with BYOCD_CRASH_SEED=$seed SOAK_ROUNDS=$ROUNDS"
  grep -E ':F:|:E:|mismatch|Sanitizer|runtime error|byocd exited' "$out" | sed 's/^/  /' >&2 || true
  log "its whole output: $out"
  [ "$KEEP_GOING" = 1 ] || break
done
[ "$failed" -gt 0 ] || rmdir "$WORK" 2>/dev/null || true
echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
