#include "harness/eval/protocol_options.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/float32_range.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a table";
  return "nil";
}

std::string range_text(const OptionRange& r) {
  if (std::isinf(r.max)) return fmt::format("{} {}", r.min_inclusive ? ">=" : ">", r.min);
  return fmt::format("in {}{}, {}]", r.min_inclusive ? "[" : "(", r.min, r.max);
}

// `given` converted to the type of `def` (the option's default), or an InputError that names
// the option, what was given and what would be right.
nlohmann::json typed_option(const nlohmann::json& def, const nlohmann::json& given,
                            const std::string& key, const std::string& protocol,
                            const std::string& where) {
  auto wrong = [&](const std::string& want) {
    return InputError(fmt::format("{}: option '{}' of protocol '{}' must be {}, got {} ({})", where,
                                  key, protocol, want, given.dump(), json_type_name(given)));
  };
  if (def.is_array()) {
    const nlohmann::json element = def.empty() ? nlohmann::json(0.0) : def.front();
    // One value stands for a list of one; it is kept as given (a scalar), so that options
    // stored before this check still match.
    if (!given.is_array()) {
      if (given.is_object())
        throw wrong(fmt::format("a list of values each {}", json_type_name(element)));
      return typed_option(element, given, key, protocol, where);
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : given) {
      if (item.is_array() || item.is_object())
        throw wrong(fmt::format("a list of values each {}", json_type_name(element)));
      out.push_back(typed_option(element, item, key, protocol, where));
    }
    if (out.empty()) throw wrong("a list with at least one value");
    return out;
  }
  if (def.is_number_integer()) {
    // Protocols read integers as int64: an unsigned value beyond it would wrap.
    if (given.is_number_unsigned() &&
        given.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw wrong("an integer below 2^63");
    if (given.is_number_integer()) return given;
    if (given.is_number_float()) {
      const double v = given.get<double>();
      if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.0e15)
        return static_cast<int64_t>(v);
    }
    throw wrong("an integer");
  }
  if (def.is_number()) {
    if (!given.is_number()) throw wrong("a number");
    if (!std::isfinite(given.get<double>())) throw wrong("a finite number");
    if (!representable_as_float32(given.get<double>()))
      throw wrong(fmt::format("a number float32 can hold ({})", float32_range_text()));
    return given.get<double>();
  }
  if (def.is_string()) {
    if (!given.is_string()) throw wrong("a string");
    return given;
  }
  if (def.is_boolean()) {
    if (!given.is_boolean()) throw wrong("true or false");
    return given;
  }
  return given;
}

void check_range(const nlohmann::json& value, const OptionRange& range, const std::string& key,
                 const std::string& protocol, const std::string& where) {
  if (value.is_array()) {
    for (const auto& item : value) check_range(item, range, key, protocol, where);
    return;
  }
  if (!value.is_number()) return;
  const double v = value.get<double>();
  const bool ok = (range.min_inclusive ? v >= range.min : v > range.min) && v <= range.max;
  SB_INPUT_CHECK(ok, "{}: option '{}' of protocol '{}' must be {}, got {}", where, key, protocol,
                 range_text(range), value.dump());
}

}  // namespace

nlohmann::json merge_protocol_options(const std::string& protocol, const nlohmann::json& defaults,
                                      const std::map<std::string, OptionRange>& ranges,
                                      const nlohmann::json& given, const std::string& where) {
  nlohmann::json out = defaults;
  if (given.is_null()) return out;
  SB_INPUT_CHECK(given.is_object(), "{}: options of '{}' must be a table, got {}", where, protocol,
                 given.dump());
  std::vector<std::string> keys;
  for (auto it = out.begin(); it != out.end(); ++it) keys.push_back(it.key());
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (!out.contains(it.key())) {
      std::string hint = closest_match(it.key(), keys);
      std::string all;
      for (const auto& k : keys) all += (all.empty() ? "" : ", ") + k;
      throw InputError(fmt::format(
          "{}: unknown option '{}' for protocol '{}'{}; valid: {}", where, it.key(), protocol,
          hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), all));
    }
    out[it.key()] = typed_option(out[it.key()], it.value(), it.key(), protocol, where);
  }
  // Defaults are checked too: a protocol's own default outside its range is a bug worth seeing.
  for (const auto& [key, range] : ranges) {
    SB_CHECK(out.contains(key), "protocol '{}' has a range for '{}', which is not an option",
             protocol, key);
    check_range(out[key], range, key, protocol, where);
  }
  return out;
}

namespace {
std::map<std::string, ProtocolSpec>& spec_registry() {
  static std::map<std::string, ProtocolSpec> specs;
  return specs;
}
}  // namespace

void register_protocol_spec(ProtocolSpec spec) {
  std::string name = spec.name;
  spec_registry()[name] = std::move(spec);
}

const ProtocolSpec* find_protocol_spec(const std::string& name) {
  auto it = spec_registry().find(name);
  return it == spec_registry().end() ? nullptr : &it->second;
}

std::vector<const ProtocolSpec*> protocol_specs() {
  std::vector<const ProtocolSpec*> out;
  for (const auto& [name, spec] : spec_registry()) out.push_back(&spec);
  return out;
}

std::string protocol_code_digest(const std::string& name,
                                 const std::vector<CodeFileDigest>& files) {
  const ProtocolSpec* spec = find_protocol_spec(name);
  SB_CHECK(spec != nullptr, "no protocol '{}' is registered", name);
  std::set<std::string> claimed_elsewhere;
  for (const auto& [other, other_spec] : spec_registry()) {
    if (other == name) continue;
    for (const std::string& entry : other_spec.code)
      if (!entry.empty() && entry.back() != '/') claimed_elsewhere.insert(entry);
  }
  return combined_code_digest("protocol '" + name + "'", "", files, spec->code, claimed_elsewhere);
}

std::string protocol_code_digest(const std::string& name) {
  return protocol_code_digest(name, code_file_digests());
}

std::string option_range_text(const ProtocolSpec& spec, const std::string& key) {
  auto it = spec.ranges.find(key);
  return it == spec.ranges.end() ? "" : range_text(it->second);
}

}  // namespace swavbench
