#!/usr/bin/env bash
# End to end: devbroker + sandbox + coordinator + worker + lmsync-xapi + a real
# LRS (Learning Locker's xapi-statements, in memory, installed by `npm ci` from
# tests/xapi/package-lock.json).
# 1. initial sync and a burst of upstream changes, with lmsync-xapi killed -9
#    in the middle and restarted;
# 2. the LRS stalls (SIGSTOP) for longer than xapi.timeout_s while changes
#    flow: lmsync-xapi backs off, keeps its offsets, logs the reason, and
#    delivers once the LRS answers again;
# 3. an undecodable message on the changes topic, two events whose statement
#    ids the LRS holds with other content (seeded before), and one the LRS
#    refuses inside a batch (bisected: the others are stored) go to
#    lmsync.xapi.dlq with the reason in their headers; a re-delivery whose
#    statement differs only in its (observation-time) timestamp is a duplicate;
# 4. the statements in the LRS equal the change events: one per mapped event,
#    ids UUID v5 of ce_id, no duplicates, every one valid
#    (@learninglocker/xapi-validation), fields as docs/xapi.md says
#    (tests/xapi/check.js). The events, not the sandbox's change log, are the
#    reference: a burst changes an activity several times between two polls,
#    and lmsync reports the net change (e2e.sync compares events with the log);
# 5. /metrics counts it, the credentials are in no log, SIGTERM stops cleanly.
source "$(dirname "$0")/lib.sh"
XAPI_NODE=$(cd "$(dirname "$0")/../xapi" && pwd)
CONNS=(conn-0001 conn-0002 conn-0003 conn-0004 conn-0005)
XAPI=xapi # the handle of the running lmsync-xapi (a restart takes a new one)

# metric NAME : its value on lmsync-xapi's /metrics (empty when not there)
metric() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/xapi.port")/metrics" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
posted_some() { [ "$(metric lmsync_xapi_posts_total)" -ge 3 ] 2>/dev/null; }
check_lrs() { (cd "$XAPI_NODE" && node check.js "$LRS" "$(topic_file events)" "$CONFLICTS" "${REJECTED:-}") >"$E2E_DIR/check.out" 2>&1; }
# lrs_holds_events LABEL : wait (120 s: a loaded 2-core machine is slow to post and store) until the LRS holds exactly the statements the events map to
lrs_holds_events() {
  topic_caught_up events
  wait_until_every 1 120 check_lrs || { as_comment <"$E2E_DIR/check.out"; die "$1: the LRS does not hold the statements the change events map to"; }
  log "$1: LRS $(head -n 1 "$E2E_DIR/check.out")"
}

case_start() {
  : "${LS_XAPI:?LS_XAPI (path of lmsync-xapi) is not set}"
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (the LRS and the validator are npm packages)"
  # the LRS and the validator: npm ci when the lock changed since the last install
  local stamp="$XAPI_NODE/node_modules/.lmsync-lock"
  if ! cmp -s "$XAPI_NODE/package-lock.json" "$stamp"; then
    log "npm ci --prefix tests/xapi"
    npm ci --prefix "$XAPI_NODE" --no-audit --no-fund >"$E2E_DIR/npm.log" 2>&1 || { tail -n 20 "$E2E_DIR/npm.log" | as_comment; die "npm ci failed"; }
    cp "$XAPI_NODE/package-lock.json" "$stamp"
  fi
  mkdir -p "$E2E_DIR/lrs"
  EXPRESS_PORT=0 MODELS_REPO=memory AUTH_REPO=test EVENTS_REPO=test STORAGE_REPO=local \
    FS_LOCAL_STORAGE_DIR="$E2E_DIR/lrs" EXPRESS_MORGAN_DIRECTORY="$E2E_DIR/lrs" WINSTON_CONSOLE_LEVEL=warn \
    NODE_PATH="$XAPI_NODE/node_modules" proc_start lrs node "$XAPI_NODE/lrs.js" "$E2E_DIR/lrs.port"
  wait_until 60 test -s "$E2E_DIR/lrs.port" || die "the LRS wrote no port file within 60 s"
  LRS="http://127.0.0.1:$(cat "$E2E_DIR/lrs.port")/xAPI/"
  log "LRS at $LRS"
  broker_start devbroker 4
  BROKERS=$(broker_bootstrap devbroker)
  sandbox_start sandbox --seed 23 --connections 5 --students 4 --courses 2 --contents 3 \
    --providers coursera,go1,learnupon,moodle,d2l --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 1" \
    "coordinator.discovery_interval_s = 60" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 10"
  export UNIFIED_API_TOKEN=e2e-token
  printf 'e2e-user:s3cret-e2e-pw\n' >"$E2E_DIR/lrs.cred"
  export LRS_USERPWD=e2e-user:s3cret-e2e-pw
  write_config "$E2E_DIR/xapi.conf" sandbox devbroker "xapi.lrs_url = $LRS" "xapi.credentials_file = $E2E_DIR/lrs.cred" \
    "xapi.activity_base = https://lms.example/xapi/" "xapi.actor_base = https://lms.example/" \
    "xapi.batch = 7" "xapi.batch_ms = 300" "xapi.timeout_s = 2" "xapi.max_backoff_s = 2" \
    "ops.listen = 127.0.0.1:0" "ops.port_file = $E2E_DIR/xapi.port"
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  tail_topic dlq devbroker lmsync.xapi.dlq
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
}

# initial sync; two events' statement ids already taken in the LRS by other
# content (they must be dead-lettered as conflicts); then lmsync-xapi
case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  topic_caught_up events
  CONFLICTS=$(cd "$XAPI_NODE" && node check.js --seed-conflicts "$LRS" "$(topic_file events)" 2) || die "cannot seed conflicts"
  log "conflicting statements stored under $CONFLICTS"
  proc_start "$XAPI" "$LS_XAPI" --config "$E2E_DIR/xapi.conf"
  wait_until 30 test -s "$E2E_DIR/xapi.port" || die "lmsync-xapi wrote no ops.port_file"
  wait_until 30 posted_some || die "lmsync-xapi posted nothing within 30 s"
}

# a burst of upstream changes with lmsync-xapi killed -9 in the middle and restarted
case_burst_with_kill() {
  local i posted t1
  for i in 1 2 3 4 5 6; do
    sb sandbox POST /_sandbox/tick '{"count":25}' >/dev/null || die "tick refused"
    sleep 0.7 # on purpose: the burst is spread over several polls
    if [ "$i" -eq 3 ]; then
      posted=$(metric 'lmsync_xapi_statements_total{outcome="accepted"}')
      kill -KILL "$(proc_pid "$XAPI")"; wait "$(proc_pid "$XAPI")" 2>/dev/null
      log "lmsync-xapi killed -9 after $posted statements accepted, $(topic_count events) events on the topic; restarting"
      rm -f "$E2E_DIR/xapi.port"
      XAPI=xapi-restarted
      proc_start "$XAPI" "$LS_XAPI" --config "$E2E_DIR/xapi.conf"
      wait_until 30 test -s "$E2E_DIR/xapi.port" || die "the restarted lmsync-xapi wrote no ops.port_file"
    fi
  done
  t1=$(date +%s)
  wait_round status "$t1" 60 "${CONNS[@]}"
  lrs_holds_events "after kill -9"
}

stall_logged() { grep -q "lrs post failed (transport" "$(proc_log "$XAPI")"; }

# the LRS stalls: back off, keep offsets, one line with the reason, deliver after
case_stall() {
  local t2
  kill -STOP "$(proc_pid lrs)"
  sb sandbox POST /_sandbox/tick '{"count":25}' >/dev/null || die "tick refused"
  wait_until 20 stall_logged || fail "no log line for the stalled LRS" # the reason is in the log only
  kill -CONT "$(proc_pid lrs)"
  log "stalled LRS: $(grep -m1 "lrs post failed" "$(proc_log "$XAPI")" | cut -c1-200)"
  t2=$(date +%s)
  wait_round status "$t2" 60 "${CONNS[@]}"
  lrs_holds_events "after the stall"
}

synth() { # synth ACTIVITY OBSERVED_AT [STARTED_AT]
  jq -c --arg a "$1" --arg o "$2" --arg s "${3:-}" '.activity_id = $a | .after.id = $a | .observed.at = $o
    | del(.after.started_at, .after.created_at, .after.updated_at, .after.completed_at)
    | if $s != "" then .after.started_at = $s else . end' <<<"$BASE"
}
produce() { # produce CE_ID JSON
  printf '%s' "$2" | kcat -P -b "$BROKERS" -t lmsync.activity.changes -k synthetic/key -H "ce_id=$1" 2>>"$E2E_DIR/kcat.log" \
    || die "kcat could not produce"
}
synthetic_back() { [ "$(grep -c 5e1ec7ed "$(topic_file events)")" -ge 5 ]; }
dlq() { jq -s --arg p "$1" '[.[] | select(.headers.xapi_reason | startswith($p))]' "$(topic_file dlq)"; }
undecodable_dead() { [ "$(dlq undecodable | jq length)" -ge 1 ]; }

# an undecodable event and synthetic events (copies of a real one under new
# ids): a re-delivery whose statement differs only in timestamp is a
# duplicate; a batch with one statement the LRS refuses is bisected, the
# others stored, the bad one dead-lettered; conflicts dead-lettered too
case_dead_letters() {
  printf 'not json at all' | kcat -P -b "$BROKERS" -t lmsync.activity.changes -k bad/key 2>"$E2E_DIR/kcat.log" \
    || die "kcat could not produce"
  BASE=$(jq -c 'select(.value.type? == "created" and (.value.after.student_id // "") != "") | .value' "$(topic_file events)" | head -n 1)
  [ -n "$BASE" ] || die "no created event to copy"
  local dup_ce=5e1ec7ed000000000000000000000d01
  produce "$dup_ce" "$(synth act-syn-dup 2026-11-28T00:00:00Z)"
  sleep 2 # on purpose: the first copy is posted before its re-delivery arrives
  produce "$dup_ce" "$(synth act-syn-dup 2026-11-28T00:05:00Z)"
  local bad_ce=5e1ec7ed000000000000000000000b02
  kill -STOP "$(proc_pid "$XAPI")" # the three land in one batch
  produce 5e1ec7ed000000000000000000000a01 "$(synth act-syn-a 2026-11-28T00:00:00Z 2026-11-27T10:00:00Z)"
  produce "$bad_ce" "$(synth act-syn-b 2026-11-28T00:00:00Z not-an-instant)"
  produce 5e1ec7ed000000000000000000000c03 "$(synth act-syn-c 2026-11-28T00:00:00Z 2026-11-27T11:00:00Z)"
  kill -CONT "$(proc_pid "$XAPI")"
  REJECTED=$bad_ce
  wait_until 10 synthetic_back || die "the synthetic events did not come back from the topic"
  lrs_holds_events "synthetic events"
  wait_until 10 undecodable_dead || true
  jq -e 'length == 1 and (.[0].headers.xapi_reason | startswith("undecodable: value is not JSON")) and .[0].value == "not json at all"' \
    <<<"$(dlq undecodable)" >/dev/null || fail "dead-letter topic, undecodable: $(dlq undecodable)"
  jq -e --arg ids "$CONFLICTS" '([.[].headers.xapi_statement_id] | unique) == ($ids | split(",") | sort)
        and all(.[]; .headers.ce_id | length == 32)' <<<"$(dlq conflict)" >/dev/null \
    || fail "dead-letter topic, conflicts $CONFLICTS: $(dlq conflict)"
  jq -e --arg ce "$bad_ce" 'length >= 1 and all(.[]; .headers.ce_id == $ce and (.headers.xapi_reason | startswith("rejected by the lrs: http 400")))' \
    <<<"$(dlq rejected)" >/dev/null || fail "dead-letter topic, rejected: $(dlq rejected)"
  log "dead letters: $(dlq rejected | jq -r '.[0].headers.xapi_reason' | cut -c1-160)"
  log "dead letters: $(dlq undecodable | jq length) undecodable, $(dlq conflict | jq length) conflicts: $(dlq conflict | jq -r '.[0].headers.xapi_reason' | cut -c1-160)"
}

# metrics, secrets, shutdown
case_metrics_and_shutdown() {
  local ops m read
  ops="http://127.0.0.1:$(cat "$E2E_DIR/xapi.port")"
  m=$(curl -fsS "$ops/metrics") || die "no /metrics"
  [ "$(metric 'lmsync_xapi_statements_total{outcome="accepted"}')" -gt 0 ] || fail "no accepted statements counted"
  [ "$(metric 'lmsync_xapi_lrs_errors_total{reason="transport"}')" -ge 1 ] || fail "the stalled LRS was not counted"
  [ "$(metric 'lmsync_xapi_events_total{outcome="undecodable"}')" -eq 1 ] || fail "undecodable event not counted"
  [ "$(metric 'lmsync_xapi_statements_total{outcome="duplicate"}')" -ge 1 ] || fail "the re-delivery was not counted as a duplicate"
  [ "$(metric 'lmsync_xapi_lrs_errors_total{reason="refused"}')" -ge 2 ] || fail "no refused batch counted"
  [ "$(metric 'lmsync_xapi_lrs_up')" -eq 1 ] || fail "lmsync_xapi_lrs_up is not 1 after recovery"
  curl -fsS "$ops/healthz" >/dev/null || fail "/healthz is not 200"
  read=$(awk '$1 ~ /^lmsync_xapi_events_total/ { n += $2 } END { print n + 0 }' <<<"$m")
  [ "$read" -lt "$(topic_count events)" ] || fail "the restarted lmsync-xapi read all $read events again: no offsets were committed"
  log "the restarted lmsync-xapi read $read of $(topic_count events) messages (resumed from the committed offsets)"
  log "metrics: $(grep -E '^lmsync_xapi_(statements|lrs_errors|events)_total' <<<"$m" | tr '\n' ' ')"
  ! grep -q "s3cret-e2e-pw" "$E2E_DIR"/*.log || fail "a log contains the LRS password"
  proc_stop "$XAPI"
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case burst-with-kill
test_case stall
test_case dead-letters
test_case metrics-and-shutdown
run_cases
