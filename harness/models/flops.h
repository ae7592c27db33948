// Model FLOP accounting and the machine's measured GEMM rate, for model FLOP utilisation (MFU):
// achieved model FLOP/s over the float GEMM FLOP/s the same process measures.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "harness/core/crops.h"
#include "harness/models/resnet.h"

namespace swavbench {

// Multiply-accumulates of one forward pass of one image through `module`, whose ResNet trunk
// is registered under `backbone_prefix` (e.g. "backbone."; "" when module is the trunk):
// every convolution at the resolution its stage produces, plus every Linear (2-D weight)
// outside the trunk once per image. BatchNorm, ReLU and pooling are not counted (the usual
// convention).
int64_t forward_macs(torch::nn::Module& module, const std::string& backbone_prefix,
                     const ResNetOptions& trunk, int64_t image_size);

// Training FLOPs of one image under multi-crop: each crop costs forward + backward, counted as
// 3 x forward, and a MAC is 2 FLOPs.
double training_flops_per_image(torch::nn::Module& module, const std::string& backbone_prefix,
                                const ResNetOptions& trunk, const std::vector<CropSpec>& crops);

// Sustained float32 (or bf16 on CUDA when `bf16`) matmul rate of this process on `device`,
// FLOP/s, from square n x n products timed for about `seconds`.
double measure_gemm_flops(torch::Device device, bool bf16 = false, int64_t n = 1024,
                          double seconds = 0.3);

}  // namespace swavbench
