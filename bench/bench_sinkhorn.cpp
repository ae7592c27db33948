// Sinkhorn-Knopp on B x K scores, 3 iterations, fp32 (the paper quotes 35 ms for 4K x 3K on a
// V100). Reported as time per call; items = scores processed.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <thread>

#include "harness/dist/collective.h"
#include "swav/sinkhorn.h"

namespace swavbench {
namespace {

void BM_Sinkhorn(benchmark::State& state) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  const int64_t b = state.range(0), k = state.range(1);
  torch::manual_seed(0);
  // Cosine-like scores, as z . c with both on the unit sphere.
  torch::Tensor scores = torch::rand({b, k}) * 2 - 1;
  sinkhorn_knopp(scores, 0.05, 3, local_collective());  // warm-up
  for (auto _ : state) {
    torch::Tensor q = sinkhorn_knopp(scores, 0.05, 3, local_collective());
    benchmark::DoNotOptimize(q.data_ptr<float>());
  }
  state.SetItemsProcessed(state.iterations() * b * k);
  state.SetLabel("items=scores");  // `swavbench bench` stores scores/s, not img/s
  state.counters["threads"] = torch::get_num_threads();
}
BENCHMARK(BM_Sinkhorn)
    ->Args({4096, 3000})
    ->Args({256, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace swavbench

namespace swavbench {
namespace {

// The GPU figure (target under 0.3 ms for 4096 x 3000). Skipped where CUDA is absent.
void BM_SinkhornCuda(benchmark::State& state) {
  if (!torch::cuda::is_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const int64_t b = state.range(0), k = state.range(1);
  torch::manual_seed(0);
  torch::Tensor scores = (torch::rand({b, k}) * 2 - 1).to(torch::kCUDA);
  auto sync = [&] { scores.sum().item<float>(); };
  sinkhorn_knopp(scores, 0.05, 3, local_collective());
  sync();
  for (auto _ : state) {
    torch::Tensor q = sinkhorn_knopp(scores, 0.05, 3, local_collective());
    q.sum().item<float>();  // waits for the kernels: the time is the GPU's
  }
  state.SetItemsProcessed(state.iterations() * b * k);
}
BENCHMARK(BM_SinkhornCuda)->Args({4096, 3000})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace swavbench
