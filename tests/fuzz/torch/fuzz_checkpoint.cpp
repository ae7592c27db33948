// The checkpoint reader's validation (read_checkpoint, harness/train/checkpoint.h), against a
// small model of the shape the trainer checkpoints: nested submodules, a BatchNorm's buffers
// (one of them int64), a bare parameter like SwAV's prototypes, LARS momentum and a method state
// of its own. Built with clang against LibTorch (cmake/sanitize.cmake); our code is instrumented,
// LibTorch is not.
//
// The first byte picks how the rest becomes a checkpoint file:
//   even: the bytes are the file (LibTorch's zip and pickle readers, then our checks);
//   odd:  the bytes describe a checkpoint that LibTorch writes (entries left out, counters and
//         their dtypes and shapes, one model tensor reshaped or retyped, the epoch record's
//         text), so that the fuzzer reaches our checks behind the archive's CRCs.
// Passing means: read_checkpoint returns, and then the model kept every shape and dtype and the
// counters are in range; or it throws InputError. Anything else (a LibTorch error that escaped,
// another exception, a crash or sanitizer report) aborts.
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/train/checkpoint.h"
#include "harness/train/epoch_report.h"
#include "harness/train/optim.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
using namespace swavbench;

struct FuzzNetImpl : torch::nn::Module {
  FuzzNetImpl() {
    body = register_module(
        "body", torch::nn::Sequential(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3)));
    prototypes = register_parameter("prototypes", torch::randn({5, 3}));
  }
  torch::nn::Sequential body{nullptr};
  torch::Tensor prototypes;
};
TORCH_MODULE(FuzzNet);

constexpr int kEpochs = 10;

// The method state: a queue of a fixed shape, checked the way the methods' loaders check theirs.
void load_queue(torch::serialize::InputArchive& archive, torch::Tensor& queue) {
  torch::Tensor saved;
  archive.read("queue", saved);
  SB_INPUT_CHECK(saved.sizes() == queue.sizes(), "queue has shape {}, expected {}",
                 c10::str(saved.sizes()), c10::str(queue.sizes()));
  queue.copy_(saved);
}

// Reads bytes off the front of the input.
struct Bytes {
  const uint8_t* data;
  size_t size;
  uint8_t next() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  int64_t next_int64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | next();
    return static_cast<int64_t>(v);
  }
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(data), size);
    size = 0;
    return s;
  }
};

torch::Tensor counter_tensor(int64_t value, uint8_t form) {
  switch (form % 5) {
    case 0:
      return torch::tensor(value);  // as written
    case 1:
      return torch::tensor(static_cast<double>(value));  // a float
    case 2:
      return torch::full({2}, value, torch::kLong);  // two values
    case 3:
      return torch::empty({0}, torch::kLong);  // none
    default:
      return torch::tensor(static_cast<int32_t>(value));  // int32
  }
}

// A model tensor as the fuzzer wants it written: its own, reshaped, or retyped.
torch::Tensor model_tensor(const torch::Tensor& t, uint8_t how, uint8_t dim) {
  switch (how % 4) {
    case 1:
      return torch::zeros({1 + dim % 6}, t.options());
    case 2:
      return t.to(torch::kFloat64);
    case 3:
      return t.reshape({-1});
    default:
      return t;
  }
}

void write_model(torch::serialize::OutputArchive& archive, torch::nn::Module& module,
                 int target_index, uint8_t how, uint8_t dim, int& index, bool drop_target) {
  for (const auto& p : module.named_parameters(false)) {
    const bool target = index++ == target_index;
    if (target && drop_target) continue;
    archive.write(p.key(), target ? model_tensor(p.value(), how, dim) : p.value());
  }
  for (const auto& b : module.named_buffers(false)) {
    const bool target = index++ == target_index;
    if (target && drop_target) continue;
    archive.write(b.key(), target ? model_tensor(b.value(), how, dim) : b.value(), true);
  }
  for (const auto& child : module.named_children()) {
    torch::serialize::OutputArchive c(archive.compilation_unit());
    write_model(c, *child.value(), target_index, how, dim, index, drop_target);
    archive.write(child.key(), c);
  }
}

std::string described_checkpoint(Bytes in, FuzzNet& net, LarsSgd& optimizer) {
  const uint8_t leave_out = in.next();  // bit i: leave out entry i
  const uint8_t forms = in.next();
  const int64_t next_epoch = in.next() % 16 == 0 ? in.next_int64() : in.next() % (kEpochs + 3);
  const int64_t iteration = in.next() % 4 == 0 ? in.next_int64() : in.next();
  const int64_t world = in.next() % 4 == 0 ? in.next_int64() : 1 + in.next() % 3;
  const int target = in.next() % 12;
  const uint8_t how = in.next();
  const uint8_t dim = in.next();
  const uint8_t queue_rows = in.next() % 4;
  const bool record_as_json = in.next() % 2 == 0;
  std::string record = in.rest();
  if (record_as_json) {
    EpochReport r;
    // Wrapping, not signed, arithmetic: next_epoch may be INT64_MIN (a fuzzed value), and the
    // record's epoch only has to disagree with the checkpoint's, not to be meaningful.
    r.epoch = static_cast<int>(static_cast<int64_t>(static_cast<uint64_t>(next_epoch) - 1u));
    r.loss = static_cast<double>(record.size());
    r.logs["knn_top1"] = 1.5;
    record = epoch_record(r);
  }

  torch::serialize::OutputArchive archive;
  if (!(leave_out & 1)) {
    torch::serialize::OutputArchive model(archive.compilation_unit());
    int index = 0;
    write_model(model, *net, target, how, dim, index, (leave_out & 64) != 0);
    archive.write("model", model);
  }
  if (!(leave_out & 2)) {
    torch::serialize::OutputArchive opt(archive.compilation_unit());
    optimizer.save(opt);
    archive.write("optimizer", opt);
  }
  if (!(leave_out & 4)) {
    torch::serialize::OutputArchive state(archive.compilation_unit());
    state.write("queue", torch::zeros({queue_rows + 1, 3}));
    archive.write("method", state);
  }
  if (!(leave_out & 8)) archive.write("next_epoch", counter_tensor(next_epoch, forms));
  if (!(leave_out & 16)) archive.write("iteration", counter_tensor(iteration, forms >> 3));
  if (!(leave_out & 32)) archive.write("world_size", counter_tensor(world, forms >> 5));
  if (!(leave_out & 128)) archive.write("last_epoch_record", c10::IValue(record));
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) -> size_t {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

// Shapes and dtypes of every tensor of the model, to compare after a load.
std::vector<std::pair<std::vector<int64_t>, c10::ScalarType>> signature(torch::nn::Module& m) {
  std::vector<std::pair<std::vector<int64_t>, c10::ScalarType>> out;
  for (const auto& p : m.named_parameters())
    out.push_back({p.value().sizes().vec(), p.value().scalar_type()});
  for (const auto& b : m.named_buffers())
    out.push_back({b.value().sizes().vec(), b.value().scalar_type()});
  return out;
}

// The same initial weights for every input and for the seeds.
FuzzNet seeded_net() {
  torch::manual_seed(0);
  return FuzzNet();
}

// The model and its optimizer after one step, so that there are momentum buffers to write and read.
struct Trained {
  Trained() {
    for (auto& p : net->parameters()) p.mutable_grad() = torch::ones_like(p);
    optimizer.set_lr(0.1);
    optimizer.step();
  }
  FuzzNet net = seeded_net();
  LarsSgd optimizer{net->named_parameters().pairs(), OptimizerOptions{}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Trained trained;
  FuzzNet& net = trained.net;
  LarsSgd& optimizer = trained.optimizer;
  torch::Tensor queue = torch::zeros({2, 3});

  Bytes in{data + 1, size - 1};
  const std::string bytes =
      (data[0] % 2 == 0) ? in.rest() : described_checkpoint(in, net, optimizer);
  const std::string path = fuzz::write_input(
      "checkpoint.pt", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());

  const auto before = signature(*net);
  CheckpointParts parts;
  parts.model = net.ptr().get();
  parts.optimizer = &optimizer;
  parts.load_method_state = [&](torch::serialize::InputArchive& a) { load_queue(a, queue); };
  try {
    const CheckpointCounters c = read_checkpoint(path, parts, kEpochs, torch::kCPU);
    if (signature(*net) != before || queue.sizes() != torch::IntArrayRef({2, 3})) std::abort();
    if (c.next_epoch < 0 || c.next_epoch > kEpochs || c.iteration < 0 || c.world_size < 1)
      std::abort();
  } catch (const InputError&) {
    // A refused file may leave the model partly read, but never reshaped.
    if (signature(*net) != before) std::abort();
  }
  return 0;
}

// SWAVBENCH_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (tests/fuzz/checkpoint/seeds/) and exits:
// a valid file as the trainer writes it, the same cut short, and descriptions of a valid file and
// of one with a reshaped tensor.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("SWAVBENCH_FUZZ_WRITE_SEEDS");
  if (dir == nullptr) return 0;
  Trained trained;
  CheckpointParts parts;
  parts.model = trained.net.ptr().get();
  parts.optimizer = &trained.optimizer;
  parts.save_method_state = [](torch::serialize::OutputArchive& a) {
    a.write("queue", torch::zeros({2, 3}));
  };
  EpochReport last;
  last.epoch = 2;
  last.loss = 1.25;
  const std::string file = checkpoint_bytes(parts, {3, 30, 1, epoch_record(last)});
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << bytes;
  };
  write("valid_file", std::string(1, '\0') + file);
  write("truncated_file", std::string(1, '\0') + file.substr(0, file.size() / 2));
  const std::string valid_description("\x01\x00\x00\x01\x03\x01\x1e\x01\x00\x00\x00\x00\x01\x00",
                                      14);
  write("valid_description", valid_description);
  std::string reshaped = valid_description;
  reshaped[10] = 1;  // `how`: the first tensor written with another shape
  write("reshaped_description", reshaped);
  std::exit(0);
}
