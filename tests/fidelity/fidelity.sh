#!/usr/bin/env bash
# ctest-name: fidelity.matrix
# Fidelity suite (issue 3 item 6; docs/fidelity.md): one sandbox, one
# devbroker, one coordinator and one worker pool; every matrix cell
# (provider x mutation scenario x fault) is its own sandbox connection.
#
# 1. initial sync of every cell;
# 2. four scripted rounds: each cell's scenario step and fault through the
#    control API, then wait until every cell reported a job started after it;
# 3. confirmation: faults cleared, wait until every cell has two complete
#    full scans (outcome ok, mode full) started after the clear;
# 4. score every cell against the ground truth (score.jq), print the table,
#    exit 1 when any cell has an invented event, a missed change or a false
#    removal.
#
# Environment: LS_DEVBROKER LS_SANDBOX LS_COORDINATOR LS_WORKER LS_TAIL (ctest),
# optional FIDELITY_PROVIDERS / FIDELITY_SCENARIOS / FIDELITY_FAULTS (space
# separated) to run a sub-matrix, FIDELITY_KEEP=DIR to keep the raw files.
source "$(dirname "$0")/../e2e/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

read -r -a PROVIDERS <<<"${FIDELITY_PROVIDERS:-coursera go1 learnupon d2l successfactors_lms udemy docebo moodle sandbox_course_required}"
read -r -a SCENARIOS <<<"${FIDELITY_SCENARIOS:-steady burst delete recreate scanshift wmedge fields}"
read -r -a FAULTS <<<"${FIDELITY_FAULTS:-none 5xx 429 trunc}"
ROUNDS=4
PER_PROV=$(( ${#SCENARIOS[@]} * ${#FAULTS[@]} ))
NCELLS=$(( ${#PROVIDERS[@]} * PER_PROV ))
SUITE_T0=$(date +%s)

# ---- the matrix: cell i (0-based) is connection conn-<i+1>
PLIST=""
for p in "${PROVIDERS[@]}"; do PLIST+="${PLIST:+,}$p*$PER_PROV"; done
{
  i=0
  for p in "${PROVIDERS[@]}"; do for s in "${SCENARIOS[@]}"; do for f in "${FAULTS[@]}"; do
    i=$((i + 1)); printf '%s\t%s\t%s\t%s\n' "$(printf 'conn-%04d' "$i")" "$p" "$s" "$f"
  done; done; done
} | jq -R -s '[split("\n")[] | select(length > 0) | split("\t")
               | {conn: .[0], provider: .[1], scenario: .[2], fault: .[3]}]' >"$E2E_DIR/cells0.json"
mapfile -t CONNS < <(jq -r '.[].conn' "$E2E_DIR/cells0.json")
log "matrix: ${#PROVIDERS[@]} providers x ${#SCENARIOS[@]} scenarios x ${#FAULTS[@]} faults = $NCELLS connections"

start_devbroker 6
start_sandbox --seed 23 --connections "$NCELLS" --students 3 --courses 2 --contents 2 \
  --providers "$PLIST" --tick-ms 0 --log-level warn
export UNIFIED_API_TOKEN=e2e-token
CONF_LINES=("coordinator.interval_s = 3" "coordinator.discovery_interval_s = 600"
            "worker.lmdb_path = $E2E_DIR/lmdb" "worker.page_limit = 4" "worker.processes = 6"
            "unified.max_retries = 2")
# The colleague's incremental mode: ask for a full reconciliation every 2nd job,
# but only when this build knows the setting.
write_config "$E2E_DIR/probe.conf" "${CONF_LINES[@]}" "coordinator.full_every = 2"
if "$LS_COORDINATOR" --config "$E2E_DIR/probe.conf" --check-config >/dev/null 2>&1; then
  CONF_LINES+=("coordinator.full_every = 2"); log "coordinator.full_every = 2 accepted"
else
  log "coordinator.full_every not known to this build: every job is a full scan"
fi
write_config "$E2E_DIR/lmsync.conf" "${CONF_LINES[@]}"
tail_topic events lmsync.activity.changes
tail_topic status lmsync.sync.status
T0=$(date +%s)
start worker "$LS_WORKER" --config "$E2E_DIR/lmsync.conf"
start coordinator "$LS_COORDINATOR" --config "$E2E_DIR/lmsync.conf"

# wait_cells SINCE SECONDS WHAT : WHAT = any (a reported job), ok (outcome ok)
# or full2 (two ok full scans); every job counted started at or after SINCE.
wait_cells() {
  local since=$1 secs=$2 what=$3 end=$(( $(date +%s) + $2 )) have
  while :; do
    have=$(jq -s --argjson s "$since" --arg w "$what" '
      [.[] | .value | select((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) >= $s)
       | select($w == "any" or (.outcome == "ok" and ($w == "ok" or .mode == "full")))]
      | group_by(.connection_id) | map(select(length >= (if $w == "full2" then 2 else 1 end))) | length' \
      "$E2E_DIR/status.jsonl" 2>/dev/null || echo 0)
    [ "${have:-0}" -ge "$NCELLS" ] && return 0
    if [ "$(date +%s)" -ge "$end" ]; then
      fail "after ${secs}s only $have of $NCELLS cells have '$what' jobs since $since"
      return 1
    fi
    sleep 1
  done
}

# run_calls FILE : every TSV line "METHOD PATH BODY" as one curl transfer (one process)
run_calls() {
  local f=$1 cfg="$E2E_DIR/calls.curl" n
  n=$(wc -l <"$f")
  [ "$n" -gt 0 ] || return 0
  jq -R -r --arg base "$SANDBOX_URL" 'split("\t") |
    "url = \(($base + .[1]) | tojson)\nrequest = \(.[0] | tojson)\n" +
    (if (.[2] // "") != "" then "header = \"content-type: application/json\"\ndata = \(.[2] | tojson)\n" else "" end) +
    "output = \"/dev/null\"\nwrite-out = \"%{http_code}\\n\"\nnext"' "$f" | sed '$d' >"$cfg"
  curl -sS -K "$cfg" >"$E2E_DIR/calls.out" 2>&1
  local bad
  bad=$(grep -v '^200$' "$E2E_DIR/calls.out" | sort | uniq -c | head -n 5)
  [ -z "$bad" ] || die "control API refused calls: $bad"
  log "$n control-API calls applied"
}

# fetch_acts DIR : GET /_sandbox/activities of every cell into DIR/<conn>.json
fetch_acts() {
  local d=$1 cfg="$E2E_DIR/acts.curl"
  rm -rf "$d"; mkdir -p "$d"
  for c in "${CONNS[@]}"; do
    printf 'url = "%s/_sandbox/activities?connection_id=%s"\noutput = "%s/%s.json"\nnext\n' \
      "$SANDBOX_URL" "$c" "$d" "$c"
  done | sed '$d' >"$cfg"
  curl -sS -K "$cfg" || die "cannot read the sandbox's activities"
  jq -e -s 'all(.[]; type == "array")' "$d"/*.json >/dev/null || die "bad activities answer in $d"
}

# ---- 1. initial sync
wait_cells "$((T0 - 1))" 240 ok || exit 1
sleep 2
SEQ0=$(sb GET /_sandbox/stats | jq '.next_change_seq - 1')
EV0=$(event_count)
T_INIT=$(date +%s)
log "initial sync done in $((T_INIT - T0)) s: $EV0 events, ground truth up to seq $SEQ0"
fetch_acts "$E2E_DIR/acts"
jq -n --slurpfile cells "$E2E_DIR/cells0.json" '
  (reduce inputs as $a ({}; .[input_filename | sub(".*/"; "") | sub("\\.json$"; "")] = ($a | sort_by(.id))))
  as $acts | [$cells[0][] | . + {seed: ($acts[.conn][0:3])}]' "$E2E_DIR"/acts/*.json >"$E2E_DIR/cells.json"

# ---- 2. scripted rounds
for ((r = 1; r <= ROUNDS; r++)); do
  fetch_acts "$E2E_DIR/acts"
  NOWS=$(date +%s)
  iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
  jq -n -r --slurpfile cells "$E2E_DIR/cells.json" --argjson round "$r" --arg now "$(iso "$NOWS")" \
     --arg edge "$(iso $((NOWS - 1)))" --arg back "$(iso $((NOWS - 3)))" \
     -f "$HERE/steps.jq" "$E2E_DIR"/acts/*.json >"$E2E_DIR/round$r.tsv" || die "steps.jq failed"
  TR=$(date +%s)
  run_calls "$E2E_DIR/round$r.tsv"
  wait_cells "$TR" 240 any || exit 1
  log "round $r done in $(( $(date +%s) - TR )) s"
done

# ---- 3. confirmation: no faults, two complete full scans per cell
sb DELETE /_sandbox/faults >/dev/null
sleep 1
TC=$(date +%s)
wait_cells "$TC" 300 full2 || log "confirmation incomplete; scoring what there is"
sleep 2
log "confirmation done in $(( $(date +%s) - TC )) s"

# ---- 4. score
sb GET "/_sandbox/changes?since=1&limit=100000" >"$E2E_DIR/changes.json"
fetch_acts "$E2E_DIR/final"
jq -n 'reduce inputs as $a ({}; .[input_filename | sub(".*/"; "") | sub("\\.json$"; "")] = $a)' \
  "$E2E_DIR"/final/*.json >"$E2E_DIR/finals.json"
jq -n -c --slurpfile cells "$E2E_DIR/cells.json" --slurpfile events "$E2E_DIR/events.jsonl" \
  --slurpfile status "$E2E_DIR/status.jsonl" --slurpfile truth "$E2E_DIR/changes.json" \
  --slurpfile finals "$E2E_DIR/finals.json" --argjson seq0 "$SEQ0" --argjson ev0 "$EV0" \
  --argjson t0 "$T_INIT" -f "$HERE/score.jq" >"$E2E_DIR/score.jsonl" || die "score.jq failed"
STATS=$(sb GET /_sandbox/stats)

fmt_row='%-18s %-9s %-5s %4s %7s %6s %8s %6s %5s %5s %4s %-9s %8s %10s %7s %9s\n'
printf "$fmt_row" provider scenario fault recs changes events invented missed f_rem syncs fail mode \
  req/full bytes/full req/inc bytes/inc
jq -r 'select(.conn) | [.provider, .scenario, .fault, .records, .changes, .events, .invented, .missed,
        .false_removals, .syncs, .failed,
        (if .incremental == 0 then "full" else "inc \(.incremental)/\(.syncs)" end),
        (.req_full // "-"), (.bytes_full // "-"), (.req_inc // "-"), (.bytes_inc // "-")] | @tsv' \
  "$E2E_DIR/score.jsonl" | while IFS=$'\t' read -r -a row; do printf "$fmt_row" "${row[@]}"; done
SUM=$(jq -c 'select(.summary) | .summary' "$E2E_DIR/score.jsonl")
printf "$fmt_row" "ALL ($(jq .cells <<<"$SUM") cells)" "" "" "" "$(jq .changes <<<"$SUM")" \
  "$(jq .events <<<"$SUM")" "$(jq .invented <<<"$SUM")" "$(jq .missed <<<"$SUM")" \
  "$(jq .false_removals <<<"$SUM")" "$(jq .syncs <<<"$SUM")" "$(jq .failed <<<"$SUM")" "inc $(jq .incremental <<<"$SUM")" "" "" "" ""
log "upstream: $(jq -c '{requests, bytes_sent, by_status}' <<<"$STATS"); suite took $(( $(date +%s) - SUITE_T0 )) s"

BAD=$(jq -c 'select(.conn and (.invented + .missed + .false_removals) > 0)
             | {conn, provider, scenario, fault, invented, missed, false_removals, ids: .missed_ids}' \
      "$E2E_DIR/score.jsonl")
if [ -n "$BAD" ]; then
  fail "cells with invented, missed or falsely removed activities:"
  echo "$BAD" | head -n 20
  for a in $(jq -r '.ids[] ' <<<"$(head -n 3 <<<"$BAD")" | head -n 3); do
    echo "--- $a: ground truth"; jq -c --arg a "$a" '.changes[] | select(.activity_id == $a) | {seq, type, after}' "$E2E_DIR/changes.json"
    echo "--- $a: events"; jq -c --arg a "$a" 'select(.value.activity_id == $a) | {id: .headers.ce_id, t: .value.type, after: .value.after}' "$E2E_DIR/events.jsonl"
  done
fi
if [ -n "${FIDELITY_KEEP:-}" ]; then mkdir -p "$FIDELITY_KEEP" && cp -r "$E2E_DIR"/. "$FIDELITY_KEEP"/; fi
stop_and_check coordinator
stop_and_check worker
[ "$E2E_FAILED" -eq 0 ] && [ -z "$BAD" ] || exit 1
log "PASS"
