// RunDir: the one owner of a run folder's layout. Every pretraining run has a folder named by
// its hash under the runs folder of its results database, and each database has its own runs
// folder, named after the database file:
//
//   <db folder>/runs/<db file name>/<hash>/lock
//       an exclusive flock, held by the process training the run; the kernel drops it however
//       that process dies, which is how a later invocation tells a killed run from one in
//       progress. The holder writes who it is (pid, host, database, start) into the file, so a
//       process refused the lock can name it
//   <db folder>/runs/<db file name>/<hash>/checkpoint.pt      rank 0's checkpoint (model,
//       optimiser, method state, counters), replaced atomically
//   <db folder>/runs/<db file name>/<hash>/method_rank<N>.pt  rank N's own method state
//
// One runs folder per database, because a finished run's checkpoint is an artifact its database
// recorded (path and digest): two databases kept in one folder that train the same config
// (`--force`, or a second database that has not seen it) must not rewrite each other's
// artifacts. Sharing the folder would need cross-database bookkeeping (who recorded which digest)
// for what is only a disk-space saving; a folder per database needs none, and deleting a database
// and its runs folder together loses nothing of another's. Databases written before this layout
// keep their finished runs' checkpoints in <db folder>/runs/<hash>/, which for_reading finds.
//
// Torch-free: the trainer, the driver, the distributed launcher and the CLI all ask it.
#pragma once

#include <string>

namespace swavbench {

class RunDir {
 public:
  RunDir(const std::string& runs_dir, const std::string& hash);
  explicit RunDir(std::string path);

  // The runs folder that belongs to a results database: runs/<db file name> next to the
  // database file.
  static std::string runs_dir_for_db(const std::string& db_path);
  // The inverse's folder: where the database of `runs_dir` lies (<db folder>), whose shared
  // files (the generated VOC sets under datasets/) all its databases use.
  static std::string db_folder_of(const std::string& runs_dir);

  // The folder that holds a finished run's checkpoint, the first of these whose checkpoint
  // exists: RunDir(runs_dir, hash); the folder of `recorded_checkpoint`, the path the run's
  // database recorded (a merged database's runs stay in their shards' folders); the folder of
  // the earlier layout shared by every database in the folder (<runs_dir>/../<hash>, for runs
  // finished before the runs folder was per database). Else RunDir(runs_dir, hash). The weights
  // are checked against the run's recorded digest by whoever loads them.
  static RunDir for_reading(const std::string& runs_dir, const std::string& hash,
                            const std::string& recorded_checkpoint);

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
// folder. Once held, the lock file says who holds it: `holder_note` (e.g. "pid 12 on node3,
// training into results/a.sqlite since 2026-12-05T20:00:00Z"). Not copyable: the lock lives
// with the open descriptor.
class RunDirLock {
 public:
  RunDirLock(const RunDir& dir, const std::string& holder_note);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

  bool held() const { return held_; }
  // When not held: what the process holding the lock wrote, or "a process that is starting"
  // while it has not written yet.
  const std::string& holder() const { return holder_; }

 private:
  int fd_ = -1;
  bool held_ = false;
  std::string holder_;
};

}  // namespace swavbench
