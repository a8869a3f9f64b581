#!/usr/bin/env bash
# make demo: the whole pipeline on one machine, change events shown live.
#
# Embedded default: lmsync-devbroker (Kafka on loopback) + lmsync-sandbox
# (simulated Unified LMS API whose learners make progress every second) +
# lmsync-coordinator + lmsync-worker, lmsync-board (a live web page, its URL
# printed) and lmsync-tail printing every change event as one line, next to
# the progress rollups (one line per enrollment or course rollup published).
# Ctrl-C stops everything.
#
# With UNIFIED_API_TOKEN and KAFKA_BROKERS both set, no devbroker or sandbox is
# started: the coordinator and worker run against the real services
# (UNIFIED_BASE_URL selects the region, default https://api.unified.to).
# DEMO_SECONDS=N stops the demo by itself after N seconds.
set -euo pipefail
BUILD=${1:-build}
BIN=$(cd "$BUILD" && pwd)
DIR=$(pwd)/.demo
rm -rf "$DIR"; mkdir -p "$DIR"
PIDS=()
cleanup() {
  trap - EXIT INT TERM HUP
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo; echo "demo stopped; logs are in .demo/"
}
# HUP too: the daemons ignore SIGHUP, so a closed terminal stops them through here
trap cleanup EXIT INT TERM HUP

wait_file() { for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }

if [ -n "${UNIFIED_API_TOKEN:-}" ] && [ -n "${KAFKA_BROKERS:-}" ]; then
  BASE_URL=${UNIFIED_BASE_URL:-https://api.unified.to}
  BROKERS=$KAFKA_BROKERS
  INTERVAL=${DEMO_INTERVAL_S:-300}; FROM=end
  echo "demo against the real services: $BASE_URL, Kafka $BROKERS"
else
  "$BIN/devbroker/lmsync-devbroker" --brokers 3 --partitions 24 --bootstrap-file "$DIR/bootstrap" \
    --log-format text >"$DIR/devbroker.log" 2>&1 &
  PIDS+=($!)
  "$BIN/sandbox/lmsync-sandbox" --port 0 --port-file "$DIR/sandbox.port" --token demo-token \
    --connections 8 --students 20 --courses 5 --contents 2 --tick-ms 1000 --mutations-per-tick 4 \
    --log-format text >"$DIR/sandbox.log" 2>&1 &
  PIDS+=($!)
  wait_file "$DIR/bootstrap"; wait_file "$DIR/sandbox.port"
  BROKERS=$(cat "$DIR/bootstrap")
  BASE_URL="http://127.0.0.1:$(cat "$DIR/sandbox.port")"
  export UNIFIED_API_TOKEN=demo-token
  INTERVAL=${DEMO_INTERVAL_S:-5}; FROM=beginning
  echo "devbroker (Kafka) at $BROKERS; sandbox (simulated Unified API) at $BASE_URL"
fi

cat >"$DIR/lmsync.conf" <<CONF
unified.base_url = $BASE_URL
kafka.brokers = $BROKERS
coordinator.interval_s = $INTERVAL
worker.lmdb_path = $DIR/lmdb
log.format = text
ops.listen = 127.0.0.1:0
CONF
# the board first, so that its feed sees the first poll's events; on loopback
# (it has no authentication), any free port
LMSYNC_BOARD_PORT_FILE=$DIR/board.port "$BIN/board/lmsync-board" --config "$DIR/lmsync.conf" >"$DIR/board.log" 2>&1 &
PIDS+=($!)
# each process serves /healthz, /readyz and /metrics on a port of its own
LMSYNC_OPS_PORT_FILE=$DIR/worker.ops "$BIN/worker/lmsync-worker" --config "$DIR/lmsync.conf" >"$DIR/worker.log" 2>&1 &
PIDS+=($!)
LMSYNC_OPS_PORT_FILE=$DIR/coordinator.ops "$BIN/coordinator/lmsync-coordinator" --config "$DIR/lmsync.conf" \
  >"$DIR/coordinator.log" 2>&1 &
PIDS+=($!)
wait_file "$DIR/worker.ops"; wait_file "$DIR/coordinator.ops"; wait_file "$DIR/board.port"
echo "worker      http://127.0.0.1:$(cat "$DIR/worker.ops")/metrics  /readyz  /healthz"
echo "coordinator http://127.0.0.1:$(cat "$DIR/coordinator.ops")/metrics  /readyz  /healthz"
echo "board       http://127.0.0.1:$(cat "$DIR/board.port")/   (live page: courses and the latest changes)"
echo "coordinator and worker started (logs in .demo/); change events and progress rollups follow:"
echo "TYPE                     CONNECTION       ACTIVITY         CHANGE (before -> after)  LEARNER"
"$BIN/tools/lmsync-tail" --brokers "$BROKERS" --topic lmsync.activity.changes --from "$FROM" --format line 2>>"$DIR/tail.log" &
TAIL=$!
PIDS+=($TAIL)
for t in progress.enrollments progress.courses; do
  "$BIN/tools/lmsync-tail" --brokers "$BROKERS" --topic "lmsync.$t" --from "$FROM" --format line 2>>"$DIR/tail.log" &
  PIDS+=($!)
done
if [ -n "${DEMO_SECONDS:-}" ]; then
  sleep "$DEMO_SECONDS"
else
  wait "$TAIL"
fi
