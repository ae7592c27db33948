// The evaluation protocols of evals/ as they describe themselves (ProtocolSpec: name, display
// name, doc, options with their defaults and ranges), apart from their torch code. register_evals
// pairs each with its run function; the torch-free sanitizer build registers these alone, so that
// its fuzz targets and tests check the real protocols' options.
#pragma once

#include <vector>

#include "harness/eval/protocol_options.h"

namespace swavbench {

ProtocolSpec knn_protocol_spec();
ProtocolSpec linear_fast_protocol_spec();
ProtocolSpec lowshot_protocol_spec();
ProtocolSpec linear_protocol_spec();
ProtocolSpec semisup_protocol_spec();
ProtocolSpec voc07_svm_protocol_spec();
ProtocolSpec voc_det_protocol_spec();

// All of the above, in the order `--list-keys` shows them.
std::vector<ProtocolSpec> builtin_protocol_specs();

}  // namespace swavbench
