// A per-operator profile of whatever LibTorch runs while it is alive, torch-free in its interface:
// the self and total wall time of every ATen operator and autograd node, from ATen's
// RecordFunction callbacks (the hooks torch.profiler's CPU events come from), on every thread
// that records them. It answers "where does a training step spend its time" without a Python
// profiler or Kineto, against LibTorch 1.13 and 2.x alike.
//
//   total: wall time from an operator's start to its end, including what it calls;
//   self:  total minus the totals of the operators it called on the same thread (so the self
//          times of one thread's operators add up to the time spent inside operators at all:
//          the `in_ops_s` of the profile);
//   autograd nodes (ConvolutionBackward0, ...) are operators too: their self time is the
//          engine's bookkeeping, their children (aten::convolution_backward, ...) the kernels.
//
// Intra-op worker threads (OpenMP) record nothing: a kernel's parallel work is inside its
// caller's span. Only one OpProfile may be alive at a time (a second one throws swavbench::Error).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace swavbench {

struct OpProfileRow {
  std::string name;  // "aten::convolution", "ConvolutionBackward0", ...
  int64_t calls = 0;
  double self_s = 0;
  double total_s = 0;
};

struct OpProfileSummary {
  std::vector<OpProfileRow> rows;  // by self time, largest first
  double in_ops_s = 0;  // the outermost operators' total time: time spent inside ATen at all
};

class OpProfile {
 public:
  OpProfile();   // starts recording (installs the global callback)
  ~OpProfile();  // stops recording
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // What has been recorded so far (the callback stays installed).
  OpProfileSummary summary() const;
  // Forgets what was recorded (e.g. after warm-up steps).
  void clear();

  struct State;

 private:
  std::unique_ptr<State> state_;
  uint64_t handle_ = 0;
};

}  // namespace swavbench
