#!/usr/bin/env bash
# Runs each libFuzzer target for a fixed time over its corpus and fails on any crash (docs/fuzzing.md).
#
#   tests/fuzz/run.sh [BUILD_DIR]        BUILD_DIR defaults to build-fuzz (make fuzz builds it)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh   seconds per target (default 15)
#   FUZZ_TARGETS="fuzz_requests" ...     only these targets
#   FUZZ_TIMEOUT=60 ...                  seconds one input may run before it counts as a hang (default 10; raise
#                                        it on a loaded machine: the fuzzer runs niced)
#
# The seeds in tests/fuzz/corpus/<target>/ are only read; what the fuzzer adds goes to
# BUILD_DIR/fuzz-work/<target>/corpus (kept between runs), a crashing input to BUILD_DIR/fuzz-work/<target>/
# crash-*. Prints one line per target: executions, coverage (libFuzzer's cov: edges, ft: features), corpus, result.
set -uo pipefail
cd "$(dirname "$0")/../.."

build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-15}
unit_timeout=${FUZZ_TIMEOUT:-10}
targets=${FUZZ_TARGETS:-fuzz_requests fuzz_entry_codec fuzz_partition_machine fuzz_metadata_machine fuzz_raft_messages fuzz_storage_codec}

failed=()
for t in $targets; do
  bin=$build/tests/fuzz/$t
  work=$build/fuzz-work/$t
  mkdir -p "$work/corpus"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (make fuzz builds it)" >&2
    failed+=("$t")
    continue
  fi
  start=$(date +%s)
  # -timeout: one input running longer is a finding (a hang); the outer timeout only guards the run itself.
  timeout $((seconds + 2 * unit_timeout + 300)) nice -n 10 "$bin" -max_total_time="$seconds" -timeout="$unit_timeout" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "tests/fuzz/corpus/$t" >"$work/log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*' "$work/log" | tail -1)
  if [ $rc -eq 0 ]; then
    printf 'fuzz: %-24s ok     %3ss  %10s execs  %s\n' "$t" "$took" "${execs:-?}" "$cov"
  else
    printf 'fuzz: %-24s FAILED %3ss  %10s execs  %s (exit %s)\n' "$t" "$took" "${execs:-?}" "$cov" "$rc"
    grep -E 'ERROR|runtime error|property violated|SUMMARY|Test unit written' "$work/log" | head -8 | sed 's/^/    /'
    crash=$(ls -t "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$work"/leak-* 2>/dev/null | head -1)
    echo "    log: $work/log"
    [ -n "$crash" ] && echo "    reproduce: $bin $crash"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"
