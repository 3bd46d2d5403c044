# Brook's entry points. `make test` is the one command CI runs (.ci/run) and what a fresh clone needs.
#
#   make test         install missing packages, build, run every test (ctest), then the sanitizer unit tests, the
#                     fuzz targets briefly and the format check; exits non-zero on any failure
#   make build        configure and build everything into build/
#   make unit         just the fast unit tests (labels unit, sim, proto)
#   make asan         build raft/ and storage/ with ASan+UBSan into build-asan/ and run their tests
#   make tsan         build storage/ and the node's core (server/ up to host/) with ThreadSanitizer into
#                     build-tsan/ and run their tests
#   make fuzz         build the libFuzzer targets of tests/fuzz/ with clang into build-fuzz/ and run each for
#                     FUZZ_SECONDS (default 15) over its corpus; fails on any crash (docs/fuzzing.md). A longer run:
#                     make fuzz FUZZ_SECONDS=600
#   make format       clang-format every C++ source in place
#   make bench        build the benchmark binaries
#   make run          start a local 3-node cluster on 127.0.0.1 (scripts/cluster.sh start); make stop stops it

BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

# The ThreadSanitizer run: the tests of the code that has threads of its own (storage's compactor, the host loop,
# its views) and of what they call. TSAN_OPTIONS: fail on the first report; suppressions for uninstrumented libraries.
TSAN_TESTS = storage_store_test server_common_test server_codec_test server_machines_test server_host_test
TSAN_ENV = TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp"

# Seconds each fuzz target runs in `make fuzz` (tests/fuzz/run.sh; FUZZ_TARGETS="..." picks targets).
FUZZ_SECONDS ?= 15

.PHONY: deps configure build test unit asan tsan fuzz format format-check bench clean run stop

deps:
	@bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) fuzz FUZZ_SECONDS=10
	bash scripts/check-format.sh

unit: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure -L 'unit|sim|proto'

asan: deps
	@test -f build-asan/build.ninja || cmake -S . -B build-asan -G Ninja -DBROOK_SANITIZE=ON -DBROOK_UNIT_ONLY=ON -DBROOK_SIM_SEEDS=200
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest -j $(JOBS) --output-on-failure -L 'unit|sim'

tsan: deps
	@test -f build-tsan/build.ninja || cmake -S . -B build-tsan -G Ninja -DBROOK_TSAN=ON
	cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	cd build-tsan && $(TSAN_ENV) ctest -j $(JOBS) --output-on-failure -R '^($(shell echo $(TSAN_TESTS) | tr ' ' '|'))$$'

fuzz: deps
	@test -f build-fuzz/build.ninja || cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DBROOK_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS) --target brook_fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh build-fuzz

format:
	git ls-files '*.h' '*.cc' | xargs clang-format-14 -i

format-check:
	bash scripts/check-format.sh

bench: configure
	cmake --build $(BUILD) -j $(JOBS) --target raft_bench storage_bench

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz

run:
	bash scripts/cluster.sh start

stop:
	bash scripts/cluster.sh stop
