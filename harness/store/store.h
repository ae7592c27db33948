// The SQLite results store: every run, epoch row, eval row and artifact, with provenance.
//
// Torch-free by design (harness/store never includes torch). One Store object owns one
// connection; it is not shared between threads. Several processes may write the same file at
// once: WAL journal, a busy timeout, and every write in its own IMMEDIATE transaction retried on
// SQLITE_BUSY, so no row is lost.
//
// Schema (version kSchemaVersion, forward migrations in store.cpp):
//   meta(key PRIMARY KEY, value)                       -- 'schema_version'
//   runs(id, hash UNIQUE, config_json, method, status, reason, started, finished, git_sha,
//        torch_version, device, world_size, per_device_batch, host, pid, label, suite,
//        code_json)
//   epochs(run_id, epoch, loss, lr, img_per_s, data_wait, peak_mem, extra_json,
//          UNIQUE(run_id, epoch))
//   evals(id, run_id, protocol, metric, value, card_json, created)
//   artifacts(run_id, kind, path, sha256)
//   alarms(id, run_id, epoch, kind, reason, advice, created)
//   bench(id, name, value, unit, git_sha, host, created, extra_json)
//   run_tags(run_id, tag, UNIQUE(run_id, tag))         -- what experiments asked for the run
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace swavbench {

inline constexpr int kSchemaVersion = 3;

// Run status values, as stored.
inline constexpr const char* kStatusRunning = "running";
inline constexpr const char* kStatusDone = "done";
inline constexpr const char* kStatusFailed = "failed";
inline constexpr const char* kStatusInterrupted = "interrupted";

struct RunRow {
  int64_t id = 0;
  std::string hash;
  std::string config_json;
  std::string method;
  std::string status;
  std::string reason;             // why it failed or was interrupted; empty otherwise
  std::string started, finished;  // ISO-8601 UTC; finished empty while running
  std::string git_sha, torch_version, device, host;
  int world_size = 1;
  int per_device_batch = 0;
  int64_t pid = 0;
  std::string label;  // free text from the script (not part of the hash)
  std::string suite;  // the Lua file that asked for the run
  // The code digests its hash was made with: {"shared": ..., "method": ...} (RunConfig::hash);
  // "{}" for a run recorded before schema 3.
  std::string code_json = "{}";
};

struct EpochRow {
  int64_t run_id = 0;
  int epoch = 0;
  double loss = 0, lr = 0, img_per_s = 0, data_wait = 0;
  double peak_mem = 0;            // bytes
  std::string extra_json = "{}";  // method logs (e.g. code entropy, knn accuracy)
};

// The metric of the one row a protocol that diverged leaves (value 1, the reason in its card's
// "diverged"): no number was measured, and tables print "diverged".
inline constexpr char kDivergedMetric[] = "diverged";

// "protocol.metric" -> "protocol.diverged": where a table key's protocol records divergence.
inline std::string diverged_key_of(const std::string& key) {
  return key.substr(0, key.rfind('.')) + "." + kDivergedMetric;
}

struct EvalRow {
  int64_t run_id = 0;
  std::string protocol;  // "knn", "linear_fast", ...
  std::string metric;    // "top1_k20", "top1_best", ...
  double value = 0;
  std::string card_json = "{}";  // the protocol card: split, epochs, lr, seed, ...
  std::string created;
};

struct ArtifactRow {
  int64_t run_id = 0;
  std::string kind;  // "checkpoint", "plot", ...
  std::string path;
  std::string sha256;
};

struct AlarmRow {
  int64_t run_id = 0;
  int epoch = 0;
  std::string kind;    // "collapse", "nan"
  std::string reason;  // what was observed
  std::string advice;  // what users should try
  std::string created;
};

struct BenchRow {
  std::string name;
  double value = 0;
  std::string unit;
  std::string git_sha, host, created;
  std::string extra_json = "{}";
};

// How a command uses the database. Commands that only read (db runs, db show, tables,
// claims, report, export) open it read-only: they work in a read-only folder and never create,
// migrate or switch the journal mode of a file.
enum class StoreAccess { kReadWrite, kReadOnly };

class Store {
 public:
  // kReadWrite opens (creating if missing, with parent directories) and migrates to
  // kSchemaVersion; kReadOnly needs an existing database of this schema version. Either way the
  // file is identified before anything is written to it: a file that is not a SQLite database,
  // a SQLite database that is not swavbench's, or one newer than this build is refused with an
  // InputError naming the path, and left byte for byte as it was. A read-only location is an
  // InputError that says so (and which commands still work).
  explicit Store(const std::string& path, StoreAccess access = StoreAccess::kReadWrite);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  int schema_version();

  // Runs. insert_run fills id; `hash` is unique: inserting an existing hash throws.
  // An empty `started` becomes now and an empty `status` becomes running (both written back).
  int64_t insert_run(RunRow& row);
  std::optional<RunRow> run_by_hash(const std::string& hash);
  std::optional<RunRow> run_by_id(int64_t id);
  std::vector<RunRow> runs(const std::string& status_filter = "");
  // Sets status (and reason); sets `finished` for done/failed/interrupted.
  void set_status(int64_t run_id, const std::string& status, const std::string& reason = "");
  // Marks a run as running again in this process (resume): new pid, host, status running.
  void claim_run(int64_t run_id, int64_t pid, const std::string& host);
  // Deletes a run's epoch/eval/alarm/artifact rows and resets it (used by --force); `started`
  // becomes now.
  void reset_run(int64_t run_id, const std::string& config_json);
  // Replaces run `run_id`'s row with `row` (every column but id and hash) and deletes its
  // epoch/eval/alarm/artifact/tag rows, in one transaction (db merge: a finished run replacing
  // an unfinished one of the same hash).
  void overwrite_run(int64_t run_id, const RunRow& row);

  // Epoch rows: one transaction each; re-writing the same (run, epoch) replaces it.
  // A NaN (loss, eval value, ...) survives the round trip: SQLite stores it as NULL.
  void add_epoch(const EpochRow& row);
  std::vector<EpochRow> epochs(int64_t run_id);

  // Eval rows: one transaction each. replace_evals deletes a run's rows for one protocol first,
  // in the same transaction, so a rerun of an eval never duplicates. Its rows may leave run_id
  // and protocol unset (0 / ""); a row naming another run or protocol throws.
  void add_eval(const EvalRow& row);
  void replace_evals(int64_t run_id, const std::string& protocol, const std::vector<EvalRow>& rows);
  std::vector<EvalRow> evals(int64_t run_id);
  std::vector<EvalRow> evals_for(int64_t run_id, const std::string& protocol);

  // Registering the same (run, kind, path) again replaces its sha256 instead of adding a row.
  void add_artifact(const ArtifactRow& row);
  std::vector<ArtifactRow> artifacts(int64_t run_id);

  // Tags: the experiments (paper tables) that asked for a run. Adding a tag a run already has
  // does nothing, so a run reused by a second suite collects that suite's tags too.
  void add_tags(int64_t run_id, const std::vector<std::string>& tags);
  std::vector<std::string> tags(int64_t run_id);  // sorted

  void add_alarm(const AlarmRow& row);
  std::vector<AlarmRow> alarms(int64_t run_id);

  void add_bench(const BenchRow& row);
  std::vector<BenchRow> bench_rows(const std::string& name_filter = "");

  // CSV of all runs joined with their evals (one line per eval row), header first.
  std::string export_csv();

 private:
  // A database without our meta table must hold no tables at all (a fresh file): anything else
  // is someone else's, refused with an InputError before it is changed.
  void check_not_foreign();
  void exec(const std::string& sql);
  void migrate();
  // Runs fn inside BEGIN IMMEDIATE ... COMMIT, retrying the whole transaction on SQLITE_BUSY.
  template <typename Fn>
  void write_transaction(Fn&& fn);

  std::string path_;
  sqlite3* db_ = nullptr;
};

// The run a user names on the command line: by its id ("12") or by its hash or a prefix of it
// that only one run has. `command` prefixes the InputError that names the database and how to
// list its runs.
RunRow find_run(Store& store, const std::string& name, const std::string& command);

}  // namespace swavbench
