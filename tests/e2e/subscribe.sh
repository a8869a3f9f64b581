#!/usr/bin/env bash
# End to end: the coordinator keeps Unified webhook subscriptions
# (webhook.subscribe, docs/webhooks.md) in the sandbox, for lmsync-webhook.
#   start              sandbox (successfactors_lms: native; udemy: virtual only), one foreign
#                      subscription, lmsync-webhook, pipeline with webhook.subscribe = native
#   native-created     one subscription per event (created, updated) per native connection,
#                      none for the others; the foreign one untouched; gauges and counters
#   explain            --explain says subscribed native / none, and why
#   restart            a restarted coordinator lists, changes nothing: same ids, no duplicates
#   recreated          one deleted by hand is created again within a refresh (its connection
#                      polled at the normal interval meanwhile)
#   deliveries         changes made in the sandbox arrive as mode webhook events equal to the
#                      ground truth; covered connections are polled at webhook.reconcile_interval_s
#   virtual            webhook.subscribe = native+virtual: virtual ones at the interval for udemy
#   list-fails         a 500 on the list: nothing deleted; after it, the pass catches up
# ctest-timeout: 180

source "$(dirname "$0")/lib.sh"
: "${LS_WEBHOOK:?LS_WEBHOOK not set}"
SECRET=e2e-workspace-secret-4711
FOREIGN=http://127.0.0.1:9/not-lmsync

# api METHOD PATH [JSON] : the sandbox's Unified API (with the token)
api() {
  curl -fsS -X "$1" -H 'authorization: Bearer e2e-token' ${3:+-H 'content-type: application/json' -d "$3"} \
    "$(sandbox_url sandbox)$2"
}
subs() { api GET '/unified/webhook?limit=100'; }
# owned KIND : lmsync's subscriptions of KIND as sorted "conn event interval" lines
owned() {
  subs | jq -r --arg u "$HOOK" --arg k "$1" \
    '.[] | select(.hook_url == $u and .webhook_type == $k) | "\(.connection_id) \(.event) \(.interval)"' | sort
}
owned_ids() { subs | jq -r --arg u "$HOOK" '[.[] | select(.hook_url == $u) | .id] | sort | join(",")'; }
# expected CONNS... : "conn created" and "conn updated" lines (interval appended by the caller's sed)
expected() { local c; for c in "$@"; do echo "$c created"; echo "$c updated"; done | sort; }
metric() { curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/coord.ops")/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
no_owned() { [ -z "$(owned "$1")" ]; }
metric_is() { [ "$(metric "$1")" = "$2" ]; }
log_count_at_least() { [ "$(grep -c "$1" "$(proc_log coordinator)")" -ge "$2" ]; }
same_owned() { [ "$(owned "$1" | cut -d' ' -f1,2)" = "$2" ]; }

# coord_restart MODE : the coordinator again, with webhook.subscribe = MODE
coord_restart() {
  proc_stop coordinator || return 1
  E2E_PID[coordinator]=""
  sed -i "s/^webhook.subscribe = .*/webhook.subscribe = $1/" "$E2E_DIR/lmsync.conf"
  rm -f "$E2E_DIR/coord.ops"
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_until 30 test -s "$E2E_DIR/coord.ops" || die "the coordinator wrote no ops.port_file"
}

case_start() {
  broker_start devbroker 4
  sandbox_start sandbox --seed 31 --connections 4 --students 3 --courses 2 --contents 2 \
    --providers successfactors_lms,udemy --tick-ms 0 --webhook-secret "$SECRET"
  NATIVE=($(api GET /unified/connection | jq -r '.[] | select(.integration_type == "successfactors_lms") | .id' | sort))
  OTHER=($(api GET /unified/connection | jq -r '.[] | select(.integration_type != "successfactors_lms") | .id' | sort))
  [ ${#NATIVE[@]} -eq 2 ] && [ ${#OTHER[@]} -eq 2 ] || die "expected 2 + 2 connections, got ${NATIVE[*]} / ${OTHER[*]}"
  api POST /unified/webhook "{\"connection_id\":\"${NATIVE[0]}\",\"object_type\":\"lms_activity\",\"event\":\"updated\",\"hook_url\":\"$FOREIGN\"}" \
    | jq -r .id >"$E2E_DIR/foreign.id" || die "foreign subscription refused"
  printf '%s\n' "$SECRET" >"$E2E_DIR/secret"
  write_config "$E2E_DIR/base.conf" sandbox devbroker "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 20"
  { cat "$E2E_DIR/base.conf"
    echo "webhook.listen = 127.0.0.1:0"; echo "webhook.port_file = $E2E_DIR/webhook.port"
    echo "webhook.secret_file = $E2E_DIR/secret"; echo "webhook.connections_refresh_s = 1"; } >"$E2E_DIR/webhook.conf"
  proc_start webhook "$LS_WEBHOOK" --config "$E2E_DIR/webhook.conf"
  wait_until 30 test -s "$E2E_DIR/webhook.port" || die "lmsync-webhook wrote no port file"
  HOOK="http://127.0.0.1:$(cat "$E2E_DIR/webhook.port")/webhook"
  { cat "$E2E_DIR/base.conf"
    echo "coordinator.interval_s = 2"; echo "coordinator.discovery_interval_s = 60"
    echo "webhook.subscribe = native"; echo "webhook.hook_url = $HOOK"; echo "webhook.subscribe_refresh_s = 2"
    echo "webhook.virtual_interval_min = 1"; echo "webhook.reconcile_interval_s = 3600"; } >"$E2E_DIR/worker.conf"
  # the coordinator's own ops port file (the worker would write its port into a shared one)
  { cat "$E2E_DIR/worker.conf"; echo "ops.listen = 127.0.0.1:0"; echo "ops.port_file = $E2E_DIR/coord.ops"; } \
    >"$E2E_DIR/lmsync.conf"
  tail_topic jobs devbroker lmsync.poll.jobs
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events devbroker lmsync.activity.changes
  tail_topic status devbroker lmsync.sync.status
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$E2E_DIR/worker.conf"
  proc_start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"
  wait_until 30 test -s "$E2E_DIR/coord.ops" || die "the coordinator wrote no ops.port_file"
}

case_native_created() {
  local want
  want=$(expected "${NATIVE[@]}")
  wait_until 20 same_owned native "$want" || die "native subscriptions not created within 20 s: $(owned native | tr '\n' ';')"
  [ -z "$(owned virtual)" ] || fail "virtual subscriptions with webhook.subscribe = native: $(owned virtual | tr '\n' ';')"
  subs | jq -e --arg id "$(cat "$E2E_DIR/foreign.id")" --arg u "$FOREIGN" 'any(.[]; .id == $id and .hook_url == $u)' \
    >/dev/null || fail "the foreign subscription was touched"
  [ "$(subs | jq length)" = 5 ] || fail "expected 4 owned + 1 foreign subscriptions, got $(subs | jq length)"
  wait_until 10 metric_is 'lmsync_coordinator_webhook_subscriptions{kind="native"}' 4 \
    || fail "gauge of native subscriptions is not 4: $(curl -fsS "http://127.0.0.1:$(cat "$E2E_DIR/coord.ops")/metrics" | grep webhook_sub | tr "\n" ";")"
  [ "$(metric 'lmsync_coordinator_webhook_subscription_changes_total{action="created"}')" = 4 ] \
    || fail "created counter is not 4"
  IDS=$(owned_ids)
  log "created: $(owned native | tr '\n' ';') (foreign $(cat "$E2E_DIR/foreign.id") kept)"
}

case_explain() {
  local out
  out=$("$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf" --explain "${NATIVE[0]}" 2>&1)
  grep -q "subscribed native: the integration has native lms_activity webhooks" <<<"$out" \
    || fail "--explain ${NATIVE[0]}: $(grep subscribed <<<"$out")"
  [ "$(grep -c "lmsync's (hook_url = webhook.hook_url)" <<<"$out")" = 2 ] || fail "--explain lists not 2 owned: $out"
  grep -q "foreign" <<<"$out" || fail "--explain does not show the foreign subscription"
  out=$("$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf" --explain "${OTHER[0]}" 2>&1)
  grep -q "subscribed none: the integration has no native lms_activity webhooks" <<<"$out" \
    || fail "--explain ${OTHER[0]}: $(grep subscribed <<<"$out")"
}

case_restart() {
  coord_restart native || return 1
  wait_until 20 metric_is 'lmsync_coordinator_webhook_subscriptions{kind="native"}' 4 \
    || fail "the restarted coordinator never counted its 4 subscriptions"
  sleep 3 # a second pass (refresh 2 s)
  [ "$(owned_ids)" = "$IDS" ] || fail "subscriptions changed across a restart: $IDS -> $(owned_ids)"
  [ "$(metric 'lmsync_coordinator_webhook_subscription_changes_total{action="created"}')" = 0 ] || fail "restart created some"
  [ "$(metric 'lmsync_coordinator_webhook_subscription_changes_total{action="deleted"}')" = 0 ] || fail "restart deleted some"
}

case_recreated() {
  local gone
  gone=$(subs | jq -r --arg u "$HOOK" --arg c "${NATIVE[1]}" '[.[] | select(.hook_url == $u and .connection_id == $c)][0].id')
  api DELETE "/unified/webhook/$gone" >/dev/null || die "cannot delete $gone"
  wait_until 10 same_owned native "$(expected "${NATIVE[@]}")" || fail "$gone not recreated within 10 s"
  log_count_at_least '1 connections not covered any more' 1 || fail "losing a subscription did not uncover its connection"
  wait_until 5 log_count_at_least 'webhook subscription wh-.* created' 1 || fail "no log line of the new subscription"
  grep 'webhook subscription wh-.* created' "$(proc_log coordinator)" | tail -1 | sed 's/.*webhook/webhook/' | as_comment
}

wh_modes() { tail -n +"$(($1 + 1))" "$(topic_file events)" | jq -r '.value.observed.mode' | sort | uniq -c | tr '\n' ' '; }
# polls CONN : poll jobs (not webhook) of CONN so far
polls() { jq -r --arg c "$1" 'select(.value.connection_id == $c and .value.mode != "webhook") | .value.job_id' "$(topic_file jobs)" | wc -l; }

polled_more() { [ "$(polls "$1")" -ge "$2" ]; }

case_deliveries() {
  local a b n0 seq0 p0 q0
  wait_round status "$((T0 - 1))" 60 "${NATIVE[@]}" "${OTHER[@]}"
  sleep 3 # a covered connection's next poll is an hour away now
  topic_caught_up events; n0=$(topic_count events); seq0=$(truth_seq sandbox)
  p0=$(polls "${NATIVE[0]}"); q0=$(polls "${OTHER[0]}")
  a=$(sb_pick sandbox "${NATIVE[0]}" '.is_completed != true' 0); b=$(sb_pick sandbox "${NATIVE[1]}" '.is_completed != true' 0)
  [ -n "$a" ] && [ -n "$b" ] || die "seed lacks activities to change"
  sb_set sandbox "${NATIVE[0]}" "$a" '{"duration_minutes":311}'
  sb_set sandbox "${NATIVE[1]}" "$b" "{\"is_completed\":true,\"completed_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  sb_set sandbox "${NATIVE[1]}" "new-act-1" "$(sb_acts sandbox "${NATIVE[1]}" | jq -c '.[0] | {student_id, course_id, duration_minutes: 5}')"
  wait_until 10 count_at_least events "$((n0 + 3))" || fail "changes not events within 10 s (modes: $(wh_modes "$n0"))"
  check_truth "webhook deliveries" sandbox events "$seq0" "$n0" || return 1
  [ "$(wh_modes "$n0")" = "      3 webhook " ] || fail "events not from webhook jobs: $(wh_modes "$n0")"
  wait_until 15 polled_more "${OTHER[0]}" "$((q0 + 1))" || fail "uncovered ${OTHER[0]} not polled again within 15 s (interval 2 s)"
  [ "$(polls "${NATIVE[0]}")" = "$p0" ] || fail "covered ${NATIVE[0]} was polled: $p0 -> $(polls "${NATIVE[0]}") jobs"
  log "meanwhile: covered ${NATIVE[0]} $p0 -> $(polls "${NATIVE[0]}") poll jobs; uncovered ${OTHER[0]} $q0 -> $(polls "${OTHER[0]}")"
}

case_virtual() {
  coord_restart native+virtual || return 1
  wait_until 20 same_owned virtual "$(expected "${OTHER[@]}")" || fail "virtual subscriptions not created: $(owned virtual | tr '\n' ';')"
  [ "$(owned virtual | awk '{print $3}' | sort -u)" = 1 ] || fail "virtual interval is not webhook.virtual_interval_min (1)"
  same_owned native "$(expected "${NATIVE[@]}")" || fail "native subscriptions changed"
  wait_until 10 metric_is 'lmsync_coordinator_webhook_subscriptions{kind="virtual"}' 4 || fail "virtual gauge is not 4"
}

case_list_fails() {
  local before
  before=$(owned_ids)
  sb sandbox POST /_sandbox/faults '{"connection_id":"*","kind":"status","status":500,"path":"webhook","count":-1}' >/dev/null
  coord_restart native || return 1 # virtual ones are not wanted any more: only a complete list may delete them
  wait_until 15 log_count_at_least 'list at offset 0 failed' 2 \
    || fail "no failed list logged twice"
  [ "$(metric lmsync_coordinator_webhook_subscription_errors_total)" -ge 2 ] || fail "errors counter below 2"
  [ "$(metric 'lmsync_coordinator_webhook_subscription_changes_total{action="deleted"}')" = 0 ] || fail "deleted on a failed list"
  sb sandbox DELETE /_sandbox/faults >/dev/null
  [ "$(owned_ids)" = "$before" ] || fail "subscriptions changed while the list failed"
  grep 'list at offset 0 failed' "$(proc_log coordinator)" | tail -1 | sed 's/.*webhook subscriptions/webhook subscriptions/' | as_comment
  wait_until 40 no_owned virtual || fail "virtual subscriptions not deleted once the list answered"
  same_owned native "$(expected "${NATIVE[@]}")" || fail "native subscriptions changed"
  wait_until 5 metric_is 'lmsync_coordinator_webhook_subscription_changes_total{action="deleted"}' 4 || fail "deleted counter not 4"
  subs | jq -e --arg id "$(cat "$E2E_DIR/foreign.id")" 'any(.[]; .id == $id)' >/dev/null || fail "the foreign one is gone"
}

test_case start
test_case native-created
test_case explain
test_case restart --needs native-created
test_case recreated
test_case deliveries --needs recreated
test_case virtual --needs deliveries
test_case list-fails
run_cases
