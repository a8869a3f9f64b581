#!/usr/bin/env bash
# bench/rollups.sh - what the progress rollups cost: bench b of run.sh (worker
# CPU per changed activity: the first sync of N connections x 2,000 activities,
# every activity new) and the LMDB space (ls_store_usage: pages in use x page
# size), for two builds measured alternately, RUNS times each; prints medians.
#
#   bash bench/rollups.sh BEFORE_BUILD AFTER_BUILD [RUNS=3] [CONNS=20] [CONTENTS=1]
#
# CONTENTS activities per enrollment (students x courses x contents per
# connection, students x courses = 2,000 / CONTENTS).
set -uo pipefail
BEFORE=$(cd "$1" && pwd); AFTER=$(cd "$2" && pwd)
RUNS=${3:-3}; CONNS=${4:-20}; CONTENTS=${5:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
LIMIT=100
STUDENTS=40; COURSES=$((50 / CONTENTS))
source "$HERE/lib.sh"

# one_run BUILD : "us_per_changed_activity bytes_per_activity rollup_rows" of one first sync
one_run() {
  BUILD=$1
  start_stack "r$RANDOM" --connections "$CONNS" --students "$STUDENTS" --courses "$COURSES" --contents "$CONTENTS"
  local c0 c1 recs pages rows
  c0=$(cpu_s "$WORKER")
  enqueue b1 "$CONNS"; wait_jobs b1 "$CONNS"
  c1=$(cpu_s "$WORKER")
  recs=$(sum_status b1 records)
  [ "$(failed_jobs b1)" -eq 0 ] || die "jobs failed"
  pages=$(mdb_stat_all -e | awk '/Number of pages used/ {s += $5} END {print s + 0}')
  rows=$(for d in ru_members ru_enrollments ru_courses; do mdb_stat_all -s "$d"; done \
    | awk '/Entries/ {e += $2} END {print e + 0}')
  stop_stack
  printf "%.2f %.1f %s\n" "$(echo "($c1 - $c0) * 1000000 / $recs" | bc -l)" "$(echo "$pages * 4096 / $recs" | bc -l)" "$rows"
}

median() { sort -g | awk '{v[NR] = $1} END {printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

: >"$DIR/before"; : >"$DIR/after"
for ((r = 1; r <= RUNS; r++)); do
  log "run $r of $RUNS: $CONNS connections x $((STUDENTS * COURSES * CONTENTS)) activities, $CONTENTS per enrollment"
  one_run "$BEFORE" >>"$DIR/before"
  one_run "$AFTER" >>"$DIR/after"
done
for w in before after; do
  printf '%-6s us/changed activity: %s (median of %s), LMDB bytes/activity: %s, rollup rows: %s\n' "$w" \
    "$(cut -d' ' -f1 "$DIR/$w" | median)" "$(cut -d' ' -f1 "$DIR/$w" | tr '\n' ' ')" \
    "$(cut -d' ' -f2 "$DIR/$w" | median)" "$(cut -d' ' -f3 "$DIR/$w" | median)"
done
