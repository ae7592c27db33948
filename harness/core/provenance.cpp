#include "harness/core/provenance.h"

#include <map>

#include "harness/core/build_info_generated.h"
#include "harness/core/check.h"
#include "harness/core/text.h"

namespace swavbench {

const char* swavbench_version() { return SWAVBENCH_VERSION; }
const char* swavbench_git_sha() { return SWAVBENCH_GIT_SHA; }
const char* shared_training_code_digest() { return SWAVBENCH_SHARED_TRAINING_DIGEST; }
const char* swavbench_source_dir() { return SWAVBENCH_BUILD_SOURCE_DIR; }

const std::vector<CodeFileDigest>& code_file_digests() {
  static const std::vector<CodeFileDigest> files = [] {
    std::vector<CodeFileDigest> out;
    for (const auto& entry : kSwavbenchCodeFileDigests) {
      if (entry[0] != nullptr) out.push_back({entry[0], entry[1]});
    }
    return out;
  }();
  return files;
}

std::string combined_code_digest(const std::string& owner, const std::string& shared_digest,
                                 const std::vector<CodeFileDigest>& files,
                                 const std::vector<std::string>& code,
                                 const std::set<std::string>& claimed_elsewhere) {
  const std::set<std::string> own(code.begin(), code.end());
  std::map<std::string, std::string> selected;  // path -> digest, sorted by path
  for (const std::string& entry : own) {
    const bool room = !entry.empty() && entry.back() == '/';
    bool any = false;
    for (const CodeFileDigest& f : files) {
      const bool match = room ? f.path.compare(0, entry.size(), entry) == 0 &&
                                    (own.count(f.path) != 0 || claimed_elsewhere.count(f.path) == 0)
                              : f.path == entry;
      if (!match) continue;
      any = true;
      selected[f.path] = f.digest;
    }
    SB_CHECK(any,
             "{}'s code names '{}', which selects no source this build digested (a room ends in "
             "'/'; cmake/build_info.cmake says which folders are digested)",
             owner, entry);
  }
  std::string manifest = "shared " + shared_digest + "\n";
  for (const auto& [path, digest] : selected) manifest += path + " " + digest + "\n";
  return sha256_hex(manifest).substr(0, 16);
}

}  // namespace swavbench
