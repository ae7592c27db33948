// The MethodSpecs of the two reference methods that live in harness/train, the supervised
// reference and the untrained control (harness/core/method_spec.h). Torch-free, apart from their
// code in method.cpp, so that torch-free builds (the sanitizer build) see the same specs.
#pragma once

#include "harness/core/method_spec.h"

namespace swavbench {

MethodSpec supervised_method_spec();
MethodSpec random_method_spec();
MethodSpec pixels_method_spec();

}  // namespace swavbench
