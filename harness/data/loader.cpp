#include "harness/data/loader.h"

#include <torch/torch.h>

#include <cstring>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"

namespace swavbench {

std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(size);
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  if (!shuffle) return order;
  SplitMix64 rng(seed * 0x100000001b3ULL ^ (static_cast<uint64_t>(epoch) + 0x51ed2701ULL));
  for (int64_t i = size - 1; i > 0; --i) {
    // Multiply-shift maps 64 random bits to [0, i] without modulo bias worth noting here.
    uint64_t r = rng.next();
    int64_t j = static_cast<int64_t>((static_cast<unsigned __int128>(r) * (i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

RawBatch gather_batch(const Dataset& dataset, const std::vector<int64_t>& indices, int workers,
                      torch::Device device) {
  const int64_t n = static_cast<int64_t>(indices.size());
  SB_CHECK(n > 0, "empty batch");
  ImageU8 shape = dataset.fixed_shape();
  if (shape.height == 0) shape = dataset.image(indices[0]);
  const int64_t h = shape.height, w = shape.width, c = shape.channels;
  const int64_t image_bytes = h * w * c;
  torch::Tensor images = torch::empty({n, h, w, c}, torch::kUInt8);
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  uint8_t* out = images.data_ptr<uint8_t>();
  int64_t* label_out = labels.data_ptr<int64_t>();

  auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      label_out[i] = dataset.label(indices[i]);
      if (const uint8_t* src = dataset.pixels(indices[i])) {
        std::memcpy(out + i * image_bytes, src, image_bytes);
      } else {
        ImageU8 img = dataset.image(indices[i]);
        SB_INPUT_CHECK(img.height == h && img.width == w && img.channels == c,
                       "{}: image {} is {}x{}x{}, expected {}x{}x{} (set load_size so images "
                       "share one shape)",
                       dataset.name(), indices[i], img.height, img.width, img.channels, h, w, c);
        std::memcpy(out + i * image_bytes, img.pixels.data(), image_bytes);
      }
    }
  };
  if (dataset.pixels(indices[0]) != nullptr || workers <= 1) {
    fill(0, n);
  } else {
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> errors(workers);
    int64_t chunk = (n + workers - 1) / workers;
    for (int t = 0; t < workers; ++t) {
      threads.emplace_back([&, t] {
        try {
          fill(std::min(n, t * chunk), std::min(n, (t + 1) * chunk));
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
    }
    for (auto& th : threads) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
  RawBatch batch;
  batch.images = images.permute({0, 3, 1, 2}).contiguous();
  batch.labels = labels;
  if (!device.is_cpu()) {
    batch.images = batch.images.pin_memory().to(device, /*non_blocking=*/true);
    batch.labels = batch.labels.pin_memory().to(device, /*non_blocking=*/true);
  }
  batch.sample_ids = indices;
  return batch;
}

}  // namespace swavbench
