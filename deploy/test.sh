#!/usr/bin/env bash
# Sets everything up and runs every test: installs the dependencies (if missing), builds with
# warnings as errors, runs ctest (unit and integration tests; the integration tests start their
# own throwaway PostgreSQL 15 clusters). Extra arguments go to ctest, e.g. `-L unit`.
# Usage: ./deploy/test.sh [ctest args]     (as root, or a user with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
BUILD_DIR=${SLATE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DSLATE_WARNINGS_AS_ERRORS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${SLATE_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j2
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
