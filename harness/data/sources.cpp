#include "harness/data/sources.h"

#include <map>
#include <mutex>

#include "harness/core/check.h"
#include "harness/data/scenes.h"

namespace swavbench {

std::shared_ptr<const Dataset> open_dataset(const std::string& dataset,
                                            const std::string& data_path, const std::string& split,
                                            int load_size) {
  // In-memory datasets are read once per process: a suite evaluates many runs on the same data.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Dataset>> cache;
  std::string key = dataset + "|" + data_path + "|" + split + "|" + std::to_string(load_size);
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  std::shared_ptr<const Dataset> out;
  if (dataset == "fashion-mnist") {
    out = load_fashion_mnist(data_path.empty() ? kFashionMnistDir : data_path, split);
  } else if (dataset == "fashion-scenes") {
    out = load_fashion_scenes(data_path.empty() ? kFashionMnistDir : data_path, split,
                              fashion_scenes_canvas(load_size));
  } else if (dataset == "cifar10") {
    SB_INPUT_CHECK(!data_path.empty(),
                   "dataset 'cifar10' needs data_path (the folder with data_batch_1.bin ...)");
    out = load_cifar10(data_path, split);
  } else if (dataset == "imagefolder") {
    SB_INPUT_CHECK(!data_path.empty(),
                   "dataset 'imagefolder' needs data_path (a folder with train/ and val/)");
    SB_INPUT_CHECK(load_size > 0, "dataset 'imagefolder' needs load_size > 0 (e.g. 256)");
    out = std::make_shared<ImageFolderDataset>(data_path + "/" + (split == "test" ? "val" : split),
                                               load_size);
  } else {
    throw InputError(fmt::format(
        "unknown dataset '{}' (fashion-mnist, fashion-scenes, cifar10, imagefolder)", dataset));
  }
  cache[key] = out;
  return out;
}

bool dataset_has_split(const std::string& dataset, const std::string& split) {
  if (split == "train" || split == "test") return true;
  return split == "val" && dataset == "fashion-scenes";
}

std::shared_ptr<const Dataset> balanced_subset_of(std::shared_ptr<const Dataset> dataset,
                                                  int64_t count, uint64_t seed) {
  if (count <= 0 || count >= dataset->size()) return dataset;
  std::vector<int64_t> labels(dataset->size());
  for (int64_t i = 0; i < dataset->size(); ++i) labels[i] = dataset->label(i);
  return std::make_shared<SubsetDataset>(
      dataset, balanced_subset(labels, dataset->num_classes(), count, seed));
}

ImageU8 sample_grid(const Dataset& dataset, int per_class, int scale) {
  SB_INPUT_CHECK(per_class >= 1 && per_class <= 64,
                 "sample grid: per class must be in [1, 64], got {}", per_class);
  SB_INPUT_CHECK(scale >= 1 && scale <= 16, "sample grid: scale must be in [1, 16], got {}", scale);
  const int classes = dataset.num_classes();
  std::vector<std::vector<int64_t>> chosen(classes);
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const int64_t label = dataset.label(i);
    if (label >= 0 && label < classes && static_cast<int>(chosen[label].size()) < per_class)
      chosen[label].push_back(i);
  }
  const ImageU8 first = dataset.image(0);
  constexpr int kGutter = 2;
  const int cell_h = first.height * scale, cell_w = first.width * scale;
  ImageU8 grid{
      kGutter + per_class * (cell_h + kGutter), kGutter + classes * (cell_w + kGutter), 3, {}};
  grid.pixels.assign(static_cast<size_t>(grid.height) * grid.width * 3, 255);
  for (int c = 0; c < classes; ++c) {
    for (size_t r = 0; r < chosen[c].size(); ++r) {
      const ImageU8 image = dataset.image(chosen[c][r]);
      SB_INPUT_CHECK(image.height == first.height && image.width == first.width,
                     "sample grid: images of {} differ in size", dataset.name());
      const int top = kGutter + static_cast<int>(r) * (cell_h + kGutter);
      const int left = kGutter + c * (cell_w + kGutter);
      for (int y = 0; y < cell_h; ++y) {
        for (int x = 0; x < cell_w; ++x) {
          const uint8_t* in =
              &image.pixels[(static_cast<size_t>(y / scale) * image.width + x / scale) *
                            image.channels];
          uint8_t* out = &grid.pixels[(static_cast<size_t>(top + y) * grid.width + left + x) * 3];
          for (int k = 0; k < 3; ++k) out[k] = in[image.channels == 3 ? k : 0];
        }
      }
    }
  }
  return grid;
}

}  // namespace swavbench
