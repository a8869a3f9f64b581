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

echo "image.sh: building $tag with $engine"
"$engine" build --network=host -t "$tag" -f Dockerfile . 2>&1 | tee build/image/build.log | tail -20
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "image.sh: build failed (log: build/image/build.log)" >&2; exit 1; }
"$engine" image inspect "$tag" --format 'image.sh: {{.Id}} user={{.Config.User}} entrypoint={{.Config.Entrypoint}}'

[ "$run" = 1 ] || exit 0
echo "image.sh: smoke test: lmsync-worker --check-config"
"$engine" run --rm --network=none -e KAFKA_BROKERS=kafka:9092 "$tag" --check-config | tail -3
echo "image.sh: smoke test: devbroker + sandbox + coordinator + worker for 15 s"
"$engine" run --rm --network=none --entrypoint /usr/local/bin/lmsync-admin "$tag" --help >/dev/null
bash scripts/image-demo.sh "$engine" "$tag"
