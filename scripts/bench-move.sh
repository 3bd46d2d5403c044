#!/usr/bin/env bash
# Measures a replica move (docs/operations.md "Moving replicas") on a local 4-node cluster: the time to move one
# replica of a partition holding SIZE_MB MiB (default 1024) to the fourth node, and a paced producer's latency on
# another topic while the move runs, against the same producer with no move (one run each, back to back).
#
# 1. Fill topic "big" (1 partition, replication 3, placed on three of the four nodes) with SIZE_MB MiB of 1 KiB
#    records (brook bench produce).
# 2. Baseline: `brook bench produce` on topic "probe" at RATE records/s (default 2000) for PROBE_RECORDS records
#    (default 40000): p50/p99/p999.
# 3. Move one replica of big/0 to the spare node (brook topic move-replicas) and at the same moment run the same
#    probe; wait for the move (`brook cluster operations --wait`).
# Prints the move's wall time and MiB/s, both probes' latencies and the p99 ratio (during / without).
#
#   scripts/bench-move.sh
#   env: BROOKD (default build/server/brookd), BROOK_CLI (default build/client/brook), BROOKD_FLAGS (extra flags of
#        every node, e.g. --move_max_bytes_per_sec=0), SIZE_MB, RATE, PROBE_RECORDS,
#        PORT_BASE (default 7900: ports 8001-8004, 8101-8104, 8201-8204), BENCH_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BROOKD=${BROOKD:-build/server/brookd}
CLI=${BROOK_CLI:-build/client/brook}
SIZE_MB=${SIZE_MB:-1024}
RATE=${RATE:-2000}
PROBE_RECORDS=${PROBE_RECORDS:-40000}
BASE=${PORT_BASE:-7900}
NODES=4
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/brook-bench-move-XXXXXX)}
source scripts/bench-cluster.sh

brook() { "$CLI" --bootstrap="$BOOTSTRAP" --timeout-ms=60000 "$@"; }
probe() {
  brook --output=json bench produce --topic=probe --partitions=1 --records="$PROBE_RECORDS" --record-size=256 \
    --rate="$RATE" --inflight=1
}

start_cluster "$DIR/data" ${BROOKD_FLAGS:-}
brook topic create big --partitions=1 --replication-factor=3 >/dev/null
brook topic create probe --partitions=1 --replication-factor=3 >/dev/null
echo "filling big/0 with $SIZE_MB MiB ..." >&2
fill=$(brook --output=json bench produce --topic=big --partitions=1 --records=$((SIZE_MB * 1024)) --record-size=1024)
echo "fill: $(field records_per_second "$fill") records/s, $(field mb_per_second "$fill") MB/s" >&2

replicas=$(brook --output=json topic describe big | grep -o '"replicas":\[[0-9,]*\]' | head -1 | tr -dc '0-9,')
spare=""
for i in $(seq 1 $NODES); do
  if ! grep -qw "$i" <<<"${replicas//,/ }"; then spare=$i; fi
done
IFS=, read -r r1 r2 r3 <<<"$replicas"
echo "big/0 on $replicas; moving n$r1's replica to n$spare" >&2

base=$(probe)
start=$(date +%s.%N)
brook topic move-replicas big 0 --to "$spare,$r2,$r3" >/dev/null
during=$(probe)
brook cluster operations --wait --wait-timeout-ms=3600000 >/dev/null
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
p99_base=$(grep -o '"p99":[0-9.e+-]*' <<<"$base" | cut -d: -f2)
p99_during=$(grep -o '"p99":[0-9.e+-]*' <<<"$during" | cut -d: -f2)
echo "move of $SIZE_MB MiB: ${secs} s, $(awk -v m="$SIZE_MB" -v s="$secs" 'BEGIN {printf "%.1f", m / s}') MiB/s"
echo "probe without move: $(grep -o '"latency_ms":{[^}]*}' <<<"$base")"
echo "probe during move:  $(grep -o '"latency_ms":{[^}]*}' <<<"$during")"
echo "p99 during/without: $(awk -v a="$p99_during" -v b="$p99_base" 'BEGIN {printf "%.2f", a / b}')"
stop_cluster
