#include "baselines/baseline_specs.h"

#include <string>

#include "harness/core/check.h"
#include "harness/core/config.h"

namespace swavbench {

MethodSpec simclr_method_spec() {
  MethodSpec simclr;
  simclr.name = "simclr";
  simclr.display_name = "SimCLR";
  simclr.paper_name = "SimCLR";
  simclr.table_order = 1;
  simclr.min_crops = 2;
  simclr.defaults = {{"temperature", 0.2}};
  // The baselines' shared files (losses, specs, registration) and SimCLR's own: MoCo's own files
  // are left out of its digest, so editing MoCo does not retrain SimCLR (nor the reverse).
  simclr.code = {"baselines/", "baselines/simclr.cpp"};
  return simclr;
}

MethodSpec moco_method_spec() {
  // MoCo v2 trains with per-GPU BatchNorm and shuffles the keys across GPUs: with SyncBatchNorm
  // its key encoder would see the batch statistics of its own queries' positives. swavbench
  // makes the per-GPU groups explicit (moco_bn_group, baselines/shuffle_bn.h), so one process
  // and N processes normalise the same groups.
  MethodSpec moco;
  moco.name = "moco";
  moco.display_name = "MoCo v2";
  moco.paper_name = "MoCo v2";
  moco.table_order = 2;
  moco.min_crops = 2;
  moco.defaults = {{"temperature", 0.2}, {"sync_bn", false}};
  moco.code = {"baselines/", "baselines/moco.cpp", "baselines/shuffle_bn.cpp",
               "baselines/shuffle_bn.h"};
  moco.validate = [](const RunConfig& c, const std::string& where) {
    SB_INPUT_CHECK(c.moco_bn_group == 0 || c.batch_size % c.moco_bn_group == 0,
                   "{}: config key 'moco_bn_group' {} must divide batch_size {} (or be 0: the "
                   "authors' 32 per GPU where the batch allows)",
                   where, c.moco_bn_group, c.batch_size);
  };
  return moco;
}

}  // namespace swavbench
