// Projection heads that sit between a trunk and the method's loss (SwAV, SimCLR, MoCo v2).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace swavbench {

// Linear(in, hidden) -> BatchNorm1d(hidden) -> ReLU -> Linear(hidden, out), the authors' SwAV
// head (2048 -> 2048 -> 128 for ResNet-50). batch_norm = false drops the BN (SimCLR v1 and
// MoCo v2 heads have none). hidden == 0 gives a single Linear(in, out).
//
// The layers live in one Sequential registered as "projection_head", so parameters are named
// projection_head.0.weight, projection_head.1.running_mean, ... as in the authors' checkpoints.
// (Their hidden == 0 head is a bare Linear named projection_head.weight; here it is
// projection_head.0.weight, which keeps one naming scheme for every head.)
class ProjectionHeadImpl : public torch::nn::Module {
 public:
  ProjectionHeadImpl(int64_t in, int64_t hidden, int64_t out, bool batch_norm = true);

  // The raw projection, B x out_dim(). Not normalised: the callers L2-normalise, and a method
  // that needs the unnormalised output (e.g. for logging its norm) still can.
  torch::Tensor forward(torch::Tensor x);

  int64_t in_dim() const { return in_; }
  int64_t hidden_dim() const { return hidden_; }
  int64_t out_dim() const { return out_; }

 private:
  int64_t in_;
  int64_t hidden_;
  int64_t out_;
  torch::nn::Sequential projection_head_{nullptr};
};
TORCH_MODULE(ProjectionHead);

}  // namespace swavbench
