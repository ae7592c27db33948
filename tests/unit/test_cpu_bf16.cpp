// bf16 autocast on the CPU (precision = "bf16" with device = "cpu"): the guard turns CPU autocast
// on and restores it; under it a SwAV step's convolutions run in bfloat16 while its loss stays
// float32, and its loss and gradients stay within the bounds bfloat16's rounding sets (derived
// below) of the float32 step on the same batch and weights. Runs anywhere: where the CPU lacks
// AVX512-BF16, LibTorch emulates bfloat16 (slowly), which the trainer refuses for training but
// these checks do not need.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "harness/core/config.h"
#include "harness/core/hardware.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/train/method.h"
#include "harness/train/torch_compat.h"
#include "tests/unit/random_batch.h"

namespace swavbench {
namespace {

// Where oneDNN is capped below its bf16 ISA (DNNL_MAX_CPU_ISA=AVX2, as scripts/
// test-foreign-cpu.sh sets on an AVX-512 machine), ATen still picks oneDNN for bf16
// convolutions (it asks the CPU, not the cap) and oneDNN cannot build one. A CPU that really
// lacks AVX-512 takes ATen's own bf16 path; so do these tests then, with oneDNN off.
void take_atens_bf16_path_where_onednn_has_none() {
  try {
    AutocastBf16 autocast(torch::kCPU, true);
    torch::conv2d(torch::ones({1, 1, 3, 3}), torch::ones({1, 1, 3, 3}));
  } catch (const std::exception&) {  // ideep's dnnl::error, not a c10::Error
    std::printf(
        "oneDNN has no bf16 convolution under this ISA cap: ATen's own bf16 path runs, "
        "as on a CPU without AVX-512\n");
    at::globalContext().setUserEnabledMkldnn(false);
  }
}

TEST(CpuBf16, TheGuardRunsConvolutionsInBfloat16AndRestoresFloat32) {
  take_atens_bf16_path_where_onednn_has_none();
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

// The bound, from the arithmetic of bfloat16 rather than from one CPU's output. bf16 keeps 8
// significant bits: unit roundoff u = 2^-8. Under autocast every convolution and linear layer
// rounds its input and its weight to bf16 and returns a bf16 output (three roundings, at most
// 3u relative each time), whatever kernel computes it in between: oneDNN's AVX512-BF16
// convolutions accumulate in float32, the kernels of a CPU without bf16 instructions (ATen's own
// path, or oneDNN's emulation) in other orders, which is why the measured gap differs by CPU
// (gradient cosine 0.998 with AVX512-BF16, 0.971 on a Zen 1 and under
// DNNL_MAX_CPU_ISA=AVX2). To first order these relative errors add along the path a value
// takes: the loss passes the L bf16 layers of the forward pass, a gradient at most 2L (forward,
// then backward through the same layers). So |loss_bf16 - loss_fp32| <= L * 3u * |loss_fp32| and
// |g_bf16 - g_fp32| <= 2L * 3u * |g_fp32|: with L = 15 (ResNet-10's 12 convolutions, the head's
// 2 linears, the prototypes) 17.6 % and 35 %, which also keeps the gradients pointing the same
// way (cosine >= sqrt(1 - 0.35^2) = 0.94). The measured values are printed. A guard that did not
// switch bf16 on (the loss equal to float32's) or a gradient that autocast broke (NaN, zero, or
// cast back with the wrong sign) fails.
TEST(CpuBf16, ASwavStepInBf16StaysWithinTheRoundingBoundOfFloat32) {
  take_atens_bf16_path_where_onednn_has_none();
  const RunConfig config =
      resolve_config({{"method", "swav"}, {"batch_size", 32}}, nlohmann::json::object(), "test");
  MultiCropAugment augment(config.crops, AugmentOptions{});
  torch::manual_seed(3);
  const MultiCropBatch batch = test_support::random_multicrop_batch(augment, 32);

  int bf16_layers = 0;
  auto step = [&](bool bf16, std::vector<torch::Tensor>* grads) {
    torch::manual_seed(0);  // the same initial weights for both
    MethodContext ctx{config, 10, 1, torch::Device(torch::kCPU), local_collective()};
    auto method = make_method("swav", ctx);
    bf16_layers = 0;
    for (const auto& m : method->module().modules(/*include_self=*/false))
      if (m->as<torch::nn::Conv2d>() || m->as<torch::nn::Linear>()) ++bf16_layers;
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
  EXPECT_NE(bf16, fp32);       // bfloat16 did run: its rounding shows in the loss
  EXPECT_EQ(bf16_layers, 15);  // the L of the bound: a changed model must revisit it

  const double u = std::ldexp(1.0, -8);
  const double loss_bound = bf16_layers * 3 * u;
  const double grad_bound = 2 * bf16_layers * 3 * u;
  ASSERT_EQ(g32.size(), g16.size());
  const torch::Tensor a = torch::cat(g32), b = torch::cat(g16);
  ASSERT_TRUE(torch::isfinite(b).all().item<bool>());
  const double loss_gap = std::fabs(bf16 - fp32) / std::fabs(fp32);
  const double grad_gap = (b - a).norm().item<double>() / a.norm().item<double>();
  const double cosine = (a * b).sum().item<double>() / (a.norm() * b.norm()).item<double>();
  std::printf(
      "bf16 vs float32: loss %.6f vs %.6f (relative %.2e, bound %.3f), gradients %.2e "
      "apart (bound %.3f), cosine %.5f\n",
      bf16, fp32, loss_gap, loss_bound, grad_gap, grad_bound, cosine);
  EXPECT_LE(loss_gap, loss_bound);
  EXPECT_LE(grad_gap, grad_bound);
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
