// ImageFolder's decoders: JPEG (libjpeg-turbo) and PNG (libpng), and the resize that follows.
#include <vector>

#include "harness/data/dataset.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const std::vector<uint8_t> bytes(data, data + size);
  for (const bool jpeg : {true, false}) {
    fuzz::expect_parse_or_error([&] {
      const ImageU8 image = jpeg ? decode_jpeg(bytes, "fuzz.jpg") : decode_png(bytes, "fuzz.png");
      if (image.height > 0 && image.width > 0) resize_bilinear(image, 8, 8);
    });
  }
  return 0;
}
