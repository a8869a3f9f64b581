#!/usr/bin/env bash
# End to end: the operational endpoint (ops.listen) of the worker master and
# the coordinator, scraped by a real Prometheus server.
# 1. /healthz and /readyz of both answer 200 once the workers have joined;
#    the output of /metrics passes `promtool check metrics`;
# 2. Prometheus (Debian's package) scrapes both every second; its HTTP API
#    has up == 1 for both targets and the expected series;
# 3. after the coordinator stops and the jobs drain, the worker's
#    lmsync_worker_jobs_total{outcome="ok"} equals the ok status records on
#    lmsync.sync.status, and the events counter equals the change events;
# 4. a port in use: the worker exits 1 naming 'ops.listen';
# 5. the brokers gone: /readyz says "kafka unreachable" (503), /healthz stays 200.
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null || die "prometheus/promtool not installed (make deps)"

start_devbroker 4
start_sandbox --seed 5 --connections 3 --students 4 --courses 2 --contents 2 --tick-ms 500 --mutations-per-tick 2
write_config "$E2E_DIR/lmsync.conf" "worker.lmdb_path = $E2E_DIR/lmdb" "coordinator.interval_s = 2" \
  "ops.listen = 127.0.0.1:0"
export UNIFIED_API_TOKEN=e2e-token
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
LMSYNC_OPS_PORT_FILE=$E2E_DIR/worker.ops start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 2
LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord.ops start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
wait_for_file "$E2E_DIR/worker.ops" 30
wait_for_file "$E2E_DIR/coord.ops" 30
W="http://127.0.0.1:$(cat "$E2E_DIR/worker.ops")"
C="http://127.0.0.1:$(cat "$E2E_DIR/coord.ops")"
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
is_200() { [ "$(code "$1")" = 200 ]; }
# wait_until SECONDS CMD... : poll CMD every 0.2 s
wait_until() {
  local t=$1 i; shift
  for ((i = 0; i < t * 5; i++)); do "$@" && return 0; sleep 0.2; done
  return 1
}

# ---- 1. probes and the text format
wait_until 60 is_200 "$W/readyz" || die "worker /readyz not 200 within 60 s: $(curl -s "$W/readyz")"
[ "$(code "$W/healthz")" = 200 ] || fail "worker /healthz: $(curl -s "$W/healthz")"
wait_until 30 is_200 "$C/readyz" || fail "coordinator /readyz not 200"
[ "$(code "$W/nothing")" = 404 ] || fail "unknown path is not 404"
wait_until 60 grep -q '"outcome":"ok"' "$E2E_DIR/status.jsonl" || die "no ok job within 60 s"
for t in worker coordinator; do
  url=$W; [ $t = coordinator ] && url=$C
  curl -fsS "$url/metrics" >"$E2E_DIR/$t.metrics" || fail "$t /metrics failed"
  promtool check metrics <"$E2E_DIR/$t.metrics" >"$E2E_DIR/$t.promtool" 2>&1 || {
    fail "promtool check metrics ($t):"; cat "$E2E_DIR/$t.promtool"; }
done
log "promtool check metrics: worker and coordinator pass"

# ---- 2. a real Prometheus server
PROM_PORT=""
for try in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 30000))
  cat >"$E2E_DIR/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: lmsync-worker
    static_configs: [{targets: ["127.0.0.1:$(cat "$E2E_DIR/worker.ops")"]}]
  - job_name: lmsync-coordinator
    static_configs: [{targets: ["127.0.0.1:$(cat "$E2E_DIR/coord.ops")"]}]
YML
  start prometheus prometheus --config.file="$E2E_DIR/prometheus.yml" --storage.tsdb.path="$E2E_DIR/tsdb" \
    --web.listen-address="127.0.0.1:$p" --log.level=warn
  if wait_until 20 curl -fs "http://127.0.0.1:$p/-/ready" -o /dev/null; then PROM_PORT=$p; break; fi
  kill "$prometheus_PID" 2>/dev/null
done
[ -n "$PROM_PORT" ] || die "prometheus did not start"
log "prometheus at 127.0.0.1:$PROM_PORT"
q() { curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
# value QUERY : the first result's value, or empty
value() { q "$1" | jq -r '.data.result[0].value[1] // empty'; }
has_up() { [ "$(value "up{job=\"$1\"}")" = 1 ]; }
wait_until 30 has_up lmsync-worker || fail "prometheus: up{job=lmsync-worker} is not 1"
wait_until 30 has_up lmsync-coordinator || fail "prometheus: up{job=lmsync-coordinator} is not 1"
for series in 'lmsync_worker_jobs_total{outcome="ok",mode="full"}' 'lmsync_worker_processes' \
  'lmsync_upstream_requests_total{status_class="2xx"}' 'lmsync_upstream_request_duration_seconds_count' \
  'lmsync_coordinator_jobs_enqueued_total' 'lmsync_coordinator_scopes' 'lmsync_lmdb_map_used_bytes' \
  'lmsync_coordinator_oldest_unsynced_seconds' 'lmsync_consumer_lag'; do
  v=$(value "sum($series)")
  [ -n "$v" ] || { fail "prometheus has no series $series"; continue; }
  log "prometheus: sum($series) = $v"
done
[ "$(value 'lmsync_worker_processes')" = 2 ] || fail "lmsync_worker_processes is not 2"
[ "$(value 'sum(lmsync_coordinator_scopes)')" = 3 ] || fail "lmsync_coordinator_scopes is not 3"

# ---- 3. the counters equal what the topics hold
stop_and_check coordinator
settled() {
  local running ok
  running=$(curl -fsS "$W/metrics" | awk '$1 == "lmsync_worker_jobs_running" {print $2}')
  [ "${running:-1}" = 0 ] || return 1
  ok=$(curl -fsS "$W/metrics" | awk '$1 ~ /^lmsync_worker_jobs_total\{outcome="ok"/ {s += $2} END {print s + 0}')
  [ "$ok" = "$(jq -c 'select(.value.outcome == "ok")' "$E2E_DIR/status.jsonl" | wc -l)" ]
}
wait_until 60 settled || fail "worker jobs ok ($(curl -fsS "$W/metrics" | grep '^lmsync_worker_jobs_total{outcome="ok"')) != ok status records ($(jq -c 'select(.value.outcome == "ok")' "$E2E_DIR/status.jsonl" | wc -l))"
events_metric() { curl -fsS "$W/metrics" | awk '$1 ~ /^lmsync_worker_events_total/ {s += $2} END {print s + 0}'; }
events_match() { [ "$(events_metric)" = "$(wc -l <"$E2E_DIR/events.jsonl" | tr -d ' ')" ]; }
wait_until 30 events_match ||
  fail "lmsync_worker_events_total ($(events_metric)) != change events on the topic ($(wc -l <"$E2E_DIR/events.jsonl"))"
log "counters match the topics: $(events_metric) events"

# ---- 4. a port in use
port=$(cat "$E2E_DIR/worker.ops")
LMSYNC_OPS_LISTEN=127.0.0.1:$port LMSYNC_WORKER_LMDB_PATH=$E2E_DIR/lmdb2 "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" \
  --processes 1 >"$E2E_DIR/busy.log" 2>&1
rc=$?
[ $rc = 1 ] || fail "worker on a port in use exited $rc, not 1"
grep -q "setting 'ops.listen': cannot listen on 127.0.0.1:$port: Address already in use" "$E2E_DIR/busy.log" ||
  fail "no precise error for a port in use: $(tail -3 "$E2E_DIR/busy.log")"

# ---- 5. the brokers gone: not ready, still alive
kill -KILL "$devbroker_PID"
unreachable() { [ "$(code "$W/readyz")" = 503 ] && curl -s "$W/readyz" | grep -q "kafka unreachable"; }
wait_until 40 unreachable || fail "worker /readyz does not say kafka unreachable 40 s after the brokers died: $(curl -s "$W/readyz")"
[ "$(code "$W/healthz")" = 200 ] || fail "worker /healthz is not 200 while the brokers are gone"
[ "$E2E_FAILED" -eq 0 ] && log "PASS" || exit 1
