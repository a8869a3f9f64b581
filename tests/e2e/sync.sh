#!/usr/bin/env bash
# End to end: devbroker + sandbox + coordinator + worker as real processes.
#   start              devbroker, sandbox (4 providers), topic tails, worker, coordinator
#   initial-sync       every activity becomes exactly one "created" event equal
#                      to the sandbox's ground truth
#   scripted-changes   changes of every kind through the control API: the events
#                      equal the ground truth (type, before, after); an
#                      updated_at-only touch emits nothing
#   unchanged-round    a poll round with nothing changed emits no event at all
#   upstream-faults    a wrongly typed record is skipped and counted, a 503 and
#                      a 429 are retried, a truncated body fails the job with a
#                      reason and no event; the change arrives once it recovers
#   no-secret-in-logs  no log holds the API token
#   shutdown           SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 11 --connections 4 --students 3 --courses 2 --contents 2 \
    --providers coursera,go1,learnupon,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 2"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_truth "initial sync" sandbox events 0 0 || return 1
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
}

case_scripted_changes() {
  local a t exp
  NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  a=$(sb_pick sandbox conn-0001 '.is_completed != true and (.progress_percentage // 0) > 0 and (.progress_percentage // 0) < 80')
  [ -n "$a" ] || die "seed has no in-progress coursera activity"
  sb_set sandbox conn-0001 "$a" '{"progress_percentage":90}'                                  # progressed
  a=$(sb_pick sandbox conn-0001 '.is_completed != true')
  sb_set sandbox conn-0001 "$a" "{\"is_completed\":true,\"progress_percentage\":100,\"completed_at\":\"$NOW\"}"  # completed
  a=$(sb_pick sandbox conn-0002 '.is_completed == true')
  [ -n "$a" ] || die "seed has no completed go1 activity"
  sb_set sandbox conn-0002 "$a" '{"is_completed":false,"progress_percentage":60}' '["completed_at"]'  # reopened
  a=$(sb_pick sandbox conn-0003 '.is_completed != true and (.progress_percentage // 0) > 10')
  [ -n "$a" ] || die "seed has no in-progress learnupon activity"
  sb_set sandbox conn-0003 "$a" '{"progress_percentage":5}'                                    # regressed
  a=$(sb_pick sandbox conn-0004 '.duration_minutes != null')
  sb_set sandbox conn-0004 "$a" '{"duration_minutes":999}'                                     # updated
  sb sandbox POST /_sandbox/activity '{"connection_id":"conn-0004","activity_id":"act-new-1","set":{"course_id":"crs-1","student_id":"stu-1","content_id":"cnt-1","is_completed":false,"duration_minutes":3}}' >/dev/null || die "create refused"
  a=$(sb_pick sandbox conn-0002 '.is_completed != true' 1)
  sb_set sandbox conn-0002 "$a" "{\"updated_at\":\"$NOW\"}"                                    # touch: no event
  wait_round status "$(date +%s)" 60 "${CONNS[@]}"
  exp=$(truth_since sandbox "$SEQ1")
  for t in progressed completed reopened regressed updated created; do
    jq -e --arg t "$t" 'any(.[]; .t == $t)' <<<"$exp" >/dev/null || fail "ground truth lacks a '$t' change"
  done
  check_truth "scripted changes" sandbox events "$SEQ1" "$N1" || return 1
  N2=$(topic_count events); SEQ2=$(truth_seq sandbox)
}

case_unchanged_round() {
  wait_round status "$(date +%s)" 60 "${CONNS[@]}"
  topic_caught_up events
  [ "$(topic_count events)" -eq "$N2" ] || die "a poll with nothing changed emitted $(( $(topic_count events) - N2 )) events"
  log "unchanged poll round: 0 events"
}

case_upstream_faults() {
  local c a t3s t3
  # T3S: one second before any fault, so a job that hits a fault has started after it
  t3s=$(( $(date +%s) - 1 ))
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0002","kind":"bad_record","count":-1}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0003","kind":"status","status":503,"count":1}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0004","kind":"status","status":429,"retry_after":1,"count":1}' >/dev/null
  sb sandbox POST /_sandbox/faults '{"connection_id":"conn-0001","kind":"truncate","count":-1}' >/dev/null
  for c in "${CONNS[@]}"; do
    a=$(sb_pick sandbox "$c" '.is_completed != true')
    sb_set sandbox "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$NOW\"}"
  done
  t3=$(date +%s)
  wait_round status "$t3" 60 conn-0002 conn-0003 conn-0004
  wait_round status "$t3" 60 conn-0001
  jq -e 'any(.[]; .outcome == "ok" and .rejected >= 1)' <<<"$(status_since status conn-0002 "$t3s")" >/dev/null \
    || fail "bad record not skipped and counted: $(status_since status conn-0002 "$t3s")"
  jq -e 'any(.[]; .outcome == "ok" and .retries >= 1)' <<<"$(status_since status conn-0003 "$t3s")" >/dev/null \
    || fail "503 not retried: $(status_since status conn-0003 "$t3s")"
  jq -e 'any(.[]; .outcome == "ok" and .retries >= 1)' <<<"$(status_since status conn-0004 "$t3s")" >/dev/null \
    || fail "429 not retried: $(status_since status conn-0004 "$t3s")"
  jq -e 'any(.[]; .outcome == "failed" and (.error | length > 0) and .events == 0)' <<<"$(status_since status conn-0001 "$t3s")" >/dev/null \
    || fail "truncated body did not fail the job with a reason: $(status_since status conn-0001 "$t3s")"
  log "conn-0001 failed as expected: $(jq -r '[.[] | select(.outcome == "failed")][0].error' <<<"$(status_since status conn-0001 "$t3s")")"
  sb sandbox DELETE /_sandbox/faults >/dev/null
  wait_round status "$(date +%s)" 90 "${CONNS[@]}"
  check_truth "changes across upstream faults" sandbox events "$SEQ2" "$N2" || return 1
  # Log wording on purpose: the status record counts rejected records (checked
  # above) but only the log names the record and why it was skipped.
  grep -q "record skipped" "$(proc_log worker)" || fail "worker did not log the skipped record"
}

case_no_secret_in_logs() {
  ! grep -q "e2e-token" "$E2E_DIR"/*.log || fail "a log contains the API token"
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case scripted-changes
test_case unchanged-round
test_case upstream-faults
test_case no-secret-in-logs --needs start
test_case shutdown --needs start
run_cases
