#!/usr/bin/env bash
# The whole test suite against LibTorch 2.11.0 + CUDA 13.0 (the GPU machine's PyTorch), on this
# machine's CPU: installs the Debian packages and the LibTorch wheel when missing, configures the
# `torch2` preset (build-torch2/, CUDA code paths compiled in), builds every target, runs CTest.
# Tests labelled `cuda` report that no GPU is present; everything else runs as on LibTorch 1.13.
# Extra arguments go to ctest, e.g. scripts/test-torch2.sh -L unit
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-deps.sh test
scripts/setup-torch2.sh
scripts/setup-peers.sh  # the Python side of `swavbench bench --peers` (lightly; PyTorch 2.x's imports)
cmake --preset torch2 -DSWAVBENCH_BUILD_TESTS=ON -DSWAVBENCH_BUILD_BENCH=ON >/dev/null
cmake --build --preset torch2
ctest --preset torch2 -j "$(nproc)" "$@"
