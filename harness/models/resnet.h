// ResNet trunks (torchvision v1.5 layout, no fc) for every method and evaluation.
//
// Parameter and buffer names follow torchvision exactly (conv1.weight, bn1.running_mean,
// layer2.0.downsample.0.weight, ...), so checkpoints map one to one onto the authors' and
// torchvision's state dicts and evaluation code can address layers by their familiar names.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "harness/models/batch_norm.h"

namespace swavbench {

struct ResNetOptions {
  // resnet10 | resnet18 | resnet34 (basic blocks) | resnet50 (bottleneck, expansion 4).
  std::string arch = "resnet18";
  // Multiplier on the base width 64. Every layer widens by the same factor, the stem included:
  // stage s has int(64 * width) * 2^s channels (bottleneck: that many inner channels and four
  // times as many outputs). This is how the authors' resnet50w2/w4/w5 are built (94M, 375M and
  // 586M parameters, as in the paper), and it is not torchvision's wide_resnet50_2, which widens
  // only the bottleneck's inner 3x3. width 0.25 gives stages of 16/32/64/128 channels.
  double width = 1.0;
  // 3x3 stride-1 stem conv and no max-pool, for 28-32 px images: the ImageNet stem would shrink
  // a 28 px image to 7 px before the first block.
  bool small_stem = false;
  int in_channels = 3;
  // Zero gamma in the last BN of every residual branch, so each block starts as the identity
  // (Goyal et al. 2017; torchvision's zero_init_residual). Note: the authors' SwAV code has this
  // option but main_swav.py leaves it at False; set false here for a strict reproduction.
  bool zero_init_residual = true;
};

class ResNetImpl : public torch::nn::Module {
 public:
  // Throws InputError for an unknown arch or a width that leaves a stage with no channels.
  explicit ResNetImpl(const ResNetOptions& options);

  // Global-average-pooled features, B x feature_dim().
  torch::Tensor forward(torch::Tensor x);
  // layer4's feature maps, B x feature_dim() x h x w (detection and dense evaluations).
  torch::Tensor forward_maps(torch::Tensor x);

  int64_t feature_dim() const { return feature_dim_; }
  const ResNetOptions& options() const { return options_; }

 private:
  ResNetOptions options_;
  int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1_{nullptr};
  SyncableBatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layer1_{nullptr};
  torch::nn::Sequential layer2_{nullptr};
  torch::nn::Sequential layer3_{nullptr};
  torch::nn::Sequential layer4_{nullptr};
};
TORCH_MODULE(ResNet);

// The accepted values of ResNetOptions::arch, for validation messages.
std::vector<std::string> resnet_archs();

}  // namespace swavbench
