#include "harness/core/files.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/core/check.h"
#include "harness/core/fault.h"

extern char** environ;

namespace swavbench {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + ".XXXXXX")).string();
  SB_CHECK(::mkdtemp(pattern.data()) != nullptr, "cannot create a temporary folder in {}",
           fs::temp_directory_path().string());
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void check_input_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  SB_INPUT_CHECK(fs::exists(path, ec), "{} {} not found", what, path);
  SB_INPUT_CHECK(!fs::is_directory(path, ec), "{} {} is a directory; give the path of the file",
                 what, path);
}

std::string read_file(const std::string& path) {
  check_input_file(path, "file");
  std::ifstream in(path, std::ios::binary);
  SB_INPUT_CHECK(in.good(), "cannot read {}", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  SB_CHECK(out.good(), "cannot write {}", path);
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](int fd, const char* doing) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    std::string reason = std::strerror(err);
    if (err == ENOSPC || err == EDQUOT) reason += ": the disk is full";
    throw Error(fmt::format("{}: cannot {} ({}); the previous file, if any, is unchanged", path,
                            doing, reason));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(fd, "create its temporary file");
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;  // a write that makes no progress: nothing more fits
      fail(fd, "write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail(fd, "flush to the disk");
  if (::close(fd) != 0) fail(-1, "close");
  fault_point("atomic-write-before-rename");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(-1, "rename its temporary file");
}

int run_process(const std::vector<std::string>& argv, const std::string& out_path,
                const std::string& err_path) {
  SB_CHECK(!argv.empty(), "run_process needs a program");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err_path == out_path) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace swavbench
