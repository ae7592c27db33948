// The paper's linear evaluation (SwAV's eval_linear.py): the pretrained backbone is frozen in
// eval mode, its global-average-pooled features feed Linear(d, classes) initialised N(0, 0.01)
// with bias 0, trained with SGD (momentum 0.9, lr 0.3, weight decay 1e-6, cosine to 0 over the
// epochs) on RandomResizedCrop + flip crops; tested on resize + centre crop. The paper reports
// the best epoch's top-1 on the validation set, so every epoch is scored and best and last are
// both recorded.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "evals/paper_evals.h"
#include "evals/protocol_specs.h"
#include "harness/core/check.h"
#include "harness/data/loader.h"
#include "harness/data/multicrop.h"
#include "harness/data/sources.h"
#include "harness/eval/divergence.h"
#include "harness/train/optim.h"

namespace swavbench {
namespace {

// Seed of the evaluation subsets, shared with FeatureCache so that "linear" and "knn" score
// the same test images.
constexpr uint64_t kEvalSubsetSeed = 12345;
constexpr double kPi = 3.14159265358979323846;

// Top-1 and top-5 accuracy (percent) of `logits` against `labels`.
std::pair<double, double> topk_accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  int64_t k = std::min<int64_t>(5, logits.size(1));
  torch::Tensor top = std::get<1>(logits.topk(k, 1));
  double top1 = 100.0 * top.select(1, 0).eq(labels).to(torch::kDouble).mean().item<double>();
  double top5 = 100.0 * top.eq(labels.unsqueeze(1)).any(1).to(torch::kDouble).mean().item<double>();
  return {top1, top5};
}

}  // namespace

LinearEvalResult train_linear_classifier(const FeatureBatches& train, const Features& test,
                                         int64_t dim, int64_t classes,
                                         const LinearEvalOptions& options, torch::Device device) {
  SB_INPUT_CHECK(options.epochs >= 1, "linear: epochs must be >= 1, got {}", options.epochs);
  SB_INPUT_CHECK(options.batch_size >= 1, "linear: batch_size must be >= 1, got {}",
                 options.batch_size);
  SB_INPUT_CHECK(options.lr > 0, "linear: lr must be > 0, got {}", options.lr);
  SB_CHECK(train.size > 0, "linear: empty training set");
  torch::manual_seed(options.seed);
  torch::nn::Linear head(dim, classes);
  {
    // eval_linear.py's RegLog: weight N(0, 0.01), bias 0.
    torch::NoGradGuard no_grad;
    head->weight.normal_(0, 0.01);
    head->bias.zero_();
  }
  head->to(device);
  OptimizerOptions sgd;
  sgd.kind = "sgd";  // plain SGD: the paper's linear evaluation uses no LARS
  sgd.momentum = options.momentum;
  sgd.weight_decay = options.weight_decay;
  LarsSgd optimizer({{"weight", head->weight}, {"bias", head->bias}}, sgd);

  torch::Tensor x_test = test.features.to(device, torch::kFloat);
  torch::Tensor y_test = test.labels.to(device);
  LinearEvalResult result;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    // CosineAnnealingLR(T_max = epochs, eta_min = 0), stepped once per epoch as eval_linear.py.
    optimizer.set_lr(0.5 * options.lr * (1.0 + std::cos(kPi * epoch / options.epochs)));
    std::vector<int64_t> order = epoch_order(train.size, options.seed, epoch, /*shuffle=*/true);
    // Every sample every epoch (the paper's loader keeps the last partial batch).
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t begin = 0; begin < train.size; begin += options.batch_size) {
      int64_t end = std::min(train.size, begin + options.batch_size);
      std::vector<int64_t> ids(order.begin() + begin, order.begin() + end);
      auto [x, y] = train.batch(ids, epoch);
      SB_CHECK(!x.requires_grad(), "linear: training features must not carry autograd history");
      torch::Tensor loss = torch::nn::functional::cross_entropy(head->forward(x), y);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>();
      ++batches;
    }
    result.train_loss_per_epoch.push_back(loss_sum /
                                          static_cast<double>(std::max<int64_t>(1, batches)));
    torch::NoGradGuard no_grad;
    auto [top1, top5] = topk_accuracy(head->forward(x_test), y_test);
    result.top1_per_epoch.push_back(top1);
    result.top5_per_epoch.push_back(top5);
    if (epoch == 0 || top1 > result.top1_best) {
      result.top1_best = top1;
      result.top5_best = top5;
      result.best_epoch = epoch;
    }
    result.top1_last = top1;
    result.top5_last = top5;
  }
  return result;
}

EvalProtocol linear_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(linear_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const RunConfig& config = ctx.config;
    LinearEvalOptions opts;
    opts.epochs = o["epochs"].get<int>();
    opts.lr = o["lr"].get<double>();
    opts.batch_size = o["batch_size"].get<int64_t>();
    opts.weight_decay = o["weight_decay"].get<double>();
    opts.seed = o["seed"].get<uint64_t>();

    auto full = open_dataset(config.dataset, config.data_path, "train", config.load_size);
    auto data = balanced_subset_of(full, o["train_subset"].get<int64_t>(), kEvalSubsetSeed);
    // The test transform (resize + centre crop, backbone in eval mode) is exactly the feature
    // cache's, and the backbone is frozen, so the cached test features are reused every epoch.
    const Features& test =
        ctx.features.get("test", o["test_subset"].get<int64_t>(), o["crop"].get<int>());
    const EvalTransform transform = eval_transform(ctx.config, o["crop"].get<int>());
    const int resize = transform.resize, crop = transform.crop;

    ResNet backbone = ctx.method.backbone();
    const bool was_training = backbone->is_training();
    backbone->eval();  // frozen: BN uses its running statistics, nothing is updated
    AugmentOptions augment_options = AugmentOptions::none();
    augment_options.flip = true;
    MultiCropAugment augment({CropSpec{1, crop, 0.08, 1.0}}, augment_options);
    const uint64_t augment_seed = opts.seed * 7919u + 29u;
    const int workers = config.workers;
    const torch::Device device = ctx.device;
    FeatureBatches train;
    train.size = data->size();
    train.batch = [&](const std::vector<int64_t>& ids, int64_t epoch) {
      RawBatch raw = gather_batch(*data, ids, workers, device);
      torch::Tensor x = augment(raw.images, raw.sample_ids, augment_seed, epoch)[0];
      torch::NoGradGuard no_grad;  // no gradient ever reaches the backbone
      return std::make_pair(backbone->forward(x).to(torch::kFloat), raw.labels);
    };
    LinearEvalResult r = train_linear_classifier(train, test, backbone->feature_dim(),
                                                 full->num_classes(), opts, device);
    backbone->train(was_training);

    EvalResult result;
    result.metrics = {{"top1_best", r.top1_best},
                      {"top1_last", r.top1_last},
                      {"top5_best", r.top5_best},
                      {"top5_last", r.top5_last}};
    result.card = {
        {"protocol", "linear"},
        {"train_split", "train"},
        {"test_split", "test"},
        {"n_train", data->size()},
        {"n_test", test.labels.size(0)},
        {"train_subset", o["train_subset"]},
        {"test_subset", o["test_subset"]},
        {"epochs", opts.epochs},
        {"epochs_paper", 100},
        {"optimizer", "sgd"},
        {"lr", opts.lr},
        {"momentum", opts.momentum},
        {"weight_decay", opts.weight_decay},
        {"batch_size", opts.batch_size},
        {"schedule", "cosine from lr to 0, stepped per epoch (CosineAnnealingLR)"},
        {"init", "N(0, 0.01), bias 0"},
        {"features", "global average pool, frozen backbone in eval mode"},
        {"augmentation",
         fmt::format("RandomResizedCrop({}, scale 0.08-1, ratio 3/4-4/3) + horizontal flip", crop)},
        {"transform", fmt::format("resize {} + centre crop {}", resize, crop)},
        {"resolution", transform.rule},
        {"selection",
         "top1_best / top5_best: best epoch on the test split, as the paper reports; "
         "top1_last / top5_last: last epoch also recorded"},
        {"best_epoch", r.best_epoch},
        {"top1_per_epoch", r.top1_per_epoch},
        {"top5_per_epoch", r.top5_per_epoch},
        {"train_loss_per_epoch", r.train_loss_per_epoch},
        {"seed", opts.seed}};
    result.mark_diverged(
        protocol_divergence(r.train_loss_per_epoch, r.top1_best, full->num_classes()));
    return result;
  };
  return p;
}

}  // namespace swavbench
