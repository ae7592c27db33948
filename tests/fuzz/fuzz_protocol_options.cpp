// bench.eval's options for a protocol: any JSON value (what the Lua layer hands over) merged into
// a schema of every option kind the protocols use (integer, number, string, bool, list of
// integers, list of numbers) with their ranges (merge_protocol_options).
#include <nlohmann/json.hpp>

#include "harness/train/protocol_options.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  static const nlohmann::json defaults = {
      {"k", {20, 200}},    {"temperature", 0.07}, {"train_subset", 0},
      {"epochs", 100},     {"costs", {0.5}},      {"split", "test"},
      {"normalize", true}, {"fraction", 0.01},    {"crop", 0}};
  static const std::map<std::string, OptionRange> ranges = {
      {"k", {1}},      {"temperature", {0, false}}, {"train_subset", {0}},
      {"epochs", {1}}, {"costs", {0, false}},       {"fraction", {0, false, 1}},
      {"crop", {0}}};
  const nlohmann::json given = nlohmann::json::parse(data, data + size, nullptr,
                                                     /*allow_exceptions=*/false);
  if (given.is_discarded()) return 0;
  fuzz::expect_parse_or_error(
      [&] { merge_protocol_options("knn", defaults, ranges, given, "fuzz.lua:1"); });
  return 0;
}
