#include "harness/train/trainer.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/fault.h"
#include "harness/core/files.h"
#include "harness/core/hardware.h"
#include "harness/core/method_spec.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/data/loader.h"
#include "harness/data/multicrop.h"
#include "harness/data/sources.h"
#include "harness/dist/grad_sync.h"
#include "harness/models/batch_norm.h"
#include "harness/models/flops.h"
#include "harness/train/checkpoint.h"
#include "harness/train/collapse_alarm.h"
#include "harness/train/optim.h"
#include "harness/train/torch_compat.h"

namespace swavbench {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

AugmentOptions augment_options(const RunConfig& config) {
  AugmentOptions options = config.augment == "none" ? AugmentOptions::none() : AugmentOptions{};
  options.dtype = training_dtype(config);
  if (config.augment == "light") {
    options.jitter_p = 0;
    options.grayscale_p = 0;
    options.blur_p = 0;
  } else if (config.augment == "jitter") {
    options.grayscale_p = 0;
    options.blur_p = 0;
  }
  return options;
}

// Rank 0's checkpoint: the model and optimiser (identical on every rank, since gradients are
// averaged), rank 0's method state, the counters and the world size that wrote it.
CheckpointParts checkpoint_parts(Method& method, LarsSgd* optimizer, bool with_method_state) {
  CheckpointParts parts;
  parts.model = &method.module();
  parts.optimizer = optimizer;
  parts.save_method_state = [&method](torch::serialize::OutputArchive& a) { method.save_state(a); };
  if (with_method_state)
    parts.load_method_state = [&method](torch::serialize::InputArchive& a) {
      method.load_state(a);
    };
  return parts;
}

// Rank 0's checkpoint: the model and optimiser (identical on every rank, since gradients are
// averaged), rank 0's method state, the counters and the world size that wrote it.
void save_checkpoint(const std::string& run_dir, Method& method, LarsSgd* optimizer,
                     const CheckpointCounters& counters) {
  write_file_atomically(checkpoint_path(run_dir),
                        checkpoint_bytes(checkpoint_parts(method, optimizer, true), counters));
}

// Ranks other than 0 keep what is theirs alone (SwAV's per-rank feature queue) in a file of their
// own next to the checkpoint.
void save_rank_state(const std::string& run_dir, Method& method, int rank) {
  write_file_atomically(
      rank_state_path(run_dir, rank),
      rank_state_bytes(checkpoint_parts(method, nullptr, true).save_method_state));
}

void load_rank_state(const std::string& run_dir, Method& method, int rank, torch::Device device) {
  const std::string path = rank_state_path(run_dir, rank);
  SB_INPUT_CHECK(fs::exists(path),
                 "{}: rank {}'s state is missing next to the checkpoint; resume with the same "
                 "number of processes that wrote it, or retrain (--force)",
                 path, rank);
  read_rank_state(path, checkpoint_parts(method, nullptr, true).load_method_state, device);
}

std::unique_ptr<Method> build_method(const RunConfig& config, const Dataset& data,
                                     torch::Device device, Collective& collective) {
  // Initial weights are a function of the seed alone.
  torch::manual_seed(static_cast<uint64_t>(config.seed));
  ImageU8 shape = data.fixed_shape();
  if (shape.channels == 0) shape = data.image(0);
  MethodContext ctx{config,         data.num_classes(),
                    shape.channels, device,
                    collective,     data.size() / std::max<int64_t>(1, config.batch_size)};
  std::unique_ptr<Method> method = make_method(config.method, ctx);
  if (training_dtype(config) != torch::kFloat32) method->module().to(training_dtype(config));
  return method;
}

// Model FLOP utilisation of an epoch: the model's training FLOPs per image times img/s, against
// the hardware's float32 peak (mfu; harness/core/hardware.h, CPUs only: on a GPU the peak is not
// computed, so no mfu is stored) and against the float GEMM rate measured at the start of the
// run (mfu_gemm: what this BLAS reaches, so a slow BLAS shows as mfu well below mfu_gemm).
// img/s counts every rank's images; each rank measured its own GEMM rate (ranks are alike).
void add_utilisation_logs(EpochReport& report, double flops_per_image, double gemm_flops,
                          double peak_flops, int world) {
  const double model_flops = report.img_per_s * flops_per_image;
  report.logs["model_gflop_per_s"] = model_flops / 1e9;
  report.logs["gemm_gflop_per_s"] = gemm_flops / 1e9;
  report.logs["mfu_gemm"] = model_flops / (gemm_flops * world);
  if (peak_flops > 0) {
    report.logs["peak_gflop_per_s"] = peak_flops / 1e9;
    report.logs["mfu"] = model_flops / (peak_flops * world);
  }
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir) {
  return RunDir(run_dir).checkpoint_path();
}

std::string rank_state_path(const std::string& run_dir, int rank) {
  return RunDir(run_dir).rank_state_path(rank);
}

std::string weights_digest(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& p : module.named_parameters()) tensors[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) tensors[b.key()] = b.value();
  std::string bytes;
  for (const auto& [name, t] : tensors) {
    torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    bytes += name + ":" + std::to_string(c.dim()) + ":" + std::string(c.dtype().name()) + ";";
    for (int64_t d : c.sizes()) bytes += std::to_string(d) + ",";
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  }
  return sha256_hex(bytes);
}

torch::Device resolve_device(const std::string& device) {
  if (device == "cuda") {
    SB_INPUT_CHECK(torch::cuda::is_available(),
                   "device 'cuda' was asked for, but this build of LibTorch sees no CUDA device "
                   "(swavbench --version says what the linked LibTorch supports)");
    // One GPU per rank, as torchrun lays jobs out: LOCAL_RANK picks this rank's device.
    int index = 0;
    if (const char* local_rank = std::getenv("LOCAL_RANK"))
      index = std::max(0, std::atoi(local_rank)) % std::max<int>(1, torch::cuda::device_count());
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return torch::Device(torch::kCPU);
}

double peak_memory_bytes(torch::Device device) {
  if (device.is_cuda() && cuda_statistics_available())
    return cuda_peak_allocated_bytes(device.has_index() ? device.index() : 0);
  // CPU: the process's peak resident set.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;
}

namespace {

OptimizerOptions optimizer_options(const RunConfig& config) {
  OptimizerOptions o;
  o.kind = config.optimizer;
  o.momentum = config.momentum;
  o.weight_decay = config.weight_decay;
  o.trust_coefficient = config.trust_coefficient;
  o.lars_exclude_bn_bias = config.lars_exclude_bn_bias;
  return o;
}

// What every run needs before it trains (or, for an untrained control, instead): the data, the
// device, and the method with this rank's start weights.
struct RunStart {
  torch::Device device;
  std::shared_ptr<const Dataset> data;
  std::unique_ptr<Method> method;
  bool channels_last;  // the model is in NHWC, so the crops go in NHWC too
};

RunStart start_run(const RunConfig& config, Collective& collective) {
  torch::Device device = resolve_device(config.device);
  auto full = open_dataset(config.dataset, config.data_path, "train", config.load_size);
  auto data = balanced_subset_of(full, config.subset, static_cast<uint64_t>(config.seed));
  std::unique_ptr<Method> method = build_method(config, *data, device, collective);
  if (collective.world_size() > 1) {
    // DistributedDataParallel's start: every rank from rank 0's weights. With sync_bn, BatchNorm
    // normalises with the global batch's statistics (the paper's SyncBatchNorm).
    broadcast_parameters(method->module(), collective);
    if (config.sync_bn) set_sync_batch_norm(method->module(), &collective);
  }
  if (device.is_cpu() && config.precision == "bf16") {
    const std::string why_not = cpu_bf16_unsupported_reason(this_cpu());
    SB_INPUT_CHECK(why_not.empty(), "precision 'bf16' on the CPU: {}", why_not);
  }
  // cuDNN autotuning for the fixed crop shapes; NHWC convolutions (tensor cores on GPUs, oneDNN's
  // blocked kernels without a reorder per layer on CPUs) where memory_format asks for them.
  if (device.is_cuda()) enable_cudnn_benchmark();
  const bool channels_last = trains_channels_last(config, device.is_cuda());
  if (channels_last) to_channels_last(method->module());
  return {device, std::move(data), std::move(method), channels_last};
}

// One epoch's running sums.
struct EpochTotals {
  Clock::time_point start = Clock::now();
  double wait_seconds = 0, loss_sum = 0, lr = 0;
  int64_t batches = 0, images = 0;
  std::map<std::string, double> log_sums;
};

// The pretraining loop with its named parts: set-up (the constructor: optimiser, loader,
// schedule, resume from the checkpoint, the utilisation figures' denominators, the collapse
// alarm), step (one batch), end_of_epoch (the report, the monitor, the alarm, the checkpoint and
// the callbacks), and run, which strings them together.
class TrainingLoop {
 public:
  TrainingLoop(const RunConfig& config, const std::string& run_dir, const TrainCallbacks& callbacks,
               Collective& collective, RunStart start)
      : config_(config),
        run_dir_(run_dir),
        callbacks_(callbacks),
        collective_(collective),
        world_(collective.world_size()),
        rank_(collective.rank()),
        device_(start.device),
        cuda_(start.device.is_cuda()),
        channels_last_(start.channels_last),
        data_(std::move(start.data)),
        method_(std::move(start.method)),
        optimizer_(method_->trainable_parameters(), optimizer_options(config)),
        augment_(config.crops, augment_options(config)),
        loader_(data_, loader_options(), multicrop_transform()),
        iters_per_epoch_(loader_.batches_per_epoch()),
        schedule_(config.base_lr, config.final_lr, config.start_warmup,
                  static_cast<int64_t>(config.warmup_epochs) * iters_per_epoch_,
                  static_cast<int64_t>(config.epochs) * iters_per_epoch_),
        collapse_alarm_(method_->collapse_loss(), config.collapse_margin, config.collapse_patience,
                        collapse_advice(config)) {
    for (const auto& named : method_->trainable_parameters())
      synced_params_.push_back(named.second);
    resume();
    // Model FLOP utilisation: the model's training FLOPs per image over the float GEMM rate this
    // process measures now, on this device (so a slower machine is not mistaken for a slower
    // implementation).
    gemm_flops_ = measure_gemm_flops(device_, config.precision == "bf16");
    // MFU against the float32 peak is stated for CPU runs but bf16 ones: a bf16 run's peak
    // is another (AVX512-BF16 doubles it, AMX far more), and a GPU's is not computed. mfu_gemm,
    // against the GEMM measured in the run's precision, is stated for every run.
    peak_flops_ = device_.is_cpu() && config.precision != "bf16"
                      ? cpu_fp32_peak(this_cpu(), torch::get_num_threads()).gflops * 1e9
                      : 0.0;
    flops_per_image_ = training_flops_per_image(method_->module(), method_->backbone_prefix(),
                                                method_->backbone()->options(), config.crops);
  }

  TrainOutcome run() {
    for (int epoch = start_epoch_; epoch < config_.epochs; ++epoch) {
      method_->module().train();
      method_->on_epoch_start(epoch);
      loader_.start_epoch(epoch);
      EpochTotals totals;
      totals.lr = schedule_.at(iteration_);
      while (true) {
        auto wait_start = Clock::now();
        std::optional<MultiCropBatch> batch = loader_.next();
        totals.wait_seconds += seconds_since(wait_start);
        if (!batch) break;
        step(*batch, epoch, totals);
      }
      if (end_of_epoch(epoch, totals)) break;
    }
    outcome_.weights_sha256 = weights_digest(method_->module());
    return outcome_;
  }

 private:
  LoaderOptions loader_options() const {
    const int64_t per_rank_batch = config_.batch_size / world_;
    SB_INPUT_CHECK(per_rank_batch * world_ == config_.batch_size,
                   "batch_size {} is not divisible by the world size {}", config_.batch_size,
                   world_);
    SB_INPUT_CHECK(data_->size() >= config_.batch_size,
                   "the training set has {} images, fewer than one batch of {} (lower batch_size "
                   "or raise subset)",
                   data_->size(), config_.batch_size);
    LoaderOptions o;
    o.batch_size = per_rank_batch;
    o.seed = static_cast<uint64_t>(config_.seed);
    o.workers = config_.workers;
    o.prefetch = config_.prefetch;
    o.device = device_;
    o.rank = rank_;
    o.world_size = world_;
    return o;
  }

  std::function<MultiCropBatch(RawBatch&&, int64_t)> multicrop_transform() {
    const uint64_t augment_seed = static_cast<uint64_t>(config_.seed) * 7919u + 17u;
    return [this, augment_seed](RawBatch&& raw, int64_t epoch) {
      MultiCropBatch batch;
      batch.crops = augment_(raw.images, raw.sample_ids, augment_seed, epoch);
      if (channels_last_)
        for (auto& c : batch.crops) c = c.contiguous(at::MemoryFormat::ChannelsLast);
      batch.size_groups = augment_.size_groups();
      batch.labels = raw.labels;
      batch.sample_ids = std::move(raw.sample_ids);
      return batch;
    };
  }

  // The advice is the method's own (MethodSpec::collapse_advice).
  static std::string collapse_advice(const RunConfig& config) {
    const MethodSpec* spec = find_method_spec(config.method);
    return spec && !spec->collapse_advice.empty()
               ? spec->collapse_advice
               : "lower the learning rate or lengthen the warm-up (warmup_epochs)";
  }

  void resume() {
    const std::string path = checkpoint_path(run_dir_);
    if (!fs::exists(path)) return;
    const CheckpointCounters ckpt = read_checkpoint(
        path, checkpoint_parts(*method_, &optimizer_, true), config_.epochs, device_);
    SB_INPUT_CHECK(ckpt.world_size == world_,
                   "{}: written by {} process(es), resumed with {}: the per-rank queues and "
                   "sampler shards only continue with the same number (--nproc {}), or retrain "
                   "(--force)",
                   path, ckpt.world_size, world_, ckpt.world_size);
    if (rank_ > 0) load_rank_state(run_dir_, *method_, rank_, device_);
    start_epoch_ = ckpt.next_epoch;
    iteration_ = ckpt.iteration;
    outcome_.resumed_from_epoch = start_epoch_;
    if (rank_ == 0 && !ckpt.last_epoch_record.empty() && callbacks_.on_epoch_restored)
      callbacks_.on_epoch_restored(epoch_report_from_record(ckpt.last_epoch_record, path));
  }

  // One batch: the loss (a mean over ranks), the NaN check, backward, gradient averaging, the
  // update; then the step and progress callbacks.
  void step(const MultiCropBatch& batch, int epoch, EpochTotals& totals) {
    totals.lr = schedule_.at(iteration_);
    optimizer_.set_lr(totals.lr);
    method_->before_step(iteration_);
    StepOutput out;
    {
      AutocastBf16 autocast(device_, config_.precision == "bf16");
      out = method_->loss(batch, iteration_, epoch);
    }
    double loss_value = 0;
    if (world_ > 1) {
      // The logged loss and logs are means over ranks (each rank's are means over its own
      // samples), so every rank sees the same numbers and stops on the same NaN.
      std::vector<double> values{out.loss.item<double>()};
      for (const auto& [k, v] : out.logs) values.push_back(v);
      torch::Tensor packed = torch::tensor(values, torch::kFloat64).to(device_);
      collective_.all_reduce_sum(packed);
      packed = packed.to(torch::kCPU) / world_;
      loss_value = packed[0].item<double>();
      int64_t i = 1;
      for (auto& [k, v] : out.logs) v = packed[i++].item<double>();
    } else {
      loss_value = out.loss.item<double>();
    }
    if (!std::isfinite(loss_value)) {
      throw RunFailure(fmt::format(
          "loss became {} at iteration {} (epoch {}); the last good checkpoint (end of epoch "
          "{}) was kept. Try a lower base_lr or a longer warm-up",
          loss_value, iteration_, epoch, epoch - 1));
    }
    optimizer_.zero_grad();
    out.loss.backward();
    // Each rank's loss is the mean over its samples: the mean of the ranks' gradients is the
    // gradient of the global batch's mean loss.
    if (world_ > 1) average_gradients(synced_params_, collective_);
    method_->after_backward(iteration_);
    optimizer_.step();
    method_->after_step(iteration_);
    fault_point("after-step");

    if (callbacks_.on_step) callbacks_.on_step(iteration_, loss_value);
    totals.loss_sum += loss_value;
    for (const auto& [k, v] : out.logs) totals.log_sums[k] += v;
    ++totals.batches;
    ++iteration_;
    totals.images += static_cast<int64_t>(batch.sample_ids.size()) * world_;
    if (callbacks_.on_progress)
      callbacks_.on_progress(epoch, totals.batches, iters_per_epoch_,
                             totals.loss_sum / totals.batches,
                             totals.images / std::max(1e-9, seconds_since(totals.start)));
  }

  // The epoch's report (with the utilisation figures and the monitor's values), the collapse
  // alarm, the checkpoint, then on_epoch. True: the alarm stops the run (collapse_stop).
  bool end_of_epoch(int epoch, const EpochTotals& totals) {
    const double seconds = seconds_since(totals.start);
    const int64_t batches = std::max<int64_t>(1, totals.batches);
    EpochReport report;
    report.epoch = epoch;
    report.loss = totals.loss_sum / batches;
    report.lr = totals.lr;
    report.img_per_s = totals.images / std::max(1e-9, seconds);
    report.data_wait = totals.wait_seconds / std::max(1e-9, seconds);
    report.seconds = seconds;
    report.peak_mem = peak_memory_bytes(device_);
    for (const auto& [k, v] : totals.log_sums) report.logs[k] = v / batches;
    add_utilisation_logs(report, flops_per_image_, gemm_flops_, peak_flops_, world_);
    if (callbacks_.monitor) {
      for (const auto& [k, v] : callbacks_.monitor(*method_, epoch)) report.logs[k] = v;
    }

    const std::optional<CollapseVerdict> collapse =
        collapse_alarm_.observe(report.loss, report.logs);
    if (collapse && callbacks_.on_alarm)
      callbacks_.on_alarm("collapse", epoch, collapse->reason, collapse->advice);
    if (rank_ == 0) {
      save_checkpoint(run_dir_, *method_, &optimizer_,
                      {epoch + 1, iteration_, world_, epoch_record(report)});
      fault_point("between-checkpoint-and-epoch-row");
    } else {
      save_rank_state(run_dir_, *method_, rank_);
    }
    collective_.barrier();
    outcome_.epochs_done = epoch + 1;
    if (callbacks_.on_epoch) callbacks_.on_epoch(report);
    fault_point("after-epoch-row");
    if (collapse && config_.collapse_stop) {
      outcome_.stopped_by_alarm = true;
      return true;
    }
    return false;
  }

  const RunConfig& config_;
  const std::string& run_dir_;
  const TrainCallbacks& callbacks_;
  Collective& collective_;
  const int world_;
  const int rank_;
  const torch::Device device_;
  const bool cuda_;
  const bool channels_last_;
  std::shared_ptr<const Dataset> data_;
  std::unique_ptr<Method> method_;
  LarsSgd optimizer_;
  std::vector<torch::Tensor> synced_params_;  // what average_gradients all-reduces
  MultiCropAugment augment_;
  BatchLoader<MultiCropBatch> loader_;
  const int64_t iters_per_epoch_;
  LrSchedule schedule_;
  CollapseAlarm collapse_alarm_;
  int start_epoch_ = 0;
  int64_t iteration_ = 0;
  double gemm_flops_ = 0, peak_flops_ = 0, flops_per_image_ = 0;
  TrainOutcome outcome_;
};

}  // namespace

TrainOutcome train_run(const RunConfig& config, const std::string& run_dir,
                       const TrainCallbacks& callbacks, Collective& collective) {
  fs::create_directories(run_dir);
  RunStart start = start_run(config, collective);
  if (!start.method->trains()) {
    // An untrained control: its checkpoint holds the start weights.
    if (collective.rank() == 0)
      save_checkpoint(run_dir, *start.method, nullptr, {0, 0, collective.world_size(), ""});
    collective.barrier();
    TrainOutcome outcome;
    outcome.weights_sha256 = weights_digest(start.method->module());
    return outcome;
  }
  return TrainingLoop(config, run_dir, callbacks, collective, std::move(start)).run();
}

std::unique_ptr<Method> load_trained_method(const RunConfig& config, const std::string& run_dir,
                                            torch::Device device) {
  auto full = open_dataset(config.dataset, config.data_path, "train", config.load_size);
  std::unique_ptr<Method> method = build_method(config, *full, device, local_collective());
  std::string path = checkpoint_path(run_dir);
  SB_INPUT_CHECK(fs::exists(path), "{}: the run's checkpoint is missing", path);
  // Evaluation needs no training state (queues), which for a multi-process run is shaped for
  // that run's world size.
  read_checkpoint(path, checkpoint_parts(*method, nullptr, /*with_method_state=*/false),
                  config.epochs, device);
  method->module().eval();
  return method;
}

}  // namespace swavbench
