// SimCLR and MoCo v2 as Methods, sharing SwAV's backbone, multi-crop pipeline and trainer so a
// table row differs only in what its column says.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "harness/train/method.h"

namespace swavbench {

std::unique_ptr<Method> make_simclr(const MethodContext& context);
std::unique_ptr<Method> make_moco(const MethodContext& context);

}  // namespace swavbench
