# lib.sh - the end-to-end test harness (sourced, bash). See tests/README.md.
#
# The tests start the real binaries as separate processes: lmsync-devbroker,
# lmsync-sandbox, lmsync-coordinator, lmsync-worker and lmsync-tail. Paths
# come from the environment (set by ctest): LS_DEVBROKER, LS_SANDBOX,
# LS_COORDINATOR, LS_WORKER, LS_TAIL. Everything binds to 127.0.0.1.
#
# A script registers named cases (test_case) and ends with run_cases, which
# runs them in order and prints TAP. Every process, broker, sandbox and topic
# tail is started under a handle (a name) and looked up by it: nothing
# started here sets a global variable of its own, so several sandboxes and
# brokers can run at once. Every started process is stopped on exit.
#
# Selection: E2E_ONLY=a,b runs those cases and the cases they need;
# E2E_SKIP=a,b skips those (and the cases that need them). E2E_KEEP=DIR keeps
# the scratch directory (logs, topic files) in DIR.

set -uo pipefail

E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-e2e.XXXXXX")
E2E_FAILS="$E2E_DIR/.case-failures"   # fail() appends here; read at the end of each case
declare -A E2E_PID=() E2E_SANDBOX_URL=() E2E_BOOTSTRAP=() E2E_CTL_URL=() E2E_TAIL_BROKER=() E2E_TAIL_TOPIC=()
E2E_PROCS=()                          # handles in start order, for the stop on exit

# ---------------------------------------------------------------- messages

log()  { printf '# [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
# fail MSG : the running case fails (it goes on; works in subshells too)
fail() { printf '# [%s] FAIL: %s\n' "$(date +%H:%M:%S)" "$*"; printf '%s\n' "$*" >>"$E2E_FAILS"; }
# die MSG : the running case fails and the script stops (the cases left are skipped)
die()  { fail "$*"; exit 1; }
# as_comment : prefix every line read with "# " (diffs, dumps inside TAP)
as_comment() { sed 's/^/# /'; }

# ---------------------------------------------------------------- cases

E2E_CASES=()
declare -A E2E_CASE_FN=() E2E_CASE_NEEDS=() E2E_CASE_RESULT=()
E2E_CURRENT=""      # the case running now (for the exit trap)
E2E_RAN=0           # run_cases has printed the plan

# test_case NAME [FUNCTION] [--needs CASE,CASE | --needs none]
# Registers a case. FUNCTION defaults to case_NAME (dashes become
# underscores); it may carry arguments ("run_round 2"). A case needs the case registered just before it unless
# --needs says otherwise; a case runs only when every case it needs passed.
test_case() {
  local name=$1 fn needs
  shift
  fn="case_${name//-/_}"
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then fn=$1; shift; fi
  needs=""
  [ ${#E2E_CASES[@]} -eq 0 ] || needs=${E2E_CASES[-1]}
  if [ $# -ge 2 ] && [ "$1" = --needs ]; then needs=$2; shift 2; fi
  [ $# -eq 0 ] || { echo "Bail out! test_case $name: unexpected arguments: $*"; exit 2; }
  [ "$needs" = none ] && needs=""
  [ -z "${E2E_CASE_FN[$name]:-}" ] || { echo "Bail out! case '$name' registered twice"; exit 2; }
  E2E_CASES+=("$name")
  E2E_CASE_FN[$name]=$fn
  E2E_CASE_NEEDS[$name]=${needs//,/ }
}

# in_list NAME COMMA_LIST
in_list() { [[ ",$2," == *",$1,"* ]]; }

# selected_cases : names E2E_ONLY asks for plus, transitively, what they need
selected_cases() {
  local -A want=()
  local stack n d
  local only=${E2E_ONLY:-}
  read -r -a stack <<<"${only//,/ }"
  while [ ${#stack[@]} -gt 0 ]; do
    n=${stack[-1]}; unset 'stack[-1]'
    [ -n "${want[$n]:-}" ] && continue
    want[$n]=1
    for d in ${E2E_CASE_NEEDS[$n]}; do stack+=("$d"); done
  done
  printf '%s\n' "${!want[@]}"
}

# check_case_names VARIABLE COMMA_LIST : stop (exit 2) when a name is no registered case
check_case_names() {
  local n
  for n in ${2//,/ }; do
    [ -n "${E2E_CASE_FN[$n]:-}" ] || { echo "Bail out! $1 names unknown case '$n' (cases: ${E2E_CASES[*]})"; exit 2; }
  done
}

# skip_reason NAME SELECTED_LIST : why NAME does not run, or nothing
skip_reason() {
  local n=$1 d
  if [ -n "${E2E_ONLY:-}" ] && ! in_list "$n" "$2"; then echo "not selected by E2E_ONLY"; return; fi
  if [ -n "${E2E_SKIP:-}" ] && in_list "$n" "$E2E_SKIP"; then echo "E2E_SKIP"; return; fi
  for d in ${E2E_CASE_NEEDS[$n]}; do
    [ "${E2E_CASE_RESULT[$d]:-}" = pass ] || { echo "needs '$d', which did not pass"; return; }
  done
}

# run_cases : run every registered case in order, TAP on stdout
run_cases() {
  local i n why sel="" cmd
  check_case_names E2E_ONLY "${E2E_ONLY:-}"
  check_case_names E2E_SKIP "${E2E_SKIP:-}"
  [ -z "${E2E_ONLY:-}" ] || sel=$(selected_cases | paste -sd, -)
  echo "1..${#E2E_CASES[@]}"
  E2E_RAN=1
  for ((i = 0; i < ${#E2E_CASES[@]}; i++)); do
    n=${E2E_CASES[$i]}
    why=$(skip_reason "$n" "$sel")
    if [ -n "$why" ]; then
      E2E_CASE_RESULT[$n]=skip
      echo "ok $((i + 1)) - $n # SKIP $why"
      continue
    fi
    log "case $n"
    rm -f "$E2E_FAILS"
    E2E_CURRENT=$n
    read -r -a cmd <<<"${E2E_CASE_FN[$n]}"
    "${cmd[@]}"
    case_done "$n" $?
  done
  return 0
}

# case_done NAME RC : report a finished case
case_done() {
  local n=$1 i
  for ((i = 0; i < ${#E2E_CASES[@]}; i++)); do [ "${E2E_CASES[$i]}" = "$n" ] && break; done
  E2E_CURRENT=""
  if [ "$2" -eq 0 ] && [ ! -s "$E2E_FAILS" ]; then
    E2E_CASE_RESULT[$n]=pass; echo "ok $((i + 1)) - $n"
  else
    E2E_CASE_RESULT[$n]=fail; echo "not ok $((i + 1)) - $n"
  fi
}

# abort_cases : after an exit inside a case, report it and skip the rest
abort_cases() {
  local n i stopped=$E2E_CURRENT
  case_done "$stopped" 1
  for ((i = 0; i < ${#E2E_CASES[@]}; i++)); do
    n=${E2E_CASES[$i]}
    [ -z "${E2E_CASE_RESULT[$n]:-}" ] || continue
    E2E_CASE_RESULT[$n]=skip
    echo "ok $((i + 1)) - $n # SKIP the script stopped in '$stopped'"
  done
}

# count_results RESULT
count_results() {
  local n c=0
  for n in "${E2E_CASES[@]}"; do [ "${E2E_CASE_RESULT[$n]:-}" = "$1" ] && c=$((c + 1)); done
  echo "$c"
}

e2e_exit() {
  local rc=$? passed failed skipped
  trap - EXIT
  [ -z "$E2E_CURRENT" ] || abort_cases
  stop_all
  passed=$(count_results pass); failed=$(count_results fail); skipped=$(count_results skip)
  if [ "$E2E_RAN" -eq 0 ]; then
    [ "$rc" -eq 2 ] || echo "Bail out! the script stopped before its cases ran (exit $rc)"
    failed=1
  elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1   # exited non-zero outside a case
  fi
  if [ "$failed" -ne 0 ]; then
    for f in "$E2E_DIR"/*.log; do
      [ -f "$f" ] || continue
      echo "# ----- last lines of $(basename "$f") -----"; tail -n 25 "$f" | as_comment
    done
  fi
  if [ -n "${E2E_KEEP:-}" ]; then mkdir -p "$E2E_KEEP" && cp -r "$E2E_DIR"/. "$E2E_KEEP"/; fi
  rm -rf "$E2E_DIR"
  echo "# passed $passed, failed $failed, skipped $skipped of ${#E2E_CASES[@]}"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0
  [ "$E2E_RAN" -eq 0 ] && [ "$rc" -eq 2 ] && exit 2
  exit 1
}
trap e2e_exit EXIT

# ---------------------------------------------------------------- waiting

# wait_until TIMEOUT_S CMD... : run CMD every 0.2 s until it succeeds;
# returns 1 when TIMEOUT_S seconds passed without success.
wait_until() { wait_until_every 0.2 "$@"; }

# wait_until_every INTERVAL_S TIMEOUT_S CMD... : the same, polling every
# INTERVAL_S (for conditions that are costly to test)
wait_until_every() {
  local every=$1 end=$(( $(date +%s%N) / 1000000 + ${2%.*} * 1000 ))
  shift 2
  while :; do
    "$@" && return 0
    [ $(( $(date +%s%N) / 1000000 )) -lt "$end" ] || return 1
    sleep "$every"
  done
}

# ---------------------------------------------------------------- processes

# proc_start [--stdout FILE] NAME CMD... : run CMD in the background; stderr
# (and stdout unless --stdout) in $E2E_DIR/NAME.log
proc_start() {
  local out=""
  if [ "$1" = --stdout ]; then out=$2; shift 2; fi
  local name=$1; shift
  [ -z "${E2E_PID[$name]:-}" ] || die "process handle '$name' already used"
  if [ -n "$out" ]; then "$@" >"$out" 2>"$E2E_DIR/$name.log" &
  else "$@" >"$E2E_DIR/$name.log" 2>&1 &
  fi
  E2E_PID[$name]=$!
  E2E_PROCS+=("$name")
}

proc_pid()   { echo "${E2E_PID[$1]:?no process '$1'}"; }
proc_log()   { echo "$E2E_DIR/$1.log"; }
pid_gone()   { ! kill -0 "$1" 2>/dev/null; }
# proc_children NAME : pids of the process's children, sorted
proc_children() { pgrep -P "$(proc_pid "$1")" | sort; }

# proc_stop NAME : SIGTERM, wait up to 20 s, require exit code 0
proc_stop() {
  local name=$1 pid rc
  pid=$(proc_pid "$name")
  kill -TERM "$pid" 2>/dev/null || { fail "$name was not running"; return 1; }
  wait_until 20 pid_gone "$pid" || { fail "$name did not stop within 20 s of SIGTERM"; return 1; }
  wait "$pid"; rc=$?
  [ "$rc" -eq 0 ] || { fail "$name exited with $rc after SIGTERM"; return 1; }
}

all_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# stop_all : SIGTERM to every process still running, SIGKILL after 2 s
stop_all() {
  local h pids=()
  for h in "${E2E_PROCS[@]}"; do kill -0 "${E2E_PID[$h]}" 2>/dev/null && pids+=("${E2E_PID[$h]}"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  wait_until 2 all_gone "${pids[@]}" || kill -KILL "${pids[@]}" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------- brokers, sandboxes, tails

# broker_ready NAME : the devbroker wrote its bootstrap and control port files, or exited
broker_ready() {
  [ -s "$E2E_DIR/$1.bootstrap" ] && [ -s "$E2E_DIR/$1.ctl" ] && return 0
  ! kill -0 "$(proc_pid "$1")" 2>/dev/null
}

# broker_start NAME [PARTITIONS] [BROKERS] [DEVBROKER_ARGS...] : a devbroker
# with its control API; stdout in $E2E_DIR/NAME.out
broker_start() {
  local name=$1 parts=${2:-6} n=${3:-3}
  shift $(( $# < 3 ? $# : 3 ))
  proc_start --stdout "$E2E_DIR/$name.out" "$name" "$LS_DEVBROKER" --brokers "$n" --partitions "$parts" \
    --bootstrap-file "$E2E_DIR/$name.bootstrap" --control-port-file "$E2E_DIR/$name.ctl" --log-format text "$@"
  wait_until 30 broker_ready "$name" || die "devbroker $name wrote no bootstrap file within 30 s"
  kill -0 "$(proc_pid "$name")" 2>/dev/null || die "devbroker $name exited during startup"
  E2E_BOOTSTRAP[$name]=$(cat "$E2E_DIR/$name.bootstrap")
  E2E_CTL_URL[$name]="http://127.0.0.1:$(cat "$E2E_DIR/$name.ctl")"
  log "$name at ${E2E_BOOTSTRAP[$name]} (control ${E2E_CTL_URL[$name]})"
}

broker_bootstrap() { echo "${E2E_BOOTSTRAP[$1]:?no broker '$1'}"; }
broker_ctl_url()   { echo "${E2E_CTL_URL[$1]:?no broker '$1'}"; }

# broker_ctl NAME PATH [JSON] : POST to the devbroker's control API
broker_ctl() {
  local body='{}'
  [ $# -ge 3 ] && body=$3
  curl -fsS -X POST -H 'content-type: application/json' -d "$body" "$(broker_ctl_url "$1")$2" >/dev/null
}

# sandbox_start NAME ARGS... : lmsync-sandbox on an ephemeral port (token e2e-token)
sandbox_start() {
  local name=$1; shift
  proc_start "$name" "$LS_SANDBOX" --port 0 --port-file "$E2E_DIR/$name.port" --token e2e-token "$@"
  wait_until 30 test -s "$E2E_DIR/$name.port" || die "sandbox $name wrote no port file within 30 s"
  E2E_SANDBOX_URL[$name]="http://127.0.0.1:$(cat "$E2E_DIR/$name.port")"
  log "$name at ${E2E_SANDBOX_URL[$name]}"
}

sandbox_url() { echo "${E2E_SANDBOX_URL[$1]:?no sandbox '$1'}"; }

# sb SANDBOX METHOD PATH [JSON] : a request to a sandbox, body on stdout
sb() {
  local url
  url=$(sandbox_url "$1")
  if [ $# -ge 4 ]; then
    curl -fsS -X "$2" -H 'content-type: application/json' -d "$4" "$url$3"
  else
    curl -fsS -X "$2" "$url$3"
  fi
}

# write_config FILE SANDBOX BROKER EXTRA_LINES...
# Catalog jobs (course and content names) are off unless a test turns them on
# ("enrichment.enabled = 1" among EXTRA_LINES, or E2E_ENRICHMENT=1): their
# requests would otherwise take from the fault counts and request budgets the
# other tests count.
write_config() {
  local f=$1 sandbox=$2 broker=$3; shift 3
  {
    echo "unified.base_url = $(sandbox_url "$sandbox")"
    echo "kafka.brokers = $(broker_bootstrap "$broker")"
    echo "log.format = text"
    echo "log.level = info"
    echo "enrichment.enabled = ${E2E_ENRICHMENT:-0}"
    printf '%s\n' "$@"
  } >"$f"
}

# tail_topic NAME BROKER TOPIC : collect TOPIC as JSON lines into topic_file NAME
tail_topic() {
  E2E_TAIL_BROKER[$1]=$2; E2E_TAIL_TOPIC[$1]=$3
  proc_start --stdout "$E2E_DIR/$1.jsonl" "$1-tail" "$LS_TAIL" --brokers "$(broker_bootstrap "$2")" \
    --topic "$3" --from beginning --format json
}

# pipeline_start BROKER CONFIG [WORKER_ARGS...] : tails "events" and "status"
# of BROKER, T0 = now (epoch s), then a worker and a coordinator on CONFIG
pipeline_start() {
  local broker=$1 conf=$2; shift 2
  export UNIFIED_API_TOKEN=e2e-token
  tail_topic events "$broker" lmsync.activity.changes
  tail_topic status "$broker" lmsync.sync.status
  T0=$(date +%s)
  proc_start worker "$LS_WORKER" --config "$conf" "$@"
  proc_start coordinator "$LS_COORDINATOR" --config "$conf"
}

topic_file()  { echo "$E2E_DIR/$1.jsonl"; }
topic_count() { wc -l <"$E2E_DIR/$1.jsonl" | tr -d ' '; }

# topic_length BROKER TOPIC : messages on TOPIC now (one read to its end)
topic_length() {
  timeout 30 kcat -C -b "$(broker_bootstrap "$1")" -t "$2" -o beginning -e -q -f '.\n' 2>/dev/null | wc -l | tr -d ' '
}

count_at_least() { [ "$(topic_count "$1")" -ge "$2" ]; }

# topic_caught_up NAME : wait until the tail NAME holds every message its
# topic has now (call it after a status record said the events are acknowledged)
topic_caught_up() {
  local n
  n=$(topic_length "${E2E_TAIL_BROKER[$1]}" "${E2E_TAIL_TOPIC[$1]}")
  wait_until 30 count_at_least "$1" "$n" || die "tail $1 did not reach the $n messages of ${E2E_TAIL_TOPIC[$1]}"
}

# ---------------------------------------------------------------- status records

# The status records (topic lmsync.sync.status, docs/events.md section 8) are
# read from a tail's file. JQ_STARTED: a record's started_at in epoch seconds;
# poll: the record is a poll job's (a catalog job's says "kind":"catalog").
JQ_STARTED='def started: .started_at | sub("\\.[0-9]+Z$"; "Z") | fromdate; def poll: (.kind // "activity") == "activity";'

# status_since TAIL CONN SINCE : status values of CONN's jobs started strictly
# after SINCE (epoch s), sorted by started_at, as one JSON array
status_since() {
  jq -s --arg c "$2" --argjson s "$3" "$JQ_STARTED"'[.[] | .value | select(.connection_id == $c and poll and started > $s)]
     | sort_by(.started_at)' "$(topic_file "$1")"
}

# status_of_job TAIL JOB_ID : the job's status values, one JSON value a line
status_of_job() { jq -c --arg j "$2" 'select(.value.job_id == $j) | .value' "$(topic_file "$1")" 2>/dev/null; }

# round_done TAIL SINCE CONN... : every CONN has a status record of a job started after SINCE
round_done() {
  local tail=$1 since=$2; shift 2
  jq -e -s --argjson s "$since" --arg cs "$*" "$JQ_STARTED"'
     ($cs | split(" ")) - [.[] | .value | select(poll and started > $s) | .connection_id] | length == 0' \
    "$(topic_file "$tail")" >/dev/null 2>&1
}

# wait_round TAIL SINCE SECONDS CONN... : until every CONN has a status record
# of a job started strictly after SINCE; stops the script on timeout
wait_round() {
  local tail=$1 since=$2 secs=$3; shift 3
  wait_until "$secs" round_done "$tail" "$since" "$@" || die "no completed poll round after $since for: $*"
}

# ok_round_count TAIL SINCE : connections with an ok status record of a job
# started strictly after SINCE (epoch s)
ok_round_count() {
  jq -s --argjson s "$2" "$JQ_STARTED"'[.[] | .value | select(type == "object" and .outcome == "ok")
      | select(poll and started > $s) | .connection_id] | unique | length' "$(topic_file "$1")" 2>/dev/null || echo 0
}

ok_round_reached() { [ "$(ok_round_count "$1" "$2")" -ge "$3" ]; }

# wait_all_ok TAIL SINCE COUNT SECONDS : (polled every 1 s: one jq pass over
# the whole status file) until COUNT connections have an ok
# round after SINCE; returns 1 on timeout
wait_all_ok() {
  wait_until_every 1 "$4" ok_round_reached "$1" "$2" "$3" && return 0
  log "only $(ok_round_count "$1" "$2") of $3 connections completed an ok round after $2"
  return 1
}

# ---------------------------------------------------------------- change events and ground truth

# Normalization for comparing records: instants in canonical form.
JQ_NORM='def nt: if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T") then (sub("\\.000Z$"; "Z") | sub("\\+00:00$"; "Z")) else . end;
         def norm: if . == null then null else with_entries(.value |= nt) end;'

# events_since TAIL N : change events after the first N lines, de-duplicated
# by ce_id, as sorted [{c,a,t,b,f}]
events_since() {
  tail -n +"$(($2 + 1))" "$(topic_file "$1")" | jq -s "$JQ_NORM"'
    unique_by(.headers.ce_id) | map({c: .value.connection_id, a: .value.activity_id,
      t: .value.type, b: (.value.before | norm), f: (.value.after | norm)}) | sort_by(.c, .a)'
}

# events_of_type_since TAIL TYPE N : events of TYPE after the first N lines, de-duplicated by ce_id
events_of_type_since() {
  tail -n +"$(($3 + 1))" "$(topic_file "$1")" | jq -s --arg t "$2" '[.[] | select(.value.type == $t)] | unique_by(.headers.ce_id)'
}

# type_count TAIL TYPE N : how many distinct TYPE events follow the first N
# lines, once the tail caught up with its topic
type_count() { topic_caught_up "$1"; jq length <<<"$(events_of_type_since "$1" "$2" "$3")"; }

# truth_since SANDBOX SEQ : the sandbox's ground-truth changes with seq > SEQ
# (the API's since is inclusive) as sorted [{c,a,t,b,f}]
truth_since() {
  sb "$1" GET "/_sandbox/changes?since=$(($2 + 1))&limit=1000000" | jq "$JQ_NORM"'
    [.changes[] | select(.type != "touched") | {c: .connection_id, a: .activity_id,
      t: .type, b: (.before | norm), f: (.after | norm)}] | sort_by(.c, .a)'
}

# truth_seq SANDBOX : highest ground-truth sequence number so far
truth_seq() { sb "$1" GET "/_sandbox/changes?since=0&limit=1000000" | jq '[.changes[].seq] | max // 0'; }

# compare_sets LABEL EXPECTED_JSON ACTUAL_JSON [NOUN] : NOUN names the items (default: events)
compare_sets() {
  local label=$1 exp=$2 act=$3 noun=${4:-events}
  local ne na
  ne=$(jq length <<<"$exp"); na=$(jq length <<<"$act")
  if [ "$(jq -S . <<<"$exp")" == "$(jq -S . <<<"$act")" ]; then
    log "$label: $na $noun equal the sandbox's $ne ground-truth ones"
    return 0
  fi
  fail "$label: $noun differ from ground truth (expected $ne, got $na)"
  diff <(jq -S '.[]' -c <<<"$exp") <(jq -S '.[]' -c <<<"$act") | head -n 40 | as_comment
  return 1
}

# check_truth LABEL SANDBOX TAIL SEQ N : the tail caught up with its topic,
# then the events after line N equal the ground truth after SEQ
check_truth() {
  topic_caught_up "$3"
  compare_sets "$1" "$(truth_since "$2" "$4")" "$(events_since "$3" "$5")"
}

# ---- the current topic (lmsync.activity.current, docs/events.md section 9)

# truth_current SANDBOX : the ground truth's current records, {"conn/act": record + envelope},
# from the change log (every connection) and the connections' integration_type and external_xref
truth_current() {
  local conns
  conns=$(curl -fsS -H "authorization: Bearer e2e-token" "$(sandbox_url "$1")/unified/connection?limit=1000") || return 1
  sb "$1" GET "/_sandbox/changes?since=1&limit=1000000" | jq -S --argjson cs "$conns" "$JQ_NORM"'
    ($cs | map({key: .id, value: {integration_type, tenant: .external_xref}}) | from_entries) as $env
    | reduce .changes[] as $c ({}; .[$c.connection_id + "/" + $c.activity_id] =
        (if $c.after == null then null else ($c.after | norm) + {connection_id: $c.connection_id} + $env[$c.connection_id] end))
    | with_entries(select(.value != null))'
}

# current_read BROKER FILE [OFFSET_SPEC] : a late consumer: kcat reads the current topic from the
# beginning (or kcat -o OFFSET_SPEC) to its end, one kcat -J message a line into FILE
current_read() {
  timeout 60 kcat -C -b "$(broker_bootstrap "$1")" -t lmsync.activity.current -o "${3:-beginning}" -e -q -J \
    >"$2" 2>/dev/null || { fail "kcat could not read lmsync.activity.current to its end"; return 1; }
}

# current_table FILE : the table a consumer builds from the messages read (latest value per key,
# a tombstone deletes), {"conn/act": value}
current_table() {
  jq -s -S "$JQ_NORM"'reduce .[] as $m ({};
    if $m.payload == null then del(.[$m.key]) else .[$m.key] = ($m.payload | fromjson | norm) end)' "$1"
}

# current_headers_bad FILE : messages (tombstones included) without the CloudEvents headers of a
# current record (ce_type lmsync.activity.current, ce_subject activities/{activity id}, ...)
current_headers_bad() {
  jq -s '[.[] | (.headers // [] | [recurse(.[2:]; length > 0) | select(length > 1) | {key: .[0], value: .[1]}] | from_entries) as $h
     | select($h.ce_specversion != "1.0" or $h.ce_type != "lmsync.activity.current" or ($h.ce_id | length) != 32
              or $h.ce_subject != "activities/" + (.key | sub("^[^/]*/"; ""))
              or $h.ce_source != "/connections/" + (.key | sub("/.*$"; "")) or $h["content-type"] != "application/json"
              or ($h.ce_time | type) != "string")] | length' "$1"
}

# check_current LABEL SANDBOX BROKER : a late consumer's table of the current topic equals the
# ground truth's current records, key for key and field for field; every message has its headers
check_current() {
  local f bad
  f=$(mktemp "$E2E_DIR/current.XXXXXX")
  current_read "$3" "$f" || return 1
  bad=$(current_headers_bad "$f")
  [ "$bad" = 0 ] || fail "$1: $bad current messages without their CloudEvents headers"
  compare_sets "$1" "$(truth_current "$2" | jq -c 'to_entries')" "$(current_table "$f" | jq -c 'to_entries')" \
    "current records" || return 1
  [ "$bad" = 0 ]
}

# ---- helpers of the fault-injection suite (faults.sh)

# phase_events TAIL N : events after the first N lines whose ce_id was not
# seen in those N lines, de-duplicated by ce_id, as sorted [{c,a,t,b,f}]
phase_events() {
  jq -s --argjson n "$2" "$JQ_NORM"'
    (.[:$n] | map({key: .headers.ce_id, value: 1}) | from_entries) as $old
    | .[$n:] | map(select($old[.headers.ce_id] == null)) | unique_by(.headers.ce_id)
    | map({c: .value.connection_id, a: .value.activity_id, t: .value.type,
           b: (.value.before | norm), f: (.value.after | norm)}) | sort_by(.c, .a)' "$(topic_file "$1")"
}

# phase_duplicates TAIL N : event lines after the first N whose ce_id was
# already delivered (earlier in the file)
phase_duplicates() {
  jq -s --argjson n "$2" '(.[$n:] | length) - ((.[:$n] | map(.headers.ce_id)) as $o
      | .[$n:] | map(.headers.ce_id) | unique | (. - $o) | length)' "$(topic_file "$1")"
}

# score EXPECTED_JSON ACTUAL_JSON : {lost, invented, false_created}; records
# compared as canonical JSON text through key sets (linear: 20000 records in seconds)
score() {
  local d
  d=$(mktemp -d "$E2E_DIR/score.XXXXXX")
  printf '%s' "$1" >"$d/e"; printf '%s' "$2" >"$d/a"
  jq -n --slurpfile e "$d/e" --slurpfile a "$d/a" '
    def canon: if type == "object" then to_entries | sort_by(.key) | map(.value |= canon) | from_entries
               elif type == "array" then map(canon) else . end;
    def set: map({key: ., value: true}) | from_entries;
    def missing_from($s): map(select($s[.] == null)) | length;
    def created: map(select(.t == "created") | {c, a} | tojson);
    ($e[0] | map(canon | tojson)) as $E | ($a[0] | map(canon | tojson)) as $A
    | {lost: ($E | missing_from($A | set)), invented: ($A | missing_from($E | set)),
       false_created: ($a[0] | created | missing_from($e[0] | created | set))}'
  rm -rf "$d"
}

# ---- the sandbox's control API (docs/sandbox.md)

# sb_acts SANDBOX CONN : the connection's live activities (JSON array)
sb_acts() { sb "$1" GET "/_sandbox/activities?connection_id=$2"; }

# sb_pick SANDBOX CONN JQ_FILTER [INDEX] : id of the INDEX-th activity matching the filter, or nothing
sb_pick() { sb_acts "$1" "$2" | jq -r "[.[] | select($3)][${4:-0}].id // empty"; }

# sb_set SANDBOX CONN ACT SET_JSON [UNSET_JSON] : change (or create) an activity; stops the script when refused
sb_set() {
  sb "$1" POST /_sandbox/activity "{\"connection_id\":\"$2\",\"activity_id\":\"$3\",\"set\":$4${5:+,\"unset\":$5}}" >/dev/null \
    || die "control API refused $3"
}

# sb_delete SANDBOX CONN ACT : delete an activity upstream; stops the script when refused
sb_delete() {
  sb "$1" DELETE "/_sandbox/activity?connection_id=$2&activity_id=$3" >/dev/null || die "control API refused to delete $3"
}
