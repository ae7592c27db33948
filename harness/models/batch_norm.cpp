#include "harness/models/batch_norm.h"

#include "harness/dist/grad_sync.h"

namespace swavbench {

template <typename BatchNorm>
torch::Tensor SyncableBatchNormBase<BatchNorm>::forward(const torch::Tensor& x) {
  // The wrapped layer is not a registered child, so train()/eval() do not reach it.
  bn_->train(is_training());
  if (collective != nullptr && collective->world_size() > 1 && is_training())
    return sync_batch_norm(x, *bn_, *collective);
  return bn_->forward(x);
}

template class SyncableBatchNormBase<torch::nn::BatchNorm2d>;
template class SyncableBatchNormBase<torch::nn::BatchNorm1d>;

int set_sync_batch_norm(torch::nn::Module& module, Collective* collective) {
  int reached = 0;
  for (const auto& child : module.modules(/*include_self=*/true)) {
    if (auto* bn2 = child->as<SyncableBatchNorm2dImpl>()) {
      bn2->collective = collective;
      ++reached;
    } else if (auto* bn1 = child->as<SyncableBatchNorm1dImpl>()) {
      bn1->collective = collective;
      ++reached;
    }
  }
  return reached;
}

}  // namespace swavbench
