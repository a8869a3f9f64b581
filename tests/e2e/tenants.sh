#!/usr/bin/env bash
# ctest-timeout: 180
# End to end: a tenant's share of a worker process's in-flight slots
# (worker.tenant_max_share, docs/architecture.md "Jobs in flight").
#   start             devbroker (one partition, so the worker takes the jobs in the
#                     order they were enqueued), sandbox with 8 connections: tenant
#                     "slow" (conn-0001..0004, every activity request 4 s late) and
#                     tenant "fast" (conn-0005..0008), named by coordinator.tenant_map;
#                     the coordinator enqueues the first round before the one worker
#                     process (max_in_flight 4, tenant_max_share 0.5) starts, so the
#                     worker holds all eight jobs at once
#   jobs-carry-tenant every job on the jobs topic carries the tenant the map names
#   fast-not-behind   every fast job of the first round finishes before the first slow
#                     one does (the slow tenant held 2 of the 4 slots while fast jobs
#                     waited); the slow jobs really took the 4 s
#   deferred-metric   lmsync_worker_jobs_deferred_total counted the held-back jobs
#   truth             the events equal the sandbox's ground truth
#   shutdown          SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
SLOW=(conn-0001 conn-0002 conn-0003 conn-0004)
FAST=(conn-0005 conn-0006 conn-0007 conn-0008)
CONF="$E2E_DIR/lmsync.conf"
LATENCY_MS=4000

# jq: an RFC 3339 UTC instant (optional fraction) in ms since the epoch
JQ_MS='def ms: capture("^(?<s>[^.Z]+)(\\.(?<f>[0-9]+))?Z$") | ((.s + "Z") | fromdate) * 1000 + (((.f // "") + "000")[0:3] | tonumber);'

case_start() {
  local c map=""
  broker_start devbroker 1
  sandbox_start sandbox --seed 5 --connections 8 --students 3 --courses 2 --contents 2 \
    --providers coursera,go1,learnupon,d2l --tick-ms 0
  for c in "${SLOW[@]}"; do
    sb sandbox POST /_sandbox/faults "{\"connection_id\":\"$c\",\"kind\":\"latency\",\"latency_ms\":$LATENCY_MS,\"count\":-1,\"path\":\"activity\"}" >/dev/null ||
      die "fault for $c refused"
    map+="$c=slow,"
  done
  for c in "${FAST[@]}"; do map+="$c=fast,"; done
  write_config "$CONF" sandbox devbroker "coordinator.interval_s = 1" "coordinator.discovery_interval_s = 60" \
    "coordinator.tenant_map = ${map%,}" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.max_in_flight = 4" \
    "worker.tenant_max_share = 0.5"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  T0=$(date +%s)
  proc_start coordinator "$LS_COORDINATOR" --config "$CONF"
  # no worker yet: no status comes back, so each scope has exactly one job outstanding (skip overlap)
  wait_until 30 jobs_enqueued 8 || die "the coordinator did not enqueue 8 jobs within 30 s"
  LMSYNC_OPS_LISTEN=127.0.0.1:0 LMSYNC_OPS_PORT_FILE=$E2E_DIR/worker.ops \
    proc_start worker "$LS_WORKER" --config "$CONF" --processes 1
  wait_until 30 test -s "$E2E_DIR/worker.ops" || die "the worker wrote no ops.port_file"
  W="http://127.0.0.1:$(cat "$E2E_DIR/worker.ops")"
}

jobs_enqueued() { [ "$(topic_length devbroker lmsync.poll.jobs)" -ge "$1" ]; }

case_jobs_carry_tenant() {
  local bad
  bad=$(timeout 30 kcat -C -b "$(broker_bootstrap devbroker)" -t lmsync.poll.jobs -o beginning -e -q -f '%s\n' |
    jq -s -c '[.[] | select(.tenant != (if (.connection_id | ltrimstr("conn-") | tonumber) <= 4 then "slow" else "fast" end))
               | {connection_id, tenant}]')
  [ "$bad" = "[]" ] || fail "jobs with a tenant the map does not name: $bad"
  log "every job carries its tenant from coordinator.tenant_map"
}

# first_round TENANT_CONNS... : [{c, s, f}] of each connection's first poll job (started / finished, ms)
first_round() {
  jq -s -c --arg cs "$*" "$JQ_MS"'[.[] | .value | select((.kind // "activity") == "activity")
      | select(.connection_id as $c | $cs | split(" ") | index($c))]
    | group_by(.connection_id) | map(min_by(.started_at | ms) | {c: .connection_id, s: (.started_at | ms), f: (.finished_at | ms)})' \
    "$(topic_file status)"
}

case_fast_not_behind() {
  local slow fast fast_last slow_first slow_min_len
  wait_round status "$((T0 - 1))" 60 "${SLOW[@]}" "${FAST[@]}"
  slow=$(first_round "${SLOW[@]}"); fast=$(first_round "${FAST[@]}")
  fast_last=$(jq '[.[].f] | max' <<<"$fast"); slow_first=$(jq '[.[].f] | min' <<<"$slow")
  slow_min_len=$(jq '[.[] | .f - .s] | min' <<<"$slow")
  log "first round: fast jobs all finished at +$((fast_last - $(jq '[.[].s] | min' <<<"$fast"))) ms, the first slow one" \
      "$((slow_first - fast_last)) ms later; slow jobs took at least $slow_min_len ms"
  [ "$slow_min_len" -ge $((LATENCY_MS - 500)) ] || fail "a slow job took only $slow_min_len ms: the latency fault did not apply"
  [ "$fast_last" -lt "$slow_first" ] || fail "a fast job finished at $fast_last, after the first slow one ($slow_first):" \
    "fast jobs waited behind slow ones ($(jq -c . <<<"$fast") / $(jq -c . <<<"$slow"))"
}

worker_metric() { curl -fsS "$W/metrics" | awk -v m="$1" '$1 == m {s += $2} END {print s + 0}'; }

case_deferred_metric() {
  local n
  wait_until 5 test "$(worker_metric lmsync_worker_jobs_deferred_total)" -gt 0
  n=$(worker_metric lmsync_worker_jobs_deferred_total)
  [ "$n" -gt 0 ] || fail "lmsync_worker_jobs_deferred_total is $n: no job was held back by the tenant share"
  curl -fsS "$W/metrics" | grep -q '^lmsync_worker_jobs_deferred ' || fail "gauge lmsync_worker_jobs_deferred missing"
  log "lmsync_worker_jobs_deferred_total = $n"
}

case_truth() {
  wait_all_ok status "$((T0 - 1))" 8 60 || fail "not every connection reported ok"
  check_truth "tenants" sandbox events 0 0
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case jobs-carry-tenant
test_case fast-not-behind
test_case deferred-metric
test_case truth --needs fast-not-behind
test_case shutdown --needs start
run_cases
