#!/usr/bin/env bash
# deploy/systemd/byocd.service passes `systemd-analyze verify` without a single message, and
# its sandbox keeps `systemd-analyze security` at a low exposure.
# usage: systemd_verify.sh UNIT_FILE BYOCD_BINARY
# verify wants ExecStart's program to exist, so a copy runs the built binary instead of
# /usr/local/bin/byocd. Broken copies must fail the same check: it can catch something.
set -euo pipefail

unit=$1
binary=$(realpath "$2")
# systemd's exposure scale is 0-10; --threshold takes tenths. The unit scores 1.2 with
# systemd 252; 2.0 still counts as "OK", anything above means hardening was lost.
max_exposure_tenths=20

tmp=$(mktemp -d /tmp/byocd-systemd-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# verify_quiet FILE: 0 when systemd-analyze verify exits 0 and prints nothing at all.
verify_quiet() {
  local out status=0
  out=$(cd "$(dirname "$1")" && systemd-analyze verify --man=no "./$(basename "$1")" 2>&1) ||
    status=$?
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

# The shipped unit starts the installed binary, as documented in its header.
grep -qx 'ExecStart=/usr/local/bin/byocd serve' "$unit" ||
  fail "$unit: ExecStart is not /usr/local/bin/byocd serve"

mkdir "$tmp/good" "$tmp/typo" "$tmp/nobinary" "$tmp/badvalue"
sed "s#^ExecStart=/usr/local/bin/byocd #ExecStart=$binary #" "$unit" >"$tmp/good/byocd.service"
grep -qx "ExecStart=$binary serve" "$tmp/good/byocd.service" || fail "ExecStart not rewritten"

echo "== systemd-analyze verify byocd.service"
verify_quiet "$tmp/good/byocd.service" || fail "systemd-analyze verify printed the messages above"

# Each broken copy must be caught: a misspelt key (only a warning), a missing program (an
# error) and a value systemd cannot parse.
sed 's/^ProtectSystem=/ProtectSytem=/' "$tmp/good/byocd.service" >"$tmp/typo/byocd.service"
sed "s#^ExecStart=$binary #ExecStart=$tmp/no-such-byocd #" "$tmp/good/byocd.service" \
  >"$tmp/nobinary/byocd.service"
sed 's/^TimeoutStopSec=.*/TimeoutStopSec=a minute/' "$tmp/good/byocd.service" \
  >"$tmp/badvalue/byocd.service"
for broken in typo nobinary badvalue; do
  cmp -s "$tmp/good/byocd.service" "$tmp/$broken/byocd.service" &&
    fail "the $broken copy is not broken (sed matched nothing)"
  if verify_quiet "$tmp/$broken/byocd.service" 2>/dev/null; then
    fail "systemd-analyze verify accepted the $broken copy"
  fi
  echo "ok: the $broken copy is refused"
done

# exposure DIR: prints the exposure line; 0 when it is at most max_exposure_tenths.
exposure() {
  local out status=0
  out=$(cd "$1" && systemd-analyze security --offline=yes \
    --threshold="$max_exposure_tenths" ./byocd.service 2>&1) || status=$?
  printf '%s\n' "$out" | grep -E 'Overall exposure level' || fail "no exposure level in: $out"
  return "$status"
}

echo "== systemd-analyze security --offline=yes byocd.service"
exposure "$tmp/good" || fail "exposure above $max_exposure_tenths tenths"
# Without its Protect*/Private*/Restrict* lines the unit must score worse than the limit.
mkdir "$tmp/weak"
grep -vE '^(Protect|Private|Restrict)' "$tmp/good/byocd.service" >"$tmp/weak/byocd.service"
if exposure "$tmp/weak"; then
  fail "the weakened copy passes the exposure limit: the limit checks nothing"
fi
echo "ok: the weakened copy is refused"
echo "systemd_verify: ok"
