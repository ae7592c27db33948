// RunDriver: the Driver behind `swavbench run`, the Lua script's bench.* calls. It resolves
// configs from Lua tables and --set, hands each bench.pretrain to the experiment Runner
// (reuse, resume or train, recorded in the store; harness/experiment/runner.h) with a console
// observer, runs bench.eval's protocols and renders bench.table.
#pragma once

#include <map>
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
  // A slice of a sweep (`--shard I/N`, or a SLURM array task): of the script's runs, in the
  // order its bench.pretrain calls first name them, this process trains and evaluates those
  // whose position p has p % shards == shard - 1; the others are left to their shards, and
  // tables wait for the merged database. shards == 1: every run.
  int shard = 1;
  int shards = 1;
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
  int runs_left_to_other_shards() const { return static_cast<int>(left_to_others_.size()); }

 private:
  void check_overrides(const std::string& where);

  Store& store_;
  DriverOptions options_;
  nlohmann::json config_overrides_ = nlohmann::json::object();
  std::set<std::string> params_seen_;
  int runs_trained_ = 0;
  int runs_reused_ = 0;
  // Sharding: each hash's position among the distinct runs the script asked for, and the
  // hashes this shard leaves to the others.
  std::map<std::string, int> run_positions_;
  // Every run this script asked for and got (trained or reused): the claims printed at the end
  // are those these runs bear on.
  std::set<std::string> hashes_used_;
  std::set<std::string> left_to_others_;
};

}  // namespace swavbench
