// The SwAV embedding queue (Caron et al. 2020, Sec. 4.1 "small batches"; `queue` in the authors'
// main_swav.py). With a small batch B, the equal-partition constraint of Sinkhorn spreads B samples
// over K prototypes, too few per prototype; stacking the embeddings z of recent batches, scored
// with the current prototypes C, above the batch gives Sinkhorn a larger B to partition. Only the
// batch's own codes are kept, so the queue shapes q but never receives gradient.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace swavbench {

class FeatureQueue {
 public:
  // One queue of `length` x `dim` float32 embeddings per assigning crop, zero-filled. `length` is
  // this rank's length: trimmed_queue_length(requested, global batch) / world_size, which is a
  // multiple of the local batch whenever the ranks' batches are equal.
  // `dtype`: float32, or float64 in a float64 reference run (precision = fp64).
  FeatureQueue(int64_t num_assign_crops, int64_t length, int64_t dim, torch::Device device,
               torch::Dtype dtype = torch::kFloat32);

  // The authors' rule: the requested length minus its remainder modulo the global batch, so the
  // queue holds whole batches and splits evenly over the ranks.
  static int64_t trimmed_queue_length(int64_t requested, int64_t global_batch);
  // This rank's share of a trimmed length.
  static int64_t per_rank_queue_length(int64_t trimmed, int64_t world_size);

  int64_t num_assign_crops() const { return queue_.size(0); }
  int64_t length() const { return queue_.size(1); }
  int64_t dim() const { return queue_.size(2); }

  // "Used once full": zero rows would be scored as z = 0 and pull Sinkhorn towards uniform codes,
  // so the queue joins the codes only once its oldest slot (the last row) is filled for every
  // assigning crop. Once true it stays true, also across save/load.
  void maybe_activate();
  bool in_use() const { return in_use_; }

  // Queue `assign_index`, newest first: length x dim float32.
  torch::Tensor entries(int64_t assign_index) const;

  // Shifts queue `assign_index` down by the batch and writes `embeddings` (B x dim, detached,
  // stored as float32) at the top; the oldest B rows fall off.
  void push(int64_t assign_index, const torch::Tensor& embeddings);

  // Tensor "swav_queue" (num_assign_crops x length x dim) and "swav_queue_in_use" (int64 0/1).
  void save(torch::serialize::OutputArchive& archive) const;
  // Requires the saved queue to have this queue's shape; keeps this queue's device.
  void load(torch::serialize::InputArchive& archive);

 private:
  torch::Tensor queue_;
  bool in_use_ = false;
};

}  // namespace swavbench
