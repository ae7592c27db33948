// Multi-process `swavbench run`: starting the ranks and the ranks > 0's loop. How the ranks share
// the work (rank 0 runs the script and hands each training job to the others) is
// harness/experiment/jobs.h. `swavbench run --nproc N` starts the N ranks itself
// (launch_local_ranks); under torchrun or SLURM every rank runs the same command line and reads
// its place from the environment.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swavbench {

class Collective;

// Ranks > 0: trains every job rank 0 sends with train_run until "quit" (serve_jobs). Returns 0, or
// 1 when a job failed on this rank (the error is printed with the rank). Throws Error when rank 0
// is gone.
int run_worker(Collective& collective);

// The parent of `swavbench run --nproc N`: starts N copies of `child_argv` (this executable's
// `run` command line without --nproc) as ranks 0..N-1 over loopback, waits for them and returns
// the exit code (rank 0's when it failed, else the first failure). When a rank ended abnormally,
// the runs rank 0 left behind in `db_path` are marked failed with the rank and how it ended
// (a run rank 0 had already marked failed keeps its reason, with the launcher's added).
int launch_local_ranks(int nproc, const std::vector<std::string>& child_argv,
                       const std::string& db_path, const std::string& runs_dir);

}  // namespace swavbench
