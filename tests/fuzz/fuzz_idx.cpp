// Fashion-MNIST's idx files, plain and gzip-compressed (read_idx_file).
#include "harness/data/dataset.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const std::string plain = fuzz::write_input("images-idx3-ubyte", data, size);
  fuzz::expect_parse_or_error([&] { read_idx_file(plain); });
  const std::string gz = fuzz::write_input("images-idx3-ubyte.gz", data, size);
  fuzz::expect_parse_or_error([&] { read_idx_file(gz); });
  return 0;
}
