// The claims' statistics against hand-computed cases (Student t quantiles from printed tables,
// Welch intervals worked by hand), their verdicts, the claims file, and the selection of runs
// from a real store by tags and config (harness/report/claims.h).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/report/claims.h"

namespace swavbench {
namespace {

using nlohmann::json;

// Two-sided 95% and one-sided 95% critical values from any printed t table.
TEST(StudentT, QuantilesMatchPrintedTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.2281, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.95, 4), 2.1318, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.5, 7), 0.0, 1e-9);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.7764, 1e-4);
  // Large df: the normal's 1.95996.
  EXPECT_NEAR(student_t_quantile(0.975, 1e6), 1.95996, 1e-4);
}

// a = {71, 72, 73}, b = {68, 69, 70}: means 72 and 69, both variances 1, so se = sqrt(2/3) and
// Welch's df = 2 (n - 1) = 4: 3 +- 2.7764 * 0.81650 = [0.7331, 5.2669].
TEST(Welch, HandComputedInterval) {
  const EffectInterval i = welch_interval({71, 72, 73}, {68, 69, 70}, 0.95);
  ASSERT_TRUE(i.has_interval);
  EXPECT_DOUBLE_EQ(i.diff, 3.0);
  EXPECT_NEAR(i.df, 4.0, 1e-12);
  EXPECT_NEAR(i.low, 3.0 - 2.776445 * std::sqrt(2.0 / 3.0), 1e-5);
  EXPECT_NEAR(i.high, 3.0 + 2.776445 * std::sqrt(2.0 / 3.0), 1e-5);
  // Unequal variances: a = {70, 72, 74} (var 4), b = {68, 69, 70} (var 1): se^2 = 5/3,
  // df = (5/3)^2 / ((4/3)^2 / 2 + (1/3)^2 / 2) = 50/17.
  EXPECT_NEAR(welch_interval({70, 72, 74}, {68, 69, 70}, 0.95).df, 50.0 / 17.0, 1e-12);
  // One run on a side: the difference, no interval.
  const EffectInterval one = welch_interval({75}, {68, 69, 70}, 0.95);
  EXPECT_FALSE(one.has_interval);
  EXPECT_DOUBLE_EQ(one.diff, 6.0);
}

ClaimSpec claim_of(ClaimKind kind, double bound = 0) {
  ClaimSpec c;
  c.id = "test";
  c.kind = kind;
  c.bound = bound;
  return c;
}

TEST(ClaimVerdicts, GreaterLessWithinAndOneSeed) {
  const ClaimSpec greater = claim_of(ClaimKind::kGreater);
  EXPECT_EQ(judge_claim(greater, {71, 72, 73}, {68, 69, 70}), ClaimVerdict::kReproduced);
  EXPECT_EQ(judge_claim(greater, {68, 69, 70}, {71, 72, 73}), ClaimVerdict::kContradicted);
  EXPECT_EQ(judge_claim(greater, {69, 72, 75}, {68, 70, 72}), ClaimVerdict::kNotShown);
  EXPECT_EQ(judge_claim(greater, {90}, {10}), ClaimVerdict::kNotShown);  // n = 1
  // "A - B below 2": [0.73, 5.27] straddles 2; {69.0, 69.5, 70.0} - {69, 70, 71} is below.
  const ClaimSpec less = claim_of(ClaimKind::kLess, 2.0);
  EXPECT_EQ(judge_claim(less, {71, 72, 73}, {68, 69, 70}), ClaimVerdict::kNotShown);
  EXPECT_EQ(judge_claim(less, {69.0, 69.5, 70.0}, {69, 70, 71}), ClaimVerdict::kReproduced);
  EXPECT_EQ(judge_claim(less, {81, 82, 83}, {68, 69, 70}), ClaimVerdict::kContradicted);
  // Equivalence within 0.3: diff -0.05, se = sqrt(0.02 / 3), 90% half-width 2.1318 * 0.08165
  // = 0.174, so [-0.224, 0.124] lies inside +-0.3.
  const ClaimSpec within = claim_of(ClaimKind::kWithin, 0.3);
  EXPECT_EQ(judge_claim(within, {70.0, 70.1, 70.2}, {70.05, 70.15, 70.25}),
            ClaimVerdict::kReproduced);
  EXPECT_EQ(judge_claim(within, {70, 71, 72}, {70, 71, 72.5}), ClaimVerdict::kNotShown);
  EXPECT_EQ(judge_claim(within, {72.0, 72.1, 72.2}, {70.0, 70.1, 70.2}),
            ClaimVerdict::kContradicted);
}

// diff 1, both variances 1: the smallest n with t(0.975, 2n - 2) * sqrt(2 / n) < 1. n = 8:
// 2.1448 * 0.5 = 1.072; n = 9: 2.1199 * 0.4714 = 0.9993. So 9.
TEST(ClaimVerdicts, SeedsTheSpreadWouldNeed) {
  EXPECT_EQ(seeds_needed({1, 2, 3}, {0, 1, 2}), 9);
  EXPECT_EQ(seeds_needed({1}, {0, 1, 2}), 0);
  EXPECT_EQ(seeds_needed({1, 2, 3}, {1, 2, 3}), 0);
}

TEST(ClaimsFile, TheCommittedFileParsesAndBadLinesNameFileAndLine) {
  const std::vector<ClaimSpec> claims =
      read_claims_csv(std::string(swavbench_source_dir()) + "/results/claims.csv");
  ASSERT_GE(claims.size(), 10u);
  EXPECT_EQ(claims[0].id, "multicrop_swav");
  EXPECT_EQ(claims[0].a.size(), 3u);
  EXPECT_EQ(claims[0].a[2].key, "crops");
  EXPECT_EQ(claims[0].a[2].value, "multi");

  TempDir dir("claims_test");
  const std::string header = "id,kind,bound,metrics,metric_reason,a,b,match,paper,source,claim\n";
  auto error_of = [&](const std::string& body) {
    const std::string path = dir.path() + "/c.csv";
    write_file(path, header + body);
    try {
      read_claims_csv(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("x,bigger,,knn.top1_k20,why,method=swav,method=random,,,,t\n")
                .find("c.csv:2: kind 'bigger' is not one of greater, less, within"),
            std::string::npos);
  EXPECT_NE(error_of("x,greater,,knn.top1_k20,why,method,method=random,,,,t\n")
                .find("c.csv:2 (a): condition 'method' must be key=value"),
            std::string::npos);
  EXPECT_NE(error_of("x,within,,knn.top1_k20,why,method=swav,method=random,,,,t\n")
                .find("needs a positive bound"),
            std::string::npos);
  EXPECT_NE(
      error_of("x,greater,,knn.top1_k20,method=swav\n").find("c.csv:2: 5 fields, expected 11"),
      std::string::npos);
  EXPECT_NE(error_of("x,greater,,knn.top1_k20,,method=swav,method=random,,,,t\n")
                .find("c.csv:2: metric_reason is empty; say why 'knn.top1_k20' is the claim's "
                      "primary metric"),
            std::string::npos);
}

class ClaimsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = std::make_unique<Store>(dir_.path() + "/r.sqlite"); }
  void add(const std::string& method, bool multi, int seed, double top1,
           const std::vector<std::string>& tags, json extra = json::object()) {
    json crops = multi ? json::array({{{"count", 2}, {"size", 24}}, {{"count", 4}, {"size", 14}}})
                       : json::array({{{"count", 2}, {"size", 28}}});
    json config = {{"method", method},           {"crops", crops}, {"seed", seed}, {"subset", 4096},
                   {"dataset", "fashion-mnist"}, {"epochs", 2}};
    config.update(extra);
    RunRow r;
    r.hash = "h" + std::to_string(++next_);
    r.method = method;
    r.config_json = config.dump();
    const int64_t id = store_->insert_run(r);
    store_->add_tags(id, tags);
    store_->add_eval({id, "linear_fast", "top1_best", top1, "{}", ""});
    store_->set_status(id, kStatusDone);
  }
  ClaimSpec multicrop_claim() {
    ClaimSpec c;
    c.id = "multicrop_swav";
    c.kind = ClaimKind::kGreater;
    c.metrics = {"linear.top1_best", "linear_fast.top1_best"};
    c.metric_reason = "the paper's linear evaluation";
    c.a = {{"tag", "crops"}, {"method", "swav"}, {"crops", "multi"}};
    c.b = {{"tag", "crops"}, {"method", "swav"}, {"crops", "two"}};
    c.match = {"dataset", "epochs"};
    c.text = "Multi-crop improves SwAV";
    return c;
  }
  TempDir dir_{"claims_store"};
  std::unique_ptr<Store> store_;
  int next_ = 0;
};

TEST_F(ClaimsStoreTest, SelectsByTagAndCropsPerSettingAndJudges) {
  for (int s = 0; s < 3; ++s) {
    add("swav", true, s, 71 + s, {"crops"});
    add("swav", false, s, 68 + s, {"crops"});
  }
  add("swav", true, 9, 10, {});                           // untagged: not the ablation's
  add("simclr", true, 0, 99, {"crops"});                  // another method
  add("swav", true, 0, 50, {"crops"}, {{"epochs", 20}});  // another setting, one run a side
  const std::vector<ClaimSpec> claims{multicrop_claim()};
  const std::vector<ClaimResult> results = evaluate_claims(*store_, claims);
  ASSERT_EQ(results.size(), 1u);  // epochs=20 has no B side
  const ClaimResult& r = results[0];
  EXPECT_EQ(r.setting, "dataset=fashion-mnist, epochs=2");
  EXPECT_EQ(r.metric, "linear_fast.top1_best");
  EXPECT_EQ(r.a, (std::vector<double>{71, 72, 73}));
  EXPECT_EQ(r.b, (std::vector<double>{68, 69, 70}));
  EXPECT_EQ(r.verdict, ClaimVerdict::kReproduced);
  const Table t = claims_table(results);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][5], "+3.00 [+0.73, +5.27]");
  EXPECT_EQ(t.rows[0][7], "reproduced");
  // The runs have no full linear probe: the metric cell says linear_fast stands in for it, and
  // a note carries the declared primary metric with its reason.
  EXPECT_EQ(t.rows[0][2], "linear_fast.top1_best (stand-in: the runs lack linear.top1_best)");
  EXPECT_EQ(t.notes.back(),
            "Primary metrics, declared in results/claims.csv before the runs: linear.top1_best "
            "(multicrop_swav): the paper's linear evaluation.");
  // Claims that share a metric and a reason are declared once, together; another reason or
  // another metric gets its own entry, and a claim judged in two settings is named once.
  ClaimSpec same = multicrop_claim(), other_reason = multicrop_claim(),
            other_metric = multicrop_claim();
  same.id = "multicrop_simclr";
  other_reason.id = "swav_over_random";
  other_reason.metric_reason = "beats the control";
  other_metric.id = "knn_claim";
  other_metric.metrics = {"knn.top1_k20"};
  std::vector<ClaimResult> several(5, r);
  several[1].claim = &same;
  several[2].claim = &other_reason;
  several[3].claim = &other_metric;
  several[4].claim = &same;  // a second setting of the same claim
  EXPECT_EQ(claims_table(several).notes.back(),
            "Primary metrics, declared in results/claims.csv before the runs: linear.top1_best "
            "(multicrop_swav, multicrop_simclr): the paper's linear evaluation; linear.top1_best "
            "(swav_over_random): beats the control; knn.top1_k20 (knn_claim): the paper's linear "
            "evaluation.");
  // Filtered to a suite's runs: one of the hashes, or none.
  EXPECT_EQ(claims_table(results, {"h1"}).rows.size(), 1u);
  EXPECT_EQ(claims_table(results, {"h7"}).rows.size(), 0u);
}

TEST_F(ClaimsStoreTest, MaxMinAndMissingSides) {
  for (int k : {10, 100, 1000})
    for (int s = 0; s < 2; ++s)
      add("swav", true, s, 70 + 0.01 * s + (k == 10 ? 0.1 : 0), {"prototypes"},
          {{"prototypes", k}});
  ClaimSpec c;
  c.id = "k";
  c.kind = ClaimKind::kWithin;
  c.bound = 0.3;
  c.metrics = {"linear_fast.top1_best"};
  c.a = {{"tag", "prototypes"}, {"prototypes", "max"}};
  c.b = {{"tag", "prototypes"}, {"prototypes", "min"}};
  ClaimSpec none = c;
  none.id = "none";
  none.a = {{"tag", "crops"}};
  const std::vector<ClaimSpec> claims{c, none};
  const std::vector<ClaimResult> results = evaluate_claims(*store_, claims);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_EQ(results[0].a.size(), 2u);  // K = 1000
  ASSERT_EQ(results[0].b.size(), 2u);  // K = 10
  EXPECT_NEAR(results[0].a[1], 70.01, 1e-12);
  EXPECT_NEAR(results[0].b[0], 70.1, 1e-12);
  EXPECT_NEAR(results[0].interval.diff, -0.1, 1e-9);
  EXPECT_EQ(results[0].verdict, ClaimVerdict::kReproduced);
  EXPECT_EQ(results[1].note, "no completed runs for side A yet");
}

}  // namespace
}  // namespace swavbench
