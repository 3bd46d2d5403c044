# Sourced by the benchmark scripts (bench-compression.sh, bench-compaction.sh, bench-move.sh): a local cluster of
# NODES nodes (default 3) on loopback ports BASE+101.. (clients), BASE+201.. (peers), BASE+301.. (metrics), its
# cluster secret in $DIR/cluster.secret. The caller sets BROOKD, CLI, BASE and DIR (and NODES) before sourcing, and
# `set -euo pipefail`.
NODES=${NODES:-3}
MEMBERS=""
BOOTSTRAP=""
for i in $(seq 1 "$NODES"); do
  MEMBERS="${MEMBERS:+$MEMBERS,}$i=127.0.0.1:$((BASE + 200 + i))"
  BOOTSTRAP="${BOOTSTRAP:+$BOOTSTRAP,}127.0.0.1:$((BASE + 100 + i))"
done
pids=()
mkdir -p "$DIR"
(umask 077 && head -c 32 /dev/urandom | base64 >"$DIR/cluster.secret")

# SIGTERM to every node (they hand leaderships away), SIGKILL to any still running after 30 s.
stop_cluster() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_cluster; rm -rf "$DIR"' EXIT

# start_cluster DATA_DIR [BROOKD FLAGS...]: starts the NODES nodes with their data under DATA_DIR and waits (60 s at
# most) until `brook cluster status` shows a controller and every node reachable.
start_cluster() {
  local data=$1
  shift
  mkdir -p "$data"
  for i in $(seq 1 "$NODES"); do
    "$BROOKD" --node_id=$i --client_addr=127.0.0.1:$((BASE + 100 + i)) --peer_addr=127.0.0.1:$((BASE + 200 + i)) \
      --metrics_addr=127.0.0.1:$((BASE + 300 + i)) --data_dir="$data/node$i" --initial_members="$MEMBERS" \
      --cluster_secret_file="$DIR/cluster.secret" "$@" >>"$data/node$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 600); do
    state=$("$CLI" --bootstrap="$BOOTSTRAP" --timeout-ms=1000 --output=json cluster status 2>/dev/null || true)
    if [ -n "$state" ] && ! grep -q '"controller":0' <<<"$state" && ! grep -q '"reachable":false' <<<"$state"; then
      return 0
    fi
    sleep 0.1
  done
  echo "cluster did not become healthy (logs: $data/node*.log)" >&2
  exit 1
}

# field NAME JSON: the first numeric value of "NAME" in JSON.
field() { grep -o "\"$1\":[0-9.e+-]*" <<<"$2" | head -1 | cut -d: -f2; }

# metric_sum REGEX: the sum over the nodes of the /metrics lines that match ^REGEX.
metric_sum() {
  local total=0 v
  for i in $(seq 1 "$NODES"); do
    v=$(curl -s --max-time 5 "http://127.0.0.1:$((BASE + 300 + i))/metrics" |
      awk -v re="^$1" '$0 ~ re {s += $2} END {printf "%.3f", s}')
    total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN {printf "%.3f", a + b}')
  done
  echo "$total"
}
