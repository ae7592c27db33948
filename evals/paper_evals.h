// The paper's two supervised evaluation protocols on the real images (evals/linear.cpp and
// evals/semisup.cpp) and their numeric cores, exposed for tests:
//   "linear"  - frozen backbone, a linear classifier trained on augmented crops with SGD
//               (SwAV's eval_linear.py);
//   "semisup" - the whole network fine-tuned on a pinned 1% / 10% label subset
//               (SwAV's eval_semisup.py).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "harness/data/dataset.h"
#include "harness/eval/evaluation.h"
#include "harness/models/resnet.h"

namespace swavbench {

// ---- linear -----------------------------------------------------------------------------

struct LinearEvalOptions {
  int epochs = 10;  // the paper: 100
  double lr = 0.3;
  double momentum = 0.9;
  double weight_decay = 1e-6;
  int64_t batch_size = 256;
  uint64_t seed = 0;
};

struct LinearEvalResult {
  std::vector<double> top1_per_epoch, top5_per_epoch;  // percent, on the test set
  int best_epoch = 0;                                  // 0-based, by top-1
  double top1_best = 0, top5_best = 0, top1_last = 0, top5_last = 0;
  std::vector<double> train_loss_per_epoch;  // mean cross-entropy over each epoch's batches
};

// The training side of a linear evaluation: `size` samples; batch(ids, epoch) returns their
// frozen features (B x d, no autograd history) and labels (B, int64), both on one device.
// The features are recomputed per call so each epoch sees fresh random crops.
struct FeatureBatches {
  int64_t size = 0;
  std::function<std::pair<torch::Tensor, torch::Tensor>(const std::vector<int64_t>& ids,
                                                        int64_t epoch)>
      batch;
};

// Trains Linear(dim, classes) (weights N(0, 0.01), bias 0) with SGD + momentum + weight decay,
// the learning rate following a per-epoch cosine from options.lr to 0 (eval_linear.py's
// CosineAnnealingLR(T_max = epochs, eta_min = 0)); scores top-1 / top-5 on `test` (moved to
// `device`, where the head lives and train.batch's tensors must be) after every epoch.
LinearEvalResult train_linear_classifier(const FeatureBatches& train, const Features& test,
                                         int64_t dim, int64_t classes,
                                         const LinearEvalOptions& options, torch::Device device);

// ---- semisup ----------------------------------------------------------------------------

// The pinned label subset of the semi-supervised protocol:
// `<dir>/<dataset>_<fraction>_seed<seed>.txt`.
std::string pinned_subset_path(const std::string& dir, const std::string& dataset, double fraction,
                               uint64_t seed);

struct PinnedSubset {
  std::string path;
  std::vector<int64_t> indices;  // training-set indices, in file order
  bool created = false;          // true when this call wrote the file
};

// Reads the pinned subset file when it exists (validating every index against `labels`:
// InputError "file:line: ..." for a malformed, out-of-range or duplicate index, or an empty
// file); otherwise draws balanced_subset(labels, classes, round(fraction * N), seed) once and
// writes it (atomically, via a temporary file and rename), creating `dir` if needed.
PinnedSubset pinned_label_subset(const std::string& dir, const std::string& dataset,
                                 const std::vector<int64_t>& labels, int num_classes,
                                 double fraction, uint64_t seed);

// The repository's directory of committed subset files (swavbench_source_dir()/results/subsets).
std::string default_subset_dir();

struct SemisupOptions {
  int epochs = 20;
  double lr_trunk = 0.01, lr_head = 0.2;  // the paper's 10% recipe
  int64_t batch_size = 256;               // reduced to the subset size when it is smaller
  double momentum = 0.9;
  uint64_t seed = 0;
};

// Milestone epochs of the x0.2 steps: 60% and 80% of `epochs` (the paper's 12 and 16 of 20).
std::pair<int, int> semisup_milestones(int epochs);

// The learning rates semisup fine-tunes with on a dataset of C classes, from the paper's
// ImageNet recipes: below 1000 classes the head's is capped at kSemisupHeadLrCap, the 10%
// recipe's (cap_head_lr), the trunk's unchanged. `rule` says which, for the protocol card.
constexpr double kSemisupHeadLrCap = 0.2;
struct SemisupLr {
  double trunk = 0, head = 0;
  std::string rule;
};
SemisupLr semisup_learning_rates(double paper_trunk, double paper_head, int64_t num_classes,
                                 bool cap_head_lr);

struct SemisupResult {
  ResNet backbone{nullptr};  // the fine-tuned copy
  torch::nn::Linear head{nullptr};
  double top1 = 0, top5 = 0;            // last epoch, on `test`
  double top1_best = 0, top5_best = 0;  // the epoch with the best top-1 (eval_semisup.py's)
  int best_epoch = 0;
  std::vector<double> top1_per_epoch, top5_per_epoch;
  std::vector<double> train_loss;  // mean per epoch
  int64_t batch_size = 0;          // the batch actually used
};

// Fine-tunes a deep copy of `backbone` (the original is left untouched) plus a new linear head
// on `train` (already the labelled subset), SGD momentum, no weight decay, trunk / head lrs
// stepped x0.2 at the milestones; training crops RandomResizedCrop(crop, 0.08-1) + flip, test
// resize + centre crop; backbone in train mode while fine-tuning (BN statistics adapt, as in
// eval_semisup.py) and eval mode for testing.
SemisupResult semisup_finetune(ResNet backbone, const Dataset& train, const Dataset& test,
                               int resize, int crop, const SemisupOptions& options,
                               torch::Device device, int workers);

// A new ResNet with the same architecture holding copies of `source`'s parameters and buffers.
ResNet deep_copy_backbone(const ResNet& source);

EvalProtocol linear_protocol();
EvalProtocol semisup_protocol();

}  // namespace swavbench
