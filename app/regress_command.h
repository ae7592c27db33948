// `swavbench regress`: runs suite/ci.lua as `swavbench run` does (RunDriver + run_lua_file, into
// a fresh temporary database unless --db is given), collects each run's eval metrics, final
// training loss and calibrated throughput, and compares them with a baseline JSON
// (harness/report/regress.h). Exit 0: no regression (or --update wrote the baseline); 1: at
// least one regression; 2: a missing or corrupt baseline, or other bad input.
#pragma once

#include "app/subcommand.h"

namespace swavbench {

Subcommand add_regress_command(CLI::App& app);

}  // namespace swavbench
