// One training step (forward, backward, optimiser) of each registered method at the
// Fashion-MNIST default recipe (ResNet-10 w0.25 small stem, batch 256, crops 2x28 + 4x14), on
// pre-augmented crops: the model's cost alone. Reports images/s and model FLOP utilisation
// against the float GEMM rate this process measures.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <thread>

#include "baselines/register.h"
#include "harness/core/config.h"
#include "harness/core/hardware.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/models/flops.h"
#include "harness/train/method.h"
#include "harness/train/optim.h"
#include "harness/train/register.h"
#include "harness/train/torch_compat.h"
#include "swav/register.h"

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

void register_all() {
  static bool done = [] {
    register_harness_methods();
    register_swav_methods();
    register_baseline_methods();
    return true;
  }();
  (void)done;
}

// channels_last: the trunk's weights and the crops in NHWC (memory_format = "channels_last").
void BM_TrainStep(benchmark::State& state, const std::string& method_name, bool channels_last) {
  register_all();
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  const int64_t batch = state.range(0);
  RunConfig config =
      resolve_config({{"method", method_name},
                      {"batch_size", batch},
                      {"memory_format", channels_last ? "channels_last" : "contiguous"}},
                     nlohmann::json::object(), "bench");
  MethodContext ctx{config, 10, 1, torch::kCPU, local_collective()};
  torch::manual_seed(0);
  auto method = make_method(method_name, ctx);
  if (channels_last) to_channels_last(method->module());
  OptimizerOptions opt_options;
  opt_options.kind = config.optimizer;
  LarsSgd optimizer(method->trainable_parameters(), opt_options);
  optimizer.set_lr(0.1);

  MultiCropAugment augment(config.crops, AugmentOptions{});
  torch::Tensor images = torch::randint(0, 256, {batch, 1, 28, 28}, torch::kUInt8);
  std::vector<int64_t> ids(batch);
  for (int64_t i = 0; i < batch; ++i) ids[i] = i;
  MultiCropBatch mb;
  mb.crops = augment(images, ids, 0, 0);
  if (channels_last)
    for (auto& c : mb.crops) c = c.contiguous(at::MemoryFormat::ChannelsLast);
  mb.size_groups = augment.size_groups();
  mb.labels = torch::randint(0, 10, {batch}, torch::kInt64);
  mb.sample_ids = ids;

  method->module().train();
  int64_t iteration = 1000;  // past the prototype freeze, as most of a run is
  auto step = [&] {
    method->before_step(iteration);
    StepOutput out = method->loss(mb, iteration, 0);
    optimizer.zero_grad();
    out.loss.backward();
    method->after_backward(iteration);
    optimizer.step();
    method->after_step(iteration);
    ++iteration;
  };
  step();  // warm-up
  for (auto _ : state) step();
  double flops = training_flops_per_image(method->module(), method->backbone_prefix(),
                                          method->backbone()->options(), config.crops);
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
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, simclr, std::string("simclr"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, moco, std::string("moco"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, supervised, std::string("supervised"), false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond);
// The same steps in NHWC, to compare with the contiguous ones (README, "GPUs and LibTorch
// versions").
BENCHMARK_CAPTURE(BM_TrainStep, swav_channels_last, std::string("swav"), true)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, moco_channels_last, std::string("moco"), true)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace swavbench
