// `swavbench report --out DIR [--db PATH]`: the self-contained HTML report of a results
// database (harness/report/html_report.h), wired into run_cli through subcommand.h.
#pragma once

#include <CLI/CLI.hpp>

#include "app/subcommand.h"

namespace swavbench {

Subcommand add_report_command(CLI::App& app);

}  // namespace swavbench
