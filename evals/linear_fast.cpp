// The fast linear probe on cached frozen features (named "linear_fast" so it is never mistaken
// for the paper's protocol, which trains on augmented crops for 100 epochs with SGD).
#include <torch/torch.h>

#include "evals/paper_evals.h"
#include "evals/protocol_specs.h"
#include "evals/protocols.h"
#include "evals/voc_protocols.h"
#include "harness/core/check.h"
#include "harness/data/loader.h"

namespace swavbench {

LinearProbeResult linear_probe_on_features(const Features& train, const Features& test,
                                           int64_t num_classes, const LinearProbeOptions& options) {
  torch::manual_seed(options.seed);
  torch::Tensor mean = train.features.mean(0, /*keepdim=*/true);
  torch::Tensor std = train.features.std(0, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-6);
  torch::Tensor x_train = (train.features - mean) / std;
  torch::Tensor x_test = (test.features - mean) / std;

  torch::nn::Linear head(x_train.size(1), num_classes);
  {
    torch::NoGradGuard no_grad;
    head->weight.normal_(0, 0.01);
    head->bias.zero_();
  }
  torch::optim::Adam optimizer(
      head->parameters(), torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  LinearProbeResult result;
  const int64_t n = x_train.size(0);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::vector<int64_t> order = epoch_order(n, options.seed, epoch, /*shuffle=*/true);
    torch::Tensor perm = torch::tensor(order, torch::kInt64);
    for (int64_t begin = 0; begin < n; begin += options.batch_size) {
      torch::Tensor idx = perm.slice(0, begin, std::min(n, begin + options.batch_size));
      torch::Tensor logits = head->forward(x_train.index_select(0, idx));
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits, train.labels.index_select(0, idx));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
    }
    torch::NoGradGuard no_grad;
    torch::Tensor logits = head->forward(x_test);
    torch::Tensor top = std::get<1>(logits.topk(std::min<int64_t>(5, num_classes), 1));
    double top1 = 100.0 * top.select(1, 0).eq(test.labels).to(torch::kDouble).mean().item<double>();
    double top5 =
        100.0 * top.eq(test.labels.unsqueeze(1)).any(1).to(torch::kDouble).mean().item<double>();
    result.top1_per_epoch.push_back(top1);
    if (top1 > result.top1_best) result.top1_best = top1, result.best_epoch = epoch;
    result.top1_last = top1;
    result.top5_last = top5;
  }
  return result;
}

EvalProtocol linear_fast_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(linear_fast_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const Features& train =
        ctx.features.get("train", o["train_subset"].get<int64_t>(), o["crop"].get<int>());
    const std::string test_split = eval_test_split(ctx.config, o, "linear_fast");
    const Features& test =
        ctx.features.get(test_split, o["test_subset"].get<int64_t>(), o["crop"].get<int>());
    const int64_t classes = ctx.features.num_classes();
    LinearProbeOptions opts;
    opts.epochs = o["epochs"].get<int>();
    opts.lr = o["lr"].get<double>();
    opts.batch_size = o["batch_size"].get<int64_t>();
    opts.weight_decay = o["weight_decay"].get<double>();
    opts.seed = o["seed"].get<uint64_t>();
    LinearProbeResult r = linear_probe_on_features(train, test, classes, opts);
    EvalResult result;
    result.metrics = {
        {"top1_last", r.top1_last}, {"top1_best", r.top1_best}, {"top5_last", r.top5_last}};
    const EvalTransform transform = eval_transform(ctx.config, o["crop"].get<int>());
    const int resize = transform.resize, crop = transform.crop;
    result.card = {{"protocol", "linear_fast"},
                   {"train_split", "train"},
                   {"test_split", test_split},
                   {"n_train", train.labels.size(0)},
                   {"n_test", test.labels.size(0)},
                   {"epochs", opts.epochs},
                   {"optimizer", "adam"},
                   {"lr", opts.lr},
                   {"batch_size", opts.batch_size},
                   {"weight_decay", opts.weight_decay},
                   {"init", "N(0, 0.01)"},
                   {"normalisation", "features standardised with the training mean and std"},
                   {"features", ctx.features.description()},
                   {"augmentation", "none (cached features)"},
                   {"transform", fmt::format("resize {} + centre crop {}", resize, crop)},
                   {"resolution", transform.rule},
                   {"selection",
                    "top1_best: best epoch on the test split, as the paper "
                    "reports; top1_last: final epoch"},
                   {"best_epoch", r.best_epoch},
                   {"seed", opts.seed}};
    return result;
  };
  return p;
}

void register_evals() {
  register_eval(knn_protocol());
  register_eval(linear_fast_protocol());
  register_eval(lowshot_protocol());    // low-shot logistic regression (evals/lowshot.cpp)
  register_eval(linear_protocol());     // the paper's linear evaluation (evals/linear.cpp)
  register_eval(semisup_protocol());    // the paper's 1% / 10% fine-tuning (evals/semisup.cpp)
  register_eval(voc07_svm_protocol());  // VOC07 linear SVMs (evals/voc07_svm.cpp)
  register_eval(voc_det_protocol());    // CenterNet-style VOC detection (evals/voc_det.cpp)
}

}  // namespace swavbench
