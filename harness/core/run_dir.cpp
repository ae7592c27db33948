#include "harness/core/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <vector>

#include "harness/core/check.h"

namespace swavbench {

namespace fs = std::filesystem;

RunDir::RunDir(const std::string& runs_dir, const std::string& hash)
    : path_((fs::path(runs_dir) / hash).string()) {}

RunDir::RunDir(std::string path) : path_(std::move(path)) {}

std::string RunDir::runs_dir_for_db(const std::string& db_path) {
  const fs::path db(db_path);
  fs::path parent = db.parent_path();
  if (parent.empty()) parent = ".";
  return (parent / "runs" / db.filename()).string();
}

std::string RunDir::db_folder_of(const std::string& runs_dir) {
  return fs::path(runs_dir).parent_path().parent_path().string();
}

RunDir RunDir::for_reading(const std::string& runs_dir, const std::string& hash,
                           const std::string& recorded_checkpoint) {
  const RunDir own(runs_dir, hash);
  std::vector<RunDir> candidates{own};
  if (!recorded_checkpoint.empty())
    candidates.emplace_back(fs::path(recorded_checkpoint).parent_path().string());
  candidates.emplace_back((fs::path(db_folder_of(runs_dir)) / "runs" / hash).string());
  std::error_code ignored;
  for (const RunDir& dir : candidates)
    if (fs::exists(dir.checkpoint_path(), ignored)) return dir;
  return own;
}

std::string RunDir::lock_path() const { return path_ + "/lock"; }

std::string RunDir::checkpoint_path() const { return path_ + "/checkpoint.pt"; }

std::string RunDir::rank_state_path(int rank) const {
  return fmt::format("{}/method_rank{}.pt", path_, rank);
}

bool RunDir::is_locked() const {
  const int fd = ::open(lock_path().c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  // flock locks belong to open file descriptions: this probe conflicts with a holder even in
  // the same process, and releases its own lock when closed.
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return !free;
}

void RunDir::clear_training_state() const {
  std::error_code ignored;
  fs::remove(checkpoint_path(), ignored);
  if (!fs::is_directory(path_, ignored)) return;
  static const std::regex rank_state(R"(method_rank[0-9]+\.pt)");
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(path_, ignored))
    if (std::regex_match(entry.path().filename().string(), rank_state)) stale.push_back(entry);
  for (const auto& path : stale) fs::remove(path, ignored);
}

RunDirLock::RunDirLock(const RunDir& dir, const std::string& holder_note) {
  fs::create_directories(dir.path());
  fd_ = ::open(dir.lock_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SB_CHECK(fd_ >= 0, "cannot open lock file {}", dir.lock_path());
  held_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  if (held_) {
    // Best effort: the note only improves another process's message, the flock is the lock.
    const std::string text = holder_note + "\n";
    if (::ftruncate(fd_, 0) == 0) {
      const ssize_t written = ::pwrite(fd_, text.data(), text.size(), 0);
      (void)written;
    }
    return;
  }
  std::string text(512, '\0');
  const ssize_t got = ::pread(fd_, text.data(), text.size(), 0);
  text.resize(got > 0 ? static_cast<size_t>(got) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  holder_ = text.empty() ? "a process that is starting" : text;
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

}  // namespace swavbench
