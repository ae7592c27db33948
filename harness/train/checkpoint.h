// Checkpoint files: what a run's checkpoint.pt holds, and the one reader that checks it.
//
// A checkpoint is a LibTorch archive with the entries
//   model              the method's module (parameters and buffers, nested by submodule)
//   optimizer          LarsSgd's momentum buffers (absent in files written without one)
//   method             the method's own state (SwAV's feature queue, MoCo's key queue)
//   next_epoch, iteration, world_size    int64 scalars
//   last_epoch_record  the last finished epoch's EpochReport as JSON (absent in older files)
// Reading checks everything against the run that reads it, so a truncated, corrupt, foreign or
// hand-edited file is an InputError that names the file and the entry, says what was expected
// and ends "delete it to retrain" (exit 2), never a LibTorch error, a crash, or a model reshaped
// by the file (LibTorch's Module::load replaces a tensor of another shape instead of refusing).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>

namespace swavbench {

class LarsSgd;

struct CheckpointCounters {
  int next_epoch = 0;             // epochs finished
  int64_t iteration = 0;          // optimiser steps taken
  int world_size = 1;             // processes that wrote it
  std::string last_epoch_record;  // epoch_record() of epoch next_epoch - 1; "" in older files
};

// What a checkpoint holds besides its counters. `model` is required; a null optimizer or an
// empty method-state function leaves that entry out (writing) or unread (reading).
struct CheckpointParts {
  torch::nn::Module* model = nullptr;
  LarsSgd* optimizer = nullptr;
  std::function<void(torch::serialize::OutputArchive&)> save_method_state;
  std::function<void(torch::serialize::InputArchive&)> load_method_state;
};

// The checkpoint's bytes (write them with write_file_atomically: harness/core/files.h).
std::string checkpoint_bytes(const CheckpointParts& parts, const CheckpointCounters& counters);

// Reads `path` into `parts` and returns its counters. Every tensor of the model must be in the
// file with the model's shape and dtype; next_epoch must be in [0, max_next_epoch] (the run's
// epochs), the iteration >= 0, the world size >= 1, the record (when present) an epoch record of
// epoch next_epoch - 1. Throws InputError otherwise; nothing is read into `parts` from a file
// that cannot be opened, but a file refused midway may leave the model partly loaded (callers
// discard it).
CheckpointCounters read_checkpoint(const std::string& path, const CheckpointParts& parts,
                                   int max_next_epoch, torch::Device device);

// A rank's own state file (ranks > 0 keep their share of a method's state, SwAV's per-rank
// queue, next to rank 0's checkpoint): the one entry "method".
std::string rank_state_bytes(
    const std::function<void(torch::serialize::OutputArchive&)>& save_method_state);
// Reads such a file; InputError as read_checkpoint.
void read_rank_state(const std::string& path,
                     const std::function<void(torch::serialize::InputArchive&)>& load_method_state,
                     torch::Device device);

}  // namespace swavbench
