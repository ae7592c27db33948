// One training step (forward, backward, optimiser) of a registered method at the Fashion-MNIST
// default recipe (the config defaults: ResNet-10 w0.25 small stem, crops 2x28 + 4x14), on
// pre-augmented random crops: the model's cost alone. Shared by bench_train_step (its timing)
// and profile_step (where that time goes), so that both measure the same step.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "baselines/register.h"
#include "harness/core/config.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/models/flops.h"
#include "harness/train/method.h"
#include "harness/train/optim.h"
#include "harness/train/register.h"
#include "harness/train/torch_compat.h"
#include "swav/register.h"

namespace swavbench::bench_support {

inline void register_all_methods() {
  static bool done = [] {
    register_harness_methods();
    register_swav_methods();
    register_baseline_methods();
    return true;
  }();
  (void)done;
}

class TrainStepFixture {
 public:
  // channels_last: the trunk's weights and the crops in NHWC (memory_format = "channels_last").
  // `overrides`: further config keys (profile_step --set), validated as a run's would be.
  TrainStepFixture(const std::string& method_name, int64_t batch, bool channels_last,
                   const nlohmann::json& overrides = nlohmann::json::object())
      : config_(resolve_config(with_overrides(method_name, batch, channels_last, overrides),
                               nlohmann::json::object(), "bench")) {
    MethodContext ctx{config_, 10, 1, torch::kCPU, local_collective()};
    torch::manual_seed(0);
    method_ = make_method(method_name, ctx);
    if (channels_last) to_channels_last(method_->module());
    OptimizerOptions opt_options;
    opt_options.kind = config_.optimizer;
    optimizer_ = std::make_unique<LarsSgd>(method_->trainable_parameters(), opt_options);
    optimizer_->set_lr(0.1);

    MultiCropAugment augment(config_.crops, AugmentOptions{});
    const torch::Tensor images = torch::randint(0, 256, {batch, 1, 28, 28}, torch::kUInt8);
    std::vector<int64_t> ids(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) ids[static_cast<size_t>(i)] = i;
    batch_crops_.crops = augment(images, ids, 0, 0);
    if (channels_last)
      for (auto& c : batch_crops_.crops) c = c.contiguous(at::MemoryFormat::ChannelsLast);
    batch_crops_.size_groups = augment.size_groups();
    batch_crops_.labels = torch::randint(0, 10, {batch}, torch::kInt64);
    batch_crops_.sample_ids = ids;
    method_->module().train();
  }

  void step() {
    method_->before_step(iteration_);
    StepOutput out = method_->loss(batch_crops_, iteration_, 0);
    optimizer_->zero_grad();
    out.loss.backward();
    method_->after_backward(iteration_);
    optimizer_->step();
    method_->after_step(iteration_);
    ++iteration_;
  }

  // Forward + backward FLOPs of one training image (harness/models/flops.h).
  double flops_per_image() {
    return training_flops_per_image(method_->module(), method_->backbone_prefix(),
                                    method_->backbone()->options(), config_.crops);
  }

 private:
  static nlohmann::json with_overrides(const std::string& method_name, int64_t batch,
                                       bool channels_last, const nlohmann::json& overrides) {
    register_all_methods();  // before resolve_config checks the method's name
    nlohmann::json keys = {{"method", method_name},
                           {"batch_size", batch},
                           {"memory_format", channels_last ? "channels_last" : "contiguous"}};
    keys.update(overrides);
    return keys;
  }

  RunConfig config_;
  std::unique_ptr<Method> method_;
  std::unique_ptr<LarsSgd> optimizer_;
  MultiCropBatch batch_crops_;
  int64_t iteration_ = 1000;  // past the prototype freeze, as most of a run is
};

}  // namespace swavbench::bench_support
