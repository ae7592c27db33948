#include "swav/swav_loss.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <string>

#include "harness/core/check.h"
#include "swav/sinkhorn.h"

namespace swavbench {
namespace {

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? c10::str(t.sizes()) : std::string("undefined");
}

void check_inputs(const std::vector<torch::Tensor>& crop_scores, const SwavLossOptions& options,
                  const FeatureQueue* queue, const torch::Tensor& prototype_weight,
                  const std::vector<torch::Tensor>& assign_embeddings) {
  const int64_t num_crops = static_cast<int64_t>(crop_scores.size());
  SB_CHECK(num_crops >= 2,
           "swav_loss needs at least 2 crops (each code is predicted from another crop), got {}",
           num_crops);
  SB_CHECK(crop_scores[0].defined() && crop_scores[0].dim() == 2 && crop_scores[0].size(0) > 0 &&
               crop_scores[0].size(1) > 0,
           "swav_loss: crop 0 scores must be a non-empty B x K matrix, got {}",
           shape_of(crop_scores[0]));
  for (int64_t v = 0; v < num_crops; ++v) {
    SB_CHECK(crop_scores[v].defined() && crop_scores[v].sizes() == crop_scores[0].sizes(),
             "swav_loss: crop {} scores have shape {}, crop 0 has {}: every crop needs the same "
             "batch size and prototype count",
             v, shape_of(crop_scores[v]), shape_of(crop_scores[0]));
    SB_CHECK(crop_scores[v].is_floating_point(), "swav_loss: crop {} scores are not floating-point",
             v);
  }
  SB_CHECK(!options.crops_for_assign.empty(), "swav_loss: crops_for_assign is empty");
  for (size_t i = 0; i < options.crops_for_assign.size(); ++i) {
    const int64_t a = options.crops_for_assign[i];
    SB_CHECK(a >= 0 && a < num_crops,
             "swav_loss: crops_for_assign[{}] = {} is not a crop in [0, {})", i, a, num_crops);
    for (size_t j = 0; j < i; ++j) {
      SB_CHECK(options.crops_for_assign[j] != a,
               "swav_loss: crop {} is listed twice in "
               "crops_for_assign",
               a);
    }
  }
  SB_CHECK(options.temperature > 0, "swav_loss: temperature must be positive, got {}",
           options.temperature);
  SB_CHECK(options.epsilon > 0, "swav_loss: epsilon must be positive, got {}", options.epsilon);
  SB_CHECK(options.sinkhorn_iterations >= 0, "swav_loss: sinkhorn_iterations must be >= 0, got {}",
           options.sinkhorn_iterations);
  if (queue == nullptr) return;

  const int64_t batch = crop_scores[0].size(0);
  const int64_t k = crop_scores[0].size(1);
  const int64_t num_assign = static_cast<int64_t>(options.crops_for_assign.size());
  SB_CHECK(queue->num_assign_crops() == num_assign,
           "swav_loss: the queue holds {} assigning crops, crops_for_assign has {}",
           queue->num_assign_crops(), num_assign);
  SB_CHECK(prototype_weight.defined() && prototype_weight.dim() == 2 &&
               prototype_weight.size(0) == k && prototype_weight.size(1) == queue->dim(),
           "swav_loss: with a queue, prototype_weight must be K x D = [{}, {}], got {}", k,
           queue->dim(), shape_of(prototype_weight));
  SB_CHECK(static_cast<int64_t>(assign_embeddings.size()) == num_assign,
           "swav_loss: with a queue, assign_embeddings needs one tensor per assigning crop ({}), "
           "got {}",
           num_assign, assign_embeddings.size());
  for (int64_t i = 0; i < num_assign; ++i) {
    SB_CHECK(assign_embeddings[i].defined() && assign_embeddings[i].dim() == 2 &&
                 assign_embeddings[i].size(0) == batch &&
                 assign_embeddings[i].size(1) == queue->dim(),
             "swav_loss: assign_embeddings[{}] must be B x D = [{}, {}], got {}", i, batch,
             queue->dim(), shape_of(assign_embeddings[i]));
  }
  SB_CHECK(batch <= queue->length(), "swav_loss: batch {} is longer than the queue ({})", batch,
           queue->length());
}

}  // namespace

SwavLossOutput swav_loss(const std::vector<torch::Tensor>& crop_scores,
                         const SwavLossOptions& options, Collective& collective,
                         FeatureQueue* queue, const torch::Tensor& prototype_weight,
                         const std::vector<torch::Tensor>& assign_embeddings) {
  check_inputs(crop_scores, options, queue, prototype_weight, assign_embeddings);
  const int64_t num_crops = static_cast<int64_t>(crop_scores.size());
  const int64_t batch = crop_scores[0].size(0);
  const int64_t num_assign = static_cast<int64_t>(options.crops_for_assign.size());

  torch::Tensor loss;
  std::vector<torch::Tensor> all_codes;
  for (int64_t i = 0; i < num_assign; ++i) {
    const int64_t a = options.crops_for_assign[i];
    torch::Tensor q;
    {
      torch::NoGradGuard no_grad;
      // Scoring the queue must stay in float32 under autocast too (autocast would run mm in half),
      // since Sinkhorn amplifies score errors by 1 / epsilon inside exp.
      c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
      // At least float32 (bf16 promoted, a float64 reference run kept in float64).
      const torch::ScalarType exact =
          torch::promote_types(crop_scores[a].scalar_type(), torch::kFloat32);
      torch::Tensor out = crop_scores[a].detach().to(exact);
      if (queue != nullptr) {
        queue->maybe_activate();
        if (queue->in_use()) {
          // Queue embeddings are scored with the current prototypes C, not the ones they were
          // computed under: old z, fresh C^T z.
          torch::Tensor c = prototype_weight.detach().to(out.device(), exact);
          out = torch::cat({queue->entries(i).to(out.device()).mm(c.t()), out});
        }
        queue->push(i, assign_embeddings[i]);
      }
      // Only the batch's codes (the last B rows) are targets; the queue rows only shape them.
      q = sinkhorn_knopp(out, options.epsilon, options.sinkhorn_iterations, collective)
              .slice(/*dim=*/0, out.size(0) - batch);
    }
    all_codes.push_back(q);

    // Swapped prediction: every other crop v predicts q_a from its own scores, cross-entropy
    // against p_v = softmax(s_v / T).
    torch::Tensor subloss;
    for (int64_t v = 0; v < num_crops; ++v) {
      if (v == a) continue;
      torch::Tensor log_p = torch::log_softmax(
          crop_scores[v].to(torch::promote_types(crop_scores[v].scalar_type(), torch::kFloat32)) /
              options.temperature,
          /*dim=*/1);
      torch::Tensor term = -(q.to(log_p.device()) * log_p).sum(/*dim=*/1).mean();
      subloss = subloss.defined() ? subloss + term : term;
    }
    subloss = subloss / static_cast<double>(num_crops - 1);
    loss = loss.defined() ? loss + subloss : subloss;
  }

  SwavLossOutput output;
  output.loss = loss / static_cast<double>(num_assign);

  // Diagnostics from this rank's codes, fetched with one device-to-host copy.
  {
    torch::NoGradGuard no_grad;
    torch::Tensor codes = torch::cat(all_codes);  // (num_assign * B) x K
    torch::Tensor p = codes / codes.sum(/*dim=*/1, /*keepdim=*/true);
    // 0 log 0 = 0: clamping keeps log finite and the product zero.
    torch::Tensor entropy = -(p * p.clamp_min(1e-30).log()).sum(/*dim=*/1).mean();
    torch::Tensor counts = torch::zeros({codes.size(1)}, codes.options());
    counts.index_add_(0, codes.argmax(/*dim=*/1), torch::ones({codes.size(0)}, codes.options()));
    torch::Tensor share = counts.max() / static_cast<double>(codes.size(0));
    torch::Tensor stats = torch::stack({entropy, share}).to(torch::kCPU, torch::kFloat64);
    output.code_entropy = stats[0].item<double>();
    output.max_prototype_share = stats[1].item<double>();
  }
  return output;
}

}  // namespace swavbench
