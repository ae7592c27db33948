#include "baselines/losses.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/dist/grad_sync.h"

namespace swavbench {
namespace {

// Losses run in at least float32: in bf16 the cosines would keep 8 mantissa bits, and s/T with
// T = 0.1 turns that into logits off by ~0.03. Callers also exclude autocast (which would run
// the similarity matmuls in bf16 again); gradients still flow back into the bf16 embeddings.
torch::Tensor at_least_float32(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kHalf || t.scalar_type() == torch::kBFloat16)
    return t.to(torch::kFloat32);
  return t;
}

}  // namespace

torch::Tensor nt_xent_loss(const std::vector<torch::Tensor>& crop_embeddings, double temperature,
                           Collective& collective) {
  const int64_t num_crops = static_cast<int64_t>(crop_embeddings.size());
  SB_CHECK(num_crops >= 2, "NT-Xent needs at least 2 crops, got {}", num_crops);
  SB_CHECK(temperature > 0, "NT-Xent temperature must be positive, got {}", temperature);
  const torch::Tensor& first = crop_embeddings[0];
  SB_CHECK(first.defined() && first.dim() == 2 && first.size(0) > 0,
           "NT-Xent expects B x D embeddings per crop");
  const int64_t batch = first.size(0);
  for (const auto& z : crop_embeddings) {
    SB_CHECK(z.defined() && z.dim() == 2 && z.size(0) == batch && z.size(1) == first.size(1),
             "NT-Xent expects every crop as {} x {} embeddings, got {}", batch, first.size(1),
             z.defined() ? c10::str(z.sizes()) : std::string("undefined"));
  }
  const int64_t world = collective.world_size();
  const int64_t rank = collective.rank();
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);

  // Anchors: this rank's crops, crop-major (row v*B + b is crop v of local image b).
  // Candidates: every rank's crops, crop-major then rank-major (row v*W*B + r*B + b).
  std::vector<torch::Tensor> anchors, candidates;
  for (const auto& z : crop_embeddings) {
    torch::Tensor zf = at_least_float32(z);
    anchors.push_back(zf);
    candidates.push_back(world == 1 ? zf : differentiable_all_gather(zf, collective));
  }
  torch::Tensor logits = torch::cat(anchors).mm(torch::cat(candidates).t()).div(temperature);

  const int64_t rows = num_crops * batch;
  const int64_t stride = world * batch;  // candidate rows per crop
  std::vector<int64_t> self_cols(static_cast<size_t>(rows));
  std::vector<int64_t> positive_cols(static_cast<size_t>(rows * (num_crops - 1)));
  for (int64_t v = 0; v < num_crops; ++v) {
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t i = v * batch + b;
      self_cols[static_cast<size_t>(i)] = v * stride + rank * batch + b;
      int64_t j = 0;
      for (int64_t u = 0; u < num_crops; ++u) {
        if (u == v) continue;
        positive_cols[static_cast<size_t>(i * (num_crops - 1) + j++)] =
            u * stride + rank * batch + b;
      }
    }
  }
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64);
  torch::Tensor self_index =
      torch::tensor(self_cols, index_options).to(logits.device()).view({rows, 1});
  torch::Tensor positive_index =
      torch::tensor(positive_cols, index_options).to(logits.device()).view({rows, num_crops - 1});

  // k != i in the denominator: the self-similarity (s_ii = 1, the largest logit) is masked to
  // -inf before the log-softmax, which subtracts each row's maximum and so cannot overflow.
  logits = logits.scatter(1, self_index, -std::numeric_limits<double>::infinity());
  torch::Tensor log_prob = torch::log_softmax(logits, /*dim=*/1);
  return -log_prob.gather(1, positive_index).sum(1).div(static_cast<double>(num_crops - 1)).mean();
}

double positive_similarity(const std::vector<torch::Tensor>& crop_embeddings) {
  torch::NoGradGuard no_grad;
  const size_t n = crop_embeddings.size();
  if (n < 2) return 0.0;
  double sum = 0.0;
  for (size_t v = 0; v < n; ++v) {
    for (size_t u = v + 1; u < n; ++u) {
      sum += (at_least_float32(crop_embeddings[v]) * at_least_float32(crop_embeddings[u]))
                 .sum(1)
                 .mean()
                 .item<double>();
    }
  }
  return sum / static_cast<double>(n * (n - 1) / 2);
}

torch::Tensor info_nce_loss(const torch::Tensor& queries, const torch::Tensor& positive_keys,
                            const torch::Tensor& queue, double temperature, torch::Tensor* logits) {
  SB_CHECK(temperature > 0, "InfoNCE temperature must be positive, got {}", temperature);
  SB_CHECK(queries.dim() == 2 && positive_keys.sizes() == queries.sizes() && queue.dim() == 2 &&
               queue.size(0) == queries.size(1),
           "InfoNCE expects n x D queries and keys and a D x K queue, got {}, {}, {}",
           c10::str(queries.sizes()), c10::str(positive_keys.sizes()), c10::str(queue.sizes()));
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  torch::Tensor q = at_least_float32(queries);
  torch::Tensor k = positive_keys.to(q.scalar_type());
  torch::Tensor negatives = queue.to(q.scalar_type());
  // l_pos: n x 1, the query against its own key; l_neg: n x K, against the queue.
  torch::Tensor l_pos = (q * k).sum(/*dim=*/1, /*keepdim=*/true);
  torch::Tensor l_neg = q.mm(negatives);
  torch::Tensor out = torch::cat({l_pos, l_neg}, /*dim=*/1).div(temperature);
  if (logits) *logits = out;
  // The positive is column 0 for every query.
  torch::Tensor labels =
      torch::zeros({q.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(q.device()));
  return torch::nn::functional::cross_entropy(out, labels);
}

void copy_encoder_state(torch::nn::Module& key, torch::nn::Module& query) {
  torch::NoGradGuard no_grad;
  auto query_params = query.named_parameters(/*recurse=*/true);
  for (auto& item : key.named_parameters(/*recurse=*/true)) {
    const torch::Tensor* source = query_params.find(item.key());
    SB_CHECK(source && source->sizes() == item.value().sizes(),
             "key encoder parameter '{}' has no match in the query encoder", item.key());
    item.value().copy_(*source);
  }
  auto query_buffers = query.named_buffers(/*recurse=*/true);
  for (auto& item : key.named_buffers(/*recurse=*/true)) {
    const torch::Tensor* source = query_buffers.find(item.key());
    SB_CHECK(source && source->sizes() == item.value().sizes(),
             "key encoder buffer '{}' has no match in the query encoder", item.key());
    item.value().copy_(*source);
  }
}

void momentum_update(torch::nn::Module& key, torch::nn::Module& query, double momentum) {
  SB_CHECK(momentum >= 0 && momentum <= 1, "momentum must be in [0, 1], got {}", momentum);
  torch::NoGradGuard no_grad;
  auto query_params = query.named_parameters(/*recurse=*/true);
  for (auto& item : key.named_parameters(/*recurse=*/true)) {
    const torch::Tensor* source = query_params.find(item.key());
    SB_CHECK(source && source->sizes() == item.value().sizes(),
             "key encoder parameter '{}' has no match in the query encoder", item.key());
    item.value().mul_(momentum).add_(source->detach(), 1.0 - momentum);
  }
}

MocoQueue::MocoQueue(int64_t dim, int64_t length, torch::Device device, torch::Dtype dtype) {
  SB_CHECK(dim > 0, "MoCo queue dimension must be positive, got {}", dim);
  SB_CHECK(length > 0, "MoCo queue length must be positive, got {}", length);
  // Drawn on the CPU so that a seed gives the same queue on every device.
  queue_ = torch::nn::functional::normalize(
               torch::randn({dim, length}, torch::TensorOptions().dtype(torch::kFloat32)),
               torch::nn::functional::NormalizeFuncOptions().dim(0).p(2))
               .to(device, dtype);
}

int64_t MocoQueue::trimmed_length(int64_t requested, int64_t global_batch) {
  SB_CHECK(requested >= 0, "MoCo queue length must be >= 0, got {}", requested);
  SB_CHECK(global_batch > 0, "global batch must be positive, got {}", global_batch);
  return requested - requested % global_batch;
}

void MocoQueue::push(const torch::Tensor& keys) {
  SB_CHECK(keys.defined() && keys.dim() == 2 && keys.size(1) == dim(),
           "MoCo queue push expects n x {} keys, got {}", dim(),
           keys.defined() ? c10::str(keys.sizes()) : std::string("undefined"));
  torch::NoGradGuard no_grad;
  torch::Tensor k = keys.detach().to(queue_.options());
  int64_t n = k.size(0);
  const int64_t length = this->length();
  if (n == 0) return;
  if (n > length) {  // only the last K survive; they land where a key-by-key push puts them
    ptr_ = (ptr_ + n - length) % length;
    k = k.slice(0, n - length);
    n = length;
  }
  torch::Tensor columns =
      torch::arange(ptr_, ptr_ + n,
                    torch::TensorOptions().dtype(torch::kInt64).device(queue_.device()))
          .remainder(length);
  queue_.index_copy_(/*dim=*/1, columns, k.t());
  ptr_ = (ptr_ + n) % length;
}

void MocoQueue::save(torch::serialize::OutputArchive& archive) const {
  archive.write("moco_queue", queue_);
  archive.write("moco_queue_ptr", torch::tensor(ptr_));
}

void MocoQueue::load(torch::serialize::InputArchive& archive) {
  torch::Tensor saved, ptr;
  archive.read("moco_queue", saved);
  archive.read("moco_queue_ptr", ptr);
  SB_INPUT_CHECK(saved.sizes() == queue_.sizes(),
                 "checkpoint's MoCo queue is {}, the config asks for {} (feat_dim x trimmed "
                 "moco_queue)",
                 c10::str(saved.sizes()), c10::str(queue_.sizes()));
  const int64_t p = ptr.item<int64_t>();
  SB_INPUT_CHECK(p >= 0 && p < length(), "checkpoint's MoCo queue pointer {} is outside [0, {})", p,
                 length());
  torch::NoGradGuard no_grad;
  queue_.copy_(saved);
  ptr_ = p;
}

}  // namespace swavbench
