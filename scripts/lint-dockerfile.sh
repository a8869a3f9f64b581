#!/usr/bin/env bash
# Structural lint of ./Dockerfile (no hadolint on Debian 12): the rules that
# docs/operations.md promises of the image. Exit 0, or 1 with one line per
# broken rule. Usage: scripts/lint-dockerfile.sh [DOCKERFILE]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
df=${1:-$root/Dockerfile}
bad=0
err() { echo "$(basename "$df"): $*"; bad=1; }

# Logical lines: continuation lines joined, comments dropped.
lines=$(sed -e 's/[[:space:]]*#.*$//' "$df" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep -v '^[[:space:]]*$')
froms=$(grep -c '^FROM ' <<<"$lines")
[ "$froms" -eq 2 ] || err "expected 2 stages (build, runtime), found $froms"
grep -q '^FROM debian:12 AS build$' <<<"$lines" || err "build stage is not 'FROM debian:12 AS build'"
last_from=$(grep -n '^FROM ' <<<"$lines" | tail -1 | cut -d: -f1)
runtime=$(tail -n +"$last_from" <<<"$lines")
head -1 <<<"$runtime" | grep -q '^FROM debian:12-slim' || err "runtime stage is not based on debian:12-slim"
grep -qE ':latest|^ADD +https?:' <<<"$lines" && err "no :latest tags and no ADD from URLs"

# Runtime: only runtime libraries.
grep -E '^RUN .*apt-get install' <<<"$runtime" | grep -qE -- '-dev\b|\b(gcc|cmake|make|pkg-config)\b' \
  && err "runtime stage installs build tools or -dev packages"
while read -r run; do
  grep -q -- '--no-install-recommends' <<<"$run" || err "apt-get install without --no-install-recommends"
  grep -q 'rm -rf /var/lib/apt/lists' <<<"$run" || err "apt-get install without removing /var/lib/apt/lists"
done < <(grep -E '^RUN .*apt-get install' <<<"$lines")

# Non-root, exec-form entrypoint.
user=$(grep '^USER ' <<<"$runtime" | tail -1 | awk '{print $2}')
[ "$user" = "10001:10001" ] || [ "$user" = "10001" ] || err "runtime USER is '${user:-unset}', must be 10001"
last_user=$(grep -n '^USER ' <<<"$runtime" | tail -1 | cut -d: -f1)
last_run=$(grep -n '^RUN ' <<<"$runtime" | tail -1 | cut -d: -f1)
[ -n "$last_user" ] && [ "${last_run:-0}" -lt "$last_user" ] || err "a RUN comes after USER in the runtime stage"
for k in ENTRYPOINT CMD; do
  v=$(grep "^$k " <<<"$runtime" | tail -1 | sed "s/^$k //")
  [ -n "$v" ] || { err "$k missing"; continue; }
  node -e 'const v = JSON.parse(process.argv[1]); if (!Array.isArray(v) || !v.every(s => typeof s === "string")) process.exit(1)' "$v" 2>/dev/null \
    || err "$k is not in exec form (a JSON array of strings): $v"
done
grep "^ENTRYPOINT " <<<"$runtime" | grep -q '"/usr/local/bin/lmsync-' || err "ENTRYPOINT does not start an lmsync program by absolute path"

# Every program of the repository is in the image.
for prog in $(grep -ho 'add_executable(lmsync-[a-z-]*' "$root"/{coordinator,worker,sandbox,devbroker,tools,board,webhook,xapi}/CMakeLists.txt | sed 's/add_executable(//'); do
  grep -q "/$prog " <<<"$lines" || grep -q "/$prog\$" <<<"$lines" || err "program $prog is not copied into the image"
done
grep -qx 'build' "$root/.dockerignore" 2>/dev/null || err ".dockerignore does not exclude build/"
[ "$bad" -eq 0 ] && echo "$(basename "$df"): ok"
exit "$bad"
