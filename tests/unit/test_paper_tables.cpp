// The paper's tables from a real SQLite store: grouping over seeds, the published value and its
// setting beside ours, "—" where nothing was measured or published, failed runs left out,
// paper.csv errors with file:line, and the LaTeX / HTML / Markdown renderings.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "harness/core/check.h"
#include "harness/core/provenance.h"
#include "harness/report/paper_tables.h"
#include "harness/report/table.h"
#include "harness/store/store.h"

namespace swavbench {
namespace {

using nlohmann::json;

const char* kPaperCsv =
    "table,method,arch,epochs,batch,crops,dataset,protocol,metric,value,source\n"
    "linear,SwAV,resnet50,800,4096,2x224+6x96,imagenet,linear,top1,75.3,\"paper; zoo\"\n"
    "linear,SwAV,resnet50,400,4096,2x224+6x96,imagenet,linear,top1,74.6,zoo\n"
    "linear,SwAV,resnet50,400,256,2x224+6x96,imagenet,linear,top1,74.3,zoo\n"
    "linear,SwAV,resnet50,200,256,2x224+6x96,imagenet,linear,top1,72.7,zoo\n"
    "linear,SwAV,resnet50,400,4096,2x224,imagenet,linear,top1,70.1,zoo\n"
    "linear,SwAV,resnet50-w2,400,,,imagenet,linear,top1,77.3,zoo\n"
    "linear,supervised,resnet50,,,,imagenet,linear,top1,76.5,quoted\n"
    "linear,SimCLR,resnet50,1000,4096,2x224,imagenet,linear,top1,69.3,quoted\n"
    "\n"
    "semisup,SwAV,resnet50,,,,imagenet,semisup@1pct,top1,53.9,quoted\n"
    "semisup,SwAV,resnet50,,,,imagenet,semisup@1pct,top5,78.5,quoted\n"
    "semisup,SwAV,resnet50,,,,imagenet,semisup@10pct,top1,70.2,quoted\n"
    "transfer,SwAV,resnet50,,,,voc07,voc07_svm,map,88.9,quoted\n"
    "transfer,SwAV,resnet50-c4,,,,voc07+12,voc_det,ap50,82.6,\"quoted (Faster R-CNN R50-C4)\"\n";

class PaperTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/swavbench_paper_tables_XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::make_unique<Store>(dir_ + "/r.sqlite");
    paper_ = read_paper_csv(write_file("paper.csv", kPaperCsv));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string write_file(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  static json crops(const std::string& kind) {
    if (kind == "2x28")
      return json::array({{{"count", 2}, {"size", 28}, {"min_scale", 0.14}, {"max_scale", 1.0}}});
    return json::array({{{"count", 2}, {"size", 24}, {"min_scale", 0.14}, {"max_scale", 1.0}},
                        {{"count", 4}, {"size", 14}, {"min_scale", 0.05}, {"max_scale", 0.14}}});
  }
  // A run as the driver records it: the resolved config, then status, the tags the suite gives
  // (ablation_X.lua tags its runs "X", as suite/ablation_*.lua do), then eval rows.
  int64_t add_run(const std::string& suite, const json& changes,
                  const std::vector<std::tuple<std::string, std::string, double>>& evals,
                  const std::string& status = kStatusDone, const std::string& card = "{}") {
    json config = {{"method", "swav"},  {"arch", "resnet10"},
                   {"width", 0.25},     {"epochs", 2},
                   {"batch_size", 256}, {"crops", crops("multi")},
                   {"prototypes", 100}, {"freeze_prototypes", false},
                   {"queue_length", 0}, {"dataset", "fashion-mnist"},
                   {"subset", 4096},    {"seed", 0},
                   {"label", ""},       {"knn_every", 0}};
    config.update(changes);
    RunRow r;
    r.hash = "h" + std::to_string(++next_hash_);
    r.method = config["method"].get<std::string>();
    r.label = config["label"].get<std::string>();
    r.suite = "/src/swavbench/suite/" + suite;
    r.config_json = config.dump();
    int64_t id = store_->insert_run(r);
    const std::string prefix = "ablation_", suffix = ".lua";
    if (suite.rfind(prefix, 0) == 0)
      store_->add_tags(id,
                       {suite.substr(prefix.size(), suite.size() - prefix.size() - suffix.size())});
    for (const auto& [protocol, metric, value] : evals)
      store_->add_eval({id, protocol, metric, value, card, ""});
    store_->set_status(id, status, status == kStatusFailed ? "diverged" : "");
    return id;
  }
  static const std::vector<std::string>& row_of(const Table& t, size_t i) {
    EXPECT_LT(i, t.rows.size());
    return t.rows.at(i);
  }
  static bool has_note(const Table& t, const std::string& text) {
    return std::any_of(t.notes.begin(), t.notes.end(),
                       [&](const std::string& n) { return n.find(text) != std::string::npos; });
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::vector<PaperValue> paper_;
  int next_hash_ = 0;
};

TEST(PaperCellText, MeanSampleStdAndCount) {
  EXPECT_EQ(paper_cell_text({70.0, 72.0}), "71.00 ± 1.41 (2)");
  EXPECT_EQ(paper_cell_text({70.0}), "70.00 (1)");
  EXPECT_EQ(paper_cell_text({}), "—");
  EXPECT_EQ(paper_cell_text({70.0, 72.0, NAN}), "71.00 ± 1.41 (2, 1 NaN)");
}

TEST_F(PaperTableTest, CropsGroupsSeedsAndPairsThePaperComparison) {
  add_run("ablation_crops.lua", {{"crops", crops("2x28")}, {"seed", 0}},
          {{"knn", "top1_k20", 70.0}, {"linear_fast", "top1_best", 80.0}});
  add_run("ablation_crops.lua", {{"crops", crops("2x28")}, {"seed", 1}},
          {{"knn", "top1_k20", 72.0}, {"linear_fast", "top1_best", 82.0}});
  // A failed seed never enters a cell.
  add_run("ablation_crops.lua", {{"crops", crops("2x28")}, {"seed", 2}},
          {{"knn", "top1_k20", 10.0}}, kStatusFailed);
  add_run("ablation_crops.lua", {{"seed", 0}}, {{"knn", "top1_k20", 75.0}});
  add_run("ablation_crops.lua", {{"method", "simclr"}, {"seed", 0}}, {{"knn", "top1_k20", 60.0}});
  add_run("ablation_crops.lua", {{"method", "random"}, {"crops", crops("2x28")}},
          {{"knn", "top1_k20", 40.0}});
  // Same config from another suite: not part of this ablation.
  add_run("swav_default.lua", {{"seed", 5}}, {{"knn", "top1_k20", 99.0}});

  Table t = build_paper_table(*store_, "crops", paper_);
  EXPECT_EQ(t.header,
            (std::vector<std::string>{"method", "crops", "ours kNN k=20", "ours kNN k=200",
                                      "ours linear_fast best", "paper linear top-1 (setting)"}));
  EXPECT_EQ(t.align, "llrrrl");
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(row_of(t, 0),
            (std::vector<std::string>{"SwAV", "2x28", "71.00 ± 1.41 (2)", "—", "81.00 ± 1.41 (2)",
                                      "70.1 (ImageNet, R50, 400 ep, bs 4096, 2x224)"}));
  // Multi-crop at the 2-crop value's epochs and batch (74.6), not ours (74.3 at bs 256) nor the
  // longest schedule (75.3).
  EXPECT_EQ(row_of(t, 1),
            (std::vector<std::string>{"SwAV", "2x24+4x14", "75.00 (1)", "—", "—",
                                      "74.6 (ImageNet, R50, 400 ep, bs 4096, 2x224+6x96)"}));
  // paper.csv has no multi-crop SimCLR and nothing for random init.
  EXPECT_EQ(row_of(t, 2),
            (std::vector<std::string>{"SimCLR", "2x24+4x14", "60.00 (1)", "—", "—", "—"}));
  EXPECT_EQ(row_of(t, 3),
            (std::vector<std::string>{"random init", "2x28", "40.00 (1)", "—", "—", "—"}));
  EXPECT_NE(t.title.find("ours on Fashion-MNIST"), std::string::npos) << t.title;
  EXPECT_TRUE(has_note(t,
                       "Setting differences, ours vs paper: pretraining data Fashion-MNIST vs "
                       "ImageNet; architecture R10-w0.25 vs R50; epochs 2 vs 400; batch 256 "
                       "vs 4096; crops 2x28, 2x24+4x14 vs 2x224, 2x224+6x96."));
  EXPECT_TRUE(has_note(t, "results/paper.csv"));
}

TEST_F(PaperTableTest, LinearTakesEveryRunWithALinearEvalAndNamesWhatTellsRowsApart) {
  add_run("ablation_prototypes.lua", {{"prototypes", 10}}, {{"linear_fast", "top1_best", 80.0}});
  add_run("ablation_prototypes.lua", {{"prototypes", 100}}, {{"linear_fast", "top1_best", 81.0}});
  add_run("transfer.lua", {{"method", "supervised"}, {"epochs", 3}},
          {{"linear", "top1_best", 90.0}, {"linear_fast", "top1_best", 89.0}});
  add_run("transfer.lua", {{"method", "random"}, {"epochs", 3}}, {{"knn", "top1_k20", 30.0}});
  add_run("transfer.lua", {{"method", "moco"}, {"epochs", 3}}, {{"linear", "top1_best", 50.0}},
          kStatusFailed);

  Table t = build_paper_table(*store_, "linear", paper_);
  EXPECT_EQ(t.header,
            (std::vector<std::string>{"method", "data", "arch", "pretrain epochs", "batch", "crops",
                                      "other settings", "ours linear top-1",
                                      "ours linear_fast top-1", "paper linear top-1 (setting)"}));
  ASSERT_EQ(t.rows.size(), 3u);  // no row for the run without a linear eval, nor the failed one
  // SwAV, multi-crop, batch 256: the bs 256 multi-crop value, longest schedule first.
  EXPECT_EQ(row_of(t, 0),
            (std::vector<std::string>{"SwAV", "Fashion-MNIST (4096)", "R10-w0.25", "2", "256",
                                      "2x24+4x14", "prototypes=10", "—", "80.00 (1)",
                                      "74.3 (ImageNet, R50, 400 ep, bs 256, 2x224+6x96)"}));
  EXPECT_EQ(row_of(t, 1)[6], "prototypes=100");
  EXPECT_EQ(row_of(t, 2), (std::vector<std::string>{
                              "supervised", "Fashion-MNIST (4096)", "R10-w0.25", "3", "256",
                              "2x24+4x14", "", "90.00 (1)", "89.00 (1)", "76.5 (ImageNet, R50)"}));
}

TEST_F(PaperTableTest, OtherSettingsTellsApartCropsThatDifferInScaleOnly) {
  json narrow = crops("2x28");
  narrow[0]["min_scale"] = 0.5;
  add_run("ablation_crops.lua", {{"crops", crops("2x28")}}, {{"knn", "top1_k20", 70.0}});
  add_run("ablation_crops.lua", {{"crops", narrow}}, {{"knn", "top1_k20", 60.0}});
  Table t = build_paper_table(*store_, "crops", paper_);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.header[2], "other settings");
  EXPECT_EQ(row_of(t, 0)[2], "crops=2x28 (0.14-1.0)");
  EXPECT_EQ(row_of(t, 1)[2], "crops=2x28 (0.5-1.0)");
  EXPECT_TRUE(has_note(t, "Other settings: where rows share a name"));
}

TEST_F(PaperTableTest, AblationTablesSelectByTagNotBySuiteFileName) {
  // A copy of the crops suite under another name: its runs carry the tag, so they are in.
  int64_t renamed = add_run("my_crops_on_cifar.lua", {{"seed", 0}}, {{"knn", "top1_k20", 75.0}});
  store_->add_tags(renamed, {"crops"});
  // The same config file name without the tag (a database where the run was untagged): out.
  add_run("crops.lua", {{"seed", 1}}, {{"knn", "top1_k20", 10.0}});
  // A run first trained by swav_default.lua and then reused by the ablation, which tags it.
  int64_t reused = add_run("swav_default.lua", {{"method", "simclr"}}, {{"knn", "top1_k20", 60.0}});
  store_->add_tags(reused, {"crops"});
  Table t = build_paper_table(*store_, "crops", paper_);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(row_of(t, 0)[0], "SwAV");
  EXPECT_EQ(row_of(t, 0)[2], "75.00 (1)");
  EXPECT_EQ(row_of(t, 1)[0], "SimCLR");
  EXPECT_EQ(row_of(t, 1)[2], "60.00 (1)");
  // The batch table wants the tag "batch", so none of these.
  EXPECT_TRUE(build_paper_table(*store_, "batch", paper_).rows.empty());
}

TEST_F(PaperTableTest, OtherSettingsNamesWhereARowLeavesTheCommonSetting) {
  add_run("ablation_prototypes.lua", {{"prototypes", 100}, {"queue_start_epoch", 15}},
          {{"knn", "top1_k20", 70.0}});
  add_run("ablation_prototypes.lua", {{"prototypes", 10}, {"queue_start_epoch", 15}},
          {{"knn", "top1_k20", 71.0}});
  add_run("ablation_batch.lua", {{"prototypes", 100}, {"queue_start_epoch", 1}},
          {{"knn", "top1_k20", 72.0}});
  // The linear table takes none of them (no linear eval); the crops table neither (suite).
  EXPECT_TRUE(build_paper_table(*store_, "linear", paper_).rows.empty());
  for (int64_t id : {1, 2, 3}) store_->add_eval({id, "linear_fast", "top1_best", 80.0, "{}", ""});
  Table t = build_paper_table(*store_, "linear", paper_);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(row_of(t, 0)[6], "prototypes=100, queue_start_epoch=15");
  EXPECT_EQ(row_of(t, 1)[6], "prototypes=10");
  EXPECT_EQ(row_of(t, 2)[6], "queue_start_epoch=1");
}

TEST_F(PaperTableTest, BatchMatchesOnlyTheSameBatchSize) {
  add_run("ablation_batch.lua", {{"batch_size", 64}, {"queue_length", 1024}},
          {{"knn", "top1_k200", 65.0}});
  add_run("ablation_batch.lua", {{"batch_size", 256}, {"seed", 0}}, {{"knn", "top1_k200", 70.0}});
  add_run("ablation_batch.lua", {{"batch_size", 256}, {"seed", 1}}, {{"knn", "top1_k200", 72.0}});
  // Another method tagged "batch" is its own row, after SwAV's, with no SwAV paper cell.
  add_run("ablation_batch.lua", {{"method", "simclr"}, {"batch_size", 256}},
          {{"knn", "top1_k200", 1.0}});
  Table t = build_paper_table(*store_, "batch", paper_);
  EXPECT_EQ(t.header[0], "method");
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(row_of(t, 0),
            (std::vector<std::string>{"SwAV", "64", "1024", "—", "65.00 (1)", "—", "—"}));
  EXPECT_EQ(row_of(t, 1),
            (std::vector<std::string>{"SwAV", "256", "0", "—", "71.00 ± 1.41 (2)", "—",
                                      "74.3 (ImageNet, R50, 400 ep, bs 256, 2x224+6x96)"}));
  EXPECT_EQ(row_of(t, 2),
            (std::vector<std::string>{"SimCLR", "256", "0", "—", "1.00 (1)", "—", "—"}));
}

TEST_F(PaperTableTest, PrototypesHasNoPaperValueWherePaperCsvHasNone) {
  add_run("ablation_prototypes.lua", {{"prototypes", 1000}}, {{"knn", "top1_k20", 71.0}});
  add_run("ablation_prototypes.lua", {{"prototypes", 10}}, {{"knn", "top1_k20", 70.0}});
  add_run("ablation_prototypes.lua", {{"freeze_prototypes", true}}, {{"knn", "top1_k20", 69.0}});
  // SimCLR learns no prototypes (its MethodSpec says so): tagged or not, it has no row here.
  add_run("ablation_prototypes.lua", {{"method", "simclr"}}, {{"knn", "top1_k20", 1.0}});
  Table t = build_paper_table(*store_, "prototypes", paper_);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(row_of(t, 0), (std::vector<std::string>{"learned", "10", "70.00 (1)", "—", "—", "—"}));
  EXPECT_EQ(row_of(t, 1)[1], "1000");
  EXPECT_EQ(row_of(t, 2),
            (std::vector<std::string>{"fixed random", "100", "69.00 (1)", "—", "—", "—"}));
}

TEST_F(PaperTableTest, SemisupReadsTheFractionFromTheCard) {
  // Stored under an unusual tag; the card's fraction says which column it is.
  add_run("transfer.lua", {{"epochs", 3}},
          {{"semisup@few", "top1", 38.0},
           {"semisup@few", "top5", 69.0},
           {"semisup@few", "top1_best", 40.0},
           {"semisup@few", "top5_best", 70.0}},
          kStatusDone, R"({"fraction": 0.01})");
  // The table uses the best epoch (the paper's rule); a row with only the last epoch (stored
  // before the best was recorded) has no number under that rule.
  add_run("transfer.lua", {{"epochs", 3}, {"method", "random"}},
          {{"semisup@10pct", "top1_best", 20.0}, {"semisup@10pct", "top1", 18.0}});
  add_run("transfer.lua", {{"epochs", 5}, {"method", "random"}}, {{"semisup@10pct", "top1", 21.0}});
  Table t = build_paper_table(*store_, "semisup", paper_);
  EXPECT_EQ(t.header, (std::vector<std::string>{
                          "method", "arch", "pretrain epochs", "ours 1% top-1", "ours 1% top-5",
                          "ours 10% top-1", "ours 10% top-5", "paper 1% top-1 / top-5 (setting)",
                          "paper 10% top-1 / top-5 (setting)"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(row_of(t, 0),
            (std::vector<std::string>{"SwAV", "R10-w0.25", "3", "40.00 (1)", "70.00 (1)", "—", "—",
                                      "53.9 / 78.5 (ImageNet, R50)", "70.2 / — (ImageNet, R50)"}));
  EXPECT_EQ(row_of(t, 1), (std::vector<std::string>{"random init", "R10-w0.25", "3", "—", "—",
                                                    "20.00 (1)", "—", "—", "—"}));
  EXPECT_EQ(row_of(t, 2), (std::vector<std::string>{"random init", "R10-w0.25", "5", "—", "—", "—",
                                                    "—", "—", "—"}));
  EXPECT_TRUE(has_note(t, "best top-1, the paper's rule"));
}

// A protocol that diverged measured nothing: its cells say "diverged" with the count, and a
// group where some seeds measured shows their mean with the diverged ones named beside it.
TEST_F(PaperTableTest, DivergedProtocolsAreNamedNotAveraged) {
  const std::string one_pct = R"({"fraction": 0.01, "diverged": "the training loss became nan"})";
  add_run("transfer.lua", {{"epochs", 3}}, {{"semisup@1pct", "diverged", 1.0}}, kStatusDone,
          one_pct);
  add_run("transfer.lua", {{"epochs", 3}, {"seed", 1}}, {{"semisup@1pct", "diverged", 1.0}},
          kStatusDone, one_pct);
  add_run("transfer.lua", {{"epochs", 3}, {"method", "random"}},
          {{"semisup@1pct", "top1_best", 30.0}, {"semisup@1pct", "top5_best", 60.0}}, kStatusDone,
          R"({"fraction": 0.01})");
  add_run("transfer.lua", {{"epochs", 3}, {"method", "random"}, {"seed", 1}},
          {{"semisup@1pct", "diverged", 1.0}}, kStatusDone, one_pct);
  Table t = build_paper_table(*store_, "semisup", paper_);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(row_of(t, 0)[3], "diverged (2)");
  EXPECT_EQ(row_of(t, 0)[4], "diverged (2)");
  EXPECT_EQ(row_of(t, 1)[3], "30.00 (1, 1 diverged)");
  EXPECT_EQ(paper_cell_text({70.0, 72.0}, 1), "71.00 ± 1.41 (2, 1 diverged)");
  EXPECT_EQ(paper_cell_text({}, 3), "diverged (3)");
  EXPECT_EQ(paper_cell_text({}, 0), "—");

  // bench.table's tables: the same, and a protocol with no measured metric gets its own column.
  TableSpec spec;
  spec.metrics = {"semisup@1pct.top1_best"};
  spec.by = {"method"};
  Table b = build_table(*store_, spec);
  ASSERT_EQ(b.rows.size(), 2u);
  EXPECT_EQ(b.rows[0], (std::vector<std::string>{"swav", "diverged (n=2)"}));
  EXPECT_EQ(b.rows[1], (std::vector<std::string>{"random", "30.00 (n=1), 1 diverged"}));
  spec.metrics.clear();
  b = build_table(*store_, spec);
  EXPECT_EQ(b.header, (std::vector<std::string>{"method", "semisup@1pct.top1_best",
                                                "semisup@1pct.top5_best"}));
}

TEST_F(PaperTableTest, TransferNamesTheDownstreamDataAndDetector) {
  add_run(
      "transfer.lua", {{"epochs", 3}},
      {{"voc07_svm", "map", 61.0}, {"voc_det", "map_11point", 30.0}, {"voc_det", "map_area", 31.0}},
      kStatusDone, R"({"root": "datasets/fashion-voc-s0-600-200"})");
  Table t = build_paper_table(*store_, "transfer", paper_);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(row_of(t, 0), (std::vector<std::string>{"SwAV", "R10-w0.25", "3", "61.00 (1)",
                                                    "30.00 (1)", "88.9 (VOC07, R50)",
                                                    "82.6 (VOC07+12, Faster R-CNN R50-C4)"}));
  EXPECT_TRUE(has_note(t, "downstream data Fashion-VOC scenes vs VOC07, VOC07+12"));
  EXPECT_TRUE(has_note(t, "pretraining data Fashion-MNIST vs ImageNet"));
  EXPECT_TRUE(has_note(t, "not the paper's Faster R-CNN"));
}

TEST_F(PaperTableTest, EmptyTableSaysWhichSuiteFillsIt) {
  Table t = build_paper_table(*store_, "crops", paper_);
  EXPECT_TRUE(t.rows.empty());
  EXPECT_TRUE(
      has_note(t, "No completed runs for this table yet: swavbench run ablation_crops.lua"));
  std::string md = format_table(t, "md");
  EXPECT_NE(md.find("| method | crops | ours kNN k=20 |"), std::string::npos) << md;
}

TEST_F(PaperTableTest, UnknownTableNameListsTheSix) {
  try {
    build_paper_table(*store_, "crop", paper_);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("unknown paper table 'crop' (did you mean 'crops'?)"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("linear, semisup, transfer, crops, batch, prototypes"), std::string::npos)
        << msg;
  }
  EXPECT_THROW(render_paper_tables(*store_, "Table4", paper_, "md"), InputError);
  EXPECT_EQ(paper_table_names(), (std::vector<std::string>{"linear", "semisup", "transfer", "crops",
                                                           "batch", "prototypes", "cost"}));
}

TEST_F(PaperTableTest, MalformedPaperCsvNamesFileAndLine) {
  const std::string header =
      "table,method,arch,epochs,batch,crops,dataset,protocol,metric,value,source\n";
  auto expect_error = [&](const std::string& text, const std::string& where,
                          const std::string& what) {
    std::string path = write_file("bad.csv", text);
    try {
      read_paper_csv(path);
      ADD_FAILURE() << "expected InputError for " << text;
    } catch (const InputError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path + where), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
  };
  expect_error(header + "linear,SwAV,resnet50,800,4096,2x224,imagenet,linear,top1,75.3,ok\n" +
                   "linear,SwAV,resnet50,800,4096,2x224,imagenet,linear,top1\n",
               ":3:", "9 fields, expected 11");
  expect_error(header + "linear,SwAV,resnet50,800,4096,2x224,imagenet,linear,top1,75.3%,x\n",
               ":2:", "value '75.3%' is not a number");
  expect_error(header + "linear,SwAV,resnet50,8OO,4096,2x224,imagenet,linear,top1,75.3,x\n",
               ":2:", "epochs '8OO'");
  expect_error(header + "linear,SwAV,resnet50,800,4096,224x,imagenet,linear,top1,75.3,x\n",
               ":2:", "crops '224x'");
  expect_error(header + "linear,SwAV,resnet50,800,4096,2x224,imagenet,linear,top1,75.3,\"open\n",
               ":2:", "unterminated quote");
  expect_error("table,method,value\n", ":1:", "the header must be");
  expect_error("", "", "empty");
  EXPECT_THROW(read_paper_csv(dir_ + "/missing.csv"), InputError);
}

TEST(PaperCsv, TheRepositoryFileParses) {
  std::vector<PaperValue> paper =
      read_paper_csv(std::string(swavbench_source_dir()) + "/results/paper.csv");
  EXPECT_GE(paper.size(), 40u);
  EXPECT_EQ(paper[0].method, "SwAV");
  EXPECT_DOUBLE_EQ(paper[0].value, 75.3);
  EXPECT_EQ(paper[0].source, "paper text; authors' model zoo");
}

Table special_table() {
  Table t;
  t.id = "paper-crops";
  t.html_class = "paper-table";
  t.title = "Top-1 % & more: mean ± std (n) #1";
  t.header = {"method", "other settings", "ours kNN k=20", "paper (setting)"};
  t.align = "llrl";
  t.rows = {{"SwAV", "base_lr=0.3, queue_length=0", "71.00 ± 1.41 (2)", "—"},
            {"a|b", "x_{y}^z~\\", "<b>&", "70.1 (ImageNet, R50)"}};
  t.notes = {"50% of labels & ours_fast", "—: never measured"};
  return t;
}

TEST(TableFormat, LatexIsEscapedAndBalanced) {
  std::string tex = format_table(special_table(), "latex");
  EXPECT_NE(tex.find("\\caption{Top-1 \\% \\& more: mean $\\pm$ std (n) \\#1}"), std::string::npos)
      << tex;
  EXPECT_NE(tex.find("\\begin{tabular}{llrl}\n\\toprule\n"
                     "method & other settings & ours kNN k=20 & paper (setting) \\\\\n\\midrule\n"
                     "SwAV & base\\_lr=0.3, queue\\_length=0 & 71.00 $\\pm$ 1.41 (2) & --- \\\\\n"),
            std::string::npos)
      << tex;
  EXPECT_NE(tex.find("x\\_\\{y\\}\\textasciicircum{}z\\textasciitilde{}\\textbackslash{}"),
            std::string::npos)
      << tex;
  EXPECT_NE(tex.find("\\bottomrule\n\\end{tabular}"), std::string::npos);
  EXPECT_NE(tex.find("50\\% of labels \\& ours\\_fast\\par"), std::string::npos) << tex;
  // Nothing unescaped: every %, &, #, _ outside the tabular's column separators has a backslash;
  // no Unicode the escaper knows survives; braces balance; each row has 3 separators.
  EXPECT_EQ(tex.find("±"), std::string::npos);
  EXPECT_EQ(tex.find("—"), std::string::npos);
  int depth = 0;
  for (size_t i = 0; i < tex.size(); ++i) {
    char c = tex[i];
    bool escaped = i > 0 && tex[i - 1] == '\\' && !(i > 1 && tex[i - 2] == '\\');
    if (c == '{' && !escaped) ++depth;
    if (c == '}' && !escaped) --depth;
    EXPECT_GE(depth, 0);
    if ((c == '%' || c == '#' || c == '_') && !escaped) ADD_FAILURE() << "unescaped " << c;
  }
  EXPECT_EQ(depth, 0);
  size_t start = tex.find("\\midrule\n") + 9, end = tex.find("\\bottomrule");
  std::string body = tex.substr(start, end - start);
  size_t row_start = 0;
  int rows = 0;
  while (row_start < body.size()) {
    size_t nl = body.find('\n', row_start);
    std::string line = body.substr(row_start, nl - row_start);
    int separators = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] == '&' && (i == 0 || line[i - 1] != '\\')) ++separators;
    EXPECT_EQ(separators, 3) << line;
    EXPECT_EQ(line.substr(line.size() - 3), " \\\\") << line;
    ++rows;
    row_start = nl + 1;
  }
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(std::count(tex.begin(), tex.end(), '$') % 2, 0);
}

TEST(TableFormat, HtmlMarkdownAndCsv) {
  Table t = special_table();
  std::string html = format_table(t, "html");
  EXPECT_NE(html.find("<table class=\"paper-table\" id=\"paper-crops\">\n<caption>Top-1 % &amp; "
                      "more: mean ± std (n) #1</caption>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<td>a|b</td><td>x_{y}^z~\\</td><td class=\"num\">&lt;b&gt;&amp;</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<tfoot>\n<tr><td colspan=\"4\">50% of labels &amp; ours_fast</td></tr>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("</table>\n"), std::string::npos);

  std::string md = format_table(t, "md");
  EXPECT_NE(md.find("|---|---|---:|---|\n| SwAV | base_lr=0.3, queue_length=0 | 71.00 ± 1.41 (2) "
                    "| — |\n| a\\|b |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("\n- 50% of labels & ours_fast\n"), std::string::npos) << md;

  std::string csv = format_table(t, "csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "method,other settings,ours kNN k=20,paper (setting)");
  EXPECT_NE(csv.find("SwAV,\"base_lr=0.3, queue_length=0\",71.00 ± 1.41 (2),—\n"),
            std::string::npos)
      << csv;
  EXPECT_THROW(format_table(t, "pdf"), InputError);
}

// The cost table from epoch rows, against hand-computed means; the paper's img/s per GPU beside
// SwAV's rows only; MFU "—" for a run whose epochs logged none (a GPU run).
TEST_F(PaperTableTest, CostTableFromEpochRows) {
  auto add_epochs = [&](int64_t id,
                        std::vector<std::tuple<double, double, double, std::string>> e) {
    for (size_t i = 0; i < e.size(); ++i) {
      const auto& [img_per_s, wait, peak_mib, extra] = e[i];
      EpochRow row;
      row.run_id = id;
      row.epoch = static_cast<int>(i);
      row.loss = 1.0;
      row.img_per_s = img_per_s;
      row.data_wait = wait;
      row.peak_mem = peak_mib * (1 << 20);
      row.extra_json = extra;
      store_->add_epoch(row);
    }
  };
  // Two SwAV multi-crop seeds: per-run means 150 and 250 img/s; MFU 20% and 30%.
  add_epochs(add_run("a.lua", {{"seed", 0}}, {}),
             {{100, 0.02, 500, R"({"mfu": 0.1})"}, {200, 0.04, 700, R"({"mfu": 0.3})"}});
  add_epochs(add_run("a.lua", {{"seed", 1}}, {}), {{250, 0.01, 600, R"({"mfu": 0.3})"}});
  // SimCLR 2x28 without an mfu log.
  add_epochs(add_run("a.lua", {{"method", "simclr"}, {"crops", crops("2x28")}}, {}),
             {{80, 0.5, 300, "{}"}});
  add_run("a.lua", {{"method", "random"}}, {});  // no epochs: not a cost row
  std::vector<PaperValue> paper = paper_;
  paper.push_back({"cost", "SwAV", "resnet50", "", "4096", "2x224+6x96", "imagenet", "train",
                   "img_per_s_per_gpu", 91, "64 V100"});
  const Table t = build_paper_table(*store_, "cost", paper);
  ASSERT_EQ(t.rows.size(), 2u);
  const auto& swav = row_of(t, 0);
  EXPECT_EQ(swav[0], "SwAV");
  EXPECT_EQ(swav[6], "200.00 ± 70.71 (2)");  // 150 and 250
  EXPECT_EQ(swav[7], "25.00 ± 7.07 (2)");    // 20 and 30
  EXPECT_EQ(swav[8], "2.00 ± 1.41 (2)");     // 3% and 1%
  EXPECT_EQ(swav[9], "650.00 ± 70.71 (2)");  // 700 and 600
  EXPECT_NE(swav[10].find("91 (ImageNet, R50, bs 4096, 2x224+6x96)"), std::string::npos)
      << swav[10];
  const auto& simclr = row_of(t, 1);
  EXPECT_EQ(simclr[0], "SimCLR");
  EXPECT_EQ(simclr[6], "80.00 (1)");
  EXPECT_EQ(simclr[7], "—");
  EXPECT_EQ(simclr[8], "50.00 (1)");
  EXPECT_EQ(simclr[10], "—");
  EXPECT_TRUE(has_note(t, "64 V100"));
}

TEST_F(PaperTableTest, AllRendersTheSixTablesSeparatedByBlankLines) {
  add_run("ablation_crops.lua", json::object(), {{"knn", "top1_k20", 75.0}});
  std::string all = render_paper_tables(*store_, "all", paper_, "md");
  size_t pos = 0;
  for (const char* what :
       {"### Linear evaluation", "### Semi-supervised", "### Transfer", "### Multi-crop ablation",
        "### Batch-size ablation", "### Prototype ablation", "### Training cost"}) {
    size_t at = all.find(what, pos);
    ASSERT_NE(at, std::string::npos) << what << "\n" << all;
    if (pos > 0) {
      EXPECT_EQ(all.substr(at - 2, 2), "\n\n");
    }
    pos = at;
  }
}

}  // namespace
}  // namespace swavbench

namespace swavbench {
namespace {

// The LaTeX of all six tables, with the paper column filled and notes full of % and _,
// compiles with pdflatex and booktabs (scripts/setup-deps.sh installs both).
TEST_F(PaperTableTest, LatexOfAllSixTablesCompilesWithBooktabs) {
  ASSERT_EQ(std::system("command -v pdflatex >/dev/null 2>&1"), 0)
      << "pdflatex is missing: run scripts/setup-deps.sh (texlive-latex-base, "
         "texlive-latex-recommended)";
  add_run("ablation_crops.lua", json::object(), {{"knn", "top1_k20", 75.0}});
  add_run("transfer.lua", json::object(), {{"voc07_svm", "map", 50.5}});
  const std::string body = render_paper_tables(*store_, "all", paper_, "latex");
  write_file("tables.tex", body);
  write_file("doc.tex",
             "\\documentclass{article}\n\\usepackage{booktabs}\n"
             "\\usepackage[margin=1cm,landscape]{geometry}\n\\begin{document}\n"
             "\\input{tables.tex}\n\\end{document}\n");
  const std::string command = "cd '" + dir_ +
                              "' && pdflatex -interaction=nonstopmode -halt-on-error doc.tex "
                              ">latex.log 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << "see " << dir_ << "/latex.log";
  EXPECT_TRUE(std::ifstream(dir_ + "/doc.pdf").good());
}

}  // namespace
}  // namespace swavbench
