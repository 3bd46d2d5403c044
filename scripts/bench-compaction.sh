#!/usr/bin/env bash
# Measures key compaction (docs/operations.md "Compaction") on a local 3-node cluster: RECORDS updates (default
# 1,000,000) of KEYS keys (10,000), VALUE_BYTES-byte values (100), on a compacted topic of PARTITIONS partitions
# (1). Prints, before and after compaction: the disk (du of the three data directories, and the sum of
# brook_partition_disk_bytes over the nodes) and the time to read the whole topic back (brook bench consume);
# and the compaction itself: wall time from the nodes' restart with compaction on until every replica removed what
# it can, the sum of brook_compaction_pass_seconds over the nodes, passes, records removed, entry bytes before and
# after.
#
# 1. The nodes run with compaction held off (--compaction_check_ms=3600000) while the load is written and read.
# 2. They restart (SIGTERM, same data) with --compaction_check_ms=200 and default thresholds, and compact.
#
#   scripts/bench-compaction.sh
#   env: BROOKD (default build/server/brookd), BROOK_CLI (default build/client/brook), RECORDS, KEYS, VALUE_BYTES,
#        PARTITIONS, PORT_BASE (default 7500: ports 7601-7603, 7701-7703, 7801-7803), BENCH_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
BROOKD=${BROOKD:-build/server/brookd}
CLI=${BROOK_CLI:-build/client/brook}
RECORDS=${RECORDS:-1000000}
KEYS=${KEYS:-10000}
VALUE_BYTES=${VALUE_BYTES:-100}
PARTITIONS=${PARTITIONS:-1}
BASE=${PORT_BASE:-7500}
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/brook-bench-compaction-XXXXXX)}
source scripts/bench-cluster.sh

disk() {
  echo "du_bytes=$(du -sb "$DIR"/node1 "$DIR"/node2 "$DIR"/node3 | awk '{s += $1} END {print s}')" \
    "disk_metric_bytes=$(metric_sum 'brook_partition_disk_bytes\{.*topic="kv"')"
}

read_back() {
  local out
  out=$("$CLI" --bootstrap="$BOOTSTRAP" --output=json --timeout-ms=60000 bench consume --topic=kv)
  echo "read_back_s=$(field seconds "$out") read_back_records=$(field records "$out")"
}

# 1. The load, compaction held off.
start_cluster "$DIR" --compaction_check_ms=3600000
"$CLI" --bootstrap="$BOOTSTRAP" topic create kv --partitions="$PARTITIONS" --cleanup-policy=compact >/dev/null
produce=$("$CLI" --bootstrap="$BOOTSTRAP" --output=json --timeout-ms=60000 bench produce --topic=kv \
  --records="$RECORDS" --keys="$KEYS" --record-size="$VALUE_BYTES")
echo "load: $RECORDS updates of $KEYS keys, $VALUE_BYTES-byte values, $PARTITIONS partition(s):" \
  "produce_s=$(field seconds "$produce") produce_rps=$(field records_per_second "$produce")"
sleep 5  # followers apply the tail
echo "before: $(disk) $(read_back)"

# 2. Restart with compaction on; wait until the records removed stop growing (or reach what can go).
stop_cluster
start_cluster "$DIR" --compaction_check_ms=200
start=$(date +%s.%N)
want=$(( (RECORDS - KEYS) * 3 ))
last=-1
stable=0
for _ in $(seq 1 1200); do
  removed=$(metric_sum 'brook_compaction_records_removed_total ')
  if [ "${removed%.*}" -ge "$want" ]; then break; fi
  if [ "$removed" = "$last" ] && [ "${removed%.*}" -gt 0 ]; then stable=$((stable + 1)); else stable=0; fi
  if [ "$stable" -ge 20 ]; then break; fi
  last=$removed
  sleep 0.5
done
end=$(date +%s.%N)
echo "compaction: wall_s=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" \
  "pass_seconds_sum=$(metric_sum 'brook_compaction_pass_seconds_sum')" \
  "passes=$(metric_sum 'brook_compaction_passes_total ')" \
  "records_removed=$(metric_sum 'brook_compaction_records_removed_total ')" \
  "entry_bytes_before=$(metric_sum 'brook_compaction_bytes_before_total ')" \
  "entry_bytes_after=$(metric_sum 'brook_compaction_bytes_after_total ')"
echo "after: $(disk) $(read_back)"
sleep 30  # RocksDB compacts the rewritten ranges in the background
echo "after 30 s more: $(disk)"
stop_cluster
start_cluster "$DIR" --compaction_check_ms=200
echo "after a restart (memtables flushed): $(disk) $(read_back)"
