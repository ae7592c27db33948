// The "swav" method: backbone -> projection head -> L2-normalised embedding z -> prototypes C
// (scores z . c_k), swapped prediction between crops with Sinkhorn-Knopp codes, as the paper
// and the authors' main_swav.py define it.
#include <torch/torch.h>

#include <cmath>

#include "harness/core/check.h"
#include "harness/core/method_spec.h"
#include "harness/models/heads.h"
#include "harness/train/method.h"
#include "swav/queue.h"
#include "swav/register.h"
#include "swav/sinkhorn.h"
#include "swav/swav_loss.h"
#include "swav/swav_spec.h"

namespace swavbench {
namespace {

class SwavModelImpl : public torch::nn::Module {
 public:
  SwavModelImpl(const RunConfig& config, int64_t in_channels)
      : backbone(register_module("backbone", make_backbone(config, in_channels))),
        projection_head(register_module(
            "projection_head",
            ProjectionHead(backbone->feature_dim(), config.hidden_dim, config.feat_dim))),
        prototypes(register_module(
            "prototypes",
            torch::nn::Linear(
                torch::nn::LinearOptions(config.feat_dim, config.prototypes).bias(false)))) {}

  ResNet backbone;
  ProjectionHead projection_head;
  torch::nn::Linear prototypes;
};
TORCH_MODULE(SwavModel);

class Swav final : public Method {
 public:
  explicit Swav(const MethodContext& ctx)
      : config_(ctx.config),
        collective_(ctx.collective),
        device_(ctx.device),
        model_(ctx.config, ctx.in_channels),
        freeze_iterations_(prototype_freeze_iterations(ctx.config, ctx.iterations_per_epoch)) {
    model_->to(ctx.device);
    options_.crops_for_assign = config_.crops_for_assign;
    options_.temperature = config_.temperature;
    options_.epsilon = config_.epsilon;
    options_.sinkhorn_iterations = config_.sinkhorn_iters;
    normalize_prototypes();
  }

  torch::nn::Module& module() override { return *model_; }
  ResNet backbone() override { return model_->backbone; }

  void on_epoch_start(int epoch) override {
    // The queue is created at queue_start_epoch and then kept (also across a resume, where
    // load_state restores it).
    if (config_.queue_length > 0 && epoch >= config_.queue_start_epoch && !queue_) {
      int64_t global_batch = config_.batch_size;
      int64_t length = FeatureQueue::trimmed_queue_length(config_.queue_length, global_batch);
      SB_INPUT_CHECK(length > 0, "queue_length {} is shorter than one global batch ({})",
                     config_.queue_length, global_batch);
      queue_ = std::make_unique<FeatureQueue>(static_cast<int64_t>(config_.crops_for_assign.size()),
                                              length / collective_.world_size(), config_.feat_dim,
                                              device_, training_dtype(config_));
    }
  }

  void before_step(int64_t) override { normalize_prototypes(); }

  StepOutput loss(const MultiCropBatch& batch, int64_t, int) override {
    // Crops of one size go through the trunk together, every crop through the head together
    // (the authors' forward_head on the concatenation: its BN sees all crops).
    std::vector<torch::Tensor> embeddings =
        embed_all_crops(batch, model_->backbone, model_->projection_head);
    std::vector<torch::Tensor> scores;
    for (const auto& z : embeddings) scores.push_back(model_->prototypes->forward(z));
    std::vector<torch::Tensor> assign_embeddings;
    for (int64_t a : config_.crops_for_assign) assign_embeddings.push_back(embeddings[a].detach());

    SwavLossOutput out = swav_loss(scores, options_, collective_, queue_.get(),
                                   model_->prototypes->weight.detach(), assign_embeddings);
    StepOutput step;
    step.loss = out.loss;
    step.logs["code_entropy"] = out.code_entropy;
    step.logs["max_prototype_share"] = out.max_prototype_share;
    step.logs["queue_in_use"] = queue_ && queue_->in_use() ? 1.0 : 0.0;
    return step;
  }

  void after_backward(int64_t iteration) override {
    // The authors drop the prototypes' gradient for the first iterations: an early, still
    // random assignment would otherwise drag the prototypes towards a degenerate solution.
    if (config_.freeze_prototypes || iteration < freeze_iterations_)
      model_->prototypes->weight.mutable_grad() = torch::Tensor();
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    archive.write("has_queue", torch::tensor(queue_ ? 1 : 0));
    if (queue_) {
      torch::serialize::OutputArchive q;
      queue_->save(q);
      archive.write("queue", q);
    }
  }

  void load_state(torch::serialize::InputArchive& archive) override {
    torch::Tensor has_queue;
    archive.read("has_queue", has_queue);
    if (has_queue.item<int64_t>() == 0) return;
    int64_t length = FeatureQueue::trimmed_queue_length(config_.queue_length, config_.batch_size);
    queue_ = std::make_unique<FeatureQueue>(static_cast<int64_t>(config_.crops_for_assign.size()),
                                            length / collective_.world_size(), config_.feat_dim,
                                            device_, training_dtype(config_));
    torch::serialize::InputArchive q;
    archive.read("queue", q);
    queue_->load(q);
  }

  double collapse_loss() const override {
    return std::log(static_cast<double>(config_.prototypes));
  }

 private:
  // C's rows live on the unit sphere so that z . c_k is a cosine similarity.
  void normalize_prototypes() {
    torch::NoGradGuard no_grad;
    auto& w = model_->prototypes->weight;
    w.copy_(torch::nn::functional::normalize(
        w, torch::nn::functional::NormalizeFuncOptions().dim(1).p(2)));
  }

  const RunConfig config_;  // a copy: the method may outlive the caller's config
  Collective& collective_;
  torch::Device device_;
  SwavModel model_;
  SwavLossOptions options_;
  // freeze_prototypes_iters, or freeze_prototypes_epochs in this run's iterations.
  const int64_t freeze_iterations_;
  std::unique_ptr<FeatureQueue> queue_;
};

}  // namespace

void register_swav_methods() {
  register_method_spec(swav_method_spec());
  register_method("swav", [](const MethodContext& c) { return std::make_unique<Swav>(c); });
}

}  // namespace swavbench
