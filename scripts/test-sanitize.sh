#!/usr/bin/env bash
# The sanitizer stage of CI: builds the torch-free code (store, Lua runtime, config, data readers
# and decoders, VOC, reports) with clang, ASan and UBSan (preset "sanitize", build-sanitize/), runs
# its unit tests, then every libFuzzer target for SWAVBENCH_FUZZ_SECONDS (default 10) each on its
# committed seeds and regression inputs (tests/fuzz/). Only fuzz_checkpoint links LibTorch
# (Debian's, which `setup-deps.sh test` installs).
#   scripts/test-sanitize.sh [ctest arguments]      e.g. -L fuzz, or -R fuzz.idx
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-deps.sh test
cmake --preset sanitize -DSWAVBENCH_FUZZ_SECONDS="${SWAVBENCH_FUZZ_SECONDS:-10}" >/dev/null
cmake --build build-sanitize
ctest --preset sanitize -j "$(nproc)" "$@"
