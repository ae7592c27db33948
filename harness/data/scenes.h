// Fashion-MNIST scenes: the one generator of synthetic RGB scenes made from Fashion-MNIST
// garments, used by the `fashion-scenes` dataset, `data make-imagefolder` and `data make-voc`.
//
// Why it exists: on centred, aligned 28 px Fashion-MNIST a random-init ResNet with a trained
// probe scores as well as a briefly self-supervised one (random convolutional features do well
// on aligned data; Saxe et al. 2011), so the paper's claims cannot be told apart there. A
// garment at a random scale and place, over clutter that carries no class information, is
// what crop-based self-supervision learns to ignore and random features do not.
//
// A scene: a bilinear gradient between four random corner colours plus uniform noise; a few
// low-contrast, tinted fragments of other garments of the same split (optional); then the
// garment itself, scaled to a random side, randomly flipped, tinted with a colour far from the
// background, and alpha-blended with its own intensity as alpha. Colours keep chroma_percent % of
// their saturation: the `fashion-scenes` dataset is grey (0 %), because with full colour a
// scene's two colours identify it through any crop and colour jitter, and instance
// discrimination learns them instead of the garment's shape; make-imagefolder and make-voc keep
// full colour. Everything is integer arithmetic on splitmix64
// draws, apart from the garment's bilinear scaling (resize_bilinear: IEEE single precision
// without fused multiply-adds, as x86-64 compilers emit by default), so the same (style, seed)
// gives the same bytes on every machine (tests/unit/test_scenes.cpp compares a digest).
//
// Torch-free.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness/data/dataset.h"

namespace swavbench {

class SplitMix64;

// How a scene is drawn. Fractions are in percent of the canvas side (integers, so that the
// bytes do not depend on floating-point rounding).
struct SceneStyle {
  int canvas = 32;            // side, pixels
  int item_min_percent = 50;  // the garment's side, as a share of the canvas
  int item_max_percent = 100;
  int background_low = 40;  // the gradient's corner colours, per channel
  int background_high = 110;
  int max_fragments = 0;          // 0..max_fragments fragments of other garments
  int fragment_min_percent = 40;  // a fragment's side
  int fragment_max_percent = 80;
  int fragment_opacity = 60;    // 0..255: a fragment's alpha at full garment intensity
  int noise = 8;                // uniform noise in [-noise, noise] on every channel
  int min_tint_distance = 180;  // L1 distance (sum over RGB) of the tint from the background
  // How much of each drawn colour's saturation is kept (corners, tints): 100 = as drawn, 0 =
  // grey. Each colour is pulled toward its own channel mean by (100 - chroma_percent) %.
  int chroma_percent = 100;
};

// `rgb` pulled toward its channel mean, keeping `chroma_percent` % of each channel's offset
// (integer arithmetic; 0 gives three equal channels).
std::array<int, 3> desaturate(const std::array<int, 3>& rgb, int chroma_percent);

// The `fashion-scenes` dataset's style at a canvas side (32..64 px).
SceneStyle fashion_scenes_style(int canvas);

// A 28 x 28 grey garment scaled (bilinear) to `side` x `side`, optionally mirrored.
ImageU8 scaled_garment(const uint8_t* pixels28, int side, bool flip);

// Fills `canvas` (H x W x 3) with a bilinear gradient between four corner colours drawn in
// [low, high] per channel, plus uniform noise in [-noise, noise]. Returns the mean colour of the
// gradient (for choosing a tint that stands out from it).
std::array<int, 3> paint_gradient_background(ImageU8& canvas, SplitMix64& rng, int low, int high,
                                             int noise, int chroma_percent = 100);

// Alpha-blends a scaled garment mask onto `canvas` with its top-left corner at (x, y) (parts
// outside the canvas are clipped): alpha = mask value x opacity / 255, colour = tint. Integer
// arithmetic with rounding to nearest.
void blend_garment(ImageU8& canvas, const ImageU8& mask, int x, int y,
                   const std::array<uint8_t, 3>& tint, int opacity);

// A tint at least `min_distance` (L1 over RGB) from `background`, drawn from `rng`.
std::array<uint8_t, 3> draw_tint(SplitMix64& rng, const std::array<int, 3>& background,
                                 int min_distance, int chroma_percent = 100);

// One scene of garment `index` of `source`, its fragments drawn from `pool` (indices of
// `source`, the garment's own split; the garment itself is never its own fragment). Depends
// only on (source pixels, pool, style, image_seed).
ImageU8 compose_fashion_scene(const InMemoryDataset& source, const std::vector<int64_t>& pool,
                              int64_t index, const SceneStyle& style, uint64_t image_seed);

// --- The `fashion-scenes` dataset ----------------------------------------------------------
//
// Splits: "test" = every Fashion-MNIST test item as a scene; "val" = a class-balanced 5,000 of
// the Fashion-MNIST train items (a fixed draw, the same for every run); "train" = the other
// 55,000. A scene depends on its source item (the package's split and index), the canvas and
// the items its split holds (its fragments' pool). Generated in memory, on up to 8 threads, once
// per process.
inline constexpr int kFashionScenesDefaultCanvas = 32;
// The canvas a config's load_size asks for (0: the default).
inline int fashion_scenes_canvas(int load_size) {
  return load_size > 0 ? load_size : kFashionScenesDefaultCanvas;
}
inline constexpr int kFashionScenesValImages = 5000;
inline constexpr uint64_t kFashionScenesSeed = 0x5CE4E5;

// The Fashion-MNIST item indices ("train" or "test" of the package) each scene split holds,
// ascending.
std::vector<int64_t> fashion_scenes_members(const InMemoryDataset& fashion_train,
                                            const std::string& split);

std::shared_ptr<InMemoryDataset> load_fashion_scenes(const std::string& fashion_dir,
                                                     const std::string& split, int canvas);

}  // namespace swavbench
