#!/usr/bin/env bash
# End to end: lmsync's public topics read by an independent client from
# another ecosystem. The pipeline (devbroker + sandbox + coordinator + worker)
# produces change events, current records, status records and progress
# rollups; then kafkajs (Node) with the official CloudEvents SDK's Kafka
# binding reads every message of these topics and validates it against
# docs/schemas (ajv, draft 2020-12): the message counts must equal what lmsync-tail (librdkafka) reads, and no message may
# fail. Needs tests/contract/setup.sh to have installed the npm packages.
source "$(dirname "$0")/../e2e/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

case_start() {
  [ -d "$HERE/node_modules/kafkajs" ] || die "npm packages missing: run tests/contract/setup.sh"
  broker_start devbroker 4
  sandbox_start sandbox --seed 9 --connections 4 --students 4 --courses 3 --contents 2 --tick-ms 400 \
    --mutations-per-tick 3 --providers coursera,moodle,successfactors_lms,docebo
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "worker.lmdb_path = $E2E_DIR/lmdb" "coordinator.interval_s = 2"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  tail_topic current devbroker lmsync.activity.current
  tail_topic enrollments devbroker lmsync.progress.enrollments
  tail_topic courses devbroker lmsync.progress.courses
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
}

# the initial sync, then rounds with the sandbox's changes in them
case_rounds() {
  wait_round status "$(date +%s)" 60 "${CONNS[@]}"
  sleep 4 # on purpose: let the sandbox's ticks make changes for the next round
  wait_round status "$(date +%s)" 60 "${CONNS[@]}"
  proc_stop coordinator
  proc_stop worker
  topic_caught_up events
  topic_caught_up status
  topic_caught_up current
  topic_caught_up enrollments
  topic_caught_up courses
  N_EVENTS=$(topic_count events)
  N_STATUS=$(topic_count status)
  N_CURRENT=$(topic_count current)
  N_ENR=$(topic_count enrollments)
  N_CRS=$(topic_count courses)
  log "librdkafka reads $N_ENR enrollment and $N_CRS course rollups"
  [ "$N_ENR" -gt 0 ] && [ "$N_CRS" -gt 0 ] || die "no progress rollup was produced"
  log "librdkafka reads $N_EVENTS change events, $N_CURRENT current records and $N_STATUS status records"
  [ "$N_EVENTS" -gt 0 ] && [ "$N_STATUS" -gt 0 ] && [ "$N_CURRENT" -gt 0 ] || die "nothing was produced"
  log "event types seen: $(jq -r '.value.type' "$(topic_file events)" | sort -u | tr '\n' ' ')"
}

case_independent_client() {
  node "$HERE/consume.js" "$(broker_bootstrap devbroker)" "$HERE/../../docs/schemas" \
    "lmsync.activity.changes=$N_EVENTS" "lmsync.sync.status=$N_STATUS" "lmsync.activity.current=$N_CURRENT" \
    "lmsync.progress.enrollments=$N_ENR" "lmsync.progress.courses=$N_CRS" >"$E2E_DIR/consume.out" 2>&1 ||
    fail "kafkajs + cloudevents + ajv: $(tail -5 "$E2E_DIR/consume.out")"
  as_comment <"$E2E_DIR/consume.out"
}

test_case start
test_case rounds
test_case independent-client
run_cases
