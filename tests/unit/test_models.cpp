// ResNet trunks and projection heads: parameter counts against torchvision's published numbers,
// torchvision naming, output shapes for both stems, and the init rules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "harness/core/check.h"
#include "harness/models/heads.h"
#include "harness/models/resnet.h"

#ifndef SWAVBENCH_TEST_PYTHON
#define SWAVBENCH_TEST_PYTHON "/usr/bin/python3"
#endif

namespace swavbench {
namespace {

ResNetOptions arch_options(const std::string& arch, double width = 1.0) {
  ResNetOptions options;
  options.arch = arch;
  options.width = width;
  return options;
}

int64_t parameter_count(torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& p : module.parameters()) count += p.numel();
  return count;
}

// Parameters and buffers together, as a state dict would list them.
std::set<std::string> state_names(torch::nn::Module& module) {
  std::set<std::string> names;
  for (const auto& item : module.named_parameters()) names.insert(item.key());
  for (const auto& item : module.named_buffers()) names.insert(item.key());
  return names;
}

// Published torchvision totals minus the fc layer (in * 1000 + 1000).
TEST(ResNet, ParameterCountsMatchTorchvisionWithoutFc) {
  ResNet r18(arch_options("resnet18"));
  EXPECT_EQ(parameter_count(*r18), 11689512 - (512 * 1000 + 1000));
  EXPECT_EQ(parameter_count(*r18), 11176512);
  ResNet r34(arch_options("resnet34"));
  EXPECT_EQ(parameter_count(*r34), 21284672);
  ResNet r50(arch_options("resnet50"));
  EXPECT_EQ(parameter_count(*r50), 23508032);
}

// The authors' RN50-w2 widens every layer by 2: the paper's 94M parameters, not torchvision's
// wide_resnet50_2 (66.8M with fc).
TEST(ResNet, WideResNet50MatchesThePaper) {
  ResNet r50w2(arch_options("resnet50", 2.0));
  EXPECT_EQ(parameter_count(*r50w2), 93907072);
  EXPECT_EQ(r50w2->feature_dim(), 4096);
  const auto params = r50w2->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), (std::vector<int64_t>{128, 3, 7, 7}));
  EXPECT_EQ(params["layer1.0.conv2.weight"].sizes(), (std::vector<int64_t>{128, 128, 3, 3}));
  EXPECT_EQ(params["layer1.0.conv3.weight"].sizes(), (std::vector<int64_t>{512, 128, 1, 1}));
}

TEST(ResNet, NamesFollowTorchvision) {
  ResNet r18(arch_options("resnet18"));
  const std::set<std::string> names = state_names(*r18);
  for (const char* expected :
       {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.1.conv2.weight",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        "layer2.0.downsample.1.running_var", "layer4.1.bn2.running_mean"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
  // A trunk: no classifier, and layer1 of a basic-block net needs no projection shortcut.
  for (const std::string& name : names) {
    EXPECT_NE(name.rfind("fc.", 0), 0u) << name;
    EXPECT_EQ(name.find("layer1.0.downsample"), std::string::npos) << name;
  }

  ResNet r50(arch_options("resnet50"));
  const auto params = r50->named_parameters();
  EXPECT_EQ(params["layer1.0.downsample.0.weight"].sizes(), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(params["layer4.2.conv3.weight"].sizes(), (std::vector<int64_t>{2048, 512, 1, 1}));
  // v1.5: the stride of a downsampling bottleneck is on its 3x3 conv.
  const auto modules = r50->named_modules();
  auto* conv1 = modules["layer2.0.conv1"]->as<torch::nn::Conv2d>();
  auto* conv2 = modules["layer2.0.conv2"]->as<torch::nn::Conv2d>();
  ASSERT_NE(conv1, nullptr);
  ASSERT_NE(conv2, nullptr);
  EXPECT_EQ(conv1->options.stride()->at(0), 1);
  EXPECT_EQ(conv2->options.stride()->at(0), 2);
}

TEST(ResNet, FeatureDims) {
  EXPECT_EQ(ResNet(arch_options("resnet18"))->feature_dim(), 512);
  EXPECT_EQ(ResNet(arch_options("resnet34"))->feature_dim(), 512);
  EXPECT_EQ(ResNet(arch_options("resnet50"))->feature_dim(), 2048);
  EXPECT_EQ(ResNet(arch_options("resnet10", 0.25))->feature_dim(), 128);
}

TEST(ResNet, SmallStemOnFashionMnistShapes) {
  ResNetOptions options = arch_options("resnet10", 0.25);
  options.small_stem = true;
  options.in_channels = 1;
  ResNet net(options);
  const auto params = net->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), (std::vector<int64_t>{16, 1, 3, 3}));
  const torch::Tensor x = torch::randn({3, 1, 28, 28});
  EXPECT_EQ(net->forward(x).sizes(), (std::vector<int64_t>{3, 128}));
  // 28 -> 28 -> 14 -> 7 -> 4.
  EXPECT_EQ(net->forward_maps(x).sizes(), (std::vector<int64_t>{3, 128, 4, 4}));
}

TEST(ResNet, ImageNetStemShapesAndPooling) {
  ResNet net(arch_options("resnet10", 0.25));
  net->eval();
  const torch::Tensor x = torch::randn({2, 3, 64, 64});
  // 64 -> conv 32 -> pool 16 -> 16 -> 8 -> 4 -> 2.
  const torch::Tensor maps = net->forward_maps(x);
  EXPECT_EQ(maps.sizes(), (std::vector<int64_t>{2, 128, 2, 2}));
  EXPECT_TRUE(torch::allclose(net->forward(x), maps.mean({2, 3})));
}

TEST(ResNet, ZeroInitResidualZeroesTheLastBnOfEveryBlock) {
  struct Case {
    const char* arch;
    const char* last_bn;
    int blocks;
  };
  for (const Case& c : {Case{"resnet18", "bn2", 8}, Case{"resnet50", "bn3", 16}}) {
    ResNet net(arch_options(c.arch));
    int zeroed = 0;
    for (const auto& item : net->named_parameters()) {
      const std::string& name = item.key();
      if (name.rfind("layer", 0) != 0) continue;
      const bool is_last_bn_weight =
          name.find(std::string(".") + c.last_bn + ".weight") != std::string::npos;
      if (is_last_bn_weight) {
        EXPECT_TRUE(item.value().eq(0).all().item<bool>()) << name;
        ++zeroed;
      } else if (name.find(".bn") != std::string::npos &&
                 name.find(".weight") != std::string::npos) {
        EXPECT_TRUE(item.value().eq(1).all().item<bool>()) << name;
      }
    }
    EXPECT_EQ(zeroed, c.blocks) << c.arch;
  }

  ResNetOptions options = arch_options("resnet18");
  options.zero_init_residual = false;
  ResNet net(options);
  const auto params = net->named_parameters();
  EXPECT_TRUE(params["layer1.0.bn2.weight"].eq(1).all().item<bool>());
}

TEST(ResNet, InitIsTorchvisions) {
  torch::manual_seed(0);
  ResNet net(arch_options("resnet18"));
  const auto params = net->named_parameters();
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  const torch::Tensor w = params["layer3.0.conv1.weight"];  // 256 x 128 x 3 x 3
  const double expected_std = std::sqrt(2.0 / (256 * 9));
  EXPECT_NEAR(w.std().item<double>(), expected_std, 0.02 * expected_std);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.02 * expected_std);
  EXPECT_TRUE(params["bn1.weight"].eq(1).all().item<bool>());
  EXPECT_TRUE(params["layer3.0.bn1.bias"].eq(0).all().item<bool>());
}

TEST(ResNet, RejectsUnknownArchAndZeroWidth) {
  try {
    ResNet net(arch_options("resnet101"));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resnet101"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("resnet50"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ResNet(arch_options("resnet18", 0.01)), InputError);
  EXPECT_EQ(resnet_archs(),
            (std::vector<std::string>{"resnet10", "resnet18", "resnet34", "resnet50"}));
}

// Names and shapes of every state entry against torchvision itself, where it is installed.
TEST(ResNet, MatchesTorchvisionStateDict) {
  const std::string python = SWAVBENCH_TEST_PYTHON;
  if (std::system((python + " -c 'import torchvision' >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "torchvision is not importable by " << python;
  }
  for (const char* arch : {"resnet18", "resnet50"}) {
    const std::string command =
        python + " -c \"import torchvision\nfor k, v in torchvision.models." + arch +
        "().state_dict().items():\n  if not k.startswith('fc.'): print(k, *v.shape)\"";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::set<std::string> expected;
    char line[512];
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
      std::string text(line);
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      expected.insert(text);
    }
    ASSERT_EQ(pclose(pipe), 0);

    ResNet net(arch_options(arch));
    std::set<std::string> actual;
    auto add = [&actual](const std::string& name, const torch::Tensor& t) {
      std::string text = name;
      for (int64_t size : t.sizes()) text += " " + std::to_string(size);
      actual.insert(text);
    };
    for (const auto& item : net->named_parameters()) add(item.key(), item.value());
    for (const auto& item : net->named_buffers()) add(item.key(), item.value());
    EXPECT_EQ(actual, expected) << arch;
  }
}

TEST(ProjectionHead, SwavHeadLayoutAndNames) {
  ProjectionHead head(512, 256, 128);
  const auto params = head->named_parameters();
  EXPECT_EQ(params["projection_head.0.weight"].sizes(), (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(params["projection_head.1.weight"].sizes(), (std::vector<int64_t>{256}));
  EXPECT_EQ(params["projection_head.3.weight"].sizes(), (std::vector<int64_t>{128, 256}));
  EXPECT_EQ(params["projection_head.3.bias"].sizes(), (std::vector<int64_t>{128}));
  EXPECT_TRUE(state_names(*head).count("projection_head.1.running_mean"));
  EXPECT_EQ(parameter_count(*head), 512 * 256 + 256 + 2 * 256 + 256 * 128 + 128);
  EXPECT_EQ(head->out_dim(), 128);

  const torch::Tensor y = head->forward(torch::randn({4, 512}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{4, 128}));
  // Raw output: the caller normalises.
  EXPECT_FALSE(torch::allclose(y.norm(2, 1), torch::ones({4})));
}

TEST(ProjectionHead, WithoutBatchNormAndLinearOnly) {
  ProjectionHead no_bn(64, 32, 16, /*batch_norm=*/false);
  const std::set<std::string> names = state_names(*no_bn);
  EXPECT_EQ(names, (std::set<std::string>{"projection_head.0.weight", "projection_head.0.bias",
                                          "projection_head.2.weight", "projection_head.2.bias"}));
  EXPECT_EQ(no_bn->forward(torch::randn({2, 64})).sizes(), (std::vector<int64_t>{2, 16}));

  ProjectionHead linear(64, 0, 16);
  EXPECT_EQ(state_names(*linear),
            (std::set<std::string>{"projection_head.0.weight", "projection_head.0.bias"}));
  const torch::Tensor x = torch::randn({2, 64});
  const auto params = linear->named_parameters();
  EXPECT_TRUE(torch::allclose(
      linear->forward(x),
      torch::linear(x, params["projection_head.0.weight"], params["projection_head.0.bias"])));
  EXPECT_THROW(ProjectionHead(0, 16, 16), InputError);
}

TEST(ResNetWithHead, TrainsOneStepEndToEnd) {
  // The trunk and the head compose, and gradients reach the stem.
  ResNetOptions options = arch_options("resnet10", 0.25);
  options.small_stem = true;
  options.in_channels = 1;
  ResNet trunk(options);
  ProjectionHead head(trunk->feature_dim(), 32, 8);
  const torch::Tensor z =
      torch::nn::functional::normalize(head->forward(trunk->forward(torch::randn({4, 1, 28, 28}))),
                                       torch::nn::functional::NormalizeFuncOptions().dim(1));
  z.select(1, 0).sum().backward();
  const auto params = trunk->named_parameters();
  ASSERT_TRUE(params["conv1.weight"].grad().defined());
  EXPECT_GT(params["conv1.weight"].grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace swavbench
