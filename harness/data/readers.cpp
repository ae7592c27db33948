// File-format readers: idx (Fashion-MNIST), CIFAR-10 binary, ImageFolder trees.
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>

#include "harness/core/check.h"
#include "harness/data/dataset.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `size` bytes; fewer only at end of file. zlib reports a truncated or corrupt gzip
// stream either as gzread() == -1 or by a short read with the error left in gzerror(), so both
// are checked.
size_t gz_read(gzFile file, uint8_t* dst, size_t size, const std::string& path) {
  size_t got = 0;
  while (got < size) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - got, size_t{1} << 30));
    const int n = gzread(file, dst + got, chunk);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  int errnum = Z_OK;
  const char* raw = gzerror(file, &errnum);
  if (errnum == Z_OK) return got;
  // zlib prefixes its message with the path, which ours already leads with.
  std::string message = errnum == Z_ERRNO ? std::strerror(errno) : raw;
  if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
  throw InputError(fmt::format("{}: corrupt or truncated gzip stream: {}", path, message));
  return got;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Prefers the gzip-compressed file, as Debian ships it; the name returned when neither exists is
// the .gz one so the "not found" message names what the package would install.
std::string idx_path(const std::string& dir, const std::string& stem) {
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  const fs::path plain = fs::path(dir) / stem;
  std::error_code ec;
  if (!fs::exists(gz, ec) && fs::exists(plain, ec)) return plain.string();
  return gz.string();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_image_file(const fs::path& path) {
  const std::string ext = lower(path.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Hidden entries (".ipynb_checkpoints", ".DS_Store") are editor and OS debris, never classes.
bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

ImageU8 to_rgb(ImageU8 image, const std::string& path) {
  if (image.channels == 3) return image;
  SB_INPUT_CHECK(image.channels == 1 || image.channels == 4,
                 "{}: cannot convert a {}-channel image to RGB", path, image.channels);
  ImageU8 rgb;
  rgb.height = image.height;
  rgb.width = image.width;
  rgb.channels = 3;
  const size_t count = static_cast<size_t>(image.height) * image.width;
  rgb.pixels.resize(count * 3);
  for (size_t p = 0; p < count; ++p) {
    for (int c = 0; c < 3; ++c) {
      rgb.pixels[p * 3 + c] = image.pixels[p * image.channels + (image.channels == 1 ? 0 : c)];
    }
  }
  return rgb;
}

// torchvision's Resize(int) + CenterCrop(int): shorter side to `size` (longer side truncated,
// as int(size * long / short)), then the crop offset rounded half-to-even like Python's round().
ImageU8 resize_and_center_crop(const ImageU8& image, int size) {
  int height = size, width = size;
  if (image.width <= image.height) {
    height = static_cast<int>(static_cast<int64_t>(size) * image.height / image.width);
  } else {
    width = static_cast<int>(static_cast<int64_t>(size) * image.width / image.height);
  }
  const ImageU8 resized = resize_bilinear(image, height, width);
  auto offset = [](int excess) { return excess / 2 + (excess % 4 == 3 ? 1 : 0); };
  const int top = offset(height - size);
  const int left = offset(width - size);
  if (top == 0 && left == 0 && height == size && width == size) return resized;
  ImageU8 crop;
  crop.height = size;
  crop.width = size;
  crop.channels = resized.channels;
  const size_t row_bytes = static_cast<size_t>(size) * crop.channels;
  crop.pixels.resize(row_bytes * size);
  for (int y = 0; y < size; ++y) {
    const uint8_t* src = resized.pixels.data() +
                         (static_cast<size_t>(top + y) * resized.width + left) * resized.channels;
    std::copy(src, src + row_bytes, crop.pixels.data() + y * row_bytes);
  }
  return crop;
}

constexpr int kCifarSide = 32;
constexpr size_t kCifarImageBytes = kCifarSide * kCifarSide * 3;
constexpr size_t kCifarRecordBytes = 1 + kCifarImageBytes;

void read_cifar_batch(const std::string& path, std::vector<uint8_t>& pixels,
                      std::vector<int64_t>& labels) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_regular_file(path, ec),
                 "{}: not found (download the CIFAR-10 binary version, cifar-10-binary.tar.gz, "
                 "and pass data_path)",
                 path);
  const uintmax_t size = fs::file_size(path, ec);
  SB_INPUT_CHECK(!ec, "{}: cannot stat: {}", path, ec.message());
  SB_INPUT_CHECK(size > 0 && size % kCifarRecordBytes == 0,
                 "{}: size {} bytes is not a positive multiple of {} (1 label byte + 3072 pixel "
                 "bytes per CIFAR-10 record)",
                 path, size, kCifarRecordBytes);
  std::vector<uint8_t> bytes(size);
  std::ifstream in(path, std::ios::binary);
  SB_INPUT_CHECK(in.is_open(), "{}: cannot open: {}", path, std::strerror(errno));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  SB_INPUT_CHECK(in.gcount() == static_cast<std::streamsize>(size),
                 "{}: truncated: expected {} bytes, got {}", path, size, in.gcount());
  const size_t records = size / kCifarRecordBytes;
  const size_t plane = kCifarSide * kCifarSide;
  const size_t base = pixels.size();
  pixels.resize(base + records * kCifarImageBytes);
  for (size_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes.data() + r * kCifarRecordBytes;
    SB_INPUT_CHECK(record[0] < 10, "{}: label {} of record {} is out of range [0, 10)", path,
                   record[0], r);
    labels.push_back(record[0]);
    // The file stores R, G, B planes; the harness wants interleaved HWC.
    uint8_t* dst = pixels.data() + base + r * kCifarImageBytes;
    for (size_t p = 0; p < plane; ++p) {
      for (size_t c = 0; c < 3; ++c) dst[p * 3 + c] = record[1 + c * plane + p];
    }
  }
}

}  // namespace

IdxArray read_idx_file(const std::string& path) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::exists(path, ec),
                 "{}: not found (install Debian's dataset-fashion-mnist, or pass data_path)", path);
  SB_INPUT_CHECK(!fs::is_directory(path, ec), "{}: is a directory, expected an idx file", path);
  // gzopen reads plain files transparently, so one path handles both forms.
  GzFile file(gzopen(path.c_str(), "rb"));
  SB_INPUT_CHECK(file != nullptr, "{}: cannot open: {}", path, std::strerror(errno));

  uint8_t header[4];
  const size_t header_got = gz_read(file.get(), header, 4, path);
  SB_INPUT_CHECK(header_got == 4, "{}: truncated: expected a 4-byte idx header, got {} bytes", path,
                 header_got);
  SB_INPUT_CHECK(header[0] == 0 && header[1] == 0,
                 "{}: bad magic {:02x} {:02x} {:02x} {:02x}: not an idx file (expected 00 00 08 "
                 "<rank>)",
                 path, header[0], header[1], header[2], header[3]);
  SB_INPUT_CHECK(header[2] == 0x08,
                 "{}: unsupported idx data type code 0x{:02x} (only 0x08, unsigned byte, is "
                 "supported)",
                 path, header[2]);
  const int rank = header[3];
  SB_INPUT_CHECK(rank >= 1 && rank <= 4, "{}: bad idx rank {} (expected 1 to 4)", path, rank);

  uint8_t dim_bytes[16];
  const size_t dims_got = gz_read(file.get(), dim_bytes, 4 * rank, path);
  SB_INPUT_CHECK(dims_got == static_cast<size_t>(4 * rank),
                 "{}: truncated: expected {} bytes of dimensions, got {}", path, 4 * rank,
                 dims_got);
  IdxArray result;
  uint64_t expected = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t dim = big_endian_u32(dim_bytes + 4 * d);
    SB_INPUT_CHECK(dim <= static_cast<uint32_t>(std::numeric_limits<int>::max()),
                   "{}: dimension {} is {}, too large", path, d, dim);
    result.dims.push_back(static_cast<int>(dim));
    SB_INPUT_CHECK(dim == 0 || expected <= std::numeric_limits<uint64_t>::max() / dim,
                   "{}: dimensions ({}) overflow", path, fmt::join(result.dims, ", "));
    expected *= dim;
  }

  // Grown chunk by chunk, so a corrupt header claiming terabytes ends in a "truncated" error,
  // not an allocation failure.
  constexpr size_t kChunk = size_t{1} << 22;
  auto& data = result.data;
  data.reserve(static_cast<size_t>(std::min<uint64_t>(expected, uint64_t{1} << 28)));
  while (data.size() < expected) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, expected - data.size()));
    const size_t old = data.size();
    data.resize(old + want);
    const size_t got = gz_read(file.get(), data.data() + old, want, path);
    data.resize(old + got);
    if (got < want) break;
  }
  SB_INPUT_CHECK(data.size() == expected, "{}: truncated: expected {} bytes of data, got {}", path,
                 expected, data.size());
  uint64_t trailing = 0;
  std::vector<uint8_t> scratch(1 << 16);
  for (size_t got; (got = gz_read(file.get(), scratch.data(), scratch.size(), path)) > 0;) {
    trailing += got;
  }
  SB_INPUT_CHECK(trailing == 0,
                 "{}: {} unexpected trailing bytes after the {} bytes of data that dimensions ({}) "
                 "call for",
                 path, trailing, expected, fmt::join(result.dims, ", "));
  return result;
}

std::shared_ptr<InMemoryDataset> load_fashion_mnist(const std::string& dir,
                                                    const std::string& split) {
  SB_INPUT_CHECK(split == "train" || split == "test",
                 "fashion-mnist: unknown split '{}' (valid: train, test)", split);
  const std::string root = dir.empty() ? std::string(kFashionMnistDir) : dir;
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = idx_path(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = idx_path(root, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx_file(images_path);
  const IdxArray labels = read_idx_file(labels_path);
  SB_INPUT_CHECK(images.dims.size() == 3 && images.dims[1] == 28 && images.dims[2] == 28,
                 "{}: expected images of shape (N, 28, 28), got ({})", images_path,
                 fmt::join(images.dims, ", "));
  SB_INPUT_CHECK(labels.dims.size() == 1, "{}: expected labels of shape (N), got ({})", labels_path,
                 fmt::join(labels.dims, ", "));
  SB_INPUT_CHECK(images.dims[0] == labels.dims[0], "{} holds {} images but {} holds {} labels",
                 images_path, images.dims[0], labels_path, labels.dims[0]);
  std::vector<int64_t> label_values(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    SB_INPUT_CHECK(labels.data[i] < 10, "{}: label {} at index {} is out of range [0, 10)",
                   labels_path, labels.data[i], i);
    label_values[i] = labels.data[i];
  }
  return std::make_shared<InMemoryDataset>("fashion-mnist/" + split, 28, 28, 1, 10,
                                           std::move(images.data), std::move(label_values));
}

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& dir, const std::string& split) {
  SB_INPUT_CHECK(split == "train" || split == "test",
                 "cifar10: unknown split '{}' (valid: train, test)", split);
  SB_INPUT_CHECK(!dir.empty(), "cifar10: no data directory given (pass data_path)");
  fs::path root(dir);
  // Accept the directory the tarball was unpacked into as well as the batches directory itself.
  std::error_code ec;
  if (!fs::exists(root / "test_batch.bin", ec) &&
      fs::exists(root / "cifar-10-batches-bin" / "test_batch.bin", ec)) {
    root /= "cifar-10-batches-bin";
  }
  std::vector<std::string> files;
  if (split == "train") {
    for (int b = 1; b <= 5; ++b)
      files.push_back((root / fmt::format("data_batch_{}.bin", b)).string());
  } else {
    files.push_back((root / "test_batch.bin").string());
  }
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& file : files) read_cifar_batch(file, pixels, labels);
  return std::make_shared<InMemoryDataset>("cifar10/" + split, kCifarSide, kCifarSide, 3, 10,
                                           std::move(pixels), std::move(labels));
}

ImageFolderDataset::ImageFolderDataset(const std::string& root, int load_size)
    : root_(root), load_size_(load_size) {
  SB_INPUT_CHECK(load_size >= 0, "{}: load_size must be >= 0, got {}", root, load_size);
  std::error_code ec;
  SB_INPUT_CHECK(fs::is_directory(root, ec),
                 "{}: not a directory (expected root/<class>/<image>.{{jpg,jpeg,png}})", root);
  try {
    for (const fs::directory_entry& entry : fs::directory_iterator(root)) {
      if (entry.is_directory() && !is_hidden(entry.path())) {
        classes_.push_back(entry.path().filename().string());
      }
    }
    SB_INPUT_CHECK(!classes_.empty(),
                   "{}: no class directories (expected root/<class>/<image>.{{jpg,jpeg,png}})",
                   root);
    std::sort(classes_.begin(), classes_.end());
    for (size_t c = 0; c < classes_.size(); ++c) {
      std::vector<std::string> class_files;
      const auto options = fs::directory_options::follow_directory_symlink;
      for (const fs::directory_entry& entry :
           fs::recursive_directory_iterator(fs::path(root) / classes_[c], options)) {
        if (entry.is_regular_file() && !is_hidden(entry.path()) && is_image_file(entry.path())) {
          class_files.push_back(entry.path().string());
        }
      }
      // An empty class would still take a label and skew num_classes (torchvision refuses too).
      SB_INPUT_CHECK(!class_files.empty(),
                     "{}: class directory '{}' holds no .jpg, .jpeg or .png images", root,
                     classes_[c]);
      std::sort(class_files.begin(), class_files.end());
      for (std::string& file : class_files) {
        files_.push_back(std::move(file));
        labels_.push_back(static_cast<int64_t>(c));
      }
    }
  } catch (const fs::filesystem_error& e) {
    throw InputError(fmt::format("{}: cannot list image folder: {}", root, e.what()));
  }
}

ImageU8 ImageFolderDataset::image(int64_t index) const {
  const std::string& path = files_.at(index);
  ImageU8 rgb = to_rgb(decode_image_file(path), path);
  if (load_size_ > 0) return resize_and_center_crop(rgb, load_size_);
  return rgb;
}

ImageU8 ImageFolderDataset::fixed_shape() const {
  if (load_size_ > 0) return {load_size_, load_size_, 3, {}};
  return {};
}

}  // namespace swavbench
