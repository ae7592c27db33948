// The data path the trainer waits on: BatchLoader over Fashion-MNIST (the Debian package's
// 60 000 training images, held in memory), consumed as fast as it produces, so the figure is the
// loader's ceiling in images per second:
//   BM_LoaderGather     gather only (epoch order, copy into a B x 1 x 28 x 28 uint8 batch)
//   BM_LoaderMultiCrop  gather + the default multi-crop augmentation (2 x 28 + 4 x 14), as the
//                       trainer's loader thread runs it
// Skipped with a message when the dataset is not installed (apt-get install
// dataset-fashion-mnist).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "harness/data/loader.h"
#include "harness/data/multicrop.h"
#include "harness/data/sources.h"

namespace swavbench {
namespace {

// The Fashion-MNIST training set, with every core for LibTorch; null (and the benchmark marked
// skipped) when the dataset package is missing.
std::shared_ptr<const Dataset> fashion_mnist_or_skip(benchmark::State& state) {
  static std::shared_ptr<const Dataset> data = [] {
    try {
      return open_dataset("fashion-mnist", "", "train", 0);
    } catch (const std::exception&) {
      return std::shared_ptr<const Dataset>();
    }
  }();
  if (!data) {
    state.SkipWithError("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)");
  } else {
    torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  }
  return data;
}

// Pulls `state.iterations()` batches, starting a new epoch whenever one ends.
template <typename Batch>
void drain(benchmark::State& state, BatchLoader<Batch>& loader, int64_t batch_size) {
  int64_t epoch = 0;
  loader.start_epoch(epoch);
  // Warm-up: a few batches, so the producer thread's first-use costs (its OpenMP team, the
  // augmentation's first allocations) stay out of the timing.
  for (int i = 0; i < 4; ++i)
    if (!loader.next()) loader.start_epoch(++epoch);
  for (auto _ : state) {
    std::optional<Batch> batch = loader.next();
    if (!batch) {
      loader.start_epoch(++epoch);
      batch = loader.next();
    }
    benchmark::DoNotOptimize(batch.has_value());
  }
  loader.stop();
  state.SetItemsProcessed(state.iterations() * batch_size);
}

// Arg: batch size.
void BM_LoaderGather(benchmark::State& state) {
  auto data = fashion_mnist_or_skip(state);
  if (!data) return;
  LoaderOptions options;
  options.batch_size = state.range(0);
  BatchLoader<RawBatch> loader(data, options,
                               [](RawBatch&& raw, int64_t) { return std::move(raw); });
  drain(state, loader, options.batch_size);
}
BENCHMARK(BM_LoaderGather)->ArgName("B")->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// Arg: batch size.
void BM_LoaderMultiCrop(benchmark::State& state) {
  auto data = fashion_mnist_or_skip(state);
  if (!data) return;
  LoaderOptions options;
  options.batch_size = state.range(0);
  auto augment = std::make_shared<MultiCropAugment>(
      std::vector<CropSpec>{{2, 28, 0.3, 1.0}, {4, 14, 0.1, 0.3}}, AugmentOptions{});
  using Crops = std::vector<torch::Tensor>;
  BatchLoader<Crops> loader(data, options, [augment](RawBatch&& raw, int64_t epoch) {
    torch::NoGradGuard no_grad;
    return (*augment)(raw.images, raw.sample_ids, /*seed=*/0, epoch);
  });
  drain(state, loader, options.batch_size);
  state.counters["crops"] = total_crops(augment->specs());
}
BENCHMARK(BM_LoaderMultiCrop)->ArgName("B")->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace swavbench
