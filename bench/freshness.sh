#!/usr/bin/env bash
# bench/freshness.sh - how long an upstream change takes to become an event on
# lmsync.activity.changes, with a fixed poll interval and with webhooks
# (docs/performance.md, "Freshness").
#
#   bash bench/freshness.sh [--smoke] [BUILD_DIR]
#
# Per scenario: a fresh devbroker, sandbox (N successfactors_lms connections:
# native webhooks), worker and coordinator (coordinator.interval_s = INTERVAL);
# the "webhooks" scenario adds lmsync-webhook, and the coordinator subscribes
# it (webhook.subscribe = native: lms_activity created + updated per
# connection; polling goes on every webhook.reconcile_interval_s, 4 x INTERVAL:
# it reconciles). The bench makes RATE changes
# per second through the sandbox's mutation clock (POST /_sandbox/tick
# {"count":1}, one random mutation of the world), for DURATION seconds,
# noting the wall-clock millisecond each change was made; then waits until
# every change has its event (at most one interval more). For each ground-truth
# change (not `touched`: no event is expected) the delay is the broker
# timestamp of the first event of the same activity produced at or after the
# change, minus the change's instant. Reports p50, p90, p99 and max of the
# delays, the changes without an event, and the upstream requests the
# pipeline spent (the sandbox's /_sandbox/stats requests).
# --smoke: 2 connections, 10 s at 2 changes/s, interval 5 s (full: 8 connections, 60 s at 4/s, interval 30 s); asserts that every
# change got an event with webhooks and that webhooks beat polling at p50.
set -uo pipefail
SMOKE=0
[ "${1:-}" = "--smoke" ] && { SMOKE=1; shift; }
BUILD=$(cd "${1:-build}" && pwd)
export LS_DEVBROKER=$BUILD/devbroker/lmsync-devbroker LS_SANDBOX=$BUILD/sandbox/lmsync-sandbox \
  LS_COORDINATOR=$BUILD/coordinator/lmsync-coordinator LS_WORKER=$BUILD/worker/lmsync-worker \
  LS_TAIL=$BUILD/tools/lmsync-tail LS_WEBHOOK=$BUILD/webhook/lmsync-webhook
source "$(dirname "$0")/../tests/e2e/lib.sh"
if [ $SMOKE -eq 1 ]; then N=2; DURATION=10; RATE=2; INTERVAL=5; else N=8; DURATION=60; RATE=4; INTERVAL=30; fi
SECRET=bench-workspace-secret
trap stop_all EXIT

# drive RUN : RATE changes/s for DURATION s through the mutation clock; RUN.made gets "seq ms" per change
drive() {
  local run=$1 i n=$((DURATION * RATE)) t0 due now
  t0=$(date +%s%3N)
  for ((i = 0; i < n; i++)); do
    due=$((t0 + i * 1000 / RATE)); now=$(date +%s%3N)
    [ "$now" -lt "$due" ] && sleep "$(bc <<<"scale=3; ($due - $now) / 1000")"
    sb "$run" POST /_sandbox/tick '{"count":1}' | jq -r --arg ms "$(date +%s%3N)" '.changes[] | "\(.seq) \($ms)"' \
      >>"$E2E_DIR/$run.made"
  done
}

# subscribed RUN HOOK COUNT : the sandbox lists COUNT subscriptions to HOOK (the coordinator's)
subscribed() {
  [ "$(curl -fsS -H 'authorization: Bearer e2e-token' "$(sandbox_url "$1")/unified/webhook?limit=100" \
      | jq --arg u "$2" '[.[] | select(.hook_url == $u)] | length')" = "$3" ]
}

# delays RUN : the delays (ms) as a JSON array, and the changes without an event
delays() {
  local run=$1
  sb "$run" GET "/_sandbox/changes?since=$(($(head -1 "$E2E_DIR/$run.made" | cut -d' ' -f1)))&limit=1000000" \
    >"$E2E_DIR/$run.truth"
  jq -s --slurpfile t "$E2E_DIR/$run.truth" --rawfile made "$E2E_DIR/$run.made" '
    ($made | split("\n") | map(select(length > 0) | split(" ") | {key: .[0], value: (.[1] | tonumber)}) | from_entries) as $at
    | . as $ev
    | (reduce $ev[] as $e ({}; .["\($e.value.connection_id)/\($e.value.activity_id)"] += [$e.timestamp_ms])) as $by
    | [$t[0].changes[] | select(.type != "touched") | select($at[(.seq | tostring)] != null)
       | $at[(.seq | tostring)] as $made_ms
       | ([$by["\(.connection_id)/\(.activity_id)"][]? | select(. >= $made_ms - 5)] | min) as $seen
       | if $seen == null then "missing" else ($seen - $made_ms) end]
    | {delays: map(select(. != "missing")) | sort, missing: map(select(. == "missing")) | length}' \
    "$(topic_file "$run-events")"
}

pct() { jq -r --argjson p "$2" '.delays as $d | if ($d | length) == 0 then "-" else
  ($d[(((($d | length) - 1) * $p / 100) | floor)] / 1000 * 100 | round / 100) end' <<<"$1"; }

scenario() {
  local run=$1 webhooks=$2 c conf="$E2E_DIR/$1.conf" subs="" t_end req hook wait_s=$((INTERVAL + 60))
  broker_start "$run-broker" 4
  sandbox_start "$run" --seed 31 --connections "$N" --students 4 --courses 3 --contents 3 \
    --providers successfactors_lms --tick-ms 0 --webhook-secret "$SECRET"
  write_config "$conf" "$run" "$run-broker" "coordinator.interval_s = $INTERVAL" "coordinator.discovery_interval_s = 3600" \
    "worker.lmdb_path = $E2E_DIR/$run-lmdb" "worker.page_limit = 100" "log.level = warn"
  export UNIFIED_API_TOKEN=e2e-token
  local conns=(); for ((c = 1; c <= N; c++)); do conns+=("$(printf 'conn-%04d' "$c")"); done
  if [ "$webhooks" = 1 ]; then # lmsync-webhook first: the coordinator subscribes its URL
    printf '%s\n' "$SECRET" >"$E2E_DIR/secret"
    { cat "$conf"; echo "webhook.listen = 127.0.0.1:0"; echo "webhook.port_file = $E2E_DIR/$run.whport"
      echo "webhook.secret_file = $E2E_DIR/secret"; echo "webhook.connections_refresh_s = 1"
      echo "log.level = info"; } >"$conf.wh"
    proc_start "$run-webhook" "$LS_WEBHOOK" --config "$conf.wh"
    wait_until 30 test -s "$E2E_DIR/$run.whport" || die "lmsync-webhook wrote no port file"
    hook="http://127.0.0.1:$(cat "$E2E_DIR/$run.whport")/webhook"
    { echo "webhook.subscribe = native"; echo "webhook.hook_url = $hook"; } >>"$conf"
    # polling only reconciles: covered connections are polled every webhook.reconcile_interval_s (4 x INTERVAL)
    wait_s=$((4 * INTERVAL + 60))
  fi
  tail_topic "$run-events" "$run-broker" lmsync.activity.changes
  tail_topic "$run-status" "$run-broker" lmsync.sync.status
  local t0; t0=$(date +%s)
  proc_start "$run-worker" "$LS_WORKER" --config "$conf"
  proc_start "$run-coordinator" "$LS_COORDINATOR" --config "$conf"
  wait_round "$run-status" "$((t0 - 1))" $((INTERVAL + 60)) "${conns[@]}"
  if [ "$webhooks" = 1 ]; then
    wait_until 30 grep -q "known connections: $N" "$(proc_log "$run-webhook")" || die "lmsync-webhook does not know the connections"
    wait_until 30 subscribed "$run" "$hook" $((2 * N)) || die "the coordinator did not subscribe the $N connections (created, updated)"
    subs=" + webhooks"
  fi
  sb "$run" POST /_sandbox/stats/reset >/dev/null
  : >"$E2E_DIR/$run.made"
  drive "$run"
  t_end=$(date +%s)
  # every change has its event once a full poll round after the last change is done
  wait_round "$run-status" "$t_end" "$wait_s" "${conns[@]}"
  topic_caught_up "$run-events"
  req=$(sb "$run" GET /_sandbox/stats | jq '.requests')
  local d; d=$(delays "$run")
  printf '| %s | %d s%s | %d | %s | %s | %s | %s | %d | %d |\n' "$run" "$INTERVAL" "$subs" "$(jq '.delays | length' <<<"$d")" \
    "$(pct "$d" 50)" "$(pct "$d" 90)" "$(pct "$d" 99)" "$(pct "$d" 100)" "$(jq .missing <<<"$d")" "$req" \
    | tee -a "$E2E_DIR/table"
  P50[$run]=$(jq -r '.delays as $d | if ($d | length) == 0 then 1e9 else $d[(($d | length) - 1) / 2 | floor] end' <<<"$d")
  MISSING[$run]=$(jq .missing <<<"$d")
  local h; for h in "$run-webhook" "$run-coordinator" "$run-worker" "$run-events-tail" "$run-status-tail" "$run" "$run-broker"; do
    [ -n "${E2E_PID[$h]:-}" ] && kill -TERM "${E2E_PID[$h]}" 2>/dev/null
  done
  sleep 2
}

declare -A P50=() MISSING=()
echo "# freshness: $N successfactors_lms connections, $RATE changes/s for $DURATION s ($(nproc) cores, $(uname -m))"
echo "| scenario | poll interval | changes | p50 s | p90 s | p99 s | max s | without event | upstream requests |"
echo "|---|---|---|---|---|---|---|---|---|"
scenario polling 0
scenario webhooks 1
if [ $SMOKE -eq 1 ]; then
  rc=0
  # polling may miss a change that a later one undid before the next poll; webhooks deliver every state
  [ "${MISSING[webhooks]}" = 0 ] || { echo "# FAIL: ${MISSING[webhooks]} changes without an event with webhooks"; rc=1; }
  [ "${P50[webhooks]}" -lt "${P50[polling]}" ] || { echo "# FAIL: webhooks p50 ${P50[webhooks]} ms not below polling's ${P50[polling]} ms"; rc=1; }
  exit $rc
fi
