// The comparison behind `swavbench regress` (harness/report/regress.h) on hand-made values:
// tolerances of each metric kind, missing and new metrics, faster throughput, and the baseline
// file's round trip and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "harness/core/check.h"
#include "harness/report/regress.h"

namespace swavbench {
namespace {

MetricValue metric(MetricKind kind, double value, double tolerance) {
  MetricValue m;
  m.kind = kind;
  m.value = value;
  m.tolerance = tolerance;
  return m;
}

MetricMap baseline_metrics() {
  return {
      {"swav/knn.top1_k20", metric(MetricKind::accuracy, 60.0, 1.0)},
      {"swav/loss", metric(MetricKind::loss, 4.0, 0.02)},
      {"swav/throughput", metric(MetricKind::throughput, 10.0, 0.4)},
  };
}

const ComparisonRow& row(const std::vector<ComparisonRow>& rows, const std::string& name) {
  for (const auto& r : rows)
    if (r.name == name) return r;
  throw std::runtime_error("no row " + name);
}

TEST(Regress, IdenticalValuesAreOk) {
  auto rows = compare_metrics(baseline_metrics(), baseline_metrics());
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) EXPECT_EQ(r.verdict, Verdict::ok) << r.name;
  EXPECT_FALSE(has_regression(rows));
}

// Throughput against the hardware peak: a 5x slower BLAS on the same machine is a regression;
// a baseline made on a CPU of another peak is not compared (and says so).
TEST(Regress, PeakRelativeThroughputComparesOnTheBaselinesMachineOnly) {
  auto peak_row = [](double mfu, double peak) {
    MetricValue m = metric(MetricKind::throughput, mfu, 0.4);
    m.info = {{"img_per_s", 100.0}, {"peak_gflop_per_s", peak}};
    return m;
  };
  MetricMap base = baseline_metrics();
  base["swav/mfu"] = peak_row(0.30, 63.88);
  MetricMap slow_blas = baseline_metrics();
  slow_blas["swav/mfu"] = peak_row(0.06, 63.88);
  MetricMap same_machine = base;
  EXPECT_EQ(drop_rows_of_another_peak(same_machine, slow_blas), "");
  EXPECT_EQ(row(compare_metrics(same_machine, slow_blas), "swav/mfu").verdict, Verdict::regression);

  MetricMap other_machine = slow_blas;
  other_machine["swav/mfu"] = peak_row(0.06, 371.2);
  MetricMap b = base;
  const std::string note = drop_rows_of_another_peak(b, other_machine);
  EXPECT_NE(note.find("swav/mfu not compared: the baseline's fp32 peak is 63.9 GFLOP/s, this "
                      "machine's 371.2"),
            std::string::npos)
      << note;
  EXPECT_EQ(b.count("swav/mfu"), 0u);
  EXPECT_EQ(b.size(), 3u);  // the other rows stay
  auto rows = compare_metrics(b, other_machine);
  EXPECT_EQ(row(rows, "swav/mfu").verdict, Verdict::added);
  EXPECT_FALSE(has_regression(rows));

  // The GEMM-calibrated row likewise, once the baseline records its machine's peak (on an
  // AVX-512 Xeon it fell to x0.54 of a Zen baseline with no code change); a baseline row without
  // a peak (recorded before rows carried one) is compared as before.
  auto calibrated = [](double value, double peak) {
    MetricValue m = metric(MetricKind::throughput, value, 0.4);
    m.info = {{"img_per_s", 100.0}, {"gemm_gflop_per_s", 60.0}};
    if (peak > 0) m.info["peak_gflop_per_s"] = peak;
    return m;
  };
  MetricMap with_peak = base, here = slow_blas;
  with_peak["swav/throughput"] = calibrated(2.3, 63.88);
  here["swav/throughput"] = calibrated(1.2, 332.8);
  const std::string calibrated_note = drop_rows_of_another_peak(with_peak, here);
  EXPECT_NE(calibrated_note.find("swav/throughput not compared: the baseline's fp32 peak is 63.9 "
                                 "GFLOP/s, this machine's 332.8 (img/s per GEMM GFLOP/s does not "
                                 "carry over to another CPU"),
            std::string::npos)
      << calibrated_note;
  EXPECT_EQ(with_peak.count("swav/throughput"), 0u);
  MetricMap without_peak = base;
  without_peak["swav/throughput"] = calibrated(2.3, 0);
  drop_rows_of_another_peak(without_peak, here);
  EXPECT_EQ(row(compare_metrics(without_peak, here), "swav/throughput").verdict,
            Verdict::regression);
}

// Two CPUs can share a computed peak (the baseline's 2.6 GHz AVX-512 Xeon, 332.8 GFLOP/s on 2
// cores, and a Zen 5 EPYC reporting 2.596 GHz, 332.3): where both rows name their CPU, another
// CPU is not compared; the same CPU is; a baseline row without one falls back to the peak.
TEST(Regress, ThroughputOfTheSamePeakOnAnotherCpuIsNotCompared) {
  auto on_cpu = [](double mfu, double peak, double vendor, double family, double model) {
    MetricValue m = metric(MetricKind::throughput, mfu, 0.4);
    m.info = {{"img_per_s", 100.0}, {"peak_gflop_per_s", peak}};
    if (vendor > 0) {
      m.info["cpu_vendor"] = vendor;
      m.info["cpu_family"] = family;
      m.info["cpu_model"] = model;
    }
    return m;
  };
  EXPECT_EQ(cpu_vendor_code("GenuineIntel"), 1);
  EXPECT_EQ(cpu_vendor_code("AuthenticAMD"), 2);
  EXPECT_EQ(cpu_vendor_code("HygonGenuine"), 0);
  MetricMap zen5 = baseline_metrics();
  zen5["swav/mfu"] = on_cpu(0.05, 332.3, 2, 26, 2);

  MetricMap xeon = baseline_metrics();
  xeon["swav/mfu"] = on_cpu(0.30, 332.8, 1, 6, 106);
  const std::string note = drop_rows_of_another_peak(xeon, zen5);
  EXPECT_NE(note.find("swav/mfu not compared: the baseline was recorded on another CPU (Intel "
                      "family 6 model 106; this machine: AMD family 26 model 2)"),
            std::string::npos)
      << note;
  EXPECT_EQ(xeon.count("swav/mfu"), 0u);

  MetricMap same_cpu = baseline_metrics();
  same_cpu["swav/mfu"] = on_cpu(0.30, 332.3, 2, 26, 2);
  EXPECT_EQ(drop_rows_of_another_peak(same_cpu, zen5), "");
  EXPECT_EQ(row(compare_metrics(same_cpu, zen5), "swav/mfu").verdict, Verdict::regression);

  MetricMap unnamed = baseline_metrics();
  unnamed["swav/mfu"] = on_cpu(0.30, 332.8, 0, 0, 0);
  EXPECT_EQ(drop_rows_of_another_peak(unnamed, zen5), "");  // within 1 % of the peak: compared
  EXPECT_EQ(row(compare_metrics(unnamed, zen5), "swav/mfu").verdict, Verdict::regression);
}

TEST(Regress, AccuracyIsAbsolutePointsAndOneSided) {
  MetricMap now = baseline_metrics();
  now["swav/knn.top1_k20"].value = 59.1;  // -0.9 pt: within 1.0
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/knn.top1_k20").verdict,
            Verdict::ok);
  now["swav/knn.top1_k20"].value = 58.9;  // -1.1 pt
  auto rows = compare_metrics(baseline_metrics(), now);
  EXPECT_EQ(row(rows, "swav/knn.top1_k20").verdict, Verdict::regression);
  EXPECT_TRUE(has_regression(rows));
  EXPECT_EQ(format_delta(row(rows, "swav/knn.top1_k20")), "-1.10 pt");
  now["swav/knn.top1_k20"].value = 62.0;  // +2 pt: better, never a failure
  rows = compare_metrics(baseline_metrics(), now);
  EXPECT_EQ(row(rows, "swav/knn.top1_k20").verdict, Verdict::improved);
  EXPECT_FALSE(has_regression(rows));
}

TEST(Regress, TheBaselinesToleranceWinsOverTheCurrentOne) {
  MetricMap now = baseline_metrics();
  now["swav/knn.top1_k20"].value = 58.5;
  now["swav/knn.top1_k20"].tolerance = 5.0;  // a run cannot loosen the baseline's tolerance
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/knn.top1_k20").verdict,
            Verdict::regression);
  MetricMap loose = baseline_metrics();
  loose["swav/knn.top1_k20"].tolerance = 2.0;
  EXPECT_EQ(row(compare_metrics(loose, now), "swav/knn.top1_k20").verdict, Verdict::ok);
}

TEST(Regress, LossIsRelativeAndTwoSided) {
  MetricMap now = baseline_metrics();
  now["swav/loss"].value = 4.07;  // +1.75 %
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/loss").verdict, Verdict::ok);
  now["swav/loss"].value = 4.1;  // +2.5 %
  auto rows = compare_metrics(baseline_metrics(), now);
  EXPECT_EQ(row(rows, "swav/loss").verdict, Verdict::regression);
  EXPECT_EQ(format_delta(row(rows, "swav/loss")), "+2.50 %");
  now["swav/loss"].value = 3.8;  // -5 %: the computation changed, also a failure
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/loss").verdict,
            Verdict::regression);
}

TEST(Regress, TrainingStatisticsCompareLikeTheLoss) {
  MetricMap base = baseline_metrics();
  base["swav/code_entropy"] = metric(MetricKind::training_stat, 4.44, 0.02);
  MetricMap now = base;
  now["swav/code_entropy"].value = 4.52;  // +1.8 %
  EXPECT_EQ(row(compare_metrics(base, now), "swav/code_entropy").verdict, Verdict::ok);
  now["swav/code_entropy"].value = 4.605;  // ln 100: uniform codes, +3.7 %
  auto rows = compare_metrics(base, now);
  EXPECT_EQ(row(rows, "swav/code_entropy").verdict, Verdict::regression);
  EXPECT_NE(row(rows, "swav/code_entropy").note.find("rose"), std::string::npos);
  EXPECT_EQ(parse_baseline(baseline_to_json(Baseline{{}, 0, {}, base}), "b.json")
                .metrics["swav/code_entropy"]
                .kind,
            MetricKind::training_stat);
}

TEST(Regress, FasterThroughputIsNeverAFailure) {
  MetricMap now = baseline_metrics();
  now["swav/throughput"].value = 6.5;  // x0.65 >= x0.60
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/throughput").verdict, Verdict::ok);
  now["swav/throughput"].value = 5.9;  // x0.59
  auto rows = compare_metrics(baseline_metrics(), now);
  EXPECT_EQ(row(rows, "swav/throughput").verdict, Verdict::regression);
  EXPECT_EQ(format_delta(row(rows, "swav/throughput")), "x0.59");
  now["swav/throughput"].value = 100.0;  // 10x faster
  rows = compare_metrics(baseline_metrics(), now);
  EXPECT_EQ(row(rows, "swav/throughput").verdict, Verdict::improved);
  EXPECT_FALSE(has_regression(rows));
  now["swav/throughput"].value = 12.0;  // x1.2: within the band, plain OK
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/throughput").verdict, Verdict::ok);
}

TEST(Regress, MissingMetricIsARegressionNewMetricIsNot) {
  MetricMap now = baseline_metrics();
  now.erase("swav/loss");
  now["moco/knn.top1_k20"] = metric(MetricKind::accuracy, 50.0, 1.0);
  auto rows = compare_metrics(baseline_metrics(), now);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(row(rows, "swav/loss").verdict, Verdict::regression);
  EXPECT_FALSE(row(rows, "swav/loss").now.has_value());
  EXPECT_EQ(row(rows, "moco/knn.top1_k20").verdict, Verdict::added);
  EXPECT_TRUE(has_regression(rows));

  now = baseline_metrics();
  now["moco/knn.top1_k20"] = metric(MetricKind::accuracy, 50.0, 1.0);
  EXPECT_FALSE(has_regression(compare_metrics(baseline_metrics(), now)));
}

TEST(Regress, NanIsARegression) {
  MetricMap now = baseline_metrics();
  now["swav/loss"].value = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(row(compare_metrics(baseline_metrics(), now), "swav/loss").verdict,
            Verdict::regression);
}

TEST(Regress, TableNamesEveryMetricAndVerdict) {
  MetricMap now = baseline_metrics();
  now["swav/knn.top1_k20"].value = 50.0;
  std::string table = render_comparison(compare_metrics(baseline_metrics(), now));
  EXPECT_NE(table.find("metric"), std::string::npos);
  EXPECT_NE(table.find("tolerance"), std::string::npos);
  EXPECT_NE(table.find("swav/knn.top1_k20"), std::string::npos);
  EXPECT_NE(table.find("REGRESSION"), std::string::npos);
  EXPECT_NE(table.find("±1.00 pt"), std::string::npos);
  EXPECT_NE(table.find(">= x0.60"), std::string::npos);
  EXPECT_NE(table.find("-10.00 pt"), std::string::npos);
}

TEST(Regress, BaselineRoundTripIsStable) {
  Baseline b;
  b.provenance = {{"git_sha", "abc"}, {"host", "h"}, {"threads", 2}};
  b.calibration_gflops = 42.5;
  b.tolerances.accuracy_points = 1.5;
  b.metrics = baseline_metrics();
  b.metrics["swav/throughput"].unit = "img/s per GEMM GFLOP/s";
  b.metrics["swav/throughput"].info = {{"img_per_s", 425.0}};
  const std::string text = baseline_to_json(b);
  Baseline back = parse_baseline(text, "x.json");
  EXPECT_EQ(baseline_to_json(back), text);  // stable: same bytes after a round trip
  EXPECT_DOUBLE_EQ(back.calibration_gflops, 42.5);
  EXPECT_DOUBLE_EQ(back.tolerances.accuracy_points, 1.5);
  ASSERT_EQ(back.metrics.size(), 3u);
  EXPECT_EQ(back.metrics["swav/loss"].kind, MetricKind::loss);
  EXPECT_DOUBLE_EQ(back.metrics["swav/throughput"].info["img_per_s"], 425.0);
  // Keys sorted: "calibration" before "metrics" before "provenance".
  EXPECT_LT(text.find("\"calibration\""), text.find("\"metrics\""));
  EXPECT_LT(text.find("\"metrics\""), text.find("\"provenance\""));
}

TEST(Regress, CorruptOrMissingBaselineNamesTheFileAndUpdate) {
  for (const std::string text :
       {"{not json", "{}", "[1, 2]",
        R"({"format": 1, "metrics": {"a": {"kind": "speed", "value": 1}}})",
        R"({"format": 1, "metrics": {"a": {"kind": "loss"}}})"}) {
    try {
      parse_baseline(text, "results/baseline.json");
      FAIL() << "accepted: " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("results/baseline.json"), std::string::npos) << e.what();
    }
  }
  try {
    read_baseline("/nonexistent/baseline.json");
    FAIL() << "read a missing file";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("/nonexistent/baseline.json"), std::string::npos) << what;
    EXPECT_NE(what.find("--update"), std::string::npos) << what;
  }
}

TEST(Regress, WriteThenReadFromDisk) {
  const auto dir = std::filesystem::temp_directory_path() / "swavbench_test_regress";
  std::filesystem::remove_all(dir);
  Baseline b;
  b.metrics = baseline_metrics();
  const std::string path = (dir / "sub" / "baseline.json").string();
  write_baseline(path, b);
  Baseline back = read_baseline(path);
  EXPECT_EQ(back.metrics.size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace swavbench
