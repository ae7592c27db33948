// The "simclr" method (Chen et al. 2020) on the shared multi-crop pipeline, as the SwAV paper's
// multi-crop SimCLR baseline: backbone f -> projection head g -> L2 normalise -> NT-Xent over
// all crops of the batch (baselines/losses.h gives the exact loss).
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <vector>

#include "baselines/baselines.h"
#include "baselines/losses.h"
#include "harness/models/heads.h"
#include "harness/train/method.h"

namespace swavbench {
namespace {

class SimclrModelImpl : public torch::nn::Module {
 public:
  SimclrModelImpl(const RunConfig& config, int64_t in_channels)
      : backbone(register_module("backbone", make_backbone(config, in_channels))),
        // SimCLR's 2-layer MLP head g. Its reference (TensorFlow) implementation puts BN after
        // the hidden linear layer, as SwAV's head does; keeping the same head for SwAV and
        // SimCLR makes the table rows differ only in the loss.
        projection_head(register_module(
            "projection_head",
            ProjectionHead(backbone->feature_dim(), config.hidden_dim, config.feat_dim))) {}

  ResNet backbone;
  ProjectionHead projection_head;
};
TORCH_MODULE(SimclrModel);

class Simclr final : public Method {
 public:
  explicit Simclr(const MethodContext& ctx)
      : config_(ctx.config), collective_(ctx.collective), model_(ctx.config, ctx.in_channels) {
    model_->to(ctx.device);
  }

  torch::nn::Module& module() override { return *model_; }
  ResNet backbone() override { return model_->backbone; }

  StepOutput loss(const MultiCropBatch& batch, int64_t, int) override {
    // The same forward as SwAV's (trunk per crop size, head over all crops), so the rows of a
    // table differ only in the loss.
    std::vector<torch::Tensor> embeddings =
        embed_all_crops(batch, model_->backbone, model_->projection_head);
    StepOutput step;
    step.loss = nt_xent_loss(embeddings, config_.temperature, collective_);
    step.logs["positive_sim"] = positive_similarity(embeddings);
    return step;
  }

  // When every embedding is the same, every logit equals 1/T and each anchor's softmax is
  // uniform over its N - 1 candidates (N = crops x global batch): loss = ln(N - 1). Embeddings
  // of an untrained network are close to this too, so the alarm means "nothing learned".
  double collapse_loss() const override {
    const double n = static_cast<double>(config_.total_crops()) * config_.batch_size;
    return n > 2 ? std::log(n - 1) : 0.0;
  }

 private:
  const RunConfig config_;  // a copy: the method may outlive the caller's config
  Collective& collective_;
  SimclrModel model_;
};

}  // namespace

std::unique_ptr<Method> make_simclr(const MethodContext& context) {
  return std::make_unique<Simclr>(context);
}

}  // namespace swavbench
