#include "harness/core/hardware.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

namespace swavbench {

namespace {

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int to_int(const std::string& s) {
  try {
    return std::stoi(s);
  } catch (const std::exception&) {
    return 0;
  }
}

double to_double(const std::string& s) {
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    return 0;
  }
}

// "... @ 2.90GHz" in Intel's model names.
double ghz_in_model_name(const std::string& name) {
  static const std::regex at_ghz(R"(@\s*([0-9]+(\.[0-9]+)?)\s*GHz)");
  std::smatch m;
  return std::regex_search(name, m, at_ghz) ? to_double(m[1]) : 0.0;
}

// Skylake-SP and Cascade Lake-SP (family 6, model 85) parts with one AVX-512 FMA unit per core:
// Bronze, Silver, and Gold 5xxx except the 5122 (Intel's ark lists "# of AVX-512 FMA Units").
bool one_avx512_fma_unit(const CpuDescription& cpu) {
  if (cpu.vendor != "GenuineIntel" || cpu.family != 6 || cpu.model != 85) return false;
  static const std::regex one_unit(R"((Bronze|Silver)|Gold 5(?!122)[0-9]{3})");
  return std::regex_search(cpu.model_name, one_unit);
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

// The flags OpenBLAS's AVX-512 (SkylakeX) kernels need.
bool has_openblas_avx512(const CpuDescription& cpu) {
  for (const char* flag : {"avx512f", "avx512bw", "avx512vl", "avx512dq"})
    if (cpu.flags.count(flag) == 0) return false;
  return true;
}

}  // namespace

CpuDescription parse_cpu_description(const std::string& cpuinfo, const std::string& max_freq_khz) {
  CpuDescription cpu;
  std::istringstream lines(cpuinfo);
  std::string line;
  bool first_done = false;  // fields are read from the first processor only
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      if (cpu.logical_cpus > 0 && trim(line).empty()) first_done = true;
      continue;
    }
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "processor") {
      ++cpu.logical_cpus;
      continue;
    }
    if (first_done) continue;
    if (key == "vendor_id") cpu.vendor = value;
    if (key == "model name") cpu.model_name = value;
    if (key == "cpu family") cpu.family = to_int(value);
    if (key == "model") cpu.model = to_int(value);
    if (key == "cpu MHz") cpu.mhz = to_double(value);
    if (key == "flags") {
      std::istringstream words(value);
      std::string flag;
      while (words >> flag) cpu.flags.insert(flag);
    }
  }
  cpu.hypervisor = cpu.flags.count("hypervisor") > 0;
  cpu.max_mhz = to_double(trim(max_freq_khz)) / 1000.0;
  return cpu;
}

CpuDescription this_cpu() {
  return parse_cpu_description(read_all("/proc/cpuinfo"),
                               read_all("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"));
}

PeakEstimate cpu_fp32_peak(const CpuDescription& cpu, int cores) {
  PeakEstimate peak;
  peak.cores = cores;
  const bool amd = cpu.vendor == "AuthenticAMD";
  const auto has = [&cpu](const char* flag) { return cpu.flags.count(flag) > 0; };
  if (has("avx512f")) {
    const bool zen5_mobile =
        amd && cpu.family == 26 &&
        ((cpu.model >= 0x20 && cpu.model < 0x30) || (cpu.model >= 0x60 && cpu.model < 0x70));
    if (amd && cpu.family == 25) {
      peak.flops_per_cycle = 32;
      peak.basis = "AVX-512 on 2 x 256-bit FMA units (AMD Zen 4)";
    } else if (zen5_mobile) {
      peak.flops_per_cycle = 32;
      peak.basis = "AVX-512 on 256-bit datapaths (AMD Zen 5 mobile)";
    } else if (amd && cpu.family == 26) {
      peak.flops_per_cycle = 64;
      peak.basis = "AVX-512, 2 x 512-bit FMA units (AMD Zen 5)";
    } else if (one_avx512_fma_unit(cpu)) {
      peak.flops_per_cycle = 32;
      peak.basis = "AVX-512, 1 x 512-bit FMA unit (this Xeon SKU has one)";
    } else {
      peak.flops_per_cycle = 64;
      peak.basis = "AVX-512, 2 x 512-bit FMA units";
    }
  } else if (has("avx2") && has("fma")) {
    if (amd && cpu.family == 23 && cpu.model < 0x30) {
      peak.flops_per_cycle = 16;
      peak.basis = "AVX2 + FMA on 2 x 128-bit FMA units (AMD Zen / Zen+)";
    } else {
      peak.flops_per_cycle = 32;
      peak.basis = "AVX2 + FMA, 2 x 256-bit FMA units";
    }
  } else if (has("avx")) {
    peak.flops_per_cycle = 16;
    peak.basis = "AVX, one 256-bit add and one 256-bit multiply per cycle";
  } else {
    peak.flops_per_cycle = 8;
    peak.basis = "SSE, one 128-bit add and one 128-bit multiply per cycle";
  }
  std::string clock_source;
  if (cpu.max_mhz > 0) {
    peak.ghz = cpu.max_mhz / 1000.0;
    clock_source = "cpufreq maximum";
  } else if (const double named = ghz_in_model_name(cpu.model_name); named > 0) {
    peak.ghz = named;
    clock_source = "model name";
  } else {
    peak.ghz = cpu.mhz / 1000.0;
    clock_source = "cpu MHz";
  }
  peak.gflops = cores * peak.ghz * peak.flops_per_cycle;
  peak.basis = fmt::format("{} = {:g} FLOP/cycle/core x {} core(s) x {:.2f} GHz ({})", peak.basis,
                           peak.flops_per_cycle, cores, peak.ghz, clock_source);
  return peak;
}

bool is_generic_openblas_core(const std::string& core) {
  const std::string lower = lowercase(core);
  for (const char* generic :
       {"prescott", "core2", "katmai", "coppermine", "northwood", "banias", "penryn", "dunnington",
        "nehalem", "atom", "athlon", "opteron", "barcelona", "generic", "unknown"})
    if (lower == generic) return true;
  return lower.empty();
}

std::string better_openblas_core(const std::string& current, const CpuDescription& cpu) {
  if (!is_generic_openblas_core(current)) return "";
  const auto has = [&cpu](const char* flag) { return cpu.flags.count(flag) > 0; };
  std::string best;
  if (has_openblas_avx512(cpu)) {
    best = "SkylakeX";
  } else if (has("avx2") && has("fma")) {
    best = cpu.vendor == "AuthenticAMD" ? "Zen" : "Haswell";
  } else if (has("avx")) {
    best = "Sandybridge";
  }
  return lowercase(best) == lowercase(current) ? "" : best;
}

std::string avx512_core_instead(const std::string& core, const CpuDescription& cpu) {
  const std::string lower = lowercase(core);
  const bool avx2_core = lower == "haswell" || lower == "zen" || lower == "excavator";
  return avx2_core && has_openblas_avx512(cpu) ? "SkylakeX" : "";
}

std::string peak_underestimate_note(double gemm_gflops, const PeakEstimate& peak) {
  if (peak.gflops <= 0 || gemm_gflops < 0.95 * peak.gflops) return "";
  return fmt::format(
      "the measured GEMM reaches {:.0f}% of the computed peak, which no BLAS sustains: the clock "
      "or CPU model this machine reports ({:.2f} GHz) is below what it runs at, as under a "
      "hypervisor that reports a base clock, so MFU against this peak overstates utilisation",
      100 * gemm_gflops / peak.gflops, peak.ghz);
}

std::string cpu_bf16_unsupported_reason(const CpuDescription& cpu) {
  if (cpu.flags.count("avx512_bf16") || cpu.flags.count("amx_bf16")) return "";
  return fmt::format(
      "this CPU ({}) has neither avx512_bf16 nor amx_bf16, so bfloat16 would be emulated and "
      "slower than float32; use precision 'fp32' here",
      cpu.model_name.empty() ? "unnamed" : cpu.model_name);
}

}  // namespace swavbench
