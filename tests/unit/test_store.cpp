#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/store/store.h"

namespace swavbench {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/swavbench_store_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string db_path(const std::string& name = "results.db") const {
    return (std::filesystem::path(dir_) / name).string();
  }

  std::filesystem::path dir_;
};

RunRow make_run(const std::string& hash) {
  RunRow run;
  run.hash = hash;
  run.config_json = R"({"method":"swav","epochs":3})";
  run.method = "swav";
  run.git_sha = "abc123";
  run.torch_version = "2.3.0";
  run.device = "cuda:0";
  run.world_size = 2;
  run.per_device_batch = 64;
  run.host = "node7";
  run.pid = 4242;
  run.label = "baseline";
  run.suite = "suites/smoke.lua";
  return run;
}

EvalRow make_eval(int64_t run_id, const std::string& protocol, const std::string& metric,
                  double value) {
  EvalRow row;
  row.run_id = run_id;
  row.protocol = protocol;
  row.metric = metric;
  row.value = value;
  return row;
}

// Raw access for what the Store API deliberately cannot do: tamper with meta, count rows.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) ADD_FAILURE() << sqlite3_errmsg(db_);
  }
  ~RawDb() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (error != nullptr ? error : "?");
    }
    sqlite3_free(error);
  }
  int64_t count(const std::string& table) {
    sqlite3_stmt* stmt = nullptr;
    const std::string sql = "SELECT count(*) FROM " + table;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    const int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(StoreTest, RoundTripsEveryRowKindAndCreatesParentDirectories) {
  const std::string path = db_path("nested/deeper/results.db");
  int64_t run_id = 0;
  {
    Store store(path);
    RunRow run = make_run("hash-1");
    run_id = store.insert_run(run);
    EXPECT_GT(run_id, 0);
    EXPECT_EQ(run.id, run_id);
    EXPECT_FALSE(run.started.empty());
    EXPECT_EQ(run.status, kStatusRunning);

    EpochRow epoch;
    epoch.run_id = run_id;
    epoch.epoch = 0;
    epoch.loss = 8.25;
    epoch.lr = 0.6;
    epoch.img_per_s = 1234.5;
    epoch.data_wait = 0.125;
    epoch.peak_mem = 3.5e9;
    epoch.extra_json = R"({"code_entropy":3.9})";
    store.add_epoch(epoch);
    epoch.epoch = 1;
    epoch.loss = std::numeric_limits<double>::quiet_NaN();
    store.add_epoch(epoch);

    EvalRow knn = make_eval(run_id, "knn", "top1_k20", 41.5);
    knn.card_json = R"({"split":"val","k":20,"note":"a, \"quoted\" card"})";
    knn.created = "2024-01-02T03:04:05Z";
    store.add_eval(knn);
    store.add_eval(make_eval(run_id, "linear_fast", "top1_best", 55.25));

    store.add_artifact({run_id, "checkpoint", "/runs/1/ckpt.pt", "deadbeef"});
    store.add_artifact({run_id, "plot", "/runs/1/loss.png", "cafe"});
    // Re-registering the overwritten checkpoint updates its hash instead of adding a row.
    store.add_artifact({run_id, "checkpoint", "/runs/1/ckpt.pt", "beefdead"});

    AlarmRow alarm;
    alarm.run_id = run_id;
    alarm.epoch = 1;
    alarm.kind = "nan";
    alarm.reason = "loss is NaN";
    alarm.advice = "lower the learning rate";
    store.add_alarm(alarm);

    BenchRow bench;
    bench.name = "sinkhorn_ms";
    bench.value = 0.75;
    bench.unit = "ms";
    bench.git_sha = "abc123";
    bench.host = "node7";
    bench.extra_json = R"({"batch":4096})";
    store.add_bench(bench);
    bench.name = "other";
    store.add_bench(bench);
  }

  // Read back through a fresh connection so nothing can come from in-memory state.
  Store store(path);
  const std::optional<RunRow> run = store.run_by_hash("hash-1");
  ASSERT_TRUE(run.has_value());
  const RunRow expected = make_run("hash-1");
  EXPECT_EQ(run->id, run_id);
  EXPECT_EQ(run->config_json, expected.config_json);
  EXPECT_EQ(run->method, expected.method);
  EXPECT_EQ(run->status, kStatusRunning);
  EXPECT_EQ(run->reason, "");
  EXPECT_EQ(run->finished, "");
  EXPECT_EQ(run->git_sha, expected.git_sha);
  EXPECT_EQ(run->torch_version, expected.torch_version);
  EXPECT_EQ(run->device, expected.device);
  EXPECT_EQ(run->world_size, expected.world_size);
  EXPECT_EQ(run->per_device_batch, expected.per_device_batch);
  EXPECT_EQ(run->host, expected.host);
  EXPECT_EQ(run->pid, expected.pid);
  EXPECT_EQ(run->label, expected.label);
  EXPECT_EQ(run->suite, expected.suite);
  ASSERT_TRUE(store.run_by_id(run_id).has_value());
  EXPECT_EQ(store.run_by_id(run_id)->hash, "hash-1");

  const std::vector<EpochRow> epochs = store.epochs(run_id);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0].epoch, 0);
  EXPECT_DOUBLE_EQ(epochs[0].loss, 8.25);
  EXPECT_DOUBLE_EQ(epochs[0].lr, 0.6);
  EXPECT_DOUBLE_EQ(epochs[0].img_per_s, 1234.5);
  EXPECT_DOUBLE_EQ(epochs[0].data_wait, 0.125);
  EXPECT_DOUBLE_EQ(epochs[0].peak_mem, 3.5e9);
  EXPECT_EQ(epochs[0].extra_json, R"({"code_entropy":3.9})");
  EXPECT_TRUE(std::isnan(epochs[1].loss)) << "a NaN loss must not read back as 0";

  const std::vector<EvalRow> evals = store.evals(run_id);
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[0].protocol, "knn");
  EXPECT_EQ(evals[0].metric, "top1_k20");
  EXPECT_DOUBLE_EQ(evals[0].value, 41.5);
  EXPECT_EQ(evals[0].card_json, R"({"split":"val","k":20,"note":"a, \"quoted\" card"})");
  EXPECT_EQ(evals[0].created, "2024-01-02T03:04:05Z");
  EXPECT_EQ(evals[1].card_json, "{}");
  EXPECT_FALSE(evals[1].created.empty());
  ASSERT_EQ(store.evals_for(run_id, "linear_fast").size(), 1u);
  EXPECT_DOUBLE_EQ(store.evals_for(run_id, "linear_fast")[0].value, 55.25);

  const std::vector<ArtifactRow> artifacts = store.artifacts(run_id);
  ASSERT_EQ(artifacts.size(), 2u);
  EXPECT_EQ(artifacts[0].kind, "plot");
  EXPECT_EQ(artifacts[1].kind, "checkpoint");
  EXPECT_EQ(artifacts[1].path, "/runs/1/ckpt.pt");
  EXPECT_EQ(artifacts[1].sha256, "beefdead");

  const std::vector<AlarmRow> alarms = store.alarms(run_id);
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0].epoch, 1);
  EXPECT_EQ(alarms[0].kind, "nan");
  EXPECT_EQ(alarms[0].reason, "loss is NaN");
  EXPECT_EQ(alarms[0].advice, "lower the learning rate");
  EXPECT_FALSE(alarms[0].created.empty());

  ASSERT_EQ(store.bench_rows().size(), 2u);
  const std::vector<BenchRow> bench = store.bench_rows("sinkhorn_ms");
  ASSERT_EQ(bench.size(), 1u);
  EXPECT_DOUBLE_EQ(bench[0].value, 0.75);
  EXPECT_EQ(bench[0].unit, "ms");
  EXPECT_EQ(bench[0].git_sha, "abc123");
  EXPECT_EQ(bench[0].host, "node7");
  EXPECT_EQ(bench[0].extra_json, R"({"batch":4096})");
  EXPECT_FALSE(bench[0].created.empty());
}

TEST_F(StoreTest, DuplicateHashThrowsAndMissingLookupsAreEmpty) {
  Store store(db_path());
  RunRow first = make_run("same");
  store.insert_run(first);
  RunRow second = make_run("same");
  EXPECT_THROW(store.insert_run(second), Error);
  EXPECT_EQ(store.runs().size(), 1u);
  EXPECT_FALSE(store.run_by_hash("missing").has_value());
  EXPECT_FALSE(store.run_by_id(first.id + 100).has_value());
}

TEST_F(StoreTest, ChildRowsOfAMissingRunAreRejected) {
  Store store(db_path());
  EpochRow orphan;
  orphan.run_id = 77;
  EXPECT_THROW(store.add_epoch(orphan), Error);
  EXPECT_THROW(store.add_eval(make_eval(77, "knn", "top1", 1)), Error);
}

TEST_F(StoreTest, SchemaVersionSurvivesReopenAndNewerDatabasesAreRefused) {
  const std::string path = db_path();
  {
    Store store(path);
    EXPECT_EQ(store.schema_version(), kSchemaVersion);
    RunRow run = make_run("kept");
    store.insert_run(run);
  }
  {
    Store reopened(path);
    EXPECT_EQ(reopened.schema_version(), kSchemaVersion);
    ASSERT_TRUE(reopened.run_by_hash("kept").has_value());
  }
  {
    RawDb raw(path);
    raw.exec("UPDATE meta SET value = 999 WHERE key = 'schema_version'");
  }
  try {
    Store newer(path);
    FAIL() << "a schema_version 999 database opened";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("newer"), std::string::npos) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("999"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(kSchemaVersion)), std::string::npos) << message;
  }
}

TEST_F(StoreTest, TagsAreASetPerRunAndGoWithTheRun) {
  Store store(db_path());
  RunRow a = make_run("a"), b = make_run("b");
  store.insert_run(a);
  store.insert_run(b);
  store.add_tags(a.id, {"crops", "batch"});
  store.add_tags(a.id, {"crops"});  // a second suite reusing the run: no duplicate
  store.add_tags(b.id, {});
  EXPECT_EQ(store.tags(a.id), (std::vector<std::string>{"batch", "crops"}));
  EXPECT_TRUE(store.tags(b.id).empty());
  EXPECT_THROW(store.add_tags(999, {"crops"}), Error);  // no such run
  RawDb(db_path()).exec("PRAGMA foreign_keys = ON; DELETE FROM runs WHERE hash = 'a'");
  EXPECT_TRUE(store.tags(a.id).empty());
}

// A version-1 database (before tags) selected ablation runs by suite file name; migrating it
// tags those runs so its paper tables keep their rows.
TEST_F(StoreTest, MigrationFromVersion1TagsTheAblationSuitesRuns) {
  const std::string path = db_path();
  std::vector<int64_t> ids;
  {
    Store store(path);
    for (const char* suite :
         {"/home/u/swavbench/suite/ablation_crops.lua", "ablation_batch.lua",
          "suite/ablation_prototypes.lua", "suite/my_ablation_crops.lua", "suite/smoke.lua"}) {
      RunRow run = make_run(suite);
      run.suite = suite;
      ids.push_back(store.insert_run(run));
    }
  }
  {
    RawDb raw(path);  // back to the version-1 schema
    raw.exec("DROP TABLE run_tags");
    raw.exec("ALTER TABLE runs DROP COLUMN code_json");
    raw.exec("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
  }
  Store migrated(path);
  EXPECT_EQ(migrated.schema_version(), kSchemaVersion);
  EXPECT_EQ(migrated.tags(ids[0]), std::vector<std::string>{"crops"});
  EXPECT_EQ(migrated.tags(ids[1]), std::vector<std::string>{"batch"});
  EXPECT_EQ(migrated.tags(ids[2]), std::vector<std::string>{"prototypes"});
  EXPECT_TRUE(migrated.tags(ids[3]).empty());  // another file whose name merely ends alike
  EXPECT_TRUE(migrated.tags(ids[4]).empty());
  ASSERT_TRUE(migrated.run_by_hash("suite/smoke.lua").has_value());  // nothing else touched
}

// Schema 3 records the code digests a run's hash was made with; a version-2 database's runs keep
// every column and read "{}" (not recorded), and a run written after the migration keeps its own.
TEST_F(StoreTest, MigrationFromVersion2KeepsTheRunsAndRecordsNoDigestsForThem) {
  const std::string path = db_path();
  int64_t old_id = 0;
  {
    Store store(path);
    RunRow run = make_run("old");
    run.label = "recorded by schema 2";
    old_id = store.insert_run(run);
  }
  {
    RawDb raw(path);
    raw.exec("ALTER TABLE runs DROP COLUMN code_json");
    raw.exec("UPDATE meta SET value = 2 WHERE key = 'schema_version'");
  }
  Store migrated(path);
  EXPECT_EQ(migrated.schema_version(), kSchemaVersion);
  const std::optional<RunRow> old = migrated.run_by_id(old_id);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->label, "recorded by schema 2");
  EXPECT_EQ(old->code_json, "{}");
  RunRow fresh = make_run("new");
  fresh.code_json = R"({"method":"0123456789abcdef","shared":"fedcba9876543210"})";
  const int64_t id = migrated.insert_run(fresh);
  EXPECT_EQ(migrated.run_by_id(id)->code_json, fresh.code_json);
  fresh.code_json = R"({"method":"1111111111111111","shared":"fedcba9876543210"})";
  migrated.overwrite_run(id, fresh);
  EXPECT_EQ(migrated.run_by_id(id)->code_json, fresh.code_json);
}

TEST_F(StoreTest, NonDatabaseFileIsAnInputErrorNamingThePathAndIsLeftUntouched) {
  const std::string path = db_path("random.bin");
  std::string bytes(4096, '\0');
  std::mt19937 random(1234);
  for (char& byte : bytes) byte = static_cast<char>(random() & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;

  try {
    Store store(path);
    FAIL() << "random bytes opened as a database";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("not a swavbench database"), std::string::npos) << message;
  }
  std::ifstream in(path, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, bytes);
}

TEST_F(StoreTest, ForeignSqliteDatabaseIsRefused) {
  const std::string path = db_path("other.db");
  {
    RawDb raw(path);
    raw.exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)");
  }
  try {
    Store store(path);
    FAIL() << "a foreign SQLite database was adopted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  RawDb raw(path);
  EXPECT_EQ(raw.count("sqlite_master WHERE name = 'runs'"), 0);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Refusing a foreign database changes nothing in it: not even the journal mode in its header
// (opening used to switch any file to WAL before looking at it), for writers and readers alike.
TEST_F(StoreTest, RefusedForeignDatabaseIsByteForByteUnchanged) {
  const std::string path = db_path("foreign.db");
  {
    RawDb raw(path);
    raw.exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)");
    raw.exec("INSERT INTO customers(name) VALUES('ada')");
  }
  const std::string before = file_bytes(path);
  for (const StoreAccess access : {StoreAccess::kReadWrite, StoreAccess::kReadOnly}) {
    try {
      Store store(path, access);
      ADD_FAILURE() << "a foreign SQLite database was opened";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("is a SQLite database but not a swavbench database"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(file_bytes(path), before);
    EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  }
}

// Reading commands open the database read-only: nothing is created for a mistyped path, a
// folder is named as one, and the reader sees what writers committed.
TEST_F(StoreTest, ReadOnlyAccessNeedsAnExistingDatabaseAndNeverWrites) {
  const std::string missing = db_path("typo.db");
  try {
    Store store(missing, StoreAccess::kReadOnly);
    ADD_FAILURE() << "a missing database was opened for reading";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing + " does not exist"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(missing));
  try {
    Store store(dir_.string(), StoreAccess::kReadWrite);
    ADD_FAILURE() << "a directory was opened as a database";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory; give the path of a .sqlite file"),
              std::string::npos)
        << e.what();
  }
  const std::string path = db_path();
  Store writer(path);
  RunRow run = make_run("h1");
  writer.insert_run(run);
  Store reader(path, StoreAccess::kReadOnly);
  ASSERT_EQ(reader.runs().size(), 1u);
  EXPECT_EQ(reader.runs()[0].hash, "h1");
  try {
    RunRow other = make_run("h2");
    reader.insert_run(other);
    ADD_FAILURE() << "a read-only store wrote a row";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the database is read-only"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(writer.runs().size(), 1u);
}

// A run named on the command line: by id, by a unique hash prefix, never by something else.
TEST_F(StoreTest, FindRunByIdOrHashPrefixWithClearErrors) {
  Store store(db_path());
  RunRow a = make_run("3fa2aaaa");
  RunRow b = make_run("3fb1bbbb");
  store.insert_run(a);
  store.insert_run(b);
  EXPECT_EQ(find_run(store, "2", "db show").hash, "3fb1bbbb");
  EXPECT_EQ(find_run(store, "3fa", "db show").id, a.id);
  auto error_of = [&](const std::string& name) {
    try {
      find_run(store, name, "db show");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("abc!").find("db show: 'abc!' is neither a run id (a number like 3) nor a "
                                  "hash prefix"),
            std::string::npos);
  EXPECT_NE(error_of("3f").find("2 runs of"), std::string::npos);
  EXPECT_NE(error_of("9").find("db show: run #9 is not in"), std::string::npos);
  EXPECT_NE(error_of("99999999999999999999").find("no run's hash starts with"), std::string::npos);
  // A hash prefix made of digits only is found when no run has that id.
  RunRow digits = make_run("31415926");
  store.insert_run(digits);
  EXPECT_EQ(find_run(store, "314", "db show").id, digits.id);
}

TEST_F(StoreTest, ReplaceEvalsReplacesAndRewrittenEpochKeepsLatestValues) {
  Store store(db_path());
  RunRow run = make_run("r");
  const int64_t run_id = store.insert_run(run);

  store.add_eval(make_eval(run_id, "linear_fast", "top1_best", 60));
  store.replace_evals(run_id, "knn",
                      {make_eval(run_id, "knn", "top1_k20", 30), make_eval(0, "", "top5_k20", 50)});
  store.replace_evals(run_id, "knn", {make_eval(run_id, "knn", "top1_k20", 35)});
  const std::vector<EvalRow> knn = store.evals_for(run_id, "knn");
  ASSERT_EQ(knn.size(), 1u);
  EXPECT_EQ(knn[0].metric, "top1_k20");
  EXPECT_DOUBLE_EQ(knn[0].value, 35);
  EXPECT_EQ(store.evals_for(run_id, "linear_fast").size(), 1u) << "other protocols untouched";
  // A row for another protocol would escape the delete, so it is refused before writing.
  EXPECT_THROW(store.replace_evals(run_id, "knn", {make_eval(run_id, "linear", "top1", 1)}), Error);
  EXPECT_EQ(store.evals_for(run_id, "knn").size(), 1u);

  EpochRow epoch;
  epoch.run_id = run_id;
  epoch.epoch = 3;
  epoch.loss = 5;
  store.add_epoch(epoch);
  epoch.loss = 4;
  epoch.extra_json = R"({"second":true})";
  store.add_epoch(epoch);
  const std::vector<EpochRow> epochs = store.epochs(run_id);
  ASSERT_EQ(epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(epochs[0].loss, 4);
  EXPECT_EQ(epochs[0].extra_json, R"({"second":true})");
}

// Two processes hammering the same file is how parallel suites run; no row may be lost.
TEST_F(StoreTest, TwoConcurrentWriterProcessesLoseNoRows) {
  constexpr int kRowsPerWriter = 300;
  const std::string path = db_path();
  { Store create_schema(path); }

  // Children block on the pipe until both exist, so their writes really overlap.
  int start_gate[2];
  ASSERT_EQ(pipe(start_gate), 0);
  std::vector<pid_t> children;
  for (int writer = 0; writer < 2; ++writer) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int exit_code = 0;
      try {
        close(start_gate[1]);
        char ignored;
        if (read(start_gate[0], &ignored, 1) < 0) _exit(3);
        Store store(path);
        RunRow run = make_run("writer-" + std::to_string(writer));
        const int64_t run_id = store.insert_run(run);
        for (int i = 0; i < kRowsPerWriter; ++i) {
          EpochRow epoch;
          epoch.run_id = run_id;
          epoch.epoch = i;
          epoch.loss = i;
          store.add_epoch(epoch);
          store.add_eval(make_eval(run_id, "knn", "top1_" + std::to_string(i), i));
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", writer, e.what());
        exit_code = 1;
      } catch (...) {
        exit_code = 2;
      }
      // _exit: the forked gtest state must not run its own teardown in the child.
      _exit(exit_code);
    }
    children.push_back(pid);
  }
  close(start_gate[0]);
  close(start_gate[1]);  // EOF releases both children at once

  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }

  Store store(path);
  const std::vector<RunRow> runs = store.runs();
  ASSERT_EQ(runs.size(), 2u);
  size_t epoch_total = 0, eval_total = 0;
  for (const RunRow& run : runs) {
    const std::vector<EpochRow> epochs = store.epochs(run.id);
    ASSERT_EQ(epochs.size(), static_cast<size_t>(kRowsPerWriter));
    for (int i = 0; i < kRowsPerWriter; ++i) EXPECT_EQ(epochs[i].epoch, i);
    epoch_total += epochs.size();
    eval_total += store.evals(run.id).size();
  }
  EXPECT_EQ(epoch_total, 2u * kRowsPerWriter);
  EXPECT_EQ(eval_total, 2u * kRowsPerWriter);
  RawDb raw(path);
  EXPECT_EQ(raw.count("epochs"), 2 * kRowsPerWriter);
  EXPECT_EQ(raw.count("evals"), 2 * kRowsPerWriter);
}

TEST_F(StoreTest, ExportCsvQuotesCommasQuotesAndNewlines) {
  Store store(db_path());
  RunRow plain = make_run("h1");
  plain.label = "plain";
  store.insert_run(plain);
  RunRow tricky = make_run("h2");
  tricky.label = "bs 256, \"fast\" lr";
  store.insert_run(tricky);
  RunRow multiline = make_run("h3");
  multiline.label = "two\nlines";
  store.insert_run(multiline);
  RunRow no_evals = make_run("h4");
  store.insert_run(no_evals);

  store.add_eval(make_eval(plain.id, "knn", "top1_k20", 41.5));
  store.add_eval(make_eval(tricky.id, "knn", "top1_k20", 40));
  store.add_eval(make_eval(tricky.id, "linear_fast", "top1_best", 55.25));
  store.add_eval(make_eval(multiline.id, "knn", "top1_k20", 1));

  const std::string expected =
      "run_id,hash,method,label,status,protocol,metric,value\n" + std::to_string(plain.id) +
      ",h1,swav,plain,running,knn,top1_k20,41.5\n" + std::to_string(tricky.id) +
      ",h2,swav,\"bs 256, \"\"fast\"\" lr\",running,knn,top1_k20,40\n" + std::to_string(tricky.id) +
      ",h2,swav,\"bs 256, \"\"fast\"\" lr\",running,linear_fast,top1_best,55.25\n" +
      std::to_string(multiline.id) + ",h3,swav,\"two\nlines\",running,knn,top1_k20,1\n";
  EXPECT_EQ(store.export_csv(), expected);
}

TEST_F(StoreTest, StatusClaimAndResetSemantics) {
  Store store(db_path());
  RunRow run = make_run("s");
  const int64_t run_id = store.insert_run(run);
  RunRow other = make_run("t");
  store.insert_run(other);

  store.set_status(run_id, kStatusFailed, "loss became NaN at epoch 3");
  RunRow row = *store.run_by_id(run_id);
  EXPECT_EQ(row.status, kStatusFailed);
  EXPECT_EQ(row.reason, "loss became NaN at epoch 3");
  EXPECT_FALSE(row.finished.empty());

  ASSERT_EQ(store.runs(kStatusFailed).size(), 1u);
  EXPECT_EQ(store.runs(kStatusFailed)[0].id, run_id);
  ASSERT_EQ(store.runs(kStatusRunning).size(), 1u);
  EXPECT_EQ(store.runs(kStatusRunning)[0].id, other.id);
  ASSERT_EQ(store.runs().size(), 2u);
  EXPECT_LT(store.runs()[0].id, store.runs()[1].id);
  EXPECT_TRUE(store.runs(kStatusDone).empty());

  store.set_status(run_id, kStatusRunning);
  row = *store.run_by_id(run_id);
  EXPECT_EQ(row.status, kStatusRunning);
  EXPECT_EQ(row.finished, "");

  store.set_status(run_id, kStatusInterrupted, "SIGINT");
  store.claim_run(run_id, 9999, "resume-host");
  row = *store.run_by_id(run_id);
  EXPECT_EQ(row.status, kStatusRunning);
  EXPECT_EQ(row.pid, 9999);
  EXPECT_EQ(row.host, "resume-host");
  EXPECT_EQ(row.reason, "");
  EXPECT_EQ(row.finished, "");

  EpochRow epoch;
  epoch.run_id = run_id;
  store.add_epoch(epoch);
  store.add_eval(make_eval(run_id, "knn", "top1", 1));
  store.add_artifact({run_id, "checkpoint", "/c.pt", "00"});
  AlarmRow alarm;
  alarm.run_id = run_id;
  alarm.kind = "collapse";
  store.add_alarm(alarm);
  store.add_epoch(EpochRow{other.id, 0, 1, 1, 1, 1, 1, "{}"});
  store.set_status(run_id, kStatusDone);

  store.reset_run(run_id, R"({"method":"swav","epochs":5})");
  row = *store.run_by_id(run_id);
  EXPECT_EQ(row.config_json, R"({"method":"swav","epochs":5})");
  EXPECT_EQ(row.status, kStatusRunning);
  EXPECT_EQ(row.reason, "");
  EXPECT_EQ(row.finished, "");
  EXPECT_EQ(row.hash, "s");
  EXPECT_TRUE(store.epochs(run_id).empty());
  EXPECT_TRUE(store.evals(run_id).empty());
  EXPECT_TRUE(store.artifacts(run_id).empty());
  EXPECT_TRUE(store.alarms(run_id).empty());
  EXPECT_EQ(store.epochs(other.id).size(), 1u) << "another run's rows survive a reset";

  EXPECT_THROW(store.set_status(run_id + 1000, kStatusDone), Error);
  EXPECT_THROW(store.claim_run(run_id + 1000, 1, "h"), Error);
  EXPECT_THROW(store.reset_run(run_id + 1000, "{}"), Error);
  EXPECT_THROW(store.set_status(run_id, "exploded"), Error);
}

}  // namespace
}  // namespace swavbench
