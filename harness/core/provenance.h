// The build's provenance, compiled into one small translation unit (provenance.cpp) so that a
// new commit or a source edit recompiles that file alone, not every file that reports it.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace swavbench {

// The project version from CMakeLists.txt, e.g. "0.1.0".
const char* swavbench_version();

// The short git sha the binary was built from, "-dirty" appended when tracked files differed,
// "unknown" outside a git checkout.
const char* swavbench_git_sha();

// 16 hex chars of sha256 over the shared training code: the sources every pretraining run's
// numbers depend on whatever its method (the rooms are listed in cmake/build_info.cmake). Part of
// every run's hash, with its own method's code: see method_code_digest (core/method_spec.h).
const char* shared_training_code_digest();

// One source file of a method or protocol room and 16 hex chars of its sha256.
struct CodeFileDigest {
  std::string path;  // relative to the source tree: "baselines/moco.cpp"
  std::string digest;
};
// Every source of the method and protocol rooms (every top-level folder with sources that is not
// the harness, the app, the tests or the benchmarks; and harness/eval), sorted by path, as this
// binary was built from them.
const std::vector<CodeFileDigest>& code_file_digests();

// 16 hex chars of sha256 over `shared_digest` and the digests of the files `code` selects from
// `files`: an entry of `code` that ends in '/' is a room (every file under it), any other entry
// one file. A room's file that another owner claims by name (`claimed_elsewhere`) is left out,
// so that two methods in one folder do not retrain each other. An entry that selects no file is
// an Error naming `owner`: a digest that silently covered nothing would let stale results stand.
std::string combined_code_digest(const std::string& owner, const std::string& shared_digest,
                                 const std::vector<CodeFileDigest>& files,
                                 const std::vector<std::string>& code,
                                 const std::set<std::string>& claimed_elsewhere);

// The source tree the binary was built from: its suite/, results/ and tests/ folders are found
// from here. A function rather than a -D on every file, so that every other translation unit
// compiles to the same bytes in any checkout and ccache hits across clones (CI's clean clone).
const char* swavbench_source_dir();

}  // namespace swavbench
