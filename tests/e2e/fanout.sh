#!/usr/bin/env bash
# End to end: per-course fan-out. conn-0001 (coursera) is forced to need
# course_id on the activity list by coordinator.profile_overrides; conn-0002
# (d2l) polls the whole connection.
#   start            devbroker, sandbox, tails, worker, coordinator
#   per-course-jobs  conn-0001 is polled by one job per course (status
#                    key/scope conn/course, course_id in the record); the
#                    initial sync equals the ground truth
#   course-move      an activity moved to another course is an "updated" event,
#                    never a false "removed", across several rounds
#   course-deletion  an activity deleted upstream is "removed" after two complete
#                    scans of its course, confirmed by a per-record GET answering 404
#   shutdown         SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 21 --connections 2 --students 3 --courses 3 --contents 1 \
    --providers coursera,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" "coordinator.discovery_interval_s = 60" \
    "coordinator.profile_overrides = conn-0001.course_id=required" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 5" "unified.max_retries = 1"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

# courses_done SINCE : every course scope of conn-0001 reported an ok job started after SINCE
courses_done() {
  [ "$(status_since status conn-0001 "$1" | jq '[.[] | select(.outcome == "ok") | .course_id] | unique | length')" -ge 3 ]
}
wait_courses() {
  wait_until 60 courses_done "$1" \
    || die "not every course of conn-0001 reported after $1: $(status_since status conn-0001 "$1" | jq -c '[.[] | {scope, outcome}]')"
}
# three_course_rounds : three rounds of every course, each started after the last reported
three_course_rounds() { local i; for i in 1 2 3; do wait_courses "$(date +%s)"; done; }

case_per_course_jobs() {
  local s
  wait_courses "$((T0 - 1))"
  wait_round status "$((T0 - 1))" 60 conn-0002
  s=$(status_since status conn-0001 "$((T0 - 1))")
  jq -e 'all(.[]; .course_id != null and .scope == (.connection_id + "/" + .course_id))' <<<"$s" >/dev/null \
    || fail "conn-0001 has a job that is not course-scoped: $(jq -c '[.[] | .scope]' <<<"$s")"
  jq -e 'all(.[]; .course_id == null)' <<<"$(status_since status conn-0002 "$((T0 - 1))")" >/dev/null || fail "conn-0002 was fanned out"
  log "conn-0001 scopes: $(jq -c '[.[] | .scope] | unique' <<<"$s")"
  check_truth "initial sync" sandbox events 0 0 || return 1
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
}

case_course_move() {
  local a
  a=$(sb_acts sandbox conn-0001 | jq -r '[.[] | select(.course_id == "crs-1")][0].id')
  [ -n "$a" ] && [ "$a" != null ] || die "no activity in crs-1"
  sb sandbox POST /_sandbox/activity "{\"connection_id\":\"conn-0001\",\"activity_id\":\"$a\",\"set\":{\"course_id\":\"crs-3\"}}" >/dev/null \
    || die "control API refused the move"
  three_course_rounds
  check_truth "move between courses" sandbox events "$SEQ1" "$N1" || return 1
  [ "$(type_count events removed "$N1")" -eq 0 ] || fail "a moved activity was announced removed"
  N2=$(topic_count events); SEQ2=$(truth_seq sandbox)
}

case_course_deletion() {
  local d td
  d=$(sb_acts sandbox conn-0001 | jq -r '[.[] | select(.course_id == "crs-2")][0].id')
  td=$(( $(date +%s) - 1 ))
  sb sandbox DELETE "/_sandbox/activity?connection_id=conn-0001&activity_id=$d" >/dev/null || die "delete refused"
  three_course_rounds
  check_truth "deletion in a course" sandbox events "$SEQ2" "$N2" || return 1
  jq -e 'any(.[]; .course_id == "crs-2" and .removed == 1 and .rechecked >= 1)' <<<"$(status_since status conn-0001 "$td")" >/dev/null \
    || fail "the removal was not confirmed by a per-record get: $(status_since status conn-0001 "$td" | jq -c '[.[] | {scope, removed, rechecked, pending_removals}]')"
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case per-course-jobs
test_case course-move
test_case course-deletion
test_case shutdown --needs start
run_cases
