#!/usr/bin/env bash
# byocd benchmarks (BENCHMARKS.md has the results and what each scenario means):
#   bash bench/run.sh
# Installs what is missing (the build packages, wrk, jq, curl), builds into build-bench, starts
# byocd on 127.0.0.1 with a fake CXone and a webhook receiver (build-bench/bench/byocd-bench),
# runs every scenario BENCH_RUNS times and prints the median of each as markdown table rows.
# Not part of the test suite. Settings (environment):
#   BENCH_RUNS=3             runs per scenario (the median is reported)
#   BENCH_SECONDS=5          length of one run
#   BENCH_INGEST_CONNS="1 16 64 256"   connection counts of the ingest scenario
#   BENCH_CONNS=64           connections of the other wrk scenarios
#   BENCH_RELAY_RATE=1000    agent replies a second in the relay-latency scenario
#   BENCH_BOT_RATE=200       bot messages a second in the bot-to-CXone scenario
#   BENCH_CONVERSATIONS=100  conversations the paced and wrk scenarios spread over
#   BENCH_MEM_CONVERSATIONS=100000   conversations stored for the memory scenario (0 skips it)
#   BENCH_PORT_BASE=18100    four ports from here (ceiling, byocd, fake CXone, webhook receiver);
#                            keep them below the ephemeral range (ip_local_port_range)
#   BENCH_BUILD_DIR=build-bench, BENCH_LOG_LEVEL=info (byocd's), BENCH_KEEP=1 keeps the work dir
#   BENCH_DB_DIR=DIR         an empty directory for the database (default: in the work dir, on
#                            /tmp's disk); a tmpfs here shows what fsync costs (a diagnostic)
#   BENCH_PERF=1             perf record of byocd during each wrk run, into the (kept) work dir
#   BENCH_ONLY="ceiling healthz token ingest bot relay botcx memory"   a subset of scenarios
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-5}
INGEST_CONNS=${BENCH_INGEST_CONNS:-"1 16 64 256"}
CONNS=${BENCH_CONNS:-64}
RELAY_RATE=${BENCH_RELAY_RATE:-1000}
BOT_RATE=${BENCH_BOT_RATE:-200}
NCONV=${BENCH_CONVERSATIONS:-100}
MEM_CONVS=${BENCH_MEM_CONVERSATIONS:-100000}
PORT_BASE=${BENCH_PORT_BASE:-18100}
BUILD_DIR=${BENCH_BUILD_DIR:-build-bench}
ONLY=${BENCH_ONLY:-"ceiling healthz token ingest bot relay botcx memory"}
DRAIN_TIMEOUT_S=600 # longest wait for byocd's queues to empty between scenarios
START_TIMEOUT_S=15

PORT_CEIL=$PORT_BASE
PORT_BYOCD=$((PORT_BASE + 1))
PORT_CX=$((PORT_BASE + 2))
PORT_HOOK=$((PORT_BASE + 3))
BASE=http://127.0.0.1:$PORT_BYOCD
ADMIN_TOKEN=bench-admin-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')

source deploy/packages.sh # BUILD_PACKAGES, install_missing
BENCH_PACKAGES=(wrk jq curl)

log() { echo "bench: $*" >&2; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

install_missing "${BUILD_PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --buildtype=debugoptimized -Dtests=false >/dev/null
fi
ninja -C "$BUILD_DIR" byocd bench/bench-ceiling bench/byocd-bench >/dev/null
BYOCD=$ROOT/$BUILD_DIR/byocd
TOOL=$ROOT/$BUILD_DIR/bench/byocd-bench
CEILING=$ROOT/$BUILD_DIR/bench/bench-ceiling

WORK=$(mktemp -d /tmp/byocd-bench-XXXXXX)
RESULTS=$WORK/results.md
ARRIVALS=$WORK/arrivals.txt
: >"$RESULTS"
PIDS=()
BYOCD_PID=

cleanup() {
  local pid
  trap '' INT TERM # a second signal must not cut the clean-up short
  for pid in $BYOCD_PID "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}" $BYOCD_PID; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
    [ -z "${BENCH_DB_DIR:-}" ] || rm -f "$BENCH_DB_DIR"/byocd.db* "$BENCH_DB_DIR"/master.key
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $PORT_CEIL $PORT_BYOCD $PORT_CX $PORT_HOOK; do
  port_free "$p" || { log "port $p is in use (set BENCH_PORT_BASE)"; exit 2; }
done

# wait_http URL: until it answers, bounded.
wait_http() {
  local i
  for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  log "$1 did not answer"
  return 1
}

start_byocd() {
  env -i PATH=/usr/bin:/bin BYOCD_LISTEN=127.0.0.1:$PORT_BYOCD \
    BYOCD_DATABASE="$DB_DIR/byocd.db" BYOCD_ADMIN_TOKEN="$ADMIN_TOKEN" \
    BYOCD_WEBHOOK_ALLOW_PRIVATE=1 BYOCD_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" \
    "$BYOCD" serve >>"$WORK/byocd.out" 2>>"$WORK/byocd.log" &
  BYOCD_PID=$!
  wait_http "$BASE/healthz"
}

stop_byocd() {
  kill "$BYOCD_PID"
  wait "$BYOCD_PID" || true
  BYOCD_PID=
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

api() { # METHOD PATH AUTH [BODY]
  curl -sS -f -X "$1" "$BASE$2" -H "Authorization: Bearer $3" \
    ${4:+-H 'Content-Type: application/json' --data-binary "$4"}
}

# create_provider NAME: prints the 201 body.
create_provider() {
  api POST /admin/v1/providers "$ADMIN_TOKEN" "$(jq -nc --arg n "$1" \
    --arg hook "http://127.0.0.1:$PORT_HOOK/hook" --arg cx "http://127.0.0.1:$PORT_CX" '{
      name: $n, webhook_url: $hook,
      cxone: {auth_url: ($cx + "/auth/token"), api_base_url: $cx, client_id: "bench-client",
              client_secret: "bench-secret", access_key_id: "bench-key",
              access_key_secret: "bench-key-secret"}}')"
}

cxone_token() { # PROVIDER_JSON
  curl -sS -f -X POST "$BASE/cxone/$(jq -r .id <<<"$1")/auth/token" \
    -H 'Content-Type: application/json' --data-binary "$(jq -c '{grant_type:
      "client_credentials", client_id: .byoc.client_id, client_secret: .byoc.client_secret}' \
      <<<"$1")" | jq -r .access_token
}

# drain: until nothing waits for CXone or for a webhook receiver (bounded).
drain() {
  local i left start=$SECONDS
  for ((i = 0; i < DRAIN_TIMEOUT_S * 2; i++)); do
    left=$(curl -sS "$BASE/metrics" | awk '/^byocd_outbox_depth\{/ &&
      /state="(queued|sending|pending)"/ {n += $NF} END {print n + 0}')
    if [ "$left" = 0 ]; then
      [ $((SECONDS - start)) -lt 5 ] || log "queues drained in $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.5
  done
  log "queues did not drain in ${DRAIN_TIMEOUT_S} s ($left left)"
  return 1
}

median() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "-"}'; }

# wrk_once CONNS URL [SCRIPT]: "req_per_s p50_ms p99_ms non2xx"
wrk_once() {
  local conns=$1 url=$2 script=${3:-} threads=2 out
  [ "$conns" -lt 2 ] && threads=1
  out=$(wrk -t"$threads" -c"$conns" -d"${SECS}s" --latency --timeout 10s \
    ${script:+-s "$ROOT/bench/wrk/$script"} "$url")
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                        if (v ~ /s$/) return v * 1000; return v }
       $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
       /^Requests\/sec:/ {rps = $2} /Non-2xx or 3xx responses:/ {bad = $NF}
       /Socket errors:/ {for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) bad += $i + 0}
       END {printf "%s %.3f %.3f %d\n", rps, p50, p99, bad}' <<<"$out"
}

declare -A CEIL_RPS

# scenario NAME CONNS URL [SCRIPT]: RUNS wrk runs, median row appended to the results.
scenario() {
  local name=$1 conns=$2 url=$3 script=${4:-} r runs=() bad=0 rps p50 p99 ratio ceil
  for ((r = 1; r <= RUNS; r++)); do
    export BENCH_NONCE="$(date +%s%N)r$r"
    local perf_pid=
    if [ "${BENCH_PERF:-0}" = 1 ] && [ -n "$BYOCD_PID" ]; then
      perf record -q -F 499 -g -p "$BYOCD_PID" -o "$WORK/perf-${name//[^a-z0-9]/_}-c$conns-r$r.data" \
        -- sleep "$SECS" 2>/dev/null &
      perf_pid=$!
    fi
    runs+=("$(wrk_once "$conns" "$url" "$script")")
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    log "$name c=$conns run $r: ${runs[-1]}"
    [ -n "$script" ] && drain
  done
  [ -z "$BYOCD_PID" ] || curl -sS "$BASE/metrics" >"$WORK/metrics-${name//[^a-z0-9]/_}-c$conns.txt"
  rps=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | median)
  p50=$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | median)
  p99=$(printf '%s\n' "${runs[@]}" | awk '{print $3}' | median)
  bad=$(printf '%s\n' "${runs[@]}" | awk '{n += $4} END {print n + 0}')
  if [ "$name" = ceiling ]; then CEIL_RPS[$conns]=$rps; fi
  ceil=${CEIL_RPS[$conns]:-}
  ratio=$(awk -v a="$rps" -v c="$ceil" 'BEGIN {if (c > 0) printf "%.1f %%", 100 * a / c; else print "-"}')
  printf '| %s | %s | %.0f | %.2f | %.2f | %s | %s |\n' "$name" "$conns" "$rps" "$p50" "$p99" \
    "$ratio" "$( [ "$bad" = 0 ] && echo "all 2xx" || echo "$bad non-2xx")" >>"$RESULTS"
}

# paced NAME KIND RATE TAG TARGETS AUTH [PROVIDER]: RUNS paced runs, median row appended.
paced() {
  local name=$1 kind=$2 rate=$3 tag=$4 targets=$5 auth=$6 provider=${7:-} r runs=() line
  for ((r = 1; r <= RUNS; r++)); do
    line=$("$TOOL" pace --kind "$kind" --base "$BASE" --auth "Bearer $auth" \
      ${provider:+--provider "$provider"} --targets "$targets" --rate "$rate" --seconds "$SECS" \
      --conns 32 --arrivals "$ARRIVALS" --tag "$tag") || log "$name run $r: not every request arrived"
    log "$name run $r: $line"
    runs+=("$line")
    drain
  done
  field() { printf '%s\n' "${runs[@]}" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}' | median; }
  local lost
  lost=$(printf '%s\n' "${runs[@]}" | tr ' ' '\n' | awk -F= '$1 == "lost" || $1 == "failed" {n += $2} END {print n + 0}')
  printf '| %s | %s/s | %s/s | %s/s | %.2f | %.2f | accepted → received p50 %.2f / p99 %.2f ms; request p99 %.2f ms | %s |\n' \
    "$name" "$rate" "$(field achieved_per_s)" "$(field arrival_per_s)" "$(field e2e_p50_ms)" "$(field e2e_p99_ms)" \
    "$(field after_ack_p50_ms)" "$(field after_ack_p99_ms)" "$(field request_p99_ms)" \
    "$( [ "$lost" = 0 ] && echo "none lost" || echo "$lost lost or failed")" >>"$RESULTS.paced"
}

log "work directory $WORK; $RUNS runs × $SECS s per scenario"

# ---- ceiling
if want ceiling; then
  "$CEILING" "$PORT_CEIL" 2>>"$WORK/ceiling.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$PORT_CEIL/"
  for c in $INGEST_CONNS $CONNS; do
    [ -n "${CEIL_RPS[$c]:-}" ] || scenario ceiling "$c" "http://127.0.0.1:$PORT_CEIL/"
  done
  kill "${PIDS[-1]}"
fi

# ---- byocd, its providers, channels and conversations
DB_DIR=${BENCH_DB_DIR:-$WORK/db}
mkdir -p "$DB_DIR"
[ -z "$(ls -A "$DB_DIR")" ] || { log "$DB_DIR is not empty"; exit 2; }
start_byocd
sleep 1
RSS_EMPTY=$(rss_kb "$BYOCD_PID")
RELAY=$(create_provider "Bench relay")
INGEST=$(create_provider "Bench ingest")
RELAY_ID=$(jq -r .id <<<"$RELAY")
INGEST_ID=$(jq -r .id <<<"$INGEST")
for p in "$RELAY_ID" "$INGEST_ID"; do
  api POST "/admin/v1/providers/$p/channels" "$ADMIN_TOKEN" \
    '{"channel_id":"chat_bench","name":"Bench chat"}' >/dev/null
done
# The ingest provider keeps its events for the pull API but sends no webhooks, so the ingest
# and accept scenarios measure byocd's intake alone.
INGEST_KEY=$(jq -r .bot_api_key <<<"$INGEST")
for wh in $(api GET /v1/webhooks "$INGEST_KEY" | jq -r '.webhooks[].id'); do
  api DELETE "/v1/webhooks/$wh" "$INGEST_KEY" >/dev/null
done
"$TOOL" fakes --cxone-port "$PORT_CX" --hook-port "$PORT_HOOK" \
  --secret "$(jq -r .webhook_secret <<<"$RELAY")" --arrivals "$ARRIVALS" 2>>"$WORK/fakes.log" &
PIDS+=($!)
FAKES_PID=$!
wait_http "http://127.0.0.1:$PORT_CX/" && wait_http "http://127.0.0.1:$PORT_HOOK/" ||
  { cat "$WORK/fakes.log" >&2; exit 1; }
"$TOOL" bulk --base "$BASE" --auth "Bearer $(jq -r .bot_api_key <<<"$RELAY")" --count "$NCONV" \
  --conns 8 --out "$WORK/relay-targets" >/dev/null
"$TOOL" bulk --base "$BASE" --auth "Bearer $INGEST_KEY" --count "$NCONV" --conns 8 \
  --out "$WORK/ingest-targets" >/dev/null
drain
RELAY_TOKEN=$(cxone_token "$RELAY")
INGEST_TOKEN=$(cxone_token "$INGEST")
export BENCH_DIR=$ROOT/bench

want healthz && scenario "GET /healthz" "$CONNS" "$BASE/healthz"
if want token; then
  BENCH_PROVIDER=$INGEST_ID BENCH_CLIENT_ID=$(jq -r .byoc.client_id <<<"$INGEST") \
    BENCH_CLIENT_SECRET=$(jq -r .byoc.client_secret <<<"$INGEST") \
    scenario "POST auth/token" "$CONNS" "$BASE" token.lua
fi
if want ingest; then
  for c in $INGEST_CONNS; do
    BENCH_PROVIDER=$INGEST_ID BENCH_BEARER=$INGEST_TOKEN BENCH_TARGETS=$WORK/ingest-targets \
      scenario "agent-reply ingest (durable)" "$c" "$BASE" ingest.lua
  done
fi
if want bot; then
  BENCH_BEARER=$INGEST_KEY BENCH_TARGETS=$WORK/ingest-targets \
    scenario "bot message accept" "$CONNS" "$BASE" bot.lua
fi
if want relay; then
  paced "relay: agent reply → signed webhook" agent "$RELAY_RATE" H "$WORK/relay-targets" \
    "$RELAY_TOKEN" "$RELAY_ID"
fi
if want botcx; then
  paced "bot message → fake CXone post" bot "$BOT_RATE" C "$WORK/relay-targets" \
    "$(jq -r .bot_api_key <<<"$RELAY")"
fi

# ---- memory
MEM_ROWS=()
MEM_ROWS+=("| RSS idle, empty database | $((RSS_EMPTY / 1024)) MB ($RSS_EMPTY kB) |")
if want memory && [ "$MEM_CONVS" -gt 0 ]; then
  need=$((MEM_CONVS - 2 * NCONV))
  if [ "$need" -gt 0 ]; then
    log "opening $need conversations through the bot API"
    "$TOOL" bulk --base "$BASE" --auth "Bearer $INGEST_KEY" --count "$need" --conns 64 \
      --out "$WORK/mem-targets" | tee -a "$WORK/bulk.txt" >&2
    drain
  fi
  sleep 2
  RSS_AFTER=$(rss_kb "$BYOCD_PID")
  stop_byocd
  start_byocd
  sleep 2
  RSS_FRESH=$(rss_kb "$BYOCD_PID")
  total=$(cat "$WORK"/*-targets | wc -l)
  peak=0
  (BENCH_PROVIDER=$INGEST_ID BENCH_BEARER=$INGEST_TOKEN BENCH_TARGETS=$WORK/ingest-targets \
    BENCH_NONCE="mem$(date +%s%N)" wrk_once "$CONNS" "$BASE" ingest.lua >"$WORK/mem-wrk.txt") &
  WRK_PID=$!
  while kill -0 "$WRK_PID" 2>/dev/null; do
    now=$(rss_kb "$BYOCD_PID")
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$WRK_PID" || true
  drain
  MEM_ROWS+=("| RSS idle, $total conversations stored (fresh start) | $((RSS_FRESH / 1024)) MB ($RSS_FRESH kB) |")
  MEM_ROWS+=("| RSS idle, $total conversations, after opening them (same process) | $((RSS_AFTER / 1024)) MB ($RSS_AFTER kB) |")
  MEM_ROWS+=("| RSS peak under ingest load ($CONNS connections, $total conversations) | $((peak / 1024)) MB ($peak kB) |")
fi

kill "$FAKES_PID"
wait "$FAKES_PID" || log "the webhook receiver saw a bad signature (see $WORK/fakes.log)"
tail -n1 "$WORK/fakes.log" >&2

echo
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| Scenario | Connections | Requests/s | p50 ms | p99 ms | Ratio to ceiling | Answers |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
cat "$RESULTS"
if [ -f "$RESULTS.paced" ]; then
  echo
  echo "| Paced scenario | Rate asked | Rate sent | Rate arrived | p50 ms (send → arrival) | p99 ms | Detail | Lost |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  cat "$RESULTS.paced"
fi
echo
echo "| Memory | RSS |"
echo "| --- | --- |"
printf '%s\n' "${MEM_ROWS[@]}"
