#!/usr/bin/env bash
# End to end: devbroker + sandbox + coordinator + worker + lmsync-webhook, the
# sandbox sending NATIVE webhooks for a successfactors_lms connection.
#   start              the pipeline (poll interval 2 s), lmsync-webhook
#   initial-sync       the first polls: events equal the ground truth; then the
#                      coordinator restarts with a 1 h interval
#   native-changes     a webhook subscription; changes arrive as events within
#                      seconds (no poll runs), equal to the ground truth, mode webhook
#   virtual-changes    a coursera connection gets VIRTUAL deliveries at its
#                      interval: the change arrives at the next run, mode webhook
#   rejections         bad signature, replayed nonce, unknown connection, oversized
#                      body, malformed JSON, wrong content type: each refused with
#                      its status, a log line and a counter, nothing enqueued
#   flood              40 deliveries at once: the connection's token bucket (10,
#                      then 5/s) answers 429 to the rest, counted; each 202 is one
#                      job and comes within milliseconds (the limit is the receiver's own)
#   duplicate-and-reorder  a duplicated delivery makes no second event; a late
#                      (out-of-order) one is counted stale, not applied
#   dropped-reconciled a dropped delivery: no event, until a poll job reconciles it
#   receiver-down      a change while lmsync-webhook is down: the sandbox retries
#                      the delivery with backoff, and once it is back the event arrives
#   no-secret-in-logs  no log holds the API token or the workspace secret
#   shutdown           SIGTERM stops every process cleanly
# ctest-timeout: 240
source "$(dirname "$0")/lib.sh"
: "${LS_WEBHOOK:?LS_WEBHOOK not set}"
CONNS=(conn-0001 conn-0002)
SECRET=e2e-workspace-secret-4711
WH=conn-0001   # successfactors_lms: native webhooks

case_start() {
  broker_start devbroker 4
  sandbox_start sandbox --seed 23 --connections 2 --students 3 --courses 2 --contents 2 \
    --providers successfactors_lms,coursera --tick-ms 0 --webhook-secret "$SECRET"
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = 2" \
    "coordinator.discovery_interval_s = 60" "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 20"
  printf '%s\n' "$SECRET" >"$E2E_DIR/secret"
  { cat "$E2E_DIR/lmsync.conf"
    echo "webhook.listen = 127.0.0.1:0"; echo "webhook.port_file = $E2E_DIR/webhook.port"
    echo "webhook.secret_file = $E2E_DIR/secret"; echo "webhook.max_body_kb = 64"
    echo "webhook.connections_refresh_s = 1"; echo "webhook.connection_rate = 5/s"; echo "webhook.connection_burst = 10"
    echo "ops.listen = 127.0.0.1:0"; echo "ops.port_file = $E2E_DIR/webhook.ops"; } >"$E2E_DIR/webhook.conf"
  tail_topic jobs devbroker lmsync.poll.jobs
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
  proc_start webhook "$LS_WEBHOOK" --config "$E2E_DIR/webhook.conf"
  wait_until 30 test -s "$E2E_DIR/webhook.port" || die "lmsync-webhook wrote no port file"
  HOOK="http://127.0.0.1:$(cat "$E2E_DIR/webhook.port")/webhook"
  OPS="http://127.0.0.1:$(cat "$E2E_DIR/webhook.ops")"
}

case_initial_sync() {
  wait_round status "$((T0 - 1))" 90 "${CONNS[@]}"
  check_truth "initial sync" sandbox events 0 0 || return 1
  proc_stop coordinator
  sed -i 's/^coordinator.interval_s = 2$/coordinator.interval_s = 3600/' "$E2E_DIR/lmsync.conf"
  E2E_PID[coordinator]=""
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  sleep 3   # it restores the schedule; from now on polls are an hour apart
  topic_caught_up events
  N1=$(topic_count events); SEQ1=$(truth_seq sandbox)
  wait_until 30 grep -q "known connections: 2" "$(proc_log webhook)" || die "lmsync-webhook never read the schedule"
}

# wh_events N : events after line N that a webhook job produced
wh_modes() { tail -n +"$(($1 + 1))" "$(topic_file events)" | jq -r '.value.observed.mode' | sort | uniq -c | tr '\n' ' '; }

case_native_changes() {
  curl -fsS -X POST -H 'authorization: Bearer e2e-token' -H 'content-type: application/json' \
    -d "{\"connection_id\":\"$WH\",\"object_type\":\"lms_activity\",\"event\":\"updated\",\"hook_url\":\"$HOOK\"}" \
    "$(sandbox_url sandbox)/unified/webhook" >"$E2E_DIR/subscription.json" || die "webhook subscription refused"
  local a b c t0 t1
  # successfactors_lms has no progress_percentage: durations and completions change
  a=$(sb_pick sandbox "$WH" '.is_completed != true' 0); b=$(sb_pick sandbox "$WH" '.is_completed != true' 1)
  c=$(sb_pick sandbox "$WH" '.is_completed != true' 2)
  [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] || die "seed lacks activities to change"
  t0=$(date +%s.%N)
  sb_set sandbox "$WH" "$a" '{"duration_minutes":301}'
  sb_set sandbox "$WH" "$b" "{\"is_completed\":true,\"completed_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  sb_set sandbox "$WH" "$c" '{"duration_minutes":4242}'
  wait_until 10 count_at_least events "$((N1 + 3))" || die "webhook changes not events within 10 s (modes: $(wh_modes "$N1"))"
  t1=$(date +%s.%N)
  log "3 changes became events in $(printf '%.2f' "$(bc <<<"$t1 - $t0")") s (poll interval 3600 s)"
  check_truth "native webhook changes" sandbox events "$SEQ1" "$N1" || return 1
  [ "$(wh_modes "$N1")" = "      3 webhook " ] || fail "events not from webhook jobs: $(wh_modes "$N1")"
  N2=$(topic_count events); SEQ2=$(truth_seq sandbox)
}

case_virtual_changes() {
  local v=conn-0002 a n0 seq0
  topic_caught_up events; n0=$(topic_count events); seq0=$(truth_seq sandbox)
  curl -fsS -X POST -H 'authorization: Bearer e2e-token' -H 'content-type: application/json' \
    -d "{\"connection_id\":\"$v\",\"object_type\":\"lms_activity\",\"event\":\"updated\",\"hook_url\":\"$HOOK\",\"interval_ms\":2000}" \
    "$(sandbox_url sandbox)/unified/webhook" | jq -e '.webhook_type == "virtual"' >/dev/null || die "virtual subscription refused"
  a=$(sb_pick sandbox "$v" '.is_completed != true' 0)
  sb_set sandbox "$v" "$a" '{"duration_minutes":31}'
  wait_until 10 count_at_least events "$((n0 + 1))" || die "the virtual delivery made no event within 10 s"
  check_truth "virtual webhook change" sandbox events "$seq0" "$n0" || return 1
  [ "$(wh_modes "$n0")" = "      1 webhook " ] || fail "virtual change not from a webhook job: $(wh_modes "$n0")"
  N2=$(topic_count events)
}

# post CONTENT_TYPE BODY_FILE : HTTP status of a POST to the receiver
post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "content-type: $1" --data-binary @"$2" "$HOOK"; }

# signed DATA NONCE CONN [SECRET] : a delivery body signed as Unified signs it
signed() {
  local sig
  sig=$(printf '%s%s' "$1" "$2" | openssl dgst -sha1 -hmac "${4:-$SECRET}" -binary | base64)
  printf '{"data":%s,"webhook":{"connection_id":"%s","object_type":"lms_activity","integration_type":"successfactors_lms"},"nonce":"%s","sig":"%s","type":"NATIVE"}' \
    "$1" "$3" "$2" "$sig"
}

# expect_refused WHAT STATUS RESULT CONTENT_TYPE BODY_FILE
expect_refused() {
  local got
  got=$(post "$4" "$5")
  [ "$got" = "$2" ] || { fail "$1: answered $got, expected $2"; return 1; }
  wait_until 5 grep -q "webhook refused ($2 $3)" "$(proc_log webhook)" || fail "$1: no log line 'webhook refused ($2 $3)'"
  log "$1: $2, $(grep "webhook refused ($2 $3)" "$(proc_log webhook)" | tail -1 | sed 's/.*: //')"
}

metric() { curl -fsS "$OPS/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

case_rejections() {
  local d jobs0 rec
  d=$E2E_DIR/bodies; mkdir -p "$d"
  topic_caught_up jobs; jobs0=$(topic_count jobs)
  rec=$(sb_acts sandbox "$WH" | jq -c '[.[0]]')   # the current record: accepted, no event
  signed "$rec" "nonce-ok-1" "$WH" >"$d/ok.json"
  [ "$(post application/json "$d/ok.json")" = 202 ] || die "a valid delivery was not accepted"
  signed "$rec" "nonce-bad-1" "$WH" wrong-secret >"$d/badsig.json"
  signed "$rec" "nonce-x-1" conn-9999 >"$d/unknown.json"
  printf '{"data":[{"id":"x"' >"$d/malformed.json"
  head -c 70000 /dev/zero | tr '\0' ' ' | sed 's/^/{"data":[]/; s/$/}/' >"$d/big.json"
  expect_refused "bad signature" 401 bad_signature application/json "$d/badsig.json"
  expect_refused "replayed nonce" 409 replayed_nonce application/json "$d/ok.json"
  expect_refused "unknown connection" 404 unknown_connection application/json "$d/unknown.json"
  expect_refused "oversized body" 413 too_large application/json "$d/big.json"
  expect_refused "malformed JSON" 400 bad_json application/json "$d/malformed.json"
  expect_refused "wrong content type" 415 bad_content_type text/plain "$d/ok.json"
  local r
  for r in bad_signature replayed_nonce unknown_connection too_large bad_json bad_content_type; do
    [ "$(metric "lmsync_webhook_requests_total{result=\"$r\"}")" = 1 ] \
      || fail "counter of $r is $(metric "lmsync_webhook_requests_total{result=\"$r\"}"), expected 1"
  done
  if command -v promtool >/dev/null; then
    curl -fsS "$OPS/metrics" | promtool check metrics >"$E2E_DIR/webhook.promtool" 2>&1 \
      || fail "lmsync-webhook /metrics fails promtool: $(head -3 "$E2E_DIR/webhook.promtool")"
  fi
  sleep 1; topic_caught_up jobs
  [ "$(topic_count jobs)" -eq "$((jobs0 + 1))" ] || fail "jobs enqueued: $(( $(topic_count jobs) - jobs0 )), expected 1 (the valid delivery)"
  topic_caught_up events
  [ "$(topic_count events)" -eq "$N2" ] || fail "an unchanged record delivered by webhook made an event"
}

case_flood() {
  local d=$E2E_DIR/bodies i code ok=0 limited=0 jobs0 rec slow
  topic_caught_up jobs; jobs0=$(topic_count jobs)
  rec=$(sb_acts sandbox "$WH" | jq -c '[.[1]]')
  : >"$d/times"
  for i in $(seq 1 40); do
    signed "$rec" "flood-$i" "$WH" >"$d/flood.json"
    code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST -H 'content-type: application/json' \
      --data-binary @"$d/flood.json" "$HOOK")
    case ${code% *} in 202) ok=$((ok + 1)); echo "${code#* }" >>"$d/times" ;; 429) limited=$((limited + 1)) ;; esac
  done
  [ "$limited" -gt 0 ] && [ $((ok + limited)) -eq 40 ] || fail "flood: $ok accepted, $limited rate limited of 40"
  [ "$(metric 'lmsync_webhook_requests_total{result="rate_limited"}')" = "$limited" ] || fail "rate_limited counter is not $limited"
  slow=$(sort -n "$d/times" | tail -1)
  log "flood: $ok accepted (slowest answer ${slow} s), $limited answered 429"
  [ "$(bc <<<"$slow < 0.5")" = 1 ] || fail "a 202 took $slow s"
  sleep 1; topic_caught_up jobs
  [ "$(topic_count jobs)" -eq "$((jobs0 + ok))" ] || fail "jobs enqueued: $(( $(topic_count jobs) - jobs0 )), expected $ok"
  sleep 2   # the bucket refills before the next deliveries
}

case_duplicate_and_reorder() {
  local a b n0 seq0 cur
  topic_caught_up events; n0=$(topic_count events); seq0=$(truth_seq sandbox)
  a=$(sb_pick sandbox "$WH" '.is_completed != true' 0)
  b=$(sb_pick sandbox "$WH" '.is_completed != true' 1)
  sb sandbox POST /_sandbox/webhook_faults '{"duplicate":1}' >/dev/null
  sb_set sandbox "$WH" "$a" '{"duration_minutes":111}'
  wait_until 10 count_at_least events "$((n0 + 1))" || die "duplicated delivery made no event"
  sleep 2   # the duplicate has arrived by now
  sb sandbox POST /_sandbox/webhook_faults '{"reorder":1}' >/dev/null
  sb_set sandbox "$WH" "$b" '{"duration_minutes":221}'      # held, delivered after the next one
  sleep 1
  sb_set sandbox "$WH" "$b" '{"duration_minutes":222}'
  wait_until 10 count_at_least events "$((n0 + 2))" || die "reordered deliveries made no event"
  wait_until 10 jq -e -s 'any(.[]; .value.mode == "webhook" and .value.stale_records >= 1)' "$(topic_file status)" \
    >/dev/null || fail "no webhook job counted a stale record"
  sleep 2; topic_caught_up events
  # exactly one event per activity, and b's says 222 (what the sandbox holds now)
  jq -e -s --argjson n "$n0" --arg a "$a" '[.[$n:][] | select(.value.activity_id == $a)] | length == 1' \
    "$(topic_file events)" >/dev/null || fail "duplicated delivery: not exactly one event for $a"
  cur=$(jq -s -c --argjson n "$n0" --arg b "$b" '[.[$n:][] | select(.value.activity_id == $b) | .value.after.duration_minutes]' \
    "$(topic_file events)")
  [ "$cur" = "[222]" ] || fail "out-of-order deliveries of $b: events say $cur, expected [222]"
  log "duplicate: 1 event for $a; reorder: events of $b say $cur; $(sb sandbox GET /_sandbox/stats | jq -c .webhooks)"
  N3=$(topic_count events); SEQ3=$(truth_seq sandbox)
}

case_dropped_reconciled() {
  local a now
  topic_caught_up events
  sb sandbox POST /_sandbox/webhook_faults '{"drop":1}' >/dev/null
  a=$(sb_pick sandbox "$WH" '.is_completed != true' 3)
  [ -n "$a" ] || die "seed lacks a fourth incomplete activity"
  sb_set sandbox "$WH" "$a" '{"duration_minutes":777}'
  sleep 3; topic_caught_up events
  [ "$(topic_count events)" -eq "$N3" ] || fail "a dropped delivery still made an event"
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
  printf '%s|{"v":1,"job_id":"%s@reconcile","connection_id":"%s","integration_type":"successfactors_lms","mode":"full","scheduled_at":"%s"}\n' \
    "$WH" "$WH" "$WH" "$now" | kcat -P -b "$(broker_bootstrap devbroker)" -t lmsync.poll.jobs -K '|' \
    || die "kcat could not enqueue the poll job"
  wait_until 30 count_at_least events "$((N3 + 1))" || die "the poll did not reconcile the dropped change"
  check_truth "dropped delivery reconciled by a poll" sandbox events "$SEQ3" "$N3" || return 1
  N4=$(topic_count events); SEQ4=$(truth_seq sandbox)
}

case_receiver_down() {
  local a port t0
  port=$(cat "$E2E_DIR/webhook.port")
  proc_stop webhook || return 1
  E2E_PID[webhook]=""
  a=$(sb_pick sandbox "$WH" '.is_completed != true' 4)
  [ -n "$a" ] || die "seed lacks a fifth incomplete activity"
  t0=$(date +%s)
  sb_set sandbox "$WH" "$a" '{"duration_minutes":555}'
  sleep 2   # refused twice or more: retried with backoff
  sed -i "s/^webhook.listen = .*/webhook.listen = 127.0.0.1:$port/" "$E2E_DIR/webhook.conf"
  mv "$(proc_log webhook)" "$E2E_DIR/webhook-first.log"
  proc_start webhook "$LS_WEBHOOK" --config "$E2E_DIR/webhook.conf"
  wait_until 20 count_at_least events "$((N4 + 1))" || die "the retried delivery made no event"
  log "event $(( $(date +%s) - t0 )) s after the change; sandbox webhooks: $(sb sandbox GET /_sandbox/stats | jq -c .webhooks)"
  sb sandbox GET /_sandbox/stats | jq -e '.webhooks.retried >= 1' >/dev/null || fail "the sandbox did not retry the delivery"
  check_truth "delivery retried until the receiver was back" sandbox events "$SEQ4" "$N4" || return 1
}

case_no_secret_in_logs() {
  ! grep -q "e2e-token" "$E2E_DIR"/*.log || fail "a log contains the API token"
  ! grep -q "$SECRET" "$E2E_DIR"/*.log || fail "a log contains the workspace secret"
  grep -q "webhook accepted" "$E2E_DIR"/webhook*.log || fail "lmsync-webhook logged no accepted delivery"
}

case_shutdown() {
  proc_stop webhook
  proc_stop coordinator
  proc_stop worker
}

test_case start
test_case initial-sync
test_case native-changes
test_case virtual-changes
test_case rejections
test_case flood
test_case duplicate-and-reorder
test_case dropped-reconciled
test_case receiver-down
test_case no-secret-in-logs --needs start
test_case shutdown --needs start
run_cases
