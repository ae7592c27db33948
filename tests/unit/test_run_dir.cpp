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
  // Each database its own runs folder, so two databases in one folder never share a run's.
  EXPECT_EQ(RunDir::runs_dir_for_db("/data/results/swavbench.sqlite"),
            "/data/results/runs/swavbench.sqlite");
  EXPECT_EQ(RunDir::runs_dir_for_db("results/swavbench.sqlite"), "results/runs/swavbench.sqlite");
  EXPECT_EQ(RunDir::runs_dir_for_db("x.sqlite"), "./runs/x.sqlite");
  EXPECT_EQ(RunDir::runs_dir_for_db("x.db"), "./runs/x.db");
  EXPECT_EQ(RunDir::db_folder_of(RunDir::runs_dir_for_db("/data/results/a.sqlite")),
            "/data/results");
  EXPECT_EQ(RunDir::db_folder_of(RunDir::runs_dir_for_db("x.sqlite")), ".");
}

// A finished run's checkpoint is read from the database's own runs folder, else from where its
// database recorded it (a merged database's shard), else, for a run finished before the runs
// folder was per database, from the shared folder of that layout.
TEST_F(RunDirTest, ReadingFindsTheOwnFolderThenTheRecordedOneThenTheEarlierSharedOne) {
  const std::string runs = RunDir::runs_dir_for_db(root_ + "/a.sqlite");
  const std::string recorded = root_ + "/shard3/runs/s.sqlite/h9/checkpoint.pt";
  EXPECT_EQ(RunDir::for_reading(runs, "h9", recorded).path(), RunDir(runs, "h9").path());
  const RunDir shared(root_ + "/runs/h9");
  fs::create_directories(shared.path());
  std::ofstream(shared.checkpoint_path()) << "x";
  EXPECT_EQ(RunDir::for_reading(runs, "h9", recorded).path(), shared.path());
  fs::create_directories(fs::path(recorded).parent_path());
  std::ofstream(recorded) << "x";
  EXPECT_EQ(RunDir::for_reading(runs, "h9", recorded).path(), root_ + "/shard3/runs/s.sqlite/h9");
  EXPECT_EQ(RunDir::for_reading(runs, "h9", "").path(), shared.path());
  const RunDir own(runs, "h9");
  fs::create_directories(own.path());
  std::ofstream(own.checkpoint_path()) << "x";
  EXPECT_EQ(RunDir::for_reading(runs, "h9", recorded).path(), own.path());
}

TEST_F(RunDirTest, ALockIsHeldRefusedAndReleased) {
  RunDir dir(root_ + "/runs", "h1");
  EXPECT_FALSE(dir.is_locked());
  EXPECT_FALSE(fs::exists(dir.path()));  // asking creates nothing
  {
    RunDirLock first(dir, "pid 1 on here");
    EXPECT_TRUE(first.held());
    EXPECT_TRUE(fs::exists(dir.lock_path()));
    EXPECT_TRUE(dir.is_locked());
    RunDirLock second(dir, "pid 2 on here");  // another trainer of the same run
    EXPECT_FALSE(second.held());
    EXPECT_EQ(second.holder(), "pid 1 on here");  // the holder's own words, not the refused's
    EXPECT_TRUE(dir.is_locked());
  }
  EXPECT_FALSE(dir.is_locked());
  RunDirLock again(dir, "pid 3");
  EXPECT_TRUE(again.held());
  RunDirLock refused(dir, "pid 4");
  EXPECT_EQ(refused.holder(), "pid 3");  // a shorter note replaces a longer one whole
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
    RunDirLock lock(dir, "the child");
    const char held = lock.held() ? 'y' : 'n';
    if (::write(ready[1], &held, 1) != 1) ::_exit(3);
    ::pause();  // "training" until killed
    ::_exit(0);
  }
  char held = 0;
  ASSERT_EQ(::read(ready[0], &held, 1), 1);
  EXPECT_EQ(held, 'y');
  EXPECT_TRUE(dir.is_locked());
  RunDirLock refused(dir, "the parent");
  EXPECT_FALSE(refused.held());
  EXPECT_EQ(refused.holder(), "the child");

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(fs::exists(dir.lock_path()));
  EXPECT_FALSE(dir.is_locked());
  RunDirLock resumed(dir, "the parent");
  EXPECT_TRUE(resumed.held());
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_F(RunDirTest, ClearingTrainingStateRemovesCheckpointAndEveryRanksStateOnly) {
  RunDir dir(root_ + "/runs", "h3");
  RunDirLock lock(dir, "test");
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
