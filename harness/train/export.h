// Weights for plain PyTorch (`swavbench export`): a run's trunk as a state dict that
// `torch.load` reads with no swavbench code and no custom classes, named as torchvision names a
// ResNet, so that `torchvision.models.resnet50().load_state_dict(sd, strict=False)` misses only
// `fc.*`. The `full` format adds everything else the method trained (projection head,
// prototypes, momentum encoder) under the method's own module names.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "harness/models/resnet.h"
#include "harness/train/method.h"

namespace swavbench {

enum class ExportFormat { kTorchvision, kFull };

// "torchvision" | "full"; InputError otherwise.
ExportFormat parse_export_format(const std::string& name);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// A module's parameters and buffers in PyTorch's state_dict order (each module's own parameters,
// then its own buffers, modules in registration order), as float32 copies on the CPU (integer
// buffers such as num_batches_tracked keep their type). `prefix` is put before every name.
NamedTensors state_dict_entries(torch::nn::Module& module, const std::string& prefix = "");

// What `format` exports of a trained method: kTorchvision the trunk alone (conv1.weight, ...,
// layer4.1.bn2.num_batches_tracked), kFull every parameter and buffer of method.module() under
// its module names (backbone.conv1.weight, projection_head.0.weight, prototypes.weight, ...).
NamedTensors export_entries(Method& method, ExportFormat format);

// Writes `entries` as a Python dict of tensors in torch.save's zip format, atomically (a
// temporary file next to `path`, flushed and renamed): an Error names the path and the reason
// (a full disk among them) and leaves any earlier file at `path` as it was.
void save_for_python(const NamedTensors& entries, const std::string& path);

// How a trunk differs from the torchvision model of the same name; empty when
// torchvision.models.<arch>() loads it with strict=True minus fc.*. One line per difference,
// saying what to change on the torchvision side (README has the snippet).
std::vector<std::string> torchvision_differences(const ResNetOptions& options);

}  // namespace swavbench
