#!/usr/bin/env bash
# The cluster benchmark (docs/performance.md). For each round and each brookd binary given, interleaved: starts a
# fresh 3-node cluster on 127.0.0.1:191xx, runs every workload, stops it. Prints one line per step, then one
# markdown table of the medians per binary: records/s, MB/s, latency percentiles, and the three servers' CPU
# (from /proc/<pid>/stat) in cores and per record. With two binaries it adds the ratio B/A of each figure.
#
#   scripts/bench-perf.sh                               build/server/brookd, 1 round (about 3 minutes)
#   scripts/bench-perf.sh BROOKD_A BROOKD_B 3           A and B interleaved, 3 rounds
#   ONLY="rpc-1 rpc-256" scripts/bench-perf.sh          just those workloads
#
# Workloads (1 KiB records, RF 3, fsync on a majority before every answer):
#   rpc-1, rpc-256, rpc-1024  one record per Produce over plain gRPC (`brook bench rpc`), 1 / 256 / 1024 in flight
#   rpc-open                  the same, open loop at RPC_RATE requests/s; latency from when each request was due
#   batch-1p, batch-3p        the batching client (`brook bench produce`), 1 and 3 partitions
#   read                      reading back what batch-3p wrote (`brook bench consume`)
#   idle                      IDLE_PARTITIONS idle partitions (topics of 1,000 at most): the servers' CPU over
#                             IDLE_SECONDS once settled, and the RSS each idle partition adds
# Knobs: STEP_SECONDS (10), RPC_RATE (4000), IDLE_PARTITIONS (3000), IDLE_SECONDS (20), BROOK_CLI, BUILD (build),
# BROOKD_FLAGS (extra flags for every node of both binaries, e.g. "--per_partition_metrics=false"), BROOK_CLI_B (the
# `brook` that B's steps run, to compare two clients: `BROOK_CLI=old BROOK_CLI_B=new scripts/bench-perf.sh A A 3`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CLI=${BROOK_CLI:-$BUILD/client/brook}
CLI_A=$CLI
CLI_B=${BROOK_CLI_B:-$CLI}
BIN_A=${1:-$BUILD/server/brookd}
BIN_B=${2:-}
ROUNDS=${3:-1}
STEP=${STEP_SECONDS:-10}
RPC_RATE=${RPC_RATE:-4000}
IDLE_PARTITIONS=${IDLE_PARTITIONS:-3000}
IDLE_SECONDS=${IDLE_SECONDS:-20}
ONLY=${ONLY:-"rpc-1 rpc-256 rpc-1024 rpc-open batch-1p batch-3p read idle"}
BASE=19000
DIR=$(mktemp -d /tmp/brook-bench-perf.XXXXXX)
BROOKD=""
source scripts/bench-cluster.sh
HZ=$(getconf CLK_TCK)
ROWS=$DIR/rows.tsv
: >"$ROWS"

ticks() { local t=0 p; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$t"; }
rss_kb() { local t=0 p; for p in "${pids[@]}"; do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$p/status"))); done; echo "$t"; }
wanted() { [[ " $ONLY " == *" $1 "* ]]; }

# step BIN NAME CMD...: one bounded `brook ... --output=json` run; appends BIN NAME and its figures to $ROWS.
step() {
  local bin=$1 name=$2 t0 t1 c0 c1 out
  shift 2
  sync
  c0=$(ticks); t0=$(date +%s.%N)
  if ! out=$(timeout 300 "$CLI" --bootstrap="$BOOTSTRAP" --output=json "$@" 2>"$DIR/step.err"); then
    echo "$bin $name: failed: $(tail -n 3 "$DIR/step.err")" >&2
    return 0
  fi
  c1=$(ticks); t1=$(date +%s.%N)
  python3 - "$bin" "$name" "$out" "$c0" "$c1" "$t0" "$t1" "$HZ" <<'EOF' | tee -a "$ROWS"
import json, sys
binary, name, out, c0, c1, t0, t1, hz = sys.argv[1:]
j = json.loads(out.strip().splitlines()[-1])
cpu_s = (int(c1) - int(c0)) / int(hz)
wall = float(t1) - float(t0)
lat = j.get("latency_ms", {})
recs = j["records"]
print("\t".join(str(x) for x in [
    binary, name, recs, j["errors"], "%.0f" % j["records_per_second"], "%.1f" % j["mb_per_second"],
    "%.3f" % lat.get("p50", 0), "%.3f" % lat.get("p99", 0), "%.3f" % lat.get("p999", 0),
    "%.2f" % (cpu_s / wall), "%.1f" % (cpu_s / recs * 1e6 if recs else 0)]))
EOF
}

# idle BIN: creates IDLE_PARTITIONS partitions, waits for them to settle, measures CPU and RSS.
idle() {
  local bin=$1 rss0 rss1 c0 c1 made=0 i=0 n
  rss0=$(rss_kb)
  while [ "$made" -lt "$IDLE_PARTITIONS" ]; do
    n=$((IDLE_PARTITIONS - made)); [ "$n" -gt 1000 ] && n=1000
    "$CLI" --bootstrap="$BOOTSTRAP" --timeout-ms=120000 topic create "idle$i" --partitions="$n" >/dev/null
    made=$((made + n)) i=$((i + 1))
  done
  for n in $(seq 0 $((i - 1))); do
    timeout 300 "$CLI" --bootstrap="$BOOTSTRAP" --timeout-ms=300000 bench rpc --topic="idle$n" --records=1 \
      --inflight=1 --seconds=60 >/dev/null || true  # waits for the topic's leaders
  done
  sleep 15  # elections, first heartbeats and compactions settle
  rss1=$(rss_kb)
  c0=$(ticks); sleep "$IDLE_SECONDS"; c1=$(ticks)
  awk -v b="$bin" -v c0="$c0" -v c1="$c1" -v hz="$HZ" -v s="$IDLE_SECONDS" -v p="$IDLE_PARTITIONS" \
    -v r0="$rss0" -v r1="$rss1" 'BEGIN {
      printf "%s\tidle-%d\t0\t0\t0\t0\t0\t0\t0\t%.3f\t0\t%.1f\n", b, p, (c1 - c0) / hz / s, (r1 - r0) / p / 3 }' |
    tee -a "$ROWS"
}

run_binary() { # run_binary LABEL PATH
  local label=$1 data="$DIR/$1-$2"
  BROOKD=$3
  # shellcheck disable=SC2086 # BROOKD_FLAGS is a list of flags
  start_cluster "$data" ${BROOKD_FLAGS:-}
  wanted rpc-1 && step "$label" rpc-1 bench rpc --topic=rpc1 --inflight=1 --seconds="$STEP"
  wanted rpc-256 && step "$label" rpc-256 bench rpc --topic=rpc1 --inflight=256 --seconds="$STEP"
  wanted rpc-1024 && step "$label" rpc-1024 bench rpc --topic=rpc1 --inflight=1024 --seconds="$STEP"
  wanted rpc-open && step "$label" "rpc-open-$RPC_RATE/s" bench rpc --topic=rpc1 --inflight=1024 \
    --seconds="$STEP" --rate="$RPC_RATE"
  wanted batch-1p && step "$label" batch-1p bench produce --topic=batch1 --partitions=1 --records=300000
  wanted batch-3p && step "$label" batch-3p bench produce --topic=batch3 --partitions=3 --records=300000
  wanted read && step "$label" read bench consume --topic=batch3
  wanted idle && idle "$label"
  stop_cluster
  rm -rf "$data"
}

for round in $(seq 1 "$ROUNDS"); do
  CLI=$CLI_A run_binary A "$round" "$BIN_A"
  [ -n "$BIN_B" ] && CLI=$CLI_B run_binary B "$round" "$BIN_B"
done

echo
echo "# brook cluster benchmark $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores, $ROUNDS round(s), medians"
echo "A = $BIN_A${BIN_B:+, B = $BIN_B}"
python3 - "$ROWS" "${BIN_B:+B}" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
two = sys.argv[2] == "B"
names = []
for r in rows:
    if r[1] not in names: names.append(r[1])
cols = ["records/s", "MB/s", "p50 ms", "p99 ms", "p999 ms", "server cores", "server us/record"]
idx = [4, 5, 6, 7, 8, 9, 10]
def med(b, n, i):
    v = [float(r[i]) for r in rows if r[0] == b and r[1] == n]
    return statistics.median(v) if v else None
print("| workload | binary | " + " | ".join(cols) + " |")
print("| --- | --- |" + " --- |" * len(cols))
for n in names:
    for b in (["A", "B"] if two else ["A"]):
        vals = [med(b, n, i) for i in idx]
        if n.startswith("idle"):
            print("| %s | %s | server cores (3 nodes) %.3f; RSS per idle partition per node %.1f KiB |" %
                  (n, b, vals[5] or 0, float([r for r in rows if r[0] == b and r[1] == n][0][11])))
            continue
        print("| %s | %s | " % (n, b) + " | ".join("-" if v is None else ("%.3f" % v if v < 10 else "%.0f" % v)
                                                    for v in vals) + " |")
    if two and not n.startswith("idle"):
        a = [med("A", n, i) for i in idx]
        b = [med("B", n, i) for i in idx]
        print("| %s | B/A | " % n + " | ".join("%.2f" % (y / x) if x and y is not None else "-"
                                               for x, y in zip(a, b)) + " |")
EOF
