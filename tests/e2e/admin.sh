#!/usr/bin/env bash
# End to end: lmsync-admin against the devbroker and a running pipeline.
# 1. topics create / topics check on the devbroker: every topic found with its
#    partitions and replication; configs reported "not verifiable" (the mock
#    cluster answers no DescribeConfigs) with exit code 3, never a silent pass;
#    a partition count that differs and a missing topic are each reported with
#    their fix and exit code 1; a check never creates a missing topic; the
#    coordinators' schedule (compact, any partition count), leader (one
#    partition) and the xapi dead-letter topic are managed too;
# 2. status --json after a sync in which one connection failed twice after an
#    ok run equals the summary computed with jq from the status records
#    themselves; a non-JSON record on the status topic is skipped and counted.
source "$(dirname "$0")/lib.sh"
: "${LS_ADMIN:?LS_ADMIN must point at lmsync-admin}"
CONNS=(conn-0001 conn-0002 conn-0003)

# admin OUTFILE ARGS... : run lmsync-admin, output in $E2E_DIR/OUTFILE, exit code in RC
admin() {
  local out=$1; shift
  timeout 60 "$LS_ADMIN" "$@" --timeout 3 >"$E2E_DIR/$out" 2>"$E2E_DIR/$out.err"; RC=$?
}
expect_rc() { [ "$RC" -eq "$1" ] || fail "$2: exit code $RC, expected $1: $(cat "$E2E_DIR/$3")"; }

case_start() {
  broker_start devbroker 4
  export KAFKA_BROKERS LMSYNC_LOG_FORMAT=text
  KAFKA_BROKERS=$(broker_bootstrap devbroker)
}

case_topics_create() {
  admin create.out topics create
  expect_rc 3 "topics create on the devbroker" create.out
  [ "$(grep -c 'configs: not verifiable: the cluster did not answer DescribeConfigs' "$E2E_DIR/create.out")" -eq 12 ] \
    || fail "topics create did not report 12 unverifiable configs: $(cat "$E2E_DIR/create.out")"
  grep -q "lmsync.activity.state: configs: not verifiable.*must be cleanup.policy=compact delete.retention.ms=86400000" \
    "$E2E_DIR/create.out" || fail "state topic's required configs not printed: $(cat "$E2E_DIR/create.out")"
  ! grep -q "cannot create" "$E2E_DIR/create.out" || fail "existing topics were created again"
}

case_topics_check() {
  admin check.out topics check --partitions 4 --replication 3
  expect_rc 3 "topics check with the right counts" check.out
  admin check8.out topics check --partitions 8
  expect_rc 1 "topics check with 8 partitions" check8.out
  grep -q "^lmsync.poll.jobs: partitions is 4, must be 8 (kafka-topics --alter --topic lmsync.poll.jobs --partitions 8)$" \
    "$E2E_DIR/check8.out" || fail "partition difference not reported with its fix: $(cat "$E2E_DIR/check8.out")"
  ! grep -q "^lmsync.poll.dlq: partitions" "$E2E_DIR/check8.out" || fail "the one-partition DLQ was held to 8 partitions"
  ! grep -q "^lmsync.coordinator.schedule: partitions" "$E2E_DIR/check8.out" || fail "the schedule topic was held to 8 partitions"
  grep -q "^lmsync.coordinator.leader: configs: not verifiable.*must be cleanup.policy=delete retention.ms=3600000" \
    "$E2E_DIR/check8.out" || fail "the leader topic's configs not printed: $(cat "$E2E_DIR/check8.out")"
  LMSYNC_KAFKA_TOPIC_PREFIX=absent admin absent.out topics check
  expect_rc 1 "topics check of missing topics" absent.out
  [ "$(grep -c '^absent\..*: missing (lmsync-admin topics create)$' "$E2E_DIR/absent.out")" -eq 12 ] \
    || fail "missing topics not reported: $(cat "$E2E_DIR/absent.out")"
  LMSYNC_KAFKA_TOPIC_PREFIX=absent admin absent2.out topics check
  [ "$(grep -c ': missing' "$E2E_DIR/absent2.out")" -eq 12 ] || fail "topics check created a missing topic"
  admin usage.out topics frobnicate
  expect_rc 2 "an unknown command" usage.out
}

failed_count() {
  jq -s '[.[] | .value | select(type == "object" and .connection_id == "conn-0002" and .outcome == "failed")] | length' \
    "$(topic_file status)"
}
failed_twice() { [ "$(failed_count)" -ge 2 ]; }

case_pipeline() {
  sandbox_start sandbox --seed 5 --connections 3 --students 2 --courses 2 --contents 2 \
    --providers coursera,go1,learnupon --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 1" \
    "coordinator.discovery_interval_s = 60" "worker.lmdb_path = $E2E_DIR/lmdb" "unified.max_retries = 0"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic status devbroker lmsync.sync.status
  local t0
  t0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_round status "$((t0 - 1))" 90 "${CONNS[@]}"
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"status","status":503,"count":-1}' >/dev/null
  wait_until 30 failed_twice || die "conn-0002 did not fail twice"
  proc_stop coordinator
  proc_stop worker
  kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.sync.status -k conn-bad <<<'this is not a status record' \
    || die "kcat produce failed"
  topic_caught_up status
}

case_status() {
  local expected actual
  expected=$(jq -s -c '[.[] | .value | select(type == "object")] | group_by(.scope) | map(. as $r
    | ([$r[] | select(.outcome == "ok")] | last) as $ok
    | ([$r[] | select(.outcome == "failed")] | last) as $f
    | ([$r | to_entries[] | select(.value.outcome == "ok") | .key] | last // -1) as $k
    | {scope: $r[0].scope, last_ok_at: ($ok.finished_at // null), mode: ($ok.mode // null),
       records: ($ok.records // 0), pending_removals: ($ok.pending_removals // 0),
       last_failure_at: ($f.finished_at // null), last_error: ($f.error // null),
       consecutive_failures: ([$r[($k + 1):][] | select(.outcome == "failed")] | length),
       last_outcome: ($r | last | .outcome), reports: ($r | length)})' "$(topic_file status)")
  admin status.json status --json
  expect_rc 0 "status --json" status.json.err
  actual=$(jq -s -c 'map({scope, last_ok_at, mode, records, pending_removals, last_failure_at, last_error,
    consecutive_failures, last_outcome, reports})' "$E2E_DIR/status.json")
  if [ "$(jq -S . <<<"$expected")" == "$(jq -S . <<<"$actual")" ]; then
    log "status --json: $(jq length <<<"$actual") scopes equal the summary of the status records"
  else
    fail "status --json differs from the status records"
    diff <(jq -S '.[]' -c <<<"$expected") <(jq -S '.[]' -c <<<"$actual") | head -n 20 | as_comment
  fi
  jq -e '.[] | select(.scope == "conn-0002") | .consecutive_failures >= 2 and .last_ok_at != null
         and (.last_error | test("503"))' <<<"$actual" >/dev/null || fail "conn-0002's failures not summarised: $actual"
  grep -q "1 bad record(s) skipped" "$E2E_DIR/status.json.err" || fail "bad status record not counted: $(cat "$E2E_DIR/status.json.err")"
  admin status.txt status
  [ "$(wc -l <"$E2E_DIR/status.txt")" -eq 4 ] && head -1 "$E2E_DIR/status.txt" | grep -q "^SCOPE .*LAST_OK" \
    || fail "status table: $(cat "$E2E_DIR/status.txt")"
}

test_case start
test_case topics-create
test_case topics-check
test_case pipeline --needs start
test_case status
run_cases
