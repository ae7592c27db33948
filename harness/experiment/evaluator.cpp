#include "harness/experiment/evaluator.h"

#include <chrono>
#include <optional>

#include "harness/core/check.h"
#include "harness/core/provenance.h"
#include "harness/core/run_dir.h"
#include "harness/train/trainer.h"

namespace swavbench {
using nlohmann::json;

std::string protocol_of(const std::string& stored_name) {
  return stored_name.substr(0, stored_name.find('@'));
}

Evaluator::Evaluator(Store& store, std::string runs_dir, EvalObserver& observer, MethodLoader load)
    : store_(store), runs_dir_(std::move(runs_dir)), observer_(observer), load_(std::move(load)) {}

std::unique_ptr<Method> load_recorded_model(Store& store, const RunRow& run,
                                            const RunConfig& config, const std::string& runs_dir,
                                            const MethodLoader& load, torch::Device device,
                                            const std::string& who, std::string* loaded_digest) {
  std::string recorded_digest, recorded_checkpoint;
  for (const ArtifactRow& a : store.artifacts(run.id)) {
    if (a.kind == "weights") recorded_digest = a.sha256;
    if (a.kind == "checkpoint") recorded_checkpoint = a.path;
  }
  const RunDir folder = RunDir::for_reading(runs_dir, run.hash, recorded_checkpoint);
  std::unique_ptr<Method> method = load(config, folder.path(), device);
  const std::string digest = weights_digest(method->module());
  SB_INPUT_CHECK(recorded_digest.empty() || recorded_digest == digest,
                 "{}: {} holds weights with digest {}, but run #{} [{}] recorded {} when it "
                 "finished: the checkpoint was replaced or damaged; retrain with `swavbench run "
                 "--force`",
                 who, folder.checkpoint_path(), digest, run.id, run.hash, recorded_digest);
  if (loaded_digest != nullptr) *loaded_digest = digest;
  return method;
}

json Evaluator::evaluate(const RunRow& run, const std::map<std::string, json>& protocols,
                         const std::string& where) {
  SB_INPUT_CHECK(run.status == kStatusDone,
                 "{}: run [{}] is not complete (status {}); evaluate runs that bench.pretrain "
                 "returned",
                 where, run.hash, run.status);
  const RunConfig config = resolve_config(json::parse(run.config_json), json::object(), where);
  json results = json::object();
  std::optional<torch::Device> device;
  std::unique_ptr<Method> method;
  std::unique_ptr<FeatureCache> features;
  for (const auto& [name, options] : protocols) {
    const EvalProtocol& protocol = find_eval(protocol_of(name), where);
    // Stored results measured with identical options by the same protocol code are the same
    // measurement; a result from other code (or from a build that did not record it) is
    // measured again, and the run is not retrained.
    const std::string code_digest = protocol_code_digest(protocol.name);
    const std::vector<EvalRow> stored = store_.evals_for(run.id, name);
    const json stored_card = stored.empty() ? json() : json::parse(stored[0].card_json);
    if (!stored.empty() && stored_card.value("options", json()) == options &&
        stored_card.value("code_digest", "") == code_digest) {
      for (const auto& e : stored) {
        if (e.metric == kDivergedMetric)
          results[name][e.metric] = json::parse(e.card_json).value(kDivergedMetric, "diverged");
        else
          results[name][e.metric] = e.value;
      }
      observer_.on_reused(run, name);
      continue;
    }
    if (!method) {
      // Loaded once, and only when a protocol has to run: a call that reuses every result needs
      // neither the checkpoint nor the run's device.
      device = resolve_device(config.device);
      method = load_recorded_model(store_, run, config, runs_dir_, load_, *device, where);
      // Evaluations run in float32, also for a float64 reference run (see RunConfig::precision).
      method->module().to(torch::kFloat32);
      features = std::make_unique<FeatureCache>(config, method->backbone(), *device);
    }
    const auto t0 = std::chrono::steady_clock::now();
    EvalContext ctx{config, *method, *device, options, *features};
    EvalResult result = protocol.run(ctx);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.card["options"] = options;
    result.card["seconds"] = seconds;
    result.card["git_sha"] = swavbench_git_sha();
    result.card["code_digest"] = code_digest;
    std::vector<EvalRow> rows;
    for (const auto& [metric, value] : result.metrics) {
      rows.push_back({run.id, name, metric, value, result.card.dump(), ""});
      results[name][metric] = value;
    }
    if (!result.diverged.empty()) {
      // No number was measured: one row says so, the reason in its card (EvalResult::
      // mark_diverged put it there), and the script sees results[name].diverged instead.
      rows = {{run.id, name, kDivergedMetric, 1.0, result.card.dump(), ""}};
      results[name] = json{{kDivergedMetric, result.diverged}};
    }
    store_.replace_evals(run.id, name, rows);
    observer_.on_measured(run, name, result, seconds);
  }
  return results;
}

}  // namespace swavbench
