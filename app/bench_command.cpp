#include "app/bench_command.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/files.h"
#include "harness/core/hardware.h"
#include "harness/core/provenance.h"
#include "harness/core/text.h"
#include "harness/store/store.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct BenchArgs {
  std::string filter;
  double min_time = 0.5;
  std::string db;
  bool peers = false;
  int rounds = 4;
  int peer_steps = 10;
  std::string profile;  // --profile: comma-separated methods, "" = no profile
  int profile_steps = 5;
  int profile_top = 25;
};

// <dir of the running swavbench>/bench: where the build puts bench/bench_*.
fs::path bench_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  SB_CHECK(!ec, "cannot resolve /proc/self/exe: {}", ec.message());
  return exe.parent_path() / "bench";
}

std::vector<fs::path> bench_executables(const fs::path& dir) {
  std::vector<fs::path> exes;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("bench_", 0) != 0 || !entry.is_regular_file(ec)) continue;
      if (::access(entry.path().c_str(), X_OK) != 0) continue;
      exes.push_back(entry.path());
    }
  }
  std::sort(exes.begin(), exes.end());
  SB_INPUT_CHECK(!exes.empty(),
                 "no benchmark executables (bench_*) in {}: swavbench bench runs the Google "
                 "Benchmark programs built next to the swavbench binary, which ./swavbench's first "
                 "run leaves out; `scripts/setup-deps.sh test` installs Google Benchmark, then "
                 "`cmake --preset release -DSWAVBENCH_BUILD_BENCH=ON && cmake --build build` "
                 "builds them (scripts/test.sh does both)",
                 dir.string());
  return exes;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// The benchmark names `exe` has that match `filter` (all when empty).
std::vector<std::string> list_benchmarks(const fs::path& exe, const std::string& filter,
                                         const TempDir& tmp) {
  std::vector<std::string> argv{exe.string(), "--benchmark_list_tests=true"};
  if (!filter.empty()) argv.push_back("--benchmark_filter=" + filter);
  const std::string out = tmp.path() + "/list.out", err = tmp.path() + "/list.err";
  int status = run_process(argv, out, err);
  if (status != 0)
    throw InputError(fmt::format(
        "{} --benchmark_list_tests failed (exit {}){}: {}", exe.filename().string(), status,
        filter.empty() ? "" : fmt::format(" with --filter '{}'", filter), read_file(err)));
  return lines_of(read_file(out));
}

struct Figure {
  double value = 0;
  std::string unit;
  bool higher_is_better = false;
};

// items_per_second -> img/s (every benchmark here counts images, unless its label says
// "items=<noun>"); else the real time per iteration in ms.
Figure figure_of(const json& b) {
  Figure f;
  if (b.contains("items_per_second") && b["items_per_second"].is_number()) {
    f.value = b["items_per_second"].get<double>();
    std::string noun = "img";
    const std::string label = b.value("label", "");
    if (label.rfind("items=", 0) == 0 && label.size() > 6) noun = label.substr(6);
    f.unit = noun + "/s";
    f.higher_is_better = true;
    return f;
  }
  double t = b.value("real_time", 0.0);
  const std::string unit = b.value("time_unit", "ns");
  const double to_ms = unit == "ns" ? 1e-6 : unit == "us" ? 1e-3 : unit == "ms" ? 1.0 : 1e3;
  f.value = t * to_ms;
  f.unit = "ms/iter";
  f.higher_is_better = false;
  return f;
}

std::string short_sha(const std::string& sha) {
  std::string s = sha.substr(0, std::min<size_t>(10, sha.size()));
  if (sha.size() > 10 && sha.find("-dirty") != std::string::npos) s += "-dirty";
  return s;
}

// A row of the bench table, recorded at `sha` on `host`.
BenchRow bench_row(const std::string& name, double value, const std::string& unit,
                   const std::string& sha, const std::string& host, const json& extra) {
  BenchRow row;
  row.name = name;
  row.value = value;
  row.unit = unit;
  row.git_sha = sha;
  row.host = host;
  row.extra_json = extra.dump();
  return row;
}

std::string format_number(double v) {
  if (v >= 1e5) return fmt::format("{:.0f}", v);
  if (v >= 100) return fmt::format("{:.1f}", v);
  if (v >= 1) return fmt::format("{:.3f}", v);
  return fmt::format("{:.4g}", v);
}

int do_bench(const BenchArgs& args) {
  SB_INPUT_CHECK(args.min_time > 0, "--min-time must be > 0 seconds, got {}", args.min_time);
  const fs::path dir = bench_dir();
  const std::vector<fs::path> exes = bench_executables(dir);
  TempDir tmp("swavbench_bench");

  // Which executables hold a matching benchmark: start only those.
  std::vector<std::pair<fs::path, std::vector<std::string>>> plan;
  size_t matched = 0;
  for (const auto& exe : exes) {
    std::vector<std::string> names = list_benchmarks(exe, args.filter, tmp);
    matched += names.size();
    if (!names.empty()) plan.emplace_back(exe, std::move(names));
  }
  if (matched == 0) {
    std::string all;
    size_t count = 0;
    for (const auto& exe : exes)
      for (const auto& name : list_benchmarks(exe, "", tmp)) {
        if (count++ < 40) all += "\n  " + name;
      }
    if (count > 40) all += fmt::format("\n  ... ({} in all)", count);
    throw InputError(fmt::format(
        "--filter '{}' matches no benchmark in the {} executable(s) of {} (a regular expression "
        "on the benchmark names, as --benchmark_filter); the benchmarks are:{}",
        args.filter, exes.size(), dir.string(), all));
  }

  Store store(args.db);
  const std::string sha = swavbench_git_sha();
  const std::string host = hostname();
  std::cout << fmt::format(
                   "bench: {} benchmark(s) in {} executable(s) of {}, min time {} s; git {}\n",
                   matched, plan.size(), dir.string(), args.min_time, short_sha(sha))
            << std::flush;

  struct Line {
    std::string name, value, unit, previous, speedup;
  };
  std::vector<Line> table;
  int failures = 0, stored = 0;
  // The hardware's float32 peak for the cores the benchmarks could use, beside their figures.
  const CpuDescription cpu = this_cpu();
  const PeakEstimate peak =
      cpu_fp32_peak(cpu, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const json machine = {
      {"cpu", cpu.model_name}, {"fp32_peak_gflop_per_s", peak.gflops}, {"peak_basis", peak.basis}};
  for (const auto& [exe, names] : plan) {
    const std::string exe_name = exe.filename().string();
    const std::string out_json = tmp.path() + "/" + exe_name + ".json";
    const std::string err_path = tmp.path() + "/" + exe_name + ".err";
    std::vector<std::string> argv{exe.string(), "--benchmark_format=json",
                                  "--benchmark_out=" + out_json, "--benchmark_out_format=json",
                                  fmt::format("--benchmark_min_time={}", args.min_time)};
    if (!args.filter.empty()) argv.push_back("--benchmark_filter=" + args.filter);
    std::cout << fmt::format("  running {} ({} benchmark(s))\n", exe_name, names.size())
              << std::flush;
    int status = run_process(argv, "/dev/null", err_path);
    const std::string err = read_file(err_path);
    if (status != 0) {
      ++failures;
      std::cout << fmt::format("  {} failed (exit {}):\n{}\n", exe_name, status, err);
      continue;
    }
    json doc = json::parse(read_file(out_json), nullptr, false);
    if (doc.is_discarded() || !doc.contains("benchmarks")) {
      ++failures;
      std::cout << fmt::format("  {} wrote no readable JSON to {}\n{}\n", exe_name, out_json, err);
      continue;
    }
    json context = doc.value("context", json::object());
    for (const json& b : doc["benchmarks"]) {
      const std::string name = b.value("name", "?");
      if (b.value("error_occurred", false)) {
        std::cout << fmt::format("  skipped {}: {}\n", name, b.value("error_message", "error"));
        continue;
      }
      Figure f = figure_of(b);
      const BenchRow row = bench_row(name, f.value, f.unit, sha, host,
                                     json{{"counters", b},
                                          {"context", context},
                                          {"machine", machine},
                                          {"executable", exe_name},
                                          {"min_time", args.min_time},
                                          {"filter", args.filter}});

      // The most recent row of this name and unit recorded at another git sha.
      Line line{name, format_number(f.value), f.unit, "—", "—"};
      std::vector<BenchRow> previous = store.bench_rows(name);
      for (auto it = previous.rbegin(); it != previous.rend(); ++it) {
        if (it->git_sha == sha || it->unit != f.unit || it->value <= 0) continue;
        const double speedup = f.higher_is_better ? f.value / it->value : it->value / f.value;
        line.previous = fmt::format("{} @ {}{}", format_number(it->value), short_sha(it->git_sha),
                                    it->host == host ? "" : " (" + it->host + ")");
        line.speedup = fmt::format("x{:.2f} {}", speedup,
                                   speedup > 1.03   ? "faster"
                                   : speedup < 0.97 ? "slower"
                                                    : "same");
        break;
      }
      store.add_bench(row);
      ++stored;
      table.push_back(line);
    }
  }

  // The table: figure now, the previous sha's, and the speed-up (> 1 is faster, whatever the
  // unit's direction).
  std::vector<size_t> w{9, 5, 4, 8, 8};
  auto width = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s)
      if ((c & 0xC0) != 0x80) ++n;
    return n;
  };
  for (const auto& l : table) {
    w[0] = std::max(w[0], width(l.name));
    w[1] = std::max(w[1], width(l.value));
    w[2] = std::max(w[2], width(l.unit));
    w[3] = std::max(w[3], width(l.previous));
  }
  auto pad = [&](const std::string& s, size_t n, bool right) {
    size_t have = width(s);
    if (have >= n) return s;
    return right ? std::string(n - have, ' ') + s : s + std::string(n - have, ' ');
  };
  std::cout << "\n"
            << pad("benchmark", w[0], false) << "  " << pad("value", w[1], true) << "  "
            << pad("unit", w[2], false) << "  " << pad("previous", w[3], true) << "  speed-up\n";
  std::cout << std::string(w[0], '-') << "  " << std::string(w[1], '-') << "  "
            << std::string(w[2], '-') << "  " << std::string(w[3], '-') << "  --------\n";
  for (const auto& l : table)
    std::cout << pad(l.name, w[0], false) << "  " << pad(l.value, w[1], true) << "  "
              << pad(l.unit, w[2], false) << "  " << pad(l.previous, w[3], true) << "  "
              << l.speedup << "\n";
  std::cout << fmt::format(
      "\nbench: stored {} row(s) in {} (table bench, git {}, host {}); previous = the latest row "
      "of the same name at another git sha\n",
      stored, args.db, short_sha(sha), host);
  if (failures > 0) {
    std::cout << fmt::format("bench: {} executable(s) failed\n", failures);
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------- --peers

// A peer: the same SwAV training step written outside swavbench, run by `python` with
// PYTHONPATH `path` ("" = the interpreter's own packages).
struct Peer {
  std::string name, python, path, script, what;
};

// Debian's python3-torch always (scripts/setup-deps.sh test installs it); the LibTorch 2.x wheel
// of scripts/setup-torch2.sh when the checkout has it (.torch2/site).
// lightly (scripts/setup-peers.sh puts it in .peers/site) under Debian's torch when present.
std::vector<Peer> available_peers(std::vector<std::string>* missing) {
  const fs::path source = swavbench_source_dir();
  const std::string eager = (source / "bench/peers/swav_eager.py").string();
  const std::string step =
      "bench/peers/swav_eager.py: the step only (forward, Sinkhorn, swapped loss, backward, SGD) "
      "on crops made once, no augmentation or loader";
  std::vector<Peer> peers{{"pytorch_eager-debian", "/usr/bin/python3", "", eager, step}};
  // PyTorch 2.x's own Python imports (newer than Debian's) are in .torch2/pydeps
  // (scripts/setup-peers.sh).
  const fs::path torch2 = source / ".torch2" / "site", pydeps = source / ".torch2" / "pydeps";
  std::error_code ec;
  if (fs::exists(torch2 / "torch" / "__init__.py", ec) && fs::exists(pydeps, ec))
    peers.push_back({"pytorch_eager-torch2", "/usr/bin/python3",
                     torch2.string() + ":" + pydeps.string(), eager, step});
  else if (fs::exists(torch2 / "torch" / "__init__.py", ec))
    missing->push_back(
        "pytorch_eager-torch2 (PyTorch 2.x in .torch2/site lacks its Python "
        "imports: scripts/setup-peers.sh installs them in .torch2/pydeps)");
  else
    missing->push_back(
        "pytorch_eager-torch2 (no PyTorch 2.x: scripts/setup-torch2.sh, then "
        "scripts/setup-peers.sh)");
  const fs::path lightly = source / ".peers" / "site";
  if (fs::exists(lightly / "lightly" / "__init__.py", ec))
    peers.push_back({"lightly", "/usr/bin/python3", lightly.string(),
                     (source / "bench/peers/swav_lightly.py").string(),
                     "bench/peers/swav_lightly.py: lightly's SwaVProjectionHead, SwaVPrototypes "
                     "and SwaVLoss (its Sinkhorn) on the eager peer's trunk; the step only, on "
                     "crops made once"});
  else
    missing->push_back("lightly (not installed: scripts/setup-peers.sh puts it in .peers/site)");
  return peers;
}

struct Median3 {
  double min = 0, median = 0, max = 0;
};
Median3 spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Median3 m;
  if (v.empty()) return m;
  m.min = v.front();
  m.max = v.back();
  const size_t n = v.size();
  m.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return m;
}

// Ours (bench_train_step's SwAV step at the default recipe, batch 256) and each peer at the same
// recipe, batch and thread count, alternated A/B/A/B in this one invocation so that a machine
// that slows down or speeds up moves both sides; the ratio ours / peer per round, and its
// min / median / max over the rounds, stored in the bench table.
int do_peers(const BenchArgs& args) {
  SB_INPUT_CHECK(args.rounds >= 1, "--rounds must be >= 1, got {}", args.rounds);
  SB_INPUT_CHECK(args.peer_steps >= 1, "--peer-steps must be >= 1, got {}", args.peer_steps);
  SB_INPUT_CHECK(args.min_time > 0, "--min-time must be > 0 seconds, got {}", args.min_time);
  const fs::path ours_exe = bench_dir() / "bench_train_step";
  SB_INPUT_CHECK(fs::exists(ours_exe),
                 "{} is missing: `swavbench bench --peers` times our step with it (built by "
                 "scripts/test.sh, or cmake -DSWAVBENCH_BUILD_BENCH=ON)",
                 ours_exe.string());
  const int64_t batch = 256;
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The recipe bench_train_step's BM_TrainStep/swav trains: the config defaults.
  const RunConfig c =
      resolve_config({{"method", "swav"}, {"batch_size", batch}}, json::object(), "bench --peers");
  std::string crops;
  for (const auto& spec : c.crops)
    crops += fmt::format("{}{}x{}", crops.empty() ? "" : ",", spec.count, spec.size);
  std::vector<std::string> recipe{"--device",       "cpu",
                                  "--arch",         c.arch,
                                  "--width",        fmt::format("{}", c.width),
                                  "--in-channels",  "1",
                                  "--batch",        std::to_string(batch),
                                  "--crops",        crops,
                                  "--hidden",       std::to_string(c.hidden_dim),
                                  "--feat-dim",     std::to_string(c.feat_dim),
                                  "--prototypes",   std::to_string(c.prototypes),
                                  "--epsilon",      fmt::format("{}", c.epsilon),
                                  "--iterations",   std::to_string(c.sinkhorn_iters),
                                  "--temperature",  fmt::format("{}", c.temperature),
                                  "--lr",           fmt::format("{}", c.base_lr),
                                  "--weight-decay", fmt::format("{}", c.weight_decay),
                                  "--threads",      std::to_string(threads),
                                  "--warmup",       "2",
                                  "--steps",        std::to_string(args.peer_steps)};
  if (c.small_stem) recipe.push_back("--small-stem");
  const std::string recipe_text = fmt::format(
      "SwAV {} w{} {}, {} channel, batch {}, crops {}, head {}-{}, K {}, SGD, {} thread(s)", c.arch,
      c.width, c.small_stem ? "small stem" : "ImageNet stem", 1, batch, crops, c.hidden_dim,
      c.feat_dim, c.prototypes, threads);

  TempDir tmp("swavbench_peers");
  auto run_ours = [&](int round) {
    const std::string out = fmt::format("{}/ours{}.json", tmp.path(), round);
    const std::string err = fmt::format("{}/ours{}.err", tmp.path(), round);
    const int status =
        run_process({ours_exe.string(),
                     fmt::format("--benchmark_filter=^BM_TrainStep/swav/{}/real_time$", batch),
                     "--benchmark_out=" + out, "--benchmark_out_format=json",
                     fmt::format("--benchmark_min_time={}", args.min_time)},
                    "/dev/null", err);
    SB_INPUT_CHECK(status == 0, "bench_train_step failed (exit {}): {}", status, read_file(err));
    const json doc = json::parse(read_file(out), nullptr, false);
    SB_INPUT_CHECK(!doc.is_discarded() && doc.contains("benchmarks") && !doc["benchmarks"].empty(),
                   "bench_train_step wrote no benchmark to {}", out);
    return doc["benchmarks"][0].value("items_per_second", 0.0);
  };
  auto run_peer = [&](const Peer& peer, int round) {
    const std::string out = fmt::format("{}/{}{}.json", tmp.path(), peer.name, round);
    const std::string err = fmt::format("{}/{}{}.err", tmp.path(), peer.name, round);
    std::vector<std::string> argv{"/usr/bin/env"};
    if (!peer.path.empty()) argv.push_back("PYTHONPATH=" + peer.path);
    argv.insert(argv.end(), {peer.python, peer.script});
    argv.insert(argv.end(), recipe.begin(), recipe.end());
    argv.insert(argv.end(), {"--json", out});
    const int status = run_process(argv, "/dev/null", err);
    SB_INPUT_CHECK(status == 0, "peer {} failed (exit {}): {}", peer.name, status, read_file(err));
    const json doc = json::parse(read_file(out), nullptr, false);
    SB_INPUT_CHECK(!doc.is_discarded() && doc.contains("img_per_s") && doc["img_per_s"].is_number(),
                   "peer {} wrote no img_per_s to {}", peer.name, out);
    return std::make_pair(doc["img_per_s"].get<double>(), doc.value("torch", "?"));
  };

  std::vector<std::string> missing;
  const std::vector<Peer> peers = available_peers(&missing);
  for (const auto& m : missing) std::cout << "bench --peers: not run: " << m << "\n";
  std::cout << fmt::format("bench --peers: {} round(s) of ours and {} peer(s), alternated; {}\n",
                           args.rounds, peers.size(), recipe_text)
            << std::flush;
  std::vector<double> ours;
  std::vector<std::vector<double>> theirs(peers.size());
  std::vector<std::string> versions(peers.size());
  for (int round = 1; round <= args.rounds; ++round) {
    ours.push_back(run_ours(round));
    std::cout << fmt::format("  round {}: ours {:.1f} img/s", round, ours.back());
    for (size_t i = 0; i < peers.size(); ++i) {
      auto [img_per_s, version] = run_peer(peers[i], round);
      theirs[i].push_back(img_per_s);
      versions[i] = version;
      std::cout << fmt::format(", {} {:.1f}", peers[i].name, img_per_s);
    }
    std::cout << "\n" << std::flush;
  }

  Store store(args.db);
  const std::string sha = swavbench_git_sha();
  const std::string host = hostname();
  const Median3 o = spread(ours);
  auto add = [&](const std::string& name, double value, const std::string& unit, json extra) {
    extra["recipe"] = recipe_text;
    extra["rounds"] = args.rounds;
    extra["threads"] = threads;
    store.add_bench(bench_row(name, value, unit, sha, host, extra));
  };
  add("peers/swav_step/ours", o.median, "img/s",
      {{"img_per_s", ours},
       {"min", o.min},
       {"max", o.max},
       {"includes", "bench_train_step BM_TrainStep/swav: the step only on pre-augmented crops"}});
  std::cout << fmt::format("\n{:<28} {:>10} {:>10} {:>10}   {}\n", "", "min", "median", "max",
                           "what");
  std::cout << fmt::format("{:<28} {:>10.1f} {:>10.1f} {:>10.1f}   img/s (bench_train_step)\n",
                           "ours", o.min, o.median, o.max);
  for (size_t i = 0; i < peers.size(); ++i) {
    std::vector<double> ratio;
    for (size_t r = 0; r < ours.size(); ++r) ratio.push_back(ours[r] / theirs[i][r]);
    const Median3 t = spread(theirs[i]), q = spread(ratio);
    add("peers/swav_step/" + peers[i].name, t.median, "img/s",
        {{"img_per_s", theirs[i]},
         {"min", t.min},
         {"max", t.max},
         {"torch", versions[i]},
         {"includes", peers[i].what}});
    add("peers/swav_step/ours_over_" + peers[i].name, q.median, "x",
        {{"ratio", ratio}, {"min", q.min}, {"max", q.max}, {"torch", versions[i]}});
    std::cout << fmt::format("{:<28} {:>10.1f} {:>10.1f} {:>10.1f}   img/s, PyTorch {}\n",
                             peers[i].name, t.min, t.median, t.max, versions[i]);
    std::cout << fmt::format("{:<28} {:>10.2f} {:>10.2f} {:>10.2f}   x (> 1: ours is faster)\n",
                             "ours / " + peers[i].name, q.min, q.median, q.max);
  }
  std::cout << fmt::format("\nbench --peers: stored {} row(s) in {} (table bench, git {})\n",
                           1 + 2 * peers.size(), args.db, short_sha(sha));
  return 0;
}

// ---------------------------------------------------------------- --profile

// Runs bench/profile_step for each method: where bench_train_step's step spends its time,
// operator by operator. Prints its tables and stores, per method, the step's wall time under
// the profiler and without it, the time outside every operator, and the self time of the
// operators that take 0.5 % of the step or more (at least --profile-top of them).
int do_profile(const BenchArgs& args) {
  SB_INPUT_CHECK(args.profile_steps >= 1, "--profile-steps must be >= 1, got {}",
                 args.profile_steps);
  SB_INPUT_CHECK(args.profile_top >= 1, "--profile-top must be >= 1, got {}", args.profile_top);
  const fs::path exe = bench_dir() / "profile_step";
  SB_INPUT_CHECK(fs::exists(exe),
                 "{} is missing: `swavbench bench --profile` runs it (built by scripts/test.sh, "
                 "or cmake -DSWAVBENCH_BUILD_BENCH=ON)",
                 exe.string());
  std::vector<std::string> methods;
  std::stringstream list(args.profile);
  for (std::string m; std::getline(list, m, ',');)
    if (!m.empty()) methods.push_back(m);
  SB_INPUT_CHECK(!methods.empty(),
                 "--profile '{}' names no method: give a comma-separated list, e.g. swav,moco",
                 args.profile);

  TempDir tmp("swavbench_profile");
  Store store(args.db);
  const std::string sha = swavbench_git_sha();
  const std::string host = hostname();
  int stored = 0;
  for (const auto& method : methods) {
    const std::string out = fmt::format("{}/{}.json", tmp.path(), method);
    const std::string text = fmt::format("{}/{}.txt", tmp.path(), method);
    const std::string err = fmt::format("{}/{}.err", tmp.path(), method);
    const int status = run_process(
        {exe.string(), "--method", method, "--steps", std::to_string(args.profile_steps), "--top",
         std::to_string(args.profile_top), "--json", out},
        text, err);
    SB_INPUT_CHECK(status == 0, "profile_step --method {} failed (exit {}): {}", method, status,
                   read_file(err));
    std::cout << read_file(text) << "\n" << std::flush;
    const json doc = json::parse(read_file(out), nullptr, false);
    SB_INPUT_CHECK(!doc.is_discarded() && doc.contains("operators") && doc.contains("ms_per_step"),
                   "profile_step --method {} wrote no profile to {}", method, out);
    const std::string prefix = "profile/" + method + "_step/";
    const json setting = {{"batch", doc["batch"]},
                          {"threads", doc["threads"]},
                          {"steps", doc["steps"]},
                          {"channels_last", doc["channels_last"]}};
    auto add = [&](const std::string& name, double value, json extra) {
      extra["setting"] = setting;
      store.add_bench(bench_row(prefix + name, value, "ms/step", sha, host, extra));
      ++stored;
    };
    const double step_ms = doc["ms_per_step"].get<double>();
    add("wall", step_ms, {{"in_ops_share", doc["in_ops_share"]}});
    add("wall_unprofiled", doc.value("unprofiled_ms_per_step", 0.0),
        {{"what", "the same number of steps just before, without the profiler"}});
    add("(outside operators)", step_ms * (1.0 - doc["in_ops_share"].get<double>()), json::object());
    int rank = 0;
    for (const json& op : doc["operators"]) {
      if (rank >= args.profile_top && op.value("self_share", 0.0) < 0.005) break;
      ++rank;
      add(op.value("name", "?"), op.value("self_ms_per_step", 0.0),
          {{"rank", rank},
           {"calls_per_step", op["calls_per_step"]},
           {"total_ms_per_step", op["total_ms_per_step"]},
           {"self_share", op["self_share"]}});
    }
  }
  std::cout << fmt::format(
      "bench --profile: stored {} row(s) in {} (table bench, names "
      "profile/<method>_step/<operator>, "
      "self ms per step; git {})\n",
      stored, args.db, short_sha(sha));
  return 0;
}

}  // namespace

Subcommand add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  args->db = default_db_path();
  CLI::App* cmd = app.add_subcommand(
      "bench", "run the micro-benchmarks (bench/bench_*), store and compare their figures");
  cmd->add_option("--filter", args->filter,
                  "regular expression on benchmark names (as --benchmark_filter)");
  cmd->add_option("--min-time", args->min_time, "minimum seconds per benchmark")
      ->capture_default_str();
  cmd->add_option("--db", args->db, "results database")->capture_default_str();
  cmd->add_flag("--peers", args->peers,
                "time our SwAV step against the same step in plain PyTorch (bench/peers/), "
                "alternated, and store the ratios");
  cmd->add_option("--rounds", args->rounds, "--peers: alternations of ours and each peer")
      ->capture_default_str();
  cmd->add_option("--peer-steps", args->peer_steps, "--peers: timed steps per peer run")
      ->capture_default_str();
  cmd->add_option("--profile", args->profile,
                  "profile these methods' training step per operator instead (comma-separated, "
                  "e.g. swav,moco; bench/profile_step) and store the figures");
  cmd->add_option("--profile-steps", args->profile_steps, "--profile: profiled steps per method")
      ->capture_default_str();
  cmd->add_option("--profile-top", args->profile_top,
                  "--profile: operators printed, and stored at least, per method")
      ->capture_default_str();
  return {cmd, [args] {
            SB_INPUT_CHECK(args->profile.empty() || !args->peers,
                           "--profile and --peers are two separate measurements: give one");
            if (!args->profile.empty()) return do_profile(*args);
            return args->peers ? do_peers(*args) : do_bench(*args);
          }};
}

}  // namespace swavbench
