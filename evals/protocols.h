// The evaluation protocols (registered by name for Lua and the CLI) and their numeric cores,
// exposed for tests.
#pragma once

#include <torch/torch.h>

#include "harness/train/evaluation.h"

namespace swavbench {

struct KnnResult {
  double top1 = 0, top5 = 0;  // percent
};

// Weighted kNN: cosine similarity, top-k neighbours vote exp(sim / temperature).
KnnResult knn_classify(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                       const torch::Tensor& test_features, const torch::Tensor& test_labels,
                       int64_t k, double temperature, int64_t num_classes);

struct LinearProbeResult {
  double top1_last = 0, top1_best = 0, top5_last = 0;
  int best_epoch = 0;
  std::vector<double> top1_per_epoch;
};

struct LinearProbeOptions {
  int epochs = 30;
  double lr = 1e-3;
  int64_t batch_size = 256;
  double weight_decay = 0;
  uint64_t seed = 0;
};

// The fast linear probe on cached frozen features: standardised with the training mean and
// std, Linear(d, C) initialised N(0, 0.01), Adam, cross-entropy; test top-1 after every epoch.
LinearProbeResult linear_probe_on_features(const Features& train, const Features& test,
                                           int64_t num_classes, const LinearProbeOptions& options);

EvalProtocol knn_protocol();
EvalProtocol linear_fast_protocol();

// Registers every protocol in evals/ (called once by main).
void register_evals();

}  // namespace swavbench
