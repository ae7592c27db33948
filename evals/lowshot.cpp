// Low-shot linear evaluation: logistic regression on frozen, standardised features with k
// labelled images per class, averaged over label draws, its L2 strength chosen on a selection
// set carved from the training split (never on the test split). See evals/protocols.h.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "evals/paper_evals.h"
#include "evals/protocol_specs.h"
#include "evals/protocols.h"
#include "harness/core/check.h"
#include "harness/core/splitmix.h"
#include "harness/data/dataset.h"

namespace swavbench {
namespace {

// The selection set's draw: fixed, so every run and every seed is selected on the same images.
constexpr uint64_t kSelectionSeed = 0x5E1EC7;

torch::Tensor take(const torch::Tensor& t, const std::vector<int64_t>& rows) {
  return t.index_select(0, torch::tensor(rows, torch::kInt64));
}

double sample_std(const std::vector<double>& v, double mean) {
  if (v.size() < 2) return 0;
  double s = 0;
  for (double x : v) s += (x - mean) * (x - mean);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

LogisticModel fit_logistic_regression(const torch::Tensor& features, const torch::Tensor& labels,
                                      int64_t num_classes, double l2, int max_iterations,
                                      const LogisticModel* start) {
  SB_CHECK(features.dim() == 2 && labels.dim() == 1 && features.size(0) == labels.size(0),
           "logistic regression: {} features for {} labels", features.size(0), labels.size(0));
  SB_CHECK(l2 > 0 && max_iterations >= 1, "logistic regression: l2 {} iterations {}", l2,
           max_iterations);
  const torch::Tensor x = features.to(torch::kDouble);
  const torch::Tensor y = labels.to(torch::kInt64);
  torch::Tensor weight =
      start ? start->weight.clone() : torch::zeros({num_classes, x.size(1)}, torch::kDouble);
  torch::Tensor bias = start ? start->bias.clone() : torch::zeros({num_classes}, torch::kDouble);
  weight.requires_grad_();
  bias.requires_grad_();
  auto objective = [&] {
    torch::Tensor logits = torch::addmm(bias, x, weight.t());
    return torch::nn::functional::cross_entropy(logits, y) +
           0.5 * l2 * weight.pow(2).sum();  // mean CE + (l2 / 2) ||W||^2
  };
  // tolerance_grad: L-BFGS stops once the gradient's max-norm is below it; the objective is
  // l2-strongly convex, so the weights are then within tolerance / l2 of the minimiser.
  torch::optim::LBFGS optimizer(std::vector<torch::Tensor>{weight, bias},
                                torch::optim::LBFGSOptions(1.0)
                                    .max_iter(max_iterations)
                                    .max_eval(max_iterations * 5 / 4 + 1)
                                    .tolerance_grad(1e-9)
                                    .tolerance_change(1e-15)
                                    .history_size(20)
                                    .line_search_fn("strong_wolfe"));
  optimizer.step([&] {
    optimizer.zero_grad();
    torch::Tensor loss = objective();
    loss.backward();
    return loss;
  });
  optimizer.zero_grad();
  torch::Tensor loss = objective();
  loss.backward();
  LogisticModel model;
  model.weight = weight.detach().clone();
  model.bias = bias.detach().clone();
  model.gradient_norm =
      std::max(weight.grad().abs().max().item<double>(), bias.grad().abs().max().item<double>());
  return model;
}

LogisticModel fit_logistic_regression_in_span(const torch::Tensor& features,
                                              const torch::Tensor& labels, int64_t num_classes,
                                              double l2, int max_iterations,
                                              const LogisticModel* start) {
  const int64_t n = features.size(0), d = features.size(1);
  if (d <= n)
    return fit_logistic_regression(features, labels, num_classes, l2, max_iterations, start);
  // d > n (raw pixels, few labels): the objective depends on W only through W X^T, and the
  // penalty is smallest with no component orthogonal to X's rows, so the minimiser lies in
  // their span. With X^T = Q R (Q: d x n, orthonormal columns), W = V Q^T and ||W|| = ||V||:
  // the same problem on the n coordinates X Q, exactly.
  const torch::Tensor x = features.to(torch::kDouble);
  const torch::Tensor basis = std::get<0>(torch::linalg_qr(x.t(), "reduced"));  // d x n
  LogisticModel reduced_start;
  if (start) {
    reduced_start.weight = start->weight.mm(basis);
    reduced_start.bias = start->bias;
  }
  LogisticModel model = fit_logistic_regression(x.mm(basis), labels, num_classes, l2,
                                                max_iterations, start ? &reduced_start : nullptr);
  model.weight = model.weight.mm(basis.t());
  return model;
}

double logistic_top1(const LogisticModel& model, const torch::Tensor& features,
                     const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  torch::Tensor logits = torch::addmm(model.bias, features.to(torch::kDouble), model.weight.t());
  return 100.0 * logits.argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

std::vector<int64_t> low_shot_draw(const std::vector<int64_t>& pool_labels, int64_t num_classes,
                                   int64_t shots, uint64_t seed, int draw) {
  if (shots <= 0) {  // every pool image
    std::vector<int64_t> all(pool_labels.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    return all;
  }
  return balanced_subset(
      pool_labels, static_cast<int>(num_classes), shots * num_classes,
      stream_seed(seed, static_cast<uint64_t>(shots), static_cast<uint64_t>(draw)));
}

LowShotResult low_shot_probe(const Features& train, const Features& test, int64_t num_classes,
                             const LowShotOptions& o) {
  SB_CHECK(!o.shots.empty() && !o.l2.empty() && o.draws >= 1, "low-shot options");
  const int64_t n = train.labels.size(0);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  {
    torch::Tensor l = train.labels.to(torch::kInt64).contiguous();
    std::copy(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + n, labels.begin());
  }
  SB_INPUT_CHECK(o.val_images >= num_classes && o.val_images < n,
                 "lowshot: val_images must be in [{} (one per class), {}) for a training split of "
                 "{} images, got {}",
                 num_classes, n, n, o.val_images);
  // The selection set and the pool: disjoint, the pool is everything else.
  const std::vector<int64_t> selection_rows =
      balanced_subset(labels, static_cast<int>(num_classes), o.val_images, kSelectionSeed);
  std::vector<int64_t> pool_rows;
  {
    std::vector<bool> taken(static_cast<size_t>(n), false);
    for (int64_t r : selection_rows) taken[static_cast<size_t>(r)] = true;
    for (int64_t r = 0; r < n; ++r)
      if (!taken[static_cast<size_t>(r)]) pool_rows.push_back(r);
  }
  std::vector<int64_t> pool_labels;
  for (int64_t r : pool_rows) pool_labels.push_back(labels[static_cast<size_t>(r)]);

  // Standardised with the pool's statistics: unlabelled images, so no label leaks in, and a
  // 10-shot draw's own std would be an estimate from 100 images.
  const torch::Tensor pool = take(train.features, pool_rows).to(torch::kDouble);
  const torch::Tensor pool_y = take(train.labels, pool_rows).to(torch::kInt64);
  const torch::Tensor mean = pool.mean(0, /*keepdim=*/true);
  const torch::Tensor std = pool.std(0, /*unbiased=*/true, /*keepdim=*/true).clamp_min(1e-6);
  const torch::Tensor x_pool = (pool - mean) / std;
  const torch::Tensor x_sel =
      (take(train.features, selection_rows).to(torch::kDouble) - mean) / std;
  const torch::Tensor y_sel = take(train.labels, selection_rows).to(torch::kInt64);
  const torch::Tensor x_test = (test.features.to(torch::kDouble) - mean) / std;
  const torch::Tensor y_test = test.labels.to(torch::kInt64);

  std::vector<size_t> path(o.l2.size());
  for (size_t j = 0; j < path.size(); ++j) path[j] = j;
  std::stable_sort(path.begin(), path.end(), [&](size_t a, size_t b) { return o.l2[a] > o.l2[b]; });

  LowShotResult result;
  result.pool = static_cast<int64_t>(pool_rows.size());
  result.selection = static_cast<int64_t>(selection_rows.size());
  result.test = y_test.size(0);
  for (const int64_t shots : o.shots) {
    LowShotArm arm;
    arm.shots = shots;
    const int draws = shots <= 0 ? 1 : o.draws;  // every label: nothing to draw
    std::vector<std::vector<LogisticModel>> models(static_cast<size_t>(draws));
    arm.selection_top1.assign(o.l2.size(), 0.0);
    std::vector<int64_t> previous_rows;
    for (int d = 0; d < draws; ++d) {
      const std::vector<int64_t> rows = low_shot_draw(pool_labels, num_classes, shots, o.seed, d);
      arm.labelled = static_cast<int64_t>(rows.size());
      if (d > 0 && rows == previous_rows) {
        // k at least a class's share of the pool: every draw is the same images, and the fits
        // (deterministic) would be too.
        models[d] = models[d - 1];
        for (size_t j = 0; j < o.l2.size(); ++j)
          arm.selection_top1[j] += logistic_top1(models[d][j], x_sel, y_sel) / draws;
        continue;
      }
      previous_rows = rows;
      const torch::Tensor x = take(x_pool, rows), y = take(pool_y, rows);
      // Along the path from the strongest l2 down, each fit starting from the previous
      // solution: a weaker penalty's minimiser is near, so far fewer iterations.
      models[d].resize(o.l2.size());
      const LogisticModel* previous = nullptr;
      for (size_t j : path) {
        models[d][j] =
            fit_logistic_regression_in_span(x, y, num_classes, o.l2[j], o.max_iterations, previous);
        previous = &models[d][j];
        arm.selection_top1[j] += logistic_top1(models[d][j], x_sel, y_sel) / draws;
      }
    }
    size_t best = 0;
    for (size_t j = 1; j < o.l2.size(); ++j) {
      const bool stronger = o.l2[j] > o.l2[best];
      if (arm.selection_top1[j] > arm.selection_top1[best] ||
          (arm.selection_top1[j] == arm.selection_top1[best] && stronger))
        best = j;
    }
    arm.chosen_l2 = o.l2[best];
    for (int d = 0; d < draws; ++d)
      arm.test_top1.push_back(logistic_top1(models[d][best], x_test, y_test));
    double sum = 0;
    for (double t : arm.test_top1) sum += t;
    arm.mean = sum / static_cast<double>(arm.test_top1.size());
    arm.std = sample_std(arm.test_top1, arm.mean);
    result.arms.push_back(std::move(arm));
  }
  return result;
}

EvalProtocol lowshot_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(lowshot_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const std::string test_split = eval_test_split(ctx.config, o, "lowshot");
    const Features& train =
        ctx.features.get("train", o["train_subset"].get<int64_t>(), o["crop"].get<int>());
    const Features& test =
        ctx.features.get(test_split, o["test_subset"].get<int64_t>(), o["crop"].get<int>());
    LowShotOptions opts;
    opts.shots = option_list<int64_t>(o["shots"]);
    opts.draws = o["draws"].get<int>();
    opts.l2 = option_list<double>(o["l2"]);
    opts.val_images = o["val_images"].get<int64_t>();
    opts.seed = o["seed"].get<uint64_t>();
    opts.max_iterations = o["max_iterations"].get<int>();
    const LowShotResult r = low_shot_probe(train, test, ctx.features.num_classes(), opts);

    EvalResult result;
    nlohmann::json arms = nlohmann::json::array();
    for (const LowShotArm& arm : r.arms) {
      const std::string name = arm.shots > 0 ? fmt::format("k{}", arm.shots) : "all";
      result.metrics.emplace_back("top1_" + name, arm.mean);
      if (arm.test_top1.size() > 1) result.metrics.emplace_back("top1_" + name + "_std", arm.std);
      arms.push_back({{"shots_per_class", arm.shots > 0 ? nlohmann::json(arm.shots) : "all"},
                      {"labelled_images", arm.labelled},
                      {"draws", arm.test_top1.size()},
                      {"l2_candidates", opts.l2},
                      {"selection_top1_per_l2", arm.selection_top1},
                      {"chosen_l2", arm.chosen_l2},
                      {"test_top1_per_draw", arm.test_top1}});
    }
    const EvalTransform transform = eval_transform(ctx.config, o["crop"].get<int>());
    result.card = {
        {"protocol", "lowshot"},
        {"train_split", "train"},
        {"test_split", test_split},
        {"n_pool", r.pool},
        {"n_selection", r.selection},
        {"n_test", r.test},
        {"model",
         "multinomial logistic regression, float64, L-BFGS (strong Wolfe), warm-started along "
         "the l2 path from the strongest (from zero at the first); fitted in the span of the "
         "labelled features when they have more dimensions than images (exact); "
         "objective mean cross-entropy + l2/2 ||W||^2 (bias not penalised)"},
        {"normalisation", "features standardised with the labelled pool's mean and std"},
        {"draws_rule", "k per class from the pool, a function of (seed, k, draw) only"},
        {"selection",
         "l2 with the best mean top-1 over the draws on the selection set (val_images from "
         "the training split, disjoint from the pool; ties: the stronger); never the test split"},
        {"arms", arms},
        {"max_iterations", opts.max_iterations},
        {"transform", fmt::format("resize {} + centre crop {}", transform.resize, transform.crop)},
        {"resolution", transform.rule},
        {"features", ctx.features.description()},
        {"seed", opts.seed}};
    return result;
  };
  return p;
}

}  // namespace swavbench
