#!/usr/bin/env bash
# Fails when a C file differs from what .clang-format makes of it; prints the first diffs.
set -euo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(find src include tests bench -name '*.[ch]' -not -path '*/node_modules/*' | sort)
bad=0
for f in "${files[@]}"; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
echo "format: $(( ${#files[@]} - bad )) passed, $bad failed"
[ "$bad" -eq 0 ]
