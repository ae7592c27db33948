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
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "baselines/baselines.h"
#include "baselines/losses.h"
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

  StepOutput loss(const MultiCropBatch& batch, int64_t, int) override {
    SB_CHECK(batch.crops.size() >= 2, "MoCo needs at least 2 crops, got {}", batch.crops.size());
    // Queries: crops of one size go through f_q together (multi-crop).
    std::vector<torch::Tensor> queries =
        encode_by_size_group(batch, [this](const torch::Tensor& x) {
          return normalized_embedding(model_->backbone, model_->projection_head, x);
        });

    // Keys of the two large crops. The authors shuffle the batch across GPUs before f_k and
    // unshuffle after ("shuffling BN"), so that BN's batch statistics cannot tell a query's
    // sub-batch from its key's. One process has nothing to shuffle across: here f_k runs in
    // train mode on the unshuffled batch (both large crops together, as f_q sees them), which
    // can leak batch statistics and make the pretext task slightly easier. The shuffle is to be
    // applied here once distributed runs use this method.
    torch::Tensor k0, k1;
    {
      torch::NoGradGuard no_grad;
      MocoKeyEncoder& f_k = model_->key_encoder;
      if (batch.crops[0].sizes() == batch.crops[1].sizes()) {
        auto keys = normalized_embedding(f_k->backbone, f_k->projection_head,
                                         torch::cat({batch.crops[0], batch.crops[1]}))
                        .chunk(2);
        k0 = keys[0];
        k1 = keys[1];
      } else {
        k0 = normalized_embedding(f_k->backbone, f_k->projection_head, batch.crops[0]);
        k1 = normalized_embedding(f_k->backbone, f_k->projection_head, batch.crops[1]);
      }
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

std::unique_ptr<Method> make_moco(const MethodContext& context) {
  return std::make_unique<Moco>(context);
}

}  // namespace swavbench
