#include "harness/experiment/jobs.h"

#include <chrono>
#include <iostream>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/dist/collective.h"

namespace swavbench {
using nlohmann::json;

void send_job(Collective& collective, const json& job) {
  SB_CHECK(collective.rank() == 0, "only rank 0 sends jobs");
  collective.post_to_all(job.dump());
}

json receive_job(Collective& collective) {
  return json::parse(collective.wait_for_post(kWorkerIdleTimeout));
}

TrainFunction hand_off_to_ranks(Collective& collective, TrainFunction local) {
  return [&collective, local = std::move(local)](
             const RunConfig& config, const std::string& run_dir, const TrainCallbacks& callbacks) {
    if (collective.world_size() > 1) {
      send_job(collective, {{"op", "train"},
                            {"config", config.to_json()},
                            {"hash", run_hash(config, collective.world_size())},
                            {"run_dir", run_dir}});
    }
    return local(config, run_dir, callbacks);
  };
}

int serve_jobs(Collective& collective, const TrainFunction& local) {
  const int rank = collective.rank();
  int code = 0;
  while (true) {
    json job = receive_job(collective);
    const std::string op = job.value("op", "");
    if (op == "quit") return code;
    SB_CHECK(op == "train", "rank {}: unknown job '{}' from rank 0", rank, job.dump());
    const std::string hash = job.at("hash").get<std::string>();
    const std::string where = fmt::format("rank {} job [{}]", rank, hash);
    try {
      RunConfig config = resolve_config(job.at("config"), json::object(), where);
      SB_CHECK(run_hash(config, collective.world_size()) == hash,
               "{}: the config resolves to another hash here ({}): every rank must run the same "
               "swavbench build",
               where, run_hash(config, collective.world_size()));
      local(config, job.at("run_dir").get<std::string>(), TrainCallbacks{});
    } catch (const std::exception& e) {
      std::cerr << fmt::format("swavbench: rank {}: run [{}] failed: {}\n", rank, hash, e.what());
      code = 1;
    }
  }
}

void end_jobs(Collective& collective, bool best_effort) {
  if (!best_effort) {
    send_job(collective, {{"op", "quit"}});
    // Rank 0's exit takes the store, and with it a "quit" not yet read: the idle ranks would
    // then fail with a broken pipe instead of going home. A rank that does not confirm is
    // reported, not fatal: every run is recorded by now.
    try {
      collective.wait_until_read(std::chrono::seconds(60));
    } catch (const std::exception& e) {
      std::cerr << fmt::format("swavbench: warning: {}\n", e.what());
    }
    return;
  }
  try {
    send_job(collective, {{"op", "quit"}});
  } catch (const std::exception&) {
  }
}

}  // namespace swavbench
