// Method: what a pretraining method (SwAV, SimCLR, MoCo v2, supervised, random control) gives
// the trainer, and the registry through which the CLI and the Lua side pick one by name.
// Method folders (swav/, baselines/) never touch SQLite or Lua.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/core/config.h"
#include "harness/dist/collective.h"
#include "harness/models/heads.h"
#include "harness/models/resnet.h"

namespace swavbench {

// One training batch after augmentation: crops[v] is B x C x S_v x S_v (large crops first).
struct MultiCropBatch {
  std::vector<torch::Tensor> crops;
  std::vector<std::pair<int, int>> size_groups;  // [begin, end) crop ranges of equal size
  torch::Tensor labels;                          // B, int64 (used by supervised only)
  std::vector<int64_t> sample_ids;               // dataset indices
};

struct StepOutput {
  torch::Tensor loss;                  // scalar to minimise
  std::map<std::string, double> logs;  // averaged per epoch into the epoch row's extra_json
};

class Method {
 public:
  virtual ~Method() = default;
  // Every trainable parameter and buffer (backbone + heads + method state modules).
  virtual torch::nn::Module& module() = 0;
  virtual ResNet backbone() = 0;
  // Where backbone() sits in module()'s parameter names (for FLOP accounting).
  virtual std::string backbone_prefix() const { return "backbone."; }
  // Parameters the optimiser updates (a momentum encoder's are not among them).
  virtual std::vector<std::pair<std::string, torch::Tensor>> trainable_parameters();
  virtual bool trains() const { return true; }

  virtual void on_epoch_start(int epoch) {}
  virtual void before_step(int64_t iteration) {}  // e.g. normalise the prototypes
  virtual StepOutput loss(const MultiCropBatch& batch, int64_t iteration, int epoch) = 0;
  virtual void after_backward(int64_t iteration) {}  // e.g. drop frozen prototype gradients
  virtual void after_step(int64_t iteration) {}      // e.g. momentum update
  // Extra state a checkpoint must carry (queues, momentum encoder).
  virtual void save_state(torch::serialize::OutputArchive& archive) const {}
  virtual void load_state(torch::serialize::InputArchive& archive) {}
  // The loss value at which a collapsed run sits (ln K for SwAV); 0 when not meaningful.
  virtual double collapse_loss() const { return 0.0; }
};

struct MethodContext {
  const RunConfig& config;
  int64_t num_classes;
  int64_t in_channels;
  torch::Device device;
  Collective& collective;
  // Full global batches per epoch (the loader drops the last partial one): what a method's
  // epoch-based settings become in iterations (SwAV's prototype freezing). 0 where the method is
  // built to be loaded and evaluated, not trained.
  int64_t iterations_per_epoch = 0;
};

// The dtype of a run's parameters and training arithmetic: float64 for precision = fp64 (the
// reference runs that test numerics), else float32 (bf16 is autocast over float32 parameters).
inline torch::Dtype training_dtype(const RunConfig& config) {
  return config.precision == "fp64" ? torch::kFloat64 : torch::kFloat32;
}

using MethodFactory = std::function<std::unique_ptr<Method>(const MethodContext&)>;

void register_method(const std::string& name, MethodFactory factory);
std::unique_ptr<Method> make_method(const std::string& name, const MethodContext& context);
std::vector<std::string> method_names();

// The backbone every method builds from a config.
ResNet make_backbone(const RunConfig& config, int64_t in_channels);

// Runs `encode` once per group of same-size crops (multi-crop: each size goes through the
// network as one batch, so BatchNorm sees it whole) and returns one output per crop, in crop
// order.
std::vector<torch::Tensor> encode_by_size_group(
    const MultiCropBatch& batch, const std::function<torch::Tensor(const torch::Tensor&)>& encode);

// z = h(f(x)) / ||h(f(x))||: the L2-normalised embedding SwAV, SimCLR and MoCo v2 work on.
torch::Tensor normalized_embedding(ResNet& backbone, ProjectionHead& head, const torch::Tensor& x);

// The authors' multi-crop forward (SwAV's src/resnet50.py: the trunk once per run of same-size
// crops, then forward_head once on the concatenated trunk outputs): the trunk f runs once per
// size group, the projection head h once over the trunk outputs of every crop, so the head's
// BatchNorm1d normalises over all crops together (large and small). One z = h(f(x)) / ||.||
// per crop, in crop order. SwAV and SimCLR embed this way; MoCo v2's queries keep one head
// pass per size group (its head has no BatchNorm, so the two are the same there).
std::vector<torch::Tensor> embed_all_crops(const MultiCropBatch& batch, ResNet& backbone,
                                           ProjectionHead& head);

// Methods registered by harness itself: "supervised" and the "random" control.
void register_harness_methods();

}  // namespace swavbench
