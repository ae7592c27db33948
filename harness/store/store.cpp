#include "harness/store/store.h"

#include <fmt/ranges.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <system_error>
#include <thread>
#include <utility>

#include "harness/core/check.h"
#include "harness/core/escape.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

// SQLite itself waits this long for a lock before returning SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 10000;
// Whole transactions are retried on SQLITE_BUSY for at most this long. Each attempt already
// waited kBusyTimeoutMs, so this only ends a writer stuck behind a process that never lets go.
constexpr std::chrono::seconds kBusyRetryBudget{60};

struct MigrationStep {
  int from_version;  // the step runs while upgrading from_version -> from_version + 1
  const char* sql;
};

// Append only: existing databases were built by replaying these steps in order, so editing a
// released step would give two databases with the same schema_version different schemas.
// REAL columns are nullable because SQLite stores a NaN as NULL, and a NaN loss is exactly what
// the collapse/nan alarms need to keep.
constexpr MigrationStep kMigrationSteps[] = {
    {0, "CREATE TABLE meta(key TEXT PRIMARY KEY, value)"},
    // AUTOINCREMENT so a run id shown to users is never reused, even after rows are deleted.
    {0, R"sql(CREATE TABLE runs(
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          hash TEXT NOT NULL UNIQUE,
          config_json TEXT NOT NULL DEFAULT '{}',
          method TEXT NOT NULL DEFAULT '',
          status TEXT NOT NULL,
          reason TEXT NOT NULL DEFAULT '',
          started TEXT NOT NULL DEFAULT '',
          finished TEXT NOT NULL DEFAULT '',
          git_sha TEXT NOT NULL DEFAULT '',
          torch_version TEXT NOT NULL DEFAULT '',
          device TEXT NOT NULL DEFAULT '',
          world_size INTEGER NOT NULL DEFAULT 1,
          per_device_batch INTEGER NOT NULL DEFAULT 0,
          host TEXT NOT NULL DEFAULT '',
          pid INTEGER NOT NULL DEFAULT 0,
          label TEXT NOT NULL DEFAULT '',
          suite TEXT NOT NULL DEFAULT '')
        )sql"},
    {0, R"sql(CREATE TABLE epochs(
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          loss REAL, lr REAL, img_per_s REAL, data_wait REAL, peak_mem REAL,
          extra_json TEXT NOT NULL DEFAULT '{}',
          UNIQUE(run_id, epoch))
        )sql"},
    {0, R"sql(CREATE TABLE evals(
          id INTEGER PRIMARY KEY,
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          protocol TEXT NOT NULL,
          metric TEXT NOT NULL,
          value REAL,
          card_json TEXT NOT NULL DEFAULT '{}',
          created TEXT NOT NULL)
        )sql"},
    // A file registered again (a checkpoint overwritten in place) replaces its row, so the
    // recorded sha256 always describes what is on disk now.
    {0, R"sql(CREATE TABLE artifacts(
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          kind TEXT NOT NULL,
          path TEXT NOT NULL,
          sha256 TEXT NOT NULL DEFAULT '',
          UNIQUE(run_id, kind, path))
        )sql"},
    {0, R"sql(CREATE TABLE alarms(
          id INTEGER PRIMARY KEY,
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          epoch INTEGER NOT NULL,
          kind TEXT NOT NULL,
          reason TEXT NOT NULL DEFAULT '',
          advice TEXT NOT NULL DEFAULT '',
          created TEXT NOT NULL)
        )sql"},
    {0, R"sql(CREATE TABLE bench(
          id INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          value REAL,
          unit TEXT NOT NULL DEFAULT '',
          git_sha TEXT NOT NULL DEFAULT '',
          host TEXT NOT NULL DEFAULT '',
          created TEXT NOT NULL,
          extra_json TEXT NOT NULL DEFAULT '{}')
        )sql"},
    {0, "CREATE INDEX idx_epochs_run ON epochs(run_id)"},
    {0, "CREATE INDEX idx_evals_run ON evals(run_id)"},
    // Without these, every cascade from a deleted run would scan the whole child table.
    {0, "CREATE INDEX idx_alarms_run ON alarms(run_id)"},
    {0, "CREATE INDEX idx_bench_name ON bench(name)"},
    // Version 2: tags select a run into a paper table (before, the name of the suite file that
    // first trained it did). Runs recorded before keep their place in the ablation tables: the
    // suites that used to select them now tag their runs with the table's name.
    {1, R"sql(CREATE TABLE run_tags(
          run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
          tag TEXT NOT NULL,
          UNIQUE(run_id, tag))
        )sql"},
    {1, "CREATE INDEX idx_run_tags_tag ON run_tags(tag)"},
    {1, R"sql(INSERT OR IGNORE INTO run_tags(run_id, tag)
          SELECT id, 'crops' FROM runs
          WHERE suite = 'ablation_crops.lua' OR suite LIKE '%/ablation^_crops.lua' ESCAPE '^')sql"},
    {1, R"sql(INSERT OR IGNORE INTO run_tags(run_id, tag)
          SELECT id, 'batch' FROM runs
          WHERE suite = 'ablation_batch.lua' OR suite LIKE '%/ablation^_batch.lua' ESCAPE '^')sql"},
    {1, R"sql(INSERT OR IGNORE INTO run_tags(run_id, tag)
          SELECT id, 'prototypes' FROM runs
          WHERE suite = 'ablation_prototypes.lua'
             OR suite LIKE '%/ablation^_prototypes.lua' ESCAPE '^')sql"},
    // The code digests a run's hash was made with (shared training code, its method's code).
    {2, "ALTER TABLE runs ADD COLUMN code_json TEXT NOT NULL DEFAULT '{}'"},
};
static_assert(kMigrationSteps[std::size(kMigrationSteps) - 1].from_version == kSchemaVersion - 1,
              "kSchemaVersion must match the last migration step");

constexpr const char* kRunColumns =
    "SELECT id, hash, config_json, method, status, reason, started, finished, git_sha, "
    "torch_version, device, world_size, per_device_batch, host, pid, label, suite, code_json "
    "FROM runs ";

// SQLITE_BUSY / SQLITE_LOCKED, kept apart so write transactions can retry it. Still an Error,
// so when a read hits it, it reports like any other failure.
class BusyError : public Error {
 public:
  using Error::Error;
};

// Enough of a statement to recognise it in an error message without dumping a CREATE TABLE.
std::string sql_excerpt(const std::string& sql) {
  std::string flat;
  for (char c : sql) {
    if (c == '\n' || c == '\r') c = ' ';
    if (c == ' ' && !flat.empty() && flat.back() == ' ') continue;
    flat += c;
  }
  constexpr size_t kMaxChars = 80;
  if (flat.size() > kMaxChars) flat = flat.substr(0, kMaxChars) + "...";
  return flat;
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& path,
                               const std::string& what) {
  const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary_code = rc & 0xff;
  if (primary_code == SQLITE_BUSY || primary_code == SQLITE_LOCKED) {
    throw BusyError(fmt::format("{}: {}: {}", path, what, message));
  }
  if (primary_code == SQLITE_NOTADB) {
    throw InputError(fmt::format("{} is not a swavbench database: {}", path, message));
  }
  // SQLite reports ENOSPC during a write as a generic "disk I/O error" (or, when it noticed
  // itself, "database or disk is full"); say what the user has to fix. The transaction was
  // rolled back, so everything recorded before is intact.
  const bool no_space =
      primary_code == SQLITE_FULL ||
      (primary_code == SQLITE_IOERR && db != nullptr && sqlite3_system_errno(db) == ENOSPC);
  if (no_space) {
    throw Error(fmt::format(
        "{}: {}: the disk is full (No space left on device); nothing recorded before was lost: "
        "free space and run the command again",
        path, what));
  }
  if (primary_code == SQLITE_READONLY) {
    throw InputError(fmt::format(
        "{}: {}: the database is read-only ({}); give --db a writable path, or use a command "
        "that only reads it (db runs, db show, tables, claims, report, export)",
        path, what, message));
  }
  throw Error(fmt::format("{}: {}: {}", path, what, message));
}

// A prepared statement that is finalized on every path, including exceptions.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const std::string& sql)
      : db_(db), path_(path), sql_(sql) {
    const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw_sqlite(db, rc, path, "preparing `" + sql_excerpt(sql) + "`");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value) {
    return checked_bind(sqlite3_bind_int64(stmt_, index, value), index);
  }
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value) {
    return checked_bind(sqlite3_bind_double(stmt_, index, value), index);
  }
  Statement& bind(int index, const std::string& value) {
    // SQLITE_TRANSIENT: callers pass temporaries that die before the statement runs.
    return checked_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(),
                                            SQLITE_TRANSIENT, SQLITE_UTF8),
                        index);
  }

  // True while a result row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, rc, path_, "running `" + sql_excerpt(sql_) + "`");
  }
  void run() {
    while (step()) {
    }
  }

  int64_t int_at(int column) { return sqlite3_column_int64(stmt_, column); }
  double real_at(int column) {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return sqlite3_column_double(stmt_, column);
  }
  std::string text_at(int column) {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }

 private:
  Statement& checked_bind(int rc, int index) {
    if (rc != SQLITE_OK) {
      throw_sqlite(db_, rc, path_,
                   fmt::format("binding parameter {} of `{}`", index, sql_excerpt(sql_)));
    }
    return *this;
  }

  sqlite3* db_;
  std::string path_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
};

template <typename Attempt>
void retry_while_busy(const std::string& path, Attempt&& attempt) {
  const auto deadline = std::chrono::steady_clock::now() + kBusyRetryBudget;
  std::minstd_rand jitter(static_cast<unsigned>(getpid()));
  for (;;) {
    try {
      attempt();
      return;
    } catch (const BusyError& busy) {
      if (std::chrono::steady_clock::now() >= deadline) {
        throw Error(fmt::format("{}: still locked by another process after {} s of retries ({})",
                                path, kBusyRetryBudget.count(), busy.what()));
      }
      // Jittered so two writers that collided do not retry in lockstep.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + jitter() % 45));
    }
  }
}

void rollback_if_open(sqlite3* db) {
  // SQLite rolls back by itself after some errors; a second ROLLBACK would only add noise.
  if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void check_not_newer(const std::string& path, int version) {
  SB_INPUT_CHECK(version <= kSchemaVersion,
                 "{} has schema version {} and was written by a newer swavbench; this build "
                 "understands schema version {}",
                 path, version, kSchemaVersion);
}

// Table name -> its column names in order: what tells our schema from another program's.
using SchemaShape = std::map<std::string, std::vector<std::string>>;

SchemaShape schema_shape(sqlite3* db, const std::string& path) {
  SchemaShape shape;
  Statement tables(db, path,
                   "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                   "'sqlite_%'");
  while (tables.step()) shape[tables.text_at(0)];
  for (auto& [table, columns] : shape) {
    Statement info(db, path, "SELECT name FROM pragma_table_info(?1)");
    info.bind(1, table);
    while (info.step()) columns.push_back(info.text_at(0));
  }
  return shape;
}

// The tables and columns of a swavbench database of each schema version: the migration steps
// replayed on an empty in-memory database, so the check can never drift from the steps.
const SchemaShape& expected_schema_shape(int version) {
  static const std::vector<SchemaShape> shapes = [] {
    std::vector<SchemaShape> out(kSchemaVersion + 1);
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, nullptr);
    SB_CHECK(rc == SQLITE_OK, "cannot open an in-memory SQLite database: {}", sqlite3_errstr(rc));
    for (int v = 1; v <= kSchemaVersion; ++v) {
      for (const MigrationStep& step : kMigrationSteps) {
        if (step.from_version != v - 1) continue;
        const int step_rc = sqlite3_exec(db, step.sql, nullptr, nullptr, nullptr);
        SB_CHECK(step_rc == SQLITE_OK, "replaying migration step `{}`: {}", sql_excerpt(step.sql),
                 sqlite3_errmsg(db));
      }
      out[v] = schema_shape(db, ":memory:");
    }
    sqlite3_close_v2(db);
    return out;
  }();
  return shapes.at(version);
}

// A file whose meta table claims a schema version must have exactly that version's tables and
// columns: another program's database with a `meta` table of its own is refused before anything
// is written to it, as a database without one is (Store::check_not_foreign).
void check_schema_is_ours(sqlite3* db, const std::string& path, int version) {
  const SchemaShape found = schema_shape(db, path);
  const SchemaShape& want = expected_schema_shape(version);
  if (found == want) return;
  std::vector<std::string> differences;
  for (const auto& entry : found)
    if (want.count(entry.first) == 0)
      differences.push_back(
          fmt::format("a table '{}', which swavbench never creates", entry.first));
  for (const auto& [table, columns] : want) {
    const auto it = found.find(table);
    if (it == found.end()) {
      differences.push_back(fmt::format("no table '{}'", table));
    } else if (it->second != columns) {
      differences.push_back(fmt::format("table '{}' with columns ({}) instead of ({})", table,
                                        fmt::join(it->second, ", "), fmt::join(columns, ", ")));
    }
  }
  throw InputError(fmt::format(
      "{} is a SQLite database but not a swavbench database: its meta table says schema version "
      "{}, but it has {}; refusing to use it (give --db a new file or a swavbench database)",
      path, version, fmt::join(differences, "; ")));
}

void check_status(const std::string& status) {
  SB_CHECK(status == kStatusRunning || status == kStatusDone || status == kStatusFailed ||
               status == kStatusInterrupted,
           "unknown run status '{}'", status);
}

void create_parent_directories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  SB_INPUT_CHECK(!error, "cannot create directory {} for results database {}: {}", parent.string(),
                 path, error.message());
}

RunRow read_run(Statement& query) {
  RunRow row;
  row.id = query.int_at(0);
  row.hash = query.text_at(1);
  row.config_json = query.text_at(2);
  row.method = query.text_at(3);
  row.status = query.text_at(4);
  row.reason = query.text_at(5);
  row.started = query.text_at(6);
  row.finished = query.text_at(7);
  row.git_sha = query.text_at(8);
  row.torch_version = query.text_at(9);
  row.device = query.text_at(10);
  row.world_size = static_cast<int>(query.int_at(11));
  row.per_device_batch = static_cast<int>(query.int_at(12));
  row.host = query.text_at(13);
  row.pid = query.int_at(14);
  row.label = query.text_at(15);
  row.suite = query.text_at(16);
  row.code_json = query.text_at(17);
  return row;
}

std::vector<EvalRow> read_evals(Statement& query) {
  std::vector<EvalRow> rows;
  while (query.step()) {
    EvalRow row;
    row.run_id = query.int_at(0);
    row.protocol = query.text_at(1);
    row.metric = query.text_at(2);
    row.value = query.real_at(3);
    row.card_json = query.text_at(4);
    row.created = query.text_at(5);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Every runs column but id and hash, as parameters ?2 to ?17 (insert_run, overwrite_run).
Statement& bind_run_columns(Statement& statement, const RunRow& row) {
  return statement.bind(2, row.config_json)
      .bind(3, row.method)
      .bind(4, row.status)
      .bind(5, row.reason)
      .bind(6, row.started)
      .bind(7, row.finished)
      .bind(8, row.git_sha)
      .bind(9, row.torch_version)
      .bind(10, row.device)
      .bind(11, row.world_size)
      .bind(12, row.per_device_batch)
      .bind(13, row.host)
      .bind(14, row.pid)
      .bind(15, row.label)
      .bind(16, row.suite)
      .bind(17, row.code_json);
}

std::string or_now(const std::string& timestamp) {
  return timestamp.empty() ? utc_now_iso8601() : timestamp;
}

}  // namespace

namespace {

// A file: URI for `path` (sqlite3_open_v2 with SQLITE_OPEN_URI); only the characters that URIs
// give a meaning need escaping.
std::string file_uri(const std::string& path, const std::string& query) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  return uri + "?" + query;
}

// True when nothing can be created next to `path` (a read-only mount, or a folder without write
// permission): a WAL database there cannot get its -shm file.
bool folder_is_read_only(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  return ::access(parent.c_str(), W_OK) != 0 && (errno == EROFS || errno == EACCES);
}

std::string read_only_folder_message(const std::string& path) {
  return fmt::format(
      "cannot write results database {}: its folder is read-only; give --db a path in a writable "
      "folder (or copy the file there), or use a command that only reads it (db runs, db show, "
      "tables, claims, report, export)",
      path);
}

}  // namespace

Store::Store(const std::string& path, StoreAccess access) : path_(path) {
  SB_INPUT_CHECK(!path.empty(), "the results database path is empty");
  std::error_code ignored;
  SB_INPUT_CHECK(!std::filesystem::is_directory(path, ignored),
                 "results database {} is a directory; give the path of a .sqlite file", path);
  const bool read_only = access == StoreAccess::kReadOnly;
  if (read_only) {
    SB_INPUT_CHECK(std::filesystem::exists(path, ignored),
                   "results database {} does not exist (`swavbench run SUITE --db {}` creates it)",
                   path, path);
  } else if (!std::filesystem::exists(path, ignored)) {
    SB_INPUT_CHECK(!folder_is_read_only(path), "{}", read_only_folder_message(path));
    create_parent_directories(path);
  }
  auto open = [&](const std::string& name, int flags) {
    const int rc = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
    if (rc == SQLITE_OK) return;
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    if (!read_only && folder_is_read_only(path)) throw InputError(read_only_folder_message(path));
    throw InputError(fmt::format("cannot open results database {}: {}", path, message));
  };
  // In a read-only folder a WAL database cannot be opened the usual way (SQLite needs to create
  // its -shm file), so it is opened as immutable: nobody can write it through this folder.
  const bool immutable = read_only && folder_is_read_only(path);
  if (read_only) {
    open(file_uri(path, immutable ? "immutable=1" : "mode=ro"),
         SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  } else {
    open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  }
  // The destructor does not run when a constructor throws, so close by hand.
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    // Identify the file before changing anything in it: the first read fails on a file that is
    // not a database, and a foreign SQLite database is refused before the journal mode switch
    // below would rewrite its header.
    const int version = schema_version();
    check_not_newer(path_, version);
    if (version > 0) check_schema_is_ours(db_, path_, version);
    if (version == 0) {
      check_not_foreign();
      SB_INPUT_CHECK(!read_only, "{} is empty: not a swavbench database yet", path_);
    }
    if (read_only && version < kSchemaVersion && !folder_is_read_only(path_)) {
      // An older swavbench database where it can be written: migrate it as the writing
      // commands would, so that reading it after an upgrade needs no extra step.
      sqlite3_close_v2(db_);
      db_ = nullptr;
      open(path, SQLITE_OPEN_READWRITE);
      sqlite3_extended_result_codes(db_, 1);
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    } else if (read_only) {
      SB_INPUT_CHECK(version == kSchemaVersion,
                     "{} has schema version {}, older than this build's {}; migrating it needs "
                     "write access: run any writing command on it (e.g. `swavbench db merge "
                     "COPY.sqlite {}`) in a writable folder",
                     path_, version, kSchemaVersion, path_);
      return;
    }
    // Switching to WAL needs a brief exclusive lock, which processes opening a fresh file at
    // the same moment can contend for.
    retry_while_busy(path_, [&] { exec("PRAGMA journal_mode=WAL"); });
    exec("PRAGMA foreign_keys=ON");
    // In WAL mode NORMAL loses at most the last commits on power loss, never consistency, and
    // skips an fsync per epoch row.
    exec("PRAGMA synchronous=NORMAL");
    migrate();
  } catch (const InputError&) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  } catch (const Error&) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    // SQLite says "unable to open database file" when it cannot create the -shm or -wal file
    // next to the database.
    if (!read_only && folder_is_read_only(path_)) throw InputError(read_only_folder_message(path_));
    throw;
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() { sqlite3_close_v2(db_); }

void Store::exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, path_, "running `" + sql_excerpt(sql) + "`");
}

template <typename Fn>
void Store::write_transaction(Fn&& fn) {
  SB_CHECK(sqlite3_get_autocommit(db_) != 0, "{}: write transactions do not nest", path_);
  retry_while_busy(path_, [&] {
    // IMMEDIATE takes the write lock up front, so a busy database shows up here, before any
    // work, and never as a deadlock between two readers upgrading to writers.
    exec("BEGIN IMMEDIATE");
    try {
      fn();
      exec("COMMIT");
    } catch (...) {
      rollback_if_open(db_);
      throw;
    }
  });
}

int Store::schema_version() {
  Statement has_meta(db_, path_,
                     "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!has_meta.step()) return 0;
  Statement query(db_, path_, "SELECT value FROM meta WHERE key = 'schema_version'");
  SB_INPUT_CHECK(query.step(),
                 "{} is not a swavbench database: its meta table has no schema_version", path_);
  const std::string text = query.text_at(0);
  int version = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  SB_INPUT_CHECK(error == std::errc() && end == text.data() + text.size() && version >= 0,
                 "{} is not a swavbench database: schema_version '{}' is not a version number",
                 path_, text);
  return version;
}

void Store::check_not_foreign() {
  Statement foreign_objects(db_, path_,
                            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'");
  foreign_objects.step();
  SB_INPUT_CHECK(foreign_objects.int_at(0) == 0,
                 "{} is a SQLite database but not a swavbench database (it has no meta table); "
                 "refusing to add tables to it",
                 path_);
}

void Store::migrate() {
  // Checked before taking the write lock so that opening an up-to-date database, the common
  // case, never serialises against other writers.
  const int seen_version = schema_version();
  check_not_newer(path_, seen_version);
  if (seen_version == kSchemaVersion) return;
  write_transaction([&] {
    // Read again under the lock: another process may have migrated in the meantime.
    const int version = schema_version();
    check_not_newer(path_, version);
    if (version == 0) check_not_foreign();
    for (int from = version; from < kSchemaVersion; ++from) {
      for (const MigrationStep& step : kMigrationSteps) {
        if (step.from_version == from) exec(step.sql);
      }
      Statement(db_, path_, "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?1)")
          .bind(1, from + 1)
          .run();
    }
  });
}

int64_t Store::insert_run(RunRow& row) {
  if (row.started.empty()) row.started = utc_now_iso8601();
  if (row.status.empty()) row.status = kStatusRunning;
  check_status(row.status);
  int64_t id = 0;
  write_transaction([&] {
    Statement insert(
        db_, path_,
        "INSERT INTO runs(hash, config_json, method, status, reason, started, "
        "finished, git_sha, torch_version, device, world_size, per_device_batch, "
        "host, pid, label, suite, code_json) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)");
    bind_run_columns(insert.bind(1, row.hash), row).run();
    id = sqlite3_last_insert_rowid(db_);
  });
  row.id = id;
  return id;
}

std::optional<RunRow> Store::run_by_hash(const std::string& hash) {
  Statement query(db_, path_, std::string(kRunColumns) + "WHERE hash = ?1");
  query.bind(1, hash);
  if (!query.step()) return std::nullopt;
  return read_run(query);
}

std::optional<RunRow> Store::run_by_id(int64_t id) {
  Statement query(db_, path_, std::string(kRunColumns) + "WHERE id = ?1");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return read_run(query);
}

std::vector<RunRow> Store::runs(const std::string& status_filter) {
  Statement query(db_, path_,
                  std::string(kRunColumns) + "WHERE ?1 = '' OR status = ?1 ORDER BY id");
  query.bind(1, status_filter);
  std::vector<RunRow> rows;
  while (query.step()) rows.push_back(read_run(query));
  return rows;
}

void Store::set_status(int64_t run_id, const std::string& status, const std::string& reason) {
  check_status(status);
  const std::string finished = status == kStatusRunning ? "" : utc_now_iso8601();
  write_transaction([&] {
    Statement(db_, path_, "UPDATE runs SET status = ?2, reason = ?3, finished = ?4 WHERE id = ?1")
        .bind(1, run_id)
        .bind(2, status)
        .bind(3, reason)
        .bind(4, finished)
        .run();
    SB_CHECK(sqlite3_changes(db_) == 1, "{}: no run with id {}", path_, run_id);
  });
}

void Store::claim_run(int64_t run_id, int64_t pid, const std::string& host) {
  write_transaction([&] {
    Statement(db_, path_,
              "UPDATE runs SET status = ?2, pid = ?3, host = ?4, reason = '', finished = '' "
              "WHERE id = ?1")
        .bind(1, run_id)
        .bind(2, std::string(kStatusRunning))
        .bind(3, pid)
        .bind(4, host)
        .run();
    SB_CHECK(sqlite3_changes(db_) == 1, "{}: no run with id {}", path_, run_id);
  });
}

void Store::reset_run(int64_t run_id, const std::string& config_json) {
  // A forced rerun is a new run as far as timing goes, so `started` restarts too.
  const std::string started = utc_now_iso8601();
  write_transaction([&] {
    for (const char* child_delete :
         {"DELETE FROM epochs WHERE run_id = ?1", "DELETE FROM evals WHERE run_id = ?1",
          "DELETE FROM alarms WHERE run_id = ?1", "DELETE FROM artifacts WHERE run_id = ?1"}) {
      Statement(db_, path_, child_delete).bind(1, run_id).run();
    }
    Statement(db_, path_,
              "UPDATE runs SET config_json = ?2, status = ?3, reason = '', finished = '', "
              "started = ?4 WHERE id = ?1")
        .bind(1, run_id)
        .bind(2, config_json)
        .bind(3, std::string(kStatusRunning))
        .bind(4, started)
        .run();
    SB_CHECK(sqlite3_changes(db_) == 1, "{}: no run with id {}", path_, run_id);
  });
}

void Store::overwrite_run(int64_t run_id, const RunRow& row) {
  check_status(row.status);
  write_transaction([&] {
    for (const char* child_delete :
         {"DELETE FROM epochs WHERE run_id = ?1", "DELETE FROM evals WHERE run_id = ?1",
          "DELETE FROM alarms WHERE run_id = ?1", "DELETE FROM artifacts WHERE run_id = ?1",
          "DELETE FROM run_tags WHERE run_id = ?1"}) {
      Statement(db_, path_, child_delete).bind(1, run_id).run();
    }
    Statement update(db_, path_,
                     "UPDATE runs SET config_json = ?2, method = ?3, status = ?4, reason = ?5, "
                     "started = ?6, finished = ?7, git_sha = ?8, torch_version = ?9, "
                     "device = ?10, world_size = ?11, per_device_batch = ?12, host = ?13, "
                     "pid = ?14, label = ?15, suite = ?16, code_json = ?17 WHERE id = ?1");
    bind_run_columns(update.bind(1, run_id), row).run();
    SB_CHECK(sqlite3_changes(db_) == 1, "{}: no run with id {}", path_, run_id);
  });
}

void Store::add_epoch(const EpochRow& row) {
  write_transaction([&] {
    Statement(db_, path_,
              "INSERT OR REPLACE INTO epochs(run_id, epoch, loss, lr, img_per_s, data_wait, "
              "peak_mem, extra_json) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
        .bind(1, row.run_id)
        .bind(2, row.epoch)
        .bind(3, row.loss)
        .bind(4, row.lr)
        .bind(5, row.img_per_s)
        .bind(6, row.data_wait)
        .bind(7, row.peak_mem)
        .bind(8, row.extra_json)
        .run();
  });
}

std::vector<EpochRow> Store::epochs(int64_t run_id) {
  Statement query(db_, path_,
                  "SELECT run_id, epoch, loss, lr, img_per_s, data_wait, peak_mem, extra_json "
                  "FROM epochs WHERE run_id = ?1 ORDER BY epoch");
  query.bind(1, run_id);
  std::vector<EpochRow> rows;
  while (query.step()) {
    EpochRow row;
    row.run_id = query.int_at(0);
    row.epoch = static_cast<int>(query.int_at(1));
    row.loss = query.real_at(2);
    row.lr = query.real_at(3);
    row.img_per_s = query.real_at(4);
    row.data_wait = query.real_at(5);
    row.peak_mem = query.real_at(6);
    row.extra_json = query.text_at(7);
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

void insert_eval(sqlite3* db, const std::string& path, int64_t run_id, const std::string& protocol,
                 const EvalRow& row, const std::string& created) {
  Statement(db, path,
            "INSERT INTO evals(run_id, protocol, metric, value, card_json, created) "
            "VALUES(?1, ?2, ?3, ?4, ?5, ?6)")
      .bind(1, run_id)
      .bind(2, protocol)
      .bind(3, row.metric)
      .bind(4, row.value)
      .bind(5, row.card_json)
      .bind(6, created)
      .run();
}

}  // namespace

void Store::add_eval(const EvalRow& row) {
  const std::string created = or_now(row.created);
  write_transaction([&] { insert_eval(db_, path_, row.run_id, row.protocol, row, created); });
}

void Store::replace_evals(int64_t run_id, const std::string& protocol,
                          const std::vector<EvalRow>& rows) {
  // Rows may leave run_id/protocol unset, but rows naming another run or protocol would escape
  // the delete and duplicate on the next rerun.
  for (const EvalRow& row : rows) {
    SB_CHECK(row.run_id == 0 || row.run_id == run_id,
             "replace_evals for run {} got a row for run {}", run_id, row.run_id);
    SB_CHECK(row.protocol.empty() || row.protocol == protocol,
             "replace_evals for protocol '{}' got a row for protocol '{}'", protocol, row.protocol);
  }
  const std::string now = utc_now_iso8601();
  write_transaction([&] {
    Statement(db_, path_, "DELETE FROM evals WHERE run_id = ?1 AND protocol = ?2")
        .bind(1, run_id)
        .bind(2, protocol)
        .run();
    for (const EvalRow& row : rows) {
      insert_eval(db_, path_, run_id, protocol, row, row.created.empty() ? now : row.created);
    }
  });
}

std::vector<EvalRow> Store::evals(int64_t run_id) {
  Statement query(db_, path_,
                  "SELECT run_id, protocol, metric, value, card_json, created FROM evals "
                  "WHERE run_id = ?1 ORDER BY id");
  query.bind(1, run_id);
  return read_evals(query);
}

std::vector<EvalRow> Store::evals_for(int64_t run_id, const std::string& protocol) {
  Statement query(db_, path_,
                  "SELECT run_id, protocol, metric, value, card_json, created FROM evals "
                  "WHERE run_id = ?1 AND protocol = ?2 ORDER BY id");
  query.bind(1, run_id).bind(2, protocol);
  return read_evals(query);
}

void Store::add_artifact(const ArtifactRow& row) {
  write_transaction([&] {
    Statement(db_, path_,
              "INSERT OR REPLACE INTO artifacts(run_id, kind, path, sha256) "
              "VALUES(?1, ?2, ?3, ?4)")
        .bind(1, row.run_id)
        .bind(2, row.kind)
        .bind(3, row.path)
        .bind(4, row.sha256)
        .run();
  });
}

std::vector<ArtifactRow> Store::artifacts(int64_t run_id) {
  Statement query(db_, path_,
                  "SELECT run_id, kind, path, sha256 FROM artifacts WHERE run_id = ?1 "
                  "ORDER BY rowid");
  query.bind(1, run_id);
  std::vector<ArtifactRow> rows;
  while (query.step()) {
    ArtifactRow row;
    row.run_id = query.int_at(0);
    row.kind = query.text_at(1);
    row.path = query.text_at(2);
    row.sha256 = query.text_at(3);
    rows.push_back(std::move(row));
  }
  return rows;
}

void Store::add_tags(int64_t run_id, const std::vector<std::string>& tags) {
  if (tags.empty()) return;
  write_transaction([&] {
    for (const std::string& tag : tags) {
      Statement(db_, path_, "INSERT OR IGNORE INTO run_tags(run_id, tag) VALUES(?1, ?2)")
          .bind(1, run_id)
          .bind(2, tag)
          .run();
    }
  });
}

std::vector<std::string> Store::tags(int64_t run_id) {
  Statement query(db_, path_, "SELECT tag FROM run_tags WHERE run_id = ?1 ORDER BY tag");
  query.bind(1, run_id);
  std::vector<std::string> tags;
  while (query.step()) tags.push_back(query.text_at(0));
  return tags;
}

void Store::add_alarm(const AlarmRow& row) {
  const std::string created = or_now(row.created);
  write_transaction([&] {
    Statement(db_, path_,
              "INSERT INTO alarms(run_id, epoch, kind, reason, advice, created) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(1, row.run_id)
        .bind(2, row.epoch)
        .bind(3, row.kind)
        .bind(4, row.reason)
        .bind(5, row.advice)
        .bind(6, created)
        .run();
  });
}

std::vector<AlarmRow> Store::alarms(int64_t run_id) {
  Statement query(db_, path_,
                  "SELECT run_id, epoch, kind, reason, advice, created FROM alarms "
                  "WHERE run_id = ?1 ORDER BY id");
  query.bind(1, run_id);
  std::vector<AlarmRow> rows;
  while (query.step()) {
    AlarmRow row;
    row.run_id = query.int_at(0);
    row.epoch = static_cast<int>(query.int_at(1));
    row.kind = query.text_at(2);
    row.reason = query.text_at(3);
    row.advice = query.text_at(4);
    row.created = query.text_at(5);
    rows.push_back(std::move(row));
  }
  return rows;
}

void Store::add_bench(const BenchRow& row) {
  const std::string created = or_now(row.created);
  write_transaction([&] {
    Statement(db_, path_,
              "INSERT INTO bench(name, value, unit, git_sha, host, created, extra_json) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(1, row.name)
        .bind(2, row.value)
        .bind(3, row.unit)
        .bind(4, row.git_sha)
        .bind(5, row.host)
        .bind(6, created)
        .bind(7, row.extra_json)
        .run();
  });
}

std::vector<BenchRow> Store::bench_rows(const std::string& name_filter) {
  Statement query(db_, path_,
                  "SELECT name, value, unit, git_sha, host, created, extra_json FROM bench "
                  "WHERE ?1 = '' OR name = ?1 ORDER BY id");
  query.bind(1, name_filter);
  std::vector<BenchRow> rows;
  while (query.step()) {
    BenchRow row;
    row.name = query.text_at(0);
    row.value = query.real_at(1);
    row.unit = query.text_at(2);
    row.git_sha = query.text_at(3);
    row.host = query.text_at(4);
    row.created = query.text_at(5);
    row.extra_json = query.text_at(6);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string Store::export_csv() {
  Statement query(db_, path_,
                  "SELECT r.id, r.hash, r.method, r.label, r.status, e.protocol, e.metric, "
                  "e.value FROM runs r JOIN evals e ON e.run_id = r.id ORDER BY r.id, e.id");
  std::string csv = "run_id,hash,method,label,status,protocol,metric,value\n";
  while (query.step()) {
    csv += fmt::format("{},{},{},{},{},{},{},{}\n", query.int_at(0), csv_field(query.text_at(1)),
                       csv_field(query.text_at(2)), csv_field(query.text_at(3)),
                       csv_field(query.text_at(4)), csv_field(query.text_at(5)),
                       csv_field(query.text_at(6)), query.real_at(7));
  }
  return csv;
}

RunRow find_run(Store& store, const std::string& name, const std::string& command) {
  const std::string& db = store.path();
  SB_INPUT_CHECK(!name.empty(), "{}: name a run by its id or hash (swavbench db --db {} runs)",
                 command, db);
  // Digits name a run id first; a hash prefix may be all digits too, so it is tried next.
  const bool digits =
      std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); });
  if (digits) {
    int64_t id = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (error == std::errc() && end == name.data() + name.size()) {
      if (auto row = store.run_by_id(id)) return *row;
    }
  }
  const bool hex = std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isdigit(c) || (c >= 'a' && c <= 'f');
  });
  SB_INPUT_CHECK(hex,
                 "{}: '{}' is neither a run id (a number like 3) nor a hash prefix (hex digits "
                 "like 3fa2); list the runs with `swavbench db --db {} runs`",
                 command, name, db);
  std::vector<RunRow> matches;
  for (const RunRow& r : store.runs())
    if (r.hash.rfind(name, 0) == 0) matches.push_back(r);
  SB_INPUT_CHECK(!matches.empty() || !digits,
                 "{}: run #{} is not in {}, and no run's hash starts with '{}' (swavbench db --db "
                 "{} runs)",
                 command, name, db, name, db);
  SB_INPUT_CHECK(!matches.empty(), "{}: no run of {} has a hash starting with '{}'", command, db,
                 name);
  SB_INPUT_CHECK(matches.size() == 1,
                 "{}: {} runs of {} have hashes starting with '{}' (#{} [{}], #{} [{}]...): "
                 "give more of the hash or the run id",
                 command, matches.size(), db, name, matches[0].id, matches[0].hash, matches[1].id,
                 matches[1].hash);
  return matches[0];
}

}  // namespace swavbench
