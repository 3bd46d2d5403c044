#!/usr/bin/env bash
# Installs the Debian 12 packages Brook needs to build and test, only those that are missing.
# Needs root (or sudo). Safe to run again: does nothing when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev prometheus-cpp-dev
  libzstd-dev liblz4-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format-14 clang-14 libclang-rt-14-dev
  python3 python3-grpcio python3-protobuf python3-h2
  python3-lz4 python3-zstandard python3-crc32c
  python3-venv python3-pip python3-setuptools python3-wheel
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
