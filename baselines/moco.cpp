// The "moco" method: MoCo v2 (Chen, Fan, Girshick, He 2020) on the shared multi-crop pipeline.
//
// Query encoder f_q = backbone + MLP head (Linear -> ReLU -> Linear, no BN, the authors' v2
// head), key encoder f_k = its momentum copy, a queue of K negative keys, InfoNCE at T
// (baselines/losses.h gives the exact loss, momentum update and queue).
//
// Multi-crop (the paper's MoCo takes two crops; this is the symmetrised, multi-crop form):
//   * f_k encodes the two large crops 0 and 1, giving keys k0 and k1;
//   * every crop v is a query q_v = normalize(f_q(x_v)):
//       crop 0 uses k1 as its positive, crop 1 uses k0 (each large crop's query is matched with
//       the other large crop's key, so no query is ever its own key's view);
//       a small crop v >= 2 is a view of the same image as both keys: its loss is the mean of
//       InfoNCE(q_v, k0) and InfoNCE(q_v, k1);
//   * loss = mean over the V crops of the per-crop losses. For V = 2 this is the symmetrised
//     MoCo loss (InfoNCE(q0, k1) + InfoNCE(q1, k0)) / 2;
//   * after the loss, the keys k0 of this step (all ranks', B per rank) are enqueued, so a
//     batch never sees its own keys among the negatives.
//
// Shuffling BN (baselines/shuffle_bn.h): f_q runs per group of moco_bn_group consecutive
// samples (the authors' per-GPU BN), f_k per group of the shuffled batch, so that no key is
// normalised with its query's group mates. The groups are global, so one process emulates the
// authors' GPUs exactly and N processes compute the same step as one (tests/unit/test_dist.cpp).
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "baselines/baselines.h"
#include "baselines/losses.h"
#include "baselines/shuffle_bn.h"
#include "harness/core/check.h"
#include "harness/models/heads.h"
#include "harness/train/method.h"

namespace swavbench {
namespace {

const char kKeyPrefix[] = "key_encoder.";

// MoCo v2's head: the authors replace the ResNet's fc by Linear(d, d) -> ReLU -> fc, without BN.
ProjectionHead moco_head(int64_t feature_dim, const RunConfig& config) {
  return ProjectionHead(feature_dim, config.hidden_dim, config.feat_dim, /*batch_norm=*/false);
}

// The key encoder f_k: same layout as the query side, so its parameters are named like the
// query's (backbone.conv1.weight, ...) under the "key_encoder." prefix.
class MocoKeyEncoderImpl : public torch::nn::Module {
 public:
  MocoKeyEncoderImpl(const RunConfig& config, int64_t in_channels)
      : backbone(register_module("backbone", make_backbone(config, in_channels))),
        projection_head(
            register_module("projection_head", moco_head(backbone->feature_dim(), config))) {}

  ResNet backbone;
  ProjectionHead projection_head;
};
TORCH_MODULE(MocoKeyEncoder);

// The query side (backbone, projection_head: named as in SwAV and SimCLR) plus the key encoder,
// registered so that checkpoints carry it with the model.
class MocoModelImpl : public torch::nn::Module {
 public:
  MocoModelImpl(const RunConfig& config, int64_t in_channels)
      : backbone(register_module("backbone", make_backbone(config, in_channels))),
        projection_head(
            register_module("projection_head", moco_head(backbone->feature_dim(), config))),
        key_encoder(register_module("key_encoder", MocoKeyEncoder(config, in_channels))) {
    // theta_k = theta_q at the start (parameters and BN buffers), and f_k is never trained by
    // gradient: only the momentum update moves it.
    copy_encoder_state(*key_encoder, *this);
    for (auto& p : key_encoder->parameters()) p.set_requires_grad(false);
  }

  ResNet backbone;
  ProjectionHead projection_head;
  MocoKeyEncoder key_encoder;
};
TORCH_MODULE(MocoModel);

class Moco final : public Method {
 public:
  explicit Moco(const MethodContext& ctx)
      : config_(ctx.config), collective_(ctx.collective), model_(ctx.config, ctx.in_channels) {
    // K is trimmed to a multiple of the global batch so that every push fills whole columns
    // without wrapping (the authors assert K % batch == 0 instead).
    const int64_t length = MocoQueue::trimmed_length(config_.moco_queue, config_.batch_size);
    SB_INPUT_CHECK(length > 0,
                   "moco_queue {} is shorter than one global batch ({}): MoCo needs at least one "
                   "batch of negatives",
                   config_.moco_queue, config_.batch_size);
    model_->to(ctx.device);
    queue_ =
        std::make_unique<MocoQueue>(config_.feat_dim, length, ctx.device, training_dtype(config_));
    // Every rank starts from rank 0's random queue (then they stay equal: all push the same
    // gathered keys). The handle shares the queue's storage, so the broadcast writes into it.
    torch::Tensor shared = queue_->keys();
    collective_.broadcast(shared, 0);
  }

  torch::nn::Module& module() override { return *model_; }
  ResNet backbone() override { return model_->backbone; }

  // The query side only: the optimiser must never touch f_k.
  std::vector<std::pair<std::string, torch::Tensor>> trainable_parameters() override {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : model_->named_parameters(/*recurse=*/true)) {
      if (item.key().rfind(kKeyPrefix, 0) == 0) continue;
      if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
    }
    return out;
  }

  StepOutput loss(const MultiCropBatch& batch, int64_t iteration, int) override {
    SB_CHECK(batch.crops.size() >= 2, "MoCo needs at least 2 crops, got {}", batch.crops.size());
    // Shuffling BN (baselines/shuffle_bn.h): f_q normalises groups of m consecutive samples, f_k
    // the same samples regrouped so that no key shares its group with its query's group mates.
    const int64_t per_rank = batch.crops[0].size(0);
    const int64_t global = per_rank * collective_.world_size();
    const int64_t m = shuffle_bn_group_size(config_.moco_bn_group, per_rank, global);
    std::vector<torch::Tensor> queries =
        encode_moco_queries(batch, m, [this](const torch::Tensor& x) {
          return normalized_embedding(model_->backbone, model_->projection_head, x);
        });
    torch::Tensor k0, k1;
    {
      torch::NoGradGuard no_grad;
      MocoKeyEncoder& f_k = model_->key_encoder;
      const std::vector<int64_t> key_order = shuffle_bn_key_order(
          global, m, shuffle_bn_seed(static_cast<uint64_t>(config_.seed), iteration));
      std::tie(k0, k1) =
          encode_moco_keys(batch.crops[0], batch.crops[1], m, key_order, collective_,
                           [&f_k](const torch::Tensor& x) {
                             return normalized_embedding(f_k->backbone, f_k->projection_head, x);
                           });
    }

    // The authors score against queue.clone().detach(): the push below writes the queue in
    // place, and the graph must keep this step's negatives for backward.
    const torch::Tensor negatives = queue_->keys().clone();
    double positive_sum = 0.0, top1_sum = 0.0;
    int terms = 0;
    auto info_nce = [&](const torch::Tensor& q, const torch::Tensor& k) {
      torch::Tensor logits;
      torch::Tensor l = info_nce_loss(q, k, negatives, config_.temperature, &logits);
      torch::NoGradGuard no_grad;
      positive_sum += logits.select(1, 0).mean().item<double>() * config_.temperature;
      top1_sum += logits.argmax(1).eq(0).to(torch::kFloat64).mean().item<double>();
      ++terms;
      return l;
    };
    torch::Tensor total;
    const int64_t num_crops = static_cast<int64_t>(queries.size());
    for (int64_t v = 0; v < num_crops; ++v) {
      torch::Tensor term;
      if (v == 0) {
        term = info_nce(queries[0], k1);
      } else if (v == 1) {
        term = info_nce(queries[1], k0);
      } else {
        term = 0.5 * (info_nce(queries[v], k0) + info_nce(queries[v], k1));
      }
      total = total.defined() ? total + term : term;
    }

    // Enqueue this step's keys of crop 0, every rank's (the authors' concat_all_gather).
    queue_->push(collective_.all_gather_cat(k0.contiguous()));

    StepOutput step;
    step.loss = total / static_cast<double>(num_crops);
    step.logs["positive_sim"] = positive_sum / terms;
    step.logs["instance_top1"] = 100.0 * top1_sum / terms;
    return step;
  }

  // theta_k <- m theta_k + (1 - m) theta_q after each optimiser step (the authors do it at the
  // start of the next forward, which is the same sequence).
  void after_step(int64_t) override {
    momentum_update(*model_->key_encoder, *model_, config_.moco_momentum);
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    queue_->save(archive);
  }
  void load_state(torch::serialize::InputArchive& archive) override { queue_->load(archive); }

  // A collapsed encoder maps everything to one point: q.k+ = q.k_j for every negative, and the
  // softmax over the 1 + K logits is uniform: loss = ln(K + 1).
  double collapse_loss() const override {
    return std::log(static_cast<double>(queue_->length()) + 1.0);
  }

 private:
  const RunConfig config_;  // a copy: the method may outlive the caller's config
  Collective& collective_;
  MocoModel model_;
  std::unique_ptr<MocoQueue> queue_;
};

}  // namespace

std::vector<torch::Tensor> encode_moco_queries(const MultiCropBatch& batch, int64_t group_size,
                                               const Encoder& f_q) {
  const int64_t per_rank = batch.crops[0].size(0);
  SB_CHECK(group_size > 0 && per_rank % group_size == 0,
           "MoCo query groups of {} do not divide the batch of {}", group_size, per_rank);
  if (group_size == per_rank) return encode_by_size_group(batch, f_q);
  std::vector<std::vector<torch::Tensor>> per_crop(batch.crops.size());
  MultiCropBatch group;
  group.size_groups = batch.size_groups;
  for (int64_t begin = 0; begin < per_rank; begin += group_size) {
    group.crops.clear();
    for (const auto& crop : batch.crops)
      group.crops.push_back(crop.slice(0, begin, begin + group_size));
    std::vector<torch::Tensor> out = encode_by_size_group(group, f_q);
    for (size_t v = 0; v < out.size(); ++v) per_crop[v].push_back(out[v]);
  }
  std::vector<torch::Tensor> queries;
  for (auto& parts : per_crop) queries.push_back(torch::cat(parts));
  return queries;
}

std::pair<torch::Tensor, torch::Tensor> encode_moco_keys(
    const torch::Tensor& crop0, const torch::Tensor& crop1, int64_t group_size,
    const std::vector<int64_t>& key_order, Collective& collective, const Encoder& f_k) {
  const int64_t per_rank = crop0.size(0);
  const int64_t global = per_rank * collective.world_size();
  SB_CHECK(static_cast<int64_t>(key_order.size()) == global && per_rank % group_size == 0,
           "MoCo key order of {} for {} x {} samples in groups of {}", key_order.size(),
           collective.world_size(), per_rank, group_size);
  const bool one_size = crop0.sizes() == crop1.sizes();
  auto encode_pair = [&](const torch::Tensor& x0, const torch::Tensor& x1) {
    if (!one_size) return std::make_pair(f_k(x0), f_k(x1));
    auto keys = f_k(torch::cat({x0, x1})).chunk(2);
    return std::make_pair(keys[0], keys[1]);
  };
  if (group_size == global) return encode_pair(crop0, crop1);  // one group: nothing to shuffle

  // Every rank's samples, in global order (ranks hold consecutive slices of the global batch).
  const torch::Tensor all0 = collective.all_gather_cat(crop0.contiguous());
  const torch::Tensor all1 = collective.all_gather_cat(crop1.contiguous());
  const torch::Tensor order =
      torch::tensor(key_order, torch::TensorOptions().dtype(torch::kLong)).to(crop0.device());
  std::vector<torch::Tensor> mine0, mine1;
  const int64_t first = collective.rank() * per_rank;
  for (int64_t begin = first; begin < first + per_rank; begin += group_size) {
    const torch::Tensor members = order.slice(0, begin, begin + group_size);
    auto [k0, k1] = encode_pair(all0.index_select(0, members), all1.index_select(0, members));
    mine0.push_back(k0);
    mine1.push_back(k1);
  }
  // Keys of the whole shuffled batch (position order), then back to sample order:
  // position_of[i] is where sample i's key sits.
  const torch::Tensor shuffled0 = collective.all_gather_cat(torch::cat(mine0).contiguous());
  const torch::Tensor shuffled1 = collective.all_gather_cat(torch::cat(mine1).contiguous());
  const torch::Tensor position_of = torch::argsort(order).slice(0, first, first + per_rank);
  return {shuffled0.index_select(0, position_of), shuffled1.index_select(0, position_of)};
}

std::unique_ptr<Method> make_moco(const MethodContext& context) {
  return std::make_unique<Moco>(context);
}

}  // namespace swavbench
