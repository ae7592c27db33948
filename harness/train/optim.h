// The optimiser and learning-rate schedule of the authors' main_swav.py: SGD with momentum
// wrapped by apex's LARC (LARS), and a per-iteration linear warm-up + cosine schedule.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace swavbench {

struct OptimizerOptions {
  std::string kind = "lars";  // "lars" | "sgd"
  double momentum = 0.9;
  double weight_decay = 1e-6;
  double trust_coefficient = 0.001;
  // Take 1-D parameters (BN weights and biases, every bias) out of LARS: they get plain
  // g + wd * p. The authors' SwAV applies LARS to every parameter (false); SimCLR-style recipes
  // exclude them.
  bool lars_exclude_bn_bias = false;
};

// SGD with momentum, optionally wrapped by LARS exactly as the authors use apex's
// LARC(trust_coefficient = 0.001, clip = False). For each parameter p with a gradient g:
//
//   LARS active:  pn = ||p||, gn = ||g||; if pn != 0 and gn != 0:
//                   g = (g + wd * p) * trust * pn / (gn + pn * wd + 1e-8)
//                 else g is used unchanged (no weight decay either), as apex does.
//   otherwise:    g = g + wd * p
//   momentum:     buf = g on the first step, then buf = momentum * buf + g;  p -= lr * buf
//
// (torch.optim.SGD semantics: dampening 0, no Nesterov.) Parameters whose gradient is
// undefined are skipped entirely, momentum included, like torch.optim; SwAV's frozen prototypes
// rely on this. p.grad() itself is never modified.
class LarsSgd {
 public:
  // Throws InputError for an unknown kind or out-of-range hyper-parameters, Error for an
  // undefined or duplicate-named parameter.
  LarsSgd(std::vector<std::pair<std::string, torch::Tensor>> named_params,
          OptimizerOptions options);

  void set_lr(double lr) { lr_ = lr; }
  double lr() const { return lr_; }

  // Every parameter whose name starts with `name_prefix` steps with lr() * scale from now on
  // (semi-supervised fine-tuning: trunk lr vs head lr). A later call replaces, rather than
  // multiplies, the scale of the parameters it matches. Throws InputError if nothing matches,
  // which is almost always a misspelt prefix.
  void set_lr_scale(const std::string& name_prefix, double scale);

  // Zeroes the gradients in place (torch 1.x zero_grad semantics, as the authors' code ran):
  // they stay allocated, so gradient all-reduce buckets see the same tensors every step.
  void zero_grad();

  // One update of every parameter that has a gradient. Runs under NoGradGuard itself.
  void step();

  // Momentum buffers, keyed by parameter name, in a nested archive "lars_sgd". The learning
  // rate and lr scales are not stored: the schedule and the caller set them again. A restored
  // optimiser continues bit-identically to an uninterrupted one.
  void save(torch::serialize::OutputArchive& archive) const;
  // Throws Error if the archive holds a buffer for a name this optimiser does not have.
  void load(torch::serialize::InputArchive& archive);

  const OptimizerOptions& options() const { return options_; }

 private:
  struct Param {
    std::string name;
    torch::Tensor tensor;
    torch::Tensor momentum_buffer;  // undefined until the parameter's first step
    bool lars = false;
    double lr_scale = 1.0;
  };

  torch::Tensor lars_gradient(const Param& param, const torch::Tensor& grad) const;

  OptimizerOptions options_;
  double lr_ = 0.0;
  std::vector<Param> params_;
};

// Per-iteration learning rate of main_swav.py: np.linspace(start_warmup, base_lr, warmup_iters)
// (both ends included), then for t = 0 .. n - 1 with n = total_iters - warmup_iters:
//   final_lr + 0.5 * (base_lr - final_lr) * (1 + cos(pi * t / n)).
// Computed on demand from the same expressions rather than tabulated: 800 ImageNet epochs are
// four million iterations.
class LrSchedule {
 public:
  // Throws InputError unless 0 <= warmup_iters <= total_iters and total_iters >= 1.
  LrSchedule(double base_lr, double final_lr, double start_warmup, int64_t warmup_iters,
             int64_t total_iters);

  // The learning rate of `iteration` (0-based); past the end, the table's last value.
  double at(int64_t iteration) const;

  int64_t total_iters() const { return total_iters_; }
  int64_t warmup_iters() const { return warmup_iters_; }

 private:
  double base_lr_;
  double final_lr_;
  double start_warmup_;
  int64_t warmup_iters_;
  int64_t total_iters_;
};

}  // namespace swavbench
