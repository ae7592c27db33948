// kNN monitor (Wu et al. 2018, as used by SwAV/DINO): cosine similarity on L2-normalised frozen
// features, the k nearest training images vote with weight exp(sim / T).
#include <torch/torch.h>

#include "evals/protocol_specs.h"
#include "evals/protocols.h"
#include "harness/core/check.h"

namespace swavbench {

KnnResult knn_classify(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                       const torch::Tensor& test_features, const torch::Tensor& test_labels,
                       int64_t k, double temperature, int64_t num_classes) {
  torch::NoGradGuard no_grad;
  torch::Tensor train = torch::nn::functional::normalize(
      train_features, torch::nn::functional::NormalizeFuncOptions().dim(1));
  torch::Tensor test = torch::nn::functional::normalize(
      test_features, torch::nn::functional::NormalizeFuncOptions().dim(1));
  k = std::min<int64_t>(k, train.size(0));
  int64_t correct1 = 0, correct5 = 0;
  const int64_t chunk = 256;
  for (int64_t begin = 0; begin < test.size(0); begin += chunk) {
    int64_t end = std::min<int64_t>(test.size(0), begin + chunk);
    torch::Tensor sim = test.slice(0, begin, end).mm(train.t());
    auto nearest = sim.topk(k, /*dim=*/1);
    torch::Tensor top_sim = std::get<0>(nearest), top_idx = std::get<1>(nearest);
    torch::Tensor neighbour_labels =
        train_labels.index_select(0, top_idx.reshape(-1)).reshape(top_idx.sizes());
    torch::Tensor weights = (top_sim / temperature).exp();
    torch::Tensor votes = torch::zeros({end - begin, num_classes}, weights.options());
    votes.scatter_add_(1, neighbour_labels, weights);
    torch::Tensor truth = test_labels.slice(0, begin, end);
    torch::Tensor top = std::get<1>(votes.topk(std::min<int64_t>(5, num_classes), 1));
    correct1 += top.select(1, 0).eq(truth).sum().item<int64_t>();
    correct5 += top.eq(truth.unsqueeze(1)).any(1).sum().item<int64_t>();
  }
  double n = static_cast<double>(test.size(0));
  return {100.0 * correct1 / n, 100.0 * correct5 / n};
}

EvalProtocol knn_protocol() {
  // The name, doc and options: evals/protocol_specs.cpp.
  EvalProtocol p(knn_protocol_spec());
  p.run = [](EvalContext& ctx) {
    const auto& o = ctx.options;
    const Features& train =
        ctx.features.get("train", o["train_subset"].get<int64_t>(), o["crop"].get<int>());
    const std::string test_split = eval_test_split(ctx.config, o, "knn");
    const Features& test =
        ctx.features.get(test_split, o["test_subset"].get<int64_t>(), o["crop"].get<int>());
    const int64_t classes = ctx.features.num_classes();
    EvalResult result;
    const std::vector<int64_t> ks = option_list<int64_t>(o["k"]);
    for (int64_t k : ks) {
      KnnResult r = knn_classify(train.features, train.labels, test.features, test.labels, k,
                                 o["temperature"].get<double>(), classes);
      result.metrics.emplace_back(fmt::format("top1_k{}", k), r.top1);
      result.metrics.emplace_back(fmt::format("top5_k{}", k), r.top5);
    }
    const EvalTransform transform = eval_transform(ctx.config, o["crop"].get<int>());
    const int resize = transform.resize, crop = transform.crop;
    result.card = {{"protocol", "knn"},
                   {"train_split", "train"},
                   {"test_split", test_split},
                   {"n_train", train.labels.size(0)},
                   {"n_test", test.labels.size(0)},
                   {"k", ks},
                   {"temperature", o["temperature"]},
                   {"similarity", "cosine"},
                   {"features", ctx.features.description()},
                   {"transform", fmt::format("resize {} + centre crop {}", resize, crop)},
                   {"resolution", transform.rule},
                   {"selection", "single evaluation (no epochs)"}};
    return result;
  };
  return p;
}

}  // namespace swavbench
