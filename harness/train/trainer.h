// The pretraining loop: Dataset -> loader -> multi-crop -> Method -> LARS/SGD with the
// per-iteration schedule; an atomic checkpoint (temp file + rename) after every epoch, holding the
// model, optimiser, method state (queues, momentum encoder), epoch and iteration. All randomness
// after initialisation is a function of (seed, epoch, sample), so a resumed CPU run ends
// bit-identical to an uninterrupted one.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>

#include "harness/core/config.h"
#include "harness/dist/collective.h"
#include "harness/models/resnet.h"
#include "harness/train/epoch_report.h"
#include "harness/train/method.h"

namespace swavbench {

struct TrainCallbacks {
  // After the epoch's checkpoint is on disk.
  std::function<void(const EpochReport&)> on_epoch;
  // On resume (rank 0): the last finished epoch's report as its checkpoint recorded it. A
  // process killed between that checkpoint and on_epoch never wrote the epoch's row; the
  // receiver writes it from this when the store lacks it.
  std::function<void(const EpochReport&)> on_epoch_restored;
  // kind: "collapse"; reason: what was seen; advice: what to try.
  std::function<void(const std::string& kind, int epoch, const std::string& reason,
                     const std::string& advice)>
      on_alarm;
  std::function<void(int epoch, int64_t batch, int64_t batches, double loss, double img_per_s)>
      on_progress;
  // After every optimiser step: the iteration and its loss (the mean over ranks).
  std::function<void(int64_t iteration, double loss)> on_step;
  // Called at the end of each epoch, before the checkpoint; its values join the epoch's logs
  // (e.g. the kNN monitor). It must not change the weights.
  std::function<std::map<std::string, double>(Method& method, int epoch)> monitor;
};

struct TrainOutcome {
  int epochs_done = 0;
  int resumed_from_epoch = 0;  // 0 when the run started fresh
  bool stopped_by_alarm = false;
  std::string weights_sha256;  // weights_digest() of the final model
};

// A run that must stop as failed (NaN loss): the message names the iteration.
class RunFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string checkpoint_path(const std::string& run_dir);
// Where rank R (> 0) of a multi-process run keeps its own method state (SwAV's queue).
std::string rank_state_path(const std::string& run_dir, int rank);

// SHA-256 over every parameter and buffer (name, shape, float bytes, in name order): equal
// digests mean bit-identical weights, whatever the checkpoint container's byte layout.
std::string weights_digest(torch::nn::Module& module);

// Trains, resuming from run_dir's checkpoint when there is one. With a multi-process
// `collective`, every rank calls this with the same config and run_dir: the loader gives each rank
// its shard of every global batch (config.batch_size is global), gradients are averaged after
// backward, BatchNorm is synchronised when config.sync_bn, the logged loss is the mean over ranks;
// rank 0 writes the checkpoint and ranks > 0 their own method state (rank_state_path). Callbacks
// are meant for rank 0 (the others pass none).
TrainOutcome train_run(const RunConfig& config, const std::string& run_dir,
                       const TrainCallbacks& callbacks, Collective& collective);

// The run's method with its final weights loaded from the checkpoint, in eval mode.
std::unique_ptr<Method> load_trained_method(const RunConfig& config, const std::string& run_dir,
                                            torch::Device device);

torch::Device resolve_device(const std::string& device);

// Peak resident memory of this process (CPU) or peak allocated device memory (CUDA), bytes.
double peak_memory_bytes(torch::Device device);

}  // namespace swavbench
