// The experiment Runner with a fake trainer and a recording observer: a new run is recorded with
// its epochs, alarm, artifacts and status; a done run is reused; a failed run keeps its epochs
// and resumes where it stopped; --force retrains from scratch; a locked run folder and a batch
// that does not split over the processes are refused before anything is recorded; a run left
// "running" by a dead process is marked interrupted. Real SQLite files and run folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/experiment/runner.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

// Every observer call, as one line each.
class RecordingObserver final : public RunObserver {
 public:
  void on_reused(const RunRow& run) override { calls.push_back(fmt::format("reused #{}", run.id)); }
  void on_start(const RunRow& run, int resume_from) override {
    calls.push_back(fmt::format("start #{} from {}", run.id, resume_from));
  }
  void on_epoch(const RunRow& run, const EpochReport& r) override {
    calls.push_back(fmt::format("epoch #{} {}", run.id, r.epoch));
  }
  void on_alarm(const RunRow& run, const AlarmRow& a) override {
    calls.push_back(fmt::format("alarm #{} {} epoch {}", run.id, a.kind, a.epoch));
  }
  void on_done(const RunRow& run, double) override {
    calls.push_back(fmt::format("done #{} {}", run.id, run.status));
  }
  std::vector<std::string> calls;
};

// Trains by counting: the checkpoint file holds the number of epochs done, one epoch adds one.
// Loss of epoch e is 10 - e. fail_at_epoch >= 0 throws RunFailure at the start of that epoch;
// alarm_at_epoch raises a collapse alarm there.
struct FakeTrainer {
  int fail_at_epoch = -1;
  int alarm_at_epoch = -1;
  int die_after_checkpoint_at_epoch = -1;  // throws after that epoch's checkpoint, before its row
  int calls = 0;
  bool lock_was_held = false;

  TrainFunction function() {
    return [this](const RunConfig& config, const std::string& run_dir,
                  const TrainCallbacks& callbacks) {
      ++calls;
      const RunDir dir(run_dir);
      lock_was_held = dir.is_locked();
      int done =
          fs::exists(dir.checkpoint_path()) ? std::stoi(read_file(dir.checkpoint_path())) : 0;
      TrainOutcome outcome;
      outcome.resumed_from_epoch = done;
      auto report_of = [](int epoch) {
        EpochReport report;
        report.epoch = epoch;
        report.loss = 10.0 - epoch;
        report.img_per_s = 100;
        report.logs["code_entropy"] = 0.5;
        return report;
      };
      // As the real trainer: the checkpoint's record of its last epoch, on resume.
      if (done > 0 && callbacks.on_epoch_restored) callbacks.on_epoch_restored(report_of(done - 1));
      for (int epoch = done; epoch < config.epochs; ++epoch) {
        if (epoch == fail_at_epoch) throw RunFailure(fmt::format("loss is NaN at epoch {}", epoch));
        if (epoch == alarm_at_epoch && callbacks.on_alarm)
          callbacks.on_alarm("collapse", epoch, "codes uniform", "freeze the prototypes longer");
        write_file(dir.checkpoint_path(), std::to_string(epoch + 1));
        if (epoch == die_after_checkpoint_at_epoch) throw RunFailure("killed");
        callbacks.on_epoch(report_of(epoch));
      }
      outcome.epochs_done = config.epochs;
      outcome.weights_sha256 = "weights-after-" + std::to_string(config.epochs);
      return outcome;
    };
  }
};

class RunnerTest : public ::testing::Test {
 protected:
  PretrainRequest request(int epochs = 3) {
    PretrainRequest r;
    r.config.epochs = epochs;
    r.config.batch_size = 64;
    r.hash = "00000000000000aa";
    r.label = "fake";
    r.tags = {"crops"};
    r.suite = "suite/test.lua";
    r.where = "test.lua:1";
    return r;
  }
  Runner runner(bool force = false) {
    return Runner(store_, {runs_dir_, force, false}, observer_, trainer_.function());
  }

  TempDir temp_{"swavbench_runner"};
  std::string runs_dir_ = temp_.path() + "/runs";
  Store store_{temp_.path() + "/r.sqlite"};
  RecordingObserver observer_;
  FakeTrainer trainer_;
};

TEST_F(RunnerTest, ANewRunIsRecordedWithItsEpochsAlarmArtifactsAndStatus) {
  trainer_.alarm_at_epoch = 1;
  EXPECT_EQ(runner().plan(request()).action, PretrainPlan::Action::kTrain);
  PretrainResult result = runner().pretrain(request());
  EXPECT_FALSE(result.reused);
  EXPECT_TRUE(trainer_.lock_was_held);
  EXPECT_FALSE(RunDir(runs_dir_, "00000000000000aa").is_locked());  // released after training

  const RunRow run = *store_.run_by_hash("00000000000000aa");
  EXPECT_EQ(run.id, result.run.id);
  EXPECT_EQ(run.status, kStatusDone);
  EXPECT_EQ(run.label, "fake");
  EXPECT_EQ(run.suite, "suite/test.lua");
  EXPECT_EQ(run.per_device_batch, 64);
  EXPECT_FALSE(run.git_sha.empty());
  EXPECT_FALSE(run.torch_version.empty());
  EXPECT_EQ(store_.tags(run.id), std::vector<std::string>{"crops"});

  const std::vector<EpochRow> epochs = store_.epochs(run.id);
  ASSERT_EQ(epochs.size(), 3u);
  EXPECT_DOUBLE_EQ(epochs[2].loss, 8.0);
  EXPECT_EQ(epochs[0].extra_json, R"({"code_entropy":0.5})");
  ASSERT_EQ(store_.alarms(run.id).size(), 1u);
  EXPECT_EQ(store_.alarms(run.id)[0].advice, "freeze the prototypes longer");

  const std::vector<ArtifactRow> artifacts = store_.artifacts(run.id);
  ASSERT_EQ(artifacts.size(), 2u);
  const std::string checkpoint = RunDir(runs_dir_, "00000000000000aa").checkpoint_path();
  for (const ArtifactRow& a : artifacts) {
    EXPECT_EQ(a.path, checkpoint);
    EXPECT_EQ(a.sha256, a.kind == "weights" ? "weights-after-3" : sha256_file(checkpoint));
  }
  EXPECT_EQ(observer_.calls,
            (std::vector<std::string>{"start #1 from 0", "epoch #1 0", "alarm #1 collapse epoch 1",
                                      "epoch #1 1", "epoch #1 2", "done #1 done"}));
}

TEST_F(RunnerTest, ADoneRunIsReusedWithoutTrainingAndCollectsTheNewTags) {
  runner().pretrain(request());
  PretrainRequest again = request();
  again.tags = {"batch"};
  EXPECT_EQ(runner().plan(again).action, PretrainPlan::Action::kReuse);
  PretrainResult result = runner().pretrain(again);
  EXPECT_TRUE(result.reused);
  EXPECT_EQ(trainer_.calls, 1);
  EXPECT_EQ(observer_.calls.back(), "reused #1");
  EXPECT_EQ(store_.tags(1), (std::vector<std::string>{"batch", "crops"}));
  EXPECT_EQ(store_.runs().size(), 1u);
}

TEST_F(RunnerTest, AFailedRunKeepsItsEpochsAndResumesWhereItStopped) {
  trainer_.fail_at_epoch = 2;
  try {
    runner().pretrain(request(4));
    FAIL() << "a failing trainer must throw";
  } catch (const InputError&) {
    FAIL() << "a training failure is not bad input";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("run #1 [00000000000000aa] failed: loss is NaN at epoch 2"),
        std::string::npos)
        << e.what();
  }
  RunRow failed = *store_.run_by_id(1);
  EXPECT_EQ(failed.status, kStatusFailed);
  EXPECT_EQ(failed.reason, "loss is NaN at epoch 2");
  EXPECT_EQ(store_.epochs(1).size(), 2u);
  EXPECT_TRUE(store_.artifacts(1).empty());
  EXPECT_FALSE(RunDir(runs_dir_, "00000000000000aa").is_locked());

  trainer_.fail_at_epoch = -1;
  observer_.calls.clear();
  EXPECT_EQ(runner().plan(request(4)).action, PretrainPlan::Action::kResume);
  PretrainResult result = runner().pretrain(request(4));
  EXPECT_EQ(result.run.status, kStatusDone);
  EXPECT_EQ(observer_.calls.front(), "start #1 from 2");
  EXPECT_EQ(observer_.calls.size(), 4u);  // start, epochs 2 and 3, done
  EXPECT_EQ(store_.epochs(1).size(), 4u);
  EXPECT_EQ(store_.runs().size(), 1u);
}

// A kill between an epoch's checkpoint and its row: the resumed run writes the row from the
// checkpoint's record, once, and the run ends with every epoch's row.
TEST_F(RunnerTest, AnEpochRowLostBetweenCheckpointAndRowIsRestoredOnResume) {
  trainer_.die_after_checkpoint_at_epoch = 1;
  EXPECT_THROW(runner().pretrain(request(3)), Error);
  ASSERT_EQ(store_.epochs(1).size(), 1u);  // epoch 1's checkpoint is on disk, its row is not
  trainer_.die_after_checkpoint_at_epoch = -1;
  runner().pretrain(request(3));
  const std::vector<EpochRow> epochs = store_.epochs(1);
  ASSERT_EQ(epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(epochs[e].epoch, e);
    EXPECT_DOUBLE_EQ(epochs[e].loss, 10.0 - e);
  }
  EXPECT_EQ(epochs[1].extra_json, R"({"code_entropy":0.5})");
}

TEST_F(RunnerTest, ForceRetrainsFromScratch) {
  runner().pretrain(request());
  observer_.calls.clear();
  EXPECT_EQ(runner(/*force=*/true).plan(request()).action, PretrainPlan::Action::kRetrain);
  PretrainResult result = runner(/*force=*/true).pretrain(request());
  EXPECT_FALSE(result.reused);
  EXPECT_EQ(trainer_.calls, 2);
  // The checkpoint was cleared: all 3 epochs trained again, none resumed.
  EXPECT_EQ(observer_.calls.front(), "start #1 from 0");
  EXPECT_EQ(observer_.calls.size(), 5u);
  EXPECT_EQ(store_.epochs(1).size(), 3u);
  EXPECT_EQ(store_.runs().size(), 1u);
}

TEST_F(RunnerTest, ANewRunIgnoresACheckpointLeftByAnotherDatabase) {
  const RunDir dir(runs_dir_, "00000000000000aa");
  fs::create_directories(dir.path());
  write_file(dir.checkpoint_path(), "2");
  runner().pretrain(request());
  EXPECT_EQ(observer_.calls.front(), "start #1 from 0");
  EXPECT_EQ(store_.epochs(1).size(), 3u);
}

TEST_F(RunnerTest, ALockedRunFolderIsRefusedBeforeAnythingIsRecorded) {
  const RunDir dir(runs_dir_, "00000000000000aa");
  RunDirLock other_process(dir);
  ASSERT_TRUE(other_process.held());
  try {
    runner().pretrain(request());
    FAIL() << "a locked run must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("test.lua:1: run [00000000000000aa] is being trained by "
                                         "another process"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_TRUE(store_.runs().empty());
  EXPECT_TRUE(observer_.calls.empty());
}

TEST_F(RunnerTest, ABatchThatDoesNotSplitOverTheProcessesIsRefused) {
  PretrainRequest r = request();
  r.config.batch_size = 63;
  r.world_size = 2;
  try {
    runner().pretrain(r);
    FAIL() << "batch 63 over 2 processes must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "test.lua:1: batch_size 63 is not divisible by the number of processes 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(trainer_.calls, 0);
  EXPECT_TRUE(store_.runs().empty());
}

TEST_F(RunnerTest, ARunLeftRunningByADeadProcessIsMarkedInterrupted) {
  RunRow left;
  left.hash = "00000000000000aa";
  left.config_json = request().config.to_json().dump();
  left.method = "swav";
  left.host = hostname();
  left.pid = 999999;
  store_.insert_run(left);
  RunRow elsewhere = left;
  elsewhere.hash = "00000000000000bb";
  elsewhere.host = "another-host";
  store_.insert_run(elsewhere);

  EXPECT_EQ(mark_interrupted_runs(store_, runs_dir_), 1);
  EXPECT_EQ(store_.run_by_hash("00000000000000aa")->status, kStatusInterrupted);
  EXPECT_NE(store_.run_by_hash("00000000000000aa")->reason.find("process 999999"),
            std::string::npos);
  EXPECT_EQ(store_.run_by_hash("00000000000000bb")->status, kStatusRunning);  // not visible here
  EXPECT_EQ(runner().plan(request()).action, PretrainPlan::Action::kResume);

  // A run whose lock a live process holds stays running.
  store_.set_status(1, kStatusRunning);
  RunDirLock live(RunDir(runs_dir_, "00000000000000aa"));
  EXPECT_EQ(mark_interrupted_runs(store_, runs_dir_), 0);
}

}  // namespace
}  // namespace swavbench
