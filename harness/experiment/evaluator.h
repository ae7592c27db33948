// Evaluator: what one bench.eval call does once its protocols and their options are checked.
// For each protocol it reuses the run's stored results when they were measured with the same
// options; otherwise it loads the trained model (once per call, through a MethodLoader), runs the
// protocol and replaces the run's rows of that protocol with the new ones, the protocol card
// (options, seconds, git sha) in each row. A protocol whose training diverged is stored as one
// "diverged" row with the reason in its card, never as a number. What happens is reported to an
// EvalObserver (the CLI prints it; tests record it).
//
// Not here: parsing the script's protocol list (the Lua driver) and the protocols themselves
// (evals/, registered by name: harness/eval/evaluation.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/eval/evaluation.h"
#include "harness/store/store.h"

namespace swavbench {

class EvalObserver {
 public:
  virtual ~EvalObserver() = default;
  // `name`'s stored results were measured with these options: nothing ran.
  virtual void on_reused(const RunRow& run, const std::string& name) {}
  // `name` ran for `seconds` and its rows were stored.
  virtual void on_measured(const RunRow& run, const std::string& name, const EvalResult& result,
                           double seconds) {}
};

// The trained model of a run: its method with the weights of the checkpoint in `run_dir`, in eval
// mode. load_trained_method (harness/train/trainer.h) in the binary.
using MethodLoader = std::function<std::unique_ptr<Method>(
    const RunConfig& config, const std::string& run_dir, torch::Device device)>;

// A finished run's trained model as its database recorded it: the checkpoint RunDir::for_reading
// finds (the database's own runs folder, the path it recorded, the shared folder of databases
// written before), loaded by `load`, its weights checked against the digest recorded when the run
// finished. Different weights are an InputError naming `who`, the file and both digests: they
// are not the weights the run's results describe.
std::unique_ptr<Method> load_recorded_model(Store& store, const RunRow& run,
                                            const RunConfig& config, const std::string& runs_dir,
                                            const MethodLoader& load, torch::Device device,
                                            const std::string& who,
                                            std::string* loaded_digest = nullptr);

class Evaluator {
 public:
  Evaluator(Store& store, std::string runs_dir, EvalObserver& observer, MethodLoader load);

  // Evaluates `run` (which must be done) by `protocols`: the name each protocol's rows are stored
  // under ("knn", "semisup@1pct": a protocol name, then @ and a tag) -> its checked options.
  // Returns name -> metric -> value, or name -> {"diverged": reason}.
  // Errors: InputError naming `where` when the run is not complete or a protocol is unknown;
  // whatever the protocol throws (rows of protocols evaluated before it stay stored).
  nlohmann::json evaluate(const RunRow& run, const std::map<std::string, nlohmann::json>& protocols,
                          const std::string& where);

 private:
  Store& store_;
  std::string runs_dir_;
  EvalObserver& observer_;
  MethodLoader load_;
};

// The protocol a stored name runs: "semisup@1pct" -> "semisup".
std::string protocol_of(const std::string& stored_name);

}  // namespace swavbench
