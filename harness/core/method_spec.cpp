#include "harness/core/method_spec.h"

#include <algorithm>
#include <map>
#include <set>

#include "harness/core/check.h"
#include "harness/core/text.h"

namespace swavbench {
namespace {

std::map<std::string, MethodSpec>& spec_registry() {
  static std::map<std::string, MethodSpec> specs;
  return specs;
}

}  // namespace

void register_method_spec(MethodSpec spec) {
  SB_CHECK(!spec.name.empty(), "a method spec needs a name");
  if (spec.is_default) {
    const std::string current = default_method_name();
    SB_CHECK(current.empty() || current == spec.name,
             "methods '{}' and '{}' both claim to be the default method", current, spec.name);
  }
  if (spec.display_name.empty()) spec.display_name = spec.name;
  const std::string name = spec.name;
  spec_registry()[name] = std::move(spec);
}

std::string default_method_name() {
  for (const auto& [name, spec] : spec_registry())
    if (spec.is_default) return name;
  return "";
}

const MethodSpec* find_method_spec(const std::string& name) {
  auto it = spec_registry().find(name);
  return it == spec_registry().end() ? nullptr : &it->second;
}

const MethodSpec& method_spec(const std::string& name, const std::string& where) {
  if (const MethodSpec* spec = find_method_spec(name)) return *spec;
  std::vector<std::string> names;
  std::string all;
  for (const MethodSpec* spec : method_specs()) {
    names.push_back(spec->name);
    all += (all.empty() ? "" : ", ") + spec->name;
  }
  const std::string hint = closest_match(name, names);
  throw InputError(fmt::format("{}: config key 'method' has no value '{}'{}; valid values: {}",
                               where, name,
                               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                               all.empty() ? "none registered in this build" : all));
}

std::vector<const MethodSpec*> method_specs() {
  std::vector<const MethodSpec*> specs;
  for (const auto& [name, spec] : spec_registry()) specs.push_back(&spec);
  std::stable_sort(specs.begin(), specs.end(), [](const MethodSpec* a, const MethodSpec* b) {
    return a->table_order < b->table_order;
  });
  return specs;
}

std::string method_code_digest(const std::string& name, const std::string& shared_digest,
                               const std::vector<CodeFileDigest>& files) {
  const MethodSpec* spec = find_method_spec(name);
  if (spec == nullptr) return combined_code_digest(name, shared_digest, files, {}, {});
  std::set<std::string> claimed_elsewhere;
  for (const auto& [other, other_spec] : spec_registry()) {
    if (other == name) continue;
    for (const std::string& entry : other_spec.code)
      if (!entry.empty() && entry.back() != '/') claimed_elsewhere.insert(entry);
  }
  return combined_code_digest("method '" + name + "'", shared_digest, files, spec->code,
                              claimed_elsewhere);
}

std::string method_code_digest(const std::string& name) {
  return method_code_digest(name, shared_training_code_digest(), code_file_digests());
}

std::string method_display_name(const std::string& name) {
  const MethodSpec* spec = find_method_spec(name);
  return spec ? spec->display_name : name;
}

int method_table_order(const std::string& name) {
  const MethodSpec* spec = find_method_spec(name);
  return spec ? spec->table_order : 1 << 20;
}

}  // namespace swavbench
