#include "harness/data/make_imagefolder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"
#include "harness/data/dataset.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFashionClassNames[10] = {"t_shirt", "trouser",   "pullover", "dress",
                                                "coat",    "sandal",    "shirt",    "sneaker",
                                                "bag",     "ankle_boot"};

double uniform(SplitMix64& rng) { return static_cast<double>(rng.next() >> 11) * 0x1.0p-53; }

uint8_t clamp_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// One canvas: a bilinear gradient between four random corner colours, the garment upscaled to a
// random side in [0.4, 0.9] x size at a random place, tinted with a random colour, plus noise.
ImageU8 compose(const uint8_t* garment, int size, uint64_t image_seed) {
  SplitMix64 rng(image_seed);
  double corners[4][3];
  for (auto& corner : corners)
    for (double& channel : corner) channel = 40 + 140 * uniform(rng);
  double tint[3];
  for (double& channel : tint) channel = 0.35 + 0.65 * uniform(rng);
  const int side = std::max(8, static_cast<int>(size * (0.4 + 0.5 * uniform(rng))));
  const int x0 = rng.below_int(size - side + 1);
  const int y0 = rng.below_int(size - side + 1);
  const bool flip = rng.below_int(2) == 1;

  ImageU8 small{28, 28, 1, std::vector<uint8_t>(garment, garment + 28 * 28)};
  const ImageU8 item = resize_bilinear(small, side, side);

  ImageU8 canvas{size, size, 3, std::vector<uint8_t>(static_cast<size_t>(size) * size * 3)};
  const double inv = 1.0 / std::max(1, size - 1);
  for (int y = 0; y < size; ++y) {
    const double fy = y * inv;
    for (int x = 0; x < size; ++x) {
      const double fx = x * inv;
      double alpha = 0;
      if (y >= y0 && y < y0 + side && x >= x0 && x < x0 + side) {
        const int ix = flip ? side - 1 - (x - x0) : x - x0;
        alpha = item.pixels[static_cast<size_t>(y - y0) * side + ix] / 255.0;
      }
      const double noise = (uniform(rng) - 0.5) * 16;
      for (int c = 0; c < 3; ++c) {
        const double background = (1 - fx) * (1 - fy) * corners[0][c] +
                                  fx * (1 - fy) * corners[1][c] + (1 - fx) * fy * corners[2][c] +
                                  fx * fy * corners[3][c];
        const double foreground = 255 * tint[c];
        canvas.pixels[(static_cast<size_t>(y) * size + x) * 3 + c] =
            clamp_byte((1 - alpha) * background + alpha * foreground + noise);
      }
    }
  }
  return canvas;
}

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
            compose(source->pixels(index), o.size,
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
