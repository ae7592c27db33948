// Fault injection for the kill-and-resume tests (tests/integration/kill_torture.sh).
//
//   SWAVBENCH_FAULT=NAME      kill this process with SIGKILL the first time it reaches
//                             fault_point("NAME")
//   SWAVBENCH_FAULT=NAME@N    ... the N-th time (N >= 1)
//
// SIGKILL, not an exception or exit(): nothing runs after it (no destructor, no handler, no
// flush), exactly as when the machine's OOM killer or a scheduler ends a job. The points are
// placed where a kill is hardest to survive: between the write of a checkpoint's temporary file
// and its rename, between a checkpoint and the epoch row that goes with it, after an optimiser
// step. Unset (every real run), a point costs one comparison.
#pragma once

namespace swavbench {

void fault_point(const char* name);

}  // namespace swavbench
