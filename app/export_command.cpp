#include "app/export_command.h"

#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/experiment/evaluator.h"
#include "harness/store/store.h"
#include "harness/train/export.h"
#include "harness/train/trainer.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct ExportArgs {
  std::string run;
  std::string out;
  std::string format = "torchvision";
  std::string db = default_db_path();
};

json run_provenance(const RunRow& r) {
  return {{"id", r.id},
          {"hash", r.hash},
          {"method", r.method},
          {"label", r.label},
          {"status", r.status},
          {"suite", r.suite},
          {"started", r.started},
          {"finished", r.finished},
          {"git_sha", r.git_sha},
          {"torch_version", r.torch_version},
          {"device", r.device},
          {"world_size", r.world_size},
          {"per_device_batch", r.per_device_batch},
          {"host", r.host}};
}

int do_export(const ExportArgs& args) {
  SB_INPUT_CHECK(fs::exists(args.db), "export: database {} does not exist", args.db);
  const ExportFormat format = parse_export_format(args.format);
  Store store(args.db, StoreAccess::kReadOnly);
  const RunRow row = find_run(store, args.run, "export");
  SB_INPUT_CHECK(row.status == kStatusDone,
                 "export: run #{} [{}] is {}, not done: only a finished run's weights are "
                 "exported (`swavbench run` resumes it)",
                 row.id, row.hash, row.status);
  const std::string where = fmt::format("run #{} [{}]", row.id, row.hash);
  const RunConfig config = resolve_config(json::parse(row.config_json), json::object(), where);
  // The checkpoint must still hold the weights that were evaluated.
  std::string loaded_digest;
  std::unique_ptr<Method> method =
      load_recorded_model(store, row, config, RunDir::runs_dir_for_db(args.db), load_trained_method,
                          torch::kCPU, "export", &loaded_digest);

  const NamedTensors entries = export_entries(*method, format);
  save_for_python(entries, args.out);

  const ResNetOptions& trunk = method->backbone()->options();
  const std::vector<std::string> differences = torchvision_differences(trunk);
  json evals = json::object();
  for (const EvalRow& e : store.evals(row.id)) evals[e.protocol][e.metric] = e.value;
  json sidecar = {
      {"format", args.format},
      {"weights_file", fs::path(args.out).filename().string()},
      {"weights_file_sha256", sha256_file(args.out)},
      {"tensors", entries.size()},
      {"names",
       format == ExportFormat::kTorchvision
           ? "torchvision ResNet names (conv1.weight, layer1.0.bn1.running_mean, ...), no fc"
           : "the method's module names: backbone.* (torchvision names after the prefix), "
             "projection_head.*, prototypes.weight (SwAV), key_encoder.* (MoCo v2), "
             "classifier.* (supervised)"},
      {"weights_sha256", loaded_digest},
      {"run", run_provenance(row)},
      {"config", json::parse(row.config_json)},
      {"tags", store.tags(row.id)},
      {"evals", evals},
      {"trunk",
       {{"arch", trunk.arch},
        {"width", trunk.width},
        {"small_stem", trunk.small_stem},
        {"in_channels", trunk.in_channels},
        {"feature_dim", method->backbone()->feature_dim()},
        {"torchvision_compatible", differences.empty()},
        {"torchvision_differences", differences}}},
      {"exported_by",
       {{"swavbench", swavbench_version()},
        {"git_sha", swavbench_git_sha()},
        {"libtorch", TORCH_VERSION},
        {"at", utc_now_iso8601()}}},
  };
  const std::string sidecar_path = export_sidecar_path(args.out);
  write_file_atomically(sidecar_path, sidecar.dump(2) + "\n");

  std::cout << fmt::format("exported {} ({}, {}): {} tensors, {} format -> {}\nsidecar -> {}\n",
                           where, row.method, row.label, entries.size(), args.format, args.out,
                           sidecar_path);
  if (format == ExportFormat::kTorchvision) {
    if (differences.empty()) {
      std::cout << fmt::format(
          "load: m = torchvision.models.{}(); m.load_state_dict(torch.load('{}'), "
          "strict=False)  # misses fc.* only\n",
          trunk.arch, args.out);
    } else {
      std::cout << "not a stock torchvision model (README, \"Exporting weights\", has the "
                   "loading snippet):\n";
      for (const std::string& d : differences) std::cout << "  - " << d << "\n";
    }
  }
  return 0;
}

}  // namespace

std::string export_sidecar_path(const std::string& weights_path) {
  fs::path p(weights_path);
  if (p.extension() == ".pt" || p.extension() == ".pth") return p.replace_extension(".json");
  return weights_path + ".json";
}

Subcommand add_export_command(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export", "write a run's weights for plain PyTorch (torchvision names) and a JSON sidecar");
  cmd->add_option("run", args->run, "run id or hash (prefix) from `swavbench db runs`")->required();
  cmd->add_option("--out", args->out, "FILE.pt (the sidecar is FILE.json)")->required();
  cmd->add_option("--format", args->format,
                  "torchvision: the trunk alone; full: also heads, prototypes, momentum encoder")
      ->check(CLI::IsMember({"torchvision", "full"}))
      ->capture_default_str();
  cmd->add_option("--db", args->db, "results database")->capture_default_str();
  return {cmd, [args]() { return do_export(*args); }};
}

}  // namespace swavbench
