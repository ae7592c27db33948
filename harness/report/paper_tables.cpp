// The paper's six tables from the store, each of our cells beside the published value from
// results/paper.csv. Torch-free: the store, fmt and nlohmann-json only.
//
// Rows are runs grouped by their resolved config without the seed (so a row aggregates seeds and
// nothing else); the columns that name a row are the setting the table varies. Where two groups
// would print the same row name, an "other settings" column names the config keys in which a
// row leaves the setting that most of those groups share.
// A paper cell is a published number with its setting in brackets, picked from paper.csv by the
// method and the setting closest to ours; a number that is not in paper.csv is never made up.
#include "harness/report/paper_tables.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/escape.h"
#include "harness/core/files.h"
#include "harness/core/method_spec.h"
#include "harness/core/text.h"
#include "harness/report/table.h"

namespace swavbench {
namespace {

using nlohmann::json;

constexpr const char* kDash = "—";
const std::vector<std::string> kPaperColumns{"table",  "method", "arch",    "epochs",
                                             "batch",  "crops",  "dataset", "protocol",
                                             "metric", "value",  "source"};
// Config keys that never name a row: the seed and the label (a row aggregates the seeds of one
// setting, whatever each run was called) and the keys that cannot change what is learned.
const std::vector<std::string> kNotRowKeys = [] {
  std::vector<std::string> keys{"seed", "label"};
  keys.insert(keys.end(), kNonIdentityKeys.begin(), kNonIdentityKeys.end());
  return keys;
}();

// ---------------------------------------------------------------- paper.csv

std::vector<std::string> split_csv_line(const std::string& line, const std::string& where) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      SB_INPUT_CHECK(cur.empty() && !was_quoted, "{}: a quote inside an unquoted field", where);
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(cur);
      cur.clear();
      was_quoted = false;
    } else {
      SB_INPUT_CHECK(!was_quoted, "{}: text after a closing quote", where);
      cur += c;
    }
  }
  SB_INPUT_CHECK(!quoted, "{}: unterminated quote (a field may not span lines)", where);
  fields.push_back(cur);
  return fields;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "2x224+6x96" -> {{2, 224}, {6, 96}}; empty when the text is not of that form.
std::vector<std::pair<int, int>> parse_crops(const std::string& text) {
  std::vector<std::pair<int, int>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t plus = text.find('+', start);
    std::string part =
        text.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
    size_t x = part.find('x');
    if (x == std::string::npos || !all_digits(part.substr(0, x)) || !all_digits(part.substr(x + 1)))
      return {};
    // from_chars, not stoi: "2x99999999999" is not of that form either, not an exception.
    int count = 0, size = 0;
    const std::string count_text = part.substr(0, x), size_text = part.substr(x + 1);
    const auto parsed_count =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    const auto parsed_size =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
    if (parsed_count.ec != std::errc() || parsed_size.ec != std::errc()) return {};
    out.emplace_back(count, size);
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return out;
}

// ---------------------------------------------------------------- names and settings

// The method's name in paper.csv; "" when the paper has no such method (random init).
std::string paper_method_name(const std::string& m) {
  const MethodSpec* spec = find_method_spec(m);
  return spec ? spec->paper_name : "";
}

std::string pretty_dataset(const std::string& d) {
  static const std::map<std::string, std::string> names{{"imagenet", "ImageNet"},
                                                        {"fashion-mnist", "Fashion-MNIST"},
                                                        {"fashion-scenes", "Fashion-MNIST scenes"},
                                                        {"cifar10", "CIFAR-10"},
                                                        {"imagefolder", "ImageFolder"},
                                                        {"places205", "Places205"},
                                                        {"voc07", "VOC07"},
                                                        {"voc07+12", "VOC07+12"},
                                                        {"inat18", "iNat18"},
                                                        {"coco", "COCO"}};
  auto it = names.find(d);
  return it == names.end() ? d : it->second;
}

// resnet50 -> R50, resnet50-w2 -> R50-w2, resnet50-c4 -> R50-C4; width != 1 -> "-w0.25".
std::string pretty_arch(const std::string& arch, double width = 1.0) {
  std::string out = arch;
  if (out.rfind("resnet", 0) == 0) out = "R" + out.substr(6);
  size_t dash = out.find('-');
  if (dash != std::string::npos && out.substr(dash + 1) == "c4") out = out.substr(0, dash) + "-C4";
  if (width != 1.0) out += fmt::format("-w{}", width);
  return out;
}

std::string crops_text(const json& v) {
  if (!v.is_array()) return "";
  std::string out;
  for (const auto& c : v) {
    if (!c.is_object() || !c.contains("count") || !c.contains("size")) return "";
    out += (out.empty() ? "" : "+") + fmt::format("{}x{}", c["count"].dump(), c["size"].dump());
  }
  return out;
}

// "2x28 (0.14-1)+4x14 (0.05-0.14)": tells apart crops that differ only in their scales.
std::string crops_with_scales(const json& v) {
  if (!v.is_array()) return v.dump();
  std::string out;
  for (const auto& c : v) {
    if (!c.is_object()) return v.dump();
    out += (out.empty() ? "" : "+") + fmt::format("{}x{} ({}-{})", c.value("count", json()).dump(),
                                                  c.value("size", json()).dump(),
                                                  c.value("min_scale", json()).dump(),
                                                  c.value("max_scale", json()).dump());
  }
  return out;
}

// More than two crops in all: the paper's multi-crop (2x224 is "2 crops").
bool is_multi_crop(const std::string& crops) {
  int total = 0;
  for (const auto& [count, size] : parse_crops(crops)) total += count;
  return total > 2;
}

std::string config_text(const json& config, const std::string& key) {
  if (!config.contains(key)) return "";
  const json& v = config[key];
  if (key == "crops") return crops_text(v);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

double config_number(const json& config, const std::string& key, double fallback = 0) {
  if (config.contains(key) && config[key].is_number()) return config[key].get<double>();
  return fallback;
}

std::string our_arch(const json& config) {
  return pretty_arch(config_text(config, "arch"), config_number(config, "width", 1.0));
}

std::string our_data(const json& config, bool with_subset) {
  std::string out = pretty_dataset(config_text(config, "dataset"));
  int64_t subset = static_cast<int64_t>(config_number(config, "subset"));
  if (with_subset && subset > 0) out += fmt::format(" ({})", subset);
  return out;
}

// "(ImageNet, R50, 800 ep, bs 4096, 2x224+6x96)"
std::string paper_setting(const PaperValue& p) {
  std::vector<std::string> parts;
  if (!p.dataset.empty()) parts.push_back(pretty_dataset(p.dataset));
  if (!p.arch.empty())
    parts.push_back((p.protocol == "voc_det" ? "Faster R-CNN " : "") + pretty_arch(p.arch));
  if (!p.epochs.empty()) parts.push_back(p.epochs + " ep");
  if (!p.batch.empty()) parts.push_back("bs " + p.batch);
  if (!p.crops.empty()) parts.push_back(p.crops);
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "" : "(" + out + ")";
}

std::string paper_number(double v) { return fmt::format("{}", v); }

// ---------------------------------------------------------------- runs and groups

// The key an eval row is tabulated under: "protocol.metric", with a semisup result named by
// its label fraction ("semisup@1pct.top1") from its card, else from its tag.
std::string eval_key(const EvalRow& e) {
  size_t at = e.protocol.find('@');
  if (e.protocol.substr(0, at) != "semisup") return e.protocol + "." + e.metric;
  std::string tag = at == std::string::npos ? "" : e.protocol.substr(at + 1);
  json card = json::parse(e.card_json, nullptr, false);
  if (card.is_object() && card.contains("fraction") && card["fraction"].is_number()) {
    double pct = card["fraction"].get<double>() * 100.0;
    tag = std::fabs(pct - std::round(pct)) < 1e-6 ? fmt::format("{}pct", std::llround(pct))
                                                  : fmt::format("{}pct", pct);
  }
  return (tag.empty() ? std::string("semisup") : "semisup@" + tag) + "." + e.metric;
}

struct Group {
  json config;  // the resolved config without kNotRowKeys
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> voc_roots;
  std::vector<std::string> key_cells;
  std::string other;  // "k=v, ..." when another group prints the same key cells
};

bool has_prefix(const std::map<std::string, double>& evals, const std::string& prefix) {
  for (const auto& [k, v] : evals)
    if (k.rfind(prefix, 0) == 0) return true;
  return false;
}

template <typename T>
void add_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// ---------------------------------------------------------------- table definitions

enum class CropsRule { kPrefer, kRequire };

struct OurColumn {
  std::string header, key;  // key: "protocol.metric" (eval_key)
};
struct PaperColumn {
  std::string header, csv_table, protocol;
  std::vector<std::string> metrics;  // one cell: "53.9 / 78.5 (setting)"
};

struct TableDef {
  std::string name, what, fill_hint, ours_note, paper_note;
  // Whether a completed run belongs in the table, from its row, its tags (sorted) and its last
  // value per eval key.
  std::function<bool(const RunRow&, const std::vector<std::string>&,
                     const std::map<std::string, double>&)>
      include;
  std::vector<std::string> key_headers;
  std::function<std::vector<std::string>(const json&)> key_cells;
  std::function<std::vector<double>(const json&)> order;
  std::vector<OurColumn> ours;
  std::vector<PaperColumn> paper;
  CropsRule crops_rule = CropsRule::kPrefer;
  bool batch_required = false;    // batch table: only the same batch size is a match
  bool anchor_two_crops = false;  // crops table: multi-crop at the 2-crop value's epochs/batch
  bool transfer = false;
};

const std::vector<OurColumn> kAblationColumns{{"ours kNN k=20", "knn.top1_k20"},
                                              {"ours kNN k=200", "knn.top1_k200"},
                                              {"ours linear_fast best", "linear_fast.top1_best"}};
const char* kAblationNote =
    "Ours: kNN (k = 20, 200) and the fast linear probe (best epoch) on frozen features, top-1 % "
    "on the test split of {}; neither is the paper's 100-epoch linear protocol.";

std::vector<TableDef> table_defs() {
  std::vector<TableDef> defs;
  // The ablation tables take the runs a suite tagged with the table's name (bench.pretrain's
  // `tags`), whichever suite file trained them and whatever it is called.
  auto tagged = [](const std::string& tag) {
    return [tag](const RunRow&, const std::vector<std::string>& tags,
                 const std::map<std::string, double>&) {
      return std::binary_search(tags.begin(), tags.end(), tag);
    };
  };
  PaperColumn linear_top1{"paper linear top-1 (setting)", "linear", "linear", {"top1"}};
  {
    TableDef d;
    d.name = "linear";
    d.what = "Linear evaluation, top-1 %";
    d.fill_hint =
        "any suite whose runs have a linear or linear_fast eval (swav_default.lua, "
        "smoke.lua, transfer.lua, the ablations)";
    d.ours_note =
        "Ours: 'linear' is the paper's protocol (frozen trunk, SGD on augmented crops, epochs as "
        "in each eval's card), 'linear_fast' a quick probe on cached features that is not; both "
        "top-1 % at the best epoch on the test split of {}.";
    d.paper_note =
        "The paper cell is the published value at the setting closest to the row's "
        "(crops kind first, then batch, then the longest schedule).";
    d.include = [](const RunRow&, const std::vector<std::string>&,
                   const std::map<std::string, double>& evals) {
      return has_prefix(evals, "linear.") || has_prefix(evals, "linear_fast.");
    };
    d.key_headers = {"method", "data", "arch", "pretrain epochs", "batch", "crops"};
    d.key_cells = [](const json& c) {
      return std::vector<std::string>{method_display_name(config_text(c, "method")),
                                      our_data(c, true),
                                      our_arch(c),
                                      config_text(c, "epochs"),
                                      config_text(c, "batch_size"),
                                      config_text(c, "crops")};
    };
    d.order = [](const json& c) {
      return std::vector<double>{double(method_table_order(config_text(c, "method"))),
                                 config_number(c, "subset"), config_number(c, "epochs"),
                                 config_number(c, "batch_size"),
                                 double(is_multi_crop(config_text(c, "crops")))};
    };
    d.ours = {{"ours linear top-1", "linear.top1_best"},
              {"ours linear_fast top-1", "linear_fast.top1_best"}};
    d.paper = {linear_top1};
    defs.push_back(d);
  }
  auto method_arch_epochs = [](const json& c) {
    return std::vector<std::string>{method_display_name(config_text(c, "method")), our_arch(c),
                                    config_text(c, "epochs")};
  };
  auto by_method = [](const json& c) {
    return std::vector<double>{double(method_table_order(config_text(c, "method"))),
                               config_number(c, "epochs")};
  };
  {
    TableDef d;
    d.name = "semisup";
    d.what = "Semi-supervised fine-tuning on 1% and 10% of the labels, top-1 / top-5 %";
    d.fill_hint = "swavbench run transfer.lua";
    d.ours_note =
        "Ours: the whole network fine-tuned on a pinned 1% / 10% label subset of the training "
        "split of {} (results/subsets/), top-1 / top-5 % on its test split at the epoch with the "
        "best top-1, the paper's rule (the authors' eval_semisup.py reports the best epoch).";
    d.paper_note = "Paper cells: top-1 / top-5 % published for ImageNet.";
    d.include = [](const RunRow&, const std::vector<std::string>&,
                   const std::map<std::string, double>& evals) {
      return has_prefix(evals, "semisup@1pct.") || has_prefix(evals, "semisup@10pct.");
    };
    d.key_headers = {"method", "arch", "pretrain epochs"};
    d.key_cells = method_arch_epochs;
    d.order = by_method;
    // Rows stored before the best epoch was recorded have only the last epoch: they show "—"
    // here rather than a last-epoch number under the best-epoch rule.
    d.ours = {{"ours 1% top-1", "semisup@1pct.top1_best"},
              {"ours 1% top-5", "semisup@1pct.top5_best"},
              {"ours 10% top-1", "semisup@10pct.top1_best"},
              {"ours 10% top-5", "semisup@10pct.top5_best"}};
    d.paper = {{"paper 1% top-1 / top-5 (setting)", "semisup", "semisup@1pct", {"top1", "top5"}},
               {"paper 10% top-1 / top-5 (setting)", "semisup", "semisup@10pct", {"top1", "top5"}}};
    defs.push_back(d);
  }
  {
    TableDef d;
    d.name = "transfer";
    d.what = "Transfer: VOC07 linear SVM mAP and detection AP50";
    d.fill_hint = "swavbench run transfer.lua";
    d.ours_note =
        "Ours: backbones pretrained on {}; VOC07 devkit rules on {}: one-vs-rest linear SVMs on "
        "frozen features (mAP, 11-point) and a CenterNet-style detector fine-tuned on the trunk "
        "(AP at IoU 0.5, 11-point), not the paper's Faster R-CNN R50-C4.";
    d.paper_note =
        "Paper cells: ImageNet-pretrained ResNet-50 transferred to the dataset named in brackets. "
        "Places205, iNat18 and COCO transfer have no protocol here, so they are not tabulated.";
    d.include = [](const RunRow&, const std::vector<std::string>&,
                   const std::map<std::string, double>& evals) {
      return has_prefix(evals, "voc07_svm.") || has_prefix(evals, "voc_det.");
    };
    d.key_headers = {"method", "arch", "pretrain epochs"};
    d.key_cells = method_arch_epochs;
    d.order = by_method;
    d.ours = {{"ours SVM mAP", "voc07_svm.map"}, {"ours det AP50", "voc_det.map_11point"}};
    d.paper = {{"paper SVM mAP (setting)", "transfer", "voc07_svm", {"map"}},
               {"paper det AP50 (setting)", "transfer", "voc_det", {"ap50"}}};
    d.transfer = true;
    defs.push_back(d);
  }
  {
    TableDef d;
    d.name = "crops";
    d.what = "Multi-crop ablation, top-1 %";
    d.fill_hint =
        "swavbench run ablation_crops.lua, or any suite whose runs have tags = {\"crops\"}";
    d.ours_note = kAblationNote;
    d.paper_note =
        "The paper cell is the published linear top-1 with the same kind of crops (2 crops or "
        "multi-crop); the multi-crop value at the 2-crop value's epochs and batch is preferred, "
        "so a method's two paper cells differ in their crops alone where paper.csv allows.";
    d.include = tagged("crops");
    d.key_headers = {"method", "crops"};
    d.key_cells = [](const json& c) {
      return std::vector<std::string>{method_display_name(config_text(c, "method")),
                                      config_text(c, "crops")};
    };
    d.order = [](const json& c) {
      return std::vector<double>{double(method_table_order(config_text(c, "method"))),
                                 double(is_multi_crop(config_text(c, "crops")))};
    };
    d.ours = kAblationColumns;
    d.paper = {linear_top1};
    d.crops_rule = CropsRule::kRequire;
    d.anchor_two_crops = true;
    defs.push_back(d);
  }
  {
    TableDef d;
    d.name = "batch";
    d.what = "Batch-size ablation, top-1 %";
    d.fill_hint =
        "swavbench run ablation_batch.lua, or any suite whose runs have tags = {\"batch\"}";
    d.ours_note = kAblationNote;
    d.paper_note =
        "The paper cell is the method's published linear top-1 at the same batch size "
        "(only batch sizes in results/paper.csv have one).";
    // Every method a suite tags "batch" (the paper's ablation is SwAV's; a user may add
    // SimCLR or MoCo v2 runs at the same batch sizes), one row per method and batch.
    d.include = tagged("batch");
    d.key_headers = {"method", "batch", "queue"};
    d.key_cells = [](const json& c) {
      return std::vector<std::string>{method_display_name(config_text(c, "method")),
                                      config_text(c, "batch_size"), config_text(c, "queue_length")};
    };
    d.order = [](const json& c) {
      return std::vector<double>{double(method_table_order(config_text(c, "method"))),
                                 config_number(c, "batch_size"), config_number(c, "queue_length")};
    };
    d.ours = kAblationColumns;
    d.paper = {linear_top1};
    d.batch_required = true;
    defs.push_back(d);
  }
  {
    TableDef d;
    d.name = "prototypes";
    d.what = "Prototype ablation (SwAV), top-1 %";
    d.fill_hint =
        "swavbench run ablation_prototypes.lua, or any suite whose runs have tags = "
        "{\"prototypes\"}";
    d.ours_note = kAblationNote;
    d.paper_note =
        "The paper cell comes from results/paper.csv rows of table 'prototypes' (per K, "
        "learned or fixed); where it has none the cell is —.";
    // Only methods that learn prototypes (their MethodSpec says so): another method's run
    // tagged "prototypes" has no K to tabulate.
    d.include = [has_tag = tagged("prototypes")](const RunRow& r,
                                                 const std::vector<std::string>& tags,
                                                 const std::map<std::string, double>& evals) {
      const MethodSpec* spec = find_method_spec(r.method);
      return spec && spec->has_prototypes && has_tag(r, tags, evals);
    };
    d.key_headers = {"prototypes", "K"};
    d.key_cells = [](const json& c) {
      bool fixed = c.contains("freeze_prototypes") && c["freeze_prototypes"] == true;
      return std::vector<std::string>{fixed ? "fixed random" : "learned",
                                      config_text(c, "prototypes")};
    };
    d.order = [](const json& c) {
      bool fixed = c.contains("freeze_prototypes") && c["freeze_prototypes"] == true;
      return std::vector<double>{double(fixed), config_number(c, "prototypes")};
    };
    d.ours = kAblationColumns;
    d.paper = {{"paper linear top-1 (setting)", "prototypes", "linear", {"top1"}}};
    defs.push_back(d);
  }
  return defs;
}

// ---------------------------------------------------------------- matching paper values

struct Want {
  std::string csv_table, method, protocol, metric;
  CropsRule crops_rule = CropsRule::kPrefer;
  bool multi = false;
  std::string batch, epochs;  // preferred ("" = no preference)
  bool batch_required = false;
};

const PaperValue* match_paper(const std::vector<PaperValue>& paper, const Want& w) {
  const PaperValue* best = nullptr;
  std::tuple<int, int, int, int, double> best_score;
  for (const auto& p : paper) {
    if (p.table != w.csv_table || p.method != w.method || p.protocol != w.protocol ||
        p.metric != w.metric)
      continue;
    bool crops_match = !p.crops.empty() && is_multi_crop(p.crops) == w.multi;
    if (w.crops_rule == CropsRule::kRequire && !crops_match) continue;
    if (w.batch_required && p.batch != w.batch) continue;
    auto score =
        std::make_tuple(p.arch.find("-w") == std::string::npos ? 1 : 0,  // not widened
                        crops_match ? 1 : 0, !w.epochs.empty() && p.epochs == w.epochs ? 1 : 0,
                        !w.batch.empty() && p.batch == w.batch ? 1 : 0,
                        all_digits(p.epochs) ? std::strtod(p.epochs.c_str(), nullptr) : 0.0);
    if (!best || score > best_score) {  // ties: the first row in the file
      best = &p;
      best_score = score;
    }
  }
  return best;
}

// The other metrics of a paper column at exactly the setting of `first`.
const PaperValue* same_setting(const std::vector<PaperValue>& paper, const PaperValue& first,
                               const std::string& metric) {
  for (const auto& p : paper)
    if (p.table == first.table && p.method == first.method && p.arch == first.arch &&
        p.epochs == first.epochs && p.batch == first.batch && p.crops == first.crops &&
        p.dataset == first.dataset && p.protocol == first.protocol && p.metric == metric)
      return &p;
  return nullptr;
}

// Ours vs the paper, per aspect, over the rows that show a paper value.
struct Differences {
  std::vector<std::string> aspects;
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> values;
  void add(const std::string& aspect, const std::string& ours, const std::string& theirs) {
    if (theirs.empty() || ours == theirs) return;
    add_unique(aspects, aspect);
    add_unique(values[aspect].first, ours);
    add_unique(values[aspect].second, theirs);
  }
  std::string note() const {
    if (aspects.empty()) return "";
    std::vector<std::string> parts;
    for (const auto& a : aspects)
      parts.push_back(fmt::format("{} {} vs {}", a, join(values.at(a).first, ", "),
                                  join(values.at(a).second, ", ")));
    return "Setting differences, ours vs paper: " + join(parts, "; ") + ".";
  }
};

std::string voc_data_name(const std::string& root) {
  if (root.find("fashion-voc") != std::string::npos) return "Fashion-VOC scenes";
  return "the VOC layout at " + root;
}

// ---------------------------------------------------------------- formatting

}  // namespace

// ---------------------------------------------------------------- public

std::vector<PaperValue> read_paper_csv(const std::string& path) {
  check_input_file(path, "published values file");
  std::ifstream in(path);
  SB_INPUT_CHECK(in.good(), "{}: cannot read the published reference values", path);
  std::vector<PaperValue> out;
  std::string raw;
  int line = 0;
  bool header_seen = false;
  while (std::getline(in, raw)) {
    ++line;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (raw.find_first_not_of(" \t") == std::string::npos) continue;
    std::string where = fmt::format("{}:{}", path, line);
    std::vector<std::string> f = split_csv_line(raw, where);
    if (!header_seen) {
      SB_INPUT_CHECK(f == kPaperColumns, "{}: the header must be '{}', got '{}'", where,
                     join(kPaperColumns, ","), raw);
      header_seen = true;
      continue;
    }
    SB_INPUT_CHECK(f.size() == kPaperColumns.size(), "{}: {} fields, expected {} ({})", where,
                   f.size(), kPaperColumns.size(), join(kPaperColumns, ","));
    PaperValue v{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], 0, f[10]};
    for (size_t i : {0, 1, 6, 7, 8})
      SB_INPUT_CHECK(!f[i].empty(), "{}: column '{}' is empty", where, kPaperColumns[i]);
    SB_INPUT_CHECK(v.epochs.empty() || all_digits(v.epochs),
                   "{}: epochs '{}' is not a whole number", where, v.epochs);
    SB_INPUT_CHECK(v.batch.empty() || all_digits(v.batch), "{}: batch '{}' is not a whole number",
                   where, v.batch);
    SB_INPUT_CHECK(v.crops.empty() || !parse_crops(v.crops).empty(),
                   "{}: crops '{}' is not of the form 2x224+6x96", where, v.crops);
    size_t used = 0;
    try {
      v.value = std::stod(f[9], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SB_INPUT_CHECK(used > 0 && used == f[9].size() && std::isfinite(v.value),
                   "{}: value '{}' is not a number", where, f[9]);
    out.push_back(v);
  }
  SB_INPUT_CHECK(header_seen, "{}: empty; expected the header '{}'", path,
                 join(kPaperColumns, ","));
  return out;
}

std::vector<std::string> paper_table_names() {
  return {"linear", "semisup", "transfer", "crops", "batch", "prototypes", "cost"};
}

namespace {

// One run's training cost, from its epoch rows: img/s and data-wait averaged over epochs, the
// peak memory of the worst epoch, and MFU against the hardware peak when every epoch logged it.
struct RunCost {
  double img_per_s = 0, data_wait = 0, peak_mib = 0;
  std::optional<double> mfu;
};

std::optional<RunCost> run_cost(Store& store, const RunRow& run) {
  const std::vector<EpochRow> epochs = store.epochs(run.id);
  if (epochs.empty()) return std::nullopt;
  RunCost cost;
  double mfu_sum = 0;
  bool every_mfu = true;
  for (const EpochRow& e : epochs) {
    cost.img_per_s += e.img_per_s / static_cast<double>(epochs.size());
    cost.data_wait += e.data_wait / static_cast<double>(epochs.size());
    cost.peak_mib = std::max(cost.peak_mib, e.peak_mem / (1 << 20));
    json logs = json::parse(e.extra_json, nullptr, false);
    if (logs.is_object() && logs.contains("mfu") && logs["mfu"].is_number())
      mfu_sum += logs["mfu"].get<double>();
    else
      every_mfu = false;
  }
  if (every_mfu) cost.mfu = mfu_sum / static_cast<double>(epochs.size());
  return cost;
}

// The cost table: what training cost per method and crop setting, from the epoch rows of the
// completed runs, beside the paper's throughput.
Table build_cost_table(Store& store, const std::vector<PaperValue>& paper) {
  struct CostGroup {
    std::vector<std::string> key_cells;
    std::string method;
    std::vector<double> img_per_s, mfu_pct, wait_pct, peak_mib;
    int runs_without_mfu = 0;
  };
  std::vector<CostGroup> groups;
  std::map<std::vector<std::string>, size_t> index;
  for (const RunRow& run : store.runs(kStatusDone)) {
    std::optional<RunCost> cost = run_cost(store, run);
    if (!cost) continue;  // the random-init control trains no epoch
    json c = json::parse(run.config_json, nullptr, false);
    if (!c.is_object()) continue;
    if (!c.contains("method")) c["method"] = run.method;
    std::vector<std::string> key{method_display_name(config_text(c, "method")),
                                 config_text(c, "crops"),
                                 our_arch(c),
                                 config_text(c, "batch_size"),
                                 fmt::format("{} x {}", run.world_size, run.device),
                                 config_text(c, "precision")};
    if (!index.count(key)) {
      index[key] = groups.size();
      groups.push_back(CostGroup{key, config_text(c, "method"), {}, {}, {}, {}, 0});
    }
    CostGroup& g = groups[index[key]];
    g.img_per_s.push_back(cost->img_per_s);
    g.wait_pct.push_back(100 * cost->data_wait);
    g.peak_mib.push_back(cost->peak_mib);
    if (cost->mfu)
      g.mfu_pct.push_back(100 * *cost->mfu);
    else
      ++g.runs_without_mfu;
  }
  std::stable_sort(groups.begin(), groups.end(), [](const CostGroup& a, const CostGroup& b) {
    return std::make_pair(method_table_order(a.method), is_multi_crop(a.key_cells[1])) <
           std::make_pair(method_table_order(b.method), is_multi_crop(b.key_cells[1]));
  });

  Table t;
  t.id = "paper-cost";
  t.html_class = "paper-table";
  t.title = "Training cost per method and crop setting";
  t.header = {"method",
              "crops",
              "arch",
              "batch",
              "ranks x device",
              "precision",
              "img/s",
              "MFU % of fp32 peak",
              "data-wait %",
              "peak MiB",
              "paper img/s per GPU (setting)"};
  t.align = "llllllrrrrl";
  for (const CostGroup& g : groups) {
    std::vector<std::string> row = g.key_cells;
    row.push_back(paper_cell_text(g.img_per_s));
    row.push_back(g.mfu_pct.empty() ? kDash : paper_cell_text(g.mfu_pct));
    row.push_back(paper_cell_text(g.wait_pct));
    row.push_back(paper_cell_text(g.peak_mib));
    std::string published = kDash;
    for (const PaperValue& p : paper)
      if (p.table == "cost" && method_display_name(g.method) == p.method)
        published = fmt::format("{} {}", paper_number(p.value), paper_setting(p));
    row.push_back(published);
    t.rows.push_back(row);
  }
  t.notes.push_back(
      "img/s: training images per second over all ranks, the mean over a run's epochs (data "
      "loading and augmentation included); data-wait: the share of that time the step waited "
      "for the loader; peak MiB: the largest peak resident (CPU) or allocated (CUDA) memory of "
      "any epoch. On a CPU that is the process's peak so far (ru_maxrss never decreases), so a "
      "run trained after a larger one in the same invocation shows the larger one's peak. Cells "
      "are mean ± sample std (n runs).");
  t.notes.push_back(
      "MFU: the model's training FLOPs per image (3 x forward, every crop) times img/s, over the "
      "hardware's dense float32 peak for the cores in use (swavbench --version shows the "
      "peak and how it is computed). —: not measured (GPU runs, for which no peak is computed "
      "yet, and runs recorded before the peak was).");
  for (const PaperValue& p : paper)
    if (p.table == "cost")
      t.notes.push_back(fmt::format("Paper ({}): {} {} img/s per GPU {}; {}.", p.method, p.method,
                                    paper_number(p.value), paper_setting(p), p.source));
  if (groups.empty())
    t.notes.push_back(
        "No completed runs with epoch rows yet: any suite that trains fills this table.");
  return t;
}

}  // namespace

std::string paper_cell_text(const std::vector<double>& values, size_t diverged) {
  std::vector<double> finite;
  for (double v : values)
    if (std::isfinite(v)) finite.push_back(v);
  int bad = static_cast<int>(values.size() - finite.size());
  const std::string diverged_note = diverged ? fmt::format(", {} diverged", diverged) : "";
  if (finite.empty()) {
    if (bad) return fmt::format("NaN ({}{})", bad, diverged_note);
    return diverged ? fmt::format("diverged ({})", diverged) : kDash;
  }
  const std::string notes = (bad ? fmt::format(", {} NaN", bad) : "") + diverged_note;
  CellStats s = cell_stats(finite);
  if (s.n == 1) return fmt::format("{:.2f} (1{})", s.mean, notes);
  return fmt::format("{:.2f} ± {:.2f} ({}{})", s.mean, s.std, s.n, notes);
}

Table build_paper_table(Store& store, const std::string& name,
                        const std::vector<PaperValue>& paper) {
  if (name == "cost") return build_cost_table(store, paper);
  std::vector<TableDef> defs = table_defs();
  auto def_it =
      std::find_if(defs.begin(), defs.end(), [&](const TableDef& d) { return d.name == name; });
  if (def_it == defs.end()) {
    std::string hint = closest_match(name, paper_table_names());
    throw InputError(fmt::format("unknown paper table '{}'{}; the tables are: {} (or all)", name,
                                 hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                 join(paper_table_names(), ", ")));
  }
  const TableDef& def = *def_it;

  // Group the table's completed runs by config without the seed, in first-seen order.
  std::vector<Group> groups;
  std::map<std::string, size_t> index;
  for (const RunRow& run : store.runs(kStatusDone)) {
    std::map<std::string, double> evals;  // the run's last value per key
    std::vector<std::string> roots;
    for (const EvalRow& e : store.evals(run.id)) {
      evals[eval_key(e)] = e.value;
      if (e.protocol == "voc07_svm" || e.protocol == "voc_det") {
        json card = json::parse(e.card_json, nullptr, false);
        if (card.is_object() && card.contains("root") && card["root"].is_string())
          add_unique(roots, card["root"].get<std::string>());
      }
    }
    if (!def.include(run, store.tags(run.id), evals)) continue;
    json config = json::parse(run.config_json, nullptr, false);
    SB_INPUT_CHECK(config.is_object(), "{}: run #{} has a config that is not a JSON object",
                   store.path(), run.id);
    if (!config.contains("method")) config["method"] = run.method;
    for (const auto& k : kNotRowKeys) config.erase(k);
    std::string key = config.dump();
    if (!index.count(key)) {
      index[key] = groups.size();
      groups.push_back(Group{config, {}, {}, def.key_cells(config), ""});
    }
    Group& g = groups[index[key]];
    for (const auto& [k, v] : evals) g.values[k].push_back(v);
    for (const auto& r : roots) add_unique(g.voc_roots, r);
  }
  std::stable_sort(groups.begin(), groups.end(), [&](const Group& a, const Group& b) {
    return def.order(a.config) < def.order(b.config);
  });

  // Groups that print the same row name: name the config keys that tell them apart. A row lists
  // the keys where it differs from the most common value among those groups; the row that has
  // the most common value of every such key lists them all.
  bool any_other = false;
  for (size_t i = 0; i < groups.size(); ++i) {
    std::vector<size_t> same;
    for (size_t j = 0; j < groups.size(); ++j)
      if (groups[j].key_cells == groups[i].key_cells) same.push_back(j);
    if (same.size() < 2) continue;
    std::vector<std::string> varying, off_mode, all;
    for (size_t j : same)
      for (auto it = groups[j].config.begin(); it != groups[j].config.end(); ++it)
        for (size_t k : same)
          if (!groups[k].config.contains(it.key()) || groups[k].config[it.key()] != it.value())
            add_unique(varying, it.key());
    std::sort(varying.begin(), varying.end());
    for (const auto& key : varying) {
      const json& mine = groups[i].config.contains(key) ? groups[i].config[key] : json();
      int mine_count = 0, best_count = 0;
      for (size_t j : same) {
        const json& v = groups[j].config.contains(key) ? groups[j].config[key] : json();
        int count = 0;
        for (size_t k : same)
          count += (groups[k].config.contains(key) ? groups[k].config[key] : json()) == v;
        best_count = std::max(best_count, count);
        if (v == mine) mine_count = count;
      }
      std::string text =
          key + "=" +
          (key == "crops" ? crops_with_scales(mine) : config_text(groups[i].config, key));
      all.push_back(text);
      if (mine_count < best_count) off_mode.push_back(text);
    }
    groups[i].other = join(off_mode.empty() ? all : off_mode, ", ");
    any_other = true;
  }

  Table t;
  t.id = "paper-" + def.name;
  t.html_class = "paper-table";
  t.header = def.key_headers;
  if (any_other) t.header.push_back("other settings");
  t.align = std::string(t.header.size(), 'l');
  for (const auto& c : def.ours) {
    t.header.push_back(c.header);
    t.align += 'r';
  }
  for (const auto& c : def.paper) {
    t.header.push_back(c.header);
    t.align += 'l';
  }

  std::vector<std::string> datasets, voc_data;
  Differences diff;
  for (const Group& g : groups) {
    add_unique(datasets, our_data(g.config, false));
    for (const auto& r : g.voc_roots) add_unique(voc_data, voc_data_name(r));
    std::vector<std::string> row = g.key_cells;
    if (any_other) row.push_back(g.other);
    for (const auto& c : def.ours) {
      auto it = g.values.find(c.key);
      auto d = g.values.find(diverged_key_of(c.key));
      row.push_back(paper_cell_text(it == g.values.end() ? std::vector<double>{} : it->second,
                                    d == g.values.end() ? 0 : d->second.size()));
    }
    std::string method = config_text(g.config, "method");
    std::string crops = config_text(g.config, "crops");
    std::string batch = config_text(g.config, "batch_size");
    for (const auto& c : def.paper) {
      std::string paper_name = paper_method_name(method);
      const PaperValue* first = nullptr;
      if (!paper_name.empty()) {
        Want w{c.csv_table,          paper_name, c.protocol, c.metrics[0],      def.crops_rule,
               is_multi_crop(crops), batch,      "",         def.batch_required};
        if (def.anchor_two_crops) {
          Want two = w;
          two.multi = false;
          if (const PaperValue* anchor = match_paper(paper, two)) {
            w.epochs = anchor->epochs;
            w.batch = anchor->batch;
          }
        }
        first = match_paper(paper, w);
      }
      if (!first) {
        row.push_back(kDash);
        continue;
      }
      std::vector<std::string> numbers{paper_number(first->value)};
      for (size_t m = 1; m < c.metrics.size(); ++m) {
        const PaperValue* p = same_setting(paper, *first, c.metrics[m]);
        numbers.push_back(p ? paper_number(p->value) : kDash);
      }
      row.push_back(join(numbers, " / ") + " " + paper_setting(*first));
      if (def.transfer) {
        std::vector<std::string> ours_voc;
        for (const auto& r : g.voc_roots) ours_voc.push_back(voc_data_name(r));
        diff.add("downstream data", ours_voc.empty() ? "unknown" : join(ours_voc, ", "),
                 pretty_dataset(first->dataset));
        diff.add("pretraining data", our_data(g.config, false), "ImageNet");
      } else {
        diff.add("pretraining data", our_data(g.config, false), pretty_dataset(first->dataset));
      }
      diff.add("architecture", our_arch(g.config),
               first->arch.empty() ? "" : pretty_arch(first->arch));
      diff.add("epochs", config_text(g.config, "epochs"), first->epochs);
      diff.add("batch", batch, first->batch);
      if (!def.transfer) diff.add("crops", crops, first->crops);
    }
    t.rows.push_back(row);
  }

  std::string data_text = datasets.empty() ? "the pretraining dataset" : join(datasets, ", ");
  t.title = datasets.empty()
                ? fmt::format("{}: no completed runs of ours yet", def.what)
                : fmt::format(
                      "{}: ours on {} (mean ± std (n runs)) beside the paper's published "
                      "values",
                      def.what, data_text);
  if (def.transfer)
    t.notes.push_back(fmt::format(fmt::runtime(def.ours_note), data_text,
                                  voc_data.empty() ? "the VOC layout" : join(voc_data, ", ")));
  else
    t.notes.push_back(fmt::format(fmt::runtime(def.ours_note), data_text));
  t.notes.push_back(
      "Paper: published values read from results/paper.csv, never a run of ours; each paper cell "
      "names its setting in brackets. " +
      def.paper_note);
  std::string d = diff.note();
  if (!d.empty()) t.notes.push_back(d);
  if (any_other)
    t.notes.push_back(
        "Other settings: where rows share a name, the config keys in which a row leaves the "
        "setting most of them share (the row that has it lists those keys' values).");
  t.notes.push_back(
      "—: never measured (ours) or no such value in results/paper.csv (paper). Rows aggregate "
      "seeds of completed runs only.");
  if (groups.empty())
    t.notes.push_back(fmt::format("No completed runs for this table yet: {}.", def.fill_hint));
  return t;
}

std::string render_paper_tables(Store& store, const std::string& name,
                                const std::vector<PaperValue>& paper, const std::string& format) {
  if (name != "all") return format_table(build_paper_table(store, name, paper), format);
  std::string out;
  for (const auto& n : paper_table_names())
    out += (out.empty() ? "" : "\n") + format_table(build_paper_table(store, n, paper), format);
  return out;
}

std::vector<std::string> split_paper_csv_line(const std::string& line, const std::string& where) {
  return split_csv_line(line, where);
}
std::string run_config_text(const json& config, const std::string& key) {
  return config_text(config, key);
}
bool crops_are_multi(const std::string& crops_text) { return is_multi_crop(crops_text); }
std::string eval_row_key(const EvalRow& row) { return eval_key(row); }
std::string join_strings(const std::vector<std::string>& items, const std::string& separator) {
  return join(items, separator);
}

}  // namespace swavbench
