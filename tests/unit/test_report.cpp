// Tables rendered from a real SQLite store: grouping, mean ± sample std, missing cells, formats.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/report/table.h"
#include "harness/store/store.h"

namespace swavbench {
namespace {

class TableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/swavbench_table_XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::make_unique<Store>(dir_ + "/r.sqlite");
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  int64_t add_run(const std::string& hash, const std::string& label, int prototypes,
                  std::vector<std::pair<std::string, double>> evals) {
    RunRow r;
    r.hash = hash;
    r.method = "swav";
    r.label = label;
    r.config_json = nlohmann::json{{"prototypes", prototypes}, {"method", "swav"}}.dump();
    r.status = kStatusDone;
    int64_t id = store_->insert_run(r);
    for (const auto& [metric, value] : evals) {
      auto dot = metric.find('.');
      store_->add_eval({id, metric.substr(0, dot), metric.substr(dot + 1), value, "{}", ""});
    }
    return id;
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(TableTest, MeanAndSampleStdOverSeeds) {
  add_run("a", "swav", 100, {{"knn.top1_k20", 80.0}});
  add_run("b", "swav", 100, {{"knn.top1_k20", 82.0}});
  add_run("c", "swav", 100, {{"knn.top1_k20", 84.0}});
  add_run("d", "random", 100, {{"knn.top1_k20", 70.0}});
  TableSpec spec;
  spec.metrics = {"knn.top1_k20", "linear_fast.top1_last"};
  std::string md = render_table(*store_, spec);
  // mean 82, sample std sqrt(((-2)^2 + 0 + 2^2) / 2) = 2.
  EXPECT_NE(md.find("| swav | 82.00 ± 2.00 (n=3) | — |"), std::string::npos) << md;
  EXPECT_NE(md.find("| random | 70.00 (n=1) | — |"), std::string::npos) << md;
}

TEST_F(TableTest, GroupsByConfigKeyAndRendersCsvAndLatex) {
  add_run("a", "x", 10, {{"knn.top1_k20", 50.0}});
  add_run("b", "y", 1000, {{"knn.top1_k20", 60.0}});
  TableSpec spec;
  spec.by = {"prototypes"};
  spec.metrics = {"knn.top1_k20"};
  spec.format = "csv";
  EXPECT_EQ(render_table(*store_, spec),
            "prototypes,knn.top1_k20\n10,50.00 (n=1)\n1000,60.00 (n=1)\n");
  spec.format = "latex";
  spec.title = "Prototypes";
  std::string tex = render_table(*store_, spec);
  EXPECT_NE(tex.find("\\toprule"), std::string::npos);
  EXPECT_NE(tex.find("knn.top1\\_k20"), std::string::npos);
  EXPECT_NE(tex.find("1000 & 60.00 (n=1) \\\\"), std::string::npos) << tex;
}

TEST_F(TableTest, HtmlRightAlignsMetricsAndAnEmptyTableSaysSo) {
  TableSpec spec;
  spec.metrics = {"knn.top1_k20"};
  spec.format = "html";
  EXPECT_EQ(
      render_table(*store_, spec),
      "<table>\n<thead><tr><th>label</th><th>knn.top1_k20</th></tr></thead>\n<tbody>\n"
      "<tr><td colspan=\"2\" class=\"note\">(no completed runs with these metrics)</td></tr>\n"
      "</tbody>\n</table>\n");
  spec.format = "md";
  EXPECT_NE(
      render_table(*store_, spec).find("|---|---:|\n(no completed runs with these metrics)\n"),
      std::string::npos);
  add_run("a", "<swav>", 100, {{"knn.top1_k20", 80.0}});
  spec.format = "html";
  EXPECT_NE(render_table(*store_, spec)
                .find("<tr><td>&lt;swav&gt;</td><td class=\"num\">80.00 (n=1)</td></tr>"),
            std::string::npos)
      << render_table(*store_, spec);
  spec.format = "latex";
  spec.metrics = {"knn.top1_k20", "linear.top1_best"};
  EXPECT_NE(render_table(*store_, spec).find("<swav> & 80.00 (n=1) & --- \\\\"), std::string::npos)
      << render_table(*store_, spec);
  spec.format = "pdf";
  EXPECT_THROW(render_table(*store_, spec), InputError);
}

TEST(CellStats, HandComputed) {
  CellStats s = cell_stats({1.0, 2.0, 3.0, 4.0});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.std, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_EQ(s.n, 4);
  EXPECT_EQ(cell_stats({}).n, 0);
}

}  // namespace
}  // namespace swavbench
