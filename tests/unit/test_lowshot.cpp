// The low-shot linear protocol (evals/lowshot.cpp): its logistic regression against a case solved
// by hand and against scikit-learn's LogisticRegression (tests/unit/lowshot_reference.py), the
// labelled draws, and the rule that the L2 strength is chosen without the test split.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "evals/protocols.h"
#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"

namespace swavbench {
namespace {

// Two points, x = +1 (class 1) and x = -1 (class 0). By symmetry the biases are 0 and the
// weights are (-a, a); the logit gap is 2a on both points, so the objective is
// log(1 + e^{-2a}) + l2 a^2, whose derivative vanishes where l2 a = 1 / (1 + e^{2a}). Solved here
// by bisection in float64 (the left side rises, the right side falls in a).
double symmetric_case_weight(double l2) {
  double lo = 0, hi = 1 / l2;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (l2 * mid < 1 / (1 + std::exp(2 * mid)) ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

TEST(LogisticRegression, SolvesTheSymmetricTwoPointCaseByHand) {
  const torch::Tensor x = torch::tensor({1.0, -1.0}, torch::kDouble).reshape({2, 1});
  const torch::Tensor y = torch::tensor({1, 0}, torch::kInt64);
  for (const double l2 : {0.01, 0.1, 1.0}) {
    const double a = symmetric_case_weight(l2);
    const LogisticModel m = fit_logistic_regression(x, y, 2, l2, 200);
    // Converged: the gradient's max-norm is below the 1e-9 stopping rule (or the line search
    // could not improve further, which happens only within rounding of the minimiser). The
    // objective's curvature along (-a, a) is >= 2 l2, so |error| <= 1e-9 / (2 l2) <= 5e-8.
    EXPECT_LT(m.gradient_norm, 1e-8) << "l2 " << l2;
    EXPECT_NEAR(m.weight[0][0].item<double>(), -a, 1e-7) << "l2 " << l2;
    EXPECT_NEAR(m.weight[1][0].item<double>(), a, 1e-7) << "l2 " << l2;
    EXPECT_NEAR(m.bias[0].item<double>(), 0, 1e-9);
    EXPECT_NEAR(m.bias[1].item<double>(), 0, 1e-9);
    EXPECT_DOUBLE_EQ(logistic_top1(m, x, y), 100.0);
  }
  // Closed form at one point, to check the bisection itself: a = 1/2 solves l2 a = 1/(1 + e)
  // for l2 = 2 / (1 + e).
  EXPECT_NEAR(symmetric_case_weight(2 / (1 + std::exp(1.0))), 0.5, 1e-12);
}

TEST(LogisticRegression, WarmStartReachesTheSameMinimiser) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  const int64_t n = 90, d = 4;
  torch::Tensor x = torch::empty({n, d}, torch::kDouble);
  torch::Tensor y = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 3;
    for (int64_t j = 0; j < d; ++j) x[i][j] = normal(rng) + (j == i % 3 ? 1.0 : 0.0);
  }
  const LogisticModel strong = fit_logistic_regression(x, y, 3, 1.0, 200);
  const LogisticModel cold = fit_logistic_regression(x, y, 3, 0.01, 500);
  const LogisticModel warm = fit_logistic_regression(x, y, 3, 0.01, 500, &strong);
  // Both within 1e-9 / l2 (strong convexity in W) of the one minimiser.
  EXPECT_LT((cold.weight - warm.weight).abs().max().item<double>(), 2e-7);
}

TEST(LogisticRegression, FittingInTheSpanOfWideFeaturesIsExact) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  const int64_t n = 24, d = 60;  // more dimensions than images, as raw pixels with 10 labels
  torch::Tensor x = torch::empty({n, d}, torch::kDouble);
  torch::Tensor y = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % 3;
    for (int64_t j = 0; j < d; ++j) x[i][j] = normal(rng);
  }
  for (const double l2 : {0.1, 1.0}) {
    const LogisticModel full = fit_logistic_regression(x, y, 3, l2, 2000);
    const LogisticModel span = fit_logistic_regression_in_span(x, y, 3, l2, 2000);
    ASSERT_LT(full.gradient_norm, 1e-8);
    ASSERT_LT(span.gradient_norm, 1e-8);
    // Both within (gradient 1e-9 x sqrt(parameters)) / l2 of the one minimiser.
    EXPECT_LT((full.weight - span.weight).abs().max().item<double>(), 1e-6) << "l2 " << l2;
    EXPECT_LT((full.bias - span.bias).abs().max().item<double>(), 1e-6) << "l2 " << l2;
  }
}

std::string python() { return SWAVBENCH_TEST_PYTHON; }

TEST(LogisticRegression, MatchesScikitLearn) {
  ASSERT_EQ(std::system((python() + " -c 'import sklearn' 2>/dev/null").c_str()), 0)
      << python() << " cannot import sklearn: scripts/setup-deps.sh test installs python3-sklearn";
  const std::string script =
      std::string(swavbench_source_dir()) + "/tests/unit/lowshot_reference.py";
  std::mt19937 rng(2020);
  std::normal_distribution<double> normal;
  const int64_t n = 60, d = 5, classes = 3;
  // Overlapping classes (means one unit apart, unit noise): no separating plane, so the
  // minimiser is finite for every l2.
  torch::Tensor x = torch::empty({n, d}, torch::kDouble);
  torch::Tensor y = torch::empty({n}, torch::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = i % classes;
    for (int64_t j = 0; j < d; ++j) x[i][j] = normal(rng) + (j == i % classes ? 1.0 : 0.0);
  }
  TempDir dir;
  for (const double l2 : {0.01, 0.1}) {
    const std::string in = dir.path() + "/in.txt", out = dir.path() + "/out.txt";
    {
      std::ofstream f(in);
      f.precision(17);
      f << n << ' ' << d << ' ' << classes << ' ' << l2 << '\n';
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < d; ++j) f << x[i][j].item<double>() << (j + 1 == d ? '\n' : ' ');
      for (int64_t i = 0; i < n; ++i) f << y[i].item<int64_t>() << '\n';
    }
    ASSERT_EQ(std::system((python() + " " + script + " " + in + " " + out).c_str()), 0);
    std::ifstream f(out);
    std::vector<double> values;
    for (double v; f >> v;) values.push_back(v);
    ASSERT_EQ(values.size(), static_cast<size_t>(classes * d + classes + 1));
    const torch::Tensor sk_weight =
        torch::tensor(std::vector<double>(values.begin(), values.begin() + classes * d),
                      torch::kDouble)
            .reshape({classes, d});
    torch::Tensor sk_bias = torch::tensor(
        std::vector<double>(values.begin() + classes * d, values.begin() + classes * d + classes),
        torch::kDouble);
    const double sk_objective = values.back();

    const LogisticModel ours = fit_logistic_regression(x, y, classes, l2, 500);
    ASSERT_LT(ours.gradient_norm, 1e-8);
    // Our objective, in float64 here, at our solution.
    torch::Tensor logits = torch::addmm(ours.bias, x, ours.weight.t());
    const double our_objective =
        (torch::nn::functional::cross_entropy(logits, y) + 0.5 * l2 * ours.weight.pow(2).sum())
            .item<double>();
    // scikit-learn's L-BFGS stops at scipy's relative objective change 2.2e-9 (factr 1e7) at the
    // latest, so its objective is within that of the minimum; ours is at the minimum up to
    // (gradient 1e-9)^2 / l2, far below it. So: ours is not worse, and not better by more than
    // scipy's tolerance.
    EXPECT_LE(our_objective, sk_objective + 1e-12) << "l2 " << l2;
    EXPECT_GE(our_objective, sk_objective - 2.2e-9 * std::max(1.0, sk_objective)) << "l2 " << l2;
    // An objective gap e bounds the distance to the minimiser by sqrt(2 e / l2) (strong
    // convexity in W): <= sqrt(2 x 2.2e-9 / 0.01) = 6.6e-4.
    const double weight_bound = std::sqrt(2 * 2.2e-9 * std::max(1.0, sk_objective) / l2);
    EXPECT_LT((ours.weight - sk_weight).abs().max().item<double>(), weight_bound) << "l2 " << l2;
    // The biases are unique only up to a common shift (softmax): compare them centred.
    EXPECT_LT(
        ((ours.bias - ours.bias.mean()) - (sk_bias - sk_bias.mean())).abs().max().item<double>(),
        weight_bound * 10)
        << "l2 " << l2;
    // And the predictions agree point by point.
    torch::Tensor sk_logits = torch::addmm(sk_bias, x, sk_weight.t());
    EXPECT_TRUE(logits.argmax(1).equal(sk_logits.argmax(1))) << "l2 " << l2;
  }
}

TEST(LowShot, DrawsKPerClassFromThePoolAsAFunctionOfSeedKAndDraw) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 500; ++i) labels.push_back(i % 10);
  const std::vector<int64_t> a = low_shot_draw(labels, 10, 10, 0, 0);
  ASSERT_EQ(a.size(), 100u);
  std::vector<int> per_class(10, 0);
  for (int64_t i : a) ++per_class[labels[static_cast<size_t>(i)]];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 10) << "class " << c;
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), 100u);
  EXPECT_EQ(a, low_shot_draw(labels, 10, 10, 0, 0));
  EXPECT_NE(a, low_shot_draw(labels, 10, 10, 0, 1));
  EXPECT_NE(a, low_shot_draw(labels, 10, 10, 1, 0));
  EXPECT_EQ(low_shot_draw(labels, 10, 0, 0, 0).size(), 500u);  // k = 0: every label
}

// Features where class c sits near e_c: a probe separates them; the test split is given twice,
// once with its true labels and once with shuffled ones.
Features clustered(int64_t n, int64_t classes, double noise, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  Features f{torch::empty({n, classes}), torch::empty({n}, torch::kInt64)};
  for (int64_t i = 0; i < n; ++i) {
    f.labels[i] = i % classes;
    for (int64_t j = 0; j < classes; ++j)
      f.features[i][j] = static_cast<float>(noise * normal(rng) + (j == i % classes ? 1.0 : 0.0));
  }
  return f;
}

TEST(LowShot, ChoosesTheStrengthWithoutTheTestSplitAndAveragesTheDraws) {
  // Class means sqrt(2) apart, noise 0.3: a pair is confused with probability
  // Phi(-0.707 / 0.3) = 0.9 %, so a fitted probe scores about 97 %.
  const Features train = clustered(600, 4, 0.3, 1);
  const Features test = clustered(200, 4, 0.3, 2);
  Features shuffled = test;
  shuffled.labels = test.labels.roll(1);  // every label wrong
  LowShotOptions o;
  o.shots = {5, 0};
  o.draws = 4;
  o.l2 = {1e-3, 1e-1, 10.0};
  o.val_images = 100;
  const LowShotResult r = low_shot_probe(train, test, 4, o);
  const LowShotResult wrong = low_shot_probe(train, shuffled, 4, o);
  ASSERT_EQ(r.arms.size(), 2u);
  EXPECT_EQ(r.pool, 500);
  EXPECT_EQ(r.selection, 100);
  for (size_t a = 0; a < r.arms.size(); ++a) {
    // The selection saw no test label: the same choice whatever the test labels are.
    EXPECT_EQ(r.arms[a].chosen_l2, wrong.arms[a].chosen_l2);
    EXPECT_EQ(r.arms[a].selection_top1, wrong.arms[a].selection_top1);
    double sum = 0;
    for (double t : r.arms[a].test_top1) sum += t;
    EXPECT_DOUBLE_EQ(r.arms[a].mean, sum / static_cast<double>(r.arms[a].test_top1.size()));
  }
  EXPECT_EQ(r.arms[0].test_top1.size(), 4u);
  EXPECT_EQ(r.arms[0].labelled, 20);
  EXPECT_EQ(r.arms[1].test_top1.size(), 1u);  // every label: one draw
  EXPECT_EQ(r.arms[1].labelled, 500);
  EXPECT_EQ(r.arms[1].std, 0.0);
  // Separable enough that every label gives a good probe, and shuffled labels score ~0.
  EXPECT_GT(r.arms[1].mean, 90.0);
  EXPECT_LT(wrong.arms[1].mean, 20.0);
  // The sample std over the 4 draws, by hand.
  double m = r.arms[0].mean, ss = 0;
  for (double t : r.arms[0].test_top1) ss += (t - m) * (t - m);
  EXPECT_NEAR(r.arms[0].std, std::sqrt(ss / 3), 1e-12);
}

TEST(LowShot, RefusesASelectionSetLargerThanTheTrainingSplit) {
  const Features train = clustered(50, 5, 0.5, 1);
  LowShotOptions o;
  o.val_images = 50;
  try {
    low_shot_probe(train, train, 5, o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("val_images"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace swavbench
