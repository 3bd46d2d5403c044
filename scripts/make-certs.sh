#!/usr/bin/env bash
# Makes a cluster CA and certificates for Brook's TLS (docs/security.md) with openssl:
#   DIR/ca.pem, DIR/ca.key                      the cluster CA (keep ca.key offline once the certificates exist)
#   DIR/node-N.pem, DIR/node-N.key              node N (1..NODES): CN and a DNS name "node-N" (the node-to-node
#                                               port checks it against the id the peer claims), plus the names in
#                                               HOSTS (comma-separated DNS names or IPs the clients dial)
#   DIR/client-NAME.pem, DIR/client-NAME.key    a client identity per NAME in CLIENTS (CN = the principal)
# Usage: scripts/make-certs.sh DIR [NODES=3] [HOSTS=localhost,127.0.0.1] [CLIENTS=admin]
# Existing files are kept; delete DIR to start over. Keys are 0600.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR [NODES] [HOSTS] [CLIENTS]}
nodes=${2:-3}
hosts=${3:-localhost,127.0.0.1}
clients=${4:-admin}
days=${BROOK_CERT_DAYS:-825}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=brook-cluster-ca" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
fi

sign() {  # name cn san
  local name=$1 cn=$2 san=$3
  [ -f "$dir/$name.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
    "$san" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days "$days" -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

san_of_hosts() {
  local out="" h
  IFS=',' read -ra hs <<< "$hosts"
  for h in "${hs[@]}"; do
    [ -z "$h" ] && continue
    if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then out="$out,IP:$h"; else out="$out,DNS:$h"; fi
  done
  printf '%s' "$out"
}

for n in $(seq 1 "$nodes"); do
  sign "node-$n" "node-$n" "DNS:node-$n$(san_of_hosts)"
done
IFS=',' read -ra cs <<< "$clients"
for c in "${cs[@]}"; do
  [ -n "$c" ] && sign "client-$c" "$c" "DNS:$c"
done
chmod 0644 "$dir"/*.pem
echo "make-certs: $dir: ca.pem, node-1..$nodes, clients: $clients"
