#include "app/run_driver.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/data_commands.h"
#include "harness/core/check.h"
#include "harness/core/config.h"
#include "harness/core/method_spec.h"
#include "harness/core/run_dir.h"
#include "harness/core/text.h"
#include "harness/eval/evaluation.h"
#include "harness/experiment/evaluator.h"
#include "harness/experiment/jobs.h"
#include "harness/experiment/runner.h"
#include "harness/report/claims.h"
#include "harness/report/table.h"
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

// Typed reads of a bench.table / bench.dataset key: a wrong type or range is an InputError that
// names the script line, the function, the key and what would be right (not a JSON library
// message). An empty Lua table arrives as {} and counts as an empty list.
std::string api_string(const json& spec, const char* api, const char* key, const std::string& def,
                       const std::string& where) {
  if (!spec.contains(key)) return def;
  SB_INPUT_CHECK(spec[key].is_string(), "{}: {} key '{}' must be a string, got {}", where, api, key,
                 spec[key].dump());
  return spec[key].get<std::string>();
}

std::vector<std::string> api_string_list(const json& spec, const char* api, const char* key,
                                         const char* example, const std::string& where) {
  std::vector<std::string> out;
  if (!spec.contains(key)) return out;
  const json& v = spec[key];
  if (v.is_object() && v.empty()) return out;
  const bool ok =
      v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
  SB_INPUT_CHECK(ok, "{}: {} key '{}' must be a list of strings like {}, got {}", where, api, key,
                 example, v.dump());
  for (const auto& e : v) out.push_back(e.get<std::string>());
  return out;
}

int64_t api_integer(const json& spec, const char* api, const char* key, int64_t def, int64_t lo,
                    int64_t hi, const std::string& where) {
  if (!spec.contains(key)) return def;
  const json& v = spec[key];
  const bool whole_float = v.is_number_float() && std::isfinite(v.get<double>()) &&
                           std::floor(v.get<double>()) == v.get<double>() &&
                           std::fabs(v.get<double>()) < 9.2e18;
  SB_INPUT_CHECK(v.is_number_integer() || whole_float, "{}: {} key '{}' must be an integer, got {}",
                 where, api, key, v.dump());
  const int64_t i =
      v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
          ? INT64_MAX
          : (v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>()));
  SB_INPUT_CHECK(i >= lo && i <= hi, "{}: {} key '{}' must be in [{}, {}], got {}", where, api, key,
                 lo, hi, v.dump());
  return i;
}

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

// What `swavbench run` prints about a pretraining run: one line per epoch and alarm, or one
// updating progress line on a terminal.
class ConsoleObserver final : public RunObserver {
 public:
  ConsoleObserver(const RunConfig& config, bool tty) : config_(config), tty_(tty) {}

  void on_reused(const RunRow& run) override {
    std::cout << fmt::format("reusing run #{} {} [{}]: already complete (same config hash)\n",
                             run.id, name(run), run.hash)
              << std::flush;
  }
  void on_start(const RunRow& run, int resume_from) override {
    std::cout << fmt::format("{} run #{} {} [{}]: {} epochs{}\n",
                             resume_from > 0 ? "resuming" : "training", run.id, name(run), run.hash,
                             config_.epochs,
                             resume_from > 0 ? fmt::format(", from epoch {}", resume_from + 1) : "")
              << std::flush;
  }
  void on_epoch(const RunRow& run, const EpochReport& r) override {
    if (tty_) std::cout << "\r\033[K";
    auto knn = r.logs.find("knn_top1");
    std::cout << fmt::format(
                     "  run #{} epoch {}/{}  loss {:.4f}  lr {:.4g}  {:.0f} img/s  data-wait "
                     "{:.1f}%  {}{}\n",
                     run.id, r.epoch + 1, config_.epochs, r.loss, r.lr, r.img_per_s,
                     100 * r.data_wait, format_seconds(r.seconds),
                     knn == r.logs.end() ? "" : fmt::format("  kNN {:.2f}", knn->second))
              << std::flush;
  }
  void on_alarm(const RunRow& run, const AlarmRow& a) override {
    std::cout << fmt::format("  ALARM ({}) run #{} epoch {}: {}. Advice: {}\n", a.kind, run.id,
                             a.epoch + 1, a.reason, a.advice)
              << std::flush;
  }
  void on_progress(const RunRow& run, int epoch, int64_t batch, int64_t batches, double loss,
                   double img_s) override {
    auto now = std::chrono::steady_clock::now();
    if (batch != batches && now - last_progress_ < std::chrono::milliseconds(250)) return;
    last_progress_ = now;
    const double per_batch = config_.batch_size / std::max(1.0, img_s);
    const double eta =
        (batches - batch) * per_batch + (config_.epochs - epoch - 1) * batches * per_batch;
    std::cout << fmt::format(
                     "\r\033[K  run #{} epoch {}/{}  batch {}/{}  loss {:.4f}  {:.0f} "
                     "img/s  ETA {}",
                     run.id, epoch + 1, config_.epochs, batch, batches, loss, img_s,
                     format_seconds(eta))
              << std::flush;
  }
  void on_done(const RunRow& run, double seconds) override {
    std::cout << fmt::format("  run #{} done in {}\n", run.id, format_seconds(seconds))
              << std::flush;
  }

 private:
  static std::string name(const RunRow& run) { return run.label.empty() ? run.method : run.label; }

  const RunConfig& config_;
  const bool tty_;
  std::chrono::steady_clock::time_point last_progress_{};
};

// What `swavbench run` prints about bench.eval: a line per protocol.
class ConsoleEvalObserver final : public EvalObserver {
 public:
  void on_reused(const RunRow& run, const std::string& name) override {
    std::cout << fmt::format("  reusing {} of run #{} (same options)\n", name, run.id);
  }
  void on_measured(const RunRow& run, const std::string& name, const EvalResult& result,
                   double seconds) override {
    std::string line;
    for (const auto& [metric, value] : result.metrics)
      line += fmt::format("  {} {:.2f}", metric, value);
    if (!result.diverged.empty()) line = "  diverged: " + result.diverged;
    std::cout << fmt::format("  eval {} run #{}:{} ({})\n", name, run.id, line,
                             format_seconds(seconds))
              << std::flush;
  }
};

}  // namespace

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
  PretrainRequest request;
  if (table.contains("label")) {
    SB_INPUT_CHECK(table["label"].is_string(), "{}: 'label' must be a string", where);
    request.label = table["label"].get<std::string>();
  }
  request.tags = parse_tags(table, where);
  request.config = resolve_config(table, config_overrides_, where);
  Collective& collective = options_.collective ? *options_.collective : local_collective();
  request.world_size = collective.world_size();
  request.hash = run_hash(request.config, request.world_size);
  request.suite = options_.suite;
  request.where = where;
  const RunConfig& config = request.config;

  if (options_.shards > 1) {
    const int position =
        run_positions_.emplace(request.hash, static_cast<int>(run_positions_.size())).first->second;
    const int owner = position % options_.shards + 1;
    std::optional<RunRow> existing = store_.run_by_hash(request.hash);
    // A run already done in this database costs nothing, whichever shard it falls to.
    if (owner != options_.shard && !(existing && existing->status == kStatusDone)) {
      left_to_others_.insert(request.hash);
      std::cout << fmt::format("{}: {} [{}] is shard {}/{}'s run\n",
                               options_.dry_run ? "plan: pretrain" : "shard: leaving",
                               request.label.empty() ? config.method : request.label, request.hash,
                               owner, options_.shards);
      RunRow elsewhere;
      elsewhere.hash = request.hash;
      elsewhere.method = config.method;
      elsewhere.label = request.label;
      elsewhere.config_json = config.to_json().dump();
      elsewhere.status = "other shard";
      json handle = handle_json(elsewhere, false);
      handle["shard"] = owner;
      return handle;
    }
  }

  ConsoleObserver console(config, options_.progress_tty);
  // With other ranks, each training job is theirs too (harness/experiment/jobs.h).
  Runner runner(store_, {options_.runs_dir, options_.force, options_.progress_tty}, console,
                hand_off_to_ranks(collective, train_run_over(collective)));

  if (options_.dry_run) {
    const PretrainPlan plan = runner.plan(request);
    const bool done = plan.action == PretrainPlan::Action::kReuse;
    // The schedule too, so that a suite's recipe per row can be read before anything trains.
    std::string schedule = fmt::format("lr {} -> {}, warm-up {} epochs from {}", config.base_lr,
                                       config.final_lr, config.warmup_epochs, config.start_warmup);
    const MethodSpec* spec = find_method_spec(config.method);
    if (spec && spec->has_prototypes)
      schedule += fmt::format(", prototypes frozen {}, queue {} from epoch {}",
                              config.freeze_prototypes_iters >= 0
                                  ? fmt::format("{} iterations", config.freeze_prototypes_iters)
                                  : fmt::format("{} epoch(s)", config.freeze_prototypes_epochs),
                              config.queue_length, config.queue_start_epoch);
    std::cout << fmt::format(
        "plan: pretrain {} [{}] {} epochs, batch {}, crops {}, {} -> {}\n",
        request.label.empty() ? config.method : request.label, request.hash, config.epochs,
        config.batch_size, json(config.to_json()["crops"]).dump(), schedule,
        done ? fmt::format("cached (run #{})", plan.existing->id)
        : plan.existing
            ? fmt::format("resume run #{} ({})", plan.existing->id, plan.existing->status)
            : "train");
    RunRow planned;
    if (plan.existing) planned = *plan.existing;
    planned.hash = request.hash;
    planned.method = config.method;
    planned.label = request.label;
    planned.config_json = config.to_json().dump();
    planned.status = done ? kStatusDone : "planned";
    return handle_json(planned, done);
  }

  decltype(TrainCallbacks::monitor) monitor;
  if (config.knn_every > 0) {
    // The cheap monitor of the paper's practice: kNN top-1 on fixed subsets after every
    // knn_every epochs, so a table can show accuracy rising (or not) over training.
    monitor = [&](Method& method, int epoch) {
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
  const PretrainResult result = runner.pretrain(request, monitor);
  ++(result.reused ? runs_reused_ : runs_trained_);
  hashes_used_.insert(result.run.hash);
  return handle_json(result.run, result.reused);
}

json RunDriver::eval(const json& run, const json& spec, const std::string& where) {
  SB_INPUT_CHECK(run.is_object() && run.contains("hash"),
                 "{}: bench.eval expects a run handle returned by bench.pretrain", where);
  const bool elsewhere = left_to_others_.count(run["hash"].get<std::string>()) > 0;
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
  std::map<std::string, json> merged;
  const MethodSpec* method = find_method_spec(run.value("method", std::string()));
  for (auto it = protocols.begin(); it != protocols.end(); ++it) {
    const EvalProtocol& p = find_eval(protocol_of(it.key()), where);
    SB_INPUT_CHECK(!method || !method->pixel_features || p.frozen_features,
                   "{}: protocol '{}' trains or fine-tunes a network, and run [{}] is the '{}' "
                   "control, which has none; score it with the frozen-feature protocols (knn, "
                   "linear_fast, lowshot)",
                   where, p.name, run.value("hash", std::string()), method ? method->name : "");
    merged[it.key()] = merge_eval_options(p, it.value(), where);
  }
  if (elsewhere) {
    // Its shard evaluates it; the options were checked above all the same.
    std::cout << fmt::format("{}: eval of run [{}] is shard {}/{}'s\n",
                             options_.dry_run ? "plan" : "shard", run["hash"].get<std::string>(),
                             run.value("shard", 0), options_.shards);
    return json::object();
  }
  if (options_.dry_run) {
    for (const auto& [name, opts] : merged)
      std::cout << fmt::format("plan: eval {} on run [{}] with {}\n", name,
                               run["hash"].get<std::string>(), opts.dump());
    return json::object();
  }
  std::optional<RunRow> row = store_.run_by_hash(run["hash"].get<std::string>());
  SB_INPUT_CHECK(row.has_value(),
                 "{}: run [{}] is not in the store; evaluate runs that bench.pretrain returned",
                 where, run["hash"].get<std::string>());
  ConsoleEvalObserver console;
  Evaluator evaluator(store_, options_.runs_dir, console, load_trained_method);
  return evaluator.evaluate(*row, merged, where);
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
  t.title = api_string(spec, "bench.table", "title", "", where);
  t.format = api_string(spec, "bench.table", "format", "md", where);
  SB_INPUT_CHECK(t.format == "md" || t.format == "csv" || t.format == "latex" || t.format == "html",
                 "{}: bench.table key 'format' must be one of md, csv, latex, html, got \"{}\"",
                 where, t.format);
  t.by = api_string_list(spec, "bench.table", "by", "{\"method\", \"crops\"}", where);
  t.metrics = api_string_list(spec, "bench.table", "metrics", "{\"knn.top1_k20\"}", where);
  if (spec.contains("runs")) {
    const json& runs = spec["runs"];
    const bool list = (runs.is_array()) || (runs.is_object() && runs.empty());
    SB_INPUT_CHECK(list && std::all_of(runs.begin(), runs.end(),
                                       [](const json& r) {
                                         return r.is_object() && r.contains("hash") &&
                                                r["hash"].is_string();
                                       }),
                   "{}: bench.table key 'runs' must be a list of run handles (what "
                   "bench.pretrain returns), e.g. {{ run_a, run_b }}",
                   where);
  }
  if (options_.dry_run) return fmt::format("plan: table '{}'\n", t.title);
  if (options_.shards > 1)
    return fmt::format(
        "table '{}': not rendered by shard {}/{} (it holds a slice of the runs); merge the "
        "shards' databases (swavbench db merge) and run the script on the merged one\n",
        t.title, options_.shard, options_.shards);
  if (spec.contains("runs")) {
    for (const auto& r : spec["runs"]) {
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
  SB_INPUT_CHECK(spec.is_object() && spec.contains("kind") && spec["kind"] == "fashion-voc",
                 "{}: bench.dataset knows kind = \"fashion-voc\" (Fashion-MNIST scenes in the "
                 "VOC2007 layout), got {}",
                 where, spec.dump());
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    static const std::vector<std::string> keys{"kind", "train", "test", "seed"};
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
      throw InputError(fmt::format("{}: unknown bench.dataset key '{}' (kind, train, test, seed)",
                                   where, it.key()));
  }
  // make-voc's own limit is 999,999 images in all (six-digit VOC ids).
  const int train =
      static_cast<int>(api_integer(spec, "bench.dataset", "train", 2000, 2, 999998, where));
  const int test =
      static_cast<int>(api_integer(spec, "bench.dataset", "test", 1000, 1, 999999 - train, where));
  const uint64_t seed =
      static_cast<uint64_t>(api_integer(spec, "bench.dataset", "seed", 0, 0, INT64_MAX, where));
  fs::path root = fs::path(RunDir::db_folder_of(options_.runs_dir)) /
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

void RunDriver::finish(const std::string& script) {
  check_overrides(script);
  // The paper's claims that this script's runs bear on, judged on everything in the database.
  if (options_.dry_run || options_.shards > 1 || hashes_used_.empty()) return;
  const std::string claims_csv = default_claims_csv();
  if (claims_csv.empty()) return;
  const Table claims =
      claims_table(evaluate_claims(store_, read_claims_csv(claims_csv)), hashes_used_);
  if (claims.rows.empty()) return;
  std::cout << "\n" << format_table(claims, "md") << std::flush;
}

}  // namespace swavbench
