#include "harness/train/export.h"

#include "harness/core/check.h"
#include "harness/core/files.h"

namespace swavbench {

ExportFormat parse_export_format(const std::string& name) {
  if (name == "torchvision") return ExportFormat::kTorchvision;
  if (name == "full") return ExportFormat::kFull;
  throw InputError(fmt::format("export format '{}' is not one of: torchvision, full", name));
}

NamedTensors state_dict_entries(torch::nn::Module& module, const std::string& prefix) {
  NamedTensors entries;
  // named_modules() lists the module itself first (key ""), then every descendant in
  // registration order, with dotted names: the order PyTorch's state_dict() walks.
  for (const auto& item : module.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string base = prefix + (item.key().empty() ? "" : item.key() + ".");
    auto add = [&](const std::string& name, const torch::Tensor& value) {
      torch::Tensor copy = value.detach().to(torch::kCPU);
      if (copy.is_floating_point()) copy = copy.to(torch::kFloat32);
      entries.emplace_back(base + name, copy.contiguous().clone());
    };
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) add(p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) add(b.key(), b.value());
  }
  return entries;
}

NamedTensors export_entries(Method& method, ExportFormat format) {
  if (format == ExportFormat::kTorchvision) return state_dict_entries(*method.backbone());
  return state_dict_entries(method.module());
}

void save_for_python(const NamedTensors& entries, const std::string& path) {
  // A c10::Dict pickles as a plain Python dict, and pickle_save writes torch.save's zip layout,
  // so torch.load needs nothing of ours (and passes weights_only=True, PyTorch 2.6's default).
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : entries) {
    SB_CHECK(!dict.contains(name), "export: two tensors named {}", name);
    dict.insert(name, tensor);
  }
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

std::vector<std::string> torchvision_differences(const ResNetOptions& options) {
  std::vector<std::string> out;
  if (options.arch == "resnet10")
    out.push_back(
        "arch resnet10 is not in torchvision.models: build it as "
        "torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])");
  if (options.width != 1.0)
    out.push_back(fmt::format(
        "width {:g}: every layer has {:g} times torchvision's channels (stem: {} instead of 64); "
        "torchvision cannot build it, the names are the same and the shapes differ",
        options.width, options.width, static_cast<int>(64 * options.width)));
  if (options.small_stem)
    out.push_back(fmt::format(
        "small stem: conv1 is a 3x3 stride-1 convolution without bias and there is no max-pool; "
        "set model.conv1 = torch.nn.Conv2d({}, {}, 3, 1, 1, bias=False) and "
        "model.maxpool = torch.nn.Identity()",
        options.in_channels, static_cast<int>(64 * options.width)));
  if (options.in_channels != 3)
    out.push_back(fmt::format(
        "{} input channel(s): conv1.weight has {} input channel(s) where torchvision has 3; "
        "build conv1 with in_channels={}",
        options.in_channels, options.in_channels, options.in_channels));
  return out;
}

}  // namespace swavbench
