// The embedded Lua 5.4 runtime: the only code in swavbench that includes lua.h.
//
// A script runs in a sandboxed state: only the base, table, string and math libraries, plus a
// small `os` (clock, time, date); every other os/io function, `dofile`, `loadfile`, `require`
// and `package` raise a clear "not available in the swavbench sandbox" error, and so do __gc
// finalizers (Lua runs them with hooks off, where no limit could stop them). Limits on
// instructions, memory and wall time (LuaRunOptions) stop runaway scripts. Every call into Lua goes
// through lua_pcall with a traceback message handler, so errors carry FILE:LINE and a stack trace.
#pragma once

#include <cstdint>
#include <string>

namespace swavbench {

class Driver;

// The sandbox's limits. Time spent inside bench.* functions (training, evaluation) counts
// against none of them: they bound the script's own work. Exceeding one is an InputError
// (exit 2) naming FILE:LINE, which pcall cannot catch.
struct LuaRunOptions {
  // Upper bound on Lua VM instructions for the whole script.
  int64_t instruction_limit = 2'000'000'000;
  // Upper bound on what the Lua state allocates (tables, strings, bench.* results), enforced by
  // the state's allocator.
  int64_t memory_limit_bytes = int64_t{1} << 30;
  // Upper bound on wall time spent running Lua code. Checked between instructions; a call that
  // never returns to Lua (a pathological string.find pattern) is stopped by a watchdog thread
  // that ends the process with exit code 2 once the limit has passed by half again (at least
  // one second), naming the last line the script was seen on. Suites spend milliseconds in Lua,
  // so a few seconds stop a runaway loop or pattern promptly; `swavbench run --lua-seconds`
  // raises it for a script that really computes.
  double time_limit_seconds = 5;
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
