#include "harness/lua/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <lua.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "harness/core/check.h"
#include "harness/lua/driver.h"
#include "harness/lua/lua_json.h"

namespace swavbench {
namespace {

using nlohmann::json;

constexpr const char* kSandboxHint =
    "(scripts may use bench.*, string, table, math, os.clock/time/date)";

// How often the count hook fires: rare enough to cost nothing measurable, frequent enough that
// a small test limit still trips promptly.
constexpr int64_t kHookInterval = 10'000;
// Count events enforce the limits; line events keep Runtime::last_line.
constexpr int kHookMask = LUA_MASKCOUNT | LUA_MASKLINE;

// Wall time spent running Lua code: paused while a bench.* function runs (training is not the
// script's time). Shared with the watchdog thread, hence the mutex.
class LuaClock {
 public:
  using Clock = std::chrono::steady_clock;

  void resume() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_) return;
    running_ = true;
    since_ = Clock::now();
  }
  void pause() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) return;
    running_ = false;
    before_ += std::chrono::duration<double>(Clock::now() - since_).count();
  }
  double seconds() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return before_ +
           (running_ ? std::chrono::duration<double>(Clock::now() - since_).count() : 0.0);
  }

 private:
  mutable std::mutex mutex_;
  bool running_ = false;
  Clock::time_point since_;
  double before_ = 0;
};

// Stops a script stuck where no hook fires (a C function such as a pathological string.find
// that never returns to Lua): once the Lua clock is past the limit by `grace`, it writes the
// error and ends the process with exit code 2. Nothing is being recorded at that moment: time
// inside bench.* functions does not run the clock.
class Watchdog {
 public:
  Watchdog(const LuaClock& clock, const std::atomic<int>& last_line, double limit_seconds,
           std::string script)
      : clock_(clock), last_line_(last_line), limit_(limit_seconds), script_(std::move(script)) {
    if (limit_ > 0) thread_ = std::thread([this] { watch(); });
  }
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void watch() {
    const double grace = std::max(1.0, limit_ / 2);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return stop_; })) {
      if (clock_.seconds() <= limit_ + grace) continue;
      const int line = last_line_.load();
      const std::string message = fmt::format(
          "swavbench: error: {}: the Lua time limit of {:g} s was exceeded inside a call that "
          "does not return to Lua (a string.find/match/gsub pattern that backtracks without "
          "end?); stopped after {:.1f} s of Lua time\n",
          line > 0 ? fmt::format("{}:{}", script_, line) : script_, limit_, clock_.seconds());
      // Another thread holds the Lua state, so no exception can unwind it: write and leave.
      const ssize_t ignored = ::write(STDERR_FILENO, message.data(), message.size());
      (void)ignored;
      std::_Exit(2);
    }
  }

  const LuaClock& clock_;
  const std::atomic<int>& last_line_;
  const double limit_;
  const std::string script_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// Everything the C functions need, reachable from the lua_State through its extra space (one
// pointer, LUA_EXTRASPACE) so no registry lookup is needed on each call.
struct Runtime {
  Driver* driver = nullptr;
  int64_t instruction_limit = 0;
  int64_t instructions_executed = 0;
  int hook_interval = 1;
  // Memory: what the allocator has handed out, and the limit. Beyond the limit allocations
  // still succeed up to memory_hard_limit, so that the hook (armed by the allocator) can stop
  // the script at its next instruction with its FILE:LINE; only beyond that are they refused
  // (a Lua memory error, reported with the last line seen).
  int64_t memory_used = 0;
  int64_t memory_limit = 0;
  int64_t memory_hard_limit = 0;
  int64_t memory_refused_bytes = 0;
  bool memory_exceeded = false;
  lua_State* main_state = nullptr;  // set once the sandbox is built: the allocator arms its hook
  LuaClock clock;
  double time_limit = 0;
  // The line of the script's own chunk that runs now (a line hook keeps it), for the messages
  // of limits that Lua reports without a location: a refused allocation, the watchdog.
  std::string chunk_name;
  std::atomic<int> last_line{0};
  // A driver failure that is not bad input (a run failed). It is kept so it can be rethrown
  // with its own type once the script has unwound; turning it into a Lua error string alone
  // would make the CLI report it as bad input (exit 2 instead of 1).
  std::exception_ptr run_failure;
  // The Lua error text raised for run_failure, to recognise it if it ends the script.
  std::string run_failure_message;
};

Runtime& runtime_of(lua_State* L) {
  Runtime* runtime = nullptr;
  std::memcpy(&runtime, lua_getextraspace(L), sizeof runtime);
  return *runtime;
}

void attach_runtime(lua_State* L, Runtime* runtime) {
  std::memcpy(lua_getextraspace(L), &runtime, sizeof runtime);
}

class OwnedLuaState {
 public:
  OwnedLuaState(lua_Alloc allocator, void* allocator_data)
      : L_(lua_newstate(allocator, allocator_data)) {
    // luaL_newstate's panic handler; never reached, as every call runs under lua_pcall.
    if (L_ != nullptr)
      lua_atpanic(L_, [](lua_State* L) {
        std::fprintf(stderr, "swavbench: Lua panic: %s\n", lua_tostring(L, -1));
        return 0;
      });
  }
  ~OwnedLuaState() {
    if (L_ != nullptr) lua_close(L_);
  }
  OwnedLuaState(const OwnedLuaState&) = delete;
  OwnedLuaState& operator=(const OwnedLuaState&) = delete;
  lua_State* get() const { return L_; }

 private:
  lua_State* L_;
};

// ---------------------------------------------------------------------------------------------
// Error plumbing

// [-0, +0] "FILE:LINE" of the innermost Lua function on the stack, skipping C frames so that
// pcall(bench.pretrain, t) still names the script line; "" when no frame has line info. Unlike
// luaL_where it uses the full chunk name, not the 60-character short_src.
std::string caller_where(lua_State* L) {
  lua_Debug frame;
  for (int level = 1; lua_getstack(L, level, &frame) != 0; ++level) {
    lua_getinfo(L, "Sl", &frame);
    if (frame.currentline <= 0) continue;
    std::string chunk = (frame.source[0] == '@' || frame.source[0] == '=')
                            ? std::string(frame.source + 1, frame.srclen - 1)
                            : std::string(frame.short_src);
    return chunk + ":" + std::to_string(frame.currentline);
  }
  return "";
}

// [-0, +1] Pushes "WHERE: WHAT", as luaL_error would. WHAT alone when there is no location or
// when the driver already began its message with `where` (it is handed `where` for exactly
// that), so the location is never doubled.
void push_located_message(lua_State* L, const std::string& where, const char* what) {
  bool already_located = !where.empty() && std::strncmp(what, where.c_str(), where.size()) == 0 &&
                         what[where.size()] == ':';
  if (where.empty() || already_located) {
    lua_pushstring(L, what);
  } else {
    lua_pushfstring(L, "%s: %s", where.c_str(), what);
  }
}

// [-0, +(n|1)] Runs `body(runtime, where)`, which calls the driver and pushes the results, and
// returns their count. Any C++ exception becomes an error message pushed at the caller's
// location, and -1 is returned: the caller raises it with lua_error only after this frame
// (and every C++ object in it) is gone, because lua_error longjmps over C++ destructors.
template <typename Body>
int run_guarded(lua_State* L, const Body& body) {
  Runtime& runtime = runtime_of(L);
  std::string where = caller_where(L);
  try {
    return body(runtime, where);
  } catch (const InputError& error) {
    push_located_message(L, where, error.what());
  } catch (const Error& error) {
    push_located_message(L, where, error.what());
    runtime.run_failure = std::current_exception();
    runtime.run_failure_message = lua_tostring(L, -1);
  } catch (const std::exception& error) {
    // Not ours (torch, json, the standard library): still a failed run, not bad input, and
    // runtime.h promises it arrives as swavbench::Error.
    push_located_message(L, where, error.what());
    runtime.run_failure_message = lua_tostring(L, -1);
    runtime.run_failure = std::make_exception_ptr(Error(runtime.run_failure_message));
  } catch (...) {
    push_located_message(L, where, "unknown exception from the driver");
    runtime.run_failure_message = lua_tostring(L, -1);
    runtime.run_failure = std::make_exception_ptr(Error(runtime.run_failure_message));
  }
  return -1;
}

// [-0, +n] The entry point every bench.* function uses to reach C++: pushes the body's n
// results, or raises the driver's failure as a Lua error at the caller's line.
template <typename Body>
int call_driver(lua_State* L, const Body& body) {
  Runtime& runtime = runtime_of(L);
  runtime.clock.pause();
  int result_count = run_guarded(L, body);
  runtime.clock.resume();
  if (result_count < 0) return lua_error(L);
  return result_count;
}

// [-0, +1] Message handler for lua_pcall: the error message with a stack traceback appended.
int traceback_handler(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  if (message == nullptr) {
    if (luaL_callmeta(L, 1, "__tostring") != 0 && lua_type(L, -1) == LUA_TSTRING) {
      message = lua_tostring(L, -1);
    } else {
      message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
  }
  luaL_traceback(L, L, message, 1);
  return 1;
}

void limits_hook(lua_State* L, lua_Debug* frame);

// [-0, +0] Raises `message` at the running line. From now on the hook fires on every
// instruction: a pcall that catches the error returns into a frame whose next instruction raises
// again, so `while true do pcall(loop) end` still ends. lua_error longjmps, so no C++ object may
// be alive here or in the caller: the message is a plain char buffer.
[[noreturn]] void raise_limit(lua_State* L, Runtime& runtime, const char* message) {
  if (runtime.hook_interval != 1) {
    runtime.hook_interval = 1;
    lua_sethook(L, limits_hook, kHookMask, 1);
  }
  // Level 0 inside a hook is the Lua function that was running (hooks get no frame of their
  // own), so this names the looping line.
  luaL_where(L, 0);
  lua_pushstring(L, message);
  lua_concat(L, 2);
  lua_error(L);
  std::abort();  // lua_error does not return
}

// [-0, +0] Count hook: the instruction, memory and time limits; line hook: Runtime::last_line.
// Count hooks only fire on Lua instructions, so time inside bench.* C functions is free, as
// runtime.h promises.
void limits_hook(lua_State* L, lua_Debug* frame) {
  Runtime& runtime = runtime_of(L);
  if (frame->event == LUA_HOOKLINE) {
    lua_getinfo(L, "S", frame);
    if (runtime.chunk_name == frame->source) runtime.last_line.store(frame->currentline);
    return;
  }
  runtime.instructions_executed += runtime.hook_interval;
  char message[160];
  if (runtime.instructions_executed > runtime.instruction_limit) {
    std::snprintf(message, sizeof message, "instruction limit of %lld exceeded (an endless loop?)",
                  static_cast<long long>(runtime.instruction_limit));
    raise_limit(L, runtime, message);
  }
  if (runtime.memory_exceeded) {
    std::snprintf(message, sizeof message,
                  "memory limit of %lld MiB exceeded (the script holds %lld MiB)",
                  static_cast<long long>(runtime.memory_limit >> 20),
                  static_cast<long long>(runtime.memory_used >> 20));
    raise_limit(L, runtime, message);
  }
  if (runtime.time_limit > 0 && runtime.clock.seconds() > runtime.time_limit) {
    std::snprintf(message, sizeof message,
                  "time limit of %g s for Lua code exceeded (an endless loop?)",
                  runtime.time_limit);
    raise_limit(L, runtime, message);
  }
}

// lua_Alloc with a budget (LuaRunOptions::memory_limit_bytes). `ud` is the Runtime.
void* limited_alloc(void* ud, void* block, size_t old_size, size_t new_size) {
  Runtime& runtime = *static_cast<Runtime*>(ud);
  if (block == nullptr) old_size = 0;  // then old_size is the kind of object, not a size
  if (new_size == 0) {
    std::free(block);
    runtime.memory_used -= static_cast<int64_t>(old_size);
    return nullptr;
  }
  const int64_t after =
      runtime.memory_used - static_cast<int64_t>(old_size) + static_cast<int64_t>(new_size);
  if (new_size > old_size && after > runtime.memory_limit) {
    // Stop the script at its next instruction. lua_sethook only sets fields and trap flags, so
    // it is safe here, in the middle of whatever is allocating.
    if (runtime.main_state != nullptr) lua_sethook(runtime.main_state, limits_hook, kHookMask, 1);
    runtime.hook_interval = 1;
    runtime.memory_exceeded = true;
    if (after > runtime.memory_hard_limit) {
      runtime.memory_refused_bytes =
          std::max(runtime.memory_refused_bytes, static_cast<int64_t>(new_size));
      return nullptr;
    }
  }
  void* grown = std::realloc(block, new_size);
  if (grown != nullptr) runtime.memory_used = after;
  return grown;
}

// ---------------------------------------------------------------------------------------------
// Sandbox

// [-0, +0] Raises "NAME is not available in the swavbench sandbox ...". Upvalue 1: NAME. Used
// for dofile/loadfile/require so a script gets that instead of "attempt to call a nil value".
int lua_unavailable_function(lua_State* L) {
  return luaL_error(L, "%s is not available in the swavbench sandbox %s",
                    lua_tostring(L, lua_upvalueindex(1)), kSandboxHint);
}

// [-0, +0] __index of the sandbox's os/io/package/debug/coroutine tables (args: table, key); raises
// "LIB.KEY is not available ...". Upvalue 1: LIB.
int lua_unavailable_field(lua_State* L) {
  const char* library = lua_tostring(L, lua_upvalueindex(1));
  const char* field = luaL_tolstring(L, 2, nullptr);
  return luaL_error(L, "%s.%s is not available in the swavbench sandbox %s", library, field,
                    kSandboxHint);
}

// [-0, +0] Gives the table on top of the stack a metatable whose __index raises for `library`.
void set_unavailable_fields_metatable(lua_State* L, const char* library) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, library);
  lua_pushcclosure(L, lua_unavailable_field, 1);
  lua_setfield(L, -2, "__index");
  // getmetatable(os) returns this instead of the metatable, so a script cannot strip it and
  // get back to "attempt to call a nil value".
  lua_pushliteral(L, "swavbench sandbox");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
}

// [-(n), +?] Calls the base library's function in upvalue 1 with the n arguments on the stack
// and returns its results. An error it raises gets the script's FILE:LINE: the base functions
// raise with luaL_where(L, 1), which names their caller, and their caller is this C wrapper,
// which has no line ("cannot change a protected metatable" would name nothing).
int call_base_function_with_location(lua_State* L) {
  const int argument_count = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  const int status = lua_pcall(L, argument_count, LUA_MULTRET, 0);
  if (status == LUA_OK) return lua_gettop(L);
  if (status == LUA_ERRRUN && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);  // the script's line that called the wrapper
    const char* where = lua_tostring(L, -1);
    const char* message = lua_tostring(L, -2);
    if (std::strncmp(message, where, std::strlen(where)) != 0) {
      lua_insert(L, -2);
      lua_concat(L, 2);
    } else {
      lua_pop(L, 1);
    }
  }
  return lua_error(L);  // the limits' own errors (and out-of-memory) as they were
}

// [-?, +?] load() restricted to text chunks: precompiled bytecode is unchecked and can escape
// any sandbox. The mode argument is forced to "t"; the environment defaults to the sandbox's
// globals as usual. Upvalue 1: the base library's load.
int lua_sandboxed_load(lua_State* L) {
  int argument_count = lua_gettop(L);
  if (argument_count < 3) {
    lua_settop(L, 2);
    lua_pushliteral(L, "t");
    argument_count = 3;
  } else {
    // An explicit environment (argument 4) must stay "given", even if nil, so only 3 changes.
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, argument_count, LUA_MULTRET);
  return lua_gettop(L);
}

// [-?, +1] setmetatable without finalizers: Lua runs __gc with hooks off, so a finalizer that
// loops would escape every limit. (A __gc field added to a metatable later is ignored by Lua:
// only the field present at setmetatable marks an object for finalization.) Upvalue 1: the
// base library's setmetatable.
int lua_sandboxed_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    const bool has_gc = lua_rawget(L, 2) != LUA_TNIL;
    lua_pop(L, 1);
    if (has_gc) {
      return luaL_error(L,
                        "__gc finalizers are not available in the swavbench sandbox (Lua runs "
                        "them where no time limit can stop them) %s",
                        kSandboxHint);
    }
  }
  return call_base_function_with_location(L);
}

// ---------------------------------------------------------------------------------------------
// The bench module

// [-0, +0] Raises "bad argument #N to 'bench.NAME' (EXPECTED expected, got TYPE)" unless
// `ok`. luaL_checktype would say 'pretrain', dropping the module name users call it by.
void check_argument(lua_State* L, bool ok, int argument, const char* function_name,
                    const char* expected) {
  if (ok) return;
  luaL_error(L, "bad argument #%d to '%s' (%s expected, got %s)", argument, function_name, expected,
             luaL_typename(L, argument));
}

// bench.pretrain(config) -> run handle.  [-0, +1]
int lua_bench_pretrain(lua_State* L) {
  check_argument(L, lua_istable(L, 1), 1, "bench.pretrain", "table");
  return call_driver(L, [L](Runtime& runtime, const std::string& where) {
    json config = lua_value_to_json(L, 1, {"bench.pretrain", 1});
    push_json_as_lua(L, runtime.driver->pretrain(config, where));
    return 1;
  });
}

// bench.eval(run, spec) -> {protocol = {metric = value}}; spec may be a single protocol name,
// a list of names or a map name -> options.  [-0, +1]
int lua_bench_eval(lua_State* L) {
  check_argument(L, lua_istable(L, 1), 1, "bench.eval", "table");
  check_argument(L, lua_type(L, 2) == LUA_TTABLE || lua_type(L, 2) == LUA_TSTRING, 2, "bench.eval",
                 "table or string");
  return call_driver(L, [L](Runtime& runtime, const std::string& where) {
    json run = lua_value_to_json(L, 1, {"bench.eval", 1});
    json spec = lua_value_to_json(L, 2, {"bench.eval", 2});
    // The driver takes a list or a map; a bare name is the one-element list.
    if (spec.is_string()) spec = json::array({spec});
    push_json_as_lua(L, runtime.driver->eval(run, spec, where));
    return 1;
  });
}

// bench.table(spec) -> text, also printed to stdout.  [-0, +1]
int lua_bench_table(lua_State* L) {
  check_argument(L, lua_istable(L, 1), 1, "bench.table", "table");
  return call_driver(L, [L](Runtime& runtime, const std::string& where) {
    std::string text = runtime.driver->table(lua_value_to_json(L, 1, {"bench.table", 1}), where);
    // Lua's print writes through C stdio; flushing it first keeps script output in order even
    // if the program turned off stdio synchronisation.
    std::fflush(stdout);
    std::cout << text;
    if (text.empty() || text.back() != '\n') std::cout << '\n';
    std::cout.flush();
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  });
}

// bench.param(name [, default]) -> the value given with --set name=..., else default.
// [-0, +1]
int lua_bench_param(lua_State* L) {
  check_argument(L, lua_type(L, 1) == LUA_TSTRING, 1, "bench.param", "string");
  lua_settop(L, 2);  // a missing default becomes nil (JSON null)
  return call_driver(L, [L](Runtime& runtime, const std::string& where) {
    size_t size = 0;
    const char* name = lua_tolstring(L, 1, &size);
    json default_value = lua_value_to_json(L, 2, {"bench.param", 2});
    push_json_as_lua(L, runtime.driver->param(std::string(name, size), default_value, where));
    return 1;
  });
}

// bench.dataset(spec) -> the dataset's root path (made once).  [-0, +1]
int lua_bench_dataset(lua_State* L) {
  check_argument(L, lua_istable(L, 1), 1, "bench.dataset", "table");
  return call_driver(L, [L](Runtime& runtime, const std::string& where) {
    push_json_as_lua(L,
                     runtime.driver->dataset(lua_value_to_json(L, 1, {"bench.dataset", 1}), where));
    return 1;
  });
}

// bench.log(...): the arguments as tostring() shows them, separated by spaces, as one line.
// [-0, +0]
int lua_bench_log(lua_State* L) {
  int argument_count = lua_gettop(L);
  // Built on the Lua side first: luaL_tolstring may run __tostring, which may raise, and that
  // must happen before any C++ object exists.
  luaL_Buffer line;
  luaL_buffinit(L, &line);
  for (int i = 1; i <= argument_count; ++i) {
    if (i > 1) luaL_addchar(&line, ' ');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&line);
  }
  luaL_pushresult(&line);
  return call_driver(L, [L](Runtime& runtime, const std::string& /*where*/) {
    size_t size = 0;
    const char* text = lua_tolstring(L, -1, &size);
    runtime.driver->log(std::string(text, size));
    return 0;
  });
}

// bench.merge(base, override): written in Lua because it is pure table manipulation. Copies
// deeply so the result never aliases (and later edits never reach) either input. Library
// functions are captured as upvalues so a script that redefines `pairs` cannot break it.
constexpr const char* kMergeSource = R"lua(
local pairs, type, error, pcall, math_type = pairs, type, error, pcall, math.type
local max_depth = 64
local too_deep = {}

local function is_array(t)
  local count, largest = 0, 0
  for key in pairs(t) do
    if math_type(key) ~= "integer" or key < 1 then return false end
    count = count + 1
    if key > largest then largest = key end
  end
  return count > 0 and largest == count
end

local function copy(value, depth)
  if type(value) ~= "table" then return value end
  if depth > max_depth then error(too_deep) end
  local out = {}
  for key, element in pairs(value) do out[key] = copy(element, depth + 1) end
  return out
end

-- `target` is a fresh copy owned by the merge, so it may be changed in place.
local function merge_into(target, override, depth)
  if depth > max_depth then error(too_deep) end
  for key, value in pairs(override) do
    local old = target[key]
    if type(value) == "table" and type(old) == "table"
        and not is_array(value) and not is_array(old) then
      merge_into(old, value, depth + 1)
    else
      target[key] = copy(value, depth + 1)
    end
  end
end

local function merge(base, override)
  local out = copy(base, 1)
  merge_into(out, override, 1)
  return out
end

return function(base, override)
  if type(base) ~= "table" then
    error(("bad argument #1 to 'bench.merge' (table expected, got %s)"):format(type(base)), 2)
  end
  if type(override) ~= "table" then
    error(("bad argument #2 to 'bench.merge' (table expected, got %s)"):format(type(override)), 2)
  end
  local ok, result = pcall(merge, base, override)
  if ok then return result end
  if result == too_deep then
    error("bench.merge: tables nested more than " .. max_depth ..
          " levels deep (a table that contains itself?)", 2)
  end
  error(result, 0)
end
)lua";

// [-0, +1] luaL_requiref opener for `bench`. Registering it like a library also lets Lua name
// its functions "bench.pretrain" in argument errors and tracebacks.
int open_bench(lua_State* L) {
  static const luaL_Reg kFunctions[] = {
      {"pretrain", lua_bench_pretrain},
      {"eval", lua_bench_eval},
      {"table", lua_bench_table},
      {"param", lua_bench_param},
      {"log", lua_bench_log},
      {"dataset", lua_bench_dataset},
      {nullptr, nullptr},
  };
  luaL_newlib(L, kFunctions);
  if (luaL_loadbufferx(L, kMergeSource, std::strlen(kMergeSource), "=bench.merge", "t") != LUA_OK) {
    return lua_error(L);
  }
  lua_call(L, 0, 1);
  lua_setfield(L, -2, "merge");
  return 1;
}

// [-0, +0] Builds the sandboxed globals. Run under lua_pcall so that even an out-of-memory
// error here is reported rather than hitting Lua's panic handler.
int open_sandbox(lua_State* L) {
  static const luaL_Reg kLibraries[] = {
      {LUA_GNAME, luaopen_base},        {LUA_TABLIBNAME, luaopen_table},
      {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8},
  };
  for (const luaL_Reg& library : kLibraries) {
    luaL_requiref(L, library.name, library.func, 1);
    lua_pop(L, 1);
  }

  for (const char* name : {"dofile", "loadfile", "require"}) {
    lua_pushstring(L, name);
    lua_pushcclosure(L, lua_unavailable_function, 1);
    lua_setglobal(L, name);
  }

  lua_getglobal(L, "load");
  lua_pushcclosure(L, lua_sandboxed_load, 1);
  lua_setglobal(L, "load");
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, lua_sandboxed_setmetatable, 1);
  lua_setglobal(L, "setmetatable");

  // The real os library lives only on the stack while its three harmless functions are copied.
  lua_createtable(L, 0, 3);
  lua_pushcfunction(L, luaopen_os);
  lua_call(L, 0, 1);
  for (const char* name : {"clock", "time", "date"}) {
    lua_getfield(L, -1, name);
    lua_setfield(L, -3, name);
  }
  lua_pop(L, 1);
  set_unavailable_fields_metatable(L, "os");
  lua_setglobal(L, "os");

  for (const char* library : {"io", "package", "debug", "coroutine"}) {
    lua_newtable(L);
    set_unavailable_fields_metatable(L, library);
    lua_setglobal(L, library);
  }

  luaL_requiref(L, "bench", open_bench, 1);
  lua_pop(L, 1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Running a chunk

// Loads and runs `code` in a fresh sandbox. The state is closed (finalizers included, still
// under the hook and with the driver reachable) before any exception leaves.
void run_chunk(const std::string& code, const std::string& lua_chunk_name,
               const std::string& display_name, Driver& driver, const LuaRunOptions& options) {
  Runtime runtime;
  runtime.driver = &driver;
  runtime.instruction_limit = options.instruction_limit;
  runtime.hook_interval =
      static_cast<int>(std::clamp<int64_t>(options.instruction_limit, 1, kHookInterval));
  runtime.memory_limit = options.memory_limit_bytes;
  runtime.memory_hard_limit = options.memory_limit_bytes +
                              std::max<int64_t>(int64_t{64} << 20, options.memory_limit_bytes / 4);
  runtime.time_limit = options.time_limit_seconds;

  int status = LUA_OK;
  std::string error_message;
  {
    OwnedLuaState state(limited_alloc, &runtime);
    lua_State* L = state.get();
    if (L == nullptr) throw Error("cannot create a Lua state: out of memory");
    attach_runtime(L, &runtime);

    lua_pushcfunction(L, open_sandbox);
    status = lua_pcall(L, 0, 0, 0);
    if (status == LUA_OK) {
      runtime.chunk_name = lua_chunk_name;
      Watchdog watchdog(runtime.clock, runtime.last_line, runtime.time_limit, display_name);
      runtime.main_state = L;
      runtime.clock.resume();
      lua_sethook(L, limits_hook, kHookMask, runtime.hook_interval);
      lua_pushcfunction(L, traceback_handler);
      int handler_index = lua_gettop(L);
      status = luaL_loadbufferx(L, code.data(), code.size(), lua_chunk_name.c_str(), "t");
      if (status == LUA_OK) status = lua_pcall(L, 0, 0, handler_index);
      runtime.clock.pause();
    }
    if (status != LUA_OK) {
      const char* message = lua_tostring(L, -1);
      error_message = message != nullptr ? message : "(error object is not a string)";
    }
    runtime.main_state = nullptr;
  }

  if (status == LUA_OK) return;  // a run failure the script caught with pcall was its choice
  if (runtime.run_failure != nullptr && !runtime.run_failure_message.empty() &&
      error_message.find(runtime.run_failure_message) != std::string::npos) {
    std::rethrow_exception(runtime.run_failure);
  }
  if (status == LUA_ERRMEM) {
    // Lua reports a refused allocation without a location (the message handler does not run
    // for memory errors): name the last line the runtime saw.
    const int line = runtime.last_line.load();
    if (runtime.memory_refused_bytes > 0) {
      throw InputError(fmt::format(
          "{}: memory limit of {} MiB exceeded: an allocation of {} MiB was refused (the script "
          "holds {} MiB)",
          line > 0 ? fmt::format("{}:{}", display_name, line) : display_name,
          runtime.memory_limit >> 20, runtime.memory_refused_bytes >> 20,
          runtime.memory_used >> 20));
    }
    throw Error("out of memory running Lua script " + display_name + ": " + error_message);
  }
  throw InputError(error_message);
}

}  // namespace

nlohmann::json Driver::dataset(const nlohmann::json&, const std::string& where) {
  throw InputError(where + ": bench.dataset is not available in this driver");
}

void run_lua_file(const std::string& path, Driver& driver, const LuaRunOptions& options) {
  std::error_code ignored;
  SB_INPUT_CHECK(!std::filesystem::is_directory(path, ignored),
                 "cannot open script {}: it is a directory", path);
  std::ifstream file(path, std::ios::binary);
  SB_INPUT_CHECK(file.is_open(), "cannot open script {}", path);
  std::string code((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  SB_INPUT_CHECK(!file.bad(), "cannot read script {}", path);

  // As luaL_loadfile does: skip a UTF-8 byte-order mark and a "#!" first line, keeping the
  // newline so line numbers in messages still match the file.
  if (code.compare(0, 3, "\xEF\xBB\xBF") == 0) code.erase(0, 3);
  if (!code.empty() && code[0] == '#') code.erase(0, code.find('\n'));

  run_chunk(code, "@" + path, path, driver, options);
}

void run_lua_string(const std::string& code, const std::string& chunk_name, Driver& driver,
                    const LuaRunOptions& options) {
  run_chunk(code, "=" + chunk_name, chunk_name, driver, options);
}

}  // namespace swavbench
