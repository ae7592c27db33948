#include "harness/data/sources.h"

#include <map>
#include <mutex>

#include "harness/core/check.h"

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
    throw InputError(
        fmt::format("unknown dataset '{}' (fashion-mnist, cifar10, imagefolder)", dataset));
  }
  cache[key] = out;
  return out;
}

std::shared_ptr<const Dataset> balanced_subset_of(std::shared_ptr<const Dataset> dataset,
                                                  int64_t count, uint64_t seed) {
  if (count <= 0 || count >= dataset->size()) return dataset;
  std::vector<int64_t> labels(dataset->size());
  for (int64_t i = 0; i < dataset->size(); ++i) labels[i] = dataset->label(i);
  return std::make_shared<SubsetDataset>(
      dataset, balanced_subset(labels, dataset->num_classes(), count, seed));
}

}  // namespace swavbench
