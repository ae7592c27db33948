// BatchNorm layers that can switch to SyncBatchNorm: with a Collective attached they normalise
// training batches with the mean and variance of the global batch (every rank's samples), as
// torch.nn.SyncBatchNorm does and as the SwAV paper trains; without one they compute exactly what
// torch::nn::BatchNorm1d / BatchNorm2d compute, with the same parameter and buffer names (weight,
// bias, running_mean, running_var, num_batches_tracked), so checkpoints and weights digests do not
// depend on whether a layer was ever synchronised.
//
// They wrap a torch::nn::BatchNorm rather than derive from it: the LibTorch shared library does
// not export what a derived class's vtable needs. The wrapped layer's tensors are registered on
// the wrapper under their own names (the same tensor objects, so loading and .to() reach both).
#pragma once

#include <torch/torch.h>

#include "harness/dist/collective.h"

namespace swavbench {

template <typename BatchNorm>
class SyncableBatchNormBase : public torch::nn::Module {
 public:
  using Options =
      torch::nn::BatchNormOptions;  // BatchNorm1dOptions and BatchNorm2dOptions alias it
  explicit SyncableBatchNormBase(const Options& options) : bn_(options) {
    weight = register_parameter("weight", bn_->weight);
    bias = register_parameter("bias", bn_->bias);
    running_mean = register_buffer("running_mean", bn_->running_mean);
    running_var = register_buffer("running_var", bn_->running_var);
    num_batches_tracked = register_buffer("num_batches_tracked", bn_->num_batches_tracked);
  }

  torch::Tensor forward(const torch::Tensor& x);
  const Options& options() const { return bn_->options; }

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  Collective* collective = nullptr;  // not owned; null: per-process statistics

 private:
  BatchNorm bn_;  // not a registered child: its tensors are registered above
};

class SyncableBatchNorm2dImpl : public SyncableBatchNormBase<torch::nn::BatchNorm2d> {
 public:
  using SyncableBatchNormBase::SyncableBatchNormBase;
  explicit SyncableBatchNorm2dImpl(int64_t features)
      : SyncableBatchNormBase(torch::nn::BatchNorm2dOptions(features)) {}
};
TORCH_MODULE(SyncableBatchNorm2d);

class SyncableBatchNorm1dImpl : public SyncableBatchNormBase<torch::nn::BatchNorm1d> {
 public:
  using SyncableBatchNormBase::SyncableBatchNormBase;
  explicit SyncableBatchNorm1dImpl(int64_t features)
      : SyncableBatchNormBase(torch::nn::BatchNorm1dOptions(features)) {}
};
TORCH_MODULE(SyncableBatchNorm1d);

// Attaches `collective` to every syncable BatchNorm in `module` (nullptr detaches). Returns how
// many layers it reached, so a caller can tell a model with nothing to synchronise.
int set_sync_batch_norm(torch::nn::Module& module, Collective* collective);

extern template class SyncableBatchNormBase<torch::nn::BatchNorm2d>;
extern template class SyncableBatchNormBase<torch::nn::BatchNorm1d>;

}  // namespace swavbench
