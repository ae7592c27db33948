// The Fashion-MNIST scenes generator (harness/data/scenes.h) and the `fashion-scenes` dataset:
// blending arithmetic by hand, determinism (a committed digest), labels, split disjointness.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"
#include "harness/core/text.h"
#include "harness/data/dataset.h"
#include "harness/data/scenes.h"
#include "harness/data/sources.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

void require_fashion_mnist() {
  ASSERT_TRUE(fs::exists(kFashionMnistDir))
      << kFashionMnistDir << " is missing: scripts/setup-deps.sh installs dataset-fashion-mnist";
}

// A background grey level as the fashion-scenes style draws them (40-110).
int draw_between_for_test(SplitMix64& rng) { return 40 + rng.below_int(71); }

TEST(Scenes, BlendIsIntegerAlphaOverWithRounding) {
  ImageU8 canvas{1, 3, 3, {10, 20, 30, 10, 20, 30, 10, 20, 30}};
  // Mask values 0 (untouched), 255 (the tint), 128 at opacity 255: (bg (255 - 128) + tint 128
  // + 127) / 255 per channel.
  const ImageU8 mask{1, 3, 1, {0, 255, 128}};
  blend_garment(canvas, mask, 0, 0, {200, 100, 0}, 255);
  const std::vector<uint8_t> expected = {10,
                                         20,
                                         30,  // untouched
                                         200,
                                         100,
                                         0,  // alpha 255
                                         static_cast<uint8_t>((10 * 127 + 200 * 128 + 127) / 255),
                                         static_cast<uint8_t>((20 * 127 + 100 * 128 + 127) / 255),
                                         static_cast<uint8_t>((30 * 127 + 0 * 128 + 127) / 255)};
  EXPECT_EQ(canvas.pixels, expected);
  // Opacity scales alpha: mask 255 at opacity 51 is alpha (255 x 51 + 127) / 255 = 51.
  ImageU8 faint{1, 1, 3, {0, 0, 0}};
  blend_garment(faint, ImageU8{1, 1, 1, {255}}, 0, 0, {255, 255, 255}, 51);
  EXPECT_EQ(faint.pixels, (std::vector<uint8_t>{51, 51, 51}));
  // Clipping: a mask hanging off the top-left corner paints only what is inside.
  ImageU8 clip{2, 2, 3, std::vector<uint8_t>(12, 0)};
  blend_garment(clip, ImageU8{2, 2, 1, {255, 255, 255, 255}}, -1, -1, {9, 9, 9}, 255);
  EXPECT_EQ(clip.pixels, (std::vector<uint8_t>{9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Scenes, GradientIsBilinearBetweenTheCorners) {
  ImageU8 canvas{3, 3, 3, {}};
  SplitMix64 rng(5);
  const std::array<int, 3> mean = paint_gradient_background(canvas, rng, 0, 255, 0);
  auto at = [&](int y, int x, int k) {
    return static_cast<int>(canvas.pixels[(static_cast<size_t>(y) * 3 + x) * 3 + k]);
  };
  for (int k = 0; k < 3; ++k) {
    // The centre of a 3 x 3 canvas is the rounded mean of the four corners, the edges' midpoints
    // the rounded means of their two corners.
    const int c00 = at(0, 0, k), c01 = at(0, 2, k), c10 = at(2, 0, k), c11 = at(2, 2, k);
    EXPECT_EQ(at(1, 1, k), (c00 + c01 + c10 + c11 + 2) / 4);
    EXPECT_EQ(at(0, 1, k), (2 * c00 + 2 * c01 + 2) / 4);
    EXPECT_EQ(mean[k], (c00 + c01 + c10 + c11) / 4);
  }
}

TEST(Scenes, TintStandsOffTheBackground) {
  SplitMix64 rng(1);
  for (int i = 0; i < 200; ++i) {
    const std::array<int, 3> bg = {rng.below_int(256), rng.below_int(256), rng.below_int(256)};
    const std::array<uint8_t, 3> tint = draw_tint(rng, bg, 180);
    EXPECT_GE(std::abs(tint[0] - bg[0]) + std::abs(tint[1] - bg[1]) + std::abs(tint[2] - bg[2]),
              180);
  }
}

// Colours keep chroma_percent % of their offset from their own channel mean (rounded mean,
// offsets truncated toward zero), so 0 gives grey and 100 the colour as drawn.
TEST(Scenes, DesaturateKeepsAShareOfTheChroma) {
  // Mean of (200, 100, 0): (300 + 1) / 3 = 100.
  EXPECT_EQ(desaturate({200, 100, 0}, 0), (std::array<int, 3>{100, 100, 100}));
  EXPECT_EQ(desaturate({200, 100, 0}, 50), (std::array<int, 3>{150, 100, 50}));
  EXPECT_EQ(desaturate({200, 100, 0}, 100), (std::array<int, 3>{200, 100, 0}));
  // Mean of (10, 11, 13): (34 + 1) / 3 = 11; offsets -1, 0, 2. At 30 %: -0.3 and 0.6 truncate
  // to 0; at 50 %: -0.5 to 0, 1.0 stays 1.
  EXPECT_EQ(desaturate({10, 11, 13}, 30), (std::array<int, 3>{11, 11, 11}));
  EXPECT_EQ(desaturate({10, 11, 13}, 50), (std::array<int, 3>{11, 11, 12}));
}

// The fashion-scenes style is grey (docs/scenes-exploration.md, round 3: colour made each scene
// identifiable by its two colours, a shortcut for instance discrimination): the background and
// the garment have equal channels before the noise, and the garment stands off the background
// by at least min_tint_distance / 3 grey levels.
TEST(Scenes, GreyStyleDrawsGreyColoursFarFromTheBackground) {
  SplitMix64 rng(3);
  for (int i = 0; i < 200; ++i) {
    const int grey = draw_between_for_test(rng);
    const std::array<uint8_t, 3> tint = draw_tint(rng, {grey, grey, grey}, 180, 0);
    EXPECT_EQ(tint[0], tint[1]);
    EXPECT_EQ(tint[1], tint[2]);
    EXPECT_GE(std::abs(tint[0] - grey), 60);
  }
  ImageU8 canvas{4, 4, 3, {}};
  SplitMix64 corners(9);
  paint_gradient_background(canvas, corners, 40, 110, 0, 0);
  for (size_t p = 0; p < canvas.pixels.size(); p += 3) {
    EXPECT_EQ(canvas.pixels[p], canvas.pixels[p + 1]);
    EXPECT_EQ(canvas.pixels[p + 1], canvas.pixels[p + 2]);
    EXPECT_GE(canvas.pixels[p], 40);
    EXPECT_LE(canvas.pixels[p], 110);
  }
  EXPECT_EQ(fashion_scenes_style(32).chroma_percent, 0);
}

TEST(Scenes, TheGarmentIsInTheScene) {
  require_fashion_mnist();
  const auto fashion = load_fashion_mnist(kFashionMnistDir, "test");
  SceneStyle plain = fashion_scenes_style(32);
  plain.max_fragments = 0;
  plain.noise = 0;
  plain.item_min_percent = plain.item_max_percent = 100;  // the garment fills the canvas
  const std::vector<int64_t> pool = {0, 1, 2};
  const ImageU8 scene = compose_fashion_scene(*fashion, pool, 0, plain, 42);
  // Where the scaled garment is at its brightest, alpha is the same everywhere, so the scene is
  // one colour there (the tint, where the brightest is 255) over a gradient that varies.
  const ImageU8 unflipped = scaled_garment(fashion->pixels(0), 32, false);
  const ImageU8 flipped = scaled_garment(fashion->pixels(0), 32, true);
  int matches_plain = 0, matches_flipped = 0;
  for (const ImageU8* mask : {&unflipped, &flipped}) {
    std::set<std::array<uint8_t, 3>> colours;
    const uint8_t brightest = *std::max_element(mask->pixels.begin(), mask->pixels.end());
    for (size_t p = 0; p < mask->pixels.size(); ++p)
      if (mask->pixels[p] == brightest)
        colours.insert({scene.pixels[3 * p], scene.pixels[3 * p + 1], scene.pixels[3 * p + 2]});
    (mask == &unflipped ? matches_plain : matches_flipped) = colours.size() == 1 ? 1 : 0;
  }
  EXPECT_GE(matches_plain + matches_flipped, 1)
      << "the garment's brightest pixels are not one colour in either orientation";
}

TEST(FashionScenes, SplitsAreDisjointBalancedAndCoverTrain) {
  require_fashion_mnist();
  const auto fashion = load_fashion_mnist(kFashionMnistDir, "train");
  const std::vector<int64_t> train = fashion_scenes_members(*fashion, "train");
  const std::vector<int64_t> val = fashion_scenes_members(*fashion, "val");
  EXPECT_EQ(val.size(), static_cast<size_t>(kFashionScenesValImages));
  EXPECT_EQ(train.size() + val.size(), 60000u);
  std::vector<int64_t> both;
  std::set_intersection(train.begin(), train.end(), val.begin(), val.end(),
                        std::back_inserter(both));
  EXPECT_TRUE(both.empty()) << both.size() << " items in both train and val";
  std::vector<int> per_class(10, 0);
  for (int64_t i : val) ++per_class[fashion->label(i)];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 500) << "class " << c;
  EXPECT_EQ(fashion_scenes_members(*fashion, "val"), val);  // a fixed draw
}

TEST(FashionScenes, LabelsAreTheGarmentsAndBytesAreFixed) {
  require_fashion_mnist();
  const auto scenes = open_dataset("fashion-scenes", "", "test", 0);
  const auto fashion = load_fashion_mnist(kFashionMnistDir, "test");
  ASSERT_EQ(scenes->size(), 10000);
  EXPECT_EQ(scenes->num_classes(), 10);
  const ImageU8 shape = scenes->fixed_shape();
  EXPECT_EQ(shape.height, kFashionScenesDefaultCanvas);
  EXPECT_EQ(shape.channels, 3);
  for (int64_t i = 0; i < scenes->size(); ++i)
    ASSERT_EQ(scenes->label(i), fashion->label(i)) << "scene " << i;

  // The same bytes on every machine: integer arithmetic on splitmix64 draws. The digest below
  // is of the first 256 test scenes at the default 32 px canvas; a change to the generator
  // changes it (and every number measured on fashion-scenes: say so in the change).
  std::string bytes;
  for (int64_t i = 0; i < 256; ++i) {
    const ImageU8 image = scenes->image(i);
    bytes.append(image.pixels.begin(), image.pixels.end());
  }
  EXPECT_EQ(sha256_hex(bytes), "cb9decfe5eb629698b4a5fafbee2dc94d95a48397c6756231424fa04f059496f");
  // Another canvas is another dataset, generated by the same rule.
  const auto large = open_dataset("fashion-scenes", "", "val", 48);
  EXPECT_EQ(large->fixed_shape().height, 48);
  EXPECT_EQ(large->size(), kFashionScenesValImages);
}

TEST(FashionScenes, BadSplitAndCanvasAreInputErrors) {
  require_fashion_mnist();
  EXPECT_THROW(open_dataset("fashion-scenes", "", "holdout", 0), InputError);
  try {
    open_dataset("fashion-scenes", "", "test", 100);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[32, 64]"), std::string::npos) << e.what();
  }
}

TEST(SampleGrid, OneColumnPerClassWithGutters) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (int i = 0; i < 6; ++i) {
    pixels.insert(pixels.end(), 4, static_cast<uint8_t>(10 * i));  // 2 x 2 grey
    labels.push_back(i % 3);
  }
  InMemoryDataset data("tiny", 2, 2, 1, 3, pixels, labels);
  const ImageU8 grid = sample_grid(data, 2, 3);
  EXPECT_EQ(grid.width, 2 + 3 * (6 + 2));
  EXPECT_EQ(grid.height, 2 + 2 * (6 + 2));
  // Row 1 (second image of each class), column 2 (class 2): image 5, value 50.
  const int y = 2 + 1 * 8 + 3, x = 2 + 2 * 8 + 4;
  EXPECT_EQ(grid.pixels[(static_cast<size_t>(y) * grid.width + x) * 3], 50);
  EXPECT_EQ(grid.pixels[0], 255);  // gutter
}

}  // namespace
}  // namespace swavbench
