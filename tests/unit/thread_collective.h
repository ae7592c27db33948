// Test helper: a Collective over threads of one process, so numerics tests can run "ranks"
// side by side and compare distributed results with single-process ones without sockets.
// (Real multi-process runs over loopback are in test_dist.cpp.)
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness/dist/collective.h"

namespace swavbench::test_support {

// A Collective over threads of one process: lets a test run "ranks" side by side. Every
// operation is one exchange: each rank deposits a tensor, the last to arrive publishes all of
// them, and each rank combines what was published.

struct ThreadGroup {
  explicit ThreadGroup(int world) : world_size(world), slots(static_cast<size_t>(world)) {}
  const int world_size;
  std::mutex mutex;
  std::condition_variable cv;
  int arrived = 0;
  int64_t generation = 0;
  std::vector<torch::Tensor> slots;
  std::vector<torch::Tensor> published;
};

class ThreadCollective final : public Collective {
 public:
  ThreadCollective(int rank, ThreadGroup* group) : rank_(rank), group_(group) {}
  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_size; }
  void all_reduce_sum(torch::Tensor& tensor) override {
    std::vector<torch::Tensor> all = exchange(tensor);
    torch::Tensor sum = all[0].clone();
    for (size_t r = 1; r < all.size(); ++r) sum += all[r];
    tensor.copy_(sum);
  }
  torch::Tensor all_gather_cat(const torch::Tensor& tensor) override {
    return torch::cat(exchange(tensor));
  }
  void broadcast(torch::Tensor& tensor, int root) override {
    std::vector<torch::Tensor> all = exchange(tensor);
    tensor.copy_(all[static_cast<size_t>(root)]);
  }
  void barrier() override { exchange(torch::zeros({1})); }

 private:
  std::vector<torch::Tensor> exchange(const torch::Tensor& tensor) {
    std::unique_lock<std::mutex> lock(group_->mutex);
    const int64_t generation = group_->generation;
    group_->slots[static_cast<size_t>(rank_)] = tensor.detach().clone();
    if (++group_->arrived == group_->world_size) {
      // The next exchange can only publish once every rank, this one included, arrives again,
      // so the waiting ranks read this result safely.
      group_->published = group_->slots;
      group_->arrived = 0;
      ++group_->generation;
      group_->cv.notify_all();
    } else {
      group_->cv.wait(lock, [&] { return group_->generation != generation; });
    }
    return group_->published;
  }

  int rank_;
  ThreadGroup* group_;
};

// Runs fn(rank, collective) on `world` threads; fails the test with the first rank's error.
template <typename Fn>
void run_ranks(int world, Fn fn) {
  ThreadGroup group(world);
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      ThreadCollective collective(r, &group);
      try {
        fn(r, collective);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r)
    ASSERT_TRUE(errors[static_cast<size_t>(r)].empty()) << "rank " << r << ": " << errors[r];
}

}  // namespace swavbench::test_support
