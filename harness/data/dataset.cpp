// In-memory datasets, subsets and the deterministic class-balanced subset draw.
#include "harness/data/dataset.h"

#include <algorithm>
#include <numeric>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"

namespace swavbench {
namespace {

// Seeds each class's stream from (seed, class) through one mixing step, so neighbouring seeds or
// classes do not yield overlapping sequences.
uint64_t class_stream_seed(uint64_t seed, int cls) {
  SplitMix64 mix(seed);
  return mix.next() ^ SplitMix64(0xC1A55ULL + static_cast<uint64_t>(cls)).next();
}

}  // namespace

InMemoryDataset::InMemoryDataset(std::string name, int height, int width, int channels,
                                 int num_classes, std::vector<uint8_t> pixels,
                                 std::vector<int64_t> labels)
    : name_(std::move(name)),
      height_(height),
      width_(width),
      channels_(channels),
      num_classes_(num_classes),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)) {
  SB_CHECK(height > 0 && width > 0 && channels > 0, "{}: bad image shape {}x{}x{}", name_, height,
           width, channels);
  SB_CHECK(num_classes > 0, "{}: num_classes must be positive, got {}", name_, num_classes);
  const size_t expected = labels_.size() * static_cast<size_t>(height) * width * channels;
  SB_CHECK(pixels_.size() == expected, "{}: {} images of {}x{}x{} need {} pixel bytes, got {}",
           name_, labels_.size(), height, width, channels, expected, pixels_.size());
  for (size_t i = 0; i < labels_.size(); ++i) {
    SB_CHECK(labels_[i] >= 0 && labels_[i] < num_classes,
             "{}: label {} at index {} outside [0, {})", name_, labels_[i], i, num_classes);
  }
}

const uint8_t* InMemoryDataset::pixels(int64_t index) const {
  SB_CHECK(index >= 0 && index < size(), "{}: image index {} outside [0, {})", name_, index,
           size());
  return pixels_.data() + static_cast<size_t>(index) * height_ * width_ * channels_;
}

ImageU8 InMemoryDataset::image(int64_t index) const {
  const uint8_t* begin = pixels(index);
  ImageU8 result{height_, width_, channels_, {}};
  result.pixels.assign(begin, begin + static_cast<size_t>(height_) * width_ * channels_);
  return result;
}

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  SB_CHECK(base_ != nullptr, "SubsetDataset: null base dataset");
  const int64_t base_size = base_->size();
  for (int64_t index : indices_) {
    SB_CHECK(index >= 0 && index < base_size, "{}: subset index {} outside [0, {})", base_->name(),
             index, base_size);
  }
}

std::vector<int64_t> balanced_subset(const std::vector<int64_t>& labels, int num_classes,
                                     int64_t count, uint64_t seed) {
  SB_CHECK(num_classes > 0, "balanced_subset: num_classes must be positive, got {}", num_classes);
  const int64_t total = static_cast<int64_t>(labels.size());
  std::vector<int64_t> result;
  if (count <= 0 || count >= total) {
    result.resize(labels.size());
    std::iota(result.begin(), result.end(), int64_t{0});
    return result;
  }

  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (int64_t i = 0; i < total; ++i) {
    SB_CHECK(labels[i] >= 0 && labels[i] < num_classes,
             "balanced_subset: label {} at index {} outside [0, {})", labels[i], i, num_classes);
    by_class[labels[i]].push_back(i);
  }
  for (int c = 0; c < num_classes; ++c) {
    std::vector<int64_t>& items = by_class[c];
    SplitMix64 rng(class_stream_seed(seed, c));
    for (size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[rng.below(i)]);
    }
  }

  // Equal quotas first; then the remainder and any shortfall of small classes go one at a time,
  // lowest class id first, to classes that still have items. Adding round-robin from an equal
  // start keeps every class that is not exhausted within one of the others.
  std::vector<int64_t> take(num_classes);
  const int64_t quota = count / num_classes;
  int64_t left = count;
  for (int c = 0; c < num_classes; ++c) {
    take[c] = std::min<int64_t>(quota, static_cast<int64_t>(by_class[c].size()));
    left -= take[c];
  }
  while (left > 0) {
    for (int c = 0; c < num_classes && left > 0; ++c) {
      if (take[c] < static_cast<int64_t>(by_class[c].size())) {
        ++take[c];
        --left;
      }
    }
  }

  result.reserve(static_cast<size_t>(count));
  for (int c = 0; c < num_classes; ++c) {
    result.insert(result.end(), by_class[c].begin(), by_class[c].begin() + take[c]);
  }
  std::sort(result.begin(), result.end());
  return result;
}

}  // namespace swavbench
