// The build's provenance, compiled into one small translation unit (provenance.cpp) so that a
// new commit or a source edit recompiles that file alone, not every file that reports it.
#pragma once

namespace swavbench {

// The project version from CMakeLists.txt, e.g. "0.1.0".
const char* swavbench_version();

// The short git sha the binary was built from, "-dirty" appended when tracked files differed,
// "unknown" outside a git checkout.
const char* swavbench_git_sha();

// 16 hex chars of sha256 over the sources that can change a pretraining run's numbers (the list
// is in cmake/build_info.cmake). Part of every run's hash: see RunConfig::hash.
const char* training_code_digest();

// The source tree the binary was built from: its suite/, results/ and tests/ folders are found
// from here. A function rather than a -D on every file, so that every other translation unit
// compiles to the same bytes in any checkout and ccache hits across clones (CI's clean clone).
const char* swavbench_source_dir();

}  // namespace swavbench
