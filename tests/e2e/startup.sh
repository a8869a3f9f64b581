#!/usr/bin/env bash
# Start-up errors are precise, name the setting, and exit non-zero (never a
# crash or a hang): bad config, missing token, unreachable Kafka, unwritable
# LMDB directory; --check-config accepts a good file and masks the token.
source "$(dirname "$0")/lib.sh"
C="$E2E_DIR/c.conf"

expect_fail() { # LABEL PATTERN CMD...
  local label=$1 pat=$2; shift 2
  local out rc
  out=$(timeout 60 "$@" 2>&1); rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -ge 128 ]; then fail "$label: exit $rc (want a clean non-zero exit)"; return; fi
  grep -q -- "$pat" <<<"$out" || { fail "$label: message lacks '$pat': $out"; return; }
  log "$label: exit $rc: $(grep -m1 -- "$pat" <<<"$out")"
}

printf 'kafka.brokers = 127.0.0.1:9\nworker.page_limit = 0\n' >"$C"
expect_fail "range check" "worker.page_limit" "$LS_WORKER" --config "$C" --check-config
printf 'kafka.brokers = 127.0.0.1:9\nno.such = 1\n' >"$C"
expect_fail "unknown key" "$C:2: unknown setting 'no.such'" "$LS_WORKER" --config "$C" --check-config
printf 'kafka.brokers = 127.0.0.1:9\nunified.token = x\n' >"$C"
expect_fail "secret in file" "is a secret" "$LS_WORKER" --config "$C" --check-config
printf 'kafka.brokers = 127.0.0.1:9\n' >"$C"
expect_fail "missing token" "UNIFIED_API_TOKEN" env -u UNIFIED_API_TOKEN "$LS_WORKER" --config "$C"
expect_fail "missing file" "cannot open config file" "$LS_WORKER" --config "$E2E_DIR/none.conf"
out=$(UNIFIED_API_TOKEN=s3cret-value "$LS_WORKER" --config "$C" --check-config) || fail "check-config rejected a good file"
grep -q "unified.token = (set)" <<<"$out" || fail "check-config does not show the token as (set)"
grep -q "s3cret-value" <<<"$out" && fail "check-config printed the token"
expect_fail "unreachable kafka" "kafka.brokers" env UNIFIED_API_TOKEN=t LMSYNC_WORKER_LMDB_PATH="$E2E_DIR/l1" "$LS_WORKER" --config "$C"
expect_fail "coordinator unreachable kafka" "kafka.brokers" env UNIFIED_API_TOKEN=t "$LS_COORDINATOR" --config "$C"
start_devbroker 2
printf 'kafka.brokers = %s\nlog.format = text\n' "$BROKERS" >"$C"
touch "$E2E_DIR/file"
expect_fail "unwritable lmdb" "worker.lmdb_path" env UNIFIED_API_TOKEN=t LMSYNC_WORKER_LMDB_PATH="$E2E_DIR/file/sub" "$LS_WORKER" --config "$C"
expect_fail "coordinator without token or list" "UNIFIED_API_TOKEN" env -u UNIFIED_API_TOKEN "$LS_COORDINATOR" --config "$C"
[ "$E2E_FAILED" -eq 0 ] || exit 1
log "PASS"
