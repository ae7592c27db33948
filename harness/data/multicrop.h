// Device-agnostic, batched SwAV multi-crop augmentation (RandomResizedCrop, flip, colour jitter,
// grayscale, Gaussian blur, normalise) and the evaluation centre-crop transform.
//
// Every pixel operation is a batched tensor op on the images' own device, so the same code runs
// on the CPU in CI and on a GPU at full speed. The random parameters are a few numbers per
// sample, drawn on the CPU from a counter-based hash of (seed, epoch, sample id, crop index,
// parameter slot): a sample's crops depend only on those, never on batch composition, thread
// count, device or torch's global generator.
//
// Deliberate differences from the torchvision / SwAV reference pipeline (all documented here so
// a reader of the results knows them):
//   - Crop boxes are in continuous pixel coordinates (no integer rounding of the box); the crop
//     is resampled with grid_sample on affine_grid's grid (bilinear, align_corners=false, border
//     padding). Without antialiasing, large downscales (e.g. a 224 px region into 96 px) alias
//     somewhat more than PIL's resize does.
//   - Colour jitter applies brightness, contrast, saturation, hue in that fixed order;
//     torchvision's ColorJitter shuffles the order per sample.
//   - The hue shift rotates chroma in YIQ space by 2*pi*shift (sign chosen so that a positive
//     shift moves red towards yellow, as HSV does), an approximation of torchvision's HSV hue
//     shift that is a cheap per-sample 3x3 matrix.
//   - For grey (C = 1) images saturation, hue and grayscale are no-ops, and normalisation uses
//     the first entry of `mean` and `std`.
//   - Gaussian blur is separable, each sample's kernel truncated at ceil(3 sigma) (capped so the
//     kernel fits the crop), with reflect padding; SwAV used PIL's GaussianBlur(radius = sigma).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "harness/core/crops.h"

namespace swavbench {

struct AugmentOptions {
  bool flip = true;  // horizontal flip with p 0.5
  // ColorJitter(brightness, contrast, saturation, hue) applied with probability jitter_p.
  double jitter_p = 0.8, brightness = 0.8, contrast = 0.8, saturation = 0.8, hue = 0.2;
  double grayscale_p = 0.2;
  double blur_p = 0.5, blur_sigma_min = 0.1, blur_sigma_max = 2.0;
  // Per channel; grey images use the first entry.
  std::vector<double> mean{0.485, 0.456, 0.406}, std{0.228, 0.224, 0.225};
  // RandomResizedCrop aspect-ratio range (width / height), as torchvision's `ratio`.
  double min_ratio = 3.0 / 4.0, max_ratio = 4.0 / 3.0;
  // The crops' arithmetic: float32, or float64 in a float64 reference run (precision = fp64), so
  // that the crops of a sample do not depend on the batch it is augmented in by float rounding.
  torch::Dtype dtype = torch::kFloat;

  // Crop only (plus normalise): for evaluation and supervised variants.
  static AugmentOptions none();
};

// Random parameters of one crop index for a batch of samples: CPU float32 tensors with one row
// per sample. Colour factors are the effective ones (neutral where jitter_on is 0), so they say
// exactly what is applied.
struct CropParams {
  torch::Tensor box;        // N x 4: cx, cy, w, h as fractions of the image width / height
  torch::Tensor fallback;   // N: 1 where no RandomResizedCrop attempt fit (centre crop used)
  torch::Tensor flip;       // N: 1 = mirrored left-right
  torch::Tensor jitter_on;  // N: 1 = colour jitter applied
  torch::Tensor brightness, contrast, saturation;  // N: factors (1 = unchanged)
  torch::Tensor hue;                               // N: hue shift in turns (0 = unchanged)
  torch::Tensor gray;                              // N: 1 = converted to grayscale
  torch::Tensor blur_sigma;                        // N: Gaussian sigma in output pixels, 0 = none
};

class MultiCropAugment {
 public:
  MultiCropAugment(std::vector<CropSpec> specs, AugmentOptions options);

  // images: B x C x H x W uint8 (C = 1 or 3) on any device. sample_ids: B stable ids (dataset
  // indices) that, with (seed, epoch), seed each sample's randomness.
  // Returns total_crops(specs) float32 tensors in spec order (large first as the specs list
  // them), each B x C x size x size, normalised, on images.device().
  std::vector<torch::Tensor> operator()(const torch::Tensor& images,
                                        const std::vector<int64_t>& sample_ids, uint64_t seed,
                                        int64_t epoch) const;

  // The random parameters of crop `crop_index` (global index over all crops) for images of
  // height x width pixels.
  CropParams sample_params(int crop_index, const std::vector<int64_t>& sample_ids, uint64_t seed,
                           int64_t epoch, int height, int width) const;

  // [begin, end) ranges of crop indices of equal size, one per run of consecutive equal-size
  // crops, so a model can run each group in one pass (torch::cat along dim 0).
  std::vector<std::pair<int, int>> size_groups() const;

  const std::vector<CropSpec>& specs() const { return specs_; }
  const AugmentOptions& options() const { return options_; }

 private:
  std::vector<CropSpec> specs_;
  AugmentOptions options_;
  std::vector<int> crop_spec_;  // global crop index -> index into specs_
};

// Evaluation transform (torchvision Resize(resize) + CenterCrop(crop) + Normalize, batched):
// resize the shorter side to `resize` (bilinear, no antialias), centre crop `crop` x `crop`,
// normalise with options.mean / options.std. images_u8: B x C x H x W uint8 on any device.
torch::Tensor center_crop_normalize(const torch::Tensor& images_u8, int resize, int crop,
                                    const AugmentOptions& options);

}  // namespace swavbench
