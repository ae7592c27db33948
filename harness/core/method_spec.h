// MethodSpec: what a pretraining method says about itself, apart from its code. Each method's
// folder registers one (swav/, baselines/, harness/train for supervised and random) next to its
// factory (harness/train/method.h), so adding a method touches that folder and its tests only:
// the config layer reads its defaults and checks from here, the tables its names and order, the
// collapse alarm its advice. Torch-free.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/core/config.h"
#include "harness/core/provenance.h"

namespace swavbench {

struct MethodSpec {
  std::string name;          // the config value: method = "<name>"
  std::string display_name;  // in tables and reports: "SwAV"
  std::string paper_name;    // its name in results/paper.csv; "" when the paper has none
  int table_order = 100;     // rows of a table come in this order (then by name)
  // Config values this method changes from the built-in defaults; a script's table and --set
  // still override them (resolution: defaults <- these <- preset <- table <- --set).
  nlohmann::json defaults = nlohmann::json::object();
  bool trains = true;  // false: an untrained control, for which epochs = 0 is valid
  int min_crops = 1;   // views per image the loss needs
  // It learns prototypes (the `prototypes` / `freeze_prototypes` keys mean something for it):
  // the prototype ablation table takes only such methods' runs.
  bool has_prototypes = false;
  // Checks of its own on the resolved config; throws InputError naming `where`.
  std::function<void(const RunConfig&, const std::string& where)> validate;
  // Shown with a collapse alarm: what to change in this method's config.
  std::string collapse_advice;
  // The method a config without a `method` key trains (default_method_name, config.h). One
  // method says so: the paper's own.
  bool is_default = false;
  // A control whose features are the image's pixels (the eval transform's crop, normalised and
  // flattened) instead of a network's: only protocols on frozen features (kNN, the fast linear
  // probe, low-shot) can score it.
  bool pixel_features = false;
  // The code its numbers depend on beyond the shared training code (core, data, models, train,
  // dist): rooms ("swav/": every source under it) and files ("baselines/moco.cpp"). A file named
  // here is this method's alone: other methods with the room leave it out, so editing MoCo does
  // not retrain SimCLR. Empty for the controls, whose code is shared. See method_code_digest.
  std::vector<std::string> code;
};

// Registering a name again replaces its spec (registration functions may run more than once). A
// second spec that claims is_default is an Error.
void register_method_spec(MethodSpec spec);

// nullptr when no method of that name is registered.
const MethodSpec* find_method_spec(const std::string& name);

// The spec of `name`; an InputError naming `where`, the closest registered name and all of them
// when there is none.
const MethodSpec& method_spec(const std::string& name, const std::string& where);

// Every registered spec, in table order.
std::vector<const MethodSpec*> method_specs();

// The code digest in a run's hash (RunConfig::hash): the shared training code's digest and the
// files `name`'s spec selects (MethodSpec::code), with the files other registered methods claim
// by name left out of its rooms. Only the shared digest for a method no spec registers (such a
// run cannot train). combined_code_digest (core/provenance.h) says how the digest is made.
std::string method_code_digest(const std::string& name);
// The same over a given shared digest and file list (what a test builds from another tree).
std::string method_code_digest(const std::string& name, const std::string& shared_digest,
                               const std::vector<CodeFileDigest>& files);

// How tables name a method: its display name, or the config name itself when it is not
// registered (a database written by a build with more methods).
std::string method_display_name(const std::string& name);

// Where a method's rows go in a table: its table_order; unknown methods last.
int method_table_order(const std::string& name);

}  // namespace swavbench
