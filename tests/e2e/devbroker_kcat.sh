#!/usr/bin/env bash
# ctest-timeout: 120
# e2e.devbroker_kcat - lmsync-devbroker + kcat + lmsync-tail.
#   start            the devbroker on ephemeral ports: bootstrap list and its
#                    one line on stdout
#   control-api      /healthz, brokers down/up, 404 and 400 answers
#   produce          three messages with kcat (a CloudEvents change event with
#                    ce_* headers, after one injected retriable error; a
#                    plain-text value; a tombstone); kcat reads them back
#   tail-json        lmsync-tail --format json renders all three
#   tail-line        lmsync-tail --format line renders all three
#   stop-conditions  --exit-at-end on an empty topic, --from end, --max
#   sigterm          SIGTERM stops the devbroker with exit code 0
# The devbroker reports to no topic: its clean stop is a fact of its log only.
source "$(dirname "$0")/lib.sh"
TOPIC=e2e.activity.changes
EVENT='{"connection_id":"c1","integration_type":"moodle","tenant":"t-1","activity_id":"a1","type":"completed","before":{"student_id":"s9","progress_percentage":40,"is_completed":false},"after":{"student_id":"s9","progress_percentage":100,"is_completed":true,"completed_at":"2026-11-27T14:09:48Z"},"changed":["progress_percentage","is_completed","completed_at"],"observed":{"mode":"full","at":"2026-11-27T14:10:00Z","job_id":"j-1"}}'

# http_code METHOD PATH [BODY] : the control API's status code
http_code() { curl -s -o /dev/null -w '%{http_code}' -X"$1" "$(broker_ctl_url devbroker)$2" ${3:+-d "$3"}; }
# lstail ARGS... : lmsync-tail against the devbroker, stderr in tail.log
lstail() { timeout 30 "$LS_TAIL" --brokers "$BOOT" "$@" 2>"$E2E_DIR/tail.log"; }

case_start() {
  local tool
  for tool in kcat jq curl timeout; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed"
  done
  broker_start devbroker 6 3 --prefix e2e
  BOOT=$(broker_bootstrap devbroker)
  [[ "$BOOT" =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]] || die "unexpected bootstrap list '$BOOT'"
  [ "$(cat "$E2E_DIR/devbroker.out")" = "lmsync-devbroker bootstrap $BOOT" ] \
    || fail "stdout is not exactly one bootstrap line: $(cat "$E2E_DIR/devbroker.out")"
}

case_control_api() {
  [ "$(curl -sf "$(broker_ctl_url devbroker)/healthz")" = "ok" ] || fail "GET /healthz"
  broker_ctl devbroker /brokers/2/down || fail "POST /brokers/2/down"
  broker_ctl devbroker /brokers/2/up || fail "POST /brokers/2/up"
  [ "$(http_code POST /brokers/99/down)" = 404 ] || fail "POST /brokers/99/down gave $(http_code POST /brokers/99/down), want 404"
  [ "$(http_code POST /errors '{"api_key":0,"errors":["NO_SUCH_ERROR"]}')" = 400 ] \
    || fail "POST /errors with a bad name gave $(http_code POST /errors '{"api_key":0,"errors":["NO_SUCH_ERROR"]}'), want 400"
}

case_produce() {
  local n
  # One produce request fails with a retriable error first: kcat must retry it.
  broker_ctl devbroker /errors '{"api_key":0,"errors":["NOT_LEADER_FOR_PARTITION"]}' || die "POST /errors"
  printf '%s\n' "$EVENT" | kcat -b "$BOOT" -t "$TOPIC" -P -k c1/s9 \
    -H ce_specversion=1.0 -H ce_id=ev-1 -H ce_source=/connections/c1 \
    -H ce_type=lms.activity.completed -H ce_time=2026-11-27T14:10:00Z \
    -H ce_subject=activities/a1 -H content-type=application/json \
    || die "kcat produce (event)"
  printf 'hello world\n' | kcat -b "$BOOT" -t "$TOPIC" -P -k k2 || die "kcat produce (text)"
  printf 'k3:\n' | kcat -b "$BOOT" -t "$TOPIC" -P -K: -Z || die "kcat produce (tombstone)"
  n=$(topic_length devbroker "$TOPIC")
  [ "$n" = 3 ] || die "kcat consumed $n messages, want 3"
}

case_tail_json() {
  lstail --topic "$TOPIC" --from beginning --exit-at-end --format json >"$E2E_DIR/out.json" \
    || { fail "lmsync-tail --format json exited $?"; return 1; }
  as_comment <"$E2E_DIR/out.json"
  jq -e -s --arg t "$TOPIC" '
      length == 3
      and all(.[]; .topic == $t and (.partition | type) == "number"
                   and .offset == 0 and .timestamp_ms > 1000000000000
                   and (.headers | type) == "object")
      and (map(select(.key == "c1/s9"))[0]
           | .headers.ce_type == "lms.activity.completed"
             and .headers.ce_subject == "activities/a1"
             and .headers["content-type"] == "application/json"
             and .value.connection_id == "c1"
             and .value.after.progress_percentage == 100
             and .value.before.is_completed == false
             and .value.changed == ["progress_percentage","is_completed","completed_at"])
      and (map(select(.key == "k2"))[0] | .value == "hello world" and .headers == {})
      and (map(select(.key == "k3"))[0] | .value == null)
  ' "$E2E_DIR/out.json" >/dev/null || fail "json output does not match"
}

case_tail_line() {
  local ev_line want
  lstail --topic "$TOPIC" --exit-at-end --format line >"$E2E_DIR/out.txt" \
    || { fail "lmsync-tail --format line exited $?"; return 1; }
  as_comment <"$E2E_DIR/out.txt"
  [ "$(wc -l <"$E2E_DIR/out.txt")" = 3 ] || fail "line output: want 3 lines"
  ev_line=$(grep '^lms\.activity\.completed ' "$E2E_DIR/out.txt") || { fail "no line starts with the event type"; return 1; }
  for want in ' c1 ' ' a1 ' 'progress_percentage 40 -> 100' 'is_completed false -> true' \
              'completed_at - -> 2026-11-27T14:09:48Z' 'student=s9'; do
    [[ "$ev_line" == *"$want"* ]] || fail "event line lacks '$want': $ev_line"
  done
  grep -qx "$TOPIC k2 hello world" "$E2E_DIR/out.txt" || fail "no plain line for k2"
}

case_stop_conditions() {
  # An empty topic: --exit-at-end must still end (EOF on every partition).
  lstail --topic e2e.sync.status --exit-at-end >"$E2E_DIR/empty.txt" || fail "--exit-at-end on an empty topic"
  [ ! -s "$E2E_DIR/empty.txt" ] || fail "empty topic printed something"
  # --from end sees nothing old; --timeout-ms ends it.
  lstail --topic "$TOPIC" --from end --timeout-ms 1500 >"$E2E_DIR/end.txt" || fail "--from end --timeout-ms"
  [ ! -s "$E2E_DIR/end.txt" ] || fail "--from end printed old messages"
  # --max stops after N messages.
  lstail --topic "$TOPIC" --max 2 --format json >"$E2E_DIR/max.json" || fail "--max 2"
  [ "$(wc -l <"$E2E_DIR/max.json")" = 2 ] || fail "--max 2 printed $(wc -l <"$E2E_DIR/max.json") lines"
}

case_sigterm() {
  proc_stop devbroker || return 1
  # log wording (see top): the devbroker's clean stop
  grep -q 'stopped' "$(proc_log devbroker)" || fail "devbroker did not log a clean stop"
}

test_case start
test_case control-api
test_case produce --needs start
test_case tail-json
test_case tail-line --needs produce
test_case stop-conditions --needs produce
test_case sigterm --needs start
run_cases
