#!/usr/bin/env bash
# ctest-timeout: 300
# End to end: the current topic (lmsync.activity.current, docs/events.md section 9).
#   start          devbroker, sandbox (3 connections, one provider without updated_at), tails,
#                  worker, coordinator
#   initial-sync   after the initial sync a late consumer's table of the current topic (latest
#                  value per key) equals the sandbox's current records, field for field
#   changes        scripted changes (progress, completion, an updated_at-only touch that emits no
#                  event, a field that becomes null, a field unset, a new activity) and a deletion
#                  upstream (a removed event two full scans later, a tombstone on current): a new
#                  late consumer's table equals the ground truth again, tombstones applied
#   shutdown       SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002 conn-0003)

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 9 --connections 3 --students 3 --courses 2 --contents 2 \
    --providers coursera,d2l,moodle --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_current "initial sync" sandbox devbroker
}

# a_id CONN INDEX : the id of the INDEX-th live activity of CONN
a_id() { sb_acts sandbox "$1" | jq -r ".[$2].id // empty"; }

case_changes() {
  local gone n0 touch
  n0=$(topic_count events)
  sb_set sandbox conn-0001 "$(a_id conn-0001 0)" '{"progress_percentage":91}'
  sb_set sandbox conn-0001 "$(a_id conn-0001 1)" '{"is_completed":true,"completed_at":"2026-11-27T14:09:48.120Z"}'
  touch=$(a_id conn-0001 2)
  sb_set sandbox conn-0001 "$touch" "{\"updated_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  sb_set sandbox conn-0002 "$(a_id conn-0002 0)" '{"started_at":null}'
  sb_set sandbox conn-0003 "$(a_id conn-0003 0)" '{}' '["started_at"]'
  sb_set sandbox conn-0003 new-activity-1 '{"course_id":"crs-1","student_id":"stu-2","is_completed":false}'
  gone=$(a_id conn-0002 3)
  [ -n "$gone" ] || die "seed has no fourth activity in conn-0002"
  sb_delete sandbox conn-0002 "$gone"
  # two complete full scans of every connection after the deletion
  wait_round status "$(date +%s)" 90 "${CONNS[@]}"
  wait_round status "$(date +%s)" 90 "${CONNS[@]}"
  [ "$(type_count events removed "$n0")" -eq 1 ] || fail "expected one removed event for $gone"
  jq -e -s --arg a "$touch" '[.[] | select(.value.activity_id == $a)] | length == 1' "$(topic_file events)" >/dev/null \
    || fail "the updated_at-only touch of $touch emitted an event"
  check_current "after changes and a removal" sandbox devbroker
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case changes
test_case shutdown --needs start
run_cases
