#!/usr/bin/env bash
# The test command: installs missing Debian packages, configures and builds (Release, build/),
# then runs the whole CTest suite (unit, integration, benchmark smoke runs).
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit   or   -R kill_torture
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-deps.sh test
scripts/setup-peers.sh  # the Python side of `swavbench bench --peers` (lightly; PyTorch 2.x's imports)
# Tests and benchmarks on, also where ./swavbench configured build/ without them.
cmake --preset release -DSWAVBENCH_BUILD_TESTS=ON -DSWAVBENCH_BUILD_BENCH=ON >/dev/null
cmake --build build
ctest --preset release -j "$(nproc)" "$@"
