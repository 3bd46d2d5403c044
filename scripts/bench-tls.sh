#!/usr/bin/env bash
# Produce throughput and latency with TLS off and on, in one run (docs/security.md "Cost"): for each round, a fresh
# plaintext 3-node cluster and a fresh TLS one (scripts/make-certs.sh) on 127.0.0.1:181xx, each measured with
# `brook bench produce`, then stopped. Prints one line per run; compare medians, as ratios.
# Usage: scripts/bench-tls.sh [ROUNDS=3] [RECORDS=100000] [RATE=0 (unpaced) | records/s]
set -euo pipefail
rounds=${1:-3}; records=${2:-100000}; rate=${3:-0}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$here/build}
work=$(mktemp -d /tmp/brook-bench-tls-XXXXXX)
trap 'kill $(cat "$work"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
bash "$here/scripts/make-certs.sh" "$work/certs" 3 > /dev/null
members=1=127.0.0.1:18201,2=127.0.0.1:18202,3=127.0.0.1:18203

run() {  # mode
  local mode=$1 root="$work/$1" ca="" n
  rm -rf "$root" && mkdir -p "$root"
  head -c 32 /dev/urandom | base64 > "$root/secret"
  : > "$work/pids"
  for n in 1 2 3; do
    local tls=()
    if [ "$mode" = tls ]; then
      tls=(--tls_cert="$work/certs/node-$n.pem" --tls_key="$work/certs/node-$n.key" --tls_ca="$work/certs/ca.pem")
    fi
    "$build/server/brookd" --node_id=$n --initial_members=$members --client_addr=127.0.0.1:1810$n \
      --peer_addr=127.0.0.1:1820$n --metrics_addr=127.0.0.1:1830$n --data_dir="$root/d$n" \
      --cluster_secret_file="$root/secret" --disk_reserve_mb=16 "${tls[@]}" > "$root/n$n.log" 2>&1 &
    echo $! >> "$work/pids"
  done
  [ "$mode" = tls ] && ca="--tls-ca=$work/certs/ca.pem"
  for _ in $(seq 1 100); do
    "$build/client/brook" --bootstrap=127.0.0.1:18101 $ca --timeout-ms=2000 cluster status > /dev/null 2>&1 && break
    sleep 0.3
  done
  local out
  out=$("$build/client/brook" --bootstrap=127.0.0.1:18101,127.0.0.1:18102,127.0.0.1:18103 $ca bench produce \
    --records="$records" --rate="$rate" --record-size=1024 --partitions=3 --output=json 2> /dev/null | tail -1)
  kill $(cat "$work/pids") 2>/dev/null || true
  wait 2>/dev/null || true
  python3 - "$mode" "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[2])
l = d["latency_ms"]
print("%-5s records/s %9.0f  MB/s %6.1f  p50 %8.2f ms  p99 %8.2f ms" %
      (sys.argv[1], d["records_per_second"], d["mb_per_second"], l["p50"], l["p99"]))
PY
}

for r in $(seq 1 "$rounds"); do
  run plain
  run tls
done
