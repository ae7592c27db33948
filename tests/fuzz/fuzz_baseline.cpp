// The regression gate's results/baseline.json (parse_baseline).
#include "harness/report/regress.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_parse_or_error([&] { parse_baseline(text, "baseline.json"); });
  return 0;
}
