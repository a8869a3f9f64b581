# The two commands of the README. Both install what they need first.
#   make demo   devbroker + sandbox + coordinator + worker, events shown live
#   make test   build and run every test through ctest
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
DEPS  = cmake gcc make pkg-config librdkafka-dev libcurl4-openssl-dev libjansson-dev \
        liblmdb-dev libssl-dev libcunit1-dev libmicrohttpd-dev kcat jq curl procps bc lmdb-utils prometheus \
        clang libclang-rt-14-dev python3 zlib1g-dev chromium

.PHONY: deps build test demo clean
deps:
	@bash scripts/install-deps.sh $(DEPS)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

demo: build
	@bash scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) .demo
