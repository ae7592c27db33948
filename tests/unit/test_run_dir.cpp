// RunDir: the run folder's layout, its lock (held, refused, released, left stale by a killed
// process) and clearing the training state for a fresh start. Real files, real processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "harness/core/files.h"
#include "harness/core/run_dir.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

class RunDirTest : public ::testing::Test {
 protected:
  TempDir temp_{"swavbench_run_dir"};
  const std::string root_ = temp_.path();
};

TEST(RunDirLayout, PathsAndTheRunsFolderOfADatabase) {
  RunDir dir("/data/results/runs", "0123456789abcdef");
  EXPECT_EQ(dir.path(), "/data/results/runs/0123456789abcdef");
  EXPECT_EQ(dir.lock_path(), "/data/results/runs/0123456789abcdef/lock");
  EXPECT_EQ(dir.checkpoint_path(), "/data/results/runs/0123456789abcdef/checkpoint.pt");
  EXPECT_EQ(dir.rank_state_path(3), "/data/results/runs/0123456789abcdef/method_rank3.pt");
  EXPECT_EQ(RunDir::runs_dir_for_db("/data/results/swavbench.sqlite"), "/data/results/runs");
  EXPECT_EQ(RunDir::runs_dir_for_db("results/swavbench.sqlite"), "results/runs");
  EXPECT_EQ(RunDir::runs_dir_for_db("x.sqlite"), "./runs");
}

TEST_F(RunDirTest, ALockIsHeldRefusedAndReleased) {
  RunDir dir(root_ + "/runs", "h1");
  EXPECT_FALSE(dir.is_locked());
  EXPECT_FALSE(fs::exists(dir.path()));  // asking creates nothing
  {
    RunDirLock first(dir);
    EXPECT_TRUE(first.held());
    EXPECT_TRUE(fs::exists(dir.lock_path()));
    EXPECT_TRUE(dir.is_locked());
    RunDirLock second(dir);  // another trainer of the same run
    EXPECT_FALSE(second.held());
    EXPECT_TRUE(dir.is_locked());
  }
  EXPECT_FALSE(dir.is_locked());
  RunDirLock again(dir);
  EXPECT_TRUE(again.held());
}

// How a later invocation tells a killed run from a live one: the lock file stays, the lock does
// not.
TEST_F(RunDirTest, AKilledHoldersLockIsFreeAndItsFileStays) {
  RunDir dir(root_ + "/runs", "h2");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RunDirLock lock(dir);
    const char held = lock.held() ? 'y' : 'n';
    if (::write(ready[1], &held, 1) != 1) ::_exit(3);
    ::pause();  // "training" until killed
    ::_exit(0);
  }
  char held = 0;
  ASSERT_EQ(::read(ready[0], &held, 1), 1);
  EXPECT_EQ(held, 'y');
  EXPECT_TRUE(dir.is_locked());
  RunDirLock refused(dir);
  EXPECT_FALSE(refused.held());

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(fs::exists(dir.lock_path()));
  EXPECT_FALSE(dir.is_locked());
  RunDirLock resumed(dir);
  EXPECT_TRUE(resumed.held());
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_F(RunDirTest, ClearingTrainingStateRemovesCheckpointAndEveryRanksStateOnly) {
  RunDir dir(root_ + "/runs", "h3");
  RunDirLock lock(dir);
  for (const char* name : {"checkpoint.pt", "method_rank1.pt", "method_rank3.pt",
                           "method_rank12.pt", "notes.txt", "method_rank1.pt.bak"})
    std::ofstream(dir.path() + "/" + name) << "x";
  dir.clear_training_state();
  std::set<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    left.insert(entry.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"lock", "notes.txt", "method_rank1.pt.bak"}));
  EXPECT_TRUE(lock.held());
  RunDir(root_ + "/runs", "never_made").clear_training_state();  // nothing to clear: no error
  EXPECT_FALSE(fs::exists(root_ + "/runs/never_made"));
}

}  // namespace
}  // namespace swavbench
