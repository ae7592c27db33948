// The multi-crop specification shared by configs and the augmentation pipeline (torch-free).
#pragma once

#include <vector>

namespace swavbench {

// `count` crops of `size` x `size` pixels whose area is a uniform fraction in
// [min_scale, max_scale] of the source image (RandomResizedCrop).
struct CropSpec {
  int count = 2;
  int size = 28;
  double min_scale = 0.14;
  double max_scale = 1.0;
};

inline int total_crops(const std::vector<CropSpec>& specs) {
  int n = 0;
  for (const auto& s : specs) n += s.count;
  return n;
}

}  // namespace swavbench
