// The VOC2007 layer: XML and image-set readers, the Fashion-MNIST scene writer, devkit results
// files, and the VOC07 AP rules on hand-worked cases. Real files in a temporary directory.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "evals/voc_map.h"
#include "harness/core/check.h"
#include "harness/core/provenance.h"
#include "harness/data/voc.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

class VocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "swavbench_voc_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path(name);
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p;
  }

  std::string dir_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `f`, expects an InputError whose message contains every one of `parts`.
template <typename F>
void expect_input_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no InputError thrown";
  } catch (const InputError& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

// An annotation as the VOC2007 devkit ships it (000005.xml-like, with source/owner/pose noise).
std::string devkit_xml(const std::string& objects, const std::string& size =
                                                       "<size><width>500</width><height>375"
                                                       "</height><depth>3</depth></size>") {
  return "<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>000005.jpg</filename>\n"
         "\t<source>\n\t\t<database>The VOC2007 Database</database>\n"
         "\t\t<annotation>PASCAL VOC2007</annotation>\n\t\t<image>flickr</image>\n"
         "\t\t<flickrid>325991873</flickrid>\n\t</source>\n"
         "\t<owner>\n\t\t<flickrid>archintent louisville</flickrid>\n\t\t<name>?</name>\n"
         "\t</owner>\n\t" +
         size + "\n\t<segmented>0</segmented>\n" + objects + "</annotation>\n";
}

std::string object_xml(const std::string& name, int difficult, const std::string& box,
                       int truncated = 0) {
  return "\t<object>\n\t\t<name>" + name +
         "</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>" + std::to_string(truncated) +
         "</truncated>\n\t\t<difficult>" + std::to_string(difficult) +
         "</difficult>\n\t\t<bndbox>\n" + box + "\t\t</bndbox>\n\t</object>\n";
}

std::string box_xml(int xmin, int ymin, int xmax, int ymax) {
  return "\t\t\t<xmin>" + std::to_string(xmin) + "</xmin>\n\t\t\t<ymin>" + std::to_string(ymin) +
         "</ymin>\n\t\t\t<xmax>" + std::to_string(xmax) + "</xmax>\n\t\t\t<ymax>" +
         std::to_string(ymax) + "</ymax>\n";
}

TEST_F(VocTest, ReadsDevkitAnnotation) {
  const std::string p = write("Annotations/000005.xml",
                              devkit_xml(object_xml("chair", 0, box_xml(263, 211, 324, 339), 0) +
                                         object_xml("chair", 1, box_xml(5, 244, 67, 374), 1) +
                                         object_xml("diningtable", 1, box_xml(1, 1, 500, 375), 1)));
  const VocAnnotation a = read_voc_annotation(p, voc07_classes());
  EXPECT_EQ(a.image_id, "000005");
  EXPECT_EQ(a.filename, "000005.jpg");
  EXPECT_EQ(a.width, 500);
  EXPECT_EQ(a.height, 375);
  EXPECT_EQ(a.depth, 3);
  ASSERT_EQ(a.objects.size(), 3u);
  EXPECT_EQ(a.objects[0].name, "chair");
  EXPECT_FLOAT_EQ(a.objects[0].xmin, 263);
  EXPECT_FLOAT_EQ(a.objects[0].ymin, 211);
  EXPECT_FLOAT_EQ(a.objects[0].xmax, 324);
  EXPECT_FLOAT_EQ(a.objects[0].ymax, 339);
  EXPECT_FALSE(a.objects[0].difficult);
  EXPECT_TRUE(a.objects[1].difficult);
  EXPECT_TRUE(a.objects[1].truncated);
  EXPECT_EQ(a.objects[2].name, "diningtable");

  // write_voc_annotation -> read back gives the same annotation.
  const std::string copy = path("copy/000005.xml");
  fs::create_directories(path("copy"));
  write_voc_annotation(copy, a);
  const VocAnnotation b = read_voc_annotation(copy, voc07_classes());
  EXPECT_EQ(b.filename, a.filename);
  EXPECT_EQ(b.width, a.width);
  ASSERT_EQ(b.objects.size(), a.objects.size());
  for (size_t i = 0; i < a.objects.size(); ++i) {
    EXPECT_EQ(b.objects[i].name, a.objects[i].name);
    EXPECT_EQ(b.objects[i].xmin, a.objects[i].xmin);
    EXPECT_EQ(b.objects[i].ymax, a.objects[i].ymax);
    EXPECT_EQ(b.objects[i].difficult, a.objects[i].difficult);
    EXPECT_EQ(b.objects[i].truncated, a.objects[i].truncated);
  }
}

TEST_F(VocTest, MalformedAnnotationsNameTheFile) {
  const std::string broken = write("broken.xml", "<annotation><size><width>5</width></size");
  expect_input_error([&] { read_voc_annotation(broken); }, {broken, "malformed XML", "offset"});

  const std::string no_size = write("no_size.xml",
                                    "<annotation><filename>a.jpg</filename>"
                                    "</annotation>");
  expect_input_error([&] { read_voc_annotation(no_size); }, {no_size, "<size>"});

  const std::string no_box = write(
      "no_box.xml", devkit_xml("\t<object><name>dog</name><difficult>0</difficult></object>\n"));
  expect_input_error([&] { read_voc_annotation(no_box); }, {no_box, "object 1", "<bndbox>"});

  const std::string no_xmax =
      write("no_xmax.xml",
            devkit_xml(object_xml("dog", 0, "<xmin>1</xmin><ymin>1</ymin><ymax>4</ymax>")));
  expect_input_error([&] { read_voc_annotation(no_xmax); }, {no_xmax, "<xmax>"});

  const std::string no_name =
      write("no_name.xml",
            devkit_xml("\t<object><bndbox>" + box_xml(1, 1, 2, 2) + "</bndbox></object>\n"));
  expect_input_error([&] { read_voc_annotation(no_name); }, {no_name, "object 1", "<name>"});

  // xmax 501 in a 500-wide image; also xmin 0 (VOC is 1-based) and xmin > xmax.
  const std::string outside =
      write("outside.xml", devkit_xml(object_xml("dog", 0, box_xml(10, 10, 20, 20)) +
                                      object_xml("dog", 0, box_xml(100, 50, 501, 90))));
  expect_input_error([&] { read_voc_annotation(outside); },
                     {outside, "object 2", "xmax 501", "500x375"});
  const std::string zero =
      write("zero.xml", devkit_xml(object_xml("dog", 0, box_xml(0, 10, 20, 20))));
  expect_input_error([&] { read_voc_annotation(zero); }, {zero, "object 1", "xmin 0"});
  const std::string flipped =
      write("flipped.xml", devkit_xml(object_xml("dog", 0, box_xml(30, 10, 20, 20))));
  expect_input_error([&] { read_voc_annotation(flipped); }, {flipped, "object 1"});

  const std::string unknown =
      write("unknown.xml", devkit_xml(object_xml("unicorn", 0, box_xml(10, 10, 20, 20))));
  EXPECT_NO_THROW(read_voc_annotation(unknown));  // no class list given: not checked
  expect_input_error([&] { read_voc_annotation(unknown, voc07_classes()); },
                     {unknown, "unicorn", "aeroplane", "tvmonitor"});

  expect_input_error([&] { read_voc_annotation(path("absent.xml")); }, {path("absent.xml")});
}

TEST_F(VocTest, ImageSetErrors) {
  expect_input_error([&] { read_voc_image_set(dir_, "train"); },
                     {path("ImageSets/Main/train.txt"), "ImageSets/Main/<split>.txt"});
  expect_input_error([&] { read_voc_image_set(dir_, "training"); }, {"training", "trainval"});
  write("ImageSets/Main/val.txt", "000001\n000002 1\n");
  expect_input_error([&] { read_voc_image_set(dir_, "val"); },
                     {path("ImageSets/Main/val.txt") + ":2"});
  write("ImageSets/Main/test.txt", "000001\n\n000002\n");
  EXPECT_EQ(read_voc_image_set(dir_, "test"), (std::vector<std::string>{"000001", "000002"}));
  // The dataset names the missing annotation and the image set that lists it.
  expect_input_error([&] { VocDataset(dir_, "test"); },
                     {path("Annotations/000001.xml"), "test.txt"});
}

// ---- VOC07 AP ---------------------------------------------------------------------------------

VocObject gt_box(const std::string& name, double x0, double y0, double x1, double y1,
                 bool difficult = false) {
  VocObject o;
  o.name = name;
  o.xmin = x0;
  o.ymin = y0;
  o.xmax = x1;
  o.ymax = y1;
  o.difficult = difficult;
  return o;
}

VocAnnotation image_gt(const std::string& id, std::vector<VocObject> objects) {
  VocAnnotation a;
  a.image_id = id;
  a.filename = id + ".jpg";
  a.width = a.height = 100;
  a.depth = 3;
  a.objects = std::move(objects);
  return a;
}

Detection det(const std::string& id, float score, float x0, float y0, float x1, float y1) {
  return {id, score, x0, y0, x1, y1};
}

TEST(VocAp, PerfectDetectorScoresOne) {
  const std::vector<VocAnnotation> gt = {
      image_gt("a", {gt_box("dog", 1, 1, 20, 20), gt_box("cat", 30, 30, 60, 60)}),
      image_gt("b", {gt_box("dog", 10, 10, 50, 40)})};
  const std::map<std::string, std::vector<Detection>> dets = {
      {"dog", {det("a", 0.9f, 1, 1, 20, 20), det("b", 0.8f, 10, 10, 50, 40)}},
      {"cat", {det("a", 0.7f, 30, 30, 60, 60)}}};
  const MapResult map = voc_map(gt, {"dog", "cat", "bird"}, dets);
  ASSERT_EQ(map.per_class.size(), 3u);
  EXPECT_DOUBLE_EQ(map.per_class[0].second.ap_11point, 1.0);
  EXPECT_DOUBLE_EQ(map.per_class[0].second.ap_area, 1.0);
  EXPECT_EQ(map.per_class[0].second.positives, 2);
  EXPECT_DOUBLE_EQ(map.per_class[1].second.ap_area, 1.0);
  // "bird" has no positives: AP undefined, left out of the mAP rather than counted as 0.
  EXPECT_TRUE(std::isnan(map.per_class[2].second.ap_11point));
  EXPECT_EQ(map.skipped_classes, std::vector<std::string>{"bird"});
  EXPECT_DOUBLE_EQ(map.map_11point, 1.0);
  EXPECT_DOUBLE_EQ(map.map_area, 1.0);
  const std::string table = format_map_table(map);
  EXPECT_NE(table.find("| dog | 2 | 2 | 100.00 | 100.00 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| bird | 0 | 0 | n/a | n/a |"), std::string::npos) << table;
  EXPECT_NE(table.find("left out of the mAP): bird"), std::string::npos) << table;
  EXPECT_NE(table.find("**mAP**"), std::string::npos) << table;
}

TEST(VocAp, HandWorkedRanking) {
  // 3 positives (one per image); detections ranked TP, FP, TP, FP, TP.
  //   cumulative TP 1 1 2 2 3, FP 0 1 1 2 2
  //   recall     1/3 1/3 2/3 2/3 1
  //   precision  1   1/2 2/3 1/2 3/5
  // 11-point: t = 0, .1, .2, .3 -> max precision over all points = 1        (4 x 1   = 4)
  //           t = .4, .5, .6    -> points with recall >= t: 2/3, 1/2, 3/5 -> 2/3 (3 x 2/3 = 2)
  //           t = .7 ... 1.0    -> only recall 1: 3/5                        (4 x 3/5 = 2.4)
  //           AP = (4 + 2 + 2.4) / 11 = 8.4 / 11 = 0.763636...
  // Area: envelope (max to the right) 1, 2/3, 2/3, 3/5, 3/5 at the recall steps
  //       0 -> 1/3 at 1, 1/3 -> 2/3 at 2/3, 2/3 -> 1 at 3/5:
  //       AP = 1/3 + 2/9 + 1/5 = (15 + 10 + 9) / 45 = 34/45 = 0.755556...
  const std::vector<VocAnnotation> gt = {image_gt("a", {gt_box("dog", 1, 1, 20, 20)}),
                                         image_gt("b", {gt_box("dog", 1, 1, 20, 20)}),
                                         image_gt("c", {gt_box("dog", 1, 1, 20, 20)})};
  // Given out of order: the AP code sorts by score.
  const std::vector<Detection> dets = {
      det("c", 0.5f, 1, 1, 20, 20),    // rank 5: TP
      det("a", 0.9f, 1, 1, 20, 20),    // rank 1: TP
      det("a", 0.8f, 60, 60, 80, 80),  // rank 2: FP (no overlap)
      det("b", 0.7f, 1, 1, 20, 20),    // rank 3: TP
      det("b", 0.6f, 1, 1, 20, 20),    // rank 4: FP (duplicate of b's box)
  };
  const ApResult ap = voc_ap_for_class(gt, "dog", dets);
  EXPECT_EQ(ap.positives, 3);
  EXPECT_EQ(ap.detections, 5);
  EXPECT_EQ(ap.true_positives, 3);
  EXPECT_NEAR(ap.ap_11point, 8.4 / 11.0, 1e-12);
  EXPECT_NEAR(ap.ap_area, 34.0 / 45.0, 1e-12);
}

TEST(VocAp, DifficultMatchIsIgnoredAndDuplicateIsFalsePositive) {
  // Image a: one normal dog, one difficult dog. Positives = 1.
  const std::vector<VocAnnotation> gt = {
      image_gt("a", {gt_box("dog", 1, 1, 20, 20), gt_box("dog", 50, 50, 80, 80, true)})};
  // Ranks: difficult match (ignored), TP. Were the difficult match an FP the curve would be
  // (recall 0, precision 0), (1, 1/2) -> AP 1/2; ignored, it is (1, 1) -> AP 1 by both rules.
  const ApResult ignored =
      voc_ap_for_class(gt, "dog", {det("a", 0.9f, 50, 50, 80, 80), det("a", 0.8f, 1, 1, 20, 20)});
  EXPECT_EQ(ignored.positives, 1);
  EXPECT_EQ(ignored.ignored, 1);
  EXPECT_DOUBLE_EQ(ignored.ap_11point, 1.0);
  EXPECT_DOUBLE_EQ(ignored.ap_area, 1.0);

  // A duplicate only shows when a later TP follows it. Ranks TP(a), FP(second box on a), TP(b):
  //   recall 1/2 1/2 1, precision 1 1/2 2/3
  //   11-point: t <= .5 -> 1 (6 points), t >= .6 -> 2/3 (5 points): (6 + 10/3) / 11 = 28/33
  //   area: 1/2 * 1 + 1/2 * 2/3 = 5/6     (a TP instead of the FP would give 1 by both rules)
  const std::vector<VocAnnotation> gt2 = {image_gt("a", {gt_box("dog", 1, 1, 20, 20)}),
                                          image_gt("b", {gt_box("dog", 1, 1, 20, 20)})};
  const ApResult dup = voc_ap_for_class(
      gt2, "dog",
      {det("a", 0.9f, 1, 1, 20, 20), det("a", 0.8f, 2, 2, 20, 20), det("b", 0.7f, 1, 1, 20, 20)});
  EXPECT_EQ(dup.true_positives, 2);
  EXPECT_NEAR(dup.ap_11point, 28.0 / 33.0, 1e-12);
  EXPECT_NEAR(dup.ap_area, 5.0 / 6.0, 1e-12);

  // Other classes' boxes are not matched: a "cat" at the same place is no dog.
  const std::vector<VocAnnotation> gt3 = {image_gt("a", {gt_box("cat", 1, 1, 20, 20)})};
  const ApResult other = voc_ap_for_class(gt3, "dog", {det("a", 0.9f, 1, 1, 20, 20)});
  EXPECT_EQ(other.positives, 0);
  EXPECT_TRUE(std::isnan(other.ap_area));
}

TEST(VocAp, IouThresholdUsesInclusivePixels) {
  // GT (1,1)-(10,10): 10 x 10 = 100 pixels in VOC's inclusive convention.
  const std::vector<VocAnnotation> gt = {image_gt("a", {gt_box("dog", 1, 1, 10, 10)})};
  auto ap_of = [&](const Detection& d) { return voc_ap_for_class(gt, "dog", {d}).ap_area; };
  // (1,1)-(10,5): 10 x 5 = 50 inside, union 100 -> IoU exactly 0.5 -> TP. Without the +1 it
  // would be 9*4 / 9*9 = 0.444 -> FP, so this case pins the convention.
  EXPECT_DOUBLE_EQ(ap_of(det("a", 1, 1, 1, 10, 5)), 1.0);
  // (1,1)-(10,4): 40 / 100 = 0.4 -> FP.
  EXPECT_DOUBLE_EQ(ap_of(det("a", 1, 1, 1, 10, 4)), 0.0);
  // Shifted right by 3: overlap 7 x 10 = 70, union 130 -> 0.538 -> TP;
  // by 4: 6 x 10 = 60, union 140 -> 0.429 -> FP.
  EXPECT_DOUBLE_EQ(ap_of(det("a", 1, 4, 1, 13, 10)), 1.0);
  EXPECT_DOUBLE_EQ(ap_of(det("a", 1, 5, 1, 14, 10)), 0.0);
  // A stricter threshold turns the 0.538 match into an FP.
  EXPECT_DOUBLE_EQ(voc_ap_for_class(gt, "dog", {det("a", 1, 4, 1, 13, 10)}, 0.6).ap_area, 0.0);
  // An image that is not in the ground truth is an input error, as in the devkit.
  expect_input_error([&] { voc_ap_for_class(gt, "dog", {det("zz", 1, 1, 1, 5, 5)}); }, {"'zz'"});
}

// Boxes at exactly IoU 1/2 (in rational arithmetic) with decimal coordinates such as 14.375 and
// 6.4, read from devkit XML and a devkit results file: each is a match exactly when the devkit's
// double arithmetic says ov >= 0.5, as tests/unit/voc_iou_reference.py computes it from the
// devkit's formula (independently of voc_map.cpp). Float32 arithmetic disagrees on many of
// them, which the script counts so that the cases are known to sit on the boundary.
TEST_F(VocTest, DecimalBoxesAtIouOneHalfFollowTheDevkitsDoubleArithmetic) {
  const std::string command = fmt::format("{} {}/tests/unit/voc_iou_reference.py {} 2>&1",
                                          SWAVBENCH_TEST_PYTHON, swavbench_source_dir(), dir_);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const nlohmann::json expected = nlohmann::json::parse(read_text(path("expected.json")));
  ASSERT_GT(expected["float32_disagrees"].get<int>(), 0);
  const std::map<std::string, std::vector<Detection>> dets =
      read_devkit_detections(dir_, "test", {"dog"});
  std::map<std::string, const Detection*> det_of;
  for (const Detection& d : dets.at("dog")) det_of[d.image_id] = &d;
  int matches = 0, misses = 0;
  for (const auto& [id, want] : expected["cases"].items()) {
    const VocAnnotation gt = read_voc_annotation(path("Annotations/" + id + ".xml"));
    ASSERT_EQ(det_of.count(id), 1u) << id;
    const ApResult r = voc_ap_for_class({gt}, "dog", {*det_of[id]});
    const bool match = want["match"].get<bool>();
    EXPECT_EQ(r.true_positives, match ? 1 : 0)
        << id << ": gt " << want["gt"].dump() << ", detection " << want["det"].dump()
        << ", the devkit's overlap " << want["overlap"].get<double>();
    (match ? matches : misses)++;
  }
  // Both sides of the boundary occur.
  EXPECT_GT(matches, 0);
  EXPECT_GT(misses, 0);
}

TEST(VocAp, ClassificationHandCase) {
  // Scores descending with labels 1, -1, 0 (difficult: ignored), 1, -1, -1; 2 positives.
  //   counted ranks: TP, FP, TP, FP, FP
  //   recall 1/2 1/2 1 1 1, precision 1 1/2 2/3 1/2 2/5
  //   11-point: t = 0 ... .5 -> 1 (6 points); t = .6 ... 1 -> 2/3 (5 points)
  //             AP = (6 + 10/3) / 11 = 28/33 = 0.848485
  //   area:     1/2 * 1 + 1/2 * 2/3 = 5/6
  // Were the difficult image a negative: TP, FP, FP, TP -> precision at recall 1 = 2/4, and the
  // 11-point AP (6 + 2.5) / 11 = 0.7727 — so the assertion also checks that 0 is ignored.
  const std::vector<float> scores = {0.4f, 0.9f, 0.6f, 0.8f, 0.7f, 0.5f};
  const std::vector<int> labels = {-1, 1, 1, -1, 0, -1};
  EXPECT_NEAR(voc07_classification_ap(scores, labels), 28.0 / 33.0, 1e-12);
  EXPECT_NEAR(voc07_classification_ap(scores, labels, false), 5.0 / 6.0, 1e-12);
  EXPECT_TRUE(std::isnan(voc07_classification_ap({0.1f, 0.2f}, {-1, 0})));
  EXPECT_THROW(voc07_classification_ap({0.1f}, {2}), InputError);
  EXPECT_THROW(voc07_classification_ap({0.1f}, {1, 1}), InputError);
}

TEST_F(VocTest, DevkitDetectionFilesRoundTrip) {
  const std::map<std::string, std::vector<Detection>> dets = {
      {"dog", {det("000001", 0.123456789f, 1.5f, 2, 30.25f, 40), det("000002", 1e-7f, 3, 4, 5, 6)}},
      {"cat", {}}};
  write_devkit_detections(path("results"), "test", dets);
  EXPECT_TRUE(fs::exists(path("results/comp4_det_test_dog.txt")));
  EXPECT_TRUE(fs::exists(path("results/comp4_det_test_cat.txt")));
  const auto back = read_devkit_detections(path("results"), "test", {"dog", "cat"});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(back.at("cat").empty());  // an empty file: no detections
  const std::vector<Detection>& dog = back.at("dog");
  ASSERT_EQ(dog.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Detection& want = dets.at("dog")[i];
    EXPECT_EQ(dog[i].image_id, want.image_id);
    EXPECT_EQ(dog[i].score, want.score);  // exact: shortest round-trip text
    EXPECT_EQ(dog[i].xmin, want.xmin);
    EXPECT_EQ(dog[i].ymin, want.ymin);
    EXPECT_EQ(dog[i].xmax, want.xmax);
    EXPECT_EQ(dog[i].ymax, want.ymax);
  }

  write("results/comp4_det_test_bird.txt", "000001 0.5 1 2 3 4\n000002 0.4 1 2 3\n");
  expect_input_error([&] { read_devkit_detections(path("results"), "test", {"bird"}); },
                     {path("results/comp4_det_test_bird.txt") + ":2"});
  write("results/comp4_det_test_bird.txt", "000001 high 1 2 3 4\n");
  expect_input_error([&] { read_devkit_detections(path("results"), "test", {"bird"}); },
                     {path("results/comp4_det_test_bird.txt") + ":1", "score 'high'"});
  expect_input_error([&] { read_devkit_detections(path("nowhere"), "test", {"bird"}); },
                     {path("nowhere")});
  expect_input_error([&] { voc_map({}, {"dog"}, {{"cat", {}}}); }, {"'cat'"});
}

// A missing results file is an error, as in the devkit, never a class without detections: a
// wrong --split or a misspelt class would otherwise score 0.00 and exit 0.
TEST_F(VocTest, MissingResultsFilesAreErrorsThatSayWhatTheFolderHolds) {
  write_devkit_detections(path("val_results"), "val",
                          {{"dog", {det("000001", 0.5f, 1, 1, 5, 5)}}, {"cat", {}}});
  expect_input_error(
      [&] {
        read_devkit_detections(path("val_results"), "test", {"dog", "cat"});
      },
      {"2 of 2 classes have no results file (dog, cat: expected "
       "comp4_det_test_dog.txt); the folder has results for split val (is "
       "--split test right?)"});
  write("typo/comp4_det_test_dog.txt", "");
  write("typo/comp4_det_test_caat.txt", "000001 0.5 1 1 5 5\n");
  expect_input_error(
      [&] {
        read_devkit_detections(path("typo"), "test", {"dog", "cat"});
      },
      {"1 of 2 classes have no results file (cat: expected "
       "comp4_det_test_cat.txt); comp4_det_test_caat.txt: did you mean class "
       "'cat'?"});
}

// Results files are read as double, as the devkit's textread does. Each case below scores
// differently when the numbers are parsed as float.
TEST_F(VocTest, DetectionsAreParsedAsDoubleLikeTheDevkit) {
  const std::vector<VocAnnotation> gt = {image_gt("a", {gt_box("dog", 1, 1, 10, 10)}),
                                         image_gt("b", {})};
  // Scores 1e-11 apart: the false positive on b ranks first (precision 1/2 at recall 1, area AP
  // 0.5). As floats both are 0.3f, the tie keeps file order and the AP would be 1.
  write("scores/comp4_det_test_dog.txt", "a 0.3 1 1 10 10\nb 0.30000000001 1 1 10 10\n");
  auto read = read_devkit_detections(path("scores"), "test", {"dog"});
  EXPECT_DOUBLE_EQ(voc_ap_for_class(gt, "dog", read.at("dog")).ap_area, 0.5);
  // IoU a hair under 0.5: (1,1)-(10, 4.9999999999) overlaps 10 x 4.9999999999 of the 100-pixel
  // box: a false positive. As a float ymax is 5 and the IoU exactly 0.5, a true positive.
  write("iou/comp4_det_test_dog.txt", "a 1 1 1 10 4.9999999999\n");
  read = read_devkit_detections(path("iou"), "test", {"dog"});
  EXPECT_DOUBLE_EQ(voc_ap_for_class(gt, "dog", read.at("dog")).ap_area, 0.0);
  write("iou/comp4_det_test_dog.txt", "a 1 1 1 10 5\n");
  read = read_devkit_detections(path("iou"), "test", {"dog"});
  EXPECT_DOUBLE_EQ(voc_ap_for_class(gt, "dog", read.at("dog")).ap_area, 1.0);
}

// --format json / csv: the same numbers as the table, at full precision; NaN as null / empty.
TEST(VocAp, MapAsJsonAndCsvAtFullPrecision) {
  // dog: TP (a), FP (b), TP (c) of 2 positives -> area AP 1/2 * 1 + 1/2 * 2/3 = 5/6.
  const std::vector<VocAnnotation> gt = {image_gt("a", {gt_box("dog", 1, 1, 10, 10)}),
                                         image_gt("b", {}),
                                         image_gt("c", {gt_box("dog", 1, 1, 10, 10)})};
  const MapResult map = voc_map(gt, {"dog", "bird"},
                                {{"dog",
                                  {det("a", 0.9f, 1, 1, 10, 10), det("b", 0.8f, 1, 1, 10, 10),
                                   det("c", 0.7f, 1, 1, 10, 10)}}});
  const nlohmann::json j = nlohmann::json::parse(format_map_data(map, "json"));
  EXPECT_EQ(j["per_class"][0]["class"], "dog");
  EXPECT_EQ(j["per_class"][0]["true_positives"], 2);
  const double dog_area = map.per_class[0].second.ap_area;
  EXPECT_NEAR(dog_area, 5.0 / 6.0, 1e-15);
  EXPECT_EQ(j["per_class"][0]["ap_area"].get<double>(), dog_area);  // exact round trip
  EXPECT_TRUE(j["per_class"][1]["ap_area"].is_null());              // bird: no positives
  EXPECT_EQ(j["map_area"].get<double>(), map.map_area);
  EXPECT_EQ(j["skipped_classes"], nlohmann::json::array({"bird"}));
  const std::string csv = format_map_data(map, "csv");
  EXPECT_NE(csv.find("dog,2,3,2,0,"), std::string::npos) << csv;
  // The dog row's last field reads back as the same double.
  const size_t row = csv.find("dog,");
  const size_t end = csv.find('\n', row);
  const std::string area_text = csv.substr(csv.rfind(',', end) + 1, end - csv.rfind(',', end) - 1);
  EXPECT_EQ(std::strtod(area_text.c_str(), nullptr), dog_area) << csv;
  EXPECT_NE(csv.find("bird,0,0,0,0,,\n"), std::string::npos) << csv;
  EXPECT_THROW(format_map_data(map, "xml"), InputError);
}

// ---- The Fashion-MNIST scene set ---------------------------------------------------------------

FashionVocItem square_item(int label, int size, int x, int y) {
  FashionVocItem item;
  item.pixels.assign(28 * 28, 255);
  item.label = label;
  item.size = size;
  item.x = x;
  item.y = y;
  return item;
}

TEST(FashionVocScene, OcclusionMakesDifficultAndBoxesAreOneBased) {
  // Item 0: 20 x 20 at (10, 10); item 1, pasted later, 24 x 24 at (8, 8) covers all of it.
  // Item 2: 20 x 20 at (60, 60); item 3 covers its left 10 columns -> 50% visible: not difficult.
  const FashionVocScene scene =
      compose_fashion_voc_scene({square_item(0, 20, 10, 10), square_item(1, 24, 8, 8),
                                 square_item(2, 20, 60, 60), square_item(3, 20, 50, 60)},
                                /*background_seed=*/7);
  EXPECT_EQ(scene.image.width, kFashionVocCanvas);
  EXPECT_EQ(scene.image.channels, 3);
  ASSERT_EQ(scene.objects.size(), 4u);
  EXPECT_EQ(scene.objects[0].name, "t-shirt");
  EXPECT_TRUE(scene.objects[0].difficult);  // 0% visible
  EXPECT_FALSE(scene.objects[1].difficult);
  EXPECT_FALSE(scene.objects[2].difficult);  // 50% visible
  EXPECT_FALSE(scene.objects[3].difficult);
  // 0-based pixels 10..29 -> VOC 11..30.
  EXPECT_FLOAT_EQ(scene.objects[0].xmin, 11);
  EXPECT_FLOAT_EQ(scene.objects[0].xmax, 30);
  EXPECT_FLOAT_EQ(scene.objects[2].ymin, 61);
  EXPECT_FLOAT_EQ(scene.objects[2].ymax, 80);
  // Item 3 covering 14 of item 2's 20 columns leaves 30% visible -> difficult.
  const FashionVocScene hidden =
      compose_fashion_voc_scene({square_item(2, 20, 60, 60), square_item(3, 20, 54, 60)}, 7);
  EXPECT_TRUE(hidden.objects[0].difficult);
}

bool fashion_mnist_available() {
  return fs::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
}

TEST_F(VocTest, MakeFashionVocWritesTheLayout) {
  if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const std::string root = path("voc");
  make_fashion_voc(root, 42, 20, 10);

  const std::vector<std::string> classes = read_voc_classes(root);
  EXPECT_EQ(classes, fashion_voc_classes());
  EXPECT_EQ(read_voc_classes(path("no_such_root")), voc07_classes());

  const std::vector<std::string> train = read_voc_image_set(root, "train");
  const std::vector<std::string> val = read_voc_image_set(root, "val");
  const std::vector<std::string> trainval = read_voc_image_set(root, "trainval");
  const std::vector<std::string> test = read_voc_image_set(root, "test");
  EXPECT_EQ(val.size(), 4u);  // 20% of 20
  EXPECT_EQ(train.size(), 16u);
  EXPECT_EQ(trainval.size(), 20u);
  EXPECT_EQ(test.size(), 10u);
  std::set<std::string> merged(train.begin(), train.end());
  merged.insert(val.begin(), val.end());
  EXPECT_EQ(merged, std::set<std::string>(trainval.begin(), trainval.end()));
  EXPECT_EQ(merged.size(), 20u);  // train and val are disjoint
  for (const std::string& id : test) EXPECT_EQ(merged.count(id), 0u) << id;
  EXPECT_EQ(trainval.front(), "000001");
  EXPECT_EQ(test.front(), "000021");

  int objects = 0, difficult = 0;
  for (const char* split : {"trainval", "test"}) {
    VocDataset data(root, split, classes);
    for (int64_t i = 0; i < data.size(); ++i) {
      const VocAnnotation& a = data.annotation(i);
      const ImageU8 image = data.image(i);
      EXPECT_EQ(image.width, kFashionVocCanvas);
      EXPECT_EQ(image.height, kFashionVocCanvas);
      EXPECT_EQ(image.channels, 3);
      EXPECT_GE(a.objects.size(), 1u);
      EXPECT_LE(a.objects.size(), 4u);
      for (const VocObject& o : a.objects) {
        ++objects;
        difficult += o.difficult;
        EXPECT_GE(data.class_index(o.name), 0);
        EXPECT_GE(o.xmin, 1);
        EXPECT_GE(o.ymin, 1);
        EXPECT_LE(o.xmax, a.width);
        EXPECT_LE(o.ymax, a.height);
        // Items are scaled to 20..48 px; the tight box is never larger.
        EXPECT_LE(o.xmax - o.xmin + 1, 48);
        EXPECT_LE(o.ymax - o.ymin + 1, 48);
      }
    }
    // Per-class files agree with the annotations: 1 present, 0 only difficult, -1 absent.
    for (const std::string& name : classes) {
      const auto labels = read_voc_class_labels(root, name, split);
      ASSERT_EQ(labels.size(), static_cast<size_t>(data.size()));
      for (int64_t i = 0; i < data.size(); ++i) {
        EXPECT_EQ(labels[i].first, data.annotation(i).image_id);
        int want = -1;
        for (const VocObject& o : data.annotation(i).objects) {
          if (o.name != name) continue;
          if (!o.difficult) want = 1;
          if (o.difficult && want == -1) want = 0;
        }
        EXPECT_EQ(labels[i].second, want) << name << " " << labels[i].first;
      }
    }
  }
  EXPECT_GT(objects, 30);
  RecordProperty("difficult_objects", difficult);
  // The devkit writes "%s %2d": two spaces before a positive label.
  const std::string first_lines = read_text(root + "/ImageSets/Main/bag_test.txt");
  EXPECT_TRUE(first_lines.find("  1\n") != std::string::npos ||
              first_lines.find(" -1\n") != std::string::npos);

  // Same seed -> byte-identical files; another seed -> different scenes.
  const std::string again = path("voc_again");
  make_fashion_voc(again, 42, 20, 10);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), root);
    EXPECT_EQ(read_text(entry.path().string()), read_text((fs::path(again) / rel).string())) << rel;
  }
  const std::string other = path("voc_other");
  make_fashion_voc(other, 43, 20, 10);
  EXPECT_NE(read_text(root + "/Annotations/000001.xml"),
            read_text(other + "/Annotations/000001.xml"));

  // A perfect detector on the generated test split scores 1 (positives from the XML).
  VocDataset test_data(root, "test", classes);
  std::map<std::string, std::vector<Detection>> perfect;
  for (const VocAnnotation& a : test_data.annotations()) {
    for (const VocObject& o : a.objects) {
      perfect[o.name].push_back({a.image_id, 1.0f, o.xmin, o.ymin, o.xmax, o.ymax});
    }
  }
  const MapResult map = voc_map(test_data.annotations(), classes, perfect);
  EXPECT_DOUBLE_EQ(map.map_area, 1.0);
  EXPECT_DOUBLE_EQ(map.map_11point, 1.0);

  expect_input_error([&] { make_fashion_voc(path("bad"), 1, 1, 1); }, {"train_images"});
}

TEST_F(VocTest, DatasetChecksImageSize) {
  if (!fashion_mnist_available()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const std::string root = path("voc");
  make_fashion_voc(root, 1, 5, 1);
  // Lie about the size in one annotation: image() must refuse rather than misplace boxes.
  const std::string xml = root + "/Annotations/000006.xml";
  std::string text = read_text(xml);
  const size_t at = text.find("<width>96</width>");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 17, "<width>97</width>");
  std::ofstream(xml, std::ios::binary) << text;
  VocDataset data(root, "test", read_voc_classes(root));
  expect_input_error([&] { data.image(0); }, {"000006.jpg", "97x96"});
  // With the VOC07 class list the Fashion names are unknown classes.
  expect_input_error([&] { VocDataset(root, "test"); }, {"000006.xml", "unknown class"});
}

}  // namespace
}  // namespace swavbench
