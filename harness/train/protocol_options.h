// The options of an evaluation protocol as a schema: each key's default (whose JSON type is the
// option's type) and the valid range of numeric ones, and the one function that merges a
// script's options into the defaults with every check. Torch-free (the protocols themselves are
// not, harness/train/evaluation.h), so that the sanitizer build fuzzes it.
#pragma once

#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace swavbench {

// The valid values of a numeric protocol option: min (inclusive or not) up to max (inclusive).
// For a list option (knn's k, voc07_svm's costs) every element.
struct OptionRange {
  double min = 0;
  bool min_inclusive = true;
  double max = std::numeric_limits<double>::infinity();
};

// Options = defaults <- given. An unknown key is an InputError naming the closest valid one; a
// value of another type than its default's (an integer default takes integers, 2.0 as 2 but not
// 2.5; a float default any finite number; a list default a list of its elements' type, or one
// such value) or outside its range is an InputError naming `where`, the option, the protocol,
// what was given and what would be right.
nlohmann::json merge_protocol_options(const std::string& protocol, const nlohmann::json& defaults,
                                      const std::map<std::string, OptionRange>& ranges,
                                      const nlohmann::json& given, const std::string& where);

}  // namespace swavbench
