// kNN and the fast linear probe against hand-computed and separable cases.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "evals/protocols.h"

namespace swavbench {
namespace {

TEST(Knn, HandComputedWeightedVote) {
  // Train points on the unit circle; the test point at angle 0.
  // Neighbours by cosine: (1,0) class 0 sim 1; (0.8,0.6) class 1 sim 0.8; (0.6,0.8) class 1
  // sim 0.6. With k=3, T=0.1: class 0 weight e^10 = 22026, class 1 e^8 + e^6 = 3384 -> class 0.
  // With T=1: class 0 e^1 = 2.718, class 1 e^0.8 + e^0.6 = 4.048 -> class 1.
  torch::Tensor train = torch::tensor({{1.0f, 0.0f}, {0.8f, 0.6f}, {0.6f, 0.8f}, {-1.0f, 0.0f}});
  torch::Tensor train_labels = torch::tensor({0, 1, 1, 2}, torch::kInt64);
  torch::Tensor test = torch::tensor({{2.0f, 0.0f}});  // not normalised: the protocol does it
  torch::Tensor truth0 = torch::tensor({0}, torch::kInt64);
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, truth0, 3, 0.1, 3).top1, 100.0);
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, truth0, 3, 1.0, 3).top1, 0.0);
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, truth0, 3, 1.0, 3).top5, 100.0);
  // k=1 is plain nearest neighbour.
  EXPECT_DOUBLE_EQ(knn_classify(train, train_labels, test, truth0, 1, 1.0, 3).top1, 100.0);
}

TEST(LinearProbe, RecoversASeparableProblem) {
  torch::manual_seed(3);
  // Three Gaussian blobs far apart in 8 dimensions.
  auto blobs = [](int64_t n) {
    torch::Tensor labels = torch::arange(n, torch::kInt64) % 3;
    torch::Tensor centres = torch::eye(8).slice(0, 0, 3) * 6.0;
    torch::Tensor x = centres.index_select(0, labels) + torch::randn({n, 8});
    return Features{x, labels};
  };
  Features train = blobs(600), test = blobs(300);
  LinearProbeOptions options;
  options.epochs = 10;
  options.lr = 1e-2;
  LinearProbeResult r = linear_probe_on_features(train, test, 3, options);
  EXPECT_GT(r.top1_last, 99.0);
  EXPECT_GE(r.top1_best, r.top1_last);
  EXPECT_EQ(r.top1_per_epoch.size(), 10u);
  // Shuffled labels carry no signal: close to chance (33%).
  Features noise{train.features, train.labels.index_select(0, torch::randperm(600))};
  LinearProbeResult chance = linear_probe_on_features(noise, test, 3, options);
  EXPECT_LT(chance.top1_last, 55.0);
}

}  // namespace
}  // namespace swavbench
