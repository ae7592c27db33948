#include "harness/train/evaluation.h"

#include <torch/torch.h>

#include <cmath>

#include "harness/core/check.h"
#include "harness/core/text.h"
#include "harness/data/loader.h"
#include "harness/data/multicrop.h"
#include "harness/data/sources.h"

namespace swavbench {
namespace {

std::map<std::string, EvalProtocol>& registry() {
  static std::map<std::string, EvalProtocol> protocols;
  return protocols;
}

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a table";
  return "nil";
}

std::string range_text(const OptionRange& r) {
  if (std::isinf(r.max)) return fmt::format("{} {}", r.min_inclusive ? ">=" : ">", r.min);
  return fmt::format("in {}{}, {}]", r.min_inclusive ? "[" : "(", r.min, r.max);
}

// `given` converted to the type of `def` (the option's default), or an InputError that names
// the option, what was given and what would be right.
nlohmann::json typed_option(const nlohmann::json& def, const nlohmann::json& given,
                            const std::string& key, const EvalProtocol& protocol,
                            const std::string& where) {
  auto wrong = [&](const std::string& want) {
    return InputError(fmt::format("{}: option '{}' of protocol '{}' must be {}, got {} ({})", where,
                                  key, protocol.name, want, given.dump(), json_type_name(given)));
  };
  if (def.is_array()) {
    const nlohmann::json element = def.empty() ? nlohmann::json(0.0) : def.front();
    // One value stands for a list of one; it is kept as given (a scalar), so that options
    // stored before this check still match.
    if (!given.is_array()) {
      if (given.is_object())
        throw wrong(fmt::format("a list of values each {}", json_type_name(element)));
      return typed_option(element, given, key, protocol, where);
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : given) {
      if (item.is_array() || item.is_object())
        throw wrong(fmt::format("a list of values each {}", json_type_name(element)));
      out.push_back(typed_option(element, item, key, protocol, where));
    }
    if (out.empty()) throw wrong("a list with at least one value");
    return out;
  }
  if (def.is_number_integer()) {
    if (given.is_number_integer()) return given;
    if (given.is_number_float()) {
      const double v = given.get<double>();
      if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.0e15)
        return static_cast<int64_t>(v);
    }
    throw wrong("an integer");
  }
  if (def.is_number()) {
    if (!given.is_number()) throw wrong("a number");
    if (!std::isfinite(given.get<double>())) throw wrong("a finite number");
    return given.get<double>();
  }
  if (def.is_string()) {
    if (!given.is_string()) throw wrong("a string");
    return given;
  }
  if (def.is_boolean()) {
    if (!given.is_boolean()) throw wrong("true or false");
    return given;
  }
  return given;
}

void check_range(const nlohmann::json& value, const OptionRange& range, const std::string& key,
                 const EvalProtocol& protocol, const std::string& where) {
  if (value.is_array()) {
    for (const auto& item : value) check_range(item, range, key, protocol, where);
    return;
  }
  if (!value.is_number()) return;
  const double v = value.get<double>();
  const bool ok = (range.min_inclusive ? v >= range.min : v > range.min) && v <= range.max;
  SB_INPUT_CHECK(ok, "{}: option '{}' of protocol '{}' must be {}, got {}", where, key,
                 protocol.name, range_text(range), value.dump());
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
  const int native = config.dataset == "cifar10" ? 32 : 28;
  return {native, native,
          fmt::format("the dataset's native resolution ({} px), whatever the pretraining crops",
                      native)};
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
  std::vector<torch::Tensor> feats, labels;
  const int64_t batch = 500;
  std::vector<int64_t> order = epoch_order(data->size(), 0, 0, /*shuffle=*/false);
  for (int64_t begin = 0; begin < data->size(); begin += batch) {
    int64_t end = std::min(data->size(), begin + batch);
    std::vector<int64_t> idx(order.begin() + begin, order.begin() + end);
    RawBatch raw = gather_batch(*data, idx, config_.workers, device_);
    torch::Tensor x = center_crop_normalize(raw.images, resize, crop, AugmentOptions{});
    // The kNN monitor sees the training weights, float64 in a reference run (precision = fp64).
    x = x.to(backbone_->parameters().front().scalar_type());
    feats.push_back(backbone_->forward(x).to(torch::kCPU, torch::kFloat));
    labels.push_back(raw.labels.to(torch::kCPU));
  }
  Features f{torch::cat(feats), torch::cat(labels)};
  return cache_.emplace(key, std::move(f)).first->second;
}

void register_eval(EvalProtocol protocol) {
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

nlohmann::json merge_eval_options(const EvalProtocol& protocol, const nlohmann::json& given,
                                  const std::string& where) {
  nlohmann::json out = protocol.default_options;
  if (given.is_null()) return out;
  SB_INPUT_CHECK(given.is_object(), "{}: options of '{}' must be a table, got {}", where,
                 protocol.name, given.dump());
  std::vector<std::string> keys;
  for (auto it = out.begin(); it != out.end(); ++it) keys.push_back(it.key());
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (!out.contains(it.key())) {
      std::string hint = closest_match(it.key(), keys);
      std::string all;
      for (const auto& k : keys) all += (all.empty() ? "" : ", ") + k;
      throw InputError(fmt::format(
          "{}: unknown option '{}' for protocol '{}'{}; valid: {}", where, it.key(), protocol.name,
          hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), all));
    }
    out[it.key()] = typed_option(out[it.key()], it.value(), it.key(), protocol, where);
  }
  // Defaults are checked too: a protocol's own default outside its range is a bug worth seeing.
  for (const auto& [key, range] : protocol.ranges) {
    SB_CHECK(out.contains(key), "protocol '{}' has a range for '{}', which is not an option",
             protocol.name, key);
    check_range(out[key], range, key, protocol, where);
  }
  return out;
}

}  // namespace swavbench
