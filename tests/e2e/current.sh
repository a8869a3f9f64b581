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
#   resync-unknown lmsync-admin resync of a connection the coordinator does not track fails with a
#                  message naming it; a request for it written straight to the control topic is
#                  rejected by the coordinator (log line)
#   resync         a consumer's view is lost: after `lmsync-admin resync conn-0002 --wait`, a consumer
#                  that reads only the current records produced after the request holds the whole
#                  connection's current state, equal to the ground truth, and one that reads only the
#                  rollups produced after it holds every enrollment and course rollup of the connection
#                  (equal to the topics' latest values; courses re-evaluated); the status record says
#                  how many of each were republished
#   shutdown       SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
: "${LS_ADMIN:?LS_ADMIN must point at lmsync-admin}"
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

case_resync_unknown() {
  local out rc
  out=$("$LS_ADMIN" resync conn-9999 --config "$E2E_DIR/lmsync.conf" --timeout 10 2>&1); rc=$?
  log "lmsync-admin resync conn-9999: exit $rc: $out"
  [ "$rc" -ne 0 ] || fail "resync of an unknown connection exited 0"
  grep -q 'unknown connection "conn-9999"' <<<"$out" || fail "no message naming the unknown connection: $out"
  kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.control -k conn-9999 \
    <<<'{"v":1,"type":"resync","connection_id":"conn-9999","requested_at":"2026-11-28T20:19:45Z","request_id":"e2e-1"}' \
    || die "kcat could not produce the control message"
  wait_until 30 grep -q 'resync of "conn-9999" (request e2e-1) rejected' "$(proc_log coordinator)" \
    || fail "the coordinator did not reject the request for conn-9999"
}

# partition_ends BROKER TOPIC : "partition offset" lines: the end of every partition (the devbroker never
# compacts, so the count of messages is the end offset)
partition_ends() {
  timeout 60 kcat -C -b "$(broker_bootstrap "$1")" -t "$2" -o beginning -e -q -f '%p\n' 2>/dev/null | sort | uniq -c \
    | awk '{print $2, $1}'
}

# read_after TOPIC ENDS FILE : a late consumer that reads only what was produced after ENDS
# (partition_ends' lines), every partition from its old end, into FILE (kcat -J lines)
read_after() {
  local p off
  : >"$3"
  for p in 0 1 2 3 4 5; do
    off=$(awk -v p="$p" '$1 == p {print $2}' <<<"$2"); off=${off:-0}
    timeout 60 kcat -C -b "$(broker_bootstrap devbroker)" -t "$1" -p "$p" -o "$off" -e -q -J \
      >>"$3" 2>/dev/null || fail "kcat could not read partition $p of $1"
  done
}

# rollup_table FILE CONN : the rollup table of CONN in FILE (latest value per key), evaluated_at dropped
rollup_table() {
  current_table "$1" | jq -c --arg c "$2/" 'with_entries(select(.key | startswith($c)) | .value |= del(.evaluated_at))
    | to_entries'
}

# the rollups republished by the resync: after the request, every rollup of conn-0002 again
check_resync_rollups() {
  local out=$1 t ends all after n=0 m
  shift
  for t in enrollments courses; do
    ends=$1; shift
    all="$E2E_DIR/all-$t.jsonl"; after="$E2E_DIR/after-resync-$t.jsonl"
    timeout 60 kcat -C -b "$(broker_bootstrap devbroker)" -t "lmsync.progress.$t" -o beginning -e -q -J >"$all" \
      2>/dev/null || fail "kcat could not read lmsync.progress.$t"
    read_after "lmsync.progress.$t" "$ends" "$after"
    m=$(rollup_table "$all" conn-0002 | jq length)
    [ "$m" -gt 0 ] || { fail "conn-0002 has no $t rollup"; return 1; }
    compare_sets "$t rollups after the resync request" "$(rollup_table "$all" conn-0002)" \
      "$(rollup_table "$after" conn-0002)" "$t rollups" || return 1
    n=$((n + m))
  done
  grep -q "conn-0002: ok: .* current records and $n rollups republished" <<<"$out" \
    || fail "resync --wait did not report $n republished rollups"
  jq -e -s --argjson n "$n" '[.[] | .value | select(.job_id | test("^conn-0002@resync-"))]
      | length == 1 and .[0].rollups_republished == $n' "$(topic_file status)" >/dev/null \
    || fail "the resync job's status record does not count $n republished rollups"
}

case_resync() {
  local ends ends_enr ends_crs f out rc n want
  ends=$(partition_ends devbroker lmsync.activity.current)
  ends_enr=$(partition_ends devbroker lmsync.progress.enrollments)
  ends_crs=$(partition_ends devbroker lmsync.progress.courses)
  out=$("$LS_ADMIN" resync conn-0002 --wait 90 --config "$E2E_DIR/lmsync.conf" --timeout 10 2>&1); rc=$?
  log "lmsync-admin resync conn-0002 --wait: exit $rc"; as_comment <<<"$out"
  [ "$rc" -eq 0 ] || { fail "resync --wait exited $rc"; return 1; }
  f="$E2E_DIR/after-resync.jsonl"
  read_after lmsync.activity.current "$ends" "$f"
  want=$(truth_current sandbox | jq -c 'with_entries(select(.key | startswith("conn-0002/"))) | to_entries')
  n=$(jq length <<<"$want")
  [ "$n" -gt 0 ] || die "conn-0002 has no activity in the ground truth"
  compare_sets "records after the resync request" "$want" \
    "$(current_table "$f" | jq -c 'with_entries(select(.key | startswith("conn-0002/"))) | to_entries')" \
    "current records" || return 1
  grep -q "conn-0002: ok: .* $n current records and [0-9]* rollups republished" <<<"$out" \
    || fail "resync --wait did not report $n republished records"
  jq -e -s --argjson n "$n" '[.[] | .value | select(.job_id | test("^conn-0002@resync-"))]
      | length == 1 and .[0].outcome == "ok" and .[0].republished == $n and .[0].mode == "full"' \
    "$(topic_file status)" >/dev/null || fail "no ok status record of the resync job with republished = $n"
  check_resync_rollups "$out" "$ends_enr" "$ends_crs"
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case changes
test_case resync-unknown --needs initial-sync
test_case resync --needs changes
test_case shutdown --needs start
run_cases
