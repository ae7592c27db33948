#include "app/machine.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "harness/core/hardware.h"

namespace swavbench {

namespace {

// Set in the environment of the re-executed process: the core OpenBLAS had picked itself, so the
// child knows the core in use is swavbench's choice (and what to fall back to).
constexpr const char* kOpenblasOwnChoice = "SWAVBENCH_OPENBLAS_OWN_CORE";
// Set when swavbench's choice failed its GEMM check: the core that was rejected.
constexpr const char* kRejectedCore = "SWAVBENCH_OPENBLAS_REJECTED_CORE";

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// A float32 GEMM through the BLAS against the same product in float64: the core computes
// correctly when they agree to float32's accuracy over a 256-term dot product.
bool gemm_agrees_with_float64() {
  torch::manual_seed(1234);
  torch::Tensor a = torch::randn({96, 256}), b = torch::randn({256, 80});
  torch::Tensor single = torch::mm(a, b).to(torch::kFloat64);
  torch::Tensor reference = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  const double error = (single - reference).abs().max().item<double>();
  return std::isfinite(error) && error < 1e-3 * std::max(1.0, reference.abs().max().item<double>());
}

void reexecute(char** argv) {
  ::execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on in this process as it is.
}

}  // namespace

std::string openblas_core_in_use() {
  using CoreName = char* (*)();
  auto corename = reinterpret_cast<CoreName>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr) return "";
  const char* name = corename();
  return name ? name : "";
}

void settle_process_environment(char** argv) {
  bool changed = false;
  // LibTorch's OpenMP threads spin while waiting for work by default. The loader thread runs its
  // augmentation ops next to the training ops, so spinning threads steal the cores the other
  // side needs: measured here (2 cores, SwAV default recipe), 355 img/s spinning against 450
  // img/s passive. libgomp reads the policy when it loads, before main.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    changed = true;
  }
  // OpenBLAS picks its kernels when it loads; a CPU it does not recognise gets generic ones
  // (an AVX-512 Xeon was seen on Prescott kernels, 5x slower than SkylakeX).
  const std::string own_choice = env_or_empty(kOpenblasOwnChoice);
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && own_choice.empty()) {
    const std::string current = openblas_core_in_use();
    const std::string better = current.empty() ? "" : better_openblas_core(current, this_cpu());
    if (!better.empty()) {
      ::setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
      ::setenv(kOpenblasOwnChoice, current.c_str(), 1);
      changed = true;
    }
  }
  if (changed) reexecute(argv);
  if (!own_choice.empty() && env_or_empty(kRejectedCore).empty() && !gemm_agrees_with_float64()) {
    // Our choice computes wrong results here: back to OpenBLAS's own.
    ::setenv(kRejectedCore, env_or_empty("OPENBLAS_CORETYPE").c_str(), 1);
    ::setenv("OPENBLAS_CORETYPE", own_choice.c_str(), 1);
    reexecute(argv);
  }
}

std::string openblas_core_report() {
  const std::string core = openblas_core_in_use();
  if (core.empty()) return "";
  const std::string own_choice = env_or_empty(kOpenblasOwnChoice);
  const std::string rejected = env_or_empty(kRejectedCore);
  std::string who;
  bool set_by_user = false;
  if (!rejected.empty()) {
    who = fmt::format("OpenBLAS's own choice: swavbench's {} failed its GEMM check against float64",
                      rejected);
  } else if (!own_choice.empty()) {
    who = fmt::format("chosen by swavbench for this CPU's flags; OpenBLAS picked {}", own_choice);
  } else if (std::getenv("OPENBLAS_CORETYPE") != nullptr) {
    who = "set by OPENBLAS_CORETYPE";
    set_by_user = true;
  } else {
    who = "OpenBLAS's own choice";
  }
  std::string line = fmt::format("OpenBLAS core: {} ({})", core, who);
  const CpuDescription cpu = this_cpu();
  if (set_by_user) {
    if (const std::string faster = avx512_core_instead(core, cpu); !faster.empty())
      line += fmt::format(
          "\nnote: OPENBLAS_CORETYPE={} keeps OpenBLAS to its AVX2 kernels on a CPU with "
          "AVX-512: unset it (swavbench then keeps OpenBLAS's own choice or picks one) or set "
          "OPENBLAS_CORETYPE={}",
          core, faster);
  }
  if (is_generic_openblas_core(core)) {
    const std::string better = better_openblas_core(core, cpu);
    line += better.empty()
                ? "\nwarning: OpenBLAS runs generic kernels, and this CPU's flags offer none better"
                : fmt::format(
                      "\nwarning: OpenBLAS runs generic kernels (several times slower here): "
                      "unset OPENBLAS_CORETYPE or set OPENBLAS_CORETYPE={}",
                      better);
  }
  return line;
}

std::string cpu_peak_report(int threads) {
  const CpuDescription cpu = this_cpu();
  const PeakEstimate peak = cpu_fp32_peak(cpu, threads);
  return fmt::format("CPU: {} (family {} model {}{}), fp32 peak {:.1f} GFLOP/s: {}", cpu.model_name,
                     cpu.family, cpu.model, cpu.hypervisor ? ", under a hypervisor" : "",
                     peak.gflops, peak.basis);
}

}  // namespace swavbench
