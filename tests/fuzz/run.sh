#!/usr/bin/env bash
# run.sh [--build-dir DIR] SECONDS [HARNESS...] - run libFuzzer harnesses.
#
# Each harness (default: all of tests/fuzz/fuzz_*.c, named without "fuzz_")
# runs for SECONDS over a scratch copy of tests/fuzz/corpus/<harness>, so the
# tree's seed corpus is never modified; the harnesses run in parallel. A
# crash leaves its input in DIR/artifacts/<harness>/ and fails the run.
# Without --build-dir the tree is built (or brought up to date) in build/fuzz
# first. Long run: bash tests/fuzz/run.sh 3600
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=""
if [ "${1:-}" = "--build-dir" ]; then BUILD=$2; shift 2; fi
SECS=${1:?usage: run.sh [--build-dir DIR] SECONDS [HARNESS...]}
shift
if [ -z "$BUILD" ]; then
  BUILD=$HERE/../../build/fuzz
  bash "$HERE/build.sh" "$BUILD" >/dev/null || exit 1
fi
HARNESSES=("$@")
if [ ${#HARNESSES[@]} -eq 0 ]; then
  for f in "$HERE"/fuzz_*.c; do h=$(basename "$f" .c); HARNESSES+=("${h#fuzz_}"); done
fi

run_one() { # run_one HARNESS
  local h=$1 bin="$BUILD/tests/fuzz/fuzz_$1" art="$BUILD/artifacts/$1" work
  [ -x "$bin" ] || { echo "$h: $bin not built (run tests/fuzz/build.sh)"; return 1; }
  work=$(mktemp -d "${TMPDIR:-/tmp}/lmsync-fuzz-$h.XXXXXX")
  mkdir -p "$art"
  "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" "$HERE/corpus/$h" >"$work.log" 2>&1
  local rc=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::number_of_executed_units|^Done [0-9]+ runs' "$work.log" | sed "s/^/$h: /"
  if [ $rc -ne 0 ]; then
    echo "$h: FAILED (exit $rc); input saved under $art; last lines:"
    tail -n 40 "$work.log"
  fi
  rm -rf "$work" "$work.log"
  return $rc
}

pids=()
for h in "${HARNESSES[@]}"; do run_one "$h" & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
