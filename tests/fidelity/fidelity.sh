#!/usr/bin/env bash
# ctest-name: fidelity.matrix
# Fidelity suite (docs/fidelity.md): one sandbox, one
# devbroker, one coordinator and one worker pool; every matrix cell
# (provider x mutation scenario x fault) is its own sandbox connection.
#
#   start          devbroker, sandbox (one connection a cell), tails, worker, coordinator
#                  (webhooks mode: also lmsync-webhook, webhook.subscribe = native+virtual)
#   initial-sync   every cell has an ok job (webhooks mode: and every cell whose
#                  provider has webhooks its two subscriptions, created + updated)
#   round-1..4     each cell's scenario step and fault through the control API
#                  (webhooks mode: plus delivery faults: drop, duplicate, reorder),
#                  then wait until every cell reported a job started after it
#   confirmation   faults cleared; every cell has two complete full scans
#                  (outcome ok, mode full) started after the clear
#   score          every cell against the ground truth (score.jq): the table;
#                  fails when a cell has an invented event, a missed change or a
#                  false removal
#   shutdown       SIGTERM stops coordinator and worker (and lmsync-webhook) cleanly
#
# Environment: LS_DEVBROKER LS_SANDBOX LS_COORDINATOR LS_WORKER LS_TAIL (ctest),
# optional FIDELITY_PROVIDERS / FIDELITY_SCENARIOS / FIDELITY_FAULTS (space
# separated) to run a sub-matrix, FIDELITY_KEEP=DIR (or E2E_KEEP=DIR) to keep the raw files,
# FIDELITY_WEBHOOKS=1 for the webhooks mode (needs LS_WEBHOOK).
source "$(dirname "$0")/../e2e/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
E2E_KEEP=${E2E_KEEP:-${FIDELITY_KEEP:-}}

read -r -a PROVIDERS <<<"${FIDELITY_PROVIDERS:-coursera go1 learnupon d2l successfactors_lms udemy docebo moodle sandbox_course_required}"
read -r -a SCENARIOS <<<"${FIDELITY_SCENARIOS:-steady burst delete recreate scanshift wmedge fields}"
read -r -a FAULTS <<<"${FIDELITY_FAULTS:-none 5xx 429 trunc}"
ROUNDS=4
WEBHOOKS=${FIDELITY_WEBHOOKS:-0}
WH_SECRET=fidelity-workspace-secret
WH_FAULTS='{"drop":2,"duplicate":2,"reorder":2}'   # the delivery faults of every round
PER_PROV=$(( ${#SCENARIOS[@]} * ${#FAULTS[@]} ))
NCELLS=$(( ${#PROVIDERS[@]} * PER_PROV ))
SUITE_T0=$(date +%s)
export UNIFIED_API_TOKEN=e2e-token

# cells_with SINCE WHAT : cells with WHAT = any (a reported job), ok (outcome
# ok) or full2 (two ok full scans), every job counted started at or after SINCE
cells_with() {
  jq -s --argjson s "$1" --arg w "$2" "$JQ_STARTED"'
    [.[] | .value | select(started >= $s)
     | select($w == "any" or (.outcome == "ok" and ($w == "ok" or .mode == "full")))]
    | group_by(.connection_id) | map(select(length >= (if $w == "full2" then 2 else 1 end))) | length' \
    "$(topic_file status)" 2>/dev/null || echo 0
}
all_cells_with() { [ "$(cells_with "$1" "$2")" -ge "$NCELLS" ]; }
# wait_cells SINCE SECONDS WHAT : until every cell has WHAT (see cells_with)
wait_cells() {
  wait_until_every 1 "$2" all_cells_with "$1" "$3" && return 0
  fail "after ${2}s only $(cells_with "$1" "$3") of $NCELLS cells have '$3' jobs since $1"
  return 1
}

# run_calls FILE : every TSV line "METHOD PATH BODY" as one curl transfer (one process)
run_calls() {
  local f=$1 cfg="$E2E_DIR/calls.curl" n bad
  n=$(wc -l <"$f")
  [ "$n" -gt 0 ] || return 0
  jq -R -r --arg base "$(sandbox_url sandbox)" 'split("\t") |
    "url = \(($base + .[1]) | tojson)\nrequest = \(.[0] | tojson)\n" +
    (if (.[2] // "") != "" then "header = \"content-type: application/json\"\ndata = \(.[2] | tojson)\n" else "" end) +
    "output = \"/dev/null\"\nwrite-out = \"%{http_code}\\n\"\nnext"' "$f" | sed '$d' >"$cfg"
  curl -sS -K "$cfg" >"$E2E_DIR/calls.out" 2>&1
  bad=$(grep -v '^200$' "$E2E_DIR/calls.out" | sort | uniq -c | head -n 5)
  [ -z "$bad" ] || die "control API refused calls: $bad"
  log "$n control-API calls applied"
}

# fetch_acts DIR : GET /_sandbox/activities of every cell into DIR/<conn>.json
fetch_acts() {
  local d=$1 cfg="$E2E_DIR/acts.curl" c
  rm -rf "$d"; mkdir -p "$d"
  for c in "${CONNS[@]}"; do
    printf 'url = "%s/_sandbox/activities?connection_id=%s"\noutput = "%s/%s.json"\nnext\n' \
      "$(sandbox_url sandbox)" "$c" "$d" "$c"
  done | sed '$d' >"$cfg"
  curl -sS -K "$cfg" || die "cannot read the sandbox's activities"
  jq -e -s 'all(.[]; type == "array")' "$d"/*.json >/dev/null || die "bad activities answer in $d"
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- the matrix: cell i (0-based) is connection conn-<i+1>
case_start() {
  local p s f i plist="" conf_lines
  for p in "${PROVIDERS[@]}"; do plist+="${plist:+,}$p*$PER_PROV"; done
  {
    i=0
    for p in "${PROVIDERS[@]}"; do for s in "${SCENARIOS[@]}"; do for f in "${FAULTS[@]}"; do
      i=$((i + 1)); printf '%s\t%s\t%s\t%s\n' "$(printf 'conn-%04d' "$i")" "$p" "$s" "$f"
    done; done; done
  } | jq -R -s '[split("\n")[] | select(length > 0) | split("\t")
                 | {conn: .[0], provider: .[1], scenario: .[2], fault: .[3]}]' >"$E2E_DIR/cells0.json"
  mapfile -t CONNS < <(jq -r '.[].conn' "$E2E_DIR/cells0.json")
  log "matrix: ${#PROVIDERS[@]} providers x ${#SCENARIOS[@]} scenarios x ${#FAULTS[@]} faults = $NCELLS connections"

  local sb_wh=()
  [ "$WEBHOOKS" = 1 ] && sb_wh=(--webhook-secret "$WH_SECRET")
  broker_start devbroker 6
  sandbox_start sandbox --seed 23 --connections "$NCELLS" --students 3 --courses 2 --contents 2 \
    --providers "$plist" --tick-ms 0 --log-level warn "${sb_wh[@]}"
  conf_lines=("coordinator.interval_s = 3" "coordinator.discovery_interval_s = 600"
              "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 4" "worker.processes = 6"
              "unified.max_retries = 2")
  # The incremental mode: ask for a full reconciliation every 2nd job, but
  # only when this build knows the setting.
  write_config "$E2E_DIR/probe.conf" sandbox devbroker "${conf_lines[@]}" "coordinator.full_every = 2"
  if "$LS_COORDINATOR" --config "$E2E_DIR/probe.conf" --check-config >/dev/null 2>&1; then
    conf_lines+=("coordinator.full_every = 2"); log "coordinator.full_every = 2 accepted"
  else
    log "coordinator.full_every not known to this build: every job is a full scan"
  fi
  [ "$WEBHOOKS" = 1 ] && { webhook_start || return 1; }
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "${conf_lines[@]}"
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
}

# ---- the webhooks mode (docs/fidelity.md)
# webhook_start : lmsync-webhook on an ephemeral port; adds the coordinator's
# subscription settings to conf_lines (the caller's). Virtual subscriptions
# get the shortest interval the coordinator can ask for (1 minute); covered
# connections are still polled every 6 s, so polling reconciles what a
# dropped delivery lost.
webhook_start() {
  : "${LS_WEBHOOK:?LS_WEBHOOK not set}"
  printf '%s\n' "$WH_SECRET" >"$E2E_DIR/secret"
  write_config "$E2E_DIR/webhook.conf" sandbox devbroker "webhook.listen = 127.0.0.1:0" \
    "webhook.port_file = $E2E_DIR/webhook.port" "webhook.secret_file = $E2E_DIR/secret" \
    "webhook.connections_refresh_s = 1"
  proc_start webhook "$LS_WEBHOOK" --config "$E2E_DIR/webhook.conf"
  wait_until 30 test -s "$E2E_DIR/webhook.port" || die "lmsync-webhook wrote no port file"
  HOOK="http://127.0.0.1:$(cat "$E2E_DIR/webhook.port")/webhook"
  conf_lines+=("webhook.subscribe = native+virtual" "webhook.hook_url = $HOOK" "webhook.subscribe_refresh_s = 2"
               "webhook.virtual_interval_min = 1" "webhook.reconcile_interval_s = 6")
  log "lmsync-webhook at $HOOK; webhook.subscribe = native+virtual"
}

# unified_get PATH : the sandbox's Unified API, with the token
unified_get() { curl -fsS -H "authorization: Bearer $UNIFIED_API_TOKEN" "$(sandbox_url sandbox)$1"; }
# wh_expected : "conn event kind" lines the coordinator should keep: per cell
# whose integration has lms_activity webhooks, native if it has native ones, else virtual
wh_expected() {
  unified_get /unified/integration | jq -r --slurpfile cells "$E2E_DIR/cells0.json" '
    (map({key: .type, value: (.support.lms_activity.webhook_events.updated // [])}) | from_entries) as $wh
    | $cells[0][] | ($wh[.provider] // []) as $k | select($k | length > 0)
    | (if ($k | index("native")) then "native" else "virtual" end) as $kind
    | "\(.conn) created \($kind)", "\(.conn) updated \($kind)"' | sort
}
wh_owned() {
  unified_get '/unified/webhook?limit=10000' | jq -r --arg u "$HOOK" \
    '.[] | select(.hook_url == $u) | "\(.connection_id) \(.event) \(.webhook_type)"' | sort
}
wh_subscribed() { [ "$(wh_owned)" = "$1" ]; }
wait_subscriptions() {
  local want
  want=$(wh_expected)
  [ -n "$want" ] || { log "no cell's integration has webhooks: nothing to subscribe"; return 0; }
  wait_until_every 1 60 wh_subscribed "$want" \
    || die "subscriptions not as expected within 60 s: want $(wc -l <<<"$want"), have $(wh_owned | wc -l)"
  log "subscriptions: $(awk '{print $3}' <<<"$want" | sort | uniq -c | tr '\n' ' ')(created + updated per cell)"
}

case_initial_sync() {
  wait_cells "$((T0 - 1))" 240 ok || exit 1
  [ "$WEBHOOKS" = 1 ] && wait_subscriptions
  topic_caught_up events
  SEQ0=$(sb sandbox GET /_sandbox/stats | jq '.next_change_seq - 1')
  EV0=$(topic_count events)
  T_INIT=$(date +%s)
  log "initial sync done in $((T_INIT - T0)) s: $EV0 events, ground truth up to seq $SEQ0"
  fetch_acts "$E2E_DIR/acts"
  jq -n --slurpfile cells "$E2E_DIR/cells0.json" '
    (reduce inputs as $a ({}; .[input_filename | sub(".*/"; "") | sub("\\.json$"; "")] = ($a | sort_by(.id))))
    as $acts | [$cells[0][] | . + {seed: ($acts[.conn][0:3])}]' "$E2E_DIR"/acts/*.json >"$E2E_DIR/cells.json"
}

# run_round R : the scripted round R (cases round-1 .. round-$ROUNDS)
run_round() {
  local r=$1 nows tr
  fetch_acts "$E2E_DIR/acts"
  nows=$(date +%s)
  jq -n -r --slurpfile cells "$E2E_DIR/cells.json" --argjson round "$r" --arg now "$(iso "$nows")" \
     --arg edge "$(iso $((nows - 1)))" --arg back "$(iso $((nows - 3)))" \
     -f "$HERE/steps.jq" "$E2E_DIR"/acts/*.json >"$E2E_DIR/round$r.tsv" || die "steps.jq failed"
  tr=$(date +%s)
  if [ "$WEBHOOKS" = 1 ]; then
    sb sandbox POST /_sandbox/webhook_faults "$WH_FAULTS" >/dev/null || die "webhook_faults refused"
  fi
  run_calls "$E2E_DIR/round$r.tsv"
  wait_cells "$tr" 240 any || exit 1
  log "round $r done in $(( $(date +%s) - tr )) s"
}

case_confirmation() {
  local tc
  sb sandbox DELETE /_sandbox/faults >/dev/null
  [ "$WEBHOOKS" = 1 ] && sb sandbox DELETE /_sandbox/webhook_faults >/dev/null
  tc=$(( $(date +%s) + 1 ))   # jobs counted start in a second after the clear
  wait_cells "$tc" 300 full2 || log "confirmation incomplete; scoring what there is"
  log "confirmation done in $(( $(date +%s) - tc )) s"
}

case_score() {
  local fmt_row sum stats bad a
  topic_caught_up events
  sb sandbox GET "/_sandbox/changes?since=1&limit=100000" >"$E2E_DIR/changes.json"
  fetch_acts "$E2E_DIR/final"
  jq -n 'reduce inputs as $a ({}; .[input_filename | sub(".*/"; "") | sub("\\.json$"; "")] = $a)' \
    "$E2E_DIR"/final/*.json >"$E2E_DIR/finals.json"
  jq -n -c --slurpfile cells "$E2E_DIR/cells.json" --slurpfile events "$(topic_file events)" \
    --slurpfile status "$(topic_file status)" --slurpfile truth "$E2E_DIR/changes.json" \
    --slurpfile finals "$E2E_DIR/finals.json" --argjson seq0 "$SEQ0" --argjson ev0 "$EV0" \
    --argjson t0 "$T_INIT" -f "$HERE/score.jq" >"$E2E_DIR/score.jsonl" || die "score.jq failed"
  stats=$(sb sandbox GET /_sandbox/stats)

  fmt_row='%-18s %-9s %-5s %4s %7s %6s %8s %6s %5s %5s %4s %3s %-9s %8s %10s %7s %9s\n'
  {
    printf "$fmt_row" provider scenario fault recs changes events invented missed f_rem syncs fail wh mode \
      req/full bytes/full req/inc bytes/inc
    jq -r 'select(.conn) | [.provider, .scenario, .fault, .records, .changes, .events, .invented, .missed,
            .false_removals, .syncs, .failed, .webhook,
            (if .incremental == 0 then "full" else "inc \(.incremental)/\(.syncs)" end),
            (.req_full // "-"), (.bytes_full // "-"), (.req_inc // "-"), (.bytes_inc // "-")] | @tsv' \
      "$E2E_DIR/score.jsonl" | while IFS=$'\t' read -r -a row; do printf "$fmt_row" "${row[@]}"; done
    sum=$(jq -c 'select(.summary) | .summary' "$E2E_DIR/score.jsonl")
    printf "$fmt_row" "ALL ($(jq .cells <<<"$sum") cells)" "" "" "" "$(jq .changes <<<"$sum")" \
      "$(jq .events <<<"$sum")" "$(jq .invented <<<"$sum")" "$(jq .missed <<<"$sum")" \
      "$(jq .false_removals <<<"$sum")" "$(jq .syncs <<<"$sum")" "$(jq .failed <<<"$sum")" "$(jq .webhook <<<"$sum")" "inc $(jq .incremental <<<"$sum")" "" "" "" ""
  } | as_comment
  log "upstream: $(jq -c '{requests, bytes_sent, by_status}' <<<"$stats"); suite took $(( $(date +%s) - SUITE_T0 )) s"
  if [ "$WEBHOOKS" = 1 ]; then
    log "webhooks: deliveries $(jq -c .webhooks <<<"$stats"); events by observed.mode: $(jq -r '.value.observed.mode' \
      "$(topic_file events)" | sort | uniq -c | tr -s ' \n' ' ')"
  fi

  bad=$(jq -c 'select(.conn and (.invented + .missed + .false_removals) > 0)
               | {conn, provider, scenario, fault, invented, missed, false_removals, ids: .missed_ids}' \
        "$E2E_DIR/score.jsonl")
  [ -z "$bad" ] && return 0
  fail "cells with invented, missed or falsely removed activities:"
  {
    echo "$bad" | head -n 20
    for a in $(jq -r '.ids[] ' <<<"$(head -n 3 <<<"$bad")" | head -n 3); do
      echo "--- $a: ground truth"; jq -c --arg a "$a" '.changes[] | select(.activity_id == $a) | {seq, type, after}' "$E2E_DIR/changes.json"
      echo "--- $a: events"; jq -c --arg a "$a" 'select(.value.activity_id == $a) | {id: .headers.ce_id, t: .value.type, after: .value.after}' "$(topic_file events)"
    done
  } | as_comment
  return 1
}

case_shutdown() {
  proc_stop coordinator
  proc_stop worker
  [ "$WEBHOOKS" = 0 ] || proc_stop webhook
}

test_case start
test_case initial-sync
for ((r = 1; r <= ROUNDS; r++)); do
  test_case "round-$r" "run_round $r"
done
test_case confirmation
test_case score
test_case shutdown --needs start
run_cases
