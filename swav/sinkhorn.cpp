#include "swav/sinkhorn.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include "harness/core/check.h"

namespace swavbench {

torch::Tensor sinkhorn_knopp(const torch::Tensor& scores, double epsilon, int iterations,
                             Collective& collective, SinkhornTrace* trace) {
  SB_CHECK(scores.defined() && scores.dim() == 2,
           "sinkhorn_knopp expects a B x K score matrix, got {} dimensions",
           scores.defined() ? scores.dim() : 0);
  SB_CHECK(scores.size(0) > 0 && scores.size(1) > 0,
           "sinkhorn_knopp expects a non-empty score matrix, got {} x {}", scores.size(0),
           scores.size(1));
  SB_CHECK(scores.is_floating_point(), "sinkhorn_knopp expects floating-point scores");
  SB_CHECK(epsilon > 0, "sinkhorn_knopp: epsilon must be positive, got {}", epsilon);
  SB_CHECK(iterations >= 0, "sinkhorn_knopp: iterations must be >= 0, got {}", iterations);

  torch::NoGradGuard no_grad;
  // Autocast would run nothing here in half precision today (exp and sum are on its float32 list),
  // but excluding it makes "float32 throughout" a property of this function, not of autocast's
  // op lists.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);

  // Q is K x B_local, the paper's layout: a row per prototype, a column per sample.
  torch::Tensor q = torch::exp(scores.detach().to(torch::kFloat32) / epsilon).t().contiguous();
  const double k = static_cast<double>(q.size(0));
  const double b = static_cast<double>(q.size(1)) * collective.world_size();

  // Make Q a joint distribution over (prototype, sample) of the whole global batch.
  torch::Tensor sum_q = q.sum();
  collective.all_reduce_sum(sum_q);
  q.div_(sum_q);

  for (int it = 0; it < iterations; ++it) {
    // Each prototype's total weight over the global batch must be 1/K (equal partition): the row
    // sums span every rank's samples, hence the all-reduce.
    torch::Tensor row_sums = q.sum(/*dim=*/1, /*keepdim=*/true);
    collective.all_reduce_sum(row_sums);
    q.div_(row_sums);
    q.div_(k);
    // Each sample's total weight must be 1/B; a column is one sample, entirely on this rank.
    q.div_(q.sum(/*dim=*/0, /*keepdim=*/true));
    q.div_(b);
  }

  if (trace != nullptr) trace->before_final_scaling = q.clone();
  // Columns now sum to 1/B; scaling by B makes each sample's code a distribution over prototypes.
  q.mul_(b);
  return q.t().contiguous();
}

}  // namespace swavbench
