# syntax=docker/dockerfile:1
# lmsync: every program in one image (docs/operations.md, "Container image").
#   build:   scripts/image.sh            (or: docker build -t lmsync:dev .)
#   run:     the Helm chart picks the program with `command`; the default
#            entrypoint is the worker master.

# ---- build stage: compilers and -dev packages ----------------------------
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake gcc make pkg-config librdkafka-dev libcurl4-openssl-dev libjansson-dev \
      liblmdb-dev libcunit1-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build /build -j"$(nproc)" --target \
      lmsync-coordinator lmsync-worker lmsync-sandbox lmsync-devbroker lmsync-tail lmsync-admin lmsync-board \
      lmsync-export lmsync-webhook lmsync-xapi \
 && mkdir -p /out/bin \
 && cp /build/coordinator/lmsync-coordinator /build/worker/lmsync-worker \
       /build/sandbox/lmsync-sandbox /build/devbroker/lmsync-devbroker \
       /build/tools/lmsync-tail /build/tools/lmsync-admin /build/board/lmsync-board \
       /build/tools/lmsync-export /build/webhook/lmsync-webhook /build/xapi/lmsync-xapi /out/bin/ \
 && strip --strip-debug /out/bin/*

# ---- runtime stage: only the shared libraries the programs link ----------
FROM debian:12-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libjansson4 liblmdb0 libmicrohttpd12 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 lmsync \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/lmsync \
      --shell /usr/sbin/nologin lmsync \
 && mkdir -p /var/lib/lmsync /etc/lmsync \
 && chown 10001:10001 /var/lib/lmsync
COPY --from=build /out/bin/ /usr/local/bin/
# The default worker.lmdb_path (./lmsync-data) lands here.
WORKDIR /var/lib/lmsync
USER 10001:10001
# ops endpoint (ops.listen, default 0.0.0.0:9464; see docs/operations.md)
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/lmsync-worker"]
CMD ["--config", "/etc/lmsync/lmsync.conf"]
