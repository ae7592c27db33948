#!/usr/bin/env bash
# The GPU check, in one call ON THE GPU MACHINE (16 cores, PyTorch 2.x with CUDA, CMake, ninja,
# Python, no package registry), within 9 minutes. Carry .devdeps (scripts/device/pack-deps.sh,
# run here first):
#
#   device run (timeout 560): bash scripts/device/gpu-check.sh          carry: [".devdeps"]
#
# 1. builds against that machine's PyTorch only what it runs (swavbench, test_cuda,
#    bench_sinkhorn; 16 jobs), then `ctest -L cuda`;
# 2. writes an ImageFolder of generated JPEGs (swavbench data make-imagefolder);
# 3. SwAV ResNet-50 at 2x224 + 6x96, bf16, channels_last, per-GPU batch 64 and 128, two short
#    epochs each (suite/gpu_throughput.lua; the second epoch is the figure);
# 4. the same step as plain PyTorch eager (bench/peers/swav_eager.py) at both batch sizes;
# 5. Sinkhorn-Knopp on 4096 x 3000 scores, 3 iterations (bench_sinkhorn);
# 6. one epoch of ablation_crops.lua at profile=full for SwAV only;
# 7. scripts/device/gpu_figures.py gathers $OUT/gpu-figures.json.
#
# Each step logs to $OUT/<step>.log and has its own time limit; a failed step is recorded in
# $OUT/steps.txt and the rest still run, so the logs and whatever figures exist come back.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-$root/device-out}"
mkdir -p "$out"
budget_start=$SECONDS
: > "$out/steps.txt"

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with a time limit, logs it, records the outcome.
step() {
  local name="$1" limit="$2"
  shift 2
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  printf '%-14s rc=%-3s %4ss (at %ss)\n' "$name" "$rc" "$((SECONDS - t0))" "$((SECONDS - budget_start))" |
    tee -a "$out/steps.txt"
  return $rc
}

prefix=/opt/swavbench-deps
unpack() {
  mkdir -p "$prefix"
  local deb
  for deb in "$root"/.devdeps/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
  mkdir -p /usr/share/datasets
  [ -e /usr/share/datasets/fashion-mnist ] ||
    ln -s "$prefix/usr/share/datasets/fashion-mnist" /usr/share/datasets/fashion-mnist
}
if ! ls "$root"/.devdeps/debs/*.deb > /dev/null 2>&1; then
  echo "gpu-check: no .devdeps/debs: run scripts/device/pack-deps.sh here and carry .devdeps" |
    tee "$out/steps.txt"
  exit 2
fi
step unpack 60 unpack

torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"
torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig"
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$torch_lib:${LD_LIBRARY_PATH:-}"
export CPATH="$prefix/usr/include:${CPATH:-}"
export LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:${LIBRARY_PATH:-}"
{
  nvidia-smi || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nproc
} > "$out/machine.txt" 2>&1
gpu_name="$(python3 -c 'import torch; print(torch.cuda.get_device_name(0))' 2>/dev/null || echo unknown)"

build="$root/build-gpu"
step configure 120 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix/../..;$prefix/usr;$prefix/usr/lib/x86_64-linux-gnu/cmake" \
  -DTORCH_CUDA_ARCH_LIST=9.0 -DSWAVBENCH_REQUIRE_CUDA=ON \
  -DLIBLINEAR_LIBRARY="$prefix/usr/lib/x86_64-linux-gnu/liblinear.so.4" \
  -DLIBLINEAR_INCLUDE_DIR="$prefix/usr/include"
step build 300 cmake --build "$build" -j "$(nproc)" --target swavbench test_cuda bench_sinkhorn
bin="$build/swavbench"
"$bin" --version > "$out/version.txt" 2>&1

step ctest-cuda 90 bash -c "cd '$build' && ctest -L cuda --output-on-failure"

folder=/tmp/swavbench-imagefolder
step make-folder 90 "$bin" data make-imagefolder --out "$folder" --classes 10 \
  --train-per-class 256 --val-per-class 8 --size 256

db="$out/gpu_throughput.sqlite"
step throughput 150 "$bin" run gpu_throughput.lua --db "$db" --set data_path="$folder" \
  --set images=2560 --set batches=64,128 --set workers=12

mkdir -p "$out/peer"
for batch in 64 128; do
  step "peer-bs$batch" 60 python3 "$root/bench/peers/swav_eager.py" --device cuda \
    --arch resnet50 --batch "$batch" --crops 2x224,6x96 --warmup 5 --steps 15 \
    --json "$out/peer/bs$batch.json"
done

step sinkhorn 60 "$build/bench/bench_sinkhorn" --benchmark_filter=Cuda --benchmark_min_time=1 \
  --benchmark_out="$out/sinkhorn.json" --benchmark_out_format=json

# Whatever time is left (the call's limit is 9 minutes; keep 30 s for the figures).
left=$((530 - (SECONDS - budget_start)))
if [ "$left" -gt 60 ]; then
  step ablation-crops "$left" "$bin" run ablation_crops.lua --db "$out/ablation.sqlite" \
    --set profile=full --set methods=swav --set seeds=1 --set epochs=1 --set device=cuda
else
  echo "ablation-crops skipped: ${left}s left" | tee -a "$out/steps.txt"
fi

step figures 30 python3 "$root/scripts/device/gpu_figures.py" --db "$db" --peer-dir "$out/peer" \
  --sinkhorn "$out/sinkhorn.json" --ablation-db "$out/ablation.sqlite" --gpu-name "$gpu_name" \
  --out "$out/gpu-figures.json"
cat "$out/steps.txt"
echo "gpu-check: $((SECONDS - budget_start)) s; figures in $out/gpu-figures.json"
