#include "harness/data/make_imagefolder.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"
#include "harness/data/dataset.h"
#include "harness/data/scenes.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFashionClassNames[10] = {"t_shirt", "trouser",   "pullover", "dress",
                                                "coat",    "sandal",    "shirt",    "sneaker",
                                                "bag",     "ankle_boot"};

}  // namespace

MakeImageFolderResult make_imagefolder(const MakeImageFolderOptions& o) {
  SB_INPUT_CHECK(!o.out.empty(), "make-imagefolder: --out is empty");
  SB_INPUT_CHECK(o.classes >= 1 && o.classes <= 10,
                 "make-imagefolder: --classes must be in [1, 10] (Fashion-MNIST's classes), got {}",
                 o.classes);
  SB_INPUT_CHECK(o.train_per_class >= 1 && o.train_per_class <= 6000,
                 "make-imagefolder: --train-per-class must be in [1, 6000], got {}",
                 o.train_per_class);
  SB_INPUT_CHECK(o.val_per_class >= 0 && o.val_per_class <= 1000,
                 "make-imagefolder: --val-per-class must be in [0, 1000], got {}", o.val_per_class);
  SB_INPUT_CHECK(o.size >= 32 && o.size <= 1024,
                 "make-imagefolder: --size must be in [32, 1024] pixels, got {}", o.size);
  SB_INPUT_CHECK(o.quality >= 1 && o.quality <= 100,
                 "make-imagefolder: --quality must be in [1, 100], got {}", o.quality);
  const std::string fashion_dir = o.fashion_dir.empty() ? kFashionMnistDir : o.fashion_dir;

  MakeImageFolderResult result;
  const struct {
    const char* folder;
    const char* source_split;
    int per_class;
    uint64_t stream;
  } splits[] = {{"train", "train", o.train_per_class, 1}, {"val", "test", o.val_per_class, 2}};
  for (const auto& split : splits) {
    if (split.per_class == 0) continue;
    const auto source = load_fashion_mnist(fashion_dir, split.source_split);
    // Fragments of other garments come from the whole source split, as in fashion-scenes.
    std::vector<int64_t> pool(static_cast<size_t>(source->size()));
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<int64_t>(i);
    SceneStyle style;
    style.canvas = o.size;
    // The first per_class items of each class, in file order: stable across runs and counts.
    std::vector<std::vector<int64_t>> members(o.classes);
    for (int64_t i = 0; i < source->size(); ++i) {
      const int64_t label = source->label(i);
      if (label < o.classes && static_cast<int>(members[label].size()) < split.per_class)
        members[label].push_back(i);
    }
    for (int c = 0; c < o.classes; ++c) {
      SB_INPUT_CHECK(static_cast<int>(members[c].size()) == split.per_class,
                     "make-imagefolder: Fashion-MNIST's {} split has only {} images of class {}",
                     split.source_split, members[c].size(), kFashionClassNames[c]);
      const fs::path dir = fs::path(o.out) / split.folder / kFashionClassNames[c];
      std::error_code ec;
      fs::create_directories(dir, ec);
      SB_INPUT_CHECK(!ec, "{}: cannot create directory: {}", dir.string(), ec.message());
      for (int k = 0; k < split.per_class; ++k) {
        const int64_t index = members[c][k];
        const ImageU8 canvas =
            compose_fashion_scene(*source, pool, index, style,
                                  stream_seed(o.seed, split.stream, static_cast<uint64_t>(index)));
        const fs::path file = dir / fmt::format("{:06d}.jpg", index);
        write_jpeg(file.string(), canvas, o.quality);
        result.bytes += static_cast<int64_t>(fs::file_size(file));
        (split.stream == 1 ? result.train_images : result.val_images) += 1;
      }
    }
  }
  return result;
}

}  // namespace swavbench
