#!/usr/bin/env bash
# Build the lmsync container image from ./Dockerfile and smoke-test it.
#
#   scripts/image.sh [--bootstrap] [--no-run] [--tag NAME]
#
# --bootstrap  make the base images (debian:12, debian:12-slim) locally from a
#              minimal Debian 12 root filesystem built with debootstrap from
#              the mirror in apt's sources, for machines that cannot pull from
#              a registry. Needs root, debootstrap and about 300 MB.
# --no-run     build only; skip the smoke test (--check-config and a demo
#              run of the sandbox + devbroker inside the image).
# --tag NAME   image name (default lmsync:<version from CMakeLists.txt>).
#
# Uses podman (or docker when podman is missing). Not part of `make test`:
# it takes minutes. See docs/operations.md, "Container image".
set -euo pipefail
cd "$(dirname "$0")/.."

bootstrap=0 run=1
version=$(sed -n 's/^project(lmsync VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
tag="lmsync:${version:-dev}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bootstrap) bootstrap=1 ;;
    --no-run) run=0 ;;
    --tag) tag="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

engine=$(command -v podman || command -v docker || true)
[ -n "$engine" ] || { echo "image.sh: neither podman nor docker is installed" >&2; exit 1; }

# The Debian mirror apt already uses (deb822 or one-line sources).
debian_mirror() {
  local m
  m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
      | grep -v security | head -1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*//')
  echo "${m:-http://deb.debian.org/debian}"
}

# debian:12 and debian:12-slim from one minbase root filesystem: the build
# stage installs its compilers itself, so minbase serves both.
bootstrap_base() {
  local root=build/image/rootfs mirror
  mirror=$(debian_mirror)
  if ! "$engine" image exists debian:12 2>/dev/null; then
    rm -rf "$root"; mkdir -p "$root"
    echo "image.sh: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" > build/image/debootstrap.log 2>&1 \
      || { echo "image.sh: debootstrap failed (log: build/image/debootstrap.log)" >&2; tail -5 build/image/debootstrap.log >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | "$engine" import - debian:12
  fi
  "$engine" tag debian:12 debian:12-slim
}

mkdir -p build/image
[ "$bootstrap" = 1 ] && bootstrap_base

# Can the OCI runtime start a container here? Nested sandboxes often forbid
# what crun needs (setrlimit above the hard limit, cgroups in hybrid mode).
# Without it, buildah builds and runs with chroot isolation: RUN steps and the
# smoke test in the image's root filesystem, as its user, without namespaces.
runtime_ok=0
if "$engine" run --rm --network=host debian:12 true >build/image/run-probe.log 2>&1; then
  runtime_ok=1
elif ! command -v buildah >/dev/null; then
  echo "image.sh: '$engine run' fails here ($(tail -1 build/image/run-probe.log)) and buildah is missing" >&2
  exit 1
else
  echo "image.sh: '$engine run' cannot start a container here: $(tail -1 build/image/run-probe.log)"
  echo "image.sh: building and running with 'buildah --isolation chroot' instead"
fi

echo "image.sh: building $tag"
if [ "$runtime_ok" = 1 ]; then
  "$engine" build --network=host -t "$tag" -f Dockerfile . >build/image/build.log 2>&1 || build_rc=$?
else
  buildah bud --isolation chroot --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" -t "$tag" -f Dockerfile . \
    >build/image/build.log 2>&1 || build_rc=$?
fi
[ "${build_rc:-0}" -eq 0 ] || { tail -5 build/image/build.log >&2; echo "image.sh: build failed (log: build/image/build.log)" >&2; exit 1; }
"$engine" image inspect "$tag" --format 'image.sh: built {{.Id}} user={{.Config.User}} entrypoint={{.Config.Entrypoint}} size={{.Size}}'

# Run a program of the image. `podman run` first; where the OCI runtime
# cannot start containers (nested sandboxes that forbid setrlimit or new
# namespaces), a buildah working container run with chroot isolation: the
# same root filesystem, user (10001) and environment, without namespaces.
ctr=""
if [ "$runtime_ok" = 1 ]; then
  in_image() { local prog=$1; shift; "$engine" run --rm --network=host --entrypoint "$prog" "${ENVS[@]/#/--env=}" "$tag" "$@"; }
else
  ctr=$(buildah from "$tag")
  trap 'buildah rm "$ctr" >/dev/null 2>&1' EXIT
  in_image() { buildah run --isolation chroot --user 10001:10001 "${ENVS[@]/#/--env=}" "$ctr" -- "$@"; }
fi

ENVS=(KAFKA_BROKERS=kafka:9092 UNIFIED_API_TOKEN=smoke-token)
echo "image.sh: smoke test: lmsync-worker --check-config"
in_image /usr/local/bin/lmsync-worker --check-config | grep -E "^(kafka.brokers|worker.lmdb_path) |configuration ok"

echo "image.sh: demo: devbroker + sandbox + coordinator + worker from the image until 200 change events (at most 30 s without one)"
demo=build/image/demo; rm -rf "$demo"; mkdir -p "$demo"
pids=()
# Job control: each background program gets its own process group, so the
# cleanup stops the runner (podman or buildah) together with the program.
set -m
cleanup_demo() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }
trap 'cleanup_demo; [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1' EXIT
ENVS=()
in_image /usr/local/bin/lmsync-devbroker --partitions 4 >"$demo/devbroker.out" 2>"$demo/devbroker.log" & pids+=($!)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
in_image /usr/local/bin/lmsync-sandbox --port "$port" --token demo-token --tick-ms 1000 >"$demo/sandbox.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do grep -q bootstrap "$demo/devbroker.out" 2>/dev/null && break; sleep 0.2; done
brokers=$(awk '/bootstrap/ {print $3}' "$demo/devbroker.out")
[ -n "$brokers" ] || { echo "image.sh: the devbroker did not start: $(tail -3 "$demo/devbroker.log")" >&2; exit 1; }
ENVS=(KAFKA_BROKERS="$brokers" UNIFIED_API_TOKEN=demo-token LMSYNC_UNIFIED_BASE_URL="http://127.0.0.1:$port"
      LMSYNC_COORDINATOR_INTERVAL_S=2 LMSYNC_LOG_FORMAT=text LMSYNC_WORKER_PROCESSES=2)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cport=$(free_port); wport=$(free_port)
ENVS+=(LMSYNC_OPS_LISTEN="127.0.0.1:$cport")
in_image /usr/local/bin/lmsync-coordinator >"$demo/coordinator.log" 2>&1 & pids+=($!)
ENVS[-1]=LMSYNC_OPS_LISTEN="127.0.0.1:$wport"
in_image /usr/local/bin/lmsync-worker >"$demo/worker.log" 2>&1 & pids+=($!)
in_image /usr/local/bin/lmsync-tail --brokers "$brokers" --topic lmsync.activity.changes --max 200 --timeout-ms 30000 \
  >"$demo/events.txt" 2>"$demo/tail.log" || true
ops_ok=1
for p in "$cport" "$wport"; do
  curl -fsS "http://127.0.0.1:$p/readyz" >"$demo/readyz.$p" 2>&1 || ops_ok=0
  curl -fsS "http://127.0.0.1:$p/metrics" >"$demo/metrics.$p" 2>&1 || ops_ok=0
done
echo "image.sh: ops endpoint: coordinator /readyz '$(head -c 60 "$demo/readyz.$cport")', worker /readyz '$(head -c 60 "$demo/readyz.$wport")'," \
  "$(grep -c '^lmsync_' "$demo/metrics.$wport") worker metric samples"
ENVS=(KAFKA_BROKERS="$brokers" LMSYNC_LOG_FORMAT=text)
in_image /usr/local/bin/lmsync-admin status >"$demo/status.txt" 2>"$demo/status.log" || true
set +e
in_image /usr/local/bin/lmsync-admin topics check --timeout 3 >"$demo/check.txt" 2>&1; check_rc=$?
set -e
cleanup_demo
events=$(wc -l <"$demo/events.txt")
echo "image.sh: demo: $events change events; lmsync-admin status:"
cat "$demo/status.txt"
echo "image.sh: lmsync-admin topics check exit code $check_rc (3 = configs not verifiable on the devbroker)"
[ "$events" -gt 0 ] || { echo "image.sh: the demo produced no events (logs in $demo)" >&2; exit 1; }
[ "$ops_ok" = 1 ] || { echo "image.sh: the ops endpoint did not answer (logs in $demo)" >&2; exit 1; }
echo "image.sh: ok"
