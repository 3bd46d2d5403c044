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
MEMBERS="1=127.0.0.1:$((BASE + 201)),2=127.0.0.1:$((BASE + 202)),3=127.0.0.1:$((BASE + 203))"
BOOTSTRAP="127.0.0.1:$((BASE + 101)),127.0.0.1:$((BASE + 102)),127.0.0.1:$((BASE + 103))"
pids=()

stop_cluster() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_cluster; rm -rf "$DIR"' EXIT
(umask 077 && head -c 32 /dev/urandom | base64 >"$DIR/cluster.secret")

start_cluster() {
  for i in 1 2 3; do
    "$BROOKD" --node_id=$i --client_addr=127.0.0.1:$((BASE + 100 + i)) --peer_addr=127.0.0.1:$((BASE + 200 + i)) \
      --metrics_addr=127.0.0.1:$((BASE + 300 + i)) --data_dir="$DIR/node$i" --initial_members="$MEMBERS" \
      --cluster_secret_file="$DIR/cluster.secret" "$@" >>"$DIR/node$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 600); do
    state=$("$CLI" --bootstrap="$BOOTSTRAP" --timeout-ms=1000 --output=json cluster status 2>/dev/null || true)
    if [ -n "$state" ] && ! grep -q '"controller":0' <<<"$state" && ! grep -q '"reachable":false' <<<"$state"; then
      return 0
    fi
    sleep 0.1
  done
  echo "cluster did not become healthy" >&2
  exit 1
}

field() { grep -o "\"$1\":[0-9.e+-]*" <<<"$2" | head -1 | cut -d: -f2; }

# Sum over the three nodes of the lines of metric $1 (a regular expression on the series) of /metrics.
metric_sum() {
  local total=0 v
  for i in 1 2 3; do
    v=$(curl -s --max-time 5 "http://127.0.0.1:$((BASE + 300 + i))/metrics" |
      awk -v re="^$1" '$0 ~ re {s += $2} END {printf "%.3f", s}')
    total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN {printf "%.3f", a + b}')
  done
  echo "$total"
}

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
start_cluster --compaction_check_ms=3600000
"$CLI" --bootstrap="$BOOTSTRAP" topic create kv --partitions="$PARTITIONS" --cleanup-policy=compact >/dev/null
produce=$("$CLI" --bootstrap="$BOOTSTRAP" --output=json --timeout-ms=60000 bench produce --topic=kv \
  --records="$RECORDS" --keys="$KEYS" --record-size="$VALUE_BYTES")
echo "load: $RECORDS updates of $KEYS keys, $VALUE_BYTES-byte values, $PARTITIONS partition(s):" \
  "produce_s=$(field seconds "$produce") produce_rps=$(field records_per_second "$produce")"
sleep 5  # followers apply the tail
echo "before: $(disk) $(read_back)"

# 2. Restart with compaction on; wait until the records removed stop growing (or reach what can go).
stop_cluster
start_cluster --compaction_check_ms=200
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
start_cluster --compaction_check_ms=200
echo "after a restart (memtables flushed): $(disk) $(read_back)"
