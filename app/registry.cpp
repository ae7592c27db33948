#include "app/registry.h"

#include "baselines/register.h"
#include "evals/register.h"
#include "harness/train/register.h"
#include "swav/register.h"

namespace swavbench {

void register_builtins() {
  register_harness_methods();
  register_swav_methods();
  register_baseline_methods();
  register_evals();
}

}  // namespace swavbench
