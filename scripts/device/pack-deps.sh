#!/usr/bin/env bash
# Runs HERE (a Debian machine with a package registry): downloads, without installing, the
# Debian packages the GPU machine needs to build swavbench against its own CUDA LibTorch, into
# .devdeps/debs (git-ignored). Carry .devdeps with the device call; scripts/device/gpu-check.sh
# unpacks them there (the GPU machine has no package registry).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.devdeps/debs"
mkdir -p "$out"
packages=(
  liblua5.4-dev liblua5.4-0 libsqlite3-dev libsqlite3-0 libfmt-dev libfmt9
  libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev googletest
  libbenchmark-dev libbenchmark1debian libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo
  libpng-dev libpng16-16 zlib1g-dev libpugixml-dev libpugixml1v5 liblinear-dev liblinear4
  libblas3 libgloo-dev dataset-fashion-mnist sqlite3 ccache
)
cd "$out"
apt-get download "${packages[@]}"
ls -1 "$out" | wc -l | xargs echo "pack-deps: .devdeps/debs holds" >&2
du -sh "$out" >&2
