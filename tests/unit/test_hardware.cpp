// The hardware peak and OpenBLAS core rules (harness/core/hardware.h) on recorded /proc/cpuinfo
// descriptions. Peaks are hand-computed: cores x GHz x (vector lanes x 2 for FMA x FMA units).
#include <gtest/gtest.h>

#include <string>

#include "harness/core/hardware.h"

namespace swavbench {
namespace {

// One processor's /proc/cpuinfo block (the fields the rules read).
std::string cpuinfo(const std::string& vendor, int family, int model, const std::string& name,
                    const std::string& mhz, const std::string& flags, int processors = 1) {
  std::string text;
  for (int p = 0; p < processors; ++p) {
    text += "processor\t: " + std::to_string(p) + "\nvendor_id\t: " + vendor +
            "\ncpu family\t: " + std::to_string(family) + "\nmodel\t\t: " + std::to_string(model) +
            "\nmodel name\t: " + name + "\nstepping\t: 2\ncpu MHz\t\t: " + mhz +
            "\nflags\t\t: " + (p == 0 ? flags : std::string("fpu sse sse2")) + "\n\n";
  }
  return text;
}

const char* kAvx2 = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 hypervisor";
const char* kAvx512 =
    "fpu sse sse2 avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16";

// This project's development machine: KVM shows a generic "AMD EPYC", family 23 model 1 (Zen).
TEST(HardwarePeak, ZenUnderKvmHasTwo128BitFmaUnits) {
  const CpuDescription cpu =
      parse_cpu_description(cpuinfo("AuthenticAMD", 23, 1, "AMD EPYC", "1996.250", kAvx2, 2), "");
  EXPECT_EQ(cpu.logical_cpus, 2);
  EXPECT_TRUE(cpu.hypervisor);
  EXPECT_TRUE(cpu.flags.count("avx2"));
  const PeakEstimate peak = cpu_fp32_peak(cpu, 2);
  EXPECT_EQ(peak.flops_per_cycle, 16);  // 2 units x 4 lanes x 2
  EXPECT_NEAR(peak.ghz, 1.99625, 1e-9);
  EXPECT_NEAR(peak.gflops, 2 * 1.99625 * 16, 1e-9);
  EXPECT_NE(peak.basis.find("Zen / Zen+"), std::string::npos) << peak.basis;
  EXPECT_NE(peak.basis.find("cpu MHz"), std::string::npos) << peak.basis;
}

TEST(HardwarePeak, ZenTwoAndThreeHave256BitUnits) {
  auto zen2 =
      parse_cpu_description(cpuinfo("AuthenticAMD", 23, 49, "AMD EPYC 7742", "2250", kAvx2), "");
  EXPECT_EQ(cpu_fp32_peak(zen2, 1).flops_per_cycle, 32);
  auto zen3 =
      parse_cpu_description(cpuinfo("AuthenticAMD", 25, 1, "AMD EPYC 7763", "2450", kAvx2), "");
  EXPECT_EQ(cpu_fp32_peak(zen3, 1).flops_per_cycle, 32);
  // Zen 4 runs AVX-512 on its two 256-bit units.
  auto zen4 =
      parse_cpu_description(cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC 9654", "2400", kAvx512), "");
  EXPECT_EQ(cpu_fp32_peak(zen4, 1).flops_per_cycle, 32);
}

// AMD Zen 5 (family 26): full 512-bit datapaths on the server and desktop parts, 256-bit on the
// mobile ones. The first is this project's machine of 2026-12-02: KVM's generic "AMD EPYC",
// family 26 model 2, no cpufreq, "cpu MHz" its 2596.120 base clock.
TEST(HardwarePeak, ZenFiveServerHasTwo512BitUnitsAndMobileHas256BitDatapaths) {
  const CpuDescription turin =
      parse_cpu_description(cpuinfo("AuthenticAMD", 26, 2, "AMD EPYC", "2596.120", kAvx512, 2), "");
  const PeakEstimate peak = cpu_fp32_peak(turin, 2);
  EXPECT_EQ(peak.flops_per_cycle, 64);               // 2 units x 16 lanes x 2
  EXPECT_NEAR(peak.gflops, 2 * 2.59612 * 64, 1e-9);  // 332.3
  EXPECT_NE(peak.basis.find("Zen 5"), std::string::npos) << peak.basis;
  auto granite_ridge = parse_cpu_description(
      cpuinfo("AuthenticAMD", 26, 68, "AMD Ryzen 9 9950X 16-Core Processor", "4300", kAvx512), "");
  EXPECT_EQ(cpu_fp32_peak(granite_ridge, 1).flops_per_cycle, 64);
  auto strix_point = parse_cpu_description(
      cpuinfo("AuthenticAMD", 26, 36, "AMD Ryzen AI 9 HX 370", "2000", kAvx512), "");
  EXPECT_EQ(cpu_fp32_peak(strix_point, 1).flops_per_cycle, 32);
  auto krackan = parse_cpu_description(
      cpuinfo("AuthenticAMD", 26, 96, "AMD Ryzen AI 7 350", "2000", kAvx512), "");
  EXPECT_EQ(cpu_fp32_peak(krackan, 1).flops_per_cycle, 32);
}

// A GEMM at 95 % of the computed peak or more says the peak is too low (on that machine the
// GEMM measured 333.4 GFLOP/s against the 332.3 computed from its base clock).
TEST(HardwarePeak, AGemmAtThePeakSaysThePeakIsUnderestimated) {
  PeakEstimate peak;
  peak.gflops = 332.3;
  peak.ghz = 2.596;
  const std::string note = peak_underestimate_note(333.4, peak);
  EXPECT_NE(note.find("100% of the computed peak"), std::string::npos) << note;
  EXPECT_NE(note.find("2.60 GHz"), std::string::npos) << note;
  EXPECT_NE(peak_underestimate_note(0.95 * 332.3, peak), "");
  EXPECT_EQ(peak_underestimate_note(0.94 * 332.3, peak), "");
  EXPECT_EQ(peak_underestimate_note(213.0, peak), "");            // 64 %: plausible
  EXPECT_EQ(peak_underestimate_note(100.0, PeakEstimate{}), "");  // no peak, no note
}

// The AVX-512 Xeon of the issue, its clock taken from the model name.
TEST(HardwarePeak, AvxFiveTwelveXeonClockFromTheModelName) {
  auto xeon = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 106, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "2900.000",
              kAvx512),
      "");
  const PeakEstimate peak = cpu_fp32_peak(xeon, 2);
  EXPECT_EQ(peak.flops_per_cycle, 64);  // 2 units x 16 lanes x 2
  EXPECT_NEAR(peak.gflops, 2 * 2.9 * 64, 1e-9);
  EXPECT_NE(peak.basis.find("model name"), std::string::npos);
  // cpufreq's maximum, when the machine has it, wins over the name.
  auto with_cpufreq = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 106, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "800",
              kAvx512),
      "3500000\n");
  EXPECT_NEAR(cpu_fp32_peak(with_cpufreq, 1).gflops, 3.5 * 64, 1e-9);
}

TEST(HardwarePeak, SkylakeSilverAndGoldFiveHaveOneAvx512Unit) {
  auto peak_of = [](const std::string& name) {
    return cpu_fp32_peak(
               parse_cpu_description(cpuinfo("GenuineIntel", 6, 85, name, "2200", kAvx512), ""), 1)
        .flops_per_cycle;
  };
  EXPECT_EQ(peak_of("Intel(R) Xeon(R) Silver 4114 CPU @ 2.20GHz"), 32);
  EXPECT_EQ(peak_of("Intel(R) Xeon(R) Gold 5118 CPU @ 2.30GHz"), 32);
  EXPECT_EQ(peak_of("Intel(R) Xeon(R) Gold 5122 CPU @ 3.60GHz"), 64);
  EXPECT_EQ(peak_of("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"), 64);
}

TEST(HardwarePeak, OlderVectorUnits) {
  auto avx = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 45, "Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "2600",
              "fpu sse sse2 avx"),
      "");
  EXPECT_EQ(cpu_fp32_peak(avx, 1).flops_per_cycle, 16);
  auto sse = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 15, "Intel(R) Core(TM)2 CPU", "2000", "fpu sse sse2"), "");
  EXPECT_EQ(cpu_fp32_peak(sse, 4).flops_per_cycle, 8);
  EXPECT_NEAR(cpu_fp32_peak(sse, 4).gflops, 4 * 2.0 * 8, 1e-9);
}

TEST(OpenblasCore, GenericCoresAreReplacedByTheBestForTheFlags) {
  auto xeon = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 106, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "2900",
              kAvx512),
      "");
  auto haswell = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 63, "Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz", "2500", kAvx2),
      "");
  auto zen = parse_cpu_description(cpuinfo("AuthenticAMD", 23, 1, "AMD EPYC", "1996", kAvx2), "");
  auto sse = parse_cpu_description(
      cpuinfo("GenuineIntel", 6, 15, "Intel(R) Core(TM)2 CPU", "2000", "fpu sse sse2"), "");
  // The case of the issue: OpenBLAS 0.3.21 does not know the CPU and falls back to Prescott.
  EXPECT_EQ(better_openblas_core("Prescott", xeon), "SkylakeX");
  EXPECT_EQ(better_openblas_core("Prescott", haswell), "Haswell");
  EXPECT_EQ(better_openblas_core("Prescott", zen), "Zen");
  EXPECT_EQ(better_openblas_core("Core2", haswell), "Haswell");
  // A core OpenBLAS recognised is kept, and nothing beats generic kernels without AVX.
  EXPECT_EQ(better_openblas_core("Zen", zen), "");
  EXPECT_EQ(better_openblas_core("Haswell", xeon), "");
  EXPECT_EQ(better_openblas_core("SkylakeX", xeon), "");
  EXPECT_EQ(better_openblas_core("Prescott", sse), "");
  // A core the user set is kept; an AVX2 one on an AVX-512 CPU gets a suggestion (this
  // machine's environment set OPENBLAS_CORETYPE=Haswell on a Zen 5: GEMM 213.0 against 333.4
  // GFLOP/s with OpenBLAS's own Cooperlake).
  auto zen5 =
      parse_cpu_description(cpuinfo("AuthenticAMD", 26, 2, "AMD EPYC", "2596", kAvx512), "");
  EXPECT_EQ(avx512_core_instead("Haswell", zen5), "SkylakeX");
  EXPECT_EQ(avx512_core_instead("ZEN", xeon), "SkylakeX");
  EXPECT_EQ(avx512_core_instead("Haswell", haswell), "");  // no AVX-512 to use
  EXPECT_EQ(avx512_core_instead("SkylakeX", zen5), "");
  EXPECT_EQ(avx512_core_instead("Cooperlake", zen5), "");
  EXPECT_TRUE(is_generic_openblas_core("Prescott"));
  EXPECT_TRUE(is_generic_openblas_core("KATMAI"));
  EXPECT_FALSE(is_generic_openblas_core("Sandybridge"));
}

TEST(CpuDescription, ReadsThisMachine) {
  const CpuDescription cpu = this_cpu();
  EXPECT_GE(cpu.logical_cpus, 1);
  EXPECT_FALSE(cpu.flags.empty());
  EXPECT_GT(cpu_fp32_peak(cpu, 1).gflops, 0);
}

}  // namespace
}  // namespace swavbench
