// The VOC transfer protocols: the SVM core on separable toy data, CenterNet encoding/decoding on
// hand cases, both protocols end to end on a tiny Fashion-VOC set written to a temporary folder,
// and `data voc-eval` on perfect detections.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "app/data_commands.h"
#include "evals/voc_map.h"
#include "evals/voc_protocols.h"
#include "harness/core/check.h"
#include "harness/data/voc.h"
#include "harness/dist/collective.h"
#include "harness/train/method.h"
#include "harness/train/register.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "swavbench_vocp_XXXXXX").string();
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// ---- SVM core ---------------------------------------------------------------------------------

TEST(VocSvm, RecoversASeparableProblemAndIgnoresDifficult) {
  torch::manual_seed(0);
  // Positives around +e0, negatives around -e0 in 8 dimensions: linearly separable.
  auto make = [](int64_t n, std::vector<int>& labels) {
    torch::Tensor x = 0.1 * torch::randn({n, 8});
    for (int64_t i = 0; i < n; ++i) {
      labels.push_back(i % 3 == 0 ? 1 : -1);
      x[i][0] += labels.back() == 1 ? 1.0 : -1.0;
    }
    return x;
  };
  std::vector<int> train_labels, test_labels;
  torch::Tensor train = make(60, train_labels), test = make(30, test_labels);
  // Difficult-only images (label 0) sit on the wrong side: as training negatives they would
  // spoil the fit, and in the test set they get the highest scores, so counting them as
  // negatives would lower the AP. Both must be ignored.
  for (int i : {1, 2}) {
    train[i][0] = 1.0;
    train_labels[i] = 0;
  }
  for (int i : {1, 2}) {
    test[i][0] = 3.0;
    test_labels[i] = 0;
  }
  SvmOptions options;
  SvmClassResult r = train_and_score_svm(train, train_labels, test, test_labels, options);
  EXPECT_DOUBLE_EQ(r.ap, 1.0);
  EXPECT_NE(std::find(options.costs.begin(), options.costs.end(), r.cost), options.costs.end());
  ASSERT_EQ(r.cv_ap.size(), options.costs.size());
  for (double ap : r.cv_ap) EXPECT_TRUE(ap >= 0 && ap <= 1) << ap;
  EXPECT_EQ(r.scores.size(), test_labels.size());
  // Deterministic: the same call gives the same scores.
  SvmClassResult again = train_and_score_svm(train, train_labels, test, test_labels, options);
  EXPECT_EQ(again.scores, r.scores);
  EXPECT_EQ(again.cost, r.cost);
  // The same difficult test images counted as positives would cost AP (sanity of the setup).
  std::vector<int> counted = test_labels;
  counted[1] = counted[2] = -1;
  EXPECT_LT(voc07_classification_ap(r.scores, counted), 1.0);
}

TEST(VocSvm, CrossValidationPicksTheCostThatWins) {
  // Noisy labels: with a tiny cost the classifier is nearly constant; the CV mean AP decides,
  // and the chosen cost is the (first) argmax of cv_ap.
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({90, 4});
  std::vector<int> labels;
  for (int64_t i = 0; i < 90; ++i)
    labels.push_back(x[i][0].item<float>() + 0.5f * x[i][1].item<float>() > 0 ? 1 : -1);
  SvmOptions options;
  options.costs = {1e-4, 1.0};
  SvmClassResult r = train_and_score_svm(x, labels, x, labels, options);
  const size_t best = std::max_element(r.cv_ap.begin(), r.cv_ap.end()) - r.cv_ap.begin();
  EXPECT_EQ(r.cost, options.costs[best]);
  EXPECT_GT(r.ap, 0.9);
  options.costs = {};
  EXPECT_THROW(train_and_score_svm(x, labels, x, labels, options), InputError);
}

// ---- CenterNet core ---------------------------------------------------------------------------

TEST(CenterNet, DecodesAHandPlacedPeak) {
  torch::Tensor heat = torch::zeros({1, 2, 8, 8});
  torch::Tensor size = torch::zeros({1, 2, 8, 8});
  torch::Tensor offset = torch::zeros({1, 2, 8, 8});
  heat[0][1][3][5] = 0.9;    // the peak: class 1 at cell (x 5, y 3)
  heat[0][1][3][6] = 0.5;    // its neighbour, not a 3x3 maximum: suppressed
  heat[0][0][7][0] = 0.005;  // a peak below the 0.01 threshold
  size[0][0][3][5] = 2;      // w, h in cells
  size[0][1][3][5] = 4;
  offset[0][0][3][5] = 0.25;
  offset[0][1][3][5] = 0.5;
  auto out = decode_centernet(heat, size, offset, /*stride=*/4, /*max=*/100, /*threshold=*/0.01);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].size(), 1u);
  const CenterBox& b = out[0][0];
  // Centre (5.25, 3.5) cells = (21, 14) px; 8 x 16 px.
  EXPECT_EQ(b.label, 1);
  EXPECT_FLOAT_EQ(b.score, 0.9f);
  EXPECT_FLOAT_EQ(b.x0, 17);
  EXPECT_FLOAT_EQ(b.y0, 6);
  EXPECT_FLOAT_EQ(b.x1, 25);
  EXPECT_FLOAT_EQ(b.y1, 22);
  // max_detections caps the output.
  heat[0][0][0][7] = 0.7;
  EXPECT_EQ(decode_centernet(heat, size, offset, 4, 1, 0.01)[0].size(), 1u);
  EXPECT_EQ(decode_centernet(heat, size, offset, 4, 100, 0.01)[0].size(), 2u);
}

TEST(CenterNet, EncodeThenDecodeGivesTheBoxesBack) {
  const std::vector<CenterBox> boxes = {{2, 10.3f, 20.7f, 40.2f, 60.9f, 1.0f},
                                        {0, 50.0f, 5.0f, 90.0f, 30.0f, 1.0f}};
  CenterNetTargets t = encode_centernet_targets(boxes, 3, 12, 12, 8.0);
  EXPECT_EQ(t.heatmap.sizes(), (std::vector<int64_t>{3, 12, 12}));
  EXPECT_EQ(t.mask.sum().item<float>(), 2.0f);
  EXPECT_EQ(t.heatmap.eq(1).sum().item<int64_t>(), 2);  // exactly one peak per object
  EXPECT_GT(centernet_radius(5, 3.7), 0.0);
  auto out = decode_centernet(t.heatmap.unsqueeze(0), t.size.unsqueeze(0), t.offset.unsqueeze(0),
                              8.0, 100, 0.99);
  ASSERT_EQ(out[0].size(), 2u);
  for (const CenterBox& want : boxes) {
    bool found = false;
    for (const CenterBox& got : out[0]) {
      if (got.label != want.label) continue;
      found = true;
      EXPECT_NEAR(got.x0, want.x0, 1e-3);
      EXPECT_NEAR(got.y0, want.y0, 1e-3);
      EXPECT_NEAR(got.x1, want.x1, 1e-3);
      EXPECT_NEAR(got.y1, want.y1, 1e-3);
    }
    EXPECT_TRUE(found) << "class " << want.label;
  }
  // The focal loss is ~0 for confident correct logits and large for the opposite.
  torch::Tensor good = torch::where(t.heatmap.eq(1), torch::full_like(t.heatmap, 20),
                                    torch::full_like(t.heatmap, -20));
  EXPECT_LT(centernet_focal_loss(good, t.heatmap).item<float>(), 1e-3);
  EXPECT_GT(centernet_focal_loss(-good, t.heatmap).item<float>(), 1.0);
}

// ---- End to end on a tiny Fashion-VOC set -------------------------------------------------------

bool fashion_mnist_available() {
  return fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
}

class VocProtocolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fashion_mnist_available()) return;
    root_ = new std::string(make_temp_dir());
    make_fashion_voc(*root_, 7, 40, 20);
    register_harness_methods();
  }
  static void TearDownTestSuite() {
    if (root_ == nullptr) return;
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  }

  // Runs `protocol` with the "random" control's backbone (small ResNet-10, grey input).
  EvalResult run(const EvalProtocol& protocol, const json& options, Method** method_out = nullptr) {
    config_ = std::make_unique<RunConfig>(resolve_config(
        {{"method", "random"}, {"arch", "resnet10"}, {"width", 0.25}}, json::object(), "t"));
    method_ =
        make_method("random", MethodContext{*config_, 10, 1, torch::kCPU, local_collective()});
    method_->module().eval();
    if (method_out != nullptr) *method_out = method_.get();
    FeatureCache cache(*config_, method_->backbone(), torch::kCPU);
    EvalContext ctx{*config_, *method_, torch::kCPU, merge_eval_options(protocol, options, "t"),
                    cache};
    return protocol.run(ctx);
  }

  static double metric(const EvalResult& r, const std::string& name) {
    for (const auto& [key, value] : r.metrics)
      if (key == name) return value;
    ADD_FAILURE() << "no metric " << name;
    return std::nan("");
  }

  static std::string* root_;
  std::unique_ptr<RunConfig> config_;
  std::unique_ptr<Method> method_;
};

std::string* VocProtocolTest::root_ = nullptr;

TEST_F(VocProtocolTest, Voc07SvmRunsOnATinySet) {
  auto start = std::chrono::steady_clock::now();
  EvalResult r = run(voc07_svm_protocol(), {{"root", *root_}});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "voc07_svm on 40 + 20 images: " << seconds << " s\n";
  ASSERT_FALSE(r.metrics.empty());
  EXPECT_EQ(r.metrics.front().first, "map");
  const double map = metric(r, "map");
  EXPECT_GE(map, 0.0);
  EXPECT_LE(map, 100.0);
  int per_class = 0;
  for (const auto& [key, value] : r.metrics) {
    if (key.rfind("ap_", 0) != 0) continue;
    ++per_class;
    EXPECT_TRUE(value >= 0 && value <= 100) << key;
  }
  EXPECT_EQ(per_class + r.card["skipped_classes"].size(), fashion_voc_classes().size());
  for (const char* key : {"root", "train_split", "test_split", "n_train", "n_test", "image_size",
                          "costs", "chosen_cost", "solver", "folds"})
    EXPECT_TRUE(r.card.contains(key)) << key;
  EXPECT_EQ(r.card["root"], *root_);
  EXPECT_EQ(r.card["chosen_cost"].size(), fashion_voc_classes().size());
  // A missing root tells the user how to get a dataset.
  try {
    run(voc07_svm_protocol(), json::object());
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("make-voc"), std::string::npos) << e.what();
  }
}

TEST_F(VocProtocolTest, VocDetTrainsScoresAndLeavesTheBackboneAlone) {
  const std::string dets = make_temp_dir() + "/dets";
  Method* method = nullptr;
  std::vector<torch::Tensor> before;
  auto start = std::chrono::steady_clock::now();
  EvalProtocol protocol = voc_det_protocol();
  json options = {{"root", *root_}, {"epochs", 1}, {"detections_dir", dets}};
  // Wrapped so that the run's backbone is snapshotted just before the protocol starts.
  EvalProtocol wrapped = protocol;
  wrapped.run = [&](EvalContext& ctx) {
    for (const auto& p : ctx.method.backbone()->parameters()) before.push_back(p.clone());
    for (const auto& b : ctx.method.backbone()->buffers()) before.push_back(b.clone());
    return protocol.run(ctx);
  };
  EvalResult r = run(wrapped, options, &method);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "voc_det (1 epoch) on 40 + 20 images: " << seconds << " s\n";

  std::vector<torch::Tensor> after;
  for (const auto& p : method->backbone()->parameters()) after.push_back(p);
  for (const auto& b : method->backbone()->buffers()) after.push_back(b);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i])) << i;

  for (const char* name : {"map_11point", "map_area"}) {
    EXPECT_GE(metric(r, name), 0.0);
    EXPECT_LE(metric(r, name), 100.0);
  }
  for (const char* key : {"root", "train_split", "test_split", "detector", "epochs", "lr",
                          "image_size", "n_train", "n_test", "seed", "detections_dir"})
    EXPECT_TRUE(r.card.contains(key)) << key;
  EXPECT_EQ(r.card["detections_dir"], dets);

  // One devkit file per class, "id score xmin ymin xmax ymax" with test ids and boxes inside
  // the 96 x 96 image in VOC's 1-based convention.
  std::set<std::string> test_ids;
  for (const std::string& id : read_voc_image_set(*root_, "test")) test_ids.insert(id);
  for (const std::string& name : fashion_voc_classes()) {
    const std::string path = dets + "/comp4_det_test_" + name + ".txt";
    ASSERT_TRUE(fs::exists(path)) << path;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string id;
      double score, x0, y0, x1, y1;
      ASSERT_TRUE(fields >> id >> score >> x0 >> y0 >> x1 >> y1) << line;
      EXPECT_TRUE(test_ids.count(id)) << line;
      EXPECT_GE(score, 0.01);
      EXPECT_TRUE(1 <= x0 && x0 <= x1 && x1 <= 96 && 1 <= y0 && y0 <= y1 && y1 <= 96) << line;
    }
  }
  std::error_code ec;
  fs::remove_all(fs::path(dets).parent_path(), ec);
}

TEST_F(VocProtocolTest, VocEvalScoresPerfectDetectionsAt100) {
  const std::string dets = make_temp_dir();
  VocDataset test(*root_, "test", read_voc_classes(*root_));
  std::map<std::string, std::vector<Detection>> by_class;
  for (const VocAnnotation& a : test.annotations())
    for (const VocObject& o : a.objects)
      by_class[o.name].push_back({a.image_id, 1.0f, o.xmin, o.ymin, o.xmax, o.ymax});
  write_devkit_detections(dets, "test", by_class);
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_voc_eval(*root_, "test", dets), 0);
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("| **mAP** | | | **100.00** | **100.00** |"), std::string::npos)
      << printed;
  EXPECT_THROW(run_voc_eval(*root_, "test", dets + "/missing"), InputError);
  std::error_code ec;
  fs::remove_all(dets, ec);
}

TEST_F(VocProtocolTest, MakeVocPrintsASummary) {
  const std::string out = make_temp_dir() + "/voc";
  testing::internal::CaptureStdout();
  EXPECT_EQ(run_make_voc(out, 3, 10, 5), 0);
  const std::string printed = testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("trainval"), std::string::npos) << printed;
  EXPECT_NE(printed.find("difficult"), std::string::npos) << printed;
  EXPECT_EQ(read_voc_image_set(out, "test").size(), 5u);
  std::error_code ec;
  fs::remove_all(fs::path(out).parent_path(), ec);
}

}  // namespace
}  // namespace swavbench
