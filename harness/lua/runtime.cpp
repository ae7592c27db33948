#include "harness/lua/runtime.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <lua.hpp>
#include <nlohmann/json.hpp>
#include <string>

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

// Everything the C functions need, reachable from the lua_State through its extra space (one
// pointer, LUA_EXTRASPACE) so no registry lookup is needed on each call.
struct Runtime {
  Driver* driver = nullptr;
  int64_t instruction_limit = 0;
  int64_t instructions_executed = 0;
  int hook_interval = 1;
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
  OwnedLuaState() : L_(luaL_newstate()) {}
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
  int result_count = run_guarded(L, body);
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

// [-0, +0] Count hook. Count hooks only fire on Lua instructions, so time inside bench.* C
// functions is free, as runtime.h promises.
void instruction_count_hook(lua_State* L, lua_Debug* /*unused*/) {
  Runtime& runtime = runtime_of(L);
  runtime.instructions_executed += runtime.hook_interval;
  if (runtime.instructions_executed <= runtime.instruction_limit) return;
  // From now on raise on every instruction: a pcall that catches the error returns into a
  // frame whose next instruction raises again, so `while true do pcall(loop) end` still ends.
  if (runtime.hook_interval != 1) {
    runtime.hook_interval = 1;
    lua_sethook(L, instruction_count_hook, LUA_MASKCOUNT, 1);
  }
  // Level 0 inside a hook is the Lua function that was running (hooks get no frame of their
  // own), so this names the looping line.
  luaL_where(L, 0);
  lua_pushfstring(L, "instruction limit of %I exceeded (an endless loop?)",
                  static_cast<lua_Integer>(runtime.instruction_limit));
  lua_concat(L, 2);
  lua_error(L);
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

  int status = LUA_OK;
  std::string error_message;
  {
    OwnedLuaState state;
    lua_State* L = state.get();
    if (L == nullptr) throw Error("cannot create a Lua state: out of memory");
    attach_runtime(L, &runtime);

    lua_pushcfunction(L, open_sandbox);
    status = lua_pcall(L, 0, 0, 0);
    if (status == LUA_OK) {
      lua_sethook(L, instruction_count_hook, LUA_MASKCOUNT, runtime.hook_interval);
      lua_pushcfunction(L, traceback_handler);
      int handler_index = lua_gettop(L);
      status = luaL_loadbufferx(L, code.data(), code.size(), lua_chunk_name.c_str(), "t");
      if (status == LUA_OK) status = lua_pcall(L, 0, 0, handler_index);
    }
    if (status != LUA_OK) {
      const char* message = lua_tostring(L, -1);
      error_message = message != nullptr ? message : "(error object is not a string)";
    }
  }

  if (status == LUA_OK) return;  // a run failure the script caught with pcall was its choice
  if (runtime.run_failure != nullptr && !runtime.run_failure_message.empty() &&
      error_message.find(runtime.run_failure_message) != std::string::npos) {
    std::rethrow_exception(runtime.run_failure);
  }
  if (status == LUA_ERRMEM) {
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
