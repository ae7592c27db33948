#include "app/run_driver.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/data_commands.h"
#include "app/distributed_run.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/report/table.h"
#include "harness/train/evaluation.h"
#include "harness/train/trainer.h"

namespace swavbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string format_seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{}m{:02.0f}s", static_cast<int>(s) / 60, std::fmod(s, 60.0));
  return fmt::format("{}h{:02}m", static_cast<int>(s) / 3600, (static_cast<int>(s) % 3600) / 60);
}

json handle_json(const RunRow& row, bool cached) {
  return {{"id", row.id},
          {"hash", row.hash},
          {"method", row.method},
          {"status", row.status},
          {"cached", cached},
          {"label", row.label},
          {"config", json::parse(row.config_json)}};
}

std::string torch_version_string() { return TORCH_VERSION; }

// `tags = {"crops", ...}` of a bench.pretrain table: names made of letters, digits and _ . : -
// (an empty Lua table arrives as an empty JSON object).
std::vector<std::string> parse_tags(const json& table, const std::string& where) {
  std::vector<std::string> tags;
  if (!table.contains("tags")) return tags;
  const json& list = table["tags"];
  if (list.is_object() && list.empty()) return tags;
  const auto valid = [](const json& tag) {
    if (!tag.is_string()) return false;
    const std::string& name = tag.get_ref<const std::string&>();
    const auto name_char = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
             c == '-';
    };
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), name_char);
  };
  SB_INPUT_CHECK(list.is_array(), "{}: 'tags' must be a list of names like {{\"crops\"}}, got {}",
                 where, list.dump());
  for (const json& tag : list) {
    SB_INPUT_CHECK(valid(tag),
                   "{}: tag {} in 'tags' is not a name (1-64 letters, digits, '_', '.', ':' or "
                   "'-')",
                   where, tag.dump());
    tags.push_back(tag.get<std::string>());
  }
  return tags;
}

}  // namespace

int mark_interrupted_runs(Store& store, const std::string& runs_dir) {
  int marked = 0;
  const std::string here = hostname();
  for (const RunRow& row : store.runs(kStatusRunning)) {
    if (row.host != here) continue;  // another machine's run: its lock is not visible here
    if (RunDir(runs_dir, row.hash).is_locked()) continue;  // a live process is training it
    store.set_status(row.id, kStatusInterrupted,
                     fmt::format("process {} on {} ended without finishing (killed or crashed); "
                                 "the next run of this config resumes from its last checkpoint",
                                 row.pid, row.host));
    ++marked;
  }
  return marked;
}

RunDriver::RunDriver(Store& store, DriverOptions options)
    : store_(store), options_(std::move(options)) {
  std::vector<std::string> keys = config_keys();
  for (auto it = options_.overrides.begin(); it != options_.overrides.end(); ++it)
    if (std::find(keys.begin(), keys.end(), it.key()) != keys.end())
      config_overrides_[it.key()] = it.value();
}

void RunDriver::check_overrides(const std::string& where) {
  std::vector<std::string> known = config_keys();
  known.insert(known.end(), params_seen_.begin(), params_seen_.end());
  for (auto it = options_.overrides.begin(); it != options_.overrides.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string hint = closest_match(it.key(), known);
    throw InputError(fmt::format(
        "{}: --set {} is neither a config key nor a parameter this script reads with "
        "bench.param{}",
        where, it.key(), hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }
}

json RunDriver::pretrain(const json& table, const std::string& where) {
  check_overrides(where);
  SB_INPUT_CHECK(table.is_object(), "{}: bench.pretrain expects a table, got {}", where,
                 table.dump());
  std::string label;
  if (table.contains("label")) {
    SB_INPUT_CHECK(table["label"].is_string(), "{}: 'label' must be a string", where);
    label = table["label"].get<std::string>();
  }
  const std::vector<std::string> tags = parse_tags(table, where);
  RunConfig config = resolve_config(table, config_overrides_, where);
  Collective& collective = options_.collective ? *options_.collective : local_collective();
  const int world = collective.world_size();
  const std::string hash = run_hash(config, world);
  std::optional<RunRow> existing = store_.run_by_hash(hash);

  if (options_.dry_run) {
    bool done = existing && existing->status == kStatusDone && !options_.force;
    std::cout << fmt::format(
        "plan: pretrain {} [{}] {} epochs, batch {}, crops {} -> {}\n",
        label.empty() ? config.method : label, hash, config.epochs, config.batch_size,
        json(config.to_json()["crops"]).dump(),
        done       ? fmt::format("cached (run #{})", existing->id)
        : existing ? fmt::format("resume run #{} ({})", existing->id, existing->status)
                   : "train");
    RunRow planned;
    if (existing) planned = *existing;
    planned.hash = hash;
    planned.method = config.method;
    planned.label = label;
    planned.config_json = config.to_json().dump();
    planned.status = done ? kStatusDone : "planned";
    return handle_json(planned, done);
  }

  if (existing && existing->status == kStatusDone && !options_.force) {
    ++runs_reused_;
    store_.add_tags(existing->id, tags);
    std::cout << fmt::format("reusing run #{} {} [{}]: already complete (same config hash)\n",
                             existing->id, label.empty() ? config.method : label, hash)
              << std::flush;
    return handle_json(*existing, true);
  }

  const RunDir run_folder(options_.runs_dir, hash);
  const std::string dir = run_folder.path();
  RunDirLock lock(run_folder);
  if (!lock.held()) {
    throw InputError(fmt::format(
        "{}: run [{}] is being trained by another process (pid {} on {}); wait for it or use "
        "another database",
        where, hash, existing ? existing->pid : 0, existing ? existing->host : "?"));
  }

  RunRow row;
  int resume_from = 0;
  if (existing && options_.force) {
    run_folder.clear_training_state();
    store_.reset_run(existing->id, config.to_json().dump());
    store_.claim_run(existing->id, ::getpid(), hostname());
    row = *store_.run_by_id(existing->id);
  } else if (existing) {
    // Interrupted, failed or left running by a dead process: continue from the checkpoint.
    store_.claim_run(existing->id, ::getpid(), hostname());
    row = *store_.run_by_id(existing->id);
    resume_from = static_cast<int>(store_.epochs(row.id).size());
  } else {
    // A run this database has never seen starts fresh, even if another database kept in the same
    // folder left a checkpoint of the same config in runs/<hash>/.
    run_folder.clear_training_state();
    row.hash = hash;
    row.config_json = config.to_json().dump();
    row.method = config.method;
    row.status = kStatusRunning;
    row.git_sha = swavbench_git_sha();
    row.torch_version = torch_version_string();
    row.device = config.device == "cuda" && torch::cuda::is_available()
                     ? fmt::format("cuda x{}", torch::cuda::device_count())
                     : fmt::format("cpu ({} threads)", torch::get_num_threads());
    row.world_size = world;
    SB_INPUT_CHECK(config.batch_size % world == 0,
                   "{}: batch_size {} is not divisible by the number of processes {}", where,
                   config.batch_size, world);
    row.per_device_batch = config.batch_size / world;
    row.host = hostname();
    row.pid = ::getpid();
    row.label = label;
    row.suite = options_.suite;
    store_.insert_run(row);
  }
  store_.add_tags(row.id, tags);
  const std::string name = label.empty() ? config.method : label;
  std::cout << fmt::format("{} run #{} {} [{}]: {} epochs{}\n",
                           resume_from > 0 ? "resuming" : "training", row.id, name, hash,
                           config.epochs,
                           resume_from > 0 ? fmt::format(", from epoch {}", resume_from + 1) : "")
            << std::flush;

  TrainCallbacks callbacks;
  auto run_start = std::chrono::steady_clock::now();
  const int64_t run_id = row.id;
  callbacks.on_epoch = [&](const EpochReport& r) {
    EpochRow e;
    e.run_id = run_id;
    e.epoch = r.epoch;
    e.loss = r.loss;
    e.lr = r.lr;
    e.img_per_s = r.img_per_s;
    e.data_wait = r.data_wait;
    e.peak_mem = r.peak_mem;
    e.extra_json = json(r.logs).dump();
    store_.add_epoch(e);
    if (options_.progress_tty) std::cout << "\r\033[K";
    auto knn = r.logs.find("knn_top1");
    std::cout << fmt::format(
                     "  run #{} epoch {}/{}  loss {:.4f}  lr {:.4g}  {:.0f} img/s  data-wait "
                     "{:.1f}%  {}{}\n",
                     run_id, r.epoch + 1, config.epochs, r.loss, r.lr, r.img_per_s,
                     100 * r.data_wait, format_seconds(r.seconds),
                     knn == r.logs.end() ? "" : fmt::format("  kNN {:.2f}", knn->second))
              << std::flush;
  };
  callbacks.on_alarm = [&](const std::string& kind, int epoch, const std::string& reason,
                           const std::string& advice) {
    AlarmRow a;
    a.run_id = run_id;
    a.epoch = epoch;
    a.kind = kind;
    a.reason = reason;
    a.advice = advice;
    store_.add_alarm(a);
    std::cout << fmt::format("  ALARM ({}) run #{} epoch {}: {}. Advice: {}\n", kind, run_id,
                             epoch + 1, reason, advice)
              << std::flush;
  };
  if (config.knn_every > 0) {
    // The cheap monitor of the paper's practice: kNN top-1 on fixed subsets after every
    // knn_every epochs, so a table can show accuracy rising (or not) over training.
    callbacks.monitor = [&](Method& method, int epoch) {
      std::map<std::string, double> out;
      if ((epoch + 1) % config.knn_every != 0 && epoch + 1 != config.epochs) return out;
      const EvalProtocol& knn = find_eval("knn", where);
      torch::Device device = resolve_device(config.device);
      FeatureCache cache(config, method.backbone(), device);
      EvalContext ctx{config, method, device,
                      merge_eval_options(
                          knn, {{"k", {20}}, {"train_subset", 5000}, {"test_subset", 2000}}, where),
                      cache};
      for (const auto& [metric, value] : knn.run(ctx).metrics)
        if (metric == "top1_k20") out["knn_top1"] = value;
      return out;
    };
  }
  if (options_.progress_tty) {
    callbacks.on_progress = [&, last = std::chrono::steady_clock::time_point{}](
                                int epoch, int64_t batch, int64_t batches, double loss,
                                double img_s) mutable {
      auto now = std::chrono::steady_clock::now();
      if (batch != batches && now - last < std::chrono::milliseconds(250)) return;
      last = now;
      double left_in_epoch = (batches - batch) * config.batch_size / std::max(1.0, img_s);
      double eta = left_in_epoch +
                   (config.epochs - epoch - 1) * batches * config.batch_size / std::max(1.0, img_s);
      std::cout << fmt::format(
                       "\r\033[K  run #{} epoch {}/{}  batch {}/{}  loss {:.4f}  {:.0f} "
                       "img/s  ETA {}",
                       run_id, epoch + 1, config.epochs, batch, batches, loss, img_s,
                       format_seconds(eta))
                << std::flush;
    };
  }

  try {
    if (world > 1) {
      send_job(collective,
               {{"op", "train"}, {"config", config.to_json()}, {"hash", hash}, {"run_dir", dir}});
    }
    TrainOutcome outcome = train_run(config, dir, callbacks, collective);
    std::string ckpt = run_folder.checkpoint_path();
    store_.add_artifact({run_id, "checkpoint", ckpt, sha256_file(ckpt)});
    store_.add_artifact({run_id, "weights", ckpt, outcome.weights_sha256});
    store_.set_status(run_id, kStatusDone,
                      outcome.stopped_by_alarm ? "stopped early by the collapse alarm" : "");
  } catch (const RunFailure& e) {
    store_.set_status(run_id, kStatusFailed, e.what());
    throw Error(fmt::format("run #{} [{}] failed: {}", run_id, hash, e.what()));
  } catch (const InputError& e) {
    store_.set_status(run_id, kStatusFailed, e.what());
    throw;
  } catch (const std::exception& e) {
    store_.set_status(run_id, kStatusFailed, e.what());
    throw Error(fmt::format("run #{} [{}] failed: {}", run_id, hash, e.what()));
  }
  ++runs_trained_;
  std::cout << fmt::format("  run #{} done in {}\n", run_id,
                           format_seconds(std::chrono::duration<double>(
                                              std::chrono::steady_clock::now() - run_start)
                                              .count()))
            << std::flush;
  return handle_json(*store_.run_by_id(run_id), false);
}

json RunDriver::eval(const json& run, const json& spec, const std::string& where) {
  SB_INPUT_CHECK(run.is_object() && run.contains("hash"),
                 "{}: bench.eval expects a run handle returned by bench.pretrain", where);
  // Normalise spec to name -> options.
  json protocols = json::object();
  if (spec.is_array()) {
    for (const auto& p : spec) {
      SB_INPUT_CHECK(p.is_string(), "{}: protocol names must be strings, got {}", where, p.dump());
      protocols[p.get<std::string>()] = json::object();
    }
  } else if (spec.is_object()) {
    protocols = spec;
  } else if (spec.is_string()) {
    protocols[spec.get<std::string>()] = json::object();
  } else {
    throw InputError(
        fmt::format("{}: bench.eval's second argument must be a list of protocol names or a table "
                    "name = options, got {}",
                    where, spec.dump()));
  }
  // "name@tag" runs protocol `name` and stores its rows under "name@tag", so one protocol can
  // be recorded with several settings (semisup@1pct, semisup@10pct).
  auto base_name = [](const std::string& name) { return name.substr(0, name.find('@')); };
  std::map<std::string, json> merged;
  for (auto it = protocols.begin(); it != protocols.end(); ++it) {
    const EvalProtocol& p = find_eval(base_name(it.key()), where);
    merged[it.key()] = merge_eval_options(p, it.value(), where);
  }
  if (options_.dry_run) {
    for (const auto& [name, opts] : merged)
      std::cout << fmt::format("plan: eval {} on run [{}] with {}\n", name,
                               run["hash"].get<std::string>(), opts.dump());
    return json::object();
  }
  std::optional<RunRow> row = store_.run_by_hash(run["hash"].get<std::string>());
  SB_INPUT_CHECK(row && row->status == kStatusDone,
                 "{}: run [{}] is not complete (status {}); evaluate runs that bench.pretrain "
                 "returned",
                 where, run["hash"].get<std::string>(), row ? row->status : "missing");
  RunConfig config = resolve_config(json::parse(row->config_json), json::object(), where);

  json results = json::object();
  std::unique_ptr<Method> method;
  std::unique_ptr<FeatureCache> features;
  for (const auto& [name, opts] : merged) {
    // Reuse stored results produced with identical options.
    std::vector<EvalRow> stored = store_.evals_for(row->id, name);
    if (!stored.empty() && json::parse(stored[0].card_json).value("options", json()) == opts) {
      for (const auto& e : stored) results[name][e.metric] = e.value;
      std::cout << fmt::format("  reusing {} of run #{} (same options)\n", name, row->id);
      continue;
    }
    if (!method) {
      torch::Device device = resolve_device(config.device);
      method = load_trained_method(config, RunDir(options_.runs_dir, row->hash).path(), device);
      // Evaluations run in float32, also for a float64 reference run (see RunConfig::precision).
      method->module().to(torch::kFloat32);
      features = std::make_unique<FeatureCache>(config, method->backbone(), device);
    }
    auto t0 = std::chrono::steady_clock::now();
    EvalContext ctx{config, *method, resolve_device(config.device), opts, *features};
    EvalResult result = find_eval(base_name(name), where).run(ctx);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.card["options"] = opts;
    result.card["seconds"] = seconds;
    result.card["git_sha"] = swavbench_git_sha();
    std::vector<EvalRow> rows;
    std::string line;
    for (const auto& [metric, value] : result.metrics) {
      rows.push_back({row->id, name, metric, value, result.card.dump(), ""});
      results[name][metric] = value;
      line += fmt::format("  {} {:.2f}", metric, value);
    }
    store_.replace_evals(row->id, name, rows);
    std::cout << fmt::format("  eval {} run #{}:{} ({})\n", name, row->id, line,
                             format_seconds(seconds))
              << std::flush;
  }
  return results;
}

std::string RunDriver::table(const json& spec, const std::string& where) {
  SB_INPUT_CHECK(spec.is_object(), "{}: bench.table expects a table", where);
  static const std::vector<std::string> keys{"title", "runs", "by", "metrics", "format"};
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
      std::string hint = closest_match(it.key(), keys);
      throw InputError(fmt::format(
          "{}: unknown bench.table key '{}'{}; valid: title, runs, by, "
          "metrics, format",
          where, it.key(), hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
  }
  TableSpec t;
  t.title = spec.value("title", "");
  t.format = spec.value("format", "md");
  if (spec.contains("by")) t.by = spec["by"].get<std::vector<std::string>>();
  if (spec.contains("metrics")) t.metrics = spec["metrics"].get<std::vector<std::string>>();
  if (options_.dry_run) return fmt::format("plan: table '{}'\n", t.title);
  if (spec.contains("runs")) {
    for (const auto& r : spec["runs"]) {
      SB_INPUT_CHECK(r.is_object() && r.contains("hash"),
                     "{}: bench.table's runs must be run handles", where);
      auto row = store_.run_by_hash(r["hash"].get<std::string>());
      SB_INPUT_CHECK(row.has_value(), "{}: run [{}] is not in the store", where,
                     r["hash"].get<std::string>());
      t.run_ids.push_back(row->id);
    }
  }
  return render_table(store_, t);
}

json RunDriver::param(const std::string& name, const json& default_value,
                      const std::string& where) {
  std::vector<std::string> keys = config_keys();
  SB_INPUT_CHECK(std::find(keys.begin(), keys.end(), name) == keys.end(),
                 "{}: bench.param('{}') clashes with the config key of that name", where, name);
  params_seen_.insert(name);
  if (!options_.overrides.contains(name)) return default_value;
  json value = options_.overrides[name];
  // Keep the default's type: --set seeds=1 must stay a number, profile=quick a string.
  if (default_value.is_string() && !value.is_string()) value = value.dump();
  SB_INPUT_CHECK(default_value.is_null() || value.type() == default_value.type() ||
                     (value.is_number() && default_value.is_number()),
                 "{}: --set {} expects a {} like the default {}, got {}", where, name,
                 default_value.type_name(), default_value.dump(), value.dump());
  return value;
}

void RunDriver::log(const std::string& line) { std::cout << line << "\n" << std::flush; }

json RunDriver::dataset(const json& spec, const std::string& where) {
  SB_INPUT_CHECK(spec.is_object() && spec.value("kind", "") == "fashion-voc",
                 "{}: bench.dataset knows kind = \"fashion-voc\" (Fashion-MNIST scenes in the "
                 "VOC2007 layout), got {}",
                 where, spec.dump());
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    static const std::vector<std::string> keys{"kind", "train", "test", "seed"};
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      throw InputError(fmt::format("{}: unknown bench.dataset key '{}' (kind, train, test, seed)",
                                   where, it.key()));
  }
  const int train = spec.value("train", 2000), test = spec.value("test", 1000);
  const uint64_t seed = spec.value("seed", 0);
  fs::path root = fs::path(options_.runs_dir).parent_path() /
                  fmt::format("datasets/fashion-voc-s{}-{}-{}", seed, train, test);
  // The set is written into a temporary folder and renamed, so a killed run never leaves a
  // half-written set that looks complete.
  if (!fs::exists(root / "ImageSets/Main/test.txt") && !options_.dry_run) {
    fs::path tmp = root.string() + ".tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp.parent_path());
    run_make_voc(tmp.string(), seed, train, test);
    fs::remove_all(root);
    fs::rename(tmp, root);
  }
  return root.string();
}

void RunDriver::finish(const std::string& script) { check_overrides(script); }

}  // namespace swavbench
