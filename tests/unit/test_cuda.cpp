// The CUDA path (CTest label `cuda`): each test skips with a message where no GPU is present.
// Run on the GPU machine by scripts/device/gpu-check.sh.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "harness/core/config.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/train/method.h"
#include "harness/train/register.h"
#include "harness/train/torch_compat.h"
#include "swav/register.h"
#include "swav/sinkhorn.h"
#include "tests/unit/random_batch.h"

namespace swavbench {
namespace {

#define REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this build or machine"

TEST(Cuda, SinkhornMatchesCpu) {
  REQUIRE_CUDA();
  torch::manual_seed(1);
  torch::Tensor scores = torch::rand({512, 300}) * 2 - 1;
  torch::Tensor cpu = sinkhorn_knopp(scores, 0.05, 3, local_collective());
  torch::Tensor gpu = sinkhorn_knopp(scores.to(torch::kCUDA), 0.05, 3, local_collective());
  EXPECT_TRUE(torch::allclose(cpu, gpu.cpu(), 1e-4, 1e-6));
  // bf16 scores still give float32 codes.
  torch::Tensor half =
      sinkhorn_knopp(scores.to(torch::kCUDA, torch::kBFloat16), 0.05, 3, local_collective());
  EXPECT_EQ(half.scalar_type(), torch::kFloat);
}

TEST(Cuda, MultiCropMatchesCpu) {
  REQUIRE_CUDA();
  MultiCropAugment augment({{2, 28, 0.3, 1.0}, {2, 14, 0.1, 0.3}}, AugmentOptions{});
  torch::Tensor images = torch::randint(0, 256, {16, 1, 28, 28}, torch::kUInt8);
  std::vector<int64_t> ids(16);
  for (int i = 0; i < 16; ++i) ids[i] = i;
  auto cpu = augment(images, ids, 5, 0);
  auto gpu = augment(images.to(torch::kCUDA), ids, 5, 0);
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_TRUE(torch::allclose(cpu[i], gpu[i].cpu(), 1e-3, 1e-3)) << "crop " << i;
}

TEST(Cuda, SwavStepUnderBf16AutocastIsFinite) {
  REQUIRE_CUDA();
  register_harness_methods();
  register_swav_methods();
  RunConfig config = resolve_config(
      {{"method", "swav"}, {"device", "cuda"}, {"precision", "bf16"}, {"batch_size", 32}},
      nlohmann::json::object(), "test");
  MethodContext ctx{config, 10, 1, torch::Device(torch::kCUDA), local_collective()};
  auto method = make_method("swav", ctx);
  to_channels_last(method->module());
  MultiCropAugment augment(config.crops, AugmentOptions{});
  const MultiCropBatch batch = test_support::random_multicrop_batch(augment, 32, torch::kCUDA);
  StepOutput out;
  {
    AutocastBf16 autocast(torch::kCUDA, true);
    out = method->loss(batch, 1000, 0);
  }
  EXPECT_EQ(out.loss.scalar_type(), torch::kFloat);
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
  out.loss.backward();
  EXPECT_GT(cuda_peak_allocated_bytes(0), 0.0);
}

}  // namespace
}  // namespace swavbench
