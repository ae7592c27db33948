// `swavbench export RUN --out FILE.pt [--format torchvision|full] [--db PATH]`: a run's weights
// as a state dict plain PyTorch loads (harness/train/export.h), with a JSON sidecar that carries
// the run's config, hash, provenance and evaluation results. Wired into run_cli through
// subcommand.h.
#pragma once

#include <CLI/CLI.hpp>

#include "app/subcommand.h"

namespace swavbench {

Subcommand add_export_command(CLI::App& app);

// FILE.pt -> FILE.json; any other name gets ".json" appended.
std::string export_sidecar_path(const std::string& weights_path);

}  // namespace swavbench
