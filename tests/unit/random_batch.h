// Test helper: a multi-crop batch of random uint8 Fashion-MNIST-sized images (1 x 28 x 28),
// sample ids 0..n-1 and labels 0, for steps whose loss ignores the labels. Draws the images
// from LibTorch's global generator, so the caller's manual_seed decides them.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "harness/data/multicrop.h"

namespace swavbench::test_support {

inline MultiCropBatch random_multicrop_batch(MultiCropAugment& augment, int64_t n,
                                             torch::Device device = torch::kCPU) {
  const torch::Tensor images = torch::randint(0, 256, {n, 1, 28, 28}, torch::kUInt8).to(device);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  MultiCropBatch batch;
  batch.crops = augment(images, ids, 0, 0);
  batch.size_groups = augment.size_groups();
  batch.labels = torch::zeros({n}, torch::kInt64);
  batch.sample_ids = ids;
  return batch;
}

}  // namespace swavbench::test_support
