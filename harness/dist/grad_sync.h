// What DistributedDataParallel does in PyTorch, for LibTorch's C++ API which has none: start every
// rank from rank 0's weights, average gradients after backward, and (optionally) compute
// BatchNorm statistics over the global batch. Everything goes through a Collective, so with
// LocalCollective (one process) each function is the identity / plain BatchNorm.
//
// Convention: each rank's loss is the mean over its local batch; with equal local batches,
// averaging the gradients over ranks gives the gradient of the mean loss over the global batch,
// which is what a two-process run must reproduce from a single process.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "harness/dist/collective.h"

namespace swavbench {

// Replaces each parameter's gradient by its mean over ranks. Gradients are flattened into
// buckets of at most `bucket_bytes` (one per dtype and device; a larger tensor gets its own
// bucket), and each bucket is one all_reduce_sum, so a ResNet-50 costs a handful of collectives
// instead of one per tensor.
//
// Parameters without a gradient: the ranks first agree (one small all-reduce) on which
// parameters have one anywhere. A parameter with no gradient on any rank keeps none (so SGD still
// skips it, e.g. SwAV's frozen prototypes); one with a gradient on some ranks only gets a zero
// gradient on the others before averaging, as DDP does for unused parameters. Every rank must pass
// the same parameters in the same order. Sparse gradients are not supported.
void average_gradients(const std::vector<torch::Tensor>& params, Collective& collective,
                       int64_t bucket_bytes = 25 << 20);

// Copies rank 0's parameters and buffers (running statistics included) to every rank, so that
// ranks that initialised with different random states start from the same model.
void broadcast_parameters(torch::nn::Module& module, Collective& collective);

// Differentiable collectives. In backward, the gradient reaching each rank's input is the
// gradient of the sum of every rank's loss (the gradients of all ranks are all-reduced), as with
// torch.distributed.nn. Every rank must run backward through them in the same order.
//   differentiable_all_reduce_sum: the sum over ranks of `x`.
//   differentiable_all_gather: every rank's `x` (same shape everywhere) concatenated along dim 0
//     in rank order.
torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& x, Collective& collective);
torch::Tensor differentiable_all_gather(const torch::Tensor& x, Collective& collective);

// SyncBatchNorm: `bn` applied with the mean and variance of the global batch (every rank's x).
// In training mode each rank computes its per-channel count, mean and sum of squared deviations,
// the ranks exchange them in one differentiable all-gather, and combine them with Chan et al.'s
// parallel formula (stable where sum-of-squares minus squared-mean would cancel for activations
// with a large mean); running statistics are updated with the unbiased global variance and bn's
// momentum (cumulative average when momentum is unset), as torch.nn.SyncBatchNorm does. Gradients
// flow through the global statistics. Ranks may hold different batch sizes.
// In eval mode, or with one rank, this is bn.forward(x).
// Reduced-precision inputs are normalised in float32 and returned in their own dtype.
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm1dImpl& bn,
                              Collective& collective);
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn,
                              Collective& collective);
torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm3dImpl& bn,
                              Collective& collective);

}  // namespace swavbench
