#include "baselines/baseline_specs.h"

namespace swavbench {

MethodSpec simclr_method_spec() {
  MethodSpec simclr;
  simclr.name = "simclr";
  simclr.display_name = "SimCLR";
  simclr.paper_name = "SimCLR";
  simclr.table_order = 1;
  simclr.min_crops = 2;
  simclr.defaults = {{"temperature", 0.2}};
  return simclr;
}

MethodSpec moco_method_spec() {
  // MoCo v2 trains with per-GPU BatchNorm: with SyncBatchNorm its key encoder would see the
  // batch statistics of its own queries' positives.
  MethodSpec moco;
  moco.name = "moco";
  moco.display_name = "MoCo v2";
  moco.paper_name = "MoCo v2";
  moco.table_order = 2;
  moco.min_crops = 2;
  moco.defaults = {{"temperature", 0.2}, {"sync_bn", false}};
  return moco;
}

}  // namespace swavbench
