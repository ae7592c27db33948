// The embedded Lua 5.4 runtime: the only code in swavbench that includes lua.h.
//
// A script runs in a sandboxed state: only the base, table, string and math libraries, plus a
// small `os` (clock, time, date); every other os/io function, `dofile`, `loadfile`, `require`
// and `package` raise a clear "not available in the swavbench sandbox" error. An instruction
// count hook stops runaway scripts. Every call into Lua goes through lua_pcall with a traceback
// message handler, so errors carry FILE:LINE and a stack trace.
#pragma once

#include <cstdint>
#include <string>

namespace swavbench {

class Driver;

struct LuaRunOptions {
  // Upper bound on Lua VM instructions for the whole script (time spent inside bench.* C
  // functions does not count).
  int64_t instruction_limit = 2'000'000'000;
};

// Runs the script at `path` with `bench` bound to `driver`. Throws InputError with the Lua
// message and traceback (which name FILE:LINE) when the script fails to load or raises.
// An exception thrown by the driver that is not an InputError (a run failed) propagates as
// swavbench::Error after the Lua state is closed.
void run_lua_file(const std::string& path, Driver& driver, const LuaRunOptions& options = {});

// Same for a chunk held in memory; `chunk_name` is what error messages call it.
void run_lua_string(const std::string& code, const std::string& chunk_name, Driver& driver,
                    const LuaRunOptions& options = {});

}  // namespace swavbench
