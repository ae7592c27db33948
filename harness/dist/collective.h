// The collectives that distributed algorithms need, behind one small interface so that numerics
// code (Sinkhorn, gradient averaging, SyncBatchNorm) is written once: LocalCollective is the
// single-process identity; harness/dist fills it with c10d process groups (Gloo / NCCL).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <string>

namespace swavbench {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In-place sum over all ranks.
  virtual void all_reduce_sum(torch::Tensor& tensor) = 0;
  // Every rank's `tensor` (same shape everywhere) concatenated along dim 0, in rank order.
  virtual torch::Tensor all_gather_cat(const torch::Tensor& tensor) = 0;
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;

  // Messages from rank 0 to every other rank, read in the order posted. A reader may wait up to
  // `timeout` (the ranks that idle while rank 0 evaluates, for hours), which a collective cannot
  // do: Gloo bounds every operation by the group's timeout. The defaults go through broadcast
  // (their wait is then bounded by the collective timeout); ProcessGroupCollective uses its store.
  virtual void post_to_all(const std::string& text);                     // rank 0
  virtual std::string wait_for_post(std::chrono::milliseconds timeout);  // ranks > 0
  // Rank 0: returns once every other rank has read every message posted so far, or throws
  // after `timeout`. Rank 0 calls it before it exits, since its exit may take the messages
  // with it (ProcessGroupCollective's store lives in rank 0). The defaults need no wait: a
  // broadcast returns on rank 0 only once the readers have it.
  virtual void wait_until_read(std::chrono::milliseconds /*timeout*/) {}
};

class LocalCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(torch::Tensor&) override {}
  torch::Tensor all_gather_cat(const torch::Tensor& tensor) override { return tensor; }
  void broadcast(torch::Tensor&, int) override {}
  void barrier() override {}
};

// The process-wide single-process instance.
Collective& local_collective();

}  // namespace swavbench
