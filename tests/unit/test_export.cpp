// `swavbench export`'s library half (harness/train/export.h): the state dict a PyTorch user
// loads. Checked by Debian's torchvision itself (tests/unit/export_check.py): key order, missing
// and unexpected keys, and the features of a fixed batch against ours in eval mode.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/data/multicrop.h"
#include "harness/dist/collective.h"
#include "harness/train/export.h"
#include "harness/train/method.h"
#include "swav/register.h"
#include "tests/unit/random_batch.h"

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

// The peers `swavbench bench --peers` times ours against compute our SwAV loss on the same batch
// with the same weights: bench/peers/swav_eager.py (plain PyTorch eager as the authors'
// main_swav.py) and bench/peers/swav_lightly.py (lightly's head, prototypes and SwaVLoss), in
// Debian's python3-torch, so the two sides of each ratio do the same work. Default recipe
// (ResNet-10 w0.25 small stem, crops 2x28 + 4x14, K = 100), batch 32, train mode, the
// prototypes normalised first as every step does.
struct PeerBatch {
  RunConfig config;
  double ours = 0;
  TempDir dir{"peer_loss"};
};

std::unique_ptr<PeerBatch> our_loss_and_files() {
  register_swav_methods();
  auto out = std::make_unique<PeerBatch>();
  out->config =
      resolve_config({{"method", "swav"}, {"batch_size", 32}}, nlohmann::json::object(), "test");
  const RunConfig& config = out->config;
  torch::manual_seed(5);
  auto method = make_method("swav", MethodContext{config, 10, 1, torch::kCPU, local_collective()});
  method->module().train();
  MultiCropAugment augment(config.crops, AugmentOptions{});
  const MultiCropBatch batch = test_support::random_multicrop_batch(augment, 32);
  const int64_t iteration = 1000;  // past the prototype freeze
  method->before_step(iteration);
  {
    torch::NoGradGuard no_grad;
    out->ours = method->loss(batch, iteration, 0).loss.item<double>();
  }
  save_for_python(export_entries(*method, ExportFormat::kFull), out->dir.path() + "/weights.pt");
  NamedTensors crops;
  for (size_t v = 0; v < batch.crops.size(); ++v)
    crops.emplace_back(std::to_string(v), batch.crops[v]);
  save_for_python(crops, out->dir.path() + "/crops.pt");
  return out;
}

// Runs `script --check-loss` on the files, with PYTHONPATH `path` ("" = none): its JSON.
nlohmann::json peer_check(const PeerBatch& b, const std::string& script, const std::string& path) {
  const RunConfig& c = b.config;
  std::string crop_text;
  for (const auto& spec : c.crops)
    crop_text += fmt::format("{}{}x{}", crop_text.empty() ? "" : ",", spec.count, spec.size);
  const std::string command = fmt::format(
      "{}{} {}/bench/peers/{} --check-loss {} --arch {} --width {} --small-stem --in-channels 1 "
      "--hidden {} --feat-dim {} --prototypes {} --epsilon {} --iterations {} --temperature {} "
      "--crops {} 2>&1",
      path.empty() ? "" : "PYTHONPATH=" + path + " ", SWAVBENCH_TEST_PYTHON, swavbench_source_dir(),
      script, b.dir.path(), c.arch, c.width, c.hidden_dim, c.feat_dim, c.prototypes, c.epsilon,
      c.sinkhorn_iters, c.temperature, crop_text);
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  if (pipe == nullptr) return nullptr;
  std::string output;
  char line[512];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) output += line;
  EXPECT_EQ(pclose(pipe), 0) << command << "\n" << output;
  const nlohmann::json result = nlohmann::json::parse(output, nullptr, false);
  EXPECT_TRUE(result.is_object() && result.contains("loss")) << command << "\n" << output;
  return result;
}

TEST(SwavEagerPeer, ComputesOurLossOnTheSameBatchWithOurWeights) {
  auto b = our_loss_and_files();
  const nlohmann::json result = peer_check(*b, "swav_eager.py", "");
  ASSERT_TRUE(result.is_object() && result.contains("loss"));
  const double peer = result["loss"].get<double>();
  std::cout << fmt::format("ours {:.9f}, eager peer {:.9f} ({}, torch {}): difference {:.3g}\n",
                           b->ours, peer, result.value("trunk", ""), result.value("torch", ""),
                           std::abs(b->ours - peer));
  EXPECT_NEAR(peer, b->ours, 1e-4);
}

// lightly is installed by scripts/setup-peers.sh (scripts/test.sh runs it) into .peers/site.
TEST(SwavLightlyPeer, ComputesOurLossOnTheSameBatchWithOurWeights) {
  const std::string site = std::string(swavbench_source_dir()) + "/.peers/site";
  ASSERT_TRUE(fs::exists(site + "/lightly/__init__.py"))
      << site << " has no lightly: scripts/setup-peers.sh installs it (scripts/test.sh does)";
  auto b = our_loss_and_files();
  const nlohmann::json result = peer_check(*b, "swav_lightly.py", site);
  ASSERT_TRUE(result.is_object() && result.contains("loss"));
  const double peer = result["loss"].get<double>();
  std::cout << fmt::format("ours {:.9f}, lightly {} peer {:.9f}: difference {:.3g}\n", b->ours,
                           result.value("lightly", ""), peer, std::abs(b->ours - peer));
  EXPECT_NEAR(peer, b->ours, 1e-4);
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
