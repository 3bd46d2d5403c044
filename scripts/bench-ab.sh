#!/usr/bin/env bash
# Compares two brookd binaries in one run, interleaved (A, B, A, B, ...), on a fresh local 3-node cluster each
# time: `brook bench produce` (throughput, latency) and `brook bench consume` (read throughput). The machines are
# shared and noisy, so quote the medians and the ratio B/A, never one run.
#
#   scripts/bench-ab.sh BROOKD_A BROOKD_B [ROUNDS]      (default 3 rounds)
#   env: BROOK_CLI (default build/client/brook), RECORDS (default 200000), PRODUCE_FLAGS, BENCH_DIR
#
# Ports 7101-7103 / 7201-7203 / 7301-7303 on 127.0.0.1 (stop `make run` first). Prints one line per run and the
# medians per binary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
ROUNDS=${3:-3}
CLI=${BROOK_CLI:-build/client/brook}
RECORDS=${RECORDS:-200000}
DIR=${BENCH_DIR:-$(mktemp -d /var/tmp/brook-bench-ab-XXXXXX)}
MEMBERS="1=127.0.0.1:7201,2=127.0.0.1:7202,3=127.0.0.1:7203"
pids=()

stop_cluster() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_cluster; rm -rf "$DIR"' EXIT

start_cluster() {
  local brookd=$1 data=$2
  mkdir -p "$data"
  head -c 32 /dev/urandom | base64 >"$data/cluster.secret"
  for i in 1 2 3; do
    "$brookd" --node_id=$i --client_addr=127.0.0.1:710$i --peer_addr=127.0.0.1:720$i \
      --metrics_addr=127.0.0.1:730$i --data_dir="$data/node$i" --initial_members="$MEMBERS" \
      --cluster_secret_file="$data/cluster.secret" \
      >>"$data/node$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 300); do
    state=$("$CLI" --timeout-ms=1000 --output=json cluster status 2>/dev/null || true)
    if [ -n "$state" ] && ! grep -q '"controller":0' <<<"$state" && ! grep -q '"reachable":false' <<<"$state"; then
      return 0
    fi
    sleep 0.1
  done
  echo "cluster with $brookd did not become healthy" >&2
  exit 1
}

# Extracts "key": number from the bench's JSON.
field() { grep -o "\"$1\":[0-9.e+-]*" <<<"$2" | head -1 | cut -d: -f2; }

results=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for which in A B; do
    bin=$A
    [ "$which" = B ] && bin=$B
    data="$DIR/$which-$round"
    start_cluster "$bin" "$data"
    produce=$("$CLI" --output=json bench produce --records="$RECORDS" ${PRODUCE_FLAGS:-})
    consume=$("$CLI" --output=json bench consume)
    stop_cluster
    rm -rf "$data"
    line="$which round=$round produce_rps=$(field records_per_second "$produce") produce_mbps=$(field mb_per_second "$produce") p50_ms=$(field p50 "$produce") p99_ms=$(field p99 "$produce") consume_rps=$(field records_per_second "$consume")"
    echo "$line"
    echo "$line" >>"$results"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo
for key in produce_rps produce_mbps p50_ms p99_ms consume_rps; do
  ma=$(grep '^A ' "$results" | grep -o "$key=[0-9.e+-]*" | cut -d= -f2 | median)
  mb=$(grep '^B ' "$results" | grep -o "$key=[0-9.e+-]*" | cut -d= -f2 | median)
  ratio=$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "-" }')
  echo "median $key: A=$ma B=$mb B/A=$ratio"
done
rm -f "$results"
