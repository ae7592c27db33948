#include "swav/swav_spec.h"

#include "harness/core/check.h"

namespace swavbench {

MethodSpec swav_method_spec() {
  MethodSpec spec;
  spec.name = "swav";
  spec.display_name = "SwAV";
  spec.paper_name = "SwAV";
  spec.table_order = 0;
  spec.is_default = true;  // the paper's method: what a config without `method` trains
  spec.min_crops = 2;
  spec.has_prototypes = true;
  spec.code = {"swav/"};  // with the shared training code, what a SwAV run's hash covers
  // Codes q are computed on the crops_for_assign views only (the large crops in the paper).
  spec.validate = [](const RunConfig& c, const std::string& where) {
    const int64_t n = c.total_crops();
    for (int64_t a : c.crops_for_assign)
      SB_INPUT_CHECK(a >= 0 && a < n,
                     "{}: crops_for_assign index {} is out of range: there are {} crops (0-based "
                     "indices 0..{})",
                     where, a, n, n - 1);
  };
  spec.collapse_advice =
      "freeze the prototypes longer (freeze_prototypes_epochs), start the queue later "
      "(queue_start_epoch), or lower epsilon";
  return spec;
}

}  // namespace swavbench
