#include "harness/data/multicrop.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "harness/core/check.h"

namespace swavbench {
namespace {

namespace F = torch::nn::functional;

constexpr double kPi = 3.14159265358979323846;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr int kAttempts = 10;  // torchvision's RandomResizedCrop tries 10 boxes

// Luma weights (ITU-R 601), as torchvision's rgb_to_grayscale up to rounding.
constexpr double kLuma[3] = {0.299, 0.587, 0.114};

// Parameter slots of the counter-based generator. Each draw has its own slot, so adding or
// skipping a draw never shifts the others (a rejected crop attempt does not consume the flip).
enum Slot : uint64_t {
  kSlotAttempts = 0,  // 4 per attempt: scale, log-ratio, x, y
  kSlotFlip = 4 * kAttempts,
  kSlotJitter,
  kSlotBrightness,
  kSlotContrast,
  kSlotSaturation,
  kSlotHue,
  kSlotGray,
  kSlotBlur,
  kSlotBlurSigma,
};

// splitmix64's output function: a bijective 64-bit mixer with good avalanche.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The per-(sample, crop) key: every input is folded in through the mixer so nearby ids, epochs
// or seeds give unrelated streams.
uint64_t stream_key(uint64_t seed, int64_t epoch, int64_t sample_id, int crop_index) {
  uint64_t h = mix64(seed + kGolden);
  h = mix64((h ^ static_cast<uint64_t>(epoch)) + kGolden);
  h = mix64((h ^ static_cast<uint64_t>(sample_id)) + kGolden);
  h = mix64((h ^ static_cast<uint64_t>(crop_index)) + kGolden);
  return h;
}

// Uniform double in [0, 1): element `slot` of the splitmix64 stream started at `key`.
double uniform(uint64_t key, uint64_t slot) {
  return static_cast<double>(mix64(key + (slot + 1) * kGolden) >> 11) * 0x1.0p-53;
}

double lerp(double lo, double hi, double u) { return lo + (hi - lo) * u; }

// Everything drawn for one sample and one crop, in double.
struct Draw {
  double cx, cy, w, h;  // box, fractions of the image
  bool fallback, flip, jitter, gray;
  double brightness, contrast, saturation, hue, sigma;
};

Draw draw_one(const CropSpec& spec, const AugmentOptions& o, uint64_t key, int height, int width) {
  Draw d{};
  // RandomResizedCrop in continuous pixel coordinates: no rounding of the box, since the
  // resampling below reads any real-valued box.
  const double H = height, W = width, area = H * W;
  const double log_lo = std::log(o.min_ratio), log_hi = std::log(o.max_ratio);
  bool found = false;
  double bw = W, bh = H, x0 = 0, y0 = 0;
  for (int a = 0; a < kAttempts && !found; ++a) {
    const uint64_t s = kSlotAttempts + 4 * a;
    const double target = area * lerp(spec.min_scale, spec.max_scale, uniform(key, s));
    const double ratio = std::exp(lerp(log_lo, log_hi, uniform(key, s + 1)));
    const double w = std::sqrt(target * ratio), h = std::sqrt(target / ratio);
    if (w > 0 && w <= W && h > 0 && h <= H) {
      bw = w;
      bh = h;
      x0 = uniform(key, s + 2) * (W - w);
      y0 = uniform(key, s + 3) * (H - h);
      found = true;
    }
  }
  if (!found) {  // torchvision's fallback: the centred box of clamped ratio
    const double in_ratio = W / H;
    if (in_ratio < o.min_ratio) {
      bw = W;
      bh = W / o.min_ratio;
    } else if (in_ratio > o.max_ratio) {
      bh = H;
      bw = H * o.max_ratio;
    } else {
      bw = W;
      bh = H;
    }
    x0 = (W - bw) / 2;
    y0 = (H - bh) / 2;
  }
  d.fallback = !found;
  d.cx = (x0 + bw / 2) / W;
  d.cy = (y0 + bh / 2) / H;
  d.w = bw / W;
  d.h = bh / H;

  // Strict `<` so p = 0 never and p = 1 always fires.
  d.flip = o.flip && uniform(key, kSlotFlip) < 0.5;
  d.jitter = uniform(key, kSlotJitter) < o.jitter_p;
  d.brightness = d.contrast = d.saturation = 1.0;
  d.hue = 0.0;
  if (d.jitter) {  // factor ranges as torchvision's ColorJitter (lower bound clamped at 0)
    d.brightness =
        lerp(std::max(0.0, 1 - o.brightness), 1 + o.brightness, uniform(key, kSlotBrightness));
    d.contrast = lerp(std::max(0.0, 1 - o.contrast), 1 + o.contrast, uniform(key, kSlotContrast));
    d.saturation =
        lerp(std::max(0.0, 1 - o.saturation), 1 + o.saturation, uniform(key, kSlotSaturation));
    d.hue = lerp(-o.hue, o.hue, uniform(key, kSlotHue));
  }
  d.gray = uniform(key, kSlotGray) < o.grayscale_p;
  d.sigma = 0.0;
  if (uniform(key, kSlotBlur) < o.blur_p) {
    d.sigma = lerp(o.blur_sigma_min, o.blur_sigma_max, uniform(key, kSlotBlurSigma));
  }
  return d;
}

// YIQ <-> RGB matrices (row-major) for the hue rotation.
struct Yiq {
  double to[9] = {0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312};
  double from[9];
  Yiq() {
    const double* m = to;
    const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                       m[2] * (m[3] * m[7] - m[4] * m[6]);
    from[0] = (m[4] * m[8] - m[5] * m[7]) / det;
    from[1] = (m[2] * m[7] - m[1] * m[8]) / det;
    from[2] = (m[1] * m[5] - m[2] * m[4]) / det;
    from[3] = (m[5] * m[6] - m[3] * m[8]) / det;
    from[4] = (m[0] * m[8] - m[2] * m[6]) / det;
    from[5] = (m[2] * m[3] - m[0] * m[5]) / det;
    from[6] = (m[3] * m[7] - m[4] * m[6]) / det;
    from[7] = (m[1] * m[6] - m[0] * m[7]) / det;
    from[8] = (m[0] * m[4] - m[1] * m[3]) / det;
  }
};

// The RGB -> RGB matrix that shifts hue by `shift` turns: from * R * to, R rotating (I, Q).
// The angle is negated because increasing HSV hue (red -> yellow -> green) turns the (I, Q)
// vector clockwise. shift = 0 gives the exact identity, so untouched samples stay untouched.
void hue_matrix(double shift, float* out) {
  if (shift == 0.0) {
    for (int i = 0; i < 9; ++i) out[i] = (i % 4 == 0) ? 1.0f : 0.0f;
    return;
  }
  static const Yiq yiq;
  const double c = std::cos(-2 * kPi * shift), s = std::sin(-2 * kPi * shift);
  const double r[9] = {1, 0, 0, 0, c, -s, 0, s, c};
  double rt[9];
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double v = 0;
      for (int k = 0; k < 3; ++k) v += r[i * 3 + k] * yiq.to[k * 3 + j];
      rt[i * 3 + j] = v;
    }
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double v = 0;
      for (int k = 0; k < 3; ++k) v += yiq.from[i * 3 + k] * rt[k * 3 + j];
      out[i * 3 + j] = static_cast<float>(v);
    }
  }
}

// Columns of the packed per-sample parameter tensor, moved to the device in one copy per crop.
enum Column : int64_t {
  kColTheta = 0,  // 6: affine_grid theta, row-major 2 x 3
  kColBrightness = 6,
  kColContrast,
  kColSaturation,
  kColHue,  // 9: RGB hue matrix, row-major 3 x 3
  kColSigma = kColHue + 9,
  kColRadius,  // blur kernel radius in pixels
  kNumCols,
};

// The B x S x S x 2 sampling grid of F::affine_grid(theta.view({B, 2, 3}), {B, C, S, S},
// align_corners=false). The crop transforms are axis-aligned (no rotation or shear), so the grid
// is separable: built from two broadcast rows it costs a fifth of affine_grid's batched matmul.
torch::Tensor crop_grid(const torch::Tensor& theta, int64_t size) {
  const int64_t b = theta.size(0);
  // Output pixel centres in normalised coordinates, as affine_grid with align_corners=false.
  const auto base = (torch::arange(size, theta.options()) * 2 + 1) / size - 1;
  const auto gx = theta.select(1, 0).view({b, 1, 1}) * base.view({1, 1, size}) +
                  theta.select(1, 2).view({b, 1, 1});
  const auto gy = theta.select(1, 4).view({b, 1, 1}) * base.view({1, size, 1}) +
                  theta.select(1, 5).view({b, 1, 1});
  return torch::stack({gx.expand({b, size, size}), gy.expand({b, size, size})}, 3);
}

// B x 1 x H x W luma of a B x C x H x W float image (the image itself when grey).
torch::Tensor luma(const torch::Tensor& x) {
  if (x.size(1) == 1) return x;
  return x.narrow(1, 0, 1) * kLuma[0] + x.narrow(1, 1, 1) * kLuma[1] + x.narrow(1, 2, 1) * kLuma[2];
}

// Reflect padding (edge not repeated, as F::pad's kReflect) of `r` < size(dim) along `dim`.
// Built from flipped edge strips with cat: on the CPU it is several times faster than F::pad's
// reflection kernel in LibTorch 1.13.
torch::Tensor reflect_pad(const torch::Tensor& x, int64_t dim, int64_t r) {
  const int64_t n = x.size(dim);
  return torch::cat({x.narrow(dim, 1, r).flip({dim}), x, x.narrow(dim, n - 1 - r, r).flip({dim})},
                    dim);
}

// Separable Gaussian blur of n x C x H x W `x` with per-sample `sigma` (n, > 0) truncated at
// per-sample `radius` (n, integers as float), both on x's device: one grouped convolution per
// direction over all n * C planes, so every sample gets its own kernel in a single op. The
// kernels are `max_radius` wide but zero beyond each sample's own radius, so a sample's result
// does not depend on which other samples share the batch.
torch::Tensor gaussian_blur(const torch::Tensor& x, const torch::Tensor& sigma,
                            const torch::Tensor& radius, int64_t max_radius) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t k = 2 * max_radius + 1;
  const auto offsets = torch::arange(-max_radius, max_radius + 1, x.options()).view({1, k});
  auto kernel = torch::exp(-offsets * offsets / (2 * sigma * sigma).view({n, 1}));
  kernel = kernel * (offsets.abs() <= radius.view({n, 1})).to(kernel.scalar_type());
  kernel = kernel / kernel.sum(1, true);
  const auto planes = kernel.unsqueeze(1).expand({n, c, k}).reshape({n * c, 1, k});
  const int64_t r = max_radius;
  // Explicit vectors: a literal 0 for padding would also match the string-padding overload.
  const std::vector<int64_t> ones{1, 1}, zeros{0, 0};
  auto y = x.reshape({1, n * c, h, w});
  y = reflect_pad(y, 3, r);
  y = torch::conv2d(y, planes.view({n * c, 1, 1, k}), torch::Tensor(), ones, zeros, ones, n * c);
  y = reflect_pad(y, 2, r);
  y = torch::conv2d(y, planes.view({n * c, 1, k, 1}), torch::Tensor(), ones, zeros, ones, n * c);
  return y.view({n, c, h, w});
}

// 1 x C x 1 x 1 mean and std for C channels (grey images use the first entries).
std::pair<torch::Tensor, torch::Tensor> norm_tensors(const AugmentOptions& o, int64_t channels,
                                                     const torch::Device& device,
                                                     torch::Dtype dtype = torch::kFloat) {
  SB_INPUT_CHECK(channels == 1 || o.mean.size() >= static_cast<size_t>(channels),
                 "augment: {} mean/std entries for {}-channel images", o.mean.size(), channels);
  std::vector<float> mean(channels), std(channels);
  for (int64_t c = 0; c < channels; ++c) {
    mean[c] = static_cast<float>(o.mean[c]);
    std[c] = static_cast<float>(o.std[c]);
  }
  auto to_dev = [&](const std::vector<float>& v) {
    return torch::tensor(v, torch::kFloat).view({1, channels, 1, 1}).to(device, dtype);
  };
  return {to_dev(mean), to_dev(std)};
}

void check_images(const torch::Tensor& images, const char* what) {
  SB_CHECK(images.defined() && images.dim() == 4, "{}: images must be B x C x H x W", what);
  SB_CHECK(images.scalar_type() == torch::kByte, "{}: images must be uint8", what);
  SB_CHECK(images.size(1) == 1 || images.size(1) == 3,
           "{}: images must have 1 or 3 channels, got {}", what, images.size(1));
  SB_CHECK(images.size(2) > 0 && images.size(3) > 0, "{}: empty images", what);
}

}  // namespace

AugmentOptions AugmentOptions::none() {
  AugmentOptions o;
  o.flip = false;
  o.jitter_p = 0.0;
  o.grayscale_p = 0.0;
  o.blur_p = 0.0;
  return o;
}

MultiCropAugment::MultiCropAugment(std::vector<CropSpec> specs, AugmentOptions options)
    : specs_(std::move(specs)), options_(std::move(options)) {
  SB_INPUT_CHECK(!specs_.empty(), "multi-crop: no crop specs");
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto& s = specs_[i];
    SB_INPUT_CHECK(s.count >= 1, "multi-crop: crops[{}].count must be >= 1, got {}", i + 1,
                   s.count);
    SB_INPUT_CHECK(s.size >= 1, "multi-crop: crops[{}].size must be >= 1, got {}", i + 1, s.size);
    SB_INPUT_CHECK(s.min_scale > 0 && s.min_scale <= s.max_scale && s.max_scale <= 1,
                   "multi-crop: crops[{}] needs 0 < min_scale <= max_scale <= 1, got ({}, {})",
                   i + 1, s.min_scale, s.max_scale);
    for (int c = 0; c < s.count; ++c) crop_spec_.push_back(static_cast<int>(i));
  }
  const auto& o = options_;
  auto prob = [](double p) { return p >= 0 && p <= 1; };
  SB_INPUT_CHECK(prob(o.jitter_p) && prob(o.grayscale_p) && prob(o.blur_p),
                 "augment: probabilities must be in [0, 1]");
  SB_INPUT_CHECK(o.brightness >= 0 && o.contrast >= 0 && o.saturation >= 0,
                 "augment: jitter strengths must be >= 0");
  SB_INPUT_CHECK(o.hue >= 0 && o.hue <= 0.5, "augment: hue must be in [0, 0.5], got {}", o.hue);
  SB_INPUT_CHECK(o.blur_p == 0 || (o.blur_sigma_min > 0 && o.blur_sigma_min <= o.blur_sigma_max),
                 "augment: blur needs 0 < sigma_min <= sigma_max, got ({}, {})", o.blur_sigma_min,
                 o.blur_sigma_max);
  SB_INPUT_CHECK(o.min_ratio > 0 && o.min_ratio <= o.max_ratio,
                 "augment: needs 0 < min_ratio <= max_ratio, got ({}, {})", o.min_ratio,
                 o.max_ratio);
  SB_INPUT_CHECK(!o.mean.empty() && o.mean.size() == o.std.size(),
                 "augment: mean and std need the same non-zero number of entries");
  for (double s : o.std) SB_INPUT_CHECK(s > 0, "augment: std entries must be > 0, got {}", s);
}

CropParams MultiCropAugment::sample_params(int crop_index, const std::vector<int64_t>& sample_ids,
                                           uint64_t seed, int64_t epoch, int height,
                                           int width) const {
  SB_CHECK(crop_index >= 0 && crop_index < static_cast<int>(crop_spec_.size()),
           "crop index {} out of range [0, {})", crop_index, crop_spec_.size());
  SB_CHECK(height > 0 && width > 0, "image size {}x{}", height, width);
  const auto& spec = specs_[crop_spec_[crop_index]];
  const int64_t n = static_cast<int64_t>(sample_ids.size());
  CropParams p;
  p.box = torch::empty({n, 4}, torch::kFloat);
  auto vec = [n] { return torch::empty({n}, torch::kFloat); };
  p.fallback = vec();
  p.flip = vec();
  p.jitter_on = vec();
  p.brightness = vec();
  p.contrast = vec();
  p.saturation = vec();
  p.hue = vec();
  p.gray = vec();
  p.blur_sigma = vec();
  auto box = p.box.accessor<float, 2>();
  auto fallback = p.fallback.accessor<float, 1>(), flip = p.flip.accessor<float, 1>(),
       jitter = p.jitter_on.accessor<float, 1>(), brightness = p.brightness.accessor<float, 1>(),
       contrast = p.contrast.accessor<float, 1>(), saturation = p.saturation.accessor<float, 1>(),
       hue = p.hue.accessor<float, 1>(), gray = p.gray.accessor<float, 1>(),
       sigma = p.blur_sigma.accessor<float, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const Draw d =
        draw_one(spec, options_, stream_key(seed, epoch, sample_ids[i], crop_index), height, width);
    box[i][0] = static_cast<float>(d.cx);
    box[i][1] = static_cast<float>(d.cy);
    box[i][2] = static_cast<float>(d.w);
    box[i][3] = static_cast<float>(d.h);
    fallback[i] = d.fallback ? 1.0f : 0.0f;
    flip[i] = d.flip ? 1.0f : 0.0f;
    jitter[i] = d.jitter ? 1.0f : 0.0f;
    brightness[i] = static_cast<float>(d.brightness);
    contrast[i] = static_cast<float>(d.contrast);
    saturation[i] = static_cast<float>(d.saturation);
    hue[i] = static_cast<float>(d.hue);
    gray[i] = d.gray ? 1.0f : 0.0f;
    sigma[i] = static_cast<float>(d.sigma);
  }
  return p;
}

std::vector<torch::Tensor> MultiCropAugment::operator()(const torch::Tensor& images,
                                                        const std::vector<int64_t>& sample_ids,
                                                        uint64_t seed, int64_t epoch) const {
  check_images(images, "multi-crop");
  const int64_t B = images.size(0), C = images.size(1);
  const int height = static_cast<int>(images.size(2)), width = static_cast<int>(images.size(3));
  SB_CHECK(static_cast<int64_t>(sample_ids.size()) == B, "multi-crop: {} sample ids for {} images",
           sample_ids.size(), B);
  const auto device = images.device();
  const int num_crops = static_cast<int>(crop_spec_.size());
  std::vector<torch::Tensor> out;
  out.reserve(num_crops);
  if (B == 0) {
    for (int k = 0; k < num_crops; ++k) {
      const int64_t s = specs_[crop_spec_[k]].size;
      out.push_back(torch::empty({0, C, s, s}, images.options().dtype(options_.dtype)));
    }
    return out;
  }
  const auto& o = options_;
  const auto x = images.to(o.dtype).div_(255.0);  // shared by every crop
  const auto norm = norm_tensors(o, C, device, o.dtype);

  for (int k = 0; k < num_crops; ++k) {
    const int64_t S = specs_[crop_spec_[k]].size;
    // All random numbers on the CPU (a few per sample), packed so one copy moves them.
    auto packed = torch::zeros({B, kNumCols}, torch::kFloat);
    float* row = packed.data_ptr<float>();
    bool any_jitter = false;
    int64_t max_radius = 0;
    std::vector<int64_t> grayed, blurred;
    for (int64_t i = 0; i < B; ++i, row += kNumCols) {
      const Draw d = draw_one(specs_[crop_spec_[k]], o, stream_key(seed, epoch, sample_ids[i], k),
                              height, width);
      // affine_grid maps output coords in [-1, 1] to input coords: x_in = w * x_out + (2cx - 1);
      // a negative x scale mirrors the crop.
      row[kColTheta + 0] = static_cast<float>(d.flip ? -d.w : d.w);
      row[kColTheta + 2] = static_cast<float>(2 * d.cx - 1);
      row[kColTheta + 4] = static_cast<float>(d.h);
      row[kColTheta + 5] = static_cast<float>(2 * d.cy - 1);
      row[kColBrightness] = static_cast<float>(d.brightness);
      row[kColContrast] = static_cast<float>(d.contrast);
      row[kColSaturation] = static_cast<float>(d.saturation);
      hue_matrix(d.hue, row + kColHue);
      row[kColSigma] = static_cast<float>(d.sigma);
      // Truncate at 3 sigma, capped so the kernel fits the crop (and reflect padding works).
      const int64_t radius =
          std::min<int64_t>(static_cast<int64_t>(std::ceil(3 * d.sigma)), (S - 1) / 2);
      row[kColRadius] = static_cast<float>(radius);
      any_jitter |= d.jitter;
      if (d.gray) grayed.push_back(i);
      if (d.sigma > 0 && radius > 0) {
        blurred.push_back(i);
        max_radius = std::max(max_radius, radius);
      }
    }
    const auto p = packed.to(device, o.dtype);
    auto col = [&](int64_t c) { return p.select(1, c).view({B, 1, 1, 1}); };

    // Crop + resize (+ flip) of every sample in one op. Border padding matches resizing an
    // extracted crop (edge samples clamp rather than fade to black).
    const auto grid = crop_grid(p.narrow(1, kColTheta, 6), S);
    auto y = F::grid_sample(x, grid,
                            F::GridSampleFuncOptions()
                                .mode(torch::kBilinear)
                                .padding_mode(torch::kBorder)
                                .align_corners(false));

    // Colour jitter: samples without it carry neutral factors, which leave them unchanged.
    if (any_jitter) {
      if (o.brightness > 0) y.mul_(col(kColBrightness)).clamp_(0, 1);
      if (o.contrast > 0) {
        const auto f = col(kColContrast);
        const auto mean = luma(y).mean({1, 2, 3}, /*keepdim=*/true);
        y.mul_(f).add_((1 - f) * mean).clamp_(0, 1);
      }
      if (C == 3 && o.saturation > 0) {
        const auto f = col(kColSaturation);
        y.mul_(f).add_((1 - f) * luma(y)).clamp_(0, 1);
      }
      if (C == 3 && o.hue > 0) {
        const auto m = p.narrow(1, kColHue, 9).reshape({B, 3, 3});
        y = torch::bmm(m, y.view({B, 3, S * S})).view({B, 3, S, S}).clamp_(0, 1);
      }
    }
    // Grayscale only the samples that draw it (a fifth by default): cheaper than a masked
    // select over the whole batch.
    if (C == 3 && !grayed.empty()) {
      const auto idx = torch::tensor(grayed, torch::kLong).to(device);
      y.index_copy_(0, idx, luma(y.index_select(0, idx)).expand({idx.size(0), C, S, S}));
    }
    // Blur only the samples that draw it.
    if (!blurred.empty()) {
      const auto idx = torch::tensor(blurred, torch::kLong).to(device);
      const auto sub = p.index_select(0, idx);
      y.index_copy_(0, idx,
                    gaussian_blur(y.index_select(0, idx), sub.select(1, kColSigma),
                                  sub.select(1, kColRadius), max_radius));
    }
    y.sub_(norm.first).div_(norm.second);
    out.push_back(std::move(y));
  }
  return out;
}

std::vector<std::pair<int, int>> MultiCropAugment::size_groups() const {
  std::vector<std::pair<int, int>> groups;
  const int n = static_cast<int>(crop_spec_.size());
  for (int begin = 0; begin < n;) {
    int end = begin + 1;
    while (end < n && specs_[crop_spec_[end]].size == specs_[crop_spec_[begin]].size) ++end;
    groups.emplace_back(begin, end);
    begin = end;
  }
  return groups;
}

torch::Tensor center_crop_normalize(const torch::Tensor& images_u8, int resize, int crop,
                                    const AugmentOptions& options) {
  check_images(images_u8, "center crop");
  SB_INPUT_CHECK(resize > 0 && crop > 0, "center crop: resize {} and crop {} must be > 0", resize,
                 crop);
  const int64_t h = images_u8.size(2), w = images_u8.size(3);
  // torchvision's Resize(int): the shorter side becomes `resize`, the longer keeps the aspect
  // ratio, truncated.
  const int64_t short_side = std::min(h, w), long_side = std::max(h, w);
  const auto new_long = static_cast<int64_t>(static_cast<double>(resize) * long_side / short_side);
  const int64_t rh = h <= w ? resize : new_long, rw = h <= w ? new_long : resize;
  SB_INPUT_CHECK(crop <= rh && crop <= rw, "center crop: crop {} exceeds the resized {}x{}", crop,
                 rh, rw);
  auto x = images_u8.to(torch::kFloat).div_(255.0);
  if (rh != h || rw != w) {
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{rh, rw})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  // torchvision's CenterCrop offset: Python's round(), i.e. half to even (nearbyint's default).
  const auto top = static_cast<int64_t>(std::nearbyint((rh - crop) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((rw - crop) / 2.0));
  x = x.narrow(2, top, crop).narrow(3, left, crop);
  const auto norm = norm_tensors(options, x.size(1), x.device());
  return (x - norm.first) / norm.second;
}

}  // namespace swavbench
