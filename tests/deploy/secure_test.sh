#!/usr/bin/env bash
# End-to-end test of the secure docker-compose variant (deploy/docker-compose.secure.yml over docker-compose.yml,
# docs/security.md "docker-compose with TLS and tokens"): deploy/secure-setup.sh makes the certificates and tokens,
# the 3-node cluster comes up with TLS on the client ports, mutual TLS between the nodes, token authentication and
# ACLs (deny by default, superuser `admin`). Through the published ports, the host's CLI: the admin lets the health
# check's principal see the cluster (then the nodes turn healthy), creates a topic and grants `alice` produce and
# consume on it; alice produces and consumes; a plaintext client, a client trusting another CA, a client without a
# token and one with a wrong token are refused; `bob` (no grant) and alice outside her grant get PERMISSION_DENIED.
#
#   tests/deploy/secure_test.sh SOURCE_DIR BROOK_CLI        (ctest runs it: label deploy)
#
# Reuses deploy_compose_test's image (brook:local; `docker-compose build` answers from the layer cache when the
# sources did not change, else it compiles) and its Docker set-up; like it, it starts dockerd when `docker info`
# fails and stops it at the end. Compose project `brook-secure-e2e`, removed at the end with its volumes. Uses host
# ports 7101-7103 and 7301-7303 on 127.0.0.1. Every wait has a deadline.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR BROOK_CLI" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
BROOK=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
PROJECT=brook-secure-e2e
TOPIC=secure
BOOTSTRAP="127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
RECORDS=200
WORK=$(mktemp -d /tmp/brook-secure-test.XXXXXX)
SEC=$WORK/sec
START=$(date +%s)
STARTED_DOCKERD=""

log() { echo "secure_test [$(($(date +%s) - START))s] $*"; }
fail() {
  log "FAIL: $*"
  exit 1
}
compose() {
  timeout "${COMPOSE_TIMEOUT:-120}" docker-compose -p "$PROJECT" -f "$SRC/docker-compose.yml" \
    -f "$SRC/deploy/docker-compose.secure.yml" "$@"
}

ensure_docker() {
  if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null; then
    fail "no dockerd or docker-compose (deploy_compose_test installs them)"
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: $WORK/dockerd.log)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo setsid dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
    STARTED_DOCKERD=$!
    local deadline=$(($(date +%s) + 60))
    until docker info >/dev/null 2>&1; do
      [ "$(date +%s)" -lt "$deadline" ] || fail "dockerd did not answer in 60 s"
      sleep 1
    done
  fi
  timeout 300 bash "$SRC/scripts/docker-base-image.sh" debian:bookworm-slim
}

teardown() {
  local status=$?
  set +e
  if [ $status -ne 0 ] && [ -f "$WORK/up" ]; then
    compose ps
    compose logs --no-color --tail=30 2>&1 | tail -120
  fi
  if [ -f "$WORK/up" ]; then
    compose down -v --remove-orphans >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log"; status=1; }
  fi
  if [ -n "$STARTED_DOCKERD" ]; then
    log "stopping the dockerd this test started (pid $STARTED_DOCKERD)"
    kill -TERM "$STARTED_DOCKERD" 2>/dev/null || sudo kill -TERM "$STARTED_DOCKERD" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -rf "$WORK"
  log "$([ $status -eq 0 ] && echo PASS || echo "FAIL (exit $status)") in $(($(date +%s) - START)) s"
  exit $status
}
trap teardown EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_healthy SECONDS SERVICE...: until docker reports each service's container healthy.
wait_healthy() {
  local limit=$1
  shift
  local deadline=$(($(date +%s) + limit)) s state pending
  while true; do
    pending=""
    for s in "$@"; do
      state=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' \
        "$(compose ps -q "$s")" 2>/dev/null || echo missing)
      [ "$state" = "running/healthy" ] || pending="$pending $s=$state"
    done
    [ -z "$pending" ] && return 0
    [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after $limit s:$pending"
    sleep 1
  done
}

# as PRINCIPAL ARGS...: the host's CLI over TLS, trusting the cluster CA, with PRINCIPAL's token.
as() {
  local who=$1
  shift
  BROOK_TLS_CA="$SEC/client/ca.pem" BROOK_TOKEN="$(cat "$SEC/tokens/$who")" "$BROOK" --bootstrap="$BOOTSTRAP" \
    --timeout-ms=20000 "$@"
}

# refused WHAT CODE ARGS...: the CLI call (bounded by its --timeout-ms) fails with exit 1 (an error from or reaching
# the cluster) and its message names CODE (UNAVAILABLE: the TLS handshake failed).
refused() {
  local what=$1 code=$2 rc=0
  shift 2
  "$@" </dev/null >"$WORK/refused.out" 2>&1 || rc=$?
  [ $rc -eq 1 ] || fail "$what: want exit 1 (refused), got $rc: $(tail -3 "$WORK/refused.out")"
  grep -q "$code" "$WORK/refused.out" || fail "$what: refused, but not with $code: $(tail -3 "$WORK/refused.out")"
  log "$what: refused with $code"
}

# ---- the test ----

[ -x "$BROOK" ] || fail "no brook CLI at $BROOK"
ensure_docker
[ -z "$(compose ps -q 2>/dev/null)" ] || compose down -v --remove-orphans
for port in 7101 7102 7103 7301 7302 7303; do
  ! port_in_use $port || fail "127.0.0.1:$port is in use (a 'make run' cluster or another deployment?)"
done

bash "$SRC/deploy/secure-setup.sh" "$SEC" alice,bob >/dev/null || fail "deploy/secure-setup.sh"
printf 'not-a-token' >"$SEC/tokens/mallory"
set -a
# shellcheck disable=SC1091
. "$SEC/env"
set +a
BROOK_GIT_COMMIT=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
export BROOK_GIT_COMMIT

# BROOK_SECURE_TEST_IMAGE=reuse: start whatever brook:local holds (iterating on this test; not for CI).
if [ "${BROOK_SECURE_TEST_IMAGE:-build}" = reuse ] && docker image inspect brook:local >/dev/null 2>&1; then
  log "reusing brook:local as it is (BROOK_SECURE_TEST_IMAGE=reuse)"
else
  log "building brook:local (the layer cache answers when deploy_compose_test built these sources)"
  COMPOSE_TIMEOUT=1500 compose build brook1 >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log"; fail "building the brook image"; }
fi

touch "$WORK/up"
compose up -d --no-build brook1 brook2 brook3
# The health check's principal may not see the cluster until the admin lets it.
deadline=$(($(date +%s) + 120))
until as admin --timeout-ms=3000 --output=json cluster status 2>/dev/null | grep -Eq '"controller":[1-9]'; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "the admin sees no controller after 120 s"
  sleep 1
done
as admin acl add health describe cluster >/dev/null || fail "acl add health describe cluster"
wait_healthy 60 brook1 brook2 brook3
log "3 TLS nodes healthy; the health check's principal may describe the cluster"

as admin topic create "$TOPIC" --partitions=3 >/dev/null || fail "topic create by the admin"
as admin acl add alice produce "topic:$TOPIC" >/dev/null || fail "acl add alice produce"
as admin acl add alice consume "topic:$TOPIC" >/dev/null || fail "acl add alice consume"
rules=$(as admin --output=json acl list --principal=alice)
[ "$(echo "$rules" | grep -o '"principal"' | wc -l)" -eq 2 ] || fail "acl list --principal=alice: $rules"
as alice --output=json whoami | grep -q '"principal":"alice"' || fail "whoami as alice: $(as alice whoami 2>&1)"
log "the admin created $TOPIC and granted alice produce and consume on it"

awk -v n=$RECORDS 'BEGIN { for (i = 1; i <= n; i++) printf "k%d:v%06d\n", i % 7, i }' >"$WORK/in"
as alice --output=json produce "$TOPIC" --key-separator=: <"$WORK/in" >"$WORK/acks" || fail "produce as alice"
python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))
sys.exit(0 if a["records"] == int(sys.argv[2]) and a["failed"] == 0 else 1)' "$WORK/acks" $RECORDS ||
  fail "produce as alice: $(cat "$WORK/acks")"
got=$(as alice --output=json consume "$TOPIC" --from-beginning | wc -l)
[ "$got" -eq $RECORDS ] || fail "consume as alice read $got of $RECORDS records"
log "alice produced $RECORDS records and consumed them back"

refused "a plaintext client" UNAVAILABLE "$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=5000 \
  --token="$(cat "$SEC/tokens/admin")" cluster status
bash "$SRC/scripts/make-certs.sh" "$WORK/other-ca" 1 >/dev/null
refused "a client trusting another CA" UNAVAILABLE "$BROOK" --bootstrap="$BOOTSTRAP" --timeout-ms=5000 \
  --tls-ca="$WORK/other-ca/ca.pem" --token="$(cat "$SEC/tokens/admin")" cluster status
refused "a client without a token" UNAUTHENTICATED env -u BROOK_TOKEN "$BROOK" --bootstrap="$BOOTSTRAP" \
  --timeout-ms=5000 --tls-ca="$SEC/client/ca.pem" topic describe "$TOPIC"
refused "a client with a wrong token" UNAUTHENTICATED as mallory --timeout-ms=5000 topic describe "$TOPIC"
refused "bob producing (no grant)" PERMISSION_DENIED as bob --timeout-ms=5000 produce "$TOPIC" --value=x
refused "bob consuming (no grant)" PERMISSION_DENIED as bob --timeout-ms=5000 consume "$TOPIC" --from-beginning
refused "alice creating a topic (not granted)" PERMISSION_DENIED as alice --timeout-ms=5000 topic create other
refused "alice granting herself admin" PERMISSION_DENIED as alice --timeout-ms=5000 acl add alice admin cluster
