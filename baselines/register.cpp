#include "baselines/register.h"

#include "baselines/baselines.h"
#include "harness/core/method_spec.h"

namespace swavbench {

void register_baseline_methods() {
  MethodSpec simclr;
  simclr.name = "simclr";
  simclr.display_name = "SimCLR";
  simclr.paper_name = "SimCLR";
  simclr.table_order = 1;
  simclr.min_crops = 2;
  simclr.defaults = {{"temperature", 0.2}};
  register_method_spec(std::move(simclr));
  // MoCo v2 trains with per-GPU BatchNorm: with SyncBatchNorm its key encoder would see the
  // batch statistics of its own queries' positives.
  MethodSpec moco;
  moco.name = "moco";
  moco.display_name = "MoCo v2";
  moco.paper_name = "MoCo v2";
  moco.table_order = 2;
  moco.min_crops = 2;
  moco.defaults = {{"temperature", 0.2}, {"sync_bn", false}};
  register_method_spec(std::move(moco));

  register_method("simclr", [](const MethodContext& c) { return make_simclr(c); });
  register_method("moco", [](const MethodContext& c) { return make_moco(c); });
}

}  // namespace swavbench
