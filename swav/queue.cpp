#include "swav/queue.h"

#include <string>

#include "harness/core/check.h"

namespace swavbench {

FeatureQueue::FeatureQueue(int64_t num_assign_crops, int64_t length, int64_t dim,
                           torch::Device device, torch::Dtype dtype) {
  SB_CHECK(num_assign_crops > 0, "FeatureQueue needs at least one assigning crop, got {}",
           num_assign_crops);
  SB_CHECK(length > 0, "FeatureQueue length must be positive, got {}", length);
  SB_CHECK(dim > 0, "FeatureQueue embedding dimension must be positive, got {}", dim);
  queue_ = torch::zeros({num_assign_crops, length, dim},
                        torch::TensorOptions().dtype(dtype).device(device));
}

int64_t FeatureQueue::trimmed_queue_length(int64_t requested, int64_t global_batch) {
  SB_CHECK(requested >= 0, "queue length must be >= 0, got {}", requested);
  SB_CHECK(global_batch > 0, "global batch must be positive, got {}", global_batch);
  return requested - requested % global_batch;
}

int64_t FeatureQueue::per_rank_queue_length(int64_t trimmed, int64_t world_size) {
  SB_CHECK(world_size > 0, "world size must be positive, got {}", world_size);
  SB_CHECK(trimmed % world_size == 0,
           "queue length {} does not split over {} ranks; trim it to a multiple of the global "
           "batch first",
           trimmed, world_size);
  return trimmed / world_size;
}

void FeatureQueue::maybe_activate() {
  if (in_use_) return;
  torch::NoGradGuard no_grad;
  // The authors test `not torch.all(queue[i, -1, :] == 0)` per crop; requiring it of every
  // assigning crop is the same thing when, as in swav_loss, all queues are pushed in step.
  in_use_ =
      queue_.select(/*dim=*/1, /*index=*/length() - 1).ne(0).any(/*dim=*/1).all().item<bool>();
}

torch::Tensor FeatureQueue::entries(int64_t assign_index) const {
  SB_CHECK(assign_index >= 0 && assign_index < num_assign_crops(),
           "queue index {} out of range [0, {})", assign_index, num_assign_crops());
  return queue_[assign_index];
}

void FeatureQueue::push(int64_t assign_index, const torch::Tensor& embeddings) {
  SB_CHECK(assign_index >= 0 && assign_index < num_assign_crops(),
           "queue index {} out of range [0, {})", assign_index, num_assign_crops());
  SB_CHECK(embeddings.defined() && embeddings.dim() == 2 && embeddings.size(1) == dim(),
           "queue push expects B x {} embeddings, got shape {}", dim(),
           embeddings.defined() ? c10::str(embeddings.sizes()) : std::string("undefined"));
  const int64_t bs = embeddings.size(0);
  SB_CHECK(bs > 0 && bs <= length(), "queue push of {} rows into a queue of length {}", bs,
           length());
  torch::NoGradGuard no_grad;
  torch::Tensor q = queue_[assign_index];
  // queue[i, bs:] = queue[i, :-bs].clone(): the clone matters, the two ranges overlap.
  q.slice(0, bs).copy_(q.slice(0, 0, length() - bs).clone());
  q.slice(0, 0, bs).copy_(embeddings.detach());
}

void FeatureQueue::save(torch::serialize::OutputArchive& archive) const {
  archive.write("swav_queue", queue_);
  archive.write("swav_queue_in_use", torch::tensor(static_cast<int64_t>(in_use_ ? 1 : 0)));
}

void FeatureQueue::load(torch::serialize::InputArchive& archive) {
  torch::Tensor saved;
  archive.read("swav_queue", saved);
  SB_CHECK(saved.sizes() == queue_.sizes(),
           "saved SwAV queue has shape {}, this run's queue has {}: the queue length, "
           "embedding size, assigning crops or world size changed",
           c10::str(saved.sizes()), c10::str(queue_.sizes()));
  torch::Tensor flag;
  archive.read("swav_queue_in_use", flag);
  SB_CHECK(flag.numel() == 1, "saved SwAV queue flag has {} elements, expected 1", flag.numel());
  torch::NoGradGuard no_grad;
  queue_.copy_(saved);
  in_use_ = flag.item<int64_t>() != 0;
}

}  // namespace swavbench
