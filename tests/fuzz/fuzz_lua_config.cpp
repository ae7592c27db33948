// A suite script's way into a RunConfig: Lua source -> sandbox -> Lua tables as JSON ->
// resolve_config (defaults, method, preset, table, --set), with the sandbox's limits small so
// that a looping or growing input ends quickly. bench.eval / bench.table / bench.param reach a
// driver that accepts them, so that the conversion of their arguments is exercised too.
#include "harness/core/config.h"
#include "harness/lua/driver.h"
#include "harness/lua/runtime.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using nlohmann::json;

class ConfigDriver : public swavbench::Driver {
 public:
  json pretrain(const json& table, const std::string& where) override {
    return swavbench::resolve_config(table, json::object(), where).to_json();
  }
  json eval(const json& run, const json& spec, const std::string&) override {
    return json{{"run", run}, {"spec", spec}};
  }
  std::string table(const json& spec, const std::string&) override { return spec.dump(); }
  json param(const std::string&, const json& default_value, const std::string&) override {
    return default_value;
  }
  void log(const std::string&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace swavbench;
  static ConfigDriver driver;
  swavbench::LuaRunOptions options;
  options.instruction_limit = 200'000;
  options.memory_limit_bytes = 32 << 20;
  options.time_limit_seconds = 0;  // the instruction limit bounds it; no watchdog thread per input
  const std::string code(reinterpret_cast<const char*>(data), size);
  fuzz::expect_parse_or_error([&] { run_lua_string(code, "fuzz.lua", driver, options); });
  return 0;
}
