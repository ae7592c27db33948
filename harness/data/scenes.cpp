#include "harness/data/scenes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "harness/core/check.h"
#include "harness/core/splitmix.h"

namespace swavbench {
namespace {

constexpr uint64_t kStreamTrainItems = 1, kStreamTestItems = 2;
constexpr uint64_t kValDrawSeed = 0x7A1;

int percent_of(int canvas, int percent) { return std::max(1, canvas * percent / 100); }

int draw_between(SplitMix64& rng, int low, int high) {  // inclusive
  return low + rng.below_int(high - low + 1);
}

}  // namespace

SceneStyle fashion_scenes_style(int canvas) {
  SB_INPUT_CHECK(canvas >= 32 && canvas <= 64,
                 "fashion-scenes: the canvas (load_size) must be in [32, 64] pixels, got {}",
                 canvas);
  SceneStyle style;
  style.canvas = canvas;
  // Grey: with colour, each scene's two colours (garment, background) identify it through any
  // crop, and instance discrimination learns colour instead of shape (docs/scenes-exploration.md,
  // round 3; the shortcut colour distortion exists for, Chen et al. 2020, made stronger).
  style.chroma_percent = 0;
  return style;
}

ImageU8 scaled_garment(const uint8_t* pixels28, int side, bool flip) {
  SB_CHECK(side >= 1, "garment side {}", side);
  ImageU8 mask = resize_bilinear(ImageU8{28, 28, 1, std::vector<uint8_t>(pixels28, pixels28 + 784)},
                                 side, side);
  if (flip) {
    for (int y = 0; y < side; ++y) {
      auto row = mask.pixels.begin() + static_cast<size_t>(y) * side;
      std::reverse(row, row + side);
    }
  }
  return mask;
}

std::array<int, 3> desaturate(const std::array<int, 3>& rgb, int chroma_percent) {
  const int grey = (rgb[0] + rgb[1] + rgb[2] + 1) / 3;
  std::array<int, 3> out;
  for (int k = 0; k < 3; ++k) out[k] = grey + (rgb[k] - grey) * chroma_percent / 100;
  return out;
}

namespace {

// One colour, each channel drawn in [low, high], then brought to `chroma_percent` of its chroma.
std::array<int, 3> draw_colour(SplitMix64& rng, int low, int high, int chroma_percent) {
  std::array<int, 3> drawn;
  for (int& value : drawn) value = draw_between(rng, low, high);
  return desaturate(drawn, chroma_percent);
}

}  // namespace

std::array<int, 3> paint_gradient_background(ImageU8& canvas, SplitMix64& rng, int low, int high,
                                             int noise, int chroma_percent) {
  SB_CHECK(canvas.channels == 3 && canvas.height >= 2 && canvas.width >= 2,
           "background canvas {}x{}x{}", canvas.height, canvas.width, canvas.channels);
  canvas.pixels.resize(static_cast<size_t>(canvas.height) * canvas.width * 3);
  int corner[4][3];
  std::array<int, 3> mean = {0, 0, 0};
  for (auto& c : corner) {
    const std::array<int, 3> drawn = draw_colour(rng, low, high, chroma_percent);
    for (int k = 0; k < 3; ++k) {
      c[k] = drawn[k];
      mean[k] += c[k];
    }
  }
  for (int& m : mean) m /= 4;
  const int w1 = canvas.width - 1, h1 = canvas.height - 1, area = w1 * h1;
  for (int y = 0; y < canvas.height; ++y) {
    for (int x = 0; x < canvas.width; ++x) {
      uint8_t* out = &canvas.pixels[(static_cast<size_t>(y) * canvas.width + x) * 3];
      for (int k = 0; k < 3; ++k) {
        // Bilinear weights in integers: (w1 - x)(h1 - y), x(h1 - y), (w1 - x)y, xy over w1 h1.
        const int value = (corner[0][k] * (w1 - x) * (h1 - y) + corner[1][k] * x * (h1 - y) +
                           corner[2][k] * (w1 - x) * y + corner[3][k] * x * y + area / 2) /
                          area;
        const int jitter = noise > 0 ? draw_between(rng, -noise, noise) : 0;
        out[k] = static_cast<uint8_t>(std::clamp(value + jitter, 0, 255));
      }
    }
  }
  return mean;
}

void blend_garment(ImageU8& canvas, const ImageU8& mask, int x, int y,
                   const std::array<uint8_t, 3>& tint, int opacity) {
  SB_CHECK(canvas.channels == 3 && mask.channels == 1, "blend_garment: channels {} / {}",
           canvas.channels, mask.channels);
  SB_CHECK(opacity >= 0 && opacity <= 255, "blend_garment: opacity {}", opacity);
  for (int my = 0; my < mask.height; ++my) {
    const int cy = y + my;
    if (cy < 0 || cy >= canvas.height) continue;
    for (int mx = 0; mx < mask.width; ++mx) {
      const int cx = x + mx;
      if (cx < 0 || cx >= canvas.width) continue;
      const int v = mask.pixels[static_cast<size_t>(my) * mask.width + mx];
      if (v == 0) continue;
      // Alpha = intensity x opacity, in [0, 255], rounded to nearest.
      const int alpha = (v * opacity + 127) / 255;
      uint8_t* out = &canvas.pixels[(static_cast<size_t>(cy) * canvas.width + cx) * 3];
      for (int k = 0; k < 3; ++k)
        out[k] = static_cast<uint8_t>((out[k] * (255 - alpha) + tint[k] * alpha + 127) / 255);
    }
  }
}

std::array<uint8_t, 3> draw_tint(SplitMix64& rng, const std::array<int, 3>& background,
                                 int min_distance, int chroma_percent) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::array<int, 3> drawn = draw_colour(rng, 0, 255, chroma_percent);
    std::array<uint8_t, 3> tint;
    int distance = 0;
    for (int k = 0; k < 3; ++k) {
      tint[k] = static_cast<uint8_t>(drawn[k]);
      distance += std::abs(drawn[k] - background[k]);
    }
    if (distance >= min_distance) return tint;
  }
  // The background's complement is as far as a colour can be channel by channel.
  std::array<uint8_t, 3> tint;
  for (int k = 0; k < 3; ++k) tint[k] = static_cast<uint8_t>(background[k] < 128 ? 255 : 0);
  return tint;
}

ImageU8 compose_fashion_scene(const InMemoryDataset& source, const std::vector<int64_t>& pool,
                              int64_t index, const SceneStyle& style, uint64_t image_seed) {
  SB_CHECK(index >= 0 && index < source.size(), "scene item {} of {}", index, source.size());
  SB_CHECK(source.fixed_shape().height == 28 && source.fixed_shape().width == 28 &&
               source.fixed_shape().channels == 1,
           "scenes are made of 28 x 28 grey garments");
  SplitMix64 rng(image_seed);
  const int canvas = style.canvas;
  ImageU8 scene{canvas, canvas, 3, {}};
  // The clutter first, without noise: noise goes on last, over the garment too, so that no
  // region of the scene is flat.
  const std::array<int, 3> background = paint_gradient_background(
      scene, rng, style.background_low, style.background_high, 0, style.chroma_percent);

  const int fragments = pool.size() > 1 ? rng.below_int(style.max_fragments + 1) : 0;
  for (int f = 0; f < fragments; ++f) {
    size_t at = static_cast<size_t>(rng.below(pool.size()));
    if (pool[at] == index) at = (at + 1) % pool.size();
    const int side = percent_of(
        canvas, draw_between(rng, style.fragment_min_percent, style.fragment_max_percent));
    // A fragment may hang off any edge by up to half its side: only part of it is seen.
    const int x = draw_between(rng, -side / 2, canvas - side / 2);
    const int y = draw_between(rng, -side / 2, canvas - side / 2);
    const bool flip = rng.below_int(2) == 1;
    const std::array<int, 3> drawn = draw_colour(rng, 0, 255, style.chroma_percent);
    const std::array<uint8_t, 3> tint = {static_cast<uint8_t>(drawn[0]),
                                         static_cast<uint8_t>(drawn[1]),
                                         static_cast<uint8_t>(drawn[2])};
    blend_garment(scene, scaled_garment(source.pixels(pool[at]), side, flip), x, y, tint,
                  style.fragment_opacity);
  }

  const int side =
      percent_of(canvas, draw_between(rng, style.item_min_percent, style.item_max_percent));
  const int x = rng.below_int(canvas - side + 1);
  const int y = rng.below_int(canvas - side + 1);
  const bool flip = rng.below_int(2) == 1;
  const std::array<uint8_t, 3> tint =
      draw_tint(rng, background, style.min_tint_distance, style.chroma_percent);
  blend_garment(scene, scaled_garment(source.pixels(index), side, flip), x, y, tint, 255);

  if (style.noise > 0) {
    for (uint8_t& p : scene.pixels)
      p = static_cast<uint8_t>(
          std::clamp(p + draw_between(rng, -style.noise, style.noise), 0, 255));
  }
  return scene;
}

std::vector<int64_t> fashion_scenes_members(const InMemoryDataset& fashion_train,
                                            const std::string& split) {
  std::vector<int64_t> all(static_cast<size_t>(fashion_train.size()));
  for (int64_t i = 0; i < fashion_train.size(); ++i) all[static_cast<size_t>(i)] = i;
  if (split == "test") return all;  // the caller passes the package's test split
  const std::vector<int64_t> val = balanced_subset(
      fashion_train.labels(), fashion_train.num_classes(),
      std::min<int64_t>(kFashionScenesValImages, fashion_train.size() / 2), kValDrawSeed);
  if (split == "val") return val;
  SB_CHECK(split == "train", "fashion-scenes split '{}'", split);
  std::vector<int64_t> train;
  train.reserve(all.size() - val.size());
  std::set_difference(all.begin(), all.end(), val.begin(), val.end(), std::back_inserter(train));
  return train;
}

std::shared_ptr<InMemoryDataset> load_fashion_scenes(const std::string& fashion_dir,
                                                     const std::string& split, int canvas) {
  SB_INPUT_CHECK(split == "train" || split == "val" || split == "test",
                 "fashion-scenes has splits train, val and test, not '{}'", split);
  const SceneStyle style = fashion_scenes_style(canvas);
  const auto source = load_fashion_mnist(fashion_dir, split == "test" ? "test" : "train");
  const std::vector<int64_t> members = fashion_scenes_members(*source, split);
  const uint64_t stream = split == "test" ? kStreamTestItems : kStreamTrainItems;

  const size_t image_bytes = static_cast<size_t>(canvas) * canvas * 3;
  std::vector<uint8_t> pixels(members.size() * image_bytes);
  std::vector<int64_t> labels(members.size());
  const unsigned workers = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = w; i < members.size(); i += workers) {
        const int64_t item = members[i];
        const ImageU8 scene = compose_fashion_scene(
            *source, members, item, style,
            stream_seed(kFashionScenesSeed, stream, static_cast<uint64_t>(item)));
        std::copy(scene.pixels.begin(), scene.pixels.end(), pixels.begin() + i * image_bytes);
        labels[i] = source->label(item);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return std::make_shared<InMemoryDataset>("fashion-scenes/" + split, canvas, canvas, 3,
                                           source->num_classes(), std::move(pixels),
                                           std::move(labels));
}

}  // namespace swavbench
