// The helpers every room shares (harness/core/escape.h, harness/core/files.h), against
// hand-written cases: one escaping rule per format, temporary folders, whole-file reads and
// writes, child processes with their output in files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "harness/core/check.h"
#include "harness/core/escape.h"
#include "harness/core/files.h"
#include "harness/report/claims.h"
#include "harness/report/paper_tables.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

TEST(Escape, CsvQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(csv_field("swav"), "swav");
  EXPECT_EQ(csv_field("2x24+4x14"), "2x24+4x14");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(csv_field(""), "");
}

TEST(Escape, LatexSpecialsAndTheSymbolsOurCellsUse) {
  EXPECT_EQ(latex_escape("knn.top1_k20"), "knn.top1\\_k20");
  EXPECT_EQ(latex_escape("50% & #1 $x$ {y}"), "50\\% \\& \\#1 \\$x\\$ \\{y\\}");
  EXPECT_EQ(latex_escape("a\\b~c^d"), "a\\textbackslash{}b\\textasciitilde{}c\\textasciicircum{}d");
  EXPECT_EQ(latex_escape("71.00 ± 1.41 (2)"), "71.00 $\\pm$ 1.41 (2)");
  EXPECT_EQ(latex_escape("—"), "---");
  EXPECT_EQ(latex_escape("2×224 → 96"), "2$\\times$224 $\\to$ 96");
  EXPECT_EQ(latex_escape("é"), "é");  // other UTF-8 passes through untouched
}

TEST(Escape, HtmlAndMarkdown) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(markdown_cell("a|b\nc"), "a\\|b c");
  EXPECT_EQ(markdown_cell("SwAV, 2 crops"), "SwAV, 2 crops");
}

TEST(Files, TempDirIsRemovedWithItsContents) {
  std::string path;
  {
    TempDir dir("swavbench_helpers");
    path = dir.path();
    EXPECT_TRUE(fs::is_directory(path));
    EXPECT_NE(fs::path(path).filename().string().find("swavbench_helpers."), std::string::npos);
    fs::create_directories(path + "/a/b");
    std::ofstream(path + "/a/b/c.txt") << "x";
    TempDir other("swavbench_helpers");
    EXPECT_NE(other.path(), path);
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(Files, ReadAndWriteWholeFilesBytesIntact) {
  TempDir dir("swavbench_helpers");
  const std::string bytes("a\0b\r\n\xff", 6);
  write_file(dir.path() + "/f.bin", bytes);
  EXPECT_EQ(read_file(dir.path() + "/f.bin"), bytes);
  write_file(dir.path() + "/f.bin", "short");  // truncates
  EXPECT_EQ(read_file(dir.path() + "/f.bin"), "short");
  try {
    read_file(dir.path() + "/missing.txt");
    FAIL() << "read a missing file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + "/missing.txt"), std::string::npos);
  }
  EXPECT_THROW(write_file(dir.path() + "/no/such/folder/f.txt", "x"), Error);
}

// A folder given where a file is expected is named as one, not read as an empty file.
TEST(Files, ADirectoryGivenAsAnInputFileIsNamedAsOne) {
  TempDir dir("swavbench_files");
  auto message_of = [](auto&& read) {
    try {
      read();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message_of([&] { read_claims_csv(dir.path()); }),
            "claims file " + dir.path() + " is a directory; give the path of the file");
  EXPECT_EQ(message_of([&] { read_paper_csv(dir.path()); }),
            "published values file " + dir.path() + " is a directory; give the path of the file");
  EXPECT_EQ(message_of([&] { read_file(dir.path() + "/missing.txt"); }),
            "file " + dir.path() + "/missing.txt not found");
}

TEST(Files, RunProcessStatusAndOutputFiles) {
  TempDir dir("swavbench_helpers");
  const std::string out = dir.path() + "/out.txt", err = dir.path() + "/err.txt";
  EXPECT_EQ(run_process({"sh", "-c", "echo to-out; echo to-err >&2; exit 3"}, out, err), 3);
  EXPECT_EQ(read_file(out), "to-out\n");
  EXPECT_EQ(read_file(err), "to-err\n");
  // One file for both streams, in order.
  const std::string log = dir.path() + "/log.txt";
  EXPECT_EQ(run_process({"sh", "-c", "echo one; echo two >&2; echo three"}, log, log), 0);
  EXPECT_EQ(read_file(log), "one\ntwo\nthree\n");
  // Standard input is /dev/null: a program reading it ends at once instead of waiting.
  EXPECT_EQ(run_process({"cat"}, out, err), 0);
  EXPECT_EQ(read_file(out), "");
  // Killed by a signal: 128 + signal; a program that does not exist: -1.
  EXPECT_EQ(run_process({"sh", "-c", "kill -9 $$"}, out, err), 128 + 9);
  EXPECT_EQ(run_process({dir.path() + "/no-such-program"}, out, err), -1);
  EXPECT_EQ(run_process({"swavbench-no-such-program-on-path"}, out, err), -1);
}

}  // namespace
}  // namespace swavbench
