// VOC07 linear SVM classification (the paper's Table 3 "VOC07 SVM" column, following the
// benchmark of Goyal et al. 2019): frozen features of the backbone, one linear SVM per class
// trained one-vs-rest with LIBLINEAR, cost chosen per class by cross-validation on trainval,
// mean VOC07 11-point AP over the classes on test.
#include <linear.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include "evals/protocol_specs.h"
#include "evals/voc_map.h"
#include "evals/voc_protocols.h"
#include "harness/core/check.h"
#include "harness/data/multicrop.h"

namespace swavbench {
namespace {

void silent_print(const char*) {}

// Dense rows in LIBLINEAR's sparse layout: indices 1..d, then the bias node (index d + 1, value
// 1, exactly what LIBLINEAR's own train/predict tools append when bias = 1), then the -1
// terminator. One copy serves every fold and cost.
class LiblinearRows {
 public:
  explicit LiblinearRows(const torch::Tensor& features) {
    SB_CHECK(features.dim() == 2, "features must be N x d, got {} dims", features.dim());
    torch::Tensor f = features.to(torch::kCPU, torch::kDouble).contiguous();
    rows_ = f.size(0);
    dim_ = f.size(1);
    nodes_.resize(static_cast<size_t>(rows_ * (dim_ + 2)));
    const double* data = f.data_ptr<double>();
    for (int64_t i = 0; i < rows_; ++i) {
      feature_node* row = this->row(i);
      for (int64_t j = 0; j < dim_; ++j) row[j] = {static_cast<int>(j + 1), data[i * dim_ + j]};
      row[dim_] = {static_cast<int>(dim_ + 1), 1.0};
      row[dim_ + 1] = {-1, 0.0};
    }
  }
  feature_node* row(int64_t i) { return nodes_.data() + i * (dim_ + 2); }
  int64_t rows() const { return rows_; }
  int64_t dim() const { return dim_; }

 private:
  int64_t rows_ = 0, dim_ = 0;
  std::vector<feature_node> nodes_;
};

// Trains one SVM on rows `train_idx` (labels +1 / -1) and returns the decision values of rows
// `test_idx` of `test` (positive = class present). Empty when the training rows lack one of the
// two classes: no separating hyperplane is defined then.
std::vector<float> fit_and_decide(LiblinearRows& train, const std::vector<int64_t>& train_idx,
                                  const std::vector<int>& labels, LiblinearRows& test,
                                  const std::vector<int64_t>& test_idx, double cost,
                                  const SvmOptions& options) {
  bool has_pos = false, has_neg = false;
  std::vector<double> y;
  std::vector<feature_node*> x;
  for (int64_t i : train_idx) {
    y.push_back(labels[i]);
    x.push_back(train.row(i));
    (labels[i] > 0 ? has_pos : has_neg) = true;
  }
  if (!has_pos || !has_neg) return {};
  problem prob{};
  prob.l = static_cast<int>(y.size());
  prob.n = static_cast<int>(train.dim() + 1);  // + the bias feature
  prob.y = y.data();
  prob.x = x.data();
  prob.bias = 1.0;
  int weight_label[1] = {1};
  double weight[1] = {options.positive_weight};
  parameter param{};
  param.solver_type = L2R_L2LOSS_SVC_DUAL;
  param.eps = options.eps;
  param.C = cost;
  param.nr_weight = 1;
  param.weight_label = weight_label;
  param.weight = weight;
  param.p = 0.1;
  param.init_sol = nullptr;
#if LIBLINEAR_VERSION >= 240
  param.regularize_bias = 1;  // 2.40+ made it optional; earlier versions always regularise it
#endif
  if (const char* error = check_parameter(&prob, &param))
    throw InputError(fmt::format("voc07_svm: LIBLINEAR rejects the parameters: {}", error));
  set_print_string_function(&silent_print);
  // The dual coordinate descent visits samples in an order drawn from rand(): reseed so that
  // every fit (and hence the chosen costs and the mAP) is reproducible.
  std::srand(1);
  model* svm = ::train(&prob, &param);  // LIBLINEAR's train, not the argument
  // The decision value refers to svm->label[0], the first label LIBLINEAR met in the data.
  const double sign = svm->label[0] == 1 ? 1.0 : -1.0;
  std::vector<float> scores;
  scores.reserve(test_idx.size());
  double decision = 0;
  for (int64_t i : test_idx) {
    predict_values(svm, test.row(i), &decision);
    scores.push_back(static_cast<float>(sign * decision));
  }
  free_and_destroy_model(&svm);
  return scores;
}

// Frozen, global-average-pooled features of every image of `data`: resize the shorter side to
// `image_size` and centre crop image_size x image_size, normalised as in pretraining.
torch::Tensor extract_voc_features(ResNet backbone, const VocDataset& data, int image_size,
                                   torch::Device device) {
  torch::NoGradGuard no_grad;
  const bool was_training = backbone->is_training();
  backbone->eval();
  const int64_t channels = backbone->options().in_channels;
  const int64_t batch = 64;
  std::vector<torch::Tensor> features, pending;
  auto flush = [&] {
    if (pending.empty()) return;
    torch::Tensor x = torch::cat(pending).to(device);
    features.push_back(backbone->forward(x).to(torch::kCPU, torch::kFloat));
    pending.clear();
  };
  for (int64_t i = 0; i < data.size(); ++i) {
    // Images of real VOC differ in size, so each is cropped alone and the crops are batched.
    pending.push_back(center_crop_normalize(voc_image_tensor(data.image(i), channels), image_size,
                                            image_size, AugmentOptions::none()));
    if (static_cast<int64_t>(pending.size()) == batch) flush();
  }
  flush();
  backbone->train(was_training);
  return torch::cat(features);
}

// The devkit labels of `class_name` in the order of `data`'s images.
std::vector<int> labels_in_order(const VocDataset& data, const std::string& class_name) {
  std::map<std::string, int> by_id;
  for (const auto& [id, label] : read_voc_class_labels(data.root(), class_name, data.split()))
    by_id[id] = label;
  std::vector<int> labels;
  labels.reserve(data.annotations().size());
  for (const VocAnnotation& a : data.annotations()) {
    auto it = by_id.find(a.image_id);
    SB_INPUT_CHECK(it != by_id.end(), "{}/ImageSets/Main/{}_{}.txt has no line for image {}",
                   data.root(), class_name, data.split(), a.image_id);
    labels.push_back(it->second);
  }
  return labels;
}

}  // namespace

torch::Tensor voc_image_tensor(const ImageU8& image, int64_t channels) {
  SB_CHECK(image.channels == 1 || image.channels == 3, "image has {} channels", image.channels);
  SB_INPUT_CHECK(channels == 1 || channels == 3, "backbone takes {} channels; VOC needs 1 or 3",
                 channels);
  torch::Tensor hwc = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                       {image.height, image.width, image.channels}, torch::kUInt8)
                          .clone();
  torch::Tensor chw = hwc.permute({2, 0, 1});
  if (channels == 1 && image.channels == 3) {
    torch::Tensor luma = torch::tensor({0.299f, 0.587f, 0.114f}).view({3, 1, 1});
    chw = (chw.to(torch::kFloat) * luma)
              .sum(0, /*keepdim=*/true)
              .round()
              .clamp(0, 255)
              .to(torch::kUInt8);
  } else if (channels == 3 && image.channels == 1) {
    chw = chw.expand({3, image.height, image.width});
  }
  return chw.unsqueeze(0).contiguous();
}

SvmClassResult train_and_score_svm(const torch::Tensor& train_features,
                                   const std::vector<int>& train_labels,
                                   const torch::Tensor& test_features,
                                   const std::vector<int>& test_labels, const SvmOptions& options) {
  SB_INPUT_CHECK(!options.costs.empty(), "voc07_svm: 'costs' is empty");
  for (double c : options.costs) SB_INPUT_CHECK(c > 0, "voc07_svm: cost {} must be > 0", c);
  SB_INPUT_CHECK(options.folds >= 2, "voc07_svm: folds {} must be >= 2", options.folds);
  SB_CHECK(train_features.size(0) == static_cast<int64_t>(train_labels.size()) &&
               test_features.size(0) == static_cast<int64_t>(test_labels.size()),
           "features and labels differ in length");
  LiblinearRows train(train_features), test(test_features);

  // Deterministic stratified folds: the k-th positive (and the k-th negative) in index order goes
  // to fold k mod folds. Difficult-only images (label 0) take no part.
  std::vector<int> fold_of(train_labels.size(), -1);
  int64_t positives = 0, negatives = 0;
  for (size_t i = 0; i < train_labels.size(); ++i) {
    SB_INPUT_CHECK(train_labels[i] == 1 || train_labels[i] == -1 || train_labels[i] == 0,
                   "voc07_svm: label {} not in {{1, -1, 0}}", train_labels[i]);
    if (train_labels[i] == 1) fold_of[i] = static_cast<int>(positives++ % options.folds);
    if (train_labels[i] == -1) fold_of[i] = static_cast<int>(negatives++ % options.folds);
  }

  SvmClassResult result;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double best = -1;
  result.cost = options.costs.front();
  for (double cost : options.costs) {
    double sum = 0;
    int scored = 0;
    for (int fold = 0; fold < options.folds; ++fold) {
      std::vector<int64_t> fit_idx, held_idx;
      std::vector<int> held_labels;
      for (size_t i = 0; i < fold_of.size(); ++i) {
        if (fold_of[i] < 0) continue;
        if (fold_of[i] == fold) {
          held_idx.push_back(static_cast<int64_t>(i));
          held_labels.push_back(train_labels[i]);
        } else {
          fit_idx.push_back(static_cast<int64_t>(i));
        }
      }
      std::vector<float> scores =
          fit_and_decide(train, fit_idx, train_labels, train, held_idx, cost, options);
      if (scores.empty()) continue;
      double ap = voc07_classification_ap(scores, held_labels, /*eleven_point=*/true);
      if (std::isnan(ap)) continue;  // a fold without positives says nothing about the cost
      sum += ap;
      ++scored;
    }
    double mean = scored > 0 ? sum / scored : nan;
    result.cv_ap.push_back(mean);
    // Strictly better only: ties keep the earlier cost (the smallest with the default list,
    // i.e. the strongest regularisation).
    if (!std::isnan(mean) && mean > best) best = mean, result.cost = cost;
  }

  std::vector<int64_t> fit_idx, test_idx;
  for (size_t i = 0; i < train_labels.size(); ++i)
    if (train_labels[i] != 0) fit_idx.push_back(static_cast<int64_t>(i));
  for (int64_t i = 0; i < test.rows(); ++i) test_idx.push_back(i);
  result.scores =
      fit_and_decide(train, fit_idx, train_labels, test, test_idx, result.cost, options);
  // Without both classes in trainval there is no classifier: every test image scores 0.
  if (result.scores.empty()) result.scores.assign(test_idx.size(), 0.0f);
  result.ap = voc07_classification_ap(result.scores, test_labels, /*eleven_point=*/true);
  return result;
}

EvalProtocol voc07_svm_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(voc07_svm_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const std::string root = o["root"].get<std::string>();
    SB_INPUT_CHECK(!root.empty(),
                   "voc07_svm: option 'root' is empty: run `swavbench data make-voc --out DIR` "
                   "and pass root = DIR, or pass the path of a VOC2007 release (the folder with "
                   "JPEGImages/, Annotations/ and ImageSets/)");
    const int image_size = o["image_size"].get<int>();
    SB_INPUT_CHECK(image_size >= 8, "voc07_svm: image_size {} must be >= 8", image_size);
    SvmOptions svm;
    svm.costs = option_list<double>(o["costs"]);
    svm.folds = o["folds"].get<int>();
    svm.positive_weight = o["positive_weight"].get<double>();
    SB_INPUT_CHECK(svm.positive_weight > 0, "voc07_svm: positive_weight must be > 0");

    const std::vector<std::string> classes = read_voc_classes(root);
    VocDataset train(root, o["train_split"].get<std::string>(), classes);
    VocDataset test(root, o["test_split"].get<std::string>(), classes);
    SB_INPUT_CHECK(train.size() > 0 && test.size() > 0, "voc07_svm: {}: an empty split", root);
    ResNet backbone = ctx.method.backbone();
    // L2-normalised features, as the benchmark does before its SVMs: the costs then mean the
    // same thing for every backbone, whatever its feature scale.
    auto normalise = [](const torch::Tensor& f) {
      return torch::nn::functional::normalize(f,
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
    };
    torch::Tensor train_features =
        normalise(extract_voc_features(backbone, train, image_size, ctx.device));
    torch::Tensor test_features =
        normalise(extract_voc_features(backbone, test, image_size, ctx.device));

    EvalResult result;
    nlohmann::json chosen = nlohmann::json::object(), per_class = nlohmann::json::object();
    std::vector<std::string> skipped;
    double sum = 0;
    int counted = 0;
    for (const std::string& name : classes) {
      SvmClassResult r = train_and_score_svm(train_features, labels_in_order(train, name),
                                             test_features, labels_in_order(test, name), svm);
      chosen[name] = r.cost;
      if (std::isnan(r.ap)) {  // no positive test image: AP undefined, left out of the mAP
        skipped.push_back(name);
        continue;
      }
      per_class[name] = 100.0 * r.ap;
      result.metrics.emplace_back("ap_" + name, 100.0 * r.ap);
      sum += r.ap;
      ++counted;
    }
    SB_INPUT_CHECK(counted > 0, "voc07_svm: no class has a positive image in split '{}'",
                   test.split());
    result.metrics.insert(result.metrics.begin(), {"map", 100.0 * sum / counted});
    result.card = {{"protocol", "voc07_svm"},
                   {"root", root},
                   {"train_split", train.split()},
                   {"test_split", test.split()},
                   {"n_train", train.size()},
                   {"n_test", test.size()},
                   {"classes", classes.size()},
                   {"image_size", image_size},
                   {"transform",
                    fmt::format("resize shorter side {} + centre crop {}", image_size, image_size)},
                   {"features", "global average pool, backbone frozen in eval mode, L2-normalised"},
                   {"solver", "LIBLINEAR L2R_L2LOSS_SVC_DUAL (squared hinge, L2), bias 1, eps " +
                                  fmt::format("{}", svm.eps)},
                   {"positive_weight", svm.positive_weight},
                   {"costs", svm.costs},
                   {"folds", svm.folds},
                   {"selection",
                    "cost per class by the mean VOC07 AP over deterministic "
                    "stratified folds of trainval (ties: the earlier cost), then "
                    "retrained on all of trainval"},
                   {"chosen_cost", chosen},
                   {"ap_per_class", per_class},
                   {"skipped_classes", skipped},
                   {"metric", "VOC07 11-point classification AP (difficult-only images ignored)"}};
    return result;
  };
  return p;
}

}  // namespace swavbench
