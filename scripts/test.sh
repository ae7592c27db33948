#!/usr/bin/env bash
# The test command: installs missing Debian packages, configures and builds (Release, build/),
# then runs the whole CTest suite (unit, integration, benchmark smoke runs).
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit   or   -R kill_resume
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-deps.sh
cmake --preset release >/dev/null
cmake --build build
ctest --preset release -j "$(nproc)" "$@"
