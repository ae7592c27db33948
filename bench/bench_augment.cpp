// Throughput of the batched multi-crop augmentation on the CPU (or whatever device LibTorch
// defaults to: the images are made on the CPU). items_per_second counts source images, so the
// figures compare directly with the trainer's img/s; the `threads` counter says how many intra-op
// threads produced them (divide for a per-core figure).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <thread>
#include <vector>

#include "harness/data/multicrop.h"

namespace swavbench {
namespace {

// benchmark_main owns main(), so each benchmark sets the intra-op thread count when it starts:
// `requested` threads, or all cores (as the trainer uses) when 0. LibTorch starts with one
// thread on some builds. The single-thread variants give a per-core figure that stays
// meaningful on a shared machine, where other processes make multi-thread timings noisy.
int set_threads(int64_t requested) {
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(requested > 0 ? static_cast<int>(requested) : all);
  return torch::get_num_threads();
}

torch::Tensor random_images(int64_t b, int64_t c, int64_t h, int64_t w) {
  auto gen = at::detail::createCPUGenerator(1234);
  return torch::randint(0, 256, {b, c, h, w}, gen, torch::kByte);
}

void run_augment(benchmark::State& state, const std::vector<CropSpec>& specs, int64_t batch,
                 int64_t channels, int64_t image_size, int64_t threads_requested = 0) {
  const int threads = set_threads(threads_requested);
  torch::NoGradGuard no_grad;
  const MultiCropAugment aug(specs, AugmentOptions{});
  const auto images = random_images(batch, channels, image_size, image_size);
  std::vector<int64_t> ids(batch);
  std::iota(ids.begin(), ids.end(), 0);
  aug(images, ids, /*seed=*/1, -1);  // warm-up: first-call allocations and kernel setup
  int64_t epoch = 0;
  for (auto _ : state) {
    auto crops = aug(images, ids, /*seed=*/1, epoch++);  // a new draw each iteration
    benchmark::DoNotOptimize(crops.back().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["threads"] = threads;
  state.counters["crops"] = total_crops(specs);
}

// The default Fashion-MNIST recipe: 2 x 28 at (0.3, 1) + 4 x 14 at (0.1, 0.3), batch 256.
// Arg: intra-op threads (0 = all cores).
void BM_FashionMnistRecipe(benchmark::State& state) {
  run_augment(state, {{2, 28, 0.3, 1.0}, {4, 14, 0.1, 0.3}}, 256, 1, 28, state.range(0));
}
BENCHMARK(BM_FashionMnistRecipe)
    ->ArgName("threads")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// SwAV's ImageNet recipe on 256 px images: 2 x 224 at (0.14, 1) + 6 x 96 at (0.05, 0.14).
void BM_ImageNetRecipe(benchmark::State& state) {
  run_augment(state, {{2, 224, 0.14, 1.0}, {6, 96, 0.05, 0.14}}, 32, 3, 256, state.range(0));
}
BENCHMARK(BM_ImageNetRecipe)
    ->ArgName("threads")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One crop of one size, to see where a recipe's time goes.
// Args: image size, channels, crop size, batch, min scale %, max scale %.
void BM_SingleCrop(benchmark::State& state) {
  const CropSpec spec{1, static_cast<int>(state.range(2)), state.range(4) / 100.0,
                      state.range(5) / 100.0};
  run_augment(state, {spec}, state.range(3), state.range(1), state.range(0));
}
BENCHMARK(BM_SingleCrop)
    ->ArgNames({"image", "C", "crop", "B", "min%", "max%"})
    ->Args({28, 1, 28, 256, 30, 100})
    ->Args({28, 1, 14, 256, 10, 30})
    ->Args({256, 3, 224, 32, 14, 100})
    ->Args({256, 3, 96, 32, 5, 14})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Cost per crop size, everything else fixed (one crop, scale 0.14-1, the full recipe): the
// Fashion-MNIST sizes (14 / 24 / 28 px crops of 28 px images, batch 256) and the paper's
// ImageNet sizes (96 / 160 / 224 px crops of 256 px images, batch 32). items = source images.
// Args: image size, channels, crop size, batch.
void BM_CropSize(benchmark::State& state) {
  const CropSpec spec{1, static_cast<int>(state.range(2)), 0.14, 1.0};
  run_augment(state, {spec}, state.range(3), state.range(1), state.range(0));
  state.counters["crop_pixels"] = static_cast<double>(state.range(2) * state.range(2));
}
BENCHMARK(BM_CropSize)
    ->ArgNames({"image", "C", "crop", "B"})
    ->Args({28, 1, 14, 256})
    ->Args({28, 1, 24, 256})
    ->Args({28, 1, 28, 256})
    ->Args({256, 3, 96, 32})
    ->Args({256, 3, 160, 32})
    ->Args({256, 3, 224, 32})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The evaluation transform: Resize(256) + CenterCrop(224) of 288 px images, batch 32.
void BM_CenterCropNormalize(benchmark::State& state) {
  const int threads = set_threads(0);
  torch::NoGradGuard no_grad;
  const auto images = random_images(32, 3, 288, 288);
  const AugmentOptions options;
  center_crop_normalize(images, 256, 224, options);  // warm-up
  for (auto _ : state) {
    auto y = center_crop_normalize(images, 256, 224, options);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 32);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_CenterCropNormalize)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace swavbench
