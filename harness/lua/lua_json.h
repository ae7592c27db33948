// Conversion between Lua values and JSON, for the `bench` module (harness/lua internal).
//
// Lua -> JSON: nil -> null, booleans, integers stay int64 and other numbers become doubles,
// strings (must be UTF-8), tables whose keys are exactly 1..n (n >= 1) -> arrays, every other
// table (the empty one included) -> an object with string keys (integer keys are written in
// decimal). Functions, userdata, threads, non-finite numbers and tables nested deeper than
// kMaxLuaJsonDepth (usually a table that contains itself) are InputErrors naming the offending
// key. Metatables are ignored: only raw contents are read.
//
// JSON -> Lua: arrays -> sequences, objects -> tables, null -> nil (an object key holding null
// is left out), integers and floats keep their Lua subtype.
#pragma once

#include <lua.hpp>
#include <nlohmann/json.hpp>

namespace swavbench {

inline constexpr int kMaxLuaJsonDepth = 64;

// Says what is being converted, for error messages: "cannot pass a function to
// bench.pretrain (key 'crops[1].size')" or "... to bench.param (argument 2)".
struct LuaJsonContext {
  const char* function_name;  // e.g. "bench.pretrain"
  int argument;               // 1-based argument position
};

// [-0, +0] Converts the value at `index`. Throws InputError (never raises a Lua error other
// than out-of-memory), so it is safe to call with C++ objects alive.
nlohmann::json lua_value_to_json(lua_State* L, int index, const LuaJsonContext& context);

// [-0, +1] Pushes `value` converted to Lua. Throws swavbench::Error if `value` cannot be
// represented (binary data, nesting too deep for the Lua stack).
void push_json_as_lua(lua_State* L, const nlohmann::json& value);

}  // namespace swavbench
