// Evaluation protocols: the registry by name, the context a protocol receives, and the frozen
// feature extraction shared by kNN and the linear probes. Protocol implementations live in
// evals/; each returns its metrics and its protocol card (the settings that produced them).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/core/config.h"
#include "harness/data/dataset.h"
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
  // Global-average-pooled backbone features (eval mode, centre crop, no augmentation).
  const Features& get(const std::string& split, int64_t subset);
  const RunConfig& config() const { return config_; }
  // Classes of the run's dataset (not the largest label seen, which a small test subset can
  // miss).
  int64_t num_classes() const;
  // The evaluation transform's resize and crop for this config's data.
  std::pair<int, int> eval_resize_crop() const;

 private:
  const RunConfig& config_;
  ResNet backbone_;
  torch::Device device_;
  std::map<std::string, Features> cache_;
};

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
};

struct EvalProtocol {
  std::string name;
  std::string doc;
  nlohmann::json default_options;  // every accepted option key with its default
  std::function<EvalResult(EvalContext&)> run;
};

void register_eval(EvalProtocol protocol);
const EvalProtocol& find_eval(const std::string& name, const std::string& where);
std::vector<std::string> eval_names();

// Options = defaults <- given; an unknown key is an InputError naming the closest valid one.
nlohmann::json merge_eval_options(const EvalProtocol& protocol, const nlohmann::json& given,
                                  const std::string& where);

}  // namespace swavbench
