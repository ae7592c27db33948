// Opens the datasets a config names (torch-free). Splits: "train" and "test"
// (ImageFolder: DATA_PATH/train and DATA_PATH/val).
#pragma once

#include <memory>
#include <string>

#include "harness/data/dataset.h"

namespace swavbench {

std::shared_ptr<const Dataset> open_dataset(const std::string& dataset,
                                            const std::string& data_path, const std::string& split,
                                            int load_size);

// Whether open_dataset serves `split` of `dataset` without reading anything: train and test for
// every dataset, val for fashion-scenes.
bool dataset_has_split(const std::string& dataset, const std::string& split);

// A class-balanced subset of `count` images (count <= 0 or >= size: the dataset itself).
std::shared_ptr<const Dataset> balanced_subset_of(std::shared_ptr<const Dataset> dataset,
                                                  int64_t count, uint64_t seed);

// A contact sheet of a dataset: one column per class, the first `per_class` images of that class
// in the split's order down it, each upscaled `scale` times (nearest neighbour), 2-pixel white
// gutters; grey images are shown as RGB. For README figures and `swavbench data sample-grid`.
ImageU8 sample_grid(const Dataset& dataset, int per_class, int scale);

}  // namespace swavbench
