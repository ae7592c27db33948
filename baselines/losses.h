// Numeric cores of the baselines (SimCLR's NT-Xent, MoCo v2's InfoNCE, momentum encoder and
// negatives queue), kept apart from the Methods so tests can check them against independent
// references.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "harness/dist/collective.h"

namespace swavbench {

// ---------------------------------------------------------------------------------------------
// SimCLR (Chen et al. 2020), multi-crop as in the SwAV paper's SimCLR baseline.
//
// crop_embeddings[v] is the B x D batch of L2-normalised embeddings z of crop v (V >= 2 crops).
// The N = V*B embeddings are contrasted all against all with s_ij = z_i . z_j (cosines): for an
// anchor i the positives pos(i) are the V - 1 other crops of the same image, every other
// embedding is a negative, and
//
//   l_i = -1/(V-1) * sum_{p in pos(i)} log( exp(s_ip/T) / sum_{k != i} exp(s_ik/T) ),
//   loss = mean_i l_i.
//
// For V = 2 this is exactly SimCLR's NT-Xent (each of the 2B anchors has one positive and 2B - 2
// negatives); for V > 2 it is the usual multi-positive generalisation (SupCon's "out" form with
// the image as the class). It is computed as a log-softmax over each row of S/T with the
// self-similarity masked to -inf, so exp never overflows whatever T is. Half and bfloat16
// embeddings are promoted to float32 first, and autocast is excluded: the loss is float32 (or
// float64 for float64 input) under bf16 training too.
//
// Distributed (collective.world_size() > 1): each rank's B rows are its share of the global
// batch. The anchors are this rank's V*B embeddings; the candidates (positives and negatives)
// are every rank's, gathered crop by crop with differentiable_all_gather
// (harness/dist/grad_sync.h), whose backward all-reduces the candidates' gradient and keeps this
// rank's slice (SimCLR's TPU cross-replica concat does the same). The returned value is the mean
// over this rank's anchors; once the trainer averages parameter gradients over the ranks, the
// update equals the single-process one on the same global batch. Every rank must call this in the
// same order.
torch::Tensor nt_xent_loss(const std::vector<torch::Tensor>& crop_embeddings, double temperature,
                           Collective& collective);

// Mean cosine z_i . z_p over every (anchor, positive) pair of this rank's crops; a log value,
// computed without gradient.
double positive_similarity(const std::vector<torch::Tensor>& crop_embeddings);

// ---------------------------------------------------------------------------------------------
// MoCo v2 (Chen, Fan, Girshick, He 2020; He et al. 2020 for MoCo).

// InfoNCE for n queries q (n x D), their positive keys k+ (n x D) and the negatives queue
// (D x K), all L2-normalised: logits = [q.k+, q.queue] / T, label 0, cross-entropy averaged over
// the n queries (the authors' moco/builder.py). `logits`, when given, receives the n x (1 + K)
// logits (for logging). The keys and the queue should carry no gradient. Computed in at least
// float32, autocast excluded, as nt_xent_loss.
torch::Tensor info_nce_loss(const torch::Tensor& queries, const torch::Tensor& positive_keys,
                            const torch::Tensor& queue, double temperature,
                            torch::Tensor* logits = nullptr);

// Copies `query`'s parameters and buffers into `key`, matched by name (every name of `key` must
// exist in `query`; `query` may have more). MoCo initialises the key encoder this way.
void copy_encoder_state(torch::nn::Module& key, torch::nn::Module& query);

// MoCo's momentum update theta_k <- m * theta_k + (1 - m) * theta_q for every parameter of
// `key`, matched by name in `query`, without gradient.
//
// Buffers (BatchNorm running_mean / running_var / num_batches_tracked) are NOT touched, as in
// the authors' _momentum_update_key_encoder, which loops over parameters() only: the key encoder
// runs in train mode, so its BN normalises with batch statistics and its running statistics are
// its own (updated by its own forward passes); they are never used in training.
void momentum_update(torch::nn::Module& key, torch::nn::Module& query, double momentum);

// MoCo's queue of negatives: K keys as the columns of a D x K float32 matrix, written as a ring
// buffer at a pointer `ptr` that advances by the number of keys pushed (modulo K).
class MocoQueue {
 public:
  // D x K columns drawn from N(0, 1) and L2-normalised along D, as the authors initialise it
  // (randn(dim, K) then normalize(dim=0)), so the first steps see random negatives, not zeros.
  // `dtype`: float32, or float64 in a float64 reference run (precision = fp64).
  MocoQueue(int64_t dim, int64_t length, torch::Device device,
            torch::Dtype dtype = torch::kFloat32);

  // The authors assert K % batch == 0 so that a batch never wraps around the end; here the
  // requested K is trimmed down to a multiple of the global batch instead (as SwAV's queue),
  // e.g. 100 at batch 32 -> 96. 0 when the request is shorter than one batch.
  static int64_t trimmed_length(int64_t requested, int64_t global_batch);

  int64_t dim() const { return queue_.size(0); }
  int64_t length() const { return queue_.size(1); }
  int64_t ptr() const { return ptr_; }
  // D x K; the column at ptr() is the oldest key once the queue has been filled.
  const torch::Tensor& keys() const { return queue_; }

  // Writes the n x D `keys` (detached, stored as float32) into columns ptr, ptr+1, ... modulo K
  // and advances ptr by n modulo K. A push that does not fit before the end wraps around (the
  // authors' would assert); a push of more than K keys keeps the last K.
  void push(const torch::Tensor& keys);

  // Tensors "moco_queue" (D x K float32) and "moco_queue_ptr" (int64).
  void save(torch::serialize::OutputArchive& archive) const;
  // Requires the saved queue to have this queue's shape; keeps this queue's device.
  void load(torch::serialize::InputArchive& archive);

 private:
  torch::Tensor queue_;
  int64_t ptr_ = 0;
};

}  // namespace swavbench
