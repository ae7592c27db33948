#include "baselines/register.h"

#include "baselines/baseline_specs.h"
#include "baselines/baselines.h"
#include "harness/core/method_spec.h"

namespace swavbench {

void register_baseline_methods() {
  register_method_spec(simclr_method_spec());
  register_method_spec(moco_method_spec());

  register_method("simclr", [](const MethodContext& c) { return make_simclr(c); });
  register_method("moco", [](const MethodContext& c) { return make_moco(c); });
}

}  // namespace swavbench
