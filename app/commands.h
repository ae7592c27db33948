// The swavbench command line (CLI11): run, db, tables, --version. main() registers the methods
// and protocols, then hands over here. Exit codes: 0 ok, 1 a run failed, 2 bad input.
#pragma once

namespace swavbench {

int run_cli(int argc, char** argv);

}  // namespace swavbench
