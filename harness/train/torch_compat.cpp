#include "harness/train/torch_compat.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#if defined(SWAVBENCH_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace swavbench {

// LibTorch 2.4 replaced set_enabled / set_autocast_gpu_dtype by per-device-type functions.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SWAVBENCH_AUTOCAST_PER_DEVICE 1
#endif

AutocastBf16::AutocastBf16(torch::Device device, bool enabled)
    : enabled_(enabled), cuda_(device.is_cuda()) {
  if (!enabled_) return;
#if defined(SWAVBENCH_AUTOCAST_PER_DEVICE)
  const c10::DeviceType type = cuda_ ? at::kCUDA : at::kCPU;
  previous_ = at::autocast::is_autocast_enabled(type);
  at::autocast::set_autocast_dtype(type, at::kBFloat16);
  at::autocast::set_autocast_enabled(type, true);
#else
  if (cuda_) {
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

AutocastBf16::~AutocastBf16() {
  if (!enabled_) return;
#if defined(SWAVBENCH_AUTOCAST_PER_DEVICE)
  at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, previous_);
#else
  if (cuda_)
    at::autocast::set_enabled(previous_);
  else
    at::autocast::set_cpu_enabled(previous_);
#endif
  at::autocast::clear_cache();
}

bool cuda_statistics_available() {
#if defined(SWAVBENCH_WITH_CUDA)
  return torch::cuda::is_available();
#else
  return false;
#endif
}

double cuda_peak_allocated_bytes(int device_index) {
#if defined(SWAVBENCH_WITH_CUDA)
  if (!torch::cuda::is_available()) return 0;
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index);
  return static_cast<double>(stats.allocated_bytes[0].peak);  // index 0: StatType::AGGREGATE
#else
  (void)device_index;
  return 0;
#endif
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  for (auto& b : module.buffers())
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
}

void enable_cudnn_benchmark() { at::globalContext().setBenchmarkCuDNN(true); }

}  // namespace swavbench
