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
