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
# --skewed: 20 connections, the sandbox's --hot-connections 10 --hot-share 90
# (conn-0001 and conn-0002 get 90 % of the changes), 1 change/s for 120 s;
# scenarios "fixed" (interval 60 s), "adaptive" (polling.adaptive = 1,
# min 10 s, max 240 s, starting at 60 s), "adaptive_narrow" (min 15 s,
# max 60 s) and "adaptive_webhooks" (the same + lmsync-webhook and native
# subscriptions), side by side. "upstream requests while changing" are the
# sandbox's requests from the stats reset to the last change (the same
# window for every scenario); "upstream requests" include the final round,
# which lasts up to max_interval_s. --skewed --smoke:
# 4 connections (conn-0001 hot), 12 s at 3/s, adaptive min 1 s max 16 s,
# scenarios "adaptive" and "budget" (+ polling.budget_per_hour = 360: not
# even every scope at max fits, so the bucket holds jobs back);
# asserts that the hot connection got more jobs than any quiet one, that
# the budget stretched intervals (scopes_by_interval_reason{reason=
# "budget:deployment"} seen) and that the upstream requests stayed within
# the budget's bucket (one minute's worth + 0.1/s over the measured time).
set -uo pipefail
SMOKE=0 SKEWED=0
while [ $# -gt 0 ]; do
  case "$1" in --smoke) SMOKE=1; shift ;; --skewed) SKEWED=1; shift ;; *) break ;; esac
done
BUILD=$(cd "${1:-build}" && pwd)
export LS_DEVBROKER=$BUILD/devbroker/lmsync-devbroker LS_SANDBOX=$BUILD/sandbox/lmsync-sandbox \
  LS_COORDINATOR=$BUILD/coordinator/lmsync-coordinator LS_WORKER=$BUILD/worker/lmsync-worker \
  LS_TAIL=$BUILD/tools/lmsync-tail LS_WEBHOOK=$BUILD/webhook/lmsync-webhook
source "$(dirname "$0")/../tests/e2e/lib.sh"
if [ $SMOKE -eq 1 ]; then N=2; DURATION=10; RATE=2; INTERVAL=5; else N=8; DURATION=60; RATE=4; INTERVAL=30; fi
SB_EXTRA=() MAXWAIT=0
if [ $SKEWED -eq 1 ] && [ $SMOKE -eq 1 ]; then
  N=4; DURATION=12; RATE=3; INTERVAL=4; MIN=1; MAX=16; SB_EXTRA=(--hot-connections 25 --hot-share 90)
elif [ $SKEWED -eq 1 ]; then
  N=20; DURATION=120; RATE=1; INTERVAL=60; MIN=10; MAX=240; SB_EXTRA=(--hot-connections 10 --hot-share 90)
fi
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

# scenario RUN WEBHOOKS [CONFIG_LINES...] : one measured run; the lines go into its config
scenario() {
  local run=$1 webhooks=$2 c conf="$E2E_DIR/$1.conf" subs="" t_end req hook; shift 2
  local wait_s=$((INTERVAL + 60)) label="$INTERVAL s" lo hi
  if [[ " $* " == *"polling.adaptive = 1"* ]]; then
    lo=$(printf '%s\n' "$@" | sed -n 's/polling.min_interval_s = //p'); hi=$(printf '%s\n' "$@" | sed -n 's/polling.max_interval_s = //p')
    wait_s=$((hi + 60)); label="adaptive $lo-$hi s"
  fi
  [[ " $* " == *"budget_per_hour"* ]] && label="$label, $(printf '%s\n' "$@" | sed -n 's/polling.budget_per_hour = //p')/h"
  broker_start "$run-broker" 4
  sandbox_start "$run" --seed 31 --connections "$N" --students 4 --courses 3 --contents 3 \
    --providers successfactors_lms --tick-ms 0 --webhook-secret "$SECRET" "${SB_EXTRA[@]}"
  write_config "$conf" "$run" "$run-broker" "coordinator.interval_s = $INTERVAL" "coordinator.discovery_interval_s = 3600" \
    "worker.lmdb_path = $E2E_DIR/$run-lmdb" "worker.page_limit = 100" "log.level = warn" "$@"
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
    [ "$wait_s" -lt $((4 * INTERVAL + 60)) ] && wait_s=$((4 * INTERVAL + 60))
  fi
  tail_topic "$run-events" "$run-broker" lmsync.activity.changes
  tail_topic "$run-status" "$run-broker" lmsync.sync.status
  local t0; t0=$(date +%s)
  proc_start "$run-worker" "$LS_WORKER" --config "$conf"
  { cat "$conf"; echo "ops.listen = 127.0.0.1:0"; echo "ops.port_file = $E2E_DIR/$run.ops"; } >"$conf.coord"
  proc_start "$run-coordinator" "$LS_COORDINATOR" --config "$conf.coord"
  wait_round "$run-status" "$((t0 - 1))" $((INTERVAL + 60)) "${conns[@]}"
  if [ "$webhooks" = 1 ]; then
    wait_until 30 grep -q "known connections: $N" "$(proc_log "$run-webhook")" || die "lmsync-webhook does not know the connections"
    wait_until 30 subscribed "$run" "$hook" $((2 * N)) || die "the coordinator did not subscribe the $N connections (created, updated)"
    subs=" + webhooks"
  fi
  sb "$run" POST /_sandbox/stats/reset >/dev/null
  local t_reset; t_reset=$(date +%s%3N)
  : >"$E2E_DIR/$run.made"
  drive "$run" &
  local driver=$!
  while kill -0 "$driver" 2>/dev/null; do sample_reasons "$run"; sleep 1; done
  t_end=$(date +%s)
  local req_drive; req_drive=$(sb "$run" GET /_sandbox/stats | jq '.requests')
  # every change has its event once a full poll round after the last change is done
  wait_round "$run-status" "$t_end" "$wait_s" "${conns[@]}"
  topic_caught_up "$run-events"
  req=$(sb "$run" GET /_sandbox/stats | jq '.requests')
  ELAPSED_MS[$run]=$(($(date +%s%3N) - t_reset)); REQ[$run]=$req
  JOBS[$run]=$(jq -s -c --argjson s "$((t_reset / 1000))" "$JQ_STARTED"'[.[] | .value | select(type == "object" and .started_at != null)
      | select(poll and started >= $s) | .connection_id]
      | group_by(.) | map({key: .[0], value: length}) | from_entries' "$(topic_file "$run-status")")
  local d; d=$(delays "$run")
  printf '| %s | %s%s | %d | %s | %s | %s | %s | %d | %d | %d |\n' "$run" "$label" "$subs" "$(jq '.delays | length' <<<"$d")" \
    "$(pct "$d" 50)" "$(pct "$d" 90)" "$(pct "$d" 99)" "$(pct "$d" 100)" "$(jq .missing <<<"$d")" "$req_drive" "$req" \
    | tee -a "$E2E_DIR/table"
  P50[$run]=$(jq -r '.delays as $d | if ($d | length) == 0 then 1e9 else $d[(($d | length) - 1) / 2 | floor] end' <<<"$d")
  MISSING[$run]=$(jq .missing <<<"$d")
  local h; for h in "$run-webhook" "$run-coordinator" "$run-worker" "$run-events-tail" "$run-status-tail" "$run" "$run-broker"; do
    [ -n "${E2E_PID[$h]:-}" ] && kill -TERM "${E2E_PID[$h]}" 2>/dev/null
  done
  sleep 2
}

# sample_reasons RUN : note the coordinator's scopes_by_interval_reason gauges (RUN.reasons)
sample_reasons() {
  local port; port=$(cat "$E2E_DIR/$1.ops" 2>/dev/null) || return 0
  curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep '^lmsync_coordinator_scopes_by_interval_reason' \
    >>"$E2E_DIR/$1.reasons" || true
}

declare -A P50=() MISSING=() ELAPSED_MS=() REQ=() JOBS=()
echo "# freshness: $N successfactors_lms connections, $RATE changes/s for $DURATION s${SB_EXTRA[*]:+ (sandbox ${SB_EXTRA[*]})} ($(nproc) cores, $(uname -m))"
echo "| scenario | poll interval | changes | p50 s | p90 s | p99 s | max s | without event | upstream requests while changing | upstream requests |"
echo "|---|---|---|---|---|---|---|---|---|---|"
if [ $SKEWED -eq 1 ]; then
  ADAPT=("polling.adaptive = 1" "polling.min_interval_s = $MIN" "polling.max_interval_s = $MAX")
  if [ $SMOKE -eq 1 ]; then
    scenario adaptive 0 "${ADAPT[@]}"
    scenario budget 0 "${ADAPT[@]}" "polling.budget_per_hour = 360"
  else
    NARROW=("polling.adaptive = 1" "polling.min_interval_s = 15" "polling.max_interval_s = 60")
    scenario fixed 0
    scenario adaptive 0 "${ADAPT[@]}"
    scenario adaptive_narrow 0 "${NARROW[@]}"
    scenario adaptive_webhooks 1 "${NARROW[@]}"
  fi
  for r in "${!JOBS[@]}"; do echo "# jobs per connection in $r (from the stats reset on): ${JOBS[$r]}"; done
  [ $SMOKE -eq 1 ] || exit 0
  rc=0
  hot=$(jq '."conn-0001" // 0' <<<"${JOBS[adaptive]}")
  coldmax=$(jq '[to_entries[] | select(.key != "conn-0001") | .value] | max // 0' <<<"${JOBS[adaptive]}")
  [ "$hot" -gt "$coldmax" ] || { echo "# FAIL: the hot connection got $hot jobs, a quiet one $coldmax"; rc=1; }
  bound=$((360 / 60 + ELAPSED_MS[budget] / 10000))
  echo "# budget: ${REQ[budget]} upstream requests in $((ELAPSED_MS[budget] / 1000)) s, bound $bound"
  [ "${REQ[budget]}" -le "$bound" ] || { echo "# FAIL: ${REQ[budget]} requests above the budget's $bound"; rc=1; }
  grep -q 'reason="budget:deployment"} [1-9]' "$E2E_DIR/budget.reasons" 2>/dev/null ||
    { echo "# FAIL: no scope was ever stretched by the deployment budget"; rc=1; }
  exit $rc
fi
scenario polling 0
scenario webhooks 1
if [ $SMOKE -eq 1 ]; then
  rc=0
  # polling may miss a change that a later one undid before the next poll; webhooks deliver every state
  [ "${MISSING[webhooks]}" = 0 ] || { echo "# FAIL: ${MISSING[webhooks]} changes without an event with webhooks"; rc=1; }
  [ "${P50[webhooks]}" -lt "${P50[polling]}" ] || { echo "# FAIL: webhooks p50 ${P50[webhooks]} ms not below polling's ${P50[polling]} ms"; rc=1; }
  exit $rc
fi
