// Dataset readers, codecs and subsets, exercised on real files in a temporary directory.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/data/dataset.h"
#include "harness/data/make_imagefolder.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "swavbench_data_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  std::string dir_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                               uint8_t type = 0x08) {
  std::vector<uint8_t> bytes = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> data(n);
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
  return data;
}

// Runs `fn`, expecting an InputError; returns its message ("" if none was thrown).
template <typename Fn>
std::string input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

ImageU8 gradient(int height, int width) {
  ImageU8 image{height, width, 3, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.pixels.push_back(static_cast<uint8_t>(x * 255 / (width - 1)));
      image.pixels.push_back(static_cast<uint8_t>(y * 255 / (height - 1)));
      image.pixels.push_back(static_cast<uint8_t>((x + y) * 255 / (width + height - 2)));
    }
  }
  return image;
}

TEST_F(DataTest, IdxPlainAndGzipRoundTrip) {
  const std::vector<uint8_t> data = ramp(3 * 4 * 5);
  const std::vector<uint8_t> bytes = idx_bytes({3, 4, 5}, data);
  write_bytes(path("plain-idx3-ubyte"), bytes);
  write_gz(path("packed-idx3-ubyte.gz"), bytes);
  for (const std::string name : {"plain-idx3-ubyte", "packed-idx3-ubyte.gz"}) {
    const IdxArray array = read_idx_file(path(name));
    EXPECT_EQ(array.dims, (std::vector<int>{3, 4, 5})) << name;
    EXPECT_EQ(array.data, data) << name;
  }
  const std::vector<uint8_t> labels = {0, 1, 2, 9};
  write_gz(path("labels-idx1-ubyte.gz"), idx_bytes({4}, labels));
  const IdxArray label_array = read_idx_file(path("labels-idx1-ubyte.gz"));
  EXPECT_EQ(label_array.dims, std::vector<int>{4});
  EXPECT_EQ(label_array.data, labels);
}

TEST_F(DataTest, IdxTruncatedNamesFile) {
  std::vector<uint8_t> bytes = idx_bytes({2, 10}, ramp(20));
  bytes.resize(bytes.size() - 10);
  for (const bool gz : {false, true}) {
    const std::string file = path(gz ? "cut.gz" : "cut");
    if (gz) {
      write_gz(file, bytes);
    } else {
      write_bytes(file, bytes);
    }
    const std::string message = input_error([&] { read_idx_file(file); });
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    EXPECT_NE(message.find("expected 20 bytes of data, got 10"), std::string::npos) << message;
  }
}

TEST_F(DataTest, IdxTrailingBytesRejected) {
  std::vector<uint8_t> bytes = idx_bytes({2, 3}, ramp(6));
  bytes.push_back(1);
  write_bytes(path("long"), bytes);
  const std::string message = input_error([&] { read_idx_file(path("long")); });
  EXPECT_NE(message.find(path("long")), std::string::npos) << message;
  EXPECT_NE(message.find("trailing"), std::string::npos) << message;
}

TEST_F(DataTest, IdxBadMagicAndTypeNameFile) {
  std::vector<uint8_t> bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x12;
  write_bytes(path("magic"), bytes);
  std::string message = input_error([&] { read_idx_file(path("magic")); });
  EXPECT_NE(message.find(path("magic")), std::string::npos) << message;
  EXPECT_NE(message.find("magic"), std::string::npos) << message;

  write_bytes(path("float"), idx_bytes({2}, {1, 2}, 0x0D));
  message = input_error([&] { read_idx_file(path("float")); });
  EXPECT_NE(message.find(path("float")), std::string::npos) << message;
  EXPECT_NE(message.find("0x0d"), std::string::npos) << message;

  std::vector<uint8_t> rank = idx_bytes({2}, {1, 2});
  rank[3] = 7;
  write_bytes(path("rank"), rank);
  message = input_error([&] { read_idx_file(path("rank")); });
  EXPECT_NE(message.find("rank 7"), std::string::npos) << message;
}

TEST_F(DataTest, IdxMissingFileAndCorruptGzip) {
  std::string message = input_error([&] { read_idx_file(path("absent.gz")); });
  EXPECT_NE(message.find(path("absent.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("not found"), std::string::npos) << message;

  // A valid gzip header followed by garbage deflate data.
  std::vector<uint8_t> bytes = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  for (int i = 0; i < 64; ++i) bytes.push_back(static_cast<uint8_t>(0xff - i));
  write_bytes(path("corrupt.gz"), bytes);
  message = input_error([&] { read_idx_file(path("corrupt.gz")); });
  EXPECT_NE(message.find(path("corrupt.gz")), std::string::npos) << message;
  EXPECT_NE(message.find("gzip"), std::string::npos) << message;
}

TEST_F(DataTest, FashionMnistFromTinyFiles) {
  const std::vector<uint8_t> pixels = ramp(2 * 28 * 28);
  write_gz(path("t10k-images-idx3-ubyte.gz"), idx_bytes({2, 28, 28}, pixels));
  write_bytes(path("t10k-labels-idx1-ubyte"), idx_bytes({2}, {3, 7}));
  const auto test = load_fashion_mnist(dir_, "test");
  EXPECT_EQ(test->name(), "fashion-mnist/test");
  ASSERT_EQ(test->size(), 2);
  EXPECT_EQ(test->label(1), 7);
  EXPECT_EQ(test->pixels(1)[5], pixels[28 * 28 + 5]);
  EXPECT_EQ(test->image(1).pixels[5], pixels[28 * 28 + 5]);

  write_bytes(path("t10k-labels-idx1-ubyte"), idx_bytes({2}, {3, 10}));
  std::string message = input_error([&] { load_fashion_mnist(dir_, "test"); });
  EXPECT_NE(message.find(path("t10k-labels-idx1-ubyte")), std::string::npos) << message;
  EXPECT_NE(message.find("index 1"), std::string::npos) << message;

  write_bytes(path("t10k-labels-idx1-ubyte"), idx_bytes({3}, {3, 1, 2}));
  message = input_error([&] { load_fashion_mnist(dir_, "test"); });
  EXPECT_NE(message.find("3 labels"), std::string::npos) << message;

  message = input_error([&] { load_fashion_mnist(dir_, "validation"); });
  EXPECT_NE(message.find("train, test"), std::string::npos) << message;
}

TEST(FashionMnist, RealDebianDataset) {
  if (!fs::exists(kFashionMnistDir)) GTEST_SKIP() << kFashionMnistDir << " not installed";
  const auto train = load_fashion_mnist("", "train");
  const auto test = load_fashion_mnist(kFashionMnistDir, "test");
  EXPECT_EQ(train->name(), "fashion-mnist/train");
  ASSERT_EQ(train->size(), 60000);
  ASSERT_EQ(test->size(), 10000);
  const ImageU8 shape = train->fixed_shape();
  EXPECT_EQ(shape.height, 28);
  EXPECT_EQ(shape.width, 28);
  EXPECT_EQ(shape.channels, 1);
  EXPECT_EQ(train->num_classes(), 10);
  std::vector<int> counts(10);
  for (int64_t label : train->labels()) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++counts[label];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c], 6000) << "class " << c;
  for (int64_t label : test->labels()) ASSERT_TRUE(label >= 0 && label < 10);
}

TEST(BalancedSubset, EqualPerClassDeterministicSorted) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 5000; ++i) labels.push_back((i * 7 + i / 13) % 10);
  const std::vector<int64_t> a = balanced_subset(labels, 10, 512, 42);
  ASSERT_EQ(a.size(), 512u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end()) << "duplicate index";
  std::vector<int> counts(10);
  for (int64_t i : a) ++counts[labels[i]];
  for (int c = 0; c < 10; ++c) {
    EXPECT_TRUE(counts[c] == 51 || counts[c] == 52) << "class " << c << ": " << counts[c];
  }
  // The remainder of 2 goes to the lowest class ids.
  EXPECT_EQ(counts[0], 52);
  EXPECT_EQ(counts[1], 52);
  EXPECT_EQ(balanced_subset(labels, 10, 512, 42), a);
  EXPECT_NE(balanced_subset(labels, 10, 512, 43), a);
}

TEST(BalancedSubset, ShortClassAndEdgeCounts) {
  // Class 0 has only 3 items; the shortfall is spread over the other classes.
  std::vector<int64_t> labels = {0, 0, 0};
  for (int i = 0; i < 300; ++i) labels.push_back(1 + i % 3);
  const std::vector<int64_t> subset = balanced_subset(labels, 4, 40, 7);
  ASSERT_EQ(subset.size(), 40u);
  std::map<int64_t, int> counts;
  for (int64_t i : subset) ++counts[labels[i]];
  EXPECT_EQ(counts[0], 3);
  EXPECT_EQ(counts[1] + counts[2] + counts[3], 37);
  for (int c = 1; c <= 3; ++c) EXPECT_TRUE(counts[c] == 12 || counts[c] == 13) << counts[c];

  EXPECT_EQ(balanced_subset(labels, 4, 0, 7).size(), labels.size());
  EXPECT_EQ(balanced_subset(labels, 4, 10000, 7).size(), labels.size());
  EXPECT_EQ(balanced_subset(labels, 4, -1, 7).front(), 0);
}

TEST(InMemory, PixelsAndSubset) {
  std::vector<uint8_t> pixels = ramp(3 * 2 * 2 * 1);
  auto data =
      std::make_shared<InMemoryDataset>("toy", 2, 2, 1, 2, pixels, std::vector<int64_t>{0, 1, 1});
  EXPECT_EQ(data->pixels(2), data->pixels(0) + 8);
  EXPECT_EQ(data->image(1).pixels, std::vector<uint8_t>(pixels.begin() + 4, pixels.begin() + 8));
  SubsetDataset subset(data, {2, 0});
  EXPECT_EQ(subset.size(), 2);
  EXPECT_EQ(subset.label(0), 1);
  EXPECT_EQ(subset.pixels(1), data->pixels(0));
  EXPECT_EQ(subset.name(), "toy[subset]");
  EXPECT_THROW(InMemoryDataset("bad", 2, 2, 1, 2, ramp(5), {0}), Error);
}

TEST_F(DataTest, PngRoundTripExact) {
  const ImageU8 image = gradient(20, 33);
  write_png(path("g.png"), image);
  const ImageU8 back = decode_image_file(path("g.png"));
  EXPECT_EQ(back.height, 20);
  EXPECT_EQ(back.width, 33);
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, image.pixels);

  ImageU8 gray{5, 7, 1, ramp(35)};
  write_png(path("gray.png"), gray);
  EXPECT_EQ(decode_image_file(path("gray.png")).pixels, gray.pixels);
}

TEST_F(DataTest, JpegRoundTripClose) {
  const ImageU8 image = gradient(40, 48);
  write_jpeg(path("g.jpg"), image, 95);
  const ImageU8 back = decode_image_file(path("g.jpg"));
  ASSERT_EQ(back.height, 40);
  ASSERT_EQ(back.width, 48);
  ASSERT_EQ(back.channels, 3);
  double error = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    error += std::abs(int{back.pixels[i]} - int{image.pixels[i]});
  }
  EXPECT_LT(error / image.pixels.size(), 3.0);
}

TEST_F(DataTest, CorruptImagesNameFile) {
  write_jpeg(path("good.jpg"), gradient(64, 64), 90);
  std::vector<uint8_t> bytes = read_bytes(path("good.jpg"));
  bytes.resize(bytes.size() / 2);
  write_bytes(path("half.jpg"), bytes);
  std::string message = input_error([&] { decode_image_file(path("half.jpg")); });
  EXPECT_NE(message.find(path("half.jpg")), std::string::npos) << message;
  EXPECT_NE(message.find("cannot decode JPEG"), std::string::npos) << message;

  write_bytes(path("garbage.jpg"), {0xFF, 0xD8, 0xFF, 0x00, 0x12, 0x34, 0x56});
  message = input_error([&] { decode_image_file(path("garbage.jpg")); });
  EXPECT_NE(message.find(path("garbage.jpg")), std::string::npos) << message;
  EXPECT_NE(message.find("cannot decode JPEG"), std::string::npos) << message;

  write_png(path("good.png"), gradient(64, 64));
  bytes = read_bytes(path("good.png"));
  bytes.resize(bytes.size() / 2);
  write_bytes(path("half.png"), bytes);
  message = input_error([&] { decode_image_file(path("half.png")); });
  EXPECT_NE(message.find(path("half.png")), std::string::npos) << message;
  EXPECT_NE(message.find("cannot decode PNG"), std::string::npos) << message;

  write_bytes(path("text.png"), {'h', 'e', 'l', 'l', 'o'});
  message = input_error([&] { decode_image_file(path("text.png")); });
  EXPECT_NE(message.find(path("text.png")), std::string::npos) << message;
  EXPECT_NE(message.find("not a JPEG or PNG"), std::string::npos) << message;
}

TEST_F(DataTest, ImageFolder) {
  fs::create_directories(path("root/zebra"));
  fs::create_directories(path("root/ant"));
  fs::create_directories(path("root/.hidden"));
  write_png(path("root/ant/a1.png"), gradient(20, 30));
  write_jpeg(path("root/ant/a2.JPG"), gradient(40, 24));
  write_png(path("root/ant/a3.png"), ImageU8{16, 16, 1, ramp(256)});
  write_jpeg(path("root/zebra/z1.jpeg"), gradient(17, 17));
  write_png(path("root/zebra/z2.png"), gradient(50, 18));
  write_jpeg(path("root/zebra/z3.jpg"), ImageU8{30, 20, 1, ramp(600)});
  write_bytes(path("root/zebra/notes.txt"), {'x'});

  ImageFolderDataset data(path("root"), 16);
  ASSERT_EQ(data.size(), 6);
  EXPECT_EQ(data.num_classes(), 2);
  EXPECT_EQ(data.classes(), (std::vector<std::string>{"ant", "zebra"}));
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_EQ(data.label(i), i < 3 ? 0 : 1);
    const ImageU8 image = data.image(i);
    EXPECT_EQ(image.height, 16);
    EXPECT_EQ(image.width, 16);
    EXPECT_EQ(image.channels, 3);
    EXPECT_EQ(image.pixels.size(), 16u * 16 * 3);
  }
  // The grayscale 16x16 PNG needs no resize: each channel repeats the grey value.
  const ImageU8 gray = data.image(2);
  EXPECT_EQ(gray.pixels[3 * 5 + 0], 5 * 7 + 3);
  EXPECT_EQ(gray.pixels[3 * 5 + 2], 5 * 7 + 3);
  EXPECT_EQ(data.fixed_shape().height, 16);
  EXPECT_EQ(data.fixed_shape().channels, 3);

  ImageFolderDataset native(path("root"), 0);
  EXPECT_EQ(native.image(0).width, 30);
  EXPECT_EQ(native.fixed_shape().height, 0);

  fs::create_directories(path("empty"));
  std::string message = input_error([&] { ImageFolderDataset(path("empty"), 16); });
  EXPECT_NE(message.find(path("empty")), std::string::npos) << message;
  fs::create_directories(path("noimages/cls"));
  message = input_error([&] { ImageFolderDataset(path("noimages"), 16); });
  EXPECT_NE(message.find(path("noimages")), std::string::npos) << message;
}

TEST_F(DataTest, Cifar10Binary) {
  std::vector<uint8_t> bytes;
  for (uint8_t label : {uint8_t{3}, uint8_t{8}}) {
    bytes.push_back(label);
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 1024; ++p) bytes.push_back(static_cast<uint8_t>(label * 10 + c + p % 7));
    }
  }
  write_bytes(path("test_batch.bin"), bytes);
  const auto test = load_cifar10(dir_, "test");
  ASSERT_EQ(test->size(), 2);
  EXPECT_EQ(test->label(0), 3);
  EXPECT_EQ(test->label(1), 8);
  // Record 1, pixel (y=2, x=5), green: plane offset 2 * 32 + 5 = 69, 69 % 7 = 6.
  EXPECT_EQ(test->image(1).pixels[(2 * 32 + 5) * 3 + 1], 8 * 10 + 1 + 6);
  EXPECT_EQ(test->fixed_shape().channels, 3);

  bytes.pop_back();
  write_bytes(path("test_batch.bin"), bytes);
  const std::string message = input_error([&] { load_cifar10(dir_, "test"); });
  EXPECT_NE(message.find(path("test_batch.bin")), std::string::npos) << message;
  EXPECT_NE(message.find("3073"), std::string::npos) << message;
}

TEST(Resize, BilinearHalfPixelDownscale) {
  // v(y, x) = 10 y + 20 x; a 2x downscale averages each 2x2 block.
  ImageU8 image{4, 4, 1, {}};
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) image.pixels.push_back(static_cast<uint8_t>(10 * y + 20 * x));
  }
  const ImageU8 small = resize_bilinear(image, 2, 2);
  EXPECT_EQ(small.pixels, (std::vector<uint8_t>{15, 55, 35, 75}));

  // Upscaling 1x2 -> 1x4 with half-pixel centres: taps at -0.25 (clamped), 0.25, 0.75, 1.25.
  ImageU8 row{1, 2, 1, {0, 100}};
  EXPECT_EQ(resize_bilinear(row, 1, 4).pixels, (std::vector<uint8_t>{0, 25, 75, 100}));
}

}  // namespace
}  // namespace swavbench

namespace swavbench {
namespace {

// `data make-imagefolder`: the tree reads back through the ImageFolder reader with the right
// classes, counts and sizes; each image is the Fashion-MNIST item it claims to be (its garment
// differs from the background); the same seed gives the same bytes; bad options are refused.
TEST_F(DataTest, MakeImageFolderReadsBackThroughTheImageFolderReader) {
  MakeImageFolderOptions options;
  options.out = path("folder");
  options.classes = 3;
  options.train_per_class = 5;
  options.val_per_class = 2;
  options.size = 48;
  options.seed = 3;
  const MakeImageFolderResult result = make_imagefolder(options);
  EXPECT_EQ(result.train_images, 15);
  EXPECT_EQ(result.val_images, 6);
  EXPECT_GT(result.bytes, 0);

  ImageFolderDataset train(path("folder/train"), 0);
  ASSERT_EQ(train.size(), 15);
  EXPECT_EQ(train.classes(), (std::vector<std::string>{"pullover", "t_shirt", "trouser"}));
  for (int64_t i = 0; i < train.size(); ++i) EXPECT_EQ(train.label(i), i / 5);
  const ImageU8 image = train.image(0);
  EXPECT_EQ(image.height, 48);
  EXPECT_EQ(image.width, 48);
  EXPECT_EQ(image.channels, 3);
  // Not a flat canvas: the pixel values spread over a wide range (garment over background).
  const auto [lo, hi] = std::minmax_element(image.pixels.begin(), image.pixels.end());
  EXPECT_GT(*hi - *lo, 60);
  EXPECT_EQ(ImageFolderDataset(path("folder/val"), 0).size(), 6);

  options.out = path("again");
  make_imagefolder(options);
  const auto bytes = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const auto& entry : fs::recursive_directory_iterator(path("folder"))) {
    if (!entry.is_regular_file()) continue;
    const fs::path twin = fs::path(path("again")) / fs::relative(entry.path(), path("folder"));
    EXPECT_EQ(bytes(entry.path()), bytes(twin)) << twin;
  }

  MakeImageFolderOptions bad = options;
  bad.classes = 0;
  EXPECT_NE(input_error([&] { make_imagefolder(bad); }).find("--classes must be in [1, 10]"),
            std::string::npos);
  bad = options;
  bad.train_per_class = 6001;
  EXPECT_NE(input_error([&] { make_imagefolder(bad); }).find("--train-per-class"),
            std::string::npos);
  bad = options;
  bad.fashion_dir = path("nowhere");
  EXPECT_NE(input_error([&] { make_imagefolder(bad); }).find("nowhere"), std::string::npos);
}

}  // namespace
}  // namespace swavbench
