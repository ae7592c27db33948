#!/usr/bin/env bash
# The numeric tests (CTest label `numeric`: every test whose pass condition is a bound on
# floating-point results) again under other CPUs' kernels, on this machine. A bound set by
# watching one machine's output breaks on the next CPU, which runs other kernels; LibTorch and
# its libraries let a machine run those kernels on purpose:
#   ATEN_CPU_CAPABILITY  ATen's vectorised kernels: default (no vectors) | avx2 | avx512
#   DNNL_MAX_CPU_ISA     oneDNN's convolutions: SSE41 | AVX | AVX2 | AVX512_CORE | ...; below
#                        AVX512_CORE_BF16 oneDNN has no bf16 convolution, yet ATen on an AVX-512
#                        CPU still asks it for one, so the bf16 tests turn oneDNN off and take
#                        ATen's own bf16 path, as a CPU without AVX-512 does (test_cpu_bf16.cpp)
#   OPENBLAS_CORETYPE    OpenBLAS's GEMM kernels: Prescott (SSE3) | Haswell (AVX2, also what a
#                        Zen runs) | SkylakeX | Cooperlake
#   OMP_NUM_THREADS      the thread count, which changes every parallel reduction's order
#                        (the set runs the count the plain tests did not)
# Each set below must pass; the script prints which kernels each set actually ran (ATen's
# capability, oneDNN's verbose ISA line, the OpenBLAS core), measured, not assumed.
# Needs the build of scripts/test.sh (build/, tests on); extra arguments go to ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -f build/CTestTestfile.cmake ] || { echo "test-foreign-cpu: run scripts/test.sh first (it builds build/ with the tests)" >&2; exit 2; }
cmake --build build >/dev/null

sets=(
  "generic x86-64 (SSE4.1, no AVX: an old or emulated CPU)|ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Prescott"
  "AVX2 + FMA without AVX-512 or bf16 (a Zen 1-3, a Haswell-Broadwell Xeon)|ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell"
)
# The other thread count than the one the tests already ran with: LibTorch defaults to the
# physical cores it counts, which on some VMs is 1 of 2 (then every core is the new case).
default_threads=$(/usr/bin/python3 scripts/foreign_cpu_kernels.py | sed -n 's/.*intra-op threads: //p')
if [ "${default_threads:-1}" = 1 ]; then
  sets+=("this CPU's own kernels, every core ($(nproc) threads; the tests' default is 1)|OMP_NUM_THREADS=$(nproc)")
else
  sets+=("this CPU's own kernels, one thread (the tests' default is $default_threads)|OMP_NUM_THREADS=1")
fi
summary=()
status=0
for entry in "${sets[@]}"; do
  name="${entry%%|*}"
  vars="${entry#*|}"
  echo "=== foreign CPU: $name"
  echo "  environment: $vars"
  # shellcheck disable=SC2086  # the set's assignments are separate words on purpose
  env $vars /usr/bin/python3 scripts/foreign_cpu_kernels.py
  t0=$SECONDS
  set +e
  # shellcheck disable=SC2086
  env $vars ctest --test-dir build -L numeric -j "$(nproc)" --output-on-failure "$@" > build/foreign-cpu.log 2>&1
  rc=$?
  set -e
  grep -E "tests passed|tests failed|The following tests FAILED|^\s+[0-9]+ - .*\(Failed|Timeout\)" build/foreign-cpu.log || true
  [ "$rc" = 0 ] || { tail -n 60 build/foreign-cpu.log; status=1; }
  summary+=("$(printf '%-62s %s, %4d s' "$name" "$(grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' build/foreign-cpu.log || echo 'no ctest summary')" "$((SECONDS - t0))")")
done
echo "=== foreign CPU: summary"
printf '%s\n' "${summary[@]}"
exit "$status"
