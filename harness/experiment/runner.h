// Runner: what one bench.pretrain call does once its config is resolved. It decides between
// reusing a completed run of the same hash, resuming an interrupted one from its checkpoint and
// training a new one (or, with force, retraining); holds the run folder's lock while training;
// and records the run row, its epochs, alarms, artifacts and final status in the store. What
// happens is reported to a RunObserver (the CLI prints it; tests record it), and the training
// itself is a TrainFunction (train_run in the binary, a fake in the tests), so every branch
// here is tested without training a network.
//
// Not here: resolving configs from Lua tables (core/config), evaluation (train/evaluation),
// multi-process job posting (the caller wraps it into its TrainFunction).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/core/config.h"
#include "harness/store/store.h"
#include "harness/train/trainer.h"

namespace swavbench {

// One bench.pretrain call, resolved.
struct PretrainRequest {
  RunConfig config;
  std::string hash;  // run_hash(config, world_size)
  std::string label;
  std::vector<std::string> tags;
  std::string suite;  // the script, recorded with a new run
  int world_size = 1;
  std::string where;  // FILE:LINE of the call, for errors
};

// What the store already holds for a request decides what pretrain does.
struct PretrainPlan {
  enum class Action { kReuse, kResume, kTrain, kRetrain };
  Action action = Action::kTrain;
  std::optional<RunRow> existing;  // the run of the same hash, if any
};

struct PretrainResult {
  RunRow run;           // as stored after the call
  bool reused = false;  // true: nothing was trained
};

// Notified of what the runner does, in order: on_reused, or on_start, then on_epoch / on_alarm /
// on_progress while training, then on_done (not after a failure: pretrain throws).
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_reused(const RunRow& run) {}
  // resume_from_epoch: the epochs already recorded (0 for a run that starts from scratch).
  virtual void on_start(const RunRow& run, int resume_from_epoch) {}
  virtual void on_epoch(const RunRow& run, const EpochReport& report) {}
  virtual void on_alarm(const RunRow& run, const AlarmRow& alarm) {}
  virtual void on_progress(const RunRow& run, int epoch, int64_t batch, int64_t batches,
                           double loss, double img_per_s) {}
  virtual void on_done(const RunRow& run, double seconds) {}
};

// Trains `config` in `run_dir`, resuming from its checkpoint when there is one, and calls the
// callbacks as train_run does. It must leave the checkpoint at RunDir's checkpoint_path.
using TrainFunction = std::function<TrainOutcome(
    const RunConfig& config, const std::string& run_dir, const TrainCallbacks& callbacks)>;

// The real trainer as a TrainFunction: train_run over `collective` (which must outlive it).
TrainFunction train_run_over(Collective& collective);

struct RunnerOptions {
  std::string runs_dir;          // run folders: <runs_dir>/<hash>/
  bool force = false;            // retrain even when a completed run exists
  bool report_progress = false;  // pass per-batch progress to the observer
};

class Runner {
 public:
  Runner(Store& store, RunnerOptions options, RunObserver& observer, TrainFunction train);

  // What pretrain would do now. Reads the store only.
  PretrainPlan plan(const PretrainRequest& request) const;

  // Reuses, resumes or trains (see plan), recording everything. `monitor` (may be empty) runs at
  // the end of every epoch and its values join the epoch's logs (the kNN monitor).
  //
  // Errors: InputError (exit 2) before anything is recorded when the run folder is locked by
  // another live process or the batch does not split over the processes; a training failure
  // marks the run failed with its reason, keeps the epochs recorded so far and throws Error
  // (InputError stays InputError).
  PretrainResult pretrain(const PretrainRequest& request,
                          const decltype(TrainCallbacks::monitor)& monitor = {});

 private:
  Store& store_;
  RunnerOptions options_;
  RunObserver& observer_;
  TrainFunction train_;
};

// Marks runs left "running" by a process that no longer holds their lock (killed, crashed) as
// interrupted, so the next pretrain resumes them. Returns how many were marked. Runs recorded
// by another host are left alone: their locks are not visible here.
int mark_interrupted_runs(Store& store, const std::string& runs_dir);

}  // namespace swavbench
