// bench.eval's options for a protocol: any JSON value (what the Lua layer hands over) merged into
// every built-in protocol's real schema (evals/protocol_specs.cpp, registered by builtin_specs.cpp)
// with its ranges (merge_protocol_options).
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "harness/eval/protocol_options.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  const nlohmann::json given = nlohmann::json::parse(data, data + size, nullptr,
                                                     /*allow_exceptions=*/false);
  if (given.is_discarded()) return 0;
  if (protocol_specs().empty()) std::abort();  // the specs must be registered
  for (const ProtocolSpec* spec : protocol_specs())
    fuzz::expect_parse_or_error([&] { merge_protocol_options(*spec, given, "fuzz.lua:1"); });
  return 0;
}
