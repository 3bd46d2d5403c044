# Brook's entry points. `make test` is the one command CI runs (.ci/run) and what a fresh clone needs.
#
#   make test         install missing packages, build, run every test (ctest), then the sanitizer unit tests and
#                     the format check; exits non-zero on any failure
#   make build        configure and build everything into build/
#   make unit         just the fast unit tests (labels unit, sim, proto)
#   make asan         build raft/ and storage/ with ASan+UBSan into build-asan/ and run their tests
#   make format       clang-format every C++ source in place
#   make bench        build the benchmark binaries
#   make run          start a local 3-node cluster on 127.0.0.1 (scripts/cluster.sh start); make stop stops it

BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: deps configure build test unit asan format format-check bench clean run stop

deps:
	@bash scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure --timeout 900
	$(MAKE) asan
	bash scripts/check-format.sh

unit: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure -L 'unit|sim|proto'

asan: deps
	@test -f build-asan/build.ninja || cmake -S . -B build-asan -G Ninja -DBROOK_SANITIZE=ON -DBROOK_UNIT_ONLY=ON -DBROOK_SIM_SEEDS=200
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest -j $(JOBS) --output-on-failure -L 'unit|sim'

format:
	git ls-files '*.h' '*.cc' | xargs clang-format-14 -i

format-check:
	bash scripts/check-format.sh

bench: configure
	cmake --build $(BUILD) -j $(JOBS) --target raft_bench storage_bench

clean:
	rm -rf $(BUILD) build-asan

run:
	bash scripts/cluster.sh start

stop:
	bash scripts/cluster.sh stop
