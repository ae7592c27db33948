// Evaluation protocols: the registry by name, the context a protocol receives, and the frozen
// feature extraction shared by kNN and the linear probes. Protocol implementations live in
// evals/; each returns its metrics and its protocol card (the settings that produced them).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/core/config.h"
#include "harness/data/dataset.h"
#include "harness/eval/protocol_options.h"
#include "harness/train/method.h"

namespace swavbench {

struct Features {
  torch::Tensor features;  // N x d float32, CPU
  torch::Tensor labels;    // N int64, CPU
};

// Features of a split computed once per bench.eval call and shared by its protocols.
class FeatureCache {
 public:
  FeatureCache(const RunConfig& config, ResNet backbone, torch::Device device);
  // Global-average-pooled backbone features (eval mode, centre crop, no augmentation) at the
  // eval transform's resolution (crop > 0: a protocol's `crop` option).
  const Features& get(const std::string& split, int64_t subset, int crop = 0);
  const RunConfig& config() const { return config_; }
  // What the features are, for protocol cards: the backbone's pooled output, or (a method whose
  // spec says pixel_features) the normalised pixels of the eval crop.
  std::string description() const;
  // Classes of the run's dataset (not the largest label seen, which a small test subset can
  // miss).
  int64_t num_classes() const;
  // The evaluation transform's resize and crop for this config's data (eval_transform below);
  // crop > 0 is a protocol's `crop` option.
  std::pair<int, int> eval_resize_crop(int crop = 0) const;

 private:
  // The run's method is a control whose features are the pixels (MethodSpec::pixel_features).
  bool serves_pixels() const;
  const RunConfig& config_;
  ResNet backbone_;
  torch::Device device_;
  std::map<std::string, Features> cache_;
};

// The resolution every evaluation protocol scores a run at. The paper scores every row of an
// ablation at ImageNet's full 224 px whatever crops it pretrained on, so this is the dataset's
// native resolution, not the run's first crop size: 28 px for Fashion-MNIST, 32 px for CIFAR-10,
// and for ImageFolder (decoded at load_size) the paper's resize 256 + centre crop 224, i.e.
// centre crop round(load_size x 0.875). crop > 0 (a protocol's `crop` option) overrides it:
// small images are resized to it, ImageFolder images resized to crop / 0.875 and centre-cropped.
struct EvalTransform {
  int resize = 0;
  int crop = 0;
  std::string rule;  // for the protocol card
};
EvalTransform eval_transform(const RunConfig& config, int crop = 0);

// A protocol's `test_split` option: "test", or "val" where the dataset has a validation split
// (fashion-scenes), for choosing settings without looking at the test split. InputError naming
// the protocol otherwise.
std::string eval_test_split(const RunConfig& config, const nlohmann::json& options,
                            const std::string& protocol);

struct EvalContext {
  const RunConfig& config;
  Method& method;
  torch::Device device;
  nlohmann::json options;  // the script's options for this protocol (validated by it)
  FeatureCache& features;
};

struct EvalResult {
  std::vector<std::pair<std::string, double>> metrics;  // metric name -> value
  nlohmann::json card;                                  // the protocol card
  // Non-empty: the protocol's training diverged, and why (harness/eval/divergence.h). Then
  // `metrics` is empty: the driver records the protocol as diverged (metric "diverged", the
  // reason in the card), and tables print "diverged" instead of a number.
  std::string diverged;

  // Records `reason` (protocol_divergence's; "" = measured, nothing changes): no metric, the
  // reason in `diverged` and in the card.
  void mark_diverged(const std::string& reason) {
    if (reason.empty()) return;
    diverged = reason;
    metrics.clear();
    card["diverged"] = reason;
  }
};

// A protocol: its spec (name, doc, options; harness/eval/protocol_options.h) and its code.
struct EvalProtocol : ProtocolSpec {
  explicit EvalProtocol(ProtocolSpec spec = {}) : ProtocolSpec(std::move(spec)) {}
  std::function<EvalResult(EvalContext&)> run;
};

// Registers the protocol and its spec (register_protocol_spec).
void register_eval(EvalProtocol protocol);
const EvalProtocol& find_eval(const std::string& name, const std::string& where);
std::vector<std::string> eval_names();

// Options = defaults <- given, checked (merge_protocol_options, protocol_options.h).
inline nlohmann::json merge_eval_options(const EvalProtocol& protocol, const nlohmann::json& given,
                                         const std::string& where) {
  return merge_protocol_options(protocol, given, where);
}

}  // namespace swavbench
