// What the Lua `bench` module calls into. harness/lua owns the Lua state and converts Lua values
// to and from JSON; the Driver (implemented in app/run_driver.*) resolves configs, trains,
// evaluates and renders. This header is torch-free and Lua-free so each side compiles alone.
//
// `where` is the caller's "FILE:LINE" (from luaL_where), for error messages. A Driver method
// reports bad input by throwing swavbench::InputError; the Lua layer turns that into a Lua error
// raised at the caller's line, so the script's traceback points at the offending call.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace swavbench {

class Driver {
 public:
  virtual ~Driver() = default;

  // bench.pretrain{...}: resolve (defaults <- table <- --set), validate, then reuse a completed
  // run with the same hash, resume an interrupted one, or train. Returns the run handle:
  // {id, hash, method, status, cached, label, config}. In a dry run nothing trains and
  // status is "planned" (or "done" when cached).
  virtual nlohmann::json pretrain(const nlohmann::json& table, const std::string& where) = 0;

  // bench.eval(run, spec): spec is a list of protocol names or a map name -> options.
  // Returns {protocol = {metric = value, ...}, ...}.
  virtual nlohmann::json eval(const nlohmann::json& run, const nlohmann::json& spec,
                              const std::string& where) = 0;

  // bench.table{...}: renders a table from the store and returns it as text (the Lua side
  // prints it). Spec keys: title, runs (list of handles), by (config keys to group on),
  // metrics (list of "protocol.metric"), format ("md" | "csv" | "latex").
  virtual std::string table(const nlohmann::json& spec, const std::string& where) = 0;

  // bench.param(name, default): a script parameter, overridable with --set name=value.
  virtual nlohmann::json param(const std::string& name, const nlohmann::json& default_value,
                               const std::string& where) = 0;

  // bench.log(...): one line to the run log.
  virtual void log(const std::string& line) = 0;

  // bench.dataset{kind = "fashion-voc", train = N, test = N, seed = S}: makes (once) a dataset
  // the harness can generate and returns its root path, for protocol options such as
  // voc07_svm's `root`.
  virtual nlohmann::json dataset(const nlohmann::json& spec, const std::string& where);
};

}  // namespace swavbench
