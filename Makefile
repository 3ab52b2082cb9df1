# Thin wrapper: the build is CMake (CMakePresets.json); see README.md.
.PHONY: all setup build release debug demo portal test test-release test-asan format format-check bench clean \
        fuzz kafka-up kafka-down kafka-status

all: build

setup:
	@scripts/setup.sh

build: setup
	@cmake --preset default >/dev/null
	@cmake --build --preset default

release: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release

debug: setup
	@cmake --preset debug >/dev/null
	@cmake --build --preset debug

# The main job end to end on embedded defaults: no server to start.
demo: release
	@scripts/demo.sh build-release/cdrate

# The self-service portal on the demo's data (make demo first: it creates the demo users and
# prints their names and password). Serves http://127.0.0.1:8080/ until Ctrl-C. docs/portal.md.
PORTAL_LISTEN ?= 127.0.0.1:8080
portal: release
	@[ -f demo-out/portal/password ] || { echo "make portal: run make demo first (it creates the demo users)" >&2; exit 1; }
	@echo "portal: users op.demo, ent.admin, member.demo and the managers make demo printed; password in demo-out/portal/password"
	@build-release/cdrate serve --store demo-out/stream/store --bills demo-out/bills \
	  --ledger demo-out/stream/ledger --listen $(PORTAL_LISTEN)

# Every test, in the optimised build and again under ASan+UBSan. Each ctest run has its own real
# Kafka broker on 127.0.0.1 (scripts/with-services: started before, stopped after, whatever
# happens); the first run fetches its jars with Maven into .cache/kafka. See docs/testing.md.
test: format-check test-release test-asan

test-release: build
	@scripts/with-services ctest --test-dir build --output-on-failure -j2

test-asan: debug
	@scripts/with-services env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-debug --output-on-failure -j2

# A broker by hand: `make kafka-up` prints its address, for CDR_KAFKA_BROKERS=... ctest.
kafka-up: setup
	@scripts/kafka up

kafka-down:
	@scripts/kafka down

kafka-status:
	@scripts/kafka status

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check: setup
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

# Each fuzz harness (tests/fuzz/fuzz_*.c) for SECONDS seconds, in a clang build (build-fuzz/);
# FUZZ="csv plan" runs only those. One line per harness: exec/s, corpus, coverage. Logs in
# build-fuzz/logs/. See docs/testing.md, "Fuzzing".
SECONDS ?= 60
fuzz: setup
	@tests/fuzz/run.sh $(SECONDS) $(FUZZ)

bench: release
	@build-release/cdrate bench rate --subscribers 1000000 --cdrs 10000000 --threads 1 --json
	@build-release/cdrate bench rate --subscribers 1000000 --cdrs 10000000 --threads 2 --json
	@build-release/cdrate bench compile --prefixes 100000 --json

clean:
	rm -rf build build-release build-debug demo-out
