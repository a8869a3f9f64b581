#!/usr/bin/env bash
# End to end: the operational endpoint (ops.listen) of the worker master and
# the coordinator, scraped by a real Prometheus server.
# - probes: /healthz and /readyz of both answer 200 once the workers have
#   joined; the output of /metrics passes `promtool check metrics`;
# - prometheus: Prometheus (Debian's package) scrapes both every second; its
#   HTTP API has up == 1 for both targets and the expected series;
# - counters: after the coordinator stops and the jobs drain, the worker's
#   lmsync_worker_jobs_total{outcome="ok"} equals the ok status records on
#   lmsync.sync.status, and the events counter equals the change events;
# - port-in-use: a second worker on the same port exits 1 naming 'ops.listen';
# - brokers-gone: /readyz says "kafka unreachable" (503), /healthz stays 200.
source "$(dirname "$0")/lib.sh"

code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
is_200() { [ "$(code "$1")" = 200 ]; }
# metric_sum URL REGEX : the sum of the samples whose name{labels} matches REGEX
metric_sum() { curl -fsS "$1/metrics" | awk -v re="$2" '$1 ~ re {s += $2} END {print s + 0}'; }
ok_records() { jq -c 'select(.value.outcome == "ok")' "$(topic_file status)" | wc -l | tr -d ' '; }

case_start() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null || die "prometheus/promtool not installed (make deps)"
  broker_start devbroker 4
  sandbox_start sandbox --seed 5 --connections 3 --students 4 --courses 2 --contents 2 --tick-ms 500 --mutations-per-tick 2
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "worker.lmdb_path = $E2E_DIR/lmdb" \
    "coordinator.interval_s = 2" "ops.listen = 127.0.0.1:0"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  LMSYNC_OPS_PORT_FILE=$E2E_DIR/worker.ops proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 2
  LMSYNC_OPS_PORT_FILE=$E2E_DIR/coord.ops proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_until 30 test -s "$E2E_DIR/worker.ops" || die "the worker wrote no ops.port_file"
  wait_until 30 test -s "$E2E_DIR/coord.ops" || die "the coordinator wrote no ops.port_file"
  W="http://127.0.0.1:$(cat "$E2E_DIR/worker.ops")"
  C="http://127.0.0.1:$(cat "$E2E_DIR/coord.ops")"
}

case_probes() {
  wait_until 60 is_200 "$W/readyz" || die "worker /readyz not 200 within 60 s: $(curl -s "$W/readyz")"
  [ "$(code "$W/healthz")" = 200 ] || fail "worker /healthz: $(curl -s "$W/healthz")"
  wait_until 30 is_200 "$C/readyz" || fail "coordinator /readyz not 200"
  [ "$(code "$W/nothing")" = 404 ] || fail "unknown path is not 404"
  wait_until 60 grep -q '"outcome":"ok"' "$(topic_file status)" || die "no ok job within 60 s"
  local t url
  for t in worker coordinator; do
    url=$W; [ $t = coordinator ] && url=$C
    curl -fsS "$url/metrics" >"$E2E_DIR/$t.metrics" || fail "$t /metrics failed"
    promtool check metrics <"$E2E_DIR/$t.metrics" >"$E2E_DIR/$t.promtool" 2>&1 ||
      fail "promtool check metrics ($t): $(cat "$E2E_DIR/$t.promtool")"
  done
}

prom_value() { # prom_value QUERY : the first result's value, or empty
  curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty'
}
has_up() { [ "$(prom_value "up{job=\"$1\"}")" = 1 ]; }
prom_ready() { curl -fs "http://127.0.0.1:$1/-/ready" -o /dev/null; }

case_prometheus() {
  local try p series v
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
    proc_start "prometheus-$try" prometheus --config.file="$E2E_DIR/prometheus.yml" \
      --storage.tsdb.path="$E2E_DIR/tsdb-$try" --web.listen-address="127.0.0.1:$p" --log.level=warn
    if wait_until 20 prom_ready "$p"; then PROM_PORT=$p; break; fi
    kill "$(proc_pid "prometheus-$try")" 2>/dev/null
  done
  [ -n "$PROM_PORT" ] || die "prometheus did not start"
  log "prometheus at 127.0.0.1:$PROM_PORT"
  wait_until 30 has_up lmsync-worker || fail "prometheus: up{job=lmsync-worker} is not 1"
  wait_until 30 has_up lmsync-coordinator || fail "prometheus: up{job=lmsync-coordinator} is not 1"
  for series in 'lmsync_worker_jobs_total{outcome="ok",mode="full"}' 'lmsync_worker_processes' \
    'lmsync_upstream_requests_total{status_class="2xx"}' 'lmsync_upstream_request_duration_seconds_count' \
    'lmsync_coordinator_jobs_enqueued_total' 'lmsync_coordinator_scopes' 'lmsync_lmdb_map_used_bytes' \
    'lmsync_coordinator_oldest_unsynced_seconds' 'lmsync_coordinator_oldest_poll_age_seconds' \
    'lmsync_event_freshness_seconds_count{mode="full"}' 'lmsync_consumer_lag' \
    'lmsync_worker_lmdb_write_wait_seconds_count' 'lmsync_worker_lmdb_commit_seconds_sum' \
    'lmsync_worker_lmdb_write_held_seconds_sum'; do
    v=$(prom_value "sum($series)")
    [ -n "$v" ] || { fail "prometheus has no series $series"; continue; }
    log "prometheus: sum($series) = $v"
  done
  [ "$(prom_value 'lmsync_worker_processes')" = 2 ] || fail "lmsync_worker_processes is not 2"
  [ "$(prom_value 'sum(lmsync_coordinator_scopes)')" = 3 ] || fail "lmsync_coordinator_scopes is not 3"
}

settled() {
  [ "$(metric_sum "$W" '^lmsync_worker_jobs_running$')" = 0 ] &&
    [ "$(metric_sum "$W" '^lmsync_worker_jobs_total\{outcome="ok"')" = "$(ok_records)" ]
}
events_match() { [ "$(metric_sum "$W" '^lmsync_worker_events_total')" = "$(topic_count events)" ]; }

case_counters() {
  proc_stop coordinator
  wait_until 60 settled || fail "worker jobs ok ($(metric_sum "$W" '^lmsync_worker_jobs_total\{outcome="ok"')) != ok status records ($(ok_records))"
  topic_caught_up events
  wait_until 30 events_match ||
    fail "lmsync_worker_events_total ($(metric_sum "$W" '^lmsync_worker_events_total')) != change events on the topic ($(topic_count events))"
  # every record here has an upstream instant (created_at at least): one freshness observation per event
  [ "$(metric_sum "$W" '^lmsync_event_freshness_seconds_count')" = "$(topic_count events)" ] ||
    fail "lmsync_event_freshness_seconds_count ($(metric_sum "$W" '^lmsync_event_freshness_seconds_count')) != change events ($(topic_count events))"
  log "counters match the topics: $(topic_count events) events"
}

case_port_in_use() {
  local port rc
  port=$(cat "$E2E_DIR/worker.ops")
  LMSYNC_OPS_LISTEN=127.0.0.1:$port LMSYNC_WORKER_LMDB_PATH=$E2E_DIR/lmdb2 "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" \
    --processes 1 >"$E2E_DIR/busy.log" 2>&1
  rc=$?
  [ $rc = 1 ] || fail "worker on a port in use exited $rc, not 1"
  grep -q "setting 'ops.listen': cannot listen on 127.0.0.1:$port: Address already in use" "$E2E_DIR/busy.log" ||
    fail "no precise error for a port in use: $(tail -3 "$E2E_DIR/busy.log")"
}

unreachable() { [ "$(code "$W/readyz")" = 503 ] && curl -s "$W/readyz" | grep -q "kafka unreachable"; }

case_brokers_gone() {
  kill -KILL "$(proc_pid devbroker)"
  wait_until 40 unreachable ||
    fail "worker /readyz does not say kafka unreachable 40 s after the brokers died: $(curl -s "$W/readyz")"
  [ "$(code "$W/healthz")" = 200 ] || fail "worker /healthz is not 200 while the brokers are gone"
}

test_case start
test_case probes
test_case prometheus
test_case counters --needs probes
test_case port-in-use --needs start
test_case brokers-gone --needs probes
run_cases
