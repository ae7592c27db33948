// Jobs: how the ranks of one multi-process `swavbench run` share its training.
//
// Rank 0 runs the Lua script exactly as a single process would: it alone reads and writes the
// store and runs the evaluations. Whenever its Runner trains, the TrainFunction that
// hand_off_to_ranks wraps first posts the job (the resolved config, its hash and the run folder)
// to every other rank, and then all ranks train it together. The other ranks never run Lua and
// never open the store: they serve jobs (serve_jobs) until rank 0 ends them (end_jobs). Jobs
// travel through Collective::post_to_all (the rendezvous store: no collective timeout while a
// rank waits).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>

#include "harness/experiment/runner.h"

namespace swavbench {

class Collective;

// How long idle ranks wait for rank 0's next job (it may be evaluating for hours). A dead rank 0
// still fails the wait at once: its sockets close.
inline constexpr std::chrono::hours kWorkerIdleTimeout{48};

// Rank 0: sends `job` (a JSON object with "op": "train" or "quit") to every other rank.
void send_job(Collective& collective, const nlohmann::json& job);
// Ranks > 0: the next job from rank 0.
nlohmann::json receive_job(Collective& collective);

// Rank 0: `local` preceded, when there are other ranks, by the job that makes them train the same
// config in the same run folder with it.
TrainFunction hand_off_to_ranks(Collective& collective, TrainFunction local);

// Ranks > 0: trains every job rank 0 sends with `local` until "quit". A job whose config resolves
// to another hash here (another swavbench build) or whose training throws is reported on standard
// error with the rank and the job fails on this rank only. Returns 0, or 1 when a job failed.
// Throws Error when rank 0 is gone or sends a job it does not know.
int serve_jobs(Collective& collective, const TrainFunction& local);

// Rank 0: tells the other ranks that no job follows. `best_effort`: after a failure, when they
// may be gone already; nothing is thrown then.
void end_jobs(Collective& collective, bool best_effort = false);

}  // namespace swavbench
