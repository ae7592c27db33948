// The machine's own limits, from what it reports about itself: the CPU's dense float32 peak
// (cores x clock x FLOPs per cycle from its vector ISA and FMA units) and the OpenBLAS core that
// suits its flags. MFU is stated against this peak, so a slow BLAS shows up as a low MFU instead
// of hiding inside a slow reference GEMM. Torch-free: parsing and rules only, tested on recorded
// /proc/cpuinfo descriptions (tests/unit/test_hardware.cpp).
#pragma once

#include <set>
#include <string>

namespace swavbench {

// What /proc/cpuinfo says about the first processor, plus the highest clock cpufreq reports.
struct CpuDescription {
  std::string vendor;      // "GenuineIntel", "AuthenticAMD", ...
  std::string model_name;  // "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "AMD EPYC"
  int family = 0;
  int model = 0;
  std::set<std::string> flags;
  double mhz = 0;           // "cpu MHz" (the current clock; a hypervisor's nominal clock)
  double max_mhz = 0;       // cpufreq's cpuinfo_max_freq, 0 when the machine has no cpufreq
  int logical_cpus = 0;     // processors listed
  bool hypervisor = false;  // running under one (its CPU model number may be a generic one)
};

// Parses /proc/cpuinfo text (and, when not empty, cpufreq's cpuinfo_max_freq in kHz).
CpuDescription parse_cpu_description(const std::string& cpuinfo, const std::string& max_freq_khz);

// Whether the CPU computes bfloat16 products in hardware (AVX512-BF16's dot products or AMX
// tiles), so that bf16 autocast can be faster than float32; elsewhere oneDNN emulates bf16 and
// it is slower. "" when it does, else why not (for the error a bf16 CPU run gets).
std::string cpu_bf16_unsupported_reason(const CpuDescription& cpu);

// This machine's description (reads /proc/cpuinfo and /sys/.../cpu0/cpufreq/cpuinfo_max_freq).
CpuDescription this_cpu();

// A dense float32 peak and how it was reached.
struct PeakEstimate {
  double flops_per_cycle = 0;  // per core: vector lanes x 2 (FMA) x FMA units
  double ghz = 0;              // the clock used: cpufreq's maximum, else the model name's
                               // "@ x.xxGHz", else "cpu MHz"
  int cores = 0;               // cores in use
  double gflops = 0;           // cores x ghz x flops_per_cycle
  std::string basis;           // "AVX2 + FMA, 2 x 256-bit FMA units (Intel Haswell and later)"
};

// The float32 peak of `cores` cores of `cpu`. Rules by ISA and microarchitecture:
//   AVX-512: 2 x 512-bit FMA units (64 FLOP/cycle), as Intel's server parts and AMD Zen 5's
//            server and desktop parts (family 26), except the Skylake/Cascade Lake Xeon Bronze,
//            Silver and Gold 5xxx parts with one (32), AMD Zen 4 (family 25) which runs 512-bit
//            FMAs on two 256-bit units (32), and Zen 5's mobile parts (Strix Point and Krackan
//            Point, family 26 models 0x20-0x2f and 0x60-0x6f) with 256-bit datapaths (32);
//   AVX2 + FMA: 2 x 256-bit units (32), except AMD Zen and Zen+ (family 23, model < 0x30) with
//            two 128-bit units (16);
//   AVX: one 256-bit add and one multiply port (16); SSE2: 8.
PeakEstimate cpu_fp32_peak(const CpuDescription& cpu, int cores);

// The OpenBLAS core (an OPENBLAS_CORETYPE value) to use on `cpu` when OpenBLAS chose `current`,
// or "" to keep `current`: only a generic core (Prescott, Core2, Katmai, ...) on a CPU whose
// flags support a better one is replaced, by the best this OpenBLAS ships for those flags
// (SkylakeX for AVX-512, Zen on AMD and Haswell on Intel for AVX2 + FMA, Sandybridge for AVX).
std::string better_openblas_core(const std::string& current, const CpuDescription& cpu);

// Whether OpenBLAS's `core` is one of its generic fall-backs (no AVX kernels).
bool is_generic_openblas_core(const std::string& core);

// An OpenBLAS core with AVX-512 kernels ("SkylakeX") when `core` is one of its AVX2 cores
// (Haswell, Zen) on a CPU with AVX-512, else "": what to suggest for a core the user set
// (OPENBLAS_CORETYPE), which swavbench keeps.
std::string avx512_core_instead(const std::string& core, const CpuDescription& cpu);

// A note for a float32 GEMM measured at `gemm_gflops` against the computed `peak`, or "": at 95 %
// of the peak or above (no BLAS sustains that), the clock or model the machine reports is below
// what it runs at, as under a hypervisor that reports its base clock, and MFU against this peak
// overstates the utilisation.
std::string peak_underestimate_note(double gemm_gflops, const PeakEstimate& peak);

}  // namespace swavbench
