// The thin shim over what differs between Debian's LibTorch 1.13 (CPU) and LibTorch 2.x with
// CUDA: autocast, CUDA memory statistics, channels_last and cuDNN settings. Everything else in
// swavbench uses APIs both versions have.
#pragma once

#include <torch/torch.h>

namespace swavbench {

// bf16 autocast on CUDA for the guard's lifetime (Sinkhorn and the losses exclude themselves
// and stay float32). No-op when `enabled` is false.
class CudaAutocastBf16 {
 public:
  explicit CudaAutocastBf16(bool enabled);
  ~CudaAutocastBf16();
  CudaAutocastBf16(const CudaAutocastBf16&) = delete;
  CudaAutocastBf16& operator=(const CudaAutocastBf16&) = delete;

 private:
  bool enabled_;
  bool previous_ = false;
};

// True when this build can talk to CUDA's allocator statistics (a CUDA LibTorch).
bool cuda_statistics_available();
// Peak bytes allocated on `device` since the process started (0 when unavailable).
double cuda_peak_allocated_bytes(int device_index);

// Convert every 4-D parameter and buffer to channels_last (conv-friendly on GPUs).
void to_channels_last(torch::nn::Module& module);

// cuDNN autotuning for fixed input shapes.
void enable_cudnn_benchmark();

}  // namespace swavbench
