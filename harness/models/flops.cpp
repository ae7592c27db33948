#include "harness/models/flops.h"

#include <torch/torch.h>

#include <chrono>

namespace swavbench {
namespace {

int64_t halve(int64_t r) { return (r + 1) / 2; }  // 3x3/1x1 conv or pool, stride 2, "same"

}  // namespace

int64_t forward_macs(torch::nn::Module& module, const std::string& backbone_prefix,
                     const ResNetOptions& trunk, int64_t image_size) {
  // Output resolution of the stem and of each stage (layer1..layer4).
  int64_t stem = trunk.small_stem ? image_size : halve(image_size);
  int64_t stage[5];
  stage[1] = trunk.small_stem ? stem : halve(stem);  // max-pool after the ImageNet stem
  for (int s = 2; s <= 4; ++s) stage[s] = halve(stage[s - 1]);

  int64_t macs = 0;
  for (const auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& w = item.value();
    if (!w.requires_grad()) continue;  // a momentum encoder is not what the step trains
    bool in_trunk = name.rfind(backbone_prefix, 0) == 0;
    std::string local = in_trunk ? name.substr(backbone_prefix.size()) : name;
    if (w.dim() == 4 && in_trunk) {
      int64_t res = 0;
      if (local.rfind("conv1.", 0) == 0) res = stem;
      for (int s = 1; s <= 4; ++s)
        if (local.rfind("layer" + std::to_string(s) + ".", 0) == 0) res = stage[s];
      if (res == 0) continue;
      macs += res * res * w.numel();  // out_c * in_c * kh * kw per output pixel
    } else if (w.dim() == 2 && !in_trunk) {
      macs += w.numel();
    }
  }
  return macs;
}

double training_flops_per_image(torch::nn::Module& module, const std::string& backbone_prefix,
                                const ResNetOptions& trunk, const std::vector<CropSpec>& crops) {
  double flops = 0;
  for (const auto& c : crops)
    flops += c.count * 3.0 * 2.0 *
             static_cast<double>(forward_macs(module, backbone_prefix, trunk, c.size));
  return flops;
}

double measure_gemm_flops(torch::Device device, bool bf16, int64_t n, double seconds) {
  torch::NoGradGuard no_grad;
  auto options =
      torch::TensorOptions().device(device).dtype(bf16 ? torch::kBFloat16 : torch::kFloat);
  torch::Tensor a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
  auto sync = [&] {
    if (device.is_cuda()) a.sum().item<float>();  // forces the queue to drain
  };
  a.mm(b);  // warm-up (allocations, BLAS thread start)
  sync();
  using Clock = std::chrono::steady_clock;
  int64_t reps = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 4; ++i) a.mm(b);
    reps += 4;
    sync();
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return 2.0 * n * n * n * reps / elapsed;
}

}  // namespace swavbench
