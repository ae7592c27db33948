// A subcommand that lives in its own file: `add_xxx_command(app)` registers its options on a
// CLI::App and returns the action run_cli calls when the user chose it. Keeps commands.cpp a
// list of wires, not the home of every command.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace swavbench {

struct Subcommand {
  CLI::App* app = nullptr;      // the parsed subcommand; `*app` is true when it was chosen
  std::function<int()> action;  // returns the exit code (0 ok, 1 run failed); throws InputError
};

}  // namespace swavbench
