// Multi-process `swavbench run`: how the ranks of one job share the work.
//
// Rank 0 runs the Lua script exactly as a single process would (it alone reads and writes the
// store and runs the evaluations). Whenever it has to train, it sends the other ranks a job (the
// resolved config, its hash and the run folder) and all ranks train it together; when the script
// ends, rank 0 sends "quit". The other ranks never run Lua and never open the store: they wait
// for jobs (run_worker). `swavbench run --nproc N` starts the N ranks itself (launch_local_ranks);
// under torchrun or SLURM every rank runs the same command line and reads its place from the
// environment.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swavbench {

class Collective;

// How long idle ranks wait for rank 0's next job (it may be evaluating for hours). A dead rank 0
// still fails the wait at once: its sockets close.
inline constexpr std::chrono::hours kWorkerIdleTimeout{48};

// Rank 0: sends `job` (a JSON object with "op": "train" or "quit") to every other rank, through
// Collective::post_to_all (the rendezvous store: no collective timeout for the readers).
void send_job(Collective& collective, const nlohmann::json& job);
// Ranks > 0: the next job from rank 0.
nlohmann::json receive_job(Collective& collective);

// Ranks > 0: trains every job rank 0 sends until "quit". Returns 0, or 1 when a job failed on this
// rank (the error is printed with the rank). Throws Error when rank 0 is gone.
int run_worker(Collective& collective);

// The parent of `swavbench run --nproc N`: starts N copies of `child_argv` (this executable's
// `run` command line without --nproc) as ranks 0..N-1 over loopback, waits for them and returns
// the exit code (rank 0's when it failed, else the first failure). When a rank ended abnormally,
// the runs rank 0 left behind in `db_path` are marked failed with the rank and how it ended
// (a run rank 0 had already marked failed keeps its reason, with the launcher's added).
int launch_local_ranks(int nproc, const std::vector<std::string>& child_argv,
                       const std::string& db_path, const std::string& runs_dir);

}  // namespace swavbench
