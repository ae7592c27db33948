// The swapped-prediction loss of SwAV (Caron et al. 2020, Eq. 1-3 and Sec. 3.2 multi-crop), in the
// order of the authors' main_swav.py training step.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "harness/dist/collective.h"
#include "swav/queue.h"

namespace swavbench {

struct SwavLossOptions {
  // Crops whose codes q are computed (indices into crop_scores); the paper assigns only the two
  // large crops, since codes of small crops are poorer targets.
  std::vector<int64_t> crops_for_assign{0, 1};
  // T, the softmax temperature of the predictions p = softmax(z^T c / T).
  double temperature = 0.1;
  // epsilon, the entropy regularisation of the codes (smaller = sharper q).
  double epsilon = 0.05;
  int sinkhorn_iterations = 3;
};

struct SwavLossOutput {
  // Scalar, differentiable through the predictions only: q is a fixed target.
  torch::Tensor loss;
  // Mean over assigning crops and this rank's samples of the entropy (nats) of each code row q_b
  // (normalised to sum 1). ln K means uniform codes; 0 means one-hot.
  double code_entropy = 0;
  // Over all assigning crops' code rows on this rank: the largest fraction whose argmax is the
  // same prototype. Near 1 is the collapse users report; about 1/K is a healthy equal partition.
  double max_prototype_share = 0;
};

// crop_scores[v]: B x K scores z_v^T C of crop v (all crops, large first), with autograd history.
// For each assigning crop a (in order): q_a = Sinkhorn of its detached float32 scores, with the
// queue's embeddings scored by `prototype_weight` (K x D, the current C) stacked above them once
// the queue is in use, keeping the last B rows; the queue is then pushed with
// assign_embeddings[i] (z of crop a, B x D; i the position of a in crops_for_assign). The loss is
//   (1 / |assign|) sum_a (1 / (V - 1)) sum_{v != a} -mean_b sum_k q_a[b, k] log softmax(s_v[b] /
//   T)_k.
// `queue`, `prototype_weight` and `assign_embeddings` go together; without a queue the latter two
// are ignored. Sinkhorn all-reduces through `collective`, so every rank must call this in step.
SwavLossOutput swav_loss(const std::vector<torch::Tensor>& crop_scores,
                         const SwavLossOptions& options, Collective& collective,
                         FeatureQueue* queue = nullptr, const torch::Tensor& prototype_weight = {},
                         const std::vector<torch::Tensor>& assign_embeddings = {});

}  // namespace swavbench
