// bf16 autocast on the CPU (precision = "bf16" with device = "cpu"): the guard turns CPU autocast
// on and restores it; under it a SwAV step's convolutions run in bfloat16 while its loss stays
// float32 and lands within 2 % of the float32 step on the same batch and weights; the gradients
// point the same way (cosine > 0.99). Runs anywhere: where the CPU lacks AVX512-BF16, LibTorch
// emulates bfloat16 (slowly), which the trainer refuses for training but these checks do not need.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "harness/core/config.h"
#include "harness/core/hardware.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/train/method.h"
#include "harness/train/torch_compat.h"
#include "tests/unit/random_batch.h"

namespace swavbench {
namespace {

TEST(CpuBf16, TheGuardRunsConvolutionsInBfloat16AndRestoresFloat32) {
  torch::Tensor x = torch::randn({2, 3, 8, 8});
  torch::Tensor w = torch::randn({4, 3, 3, 3});
  {
    AutocastBf16 autocast(torch::kCPU, true);
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
    AutocastBf16 off(torch::kCPU, false);  // a disabled guard changes nothing
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
}

TEST(CpuBf16, ASwavStepStaysWithinTwoPercentOfFloat32) {
  const RunConfig config =
      resolve_config({{"method", "swav"}, {"batch_size", 32}}, nlohmann::json::object(), "test");
  MultiCropAugment augment(config.crops, AugmentOptions{});
  torch::manual_seed(3);
  const MultiCropBatch batch = test_support::random_multicrop_batch(augment, 32);

  auto step = [&](bool bf16, std::vector<torch::Tensor>* grads) {
    torch::manual_seed(0);  // the same initial weights for both
    MethodContext ctx{config, 10, 1, torch::Device(torch::kCPU), local_collective()};
    auto method = make_method("swav", ctx);
    StepOutput out;
    {
      AutocastBf16 autocast(torch::kCPU, bf16);
      out = method->loss(batch, /*iteration=*/1000, /*epoch=*/0);
    }
    EXPECT_EQ(out.loss.scalar_type(), torch::kFloat);
    out.loss.backward();
    for (const auto& p : method->module().parameters())
      if (p.grad().defined()) grads->push_back(p.grad().flatten().to(torch::kDouble));
    return out.loss.item<double>();
  };
  std::vector<torch::Tensor> g32, g16;
  const double fp32 = step(false, &g32);
  const double bf16 = step(true, &g16);
  ASSERT_TRUE(std::isfinite(bf16));
  EXPECT_NEAR(bf16, fp32, 0.02 * std::fabs(fp32)) << "fp32 " << fp32 << ", bf16 " << bf16;
  EXPECT_NE(bf16, fp32);  // bfloat16 did run: its rounding shows in the loss
  ASSERT_EQ(g32.size(), g16.size());
  const torch::Tensor a = torch::cat(g32), b = torch::cat(g16);
  EXPECT_GT((a * b).sum().item<double>() / (a.norm() * b.norm()).item<double>(), 0.99);
}

TEST(CpuBf16, OnlyCpusWithBf16InstructionsTrainInBf16) {
  CpuDescription zen4;
  zen4.model_name = "AMD EPYC";
  zen4.flags = {"avx512f", "avx512_bf16"};
  EXPECT_EQ(cpu_bf16_unsupported_reason(zen4), "");
  CpuDescription sapphire;
  sapphire.flags = {"avx512f", "amx_bf16", "amx_tile"};
  EXPECT_EQ(cpu_bf16_unsupported_reason(sapphire), "");
  CpuDescription skylake;
  skylake.model_name = "Intel(R) Xeon(R) Gold 6148";
  skylake.flags = {"avx512f", "avx512bw"};
  EXPECT_EQ(cpu_bf16_unsupported_reason(skylake),
            "this CPU (Intel(R) Xeon(R) Gold 6148) has neither avx512_bf16 nor amx_bf16, so "
            "bfloat16 would be emulated and slower than float32; use precision 'fp32' here");
}

}  // namespace
}  // namespace swavbench
