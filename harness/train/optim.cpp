#include "harness/train/optim.h"

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "harness/core/check.h"

namespace swavbench {
namespace {

// apex LARC's eps, added to the denominator of the adaptive rate.
constexpr double kLarsEps = 1e-8;
// Python's math.pi, so the schedule matches main_swav.py to the last bit.
constexpr double kPi = 3.141592653589793;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

LarsSgd::LarsSgd(std::vector<std::pair<std::string, torch::Tensor>> named_params,
                 OptimizerOptions options)
    : options_(std::move(options)) {
  SB_INPUT_CHECK(options_.kind == "lars" || options_.kind == "sgd",
                 "unknown optimizer '{}' (expected lars or sgd)", options_.kind);
  SB_INPUT_CHECK(options_.momentum >= 0.0 && options_.momentum < 1.0,
                 "momentum must be in [0, 1), got {}", options_.momentum);
  SB_INPUT_CHECK(options_.weight_decay >= 0.0, "weight_decay must be >= 0, got {}",
                 options_.weight_decay);
  SB_INPUT_CHECK(options_.trust_coefficient > 0.0, "trust_coefficient must be > 0, got {}",
                 options_.trust_coefficient);

  std::unordered_map<std::string, int> seen;
  params_.reserve(named_params.size());
  for (auto& [name, tensor] : named_params) {
    SB_CHECK(tensor.defined(), "parameter '{}' is undefined", name);
    SB_CHECK(tensor.is_floating_point(), "parameter '{}' is not floating point", name);
    SB_CHECK(++seen[name] == 1, "duplicate parameter name '{}'", name);
    Param param;
    param.name = name;
    param.tensor = tensor;
    param.lars = options_.kind == "lars" && !(options_.lars_exclude_bn_bias && tensor.dim() <= 1);
    params_.push_back(std::move(param));
  }
}

void LarsSgd::set_lr_scale(const std::string& name_prefix, double scale) {
  SB_INPUT_CHECK(scale >= 0.0, "lr scale must be >= 0, got {} for '{}'", scale, name_prefix);
  bool matched = false;
  for (Param& param : params_) {
    if (starts_with(param.name, name_prefix)) {
      param.lr_scale = scale;
      matched = true;
    }
  }
  SB_INPUT_CHECK(matched, "lr scale prefix '{}' matches no parameter", name_prefix);
}

void LarsSgd::zero_grad() {
  for (Param& param : params_) {
    torch::Tensor& grad = param.tensor.mutable_grad();
    if (!grad.defined()) continue;
    // As torch.optim.Optimizer.zero_grad(set_to_none=False): cut any graph, then zero in place.
    if (grad.grad_fn()) {
      grad = grad.detach();
    } else {
      grad.requires_grad_(false);
    }
    grad.zero_();
  }
}

torch::Tensor LarsSgd::lars_gradient(const Param& param, const torch::Tensor& grad) const {
  const torch::Tensor& p = param.tensor;
  const double wd = options_.weight_decay;
  const torch::Tensor p_norm = p.norm();
  const torch::Tensor g_norm = grad.norm();
  // apex tests `param_norm != 0 and grad_norm != 0` on the host; a torch::where keeps the test
  // on the device, so a GPU step does not synchronise once per parameter.
  const torch::Tensor active = p_norm.ne(0).logical_and(g_norm.ne(0));
  const torch::Tensor adaptive =
      p_norm * options_.trust_coefficient / (g_norm + p_norm * wd + kLarsEps);
  // LARC folds the weight decay into the gradient before scaling; the inner SGD then has none.
  torch::Tensor scaled = grad.add(p, wd).mul_(adaptive);
  return torch::where(active, scaled, grad);
}

void LarsSgd::step() {
  torch::NoGradGuard no_grad;
  const double wd = options_.weight_decay;
  for (Param& param : params_) {
    const torch::Tensor& grad = param.tensor.grad();
    if (!grad.defined()) continue;
    torch::Tensor d_p;
    if (param.lars) {
      d_p = lars_gradient(param, grad);
    } else if (wd != 0.0) {
      d_p = grad.add(param.tensor, wd);
    } else {
      d_p = grad;
    }
    if (options_.momentum != 0.0) {
      if (!param.momentum_buffer.defined()) {
        param.momentum_buffer = d_p.clone();
      } else {
        param.momentum_buffer.mul_(options_.momentum).add_(d_p);
      }
      d_p = param.momentum_buffer;
    }
    param.tensor.add_(d_p, -lr_ * param.lr_scale);
  }
}

void LarsSgd::save(torch::serialize::OutputArchive& archive) const {
  // Parameter names contain dots, which archive keys may not, so names are stored as string
  // values next to their buffers under numbered keys.
  torch::serialize::OutputArchive state(archive.compilation_unit());
  int64_t count = 0;
  for (const Param& param : params_) {
    if (!param.momentum_buffer.defined()) continue;
    const std::string index = std::to_string(count);
    state.write("name_" + index, c10::IValue(param.name));
    state.write("momentum_" + index, param.momentum_buffer, /*is_buffer=*/true);
    ++count;
  }
  state.write("count", c10::IValue(count));
  archive.write("lars_sgd", state);
}

void LarsSgd::load(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive state;
  archive.read("lars_sgd", state);
  c10::IValue count_value;
  state.read("count", count_value);
  const int64_t count = count_value.toInt();

  std::unordered_map<std::string, Param*> by_name;
  for (Param& param : params_) {
    by_name.emplace(param.name, &param);
    // A parameter without a stored buffer had not stepped yet: it starts afresh.
    param.momentum_buffer = torch::Tensor();
  }
  for (int64_t i = 0; i < count; ++i) {
    const std::string index = std::to_string(i);
    c10::IValue name_value;
    state.read("name_" + index, name_value);
    const std::string name = name_value.toStringRef();
    torch::Tensor buffer;
    state.read("momentum_" + index, buffer, /*is_buffer=*/true);
    auto it = by_name.find(name);
    SB_CHECK(it != by_name.end(), "optimizer checkpoint has momentum for unknown parameter '{}'",
             name);
    Param& param = *it->second;
    SB_CHECK(buffer.sizes() == param.tensor.sizes(),
             "optimizer checkpoint momentum for '{}' has shape {}, parameter has {}", name,
             c10::str(buffer.sizes()), c10::str(param.tensor.sizes()));
    param.momentum_buffer =
        buffer.to(param.tensor.options(), /*non_blocking=*/false, /*copy=*/true);
  }
}

LrSchedule::LrSchedule(double base_lr, double final_lr, double start_warmup, int64_t warmup_iters,
                       int64_t total_iters)
    : base_lr_(base_lr),
      final_lr_(final_lr),
      start_warmup_(start_warmup),
      warmup_iters_(warmup_iters),
      total_iters_(total_iters) {
  SB_INPUT_CHECK(total_iters >= 1, "the schedule needs at least one iteration, got {}",
                 total_iters);
  SB_INPUT_CHECK(warmup_iters >= 0 && warmup_iters <= total_iters,
                 "warm-up of {} iterations does not fit in {} iterations", warmup_iters,
                 total_iters);
}

double LrSchedule::at(int64_t iteration) const {
  SB_CHECK(iteration >= 0, "negative iteration {}", iteration);
  if (iteration >= total_iters_) iteration = total_iters_ - 1;
  if (iteration < warmup_iters_) {
    // np.linspace: start + i * step, the last point set to stop exactly; one point is start.
    if (warmup_iters_ == 1) return start_warmup_;
    if (iteration == warmup_iters_ - 1) return base_lr_;
    const double step = (base_lr_ - start_warmup_) / static_cast<double>(warmup_iters_ - 1);
    return static_cast<double>(iteration) * step + start_warmup_;
  }
  const auto t = static_cast<double>(iteration - warmup_iters_);
  const auto n = static_cast<double>(total_iters_ - warmup_iters_);
  return final_lr_ + 0.5 * (base_lr_ - final_lr_) * (1.0 + std::cos(kPi * t / n));
}

}  // namespace swavbench
