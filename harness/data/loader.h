// BatchLoader: a background thread that gathers (and, for ImageFolder, decodes with `workers`
// threads) the next batches while the trainer computes, then runs the batch transform
// (augmentation) on the training device. The trainer measures how long next() blocks: that is
// the data-wait share recorded in every epoch row.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "harness/data/dataset.h"

namespace swavbench {

struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  int workers = 1;
  int prefetch = 2;
  torch::Device device = torch::kCPU;
  // Distributed sharding: this rank takes every world_size-th batch slot of the global order.
  int rank = 0;
  int world_size = 1;
};

// A raw batch as gathered: images B x C x H x W uint8 on the training device.
struct RawBatch {
  torch::Tensor images;
  torch::Tensor labels;  // int64, on the training device
  std::vector<int64_t> sample_ids;
};

// The epoch's sample order: a Fisher-Yates permutation driven by splitmix64 from (seed, epoch),
// identical on every machine and library version.
std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch, bool shuffle);

// Gathers the given indices into a RawBatch on `device` (decoding in `workers` threads when
// the dataset is not held in memory).
RawBatch gather_batch(const Dataset& dataset, const std::vector<int64_t>& indices, int workers,
                      torch::Device device);

template <typename Batch>
class BatchLoader {
 public:
  using Transform = std::function<Batch(RawBatch&&, int64_t epoch)>;

  BatchLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options, Transform transform)
      : dataset_(std::move(dataset)), options_(options), transform_(std::move(transform)) {}
  ~BatchLoader() { stop(); }

  // Batches this rank sees per epoch.
  int64_t batches_per_epoch() const {
    int64_t global = options_.batch_size * options_.world_size;
    int64_t n = dataset_->size();
    int64_t full = n / global;
    return options_.drop_last ? full : (n + global - 1) / global;
  }

  void start_epoch(int64_t epoch, int64_t skip_batches = 0) {
    stop();
    done_ = false;
    error_ = nullptr;
    queue_.clear();
    epoch_ = epoch;
    producer_ = std::thread([this, skip_batches] { produce(skip_batches); });
  }

  // The next batch, or nullopt at the end of the epoch. Rethrows a producer error.
  std::optional<Batch> next() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return !queue_.empty() || done_ || error_; });
    if (error_) std::rethrow_exception(error_);
    if (queue_.empty()) return std::nullopt;
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    space_.notify_one();
    return batch;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled_ = true;
    }
    space_.notify_all();
    if (producer_.joinable()) producer_.join();
    cancelled_ = false;
  }

 private:
  void produce(int64_t skip_batches) {
    try {
      std::vector<int64_t> order =
          epoch_order(dataset_->size(), options_.seed, epoch_, options_.shuffle);
      int64_t per_rank = options_.batch_size;
      int64_t global = per_rank * options_.world_size;
      for (int64_t b = skip_batches; b < batches_per_epoch(); ++b) {
        int64_t begin = b * global + options_.rank * per_rank;
        int64_t end = std::min<int64_t>(begin + per_rank, static_cast<int64_t>(order.size()));
        if (begin >= end) break;
        std::vector<int64_t> indices(order.begin() + begin, order.begin() + end);
        Batch batch =
            transform_(gather_batch(*dataset_, indices, options_.workers, options_.device), epoch_);
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [this] {
          return cancelled_ || static_cast<int>(queue_.size()) < options_.prefetch;
        });
        if (cancelled_) return;
        queue_.push_back(std::move(batch));
        ready_.notify_one();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
    ready_.notify_all();
  }

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  Transform transform_;
  int64_t epoch_ = 0;
  std::thread producer_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  std::deque<Batch> queue_;
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace swavbench
