// LARS-wrapped SGD and the warm-up + cosine schedule against hand computations of the authors'
// formulas (apex LARC with clip = False, torch.optim.SGD momentum, main_swav.py's schedule).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "harness/core/check.h"
#include "harness/train/optim.h"

namespace swavbench {
namespace {

constexpr double kTol = 1e-12;  // everything below runs in float64
constexpr double kPi = 3.141592653589793;

torch::Tensor make_param(const std::vector<double>& values, std::vector<int64_t> shape = {}) {
  torch::Tensor t = torch::tensor(values, torch::kDouble);
  if (!shape.empty()) t = t.reshape(shape);
  return t.requires_grad_(true);
}

void set_grad(const torch::Tensor& p, const std::vector<double>& values) {
  p.mutable_grad() = torch::tensor(values, torch::kDouble).reshape(p.sizes());
}

void expect_values(const torch::Tensor& t, const std::vector<double>& expected, double tol = kTol) {
  const torch::Tensor flat = t.detach().reshape({-1});
  ASSERT_EQ(flat.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[i].item<double>(), expected[i], tol) << "element " << i;
  }
}

double norm2(double a, double b) { return std::sqrt(a * a + b * b); }

OptimizerOptions lars_options(double momentum, double wd) {
  OptimizerOptions options;
  options.kind = "lars";
  options.momentum = momentum;
  options.weight_decay = wd;
  options.trust_coefficient = 0.001;
  return options;
}

TEST(LarsSgd, TwoStepsMatchHandComputation) {
  const double lr = 5.0, m = 0.9, wd = 0.01, trust = 0.001, eps = 1e-8;
  torch::Tensor p = make_param({0.5, -1.0});
  LarsSgd opt({{"w", p}}, lars_options(m, wd));
  opt.set_lr(lr);

  // Step 1: g = (0.1, 0.2).
  double p0 = 0.5, p1 = -1.0;
  double g0 = 0.1, g1 = 0.2;
  double a = trust * norm2(p0, p1) / (norm2(g0, g1) + norm2(p0, p1) * wd + eps);
  double buf0 = (g0 + wd * p0) * a, buf1 = (g1 + wd * p1) * a;
  p0 -= lr * buf0;
  p1 -= lr * buf1;
  set_grad(p, {0.1, 0.2});
  opt.step();
  expect_values(p, {p0, p1});
  expect_values(p.grad(), {0.1, 0.2});  // the optimiser never rewrites the gradient

  // Step 2: g = (-0.3, 0.05), momentum accumulates the LARS-scaled gradient.
  g0 = -0.3;
  g1 = 0.05;
  a = trust * norm2(p0, p1) / (norm2(g0, g1) + norm2(p0, p1) * wd + eps);
  buf0 = m * buf0 + (g0 + wd * p0) * a;
  buf1 = m * buf1 + (g1 + wd * p1) * a;
  p0 -= lr * buf0;
  p1 -= lr * buf1;
  set_grad(p, {-0.3, 0.05});
  opt.step();
  expect_values(p, {p0, p1});
  // A real change: the hand computation is not trivially the starting point.
  EXPECT_GT(std::abs(p0 - 0.5), 1e-4);
}

TEST(LarsSgd, ZeroNormLeavesGradientUnchanged) {
  const double lr = 0.5, m = 0.9, wd = 0.1;
  // ||p|| = 0: the raw gradient, no weight decay, no scaling.
  torch::Tensor zero_p = make_param({0.0, 0.0});
  // ||g|| = 0: no update at all, and the momentum buffer starts at zero.
  torch::Tensor zero_g = make_param({1.0, 2.0});
  LarsSgd opt({{"zero_p", zero_p}, {"zero_g", zero_g}}, lars_options(m, wd));
  opt.set_lr(lr);
  set_grad(zero_p, {0.1, 0.2});
  set_grad(zero_g, {0.0, 0.0});
  opt.step();
  expect_values(zero_p, {-lr * 0.1, -lr * 0.2});
  expect_values(zero_g, {1.0, 2.0});

  // Next step on zero_g: buf = m * 0 + lars(g).
  const double p0 = 1.0, p1 = 2.0, g0 = 0.3, g1 = -0.4;
  const double a = 0.001 * norm2(p0, p1) / (norm2(g0, g1) + norm2(p0, p1) * wd + 1e-8);
  set_grad(zero_g, {g0, g1});
  zero_p.mutable_grad() = torch::Tensor();
  opt.step();
  expect_values(zero_g, {p0 - lr * (g0 + wd * p0) * a, p1 - lr * (g1 + wd * p1) * a});
}

TEST(LarsSgd, ExcludedOneDimParamsTakePlainSgd) {
  const double lr = 0.5, wd = 0.1;
  OptimizerOptions options = lars_options(/*momentum=*/0.9, wd);
  options.lars_exclude_bn_bias = true;
  torch::Tensor bias = make_param({0.5, -1.0});
  torch::Tensor weight = make_param({0.5, -1.0}, {1, 2});
  LarsSgd opt({{"bias", bias}, {"weight", weight}}, options);
  opt.set_lr(lr);
  set_grad(bias, {0.1, 0.2});
  set_grad(weight, {0.1, 0.2});
  opt.step();
  expect_values(bias, {0.5 - lr * (0.1 + wd * 0.5), -1.0 - lr * (0.2 - wd * 1.0)});
  const double a = 0.001 * norm2(0.5, 1.0) / (norm2(0.1, 0.2) + norm2(0.5, 1.0) * wd + 1e-8);
  expect_values(weight, {0.5 - lr * (0.1 + wd * 0.5) * a, -1.0 - lr * (0.2 - wd * 1.0) * a});

  // Without the exclusion the authors' recipe applies LARS to 1-D parameters too.
  torch::Tensor bias2 = make_param({0.5, -1.0});
  LarsSgd all({{"bias", bias2}}, lars_options(0.9, wd));
  all.set_lr(lr);
  set_grad(bias2, {0.1, 0.2});
  all.step();
  expect_values(bias2, {0.5 - lr * (0.1 + wd * 0.5) * a, -1.0 - lr * (0.2 - wd * 1.0) * a});
}

TEST(LarsSgd, PlainSgdKindTwoSteps) {
  const double lr = 0.1, m = 0.9, wd = 0.01;
  OptimizerOptions options;
  options.kind = "sgd";
  options.momentum = m;
  options.weight_decay = wd;
  torch::Tensor p = make_param({0.5, -1.0}, {2, 1});
  LarsSgd opt({{"w", p}}, options);
  opt.set_lr(lr);
  EXPECT_EQ(opt.lr(), lr);

  double p0 = 0.5, p1 = -1.0;
  double buf0 = 0.1 + wd * p0, buf1 = 0.2 + wd * p1;  // first step: buf = g
  p0 -= lr * buf0;
  p1 -= lr * buf1;
  set_grad(p, {0.1, 0.2});
  opt.step();
  expect_values(p, {p0, p1});

  buf0 = m * buf0 + (-0.3 + wd * p0);
  buf1 = m * buf1 + (0.05 + wd * p1);
  p0 -= lr * buf0;
  p1 -= lr * buf1;
  set_grad(p, {-0.3, 0.05});
  opt.step();
  expect_values(p, {p0, p1});
}

TEST(LarsSgd, ZeroMomentumIsVanillaSgd) {
  OptimizerOptions options;
  options.kind = "sgd";
  options.momentum = 0.0;
  options.weight_decay = 0.0;
  torch::Tensor p = make_param({1.0, 2.0});
  LarsSgd opt({{"w", p}}, options);
  opt.set_lr(0.5);
  for (int i = 0; i < 2; ++i) {
    set_grad(p, {0.2, -0.4});
    opt.step();
  }
  expect_values(p, {1.0 - 2 * 0.5 * 0.2, 2.0 + 2 * 0.5 * 0.4});
}

TEST(LarsSgd, ParamsWithoutGradientAreSkippedMomentumIncluded) {
  OptimizerOptions options;
  options.kind = "sgd";
  options.weight_decay = 0.0;
  torch::Tensor a = make_param({1.0, 1.0});
  torch::Tensor b = make_param({1.0, 1.0});
  LarsSgd opt({{"a", a}, {"b", b}}, options);
  opt.set_lr(1.0);
  set_grad(a, {1.0, 1.0});
  set_grad(b, {1.0, 1.0});
  opt.step();  // both: buf = 1, p = 0
  b.mutable_grad() = torch::Tensor();
  set_grad(a, {0.0, 0.0});
  opt.step();  // a: buf = 0.9, p = -0.9; b: untouched
  expect_values(a, {-0.9, -0.9});
  expect_values(b, {0.0, 0.0});
}

TEST(LarsSgd, ZeroGradZeroesInPlace) {
  torch::Tensor p = make_param({1.0, 2.0});
  LarsSgd opt({{"w", p}}, OptimizerOptions{});
  set_grad(p, {3.0, 4.0});
  const void* storage = p.grad().data_ptr();
  opt.zero_grad();
  ASSERT_TRUE(p.grad().defined());
  EXPECT_EQ(p.grad().data_ptr(), storage);
  expect_values(p.grad(), {0.0, 0.0});
}

TEST(LarsSgd, LrScaleByPrefix) {
  OptimizerOptions options;
  options.kind = "sgd";
  options.momentum = 0.0;
  options.weight_decay = 0.0;
  torch::Tensor trunk = make_param({1.0, 1.0});
  torch::Tensor head = make_param({1.0, 1.0});
  LarsSgd opt({{"trunk.layer1.weight", trunk}, {"head.weight", head}}, options);
  opt.set_lr(0.01);
  opt.set_lr_scale("head.", 10.0);
  opt.set_lr_scale("head.", 25.0);  // replaces, does not compound
  set_grad(trunk, {1.0, 2.0});
  set_grad(head, {1.0, 2.0});
  opt.step();
  expect_values(trunk, {1.0 - 0.01, 1.0 - 0.02});
  expect_values(head, {1.0 - 0.25, 1.0 - 0.5});
  EXPECT_THROW(opt.set_lr_scale("heads.", 2.0), InputError);
}

TEST(LarsSgd, RejectsBadOptions) {
  torch::Tensor p = make_param({1.0});
  OptimizerOptions adam;
  adam.kind = "adam";
  EXPECT_THROW(LarsSgd({{"w", p}}, adam), InputError);
  OptimizerOptions negative_wd;
  negative_wd.weight_decay = -1.0;
  EXPECT_THROW(LarsSgd({{"w", p}}, negative_wd), InputError);
  EXPECT_THROW(LarsSgd({{"w", p}, {"w", p}}, OptimizerOptions{}), Error);
}

// Float32 like real training: interrupted-and-restored equals uninterrupted, bit for bit.
TEST(LarsSgd, SaveLoadRoundTripIsBitIdentical) {
  torch::manual_seed(7);
  const std::vector<std::vector<int64_t>> shapes = {{4, 3}, {4}, {2, 2}};
  const std::vector<std::string> names = {"layer1.0.conv1.weight", "layer1.0.bn1.bias",
                                          "prototypes.weight"};
  std::vector<torch::Tensor> init;
  for (const auto& shape : shapes) init.push_back(torch::randn(shape));
  // Gradients for four steps; "prototypes" gets none before the checkpoint (frozen).
  std::vector<std::vector<torch::Tensor>> grads(4);
  for (auto& step : grads) {
    for (const auto& shape : shapes) step.push_back(torch::randn(shape));
  }

  auto make = [&](std::vector<torch::Tensor>* params) {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (size_t i = 0; i < init.size(); ++i) {
      params->push_back(init[i].clone().requires_grad_(true));
      named.emplace_back(names[i], params->back());
    }
    OptimizerOptions options;
    options.weight_decay = 1e-4;
    options.lars_exclude_bn_bias = true;
    return LarsSgd(named, options);
  };
  auto run_step = [&](LarsSgd& opt, std::vector<torch::Tensor>& params, int step) {
    opt.set_lr(0.3 + 0.1 * step);
    for (size_t i = 0; i < params.size(); ++i) {
      const bool frozen = i == 2 && step < 2;
      params[i].mutable_grad() = frozen ? torch::Tensor() : grads[step][i].clone();
    }
    opt.step();
  };

  std::vector<torch::Tensor> straight_params;
  LarsSgd straight = make(&straight_params);
  for (int step = 0; step < 4; ++step) run_step(straight, straight_params, step);

  std::vector<torch::Tensor> first_params;
  LarsSgd first = make(&first_params);
  for (int step = 0; step < 2; ++step) run_step(first, first_params, step);
  std::stringstream stream;
  {
    torch::serialize::OutputArchive archive;
    first.save(archive);
    archive.save_to(stream);
  }
  std::vector<torch::Tensor> resumed_params;
  LarsSgd resumed = make(&resumed_params);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < resumed_params.size(); ++i) resumed_params[i].copy_(first_params[i]);
  }
  torch::serialize::InputArchive archive;
  archive.load_from(stream);
  resumed.load(archive);
  for (int step = 2; step < 4; ++step) run_step(resumed, resumed_params, step);

  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(torch::equal(resumed_params[i], straight_params[i])) << names[i];
  }
}

TEST(LarsSgd, LoadRejectsUnknownParameter) {
  torch::Tensor p = make_param({1.0, 2.0});
  LarsSgd opt({{"old.weight", p}}, OptimizerOptions{});
  set_grad(p, {0.1, 0.1});
  opt.step();
  std::stringstream stream;
  torch::serialize::OutputArchive out;
  opt.save(out);
  out.save_to(stream);

  torch::Tensor q = make_param({1.0, 2.0});
  LarsSgd other({{"new.weight", q}}, OptimizerOptions{});
  torch::serialize::InputArchive in;
  in.load_from(stream);
  EXPECT_THROW(other.load(in), Error);
}

TEST(LrSchedule, WarmupThenCosine) {
  const double base = 4.8, final_lr = 0.0048, start = 0.3;
  const int64_t warmup = 10, total = 100, n = total - warmup;
  LrSchedule schedule(base, final_lr, start, warmup, total);
  // np.linspace(start, base, warmup): exact ends, start + i * step between.
  EXPECT_EQ(schedule.at(0), start);
  EXPECT_EQ(schedule.at(warmup - 1), base);
  EXPECT_EQ(schedule.at(4), 4 * ((base - start) / 9) + start);
  for (int64_t i = 1; i < warmup; ++i) EXPECT_GT(schedule.at(i), schedule.at(i - 1)) << i;

  // The cosine restarts at base_lr (t = 0), so base_lr appears twice, as in main_swav.py.
  EXPECT_DOUBLE_EQ(schedule.at(warmup), base);
  EXPECT_EQ(schedule.at(warmup), final_lr + 0.5 * (base - final_lr) * (1 + std::cos(0.0)));
  const double last = final_lr + 0.5 * (base - final_lr) * (1 + std::cos(kPi * (n - 1) / n));
  EXPECT_EQ(schedule.at(total - 1), last);
  for (int64_t i = warmup + 1; i < total; ++i) EXPECT_LT(schedule.at(i), schedule.at(i - 1)) << i;
  EXPECT_GT(schedule.at(total - 1), final_lr);
  // Past the end: the table's last value.
  EXPECT_EQ(schedule.at(total), last);
  EXPECT_EQ(schedule.at(10 * total), last);
}

TEST(LrSchedule, NoWarmup) {
  // The batch-256 recipe: 0.6 -> 0.0006, no warm-up.
  const double base = 0.6, final_lr = 0.0006;
  const int64_t total = 50;
  LrSchedule schedule(base, final_lr, /*start_warmup=*/0.0, /*warmup_iters=*/0, total);
  EXPECT_DOUBLE_EQ(schedule.at(0), base);
  EXPECT_EQ(schedule.at(total - 1),
            final_lr + 0.5 * (base - final_lr) * (1 + std::cos(kPi * (total - 1) / total)));
  for (int64_t i = 1; i < total; ++i) EXPECT_LT(schedule.at(i), schedule.at(i - 1)) << i;
}

TEST(LrSchedule, EdgeCasesAndValidation) {
  // np.linspace(a, b, 1) == [a].
  LrSchedule one(1.0, 0.0, 0.25, 1, 5);
  EXPECT_EQ(one.at(0), 0.25);
  EXPECT_EQ(one.at(1), 1.0);
  // All warm-up: stays at base_lr past the end.
  LrSchedule all_warmup(1.0, 0.0, 0.0, 4, 4);
  EXPECT_EQ(all_warmup.at(3), 1.0);
  EXPECT_EQ(all_warmup.at(7), 1.0);
  EXPECT_THROW(LrSchedule(1.0, 0.0, 0.0, 5, 4), InputError);
  EXPECT_THROW(LrSchedule(1.0, 0.0, 0.0, 0, 0), InputError);
  EXPECT_THROW(LrSchedule(1.0, 0.0, 0.0, -1, 4), InputError);
  EXPECT_THROW(one.at(-1), Error);
}

}  // namespace
}  // namespace swavbench
