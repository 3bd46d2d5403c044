#!/usr/bin/env bash
# Runs a local 3-node Brook cluster on 127.0.0.1 (the README's run command).
#
#   scripts/cluster.sh start    install what is missing, build brookd and brook, start 3 nodes, wait until healthy
#   scripts/cluster.sh stop     stop the nodes gracefully (SIGTERM; SIGKILL after 15 s)
#   scripts/cluster.sh status   show whether each node runs, and the cluster as node 1 sees it
#
# Ports: client API 7101-7103, node-to-node 7201-7203, metrics 7301-7303.
# Data and logs: $BROOK_LOCAL_DIR (default .brook-local/ in the repository): nodeN/ (RocksDB), nodeN.log, nodeN.pid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${BROOK_LOCAL_DIR:-$ROOT/.brook-local}
BUILD=${BUILD:-build}
MEMBERS="1=127.0.0.1:7201,2=127.0.0.1:7202,3=127.0.0.1:7203"
BOOTSTRAP="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

running() { [ -f "$DIR/node$1.pid" ] && kill -0 "$(cat "$DIR/node$1.pid")" 2>/dev/null; }

start() {
  bash scripts/install-deps.sh
  [ -f "$BUILD/build.ninja" ] || cmake -S . -B "$BUILD" -G Ninja
  cmake --build "$BUILD" -j 2 --target brookd brook
  mkdir -p "$DIR"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # every connection and RocksDB file takes a descriptor
  # The secret the nodes sign their node-to-node streams with (brookd --cluster_secret_file), made once.
  [ -s "$DIR/cluster.secret" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$DIR/cluster.secret")
  for i in 1 2 3; do
    if running $i; then echo "node $i already running (pid $(cat "$DIR/node$i.pid"))"; continue; fi
    "$BUILD/server/brookd" --node_id=$i --client_addr=127.0.0.1:710$i --peer_addr=127.0.0.1:720$i \
      --metrics_addr=127.0.0.1:730$i --data_dir="$DIR/node$i" --initial_members="$MEMBERS" \
      --cluster_secret_file="$DIR/cluster.secret" \
      >>"$DIR/node$i.log" 2>&1 &
    echo $! >"$DIR/node$i.pid"
  done
  for _ in $(seq 1 300); do
    # Healthy: a controller is elected and node 1 reaches every node.
    state=$("$BUILD/client/brook" --bootstrap=127.0.0.1:7101 --timeout-ms=1000 --output=json cluster status 2>/dev/null || true)
    if [ -n "$state" ] && ! grep -q '"controller":0' <<<"$state" && ! grep -q '"reachable":false' <<<"$state"; then
      echo "Brook is running: 3 nodes on 127.0.0.1, data and logs in $DIR"
      echo
      "$BUILD/client/brook" --bootstrap="$BOOTSTRAP" cluster status || true
      cat <<EOT

Try it:
  export PATH=$ROOT/$BUILD/client:\$PATH          # the brook CLI (defaults to this cluster)
  brook topic create orders --partitions=3
  echo hello | brook produce orders
  brook consume orders --from-beginning --max-records=1
  brook bench produce --records=100000
Metrics: http://127.0.0.1:7301/metrics (7302, 7303). Stop with: make stop
EOT
      return 0
    fi
    for i in 1 2 3; do
      if ! running $i; then echo "node $i exited; its log ($DIR/node$i.log) ends with:" >&2; tail -n 20 "$DIR/node$i.log" >&2; exit 1; fi
    done
    sleep 0.1
  done
  echo "the cluster did not become healthy within 30 s; logs are in $DIR" >&2
  exit 1
}

stop() {
  for i in 1 2 3; do
    if running $i; then kill -TERM "$(cat "$DIR/node$i.pid")"; fi
  done
  for i in 1 2 3; do
    for _ in $(seq 1 150); do running $i || break; sleep 0.1; done
    if running $i; then echo "node $i did not stop in 15 s; killing it" >&2; kill -KILL "$(cat "$DIR/node$i.pid")"; fi
    rm -f "$DIR/node$i.pid"
  done
  echo "stopped (data kept in $DIR; remove it for a fresh cluster)"
}

status() {
  for i in 1 2 3; do
    if running $i; then echo "node $i: running (pid $(cat "$DIR/node$i.pid"))"; else echo "node $i: stopped"; fi
  done
  "$BUILD/client/brook" --bootstrap="$BOOTSTRAP" cluster status
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
