// RunDriver: the Driver behind `swavbench run`, the Lua script's bench.* calls. It resolves
// configs from Lua tables and --set, hands each bench.pretrain to the experiment Runner
// (reuse, resume or train, recorded in the store; harness/experiment/runner.h) with a console
// observer, runs bench.eval's protocols and renders bench.table.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "harness/lua/driver.h"
#include "harness/store/store.h"

namespace swavbench {

class Collective;

struct DriverOptions {
  nlohmann::json overrides = nlohmann::json::object();  // --set key=value, parsed
  bool dry_run = false;
  bool force = false;         // retrain even when a completed run exists
  std::string runs_dir;       // checkpoints: <runs_dir>/<hash>/
  std::string suite;          // the script path, recorded with each run
  bool progress_tty = false;  // one updating progress line instead of log lines
  // Rank 0 of a multi-process job (distributed_run.h): runs are trained by every rank together,
  // rank 0 sending each training job to the others. Not owned; null: a single process.
  Collective* collective = nullptr;
};

class RunDriver final : public Driver {
 public:
  RunDriver(Store& store, DriverOptions options);

  nlohmann::json pretrain(const nlohmann::json& table, const std::string& where) override;
  nlohmann::json eval(const nlohmann::json& run, const nlohmann::json& spec,
                      const std::string& where) override;
  std::string table(const nlohmann::json& spec, const std::string& where) override;
  nlohmann::json param(const std::string& name, const nlohmann::json& default_value,
                       const std::string& where) override;
  void log(const std::string& line) override;
  nlohmann::json dataset(const nlohmann::json& spec, const std::string& where) override;

  // After the script: every --set key must have been a config key or a bench.param.
  void finish(const std::string& script);

  int runs_trained() const { return runs_trained_; }
  int runs_reused() const { return runs_reused_; }

 private:
  void check_overrides(const std::string& where);

  Store& store_;
  DriverOptions options_;
  nlohmann::json config_overrides_ = nlohmann::json::object();
  std::set<std::string> params_seen_;
  int runs_trained_ = 0;
  int runs_reused_ = 0;
};

}  // namespace swavbench
