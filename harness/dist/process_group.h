// Multi-process plumbing: where this process sits in a job (read from torchrun's or SLURM's
// environment), a Collective backed by a c10d process group (Gloo on CPU, NCCL on CUDA), and a
// local launcher that starts N ranks on this machine (tests, `swavbench run --nproc N`).
//
// LibTorch's C++ API has no torch.distributed front end, so this talks to c10d directly: a
// TCPStore for the rendezvous (rank 0 serves it) and ProcessGroupGloo / ProcessGroupNCCL for the
// collectives. c10d's API moved between LibTorch 1.13 (ProcessGroup) and 2.x (Backend); the
// difference stays inside process_group.cpp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "harness/dist/collective.h"

namespace swavbench {

// Where this process sits in a distributed job.
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool from_env = false;        // true when a launcher (torchrun or SLURM) set the values
  std::string source = "none";  // "torchrun" | "slurm" | "none"
};

// Reads the job layout from the environment, in this order:
//   torchrun (or any launcher that sets RANK and WORLD_SIZE): RANK, WORLD_SIZE, LOCAL_RANK
//     (default: RANK, right for the one-node case people launch by hand), MASTER_ADDR (default
//     127.0.0.1), MASTER_PORT (default 29500);
//   SLURM (SLURM_PROCID and SLURM_NTASKS): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (default 0),
//     MASTER_ADDR if set, else the first host of SLURM_NODELIST (or SLURM_JOB_NODELIST), and
//     MASTER_PORT (default 29500);
//   otherwise a single process (source "none").
// A malformed or out-of-range value throws InputError naming the variable.
DistEnv read_dist_env();

// The first host of a SLURM node list: "node1" -> "node1", "node[01-04]" -> "node01",
// "node[3,1]" -> "node3", "a,b" -> "a", "gpu[2-3]-ib,cpu1" -> "gpu2-ib". Throws InputError naming
// `variable` for an empty or malformed list.
std::string first_slurm_host(const std::string& nodelist,
                             const std::string& variable = "SLURM_NODELIST");

struct ProcessGroupOptions {
  // How long rank 0's TCPStore waits for every rank to arrive, and how long the others wait for
  // it: a rank that never starts fails the job after this instead of hanging it.
  std::chrono::milliseconds rendezvous_timeout{std::chrono::seconds(60)};
  // How long one collective may wait for its peers. A rank that dies usually closes its sockets
  // and the others fail at once; this bounds the case where a peer is alive but stuck. PyTorch's
  // default (30 min) is generous for slow first iterations; 10 min is plenty for this harness.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// Whether the linked LibTorch offers each backend (decided at compile time).
bool gloo_available();
bool nccl_available();
// "nccl" for CUDA devices, "gloo" otherwise (the same default as torch.distributed).
std::string default_backend(const torch::Device& device);

// A Collective over a c10d process group. Construction is the rendezvous: every rank of `env`
// must construct one with the same backend and master address/port. Collectives must be called
// in the same order on every rank (as in torch.distributed).
//
// Failures surface as swavbench::Error:
//   "rank R: rendezvous with ADDR:PORT failed (world size W, timeout N s): <c10d message>"
//   "rank R: collective failed (another rank died or timed out after N s): <c10d message>"
// Unavailable backends and bad arguments throw InputError. Constructing one ignores SIGPIPE
// (unless the program handles it), as Python does: Gloo's writes to a rank that just died would
// otherwise kill this one before the error above can be reported.
//
// With NCCL, tensors must be on the CUDA device this rank uses (cuda:local_rank by convention),
// and wait() only orders the current CUDA stream after the collective; a dead peer is detected by
// c10d's watchdog (TORCH_NCCL_ASYNC_ERROR_HANDLING / TORCH_NCCL_BLOCKING_WAIT govern how).
class ProcessGroupCollective final : public Collective {
 public:
  ProcessGroupCollective(const DistEnv& env, const std::string& backend = "gloo",
                         const ProcessGroupOptions& options = {});
  ~ProcessGroupCollective() override;
  ProcessGroupCollective(const ProcessGroupCollective&) = delete;
  ProcessGroupCollective& operator=(const ProcessGroupCollective&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  const std::string& backend() const { return backend_; }

  void all_reduce_sum(torch::Tensor& tensor) override;
  torch::Tensor all_gather_cat(const torch::Tensor& tensor) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  void barrier() override;
  // Through the TCPStore that rank 0 serves: a reader's wait has no collective timeout, and a
  // dead rank 0 closes the store's socket, which fails it at once.
  void post_to_all(const std::string& text) override;
  std::string wait_for_post(std::chrono::milliseconds timeout) override;
  void wait_until_read(std::chrono::milliseconds timeout) override;

 private:
  int64_t posts_ = 0;  // messages posted (rank 0) or read (others) so far
  struct Impl;         // the c10d objects; keeps c10d and Gloo headers out of this header
  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int world_size_ = 1;
  std::string backend_;
  ProcessGroupOptions options_;
};

// A free TCP port on 127.0.0.1 (binds port 0 and reads the port back). Another process may take
// it before it is used; good enough for tests and local launches.
int free_tcp_port();

// Starts `nproc` copies of `argv` (argv[0] looked up in PATH) on this machine with RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and MASTER_PORT=`master_port` set (and
// OMP_NUM_THREADS = cores / nproc when unset, so the ranks do not oversubscribe the CPU), and
// waits for all of them. When one exits non-zero the others get `grace` to finish (they usually
// fail on their own when their next collective breaks), then SIGTERM, then SIGKILL 5 s later.
// Returns the first non-zero exit code (128 + signal for a rank killed by a signal), or 0;
// `exit_codes`, when given, receives every rank's code in rank order, and `pids` their process
// ids (a run's store row names the pid of the rank that trained it).
int spawn_local_ranks(int nproc, const std::vector<std::string>& argv, int master_port,
                      std::chrono::milliseconds grace = std::chrono::seconds(10),
                      std::vector<int>* exit_codes = nullptr, std::vector<int>* pids = nullptr);

}  // namespace swavbench
