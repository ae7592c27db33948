// A subcommand that lives in its own file: `add_xxx_command(app)` registers its options on a
// CLI::App and returns the action run_cli calls when the user chose it. Keeps commands.cpp a
// list of wires, not the home of every command.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swavbench {

struct Subcommand {
  CLI::App* app = nullptr;      // the parsed subcommand; `*app` is true when it was chosen
  std::function<int()> action;  // returns the exit code (0 ok, 1 run failed); throws InputError
};

// The results database every command uses unless --db says otherwise: $SWAVBENCH_DB, else
// results/swavbench.sqlite (relative to the working directory).
std::string default_db_path();

// A Lua script named on the command line (`run`, `regress --script`): the path as given when it
// exists; a bare file name is also looked up in this source tree's suite/ and then in the
// installed suite folder. Returns the shorter of the absolute and the cwd-relative path (Lua
// cuts chunk names at 60 characters in its messages). Throws InputError naming every place
// looked in; `what` says which script it was ("script", "regress script").
std::string find_suite_script(const std::string& name, const std::string& what);

// `--set key=value` arguments as a JSON object of overrides (values parsed by parse_set_value).
// Throws InputError naming a malformed one.
nlohmann::json parse_set_overrides(const std::vector<std::string>& sets);

}  // namespace swavbench
