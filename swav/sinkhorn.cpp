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

  // The paper's Q is K x B (a row per prototype, a column per sample). It is held here as its
  // transpose, B x K, the layout of the scores, so no transposed copy is made on the way in or
  // out: Q's row sums are sums over dim 0 below, its column sums sums over dim 1.
  // At least float32: bf16 scores are promoted, float64 ones (precision = fp64) kept.
  torch::Tensor q = scores.detach()
                        .to(torch::promote_types(scores.scalar_type(), torch::kFloat32))
                        .mul(1.0 / epsilon);
  q.exp_();
  const double k = static_cast<double>(q.size(1));
  const double b = static_cast<double>(q.size(0)) * collective.world_size();

  if (iterations == 0) {
    // Make Q a joint distribution over (prototype, sample) of the whole global batch. With one
    // or more iterations this division is redundant: the first prototype normalisation below
    // removes any global scale, so it is folded into it (one pass and one all-reduce fewer,
    // same result up to float rounding).
    torch::Tensor sum_q = q.sum();
    collective.all_reduce_sum(sum_q);
    q.div_(sum_q);
  }

  for (int it = 0; it < iterations; ++it) {
    // Each prototype's total weight over the global batch must be 1/K (equal partition): the
    // sums span every rank's samples, hence the all-reduce. Q /= row sums; Q /= K in one pass.
    torch::Tensor prototype_sums = q.sum(/*dim=*/0, /*keepdim=*/true);
    collective.all_reduce_sum(prototype_sums);
    q.mul_(prototype_sums.mul_(k).reciprocal_());
    // Each sample's total weight must be 1/B; a sample's code is entirely on this rank.
    // Q /= column sums; Q /= B in one pass.
    q.mul_(q.sum(/*dim=*/1, /*keepdim=*/true).mul_(b).reciprocal_());
  }

  if (trace != nullptr) trace->before_final_scaling = q.t().contiguous();
  // Columns now sum to 1/B; scaling by B makes each sample's code a distribution over prototypes.
  return q.mul_(b);
}

}  // namespace swavbench
