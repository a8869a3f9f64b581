#!/usr/bin/env bash
# End to end: upstreams that break the API's contract (the sandbox's hostile
# faults, docs/sandbox.md), one per connection, set before the first poll:
#   conn-0001 ignore_offset  every page is the first page
#   conn-0002 ignore_limit   every page holds twice the limit sent
#   conn-0003 duplicate_ids  a later page lists the first record's id again,
#                            with another record's contents
#   conn-0004 none           the control: syncs as always
#   start          devbroker, sandbox (faults set), tails, worker, coordinator
#   ignore-offset  conn-0001's jobs fail with "repeats page 1" after 2 page
#                  requests; its events are real records (ground truth), no
#                  removal, no watermark
#   ignore-limit   conn-0002's jobs fail with "more than the limit" after 1
#                  request and produce no event
#   duplicate-ids  conn-0003's jobs are ok and count duplicates; two more
#                  polls emit no event for it
#   others-ok      conn-0004's events equal its ground truth
#   slash-id       a job naming connection "conn-0004/x" (a key "conn-0004/x/a"
#                  would restore as "conn-0004" + "x/a") goes to the dead-letter
#                  topic with its reason; no event names it; conn-0004 syncs on
#   faults-cleared with the faults gone, every connection syncs ok and the
#                  whole event stream equals the ground truth (nothing invented)
#   shutdown       SIGTERM stops coordinator and worker cleanly
source "$(dirname "$0")/lib.sh"
LIMIT=3
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004)

case_start() {
  broker_start devbroker 6
  sandbox_start sandbox --seed 11 --connections 4 --students 3 --courses 2 --contents 2 \
    --providers coursera --tick-ms 0
  local c k
  for k in conn-0001:ignore_offset conn-0002:ignore_limit conn-0003:duplicate_ids; do
    c=${k%%:*}
    sb sandbox POST /_sandbox/faults "{\"connection_id\":\"$c\",\"kind\":\"${k#*:}\",\"count\":-1,\"path\":\"activity\"}" \
      >/dev/null || die "sandbox refused fault ${k#*:}"
  done
  for c in "${CONNS[@]}"; do
    [ "$(sb_acts sandbox "$c" | jq length)" -gt $((2 * LIMIT)) ] || die "$c has too few activities for 3 pages"
  done
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" \
    "coordinator.discovery_interval_s = 60" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = $LIMIT" \
    "unified.max_retries = 1"
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  tail_topic dlq devbroker lmsync.poll.dlq
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  wait_round status "$(date +%s)" 90 "${CONNS[@]}"   # two polls of every connection
}

# events_of CONN : the connection's events since the start, de-duplicated, as sorted [{c,a,t,b,f}]
events_of() { topic_caught_up events; jq -c --arg c "$1" '[.[] | select(.c == $c)]' <<<"$(events_since events 0)"; }
# truth_of CONN : the connection's ground truth since the start
truth_of() { jq -c --arg c "$1" '[.[] | select(.c == $c)]' <<<"$(truth_since sandbox 0)"; }
# real_only CONN : every event of CONN is one of its ground-truth changes (none invented)
real_only() {
  local extra
  extra=$(jq -n --argjson e "$(events_of "$1")" --argjson t "$(truth_of "$1")" '$e - $t')
  [ "$(jq length <<<"$extra")" -eq 0 ] || { fail "$1: events not in the ground truth: $extra"; return 1; }
}
# ran_jobs CONN : the status records of CONN since the start, less the jobs a worker skipped
# as "duplicate" or "stale" (a job redelivered after a consumer-group rebalance, or overtaken by
# a newer job of the same scope on a loaded machine: the documented at-least-once handling)
ran_jobs() {
  jq -c '[.[] | select(.outcome != "skipped")]' \
    <<<"$(status_since status "$1" "$((T0 - 1))")"
}
# failed_jobs CONN REASON_REGEX REQUESTS : every job of CONN failed with REASON after REQUESTS requests
failed_jobs() {
  local s
  s=$(ran_jobs "$1")
  jq -e --arg r "$2" --argjson q "$3" 'length >= 2 and all(.[]; .outcome == "failed" and (.error | test($r))
        and .requests == $q and .removed == 0 and .pending_removals == 0 and .next_watermark == null)' <<<"$s" \
    >/dev/null || { fail "$1: jobs did not all fail with /$2/ after $3 requests: $s"; return 1; }
  log "$1: $(jq length <<<"$s") jobs failed after $3 requests each: $(jq -r '.[0].error' <<<"$s")"
}

case_ignore_offset() {
  failed_jobs conn-0001 "^paging: page 2 of \"conn-0001\" repeats page 1 \\(the upstream ignores offset\\)$" 2 || return 1
  real_only conn-0001 || return 1
  [ "$(jq length <<<"$(events_of conn-0001)")" -eq "$LIMIT" ] \
    || fail "conn-0001: expected the $LIMIT records of its first page as created: $(events_of conn-0001)"
}

case_ignore_limit() {
  failed_jobs conn-0002 "^paging: page 1 of \"conn-0002\" has $((2 * LIMIT)) records, more than the limit $LIMIT sent \\(the upstream ignores limit\\)$" 1 \
    || return 1
  [ "$(jq length <<<"$(events_of conn-0002)")" -eq 0 ] || fail "conn-0002: events from a rejected page: $(events_of conn-0002)"
}

case_duplicate_ids() {
  local s n t1
  s=$(ran_jobs conn-0003)
  jq -e 'length >= 2 and all(.[]; .outcome == "ok" and .duplicates >= 1)' <<<"$s" >/dev/null \
    || { fail "conn-0003: jobs not ok with duplicates counted: $s"; return 1; }
  log "conn-0003: duplicates per job $(jq -c 'map(.duplicates)' <<<"$s"), requests $(jq -c 'map(.requests)' <<<"$s")"
  real_only conn-0003 || return 1
  n=$(jq length <<<"$(events_of conn-0003)")
  t1=$(date +%s)
  wait_round status "$t1" 60 conn-0003
  wait_round status "$(date +%s)" 60 conn-0003
  [ "$(jq length <<<"$(events_of conn-0003)")" -eq "$n" ] \
    || fail "conn-0003: two more polls emitted events: $(events_of conn-0003)"
}

case_others_ok() {
  jq -e 'length >= 2 and all(.[]; .outcome == "ok" and .duplicates == 0)' \
    <<<"$(ran_jobs conn-0004)" >/dev/null || fail "conn-0004 did not sync ok: $(ran_jobs conn-0004)"
  compare_sets "conn-0004" "$(truth_of conn-0004)" "$(events_of conn-0004)"
}

case_slash_id() {
  local why='job: field '"'"'connection_id'"'"' cannot be a key part: contains '"'"'/'"'"' at byte 9 ("conn-0004...")' t1
  t1=$(date +%s)
  printf 'conn-0004/x\t{"v":1,"job_id":"conn-0004/x@1","connection_id":"conn-0004/x","mode":"full","scheduled_at":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" | kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.poll.jobs -K $'\t' \
    || die "kcat produce failed"
  wait_until 30 count_at_least dlq 1 || { fail "the job naming conn-0004/x reached no dead-letter topic"; return 1; }
  jq -e --arg w "$why" '.headers.lmsync_error == $w' "$(topic_file dlq)" >/dev/null \
    || fail "dead letter without the reason \"$why\": $(cat "$(topic_file dlq)")"
  grep -qF "skipped: $why" "$(proc_log worker)" || fail "the worker logged no reason for the conn-0004/x job"
  log "dead letter: $(jq -r '.headers.lmsync_error' "$(topic_file dlq)")"
  wait_round status "$t1" 60 conn-0004
  jq -e 'all(.[]; .outcome == "ok")' <<<"$(status_since status conn-0004 "$t1")" >/dev/null \
    || fail "conn-0004 did not sync on after the bad job"
  [ "$(jq -s '[.[] | select(.value.connection_id | contains("/"))] | length' "$(topic_file events)")" -eq 0 ] \
    || fail "an event names a connection id with '/'"
}

# The coordinator backs off a failing scope (interval x 2^failures): conn-0001
# and conn-0002 failed some 5 times by now, so their next jobs may be a minute away.
case_faults_cleared() {
  local t1
  sb sandbox DELETE /_sandbox/faults >/dev/null
  t1=$(date +%s)
  wait_all_ok status "$t1" "${#CONNS[@]}" 180 || fail "not every connection synced ok without the faults"
  check_truth "after the faults" sandbox events 0 0
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case ignore-offset
test_case ignore-limit --needs start
test_case duplicate-ids --needs start
test_case others-ok --needs start
test_case slash-id --needs start
test_case faults-cleared --needs start
test_case shutdown --needs start
run_cases
