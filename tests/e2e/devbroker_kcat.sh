#!/usr/bin/env bash
# ctest-timeout: 120
# e2e.devbroker_kcat - lmsync-devbroker + kcat + lmsync-tail.
#
# Starts the devbroker on ephemeral ports, produces three messages with kcat
# (a CloudEvents change event with ce_* headers, a plain-text value, and a
# tombstone), reads them back with lmsync-tail in both formats, pokes the
# control API, and checks that SIGTERM stops the devbroker with exit code 0.
#
# usage: devbroker_kcat.sh PATH/TO/lmsync-devbroker PATH/TO/lmsync-tail
set -euo pipefail

DEVBROKER=${1:?usage: $0 lmsync-devbroker lmsync-tail}
TAIL=${2:?usage: $0 lmsync-devbroker lmsync-tail}
for tool in kcat jq curl timeout; do
    command -v "$tool" >/dev/null || { echo "FAIL: '$tool' is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
db_pid=
cleanup() {
    if [ -n "$db_pid" ] && kill -0 "$db_pid" 2>/dev/null; then
        kill -TERM "$db_pid" 2>/dev/null || true
        wait "$db_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in devbroker.err tail.err; do
        [ -s "$work/$f" ] && { echo "--- $f" >&2; tail -n 20 "$work/$f" >&2; }
    done
    exit 1
}

# --- start the devbroker -----------------------------------------------------
"$DEVBROKER" --brokers 3 --partitions 6 --prefix e2e \
    --bootstrap-file "$work/bootstrap" --control-port-file "$work/control.port" \
    --log-format text >"$work/devbroker.out" 2>"$work/devbroker.err" &
db_pid=$!
for _ in $(seq 100); do
    [ -s "$work/bootstrap" ] && break
    kill -0 "$db_pid" 2>/dev/null || fail "devbroker exited during startup"
    sleep 0.1
done
[ -s "$work/bootstrap" ] || fail "no bootstrap file after 10 s"
bootstrap=$(cat "$work/bootstrap")
ctl="http://127.0.0.1:$(cat "$work/control.port")"
[[ "$bootstrap" =~ ^127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}$ ]] \
    || fail "unexpected bootstrap list '$bootstrap'"
[ "$(cat "$work/devbroker.out")" = "lmsync-devbroker bootstrap $bootstrap" ] \
    || fail "stdout is not exactly one bootstrap line: $(cat "$work/devbroker.out")"
echo "devbroker up: $bootstrap, control $ctl"

# --- control API ---------------------------------------------------------------
[ "$(curl -sf "$ctl/healthz")" = "ok" ] || fail "GET /healthz"
curl -sf -XPOST "$ctl/brokers/2/down" >/dev/null || fail "POST /brokers/2/down"
curl -sf -XPOST "$ctl/brokers/2/up" >/dev/null || fail "POST /brokers/2/up"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$ctl/brokers/99/down")
[ "$code" = 404 ] || fail "POST /brokers/99/down gave $code, want 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$ctl/errors" -d '{"api_key":0,"errors":["NO_SUCH_ERROR"]}')
[ "$code" = 400 ] || fail "POST /errors with a bad name gave $code, want 400"

# --- produce -------------------------------------------------------------------
topic=e2e.activity.changes
event='{"connection_id":"c1","integration_type":"moodle","tenant":"t-1","activity_id":"a1","type":"completed","before":{"student_id":"s9","progress_percentage":40,"is_completed":false},"after":{"student_id":"s9","progress_percentage":100,"is_completed":true,"completed_at":"2026-11-27T14:09:48Z"},"changed":["progress_percentage","is_completed","completed_at"],"observed":{"mode":"full","at":"2026-11-27T14:10:00Z","job_id":"j-1"}}'
# One produce request fails with a retriable error first: kcat must retry it.
curl -sf -XPOST "$ctl/errors" -d '{"api_key":0,"errors":["NOT_LEADER_FOR_PARTITION"]}' >/dev/null \
    || fail "POST /errors"
printf '%s\n' "$event" | kcat -b "$bootstrap" -t "$topic" -P -k c1/s9 \
    -H ce_specversion=1.0 -H ce_id=ev-1 -H ce_source=/connections/c1 \
    -H ce_type=lms.activity.completed -H ce_time=2026-11-27T14:10:00Z \
    -H ce_subject=activities/a1 -H content-type=application/json \
    || fail "kcat produce (event)"
printf 'hello world\n' | kcat -b "$bootstrap" -t "$topic" -P -k k2 || fail "kcat produce (text)"
printf 'k3:\n' | kcat -b "$bootstrap" -t "$topic" -P -K: -Z || fail "kcat produce (tombstone)"

# kcat itself can read them back.
n=$(timeout 30 kcat -b "$bootstrap" -t "$topic" -C -o beginning -e -q -f '%k\n' | wc -l)
[ "$n" = 3 ] || fail "kcat consumed $n messages, want 3"

# --- lmsync-tail --format json -------------------------------------------------
timeout 30 "$TAIL" --brokers "$bootstrap" --topic "$topic" --from beginning \
    --exit-at-end --format json >"$work/out.json" 2>"$work/tail.err" \
    || fail "lmsync-tail --format json exited $?"
cat "$work/out.json"
jq -e -s --arg t "$topic" '
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
' "$work/out.json" >/dev/null || fail "json output does not match"

# --- lmsync-tail --format line -------------------------------------------------
timeout 30 "$TAIL" --brokers "$bootstrap" --topic "$topic" --exit-at-end \
    --format line >"$work/out.txt" 2>"$work/tail.err" \
    || fail "lmsync-tail --format line exited $?"
cat "$work/out.txt"
[ "$(wc -l <"$work/out.txt")" = 3 ] || fail "line output: want 3 lines"
ev_line=$(grep '^lms\.activity\.completed ' "$work/out.txt") || fail "no line starts with the event type"
for want in ' c1 ' ' a1 ' 'progress_percentage 40 -> 100' 'is_completed false -> true' \
            'completed_at - -> 2026-11-27T14:09:48Z' 'student=s9'; do
    [[ "$ev_line" == *"$want"* ]] || fail "event line lacks '$want': $ev_line"
done
grep -qx "$topic k2 hello world" "$work/out.txt" || fail "no plain line for k2"

# --- stop conditions -----------------------------------------------------------
# An empty topic: --exit-at-end must still end (EOF on every partition).
timeout 20 "$TAIL" --brokers "$bootstrap" --topic e2e.sync.status --exit-at-end \
    >"$work/empty.txt" 2>"$work/tail.err" || fail "--exit-at-end on an empty topic"
[ ! -s "$work/empty.txt" ] || fail "empty topic printed something"
# --from end sees nothing old; --timeout-ms ends it.
timeout 20 "$TAIL" --brokers "$bootstrap" --topic "$topic" --from end --timeout-ms 1500 \
    >"$work/end.txt" 2>"$work/tail.err" || fail "--from end --timeout-ms"
[ ! -s "$work/end.txt" ] || fail "--from end printed old messages"
# --max stops after N messages.
timeout 20 "$TAIL" --brokers "$bootstrap" --topic "$topic" --max 2 --format json \
    >"$work/max.json" 2>"$work/tail.err" || fail "--max 2"
[ "$(wc -l <"$work/max.json")" = 2 ] || fail "--max 2 printed $(wc -l <"$work/max.json") lines"

# --- SIGTERM ---------------------------------------------------------------------
kill -TERM "$db_pid"
rc=0
wait "$db_pid" || rc=$?
db_pid=
[ "$rc" = 0 ] || fail "devbroker exited $rc after SIGTERM, want 0"
grep -q 'stopped' "$work/devbroker.err" || fail "devbroker did not log a clean stop"
echo "PASS"
