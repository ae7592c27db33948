// VOC annotation XML (read_voc_annotation, with and without a class list).
#include "harness/data/voc.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const std::string path = fuzz::write_input("000001.xml", data, size);
  fuzz::expect_parse_or_error([&] { read_voc_annotation(path); });
  fuzz::expect_parse_or_error([&] { read_voc_annotation(path, voc07_classes()); });
  return 0;
}
