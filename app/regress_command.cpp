#include "app/regress_command.h"

#include <stdlib.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "app/run_driver.h"
#include "app/subcommand.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/hardware.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/experiment/runner.h"
#include "harness/lua/runtime.h"
#include "harness/models/flops.h"
#include "harness/report/regress.h"
#include "harness/store/store.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kCiScript = "ci.lua";

struct RegressArgs {
  std::string baseline = "results/baseline.json";
  bool update = false;
  std::vector<std::string> sets;
  std::string db;  // empty: a fresh temporary database
  std::string script = kCiScript;
  // --update records these; when comparing, one given on the command line replaces the
  // baseline's for every metric of its kind (e.g. a looser throughput tolerance where other
  // jobs share the machine).
  RegressTolerances tolerances;
  bool accuracy_tol_given = false, loss_tol_given = false, throughput_tol_given = false;
};

// The float GEMM rate now, GFLOP/s, leaving LibTorch's global generator as it found it (the
// measurement draws random matrices; the evaluations after it must see what `swavbench run`
// would give them).
double gemm_gflops_now(double seconds) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  const double flops = measure_gemm_flops(torch::kCPU, false, 1024, seconds);
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
  return flops / 1e9;
}

// Forwards every bench.* call to the RunDriver and remembers which runs the script asked for,
// in order, so a --db that holds other runs does not leak them into the comparison. After each
// run it trained it measures the GEMM rate again: with the trainer's measurement just before the
// run, the pair brackets the epoch.
class RecordingDriver final : public Driver {
 public:
  explicit RecordingDriver(RunDriver& inner) : inner_(inner) {}

  json pretrain(const json& table, const std::string& where) override {
    json handle = inner_.pretrain(table, where);
    const std::string hash = handle.value("hash", "");
    if (!hash.empty() && seen_.insert(hash).second) hashes_.push_back(hash);
    if (!hash.empty() && !handle.value("cached", true) && handle.value("status", "") == kStatusDone)
      gemm_after_[hash] = gemm_gflops_now(0.4);
    return handle;
  }
  json eval(const json& run, const json& spec, const std::string& where) override {
    return inner_.eval(run, spec, where);
  }
  std::string table(const json& spec, const std::string& where) override {
    return inner_.table(spec, where);
  }
  json param(const std::string& name, const json& default_value,
             const std::string& where) override {
    return inner_.param(name, default_value, where);
  }
  void log(const std::string& line) override { inner_.log(line); }
  json dataset(const json& spec, const std::string& where) override {
    return inner_.dataset(spec, where);
  }

  const std::vector<std::string>& hashes() const { return hashes_; }
  // GFLOP/s measured right after each run this process trained (none for reused runs).
  const std::map<std::string, double>& gemm_after() const { return gemm_after_; }

 private:
  RunDriver& inner_;
  std::set<std::string> seen_;
  std::vector<std::string> hashes_;
  std::map<std::string, double> gemm_after_;
};

// Epoch-row statistics compared as training fingerprints; an allowlist, so that a timing figure
// a method logs one day never makes CI flaky. Timing logs (mfu, model_gflop_per_s, ...) are out.
const std::vector<std::string> kTrainingStats{"code_entropy", "max_prototype_share", "positive_sim",
                                              "instance_top1", "train_top1"};

// The GEMM rate of the machine during this regress, as one number for the baseline's header: the
// median of every measurement this process made (the command's own before the script, the
// trainer's before each run it trained, ours after each).
double process_gemm_median(Store& store, const RecordingDriver& recorder, double initial) {
  std::vector<double> samples{initial};
  for (const auto& [hash, after] : recorder.gemm_after()) {
    samples.push_back(after);
    std::optional<RunRow> run = store.run_by_hash(hash);
    if (!run) continue;
    std::vector<EpochRow> epochs = store.epochs(run->id);
    if (epochs.empty()) continue;
    // The trainer measures once, before the first epoch, and logs it in every epoch row.
    json extra = json::parse(epochs.front().extra_json, nullptr, false);
    if (extra.is_object() && extra.contains("gemm_gflop_per_s") &&
        extra["gemm_gflop_per_s"].is_number())
      samples.push_back(extra["gemm_gflop_per_s"].get<double>());
  }
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

// The script's metrics, named "<label>/<what>" (see harness/report/regress.h).
MetricMap collect_metrics(Store& store, const RecordingDriver& recorder,
                          const RegressTolerances& tol, double calibration) {
  MetricMap metrics;
  std::set<std::string> labels;
  // The runs trained in this process, on this CPU: its identity goes with every peak-relative
  // row (drop_rows_of_another_peak).
  const CpuDescription cpu = this_cpu();
  const std::map<std::string, double> cpu_identity{{"cpu_vendor", cpu_vendor_code(cpu.vendor)},
                                                   {"cpu_family", cpu.family},
                                                   {"cpu_model", cpu.model}};
  for (const std::string& hash : recorder.hashes()) {
    std::optional<RunRow> run = store.run_by_hash(hash);
    SB_CHECK(run.has_value(), "run [{}] vanished from {}", hash, store.path());
    const std::string label = run->label.empty() ? run->method : run->label;
    SB_INPUT_CHECK(labels.insert(label).second,
                   "two runs of the regress script share the label '{}': give each run a "
                   "unique label (metrics are named after it)",
                   label);
    if (run->status != kStatusDone) continue;  // a failed run has thrown already; be safe

    for (const EvalRow& e : store.evals(run->id)) {
      MetricValue m;
      m.kind = MetricKind::accuracy;
      m.value = e.value;
      m.tolerance = tol.accuracy_points;
      m.unit = "%";
      metrics[fmt::format("{}/{}.{}", label, e.protocol, e.metric)] = m;
    }

    std::vector<EpochRow> epochs = store.epochs(run->id);
    if (epochs.empty()) continue;  // e.g. the random-init control trains no epoch
    const EpochRow& last = epochs.back();
    MetricValue loss;
    loss.kind = MetricKind::loss;
    loss.value = last.loss;
    loss.tolerance = tol.loss_relative;
    metrics[label + "/loss"] = loss;

    json extra = json::parse(last.extra_json, nullptr, false);
    if (!extra.is_object()) extra = json::object();
    for (const std::string& stat : kTrainingStats) {
      if (!extra.contains(stat) || !extra[stat].is_number()) continue;
      MetricValue m;
      m.kind = MetricKind::training_stat;
      m.value = extra[stat].get<double>();
      m.tolerance = tol.loss_relative;
      metrics[label + "/" + stat] = m;
    }

    // img/s over the GEMM rate measured around this run in this process: the trainer's just
    // before it (logged in the epoch row) and ours just after (geometric mean), so a load that
    // comes or goes during the script moves both sides of the ratio. A run reused from --db was
    // timed by another process: it has only that process's trainer measurement. Without
    // either, the process median.
    double img_per_s = 0;
    for (const EpochRow& e : epochs) img_per_s += e.img_per_s;
    img_per_s /= static_cast<double>(epochs.size());
    double before = 0;
    json first = json::parse(epochs.front().extra_json, nullptr, false);
    if (first.is_object() && first.contains("gemm_gflop_per_s") &&
        first["gemm_gflop_per_s"].is_number())
      before = first["gemm_gflop_per_s"].get<double>();
    auto after_it = recorder.gemm_after().find(hash);
    const double after = after_it == recorder.gemm_after().end() ? 0 : after_it->second;
    const double gflops = before > 0 && after > 0 ? std::sqrt(before * after)
                          : before > 0            ? before
                          : after > 0             ? after
                                                  : calibration;
    MetricValue tput;
    tput.kind = MetricKind::throughput;
    tput.value = gflops > 0 ? img_per_s / gflops : 0;
    tput.tolerance = tol.throughput_drop;
    tput.unit = "img/s per GEMM GFLOP/s";
    tput.info = {{"img_per_s", img_per_s}, {"gemm_gflop_per_s", gflops}};
    if (before > 0) tput.info["gemm_before"] = before;
    if (after > 0) tput.info["gemm_after"] = after;

    // The same img/s against the CPU's float32 peak (the epochs' mfu, harness/core/hardware.h):
    // not calibrated by this process's GEMM rate, so a BLAS that became slow (generic kernels)
    // shows here while the calibrated row above, slowed alike, does not. Compared only against
    // a baseline of the same peak (run_regress drops it otherwise): a peak is per machine.
    double mfu = 0, peak = 0;
    for (const EpochRow& e : epochs) {
      json logs = json::parse(e.extra_json, nullptr, false);
      if (!logs.is_object() || !logs.contains("mfu") || !logs["mfu"].is_number()) {
        mfu = 0;
        break;
      }
      mfu += logs["mfu"].get<double>() / static_cast<double>(epochs.size());
      peak = logs.value("peak_gflop_per_s", 0.0);
    }
    // The calibration holds on one CPU, not across CPUs: on an AVX-512 Xeon (fp32 peak 333
    // GFLOP/s) the GEMM ran 4x the rate of a Zen EPYC (63.9) and SwAV's convolutions 1.6x, so
    // the ratio fell to x0.54 with no code change. The row carries the peak, and a baseline of
    // another peak is not compared (drop_rows_of_another_peak says so).
    // And the CPU itself: two CPUs can share a computed peak (a 2.6 GHz AVX-512 Xeon and a Zen 5
    // EPYC reporting 2.6 GHz, both 332 GFLOP/s on 2 cores).
    if (peak > 0) {
      tput.info["peak_gflop_per_s"] = peak;
      tput.info.insert(cpu_identity.begin(), cpu_identity.end());
    }
    metrics[label + "/throughput"] = tput;
    if (mfu > 0 && peak > 0) {
      MetricValue m;
      m.kind = MetricKind::throughput;
      m.value = mfu;
      m.tolerance = tol.throughput_drop;
      m.unit = "fraction of fp32 peak";
      m.info = {{"img_per_s", img_per_s}, {"peak_gflop_per_s", peak}};
      m.info.insert(cpu_identity.begin(), cpu_identity.end());
      metrics[label + "/mfu"] = m;
    }
  }
  return metrics;
}

// Raw figures behind each throughput row, for reading a CI log.
std::string throughput_details(const MetricMap& baseline, const MetricMap& current) {
  auto info = [](const MetricValue& m, const char* key) {
    auto it = m.info.find(key);
    return it == m.info.end() ? 0.0 : it->second;
  };
  std::string out;
  for (const auto& [name, now] : current) {
    if (now.kind != MetricKind::throughput) continue;
    if (!now.info.count("gemm_gflop_per_s")) {  // the MFU row (the calibrated one has a GEMM)
      out += fmt::format("  {:<24} {:7.1f} img/s, MFU {:.3f} of the fp32 peak {:5.1f} GFLOP/s",
                         name, info(now, "img_per_s"), now.value, info(now, "peak_gflop_per_s"));
      auto base = baseline.find(name);
      if (base != baseline.end())
        out += fmt::format("; baseline MFU {:.3f} of {:5.1f}", base->second.value,
                           info(base->second, "peak_gflop_per_s"));
      out += "\n";
      continue;
    }
    out += fmt::format("  {:<24} {:7.1f} img/s at {:5.1f} GFLOP/s ({:5.1f} before, {:5.1f} after)",
                       name, info(now, "img_per_s"), info(now, "gemm_gflop_per_s"),
                       info(now, "gemm_before"), info(now, "gemm_after"));
    auto base = baseline.find(name);
    if (base != baseline.end())
      out += fmt::format("; baseline {:7.1f} img/s at {:5.1f}", info(base->second, "img_per_s"),
                         info(base->second, "gemm_gflop_per_s"));
    out += "\n";
  }
  return out;
}

std::string describe(const json& provenance) {
  auto get = [&](const char* key) {
    if (!provenance.contains(key)) return std::string("?");
    const json& v = provenance[key];
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  return fmt::format("git {}, host {}, {}, {} threads, LibTorch {}", get("git_sha"), get("host"),
                     get("date"), get("threads"), get("torch"));
}

int do_regress(const RegressArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  std::optional<Baseline> baseline;
  if (!args.update) {
    baseline = read_baseline(args.baseline);  // fail fast, before training
    for (auto& [name, m] : baseline->metrics) {
      if (m.kind == MetricKind::accuracy && args.accuracy_tol_given)
        m.tolerance = args.tolerances.accuracy_points;
      if ((m.kind == MetricKind::loss || m.kind == MetricKind::training_stat) &&
          args.loss_tol_given)
        m.tolerance = args.tolerances.loss_relative;
      if (m.kind == MetricKind::throughput && args.throughput_tol_given)
        m.tolerance = args.tolerances.throughput_drop;
    }
  }
  const std::string script = find_suite_script(args.script, "regress script");

  DriverOptions options;
  options.overrides = parse_set_overrides(args.sets);
  std::unique_ptr<TempDir> temp;
  std::string db = args.db;
  if (db.empty()) {
    temp = std::make_unique<TempDir>("swavbench_regress");
    db = temp->path() + "/regress.sqlite";
  }
  options.runs_dir = RunDir::runs_dir_for_db(db);
  options.suite = script;
  options.progress_tty = false;  // a log, not a progress line: regress runs in CI

  // The machine's speed, measured in this process, recorded with the baseline.
  const double initial_gemm = gemm_gflops_now(0.5);
  std::cout << fmt::format("regress: {} into {}; float GEMM {:.1f} GFLOP/s on {} threads\n", script,
                           db, initial_gemm, torch::get_num_threads())
            << std::flush;

  Store store(db);
  mark_interrupted_runs(store, options.runs_dir);
  RunDriver driver(store, options);
  RecordingDriver recorder(driver);
  run_lua_file(script, recorder);
  driver.finish(script);

  const RegressTolerances& tol = baseline ? baseline->tolerances : args.tolerances;
  const double calibration = process_gemm_median(store, recorder, initial_gemm);
  MetricMap current = collect_metrics(store, recorder, tol, calibration);
  SB_CHECK(!current.empty(), "{} produced no metrics", script);

  json provenance = {
      {"git_sha", swavbench_git_sha()}, {"host", hostname()},
      {"date", utc_now_iso8601()},      {"threads", torch::get_num_threads()},
      {"torch", TORCH_VERSION},         {"suite", fs::path(script).filename().string()}};
  if (!args.sets.empty()) provenance["set"] = args.sets;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (args.update) {
    Baseline b;
    b.provenance = provenance;
    b.calibration_gflops = calibration;
    b.tolerances = args.tolerances;
    b.metrics = current;
    write_baseline(args.baseline, b);
    std::vector<ComparisonRow> rows = compare_metrics({}, current);
    for (auto& r : rows) {
      r.verdict = Verdict::ok;
      r.note = "recorded";
    }
    std::cout << "\n"
              << render_comparison(rows)
              << fmt::format(
                     "\nthroughput: img/s over the GEMM rate measured around each run (process "
                     "median {:.1f} GFLOP/s):\n",
                     calibration)
              << throughput_details({}, current);
    std::cout << fmt::format("\nregress: wrote {} ({} metrics; {}) in {:.1f} s\n", args.baseline,
                             current.size(), describe(provenance), seconds);
    return 0;
  }

  const std::string peak_notes = drop_rows_of_another_peak(baseline->metrics, current);
  std::vector<ComparisonRow> rows = compare_metrics(baseline->metrics, current);
  std::cout << fmt::format("\nbaseline {}: {}\nthis run:  {}\n{}", args.baseline,
                           describe(baseline->provenance), describe(provenance), peak_notes);
  if (args.accuracy_tol_given || args.loss_tol_given || args.throughput_tol_given)
    std::cout << fmt::format(
        "note: tolerances from the command line replace the baseline's:{}{}{}\n",
        args.accuracy_tol_given
            ? " accuracy " + format_tolerance(MetricKind::accuracy, args.tolerances.accuracy_points)
            : "",
        args.loss_tol_given
            ? " loss " + format_tolerance(MetricKind::loss, args.tolerances.loss_relative)
            : "",
        args.throughput_tol_given
            ? " throughput " +
                  format_tolerance(MetricKind::throughput, args.tolerances.throughput_drop)
            : "");
  if (baseline->provenance.value("threads", 0) != torch::get_num_threads())
    std::cout << "note: the baseline was made with another thread count; accuracies and losses "
                 "may differ in the last digits\n";
  std::cout << "\n"
            << render_comparison(rows)
            << fmt::format(
                   "\nthroughput: img/s over the GEMM rate measured around each run (process "
                   "median {:.1f} GFLOP/s, baseline's {:.1f}):\n",
                   calibration, baseline->calibration_gflops)
            << throughput_details(baseline->metrics, current) << "\n";
  int regressions = 0, improved = 0, added = 0;
  std::string regressed;
  for (const auto& r : rows) {
    if (r.verdict == Verdict::regression) {
      ++regressions;
      regressed += (regressed.empty() ? "" : ", ") + r.name;
    }
    if (r.verdict == Verdict::improved) ++improved;
    if (r.verdict == Verdict::added) ++added;
  }
  if (regressions > 0) {
    std::cout << fmt::format(
        "regress: FAILED: {} regression(s): {} ({:.1f} s). If the change is intended, record a "
        "new baseline with --update.\n",
        regressions, regressed, seconds);
    return 1;
  }
  std::cout << fmt::format(
      "regress: ok: {} metrics within tolerance, {} improved, {} new ({:.1f} s)\n",
      rows.size() - improved - added, improved, added, seconds);
  return 0;
}

}  // namespace

Subcommand add_regress_command(CLI::App& app) {
  auto args = std::make_shared<RegressArgs>();
  CLI::App* cmd = app.add_subcommand(
      "regress", "run suite/ci.lua and compare its metrics with a baseline (exit 1 on regression)");
  cmd->add_option("--baseline", args->baseline, "baseline JSON")->capture_default_str();
  cmd->add_flag("--update", args->update, "write the baseline from this run instead of comparing");
  cmd->add_option("--set", args->sets, "override passed to the script: key=value (as run --set)");
  cmd->add_option("--db", args->db, "results database (default: a fresh temporary one)");
  cmd->add_option("--script", args->script, "the regress workload")->capture_default_str();
  CLI::Option* acc = cmd->add_option("--accuracy-tol", args->tolerances.accuracy_points,
                                     "allowed accuracy drop, percentage points (recorded by "
                                     "--update; otherwise replaces the baseline's)")
                         ->capture_default_str()
                         ->check(CLI::NonNegativeNumber);
  CLI::Option* loss = cmd->add_option("--loss-tol", args->tolerances.loss_relative,
                                      "allowed relative change of the loss and training "
                                      "statistics (as --accuracy-tol)")
                          ->capture_default_str()
                          ->check(CLI::NonNegativeNumber);
  CLI::Option* tput = cmd->add_option("--throughput-tol", args->tolerances.throughput_drop,
                                      "allowed fractional drop of calibrated img/s (as "
                                      "--accuracy-tol)")
                          ->capture_default_str()
                          ->check(CLI::Range(0.0, 1.0));
  return {cmd, [args, acc, loss, tput] {
            args->accuracy_tol_given = acc->count() > 0;
            args->loss_tol_given = loss->count() > 0;
            args->throughput_tol_given = tput->count() > 0;
            return do_regress(*args);
          }};
}

}  // namespace swavbench
