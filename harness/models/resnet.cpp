#include "harness/models/resnet.h"

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "harness/core/check.h"
#include "harness/models/batch_norm.h"

namespace swavbench {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

// The projection shortcut when the block changes resolution or width: registered as a
// Sequential so that its parameters are named downsample.0.* / downsample.1.* as in torchvision.
nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(conv1x1(in, out, stride), SyncableBatchNorm2d(out));
}

class BasicBlockImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;

  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride)
      : conv1_(register_module("conv1", conv3x3(inplanes, planes, stride))),
        bn1_(register_module("bn1", SyncableBatchNorm2d(planes))),
        conv2_(register_module("conv2", conv3x3(planes, planes, 1))),
        bn2_(register_module("bn2", SyncableBatchNorm2d(planes))) {
    if (stride != 1 || inplanes != planes * kExpansion) {
      downsample_ =
          register_module("downsample", make_downsample(inplanes, planes * kExpansion, stride));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = torch::relu(bn1_(conv1_(x)));
    out = bn2_(conv2_(out));
    torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    return torch::relu(out + identity);
  }

  SyncableBatchNorm2d last_bn() const { return bn2_; }

 private:
  nn::Conv2d conv1_;
  SyncableBatchNorm2d bn1_;
  nn::Conv2d conv2_;
  SyncableBatchNorm2d bn2_;
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

// ResNet v1.5 bottleneck: the stride sits on the 3x3 conv, as in torchvision and the authors'
// code (v1 put it on the first 1x1).
class BottleneckImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride)
      : conv1_(register_module("conv1", conv1x1(inplanes, planes, 1))),
        bn1_(register_module("bn1", SyncableBatchNorm2d(planes))),
        conv2_(register_module("conv2", conv3x3(planes, planes, stride))),
        bn2_(register_module("bn2", SyncableBatchNorm2d(planes))),
        conv3_(register_module("conv3", conv1x1(planes, planes * kExpansion, 1))),
        bn3_(register_module("bn3", SyncableBatchNorm2d(planes * kExpansion))) {
    if (stride != 1 || inplanes != planes * kExpansion) {
      downsample_ =
          register_module("downsample", make_downsample(inplanes, planes * kExpansion, stride));
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out = torch::relu(bn1_(conv1_(x)));
    out = torch::relu(bn2_(conv2_(out)));
    out = bn3_(conv3_(out));
    torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    return torch::relu(out + identity);
  }

  SyncableBatchNorm2d last_bn() const { return bn3_; }

 private:
  nn::Conv2d conv1_;
  SyncableBatchNorm2d bn1_;
  nn::Conv2d conv2_;
  SyncableBatchNorm2d bn2_;
  nn::Conv2d conv3_;
  SyncableBatchNorm2d bn3_;
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ArchSpec {
  const char* name;
  bool bottleneck;
  int64_t blocks[4];
};

constexpr ArchSpec kArchs[] = {
    {"resnet10", false, {1, 1, 1, 1}},
    {"resnet18", false, {2, 2, 2, 2}},
    {"resnet34", false, {3, 4, 6, 3}},
    {"resnet50", true, {3, 4, 6, 3}},
};

const ArchSpec* find_arch(const std::string& name) {
  for (const ArchSpec& spec : kArchs) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

// Builds one stage. `inplanes` carries the running channel count from stage to stage; the last
// BN of every block is collected so that the caller can zero it after the global init pass.
template <typename Block>
nn::Sequential make_layer(int64_t* inplanes, int64_t planes, int64_t blocks, int64_t stride,
                          std::vector<SyncableBatchNorm2d>* last_bns) {
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    Block block(*inplanes, planes, i == 0 ? stride : 1);
    last_bns->push_back(block->last_bn());
    layer->push_back(block);
    *inplanes = planes * Block::ContainedType::kExpansion;
  }
  return layer;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

std::vector<std::string> resnet_archs() {
  std::vector<std::string> names;
  for (const ArchSpec& spec : kArchs) names.emplace_back(spec.name);
  return names;
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  const ArchSpec* spec = find_arch(options.arch);
  SB_INPUT_CHECK(spec != nullptr, "unknown arch '{}' (expected one of: {})", options.arch,
                 join(resnet_archs()));
  // Truncation, not rounding, as int(64 * widen) would give in Python.
  const auto base = static_cast<int64_t>(64.0 * options.width);
  SB_INPUT_CHECK(options.width > 0 && base >= 1,
                 "width {} leaves the first stage with no channels (need 64 * width >= 1)",
                 options.width);
  SB_INPUT_CHECK(options.in_channels >= 1, "in_channels must be positive, got {}",
                 options.in_channels);

  if (options.small_stem) {
    conv1_ = register_module("conv1", conv3x3(options.in_channels, base, 1));
  } else {
    conv1_ = register_module(
        "conv1",
        nn::Conv2d(
            nn::Conv2dOptions(options.in_channels, base, 7).stride(2).padding(3).bias(false)));
  }
  bn1_ = register_module("bn1", SyncableBatchNorm2d(base));

  std::vector<SyncableBatchNorm2d> last_bns;
  int64_t inplanes = base;
  nn::Sequential* layers[4] = {&layer1_, &layer2_, &layer3_, &layer4_};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = base << stage;
    const int64_t stride = stage == 0 ? 1 : 2;
    nn::Sequential layer =
        spec->bottleneck
            ? make_layer<Bottleneck>(&inplanes, planes, spec->blocks[stage], stride, &last_bns)
            : make_layer<BasicBlock>(&inplanes, planes, spec->blocks[stage], stride, &last_bns);
    *layers[stage] = register_module("layer" + std::to_string(stage + 1), layer);
  }
  feature_dim_ = inplanes;

  // torchvision's (and the authors') init: He-normal with fan_out for every conv, identity BN.
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, /*a=*/0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<SyncableBatchNorm2dImpl>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  if (options.zero_init_residual) {
    for (const SyncableBatchNorm2d& bn : last_bns) nn::init::zeros_(bn->weight);
  }
}

torch::Tensor ResNetImpl::forward_maps(torch::Tensor x) {
  x = torch::relu(bn1_(conv1_(x)));
  if (!options_.small_stem) {
    x = torch::max_pool2d(x, /*kernel_size=*/{3, 3}, /*stride=*/{2, 2}, /*padding=*/{1, 1});
  }
  x = layer1_->forward(x);
  x = layer2_->forward(x);
  x = layer3_->forward(x);
  return layer4_->forward(x);
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  // Global average pool (AdaptiveAvgPool2d(1) + flatten).
  return forward_maps(std::move(x)).mean({2, 3});
}

}  // namespace swavbench
