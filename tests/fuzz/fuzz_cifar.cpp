// CIFAR-10's binary batches (load_cifar10: test_batch.bin, 3073-byte records).
#include <filesystem>

#include "harness/data/dataset.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch_dir() + "/cifar";
    std::filesystem::create_directories(d);
    return d;
  }();
  fuzz::write_input("cifar/test_batch.bin", data, size);
  fuzz::expect_parse_or_error([&] {
    auto set = load_cifar10(dir, "test");
    for (int64_t i = 0; i < set->size(); ++i) set->image(i), set->label(i);
  });
  return 0;
}
