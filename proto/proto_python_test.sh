#!/usr/bin/env bash
# Generates Python message and gRPC stubs from the project's protos and exercises them with Debian's python3:
# proves the wire contract is usable from a second language.
# Usage: proto_python_test.sh PROTO_DIR OUT_DIR
set -euo pipefail
proto_dir=$1
out_dir=$2
rm -rf "$out_dir" && mkdir -p "$out_dir"
protoc -I "$proto_dir" --python_out="$out_dir" --grpc_python_out="$out_dir" \
  --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  $(cd "$proto_dir" && ls brook/v1/*.proto brook/internal/*.proto)
PYTHONPATH="$out_dir" /usr/bin/python3 "$proto_dir/proto_python_check.py"
