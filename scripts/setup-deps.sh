#!/usr/bin/env bash
# Installs the Debian packages swavbench needs; idempotent, no prompts. Run as root (or with sudo
# available). Prints nothing when everything is present.
#
#   scripts/setup-deps.sh            what building and running swavbench needs (./swavbench calls
#                                    this: a first run installs no browser, TeX or Python torch)
#   scripts/setup-deps.sh test       that, plus what the tests and micro-benchmarks need
#                                    (scripts/test.sh calls this)
#   scripts/setup-deps.sh --list run|test   prints the package list, one per line, installs nothing
set -euo pipefail

run_packages=(
  build-essential cmake ninja-build pkg-config git ccache  # toolchain; ccache for fast rebuilds
  libtorch-dev                # LibTorch 1.13 (CPU), with c10d (Gloo)
  libopenblas0-pthread        # LibTorch calls libblas.so.3: OpenBLAS is ~35x the reference BLAS
  liblua5.4-dev               # the embedded Lua runtime
  libsqlite3-dev              # the results store
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libturbojpeg0-dev libpng-dev zlib1g-dev  # ImageFolder decoding, idx.gz
  libpugixml-dev              # VOC annotations
  libgloo-dev                 # c10d ProcessGroupGloo headers (distributed CPU runs)
  liblinear-dev               # VOC07 linear SVMs (as the paper)
  dataset-fashion-mnist       # the embedded default dataset
  gnuplot-nox                 # swavbench report: PNG + SVG plots (a few MB)
)

test_packages=(
  libgtest-dev libgmock-dev   # the unit tests
  libbenchmark-dev            # bench/ (swavbench bench, the benchmark smoke tests)
  sqlite3                     # the integration tests read the database with it
  python3-torch               # independent float64 references run by the tests
  python3-torchvision         # the ResNet key-name and export tests load into torchvision itself
  python3-sklearn             # the low-shot probe is checked against its LogisticRegression
  clang-format
  clang libclang-rt-14-dev    # the sanitizer build: ASan + UBSan, libFuzzer (scripts/test-sanitize.sh)
  chromium                    # the report test renders the HTML page headless
  texlive-latex-base texlive-latex-recommended  # a test compiles `tables --format latex` (booktabs)
)

list_only=0
if [ "${1:-}" = "--list" ]; then
  list_only=1
  shift
fi
profile="${1:-run}"
case "$profile" in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "setup-deps: unknown set '$profile': use 'run' (build and run) or 'test' (also the tests)" >&2
    exit 2
    ;;
esac
if [ "$list_only" = 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup-deps ($profile): installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done" >&2
