#!/usr/bin/env bash
# End to end: lmsync-board's page in headless Chromium (Debian's chromium,
# driven by puppeteer-core installed with `npm ci` from tests/board; the
# driver tests/board/drive.js mirrors the DOM into a JSON file every 250 ms).
# 1. synthetic: course rollups and change events produced with kcat under
#    the topic prefix "synth": the numbers the page shows (read from the
#    DOM) equal the records, an absent progress_mean shows "—", bad records
#    are skipped and counted; a new rollup, an update and a change event
#    produced while the page is open appear within 5 s (SSE), a tombstone
#    removes the row; WCAG AA contrast and labels; the client bound (503);
# 2. 50 event-stream clients killed mid-stream leave the board's thread
#    count, client count and RSS flat;
# 3. the real pipeline (devbroker + sandbox + coordinator + worker): the
#    page lists every connection of the sandbox, a change made in the
#    sandbox appears in the feed within one poll cycle, the worker publishes
#    course rollups on lmsync.progress.courses and the page's course bars
#    equal those records.
# A screenshot of the pipeline's page is saved as build/board-screenshot.png.
# ctest-timeout: 300
source "$(dirname "$0")/lib.sh"
BOARD_NODE=$(cd "$(dirname "$0")/../board" && pwd)
SHOT=$(cd "$(dirname "${LS_BOARD:-.}")/.." 2>/dev/null && pwd)/board-screenshot.png
INTERVAL=3
DASH="—"

# ---- helpers

# board_start NAME BROKER PREFIX [SETTINGS...] : an lmsync-board on an ephemeral port
board_start() {
  local name=$1 broker=$2 prefix=$3; shift 3
  { echo "kafka.brokers = $(broker_bootstrap "$broker")"; echo "kafka.topic_prefix = $prefix"
    echo "log.format = text"; echo "board.port_file = $E2E_DIR/$name.port"; printf '%s\n' "$@"; } >"$E2E_DIR/$name.conf"
  proc_start "$name" "$LS_BOARD" --config "$E2E_DIR/$name.conf"
  wait_until 30 test -s "$E2E_DIR/$name.port" || die "board $name wrote no port file within 30 s"
  log "$name at $(board_url "$name")"
}
board_url() { echo "http://127.0.0.1:$(cat "$E2E_DIR/$1.port")"; }
board_get() { curl -fsS "$(board_url "$1")$2"; }
health() { board_get "$1" /healthz | jq -r ".$2"; }
health_is() { [ "$(health "$1" "$2")" = "$3" ]; }
bad_change_counted() { [ "$(health board bad_change_records)" -ge 1 ]; }

# page_open NAME BOARD : the page of BOARD in Chromium; its DOM in page_dom NAME
page_open() {
  mkdir -p "$E2E_DIR/$1"
  proc_start "$1" node "$BOARD_NODE/drive.js" "$(board_url "$2")/" "$E2E_DIR/$1"
  wait_until 60 test -s "$E2E_DIR/$1/dom.json" || die "page $1: Chromium showed nothing within 60 s"
}
page_dom() { cat "$E2E_DIR/$1/dom.json"; }
# page_has NAME [JQ_ARGS...] FILTER : the page's DOM satisfies the jq condition
page_has() { local n=$1; shift; page_dom "$n" | jq -e "$@" >/dev/null 2>&1; }
page_close() { touch "$E2E_DIR/$1/stop"; proc_stop "$1"; }
# page_shot NAME FILE : a full-page screenshot
page_shot() {
  echo "$2" >"$E2E_DIR/$1/shot"
  wait_until 30 test -e "$E2E_DIR/$1/shot.done" || fail "page $1: no screenshot within 30 s"
}

# produce BROKER TOPIC KEY VALUE [HEADER=VALUE...] : one record with kcat (VALUE "" = tombstone)
produce() {
  local b=$1 t=$2 k=$3 v=$4 h=(); shift 4
  for x in "$@"; do h+=(-H "$x"); done
  printf '%s\t%s\n' "$k" "$v" | kcat -P -Z -b "$(broker_bootstrap "$b")" -t "$t" -K $'\t' "${h[@]}" \
    || die "kcat could not produce to $t"
}

# course_json CONN COURSE LEARNERS COMPLETED IDLE [PROGRESS_MEAN] : a course rollup value
course_json() {
  jq -cn --arg c "$1" --arg k "$2" --argjson l "$3" --argjson d "$4" --argjson i "$5" --arg p "${6:-}" '
    {connection_id: $c, course_id: $k, integration_type: "moodle", tenant: null, learners: $l,
     learners_completed: $d, learners_idle: $i, idle_days: 14}
    + (if $l > 0 then {completion_rate: ($d / $l)} else {} end)
    + (if $p == "" then {} else {progress_mean: ($p | tonumber)} end)'
}

# change_json CONN ACT FROM TO : a progressed change event value
change_json() {
  jq -cn --arg c "$1" --arg a "$2" --argjson f "$3" --argjson t "$4" '
    {activity_id: $a, connection_id: $c, integration_type: "moodle", tenant: null, type: "progressed",
     changed: ["progress_percentage"], observed: {at: "2026-11-28T10:00:00Z", mode: "full", job_id: "j"},
     before: {id: $a, course_id: "crs-1", student_id: "stu-1", progress_percentage: $f},
     after: {id: $a, course_id: "crs-1", student_id: "stu-1", progress_percentage: $t}}'
}

# dom_matches PAGE RECORDS_JSON : every record's row shows its numbers ("—" for an absent one)
# and no other row is shown
dom_matches() {
  page_dom "$1" | jq -e --argjson recs "$2" --arg dash "$DASH" '
    def shown(v): if v == null then $dash else (v | tostring) end;
    def pct(v): if v == null then $dash else ((v * 100 | round) / 100 | tostring) + "%" end;
    (.courses | map({key: .key, value: .}) | from_entries) as $rows
    | ($rows | length) == ($recs | length)
      and all($recs[]; . as $r | $rows[$r.connection_id + "/" + $r.course_id] as $row
        | $row != null and $row.learners == shown($r.learners)
          and $row.learners_completed == shown($r.learners_completed)
          and $row.progress_mean == pct($r.progress_mean)
          and $row.learners_idle == shown($r.learners_idle) and $row.idle_days == shown($r.idle_days)
          and (if $r.learners > 0 then $row.bar_value == $r.learners_completed and $row.bar_max == $r.learners
               else $row.completion == $dash end))' >/dev/null 2>&1
}

# within SECONDS WHAT CMD... : CMD succeeds within SECONDS, or the case fails naming WHAT
within() {
  local s=$1 what=$2 t0; shift 2
  t0=$(date +%s%N)
  if wait_until "$s" "$@"; then log "$what: after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  else fail "$what: not within $s s"; return 1; fi
}

# ---- 1. synthetic records

case_start() {
  : "${LS_BOARD:?LS_BOARD (path of lmsync-board) is not set}"
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (puppeteer-core drives the page)"
  [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM:-}" ] || die "Chromium is needed: apt-get install chromium (make deps installs it)"
  local stamp="$BOARD_NODE/node_modules/.lmsync-lock"
  if ! cmp -s "$BOARD_NODE/package-lock.json" "$stamp"; then
    log "npm ci --prefix tests/board"
    PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix "$BOARD_NODE" --no-audit --no-fund >"$E2E_DIR/npm.log" 2>&1 \
      || { tail -n 20 "$E2E_DIR/npm.log" | as_comment; die "npm ci failed"; }
    cp "$BOARD_NODE/package-lock.json" "$stamp"
  fi
  broker_start devbroker 3 1
  # records there before the board starts: read from the beginning
  RECS=$(jq -cn --argjson a "$(course_json conn-a crs-1 5 2 1 60.5)" --argjson b "$(course_json conn-a crs-2 3 0 3)" \
    --argjson c "$(course_json conn-b crs-9 0 0 0)" '[$a, $b, $c]')
  local r
  while read -r r; do produce devbroker synth.progress.courses "$(jq -r '.connection_id + "/" + .course_id' <<<"$r")" "$r"
  done < <(jq -c '.[]' <<<"$RECS")
  produce devbroker synth.progress.courses conn-a/crs-7 'not json'
  produce devbroker synth.progress.courses conn-a/crs-8 "$(course_json conn-a crs-8 2 1 0 | jq -c '.learners = "2"')"
  produce devbroker synth.progress.courses conn-a/crs-6 "$(course_json conn-a crs-5 2 1 0)"   # key of another course
  board_start board devbroker synth "board.max_clients = 6"
  wait_until 30 health_is board caught_up true || die "the board did not read synth.progress.courses to its end"
  page_open page board
}

case_page_shows_records() {
  within 20 "the page shows the 3 course records" dom_matches page "$RECS" || { page_dom page | jq -c .courses | as_comment; return 1; }
  page_has page '.status == "live"' || fail "the page's stream is not live"
  page_has page '.errors == []' || fail "the page logged errors: $(page_dom page | jq -c .errors)"
  page_has page --arg d "$DASH" '.courses[] | select(.key == "conn-a/crs-2") | .progress_mean == $d' \
    || fail "an absent progress_mean is not shown as —"
  page_has page --arg d "$DASH" '.connections[] | select(.id == "conn-b") | .tenant == $d and .last_change_at == $d' \
    || fail "a null tenant or a connection without changes is not shown as —"
  [ "$(health board bad_course_records)" = 3 ] || fail "bad course records counted $(health board bad_course_records), want 3"
  # the changes feed starts at the topic's end, which librdkafka resolves after the assignment: a record produced
  # before that is not read, so the bad one is produced until one is counted (nearly always the first)
  local i nbad=0
  for ((i = 0; i < 10 && nbad == 0; i++)); do
    produce devbroker synth.activity.changes conn-a/stu-1 '{"type":7}'
    wait_until 2 bad_change_counted
    nbad=$(health board bad_change_records)
  done
  [ "$nbad" -ge 1 ] || fail "the bad change record was not counted"
  # the reasons are logged (a fact no record carries)
  [ "$(grep -c 'skipped a record' "$(proc_log board)")" = $((3 + nbad)) ] ||
    fail "want $((3 + nbad)) 'skipped a record' log lines"
  [ "$(board_get board /api/courses | jq -c 'map(.connection_id + "/" + .course_id)')" = \
    '["conn-a/crs-1","conn-a/crs-2","conn-b/crs-9"]' ] || fail "/api/courses is not the 3 records, sorted"
}

case_live_updates() {
  local new upd
  new=$(course_json conn-b crs-3 4 3 0 88.25); upd=$(course_json conn-a crs-2 3 1 2 40)
  produce devbroker synth.progress.courses conn-b/crs-3 "$new"
  produce devbroker synth.progress.courses conn-a/crs-2 "$upd"
  produce devbroker synth.activity.changes conn-a/stu-1 "$(change_json conn-a act-77 10 35.5)" ce_id=e2e-change-1
  RECS=$(jq -c --argjson n "$new" --argjson u "$upd" 'map(if .course_id == "crs-2" then $u else . end) + [$n]' <<<"$RECS")
  within 5 "a new rollup and an update on the page (SSE)" dom_matches page "$RECS"
  within 5 "a change event in the feed (SSE)" page_has page \
    '.feed[0] | .id == "e2e-change-1" and .activity == "act-77" and (.text | contains("progress_percentage 10 → 35.5"))'
  page_has page '.connections[] | select(.id == "conn-a") | .changes == "1"' || fail "conn-a's change count is not 1"
}

case_tombstone() {
  produce devbroker synth.progress.courses conn-a/crs-1 ""
  RECS=$(jq -c 'map(select(.course_id != "crs-1"))' <<<"$RECS")
  within 5 "a tombstone removes the row" dom_matches page "$RECS"
}

case_accessibility() {
  local a
  a=$(page_dom page | jq -c .a11y)
  jq -e '.lang == "en" and .captions == .tables and .col_headers_without_scope == 0 and .unlabeled_bars == 0
         and .unlabeled_inputs == 0' <<<"$a" >/dev/null || fail "page structure: $a"
  jq -e '.contrast_failures == []' <<<"$a" >/dev/null || fail "text below WCAG AA contrast: $(jq -c .contrast_failures <<<"$a")"
  page_has page '.courses[] | select(.key == "conn-b/crs-3") | .bar_label | test("3 of 4 learners")' \
    || fail "the completion bar has no label naming its numbers"
  page_shot page "$E2E_DIR/synthetic.png"   # kept with E2E_KEEP=DIR
}

# streams beyond board.max_clients (6; the page holds one) get 503
case_client_bound() {
  local i pids=() code
  for i in 1 2 3 4 5; do curl -sN "$(board_url board)/events" >"$E2E_DIR/held.$i" 2>/dev/null & pids+=($!); done
  wait_until 10 health_is board sse_clients 6 || fail "5 more streams are not held"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(board_url board)/events")
  [ "$code" = 503 ] || fail "a 7th stream got HTTP $code, want 503"
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  within 5 "the 5 closed streams are freed" health_is board sse_clients 1
}

# ---- 2. streams killed mid-stream cost nothing

threads() { awk '/^Threads:/ {print $2}' "/proc/$(proc_pid board)/status"; }
rss_kb()  { awk '/^VmRSS:/ {print $2}' "/proc/$(proc_pid board)/status"; }
slot_free() { [ "$(health board sse_clients)" -lt 6 ]; }
# one_stream : a stream that got its snapshot, killed -9 (first a free slot:
# the board frees a closed stream within ~100 ms, the script can be faster)
one_stream() {
  local pid f="$E2E_DIR/stream.out"
  wait_until 10 slot_free || fail "no stream slot freed within 10 s"
  : >"$f"
  curl -sN "$(board_url board)/events" >"$f" 2>/dev/null & pid=$!
  wait_until 10 grep -q '^event: snapshot' "$f" || fail "a stream got no snapshot"
  kill -KILL "$pid"; wait "$pid" 2>/dev/null
}

case_disconnects() {
  local i t0 r0 t1 r1
  for i in $(seq 5); do one_stream; done   # warm-up: allocator arenas, libmicrohttpd's pools
  wait_until 5 health_is board sse_clients 1 || fail "warm-up streams not freed"
  t0=$(threads); r0=$(rss_kb)
  for i in $(seq 50); do one_stream; done
  within 5 "the 50 killed streams are noticed and freed" health_is board sse_clients 1
  t1=$(threads); r1=$(rss_kb)
  log "board: threads $t0 -> $t1, RSS $r0 -> $r1 kB after 50 streams killed mid-stream"
  [ "$t1" -eq "$t0" ] || fail "thread count went from $t0 to $t1"
  [ $((r1 - r0)) -le 512 ] || fail "RSS grew by $((r1 - r0)) kB (more than 512 kB)"
  page_has page '.status == "live"' || fail "the page lost its stream"
}

case_synthetic_done() { page_close page; proc_stop board; }

# ---- 3. the real pipeline

case_pipeline() {
  sandbox_start sandbox --seed 5 --connections 4 --students 3 --courses 2 --contents 2 --tick-ms 0
  write_config "$E2E_DIR/lmsync.conf" sandbox devbroker "coordinator.interval_s = $INTERVAL" \
    "worker.lmdb_path = $E2E_DIR/lmdb" "worker.processes = 1"
  board_start board2 devbroker lmsync   # before the pipeline: its feed sees the first poll
  page_open page2 board2
  pipeline_start devbroker "$E2E_DIR/lmsync.conf"
  CONNS=$(curl -fsS -H 'Authorization: Bearer e2e-token' "$(sandbox_url sandbox)/unified/connection?categories=lms&limit=100" \
    | jq -c '[.[].id] | sort')
  [ "$(jq length <<<"${CONNS:-[]}")" -eq 4 ] || die "the sandbox lists connections $CONNS, want 4"
  wait_round status "$((T0 - 1))" 90 $(jq -r '.[]' <<<"$CONNS")
  within 15 "the page lists every connection of the sandbox" page_has page2 \
    --argjson c "$CONNS" '[.connections[].id] | sort == $c' || { page_dom page2 | jq -c .connections | as_comment; return 1; }
}

case_pipeline_change() {
  local act
  act=$(sb_pick sandbox conn-0002 '.progress_percentage != null and .is_completed == false')
  [ -n "$act" ] || { fail "no activity to change in conn-0002"; return 1; }
  sb_set sandbox conn-0002 "$act" '{"progress_percentage": 42.5}'
  within $((INTERVAL + 10)) "the sandbox change in the feed (poll interval ${INTERVAL} s)" page_has page2 \
    --arg a "$act" 'any(.feed[]; .activity == $a and .connection == "conn-0002" and (.text | contains("→ 42.5")))'
}

# course_rollups : the latest value of every live key of lmsync.progress.courses, as one array
course_rollups() {
  timeout 30 "$LS_TAIL" --brokers "$(broker_bootstrap devbroker)" --topic lmsync.progress.courses --from beginning \
    --format json --exit-at-end 2>/dev/null | jq -cs '[group_by(.key)[] | last | select(.value != null) | .value]'
}

# bars_match_topic PAGE : the page's course bars equal the topic's records as they are now
bars_match_topic() { dom_matches "$1" "$(course_rollups)"; }

case_pipeline_rollups() {
  local n
  n=$(course_rollups | jq length)
  [ "${n:-0}" -gt 0 ] || { fail "lmsync.progress.courses has no course rollup after the pipeline's polls"; return 1; }
  within 15 "the page's bars equal the $n lmsync.progress.courses records" bars_match_topic page2
  page_shot page2 "$SHOT"
  log "screenshot: $SHOT"
}

case_pipeline_stop() { page_close page2; proc_stop board2; proc_stop coordinator; proc_stop worker; }

test_case start
test_case page-shows-records
test_case live-updates
test_case tombstone
test_case accessibility
test_case client-bound --needs start
test_case disconnects --needs start
test_case synthetic-done --needs start
test_case pipeline --needs start
test_case pipeline-change
test_case pipeline-rollups --needs pipeline
test_case pipeline-stop --needs pipeline
run_cases
