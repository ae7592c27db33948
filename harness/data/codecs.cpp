// JPEG (libjpeg-turbo's TurboJPEG 2.x API), PNG (libpng simplified API) and bilinear resize.
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "harness/core/check.h"
#include "harness/data/dataset.h"

namespace swavbench {
namespace {

// A corrupt header can claim 65535 x 65535 pixels; refuse before allocating gigabytes for it.
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

struct TjBufferDeleter {
  void operator()(unsigned char* buffer) const { tjFree(buffer); }
};

// png_image_finish_read frees on its own, but begin_read may succeed and a later throw skip it.
struct PngImageGuard {
  png_image* image;
  ~PngImageGuard() { png_image_free(image); }
};

size_t expected_bytes(const ImageU8& image) {
  return static_cast<size_t>(image.height) * image.width * image.channels;
}

void check_image(const ImageU8& image, const char* what) {
  SB_CHECK(image.height > 0 && image.width > 0 && image.channels > 0, "{}: empty image {}x{}x{}",
           what, image.height, image.width, image.channels);
  SB_CHECK(image.pixels.size() == expected_bytes(image),
           "{}: image {}x{}x{} holds {} bytes, expected {}", what, image.height, image.width,
           image.channels, image.pixels.size(), expected_bytes(image));
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  SB_INPUT_CHECK(out.is_open(), "{}: cannot open for writing: {}", path, std::strerror(errno));
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  SB_INPUT_CHECK(!out.fail(), "{}: write failed: {}", path, std::strerror(errno));
}

}  // namespace

ImageU8 decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& path_for_errors) {
  SB_INPUT_CHECK(!bytes.empty(), "{}: cannot decode JPEG: empty file", path_for_errors);
  // One handle per call: decoding dominates its cost, and it keeps concurrent loader threads and
  // the error state of a previous corrupt file from interfering.
  TjHandle handle(tjInitDecompress());
  SB_CHECK(handle != nullptr, "tjInitDecompress failed: {}", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), bytes.data(), bytes.size(), &width, &height, &subsamp,
                          &colorspace) != 0) {
    throw InputError(
        fmt::format("{}: cannot decode JPEG: {}", path_for_errors, tjGetErrorStr2(handle.get())));
  }
  SB_INPUT_CHECK(width > 0 && height > 0 &&
                     static_cast<uint64_t>(width) * static_cast<uint64_t>(height) <= kMaxPixels,
                 "{}: cannot decode JPEG: implausible size {}x{}", path_for_errors, width, height);
  ImageU8 image;
  image.height = height;
  image.width = width;
  const bool gray = colorspace == TJCS_GRAY;
  image.channels = gray ? 1 : 3;
  image.pixels.resize(expected_bytes(image));
  // TurboJPEG 2.x reports a truncated stream ("Premature end of JPEG file") as a warning with a
  // grey-filled image and still returns -1; that half-grey image must not reach training, so
  // every non-zero return is an input error.
  if (tjDecompress2(handle.get(), bytes.data(), bytes.size(), image.pixels.data(), width,
                    /*pitch=*/0, height, gray ? TJPF_GRAY : TJPF_RGB, /*flags=*/0) != 0) {
    throw InputError(
        fmt::format("{}: cannot decode JPEG: {}", path_for_errors, tjGetErrorStr2(handle.get())));
  }
  return image;
}

ImageU8 decode_png(const std::vector<uint8_t>& bytes, const std::string& path_for_errors) {
  SB_INPUT_CHECK(!bytes.empty(), "{}: cannot decode PNG: empty file", path_for_errors);
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  PngImageGuard guard{&png};
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size())) {
    throw InputError(fmt::format("{}: cannot decode PNG: {}", path_for_errors, png.message));
  }
  SB_INPUT_CHECK(png.width > 0 && png.height > 0 &&
                     static_cast<uint64_t>(png.width) * png.height <= kMaxPixels,
                 "{}: cannot decode PNG: implausible size {}x{}", path_for_errors, png.width,
                 png.height);
  const bool gray = (png.format & PNG_FORMAT_FLAG_COLOR) == 0;
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  // Alpha is read and then dropped rather than composited, as PIL's convert("RGB") does in the
  // torchvision loader the reference numbers come from.
  png.format =
      gray ? (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY) : (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB);
  const int read_channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
  std::vector<uint8_t> buffer(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, /*background=*/nullptr, buffer.data(), /*row_stride=*/0,
                             /*colormap=*/nullptr)) {
    throw InputError(fmt::format("{}: cannot decode PNG: {}", path_for_errors, png.message));
  }
  ImageU8 image;
  image.height = static_cast<int>(png.height);
  image.width = static_cast<int>(png.width);
  image.channels = gray ? 1 : 3;
  if (!alpha) {
    image.pixels = std::move(buffer);
    return image;
  }
  image.pixels.resize(expected_bytes(image));
  const size_t count = static_cast<size_t>(image.height) * image.width;
  for (size_t p = 0; p < count; ++p) {
    for (int c = 0; c < image.channels; ++c) {
      image.pixels[p * image.channels + c] = buffer[p * read_channels + c];
    }
  }
  return image;
}

ImageU8 decode_image_file(const std::string& path) {
  std::error_code ec;
  SB_INPUT_CHECK(std::filesystem::exists(path, ec), "{}: not found", path);
  SB_INPUT_CHECK(!std::filesystem::is_directory(path, ec), "{}: is a directory, expected an image",
                 path);
  std::ifstream in(path, std::ios::binary);
  SB_INPUT_CHECK(in.is_open(), "{}: cannot open: {}", path, std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  SB_INPUT_CHECK(!in.bad(), "{}: read failed: {}", path, std::strerror(errno));
  // Dispatch on content, not extension: renamed files are common in scraped image folders.
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    return decode_jpeg(bytes, path);
  }
  if (bytes.size() >= 4 && bytes[0] == 0x89 && bytes[1] == 0x50 && bytes[2] == 0x4E &&
      bytes[3] == 0x47) {
    return decode_png(bytes, path);
  }
  throw InputError(fmt::format("{}: not a JPEG or PNG (unrecognised magic bytes, {} bytes long)",
                               path, bytes.size()));
}

void write_png(const std::string& path, const ImageU8& image) {
  check_image(image, "write_png");
  SB_CHECK(image.channels == 1 || image.channels == 3 || image.channels == 4,
           "write_png: unsupported channel count {}", image.channels);
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1   ? PNG_FORMAT_GRAY
               : image.channels == 3 ? PNG_FORMAT_RGB
                                     : PNG_FORMAT_RGBA;
  if (!png_image_write_to_file(&png, path.c_str(), /*convert_to_8bit=*/0, image.pixels.data(),
                               /*row_stride=*/0, /*colormap=*/nullptr)) {
    const std::string message = png.message;
    png_image_free(&png);
    throw InputError(fmt::format("{}: cannot write PNG: {}", path, message));
  }
}

void write_jpeg(const std::string& path, const ImageU8& image, int quality) {
  check_image(image, "write_jpeg");
  SB_CHECK(image.channels == 1 || image.channels == 3, "write_jpeg: unsupported channel count {}",
           image.channels);
  SB_CHECK(quality >= 1 && quality <= 100, "write_jpeg: quality {} outside [1, 100]", quality);
  TjHandle handle(tjInitCompress());
  SB_CHECK(handle != nullptr, "tjInitCompress failed: {}", tjGetErrorStr2(nullptr));
  unsigned char* jpeg = nullptr;
  unsigned long jpeg_size = 0;
  const bool gray = image.channels == 1;
  // 4:4:4 so that synthetic datasets lose nothing to chroma subsampling: benchmarks should measure
  // the model, not the codec.
  const int rc = tjCompress2(handle.get(), image.pixels.data(), image.width, /*pitch=*/0,
                             image.height, gray ? TJPF_GRAY : TJPF_RGB, &jpeg, &jpeg_size,
                             gray ? TJSAMP_GRAY : TJSAMP_444, quality, /*flags=*/0);
  std::unique_ptr<unsigned char, TjBufferDeleter> owned(jpeg);
  SB_CHECK(rc == 0, "{}: JPEG compression failed: {}", path, tjGetErrorStr2(handle.get()));
  write_file(path, jpeg, jpeg_size);
}

ImageU8 resize_bilinear(const ImageU8& image, int height, int width) {
  check_image(image, "resize_bilinear");
  SB_CHECK(height > 0 && width > 0, "resize_bilinear: bad target size {}x{}", height, width);
  if (height == image.height && width == image.width) return image;

  // Source taps per output row/column, computed once: align_corners=false (half-pixel centres),
  // clamped at the low edge, exactly as torch's area_pixel_compute_source_index.
  struct Tap {
    int i0, i1;
    float w1;
  };
  auto taps = [](int in_size, int out_size) {
    std::vector<Tap> result(out_size);
    const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
    for (int o = 0; o < out_size; ++o) {
      float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
      if (src < 0.0f) src = 0.0f;
      const int i0 = std::min(static_cast<int>(src), in_size - 1);
      result[o] = {i0, std::min(i0 + 1, in_size - 1), src - static_cast<float>(i0)};
    }
    return result;
  };
  const std::vector<Tap> ys = taps(image.height, height);
  const std::vector<Tap> xs = taps(image.width, width);

  ImageU8 out;
  out.height = height;
  out.width = width;
  out.channels = image.channels;
  out.pixels.resize(expected_bytes(out));
  const int c_count = image.channels;
  const size_t in_row = static_cast<size_t>(image.width) * c_count;
  for (int y = 0; y < height; ++y) {
    const Tap& ty = ys[y];
    const uint8_t* row0 = image.pixels.data() + ty.i0 * in_row;
    const uint8_t* row1 = image.pixels.data() + ty.i1 * in_row;
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * width * c_count;
    for (int x = 0; x < width; ++x) {
      const Tap& tx = xs[x];
      for (int c = 0; c < c_count; ++c) {
        const float top =
            (1.0f - tx.w1) * row0[tx.i0 * c_count + c] + tx.w1 * row0[tx.i1 * c_count + c];
        const float bottom =
            (1.0f - tx.w1) * row1[tx.i0 * c_count + c] + tx.w1 * row1[tx.i1 * c_count + c];
        // Round to nearest; torch's fixed-point uint8 kernel can differ from this by one level.
        const float value = (1.0f - ty.w1) * top + ty.w1 * bottom + 0.5f;
        dst[x * c_count + c] = static_cast<uint8_t>(std::clamp(value, 0.0f, 255.0f));
      }
    }
  }
  return out;
}

}  // namespace swavbench
