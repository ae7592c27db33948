#!/usr/bin/env bash
# Installs LibTorch 2.11.0 built for CUDA 13.0 (PyPI's `torch==2.11.0` wheel, the GPU machine's
# PyTorch) into .torch2/site/ (git-ignored), for the `torch2` CMake preset. Idempotent, no
# prompts; a second run only prints what is installed.
#
# The wheel's libtorch_cuda.so needs CUDA 13 libraries at load time even on a machine without a
# GPU. The system CUDA 13.0 toolkit (/usr/local/cuda: cudart, cuBLAS, cuFFT, cuRAND, cuSOLVER,
# cuSPARSE, nvJitLink, CUPTI, cuDNN, NCCL) serves most of them; the three it lacks (cuSPARSELt,
# NVSHMEM, cuFile) come from their runtime wheels, pinned to the versions torch 2.11.0 requires,
# unpacked beside torch/ so that libtorch_cuda.so's own RPATH ($ORIGIN/../../nvidia/...) finds
# them. Nothing else of the wheel's dependency tree (Triton, Python packages) is needed by C++.
#
#   scripts/setup-torch2.sh            # prints: LibTorch 2.11.0 (CUDA 13.0) in .torch2/site/torch
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
site="$root/.torch2/site"
torch_version="2.11.0"
# torch 2.11.0's METADATA: nvidia-cusparselt-cu13==0.8.0, nvidia-nvshmem-cu13==3.4.5, and
# cuda-toolkit[cufile]==13.0.2, whose cufile extra is nvidia-cufile==1.15.1.6.
runtime_wheels=(nvidia-cusparselt-cu13==0.8.0 nvidia-nvshmem-cu13==3.4.5 nvidia-cufile==1.15.1.6)
cuda_root="${CUDA_HOME:-/usr/local/cuda}"
stamp="$site/.swavbench-torch-$torch_version"

report() {
  local version cuda
  version="$(sed -n 's/^__version__ = .\(.*\).$/\1/p' "$site/torch/version.py")"
  cuda="$(sed -n "s/^cuda: .* = '\(.*\)'$/\1/p" "$site/torch/version.py")"
  echo "setup-torch2: LibTorch $version (CUDA ${cuda:-none}) in $site/torch;" \
       "CUDA toolkit $("$cuda_root/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') in $cuda_root"
}

# Every shared library libtorch_cuda.so needs must resolve, or the build links but nothing runs.
check_loadable() {
  local missing
  missing="$(LD_LIBRARY_PATH="$cuda_root/lib64:${LD_LIBRARY_PATH:-}" ldd "$site/torch/lib/libtorch_cuda.so" |
             awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')"
  if [ -n "$missing" ]; then
    echo "setup-torch2: libtorch_cuda.so cannot load: missing $missing" >&2
    echo "setup-torch2: install the CUDA 13 toolkit in $cuda_root (or set CUDA_HOME)" >&2
    return 1
  fi
}

if [ -f "$stamp" ] && check_loadable; then
  report
  exit 0
fi

[ -x "$cuda_root/bin/nvcc" ] || {
  echo "setup-torch2: no CUDA toolkit at $cuda_root (nvcc missing); set CUDA_HOME" >&2
  exit 2
}

python=python3
if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "setup-torch2: installing python3-pip" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-pip >/dev/null
fi

echo "setup-torch2: installing torch==$torch_version (cu130) and ${runtime_wheels[*]} into $site" >&2
rm -rf "$site"
mkdir -p "$site"
# --no-deps: the C++ build needs torch's libraries, headers and CMake config, not its Python
# dependency tree. --target keeps it out of every Python environment (Debian's pip allows that
# only with --break-system-packages, which touches nothing outside the target folder).
pip_flags=(--no-deps --only-binary=:all: --target "$site" --no-warn-script-location
           --disable-pip-version-check --root-user-action=ignore -q)
if "$python" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
  pip_flags+=(--break-system-packages)
fi
"$python" -m pip install "${pip_flags[@]}" "torch==$torch_version" "${runtime_wheels[@]}"
[ -f "$site/torch/share/cmake/Torch/TorchConfig.cmake" ] || {
  echo "setup-torch2: the wheel has no share/cmake/Torch/TorchConfig.cmake" >&2
  exit 1
}
grep -q "cuda: .* = '13" "$site/torch/version.py" || {
  echo "setup-torch2: the installed torch is not a CUDA 13 build: $(grep -E '^(__version__|cuda)' "$site/torch/version.py" | tr '\n' ' ')" >&2
  exit 1
}
check_loadable
touch "$stamp"
report
