#!/bin/sh
# Lints openapi/byocd.yaml with the pinned Redocly CLI and openapi/redocly.yaml.
# usage: tests/openapi/lint.sh [byocd.yaml [redocly.yaml]]   (defaults: the repository's)
# Exit status: redocly's (non-zero when the document has errors); 77 (meson: skipped) when
# the CLI is not installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spec=${1:-"$root/openapi/byocd.yaml"}
config=${2:-"$root/openapi/redocly.yaml"}
cli="$root/tests/node_modules/@redocly/cli/bin/cli.js"

if [ ! -f "$cli" ]; then
    echo "lint.sh: $cli is missing: run 'npm ci' in $root/tests" >&2
    exit 77
fi

# No usage reporting or update checks from a test run.
REDOCLY_TELEMETRY=off
REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export REDOCLY_TELEMETRY REDOCLY_SUPPRESS_UPDATE_NOTICE

exec node "$cli" lint "$spec" --config "$config"
