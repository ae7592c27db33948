#include "harness/dist/grad_sync.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <utility>

#include "harness/core/check.h"

namespace swavbench {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Applies `op` (an in-place collective) to `tensors` in buckets: tensors of one dtype and device
// are concatenated, in order, into flat buffers of at most `bucket_bytes`, `op` runs once per
// buffer, and the result is copied back. Groups and buckets depend only on the tensors' order,
// dtypes, devices and sizes, so every rank issues the same collectives in the same order.
void for_each_bucket(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes,
                     const std::function<void(torch::Tensor&)>& op) {
  SB_CHECK(bucket_bytes > 0, "bucket size must be positive, got {}", bucket_bytes);
  std::vector<std::pair<std::pair<torch::ScalarType, torch::Device>, std::vector<torch::Tensor>>>
      groups;
  for (const auto& tensor : tensors) {
    const auto key = std::make_pair(tensor.scalar_type(), tensor.device());
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& entry) { return entry.first == key; });
    if (group == groups.end()) {
      groups.emplace_back(key, std::vector<torch::Tensor>{});
      group = std::prev(groups.end());
    }
    group->second.push_back(tensor);
  }

  const auto run = [&](const std::vector<torch::Tensor>& bucket) {
    if (bucket.size() == 1 && bucket[0].is_contiguous()) {
      // One contiguous tensor needs no staging copy.
      torch::Tensor target = bucket[0];
      op(target);
      if (!target.is_same(bucket[0])) bucket[0].copy_(target);
      return;
    }
    std::vector<torch::Tensor> flat_parts;
    for (const auto& tensor : bucket) flat_parts.push_back(tensor.reshape({-1}));
    torch::Tensor flat = torch::cat(flat_parts);
    op(flat);
    int64_t offset = 0;
    for (const auto& tensor : bucket) {
      tensor.copy_(flat.narrow(0, offset, tensor.numel()).view(tensor.sizes()));
      offset += tensor.numel();
    }
  };

  for (const auto& group : groups) {
    std::vector<torch::Tensor> bucket;
    int64_t bytes = 0;
    for (const auto& tensor : group.second) {
      const int64_t size = tensor.numel() * static_cast<int64_t>(tensor.element_size());
      if (!bucket.empty() && bytes + size > bucket_bytes) {
        run(bucket);
        bucket.clear();
        bytes = 0;
      }
      bucket.push_back(tensor);
      bytes += size;
    }
    if (!bucket.empty()) run(bucket);
  }
}

// The Collective travels through the autograd context as an integer: IValue cannot hold a raw
// pointer, and the Collective outlives the graph (it lives for the whole run).
int64_t to_handle(Collective* collective) { return reinterpret_cast<intptr_t>(collective); }
Collective& from_handle(AutogradContext* ctx) {
  return *reinterpret_cast<Collective*>(
      static_cast<intptr_t>(ctx->saved_data["collective"].toInt()));
}

// The gradient of a sum over ranks reaching one rank's input is the sum over ranks of the
// gradients of that sum, i.e. an all-reduce of the incoming gradient.
struct AllReduceSumFunction : public torch::autograd::Function<AllReduceSumFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               Collective* collective) {
    ctx->saved_data["collective"] = to_handle(collective);
    torch::Tensor sum = x.clone(at::MemoryFormat::Contiguous);
    collective->all_reduce_sum(sum);
    return sum;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    // A copy: the incoming gradient may be shared with other nodes and must not change in place.
    torch::Tensor grad = grad_outputs[0].clone(at::MemoryFormat::Contiguous);
    from_handle(ctx).all_reduce_sum(grad);
    return {grad, torch::Tensor()};
  }
};

// Rank r's rows of the gathered tensor appear in every rank's graph, so the gradient of its input
// is its slice of the all-reduced gradient.
struct AllGatherFunction : public torch::autograd::Function<AllGatherFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               Collective* collective) {
    ctx->saved_data["collective"] = to_handle(collective);
    ctx->saved_data["rows"] = x.size(0);
    return collective->all_gather_cat(x.contiguous());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    Collective& collective = from_handle(ctx);
    const int64_t rows = ctx->saved_data["rows"].toInt();
    torch::Tensor grad = grad_outputs[0].clone(at::MemoryFormat::Contiguous);
    collective.all_reduce_sum(grad);
    return {grad.narrow(0, collective.rank() * rows, rows), torch::Tensor()};
  }
};

// Training-mode SyncBatchNorm over the channels of dim 1.
torch::Tensor sync_batch_norm_training(const torch::Tensor& x,
                                       const torch::nn::BatchNormOptions& options,
                                       const torch::Tensor& weight, const torch::Tensor& bias,
                                       torch::Tensor& running_mean, torch::Tensor& running_var,
                                       torch::Tensor& num_batches_tracked, Collective& collective) {
  const int64_t channels = x.size(1);
  SB_CHECK(channels == options.num_features(),
           "sync_batch_norm: input has {} channels, the BatchNorm {}", channels,
           options.num_features());
  SB_CHECK(x.numel() > 0, "sync_batch_norm: empty input");
  std::vector<int64_t> reduce_dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) reduce_dims.push_back(d);
  std::vector<int64_t> channel_shape(x.dim(), 1);
  channel_shape[1] = channels;

  const bool reduced = x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16;
  const torch::Tensor xf = reduced ? x.to(torch::kFloat) : x;
  const int64_t local_count = x.numel() / channels;

  // Per rank: count, mean and sum of squared deviations (M2), combined below with
  // M2 = sum_r M2_r + sum_r n_r (mean_r - mean)^2.
  auto [local_var, local_mean] = torch::var_mean(xf, reduce_dims, /*unbiased=*/false);
  const torch::Tensor local_m2 = local_var * static_cast<double>(local_count);
  const torch::Tensor stats =
      torch::cat({torch::full({1}, static_cast<double>(local_count), local_mean.options()),
                  local_mean, local_m2})
          .unsqueeze(0);
  const torch::Tensor gathered = AllGatherFunction::apply(stats, &collective);  // W x (2C + 1)
  const torch::Tensor counts = gathered.narrow(1, 0, 1);                        // W x 1
  const torch::Tensor means = gathered.narrow(1, 1, channels);
  const torch::Tensor m2s = gathered.narrow(1, 1 + channels, channels);
  const torch::Tensor total = counts.sum();
  const torch::Tensor mean = (means * counts).sum(0) / total;
  const torch::Tensor m2 = m2s.sum(0) + ((means - mean).pow(2) * counts).sum(0);
  const torch::Tensor var = m2 / total;

  torch::Tensor y =
      (xf - mean.view(channel_shape)) * torch::rsqrt(var + options.eps()).view(channel_shape);
  if (weight.defined()) y = y * weight.view(channel_shape);
  if (bias.defined()) y = y + bias.view(channel_shape);

  if (options.track_running_stats() && running_mean.defined()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    const double factor = options.momentum().has_value() ? *options.momentum()
                                                         : 1.0 / num_batches_tracked.item<double>();
    // A global batch of one value per channel has no unbiased variance (PyTorch raises); the
    // clamp keeps the running variance finite instead of forcing a device sync to check.
    const torch::Tensor unbiased = m2 / (total - 1).clamp_min(1);
    running_mean.mul_(1 - factor).add_(mean.detach().to(running_mean.scalar_type()), factor);
    running_var.mul_(1 - factor).add_(unbiased.detach().to(running_var.scalar_type()), factor);
  }
  return reduced ? y.to(x.scalar_type()) : y;
}

template <typename BatchNormImpl>
torch::Tensor sync_batch_norm_impl(const torch::Tensor& x, BatchNormImpl& bn,
                                   Collective& collective) {
  // PyTorch's SyncBatchNorm synchronises only in training; eval uses the running statistics.
  if (!bn.is_training() || collective.world_size() == 1) return bn.forward(x);
  return sync_batch_norm_training(x, bn.options, bn.weight, bn.bias, bn.running_mean,
                                  bn.running_var, bn.num_batches_tracked, collective);
}

}  // namespace

void average_gradients(const std::vector<torch::Tensor>& params, Collective& collective,
                       int64_t bucket_bytes) {
  const int world_size = collective.world_size();
  if (world_size <= 1 || params.empty()) return;
  torch::NoGradGuard no_grad;

  // Which parameters have a gradient on any rank (see the header).
  std::vector<float> has_grad;
  for (const auto& param : params) {
    SB_CHECK(param.defined(), "average_gradients: undefined parameter");
    has_grad.push_back(param.grad().defined() ? 1.0f : 0.0f);
  }
  torch::Tensor ranks_with_grad = torch::tensor(has_grad).to(params[0].device());
  collective.all_reduce_sum(ranks_with_grad);
  ranks_with_grad = ranks_with_grad.cpu();
  const auto counts = ranks_with_grad.accessor<float, 1>();

  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (counts[i] == 0) continue;
    const torch::Tensor& param = params[i];
    if (!param.grad().defined()) param.mutable_grad() = torch::zeros_like(param);
    SB_CHECK(!param.grad().is_sparse(), "average_gradients: sparse gradients are not supported");
    grads.push_back(param.grad());
  }
  for_each_bucket(grads, bucket_bytes, [&](torch::Tensor& flat) {
    collective.all_reduce_sum(flat);
    flat.div_(world_size);
  });
}

void broadcast_parameters(torch::nn::Module& module, Collective& collective) {
  if (collective.world_size() <= 1) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& param : module.parameters(/*recurse=*/true)) {
    if (param.defined()) tensors.push_back(param);
  }
  for (const auto& buffer : module.buffers(/*recurse=*/true)) {
    if (buffer.defined()) tensors.push_back(buffer);
  }
  for_each_bucket(tensors, int64_t{25} << 20,
                  [&](torch::Tensor& flat) { collective.broadcast(flat, 0); });
}

torch::Tensor differentiable_all_reduce_sum(const torch::Tensor& x, Collective& collective) {
  return AllReduceSumFunction::apply(x, &collective);
}

torch::Tensor differentiable_all_gather(const torch::Tensor& x, Collective& collective) {
  SB_CHECK(x.defined() && x.dim() >= 1, "differentiable_all_gather needs at least one dimension");
  return AllGatherFunction::apply(x, &collective);
}

torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm1dImpl& bn,
                              Collective& collective) {
  SB_CHECK(x.dim() == 2 || x.dim() == 3, "sync_batch_norm (1d): expected 2D or 3D input, got {}D",
           x.dim());
  return sync_batch_norm_impl(x, bn, collective);
}

torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn,
                              Collective& collective) {
  SB_CHECK(x.dim() == 4, "sync_batch_norm (2d): expected 4D input, got {}D", x.dim());
  return sync_batch_norm_impl(x, bn, collective);
}

torch::Tensor sync_batch_norm(const torch::Tensor& x, torch::nn::BatchNorm3dImpl& bn,
                              Collective& collective) {
  SB_CHECK(x.dim() == 5, "sync_batch_norm (3d): expected 5D input, got {}D", x.dim());
  return sync_batch_norm_impl(x, bn, collective);
}

}  // namespace swavbench
