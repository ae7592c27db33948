#!/usr/bin/env bash
# Installs the Debian packages swavbench builds and runs with; idempotent, no prompts.
# Run as root (or with sudo available). Prints nothing to do when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache  # toolchain; ccache for fast rebuilds
  libtorch-dev                # LibTorch 1.13 (CPU), with c10d (Gloo)
  libopenblas0-pthread        # LibTorch calls libblas.so.3: OpenBLAS is ~35x the reference BLAS
  liblua5.4-dev               # the embedded Lua runtime
  libsqlite3-dev sqlite3      # the results store (sqlite3: the integration tests read it)
  libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libturbojpeg0-dev libpng-dev zlib1g-dev  # ImageFolder decoding, idx.gz
  libpugixml-dev              # VOC annotations
  libgloo-dev                 # c10d ProcessGroupGloo headers (distributed CPU runs)
  liblinear-dev               # VOC07 linear SVMs (as the paper)
  dataset-fashion-mnist       # the embedded default dataset
  python3-torch               # independent float64 references run by the tests
  python3-torchvision         # the ResNet key-name test compares with torchvision itself
  clang-format
  gnuplot-nox                 # swavbench report: PNG + SVG plots
  chromium                    # the report test renders the HTML page headless
  texlive-latex-base texlive-latex-recommended  # a test compiles `tables --format latex` (booktabs)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-deps: done" >&2
