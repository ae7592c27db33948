#include "harness/models/heads.h"

#include <torch/torch.h>

#include <utility>

#include "harness/core/check.h"
#include "harness/models/batch_norm.h"

namespace swavbench {

ProjectionHeadImpl::ProjectionHeadImpl(int64_t in, int64_t hidden, int64_t out, bool batch_norm)
    : in_(in), hidden_(hidden), out_(out) {
  SB_INPUT_CHECK(in > 0 && out > 0 && hidden >= 0,
                 "projection head needs in > 0, out > 0, hidden >= 0; got in {} hidden {} out {}",
                 in, hidden, out);
  torch::nn::Sequential head;
  if (hidden == 0) {
    head->push_back(torch::nn::Linear(in, out));
  } else {
    head->push_back(torch::nn::Linear(in, hidden));
    if (batch_norm) head->push_back(SyncableBatchNorm1d(hidden));
    head->push_back(torch::nn::ReLU());
    head->push_back(torch::nn::Linear(hidden, out));
  }
  // Layers keep LibTorch's default init, which is PyTorch's (Kaiming-uniform a = sqrt(5) for
  // Linear, identity for BN), as the authors' head does: their init loop only touches convs and
  // 2-d BN.
  projection_head_ = register_module("projection_head", head);
}

torch::Tensor ProjectionHeadImpl::forward(torch::Tensor x) {
  return projection_head_->forward(std::move(x));
}

}  // namespace swavbench
