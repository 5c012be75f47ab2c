#!/usr/bin/env bash
# One-command set-up on Debian 12 (as root, or with sudo):
#   bash deploy/dev.sh run    install what is missing, build, start the sandbox (byocd, a CXone
#                             simulator and a demo bot; see README.md)
#   bash deploy/dev.sh test   install what is missing, build, run every test suite
set -euo pipefail
cd "$(dirname "$0")/.."

source deploy/packages.sh
# nginx, openssl: the reverse-proxy test; systemd: systemd-analyze verify of the unit;
# chromium: the browser tests (driven by playwright-core from npm); prometheus: promtool checks
# the /metrics exposition; clang: the libFuzzer targets; valgrind: the valgrind test setup;
# faketime: the clock-step tests (libfaketime steps the wall clock, the monotonic clock stays real).
TEST_PACKAGES=(check clang-format nginx openssl systemd chromium prometheus clang valgrind faketime)
BUILD_DIR=${BYOCD_BUILD_DIR:-build}

# build DIR [meson options...]
build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=debugoptimized "$@"
  else
    meson setup --reconfigure "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir"
}

node_tools() {
  if [ -f tests/package-lock.json ]; then
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# run_tests DIR [meson test args...]
run_tests() {
  local dir=$1 out status=0
  shift
  out=$(mktemp)
  meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$out" ||
    status=$?
  local ok fail
  ok=$(awk '/^Ok:/ {print $2}' "$out")
  fail=$(awk '/^Fail:/ {print $2}' "$out")
  timeouts=$(awk '/^Timeout:/ {print $2}' "$out")
  rm -f "$out"
  echo "test programs: ${ok:-0} passed, $(( ${fail:-0} + ${timeouts:-0} )) failed"
  # Individual Check tests, summed over every suite's closing line.
  awk -F'[:,] *' '/Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+/ {
      for (i = 1; i <= NF; i++) {
        if ($i ~ /Checks$/) c += $(i + 1); if ($i == "Failures") f += $(i + 1);
        if ($i == "Errors") e += $(i + 1)
      }
    } END { printf "checks: %d passed, %d failed\n", c - f - e, f + e }' \
    "$dir/meson-logs/testlog.txt"
  return "$status"
}

case "${1:-}" in
  run)
    install_missing "${BUILD_PACKAGES[@]}"
    build "$BUILD_DIR"
    exec "$BUILD_DIR/byocd" sandbox
    ;;
  test)
    NEED_NODE=1 install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    node_tools
    shift
    build "$BUILD_DIR"
    status=0
    run_tests "$BUILD_DIR" "$@" || status=$?
    # The same suites again under AddressSanitizer + UndefinedBehaviorSanitizer
    # (BYOCD_SANITIZE=0 skips this pass).
    if [ "${BYOCD_SANITIZE:-1}" != 0 ]; then
      echo "== again under -Db_sanitize=address,undefined"
      build "$BUILD_DIR-asan" -Db_sanitize=address,undefined
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        run_tests "$BUILD_DIR-asan" "$@" || status=$?
    fi
    # A bounded run of every libFuzzer target (BYOCD_FUZZ_SECONDS each, 0 skips this pass).
    if [ "${BYOCD_FUZZ_SECONDS:-10}" != 0 ]; then
      echo "== fuzz targets, ${BYOCD_FUZZ_SECONDS:-10} s each"
      fuzz_dir="$BUILD_DIR-fuzz"
      if [ ! -f "$fuzz_dir/build.ninja" ]; then
        CC=clang meson setup "$fuzz_dir" --buildtype=debugoptimized -Dfuzz=true -Dtests=false \
          -Db_sanitize=address,undefined -Db_lundef=false
      fi
      ninja -C "$fuzz_dir"
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        tests/fuzz/run.sh "$fuzz_dir" "${BYOCD_FUZZ_SECONDS:-10}" || status=$?
    fi
    exit "$status"
    ;;
  *)
    echo "usage: bash deploy/dev.sh run|test" >&2
    exit 2
    ;;
esac
