#include "app/commands.h"

#include <ATen/Version.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "app/bench_command.h"
#include "app/data_commands.h"
#include "app/distributed_run.h"
#include "app/export_command.h"
#include "app/machine.h"
#include "app/regress_command.h"
#include "app/report_command.h"
#include "app/run_driver.h"
#include "app/subcommand.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/hardware.h"
#include "harness/core/method_spec.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/dist/process_group.h"
#include "harness/eval/evaluation.h"
#include "harness/experiment/jobs.h"
#include "harness/experiment/runner.h"
#include "harness/lua/runtime.h"
#include "harness/models/flops.h"
#include "harness/report/claims.h"
#include "harness/report/paper_tables.h"
#include "harness/report/table.h"
#include "harness/store/merge.h"
#include "harness/store/store.h"
#include "harness/train/method.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRunFailed = 1;
constexpr int kExitBadInput = 2;

// The BLAS LibTorch was built with (BLAS_INFO in at::show_config()): "mkl" in PyTorch's wheels,
// linked into libtorch_cpu; "generic" or "open" in Debian's, which call libblas.so.3.
std::string blas_info() {
  const std::string config = at::show_config();
  const auto pos = config.find("BLAS_INFO=");
  if (pos == std::string::npos) return "";
  const auto begin = pos + std::string("BLAS_INFO=").size();
  return config.substr(begin, config.find_first_of(", \n", begin) - begin);
}

// The BLAS library this process actually loaded (Debian's LibTorch calls libblas.so.3, which
// the alternatives system points at OpenBLAS or at the slow reference BLAS).
std::string loaded_blas() {
  const std::string built_with = blas_info();
  if (built_with == "mkl") return "MKL (linked into LibTorch)";
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    std::string path = line.substr(pos);
    if (path.find("libblas") != std::string::npos ||
        path.find("libopenblas") != std::string::npos) {
      if (path.find("openblas") != std::string::npos) return "OpenBLAS (" + path + ")";
      if (path.find("blis") != std::string::npos) return "BLIS (" + path + ")";
      if (path.find("atlas") != std::string::npos) return "ATLAS (" + path + ")";
      return "reference BLAS (" + path +
             "): slow; install libopenblas0-pthread (scripts/setup-deps.sh does)";
    }
  }
  return "none loaded";
}

std::string version_text() {
  // A run's hash holds its method's digest: the shared training code's and its own code's.
  std::string method_digests;
  for (const MethodSpec* spec : method_specs())
    method_digests += fmt::format(" {} {}", spec->name, method_code_digest(spec->name));
  std::string text = fmt::format(
      "swavbench {} (git {})\ntraining code digests: shared {}; by method:{}\nLibTorch {}\nCUDA "
      "available: {}{}\nBLAS: {}\nintra-op threads: {}\n",
      swavbench_version(), swavbench_git_sha(), shared_training_code_digest(), method_digests,
      TORCH_VERSION, torch::cuda::is_available() ? "yes" : "no",
      torch::cuda::is_available() ? fmt::format(" ({} devices)", torch::cuda::device_count()) : "",
      loaded_blas(), torch::get_num_threads());
  // PyTorch's wheels compute with MKL; an OpenBLAS loaded for another library (liblinear) is
  // not the one that matters there.
  if (const std::string core = openblas_core_report(); !core.empty() && blas_info() != "mkl")
    text += core + "\n";
  const int threads = torch::get_num_threads();
  const PeakEstimate peak = cpu_fp32_peak(this_cpu(), threads);
  text += cpu_peak_report(threads) + "\n";
  const double gemm = measure_gemm_flops(torch::kCPU) / 1e9;
  text += fmt::format(
      "measured float32 GEMM (1024 x 1024, {} threads): {:.1f} GFLOP/s, {:.0f}% of "
      "the peak\n",
      threads, gemm, 100 * gemm / peak.gflops);
  if (const std::string note = peak_underestimate_note(gemm, peak); !note.empty())
    text += "note: " + note + "\n";
  return text;
}

// The shorter of the absolute and the cwd-relative path.
std::string readable_path(const fs::path& path) {
  std::string absolute = fs::absolute(path).lexically_normal().string();
  std::string relative = fs::proximate(path).string();
  return relative.size() < absolute.size() ? relative : absolute;
}

}  // namespace

std::string find_suite_script(const std::string& name, const std::string& what) {
  if (fs::exists(name)) return readable_path(name);
  const std::vector<std::string> suite_dirs{std::string(swavbench_source_dir()) + "/suite",
                                            std::string(SWAVBENCH_INSTALL_SUITE_DIR)};
  if (name.find('/') == std::string::npos) {
    for (const std::string& dir : suite_dirs) {
      std::string candidate = dir + "/" + name;
      if (fs::exists(candidate)) return readable_path(candidate);
    }
    throw InputError(fmt::format("{} '{}' not found (looked in the current directory, {} and {})",
                                 what, name, suite_dirs[0], suite_dirs[1]));
  }
  throw InputError(fmt::format("{} '{}' not found", what, name));
}

namespace {

struct RunArgs {
  std::string script;
  std::vector<std::string> sets;
  std::string db = default_db_path();
  bool dry_run = false;
  bool force = false;
  std::string device;
  int threads = 0;
  bool list_keys = false;
  int nproc = 1;
  std::string shard;  // "I/N" (1 <= I <= N); empty: SLURM's array variables, or none
  LuaRunOptions lua;  // the script's sandbox limits
  int64_t lua_memory_mib = LuaRunOptions{}.memory_limit_bytes >> 20;
  std::vector<std::string> argv;  // the command line, for the ranks --nproc starts
};

struct Shard {
  int index = 1, count = 1;
  std::string source;  // "--shard", "SLURM_ARRAY_TASK_ID=..." or "" (not sharded)
};

// `--shard I/N`, else a SLURM job array's task (SLURM_ARRAY_TASK_ID counted from
// SLURM_ARRAY_TASK_MIN, out of SLURM_ARRAY_TASK_COUNT), else the whole script.
Shard resolve_shard(const std::string& flag) {
  Shard shard;
  const auto parse_int = [](const std::string& text, int& out) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size();
  };
  if (!flag.empty()) {
    const auto slash = flag.find('/');
    SB_INPUT_CHECK(slash != std::string::npos && parse_int(flag.substr(0, slash), shard.index) &&
                       parse_int(flag.substr(slash + 1), shard.count) && shard.count >= 1 &&
                       shard.index >= 1 && shard.index <= shard.count,
                   "--shard '{}' must be I/N with 1 <= I <= N (e.g. --shard 2/3)", flag);
    shard.source = "--shard";
    return shard;
  }
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
  if (task == nullptr || count == nullptr) return shard;
  const char* min = std::getenv("SLURM_ARRAY_TASK_MIN");
  int task_id = 0, first = 0;
  SB_INPUT_CHECK(parse_int(task, task_id) && parse_int(count, shard.count) && shard.count >= 1 &&
                     (min == nullptr || parse_int(min, first)),
                 "SLURM_ARRAY_TASK_ID={} / SLURM_ARRAY_TASK_COUNT={} / SLURM_ARRAY_TASK_MIN={} "
                 "are not numbers; give --shard I/N instead",
                 task, count, min ? min : "(unset)");
  shard.index = task_id - first + 1;
  SB_INPUT_CHECK(shard.index >= 1 && shard.index <= shard.count,
                 "SLURM_ARRAY_TASK_ID={} is not within the array's {} tasks from "
                 "SLURM_ARRAY_TASK_MIN={} (an array with a step, such as --array=0-10:2, cannot "
                 "be mapped to shards): give --shard I/N instead",
                 task_id, shard.count, first);
  shard.source = fmt::format("SLURM_ARRAY_TASK_ID={}", task_id);
  return shard;
}

// The command line for the ranks of `--nproc N`: this executable with the same arguments, minus
// --nproc, plus --threads (cores / N) unless given, so N ranks do not oversubscribe the cores.
std::vector<std::string> rank_command_line(const RunArgs& args) {
  std::vector<std::string> out{fs::read_symlink("/proc/self/exe").string()};
  for (size_t i = 1; i < args.argv.size(); ++i) {
    const std::string& a = args.argv[i];
    if (a == "--nproc") {
      ++i;
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0) continue;
    out.push_back(a);
  }
  if (args.threads <= 0) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    out.push_back("--threads");
    out.push_back(std::to_string(std::max(1u, cores / static_cast<unsigned>(args.nproc))));
  }
  return out;
}

int do_run(const RunArgs& args) {
  if (args.list_keys) {
    for (const auto& d : config_key_docs())
      std::cout << fmt::format("{:<24} {:<44} {}\n", d.key, d.type, d.doc);
    std::cout << "\npresets: ";
    for (const auto& p : config_preset_names()) std::cout << p << " ";
    std::cout << "\nmethods: ";
    for (const auto& m : method_names()) std::cout << m << " ";
    std::cout << "\n\nprotocols (bench.eval) and their options:\n";
    for (const ProtocolSpec* p : protocol_specs()) {
      std::cout << fmt::format("{} ({}): {}\n", p->name, p->display_name, p->doc);
      for (auto it = p->default_options.begin(); it != p->default_options.end(); ++it)
        std::cout << fmt::format("  {:<22} default {:<26} {}\n", it.key(), it.value().dump(),
                                 option_range_text(*p, it.key()));
    }
    return kExitOk;
  }
  SB_INPUT_CHECK(!args.script.empty(), "swavbench run needs a script (e.g. smoke.lua)");
  std::string script = find_suite_script(args.script, "script");
  SB_INPUT_CHECK(args.nproc >= 1, "--nproc must be at least 1, got {}", args.nproc);
  const DistEnv env = read_dist_env();
  SB_INPUT_CHECK(args.nproc == 1 || !env.from_env,
                 "--nproc {} was given inside a distributed launch ({} set RANK={} "
                 "WORLD_SIZE={}): use either --nproc or the launcher, not both",
                 args.nproc, env.source, env.rank, env.world_size);
  if (args.nproc > 1 && !args.dry_run)
    return launch_local_ranks(args.nproc, rank_command_line(args), args.db,
                              RunDir::runs_dir_for_db(args.db));

  // A rank of a distributed job (started by --nproc, torchrun or SLURM). Rank 0 runs the script;
  // the others train what it sends them. Collectives go through Gloo on CPU and NCCL with
  // --device cuda; jobs travel through the rendezvous store, whatever the backend.
  std::unique_ptr<ProcessGroupCollective> group;
  if (env.world_size > 1 && !args.dry_run) {
    group = std::make_unique<ProcessGroupCollective>(env, args.device == "cuda" ? "nccl" : "gloo");
    if (env.rank > 0) return run_worker(*group);
  }
  DriverOptions options;
  options.overrides = parse_set_overrides(args.sets);
  if (!args.device.empty()) options.overrides["device"] = args.device;
  options.dry_run = args.dry_run;
  options.force = args.force;
  options.runs_dir = RunDir::runs_dir_for_db(args.db);
  options.suite = script;
  options.progress_tty = ::isatty(STDOUT_FILENO);
  options.collective = group.get();
  const Shard shard = resolve_shard(args.shard);
  options.shard = shard.index;
  options.shards = shard.count;
  if (shard.count > 1)
    std::cout << fmt::format("shard {}/{} ({}): the runs at positions p with p % {} == {} in {}\n",
                             shard.index, shard.count, shard.source, shard.count, shard.index - 1,
                             script);

  Store store(args.db);
  int marked = mark_interrupted_runs(store, options.runs_dir);
  if (marked > 0)
    std::cout << fmt::format(
        "found {} run(s) whose process was killed: marked interrupted, "
        "they resume from their last checkpoint\n",
        marked);
  RunDriver driver(store, options);
  auto t0 = std::chrono::steady_clock::now();
  try {
    LuaRunOptions lua = args.lua;
    lua.memory_limit_bytes = args.lua_memory_mib << 20;
    run_lua_file(script, driver, lua);
    driver.finish(script);
  } catch (...) {
    // Let the other ranks go home; when they are gone already this fails, which changes nothing.
    if (group) end_jobs(*group, /*best_effort=*/true);
    throw;
  }
  if (group) end_jobs(*group);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format(
      "{}: {} run(s) trained, {} reused{}, {:.1f} s; results in {}\n",
      fs::path(script).filename().string(), driver.runs_trained(), driver.runs_reused(),
      shard.count > 1
          ? fmt::format(", {} left to the other shards", driver.runs_left_to_other_shards())
          : "",
      seconds, args.db);
  return kExitOk;
}

int do_db_runs(const std::string& db) {
  Store store(db, StoreAccess::kReadOnly);
  std::cout << fmt::format("{:>4}  {:<16}  {:<10}  {:<11}  {:<20}  {:<20}  {}\n", "id", "hash",
                           "method", "status", "label", "started", "finished");
  for (const auto& r : store.runs())
    std::cout << fmt::format("{:>4}  {:<16}  {:<10}  {:<11}  {:<20}  {:<20}  {}\n", r.id, r.hash,
                             r.method, r.status, r.label, r.started, r.finished);
  return kExitOk;
}

int do_db_show(const std::string& db, const std::string& name) {
  Store store(db, StoreAccess::kReadOnly);
  const RunRow r = find_run(store, name, "db show");
  const int64_t id = r.id;
  std::cout << fmt::format(
      "run #{} [{}] {} — {}{}\n  label {}\n  suite {}\n  started {}  finished {}\n  git {}  "
      "torch {}  device {}  world {}  per-device batch {}  host {}  pid {}\n  config {}\n",
      r.id, r.hash, r.method, r.status, r.reason.empty() ? "" : " (" + r.reason + ")", r.label,
      r.suite, r.started, r.finished, r.git_sha, r.torch_version, r.device, r.world_size,
      r.per_device_batch, r.host, r.pid, r.config_json);
  std::cout << "  epochs:\n";
  for (const auto& e : store.epochs(id))
    std::cout << fmt::format(
        "    {:>3}  loss {:.4f}  lr {:.4g}  {:.0f} img/s  data-wait {:.1f}%  peak {:.0f} MiB  "
        "{}\n",
        e.epoch + 1, e.loss, e.lr, e.img_per_s, 100 * e.data_wait, e.peak_mem / (1 << 20),
        e.extra_json);
  // The code digests the run's hash was made with, and each protocol's with its results: what
  // decides whether an edit retrains the run or re-evaluates a result (README, "Reuse").
  const nlohmann::json code = nlohmann::json::parse(r.code_json, nullptr, false);
  if (code.is_object() && code.contains("shared") && code.contains("method")) {
    std::cout << fmt::format("  code: shared training {}, {} {} (this build: {}, {})\n",
                             code["shared"].get<std::string>(), r.method,
                             code["method"].get<std::string>(), shared_training_code_digest(),
                             method_code_digest(r.method));
  } else {
    std::cout << "  code: not recorded (a run from before schema 3)\n";
  }
  std::cout << "  evals:\n";
  for (const auto& e : store.evals(id)) {
    const nlohmann::json card = nlohmann::json::parse(e.card_json, nullptr, false);
    const std::string digest =
        card.is_object() ? card.value("code_digest", std::string("not recorded")) : "not recorded";
    std::cout << fmt::format("    {}.{} = {:.3f}  (protocol code {})\n", e.protocol, e.metric,
                             e.value, digest);
  }
  for (const auto& a : store.alarms(id))
    std::cout << fmt::format("  ALARM {} at epoch {}: {} — {}\n", a.kind, a.epoch + 1, a.reason,
                             a.advice);
  for (const auto& a : store.artifacts(id))
    std::cout << fmt::format("  artifact {} {} sha256 {}\n", a.kind, a.path, a.sha256);
  return kExitOk;
}

int do_db_merge(const std::string& out_path, const std::vector<std::string>& inputs) {
  Store out(out_path);
  for (const std::string& in : inputs) {
    const MergeSummary m = merge_database(out, in);
    std::cout << fmt::format(
        "merged {}: runs {} added, {} replaced (unfinished here), {} already here, {} unfinished "
        "there (kept ours); rows added: {} epochs, {} evals, {} alarms, {} artifacts, {} tags, "
        "{} bench\n",
        in, m.runs_added, m.runs_replaced, m.runs_same, m.runs_skipped, m.epochs, m.evals, m.alarms,
        m.artifacts, m.tags, m.bench);
    if (!m.missing_artifacts.empty())
      std::cout << fmt::format(
          "  {} artifact path(s) recorded there do not exist on this machine (kept as they are; "
          "copy the shards' runs/ folders to use the checkpoints), e.g. {}\n",
          m.missing_artifacts.size(), m.missing_artifacts.front());
  }
  std::cout << fmt::format("{}: {} run(s)\n", out_path, out.runs().size());
  return kExitOk;
}

}  // namespace

std::string default_db_path() {
  if (const char* env = std::getenv("SWAVBENCH_DB")) return env;
  return "results/swavbench.sqlite";
}

json parse_set_overrides(const std::vector<std::string>& sets) {
  json overrides = json::object();
  for (const auto& s : sets) {
    auto eq = s.find('=');
    SB_INPUT_CHECK(eq != std::string::npos && eq > 0,
                   "--set '{}' must be key=value (e.g. --set epochs=1)", s);
    overrides[s.substr(0, eq)] = parse_set_value(s.substr(eq + 1));
  }
  return overrides;
}

int run_cli(int argc, char** argv) {
  settle_process_environment(argv);
  CLI::App app{"swavbench: reproduce SwAV and its baselines from Lua experiment scripts"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "print version, git sha, LibTorch, CUDA and BLAS");

  RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "run a Lua experiment script");
  run->add_option("script", run_args.script, "FILE.lua (or a name in suite/)");
  run->add_option("--set", run_args.sets, "override: key=value (config key or bench.param)");
  run->add_option("--db", run_args.db, "results database")->capture_default_str();
  run->add_flag("--dry-run", run_args.dry_run, "print the plan without training");
  run->add_flag("--force", run_args.force, "retrain runs that are already complete");
  run->add_option("--device", run_args.device, "cpu or cuda (overrides every run's device)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  run->add_option("--threads", run_args.threads, "intra-op threads (default: all cores)");
  run->add_flag("--list-keys", run_args.list_keys, "list config keys, presets, methods, protocols");
  run->add_option("--nproc", run_args.nproc,
                  "train with N processes on this machine (Gloo over loopback), like torchrun")
      ->capture_default_str();
  run->add_option("--shard", run_args.shard,
                  "I/N: train and evaluate only this slice of the script's runs, into its own "
                  "--db (default from SLURM_ARRAY_TASK_ID / _COUNT / _MIN when set)");
  run->add_option("--lua-memory-mib", run_args.lua_memory_mib,
                  "memory the script itself may hold, in MiB (training's is not counted)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30))
      ->capture_default_str();
  run->add_option("--lua-seconds", run_args.lua.time_limit_seconds,
                  "wall time the script's own Lua code may run (time in bench.* is not counted)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_args.argv.assign(argv, argv + argc);

  std::string db = default_db_path();
  CLI::App* dbcmd = app.add_subcommand("db", "inspect the results database");
  dbcmd->add_option("--db", db, "results database")->capture_default_str();
  dbcmd->require_subcommand(1);
  CLI::App* db_runs = dbcmd->add_subcommand("runs", "list runs");
  std::string show_id;
  CLI::App* db_show = dbcmd->add_subcommand("show", "one run: config, provenance, epochs, evals");
  db_show->add_option("run", show_id, "run id, or its hash (a unique prefix will do)")->required();
  std::string merge_out;
  std::vector<std::string> merge_inputs;
  CLI::App* db_merge =
      dbcmd->add_subcommand("merge", "merge shard databases into OUT (runs by hash; idempotent)");
  db_merge->add_option("out", merge_out, "OUT.sqlite (created when missing)")->required();
  db_merge->add_option("inputs", merge_inputs, "IN.sqlite ...")->required();
  CLI::App* db_export = dbcmd->add_subcommand("export", "export runs and evals");
  bool csv = false;
  db_export->add_flag("--csv", csv, "CSV to stdout")->required();

  TableSpec table_spec;
  std::string tables_db = default_db_path();
  CLI::App* tables = app.add_subcommand("tables", "render tables from the database");
  tables->add_option("--db", tables_db, "results database")->capture_default_str();
  tables->add_option("--format", table_spec.format, "md, csv, latex or html")
      ->check(CLI::IsMember({"md", "csv", "latex", "html"}));
  CLI::Option* tables_by =
      tables->add_option("--by", table_spec.by, "config keys naming a row (default: label)");
  CLI::Option* tables_metrics =
      tables->add_option("--metrics", table_spec.metrics, "protocol.metric columns (default: all)");
  std::string paper_table, paper_csv = std::string(swavbench_source_dir()) + "/results/paper.csv";
  tables
      ->add_option(
          "--table", paper_table,
          "a paper table (linear, semisup, transfer, crops, batch, prototypes, cost), all, or "
          "claims (the paper's claims judged on these runs): "
          "ours beside the published values")
      ->excludes(tables_by)
      ->excludes(tables_metrics);
  tables->add_option("--paper", paper_csv, "published values for --table (CSV)")
      ->capture_default_str();

  std::string claims_db = default_db_path(), claims_file, claims_format = "md";
  CLI::App* claims = app.add_subcommand(
      "claims", "for each claim of the paper: the effect on your runs, its interval, a verdict");
  claims->add_option("--db", claims_db, "results database")->capture_default_str();
  claims->add_option("--claims", claims_file, "claims file (default: results/claims.csv)");
  claims->add_option("--format", claims_format, "md, csv, latex or html")
      ->check(CLI::IsMember({"md", "csv", "latex", "html"}))
      ->capture_default_str();

  CLI::App* data = app.add_subcommand("data", "make and score datasets");
  data->require_subcommand(1);
  std::string voc_out, voc_root, voc_split = "test", voc_detections;
  uint64_t voc_seed = 0;
  int voc_train = 2000, voc_test = 1000;
  CLI::App* make_voc =
      data->add_subcommand("make-voc", "write Fashion-MNIST scenes in the VOC2007 layout");
  make_voc->add_option("--out", voc_out, "output folder")->required();
  make_voc->add_option("--seed", voc_seed, "scene seed")->capture_default_str();
  make_voc->add_option("--train", voc_train, "trainval images")->capture_default_str();
  make_voc->add_option("--test", voc_test, "test images")->capture_default_str();
  CLI::App* voc_eval = data->add_subcommand(
      "voc-eval", "score devkit detection files (comp4_det_<split>_<class>.txt), VOC07 rules");
  voc_eval->add_option("--root", voc_root, "VOC2007 folder (Annotations/, ImageSets/)")->required();
  voc_eval->add_option("--split", voc_split, "image set")->capture_default_str();
  voc_eval->add_option("--detections", voc_detections, "folder of results files")->required();
  std::string voc_format = "md";
  voc_eval
      ->add_option("--format", voc_format,
                   "md (a table), json or csv (full precision, for programs)")
      ->capture_default_str();
  MakeImageFolderOptions folder;
  CLI::App* make_folder = data->add_subcommand(
      "make-imagefolder", "write Fashion-MNIST items as RGB JPEG scenes in the ImageFolder layout");
  make_folder->add_option("--out", folder.out, "output folder (train/<class>/, val/<class>/)")
      ->required();
  make_folder->add_option("--classes", folder.classes, "classes, 1-10")->capture_default_str();
  make_folder->add_option("--train-per-class", folder.train_per_class, "train images per class")
      ->capture_default_str();
  make_folder->add_option("--val-per-class", folder.val_per_class, "val images per class")
      ->capture_default_str();
  make_folder->add_option("--size", folder.size, "image side, pixels")->capture_default_str();
  make_folder->add_option("--quality", folder.quality, "JPEG quality")->capture_default_str();
  make_folder->add_option("--seed", folder.seed, "scene seed")->capture_default_str();

  SampleGridOptions grid;
  CLI::App* sample_grid_cmd = data->add_subcommand(
      "sample-grid", "write a PNG of a dataset's images, one column per class");
  sample_grid_cmd->add_option("--dataset", grid.dataset, "dataset name")->capture_default_str();
  sample_grid_cmd->add_option("--data-path", grid.data_path, "dataset location ('' = default)");
  sample_grid_cmd->add_option("--split", grid.split, "train, val (fashion-scenes) or test")
      ->capture_default_str();
  sample_grid_cmd->add_option("--load-size", grid.load_size, "as the config key load_size")
      ->capture_default_str();
  sample_grid_cmd->add_option("--per-class", grid.per_class, "images per class")
      ->capture_default_str();
  sample_grid_cmd->add_option("--scale", grid.scale, "upscaling factor")->capture_default_str();
  sample_grid_cmd->add_option("--out", grid.out, "PNG file")->required();

  // Subcommands defined in their own files (app/*_command.cpp).
  std::vector<Subcommand> subcommands = {
      add_bench_command(app),
      add_export_command(app),
      add_regress_command(app),
      add_report_command(app),
  };

  int threads = 0;
  try {
    app.parse(argc, argv);
    threads = run_args.threads > 0 ? run_args.threads
                                   : static_cast<int>(std::thread::hardware_concurrency());
    // Under torchrun, LOCAL_WORLD_SIZE ranks share this machine's cores.
    if (run_args.threads <= 0) {
      if (const char* local = std::getenv("LOCAL_WORLD_SIZE"); local && std::atoi(local) > 1)
        threads = std::max(1, threads / std::atoi(local));
    }
    if (threads > 0) torch::set_num_threads(threads);
    if (show_version) {
      std::cout << version_text();
      return kExitOk;
    }
    if (*run) return do_run(run_args);
    for (const Subcommand& sub : subcommands)
      if (*sub.app) return sub.action();
    if (*claims) {
      SB_INPUT_CHECK(fs::exists(claims_db), "claims: database {} does not exist", claims_db);
      if (claims_file.empty()) claims_file = default_claims_csv();
      SB_INPUT_CHECK(!claims_file.empty(),
                     "claims: results/claims.csv was not found here or in {}; give --claims FILE",
                     swavbench_source_dir());
      Store store(claims_db, StoreAccess::kReadOnly);
      std::cout << format_table(claims_table(evaluate_claims(store, read_claims_csv(claims_file))),
                                claims_format);
      return kExitOk;
    }
    if (*db_runs) return do_db_runs(db);
    if (*db_show) return do_db_show(db, show_id);
    if (*db_merge) return do_db_merge(merge_out, merge_inputs);
    if (*make_voc) return run_make_voc(voc_out, voc_seed, voc_train, voc_test);
    if (*voc_eval) return run_voc_eval(voc_root, voc_split, voc_detections, voc_format);
    if (*make_folder) return run_make_imagefolder(folder);
    if (*sample_grid_cmd) return run_sample_grid(grid);
    if (*db_export) {
      Store store(db, StoreAccess::kReadOnly);
      std::cout << store.export_csv();
      return kExitOk;
    }
    if (*tables) {
      Store store(tables_db, StoreAccess::kReadOnly);
      if (paper_table == "claims") {
        const std::string claims_csv = default_claims_csv();
        SB_INPUT_CHECK(!claims_csv.empty(),
                       "tables --table claims: results/claims.csv was not found here or in {}",
                       swavbench_source_dir());
        std::cout << format_table(claims_table(evaluate_claims(store, read_claims_csv(claims_csv))),
                                  table_spec.format);
        return kExitOk;
      }
      if (!paper_table.empty()) {
        std::cout << render_paper_tables(store, paper_table, read_paper_csv(paper_csv),
                                         table_spec.format);
        return kExitOk;
      }
      table_spec.title = "All completed runs";
      std::cout << render_table(store, table_spec);
      return kExitOk;
    }
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  } catch (const InputError& e) {
    std::cerr << "swavbench: error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "swavbench: run failed: " << e.what() << "\n";
    return kExitRunFailed;
  }
}

}  // namespace swavbench
