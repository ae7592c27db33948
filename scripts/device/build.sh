#!/usr/bin/env bash
# Runs ON THE GPU MACHINE (no package registry; CUDA, CMake, ninja and a Python whose PyTorch
# ships a CUDA LibTorch): unpacks the Debian packages carried in .devdeps/debs into a private
# prefix, configures against that PyTorch's LibTorch, builds, runs the tests labelled `cuda`
# and the GPU benchmarks, and writes logs under $OUT (or ./device-out when OUT is unset).
#
#   device run: bash scripts/device/build.sh          (carry: .devdeps)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-$root/device-out}"
mkdir -p "$out"
prefix=/opt/swavbench-deps
mkdir -p "$prefix"
for deb in "$root"/.devdeps/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
# The default dataset location the harness reads.
mkdir -p /usr/share/datasets
[ -e /usr/share/datasets/fashion-mnist ] ||
  ln -s "$prefix/usr/share/datasets/fashion-mnist" /usr/share/datasets/fashion-mnist

torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"
export CPATH="$prefix/usr/include:${CPATH:-}"
export LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LIBRARY_PATH:-}"

{
  nvidia-smi || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} > "$out/machine.txt" 2>&1

cmake -S "$root" -B "$root/build-cuda" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake" \
  -DLIBLINEAR_LIBRARY="$prefix/usr/lib/x86_64-linux-gnu/liblinear.so.4" \
  -DLIBLINEAR_INCLUDE_DIR="$prefix/usr/include" \
  > "$out/configure.log" 2>&1 || { tail -50 "$out/configure.log"; exit 1; }
cmake --build "$root/build-cuda" -j "$(nproc)" > "$out/build.log" 2>&1 ||
  { tail -80 "$out/build.log"; exit 1; }
(cd "$root/build-cuda" && ctest -L cuda --output-on-failure) > "$out/ctest-cuda.log" 2>&1 || true
"$root/build-cuda/bench/bench_sinkhorn" --benchmark_min_time=1 > "$out/bench-sinkhorn.txt" 2>&1 || true
"$root/build-cuda/swavbench" --version > "$out/version.txt" 2>&1 || true
tail -5 "$out/ctest-cuda.log"
echo "device build: logs in $out"
