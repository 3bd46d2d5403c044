#!/usr/bin/env bash
# End-to-end test of the docker-compose deployment (README "Deploy"): the images build, the 3-node cluster comes
# up healthy, a client on the host writes and reads through the published 127.0.0.1 ports, the cluster loses no
# acknowledged record when the container of a partition leader is killed and started again, and Prometheus
# scrapes all three nodes.
#
#   tests/deploy/deploy_test.sh SOURCE_DIR BROOK_CLI        (ctest runs it: label deploy)
#
# Needs root (or sudo) the first time: it installs docker.io, docker-compose and debootstrap when missing, starts
# dockerd when `docker info` fails (and stops it again at the end), and builds debian:bookworm-slim with
# debootstrap when the image is missing (scripts/docker-base-image.sh). The images it builds (brook:local,
# brook-prometheus:local) stay for the next run; the compose project `brook-e2e`, its containers and volumes are
# removed at the end, also when a step fails. Every wait has a deadline. Uses host ports 7101-7103, 7301-7303 and
# 9090 on 127.0.0.1: stop `make run` or another compose deployment first. Then the elastic cluster: brook4 joins
# (docker-compose --profile extra, port 7104/7304), brook3 loses its volume, starts empty as a new node and
# takes over node 3's replicas (brook cluster replace), and every record is still read back from every node.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR BROOK_CLI" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
BROOK=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
PROJECT=brook-e2e
TOPIC=e2e
NODES="1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103"
BOOTSTRAP="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
PHASE1_RECORDS=400  # all three nodes up
PHASE2_RECORDS=400  # right after a partition leader's container is killed
PHASE3_RECORDS=200  # after it is started again
PYTHON=/usr/bin/python3

WORK=$(mktemp -d /tmp/brook-deploy-test.XXXXXX)
export BROOK_PY_STUBS=$WORK/py
# Stamped into the images (docker-compose.yml build argument), reported by brook_build_info.
BROOK_GIT_COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
export BROOK_GIT_COMMIT
# The nodes' shared node-to-node secret (docker-compose.yml requires one).
BROOK_CLUSTER_SECRET=$(head -c 32 /dev/urandom | base64)
export BROOK_CLUSTER_SECRET
START=$(date +%s)
STARTED_DOCKERD=""
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { echo "deploy_test [$(($(date +%s) - START))s] $*"; }
fail() {
  log "FAIL: $*"
  exit 1
}
# The `extra` profile (brook4) is always on, so that `ps` and `down` see it; `up` names its services.
compose() {
  timeout "${COMPOSE_TIMEOUT:-120}" docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" --profile extra "$@"
}

# ---- make Docker usable ----

ensure_docker() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    timeout 300 $SUDO apt-get update -qq || fail "apt-get update"
    timeout 600 $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; fail "apt-get install ${missing[*]}"; }
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $WORK/dockerd.log)"
    # Detached from this script's output, so that ctest does not wait for it.
    $SUDO setsid dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
    STARTED_DOCKERD=$!
    local deadline=$(($(date +%s) + 60))
    until docker info >/dev/null 2>&1; do
      [ "$(date +%s)" -lt "$deadline" ] || { tail -20 "$WORK/dockerd.log"; fail "dockerd did not answer in 60 s"; }
      sleep 1
    done
  fi
  timeout 300 bash "$SRC/scripts/docker-base-image.sh" debian:bookworm-slim
}

stop_dockerd() {
  [ -n "$STARTED_DOCKERD" ] || return 0
  log "stopping the dockerd this test started (pid $STARTED_DOCKERD)"
  $SUDO kill -TERM "$STARTED_DOCKERD" 2>/dev/null || return 0
  for _ in $(seq 60); do
    kill -0 "$STARTED_DOCKERD" 2>/dev/null || return 0
    sleep 0.5
  done
  log "dockerd still runs after 30 s; leaving it"
}

teardown() {
  local status=$?
  set +e
  if [ $status -ne 0 ] && [ -f "$WORK/up" ]; then
    log "container states and last log lines:"
    compose ps
    compose logs --no-color --tail=40 2>&1 | tail -200
  fi
  if [ -f "$WORK/up" ] || [ -n "$(compose ps -q 2>/dev/null)" ]; then
    log "docker-compose down -v"
    compose down -v --remove-orphans >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log"; status=1; }
  fi
  stop_dockerd
  rm -rf "$WORK"
  log "$([ $status -eq 0 ] && echo PASS || echo "FAIL (exit $status)") in $(($(date +%s) - START)) s"
  exit $status
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- helpers ----

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

container_of() { compose ps -q "$1"; }

# wait_healthy SECONDS SERVICE...: until docker reports each service's container healthy.
wait_healthy() {
  local limit=$1
  shift
  local deadline=$(($(date +%s) + limit)) s id state pending
  while true; do
    pending=""
    for s in "$@"; do
      id=$(container_of "$s")
      state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" \
        2>/dev/null || echo missing)
      [ "$state" = "running/healthy" ] || pending="$pending $s=$state"
    done
    [ -z "$pending" ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after $limit s:$pending"
    sleep 1
  done
}

# produce PHASE COUNT BOOTSTRAP: COUNT keyed records through the host's CLI; its JSON answer lists every
# record's acknowledged partition and offset.
produce() {
  local phase=$1 count=$2 bootstrap=$3
  awk -v n="$count" -v phase="$phase" 'BEGIN { for (i = 1; i <= n; i++) printf "key-%d:%s-%06d\n", i % 17, phase, i }' \
    >"$WORK/$phase.in"
  "$BROOK" --bootstrap="$bootstrap" --timeout-ms=60000 --output=json produce "$TOPIC" --key-separator=: \
    <"$WORK/$phase.in" >"$WORK/$phase.acks" || fail "brook produce ($phase) failed: $(cat "$WORK/$phase.acks")"
  local acked
  acked=$($PYTHON -c 'import json, sys
a = json.load(open(sys.argv[1]))
print(a["records"] if a["failed"] == 0 else -1)' "$WORK/$phase.acks")
  [ "$acked" = "$count" ] || fail "$phase: $acked of $count records acknowledged"
  log "$phase: $count records acknowledged"
}

# leader_of PARTITION: the node id leading it, from the host's CLI.
leader_of() {
  "$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=10000 --output=json topic describe "$TOPIC" |
    $PYTHON -c 'import json, sys
print([p["leader"] for p in json.load(sys.stdin)["partitions"] if p["partition"] == int(sys.argv[1])][0])' "$1"
}

# prometheus_query PROMQL: the result vector of an instant query as JSON.
prometheus_query() {
  $PYTHON - "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[1]})
print(json.dumps(json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]))
EOF
}

# prometheus_rules: "N rules, M ok" for the rules Prometheus loaded, then the errors of those not ok.
prometheus_rules() {
  $PYTHON - <<'EOF'
import json, urllib.request
groups = json.load(urllib.request.urlopen("http://127.0.0.1:9090/api/v1/rules", timeout=5))["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
bad = [f'{r["name"]}: {r["health"]} {r.get("lastError", "")}' for r in rules if r["health"] != "ok"]
print(f"{len(rules)} rules, {len(rules) - len(bad)} ok" + "".join("; " + b for b in bad))
EOF
}

# ---- the test ----

[ -x "$BROOK" ] || fail "no brook CLI at $BROOK"
ensure_docker
if [ -n "$(compose ps -q 2>/dev/null)" ]; then
  log "removing the containers and volumes a previous run left behind"
  compose down -v --remove-orphans
fi
log "docker ready: server $(docker version -f '{{.Server.Version}}'), $(docker-compose version --short)"

for port in 7101 7102 7103 7104 7301 7302 7303 7304 9090; do
  ! port_in_use $port || fail "127.0.0.1:$port is in use (a 'make run' cluster or another deployment?)"
done

log "building the images (brook:local, brook-prometheus:local)"
# The Prometheus image (package downloads) builds beside brook's compile. brook1's build makes brook:local, the
# image of all three nodes: `up --no-build` below starts brook2 and brook3 from it.
COMPOSE_TIMEOUT=1500 compose build brook1 >"$WORK/build-brook.log" 2>&1 &
build_brook=$!
COMPOSE_TIMEOUT=600 compose build prometheus >"$WORK/build-prometheus.log" 2>&1 ||
  { rc=$?; tail -30 "$WORK/build-prometheus.log"; fail "building the Prometheus image (exit $rc; 124: timed out)"; }
wait $build_brook ||
  { rc=$?; tail -40 "$WORK/build-brook.log"; fail "building the brook image (exit $rc; 124: timed out)"; }
log "images built: brook:local $(docker image inspect -f '{{.Size}}' brook:local) bytes," \
  "brook-prometheus:local $(docker image inspect -f '{{.Size}}' brook-prometheus:local) bytes"

touch "$WORK/up"
compose up -d --no-build brook1 brook2 brook3 prometheus
wait_healthy 120 brook1 brook2 brook3
log "3 nodes healthy"

"$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=30000 topic create "$TOPIC" --partitions=3 ||
  fail "brook topic create"
# Every node advertises the address the host reaches it at.
"$BROOK" --bootstrap="$BOOTSTRAP" --output=json cluster status | $PYTHON -c '
import json, sys
got = {n["id"]: n["client_address"] for n in json.load(sys.stdin)["nodes"]}
want = {1: "127.0.0.1:7101", 2: "127.0.0.1:7102", 3: "127.0.0.1:7103"}
sys.exit(0 if got == want else "advertised client addresses %s, want %s" % (got, want))' ||
  fail "cluster status"
# One bootstrap address: partitions led by nodes 2 and 3 are reached only by following the advertised addresses.
produce phase1 $PHASE1_RECORDS 127.0.0.1:7101

victim=$(leader_of 0)
[[ "$victim" =~ ^[123]$ ]] || fail "partition 0 has no leader (got '$victim')"
log "killing brook$victim, the leader of partition 0"
docker kill "$(container_of "brook$victim")" >/dev/null
produce phase2 $PHASE2_RECORDS "$BOOTSTRAP"
now_leader=$(leader_of 0)
[ "$now_leader" != "$victim" ] || fail "partition 0 is still led by the killed node $victim"
state=$(docker inspect -f '{{.State.Status}}' "$(container_of "brook$victim")")
[ "$state" = exited ] || fail "brook$victim is $state, not exited, after docker kill (restart policy?)"
log "partition 0 now led by node $now_leader while brook$victim is $state"

log "starting brook$victim again"
docker start "$(container_of "brook$victim")" >/dev/null
wait_healthy 90 "brook$victim"
produce phase3 $PHASE3_RECORDS "$BOOTSTRAP"

log "reading everything back from every node"
$PYTHON "$SRC/tests/deploy/read_back.py" --nodes="$NODES" --topic="$TOPIC" --timeout-s=60 \
  --produced="$WORK/phase1.in:$WORK/phase1.acks" --produced="$WORK/phase2.in:$WORK/phase2.acks" \
  --produced="$WORK/phase3.in:$WORK/phase3.acks" || fail "read back"
total=$((PHASE1_RECORDS + PHASE2_RECORDS + PHASE3_RECORDS))
consumed=$("$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=30000 --output=json consume "$TOPIC" --from-beginning |
  wc -l)
[ "$consumed" -eq "$total" ] || fail "brook consume read $consumed records, $total were acknowledged"
log "brook consume on the host read all $total records"

log "waiting for Prometheus to scrape all three nodes"
deadline=$(($(date +%s) + 90))
while true; do
  up=$(prometheus_query 'up{job="brook"} == 1' 2>/dev/null || echo "[]")
  hw=$(prometheus_query "sum(max by (partition) (brook_partition_high_watermark{topic=\"$TOPIC\"}))" \
    2>/dev/null || echo "[]")
  ups=$($PYTHON -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$up")
  hws=$($PYTHON -c 'import json,sys; r=json.loads(sys.argv[1]); print(r[0]["value"][1] if r else "none")' "$hw")
  [ "$ups" = 3 ] && [ "$hws" = "$total" ] && break
  [ "$(date +%s)" -lt "$deadline" ] ||
    fail "Prometheus: $ups of 3 brook targets up, high watermarks sum $hws (want $total)"
  sleep 2
done
log "Prometheus: 3 of 3 brook targets up; the partitions' high watermarks sum to $total"
# The images carry the commit they were built from (BROOK_GIT_COMMIT, exported above).
info=$(prometheus_query "count(brook_build_info{git_commit=\"$BROOK_GIT_COMMIT\"})")
[ "$($PYTHON -c 'import json,sys; r=json.loads(sys.argv[1]); print(r[0]["value"][1] if r else 0)' "$info")" = 3 ] ||
  fail "brook_build_info: want git_commit=\"$BROOK_GIT_COMMIT\" on 3 nodes, got $info"
log "brook_build_info: git_commit=\"$BROOK_GIT_COMMIT\" on all 3 nodes"
$PYTHON "$SRC/tests/deploy/check_dashboard.py" "$SRC/deploy/grafana/brook-cluster.json" ||
  fail "Grafana dashboard queries"

# Every alert rule of deploy/prometheus/alerts.yml is loaded and has been evaluated without error.
want_rules=$(grep -c -- '- alert:' "$SRC/deploy/prometheus/alerts.yml")
deadline=$(($(date +%s) + 60))
until [ "$(prometheus_rules 2>/dev/null)" = "$want_rules rules, $want_rules ok" ]; do
  [ "$(date +%s)" -lt "$deadline" ] ||
    fail "Prometheus alert rules: $(prometheus_rules 2>&1) (want $want_rules, all ok)"
  sleep 2
done
log "Prometheus: $want_rules alert rules loaded and evaluated"

# ---- the elastic cluster ----

# node_at ADDRESS: "ID STATE" of the node that advertises ADDRESS (the newest id when several did).
node_at() {
  "$BROOK" --bootstrap="$BOOTSTRAP" --output=json cluster status | $PYTHON -c '
import json, sys
nodes = [n for n in json.load(sys.stdin)["nodes"] if n["client_address"] == sys.argv[1]]
print("%d %s" % (nodes[-1]["id"], nodes[-1]["state"]) if nodes else "none")' "$1"
}

log "brook4 joins the running cluster (docker-compose --profile extra up brook4)"
compose up -d --no-build brook4
wait_healthy 120 brook4
[ "$(node_at 127.0.0.1:7104)" = "4 NODE_ACTIVE" ] || fail "brook4 is '$(node_at 127.0.0.1:7104)', want '4 NODE_ACTIVE'"
log "brook4 is node 4, active"

log "brook3 loses its volume and starts empty as a new node (BROOK3_IDENTITY=--join=brook1:7201)"
compose rm -sf brook3 >/dev/null 2>&1
docker volume rm "${PROJECT}_brook3-data" >/dev/null || fail "removing brook3's volume"
BROOK3_IDENTITY=--join=brook1:7201 compose up -d --no-build brook3
wait_healthy 120 brook3
read -r new_id new_state <<<"$(node_at 127.0.0.1:7103)"
[ "$new_state" = NODE_ACTIVE ] && [ "$new_id" -gt 4 ] || fail "the new brook3 is node '$new_id' ($new_state)"
log "brook3 came back as node $new_id; replacing node 3 with it"
"$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=30000 cluster replace 3 --with "$new_id" || fail "cluster replace"
"$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=30000 cluster operations --wait --wait-timeout-ms=120000 ||
  fail "the moves onto node $new_id did not finish"
deadline=$(($(date +%s) + 60))
until "$BROOK" --bootstrap="$BOOTSTRAP" --output=json cluster status | $PYTHON -c '
import json, sys
s = json.load(sys.stdin)
states = {n["id"]: n["state"] for n in s["nodes"]}
sys.exit(0 if states.get(3) == "NODE_REMOVED" and not s["under_replicated"] else 1)'; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "node 3 not removed, or partitions under-replicated: $(
    "$BROOK" --bootstrap="$BOOTSTRAP" cluster status)"
  sleep 1
done
log "node 3 removed; every partition is fully replicated again"
produce phase4 $PHASE3_RECORDS "$BOOTSTRAP"
# brook3's address now serves node $new_id.
$PYTHON "$SRC/tests/deploy/read_back.py" --nodes="1=127.0.0.1:7101,2=127.0.0.1:7102,$new_id=127.0.0.1:7103" \
  --topic="$TOPIC" --timeout-s=60 \
  --produced="$WORK/phase1.in:$WORK/phase1.acks" --produced="$WORK/phase2.in:$WORK/phase2.acks" \
  --produced="$WORK/phase3.in:$WORK/phase3.acks" --produced="$WORK/phase4.in:$WORK/phase4.acks" ||
  fail "read back after the replacement"
log "every acknowledged record is on every replica after the replacement"
