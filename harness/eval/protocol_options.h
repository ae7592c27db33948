// ProtocolSpec: what an evaluation protocol says about itself, apart from its code: its name,
// display name and doc, and its options as a schema (each key's default, whose JSON type is the
// option's type, and the valid range of numeric ones); the registry of specs; and the one
// function that merges a script's options into the defaults with every check. Each protocol's
// spec is written once, in evals/protocol_specs.cpp, and registered with its code by
// register_eval (harness/eval/evaluation.h). Torch-free, so that bench.eval's options are
// checked, listed (`swavbench run --list-keys`) and fuzzed without LibTorch.
#pragma once

#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/core/provenance.h"

namespace swavbench {

// The valid values of a numeric protocol option: min (inclusive or not) up to max (inclusive).
// For a list option (knn's k, voc07_svm's costs) every element.
struct OptionRange {
  double min = 0;
  bool min_inclusive = true;
  double max = std::numeric_limits<double>::infinity();
};

struct ProtocolSpec {
  std::string name;          // bench.eval's key: "knn"
  std::string display_name;  // in reports and listings: "kNN"
  std::string doc;
  // Every accepted option key with its default. The default's JSON type is the option's type:
  // an integer default takes integers (2.0 is accepted as 2, 2.5 is not), a float default any
  // finite number, a string a string, a bool a bool, a list a list of its elements' type (or
  // one such value, which the protocol reads as a list of one).
  nlohmann::json default_options = nlohmann::json::object();
  std::map<std::string, OptionRange> ranges;  // numeric options' valid values
  // It scores cached frozen features only (FeatureCache), never runs the network itself: so it
  // can score the raw-pixel control (MethodSpec::pixel_features).
  bool frozen_features = false;
  // The code its numbers depend on beyond the trained run (whose hash covers the training code):
  // rooms ("evals/", "harness/eval/": every source under them) and its own files
  // ("evals/knn.cpp"), which other protocols' rooms leave out. Each stored result records the
  // digest (protocol_code_digest); a result measured by other code is measured again.
  std::vector<std::string> code;
};

// A list option's values: the list itself, or a single value as a list of one (the schema
// accepts both, see ProtocolSpec::default_options).
template <typename T>
std::vector<T> option_list(const nlohmann::json& value) {
  return value.is_array() ? value.get<std::vector<T>>() : std::vector<T>{value.get<T>()};
}

// Registering a name again replaces its spec.
void register_protocol_spec(ProtocolSpec spec);
// nullptr when no protocol of that name is registered.
const ProtocolSpec* find_protocol_spec(const std::string& name);
// Every registered spec, by name.
std::vector<const ProtocolSpec*> protocol_specs();
// 16 hex chars over the files `name`'s spec selects (ProtocolSpec::code), with the files other
// registered protocols name as their own left out of its rooms (combined_code_digest,
// core/provenance.h). The second form takes the file list (what a test builds from another tree).
std::string protocol_code_digest(const std::string& name);
std::string protocol_code_digest(const std::string& name, const std::vector<CodeFileDigest>& files);
// How an option's valid values read: ">= 1", "> 0", "in [0, 1]"; "" for a key without a range.
std::string option_range_text(const ProtocolSpec& spec, const std::string& key);

// Options = defaults <- given. An unknown key is an InputError naming the closest valid one; a
// value of another type than its default's (an integer default takes integers, 2.0 as 2 but not
// 2.5; a float default any finite number; a list default a list of its elements' type, or one
// such value) or outside its range is an InputError naming `where`, the option, the protocol,
// what was given and what would be right.
nlohmann::json merge_protocol_options(const std::string& protocol, const nlohmann::json& defaults,
                                      const std::map<std::string, OptionRange>& ranges,
                                      const nlohmann::json& given, const std::string& where);
inline nlohmann::json merge_protocol_options(const ProtocolSpec& spec, const nlohmann::json& given,
                                             const std::string& where) {
  return merge_protocol_options(spec.name, spec.default_options, spec.ranges, given, where);
}

}  // namespace swavbench
