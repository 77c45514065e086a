#!/usr/bin/env bash
# The benchmark suite, from a fresh machine: installs the dependencies (if missing), builds
# (optimised, as shipped), then runs tests/bench/bench.py with these arguments. Not part of the
# test run: with the default 1M events it takes 15 to 40 minutes, depending on the machine.
# Usage: tests/bench/run.sh [--events N] [--rounds R] [--rate TX_PER_S] [--only SCENARIOS] ...
#        (tests/bench/bench.py --help lists them all)
set -euo pipefail
cd "$(dirname "$0")/../.."
./deploy/install-deps.sh
BUILD_DIR=${SLATE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DSLATE_WARNINGS_AS_ERRORS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${SLATE_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j2 --target slate-replicator slatectl slate_wait_bench \
  slate_notify_floor slate_wakeup_cost
exec python3 tests/bench/bench.py --build-dir "$BUILD_DIR" "$@"
