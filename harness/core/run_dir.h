// RunDir: the one owner of a run folder's layout. Every pretraining run has a folder named by
// its hash under the runs folder of its results database:
//
//   <db folder>/runs/<hash>/lock               an exclusive flock, held by the process training
//                                              the run; the kernel drops it however that process
//                                              dies, which is how a later invocation tells a
//                                              killed run from one in progress
//   <db folder>/runs/<hash>/checkpoint.pt      rank 0's checkpoint (model, optimiser, method
//                                              state, counters), replaced atomically
//   <db folder>/runs/<hash>/method_rank<N>.pt  rank N's own method state (N >= 1)
//
// Torch-free: the trainer, the driver, the distributed launcher and the CLI all ask it.
#pragma once

#include <string>

namespace swavbench {

class RunDir {
 public:
  RunDir(const std::string& runs_dir, const std::string& hash);
  explicit RunDir(std::string path);

  // The runs folder that belongs to a results database: "runs" next to the database file.
  static std::string runs_dir_for_db(const std::string& db_path);

  const std::string& path() const { return path_; }
  std::string lock_path() const;
  std::string checkpoint_path() const;
  std::string rank_state_path(int rank) const;

  // Whether a live process holds the run's lock. Never creates anything: a folder or lock file
  // that does not exist is not locked.
  bool is_locked() const;

  // Removes the checkpoint and every rank's state file, so the next training starts from
  // scratch (a run this database has never seen, or --force).
  void clear_training_state() const;

 private:
  std::string path_;
};

// Holds a RunDir's lock for its lifetime, if it could take it without waiting. Creates the run
// folder. Not copyable: the lock lives with the open descriptor.
class RunDirLock {
 public:
  explicit RunDirLock(const RunDir& dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace swavbench
