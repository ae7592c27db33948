// `swavbench data make-imagefolder`: an ImageFolder tree of real JPEG files, made from
// Fashion-MNIST, for measuring the ImageNet-shaped path (JPEG decode, 224-px multi-crop,
// ResNet-50) where no ImageNet copy is at hand, and for testing the ImageFolder reader.
//
// Each image is one Fashion-MNIST scene (harness/data/scenes.h, the generator the
// `fashion-scenes` dataset uses) on a `size` x `size` canvas, its class the folder: a tinted
// garment at a random scale and place over a gradient with noise and faint fragments of other
// garments, so that crops, colour jitter and decoding see natural-image-like content and the
// classes stay learnable. Deterministic: image k of a split depends only on (seed, split, k).
//
//   out/train/<class>/<NNNNNN>.jpg   train_per_class per class (Fashion-MNIST train items)
//   out/val/<class>/<NNNNNN>.jpg     val_per_class per class (Fashion-MNIST test items)
#pragma once

#include <cstdint>
#include <string>

namespace swavbench {

struct MakeImageFolderOptions {
  std::string out;
  int classes = 10;  // the first N Fashion-MNIST classes, 1..10
  int train_per_class = 100;
  int val_per_class = 20;
  int size = 256;  // the canvas side, pixels (ImageNet-style loaders decode ~256 then crop 224)
  int quality = 90;
  uint64_t seed = 0;
  std::string fashion_dir;  // empty: the default Fashion-MNIST location
};

struct MakeImageFolderResult {
  int64_t train_images = 0, val_images = 0;
  int64_t bytes = 0;  // total size of the JPEG files written
};

// Validates `options` (InputError naming the option and its range) and writes the tree.
MakeImageFolderResult make_imagefolder(const MakeImageFolderOptions& options);

}  // namespace swavbench
