#!/usr/bin/env bash
# Makes what the secure docker-compose variant (deploy/docker-compose.secure.yml, docs/security.md "docker-compose
# with TLS and tokens") needs, in OUTDIR:
#
#   OUTDIR/node/          mounted read-only into every node at /etc/brook/tls: ca.pem, node-N.pem, node-N.key
#                         (N = 1..4) and `tokens` (brookd --auth_tokens_file: NAME sha256:HEX per line, only hashes).
#                         Keys and tokens are owned by uid 10001, the image's user `brook`, mode 0600.
#   OUTDIR/client/        for clients on the host: ca.pem, client-NAME.pem/.key (CN = NAME) per principal
#   OUTDIR/tokens/NAME    each principal's bearer token (0600): BROOK_TOKEN=$(cat OUTDIR/tokens/admin) brook ...
#   OUTDIR/env            BROOK_SECURE_DIR and BROOK_CLUSTER_SECRET for docker-compose, and the health check's
#                         token: set -a; . OUTDIR/env; set +a
#   OUTDIR/ca/            the CA (ca.key: keep it offline once the certificates exist)
#
# Usage: deploy/secure-setup.sh OUTDIR [PRINCIPALS=admin,health]
# PRINCIPALS: comma-separated token and certificate names; `admin` (the compose file's superuser) and `health` (the
# containers' health check) are always added. Existing files are kept (run it again to add principals); delete
# OUTDIR to start over. Changing the ownership of the node files needs root or password-less sudo.
set -euo pipefail
out=${1:?usage: secure-setup.sh OUTDIR [PRINCIPALS]}
principals="admin,health${2:+,$2}"
src=$(cd "$(dirname "$0")/.." && pwd)
node_uid=10001
mkdir -p "$out"
out=$(cd "$out" && pwd)
umask 077
mkdir -p "$out/ca" "$out/node" "$out/client" "$out/tokens"

# Node certificates: DNS node-N (the node-to-node name check) plus the addresses clients dial: the published ports
# on 127.0.0.1 (and localhost), the service names on the compose network.
bash "$src/scripts/make-certs.sh" "$out/ca" 4 localhost,127.0.0.1,brook1,brook2,brook3,brook4 "$principals" >/dev/null
cp -f "$out/ca/ca.pem" "$out/node/ca.pem"
cp "$out/ca/ca.pem" "$out/client/ca.pem"
for n in 1 2 3 4; do
  cp -f "$out/ca/node-$n.pem" "$out/ca/node-$n.key" "$out/node/"
done
IFS=',' read -ra names <<<"$principals"
for name in "${names[@]}"; do
  [ -n "$name" ] || continue
  cp "$out/ca/client-$name.pem" "$out/ca/client-$name.key" "$out/client/"
  if [ ! -s "$out/tokens/$name" ]; then
    head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$out/tokens/$name"
  fi
done

# The tokens file: the sha256 of each token, never the token itself.
{
  echo "# brookd --auth_tokens_file: NAME sha256:HEX (HEX: printf %s \"\$TOKEN\" | sha256sum). deploy/secure-setup.sh"
  for f in "$out"/tokens/*; do
    printf '%s sha256:%s\n' "$(basename "$f")" "$(printf %s "$(cat "$f")" | sha256sum | cut -d' ' -f1)"
  done
} >"$out/node/tokens.new"
mv "$out/node/tokens.new" "$out/node/tokens"

if [ ! -f "$out/env" ]; then
  {
    echo "BROOK_SECURE_DIR=$out"
    echo "BROOK_CLUSTER_SECRET=$(head -c 32 /dev/urandom | base64)"
    echo "BROOK_HEALTH_TOKEN=$(cat "$out/tokens/health")"
  } >"$out/env"
fi

chmod 0644 "$out"/node/*.pem "$out"/client/*.pem
chmod 0755 "$out" "$out/node" "$out/client"
chmod 0600 "$out"/node/*.key "$out/node/tokens"
# The nodes run as uid 10001 (deploy/Dockerfile): they must read their keys and the tokens file.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
if ! $sudo chown "$node_uid:$node_uid" "$out"/node/*.key "$out/node/tokens" 2>/dev/null; then
  echo "secure-setup: could not chown $out/node/*.key and tokens to uid $node_uid; run as root:" >&2
  echo "  chown $node_uid:$node_uid $out/node/*.key $out/node/tokens" >&2
  exit 1
fi
echo "secure-setup: $out: principals ${principals//,/ }; next:"
echo "  set -a; . $out/env; set +a"
echo "  docker-compose -f docker-compose.yml -f deploy/docker-compose.secure.yml up -d --build"
