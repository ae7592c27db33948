// One training step (forward, backward, optimiser) of each registered method at the
// Fashion-MNIST default recipe (ResNet-10 w0.25 small stem, batch 256, crops 2x28 + 4x14), on
// pre-augmented crops: the model's cost alone (bench/train_step_fixture.h; profile_step says
// where its time goes). Reports images/s and model FLOP utilisation against the CPU's fp32 peak
// and, as a second column, against the float GEMM rate this process measures. Rates are per
// wall-clock second (UseRealTime): the benchmark thread's CPU time leaves out the intra-op
// threads' work and its own passive waits, and made img/s about 7 % too high.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <thread>

#include "bench/train_step_fixture.h"
#include "harness/core/hardware.h"

namespace swavbench {
namespace {

double gemm_rate() {
  static double rate = measure_gemm_flops(torch::kCPU, false, 1024, 0.5);
  return rate;
}

// The CPU's float32 peak for the threads in use (harness/core/hardware.h): MFU's denominator.
double peak_rate() {
  static double rate = cpu_fp32_peak(this_cpu(), torch::get_num_threads()).gflops * 1e9;
  return rate;
}

// channels_last: the trunk's weights and the crops in NHWC (memory_format = "channels_last").
void BM_TrainStep(benchmark::State& state, const std::string& method_name, bool channels_last) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  const int64_t batch = state.range(0);
  bench_support::TrainStepFixture fixture(method_name, batch, channels_last);
  fixture.step();  // warm-up
  for (auto _ : state) fixture.step();
  const double flops = fixture.flops_per_image();
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["img_per_s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["model_GFLOP_per_img"] = flops / 1e9;
  state.counters["gemm_GFLOP_per_s"] = gemm_rate() / 1e9;
  state.counters["peak_GFLOP_per_s"] = peak_rate() / 1e9;
  state.counters["mfu"] = benchmark::Counter(flops * batch / peak_rate(),
                                             benchmark::Counter::kIsIterationInvariantRate);
  state.counters["mfu_gemm"] = benchmark::Counter(flops * batch / gemm_rate(),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_TrainStep, swav, std::string("swav"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, simclr, std::string("simclr"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, moco, std::string("moco"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, supervised, std::string("supervised"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// The same steps in NHWC, to compare with the contiguous ones (README, "GPUs and LibTorch
// versions").
BENCHMARK_CAPTURE(BM_TrainStep, swav_channels_last, std::string("swav"), true)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TrainStep, moco_channels_last, std::string("moco"), true)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace swavbench
