// Files and child processes, written once for every room: a temporary folder that removes
// itself, reading and writing a whole file, and running a program with its output in files
// (gnuplot for the plots, the bench/ executables for `swavbench bench`). Torch-free.
#pragma once

#include <string>
#include <vector>

namespace swavbench {

// A fresh folder under the system's temporary directory (<tmp>/<prefix>.XXXXXX), removed with
// everything in it when the object goes, however the scope is left.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "swavbench");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The whole file; an InputError naming the path when it cannot be opened.
// A file the user named (a CSV, a baseline, a script): an InputError naming `what` and the
// path when it does not exist or is a directory (an ifstream opens a directory and reads
// nothing, which would surface later as "empty").
void check_input_file(const std::string& path, const std::string& what);

std::string read_file(const std::string& path);

// Writes (truncates) the file; an Error naming the path when it cannot be written in full.
void write_file(const std::string& path, const std::string& text);

// Replaces `path` with `bytes` or leaves it as it was: writes a temporary file next to it with
// checked writes, flushes it to the disk (fsync) and renames it over `path`. On failure removes
// the temporary file and throws an Error naming the path and the reason ("no space left on
// device: the disk is full" for ENOSPC).
void write_file_atomically(const std::string& path, const std::string& bytes);

// Runs argv (argv[0] a path, or a program name looked up in PATH) with standard input from
// /dev/null, standard output to out_path and standard error to err_path (the same path puts both
// in one file, in order). Returns the exit status, 128 + the signal number when a signal ended
// it, -1 when it could not be started.
int run_process(const std::vector<std::string>& argv, const std::string& out_path,
                const std::string& err_path);

}  // namespace swavbench
