#include "harness/core/config.h"

#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "harness/core/check.h"
#include "harness/core/float32_range.h"
#include "harness/core/method_spec.h"
#include "harness/core/provenance.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

using nlohmann::json;

std::string describe(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return fmt::format("{} {}", value.type_name(), text);
}

// One config key: its doc, how to read it from JSON into a RunConfig and back.
struct Binding {
  ConfigKeyDoc doc;
  std::function<void(RunConfig&, const json&, const std::string& where)> set;
  std::function<json(const RunConfig&)> get;
};

template <typename T>
T read_as(const json& v, const std::string& key, const std::string& where);

// Integers arrive from Lua as JSON integers or as whole floats (Lua 5.4 keeps 1e3 a float).
// A value outside the field's range is refused, never narrowed: a cast would turn
// batch_size = 4294967360 into 64 and silently reuse a cached batch-64 run.
int64_t read_integer(const json& v, const std::string& key, const std::string& where, int64_t lo,
                     int64_t hi) {
  auto out_of_range = [&]() {
    return InputError(fmt::format("{}: config key '{}' must be an integer in [{}, {}], got {}",
                                  where, key, lo, hi, describe(v)));
  };
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(hi)) throw out_of_range();
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < lo || i > hi) throw out_of_range();
    return i;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) {
      // 2^63 is exactly representable; every double below it converts without overflow.
      if (d < static_cast<double>(lo) || d >= 9223372036854775808.0 || static_cast<int64_t>(d) > hi)
        throw out_of_range();
      return static_cast<int64_t>(d);
    }
  }
  throw InputError(
      fmt::format("{}: config key '{}' must be an integer, got {}", where, key, describe(v)));
}

template <>
int64_t read_as<int64_t>(const json& v, const std::string& key, const std::string& where) {
  return read_integer(v, key, where, std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max());
}
template <>
int read_as<int>(const json& v, const std::string& key, const std::string& where) {
  return static_cast<int>(read_integer(v, key, where, std::numeric_limits<int>::min(),
                                       std::numeric_limits<int>::max()));
}
template <>
double read_as<double>(const json& v, const std::string& key, const std::string& where) {
  SB_INPUT_CHECK(v.is_number(), "{}: config key '{}' must be a number, got {}", where, key,
                 describe(v));
  SB_INPUT_CHECK(std::isfinite(v.get<double>()), "{}: config key '{}' must be finite, got {}",
                 where, key, describe(v));
  SB_INPUT_CHECK(representable_as_float32(v.get<double>()),
                 "{}: config key '{}' is {}, which float32 training arithmetic cannot hold; it "
                 "must be {}",
                 where, key, v.dump(), float32_range_text());
  return v.get<double>();
}
template <>
bool read_as<bool>(const json& v, const std::string& key, const std::string& where) {
  SB_INPUT_CHECK(v.is_boolean(), "{}: config key '{}' must be true or false, got {}", where, key,
                 describe(v));
  return v.get<bool>();
}
template <>
std::string read_as<std::string>(const json& v, const std::string& key, const std::string& where) {
  SB_INPUT_CHECK(v.is_string(), "{}: config key '{}' must be a string, got {}", where, key,
                 describe(v));
  return v.get<std::string>();
}

template <typename T>
Binding bind(const char* key, const char* type, const char* doc, T RunConfig::*field) {
  return Binding{{key, type, doc},
                 [key, field](RunConfig& c, const json& v, const std::string& where) {
                   c.*field = read_as<T>(v, key, where);
                 },
                 [field](const RunConfig& c) { return json(c.*field); }};
}

// A string key restricted to `choices`.
Binding bind_choice(const char* key, const char* doc, std::string RunConfig::*field,
                    std::vector<std::string> choices) {
  std::string type = "string: ";
  for (size_t i = 0; i < choices.size(); ++i) type += (i ? " | " : "") + choices[i];
  return Binding{{key, type, doc},
                 [key, field, choices](RunConfig& c, const json& v, const std::string& where) {
                   std::string s = read_as<std::string>(v, key, where);
                   if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
                     std::string hint = closest_match(s, choices);
                     std::string all;
                     for (const auto& ch : choices) all += (all.empty() ? "" : ", ") + ch;
                     throw InputError(fmt::format(
                         "{}: config key '{}' has no value '{}'{}; valid values: {}", where, key, s,
                         hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), all));
                   }
                   c.*field = s;
                 },
                 [field](const RunConfig& c) { return json(c.*field); }};
}

json crops_to_json(const std::vector<CropSpec>& crops) {
  json out = json::array();
  for (const auto& c : crops)
    out.push_back({{"count", c.count},
                   {"size", c.size},
                   {"min_scale", c.min_scale},
                   {"max_scale", c.max_scale}});
  return out;
}

std::vector<CropSpec> crops_from_json(const json& v, const std::string& where) {
  SB_INPUT_CHECK(v.is_array() && !v.empty(),
                 "{}: config key 'crops' must be a list of {{count=, size=, min_scale=, "
                 "max_scale=}} tables, got {}",
                 where, describe(v));
  std::vector<CropSpec> out;
  static const std::vector<std::string> crop_keys{"count", "size", "min_scale", "max_scale"};
  for (size_t i = 0; i < v.size(); ++i) {
    const json& item = v[i];
    std::string ctx = fmt::format("crops[{}]", i + 1);
    SB_INPUT_CHECK(item.is_object(),
                   "{}: {} must be a table {{count=, size=, min_scale=, "
                   "max_scale=}}, got {}",
                   where, ctx, describe(item));
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (std::find(crop_keys.begin(), crop_keys.end(), it.key()) == crop_keys.end()) {
        std::string hint = closest_match(it.key(), crop_keys);
        throw InputError(fmt::format(
            "{}: unknown key '{}' in {}{}; valid keys: count, size, "
            "min_scale, max_scale",
            where, it.key(), ctx, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
      }
    }
    for (const auto& k : crop_keys)
      SB_INPUT_CHECK(item.contains(k), "{}: {} is missing '{}'", where, ctx, k);
    CropSpec c;
    c.count = read_as<int>(item["count"], ctx + ".count", where);
    c.size = read_as<int>(item["size"], ctx + ".size", where);
    c.min_scale = read_as<double>(item["min_scale"], ctx + ".min_scale", where);
    c.max_scale = read_as<double>(item["max_scale"], ctx + ".max_scale", where);
    out.push_back(c);
  }
  return out;
}

const std::vector<Binding>& bindings() {
  static const std::vector<Binding> all = [] {
    std::vector<Binding> b;
    // The methods are those registered (MethodSpec): no list of names lives here.
    b.push_back(Binding{{"method", "string: a registered method", "pretraining method"},
                        [](RunConfig& c, const json& v, const std::string& where) {
                          c.method =
                              method_spec(read_as<std::string>(v, "method", where), where).name;
                        },
                        [](const RunConfig& c) { return json(c.method); }});
    b.push_back(bind_choice("arch", "backbone", &RunConfig::arch,
                            {"resnet10", "resnet18", "resnet34", "resnet50"}));
    b.push_back(
        bind("width", "number", "width multiplier on the base width 64", &RunConfig::width));
    b.push_back(bind("small_stem", "bool", "3x3 stride-1 stem without max-pool (28-32 px)",
                     &RunConfig::small_stem));
    b.push_back(bind_choice("dataset", "training data", &RunConfig::dataset,
                            {"fashion-mnist", "fashion-scenes", "cifar10", "imagefolder"}));
    b.push_back(
        bind("data_path", "string", "dataset location ('' = default)", &RunConfig::data_path));
    b.push_back(bind("subset", "integer", "class-balanced training subset size (0 = all)",
                     &RunConfig::subset));
    b.push_back(bind(
        "load_size", "integer",
        "imagefolder: decode to this square size; fashion-scenes: the canvas side (32..64, 0 = 32)",
        &RunConfig::load_size));
    b.push_back(Binding{
        {"crops", "list of {count, size, min_scale, max_scale}", "multi-crop specification"},
        [](RunConfig& c, const json& v, const std::string& where) {
          c.crops = crops_from_json(v, where);
        },
        [](const RunConfig& c) { return crops_to_json(c.crops); }});
    b.push_back(Binding{
        {"crops_for_assign", "list of integers", "0-based crop indices whose codes are targets"},
        [](RunConfig& c, const json& v, const std::string& where) {
          SB_INPUT_CHECK(v.is_array() && !v.empty(),
                         "{}: config key 'crops_for_assign' must be a non-empty list of crop "
                         "indices (0-based), got {}",
                         where, describe(v));
          c.crops_for_assign.clear();
          for (const auto& i : v)
            c.crops_for_assign.push_back(read_as<int64_t>(i, "crops_for_assign", where));
        },
        [](const RunConfig& c) { return json(c.crops_for_assign); }});
    b.push_back(bind_choice("augment", "augmentation recipe", &RunConfig::augment,
                            {"swav", "jitter", "light", "none"}));
    b.push_back(bind("batch_size", "integer", "global batch size", &RunConfig::batch_size));
    b.push_back(bind("epochs", "integer", "training epochs", &RunConfig::epochs));
    b.push_back(bind_choice("optimizer", "optimiser", &RunConfig::optimizer, {"sgd", "lars"}));
    b.push_back(bind("base_lr", "number", "peak learning rate", &RunConfig::base_lr));
    b.push_back(
        bind("final_lr", "number", "learning rate at the end of the cosine", &RunConfig::final_lr));
    b.push_back(bind("start_warmup", "number", "learning rate at the start of warm-up",
                     &RunConfig::start_warmup));
    b.push_back(
        bind("warmup_epochs", "integer", "linear warm-up epochs", &RunConfig::warmup_epochs));
    b.push_back(bind("momentum", "number", "SGD momentum", &RunConfig::momentum));
    b.push_back(bind("weight_decay", "number", "weight decay", &RunConfig::weight_decay));
    b.push_back(bind("trust_coefficient", "number", "LARS trust coefficient",
                     &RunConfig::trust_coefficient));
    b.push_back(bind("lars_exclude_bn_bias", "bool", "exclude BN and bias from LARS",
                     &RunConfig::lars_exclude_bn_bias));
    b.push_back(bind("hidden_dim", "integer", "projection head hidden width (0 = linear)",
                     &RunConfig::hidden_dim));
    b.push_back(bind("feat_dim", "integer", "embedding dimension", &RunConfig::feat_dim));
    b.push_back(bind("temperature", "number", "softmax temperature T", &RunConfig::temperature));
    b.push_back(bind("epsilon", "number", "Sinkhorn entropy regularisation", &RunConfig::epsilon));
    b.push_back(
        bind("sinkhorn_iters", "integer", "Sinkhorn-Knopp iterations", &RunConfig::sinkhorn_iters));
    b.push_back(bind("prototypes", "integer", "number of prototypes K", &RunConfig::prototypes));
    b.push_back(bind("freeze_prototypes", "bool", "keep the random prototypes fixed",
                     &RunConfig::freeze_prototypes));
    b.push_back(bind("freeze_prototypes_iters", "integer",
                     "iterations during which prototype gradients are dropped (-1: use "
                     "freeze_prototypes_epochs)",
                     &RunConfig::freeze_prototypes_iters));
    b.push_back(bind("freeze_prototypes_epochs", "number",
                     "epochs during which prototype gradients are dropped (the authors': 1)",
                     &RunConfig::freeze_prototypes_epochs));
    b.push_back(bind("queue_length", "integer", "SwAV feature queue length (0 = none)",
                     &RunConfig::queue_length));
    b.push_back(bind("queue_start_epoch", "integer", "epoch at which the queue is created",
                     &RunConfig::queue_start_epoch));
    b.push_back(
        bind("moco_momentum", "number", "MoCo momentum encoder m", &RunConfig::moco_momentum));
    b.push_back(
        bind("moco_queue", "integer", "MoCo negatives queue length", &RunConfig::moco_queue));
    b.push_back(bind("moco_bn_group", "integer",
                     "MoCo shuffling BN: samples per BatchNorm group (0 = auto)",
                     &RunConfig::moco_bn_group));
    b.push_back(bind("collapse_margin", "number", "collapse alarm: nats above/below ln(K)",
                     &RunConfig::collapse_margin));
    b.push_back(bind("collapse_patience", "integer", "collapse alarm: epochs in a row",
                     &RunConfig::collapse_patience));
    b.push_back(bind("collapse_stop", "bool", "stop the run when the collapse alarm fires",
                     &RunConfig::collapse_stop));
    b.push_back(bind("sync_bn", "bool",
                     "SyncBatchNorm across ranks (global-batch statistics) when world size > 1",
                     &RunConfig::sync_bn));
    b.push_back(bind("seed", "integer", "random seed", &RunConfig::seed));
    b.push_back(bind_choice("device", "training device", &RunConfig::device, {"cpu", "cuda"}));
    b.push_back(
        bind_choice("precision", "arithmetic", &RunConfig::precision, {"fp32", "bf16", "fp64"}));
    b.push_back(bind_choice("memory_format",
                            "convolution layout (auto: channels_last on CUDA, contiguous on CPU)",
                            &RunConfig::memory_format, {"auto", "channels_last", "contiguous"}));
    b.push_back(bind("workers", "integer", "loader threads", &RunConfig::workers));
    b.push_back(bind("prefetch", "integer", "batches prepared ahead", &RunConfig::prefetch));
    b.push_back(bind("knn_every", "integer", "kNN monitor every N epochs (0 = off)",
                     &RunConfig::knn_every));
    return b;
  }();
  return all;
}

const Binding* find_binding(const std::string& key) {
  for (const auto& b : bindings())
    if (b.doc.key == key) return &b;
  return nullptr;
}

void apply_table(RunConfig& config, const json& table, const std::string& where,
                 const char* origin) {
  SB_INPUT_CHECK(table.is_object(), "{}: a config must be a table of key = value, got {}", where,
                 describe(table));
  for (auto it = table.begin(); it != table.end(); ++it) {
    if (it.key() == "preset" || it.key() == "label" || it.key() == "tags") {
      continue;  // handled by the caller
    }
    const Binding* b = find_binding(it.key());
    if (!b) {
      std::string hint = closest_match(it.key(), config_keys());
      throw InputError(fmt::format(
          "{}: unknown config key '{}'{}{} (swavbench run --list-keys lists them)", where, it.key(),
          origin, hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint)));
    }
    b->set(config, it.value(), where);
  }
}

}  // namespace

bool representable_as_float32(double value) {
  if (!std::isfinite(value)) return false;
  const double magnitude = std::fabs(value);
  return magnitude == 0 || (magnitude >= std::numeric_limits<float>::min() &&
                            magnitude <= std::numeric_limits<float>::max());
}

std::string float32_range_text() {
  return fmt::format("0 or a magnitude in [{}, {}]", std::numeric_limits<float>::min(),
                     std::numeric_limits<float>::max());
}

json RunConfig::to_json() const {
  json out = json::object();
  for (const auto& b : bindings()) out[b.doc.key] = b.get(*this);
  return out;
}

std::string RunConfig::hash() const { return hash_with_code_digest(method_code_digest(method)); }

std::string RunConfig::hash_with_code_digest(const std::string& code_digest) const {
  nlohmann::json identity = to_json();
  for (const auto& key : kNonIdentityKeys) identity.erase(key);
  return sha256_hex(identity.dump() + "|" + code_digest).substr(0, 16);
}

std::string run_hash(const RunConfig& config, int world_size) {
  if (world_size <= 1 || config.sync_bn) return config.hash();
  return sha256_hex(config.hash() + "|per-rank-bn|world_size=" + std::to_string(world_size))
      .substr(0, 16);
}

int64_t RunConfig::total_crops() const { return swavbench::total_crops(crops); }

std::vector<ConfigKeyDoc> config_key_docs() {
  std::vector<ConfigKeyDoc> d;
  for (const auto& b : bindings()) d.push_back(b.doc);
  for (ConfigKeyDoc& doc : d) {
    if (doc.key != "method") continue;
    doc.type = "string:";
    for (const MethodSpec* spec : method_specs())
      doc.type += (doc.type == "string:" ? " " : " | ") + spec->name;
  }
  d.push_back({"preset", "string", "start from a named preset (see --list-presets)"});
  d.push_back({"label", "string", "free text shown in tables (not part of the hash)"});
  d.push_back({"tags", "list",
               "names of the experiments that want this run, e.g. {\"crops\"}: the paper "
               "tables select runs by tag (not part of the hash)"});
  return d;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& d : config_key_docs()) keys.push_back(d.key);
  return keys;
}

RunConfig resolve_config(const json& table, const json& overrides, const std::string& where) {
  SB_INPUT_CHECK(table.is_object(), "{}: bench.pretrain expects a table of config keys, got {}",
                 where, describe(table));
  // The method decides its defaults, so find it first (override beats table).
  std::string method = RunConfig{}.method;
  if (table.contains("method")) method = read_as<std::string>(table["method"], "method", where);
  if (overrides.contains("method"))
    method = read_as<std::string>(overrides["method"], "method", where);

  RunConfig config;
  apply_table(config, json{{"method", method}}, where, "");
  apply_table(config, method_spec(config.method, where).defaults, where, " (method defaults)");
  if (table.contains("preset")) {
    std::string preset = read_as<std::string>(table["preset"], "preset", where);
    apply_table(config, config_preset(preset, where), where, " (preset)");
  }
  apply_table(config, table, where, "");
  apply_table(config, overrides, where, " (from --set)");
  validate_config(config, where);
  return config;
}

void validate_config(const RunConfig& c, const std::string& where) {
  auto positive = [&](const char* key, double v) {
    SB_INPUT_CHECK(v > 0, "{}: config key '{}' must be positive, got {}", where, key, v);
  };
  positive("width", c.width);
  positive("batch_size", c.batch_size);
  positive("temperature", c.temperature);
  positive("epsilon", c.epsilon);
  positive("prototypes", c.prototypes);
  positive("feat_dim", c.feat_dim);
  positive("workers", c.workers);
  positive("prefetch", c.prefetch);
  SB_INPUT_CHECK(c.epochs >= 0, "{}: config key 'epochs' must be >= 0, got {}", where, c.epochs);
  const MethodSpec& method = method_spec(c.method, where);
  SB_INPUT_CHECK(c.epochs > 0 || !method.trains,
                 "{}: config key 'epochs' must be >= 1 for method '{}'", where, c.method);
  SB_INPUT_CHECK(c.subset >= 0, "{}: config key 'subset' must be >= 0 (0 = all), got {}", where,
                 c.subset);
  SB_INPUT_CHECK(c.sinkhorn_iters >= 0, "{}: config key 'sinkhorn_iters' must be >= 0", where);
  SB_INPUT_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs <= c.epochs,
                 "{}: config key 'warmup_epochs' must be in [0, epochs={}], got {}", where,
                 c.epochs, c.warmup_epochs);
  SB_INPUT_CHECK(c.momentum >= 0 && c.momentum < 1, "{}: 'momentum' must be in [0, 1)", where);
  SB_INPUT_CHECK(c.moco_momentum >= 0 && c.moco_momentum < 1,
                 "{}: 'moco_momentum' must be in [0, 1)", where);
  SB_INPUT_CHECK(c.width <= 16,
                 "{}: config key 'width' must be at most 16 (ResNet-50w5 is 5), got {}", where,
                 c.width);
  positive("base_lr", c.base_lr);
  positive("trust_coefficient", c.trust_coefficient);
  positive("collapse_margin", c.collapse_margin);
  positive("collapse_patience", c.collapse_patience);
  auto non_negative = [&](const char* key, double v) {
    SB_INPUT_CHECK(v >= 0, "{}: config key '{}' must be >= 0, got {}", where, key, v);
  };
  non_negative("final_lr", c.final_lr);
  non_negative("start_warmup", c.start_warmup);
  non_negative("weight_decay", c.weight_decay);
  SB_INPUT_CHECK(c.freeze_prototypes_iters >= -1,
                 "{}: config key 'freeze_prototypes_iters' must be >= 0, or -1 to freeze for "
                 "freeze_prototypes_epochs instead, got {}",
                 where, c.freeze_prototypes_iters);
  non_negative("freeze_prototypes_epochs", c.freeze_prototypes_epochs);
  non_negative("queue_start_epoch", c.queue_start_epoch);
  non_negative("moco_queue", c.moco_queue);
  non_negative("moco_bn_group", c.moco_bn_group);
  SB_INPUT_CHECK(c.load_size == 0 || (c.load_size >= 8 && c.load_size <= 4096),
                 "{}: config key 'load_size' must be 0 (unset) or in [8, 4096] pixels, got {}",
                 where, c.load_size);
  SB_INPUT_CHECK(c.queue_length >= 0, "{}: 'queue_length' must be >= 0", where);
  SB_INPUT_CHECK(c.knn_every >= 0, "{}: 'knn_every' must be >= 0 (0 = off)", where);
  SB_INPUT_CHECK(c.hidden_dim >= 0, "{}: 'hidden_dim' must be >= 0", where);
  constexpr int kMaxUpsampling = 8;
  int source_size = 4096;
  std::string source_what = "imagefolder without load_size";
  if (c.dataset == "fashion-mnist") source_size = 28, source_what = "Fashion-MNIST";
  if (c.dataset == "cifar10") source_size = 32, source_what = "CIFAR-10";
  if (c.dataset == "fashion-scenes") {
    SB_INPUT_CHECK(c.load_size == 0 || (c.load_size >= 32 && c.load_size <= 64),
                   "{}: config key 'load_size' is the fashion-scenes canvas: 0 (32 px) or in "
                   "[32, 64] pixels, got {}",
                   where, c.load_size);
    source_size = c.load_size > 0 ? c.load_size : 32, source_what = "fashion-scenes canvas";
  }
  if (c.dataset == "imagefolder" && c.load_size > 0)
    source_size = c.load_size, source_what = "imagefolder decoded at load_size";
  for (size_t i = 0; i < c.crops.size(); ++i) {
    const auto& s = c.crops[i];
    SB_INPUT_CHECK(s.count >= 1 && s.count <= 64, "{}: crops[{}].count must be in [1, 64], got {}",
                   where, i + 1, s.count);
    SB_INPUT_CHECK(s.size >= 4, "{}: crops[{}].size must be >= 4 pixels, got {}", where, i + 1,
                   s.size);
    // RandomResizedCrop may upsample (CIFAR to 224 for an ImageNet trunk is common), but a crop
    // far beyond the images' own size only interpolates and can ask for terabytes.
    SB_INPUT_CHECK(s.size <= kMaxUpsampling * source_size,
                   "{}: crops[{}].size {} is more than {}x the images' size {} ({}); the largest "
                   "crop that makes sense here is {}",
                   where, i + 1, s.size, kMaxUpsampling, source_size, source_what,
                   kMaxUpsampling * source_size);
    SB_INPUT_CHECK(s.min_scale > 0 && s.min_scale <= s.max_scale && s.max_scale <= 1,
                   "{}: crops[{}] needs 0 < min_scale <= max_scale <= 1, got ({}, {})", where,
                   i + 1, s.min_scale, s.max_scale);
  }
  const int64_t n = c.total_crops();
  SB_INPUT_CHECK(n >= method.min_crops, "{}: method '{}' needs at least {} crops, got {}", where,
                 c.method, method.min_crops, n);
  if (method.validate) method.validate(c, where);
}

json parse_set_value(const std::string& text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return json(text);
  return parsed;
}

std::vector<std::string> config_preset_names() {
  return {"fmnist_default", "imagenet_800ep_bs4096", "imagenet_200ep_bs256_queue",
          "imagenet_2x224"};
}

json config_preset(const std::string& name, const std::string& where) {
  // The paper's ImageNet recipes (DESIGN.md; the authors' launch scripts).
  const json imagenet_common = {
      {"arch", "resnet50"},       {"width", 1.0},       {"small_stem", false},
      {"dataset", "imagefolder"}, {"load_size", 256},   {"hidden_dim", 2048},
      {"feat_dim", 128},          {"prototypes", 3000}, {"optimizer", "lars"},
      {"weight_decay", 1e-6},     {"temperature", 0.1}, {"epsilon", 0.05},
      {"sinkhorn_iters", 3},      {"augment", "swav"},  {"device", "cuda"},
      {"precision", "bf16"},      {"workers", 10},
  };
  const json multicrop =
      json::array({{{"count", 2}, {"size", 224}, {"min_scale", 0.14}, {"max_scale", 1.0}},
                   {{"count", 6}, {"size", 96}, {"min_scale", 0.05}, {"max_scale", 0.14}}});
  if (name == "fmnist_default") return RunConfig{}.to_json();
  if (name == "imagenet_800ep_bs4096") {
    json p = imagenet_common;
    p.update({{"crops", multicrop},
              {"batch_size", 4096},
              {"epochs", 800},
              {"base_lr", 4.8},
              {"final_lr", 0.0048},
              {"start_warmup", 0.3},
              {"warmup_epochs", 10},
              {"freeze_prototypes_iters", 313},
              {"queue_length", 0}});
    return p;
  }
  if (name == "imagenet_200ep_bs256_queue") {
    json p = imagenet_common;
    p.update({{"crops", multicrop},
              {"batch_size", 256},
              {"epochs", 200},
              {"base_lr", 0.6},
              {"final_lr", 0.0006},
              {"start_warmup", 0.0},
              {"warmup_epochs", 0},
              {"freeze_prototypes_iters", 5005},
              {"queue_length", 3840},
              {"queue_start_epoch", 15}});
    return p;
  }
  if (name == "imagenet_2x224") {
    json p = imagenet_common;
    p.update(
        {{"crops",
          json::array({{{"count", 2}, {"size", 224}, {"min_scale", 0.08}, {"max_scale", 1.0}}})},
         {"batch_size", 4096},
         {"epochs", 400},
         {"base_lr", 4.8},
         {"final_lr", 0.0048},
         {"start_warmup", 0.3},
         {"warmup_epochs", 10},
         {"freeze_prototypes_iters", 313}});
    return p;
  }
  std::string hint = closest_match(name, config_preset_names());
  throw InputError(fmt::format("{}: unknown preset '{}'{}", where, name,
                               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
}

bool trains_channels_last(const RunConfig& config, bool cuda) {
  if (config.memory_format == "auto") return cuda;
  return config.memory_format == "channels_last";
}

int64_t prototype_freeze_iterations(const RunConfig& config, int64_t iterations_per_epoch) {
  if (config.freeze_prototypes_iters >= 0) return config.freeze_prototypes_iters;
  return std::llround(config.freeze_prototypes_epochs * static_cast<double>(iterations_per_epoch));
}

}  // namespace swavbench
