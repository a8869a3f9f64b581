#!/usr/bin/env bash
# End to end: progress rollups (docs/events.md, section 11).
#   start        devbroker, sandbox, tails of the change events and both rollup
#                topics, a worker (one process under its supervisor), a
#                coordinator that runs a full scan every round
#   initial      both rollup topics, read from the beginning (latest per key,
#                tombstones delete), equal a recomputation from the sandbox's
#                ground truth (tests/e2e/rollups_truth.py), key for key and
#                field for field
#   burst-kill   completions, reopenings, progress and duration changes, a
#                recent activity, removals (one enrollment loses every
#                activity: a tombstone), the worker process killed (kill -9)
#                in the middle of it and restarted by its supervisor; then
#                the topics equal the recomputation again
#   quiet-round  a round with no change publishes no rollup (an unchanged
#                rollup is not republished)
#   rebuild      the worker stopped, its LMDB deleted, started again: the
#                restore rebuilds the rollups from the changelog, nothing
#                differs, and the log says so
#   switched-off rollups.enabled = 0 / current.enabled = 0: events only; on again: rows rebuilt, resync republishes
#   shutdown     SIGTERM stops coordinator and worker cleanly
# ctest-timeout: 300
source "$(dirname "$0")/lib.sh"
CONNS=(conn-0001 conn-0002)
TRUTH_PY="$(dirname "$0")/rollups_truth.py"

case_start() {
  broker_start devbroker 4
  sandbox_start sandbox --seed 23 --connections 2 --students 4 --courses 2 --contents 3 \
    --providers coursera,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" \
    "coordinator.discovery_interval_s = 60" "coordinator.full_every = 1" "worker.lmdb_path = $E2E_DIR/lmdb" \
    "worker.page_limit = 5" "unified.max_retries = 1" "rollups.idle_days = 14"
  tail_topic enrollments devbroker lmsync.progress.enrollments
  tail_topic courses devbroker lmsync.progress.courses
  tail_topic current devbroker lmsync.activity.current
  pipeline_start devbroker "$E2E_DIR/lmsync.conf" --processes 1
}

# rounds N SECONDS : N poll rounds of every connection, each started after the previous one reported
rounds() {
  local i
  for ((i = 0; i < $1; i++)); do wait_round status "$(date +%s)" "$2" "${CONNS[@]}"; done
}

# rollups_match LABEL : both rollup topics (caught up) equal the recomputation from the ground truth
rollups_match() {
  local c
  topic_caught_up enrollments; topic_caught_up courses; topic_caught_up events
  for c in "${CONNS[@]}"; do printf '"%s":%s,' "$c" "$(sb_acts sandbox "$c")"; done \
    | sed 's/^/{/; s/,$/}/' >"$E2E_DIR/truth.json"
  if python3 "$TRUTH_PY" "$E2E_DIR/truth.json" "$(topic_file enrollments)" "$(topic_file courses)" \
      "$(topic_file events)" 14 >"$E2E_DIR/compare.out"; then
    log "$1: $(tail -n 1 "$E2E_DIR/compare.out")"
    return 0
  fi
  fail "$1: rollups differ from the recomputation"
  as_comment <"$E2E_DIR/compare.out"
  return 1
}

case_initial() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  rounds 1 60
  rollups_match "initial sync" || return 1
  [ "$(topic_count enrollments)" -gt 0 ] && [ "$(topic_count courses)" -gt 0 ] || fail "no rollup published"
}

children() { pgrep -P "$(proc_pid worker)" | sort; }
one_child() { [ "$(children | wc -l)" -eq 1 ]; }

# change CONN ACT SET_JSON [UNSET_JSON] : change an activity; fields its provider does not have are left out
change() {
  local fields set unset
  fields=$(sb_acts sandbox "$1" | jq -c '[.[] | keys[]] | unique')
  set=$(jq -c --argjson f "$fields" 'with_entries(select(.key as $k | $f | index($k)))' <<<"$3")
  unset=$(jq -c --argjson f "$fields" 'map(select(. as $k | $f | index($k)))' <<<"${4:-[]}")
  sb sandbox POST /_sandbox/activity \
    "{\"connection_id\":\"$1\",\"activity_id\":\"$2\",\"set\":$set,\"unset\":$unset}" >/dev/null \
    || die "control API refused $2: $set $unset"
}

# burst CONN : completions, a reopening, progress changes, a recent activity, removals
burst() {
  local c=$1 now a
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  a=$(sb_pick sandbox "$c" '.is_completed != true'); [ -n "$a" ] || die "no open activity on $c"
  change "$c" "$a" "{\"is_completed\":true,\"completed_at\":\"$now\",\"progress_percentage\":100}"
  a=$(sb_pick sandbox "$c" '.is_completed == true'); [ -n "$a" ] || die "no completed activity on $c"
  change "$c" "$a" '{"is_completed":false,"progress_percentage":33.335}' '["completed_at"]'
  a=$(sb_pick sandbox "$c" 'true' 1)
  change "$c" "$a" "{\"progress_percentage\":12.5,\"duration_minutes\":7.25,\"started_at\":\"$now\"}"
  a=$(sb_pick sandbox "$c" 'true' 2)
  change "$c" "$a" '{"duration_minutes":null}' '["progress_percentage"]'
}

# remove_enrollment CONN : delete every activity of the first activity's enrollment
remove_enrollment() {
  local c=$1 s k a
  read -r s k < <(sb_acts sandbox "$c" | jq -r '.[0] | "\(.student_id) \(.course_id)"')
  for a in $(sb_acts sandbox "$c" | jq -r --arg s "$s" --arg k "$k" \
      '.[] | select(.student_id == $s and .course_id == $k) | .id'); do
    sb_delete sandbox "$c" "$a"
  done
  GONE_KEY="$c/$s/$k"
}

case_burst_kill() {
  local victim a
  burst conn-0001
  remove_enrollment conn-0002
  sleep 0.$(( RANDOM % 9 + 1 ))   # on purpose: a random moment of the round that takes them
  victim=$(children | head -n 1)
  [ -n "$victim" ] || die "the worker has no child process"
  kill -KILL "$victim" || die "cannot kill worker process $victim"
  log "killed worker process $victim"
  burst conn-0002
  a=$(sb_pick sandbox conn-0001 'true' 3); [ -n "$a" ] && sb_delete sandbox conn-0001 "$a"
  wait_until 15 one_child || die "supervisor did not replace the killed worker process"
  rounds 3 90   # removals: two complete full scans must miss an activity
  rollups_match "after the burst and the kill" || return 1
  jq -e -s --arg k "$GONE_KEY" 'map(select(.key == $k)) | last | .value == null' "$(topic_file enrollments)" \
    >/dev/null || fail "enrollment $GONE_KEY lost every activity but has no tombstone"
}

case_quiet_round() {
  local ne nc
  rounds 1 60   # whatever the last round still published
  topic_caught_up enrollments; topic_caught_up courses
  ne=$(topic_count enrollments); nc=$(topic_count courses)
  rounds 2 60
  topic_caught_up enrollments; topic_caught_up courses
  [ "$(topic_count enrollments)" -eq "$ne" ] || fail "unchanged enrollments were published again"
  [ "$(topic_count courses)" -eq "$nc" ] || fail "unchanged courses were published again"
}

case_rebuild() {
  proc_stop worker || return 1
  rm -rf "$E2E_DIR/lmdb"
  unset 'E2E_PID[worker]'
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
  rounds 2 90
  grep -q "progress rollups rebuilt" "$(proc_log worker)" || fail "the restore logged no rollup rebuild"
  rollups_match "after a restore from the changelog" || return 1
}

# rollups.enabled = 0 and current.enabled = 0: changes still give events, nothing on the derived topics; switched
# on again, the restore rebuilds the rows (marked stale while off) and a resync republishes what changed meanwhile
case_switched_off() {
  local ne nc ncur nev c
  proc_stop worker || return 1
  unset 'E2E_PID[worker]'
  sed 's/^rollups.idle_days = 14$/&\nrollups.enabled = 0\ncurrent.enabled = 0/' "$E2E_DIR/lmsync.conf" >"$E2E_DIR/off.conf"
  grep -q '^rollups.enabled = 0' "$E2E_DIR/off.conf" || die "cannot write the switched-off config"
  topic_caught_up enrollments; topic_caught_up courses; topic_caught_up current; topic_caught_up events
  ne=$(topic_count enrollments); nc=$(topic_count courses); ncur=$(topic_count current); nev=$(topic_count events)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/off.conf" --processes 1
  burst conn-0001
  rounds 2 90
  topic_caught_up enrollments; topic_caught_up courses; topic_caught_up current; topic_caught_up events
  [ "$(topic_count events)" -gt "$nev" ] || fail "no change event while the derived topics were off"
  [ "$(topic_count enrollments)" -eq "$ne" ] && [ "$(topic_count courses)" -eq "$nc" ] ||
    fail "rollups were published with rollups.enabled = 0"
  [ "$(topic_count current)" -eq "$ncur" ] || fail "current records were published with current.enabled = 0"
  proc_stop worker || return 1
  unset 'E2E_PID[worker]'
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf" --processes 1
  rounds 1 90
  grep -q "progress rollups rebuilt" "$(proc_log worker)" || fail "switched on again, the restore rebuilt no rollups"
  for c in "${CONNS[@]}"; do
    "$LS_ADMIN" resync "$c" --wait 90 --config "$E2E_DIR/lmsync.conf" --timeout 10 >/dev/null 2>&1 ||
      die "lmsync-admin resync $c failed"
  done
  rollups_match "switched off, changed, switched on and resynced" || return 1
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial
test_case burst-kill
test_case quiet-round
test_case rebuild --needs initial
test_case switched-off --needs rebuild
test_case shutdown --needs start
run_cases
