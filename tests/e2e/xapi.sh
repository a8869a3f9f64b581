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
: "${LS_XAPI:?LS_XAPI (path of lmsync-xapi) is not set}"
command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (the LRS and the validator are npm packages)"

# ---- the LRS and the validator: npm ci when the lock changed since the last install
STAMP="$XAPI_NODE/node_modules/.lmsync-lock"
if ! cmp -s "$XAPI_NODE/package-lock.json" "$STAMP"; then
  log "npm ci --prefix tests/xapi"
  npm ci --prefix "$XAPI_NODE" --no-audit --no-fund >"$E2E_DIR/npm.log" 2>&1 || { tail -n 20 "$E2E_DIR/npm.log"; die "npm ci failed"; }
  cp "$XAPI_NODE/package-lock.json" "$STAMP"
fi
mkdir -p "$E2E_DIR/lrs"
EXPRESS_PORT=0 MODELS_REPO=memory AUTH_REPO=test EVENTS_REPO=test STORAGE_REPO=local \
  FS_LOCAL_STORAGE_DIR="$E2E_DIR/lrs" EXPRESS_MORGAN_DIRECTORY="$E2E_DIR/lrs" WINSTON_CONSOLE_LEVEL=warn \
  NODE_PATH="$XAPI_NODE/node_modules" start lrs node "$XAPI_NODE/lrs.js" "$E2E_DIR/lrs.port"
wait_for_file "$E2E_DIR/lrs.port" 60
LRS="http://127.0.0.1:$(cat "$E2E_DIR/lrs.port")/xAPI/"
log "LRS at $LRS"

start_devbroker 4
start_sandbox --seed 23 --connections 5 --students 4 --courses 2 --contents 3 \
  --providers coursera,go1,learnupon,moodle,d2l --tick-ms 0
write_config "$E2E_DIR/lmsync.conf" "coordinator.interval_s = 1" "coordinator.discovery_interval_s = 60" \
  "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 10"
export UNIFIED_API_TOKEN=e2e-token
printf 'e2e-user:s3cret-e2e-pw\n' >"$E2E_DIR/lrs.cred"
export LRS_USERPWD=e2e-user:s3cret-e2e-pw
write_config "$E2E_DIR/xapi.conf" "xapi.lrs_url = $LRS" "xapi.credentials_file = $E2E_DIR/lrs.cred" \
  "xapi.activity_base = https://lms.example/xapi/" "xapi.actor_base = https://lms.example/" \
  "xapi.batch = 7" "xapi.batch_ms = 300" "xapi.timeout_s = 2" "xapi.max_backoff_s = 2" \
  "ops.listen = 127.0.0.1:0" "ops.port_file = $E2E_DIR/xapi.port"
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
tail_topic dlq lmsync.xapi.dlq
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# ---- 1. initial sync; two events' statement ids already taken in the LRS by
#      other content (must be dead-lettered as conflicts); then lmsync-xapi
#      and a burst with a kill -9 in the middle
wait_round "$((T0 - 1))" 90 "${CONNS[@]}"
sleep 1
CONFLICTS=$(cd "$XAPI_NODE" && node check.js --seed-conflicts "$LRS" "$E2E_DIR/events.jsonl" 2) || die "cannot seed conflicts"
log "conflicting statements stored under $CONFLICTS"
start xapi "$LS_XAPI" --config "$E2E_DIR/xapi.conf"
# metric NAME : its value on lmsync-xapi's /metrics (empty when not there)
metric() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/xapi.port")/metrics" 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
wait_for_file "$E2E_DIR/xapi.port" 30
for ((i = 0; i < 150; i++)); do [ "$(metric lmsync_xapi_posts_total)" -ge 3 ] 2>/dev/null && break; sleep 0.2; done
[ "$i" -lt 150 ] || die "lmsync-xapi posted nothing within 30 s"
for i in 1 2 3 4 5 6; do
  sb POST /_sandbox/tick '{"count":25}' >/dev/null || die "tick refused"
  sleep 0.7
  if [ "$i" -eq 3 ]; then
    posted=$(metric 'lmsync_xapi_statements_total{outcome="accepted"}')
    kill -KILL "$xapi_PID"; wait "$xapi_PID" 2>/dev/null
    log "lmsync-xapi killed -9 after $posted statements accepted, $(event_count) events on the topic; restarting"
    mv "$E2E_DIR/xapi.log" "$E2E_DIR/xapi-before-kill.log"
    rm -f "$E2E_DIR/xapi.port"
    start xapi "$LS_XAPI" --config "$E2E_DIR/xapi.conf"
  fi
done

# lrs_holds_events LABEL : wait (60 s) until the LRS holds exactly the statements the events map to
lrs_holds_events() {
  local i
  for ((i = 0; i < 60; i++)); do
    (cd "$XAPI_NODE" && node check.js "$LRS" "$E2E_DIR/events.jsonl" "$CONFLICTS" "${REJECTED:-}") >"$E2E_DIR/check.out" 2>&1 && break
    sleep 1
  done
  [ "$i" -lt 60 ] || { cat "$E2E_DIR/check.out"; die "$1: the LRS does not hold the statements the change events map to"; }
  log "$1: LRS $(head -n 1 "$E2E_DIR/check.out")"
}

T1=$(date +%s)
wait_round "$T1" 60 "${CONNS[@]}"
sleep 1
lrs_holds_events "after kill -9"

# ---- 2. the LRS stalls: back off, keep offsets, one line with the reason, deliver after
kill -STOP "$lrs_PID"
sb POST /_sandbox/tick '{"count":25}' >/dev/null || die "tick refused"
for ((i = 0; i < 100; i++)); do grep -q "lrs post failed (transport" "$E2E_DIR/xapi.log" && break; sleep 0.2; done
kill -CONT "$lrs_PID"
[ "$i" -lt 100 ] || fail "no log line for the stalled LRS"
log "stalled LRS: $(grep -m1 "lrs post failed" "$E2E_DIR/xapi.log" | cut -c1-200)"
T2=$(date +%s)
wait_round "$T2" 60 "${CONNS[@]}"
sleep 1
lrs_holds_events "after the stall"

# ---- 3. an undecodable event goes to the dead-letter topic (check.js skips it)
printf 'not json at all' | kcat -P -b "$BROKERS" -t lmsync.activity.changes -k bad/key 2>"$E2E_DIR/kcat.log" \
  || die "kcat could not produce"
# ---- 3b. synthetic events (copies of a real one under new ids and activities):
#      a re-delivery whose statement differs only in timestamp (no record
#      instant: the observation time) is a duplicate, not a conflict; a batch
#      with one statement the LRS refuses (timestamp not an instant) is bisected:
#      the two others are stored, the bad one is dead-lettered
BASE=$(jq -c 'select(.value.type? == "created" and (.value.after.student_id // "") != "") | .value' "$E2E_DIR/events.jsonl" | head -n 1)
[ -n "$BASE" ] || die "no created event to copy"
synth() { # synth ACTIVITY OBSERVED_AT [STARTED_AT]
  jq -c --arg a "$1" --arg o "$2" --arg s "${3:-}" '.activity_id = $a | .after.id = $a | .observed.at = $o
    | del(.after.started_at, .after.created_at, .after.updated_at, .after.completed_at)
    | if $s != "" then .after.started_at = $s else . end' <<<"$BASE"
}
produce() { # produce CE_ID JSON
  printf '%s' "$2" | kcat -P -b "$BROKERS" -t lmsync.activity.changes -k synthetic/key -H "ce_id=$1" 2>>"$E2E_DIR/kcat.log" \
    || die "kcat could not produce"
}
DUP_CE=5e1ec7ed000000000000000000000d01
produce "$DUP_CE" "$(synth act-syn-dup 2026-11-28T00:00:00Z)"
sleep 2
produce "$DUP_CE" "$(synth act-syn-dup 2026-11-28T00:05:00Z)"
BAD_CE=5e1ec7ed000000000000000000000b02
kill -STOP "$xapi_PID"
produce 5e1ec7ed000000000000000000000a01 "$(synth act-syn-a 2026-11-28T00:00:00Z 2026-11-27T10:00:00Z)"
produce "$BAD_CE" "$(synth act-syn-b 2026-11-28T00:00:00Z not-an-instant)"
produce 5e1ec7ed000000000000000000000c03 "$(synth act-syn-c 2026-11-28T00:00:00Z 2026-11-27T11:00:00Z)"
kill -CONT "$xapi_PID"
REJECTED=$BAD_CE
for ((i = 0; i < 50; i++)); do [ "$(grep -c 5e1ec7ed "$E2E_DIR/events.jsonl")" -ge 5 ] && break; sleep 0.2; done
[ "$i" -lt 50 ] || die "the synthetic events did not come back from the topic"
lrs_holds_events "synthetic events"

dlq() { jq -s --arg p "$1" '[.[] | select(.headers.xapi_reason | startswith($p))]' "$E2E_DIR/dlq.jsonl"; }
for ((i = 0; i < 50; i++)); do [ "$(dlq undecodable | jq length)" -ge 1 ] && break; sleep 0.2; done
jq -e 'length == 1 and (.[0].headers.xapi_reason | startswith("undecodable: value is not JSON")) and .[0].value == "not json at all"' \
  <<<"$(dlq undecodable)" >/dev/null || fail "dead-letter topic, undecodable: $(dlq undecodable)"
jq -e --arg ids "$CONFLICTS" '([.[].headers.xapi_statement_id] | unique) == ($ids | split(",") | sort)
      and all(.[]; .headers.ce_id | length == 32)' <<<"$(dlq conflict)" >/dev/null \
  || fail "dead-letter topic, conflicts $CONFLICTS: $(dlq conflict)"
jq -e --arg ce "$BAD_CE" 'length >= 1 and all(.[]; .headers.ce_id == $ce and (.headers.xapi_reason | startswith("rejected by the lrs: http 400")))' \
  <<<"$(dlq rejected)" >/dev/null || fail "dead-letter topic, rejected: $(dlq rejected)"
log "dead letters: $(dlq rejected | jq -r '.[0].headers.xapi_reason' | cut -c1-160)"
log "dead letters: $(dlq undecodable | jq length) undecodable, $(dlq conflict | jq length) conflicts: $(dlq conflict | jq -r '.[0].headers.xapi_reason' | cut -c1-160)"

# ---- 5. metrics, secrets, shutdown
OPS="http://127.0.0.1:$(cat "$E2E_DIR/xapi.port")"
M=$(curl -fsS "$OPS/metrics") || die "no /metrics"
[ "$(metric 'lmsync_xapi_statements_total{outcome="accepted"}')" -gt 0 ] || fail "no accepted statements counted"
[ "$(metric 'lmsync_xapi_lrs_errors_total{reason="transport"}')" -ge 1 ] || fail "the stalled LRS was not counted"
[ "$(metric 'lmsync_xapi_events_total{outcome="undecodable"}')" -eq 1 ] || fail "undecodable event not counted"
[ "$(metric 'lmsync_xapi_statements_total{outcome="duplicate"}')" -ge 1 ] || fail "the re-delivery was not counted as a duplicate"
[ "$(metric 'lmsync_xapi_lrs_errors_total{reason="refused"}')" -ge 2 ] || fail "no refused batch counted"
[ "$(metric 'lmsync_xapi_lrs_up')" -eq 1 ] || fail "lmsync_xapi_lrs_up is not 1 after recovery"
curl -fsS "$OPS/healthz" >/dev/null || fail "/healthz is not 200"
READ=$(awk '$1 ~ /^lmsync_xapi_events_total/ { n += $2 } END { print n + 0 }' <<<"$M")
[ "$READ" -lt "$(event_count)" ] || fail "the restarted lmsync-xapi read all $READ events again: no offsets were committed"
log "the restarted lmsync-xapi read $READ of $(event_count) messages (resumed from the committed offsets)"
log "metrics: $(grep -E '^lmsync_xapi_(statements|lrs_errors|events)_total' <<<"$M" | tr '\n' ' ')"
grep -q "s3cret-e2e-pw" "$E2E_DIR"/*.log && fail "a log contains the LRS password"

stop_and_check xapi
stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
