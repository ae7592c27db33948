// The build's provenance: the code digests that cmake/build_info.cmake computes at every build
// (the shared training code's, and one per file of the method and protocol rooms), how a method's
// and a protocol's digests combine them, and their place in the run hash and the eval cache. The
// script is run for real (cmake -P) on small source trees written here, on a copy of this
// checkout's sources edited as a researcher would, and on this checkout.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <string>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/method_spec.h"
#include "harness/core/provenance.h"
#include "harness/core/text.h"
#include "harness/eval/protocol_options.h"
#include "harness/store/store.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  write_file(path.string(), text);
}

// What cmake/build_info.cmake wrote for a tree: the shared training code's digest and the
// digest of every file of the method and protocol rooms.
struct TreeDigests {
  std::string shared;
  std::vector<CodeFileDigest> files;
  std::string file(const std::string& path) const {
    for (const auto& f : files)
      if (f.path == path) return f.digest;
    return "";
  }
};

// Runs cmake/build_info.cmake over `source_dir` for real and reads the header it wrote.
TreeDigests digests_of_tree(const fs::path& source_dir, const fs::path& out_header) {
  fs::create_directories(out_header.parent_path());
  const std::string log = out_header.string() + ".log";
  EXPECT_EQ(run_process({SWAVBENCH_CMAKE_COMMAND, "-DSRC=" + source_dir.string(),
                         "-DOUT=" + out_header.string(), "-DPROJECT_VERSION=0.0.0", "-P",
                         std::string(swavbench_source_dir()) + "/cmake/build_info.cmake"},
                        log, log),
            0)
      << read_file(log);
  TreeDigests out;
  const std::string header = read_file(out_header.string());
  std::smatch match;
  const std::regex shared_line("SWAVBENCH_SHARED_TRAINING_DIGEST \"([0-9a-f]+)\"");
  EXPECT_TRUE(std::regex_search(header, match, shared_line)) << header;
  if (match.size() > 1) out.shared = match[1].str();
  const std::regex file_line("\\{\"([^\"]+)\", \"([0-9a-f]{16})\"\\}");
  for (auto it = std::sregex_iterator(header.begin(), header.end(), file_line);
       it != std::sregex_iterator(); ++it)
    out.files.push_back({(*it)[1].str(), (*it)[2].str()});
  return out;
}

class CodeDigest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = root_ / "src";
    fs::create_directories(tree_ / "harness/core");
    fs::copy_file(fs::path(swavbench_source_dir()) / "harness/core/build_info_generated.h.in",
                  tree_ / "harness/core/build_info_generated.h.in");
  }

  TreeDigests digests() { return digests_of_tree(tree_, root_ / "out/build_info_generated.h"); }

  TempDir temp_{"swavbench_digest"};
  fs::path root_ = temp_.path(), tree_;
};

TEST_F(CodeDigest, TheSharedDigestCoversTheSharedTrainingRoomsAndNothingElse) {
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 1; }\n");
  write(tree_ / "swav/swav_loss.h", "// q = Sinkhorn(C^T z)\n");
  write(tree_ / "harness/report/table.cpp", "int rows() { return 3; }\n");
  write(tree_ / "harness/eval/evaluation.cpp", "int cache() { return 1; }\n");
  write(tree_ / "evals/linear.cpp", "int epochs() { return 100; }\n");
  write(tree_ / "app/commands.cpp", "int main_ish() { return 0; }\n");
  const TreeDigests before = digests();
  ASSERT_EQ(before.shared.size(), 16u);

  // Method, protocol, report and CLI code: the shared digest stays.
  write(tree_ / "harness/report/table.cpp", "int rows() { return 4; }\n");
  write(tree_ / "harness/eval/evaluation.cpp", "int cache() { return 2; }\n");
  write(tree_ / "evals/linear.cpp", "int epochs() { return 90; }\n");
  write(tree_ / "swav/swav_loss.h", "// q = Sinkhorn(C^T z / eps)\n");
  write(tree_ / "app/commands.cpp", "int main_ish() { return 1; }\n");
  EXPECT_EQ(digests().shared, before.shared);

  // A one-character change to the training loop, a new file, a renamed one: all change it.
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 2; }\n");
  const std::string edited = digests().shared;
  EXPECT_NE(edited, before.shared);
  write(tree_ / "harness/models/new_model.cpp", "// another trunk\n");
  const std::string added = digests().shared;
  EXPECT_NE(added, edited);
  fs::rename(tree_ / "harness/models/new_model.cpp", tree_ / "harness/models/renamed_model.cpp");
  EXPECT_NE(digests().shared, added);

  // Content, not timestamps: undoing the edits gives the first digest back.
  fs::remove(tree_ / "harness/models/renamed_model.cpp");
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 1; }\n");
  EXPECT_EQ(digests().shared, before.shared);
}

TEST_F(CodeDigest, EveryFileOfTheMethodAndProtocolRoomsHasItsDigestANewFolderToo) {
  write(tree_ / "harness/train/trainer.cpp", "int step() { return 1; }\n");
  write(tree_ / "swav/swav_loss.h", "// q = Sinkhorn(C^T z)\n");
  write(tree_ / "baselines/moco.cpp", "int queue() { return 65536; }\n");
  write(tree_ / "evals/knn.cpp", "int k() { return 20; }\n");
  write(tree_ / "harness/eval/evaluation.cpp", "int cache() { return 1; }\n");
  write(tree_ / "harness/report/table.cpp", "int rows() { return 3; }\n");
  write(tree_ / "app/commands.cpp", "int main_ish() { return 0; }\n");
  write(tree_ / "tests/unit/test_x.cpp", "int t() { return 0; }\n");
  // A method added in a folder of its own is digested without editing any cmake file.
  write(tree_ / "deepcluster/deepcluster.cpp", "int sets() { return 3; }\n");
  write(tree_ / "deepcluster/notes.txt", "not a source\n");
  const TreeDigests d = digests();
  std::vector<std::string> paths;
  for (const auto& f : d.files) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"baselines/moco.cpp", "deepcluster/deepcluster.cpp",
                                             "evals/knn.cpp", "harness/eval/evaluation.cpp",
                                             "swav/swav_loss.h"}));
  // The digest is the file's sha256 (first 16 hex chars): "int k() { return 20; }\n".
  EXPECT_EQ(d.file("evals/knn.cpp"), sha256_hex("int k() { return 20; }\n").substr(0, 16));
}

// The digest logic on a copy of this checkout's sources, edited as a researcher would: a run's
// hash follows its own method's code and the shared code, and a result its protocol's code.
class CopiedTree : public CodeDigest {
 protected:
  void SetUp() override {
    CodeDigest::SetUp();
    const fs::path src = swavbench_source_dir();
    for (const char* room : {"harness", "swav", "baselines", "evals", "app"}) {
      for (const auto& entry : fs::recursive_directory_iterator(src / room)) {
        const std::string ext = entry.path().extension().string();
        if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
        const fs::path to = tree_ / fs::relative(entry.path(), src);
        fs::create_directories(to.parent_path());
        fs::copy_file(entry.path(), to, fs::copy_options::overwrite_existing);
      }
    }
  }
  void append(const std::string& path, const std::string& text) {
    write(tree_ / path, read_file((tree_ / path).string()) + text);
  }
  std::map<std::string, std::string> method_digests(const TreeDigests& d) {
    std::map<std::string, std::string> out;
    for (const char* m : {"swav", "simclr", "moco", "supervised", "random"})
      out[m] = method_code_digest(m, d.shared, d.files);
    return out;
  }
  std::map<std::string, std::string> protocol_digests(const TreeDigests& d) {
    std::map<std::string, std::string> out;
    for (const char* p : {"knn", "linear_fast", "lowshot", "linear", "semisup", "voc07_svm"})
      out[p] = protocol_code_digest(p, d.files);
    return out;
  }
};

TEST_F(CopiedTree, EditingMocoRetrainsMocoRunsAndLeavesSwavAndSimclrRunsCached) {
  const TreeDigests before = digests();
  const auto methods = method_digests(before);
  const auto protocols = protocol_digests(before);
  // The same tree gives this binary's digests (it was built from it).
  EXPECT_EQ(before.shared, shared_training_code_digest());
  EXPECT_EQ(methods.at("swav"), method_code_digest("swav"));

  append("baselines/moco.cpp", "// a comment is a change\n");
  const TreeDigests after = digests();
  EXPECT_EQ(after.shared, before.shared);
  const auto methods_after = method_digests(after);
  EXPECT_NE(methods_after.at("moco"), methods.at("moco"));
  EXPECT_EQ(methods_after.at("swav"), methods.at("swav"));
  EXPECT_EQ(methods_after.at("simclr"), methods.at("simclr"));  // moco.cpp is MoCo's own file
  EXPECT_EQ(methods_after.at("supervised"), methods.at("supervised"));
  EXPECT_EQ(protocol_digests(after), protocols);

  // What the store then holds for each method's next run (Runner::plan reuses a done run of the
  // same hash and trains when there is none): a SwAV run and a MoCo run recorded under the
  // digests before the edit, looked up under the digests after it.
  TempDir db_dir("swavbench_digest_db");
  Store store(db_dir.path() + "/runs.sqlite");
  for (const char* method : {"swav", "moco"}) {
    const RunConfig config =
        resolve_config({{"method", method}, {"epochs", 1}}, nlohmann::json::object(), "t");
    RunRow done;
    done.hash = config.hash_with_code_digest(methods.at(method));
    done.method = method;
    done.status = kStatusDone;
    store.insert_run(done);
    const bool cached =
        store.run_by_hash(config.hash_with_code_digest(methods_after.at(method))).has_value();
    EXPECT_EQ(cached, std::string(method) == "swav") << method;
  }
}

TEST_F(CopiedTree, SharedBaselineCodeRetrainsBothBaselinesAndNotSwav) {
  const auto methods = method_digests(digests());
  append("baselines/losses.cpp", "// shared by SimCLR and MoCo\n");
  const auto after = method_digests(digests());
  EXPECT_NE(after.at("simclr"), methods.at("simclr"));
  EXPECT_NE(after.at("moco"), methods.at("moco"));
  EXPECT_EQ(after.at("swav"), methods.at("swav"));
}

TEST_F(CopiedTree, EditingAProtocolRetrainsNothingAndReevaluatesOnlyThatProtocol) {
  const TreeDigests before = digests();
  const auto methods = method_digests(before);
  const auto protocols = protocol_digests(before);
  append("evals/knn.cpp", "// a comment is a change\n");
  const TreeDigests after = digests();
  EXPECT_EQ(after.shared, before.shared);
  EXPECT_EQ(method_digests(after), methods);
  const auto protocols_after = protocol_digests(after);
  for (const auto& [name, digest] : protocols) {
    if (name == "knn")
      EXPECT_NE(protocols_after.at(name), digest);
    else
      EXPECT_EQ(protocols_after.at(name), digest) << name;
  }
  // What the protocols share (the feature cache) re-evaluates every protocol, retrains nothing.
  append("harness/eval/evaluation.cpp", "// shared by every protocol\n");
  const TreeDigests shared_edit = digests();
  EXPECT_EQ(method_digests(shared_edit), methods);
  for (const auto& [name, digest] : protocol_digests(shared_edit))
    EXPECT_NE(digest, protocols_after.at(name)) << name;
}

TEST_F(CopiedTree, AnEditToTheTrainerRetrainsEveryMethod) {
  const auto methods = method_digests(digests());
  append("harness/train/trainer.cpp", "// shared by every method\n");
  const auto after = method_digests(digests());
  for (const auto& [name, digest] : methods) EXPECT_NE(after.at(name), digest) << name;
}

TEST(CombinedCodeDigest, SelectsRoomsAndFilesAndLeavesOutFilesOthersClaim) {
  const std::vector<CodeFileDigest> files = {{"a/x.cpp", "1111111111111111"},
                                             {"a/y.cpp", "2222222222222222"},
                                             {"a/sub/z.h", "3333333333333333"},
                                             {"b/w.cpp", "4444444444444444"}};
  // The manifest, written out by hand: the shared digest, then path and digest, sorted by path.
  EXPECT_EQ(
      combined_code_digest("t", "S", files, {"a/"}, {"a/y.cpp"}),
      sha256_hex("shared S\na/sub/z.h 3333333333333333\na/x.cpp 1111111111111111\n").substr(0, 16));
  // A file a spec names itself is its own even when another claims it (two VOC protocols share
  // voc_map), and naming it beside its room counts it once.
  EXPECT_EQ(combined_code_digest("t", "S", files, {"a/", "a/y.cpp"}, {"a/y.cpp"}),
            sha256_hex("shared S\na/sub/z.h 3333333333333333\na/x.cpp 1111111111111111\na/y.cpp "
                       "2222222222222222\n")
                .substr(0, 16));
  EXPECT_EQ(combined_code_digest("t", "S", files, {}, {}), sha256_hex("shared S\n").substr(0, 16));
  // An entry that selects nothing (a typo, a moved file) is an error, not a digest of nothing.
  try {
    combined_code_digest("method 'm'", "S", files, {"c/"}, {});
    FAIL() << "an empty room was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("method 'm'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'c/'"), std::string::npos) << e.what();
  }
}

TEST(CodeDigestOfThisBuild, TheBinaryCarriesTheDigestsOfTheSourcesItWasBuiltFrom) {
  // Fails when this checkout's sources were edited after the last build: the binary is then
  // stale, and so would be the hashes of the runs it records.
  TempDir temp("swavbench_digest_self");
  const TreeDigests d =
      digests_of_tree(swavbench_source_dir(), fs::path(temp.path()) / "out/build_info_generated.h");
  EXPECT_EQ(d.shared, shared_training_code_digest());
  ASSERT_EQ(d.files.size(), code_file_digests().size());
  for (size_t i = 0; i < d.files.size(); ++i) {
    EXPECT_EQ(d.files[i].path, code_file_digests()[i].path);
    EXPECT_EQ(d.files[i].digest, code_file_digests()[i].digest) << d.files[i].path;
  }
  // Every registered method's and protocol's code names files this build digested.
  for (const MethodSpec* spec : method_specs()) EXPECT_NO_THROW(method_code_digest(spec->name));
  for (const ProtocolSpec* spec : protocol_specs())
    EXPECT_NO_THROW(protocol_code_digest(spec->name));
}

TEST(RunHash, IncludesItsMethodsCodeDigest) {
  RunConfig config = resolve_config({{"epochs", 3}}, nlohmann::json::object(), "w");
  EXPECT_EQ(config.hash(), config.hash_with_code_digest(method_code_digest(config.method)));
  EXPECT_NE(config.hash_with_code_digest("0123456789abcdef"),
            config.hash_with_code_digest("0123456789abcdee"));
  // Methods with the same config but other code hash apart.
  EXPECT_NE(method_code_digest("swav"), method_code_digest("moco"));
  // A multi-process run's identity builds on the same hash.
  EXPECT_EQ(run_hash(config, 1), config.hash());
}

}  // namespace
}  // namespace swavbench
