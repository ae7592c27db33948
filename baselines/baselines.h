// SimCLR and MoCo v2 as Methods, sharing SwAV's backbone, multi-crop pipeline and trainer so a
// table row differs only in what its column says.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "harness/dist/collective.h"
#include "harness/train/method.h"

namespace swavbench {

std::unique_ptr<Method> make_simclr(const MethodContext& context);
std::unique_ptr<Method> make_moco(const MethodContext& context);

// MoCo v2's two encoders under shuffling BN (baselines/shuffle_bn.h gives the groups).
using Encoder = std::function<torch::Tensor(const torch::Tensor&)>;

// The queries, one B_rank x D tensor per crop in crop order: f_q runs once per query group of
// `group_size` consecutive samples (per size group inside it, as encode_by_size_group), so its
// BatchNorm normalises each group on its own.
std::vector<torch::Tensor> encode_moco_queries(const MultiCropBatch& batch, int64_t group_size,
                                               const Encoder& f_q);

// The keys (k0, k1) of this rank's samples for the large crops 0 and 1: every rank's crops are
// gathered, this rank encodes the key groups at its positions of `key_order` (crops 0 and 1 of
// a group together when they have one size), and the keys are gathered back and unshuffled.
// Every rank must call it in the same order (it runs collectives).
std::pair<torch::Tensor, torch::Tensor> encode_moco_keys(
    const torch::Tensor& crop0, const torch::Tensor& crop1, int64_t group_size,
    const std::vector<int64_t>& key_order, Collective& collective, const Encoder& f_k);

}  // namespace swavbench
