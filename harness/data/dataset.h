// Datasets: labelled uint8 images held or decoded on the CPU. Torch-free; the loader
// (harness/data/loader.h) turns batches of these into tensors.
//
// Every reader validates what it reads and throws InputError naming the file and what is wrong
// (bad magic, wrong dimensions, truncated data, undecodable image).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace swavbench {

// One image, row-major H x W x C, uint8.
struct ImageU8 {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int num_classes() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  // Decodes (or copies) image `index`.
  virtual ImageU8 image(int64_t index) const = 0;
  // When every image has the same shape, that shape (e.g. 28 x 28 x 1); else {0, 0, 0}.
  // Fixed-shape datasets are gathered straight into one batch tensor.
  virtual ImageU8 fixed_shape() const { return {}; }
  // For in-memory fixed-shape datasets: pointer to image `index`'s pixels, else nullptr.
  virtual const uint8_t* pixels(int64_t /*index*/) const { return nullptr; }
  virtual std::string name() const = 0;
};

// Images and labels held in memory (Fashion-MNIST, CIFAR-10, subsets of either).
class InMemoryDataset : public Dataset {
 public:
  InMemoryDataset(std::string name, int height, int width, int channels, int num_classes,
                  std::vector<uint8_t> pixels, std::vector<int64_t> labels);
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int num_classes() const override { return num_classes_; }
  int64_t label(int64_t index) const override { return labels_.at(index); }
  ImageU8 image(int64_t index) const override;
  ImageU8 fixed_shape() const override { return {height_, width_, channels_, {}}; }
  const uint8_t* pixels(int64_t index) const override;
  std::string name() const override { return name_; }
  const std::vector<int64_t>& labels() const { return labels_; }

 private:
  std::string name_;
  int height_, width_, channels_, num_classes_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
};

// A view of `indices` of another dataset.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }
  int num_classes() const override { return base_->num_classes(); }
  int64_t label(int64_t index) const override { return base_->label(indices_.at(index)); }
  ImageU8 image(int64_t index) const override { return base_->image(indices_.at(index)); }
  ImageU8 fixed_shape() const override { return base_->fixed_shape(); }
  const uint8_t* pixels(int64_t index) const override { return base_->pixels(indices_.at(index)); }
  std::string name() const override { return base_->name() + "[subset]"; }
  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

// Deterministic class-balanced subset: `count` indices drawn per seed, as equal per class as the
// data allows, sorted ascending. Same (labels, count, seed) -> same indices on every machine
// (uses its own splitmix64 stream, not the C++ library's distributions).
std::vector<int64_t> balanced_subset(const std::vector<int64_t>& labels, int num_classes,
                                     int64_t count, uint64_t seed);

// Fashion-MNIST from idx files, optionally gzip-compressed (`train-images-idx3-ubyte.gz` ...).
// `split` is "train" or "test". `dir` defaults to /usr/share/datasets/fashion-mnist.
std::shared_ptr<InMemoryDataset> load_fashion_mnist(const std::string& dir,
                                                    const std::string& split);
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads one idx file (gz or plain). Validates magic (0x0000080N), rank, dimensions and length.
struct IdxArray {
  std::vector<int> dims;
  std::vector<uint8_t> data;
};
IdxArray read_idx_file(const std::string& path);

// CIFAR-10 binary version (data_batch_1..5.bin for train, test_batch.bin for test).
std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, const std::string& split);

// ImageFolder: root/<class>/<image>.{jpg,jpeg,png}; classes sorted by name. Images are decoded
// on demand (libjpeg-turbo, libpng) to RGB, then resized (shorter side) and centre-cropped to
// `load_size` x `load_size` so that batches have one shape; load_size 0 keeps native sizes.
class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(const std::string& root, int load_size);
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  int64_t label(int64_t index) const override { return labels_.at(index); }
  ImageU8 image(int64_t index) const override;
  ImageU8 fixed_shape() const override;
  std::string name() const override { return "imagefolder:" + root_; }
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  std::string root_;
  int load_size_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
};

// Decoders (throw InputError naming `path_for_errors` on corrupt data).
ImageU8 decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path_for_errors);
ImageU8 decode_png(const std::vector<uint8_t>& bytes, const std::string& path_for_errors);
ImageU8 decode_image_file(const std::string& path);
// Writers (used by `swavbench data make-*` and by tests to build real files on disk).
void write_png(const std::string& path, const ImageU8& image);
void write_jpeg(const std::string& path, const ImageU8& image, int quality = 90);
// Bilinear resize on uint8 images (CPU, no torch).
ImageU8 resize_bilinear(const ImageU8& image, int height, int width);

}  // namespace swavbench
