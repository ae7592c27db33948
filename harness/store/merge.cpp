#include "harness/store/merge.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <tuple>

#include "harness/core/check.h"

namespace swavbench {

namespace fs = std::filesystem;

namespace {

// The schema version of a database file, read without writing to it (a Store would migrate an
// older file in place; a merge must not touch its inputs).
int schema_version_read_only(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::string error;
  int version = -1;
  if (rc != SQLITE_OK) {
    error = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  } else {
    sqlite3_stmt* query = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &query,
                           nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(db);
    } else if (sqlite3_step(query) == SQLITE_ROW) {
      version = sqlite3_column_int(query, 0);
    } else {
      error = "its meta table has no schema_version";
    }
    sqlite3_finalize(query);
  }
  sqlite3_close_v2(db);
  SB_INPUT_CHECK(error.empty(), "db merge: {} is not a swavbench database ({})", path, error);
  return version;
}

std::string weights_digest_of(Store& store, int64_t run_id) {
  for (const ArtifactRow& a : store.artifacts(run_id))
    if (a.kind == "weights") return a.sha256;
  return "";
}

struct Added {
  int epochs = 0, evals = 0, alarms = 0, artifacts = 0, tags = 0;
};

// Copies the child rows of IN's run `from` that OUT's run `to` lacks.
Added copy_children(Store& in, int64_t from, Store& out, int64_t to,
                    std::vector<std::string>& missing_artifacts) {
  Added added;
  std::set<int> have_epochs;
  for (const EpochRow& e : out.epochs(to)) have_epochs.insert(e.epoch);
  for (EpochRow e : in.epochs(from)) {
    if (have_epochs.count(e.epoch)) continue;
    e.run_id = to;
    out.add_epoch(e);
    ++added.epochs;
  }
  std::set<std::pair<std::string, std::string>> have_evals;
  for (const EvalRow& e : out.evals(to)) have_evals.insert({e.protocol, e.metric});
  for (EvalRow e : in.evals(from)) {
    if (have_evals.count({e.protocol, e.metric})) continue;
    e.run_id = to;
    out.add_eval(e);
    ++added.evals;
  }
  std::set<std::tuple<int, std::string, std::string>> have_alarms;
  for (const AlarmRow& a : out.alarms(to)) have_alarms.insert({a.epoch, a.kind, a.reason});
  for (AlarmRow a : in.alarms(from)) {
    if (have_alarms.count({a.epoch, a.kind, a.reason})) continue;
    a.run_id = to;
    out.add_alarm(a);
    ++added.alarms;
  }
  std::set<std::pair<std::string, std::string>> have_artifacts;
  for (const ArtifactRow& a : out.artifacts(to)) have_artifacts.insert({a.kind, a.path});
  for (ArtifactRow a : in.artifacts(from)) {
    if (!fs::exists(a.path)) missing_artifacts.push_back(a.path);
    if (have_artifacts.count({a.kind, a.path})) continue;
    a.run_id = to;
    out.add_artifact(a);
    ++added.artifacts;
  }
  const std::vector<std::string> have_tags = out.tags(to);
  std::vector<std::string> new_tags;
  for (const std::string& tag : in.tags(from))
    if (!std::binary_search(have_tags.begin(), have_tags.end(), tag)) new_tags.push_back(tag);
  if (!new_tags.empty()) out.add_tags(to, new_tags);
  added.tags = static_cast<int>(new_tags.size());
  return added;
}

}  // namespace

MergeSummary merge_database(Store& out, const std::string& in_path) {
  SB_INPUT_CHECK(fs::exists(in_path), "db merge: {} does not exist", in_path);
  std::error_code same_error;
  SB_INPUT_CHECK(!fs::equivalent(in_path, out.path(), same_error),
                 "db merge: {} is the output database itself", in_path);
  const int version = schema_version_read_only(in_path);
  SB_INPUT_CHECK(version == kSchemaVersion,
                 "db merge: {} has schema version {}, this swavbench writes version {}: open it "
                 "once with the swavbench that matches it{} before merging",
                 in_path, version, kSchemaVersion,
                 version < kSchemaVersion ? " or with this one (`swavbench db --db IN runs` "
                                            "migrates it)"
                                          : "");
  Store in(in_path);

  // A conflict anywhere refuses the whole merge before anything is written.
  for (const RunRow& run : in.runs(kStatusDone)) {
    std::optional<RunRow> mine = out.run_by_hash(run.hash);
    if (!mine || mine->status != kStatusDone) continue;
    const std::string ours = weights_digest_of(out, mine->id),
                      theirs = weights_digest_of(in, run.id);
    SB_INPUT_CHECK(ours.empty() || theirs.empty() || ours == theirs,
                   "db merge: run [{}] is done in both {} (run #{}, weights {}) and {} (run #{}, "
                   "weights {}) with different weights; keep one (merge without the other)",
                   run.hash, out.path(), mine->id, ours.substr(0, 16), in_path, run.id,
                   theirs.substr(0, 16));
  }

  MergeSummary summary;
  std::vector<RunRow> runs = in.runs();
  // Oldest first, so that a merged database numbers runs in the order they started.
  std::stable_sort(runs.begin(), runs.end(),
                   [](const RunRow& a, const RunRow& b) { return a.started < b.started; });
  for (const RunRow& run : runs) {
    std::optional<RunRow> mine = out.run_by_hash(run.hash);
    int64_t target = 0;
    if (!mine) {
      RunRow copy = run;
      copy.id = 0;
      target = out.insert_run(copy);
      ++summary.runs_added;
    } else if (run.status != kStatusDone) {
      ++summary.runs_skipped;
      continue;
    } else if (mine->status != kStatusDone) {
      out.overwrite_run(mine->id, run);
      target = mine->id;
      ++summary.runs_replaced;
    } else {
      target = mine->id;
      ++summary.runs_same;
    }
    const Added added = copy_children(in, run.id, out, target, summary.missing_artifacts);
    summary.epochs += added.epochs;
    summary.evals += added.evals;
    summary.alarms += added.alarms;
    summary.artifacts += added.artifacts;
    summary.tags += added.tags;
  }

  std::set<std::tuple<std::string, std::string, std::string, std::string>> have_bench;
  for (const BenchRow& b : out.bench_rows())
    have_bench.insert({b.name, b.git_sha, b.host, b.created});
  for (const BenchRow& b : in.bench_rows()) {
    if (have_bench.count({b.name, b.git_sha, b.host, b.created})) continue;
    out.add_bench(b);
    ++summary.bench;
  }
  return summary;
}

}  // namespace swavbench
