#include "harness/eval/evaluation.h"

#include <torch/torch.h>

#include <cmath>

#include "harness/core/check.h"
#include "harness/core/method_spec.h"
#include "harness/core/text.h"
#include "harness/data/loader.h"
#include "harness/data/multicrop.h"
#include "harness/data/scenes.h"
#include "harness/data/sources.h"

namespace swavbench {
namespace {

std::map<std::string, EvalProtocol>& registry() {
  static std::map<std::string, EvalProtocol> protocols;
  return protocols;
}

}  // namespace

FeatureCache::FeatureCache(const RunConfig& config, ResNet backbone, torch::Device device)
    : config_(config), backbone_(std::move(backbone)), device_(device) {}

int64_t FeatureCache::num_classes() const {
  return open_dataset(config_.dataset, config_.data_path, "train", config_.load_size)
      ->num_classes();
}

EvalTransform eval_transform(const RunConfig& config, int crop) {
  SB_INPUT_CHECK(crop >= 0,
                 "evaluation crop must be >= 0 (0: the dataset's native resolution), got {}", crop);
  const bool folder = config.dataset == "imagefolder";
  if (crop > 0) {
    return {folder ? static_cast<int>(std::lround(crop / 0.875)) : crop, crop,
            fmt::format("protocol option crop = {}", crop)};
  }
  if (folder) {
    SB_INPUT_CHECK(config.load_size > 0, "dataset 'imagefolder' needs load_size > 0 (e.g. 256)");
    const int native = static_cast<int>(std::lround(config.load_size * 0.875));
    return {config.load_size, native,
            fmt::format("the dataset's resolution: decoded at load_size {}, centre crop {} "
                        "(the paper's 256 -> 224)",
                        config.load_size, native)};
  }
  int native = config.dataset == "cifar10" ? 32 : 28;
  if (config.dataset == "fashion-scenes") native = fashion_scenes_canvas(config.load_size);
  return {native, native,
          fmt::format("the dataset's native resolution ({} px), whatever the pretraining crops",
                      native)};
}

std::string eval_test_split(const RunConfig& config, const nlohmann::json& options,
                            const std::string& protocol) {
  const std::string split = options.value("test_split", std::string("test"));
  SB_INPUT_CHECK(split == "test" || split == "val",
                 "{}: option test_split must be 'test' or 'val', got '{}'", protocol, split);
  SB_INPUT_CHECK(dataset_has_split(config.dataset, split),
                 "{}: test_split = 'val' needs a dataset with a validation split (fashion-scenes); "
                 "dataset '{}' has train and test only",
                 protocol, config.dataset);
  return split;
}

bool FeatureCache::serves_pixels() const {
  const MethodSpec* spec = find_method_spec(config_.method);
  return spec && spec->pixel_features;
}

std::string FeatureCache::description() const {
  if (serves_pixels())
    return "the pixels of the eval crop, normalised as the network's input and flattened";
  return "global average pool, backbone in eval mode";
}

std::pair<int, int> FeatureCache::eval_resize_crop(int crop) const {
  EvalTransform t = eval_transform(config_, crop);
  return {t.resize, t.crop};
}

const Features& FeatureCache::get(const std::string& split, int64_t subset, int crop_option) {
  auto [resize, crop] = eval_resize_crop(crop_option);
  std::string key = split + "/" + std::to_string(subset) + "/" + std::to_string(resize) + "/" +
                    std::to_string(crop);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  auto full = open_dataset(config_.dataset, config_.data_path, split, config_.load_size);
  // Eval subsets use a fixed seed so every run of a table is scored on the same images.
  auto data = balanced_subset_of(full, subset, /*seed=*/12345);
  torch::NoGradGuard no_grad;
  backbone_->eval();
  const bool pixels = serves_pixels();
  std::vector<torch::Tensor> feats, labels;
  const int64_t batch = 500;
  std::vector<int64_t> order = epoch_order(data->size(), 0, 0, /*shuffle=*/false);
  for (int64_t begin = 0; begin < data->size(); begin += batch) {
    int64_t end = std::min(data->size(), begin + batch);
    std::vector<int64_t> idx(order.begin() + begin, order.begin() + end);
    RawBatch raw = gather_batch(*data, idx, config_.workers, device_);
    torch::Tensor x = center_crop_normalize(raw.images, resize, crop, AugmentOptions{});
    // The kNN monitor sees the training weights, float64 in a reference run (precision = fp64).
    if (pixels) {
      feats.push_back(x.flatten(1).to(torch::kCPU, torch::kFloat));
    } else {
      x = x.to(backbone_->parameters().front().scalar_type());
      feats.push_back(backbone_->forward(x).to(torch::kCPU, torch::kFloat));
    }
    labels.push_back(raw.labels.to(torch::kCPU));
  }
  Features f{torch::cat(feats), torch::cat(labels)};
  return cache_.emplace(key, std::move(f)).first->second;
}

void register_eval(EvalProtocol protocol) {
  register_protocol_spec(protocol);
  std::string name = protocol.name;
  registry()[name] = std::move(protocol);
}

const EvalProtocol& find_eval(const std::string& name, const std::string& where) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string hint = closest_match(name, eval_names());
    std::string all;
    for (const auto& n : eval_names()) all += (all.empty() ? "" : ", ") + n;
    throw InputError(
        fmt::format("{}: unknown evaluation protocol '{}'{}; available: {}", where, name,
                    hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), all));
  }
  return it->second;
}

std::vector<std::string> eval_names() {
  std::vector<std::string> names;
  for (const auto& [name, p] : registry()) names.push_back(name);
  return names;
}

}  // namespace swavbench
