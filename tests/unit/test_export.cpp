// `swavbench export`'s library half (harness/train/export.h): the state dict a PyTorch user
// loads. Checked by Debian's torchvision itself (tests/unit/export_check.py): key order, missing
// and unexpected keys, and the features of a fixed batch against ours in eval mode.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "harness/core/check.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/train/export.h"

namespace swavbench {
namespace {

namespace fs = std::filesystem;

ResNetOptions trunk_options(const std::string& arch, bool small_stem, int in_channels) {
  ResNetOptions o;
  o.arch = arch;
  o.small_stem = small_stem;
  o.in_channels = in_channels;
  return o;
}

// Every BN's statistics and affine parameters away from their initial 0/1, so eval mode
// exercises them; every parameter drawn from the seeded generator.
void randomise(ResNet& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) p.value().copy_(0.1 * torch::randn_like(p.value()));
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    if (b.key().find("num_batches_tracked") != std::string::npos) b.value().fill_(7);
  }
}

// Exports a randomised trunk and a batch with our features, then has torchvision load both.
void check_against_torchvision(const ResNetOptions& options, int64_t side) {
  torch::manual_seed(11);
  ResNet net(options);
  randomise(net);
  net->eval();
  torch::Tensor x = torch::randn({3, options.in_channels, side, side});
  torch::Tensor features;
  {
    torch::NoGradGuard no_grad;
    features = net->forward(x);
  }
  TempDir dir("export_test");
  const std::string weights = dir.path() + "/trunk.pt", batch = dir.path() + "/batch.pt";
  save_for_python(state_dict_entries(*net), weights);
  save_for_python({{"x", x}, {"features", features}}, batch);
  EXPECT_FALSE(fs::exists(weights + ".tmp"));

  const std::string command =
      fmt::format("{} {}/tests/unit/export_check.py {} {} {} {} {} 2>&1", SWAVBENCH_TEST_PYTHON,
                  swavbench_source_dir(), weights, batch, options.arch, options.small_stem ? 1 : 0,
                  options.in_channels);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char line[512];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) output += line;
  const int status = pclose(pipe);
  std::cout << output;
  EXPECT_EQ(status, 0) << command << "\n" << output;
}

TEST(Export, TorchvisionResNet18LoadsItAndComputesOurFeatures) {
  check_against_torchvision(trunk_options("resnet18", false, 3), 64);
}

TEST(Export, TorchvisionResNet50LoadsItAndComputesOurFeatures) {
  check_against_torchvision(trunk_options("resnet50", false, 3), 32);
}

// The small-stem, one-channel trunk of the Fashion-MNIST runs, through README's snippet.
TEST(Export, SmallStemGrayscaleTrunkLoadsWithTheReadmeSnippet) {
  check_against_torchvision(trunk_options("resnet18", true, 1), 28);
}

TEST(Export, StateDictOrderAndCopies) {
  ResNet net(trunk_options("resnet10", true, 1));
  const NamedTensors entries = state_dict_entries(*net, "backbone.");
  ASSERT_GE(entries.size(), 8u);
  const std::vector<std::string> first{"backbone.conv1.weight",
                                       "backbone.bn1.weight",
                                       "backbone.bn1.bias",
                                       "backbone.bn1.running_mean",
                                       "backbone.bn1.running_var",
                                       "backbone.bn1.num_batches_tracked",
                                       "backbone.layer1.0.conv1.weight",
                                       "backbone.layer1.0.bn1.weight"};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(entries[i].first, first[i]) << i;
  EXPECT_EQ(entries[5].second.scalar_type(), torch::kLong);
  // Copies: changing the module afterwards does not change what was exported.
  const float before = entries[0].second.flatten()[0].item<float>();
  {
    torch::NoGradGuard no_grad;
    net->named_parameters()["conv1.weight"].add_(1.0);
  }
  EXPECT_EQ(entries[0].second.flatten()[0].item<float>(), before);
  // Float64 weights (precision = "float64" runs) are exported as float32.
  net->to(torch::kFloat64);
  EXPECT_EQ(state_dict_entries(*net)[0].second.scalar_type(), torch::kFloat32);
}

TEST(Export, TorchvisionDifferencesNameWhatToChange) {
  EXPECT_TRUE(torchvision_differences(trunk_options("resnet50", false, 3)).empty());
  EXPECT_TRUE(torchvision_differences(trunk_options("resnet18", false, 3)).empty());
  auto fmnist = trunk_options("resnet10", true, 1);
  fmnist.width = 0.25;
  const auto d = torchvision_differences(fmnist);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_NE(d[0].find("BasicBlock, [1, 1, 1, 1]"), std::string::npos);
  EXPECT_NE(d[1].find("width 0.25"), std::string::npos);
  EXPECT_NE(d[2].find("torch.nn.Conv2d(1, 16, 3, 1, 1, bias=False)"), std::string::npos);
  EXPECT_NE(d[3].find("1 input channel(s)"), std::string::npos);
  EXPECT_EQ(parse_export_format("full"), ExportFormat::kFull);
  EXPECT_THROW(parse_export_format("onnx"), InputError);
}

// In a child process: caps file size at 8 bytes, then replaces `path` (which holds "second
// version") with 4 KiB. True when the Error names the file and the old file is whole.
bool short_write_keeps_old_file(const std::string& path) {
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit limit{8, 8};
  ::setrlimit(RLIMIT_FSIZE, &limit);
  bool named = false;
  try {
    write_file_atomically(path, std::string(4096, 'z'));
  } catch (const Error& e) {
    named = std::string(e.what()).find(path + ": cannot write") != std::string::npos;
  }
  return named && read_file(path) == "second version" && !fs::exists(path + ".tmp");
}

TEST(WriteFileAtomically, ReplacesWholeOrLeavesTheOldFile) {
  TempDir dir("atomic_test");
  const std::string path = dir.path() + "/file.bin";
  write_file_atomically(path, "first");
  write_file_atomically(path, "second version");
  EXPECT_EQ(read_file(path), "second version");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  try {
    write_file_atomically(dir.path() + "/no/such/folder/file.bin", "x");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/folder/file.bin"), std::string::npos);
  }
  // A write cut short (here by a file-size limit, as a full disk would) throws, removes the
  // temporary file and leaves the earlier file whole. In a child: the limit is per process.
  EXPECT_EXIT(std::exit(short_write_keeps_old_file(path) ? 0 : 1), ::testing::ExitedWithCode(0),
              "");
}

}  // namespace
}  // namespace swavbench
