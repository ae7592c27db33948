// Plot data preparation from a hand-made store (curves, error bars, throughput), the gnuplot
// script and data text, and the HTML helpers of the report. gnuplot itself runs only in the
// last test (skipped with a message where it is not installed).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/report/html_report.h"
#include "harness/report/plots.h"
#include "harness/store/store.h"

namespace swavbench {
namespace {

class PlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/swavbench_plots_XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::make_unique<Store>(dir_ + "/r.sqlite");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t add_run(const std::string& label, const std::string& suite,
                  std::vector<std::pair<std::string, double>> evals,
                  const std::string& status = kStatusDone, const std::string& method = "swav",
                  const std::string& device = "cpu (2 threads)") {
    RunRow r;
    r.hash = "h" + std::to_string(++runs_);
    r.method = method;
    r.label = label;
    r.suite = suite;
    r.device = device;
    r.config_json = nlohmann::json{{"method", method}}.dump();
    r.status = status;
    int64_t id = store_->insert_run(r);
    for (const auto& [metric, value] : evals) {
      auto dot = metric.find('.');
      store_->add_eval({id, metric.substr(0, dot), metric.substr(dot + 1), value, "{}", ""});
    }
    return id;
  }
  void add_epoch(int64_t run, int epoch, double loss, double img_per_s,
                 const std::string& extra = "{}") {
    EpochRow e;
    e.run_id = run;
    e.epoch = epoch;
    e.loss = loss;
    e.img_per_s = img_per_s;
    e.extra_json = extra;
    store_->add_epoch(e);
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
  int runs_ = 0;
};

TEST_F(PlotsTest, AblationBarsAreMeanAndSampleStdOverSeedsPerSuiteAndLabel) {
  // Suite "crops": label "2x224" over three seeds, "2x160+4x96" once; a failed run is ignored.
  add_run("2x224", "suite/crops.lua", {{"knn.top1_k20", 70}, {"linear_fast.top1_best", 80}});
  add_run("2x224", "suite/crops.lua", {{"knn.top1_k20", 72}, {"linear_fast.top1_best", 81}});
  add_run("2x224", "suite/crops.lua", {{"knn.top1_k20", 77}});
  add_run("2x160+4x96", "suite/crops.lua", {{"knn.top1_k20", 60}});
  add_run("2x224", "suite/crops.lua", {{"knn.top1_k20", 10}}, kStatusFailed);
  // Another suite with the same label is another chart.
  add_run("2x224", "suite/batch.lua", {{"knn.top1_k20", 50}});

  PlotOptions options;
  std::vector<BarChart> charts = collect_ablations(*store_, options);
  ASSERT_EQ(charts.size(), 3u);  // crops/knn, batch/knn, crops/linear_fast

  const BarChart& knn = charts[0];
  EXPECT_EQ(knn.title, "crops.lua: knn.top1_k20 (mean ± sample std over seeds)");
  EXPECT_EQ(knn.ylabel, "knn.top1_k20");
  EXPECT_EQ(knn.kind, "ablation");
  ASSERT_EQ(knn.bars.size(), 2u);
  EXPECT_EQ(knn.bars[0].name, "2x224");
  // By hand: mean (70 + 72 + 77) / 3 = 73; deviations -3, -1, 4; squares 9 + 1 + 16 = 26;
  // sample variance 26 / 2 = 13; std sqrt(13) = 3.605551...
  EXPECT_DOUBLE_EQ(knn.bars[0].mean, 73.0);
  EXPECT_NEAR(knn.bars[0].std, 3.6055512754639891, 1e-12);
  EXPECT_EQ(knn.bars[0].n, 3);
  EXPECT_EQ(knn.bars[1].name, "2x160+4x96");
  EXPECT_DOUBLE_EQ(knn.bars[1].mean, 60.0);
  EXPECT_DOUBLE_EQ(knn.bars[1].std, 0.0);
  EXPECT_EQ(knn.bars[1].n, 1);

  EXPECT_EQ(charts[1].title, "batch.lua: knn.top1_k20 (mean ± sample std over seeds)");
  ASSERT_EQ(charts[1].bars.size(), 1u);
  EXPECT_DOUBLE_EQ(charts[1].bars[0].mean, 50.0);

  const BarChart& lin = charts[2];
  ASSERT_EQ(lin.bars.size(), 1u);
  // (80 + 81) / 2 = 80.5; deviations ±0.5; sample variance 0.5; std sqrt(0.5).
  EXPECT_DOUBLE_EQ(lin.bars[0].mean, 80.5);
  EXPECT_NEAR(lin.bars[0].std, std::sqrt(0.5), 1e-12);
  EXPECT_EQ(lin.bars[0].n, 2);

  // Chart ids are file stems.
  for (const auto& c : charts)
    EXPECT_EQ(
        c.id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
        std::string::npos)
        << c.id;
  EXPECT_NE(charts[0].id, charts[1].id);

  // Grouped by suite: one chart per metric, one bar per suite.
  options.group_by = "suite";
  charts = collect_ablations(*store_, options);
  ASSERT_EQ(charts.size(), 2u);
  ASSERT_EQ(charts[0].bars.size(), 2u);
  EXPECT_EQ(charts[0].bars[0].name, "crops.lua");
  // 70, 72, 77, 60: mean 69.75; squares 0.0625 + 5.0625 + 52.5625 + 95.0625 = 152.75; / 3.
  EXPECT_DOUBLE_EQ(charts[0].bars[0].mean, 69.75);
  EXPECT_NEAR(charts[0].bars[0].std, std::sqrt(152.75 / 3), 1e-12);
  EXPECT_EQ(charts[0].bars[0].n, 4);
  EXPECT_EQ(charts[0].bars[1].name, "batch.lua");

  options.group_by = "method";
  EXPECT_THROW(collect_ablations(*store_, options), InputError);
  options.group_by = "label";
  options.ablation_metrics = {"top1"};
  EXPECT_THROW(collect_ablations(*store_, options), InputError);
}

TEST_F(PlotsTest, TaggedRunsAreChartedByTagWhicheverSuiteTrainedThem) {
  // Two runs of the crops experiment, one trained by a renamed copy of the suite; an untagged
  // run stays under its suite; a run with two tags is in both charts.
  store_->add_tags(add_run("2x224", "suite/ablation_crops.lua", {{"knn.top1_k20", 70}}), {"crops"});
  store_->add_tags(add_run("2x224", "suite/my_crops.lua", {{"knn.top1_k20", 74}}), {"crops"});
  add_run("2x224", "suite/smoke.lua", {{"knn.top1_k20", 50}});
  store_->add_tags(add_run("batch 256", "suite/mine.lua", {{"knn.top1_k20", 60}}),
                   {"batch", "crops"});
  PlotOptions options;
  options.ablation_metrics = {"knn.top1_k20"};
  std::vector<BarChart> charts = collect_ablations(*store_, options);
  ASSERT_EQ(charts.size(), 3u);
  EXPECT_EQ(charts[0].title, "crops: knn.top1_k20 (mean ± sample std over seeds)");
  ASSERT_EQ(charts[0].bars.size(), 2u);
  EXPECT_EQ(charts[0].bars[0].name, "2x224");
  EXPECT_DOUBLE_EQ(charts[0].bars[0].mean, 72.0);  // (70 + 74) / 2
  EXPECT_EQ(charts[0].bars[0].n, 2);
  EXPECT_EQ(charts[0].bars[1].name, "batch 256");
  EXPECT_EQ(charts[1].title, "smoke.lua: knn.top1_k20 (mean ± sample std over seeds)");
  EXPECT_EQ(charts[2].title, "batch: knn.top1_k20 (mean ± sample std over seeds)");
  ASSERT_EQ(charts[2].bars.size(), 1u);
  EXPECT_DOUBLE_EQ(charts[2].bars[0].mean, 60.0);
  EXPECT_EQ(charts[0].id, "ablation_crops_knn_top1_k20");
}

TEST_F(PlotsTest, CurvesPerRunWithKnnMonitorFromExtraJson) {
  int64_t a = add_run("swav", "s.lua", {});
  add_epoch(a, 0, 5.0, 100, R"({"code_entropy": 4.1})");
  add_epoch(a, 1, 4.5, 110, R"({"knn_top1": 41.5, "mfu": 0.1})");
  add_epoch(a, 2, NAN, 120, R"({"knn_top1": null})");
  add_epoch(a, 3, 4.0, 130, R"({"knn_top1": 55.25})");
  store_->add_alarm({a, 2, "collapse", "loss at ln K", "freeze longer", ""});
  add_run("random init", "s.lua", {});  // no epochs: no chart
  int64_t c = add_run("", "s.lua", {}, kStatusFailed, "moco");
  add_epoch(c, 0, 7.0, 50);

  std::vector<CurveChart> charts = collect_curves(*store_);
  ASSERT_EQ(charts.size(), 2u);
  const CurveChart& ch = charts[0];
  EXPECT_EQ(ch.run_id, a);
  EXPECT_EQ(ch.id, "run1_curves");
  EXPECT_EQ(ch.loss.x, (std::vector<double>{1, 2, 3, 4}));  // 1-based epochs
  ASSERT_EQ(ch.loss.y.size(), 4u);
  EXPECT_DOUBLE_EQ(ch.loss.y[1], 4.5);
  EXPECT_TRUE(std::isnan(ch.loss.y[2]));  // NaN survives the store (NULL) and stays a gap
  EXPECT_EQ(ch.knn.x, (std::vector<double>{2, 4}));
  EXPECT_EQ(ch.knn.y, (std::vector<double>{41.5, 55.25}));
  ASSERT_EQ(ch.alarms.size(), 1u);
  EXPECT_EQ(ch.alarms[0], (std::pair<double, std::string>{3, "collapse"}));
  EXPECT_NE(ch.title.find("training loss and kNN monitor"), std::string::npos) << ch.title;
  EXPECT_EQ(charts[1].run_id, c);
  EXPECT_TRUE(charts[1].knn.x.empty());
  EXPECT_NE(charts[1].title.find("moco"), std::string::npos) << charts[1].title;
  EXPECT_NE(charts[1].title.find("failed"), std::string::npos) << charts[1].title;
  EXPECT_EQ(charts[1].title, "run #3 moco (moco, failed): training loss per epoch");
  EXPECT_TRUE(charts[1].alarms.empty());

  EXPECT_EQ(curve_data(ch),
            "# epoch training_loss\n1 5\n2 4.5\n3 NaN\n4 4\n\n\n# epoch knn_top1\n2 41.5\n"
            "4 55.25\n");
}

TEST_F(PlotsTest, ThroughputIsMeanOverEpochsThenOverRunsPerMethod) {
  int64_t a = add_run("x", "s.lua", {});
  add_epoch(a, 0, 1, 100);
  add_epoch(a, 1, 1, 200);  // run mean 150
  int64_t b = add_run("y", "s.lua", {}, kStatusInterrupted);
  add_epoch(b, 0, 1, 300);  // run mean 300
  int64_t c = add_run("z", "s.lua", {}, kStatusDone, "moco");
  add_epoch(c, 0, 1, 50);
  add_epoch(c, 1, 1, NAN);  // not measured: left out
  std::vector<BarChart> charts = collect_throughput(*store_);
  ASSERT_EQ(charts.size(), 1u);
  EXPECT_EQ(charts[0].kind, "throughput");
  EXPECT_EQ(charts[0].ylabel, "images / s");
  ASSERT_EQ(charts[0].bars.size(), 2u);
  EXPECT_EQ(charts[0].bars[0].name, "swav");
  // (150 + 300) / 2 = 225; deviations ±75; sample variance 2 * 75^2 / 1; std 75 sqrt(2).
  EXPECT_DOUBLE_EQ(charts[0].bars[0].mean, 225.0);
  EXPECT_NEAR(charts[0].bars[0].std, 75 * std::sqrt(2.0), 1e-9);
  EXPECT_EQ(charts[0].bars[0].n, 2);
  EXPECT_EQ(charts[0].bars[1].name, "moco");
  EXPECT_DOUBLE_EQ(charts[0].bars[1].mean, 50.0);
  EXPECT_NE(charts[0].title.find("cpu (2 threads)"), std::string::npos) << charts[0].title;

  // Runs on two devices: a bar per method and device.
  int64_t d = add_run("w", "s.lua", {}, kStatusDone, "swav", "cuda x1");
  add_epoch(d, 0, 1, 4000);
  charts = collect_throughput(*store_);
  ASSERT_EQ(charts[0].bars.size(), 3u);
  EXPECT_EQ(charts[0].bars[0].name, "swav @ cpu (2 threads)");
  EXPECT_EQ(charts[0].bars[2].name, "swav @ cuda x1");
}

TEST(PlotScript, BarChartScriptWritesPngThenSvgWithErrorBars) {
  BarChart chart;
  chart.id = "ablation_x";
  chart.kind = "ablation";
  chart.title = "crops \"A\" \\ B";
  chart.ylabel = "knn.top1_k20";
  chart.bars = {{"random init", 73, std::sqrt(13.0), 3}, {"say \"hi\"", 60, 0, 1}};
  PlotOptions options;
  options.width = 640;
  options.height = 400;
  std::string s = gnuplot_script(chart, "/d/x.dat", "/o/x.png", "/o/x.svg", options);
  EXPECT_NE(s.find("set terminal pngcairo noenhanced size 640,400"), std::string::npos) << s;
  EXPECT_NE(s.find("set output \"/o/x.png\""), std::string::npos) << s;
  EXPECT_NE(s.find("set terminal svg noenhanced size 640,400"), std::string::npos) << s;
  EXPECT_NE(s.find("set output \"/o/x.svg\""), std::string::npos) << s;
  EXPECT_LT(s.find("/o/x.png"), s.find("/o/x.svg"));
  EXPECT_NE(s.find("set title \"crops \\\"A\\\" \\\\ B\""), std::string::npos) << s;
  EXPECT_NE(s.find("using 0:2:3:xtic(1) with boxerrorbars"), std::string::npos) << s;
  EXPECT_NE(s.find("sprintf(\"%.2f ± %.2f (n=%d)\", $2, $3, $4)"), std::string::npos) << s;
  EXPECT_NE(s.find("set yrange [0:*]"), std::string::npos) << s;
  EXPECT_EQ(s.rfind("reset", 0), 0u) << "each chart starts from gnuplot's defaults";
  // The plot command runs once per terminal.
  size_t first = s.find("plot \"/d/x.dat\"");
  ASSERT_NE(first, std::string::npos) << s;
  EXPECT_NE(s.find("plot \"/d/x.dat\"", first + 1), std::string::npos) << s;

  EXPECT_EQ(bar_data(chart),
            "# name mean std n\n\"random init\" 73 3.605551275463989 3\n\"say 'hi'\" 60 0 1\n");

  chart.kind = "throughput";
  s = gnuplot_script(chart, "/d/x.dat", "/o/x.png", "/o/x.svg", options);
  EXPECT_NE(s.find("sprintf(\"%.0f ± %.0f (n=%d)\", $2, $3, $4)"), std::string::npos) << s;
}

TEST(PlotScript, CurveScriptUsesSecondAxisOnlyForKnn) {
  CurveChart chart;
  chart.id = "run1_curves";
  chart.title = "run #1";
  chart.loss = {"training loss", {1, 2, 3}, {3, 2, 1}};
  PlotOptions options;
  std::string s = gnuplot_script(chart, "/d/c.dat", "/o/c.png", "/o/c.svg", options);
  EXPECT_NE(s.find("index 0 using 1:2 with linespoints"), std::string::npos) << s;
  EXPECT_EQ(s.find("axes x1y2"), std::string::npos) << s;
  EXPECT_NE(s.find("set xrange [0.5:3.5]"), std::string::npos) << s;
  EXPECT_NE(s.find("set xtics 1"), std::string::npos) << s;
  chart.knn = {"kNN top-1 (%)", {3}, {40}};
  s = gnuplot_script(chart, "/d/c.dat", "/o/c.png", "/o/c.svg", options);
  EXPECT_NE(s.find("index 1 using 1:2 with linespoints"), std::string::npos) << s;
  EXPECT_NE(s.find("axes x1y2"), std::string::npos) << s;
  EXPECT_NE(s.find("set y2label \"kNN top-1 (%)\""), std::string::npos) << s;
  EXPECT_EQ(s.find("set arrow"), std::string::npos) << s;
  chart.alarms = {{2, "collapse"}};
  s = gnuplot_script(chart, "/d/c.dat", "/o/c.png", "/o/c.svg", options);
  EXPECT_NE(s.find("set arrow from 2, graph 0 to 2, graph 1 nohead"), std::string::npos) << s;
  EXPECT_NE(s.find("set label \"collapse alarm\" at 2, graph 0.93"), std::string::npos) << s;
}

TEST_F(PlotsTest, MissingGnuplotIsAnInputErrorNamingThePackage) {
  int64_t a = add_run("x", "s.lua", {{"knn.top1_k20", 1}});
  add_epoch(a, 0, 1, 1);
  PlotOptions options;
  options.gnuplot = "/nonexistent/gnuplot";
  try {
    write_plots(*store_, dir_ + "/out", options);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("install gnuplot-nox (scripts/setup-deps.sh does)"),
              std::string::npos)
        << e.what();
  }
  // Nothing to plot: no gnuplot needed.
  Store empty(dir_ + "/empty.sqlite");
  EXPECT_TRUE(write_plots(empty, dir_ + "/out2", options).empty());
}

TEST_F(PlotsTest, GnuplotWritesPngAndSvgForEveryChart) {
  if (find_gnuplot("gnuplot").empty())
    GTEST_SKIP() << "gnuplot not installed: run scripts/setup-deps.sh";
  int64_t a = add_run("swav \"q\"", "s.lua", {{"knn.top1_k20", 70}});
  add_epoch(a, 0, 5, 100, R"({"knn_top1": 30})");
  add_epoch(a, 1, 4, 110, R"({"knn_top1": 40})");
  add_run("swav \"q\"", "s.lua", {{"knn.top1_k20", 74}});
  std::vector<PlotFile> files = write_plots(*store_, dir_ + "/out", PlotOptions{});
  ASSERT_EQ(files.size(), 3u);  // one run's curves, one ablation chart, throughput
  EXPECT_EQ(files[0].kind, "curves");
  EXPECT_EQ(files[0].run_id, a);
  EXPECT_EQ(files[1].kind, "ablation");
  EXPECT_EQ(files[2].kind, "throughput");
  for (const PlotFile& f : files) {
    std::ifstream png(f.png, std::ios::binary);
    char magic[8] = {};
    png.read(magic, 8);
    EXPECT_EQ(std::string(magic + 1, 3), "PNG") << f.png;
    std::ifstream svg(f.svg);
    std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("<svg"), std::string::npos) << f.svg;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << f.svg;
  }
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/out/plots/gnuplot/plots.gp"));
}

TEST(ReportHtml, EscapeAndBase64) {
  EXPECT_EQ(html_escape("<a href=\"x\">Tom & 'Jerry'</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\x10", 3)), "/wAQ");
}

}  // namespace
}  // namespace swavbench
