# lib.sh - helpers shared by the end-to-end tests (sourced, bash).
#
# The tests start the real binaries as separate processes: lmsync-devbroker,
# lmsync-sandbox, lmsync-coordinator, lmsync-worker and lmsync-tail. Paths
# come from the environment (set by ctest): LS_DEVBROKER, LS_SANDBOX,
# LS_COORDINATOR, LS_WORKER, LS_TAIL. Everything binds to 127.0.0.1.

set -uo pipefail

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-e2e.XXXXXX")
E2E_PIDS=()
E2E_FAILED=0

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '[%s] FAIL: %s\n' "$(date +%H:%M:%S)" "$*"; E2E_FAILED=1; }
die()  { fail "$*"; exit 1; }

e2e_cleanup() {
  local rc=$?
  for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.5
  for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  if [ "$rc" -ne 0 ] || [ "$E2E_FAILED" -ne 0 ]; then
    for f in "$E2E_DIR"/*.log; do
      [ -f "$f" ] || continue
      echo "----- last lines of $(basename "$f") -----"; tail -n 25 "$f"
    done
  fi
  rm -rf "$E2E_DIR"
}
trap e2e_cleanup EXIT

# wait_for_file FILE SECONDS
wait_for_file() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
  die "timed out waiting for $1"
}

# start NAME CMD... : run in background, logs in $E2E_DIR/NAME.log, pid in NAME_PID
start() {
  local name=$1; shift
  "$@" >"$E2E_DIR/$name.log" 2>&1 &
  local pid=$!
  E2E_PIDS+=("$pid")
  printf -v "${name}_PID" '%s' "$pid"
}

# stop_and_check NAME : SIGTERM, wait up to 20 s, require exit code 0
stop_and_check() {
  local name=$1 pidvar="${1}_PID" i
  local pid=${!pidvar}
  kill -TERM "$pid" 2>/dev/null || { fail "$name was not running"; return; }
  for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then fail "$name did not stop within 20 s of SIGTERM"; return; fi
  wait "$pid"; local rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with $rc after SIGTERM"
}

start_devbroker() {
  start devbroker "$LS_DEVBROKER" --brokers 3 --partitions "${1:-6}" \
    --bootstrap-file "$E2E_DIR/bootstrap" --log-format text
  wait_for_file "$E2E_DIR/bootstrap" 30
  BROKERS=$(cat "$E2E_DIR/bootstrap")
  log "devbroker at $BROKERS"
}

# start_sandbox ARGS... : ephemeral port, sets SANDBOX_URL
start_sandbox() {
  start sandbox "$LS_SANDBOX" --port 0 --port-file "$E2E_DIR/sandbox.port" --token e2e-token "$@"
  wait_for_file "$E2E_DIR/sandbox.port" 30
  SANDBOX_URL="http://127.0.0.1:$(cat "$E2E_DIR/sandbox.port")"
  log "sandbox at $SANDBOX_URL"
}

# write_config FILE EXTRA_LINES...
write_config() {
  local f=$1; shift
  {
    echo "unified.base_url = $SANDBOX_URL"
    echo "kafka.brokers = $BROKERS"
    echo "log.format = text"
    echo "log.level = info"
    printf '%s\n' "$@"
  } >"$f"
}

# tail_topic NAME TOPIC : collect a topic as JSON lines into $E2E_DIR/NAME.jsonl
tail_topic() {
  "$LS_TAIL" --brokers "$BROKERS" --topic "$2" --from beginning --format json \
    >"$E2E_DIR/$1.jsonl" 2>"$E2E_DIR/$1-tail.log" &
  E2E_PIDS+=("$!")
}

sb() { # sb METHOD PATH [JSON]
  if [ $# -ge 3 ]; then
    curl -fsS -X "$1" -H 'content-type: application/json' -d "$3" "$SANDBOX_URL$2"
  else
    curl -fsS -X "$1" "$SANDBOX_URL$2"
  fi
}

# wait_round SINCE_EPOCH_S SECONDS CONN... : wait until every connection has a
# status record for a job that started strictly after SINCE_EPOCH_S.
wait_round() {
  local since=$1 secs=$2; shift 2
  local i c ok
  for ((i = 0; i < secs * 5; i++)); do
    ok=1
    for c in "$@"; do
      jq -e --arg c "$c" --argjson s "$since" -s \
        'any(.[]; .value.connection_id == $c and
             ((.value.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s))' \
        "$E2E_DIR/status.jsonl" >/dev/null 2>&1 || { ok=0; break; }
    done
    [ $ok -eq 1 ] && return 0
    sleep 0.2
  done
  die "no completed poll round after $since for: $*"
}

# Normalization for comparing records: instants in canonical form.
JQ_NORM='def nt: if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T") then (sub("\\.000Z$"; "Z") | sub("\\+00:00$"; "Z")) else . end;
         def norm: if . == null then null else with_entries(.value |= nt) end;'

# events_since N : change events after the first N lines, de-duplicated by
# ce_id, as sorted [{c,a,t,b,f}]
events_since() {
  tail -n +"$(($1 + 1))" "$E2E_DIR/events.jsonl" | jq -s "$JQ_NORM"'
    unique_by(.headers.ce_id) | map({c: .value.connection_id, a: .value.activity_id,
      t: .value.type, b: (.value.before | norm), f: (.value.after | norm)}) | sort_by(.c, .a)'
}

# truth_since SEQ : sandbox ground truth changes with seq > SEQ (the API's since is inclusive) as sorted [{c,a,t,b,f}]
truth_since() {
  sb GET "/_sandbox/changes?since=$(($1 + 1))&limit=1000000" | jq "$JQ_NORM"'
    [.changes[] | select(.type != "touched") | {c: .connection_id, a: .activity_id,
      t: .type, b: (.before | norm), f: (.after | norm)}] | sort_by(.c, .a)'
}

# truth_seq : highest ground-truth sequence number so far
truth_seq() { sb GET "/_sandbox/changes?since=0&limit=1000000" | jq '[.changes[].seq] | max // 0'; }

# compare_sets LABEL EXPECTED_JSON ACTUAL_JSON
compare_sets() {
  local label=$1 exp=$2 act=$3
  local ne na
  ne=$(jq length <<<"$exp"); na=$(jq length <<<"$act")
  if [ "$(jq -S . <<<"$exp")" == "$(jq -S . <<<"$act")" ]; then
    log "$label: $na events equal the sandbox's $ne ground-truth changes"
    return 0
  fi
  fail "$label: events differ from ground truth (expected $ne, got $na)"
  diff <(jq -S '.[]' -c <<<"$exp") <(jq -S '.[]' -c <<<"$act") | head -n 40
  return 1
}

event_count() { wc -l <"$E2E_DIR/events.jsonl" | tr -d ' '; }

# ---- helpers of the fault-injection suite (faults.sh) ----

# start_devbroker_ctl NAME PARTITIONS BROKERS : a devbroker with its control
# API; sets BROKERS and DEVBROKER_CTL (http://127.0.0.1:PORT)
start_devbroker_ctl() {
  local name=$1
  start "$name" "$LS_DEVBROKER" --brokers "${3:-3}" --partitions "${2:-6}" \
    --bootstrap-file "$E2E_DIR/$name.bootstrap" --control-port-file "$E2E_DIR/$name.ctl" --log-format text
  wait_for_file "$E2E_DIR/$name.bootstrap" 30
  BROKERS=$(cat "$E2E_DIR/$name.bootstrap")
  DEVBROKER_CTL="http://127.0.0.1:$(cat "$E2E_DIR/$name.ctl")"
  log "$name at $BROKERS (control $DEVBROKER_CTL)"
}

# start_sandbox_named NAME ARGS... : like start_sandbox under another name; sets SANDBOX_URL
start_sandbox_named() {
  local name=$1; shift
  start "$name" "$LS_SANDBOX" --port 0 --port-file "$E2E_DIR/$name.port" --token e2e-token "$@"
  wait_for_file "$E2E_DIR/$name.port" 30
  SANDBOX_URL="http://127.0.0.1:$(cat "$E2E_DIR/$name.port")"
  log "$name at $SANDBOX_URL"
}

dbctl() { # dbctl PATH [JSON] : POST to the devbroker control API
  local body='{}'
  [ $# -ge 2 ] && body=$2
  curl -fsS -X POST -H 'content-type: application/json' -d "$body" "$DEVBROKER_CTL$1" >/dev/null
}

# ok_round_count STATUS_FILE SINCE : connections with an ok status record of a
# job started strictly after SINCE (epoch s), in one jq pass
ok_round_count() {
  jq -s --argjson s "$2" '[.[] | .value | select(type == "object" and .outcome == "ok")
      | select((.started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate) > $s) | .connection_id] | unique | length' \
    "$1" 2>/dev/null || echo 0
}

# wait_all_ok STATUS_FILE SINCE COUNT SECONDS : until COUNT connections have an
# ok round after SINCE; returns 1 on timeout
wait_all_ok() {
  local i n
  for ((i = 0; i < $4; i++)); do
    n=$(ok_round_count "$1" "$2")
    [ "$n" -ge "$3" ] && return 0
    sleep 1
  done
  log "only $n of $3 connections completed an ok round after $2"
  return 1
}

# phase_events EVENTS_FILE N : events after the first N lines whose ce_id was
# not seen in those N lines, de-duplicated by ce_id, as sorted [{c,a,t,b,f}]
phase_events() {
  jq -s --argjson n "$2" "$JQ_NORM"'
    (.[:$n] | map({key: .headers.ce_id, value: 1}) | from_entries) as $old
    | .[$n:] | map(select($old[.headers.ce_id] == null)) | unique_by(.headers.ce_id)
    | map({c: .value.connection_id, a: .value.activity_id, t: .value.type,
           b: (.value.before | norm), f: (.value.after | norm)}) | sort_by(.c, .a)' "$1"
}

# phase_duplicates EVENTS_FILE N : event lines after the first N whose ce_id
# was already delivered (earlier in the file)
phase_duplicates() {
  jq -s --argjson n "$2" '(.[$n:] | length) - ((.[:$n] | map(.headers.ce_id)) as $o
      | .[$n:] | map(.headers.ce_id) | unique | (. - $o) | length)' "$1"
}

# score EXPECTED_JSON ACTUAL_JSON : {lost, invented, false_created}
score() {
  local d
  d=$(mktemp -d "$E2E_DIR/score.XXXXXX")
  printf '%s' "$1" >"$d/e"; printf '%s' "$2" >"$d/a"
  jq -n --slurpfile e "$d/e" --slurpfile a "$d/a" '
    def canon: if type == "object" then to_entries | sort_by(.key) | map(.value |= canon) | from_entries
               elif type == "array" then map(canon) else . end;
    ($e[0] | map(canon | tojson)) as $E | ($a[0] | map(canon | tojson)) as $A
    | {lost: ($E - $A | length), invented: ($A - $E | length),
       false_created: ([$a[0][] | select(.t == "created") | {c, a}] - [$e[0][] | select(.t == "created") | {c, a}] | length)}'
  rm -rf "$d"
}
