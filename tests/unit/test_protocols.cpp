// The paper's "linear" and "semisup" protocols on real Fashion-MNIST at small sizes: pinned
// label-subset files (stable, balanced, read back, validated), the frozen-backbone linear
// evaluation and the whole-network fine-tuning on a copy.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "evals/paper_evals.h"
#include "evals/protocols.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/text.h"
#include "harness/data/dataset.h"
#include "harness/dist/collective.h"
#include "harness/eval/divergence.h"
#include "harness/eval/evaluation.h"
#include "harness/train/method.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// A fresh, empty temporary directory removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_((fs::temp_directory_path() /
               ("swavbench_protocols_" + name + "_" + std::to_string(::getpid())))
                  .string()) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::vector<int64_t>& fashion_train_labels() {
  static const std::vector<int64_t> labels =
      load_fashion_mnist(kFashionMnistDir, "train")->labels();
  return labels;
}

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an InputError: ") + e.what();
  }
  return "no error";
}

std::map<std::string, torch::Tensor> snapshot(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (auto& p : module.named_parameters()) out[p.key()] = p.value().detach().clone();
  for (auto& b : module.named_buffers()) out["buffer:" + b.key()] = b.value().detach().clone();
  return out;
}

bool bit_identical(const std::map<std::string, torch::Tensor>& a,
                   const std::map<std::string, torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, t] : a)
    if (!b.count(name) || !torch::equal(t, b.at(name))) return false;
  return true;
}

double metric(const EvalResult& r, const std::string& name) {
  for (const auto& [n, v] : r.metrics)
    if (n == name) return v;
  ADD_FAILURE() << "metric " << name << " missing";
  return -1;
}

TEST(PinnedSubset, StableAcrossRunsBalancedAndReadBack) {
  const auto& labels = fashion_train_labels();
  TempDir a("a"), b("b");
  // 63 of 60000 images: not divisible by the 10 classes, so the balance is 7/6.
  const double fraction = 0.00105;
  PinnedSubset first = pinned_label_subset(a.path(), "fashion-mnist", labels, 10, fraction, 0);
  PinnedSubset second = pinned_label_subset(b.path(), "fashion-mnist", labels, 10, fraction, 0);
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.path, a.path() + "/fashion-mnist_0.00105_seed0.txt");
  ASSERT_EQ(first.indices.size(), 63u);
  EXPECT_EQ(read_text(first.path), read_text(second.path));  // byte-identical
  EXPECT_TRUE(std::is_sorted(first.indices.begin(), first.indices.end()));
  std::vector<int> per_class(10, 0);
  for (int64_t i : first.indices) ++per_class[labels[i]];
  auto [lo, hi] = std::minmax_element(per_class.begin(), per_class.end());
  EXPECT_LE(*hi - *lo, 1);
  EXPECT_EQ(*lo, 6);
  // A different seed draws a different subset.
  EXPECT_NE(pinned_label_subset(a.path(), "fashion-mnist", labels, 10, fraction, 1).indices,
            first.indices);

  // The second call reads the pinned file instead of drawing again: reverse its lines.
  std::vector<int64_t> reversed(first.indices.rbegin(), first.indices.rend());
  std::string text = "# edited by the test\n";
  for (int64_t i : reversed) text += std::to_string(i) + "\n";
  write_text(first.path, text);
  PinnedSubset again = pinned_label_subset(a.path(), "fashion-mnist", labels, 10, fraction, 0);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.indices, reversed);
}

TEST(PinnedSubset, CorruptFileIsAnInputErrorNamingFileAndLine) {
  const auto& labels = fashion_train_labels();
  TempDir dir("corrupt");
  const std::string path = pinned_subset_path(dir.path(), "fashion-mnist", 0.01, 0);
  auto load = [&] { pinned_label_subset(dir.path(), "fashion-mnist", labels, 10, 0.01, 0); };

  write_text(path, "# header\n5\n60000\n");
  std::string message = input_error(load);
  EXPECT_NE(message.find(path + ":3:"), std::string::npos) << message;
  EXPECT_NE(message.find("out of range"), std::string::npos) << message;

  write_text(path, "# header\n5\n7\n\n5\n");
  message = input_error(load);
  EXPECT_NE(message.find(path + ":5:"), std::string::npos) << message;
  EXPECT_NE(message.find("duplicate index 5 (first at line 2)"), std::string::npos) << message;

  write_text(path, "5\n12abc\n");
  message = input_error(load);
  EXPECT_NE(message.find(path + ":2:"), std::string::npos) << message;

  write_text(path, "-1\n");
  EXPECT_NE(input_error(load).find(path + ":1:"), std::string::npos);

  write_text(path, "# only a header\n");
  EXPECT_NE(input_error(load).find("no index"), std::string::npos);

  EXPECT_NE(input_error([&] {
              pinned_label_subset(dir.path(), "fashion-mnist", labels, 10, 1.5, 0);
            }).find("fraction"),
            std::string::npos);
}

// The committed files in results/subsets are exactly what their header says made them (the
// first run writes them if absent; afterwards this guards them against edits and against a
// change of balanced_subset's stream).
TEST(PinnedSubset, CommittedFashionMnistSubsetsMatchTheirRecipe) {
  const auto& labels = fashion_train_labels();
  TempDir fresh("fresh");
  for (double fraction : {0.01, 0.1}) {
    PinnedSubset committed =
        pinned_label_subset(default_subset_dir(), "fashion-mnist", labels, 10, fraction, 0);
    EXPECT_EQ(committed.path,
              default_subset_dir() + (fraction == 0.01 ? "/fashion-mnist_0.01_seed0.txt"
                                                       : "/fashion-mnist_0.1_seed0.txt"));
    PinnedSubset redrawn =
        pinned_label_subset(fresh.path(), "fashion-mnist", labels, 10, fraction, 0);
    EXPECT_EQ(committed.indices, redrawn.indices);
    EXPECT_EQ(committed.indices.size(), fraction == 0.01 ? 600u : 6000u);
    EXPECT_EQ(sha256_file(committed.path), sha256_file(redrawn.path));
  }
}

// Three Gaussian blobs in 8 dimensions, labels i % 3.
Features blobs(int64_t n) {
  torch::Tensor labels = torch::arange(n, torch::kInt64) % 3;
  torch::Tensor centres = torch::eye(8).slice(0, 0, 3) * 4.0;
  return {centres.index_select(0, labels) + torch::randn({n, 8}), labels};
}

FeatureBatches batches_of(const Features& f) {
  FeatureBatches b;
  b.size = f.labels.size(0);
  b.batch = [f](const std::vector<int64_t>& ids, int64_t) {
    torch::Tensor idx = torch::tensor(ids, torch::kInt64);
    return std::make_pair(f.features.index_select(0, idx), f.labels.index_select(0, idx));
  };
  return b;
}

TEST(LinearCore, LearnsASeparableProblemAndRecordsEveryEpoch) {
  torch::manual_seed(5);
  Features train = blobs(600), test = blobs(300);
  LinearEvalOptions options;
  options.epochs = 5;
  options.batch_size = 64;
  LinearEvalResult r = train_linear_classifier(batches_of(train), test, 8, 3, options, torch::kCPU);
  EXPECT_GT(r.top1_last, 99.0);
  EXPECT_DOUBLE_EQ(r.top5_last, 100.0);  // 3 classes: top-5 covers them all
  ASSERT_EQ(r.top1_per_epoch.size(), 5u);
  EXPECT_EQ(r.top1_best, *std::max_element(r.top1_per_epoch.begin(), r.top1_per_epoch.end()));
  EXPECT_EQ(r.top1_best, r.top1_per_epoch[r.best_epoch]);
  EXPECT_EQ(r.top5_best, r.top5_per_epoch[r.best_epoch]);
  EXPECT_EQ(r.top1_last, r.top1_per_epoch.back());
  // Shuffled training labels carry no signal: near chance (33%).
  Features noise{train.features, train.labels.index_select(0, torch::randperm(600))};
  LinearEvalResult chance =
      train_linear_classifier(batches_of(noise), test, 8, 3, options, torch::kCPU);
  EXPECT_LT(chance.top1_last, 60.0);
}

// The random-init control with `extra` config keys.
nlohmann::json random_control(nlohmann::json extra) {
  extra["method"] = "random";
  return extra;
}

struct TinyRun {
  RunConfig config;
  std::unique_ptr<Method> method;
  std::unique_ptr<FeatureCache> cache;
  explicit TinyRun(nlohmann::json extra = nlohmann::json::object())
      : config(resolve_config(random_control(extra), nlohmann::json::object(), "test")) {
    register_harness_methods();
    register_evals();
    torch::manual_seed(0);
    method = make_method("random", MethodContext{config, 10, 1, torch::kCPU, local_collective()});
    method->module().eval();
    cache = std::make_unique<FeatureCache>(config, method->backbone(), torch::kCPU);
  }
  EvalResult run(const std::string& protocol, const nlohmann::json& given) {
    const EvalProtocol& p = find_eval(protocol, "test");
    EvalContext ctx{config, *method, torch::kCPU, merge_eval_options(p, given, "test"), *cache};
    return p.run(ctx);
  }
};

// The paper scores every row of an ablation at the dataset's full resolution; the evaluation
// transform follows the dataset, never the run's first crop size.
TEST(EvalTransform, EveryRowOfAnAblationIsScoredAtTheDatasetsResolution) {
  const nlohmann::json two = nlohmann::json::array(
      {{{"count", 2}, {"size", 28}, {"min_scale", 0.08}, {"max_scale", 1.0}}});
  const nlohmann::json multi = nlohmann::json::array(
      {{{"count", 2}, {"size", 24}, {"min_scale", 0.14}, {"max_scale", 1.0}},
       {{"count", 4}, {"size", 14}, {"min_scale", 0.05}, {"max_scale", 0.14}}});
  auto config = [](nlohmann::json table) {
    return resolve_config(table, nlohmann::json::object(), "test");
  };
  for (const auto& crops : {two, multi}) {
    EvalTransform t = eval_transform(config({{"method", "swav"}, {"crops", crops}}));
    EXPECT_EQ(t.resize, 28);
    EXPECT_EQ(t.crop, 28);
    EXPECT_NE(t.rule.find("native resolution (28 px)"), std::string::npos) << t.rule;
  }
  EvalTransform cifar =
      eval_transform(config({{"method", "swav"}, {"dataset", "cifar10"}, {"crops", multi}}));
  EXPECT_EQ(std::make_pair(cifar.resize, cifar.crop), std::make_pair(32, 32));
  // ImageFolder at load_size 256: the paper's resize 256 + centre crop 224, for 2x160 + 4x96
  // runs too.
  const nlohmann::json imagenet_multi = nlohmann::json::array(
      {{{"count", 2}, {"size", 160}, {"min_scale", 0.14}, {"max_scale", 1.0}},
       {{"count", 4}, {"size", 96}, {"min_scale", 0.05}, {"max_scale", 0.14}}});
  EvalTransform folder = eval_transform(config({{"method", "swav"},
                                                {"dataset", "imagefolder"},
                                                {"load_size", 256},
                                                {"crops", imagenet_multi}}));
  EXPECT_EQ(std::make_pair(folder.resize, folder.crop), std::make_pair(256, 224));
  // A protocol's crop option overrides the rule.
  RunConfig fashion = config({{"method", "swav"}, {"crops", multi}});
  EvalTransform chosen = eval_transform(fashion, 20);
  EXPECT_EQ(std::make_pair(chosen.resize, chosen.crop), std::make_pair(20, 20));
  EXPECT_EQ(chosen.rule, "protocol option crop = 20");
  EvalTransform folder_chosen = eval_transform(config({{"method", "swav"},
                                                       {"dataset", "imagefolder"},
                                                       {"load_size", 256},
                                                       {"crops", imagenet_multi}}),
                                               224);
  EXPECT_EQ(std::make_pair(folder_chosen.resize, folder_chosen.crop), std::make_pair(256, 224));
  EXPECT_THROW(eval_transform(fashion, -1), InputError);
}

TEST(KnnProtocol, MultiCropRunIsScoredAt28PixelsAndTheCropOptionChangesIt) {
  // A run whose first crop is 24 px (2x24 + 4x14).
  TinyRun run(nlohmann::json{
      {"crops", nlohmann::json::array(
                    {{{"count", 2}, {"size", 24}, {"min_scale", 0.14}, {"max_scale", 1.0}},
                     {{"count", 4}, {"size", 14}, {"min_scale", 0.05}, {"max_scale", 0.14}}})}});
  EvalResult native = run.run("knn", {{"k", 5}, {"train_subset", 200}, {"test_subset", 100}});
  EXPECT_EQ(native.card["transform"], "resize 28 + centre crop 28");
  EXPECT_NE(native.card["resolution"].get<std::string>().find("28 px"), std::string::npos);
  const Features& at28 = run.cache->get("test", 100);
  EvalResult smaller =
      run.run("knn", {{"k", 5}, {"train_subset", 200}, {"test_subset", 100}, {"crop", 20}});
  EXPECT_EQ(smaller.card["transform"], "resize 20 + centre crop 20");
  EXPECT_EQ(smaller.card["resolution"], "protocol option crop = 20");
  // Two resolutions, two cache entries with different features of the same images.
  const Features& at20 = run.cache->get("test", 100, 20);
  EXPECT_TRUE(torch::equal(at28.labels, at20.labels));
  EXPECT_FALSE(torch::allclose(at28.features, at20.features));
}

// The message of the InputError merge_eval_options throws, "" when it accepts the options.
std::string option_error(const std::string& protocol, const nlohmann::json& given) {
  register_evals();
  try {
    merge_eval_options(find_eval(protocol, "test"), given, "suite/mine.lua:7");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ProtocolOptions, TypesAndRangesAreCheckedWithTheKeyAndWhatWouldBeRight) {
  // Out of range: each names the script line, the option, the protocol and the valid values.
  EXPECT_EQ(option_error("knn", {{"k", 0}}),
            "suite/mine.lua:7: option 'k' of protocol 'knn' must be >= 1, got 0");
  EXPECT_EQ(option_error("knn", {{"k", {20, 0}}}),
            "suite/mine.lua:7: option 'k' of protocol 'knn' must be >= 1, got 0");
  EXPECT_EQ(option_error("knn", {{"temperature", 0.0}}),
            "suite/mine.lua:7: option 'temperature' of protocol 'knn' must be > 0, got 0.0");
  EXPECT_EQ(option_error("linear_fast", {{"epochs", 0}}),
            "suite/mine.lua:7: option 'epochs' of protocol 'linear_fast' must be >= 1, got 0");
  EXPECT_EQ(option_error("linear_fast", {{"batch_size", 0}}),
            "suite/mine.lua:7: option 'batch_size' of protocol 'linear_fast' must be >= 1, got 0");
  EXPECT_EQ(option_error("semisup", {{"fraction", 1.5}}),
            "suite/mine.lua:7: option 'fraction' of protocol 'semisup' must be in (0, 1], got 1.5");
  EXPECT_EQ(option_error("knn", {{"train_subset", -5}}),
            "suite/mine.lua:7: option 'train_subset' of protocol 'knn' must be >= 0, got -5");
  // Wrong types: what was given and what the option takes, never a JSON library message.
  EXPECT_EQ(option_error("linear", {{"epochs", "10"}}),
            "suite/mine.lua:7: option 'epochs' of protocol 'linear' must be an integer, got \"10\" "
            "(a string)");
  EXPECT_EQ(option_error("linear", {{"epochs", 2.5}}),
            "suite/mine.lua:7: option 'epochs' of protocol 'linear' must be an integer, got 2.5 (a "
            "number)");
  EXPECT_EQ(
      option_error("knn", {{"temperature", "hot"}}),
      "suite/mine.lua:7: option 'temperature' of protocol 'knn' must be a number, got \"hot\" "
      "(a string)");
  EXPECT_EQ(option_error("voc07_svm", {{"root", 3}}),
            "suite/mine.lua:7: option 'root' of protocol 'voc07_svm' must be a string, got 3 (an "
            "integer)");
  EXPECT_EQ(option_error("voc07_svm", {{"costs", nlohmann::json::array()}}),
            "suite/mine.lua:7: option 'costs' of protocol 'voc07_svm' must be a list with at least "
            "one value, got [] (a list)");
  EXPECT_NE(option_error("knn", {{"temperature", std::nan("")}}).find("a finite number"),
            std::string::npos);
  // Accepted: an integral float for an integer, an integer for a float, one value for a list.
  const nlohmann::json merged =
      merge_eval_options(find_eval("linear_fast", "t"), {{"epochs", 2.0}, {"lr", 1}}, "t");
  EXPECT_TRUE(merged["epochs"].is_number_integer());
  EXPECT_EQ(merged["epochs"], 2);
  EXPECT_TRUE(merged["lr"].is_number_float());
  EXPECT_EQ(option_error("knn", {{"k", 20}}), "");
  EXPECT_EQ(option_error("voc07_svm", {{"costs", 1.0}}), "");
  // Every protocol's own defaults are valid.
  for (const std::string& name : eval_names()) EXPECT_EQ(option_error(name, nullptr), "") << name;
  for (const std::string& name : eval_names())
    EXPECT_EQ(option_error(name, nlohmann::json::object()), "") << name;
}

TEST(LinearProtocol, TinyRunTrainsTheHeadAndLeavesTheBackboneBitIdentical) {
  TinyRun run;
  auto before = snapshot(*run.method->backbone());
  EvalResult r = run.run("linear", {{"epochs", 2}, {"train_subset", 512}, {"test_subset", 256}});
  EXPECT_TRUE(bit_identical(before, snapshot(*run.method->backbone())));
  EXPECT_FALSE(run.method->backbone()->is_training());
  for (const char* name : {"top1_best", "top1_last", "top5_best", "top5_last"}) {
    double v = metric(r, name);
    EXPECT_GE(v, 0.0) << name;
    EXPECT_LE(v, 100.0) << name;
  }
  EXPECT_GE(metric(r, "top1_best"), metric(r, "top1_last"));
  EXPECT_GE(metric(r, "top5_last"), metric(r, "top1_last"));
  // (No accuracy floor here: 4 SGD steps on a random trunk's uncentred features stay near
  // chance; that the head learns is LinearCore's separable case.)
  for (const char* key : {"protocol", "epochs", "lr", "selection", "augmentation", "transform",
                          "weight_decay", "batch_size", "top1_per_epoch", "best_epoch"})
    EXPECT_TRUE(r.card.contains(key)) << key;
  EXPECT_EQ(r.card["protocol"], "linear");
  EXPECT_EQ(r.card["epochs"], 2);
  EXPECT_EQ(r.card["n_train"], 512);
  EXPECT_EQ(r.card["n_test"], 256);
  EXPECT_EQ(r.card["top1_per_epoch"].size(), 2u);
  EXPECT_NE(r.card["selection"].get<std::string>().find("best epoch on the test split"),
            std::string::npos);
}

TEST(SemisupProtocol, FineTunesACopyOnThePinnedSubset) {
  TinyRun run;
  TempDir dir("semisup");
  auto before = snapshot(*run.method->backbone());
  // 0.2% of the labels (120 images), 3 epochs of 4 steps: the mechanics (at 1 epoch the
  // random trunk is still at chance, which is recorded as diverged).
  EvalResult r = run.run("semisup", {{"fraction", 0.002},
                                     {"epochs", 3},
                                     {"batch_size", 32},
                                     {"test_subset", 256},
                                     {"subset_dir", dir.path()}});
  EXPECT_TRUE(bit_identical(before, snapshot(*run.method->backbone())));
  ASSERT_EQ(r.diverged, "");
  for (const char* name : {"top1", "top5"}) {
    EXPECT_GE(metric(r, name), 0.0);
    EXPECT_LE(metric(r, name), 100.0);
  }
  EXPECT_GE(metric(r, "top5"), metric(r, "top1"));
  const std::string path = dir.path() + "/fashion-mnist_0.002_seed0.txt";
  EXPECT_EQ(r.card["subset_file"], path);
  EXPECT_EQ(r.card["subset_sha256"], sha256_file(path));
  EXPECT_EQ(r.card["n_labelled"], 120);
  EXPECT_EQ(r.card["batch_size"], 32);
  // Nearer the 1% recipe: trunk 0.02, head 5 capped at 0.2 for 10 classes
  // (semisup_learning_rates).
  EXPECT_DOUBLE_EQ(r.card["lr_trunk"].get<double>(), 0.02);
  EXPECT_DOUBLE_EQ(r.card["lr_head"].get<double>(), 0.2);
  EXPECT_NE(r.card["lr_source"].get<std::string>().find("head lr capped at 0.2"), std::string::npos)
      << r.card["lr_source"];
  EXPECT_GT(r.card["trunk_relative_change"].get<double>(), 0.0);  // the copy did train
  for (const char* key : {"fraction", "epochs", "schedule", "augmentation", "transform",
                          "resolution", "top1_per_epoch", "best_epoch"})
    EXPECT_TRUE(r.card.contains(key)) << key;
  // The best epoch's top-1 is the largest of the per-epoch values; the last is the last.
  const auto per_epoch = r.card["top1_per_epoch"].get<std::vector<double>>();
  ASSERT_EQ(per_epoch.size(), 3u);
  EXPECT_EQ(metric(r, "top1_best"), *std::max_element(per_epoch.begin(), per_epoch.end()));
  EXPECT_EQ(metric(r, "top1"), per_epoch.back());
  EXPECT_GE(metric(r, "top1_best"), metric(r, "top1"));
  EXPECT_NE(r.card["selection"].get<std::string>().find("eval_semisup.py"), std::string::npos);
}

// A forced divergence (a head learning rate of 1e6) is recorded as diverged with its reason,
// never as a number.
TEST(SemisupProtocol, ADivergedFineTuningIsRecordedAsDivergedNotAsANumber) {
  TinyRun run;
  TempDir dir("semisup_diverged");
  EvalResult r = run.run("semisup", {{"fraction", 0.002},
                                     {"epochs", 2},
                                     {"batch_size", 64},
                                     {"test_subset", 256},
                                     {"lr_head", 1e6},
                                     {"subset_dir", dir.path()}});
  EXPECT_TRUE(r.metrics.empty());
  ASSERT_FALSE(r.diverged.empty());
  EXPECT_TRUE(r.diverged.rfind("the training loss became nan", 0) == 0 ||
              r.diverged.rfind("the training loss exploded", 0) == 0)
      << r.diverged;
  EXPECT_EQ(r.card["diverged"], r.diverged);
}

TEST(SemisupCore, HeadLearningRateIsCappedBelowAThousandClassesAndThePapersStayImageNets) {
  SemisupLr one_pct = semisup_learning_rates(0.02, 5.0, 10, true);
  EXPECT_DOUBLE_EQ(one_pct.trunk, 0.02);
  EXPECT_DOUBLE_EQ(one_pct.head, 0.2);
  EXPECT_NE(one_pct.rule.find("head lr capped at 0.2"), std::string::npos) << one_pct.rule;
  SemisupLr ten_pct = semisup_learning_rates(0.01, 0.2, 10, true);
  EXPECT_DOUBLE_EQ(ten_pct.head, 0.2);
  EXPECT_DOUBLE_EQ(ten_pct.trunk, 0.01);
  SemisupLr imagenet = semisup_learning_rates(0.02, 5.0, 1000, true);
  EXPECT_DOUBLE_EQ(imagenet.head, 5.0);
  EXPECT_EQ(imagenet.rule, "the paper's values (1000 classes)");
  SemisupLr off = semisup_learning_rates(0.02, 5.0, 10, false);
  EXPECT_DOUBLE_EQ(off.head, 5.0);
}

TEST(ProtocolDivergence, NanExplodedAndChanceAreDivergedAndAHealthyRunIsNot) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(protocol_divergence({2.3, 1.9}, 40.0, 10), "");
  EXPECT_EQ(protocol_divergence({2.3, nan, nan}, 40.0, 10),
            "the training loss became nan at epoch 2 of 3");
  EXPECT_EQ(protocol_divergence({std::numeric_limits<double>::infinity()}, 40.0, 10),
            "the training loss became inf at epoch 1 of 1");
  // 5 x ln 10 = 11.51: 12 has exploded, 11 has not.
  EXPECT_EQ(protocol_divergence({2.3, 12.0}, 40.0, 10),
            "the training loss exploded to 12 at epoch 2 of 2 (more than 5 x ln 10 = 11.5, the "
            "loss of a uniform guess)");
  EXPECT_EQ(protocol_divergence({2.3, 11.0}, 40.0, 10), "");
  EXPECT_EQ(protocol_divergence({2.3}, 10.0, 10),
            "the best top-1 over 1 epoch(s), 10.00%, is at or below chance (10.00% for 10 "
            "classes)");
  EXPECT_EQ(protocol_divergence({2.3}, 10.05, 10), "");
  EXPECT_EQ(protocol_divergence({6.9}, 0.2, 1000), "");  // above 1000 classes' 0.1%
}

TEST(SemisupCore, CopyIsIndependentAndMilestonesAreThePapers) {
  EXPECT_EQ(semisup_milestones(20), std::make_pair(12, 16));
  EXPECT_EQ(semisup_milestones(10), std::make_pair(6, 8));
  RunConfig config = resolve_config({{"method", "random"}}, nlohmann::json::object(), "test");
  torch::manual_seed(1);
  ResNet original = make_backbone(config, 1);
  original->eval();
  auto before = snapshot(*original);
  ResNet copy = deep_copy_backbone(original);
  EXPECT_TRUE(bit_identical(before, snapshot(*copy)));
  EXPECT_NE(copy->named_parameters()[0].value().data_ptr(),
            original->named_parameters()[0].value().data_ptr());

  std::shared_ptr<const Dataset> full = load_fashion_mnist(kFashionMnistDir, "test");
  std::vector<int64_t> ids(64);
  for (int64_t i = 0; i < 64; ++i) ids[i] = i;
  SubsetDataset train(full, ids);
  SemisupOptions options;
  options.epochs = 2;
  options.batch_size = 32;
  SemisupResult r = semisup_finetune(original, train, train, 28, 28, options, torch::kCPU, 1);
  EXPECT_TRUE(bit_identical(before, snapshot(*original)));
  EXPECT_FALSE(bit_identical(before, snapshot(*r.backbone)));
  EXPECT_EQ(r.train_loss.size(), 2u);
  EXPECT_TRUE(std::isfinite(r.train_loss.back()));
  // Tested after every epoch: the last is `top1`, the best (earliest on ties) `top1_best`.
  ASSERT_EQ(r.top1_per_epoch.size(), 2u);
  ASSERT_EQ(r.top5_per_epoch.size(), 2u);
  EXPECT_EQ(r.top1, r.top1_per_epoch.back());
  EXPECT_EQ(r.top5, r.top5_per_epoch.back());
  const int best = r.top1_per_epoch[1] > r.top1_per_epoch[0] ? 1 : 0;
  EXPECT_EQ(r.best_epoch, best);
  EXPECT_EQ(r.top1_best, r.top1_per_epoch[best]);
  EXPECT_EQ(r.top5_best, r.top5_per_epoch[best]);
  // 64 test images: every accuracy is a multiple of 100/64.
  for (double a : r.top1_per_epoch) EXPECT_NEAR(a * 64 / 100, std::round(a * 64 / 100), 1e-9);
}

}  // namespace
}  // namespace swavbench
