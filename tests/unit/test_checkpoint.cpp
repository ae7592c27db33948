// The checkpoint file (harness/train/checkpoint.h): a round trip restores every tensor, counter,
// momentum buffer and method state bit for bit; a file that does not fit the run reading it (a
// tensor of another shape or dtype, a missing entry, a counter out of range or of another type, a
// corrupt epoch record, a truncated file, a folder) is an InputError that names the file, the
// entry and what was expected, and never reshapes the model. Real files in a temporary folder.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/train/checkpoint.h"
#include "harness/train/epoch_report.h"
#include "harness/train/optim.h"

namespace swavbench {
namespace {

// Nested submodules, a BatchNorm (an int64 buffer among its buffers) and a bare parameter, as the
// methods' modules have.
struct SmallNetImpl : torch::nn::Module {
  explicit SmallNetImpl(int64_t out = 3) {
    body = register_module(
        "body", torch::nn::Sequential(torch::nn::Linear(4, out), torch::nn::BatchNorm1d(out)));
    prototypes = register_parameter("prototypes", torch::randn({5, out}));
  }
  torch::nn::Sequential body{nullptr};
  torch::Tensor prototypes;
};
TORCH_MODULE(SmallNet);

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    net_ = SmallNet();
    net_->body->forward(torch::randn({6, 4}));  // moves the BatchNorm's running statistics
    optimizer_ = std::make_unique<LarsSgd>(net_->named_parameters().pairs(), OptimizerOptions{});
    for (auto& p : net_->parameters()) p.mutable_grad() = torch::randn_like(p);
    optimizer_->set_lr(0.1);
    optimizer_->step();
  }

  CheckpointParts parts(torch::nn::Module& model, LarsSgd* optimizer, torch::Tensor* queue) {
    CheckpointParts p;
    p.model = &model;
    p.optimizer = optimizer;
    p.save_method_state = [queue](torch::serialize::OutputArchive& a) { a.write("queue", *queue); };
    p.load_method_state = [queue](torch::serialize::InputArchive& a) { a.read("queue", *queue); };
    return p;
  }

  // Writes a checkpoint of net_ (counters 2 epochs / 14 steps) and returns its path.
  std::string write(const std::string& name, CheckpointCounters counters = {2, 14, 1, ""}) {
    if (counters.last_epoch_record.empty()) {
      EpochReport last;
      last.epoch = counters.next_epoch - 1;
      last.loss = 1.5;
      last.logs["knn_top1"] = 70.25;
      counters.last_epoch_record = epoch_record(last);
    }
    const std::string path = temp_.path() + "/" + name;
    write_file_atomically(path,
                          checkpoint_bytes(parts(*net_, optimizer_.get(), &queue_), counters));
    return path;
  }

  // The InputError message of reading `path` into a fresh SmallNet(out) ("" when it loads).
  std::string refusal(const std::string& path, int64_t out = 3, int epochs = 5) {
    SmallNet other(out);
    torch::Tensor queue = torch::zeros({2, 3});
    try {
      read_checkpoint(path, parts(*other, nullptr, &queue), epochs, torch::kCPU);
    } catch (const InputError& e) {
      EXPECT_EQ(other->prototypes.sizes(), torch::IntArrayRef({5, out})) << "reshaped by the file";
      return e.what();
    }
    return "";
  }

  TempDir temp_{"swavbench_checkpoint"};
  SmallNet net_{nullptr};
  std::unique_ptr<LarsSgd> optimizer_;
  torch::Tensor queue_ = torch::arange(6, torch::kFloat32).reshape({2, 3});
};

TEST_F(CheckpointTest, ARoundTripRestoresEveryTensorCounterMomentumAndState) {
  const std::string path = write("checkpoint.pt");
  torch::manual_seed(99);
  SmallNet restored;
  LarsSgd restored_optimizer(restored->named_parameters().pairs(), OptimizerOptions{});
  torch::Tensor queue = torch::zeros({2, 3});
  const CheckpointCounters c = read_checkpoint(path, parts(*restored, &restored_optimizer, &queue),
                                               /*max_next_epoch=*/5, torch::kCPU);
  EXPECT_EQ(c.next_epoch, 2);
  EXPECT_EQ(c.iteration, 14);
  EXPECT_EQ(c.world_size, 1);
  EXPECT_EQ(epoch_report_from_record(c.last_epoch_record, path).logs.at("knn_top1"), 70.25);
  const auto original = net_->named_parameters();
  for (const auto& p : restored->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key();
  const auto original_buffers = net_->named_buffers();
  for (const auto& b : restored->named_buffers())
    EXPECT_TRUE(torch::equal(b.value(), original_buffers[b.key()])) << b.key();
  EXPECT_TRUE(torch::equal(queue, queue_));
  // The restored momentum continues as the original: one more identical step, identical weights.
  for (auto& p : net_->parameters()) p.mutable_grad() = torch::ones_like(p);
  for (auto& p : restored->parameters()) p.mutable_grad() = torch::ones_like(p);
  optimizer_->step();
  restored_optimizer.set_lr(0.1);
  restored_optimizer.step();
  for (const auto& p : restored->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), net_->named_parameters()[p.key()])) << p.key();
}

TEST_F(CheckpointTest, ATensorOfAnotherShapeIsRefusedNamingItAndBothShapes) {
  const std::string path = write("checkpoint.pt");
  EXPECT_EQ(refusal(path, /*out=*/2),
            path +
                ": the model's 'prototypes' has shape [5, 3] in the checkpoint but [5, 2] in "
                "this run's model (written by another architecture, width or head); delete it "
                "to retrain (or run with --force)");
}

TEST_F(CheckpointTest, ATensorOfAnotherDtypeIsRefused) {
  net_->to(torch::kFloat64);
  const std::string path = write("checkpoint.pt");
  EXPECT_NE(refusal(path).find("'prototypes' is Double in the checkpoint but Float in this "
                               "run's model (written at another precision)"),
            std::string::npos)
      << refusal(path);
}

TEST_F(CheckpointTest, CountersOutOfRangeOrMissingAreRefused) {
  EXPECT_EQ(refusal(write("late.pt", {9, 14, 1, ""})),
            temp_.path() +
                "/late.pt: the checkpoint's counter 'next_epoch' is 9, outside [0, 5]; delete it "
                "to retrain (or run with --force)");
  EXPECT_NE(refusal(write("negative.pt", {2, -1, 1, ""})).find("counter 'iteration' is -1"),
            std::string::npos);
  EXPECT_NE(refusal(write("world.pt", {2, 14, 0, ""})).find("counter 'world_size' is 0"),
            std::string::npos);

  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model;
  net_->save(model);
  archive.write("model", model);
  archive.write("next_epoch", torch::tensor(2.5));  // a float where an int64 belongs
  const std::string odd = temp_.path() + "/odd.pt";
  archive.save_to(odd);
  EXPECT_NE(refusal(odd).find("counter 'next_epoch' must be one int64, got Float of shape []"),
            std::string::npos)
      << refusal(odd);
  torch::serialize::OutputArchive bare;
  bare.write("model", model);
  const std::string no_counters = temp_.path() + "/bare.pt";
  bare.save_to(no_counters);
  EXPECT_NE(refusal(no_counters).find("lacks its counter 'next_epoch'"), std::string::npos);
}

TEST_F(CheckpointTest, AMissingTensorOrSubmoduleOrStateIsRefused) {
  // A file written by a model without the BatchNorm: the reader names what it lacks.
  struct NoNormImpl : torch::nn::Module {
    NoNormImpl() {
      body = register_module("body", torch::nn::Sequential(torch::nn::Linear(4, 3)));
      prototypes = register_parameter("prototypes", torch::randn({5, 3}));
    }
    torch::nn::Sequential body{nullptr};
    torch::Tensor prototypes;
  };
  auto no_norm = std::make_shared<NoNormImpl>();
  const std::string path = temp_.path() + "/no_norm.pt";
  CheckpointParts p = parts(*no_norm, nullptr, &queue_);
  write_file_atomically(path, checkpoint_bytes(p, {0, 0, 1, ""}));
  EXPECT_EQ(refusal(path), path +
                               ": the checkpoint lacks the model's submodule 'body.1'; delete it "
                               "to retrain (or run with --force)");

  // The method's state without the queue its loader reads.
  CheckpointParts stateless = parts(*net_, nullptr, &queue_);
  stateless.save_method_state = [](torch::serialize::OutputArchive&) {};
  const std::string no_queue = temp_.path() + "/no_queue.pt";
  write_file_atomically(no_queue, checkpoint_bytes(stateless, {0, 0, 1, ""}));
  const std::string message = refusal(no_queue);
  EXPECT_NE(message.find(no_queue + ": checkpoint entry 'method' cannot be read ("),
            std::string::npos)
      << message;
}

TEST_F(CheckpointTest, ACorruptEpochRecordIsRefused) {
  EXPECT_NE(refusal(write("text.pt", {2, 14, 1, "not json"})).find("record is not a JSON object"),
            std::string::npos);
  EXPECT_NE(refusal(write("fields.pt", {2, 14, 1, R"({"epoch": 1, "loss": 2})"}))
                .find("record lacks the number 'lr'"),
            std::string::npos);
  EpochReport other;
  other.epoch = 4;  // the record of epoch 5 in a file that counts 2 epochs done
  EXPECT_NE(refusal(write("other.pt", {2, 14, 1, epoch_record(other)}))
                .find("last epoch record is of epoch 5 but it counts 2 epoch(s) done"),
            std::string::npos);
}

TEST_F(CheckpointTest, ATruncatedFileOrAFolderIsRefusedNamingThePath) {
  const std::string path = write("checkpoint.pt");
  const std::string bytes = read_file(path);
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    write_file(path, bytes.substr(0, cut));
    const std::string message = refusal(path);
    EXPECT_EQ(message.rfind(path + ": cannot read checkpoint (", 0), 0u) << cut << ": " << message;
  }
  EXPECT_NE(refusal(temp_.path()).find("is a directory"), std::string::npos)
      << refusal(temp_.path());
}

// LibTorch's zip reader skips the entries' CRC-32, so a damaged byte would reach its unpickler
// (which can then allocate whatever a damaged length says): check_zip_archive refuses it first.
TEST_F(CheckpointTest, ADamagedByteIsRefusedByTheEntrysChecksumBeforeLibTorchReadsIt) {
  const std::string path = write("checkpoint.pt");
  const std::string bytes = read_file(path);
  const size_t pickle = bytes.find("archive/data.pkl");
  ASSERT_NE(pickle, std::string::npos);
  std::string damaged = bytes;
  damaged[pickle + 100] = static_cast<char>(damaged[pickle + 100] ^ 0x20);
  write_file(path, damaged);
  EXPECT_EQ(refusal(path), path +
                               ": cannot read checkpoint (entry 'archive/data.pkl' fails its "
                               "CRC-32 check: the file is damaged); delete it to retrain (or "
                               "run with --force)");
  write_file(path, bytes + "trailing");
  EXPECT_NE(refusal(path).find("bytes after the zip end record"), std::string::npos);
}

}  // namespace
}  // namespace swavbench
