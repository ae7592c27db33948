#include "app/distributed_run.h"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>

#include "harness/core/check.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/dist/process_group.h"
#include "harness/experiment/jobs.h"
#include "harness/store/store.h"

namespace swavbench {

namespace {

std::string describe_exit(int code) {
  if (code > 128) {
    const int sig = code - 128;
    const char* name = ::strsignal(sig);
    return fmt::format("was killed by signal {} ({})", sig, name != nullptr ? name : "?");
  }
  return fmt::format("exited with code {}", code);
}

}  // namespace

int run_worker(Collective& collective) {
  return serve_jobs(collective, train_run_over(collective));
}

int launch_local_ranks(int nproc, const std::vector<std::string>& child_argv,
                       const std::string& db_path, const std::string& runs_dir) {
  std::vector<int> codes, pids;
  const int port = free_tcp_port();
  std::cout << fmt::format("launching {} ranks on this machine (Gloo over 127.0.0.1:{})\n", nproc,
                           port)
            << std::flush;
  spawn_local_ranks(nproc, child_argv, port, std::chrono::seconds(10), &codes, &pids);

  std::vector<std::string> abnormal;
  for (int r = 0; r < nproc; ++r)
    if (codes[r] != 0) abnormal.push_back(fmt::format("rank {} {}", r, describe_exit(codes[r])));
  if (abnormal.empty()) return 0;
  std::string launcher_note;
  for (const auto& a : abnormal) launcher_note += (launcher_note.empty() ? "" : "; ") + a;

  // Runs rank 0 was training when the job broke. A run rank 0 could not mark itself (rank 0 was
  // killed) is still "running" with a free lock; one it marked failed learns which rank died.
  Store store(db_path);
  const std::string here = hostname();
  for (const RunRow& row : store.runs()) {
    if (row.pid != pids[0] || row.host != here) continue;
    if (row.status == kStatusRunning && !RunDir(runs_dir, row.hash).is_locked()) {
      store.set_status(row.id, kStatusFailed,
                       fmt::format("distributed run of {} ranks broke: {}; the next run of this "
                                   "config resumes from its last checkpoint",
                                   nproc, launcher_note));
      std::cerr << fmt::format("swavbench: run #{} marked failed: {}\n", row.id, launcher_note);
    } else if (row.status == kStatusFailed && row.reason.find("[launcher:") == std::string::npos) {
      store.set_status(row.id, kStatusFailed,
                       fmt::format("{} [launcher: {}]", row.reason, launcher_note));
    }
  }
  std::cerr << fmt::format("swavbench: {}\n", launcher_note);
  // Bad input (2) found by rank 0 wins: it is the message the user must act on.
  if (codes[0] == 2) return 2;
  return 1;
}

}  // namespace swavbench
