// The embedded Lua runtime: sandbox, error reporting, instruction guard, and the bench module's
// value conversion, exercised through real script files and a recording Driver.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness/core/check.h"
#include "harness/lua/driver.h"
#include "harness/lua/runtime.h"

namespace swavbench {
namespace {

using nlohmann::json;

// Records every call and answers with canned values; a test changes an answer (or makes it
// throw) by replacing one of the on_* functions.
class RecordingDriver : public Driver {
 public:
  struct Call {
    std::string method;
    json arguments;
    std::string where;
  };

  std::function<json(const json&)> on_pretrain = [](const json&) {
    return json{{"id", 1}, {"hash", "h1"}, {"status", "done"}};
  };
  std::function<json(const json&, const json&)> on_eval = [](const json&, const json&) {
    return json{{"knn", {{"top1", 0.5}}}};
  };
  std::function<std::string(const json&)> on_table = [](const json&) {
    return std::string("| a | b |\n");
  };
  std::function<json(const std::string&, const json&)> on_param =
      [](const std::string&, const json& default_value) { return default_value; };

  json pretrain(const json& table, const std::string& where) override {
    calls.push_back({"pretrain", table, where});
    return on_pretrain(table);
  }
  json eval(const json& run, const json& spec, const std::string& where) override {
    calls.push_back({"eval", json{{"run", run}, {"spec", spec}}, where});
    return on_eval(run, spec);
  }
  std::string table(const json& spec, const std::string& where) override {
    calls.push_back({"table", spec, where});
    return on_table(spec);
  }
  json param(const std::string& name, const json& default_value,
             const std::string& where) override {
    calls.push_back({"param", json{{"name", name}, {"default", default_value}}, where});
    return on_param(name, default_value);
  }
  void log(const std::string& line) override { log_lines.push_back(line); }

  std::vector<Call> calls;
  std::vector<std::string> log_lines;
};

class LuaRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Directly under /tmp, not $TMPDIR: Lua shortens chunk names past 60 characters in its
    // own messages, and the tests compare exact "path:LINE:" prefixes.
    char pattern[] = "/tmp/swavbench_lua_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    directory_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  std::string write_script(const std::string& name, const std::string& code) {
    std::string path = directory_ + "/" + name;
    std::ofstream(path) << code;
    return path;
  }

  // Runs the script and returns the InputError's message; any other outcome fails the test.
  std::string input_error_of(const std::string& path, const LuaRunOptions& options = {}) {
    try {
      run_lua_file(path, driver_, options);
    } catch (const InputError& error) {
      return error.what();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "expected InputError, got another exception: " << error.what();
      return "";
    }
    ADD_FAILURE() << "expected InputError, but the script succeeded";
    return "";
  }

  std::string input_error_of_code(const std::string& name, const std::string& code,
                                  const LuaRunOptions& options = {}) {
    return input_error_of(write_script(name, code), options);
  }

  std::string directory_;
  RecordingDriver driver_;
};

// ------------------------------------------------------------------------------------------
// Sandbox

TEST_F(LuaRuntimeTest, UnavailableFunctionsRaiseAClearErrorAtTheCallingLine) {
  struct Case {
    std::string code;
    std::string name;
  };
  const std::vector<Case> cases = {
      {"os.execute(\"ls\")", "os.execute"},
      {"io.open(\"/etc/passwd\")", "io.open"},
      {"io.popen(\"ls\")", "io.popen"},
      {"os.remove(\"/tmp/x\")", "os.remove"},
      {"os.getenv(\"HOME\")", "os.getenv"},
      {"os.exit(1)", "os.exit"},
      {"dofile(\"/etc/passwd\")", "dofile"},
      {"loadfile(\"/etc/passwd\")", "loadfile"},
      {"require(\"socket\")", "require"},
      {"package.loadlib(\"x\", \"y\")", "package.loadlib"},
      {"debug.getinfo(1)", "debug.getinfo"},
      {"local f = io.write", "io.write"},
      {"coroutine.wrap(print)", "coroutine.wrap"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    std::string path = write_script("sandbox.lua", "local x = 1\n" + c.code + "\n");
    std::string message = input_error_of(path);
    EXPECT_NE(message.find(path + ":2: " + c.name +
                           " is not available in the swavbench sandbox (scripts may use bench.*, "
                           "string, table, math, os.clock/time/date)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("stack traceback"), std::string::npos) << message;
  }
}

TEST_F(LuaRuntimeTest, AllowedLibrariesWork) {
  std::string path = write_script("allowed.lua", R"lua(
assert(type(os.clock()) == "number")
assert(math.type(os.time()) == "integer")
assert(#os.date("%Y") == 4)
assert(string.format("%d-%s", 3, "x") == "3-x")
assert(table.concat({1, 2}, ",") == "1,2")
assert(math.floor(2.5) == 2)
assert(utf8.char(72, 105) == "Hi")
assert(load("return 1 + 1")() == 2)
local env_chunk = load("return y", "env", "t", {y = 5})
assert(env_chunk() == 5)
-- Precompiled bytecode is refused even when the script asks for binary mode.
local chunk, err = load(string.dump(function() return 1 end), "bytes", "b")
assert(chunk == nil and err:find("binary"), tostring(err))
assert(getmetatable(os) == "swavbench sandbox")
assert(type(collectgarbage("count")) == "number")
print("hello from lua")
)lua");
  testing::internal::CaptureStdout();
  run_lua_file(path, driver_);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "hello from lua\n");
}

// ------------------------------------------------------------------------------------------
// Errors

TEST_F(LuaRuntimeTest, MissingScriptIsAnInputError) {
  std::string missing = directory_ + "/does_not_exist.lua";
  EXPECT_EQ(input_error_of(missing), "cannot open script " + missing);
  EXPECT_NE(input_error_of(directory_).find("is a directory"), std::string::npos);
}

TEST_F(LuaRuntimeTest, SyntaxErrorNamesFileAndLine) {
  std::string path = write_script("syntax.lua", "local a = 1\nlocal b = 2\nlocal c = = 3\n");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":3:"), std::string::npos) << message;
  EXPECT_NE(message.find("near '='"), std::string::npos) << message;
}

TEST_F(LuaRuntimeTest, RuntimeErrorNamesFileLineAndHasTraceback) {
  std::string path = write_script("runtime.lua", R"lua(local function inner()
  local t = nil
  return t.field
end
inner()
)lua");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":3: attempt to index a nil value"), std::string::npos) << message;
  EXPECT_NE(message.find("stack traceback"), std::string::npos) << message;
  EXPECT_NE(message.find(path + ":5: in main chunk"), std::string::npos) << message;
}

TEST_F(LuaRuntimeTest, NonStringErrorObjectIsDescribed) {
  std::string message = input_error_of_code("table_error.lua", "error({code = 1})\n");
  EXPECT_NE(message.find("(error object is a table value)"), std::string::npos) << message;
}

TEST_F(LuaRuntimeTest, ShebangLineIsSkippedAndLinesStillMatch) {
  std::string path =
      write_script("shebang.lua", "#!/usr/bin/env swavbench\nlocal x = nil\nx.y = 1\n");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":3:"), std::string::npos) << message;
}

TEST_F(LuaRuntimeTest, StringChunkUsesItsNameInMessages) {
  try {
    run_lua_string("local x = nil\nx.y = 1\n", "inline-test", driver_);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("inline-test:2:"), std::string::npos) << error.what();
  }
}

TEST_F(LuaRuntimeTest, DriverInputErrorIsRaisedAtTheCallingLine) {
  driver_.on_pretrain = [](const json&) -> json {
    throw InputError("unknown key 'epoch' (did you mean 'epochs'?)");
  };
  std::string path = write_script("input_error.lua", R"lua(-- A typo in a config key.
local base = {method = "swav"}
local function train(config)
  return bench.pretrain(config)
end
train{epoch = 3}
)lua");
  // The call on line 4 is the one the driver sees; the traceback also shows line 6.
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":4: unknown key 'epoch' (did you mean 'epochs'?)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(path + ":6: in main chunk"), std::string::npos) << message;
  ASSERT_EQ(driver_.calls.size(), 1u);
  EXPECT_EQ(driver_.calls[0].where, path + ":4");
}

TEST_F(LuaRuntimeTest, DriverInputErrorOnLineFive) {
  driver_.on_pretrain = [](const json&) -> json {
    throw InputError("unknown key 'epoch' (did you mean 'epochs'?)");
  };
  std::string path =
      write_script("line_five.lua", "-- 1\n-- 2\n-- 3\n-- 4\nbench.pretrain{epoch = 3}\n");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":5: unknown key 'epoch' (did you mean 'epochs'?)"),
            std::string::npos)
      << message;
}

TEST_F(LuaRuntimeTest, LocationIsNotDoubledWhenTheDriverAlreadyNamesIt) {
  std::string path = write_script("located.lua", "\nbench.pretrain{}\n");
  driver_.on_pretrain = [path](const json&) -> json {
    throw InputError(path + ":2: 'label' must be a string");
  };
  std::string message = input_error_of(path);
  EXPECT_EQ(message.rfind(path + ":2: 'label' must be a string\nstack traceback", 0), 0u)
      << message;
}

TEST_F(LuaRuntimeTest, DriverRunFailurePropagatesAsErrorNotInputError) {
  driver_.on_pretrain = [](const json&) -> json {
    throw Error("run 3 failed: loss is NaN at epoch 2");
  };
  std::string path = write_script("run_failure.lua", R"lua(bench.pretrain{method = "swav"}
bench.log("not reached")
)lua");
  try {
    run_lua_file(path, driver_);
    FAIL() << "expected swavbench::Error";
  } catch (const InputError& error) {
    FAIL() << "a failed run became an InputError: " << error.what();
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "run 3 failed: loss is NaN at epoch 2");
  }
  EXPECT_TRUE(driver_.log_lines.empty());
}

TEST_F(LuaRuntimeTest, ForeignDriverExceptionBecomesErrorWithLocation) {
  driver_.on_pretrain = [](const json&) -> json { throw std::runtime_error("CUDA out of memory"); };
  std::string path = write_script("foreign.lua", "\nbench.pretrain{}\n");
  try {
    run_lua_file(path, driver_);
    FAIL() << "expected swavbench::Error";
  } catch (const InputError& error) {
    FAIL() << "a failed run became an InputError: " << error.what();
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), path + ":2: CUDA out of memory");
  }
}

TEST_F(LuaRuntimeTest, RunFailureCaughtByPcallLetsTheScriptContinue) {
  driver_.on_pretrain = [](const json&) -> json { throw Error("loss is NaN"); };
  std::string path = write_script("caught.lua", R"lua(local ok, err = pcall(bench.pretrain, {})
assert(not ok and err:find("loss is NaN", 1, true), tostring(err))
bench.log("recovered")
)lua");
  EXPECT_NO_THROW(run_lua_file(path, driver_));
  EXPECT_EQ(driver_.log_lines, std::vector<std::string>{"recovered"});
  // pcall is a C frame; the location still names the script line.
  ASSERT_EQ(driver_.calls.size(), 1u);
  EXPECT_EQ(driver_.calls[0].where, path + ":1");
}

TEST_F(LuaRuntimeTest, RunFailureRethrownByTheScriptKeepsItsType) {
  driver_.on_pretrain = [](const json&) -> json { throw Error("loss is NaN"); };
  for (const std::string rethrow : {"error(err, 0)", "error(err)", "error('giving up: ' .. err)"}) {
    SCOPED_TRACE(rethrow);
    std::string path = write_script("rethrown.lua",
                                    "local ok, err = pcall(bench.pretrain, {})\n" + rethrow + "\n");
    EXPECT_THROW(
        {
          try {
            run_lua_file(path, driver_);
          } catch (const InputError&) {
            FAIL() << "became an InputError";
          }
        },
        Error);
  }
}

TEST_F(LuaRuntimeTest, UnrelatedErrorAfterACaughtRunFailureIsAnInputError) {
  driver_.on_pretrain = [](const json&) -> json { throw Error("loss is NaN"); };
  std::string message = input_error_of_code("unrelated.lua", R"lua(pcall(bench.pretrain, {})
local t = nil
t.x = 1
)lua");
  EXPECT_NE(message.find(":3: attempt to index a nil value"), std::string::npos) << message;
}

// ------------------------------------------------------------------------------------------
// Instruction guard

TEST_F(LuaRuntimeTest, EndlessLoopHitsTheInstructionLimit) {
  LuaRunOptions options;
  options.instruction_limit = 100'000;
  std::string path = write_script("loop.lua", "local n = 0\nwhile true do n = n + 1 end\n");
  std::string message = input_error_of(path, options);
  EXPECT_NE(message.find(path + ":2: instruction limit of 100000 exceeded (an endless loop?)"),
            std::string::npos)
      << message;
}

TEST_F(LuaRuntimeTest, InstructionLimitCannotBeCaughtWithPcall) {
  LuaRunOptions options;
  options.instruction_limit = 50'000;
  std::string message = input_error_of_code(
      "evade.lua", "while true do pcall(function() while true do end end) end\n", options);
  EXPECT_NE(message.find("instruction limit of 50000 exceeded"), std::string::npos) << message;
}

TEST_F(LuaRuntimeTest, ScriptWithinTheLimitRuns) {
  LuaRunOptions options;
  options.instruction_limit = 1'000'000;
  std::string path = write_script("short.lua",
                                  "local s = 0\nfor i = 1, 1000 do s = s + i end\n"
                                  "assert(s == 500500)\n");
  EXPECT_NO_THROW(run_lua_file(path, driver_, options));
}

// Memory: a script that grows past the limit stops at the growing line, and pcall cannot
// catch it (issue 16, class 3).
TEST_F(LuaRuntimeTest, MemoryLimitStopsTheGrowingLine) {
  LuaRunOptions options;
  options.memory_limit_bytes = 16 << 20;
  std::string path = write_script("grow.lua",
                                  "local t = {}\nfor i = 1, 1e8 do t[i] = string.rep('x', 1000) .. "
                                  "i end\nbench.log('never')\n");
  std::string message = input_error_of(path, options);
  EXPECT_NE(message.find(path + ":2: memory limit of 16 MiB exceeded (the script holds 16 MiB)"),
            std::string::npos)
      << message;
  EXPECT_TRUE(driver_.log_lines.empty());

  message = input_error_of_code(
      "evade_memory.lua",
      "local ok = pcall(function() local t = {} for i = 1, 1e8 do t[i] = {i} end end)\n"
      "bench.log('caught it', ok)\n",
      options);
  EXPECT_NE(message.find("memory limit of 16 MiB exceeded"), std::string::npos) << message;
  EXPECT_TRUE(driver_.log_lines.empty());
}

// One allocation far beyond the limit is refused by the allocator; Lua reports that without a
// location, so the line hook's last line names it.
TEST_F(LuaRuntimeTest, MemoryLimitRefusesOneHugeAllocationAndNamesItsLine) {
  LuaRunOptions options;
  options.memory_limit_bytes = 16 << 20;
  std::string path =
      write_script("huge.lua", "local n = 2^30\nlocal s = string.rep('x', n)\nbench.log(#s)\n");
  std::string message = input_error_of(path, options);
  EXPECT_NE(message.find(path + ":2: memory limit of 16 MiB exceeded: an allocation of 1024 MiB "
                                "was refused"),
            std::string::npos)
      << message;
}

TEST_F(LuaRuntimeTest, TimeLimitStopsALoopButNotTheTimeInsideBenchFunctions) {
  LuaRunOptions options;
  options.time_limit_seconds = 0.3;
  std::string path = write_script("spin.lua", "local n = 0\nwhile true do n = n + 1 end\n");
  std::string message = input_error_of(path, options);
  EXPECT_NE(message.find(path + ":2: time limit of 0.3 s for Lua code exceeded"), std::string::npos)
      << message;
  // Training takes hours inside bench.pretrain: that is not the script's time.
  driver_.on_pretrain = [](const json&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return json{{"id", 1}, {"hash", "h1"}, {"status", "done"}};
  };
  path = write_script("slow_driver.lua",
                      "bench.pretrain{}\nbench.pretrain{}\nbench.log('finished')\n");
  EXPECT_NO_THROW(run_lua_file(path, driver_, options));
  EXPECT_EQ(driver_.log_lines, std::vector<std::string>{"finished"});
}

// Lua runs finalizers with hooks off: one that loops would escape every limit, so the sandbox
// has none. Other metatables work as before.
TEST_F(LuaRuntimeTest, FinalizersAreRefusedAndOtherMetatablesWork) {
  std::string path =
      write_script("gc.lua",
                   "local ok = setmetatable({}, {__index = function() return 7 end})\n"
                   "bench.log(ok.anything)\n"
                   "setmetatable({}, {__gc = function() while true do end end})\n");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":3: __gc finalizers are not available in the swavbench sandbox"),
            std::string::npos)
      << message;
  EXPECT_EQ(driver_.log_lines, std::vector<std::string>{"7"});
}

// Every refusal names the script's line, also those the base library raises from inside the
// sandbox's wrappers (before, "cannot change a protected metatable" named nothing).
TEST_F(LuaRuntimeTest, ABaseLibraryErrorInsideASandboxWrapperNamesTheScriptsLine) {
  std::string path = write_script("protected.lua",
                                  "local t = setmetatable({}, { __metatable = 'locked' })\n"
                                  "bench.log(getmetatable(t))\n"
                                  "setmetatable(t, {})\n");
  std::string message = input_error_of(path);
  EXPECT_NE(message.find(path + ":3: cannot change a protected metatable"), std::string::npos)
      << message;
  EXPECT_EQ(driver_.log_lines, std::vector<std::string>{"locked"});
  path = write_script("os.lua", "\nsetmetatable(os, nil)\n");
  message = input_error_of(path);
  EXPECT_NE(message.find(path + ":2: cannot change a protected metatable"), std::string::npos)
      << message;
  // A pcall in the script still catches it, with the line.
  path = write_script("caught.lua",
                      "local ok, err = pcall(setmetatable, os, {})\n"
                      "bench.log(tostring(ok) .. ' ' .. err)\n");
  EXPECT_NO_THROW(run_lua_file(path, driver_));
  EXPECT_EQ(driver_.log_lines.back(), "false cannot change a protected metatable");
}

// A C call that never returns to Lua (exponential backtracking in string.find) cannot be
// stopped by a hook: the watchdog ends the process with exit 2 and the line.
TEST_F(LuaRuntimeTest, WatchdogStopsAPatternThatNeverReturns) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  LuaRunOptions options;
  options.time_limit_seconds = 0.5;
  std::string path = write_script(
      "pattern.lua",
      "local s = string.rep('a', 40)\n"
      "local found = string.find(s, string.rep('a?', 40) .. string.rep('a', 40) .. 'b')\n");
  EXPECT_EXIT(run_lua_file(path, driver_, options), ::testing::ExitedWithCode(2),
              "pattern.lua:2: the Lua time limit of 0.5 s was exceeded inside a call that does "
              "not return to Lua");
}

// ------------------------------------------------------------------------------------------
// Value conversion

TEST_F(LuaRuntimeTest, PretrainTableReachesTheDriverAsTypedJson) {
  driver_.on_pretrain = [](const json&) {
    return json{{"id", 7},         {"hash", "abc"}, {"config", {{"epochs", 3}}},
                {"gone", nullptr}, {"scale", 0.25}, {"list", {"a", "b", "c"}},
                {"cached", false}};
  };
  std::string path = write_script("convert.lua", R"lua(
local run = bench.pretrain{method = "swav",
                           crops = {{count = 2, size = 28, min_scale = 0.3, max_scale = 1.0}},
                           epochs = 3, lr = 0.5, flag = true}
if run.id ~= 7 or math.type(run.id) ~= "integer" then error("id " .. tostring(run.id)) end
if run.hash ~= "abc" then error("hash") end
if run.config.epochs ~= 3 or math.type(run.config.epochs) ~= "integer" then error("config") end
if run.gone ~= nil then error("null should be nil") end
if run.scale ~= 0.25 or math.type(run.scale) ~= "float" then error("scale") end
if #run.list ~= 3 or run.list[2] ~= "b" then error("list") end
if run.cached ~= false then error("cached") end
)lua");
  run_lua_file(path, driver_);

  ASSERT_EQ(driver_.calls.size(), 1u);
  const json& table = driver_.calls[0].arguments;
  json expected = {
      {"method", "swav"},
      {"crops",
       json::array({{{"count", 2}, {"size", 28}, {"min_scale", 0.3}, {"max_scale", 1.0}}})},
      {"epochs", 3},
      {"lr", 0.5},
      {"flag", true}};
  EXPECT_EQ(table, expected) << table.dump();
  // json's == compares 3 and 3.0 as equal, so the integer/float split is checked directly.
  EXPECT_TRUE(table["epochs"].is_number_integer());
  EXPECT_TRUE(table["lr"].is_number_float());
  EXPECT_TRUE(table["crops"].is_array());
  EXPECT_TRUE(table["crops"][0]["count"].is_number_integer());
  EXPECT_TRUE(table["crops"][0]["max_scale"].is_number_float());
  EXPECT_TRUE(table["flag"].is_boolean());
  EXPECT_EQ(driver_.calls[0].where, path + ":2");
}

TEST_F(LuaRuntimeTest, TableShapesConvertToArraysOrObjects) {
  std::string path = write_script("shapes.lua", R"lua(bench.pretrain{
  empty = {}, mixed = {1, 2, x = 3}, sparse = {[1] = "a", [3] = "c"}, zero = {[0] = "z"},
  nested = {{1, 2}, {3}}, text = "héllo", float_key = {[1.5] = true}, huge = 1 << 62,
}
)lua");
  run_lua_file(path, driver_);
  ASSERT_EQ(driver_.calls.size(), 1u);
  json expected = {{"empty", json::object()},
                   {"mixed", {{"1", 1}, {"2", 2}, {"x", 3}}},
                   {"sparse", {{"1", "a"}, {"3", "c"}}},
                   {"zero", {{"0", "z"}}},
                   {"nested", {{1, 2}, {3}}},
                   {"text", "héllo"},
                   {"float_key", {{"1.5", true}}},
                   {"huge", int64_t{1} << 62}};
  EXPECT_EQ(driver_.calls[0].arguments, expected) << driver_.calls[0].arguments.dump();
}

TEST_F(LuaRuntimeTest, UnconvertibleValuesAreInputErrorsNamingTheKey) {
  struct Case {
    std::string code;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"bench.pretrain{method = 'swav', on_epoch = function() end}",
       "cannot pass a function to bench.pretrain (key 'on_epoch')"},
      {"bench.pretrain{crops = {{count = 2, size = print}}}",
       "cannot pass a function to bench.pretrain (key 'crops[1].size')"},
      {"local t = {}; t.self = t; bench.pretrain(t)", "nested more than 64 levels deep"},
      {"bench.pretrain{lr = 0/0}", "JSON has no infinity or NaN"},
      {"bench.pretrain{[true] = 1}", "cannot use a boolean as a table key in bench.pretrain"},
      {"bench.pretrain{[1] = 'a', ['1'] = 'b', x = 1}",
       "key '1' appears both as a number and as a string"},
      {"bench.pretrain{name = '\\xff'}", "not valid UTF-8 to bench.pretrain (key 'name')"},
      {"bench.param('x', print)", "cannot pass a function to bench.param (argument 2)"},
      {"bench.pretrain('swav')",
       "bad argument #1 to 'bench.pretrain' (table expected, got string)"},
      {"bench.eval({id = 1}, 42)",
       "bad argument #2 to 'bench.eval' (table or string expected, got number)"},
      {"bench.table()", "bad argument #1 to 'bench.table' (table expected, got no value)"},
      {"bench.param(nil, 3)", "bad argument #1 to 'bench.param' (string expected, got nil)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    driver_.calls.clear();
    std::string path = write_script("unconvertible.lua", "\n\n" + c.code + "\n");
    std::string message = input_error_of(path);
    EXPECT_NE(message.find(path + ":3: "), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
    EXPECT_TRUE(driver_.calls.empty());
  }
}

// ------------------------------------------------------------------------------------------
// The rest of the bench module

TEST_F(LuaRuntimeTest, MergeIsDeepAndLeavesInputsAlone) {
  std::string path = write_script("merge.lua", R"lua(
local function same(x, y)
  if type(x) ~= "table" or type(y) ~= "table" then return x == y end
  for k, v in pairs(x) do if not same(v, y[k]) then return false end end
  for k in pairs(y) do if x[k] == nil then return false end end
  return true
end
local a = {a = 1, t = {x = 1, y = 2}, l = {1, 2, 3}}
local b = {b = 2, t = {y = 5}, l = {9}}
local m = bench.merge(a, b)
if not same(m, {a = 1, b = 2, t = {x = 1, y = 5}, l = {9}}) then error("wrong merge") end
if not same(a, {a = 1, t = {x = 1, y = 2}, l = {1, 2, 3}}) then error("a was modified") end
if not same(b, {b = 2, t = {y = 5}, l = {9}}) then error("b was modified") end
m.t.x = 100
m.l[1] = 100
if a.t.x ~= 1 or b.l[1] ~= 9 then error("the result aliases an input") end
-- An empty override table adds nothing; an array replaces a map and vice versa.
if not same(bench.merge({o = {lr = 1}}, {o = {}}), {o = {lr = 1}}) then error("empty") end
if not same(bench.merge({o = {lr = 1}}, {o = {7}}), {o = {7}}) then error("array") end
local cycle = {}
cycle.self = cycle
local ok, err = pcall(bench.merge, {}, cycle)
if ok or not err:find("nested more than 64 levels deep", 1, true) then error(tostring(err)) end
)lua");
  run_lua_file(path, driver_);

  std::string bad = write_script("merge_bad.lua", "local base = {}\nbench.merge(base, nil)\n");
  std::string message = input_error_of(bad);
  EXPECT_NE(message.find(bad + ":2: bad argument #2 to 'bench.merge' (table expected, got nil)"),
            std::string::npos)
      << message;
}

TEST_F(LuaRuntimeTest, ParamLogAndTableReachTheDriver) {
  driver_.on_param = [](const std::string& name, const json& default_value) -> json {
    return name == "epochs" ? json(20) : default_value;
  };
  std::string path = write_script("param_log_table.lua", R"lua(
local epochs = bench.param("epochs", 10)
if epochs ~= 20 or math.type(epochs) ~= "integer" then error(tostring(epochs)) end
if bench.param("nothing") ~= nil then error("missing default should be nil") end
if bench.param("widths", {1, 2}).n ~= nil then error("list default") end
bench.log("epochs", epochs, true, nil, 1.5, setmetatable({}, {__tostring = function() return "T" end}))
local text = bench.table{title = "T", runs = {{id = 1}}, by = {"epochs"},
                         metrics = {"knn.top1"}, format = "md"}
if text ~= "| a | b |\n" then error("table text: " .. text) end
)lua");
  testing::internal::CaptureStdout();
  run_lua_file(path, driver_);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "| a | b |\n");

  ASSERT_EQ(driver_.calls.size(), 4u);
  EXPECT_EQ(driver_.calls[0].method, "param");
  EXPECT_EQ(driver_.calls[0].arguments, (json{{"name", "epochs"}, {"default", 10}}));
  EXPECT_EQ(driver_.calls[0].where, path + ":2");
  EXPECT_EQ(driver_.calls[1].arguments, (json{{"name", "nothing"}, {"default", nullptr}}));
  EXPECT_EQ(driver_.calls[2].arguments, (json{{"name", "widths"}, {"default", {1, 2}}}));
  EXPECT_EQ(driver_.log_lines, std::vector<std::string>{"epochs 20 true nil 1.5 T"});
  EXPECT_EQ(driver_.calls[3].method, "table");
  EXPECT_EQ(driver_.calls[3].arguments, (json{{"title", "T"},
                                              {"runs", {{{"id", 1}}}},
                                              {"by", {"epochs"}},
                                              {"metrics", {"knn.top1"}},
                                              {"format", "md"}}));
  EXPECT_EQ(driver_.calls[3].where, path + ":7");
}

TEST_F(LuaRuntimeTest, EvalAcceptsListMapAndSingleName) {
  std::string path = write_script("eval.lua", R"lua(
local run = bench.pretrain{method = "swav"}
local result = bench.eval(run, {"knn", "linear_fast"})
if result.knn.top1 ~= 0.5 then error("result") end
bench.eval(run, {knn = {k = {20, 200}}})
bench.eval(run, "knn")
)lua");
  run_lua_file(path, driver_);
  ASSERT_EQ(driver_.calls.size(), 4u);
  json handle = {{"id", 1}, {"hash", "h1"}, {"status", "done"}};
  EXPECT_EQ(driver_.calls[1].arguments, (json{{"run", handle}, {"spec", {"knn", "linear_fast"}}}));
  EXPECT_EQ(driver_.calls[2].arguments["spec"], (json{{"knn", {{"k", {20, 200}}}}}));
  EXPECT_EQ(driver_.calls[3].arguments["spec"], (json::array({"knn"})));
  EXPECT_EQ(driver_.calls[3].where, path + ":6");
}

}  // namespace
}  // namespace swavbench
