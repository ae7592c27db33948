// The baselines' MethodSpecs (harness/core/method_spec.h), apart from their torch code so that
// torch-free builds (the sanitizer build) see the same specs.
#pragma once

#include "harness/core/method_spec.h"

namespace swavbench {

MethodSpec simclr_method_spec();
MethodSpec moco_method_spec();

}  // namespace swavbench
