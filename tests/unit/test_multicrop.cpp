// Tests of the batched multi-crop augmentation: the random parameters (ranges and rates), the
// pixel ops against hand-checkable cases, determinism and batch independence.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "harness/core/check.h"
#include "harness/data/multicrop.h"

namespace swavbench {
namespace {

namespace F = torch::nn::functional;

std::vector<int64_t> iota_ids(int64_t n, int64_t first = 0) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

// No augmentation and identity normalisation, so outputs are the resampled image / 255.
AugmentOptions plain() {
  AugmentOptions o = AugmentOptions::none();
  o.mean = {0, 0, 0};
  o.std = {1, 1, 1};
  return o;
}

torch::Tensor random_images(int64_t b, int64_t c, int64_t h, int64_t w, uint64_t seed = 1) {
  // A local generator keeps the tests independent of torch's global RNG state.
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 256, {b, c, h, w}, gen, torch::kByte);
}

float max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<float>();
}

TEST(MultiCrop, BoxesFollowRandomResizedCrop) {
  const std::vector<CropSpec> specs{{1, 224, 0.14, 1.0}, {1, 96, 0.05, 0.14}};
  MultiCropAugment aug(specs, AugmentOptions{});
  const auto ids = iota_ids(2000);
  for (const auto& hw : std::vector<std::pair<int, int>>{{28, 28}, {300, 400}, {500, 333}}) {
    const int h = hw.first, w = hw.second;
    for (int k = 0; k < 2; ++k) {
      const auto p = aug.sample_params(k, ids, 7, 0, h, w);
      ASSERT_EQ(p.box.sizes(), (torch::IntArrayRef{2000, 4}));
      auto box = p.box.accessor<float, 2>();
      auto fallback = p.fallback.accessor<float, 1>();
      int fallbacks = 0;
      double area_sum = 0;
      for (int i = 0; i < 2000; ++i) {
        const double cx = box[i][0], cy = box[i][1], bw = box[i][2], bh = box[i][3];
        EXPECT_GE(cx - bw / 2, -1e-5);
        EXPECT_LE(cx + bw / 2, 1 + 1e-5);
        EXPECT_GE(cy - bh / 2, -1e-5);
        EXPECT_LE(cy + bh / 2, 1 + 1e-5);
        if (fallback[i] > 0) {
          ++fallbacks;
          continue;
        }
        const double area = bw * bh, ratio = (bw * w) / (bh * h);
        area_sum += area;
        EXPECT_GE(area, specs[k].min_scale - 1e-5);
        EXPECT_LE(area, specs[k].max_scale + 1e-5);
        EXPECT_GE(ratio, 0.75 - 1e-4);
        EXPECT_LE(ratio, 4.0 / 3.0 + 1e-4);
      }
      // Ten rejected attempts in a row are very unlikely for these scales.
      EXPECT_LE(fallbacks, 2) << h << "x" << w << " crop " << k;
      if (k == 1) {  // small crops always fit: the area fraction is plain U[0.05, 0.14]
        EXPECT_NEAR(area_sum / (2000 - fallbacks), 0.095, 0.003);
      }
    }
  }
}

TEST(MultiCrop, FallbackIsCentredClampedRatio) {
  // A 100 x 400 image (ratio 4) cannot hold a full-area box of ratio <= 4/3: every sample falls
  // back to the centred full-height box of ratio 4/3.
  MultiCropAugment aug({{1, 32, 1.0, 1.0}}, AugmentOptions{});
  const auto p = aug.sample_params(0, iota_ids(50), 3, 1, 100, 400);
  EXPECT_EQ(p.fallback.sum().item<float>(), 50.0f);
  auto box = p.box.accessor<float, 2>();
  for (int i = 0; i < 50; ++i) {
    EXPECT_NEAR(box[i][0], 0.5, 1e-6);
    EXPECT_NEAR(box[i][1], 0.5, 1e-6);
    EXPECT_NEAR(box[i][2], 100.0 * 4 / 3 / 400, 1e-6);
    EXPECT_NEAR(box[i][3], 1.0, 1e-6);
  }
}

TEST(MultiCrop, RatesAndRangesMatchOptions) {
  MultiCropAugment aug({{1, 96, 0.05, 0.14}}, AugmentOptions{});
  const int n = 4000;
  const auto p = aug.sample_params(0, iota_ids(n, 1000), 42, 3, 256, 256);
  EXPECT_NEAR(p.flip.mean().item<double>(), 0.5, 0.04);
  EXPECT_NEAR(p.gray.mean().item<double>(), 0.2, 0.03);
  EXPECT_NEAR(p.jitter_on.mean().item<double>(), 0.8, 0.03);
  const auto blurred = p.blur_sigma > 0;
  EXPECT_NEAR(blurred.to(torch::kDouble).mean().item<double>(), 0.5, 0.04);
  const auto sigmas = p.blur_sigma.masked_select(blurred);
  EXPECT_GE(sigmas.min().item<float>(), 0.1f);
  EXPECT_LE(sigmas.max().item<float>(), 2.0f);
  EXPECT_NEAR(sigmas.mean().item<double>(), 1.05, 0.05);

  const auto on = p.jitter_on > 0;
  const auto off = on.logical_not();
  for (const auto& f : {p.brightness, p.contrast, p.saturation}) {
    EXPECT_GE(f.masked_select(on).min().item<float>(), 0.2f);
    EXPECT_LE(f.masked_select(on).max().item<float>(), 1.8f);
    EXPECT_NEAR(f.masked_select(on).mean().item<double>(), 1.0, 0.03);
    EXPECT_TRUE(f.masked_select(off).eq(1).all().item<bool>());  // neutral when off
  }
  EXPECT_GE(p.hue.min().item<float>(), -0.2f);
  EXPECT_LE(p.hue.max().item<float>(), 0.2f);
  EXPECT_TRUE(p.hue.masked_select(off).eq(0).all().item<bool>());

  // Decisions of one sample are independent draws: flip and grayscale co-occur at ~0.5 * 0.2.
  EXPECT_NEAR((p.flip * p.gray).mean().item<double>(), 0.1, 0.02);

  // Options that switch a step off are honoured exactly.
  MultiCropAugment none({{1, 96, 0.05, 0.14}}, AugmentOptions::none());
  const auto q = none.sample_params(0, iota_ids(500), 42, 3, 256, 256);
  EXPECT_EQ(q.flip.sum().item<float>(), 0.0f);
  EXPECT_EQ(q.jitter_on.sum().item<float>(), 0.0f);
  EXPECT_EQ(q.gray.sum().item<float>(), 0.0f);
  EXPECT_EQ(q.blur_sigma.sum().item<float>(), 0.0f);
}

TEST(MultiCrop, CropIndicesDrawDifferentParameters) {
  MultiCropAugment aug({{2, 28, 0.3, 1.0}}, AugmentOptions{});
  const auto ids = iota_ids(64);
  const auto a = aug.sample_params(0, ids, 1, 0, 28, 28);
  const auto b = aug.sample_params(1, ids, 1, 0, 28, 28);
  EXPECT_FALSE(torch::equal(a.box, b.box));
}

TEST(MultiCrop, GrayscaleGivesEqualChannels) {
  AugmentOptions o = plain();
  o.grayscale_p = 1.0;
  MultiCropAugment aug({{1, 32, 1.0, 1.0}, {1, 16, 0.2, 0.5}}, o);
  const auto images = random_images(4, 3, 32, 32);
  const auto out = aug(images, iota_ids(4), 5, 0);
  for (const auto& y : out) {
    EXPECT_LT(max_abs_diff(y.select(1, 0), y.select(1, 1)), 1e-6);
    EXPECT_LT(max_abs_diff(y.select(1, 0), y.select(1, 2)), 1e-6);
  }
  // The full-image crop is exactly the luma of the input.
  const auto x = images.to(torch::kFloat) / 255;
  const auto luma = x.select(1, 0) * 0.299 + x.select(1, 1) * 0.587 + x.select(1, 2) * 0.114;
  EXPECT_LT(max_abs_diff(out[0].select(1, 0), luma), 1e-5);
}

TEST(MultiCrop, DeterministicPerSeedAndEpoch) {
  MultiCropAugment aug({{2, 24, 0.3, 1.0}, {2, 12, 0.1, 0.3}}, AugmentOptions{});
  const auto images = random_images(8, 3, 32, 32);
  const auto ids = iota_ids(8, 100);
  const auto a = aug(images, ids, 11, 2);
  const auto b = aug(images, ids, 11, 2);
  const auto c = aug(images, ids, 11, 3);
  const auto d = aug(images, ids, 12, 2);
  ASSERT_EQ(a.size(), 4u);
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_TRUE(torch::equal(a[k], b[k])) << "crop " << k;
    EXPECT_FALSE(torch::allclose(a[k], c[k])) << "crop " << k;
    EXPECT_FALSE(torch::allclose(a[k], d[k])) << "crop " << k;
  }
}

TEST(MultiCrop, SampleCropsDoNotDependOnBatch) {
  MultiCropAugment aug({{2, 24, 0.3, 1.0}, {2, 12, 0.1, 0.3}}, AugmentOptions{});
  const auto images = random_images(8, 3, 32, 32);
  const auto ids = iota_ids(8, 500);
  const auto odd = torch::tensor(std::vector<int64_t>{1, 3, 5, 7});
  const std::vector<int64_t> odd_ids{501, 503, 505, 507};
  const auto full = aug(images, ids, 9, 4);
  const auto part = aug(images.index_select(0, odd), odd_ids, 9, 4);
  for (size_t k = 0; k < full.size(); ++k) {
    EXPECT_LT(max_abs_diff(full[k].index_select(0, odd), part[k]), 1e-5) << "crop " << k;
  }
}

TEST(MultiCrop, FullCropIsIdentityAndResize) {
  const auto images = random_images(3, 3, 28, 28);
  const auto x = images.to(torch::kFloat) / 255;
  // Default ratios: a full-area box fits only at ratio 1 exactly, so every sample takes the
  // fallback, the whole square image. Forced ratio 1 fits on the first attempt.
  for (bool force_ratio : {false, true}) {
    AugmentOptions o = plain();
    if (force_ratio) o.min_ratio = o.max_ratio = 1.0;
    MultiCropAugment aug({{1, 28, 1.0, 1.0}, {1, 14, 1.0, 1.0}}, o);
    const auto out = aug(images, iota_ids(3), 1, 0);
    EXPECT_LT(max_abs_diff(out[0], x), 1e-5);
    const auto half = F::interpolate(x, F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{14, 14})
                                            .mode(torch::kBilinear)
                                            .align_corners(false));
    EXPECT_LT(max_abs_diff(out[1], half), 1e-5);
  }
}

TEST(MultiCrop, RandomCropsMatchAffineGridReference) {
  // The output of a random crop is grid_sample over affine_grid of the box that sample_params
  // reports (x scale negated when flipped).
  AugmentOptions o = plain();
  o.flip = true;
  MultiCropAugment aug({{1, 20, 0.1, 0.9}}, o);
  const auto images = random_images(16, 3, 40, 30);
  const auto ids = iota_ids(16, 77);
  const auto p = aug.sample_params(0, ids, 4, 1, 40, 30);
  const auto sign = 1 - 2 * p.flip;
  const auto zero = torch::zeros({16});
  const auto theta = torch::stack({p.box.select(1, 2) * sign, zero, p.box.select(1, 0) * 2 - 1,
                                   zero, p.box.select(1, 3), p.box.select(1, 1) * 2 - 1},
                                  1)
                         .view({16, 2, 3});
  const auto grid = F::affine_grid(theta, {16, 3, 20, 20}, false);
  const auto expected = F::grid_sample(images.to(torch::kFloat) / 255, grid,
                                       F::GridSampleFuncOptions()
                                           .mode(torch::kBilinear)
                                           .padding_mode(torch::kBorder)
                                           .align_corners(false));
  EXPECT_LT(max_abs_diff(aug(images, ids, 4, 1)[0], expected), 1e-5);
}

TEST(MultiCrop, NormalisesPerChannelAndGreyUsesFirstEntry) {
  MultiCropAugment aug({{1, 8, 1.0, 1.0}}, AugmentOptions::none());
  const auto rgb = random_images(2, 3, 8, 8);
  const auto mean = torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const auto std = torch::tensor({0.228f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  EXPECT_LT(max_abs_diff(aug(rgb, {0, 1}, 0, 0)[0], (rgb.to(torch::kFloat) / 255 - mean) / std),
            1e-5);
  const auto grey = random_images(2, 1, 8, 8);
  EXPECT_LT(
      max_abs_diff(aug(grey, {0, 1}, 0, 0)[0], (grey.to(torch::kFloat) / 255 - 0.485) / 0.228),
      1e-5);
}

TEST(MultiCrop, FlipMirrorsLeftRight) {
  // A left-right gradient: column j has value 9 j.
  const auto row = torch::arange(28, torch::kFloat) * 9;
  const auto images = row.view({1, 1, 1, 28}).expand({16, 1, 28, 28}).to(torch::kByte).contiguous();
  AugmentOptions o = plain();
  o.flip = true;
  MultiCropAugment aug({{1, 28, 1.0, 1.0}}, o);
  const auto ids = iota_ids(16);
  const auto flips = aug.sample_params(0, ids, 3, 0, 28, 28).flip;
  const auto out = aug(images, ids, 3, 0)[0];
  const auto x = images.to(torch::kFloat) / 255;
  int flipped = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const bool f = flips[i].item<float>() > 0;
    flipped += f;
    const auto expected = f ? x[i].flip({2}) : x[i];
    EXPECT_LT(max_abs_diff(out[i], expected), 1e-5) << "sample " << i << " flip " << f;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
}

TEST(MultiCrop, HueShiftTurnsRedTowardsYellow) {
  AugmentOptions o = plain();
  o.jitter_p = 1.0;
  o.brightness = o.contrast = o.saturation = 0.0;
  o.hue = 0.5;
  MultiCropAugment aug({{1, 4, 1.0, 1.0}}, o);
  const auto images = torch::zeros({64, 3, 4, 4}, torch::kByte);
  images.select(1, 0).fill_(255);  // pure red
  const auto ids = iota_ids(64);
  const auto hue = aug.sample_params(0, ids, 8, 0, 4, 4).hue;
  const auto out = aug(images, ids, 8, 0)[0];
  int checked = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const float h = hue[i].item<float>();
    const float g = out[i][1].mean().item<float>(), b = out[i][2].mean().item<float>();
    if (h > 0.03 && h < 0.12) {  // HSV: red -> yellow adds green
      EXPECT_GT(g, b + 0.05) << "hue " << h;
      ++checked;
    } else if (h < -0.03 && h > -0.12) {  // red -> magenta adds blue
      EXPECT_GT(b, g + 0.05) << "hue " << h;
      ++checked;
    }
  }
  EXPECT_GT(checked, 4);
}

TEST(MultiCrop, BlurKeepsConstantsAndSmooths) {
  AugmentOptions o = plain();
  o.blur_p = 1.0;
  MultiCropAugment aug({{1, 16, 1.0, 1.0}}, o);
  const auto constant = torch::full({4, 3, 16, 16}, 77, torch::kByte);
  const auto flat = aug(constant, iota_ids(4), 2, 0)[0];
  EXPECT_LT((flat - 77.0 / 255).abs().max().item<float>(), 1e-5);

  const auto noise = random_images(8, 3, 16, 16);
  const auto sharp = noise.to(torch::kFloat) / 255;
  const auto blurred = aug(noise, iota_ids(8), 2, 0)[0];
  EXPECT_LT(blurred.std().item<float>(), 0.9f * sharp.std().item<float>());
  // Mass is kept (normalised kernel, reflect padding roughly preserves the mean).
  EXPECT_NEAR(blurred.mean().item<float>(), sharp.mean().item<float>(), 0.01);
}

TEST(MultiCrop, BlurMatchesDirectGaussian) {
  // Reference: each sample's 2-D Gaussian (outer product of the 1-D kernel truncated at
  // ceil(3 sigma), capped at (16 - 1) / 2 = 7) applied with F::pad's reflect padding.
  AugmentOptions o = plain();
  o.blur_p = 1.0;
  MultiCropAugment aug({{1, 16, 1.0, 1.0}}, o);
  const auto images = random_images(6, 3, 16, 16);
  const auto ids = iota_ids(6, 30);
  const auto sigmas = aug.sample_params(0, ids, 5, 0, 16, 16).blur_sigma;
  const auto out = aug(images, ids, 5, 0)[0];
  const auto x = images.to(torch::kFloat) / 255;
  for (int64_t i = 0; i < 6; ++i) {
    const double sigma = sigmas[i].item<float>();
    const int64_t r = std::min<int64_t>(static_cast<int64_t>(std::ceil(3 * sigma)), 7);
    auto k1 = torch::arange(-r, r + 1, torch::kDouble);
    k1 = torch::exp(-k1 * k1 / (2 * sigma * sigma));
    k1 = (k1 / k1.sum()).to(torch::kFloat);
    const auto k2 = torch::outer(k1, k1)
                        .view({1, 1, 2 * r + 1, 2 * r + 1})
                        .expand({3, 1, 2 * r + 1, 2 * r + 1});
    const auto padded =
        F::pad(x.narrow(0, i, 1), F::PadFuncOptions({r, r, r, r}).mode(torch::kReflect));
    const auto expected = F::conv2d(padded, k2, F::Conv2dFuncOptions().groups(3));
    EXPECT_LT(max_abs_diff(out.narrow(0, i, 1), expected), 1e-5) << "sigma " << sigma;
  }
}

TEST(MultiCrop, FullRecipeStaysFinite) {
  MultiCropAugment aug({{2, 28, 0.3, 1.0}, {4, 14, 0.1, 0.3}}, AugmentOptions{});
  for (int64_t c : {1, 3}) {
    for (const auto& y : aug(random_images(32, c, 28, 28), iota_ids(32), 0, 0)) {
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
      // [0, 1] normalised with the default mean/std lies within [-2.2, 2.7].
      EXPECT_GE(y.min().item<float>(), -2.2f);
      EXPECT_LE(y.max().item<float>(), 2.7f);
    }
  }
}

TEST(MultiCrop, OutputShapesAndSizeGroups) {
  MultiCropAugment aug({{2, 28, 0.3, 1.0}, {4, 14, 0.1, 0.3}}, AugmentOptions{});
  const auto out = aug(random_images(5, 1, 28, 28), iota_ids(5), 0, 0);
  ASSERT_EQ(out.size(), 6u);
  const std::vector<int64_t> sizes{28, 28, 14, 14, 14, 14};
  for (size_t k = 0; k < out.size(); ++k) {
    EXPECT_EQ(out[k].sizes(), (torch::IntArrayRef{5, 1, sizes[k], sizes[k]}));
    EXPECT_EQ(out[k].scalar_type(), torch::kFloat);
  }
  EXPECT_EQ(aug.size_groups(), (std::vector<std::pair<int, int>>{{0, 2}, {2, 6}}));
  EXPECT_EQ(aug.specs().size(), 2u);

  // Equal sizes in consecutive specs merge; a size that recurs later opens a new group.
  MultiCropAugment mixed({{1, 28, 0.3, 1}, {1, 28, 0.3, 1}, {2, 14, 0.1, 0.3}, {1, 28, 0.3, 1}},
                         AugmentOptions{});
  EXPECT_EQ(mixed.size_groups(), (std::vector<std::pair<int, int>>{{0, 2}, {2, 4}, {4, 5}}));

  const auto empty = aug(torch::zeros({0, 1, 28, 28}, torch::kByte), {}, 0, 0);
  ASSERT_EQ(empty.size(), 6u);
  EXPECT_EQ(empty[5].sizes(), (torch::IntArrayRef{0, 1, 14, 14}));
}

TEST(MultiCrop, RejectsBadInput) {
  EXPECT_THROW(MultiCropAugment({{1, 28, 0.0, 1.0}}, AugmentOptions{}), InputError);
  EXPECT_THROW(MultiCropAugment({{1, 28, 0.5, 0.4}}, AugmentOptions{}), InputError);
  EXPECT_THROW(MultiCropAugment({}, AugmentOptions{}), InputError);
  AugmentOptions bad;
  bad.hue = 0.7;
  EXPECT_THROW(MultiCropAugment({{1, 28, 0.3, 1.0}}, bad), InputError);
  MultiCropAugment aug({{1, 28, 0.3, 1.0}}, AugmentOptions{});
  EXPECT_THROW(aug(torch::zeros({2, 1, 28, 28}), {0, 1}, 0, 0), Error);  // float input
  EXPECT_THROW(aug(torch::zeros({2, 2, 28, 28}, torch::kByte), {0, 1}, 0, 0), Error);  // C = 2
  EXPECT_THROW(aug(torch::zeros({2, 1, 28, 28}, torch::kByte), {0}, 0, 0), Error);     // ids
  EXPECT_THROW(aug.sample_params(1, {0}, 0, 0, 28, 28), Error);
}

TEST(CenterCropNormalize, HandComputedValues) {
  AugmentOptions o = AugmentOptions::none();
  o.mean = {0.5};
  o.std = {0.25};
  auto norm = [](double v) { return (v / 255 - 0.5) / 0.25; };

  // 4 x 4 of 0..15, resize to 2: bilinear halving averages 2 x 2 blocks; crop 2 keeps all.
  const auto a = torch::arange(16, torch::kFloat).view({1, 1, 4, 4}).to(torch::kByte);
  const auto ya = center_crop_normalize(a, 2, 2, o);
  ASSERT_EQ(ya.sizes(), (torch::IntArrayRef{1, 1, 2, 2}));
  const double block[4] = {2.5, 4.5, 10.5, 12.5};
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(ya[0][0][i / 2][i % 2].item<float>(), norm(block[i]), 1e-5);

  // 4 x 6 of 0..23 with resize 4 (shorter side already 4: no resampling), crop 2: rows 1-2,
  // columns 2-3.
  const auto b = torch::arange(24, torch::kFloat).view({1, 1, 4, 6}).to(torch::kByte);
  const auto yb = center_crop_normalize(b, 4, 2, o);
  const double kept[4] = {8, 9, 14, 15};
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(yb[0][0][i / 2][i % 2].item<float>(), norm(kept[i]), 1e-5);

  // 3 x 3, crop 2: offset round(0.5) = 0 (half to even, as Python), so the top-left 2 x 2.
  const auto c = torch::arange(9, torch::kFloat).view({1, 1, 3, 3}).to(torch::kByte);
  const auto yc = center_crop_normalize(c, 3, 2, o);
  const double top_left[4] = {0, 1, 3, 4};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(yc[0][0][i / 2][i % 2].item<float>(), norm(top_left[i]), 1e-5);
  }

  // RGB: per-channel mean / std; 6 x 8 resized to shorter side 3 -> 3 x 4 (8 * 3 / 6 = 4).
  const auto rgb = torch::full({2, 3, 6, 8}, 51, torch::kByte);
  const auto yr = center_crop_normalize(rgb, 3, 3, AugmentOptions::none());
  ASSERT_EQ(yr.sizes(), (torch::IntArrayRef{2, 3, 3, 3}));
  EXPECT_NEAR(yr[1][2][0][0].item<float>(), (0.2 - 0.406) / 0.225, 1e-5);
  EXPECT_THROW(center_crop_normalize(rgb, 3, 4, o), InputError);
}

}  // namespace
}  // namespace swavbench
