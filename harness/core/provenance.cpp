#include "harness/core/provenance.h"

#include "harness/core/build_info_generated.h"

namespace swavbench {

const char* swavbench_version() { return SWAVBENCH_VERSION; }
const char* swavbench_git_sha() { return SWAVBENCH_GIT_SHA; }
const char* training_code_digest() { return SWAVBENCH_TRAINING_CODE_DIGEST; }
const char* swavbench_source_dir() { return SWAVBENCH_BUILD_SOURCE_DIR; }

}  // namespace swavbench
