#include "harness/experiment/runner.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>

#include "harness/core/check.h"
#include "harness/core/method_spec.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"

namespace swavbench {

TrainFunction train_run_over(Collective& collective) {
  return [&collective](const RunConfig& config, const std::string& run_dir,
                       const TrainCallbacks& callbacks) {
    return train_run(config, run_dir, callbacks, collective);
  };
}

namespace {

// The run row of a run this database has never seen, with its provenance.
RunRow new_run_row(const PretrainRequest& request) {
  const RunConfig& config = request.config;
  RunRow row;
  row.hash = request.hash;
  row.config_json = config.to_json().dump();
  row.method = config.method;
  row.status = kStatusRunning;
  row.git_sha = swavbench_git_sha();
  row.code_json = nlohmann::json{{"shared", shared_training_code_digest()},
                                 {"method", method_code_digest(config.method)}}
                      .dump();
  row.torch_version = TORCH_VERSION;
  row.device = config.device == "cuda" && torch::cuda::is_available()
                   ? fmt::format("cuda x{}", torch::cuda::device_count())
                   : fmt::format("cpu ({} threads)", torch::get_num_threads());
  row.world_size = request.world_size;
  row.per_device_batch = static_cast<int>(config.batch_size / request.world_size);
  row.host = hostname();
  row.pid = ::getpid();
  row.label = request.label;
  row.suite = request.suite;
  return row;
}

}  // namespace

Runner::Runner(Store& store, RunnerOptions options, RunObserver& observer, TrainFunction train)
    : store_(store), options_(std::move(options)), observer_(observer), train_(std::move(train)) {}

PretrainPlan Runner::plan(const PretrainRequest& request) const {
  PretrainPlan plan;
  plan.existing = store_.run_by_hash(request.hash);
  if (!plan.existing) {
    plan.action = PretrainPlan::Action::kTrain;
  } else if (options_.force) {
    plan.action = PretrainPlan::Action::kRetrain;
  } else if (plan.existing->status == kStatusDone) {
    plan.action = PretrainPlan::Action::kReuse;
  } else {
    // Interrupted, failed or left running by a dead process: continue from the checkpoint.
    plan.action = PretrainPlan::Action::kResume;
  }
  return plan;
}

PretrainResult Runner::pretrain(const PretrainRequest& request,
                                const decltype(TrainCallbacks::monitor)& monitor) {
  using Action = PretrainPlan::Action;
  const PretrainPlan what = plan(request);
  if (what.action == Action::kReuse) {
    store_.add_tags(what.existing->id, request.tags);
    observer_.on_reused(*what.existing);
    return {*what.existing, true};
  }

  SB_INPUT_CHECK(request.config.batch_size % request.world_size == 0,
                 "{}: batch_size {} is not divisible by the number of processes {}", request.where,
                 request.config.batch_size, request.world_size);
  const RunDir run_folder(options_.runs_dir, request.hash);
  RunDirLock lock(run_folder, fmt::format("pid {} on {}, training into {} since {}", ::getpid(),
                                          hostname(), store_.path(), utc_now_iso8601()));
  if (!lock.held()) {
    // The runs folder is this database's own (core/run_dir.h), so the holder trains into the
    // same database: another database would not have waited on it.
    throw InputError(fmt::format(
        "{}: run [{}] is being trained by another process ({}), into this same database; wait "
        "for it to finish (a later `swavbench run` reuses its result) or stop it (the next "
        "`swavbench run` then resumes from its last checkpoint)",
        request.where, request.hash, lock.holder()));
  }

  RunRow row;
  int resume_from = 0;
  switch (what.action) {
    case Action::kRetrain:
      run_folder.clear_training_state();
      store_.reset_run(what.existing->id, request.config.to_json().dump());
      store_.claim_run(what.existing->id, ::getpid(), hostname());
      row = *store_.run_by_id(what.existing->id);
      break;
    case Action::kResume:
      store_.claim_run(what.existing->id, ::getpid(), hostname());
      row = *store_.run_by_id(what.existing->id);
      resume_from = static_cast<int>(store_.epochs(row.id).size());
      break;
    default:
      // A run this database has never seen starts fresh, even if its folder holds a checkpoint
      // (a database that was deleted and made again beside its old runs folder).
      run_folder.clear_training_state();
      row = new_run_row(request);
      store_.insert_run(row);
      break;
  }
  store_.add_tags(row.id, request.tags);
  observer_.on_start(row, resume_from);

  const int64_t run_id = row.id;
  TrainCallbacks callbacks;
  auto epoch_row = [run_id](const EpochReport& r) {
    EpochRow e;
    e.run_id = run_id;
    e.epoch = r.epoch;
    e.loss = r.loss;
    e.lr = r.lr;
    e.img_per_s = r.img_per_s;
    e.data_wait = r.data_wait;
    e.peak_mem = r.peak_mem;
    e.extra_json = nlohmann::json(r.logs).dump();
    return e;
  };
  callbacks.on_epoch = [&](const EpochReport& r) {
    store_.add_epoch(epoch_row(r));
    observer_.on_epoch(row, r);
  };
  // The checkpoint is written before the row: a kill between the two leaves the row missing,
  // and the checkpoint's own record of the epoch fills it in.
  callbacks.on_epoch_restored = [&](const EpochReport& r) {
    for (const EpochRow& e : store_.epochs(run_id))
      if (e.epoch == r.epoch) return;
    store_.add_epoch(epoch_row(r));
  };
  callbacks.on_alarm = [&](const std::string& kind, int epoch, const std::string& reason,
                           const std::string& advice) {
    const AlarmRow alarm{run_id, epoch, kind, reason, advice, /*created=*/""};
    store_.add_alarm(alarm);
    observer_.on_alarm(row, alarm);
  };
  if (options_.report_progress) {
    callbacks.on_progress = [&](int epoch, int64_t batch, int64_t batches, double loss,
                                double img_per_s) {
      observer_.on_progress(row, epoch, batch, batches, loss, img_per_s);
    };
  }
  callbacks.monitor = monitor;

  const auto start = std::chrono::steady_clock::now();
  try {
    TrainOutcome outcome = train_(request.config, run_folder.path(), callbacks);
    const std::string checkpoint = run_folder.checkpoint_path();
    store_.add_artifact({run_id, "checkpoint", checkpoint, sha256_file(checkpoint)});
    store_.add_artifact({run_id, "weights", checkpoint, outcome.weights_sha256});
    store_.set_status(run_id, kStatusDone,
                      outcome.stopped_by_alarm ? "stopped early by the collapse alarm" : "");
  } catch (const InputError& e) {
    store_.set_status(run_id, kStatusFailed, e.what());
    throw;
  } catch (const std::exception& e) {
    // RunFailure (a NaN loss, a collective that failed) and anything unexpected alike.
    store_.set_status(run_id, kStatusFailed, e.what());
    throw Error(fmt::format("run #{} [{}] failed: {}", run_id, request.hash, e.what()));
  }
  const RunRow done = *store_.run_by_id(run_id);
  observer_.on_done(
      done, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return {done, false};
}

int mark_interrupted_runs(Store& store, const std::string& runs_dir) {
  int marked = 0;
  const std::string here = hostname();
  for (const RunRow& row : store.runs(kStatusRunning)) {
    if (row.host != here) continue;  // another machine's run: its lock is not visible here
    if (RunDir(runs_dir, row.hash).is_locked()) continue;  // a live process is training it
    store.set_status(row.id, kStatusInterrupted,
                     fmt::format("process {} on {} ended without finishing (killed or crashed); "
                                 "the next run of this config resumes from its last checkpoint",
                                 row.pid, row.host));
    ++marked;
  }
  return marked;
}

}  // namespace swavbench
