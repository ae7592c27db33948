#include "harness/train/method.h"

#include <torch/torch.h>

#include "harness/core/check.h"
#include "harness/core/method_spec.h"
#include "harness/core/text.h"
#include "harness/train/control_specs.h"

namespace swavbench {
namespace {

std::map<std::string, MethodFactory>& registry() {
  static std::map<std::string, MethodFactory> methods;
  return methods;
}

// Supervised baseline: a linear classifier on the pooled backbone features, cross-entropy over
// every crop (so multi-crop applies to it as to the self-supervised methods).
class SupervisedModelImpl : public torch::nn::Module {
 public:
  SupervisedModelImpl(const RunConfig& config, int64_t in_channels, int64_t num_classes)
      : backbone(register_module("backbone", make_backbone(config, in_channels))),
        classifier(register_module("classifier",
                                   torch::nn::Linear(backbone->feature_dim(), num_classes))) {}
  ResNet backbone;
  torch::nn::Linear classifier;
};
TORCH_MODULE(SupervisedModel);

class Supervised final : public Method {
 public:
  explicit Supervised(const MethodContext& ctx)
      : model_(ctx.config, ctx.in_channels, ctx.num_classes) {
    model_->to(ctx.device);
  }
  torch::nn::Module& module() override { return *model_; }
  ResNet backbone() override { return model_->backbone; }
  StepOutput loss(const MultiCropBatch& batch, int64_t, int) override {
    torch::Tensor total = torch::zeros({}, batch.crops[0].options());
    int64_t correct = 0, seen = 0;
    for (const auto& [begin, end] : batch.size_groups) {
      std::vector<torch::Tensor> group(batch.crops.begin() + begin, batch.crops.begin() + end);
      torch::Tensor logits = model_->classifier(model_->backbone(torch::cat(group)));
      torch::Tensor targets = batch.labels.repeat({end - begin});
      total = total + torch::nn::functional::cross_entropy(logits, targets) * (end - begin);
      correct += logits.argmax(1).eq(targets).sum().item<int64_t>();
      seen += targets.size(0);
    }
    StepOutput out;
    out.loss = total / static_cast<double>(batch.crops.size());
    out.logs["train_top1"] = 100.0 * correct / std::max<int64_t>(1, seen);
    return out;
  }

 private:
  SupervisedModel model_;
};

// The random-initialisation control: the same backbone, never trained.
class RandomControl final : public Method {
 public:
  explicit RandomControl(const MethodContext& ctx)
      : backbone_(make_backbone(ctx.config, ctx.in_channels)) {
    backbone_->to(ctx.device);
  }
  torch::nn::Module& module() override { return *backbone_; }
  ResNet backbone() override { return backbone_; }
  std::string backbone_prefix() const override { return ""; }
  bool trains() const override { return false; }
  StepOutput loss(const MultiCropBatch&, int64_t, int) override {
    SB_CHECK(false, "the random control is never trained");
  }

 private:
  ResNet backbone_;
};

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> Method::trainable_parameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module().named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  return out;
}

std::vector<torch::Tensor> encode_by_size_group(
    const MultiCropBatch& batch, const std::function<torch::Tensor(const torch::Tensor&)>& encode) {
  std::vector<torch::Tensor> outputs;
  for (const auto& [begin, end] : batch.size_groups) {
    std::vector<torch::Tensor> group(batch.crops.begin() + begin, batch.crops.begin() + end);
    for (auto& chunk : encode(torch::cat(group)).chunk(end - begin)) outputs.push_back(chunk);
  }
  return outputs;
}

torch::Tensor normalized_embedding(ResNet& backbone, ProjectionHead& head, const torch::Tensor& x) {
  return torch::nn::functional::normalize(
      head->forward(backbone->forward(x)),
      torch::nn::functional::NormalizeFuncOptions().dim(1).p(2));
}

std::vector<torch::Tensor> embed_all_crops(const MultiCropBatch& batch, ResNet& backbone,
                                           ProjectionHead& head) {
  std::vector<torch::Tensor> trunk_outputs;
  for (const auto& [begin, end] : batch.size_groups) {
    std::vector<torch::Tensor> group(batch.crops.begin() + begin, batch.crops.begin() + end);
    trunk_outputs.push_back(backbone->forward(torch::cat(group)));
  }
  // Size groups are contiguous runs of crops, so the concatenation is in crop order and every
  // crop holds the same B rows.
  torch::Tensor z =
      torch::nn::functional::normalize(head->forward(torch::cat(trunk_outputs)),
                                       torch::nn::functional::NormalizeFuncOptions().dim(1).p(2));
  return z.chunk(static_cast<int64_t>(batch.crops.size()));
}

void register_method(const std::string& name, MethodFactory factory) {
  registry()[name] = std::move(factory);
}

std::unique_ptr<Method> make_method(const std::string& name, const MethodContext& context) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string hint = closest_match(name, method_names());
    throw InputError(fmt::format("method '{}' is not available in this build{}", name,
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }
  return it->second(context);
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

ResNet make_backbone(const RunConfig& config, int64_t in_channels) {
  ResNetOptions options;
  options.arch = config.arch;
  options.width = config.width;
  options.small_stem = config.small_stem;
  options.in_channels = static_cast<int>(in_channels);
  options.zero_init_residual = false;  // as the authors' resnet50.py (main_swav.py never sets it)
  return ResNet(options);
}

void register_harness_methods() {
  register_method_spec(supervised_method_spec());
  register_method_spec(random_method_spec());
  register_method_spec(pixels_method_spec());

  register_method("supervised",
                  [](const MethodContext& c) { return std::make_unique<Supervised>(c); });
  register_method("random",
                  [](const MethodContext& c) { return std::make_unique<RandomControl>(c); });
  // The pixels control keeps an (unused) initial backbone so that it is a run like the others:
  // a checkpoint, a weights digest; its features come from FeatureCache, not from the network.
  register_method("pixels",
                  [](const MethodContext& c) { return std::make_unique<RandomControl>(c); });
}

}  // namespace swavbench
