#!/usr/bin/env bash
# Installs everything slate-replicator needs to build, test and run its demo, from Debian's
# packages only. Idempotent: it does nothing when every package is already installed.
# Usage: deploy/install-deps.sh   (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ make pkg-config
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev libpq-dev libabsl-dev libspdlog-dev libgtest-dev libgmock-dev
  # JSON config parsing with line/column errors (header-only)
  nlohmann-json3-dev
  # the Prometheus metrics endpoint
  prometheus-cpp-dev
  # PostgreSQL 15 for the demo and the integration tests (brings dblink and psql)
  postgresql-15 postgresql-client-15
  # the control API from Python (a test), certificates for the TLS test
  python3 python3-grpcio python3-protobuf python3-yaml openssl
  # promtool, to check deploy/prometheus/alerts.yml (a test)
  prometheus
  # runuser/setpriv to drop root for PostgreSQL
  util-linux procps
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
