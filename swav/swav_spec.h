// SwAV's MethodSpec (harness/core/method_spec.h): its names, checks and collapse advice, apart
// from its torch code so that torch-free builds (the sanitizer build) see the same spec.
#pragma once

#include "harness/core/method_spec.h"

namespace swavbench {

MethodSpec swav_method_spec();

}  // namespace swavbench
