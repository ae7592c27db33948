// The build's provenance: the training code digest that cmake/build_info.cmake computes at every
// build, and its place in the run hash. The script is run for real (cmake -P) on a small source
// tree written here, and on this checkout.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  write_file(path.string(), text);
}

// Runs cmake/build_info.cmake over `source_dir` and returns the digest it wrote.
std::string digest_of_tree(const fs::path& source_dir, const fs::path& out_header) {
  fs::create_directories(out_header.parent_path());
  const std::string log = out_header.string() + ".log";
  EXPECT_EQ(run_process({SWAVBENCH_CMAKE_COMMAND, "-DSRC=" + source_dir.string(),
                         "-DOUT=" + out_header.string(), "-DPROJECT_VERSION=0.0.0", "-P",
                         std::string(swavbench_source_dir()) + "/cmake/build_info.cmake"},
                        log, log),
            0)
      << read_file(log);
  std::smatch match;
  const std::string header = read_file(out_header.string());
  const std::regex digest_line("SWAVBENCH_TRAINING_CODE_DIGEST \"([0-9a-f]+)\"");
  EXPECT_TRUE(std::regex_search(header, match, digest_line)) << header;
  return match.size() > 1 ? match[1].str() : "";
}

class CodeDigest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = root_ / "src";
    fs::create_directories(tree_ / "harness/core");
    fs::copy_file(fs::path(swavbench_source_dir()) / "harness/core/build_info_generated.h.in",
                  tree_ / "harness/core/build_info_generated.h.in");
  }

  std::string digest() { return digest_of_tree(tree_, root_ / "out/build_info_generated.h"); }

  TempDir temp_{"swavbench_digest"};
  fs::path root_ = temp_.path(), tree_;
};

TEST_F(CodeDigest, ChangesWithTrainingSourcesAndNotWithReportsOrProtocols) {
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 1; }\n");
  write(tree_ / "swav/swav_loss.h", "// q = Sinkhorn(C^T z)\n");
  write(tree_ / "harness/report/table.cpp", "int rows() { return 3; }\n");
  write(tree_ / "evals/linear.cpp", "int epochs() { return 100; }\n");
  write(tree_ / "app/commands.cpp", "int main_ish() { return 0; }\n");
  const std::string before = digest();
  ASSERT_EQ(before.size(), 16u);

  // Rooms whose code cannot change what a pretraining run learns: the digest stays.
  write(tree_ / "harness/report/table.cpp", "int rows() { return 4; }\n");
  write(tree_ / "evals/linear.cpp", "int epochs() { return 90; }\n");
  write(tree_ / "app/commands.cpp", "int main_ish() { return 1; }\n");
  EXPECT_EQ(digest(), before);

  // A one-character change to the training loop, a new method file, a renamed one: all change it.
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 2; }\n");
  const std::string edited = digest();
  EXPECT_NE(edited, before);
  write(tree_ / "baselines/new_method.cpp", "// another method\n");
  const std::string added = digest();
  EXPECT_NE(added, edited);
  fs::rename(tree_ / "baselines/new_method.cpp", tree_ / "baselines/renamed_method.cpp");
  EXPECT_NE(digest(), added);

  // Content, not timestamps: undoing the edits gives the first digest back.
  fs::remove(tree_ / "baselines/renamed_method.cpp");
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 1; }\n");
  EXPECT_EQ(digest(), before);
}

TEST_F(CodeDigest, TheBinaryCarriesTheDigestOfTheSourcesItWasBuiltFrom) {
  // Fails when this checkout's training sources were edited after the last build: the binary is
  // then stale, and so would be the hashes of the runs it records.
  EXPECT_EQ(digest_of_tree(swavbench_source_dir(), root_ / "out/build_info_generated.h"),
            training_code_digest());
}

TEST(RunHash, IncludesTheTrainingCodeDigest) {
  RunConfig config = resolve_config({{"epochs", 3}}, nlohmann::json::object(), "w");
  EXPECT_EQ(config.hash(), config.hash_with_code_digest(training_code_digest()));
  EXPECT_NE(config.hash_with_code_digest("0123456789abcdef"),
            config.hash_with_code_digest("0123456789abcdee"));
  // A multi-process run's identity builds on the same hash.
  EXPECT_EQ(run_hash(config, 1), config.hash());
}

}  // namespace
}  // namespace swavbench
