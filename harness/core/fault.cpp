#include "harness/core/fault.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace swavbench {
namespace {

struct FaultPlan {
  std::string name;    // empty: no fault planned
  long long when = 1;  // the how-many-th pass kills
  std::atomic<long long> passes{0};
};

FaultPlan& plan() {
  static FaultPlan* const parsed = [] {
    auto* p = new FaultPlan;
    const char* spec = std::getenv("SWAVBENCH_FAULT");
    if (spec == nullptr || *spec == '\0') return p;
    std::string text = spec;
    const size_t at = text.find('@');
    p->name = text.substr(0, at);
    if (at != std::string::npos) {
      char* end = nullptr;
      p->when = std::strtoll(text.c_str() + at + 1, &end, 10);
      if (end == nullptr || *end != '\0' || p->when < 1) {
        std::fprintf(stderr, "swavbench: SWAVBENCH_FAULT=%s: expected NAME or NAME@N (N >= 1)\n",
                     spec);
        std::_Exit(2);
      }
    }
    return p;
  }();
  return *parsed;
}

}  // namespace

void fault_point(const char* name) {
  FaultPlan& p = plan();
  if (p.name.empty() || p.name != name) return;
  if (++p.passes != p.when) return;
  std::fprintf(stderr, "swavbench: SWAVBENCH_FAULT: killed at %s (pass %lld)\n", name, p.when);
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace swavbench
