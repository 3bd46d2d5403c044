#!/usr/bin/env bash
# Measures record batch compression (docs/api.md "Compression") on a fresh local 3-node cluster per run, the codecs
# interleaved (none, lz4, zstd, none, lz4, zstd, ...): `brook bench produce --compression=X` (throughput, latency,
# the ratio achieved), `brook bench consume` (read throughput, decompressing in the client), and the disk the
# partitions take: the sum of brook_partition_disk_bytes over every node, and `du` of the data directories (RocksDB
# compresses its files on its own as well), and the bytes the produce step wrote to the data directory's disk
# (/proc/diskstats, from the start of the step until 3 s after it: WAL, flushes and compactions of all three nodes;
# docs/operations.md "Disk bandwidth"). The machines are shared and noisy: quote medians and ratios to `none`.
#
#   scripts/bench-compression.sh [ROUNDS]        (default 3)
#   env: BROOKD (default build/server/brookd), BROOK_CLI (default build/client/brook), RECORDS (default 200000),
#        RECORD_KIND (default json), PRODUCE_FLAGS, PORT_BASE (default 7000: ports 7101-7103, 7201-7203,
#        7301-7303), BENCH_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
BROOKD=${BROOKD:-build/server/brookd}
CLI=${BROOK_CLI:-build/client/brook}
RECORDS=${RECORDS:-200000}
KIND=${RECORD_KIND:-json}
BASE=${PORT_BASE:-7000}
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/brook-bench-compression-XXXXXX)}
source scripts/bench-cluster.sh

# Sum of brook_partition_disk_bytes of topic brook-bench over the three nodes.
disk_metric() { metric_sum 'brook_partition_disk_bytes\{.*topic="brook-bench"' | cut -d. -f1; }

results=$(mktemp)
# Sectors written so far to the disk that holds $DIR (0 when /proc/diskstats does not name it, e.g. device mapper).
disk_dev=$(basename "$(df --output=source "$DIR" | tail -n 1)")
sectors_written() { awk -v d="$disk_dev" '$3 == d { print $10; found = 1 } END { if (!found) print 0 }' /proc/diskstats; }
for round in $(seq 1 "$ROUNDS"); do
  for codec in none lz4 zstd; do
    data="$DIR/$codec-$round"
    start_cluster "$data"
    w0=$(sectors_written)
    produce=$("$CLI" --bootstrap="$BOOTSTRAP" --output=json bench produce --records="$RECORDS" \
      --record-kind="$KIND" --compression="$codec" ${PRODUCE_FLAGS:-})
    sleep 3
    written=$(( ($(sectors_written) - w0) * 512 ))
    consume=$("$CLI" --bootstrap="$BOOTSTRAP" --output=json bench consume)
    disk=$(disk_metric)
    du_bytes=$(du -sb "$data" | cut -f1)
    stop_cluster
    rm -rf "$data"
    line="$codec round=$round produce_rps=$(field records_per_second "$produce") p50_ms=$(field p50 "$produce") p99_ms=$(field p99 "$produce") ratio=$(field compression_ratio "$produce") consume_rps=$(field records_per_second "$consume") disk_metric_bytes=$disk du_bytes=$du_bytes written_bytes=$written"
    echo "$line"
    echo "$line" >>"$results"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo
for key in produce_rps p50_ms p99_ms ratio consume_rps disk_metric_bytes du_bytes written_bytes; do
  base=$(grep '^none ' "$results" | grep -o "$key=[0-9.e+-]*" | cut -d= -f2 | median)
  out="median $key:"
  for codec in none lz4 zstd; do
    m=$(grep "^$codec " "$results" | grep -o "$key=[0-9.e+-]*" | cut -d= -f2 | median)
    r=$(awk -v a="$base" -v b="$m" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')
    out="$out $codec=$m (x$r)"
  done
  echo "$out"
done
rm -f "$results"
