// The evaluation protocols (registered by name for Lua and the CLI) and their numeric cores,
// exposed for tests.
#pragma once

#include <torch/torch.h>

#include "harness/eval/evaluation.h"

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

// Multinomial logistic regression in float64: W, b = argmin (1/n) sum_i CE(W x_i + b, y_i)
// + (l2 / 2) ||W||^2 (the bias is not penalised), by L-BFGS with a strong-Wolfe line search from
// zero. The objective is strictly convex for l2 > 0, so the minimiser is unique: the same as
// scikit-learn's LogisticRegression(C = 1 / (n l2)) (tests/unit/lowshot_reference.py). Stops
// when the gradient's max-norm is below 1e-9 or after max_iterations.
struct LogisticModel {
  torch::Tensor weight;      // C x d, float64
  torch::Tensor bias;        // C, float64
  double gradient_norm = 0;  // the objective's gradient's max-norm at the end
};
// `start`: a model to start from (the next-stronger l2's solution on a path); the minimiser does
// not depend on it, only the number of iterations.
LogisticModel fit_logistic_regression(const torch::Tensor& features, const torch::Tensor& labels,
                                      int64_t num_classes, double l2, int max_iterations,
                                      const LogisticModel* start = nullptr);
// The same minimiser, computed in the span of the features' rows when there are more dimensions
// than images (raw pixels with few labels): exact, and n x n instead of n x d per iteration.
// gradient_norm is then the reduced problem's.
LogisticModel fit_logistic_regression_in_span(const torch::Tensor& features,
                                              const torch::Tensor& labels, int64_t num_classes,
                                              double l2, int max_iterations,
                                              const LogisticModel* start = nullptr);
// Top-1 (percent) of `model` on `features` / `labels`.
double logistic_top1(const LogisticModel& model, const torch::Tensor& features,
                     const torch::Tensor& labels);

// Low-shot linear evaluation (VISSL's low-shot protocol, the paper's few-label regime on frozen
// features). The training split's features are split once into a selection set (val_images,
// class-balanced, a fixed draw) and a labelled pool; for each shot count k and draw d, k images
// per class are drawn from the pool (a function of (seed, k, d) only: every run is probed with
// the same labels); features are standardised with the pool's mean and std (no labels used);
// each l2 strength is fitted and scored on the selection set; the strength with the best mean
// selection top-1 over the draws (ties: the stronger) is then scored on the test features.
// k = 0 means every pool image (one draw).
struct LowShotOptions {
  std::vector<int64_t> shots = {10, 100, 0};
  int draws = 5;
  std::vector<double> l2 = {1e-4, 1e-3, 1e-2, 1e-1, 1.0};
  int64_t val_images = 1000;
  uint64_t seed = 0;
  int max_iterations = 200;
};
struct LowShotArm {
  int64_t shots = 0;     // per class; 0: all
  int64_t labelled = 0;  // images per draw
  double chosen_l2 = 0;
  std::vector<double> selection_top1;  // per l2 candidate: mean over draws, on the selection set
  std::vector<double> test_top1;       // per draw, with chosen_l2
  double mean = 0, std = 0;            // over draws (std: sample std; 0 for one draw)
};
struct LowShotResult {
  std::vector<LowShotArm> arms;  // in options.shots order
  int64_t pool = 0, selection = 0, test = 0;
};
// The labelled draw: `shots` pool positions per class (fewer when a class has fewer), sorted.
std::vector<int64_t> low_shot_draw(const std::vector<int64_t>& pool_labels, int64_t num_classes,
                                   int64_t shots, uint64_t seed, int draw);
LowShotResult low_shot_probe(const Features& train, const Features& test, int64_t num_classes,
                             const LowShotOptions& options);

EvalProtocol knn_protocol();
EvalProtocol linear_fast_protocol();
EvalProtocol lowshot_protocol();

// Registers every protocol in evals/ (called once by main).
void register_evals();

}  // namespace swavbench
