// memory_format = "channels_last" on the CPU: which runs train in NHWC ("auto" keeps the CPU
// contiguous and CUDA in channels_last), that to_channels_last leaves every 4-D weight in NHWC
// strides, and that a SwAV and a MoCo v2 step in NHWC compute the contiguous step's loss and
// gradients on the same batch and weights, within the bounds float32's summation allows (below),
// which hold for every CPU's kernels.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/train/method.h"
#include "harness/train/torch_compat.h"
#include "tests/unit/random_batch.h"

namespace swavbench {
namespace {

RunConfig config_with(const std::string& method, const std::string& memory_format,
                      const std::string& precision = "fp32") {
  return resolve_config({{"method", method},
                         {"batch_size", 32},
                         {"memory_format", memory_format},
                         {"precision", precision}},
                        nlohmann::json::object(), "test");
}

TEST(MemoryFormat, AutoIsChannelsLastOnCudaOnlyAndAnExplicitChoiceWinsOnBoth) {
  EXPECT_EQ(config_with("swav", "auto").memory_format, "auto");
  EXPECT_EQ(
      resolve_config(nlohmann::json::object(), nlohmann::json::object(), "test").memory_format,
      "auto");
  EXPECT_FALSE(trains_channels_last(config_with("swav", "auto"), /*cuda=*/false));
  EXPECT_TRUE(trains_channels_last(config_with("swav", "auto"), /*cuda=*/true));
  EXPECT_TRUE(trains_channels_last(config_with("swav", "channels_last"), false));
  EXPECT_TRUE(trains_channels_last(config_with("swav", "channels_last"), true));
  EXPECT_FALSE(trains_channels_last(config_with("swav", "contiguous"), false));
  EXPECT_FALSE(trains_channels_last(config_with("swav", "contiguous"), true));
}

TEST(MemoryFormat, AnUnknownLayoutIsRefusedWithTheChoices) {
  try {
    config_with("swav", "nhwc");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("memory_format"), std::string::npos) << what;
    EXPECT_NE(what.find("channels_last"), std::string::npos) << what;
    EXPECT_NE(what.find("contiguous"), std::string::npos) << what;
  }
}

enum class Layout { kContiguous, kChannelsLast, kFloat64Reference };

// One loss + backward on a fixed multi-crop batch; the gradients come back flattened, in the
// module's parameter order, in float64. The reference is the contiguous step in float64, from
// the same float32 initial weights (as the trainer's fp64 runs convert them).
double step(const std::string& method_name, Layout layout, std::vector<torch::Tensor>* grads) {
  const bool channels_last = layout == Layout::kChannelsLast;
  const bool fp64 = layout == Layout::kFloat64Reference;
  const RunConfig config = config_with(method_name, channels_last ? "channels_last" : "contiguous",
                                       fp64 ? "fp64" : "fp32");
  MultiCropAugment augment(config.crops, AugmentOptions{});
  torch::manual_seed(3);
  MultiCropBatch batch = test_support::random_multicrop_batch(augment, 32);

  torch::manual_seed(0);  // the same initial weights (and MoCo queue) for both layouts
  MethodContext ctx{config, 10, 1, torch::Device(torch::kCPU), local_collective()};
  auto method = make_method(method_name, ctx);
  if (fp64) {
    method->module().to(torch::kDouble);
    for (auto& c : batch.crops) c = c.to(torch::kDouble);
  }
  if (channels_last) {
    to_channels_last(method->module());
    for (auto& c : batch.crops) c = c.contiguous(at::MemoryFormat::ChannelsLast);
    for (const auto& p : method->module().parameters()) {
      if (p.dim() == 4) {
        EXPECT_TRUE(p.is_contiguous(at::MemoryFormat::ChannelsLast));
      }
    }
  }
  method->module().train();
  method->before_step(1000);
  StepOutput out = method->loss(batch, /*iteration=*/1000, /*epoch=*/0);
  out.loss.backward();
  for (const auto& p : method->module().parameters())
    if (p.grad().defined()) grads->push_back(p.grad().flatten().to(torch::kDouble));
  return out.loss.item<double>();
}

// The bounds, from float32's arithmetic rather than from one CPU's output. A float32 sum of n
// terms is within gamma_n ~= n * u of the exact sum, relative to the sum of the terms' magnitudes
// (Higham, "Accuracy and Stability of Numerical Algorithms", 4.2; u = 2^-24); kernels that sum in
// blocks or pairs do far better, recursive summation can take it all. The longest reductions of a
// step are the trunk's weight gradients, summed over every image and position of the largest
// crops (the per-group forwards of MoCo's shuffling BN add into the same gradient): n = 2 crops x
// 32 images x 28 x 28 = 50176, n * u = 3.0e-3. The forward pass (the loss) sums at most a
// convolution's C x 3 x 3 = 1152 products or MoCo's 4096 + 1 logits: 4097 * u = 2.4e-4. The
// step itself is well conditioned (the float64 step moves by 3e-7 when its weights and crops are
// perturbed by u), so the terms' magnitudes do not dwarf their sums and these bounds apply to the
// relative errors measured. Measured (printed): the contiguous step 1.6e-6 (SwAV) and 5.7e-7
// (MoCo) from float64 with AVX-512 oneDNN, 4.6e-5 and 8.0e-4 with oneDNN's AVX2 kernels (as on a
// Zen 1); NHWC 1e-3 with AVX-512. A wrong layout (a transposed weight, crops read in the wrong
// order) is off by O(1).
void expect_same_step(const std::string& method_name) {
  std::vector<torch::Tensor> g_nchw, g_nhwc, g_ref;
  const double nchw = step(method_name, Layout::kContiguous, &g_nchw);
  const double nhwc = step(method_name, Layout::kChannelsLast, &g_nhwc);
  const double ref = step(method_name, Layout::kFloat64Reference, &g_ref);
  ASSERT_TRUE(std::isfinite(nhwc));
  const RunConfig config = config_with(method_name, "contiguous");
  const double u = std::ldexp(1.0, -24);
  const CropSpec& largest = config.crops.front();
  const double gradient_bound =
      static_cast<double>(largest.count) * config.batch_size * largest.size * largest.size * u;
  const double loss_bound = (std::max(1152, config.moco_queue) + 1) * u;
  ASSERT_EQ(g_nchw.size(), g_nhwc.size());
  ASSERT_EQ(g_ref.size(), g_nhwc.size());
  ASSERT_FALSE(g_nchw.empty());
  const torch::Tensor r = torch::cat(g_ref);
  const double err_nchw = (torch::cat(g_nchw) - r).norm().item<double>() / r.norm().item<double>();
  const double err_nhwc = (torch::cat(g_nhwc) - r).norm().item<double>() / r.norm().item<double>();
  std::printf(
      "%s: loss NCHW %.3e, NHWC %.3e from float64 (bound %.1e); gradients NCHW %.3e, "
      "NHWC %.3e (bound %.1e)\n",
      method_name.c_str(), std::fabs(nchw - ref) / std::fabs(ref),
      std::fabs(nhwc - ref) / std::fabs(ref), loss_bound, err_nchw, err_nhwc, gradient_bound);
  EXPECT_NEAR(nchw, ref, loss_bound * std::fabs(ref)) << method_name;
  EXPECT_NEAR(nhwc, ref, loss_bound * std::fabs(ref)) << method_name;
  EXPECT_LT(err_nchw, gradient_bound) << method_name;  // the float32 contiguous step itself
  EXPECT_LT(err_nhwc, gradient_bound) << method_name;
}

TEST(MemoryFormat, ASwavStepInChannelsLastComputesTheContiguousStep) { expect_same_step("swav"); }

TEST(MemoryFormat, AMocoStepInChannelsLastComputesTheContiguousStep) { expect_same_step("moco"); }

}  // namespace
}  // namespace swavbench
