// The three self-supervised losses alone, forward + backward on ready embeddings, at the
// Fashion-MNIST default recipe (batch 256, 2 + 4 crops, D = 64, K = 100) and at the paper's
// ImageNet sizes (D = 128, K = 3000 prototypes / 65536 MoCo negatives):
//   SwAV  swapped prediction (Sinkhorn codes of the 2 large crops + softmax of every crop)
//   SimCLR multi-positive NT-Xent over all crops
//   MoCo  InfoNCE of every crop's query against the first large crop's key and the queue
// items_per_second counts images (the batch), so the figures compare with the trainer's img/s.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "baselines/losses.h"
#include "harness/dist/collective.h"
#include "swav/swav_loss.h"

namespace swavbench {
namespace {

int use_all_cores() {
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return torch::get_num_threads();
}

torch::Tensor unit_rows(int64_t n, int64_t d) {
  return torch::nn::functional::normalize(torch::randn({n, d}),
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

// Leaves with gradients, as the method's embeddings are; the gradient is dropped after each
// backward so every iteration does the same work.
std::vector<torch::Tensor> leaves(int64_t crops, int64_t b, int64_t d) {
  std::vector<torch::Tensor> out;
  for (int64_t v = 0; v < crops; ++v) out.push_back(unit_rows(b, d).requires_grad_(true));
  return out;
}

void drop_grads(std::vector<torch::Tensor>& tensors) {
  for (auto& t : tensors) t.mutable_grad() = torch::Tensor();
}

// Args: batch, crops, D, K.
void BM_SwavLoss(benchmark::State& state) {
  const int threads = use_all_cores();
  const int64_t b = state.range(0), crops = state.range(1), d = state.range(2), k = state.range(3);
  torch::manual_seed(0);
  // Scores z . c of every crop against the prototypes, with autograd history to a leaf.
  std::vector<torch::Tensor> z = leaves(crops, b, d);
  const torch::Tensor prototypes = unit_rows(k, d);
  const SwavLossOptions options;  // crops_for_assign {0, 1}, T 0.1, epsilon 0.05, 3 iterations
  auto step = [&] {
    std::vector<torch::Tensor> scores;
    for (const auto& zv : z) scores.push_back(zv.mm(prototypes.t()));
    SwavLossOutput out = swav_loss(scores, options, local_collective());
    out.loss.backward();
    drop_grads(z);
    return out.loss.item<float>();
  };
  step();  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * b);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_SwavLoss)
    ->ArgNames({"B", "crops", "D", "K"})
    ->Args({256, 6, 64, 100})
    ->Args({256, 8, 128, 3000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: batch, crops, D.
void BM_SimclrLoss(benchmark::State& state) {
  const int threads = use_all_cores();
  const int64_t b = state.range(0), crops = state.range(1), d = state.range(2);
  torch::manual_seed(0);
  std::vector<torch::Tensor> z = leaves(crops, b, d);
  auto step = [&] {
    torch::Tensor loss = nt_xent_loss(z, 0.2, local_collective());
    loss.backward();
    drop_grads(z);
    return loss.item<float>();
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * b);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_SimclrLoss)
    ->ArgNames({"B", "crops", "D"})
    ->Args({256, 6, 64})
    ->Args({256, 2, 128})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: batch, crops (queries per image), D, queue length.
void BM_MocoLoss(benchmark::State& state) {
  const int threads = use_all_cores();
  const int64_t b = state.range(0), crops = state.range(1), d = state.range(2), k = state.range(3);
  torch::manual_seed(0);
  torch::Tensor queries = unit_rows(b * crops, d).requires_grad_(true);
  const torch::Tensor keys = unit_rows(b, d).repeat({crops, 1});  // no gradient, as MoCo's
  const torch::Tensor queue = unit_rows(k, d).t().contiguous();   // D x K
  auto step = [&] {
    torch::Tensor loss = info_nce_loss(queries, keys, queue, 0.2);
    loss.backward();
    queries.mutable_grad() = torch::Tensor();
    return loss.item<float>();
  };
  step();
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * b);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_MocoLoss)
    ->ArgNames({"B", "crops", "D", "K"})
    ->Args({256, 6, 64, 4096})
    ->Args({256, 2, 128, 65536})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace swavbench
