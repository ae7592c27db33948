#include "baselines/register.h"

#include "baselines/baselines.h"

namespace swavbench {

void register_baseline_methods() {
  register_method("simclr", [](const MethodContext& c) { return make_simclr(c); });
  register_method("moco", [](const MethodContext& c) { return make_moco(c); });
}

}  // namespace swavbench
