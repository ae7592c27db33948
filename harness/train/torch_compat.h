// The thin shim over what differs between Debian's LibTorch 1.13 (CPU) and LibTorch 2.x with
// CUDA: autocast, CUDA memory statistics, channels_last and cuDNN settings. Everything else in
// swavbench uses APIs both versions have.
#pragma once

#include <torch/torch.h>

namespace swavbench {

// bf16 autocast on `device` (CUDA, or the CPU) for the guard's lifetime: convolutions and matrix
// products run in bfloat16 over float32 parameters; Sinkhorn and the losses exclude themselves
// and stay float32. No-op when `enabled` is false.
class AutocastBf16 {
 public:
  AutocastBf16(torch::Device device, bool enabled);
  ~AutocastBf16();
  AutocastBf16(const AutocastBf16&) = delete;
  AutocastBf16& operator=(const AutocastBf16&) = delete;

 private:
  bool enabled_;
  bool cuda_;
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
