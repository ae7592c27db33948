// The built-in methods' MethodSpecs and protocols' ProtocolSpecs, registered at start-up for the
// torch-free sanitizer build (cmake/sanitize.cmake), where their torch code (and its register_*
// functions) is not compiled: the unit tests and fuzz targets there see the same names, defaults
// and checks.
#include "baselines/baseline_specs.h"
#include "evals/protocol_specs.h"
#include "harness/train/control_specs.h"
#include "swav/swav_spec.h"

namespace swavbench {
namespace {

const bool kRegistered = [] {
  for (MethodSpec spec : {swav_method_spec(), simclr_method_spec(), moco_method_spec(),
                          supervised_method_spec(), random_method_spec(), pixels_method_spec()})
    register_method_spec(std::move(spec));
  for (ProtocolSpec spec : builtin_protocol_specs()) register_protocol_spec(std::move(spec));
  return true;
}();

}  // namespace
}  // namespace swavbench
