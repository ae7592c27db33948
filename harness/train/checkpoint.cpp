#include "harness/train/checkpoint.h"

#include <limits>
#include <optional>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/zip_check.h"
#include "harness/train/epoch_report.h"
#include "harness/train/optim.h"

namespace swavbench {
namespace {

constexpr const char* kRetrain = "delete it to retrain (or run with --force)";

// Runs `read`, turning whatever LibTorch or a state loader throws into an InputError that names
// the file and the entry: a bad file is the user's input, not an internal error.
template <typename Fn>
void guarded(const std::string& path, const std::string& entry, Fn&& read) {
  try {
    read();
  } catch (const InputError& e) {
    throw InputError(
        fmt::format("{}: checkpoint entry '{}': {}; {}", path, entry, e.what(), kRetrain));
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{}: checkpoint entry '{}' cannot be read ({}); {}", path, entry,
                                 e.what_without_backtrace(), kRetrain));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: checkpoint entry '{}' cannot be read ({}); {}", path, entry,
                                 e.what(), kRetrain));
  }
}

void read_tensor_into(torch::serialize::InputArchive& archive, const std::string& key,
                      torch::Tensor& target, bool is_buffer, const std::string& name,
                      const std::string& path) {
  torch::Tensor stored;
  bool found = false;
  guarded(path, "model." + name, [&] { found = archive.try_read(key, stored, is_buffer); });
  SB_INPUT_CHECK(found && stored.defined(), "{}: the checkpoint lacks the model's {} '{}'; {}",
                 path, is_buffer ? "buffer" : "parameter", name, kRetrain);
  SB_INPUT_CHECK(stored.sizes() == target.sizes(),
                 "{}: the model's '{}' has shape {} in the checkpoint but {} in this run's model "
                 "(written by another architecture, width or head); {}",
                 path, name, c10::str(stored.sizes()), c10::str(target.sizes()), kRetrain);
  SB_INPUT_CHECK(stored.scalar_type() == target.scalar_type(),
                 "{}: the model's '{}' is {} in the checkpoint but {} in this run's model "
                 "(written at another precision); {}",
                 path, name, c10::toString(stored.scalar_type()),
                 c10::toString(target.scalar_type()), kRetrain);
  torch::NoGradGuard no_grad;
  target.copy_(stored);
}

// Module::load's walk (own parameters, own buffers, then each serialisable child's archive),
// with every tensor checked before it is copied into the module's own tensor.
void read_module(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                 const std::string& prefix, const std::string& path) {
  for (auto& p : module.named_parameters(/*recurse=*/false))
    read_tensor_into(archive, p.key(), p.value(), /*is_buffer=*/false, prefix + p.key(), path);
  for (auto& b : module.named_buffers(/*recurse=*/false))
    read_tensor_into(archive, b.key(), b.value(), /*is_buffer=*/true, prefix + b.key(), path);
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    torch::serialize::InputArchive child_archive;
    bool found = false;
    guarded(path, "model." + prefix + child.key(),
            [&] { found = archive.try_read(child.key(), child_archive); });
    SB_INPUT_CHECK(found, "{}: the checkpoint lacks the model's submodule '{}{}'; {}", path, prefix,
                   child.key(), kRetrain);
    read_module(child_archive, *child.value(), prefix + child.key() + ".", path);
  }
}

// An int64 scalar in [lo, hi]; `absent` is the value of a counter older files lack (nullopt: it
// is required).
int64_t read_counter(torch::serialize::InputArchive& archive, const std::string& key, int64_t lo,
                     int64_t hi, std::optional<int64_t> absent, const std::string& path) {
  torch::Tensor t;
  bool found = false;
  guarded(path, key, [&] { found = archive.try_read(key, t); });
  if (!found) {
    SB_INPUT_CHECK(absent.has_value(), "{}: the checkpoint lacks its counter '{}'; {}", path, key,
                   kRetrain);
    return *absent;
  }
  SB_INPUT_CHECK(t.defined() && t.numel() == 1 && t.scalar_type() == torch::kLong,
                 "{}: the checkpoint's counter '{}' must be one int64, got {} of shape {}; {}",
                 path, key, t.defined() ? c10::toString(t.scalar_type()) : "nothing",
                 t.defined() ? c10::str(t.sizes()) : "[]", kRetrain);
  const int64_t value = t.item<int64_t>();
  SB_INPUT_CHECK(value >= lo && value <= hi,
                 "{}: the checkpoint's counter '{}' is {}, outside [{}, {}]; {}", path, key, value,
                 lo, hi, kRetrain);
  return value;
}

std::string archive_bytes(torch::serialize::OutputArchive& archive) {
  // Serialised to memory: LibTorch's file writer throws from its destructor on a short write (a
  // full disk), which ends the process; write_file_atomically checks every write instead.
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) -> size_t {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

// The archive in `path`, read through memory so that a missing file or a folder is read_file's
// InputError and whatever LibTorch's zip and pickle readers reject is ours.
void open_archive(const std::string& path, torch::serialize::InputArchive& archive,
                  torch::Device device) {
  const std::string bytes = read_file(path);
  check_zip_archive(bytes, path);
  try {
    archive.load_from(bytes.data(), bytes.size(), device);
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{}: cannot read checkpoint ({}); {}", path,
                                 e.what_without_backtrace(), kRetrain));
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: cannot read checkpoint ({}); {}", path, e.what(), kRetrain));
  }
}

void read_method_state(torch::serialize::InputArchive& archive,
                       const std::function<void(torch::serialize::InputArchive&)>& load,
                       const std::string& path) {
  torch::serialize::InputArchive state;
  bool has_state = false;
  guarded(path, "method", [&] { has_state = archive.try_read("method", state); });
  SB_INPUT_CHECK(has_state, "{}: the checkpoint lacks the method's state; {}", path, kRetrain);
  guarded(path, "method", [&] { load(state); });
}

}  // namespace

std::string checkpoint_bytes(const CheckpointParts& parts, const CheckpointCounters& counters) {
  SB_CHECK(parts.model != nullptr, "a checkpoint needs a model");
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model;
  parts.model->save(model);
  archive.write("model", model);
  if (parts.optimizer) {
    torch::serialize::OutputArchive opt;
    parts.optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  torch::serialize::OutputArchive state;
  if (parts.save_method_state) parts.save_method_state(state);
  archive.write("method", state);
  archive.write("next_epoch", torch::tensor(static_cast<int64_t>(counters.next_epoch)));
  archive.write("iteration", torch::tensor(counters.iteration));
  archive.write("world_size", torch::tensor(static_cast<int64_t>(counters.world_size)));
  if (!counters.last_epoch_record.empty())
    archive.write("last_epoch_record", c10::IValue(counters.last_epoch_record));
  return archive_bytes(archive);
}

CheckpointCounters read_checkpoint(const std::string& path, const CheckpointParts& parts,
                                   int max_next_epoch, torch::Device device) {
  SB_CHECK(parts.model != nullptr, "reading a checkpoint needs a model");
  torch::serialize::InputArchive archive;
  open_archive(path, archive, device);

  CheckpointCounters counters;
  counters.next_epoch =
      static_cast<int>(read_counter(archive, "next_epoch", 0, max_next_epoch, std::nullopt, path));
  // Each step is one iteration; 2^53 keeps it exact wherever it is shown as a double.
  counters.iteration = read_counter(archive, "iteration", 0, int64_t{1} << 53, std::nullopt, path);
  // Checkpoints written before the world size was recorded came from single-process runs.
  counters.world_size =
      static_cast<int>(read_counter(archive, "world_size", 1, 1 << 20, int64_t{1}, path));
  c10::IValue record;
  bool has_record = false;
  guarded(path, "last_epoch_record",
          [&] { has_record = archive.try_read("last_epoch_record", record); });
  if (has_record) {
    SB_INPUT_CHECK(record.isString(),
                   "{}: the checkpoint's 'last_epoch_record' is a {}, not text; {}", path,
                   record.tagKind(), kRetrain);
    counters.last_epoch_record = record.toStringRef();
    const EpochReport last = epoch_report_from_record(counters.last_epoch_record, path);
    SB_INPUT_CHECK(
        last.epoch + 1 == counters.next_epoch,
        "{}: the checkpoint's last epoch record is of epoch {} but it counts {} epoch(s) "
        "done; {}",
        path, last.epoch + 1, counters.next_epoch, kRetrain);
  }

  torch::serialize::InputArchive model;
  bool has_model = false;
  guarded(path, "model", [&] { has_model = archive.try_read("model", model); });
  SB_INPUT_CHECK(has_model, "{}: the checkpoint lacks the model; {}", path, kRetrain);
  read_module(model, *parts.model, "", path);
  if (parts.optimizer) {
    torch::serialize::InputArchive opt;
    bool has_optimizer = false;
    guarded(path, "optimizer", [&] { has_optimizer = archive.try_read("optimizer", opt); });
    SB_INPUT_CHECK(has_optimizer, "{}: the checkpoint lacks the optimizer's state; {}", path,
                   kRetrain);
    guarded(path, "optimizer", [&] { parts.optimizer->load(opt); });
  }
  if (parts.load_method_state) read_method_state(archive, parts.load_method_state, path);
  return counters;
}

std::string rank_state_bytes(
    const std::function<void(torch::serialize::OutputArchive&)>& save_method_state) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive state;
  save_method_state(state);
  archive.write("method", state);
  return archive_bytes(archive);
}

void read_rank_state(const std::string& path,
                     const std::function<void(torch::serialize::InputArchive&)>& load_method_state,
                     torch::Device device) {
  torch::serialize::InputArchive archive;
  open_archive(path, archive, device);
  read_method_state(archive, load_method_state, path);
}

}  // namespace swavbench
