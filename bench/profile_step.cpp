// profile_step: where one training step's time goes, operator by operator. Runs the step that
// bench_train_step times (bench/train_step_fixture.h) under an OpProfile
// (harness/train/op_profile.h) and prints, per step, each operator's self and total time and its
// share of the step's wall time; --json writes the same for `swavbench bench --profile`, which
// stores it in the bench table.
//
//   profile_step --method swav [--batch 256] [--steps 5] [--warmup 2] [--channels-last]
//                [--top 25] [--json FILE] [--set key=value ...]
//
// --set passes a config key to the step (as `swavbench run --set` does), e.g. moco_bn_group=256.
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "bench/train_step_fixture.h"
#include "harness/train/op_profile.h"

namespace {

int usage(const std::string& why) {
  std::cerr << "profile_step: " << why
            << "\nusage: profile_step --method NAME [--batch N] [--steps N] [--warmup N] "
               "[--channels-last] [--top N] [--json FILE] [--set key=value ...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string method, json_path;
  int64_t batch = 256, steps = 5, warmup = 2, top = 25;
  bool channels_last = false;
  nlohmann::json overrides = nlohmann::json::object();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--method") {
        method = value();
      } else if (arg == "--batch") {
        batch = std::stoll(value());
      } else if (arg == "--steps") {
        steps = std::stoll(value());
      } else if (arg == "--warmup") {
        warmup = std::stoll(value());
      } else if (arg == "--top") {
        top = std::stoll(value());
      } else if (arg == "--json") {
        json_path = value();
      } else if (arg == "--set") {
        const std::string kv = value();
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
          return usage("--set takes key=value, got '" + kv + "'");
        // A number or a boolean as JSON, anything else as a string (as `run --set` reads it).
        const nlohmann::json parsed = nlohmann::json::parse(kv.substr(eq + 1), nullptr, false);
        overrides[kv.substr(0, eq)] =
            parsed.is_discarded() || parsed.is_object() || parsed.is_array()
                ? nlohmann::json(kv.substr(eq + 1))
                : parsed;
      } else if (arg == "--channels-last") {
        channels_last = true;
      } else {
        return usage("unknown argument '" + arg + "'");
      }
    } catch (const std::exception& e) {
      return usage(fmt::format("{}: {}", arg, e.what()));
    }
  }
  if (method.empty()) return usage("--method is required (swav, simclr, moco, supervised, ...)");
  if (batch < 1 || steps < 1 || warmup < 0 || top < 1)
    return usage("--batch, --steps and --top must be >= 1, --warmup >= 0");

  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  std::unique_ptr<swavbench::bench_support::TrainStepFixture> fixture;
  try {
    fixture = std::make_unique<swavbench::bench_support::TrainStepFixture>(
        method, batch, channels_last, overrides);
  } catch (const std::exception& e) {
    std::cerr << "profile_step: " << e.what() << "\n";
    return 2;
  }
  for (int64_t i = 0; i < warmup; ++i) fixture->step();

  // The same number of steps without the profiler first, so that its overhead is measured,
  // not assumed.
  auto time_steps = [&] {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < steps; ++i) fixture->step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double unprofiled_s = time_steps();
  swavbench::OpProfile profile;
  const double wall_s = time_steps();
  const swavbench::OpProfileSummary summary = profile.summary();

  const double per_step_ms = 1e3 * wall_s / static_cast<double>(steps);
  const double unprofiled_ms = 1e3 * unprofiled_s / static_cast<double>(steps);
  const double in_ops_share = summary.in_ops_s / wall_s;
  std::cout << fmt::format(
      "profile_step: {} step, batch {}, {}, {} thread(s), {} step(s) after {} warm-up: "
      "{:.1f} ms/step under the profiler ({:.1f} img/s), {:.1f} ms/step without it just before; "
      "{:.1f} % of the profiled time inside ATen operators\n\n",
      method, batch, channels_last ? "NHWC" : "NCHW", threads, steps, warmup, per_step_ms,
      static_cast<double>(batch * steps) / wall_s, unprofiled_ms, 100.0 * in_ops_share);
  std::cout << fmt::format("{:<56} {:>9} {:>12} {:>8} {:>13}\n", "operator", "calls/st",
                           "self ms/st", "self %", "total ms/st");
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < summary.rows.size(); ++i) {
    const auto& row = summary.rows[i];
    const double calls = static_cast<double>(row.calls) / static_cast<double>(steps);
    const double self_ms = 1e3 * row.self_s / static_cast<double>(steps);
    const double total_ms = 1e3 * row.total_s / static_cast<double>(steps);
    const double self_share = row.self_s / wall_s;
    rows.push_back({{"name", row.name},
                    {"calls_per_step", calls},
                    {"self_ms_per_step", self_ms},
                    {"total_ms_per_step", total_ms},
                    {"self_share", self_share}});
    if (static_cast<int64_t>(i) < top)
      std::cout << fmt::format("{:<56} {:>9.1f} {:>12.2f} {:>7.1f}% {:>13.2f}\n", row.name, calls,
                               self_ms, 100.0 * self_share, total_ms);
  }
  std::cout << fmt::format("{:<56} {:>9} {:>12.2f} {:>7.1f}%\n", "(outside every operator)", "",
                           per_step_ms * (1.0 - in_ops_share), 100.0 * (1.0 - in_ops_share));
  if (!json_path.empty()) {
    const nlohmann::json doc{{"method", method},
                             {"batch", batch},
                             {"channels_last", channels_last},
                             {"threads", threads},
                             {"steps", steps},
                             {"warmup", warmup},
                             {"overrides", overrides},
                             {"ms_per_step", per_step_ms},
                             {"unprofiled_ms_per_step", unprofiled_ms},
                             {"in_ops_share", in_ops_share},
                             {"operators", rows}};
    std::ofstream out(json_path);
    out << doc.dump(1) << "\n";
    if (!out) {
      std::cerr << "profile_step: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}
