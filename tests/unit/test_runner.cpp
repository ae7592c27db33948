// The experiment room with fakes where a network would train. The Runner, with a fake trainer and
// a recording observer: a new run is recorded with its epochs, alarm, artifacts and status; a
// done run is reused; a failed run keeps its epochs and resumes where it stopped; --force
// retrains from scratch; a locked run folder and a batch that does not split over the processes
// are refused before anything is recorded; a run left "running" by a dead process is marked
// interrupted. The jobs (two ranks on threads): every run rank 0 trains is handed to the other
// rank, a reused one is not, a job from another build fails on that rank alone. The Evaluator,
// with counting protocols: results measured with the same options are reused, other options
// replace them, a diverged protocol is one "diverged" row. Real SQLite files and run folders.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/experiment/evaluator.h"
#include "harness/experiment/jobs.h"
#include "harness/experiment/runner.h"
#include "harness/train/method.h"
#include "harness/train/trainer.h"
#include "tests/unit/thread_collective.h"

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

TEST_F(RunnerTest, ANewRunIgnoresACheckpointLeftInItsFolder) {
  const RunDir dir(runs_dir_, "00000000000000aa");
  fs::create_directories(dir.path());
  write_file(dir.checkpoint_path(), "2");
  runner().pretrain(request());
  EXPECT_EQ(observer_.calls.front(), "start #1 from 0");
  EXPECT_EQ(store_.epochs(1).size(), 3u);
}

TEST_F(RunnerTest, ALockedRunFolderIsRefusedBeforeAnythingIsRecorded) {
  const RunDir dir(runs_dir_, "00000000000000aa");
  RunDirLock other_process(dir, "pid 4242 on node7, training into x.sqlite since noon");
  ASSERT_TRUE(other_process.held());
  try {
    runner().pretrain(request());
    FAIL() << "a locked run must be refused";
  } catch (const InputError& e) {
    // The holder as it described itself, and a remedy that is not "use another database".
    EXPECT_NE(std::string(e.what()).find(
                  "test.lua:1: run [00000000000000aa] is being trained by another process (pid "
                  "4242 on node7, training into x.sqlite since noon), into this same database; "
                  "wait for it to finish"),
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
  RunDirLock live(RunDir(runs_dir_, "00000000000000aa"), "a live trainer");
  EXPECT_EQ(mark_interrupted_runs(store_, runs_dir_), 0);
}

// Rank 0's Runner hands every run it trains to the other ranks (the same config, the same run
// folder); a reused run posts nothing; end_jobs ends them.
TEST_F(RunnerTest, EveryRunRankZeroTrainsIsHandedToTheOtherRanks) {
  struct Job {
    std::string config, run_dir;
  };
  std::vector<Job> received;
  int worker_code = -1;
  auto request_for = [&](int epochs) {
    PretrainRequest r = request(epochs);
    r.world_size = 2;
    r.hash = run_hash(r.config, 2);
    return r;
  };
  test_support::run_ranks(2, [&](int rank, Collective& collective) {
    if (rank == 0) {
      Runner r(store_, {runs_dir_, false, false}, observer_,
               hand_off_to_ranks(collective, trainer_.function()));
      EXPECT_FALSE(r.pretrain(request_for(2)).reused);
      EXPECT_TRUE(r.pretrain(request_for(2)).reused);
      EXPECT_FALSE(r.pretrain(request_for(3)).reused);
      end_jobs(collective);
      return;
    }
    worker_code = serve_jobs(collective, [&](const RunConfig& config, const std::string& run_dir,
                                             const TrainCallbacks&) {
      received.push_back({config.to_json().dump(), run_dir});
      return TrainOutcome{};
    });
  });
  EXPECT_EQ(worker_code, 0);
  EXPECT_EQ(trainer_.calls, 2);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].config, request(2).config.to_json().dump());
  EXPECT_EQ(received[0].run_dir, RunDir(runs_dir_, request_for(2).hash).path());
  EXPECT_EQ(received[1].config, request(3).config.to_json().dump());
  EXPECT_EQ(received[1].run_dir, RunDir(runs_dir_, request_for(3).hash).path());
}

// A job whose config resolves to another hash on the receiving rank (another swavbench build
// there) fails on that rank, which goes on serving, and its exit code says so.
TEST(Jobs, AJobFromAnotherBuildFailsOnItsRankWhichServesOn) {
  int code = -1, trained = 0;
  test_support::run_ranks(2, [&](int rank, Collective& collective) {
    RunConfig config;
    config.epochs = 1;
    if (rank == 0) {
      send_job(collective, {{"op", "train"},
                            {"config", config.to_json()},
                            {"hash", "0123456789abcdef"},
                            {"run_dir", "/nowhere"}});
      send_job(collective, {{"op", "train"},
                            {"config", config.to_json()},
                            {"hash", run_hash(config, 2)},
                            {"run_dir", "/nowhere"}});
      end_jobs(collective);
      return;
    }
    code = serve_jobs(collective, [&](const RunConfig&, const std::string&, const TrainCallbacks&) {
      ++trained;
      return TrainOutcome{};
    });
  });
  EXPECT_EQ(code, 1);
  EXPECT_EQ(trained, 1);
}

class RecordingEvalObserver final : public EvalObserver {
 public:
  void on_reused(const RunRow& run, const std::string& name) override {
    calls.push_back(fmt::format("reused {} #{}", name, run.id));
  }
  void on_measured(const RunRow& run, const std::string& name, const EvalResult& result,
                   double) override {
    calls.push_back(
        fmt::format("measured {} #{}{}", name, run.id, result.diverged.empty() ? "" : " diverged"));
  }
  std::vector<std::string> calls;
};

// Protocols that count their runs: "counted" reports value = 10 x its option x; "diverging" never
// measures anything.
int counted_runs = 0;
const bool kFakeProtocolsRegistered = [] {
  ProtocolSpec counted;
  counted.name = "counted";
  counted.display_name = "counted";
  counted.default_options = {{"x", 1}};
  counted.ranges = {{"x", {0, true}}};
  EvalProtocol p(counted);
  p.run = [](EvalContext& ctx) {
    ++counted_runs;
    EvalResult r;
    r.metrics = {{"value", 10.0 * ctx.options["x"].get<int>()}};
    return r;
  };
  register_eval(p);
  ProtocolSpec diverging;
  diverging.name = "diverging";
  diverging.display_name = "diverging";
  EvalProtocol d(diverging);
  d.run = [](EvalContext&) {
    EvalResult r;
    r.mark_diverged("the loss became NaN at epoch 1");
    return r;
  };
  register_eval(d);
  return true;
}();

class EvaluatorTest : public RunnerTest {
 protected:
  void SetUp() override {
    counted_runs = 0;
    run_ = runner().pretrain(request(1)).run;
    // The fake trainer records a made-up digest; the run's recorded weights are those the
    // loader below returns, as a real run's are its checkpoint's.
    record_weights_digest(weights_digest(load_model()->module()));
  }
  std::unique_ptr<Method> load_model() {
    torch::manual_seed(7);  // the same "trained" weights every time
    const RunConfig config =
        resolve_config(nlohmann::json::parse(run_.config_json), nlohmann::json::object(), "test");
    MethodContext ctx{config, 10, 1, torch::kCPU, local_collective()};
    return make_method(config.method, ctx);
  }
  void record_weights_digest(const std::string& digest) {
    for (ArtifactRow a : store_.artifacts(run_.id)) {
      if (a.kind != "weights") continue;
      a.sha256 = digest;
      store_.add_artifact(a);
    }
  }
  std::map<std::string, nlohmann::json> protocols(std::map<std::string, nlohmann::json> given) {
    std::map<std::string, nlohmann::json> merged;
    for (const auto& [name, options] : given)
      merged[name] = merge_eval_options(find_eval(protocol_of(name), "t"), options, "t");
    return merged;
  }
  nlohmann::json evaluate(const std::map<std::string, nlohmann::json>& given) {
    Evaluator evaluator(store_, runs_dir_, eval_observer_,
                        [this](const RunConfig&, const std::string& run_dir, torch::Device) {
                          ++loads_;
                          loaded_from_ = run_dir;
                          return load_model();
                        });
    return evaluator.evaluate(*store_.run_by_id(run_.id), protocols(given), "test.lua:9");
  }

  RunRow run_;
  RecordingEvalObserver eval_observer_;
  int loads_ = 0;
  std::string loaded_from_;
};

TEST_F(EvaluatorTest, ResultsAreStoredWithTheirOptionsAndReusedWhenTheOptionsMatch) {
  const nlohmann::json first = evaluate({{"counted", {{"x", 2}}}, {"counted@three", {{"x", 3}}}});
  EXPECT_EQ(first["counted"]["value"], 20.0);
  EXPECT_EQ(first["counted@three"]["value"], 30.0);
  EXPECT_EQ(counted_runs, 2);
  EXPECT_EQ(loads_, 1);  // one model for both protocols
  EXPECT_EQ(loaded_from_, RunDir(runs_dir_, run_.hash).path());
  const std::vector<EvalRow> rows = store_.evals_for(run_.id, "counted@three");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].metric, "value");
  EXPECT_EQ(rows[0].value, 30.0);
  EXPECT_EQ(nlohmann::json::parse(rows[0].card_json)["options"], (nlohmann::json{{"x", 3}}));

  // The same options again: nothing runs, nothing loads, the stored numbers come back.
  const nlohmann::json again = evaluate({{"counted", {{"x", 2}}}, {"counted@three", {{"x", 3}}}});
  EXPECT_EQ(again, first);
  EXPECT_EQ(counted_runs, 2);
  EXPECT_EQ(loads_, 1);

  // Other options replace the protocol's rows.
  EXPECT_EQ(evaluate({{"counted", {{"x", 4}}}})["counted"]["value"], 40.0);
  EXPECT_EQ(counted_runs, 3);
  ASSERT_EQ(store_.evals_for(run_.id, "counted").size(), 1u);
  EXPECT_EQ(store_.evals_for(run_.id, "counted")[0].value, 40.0);
  EXPECT_EQ(eval_observer_.calls,
            (std::vector<std::string>{"measured counted #1", "measured counted@three #1",
                                      "reused counted #1", "reused counted@three #1",
                                      "measured counted #1"}));
}

// A result records the digest of its protocol's code; one measured by other code (or by a build
// that did not record it) is measured again, and the run is not retrained (only loaded).
TEST_F(EvaluatorTest, AResultMeasuredByOtherProtocolCodeIsMeasuredAgain) {
  evaluate({{"counted", {{"x", 2}}}});
  ASSERT_EQ(counted_runs, 1);
  std::vector<EvalRow> rows = store_.evals_for(run_.id, "counted");
  ASSERT_EQ(rows.size(), 1u);
  const std::string digest = protocol_code_digest("counted");
  EXPECT_EQ(nlohmann::json::parse(rows[0].card_json)["code_digest"], digest);

  // Rewrite the stored card as another build of the protocol would have left it.
  auto restore = [&](const nlohmann::json& card, double value) {
    EvalRow row = rows[0];
    row.card_json = card.dump();
    row.value = value;
    store_.replace_evals(run_.id, "counted", {row});
  };
  nlohmann::json card = nlohmann::json::parse(rows[0].card_json);
  card["code_digest"] = "0000000000000000";
  restore(card, 99.0);
  const int runs_before = static_cast<int>(store_.runs().size());
  EXPECT_EQ(evaluate({{"counted", {{"x", 2}}}})["counted"]["value"], 20.0);
  EXPECT_EQ(counted_runs, 2);
  EXPECT_EQ(static_cast<int>(store_.runs().size()), runs_before);
  rows = store_.evals_for(run_.id, "counted");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value, 20.0);
  EXPECT_EQ(nlohmann::json::parse(rows[0].card_json)["code_digest"], digest);

  // A card without a digest (a database from before they were recorded) is measured again too.
  card.erase("code_digest");
  restore(card, 99.0);
  EXPECT_EQ(evaluate({{"counted", {{"x", 2}}}})["counted"]["value"], 20.0);
  EXPECT_EQ(counted_runs, 3);
  // And then reused.
  EXPECT_EQ(evaluate({{"counted", {{"x", 2}}}})["counted"]["value"], 20.0);
  EXPECT_EQ(counted_runs, 3);
}

TEST_F(EvaluatorTest, ADivergedProtocolIsOneDivergedRowWithItsReasonNotANumber) {
  const nlohmann::json results = evaluate({{"diverging", nlohmann::json::object()}});
  EXPECT_EQ(results["diverging"],
            (nlohmann::json{{kDivergedMetric, "the loss became NaN at epoch 1"}}));
  const std::vector<EvalRow> rows = store_.evals_for(run_.id, "diverging");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].metric, kDivergedMetric);
  EXPECT_EQ(nlohmann::json::parse(rows[0].card_json)[kDivergedMetric],
            "the loss became NaN at epoch 1");
  // Reused as diverged, with its reason.
  EXPECT_EQ(evaluate({{"diverging", nlohmann::json::object()}}), results);
}

// Weights that are not those the run recorded when it finished are not evaluated: the results
// would describe another model.
TEST_F(EvaluatorTest, WeightsThatAreNotTheRunsRecordedOnesAreRefusedBeforeAnythingRuns) {
  record_weights_digest("00c0ffee");
  try {
    evaluate({{"counted", nlohmann::json::object()}});
    FAIL() << "other weights must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format(
                  "test.lua:9: {}/checkpoint.pt holds weights with digest {}, but run #1 [{}] "
                  "recorded 00c0ffee when it finished: the checkpoint was replaced or damaged",
                  RunDir(runs_dir_, run_.hash).path(), weights_digest(load_model()->module()),
                  run_.hash)),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(counted_runs, 0);
  EXPECT_TRUE(store_.evals_for(run_.id, "counted").empty());
}

TEST_F(EvaluatorTest, ARunThatIsNotCompleteIsRefusedBeforeAnythingRuns) {
  store_.set_status(run_.id, kStatusFailed);
  try {
    evaluate({{"counted", nlohmann::json::object()}});
    FAIL() << "evaluated a failed run";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              fmt::format("test.lua:9: run [{}] is not complete (status failed); evaluate runs "
                          "that bench.pretrain returned",
                          run_.hash));
  }
  EXPECT_EQ(counted_runs, 0);
  EXPECT_EQ(loads_, 0);
  EXPECT_TRUE(store_.evals_for(run_.id, "counted").empty());
}

}  // namespace
}  // namespace swavbench
