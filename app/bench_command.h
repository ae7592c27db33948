// `swavbench bench`: runs the Google Benchmark executables built next to this binary
// (<dir of swavbench>/bench/bench_*), parses their JSON, stores one row per benchmark in the
// store's `bench` table (with the git sha, host, raw counters and the benchmark context) and
// prints each figure next to the most recent one recorded at another git sha.
#pragma once

#include "app/subcommand.h"

namespace swavbench {

Subcommand add_bench_command(CLI::App& app);

}  // namespace swavbench
